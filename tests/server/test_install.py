#!/usr/bin/env python3
"""test_install.py: `meson install` into a temporary DESTDIR gives a
working server and library (doc/operations.md): the installed gocd,
started from elsewhere, serves the chat page from the installed web files;
the README's example program builds against the installed headers and
library through pkg-config, in C and C++, without a warning, and runs;
the systemd unit names the installed binary and carries its hardening;
and another meson project takes the runtime as a subproject with
dependency('goc') and -Dgoc:runtime_only=true, as the README shows.

usage: test_install.py BUILDDIR EXAMPLE.c CC CXX SANITIZE
(the build's compilers, and its b_sanitize: the example is built the same
way, so the installed library's sanitized objects link)
"""
import os
import shutil
import subprocess
import sys
import tempfile

from gocd import Server, Tap, check, check_eq
from webclient import http


def install(builddir, dest):
    p = subprocess.run(["meson", "install", "-C", builddir, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    check_eq(p.returncode, 0, "meson install (stderr %r)" % p.stderr[-800:])
    prefix = subprocess.run(["meson", "introspect", builddir, "--buildoptions"],
                            capture_output=True, text=True, timeout=60).stdout
    import json
    opts = {o["name"]: o["value"] for o in json.loads(prefix)}
    return dest + opts["prefix"], opts


def find(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            return os.path.join(d, name)
    return None


def t_server(root, tmp):
    gocd = os.path.join(root, "bin", "gocd")
    check(os.access(gocd, os.X_OK), "no installed gocd at %s" % gocd)
    check(os.path.isfile(os.path.join(root, "share", "goc", "web", "index.html")),
          "the web client is not installed")
    cwd = os.getcwd()
    os.chdir(tmp)  # nowhere near the source tree
    try:
        with Server(gocd, "--db", ":memory:", http="127.0.0.1:0") as srv:
            r = http(srv.http_port, "GET", "/")
            check_eq(r.status, 200, "GET / from the installed server")
            check(b"<html" in r.body.lower(), "GET / is not the chat page: %r" % r.body[:80])
            check_eq(http(srv.http_port, "GET", "/app.js").status, 200, "GET /app.js")
            srv.check_clean_exit()
    finally:
        os.chdir(cwd)


def t_pkgconfig(root, dest, tmp, example, cc, cxx, sanitize, libdir_opt):
    pc = find(root, "goc.pc")
    check(pc is not None, "goc.pc is not installed")
    # where the README says it is: <prefix>/<libdir>/pkgconfig
    check_eq(os.path.relpath(pc, root), os.path.join(libdir_opt, "pkgconfig", "goc.pc"),
             "goc.pc's place under the prefix")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc), PKG_CONFIG_SYSROOT_DIR=dest)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "--static", "goc"], env=env,
                           capture_output=True, text=True, timeout=30)
    check_eq(flags.returncode, 0, "pkg-config goc (stderr %r)" % flags.stderr)
    libdir = os.path.dirname(os.path.dirname(pc))
    extra = ["-fsanitize=" + sanitize] if sanitize not in ("", "none") else []
    for lang, cc, std in (("C", cc, "-std=c11"), ("C++", cxx, "-std=c++11")):
        if not cc:
            continue
        src = os.path.join(tmp, "example." + ("cpp" if lang == "C++" else "c"))
        shutil.copy(example, src)
        exe = os.path.join(tmp, "example-" + cc)
        # the static library, so the program runs without LD_LIBRARY_PATH
        cmd = ([cc, std, "-Wall", "-Wextra", "-Wpedantic", "-Werror"] + extra + [src, "-o", exe] +
               flags.stdout.replace("-lgoc", os.path.join(libdir, "libgoc.a")).split())
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        check_eq(p.returncode, 0, "%s build against the installed goc: %s" % (lang, p.stderr[-800:]))
        run = subprocess.run([exe], capture_output=True, text=True, timeout=30)
        check_eq(run.returncode, 0, "the %s example's exit status (%r)" % (lang, run.stdout))
        check_eq(run.stdout.count("job "), 4, "the %s example's output" % lang)


SUBPROJECT_MESON = """project('uses_goc', 'c', default_options : ['c_std=c11'])
goc_dep = dependency('goc', fallback : 'goc', default_options : ['runtime_only=true'])
executable('example', 'example.c', dependencies : goc_dep)
"""


def t_subproject(tmp, example):
    proj = os.path.join(tmp, "uses_goc")
    os.makedirs(os.path.join(proj, "subprojects"))
    src_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.symlink(src_root, os.path.join(proj, "subprojects", "goc"))
    shutil.copy(example, os.path.join(proj, "example.c"))
    with open(os.path.join(proj, "meson.build"), "w") as f:
        f.write(SUBPROJECT_MESON)
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "CFLAGS", "LDFLAGS")}
    b = os.path.join(proj, "b")
    p = subprocess.run(["meson", "setup", b, proj, "--force-fallback-for=goc"], env=env,
                       capture_output=True, text=True, timeout=300)
    check_eq(p.returncode, 0, "meson setup with goc as a subproject: %s" % p.stdout[-800:])
    check("proto" not in os.listdir(os.path.join(b, "subprojects", "goc")),
          "runtime_only=true still configured proto/")
    p = subprocess.run(["ninja", "-C", b], env=env, capture_output=True, text=True, timeout=600)
    check_eq(p.returncode, 0, "ninja: %s" % p.stdout[-800:])
    run = subprocess.run([os.path.join(b, "example")], capture_output=True, text=True, timeout=30)
    check_eq(run.returncode, 0, "the example's exit status (%r)" % run.stdout)
    check_eq(run.stdout.count("job "), 4, "the example's output")


def t_unit(root, prefix):
    unit = os.path.join(root, "lib", "systemd", "system", "gocd.service")
    check(os.path.isfile(unit), "no systemd unit at %s" % unit)
    text = open(unit).read()
    for want in ("ExecStart=%s/bin/gocd " % prefix, "DynamicUser=yes", "StateDirectory=gocd",
                 "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID",
                 "${STATE_DIRECTORY}/chat.db"):
        check(want in text, "the unit lacks %r" % want)
    if shutil.which("systemd-analyze"):
        p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           timeout=60)
        # the binary is in the DESTDIR, not yet where the unit says
        bad = [l for l in p.stderr.splitlines() if "gocd.service" in l and
               "is not executable" not in l]
        check(not bad, "systemd-analyze verify: %r" % bad)


def main():
    builddir, example, cc, cxx, sanitize = sys.argv[1:6]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="gocd-install-")
    try:
        dest = os.path.join(tmp, "dest")
        got = tap.run("meson install into a DESTDIR", install, builddir, dest)
        if got:
            root = got[0]
            tap.run("the installed gocd serves the installed chat page", t_server, root, tmp)
            tap.run("the example builds from the installed prefix (pkg-config), C and C++",
                    t_pkgconfig, root, dest, tmp, example, cc, cxx, sanitize, got[1]["libdir"])
            tap.run("the systemd unit: installed binary, own user, state dir, hardening",
                    t_unit, root, got[1]["prefix"])
        if sanitize in ("", "none"):  # a plain build of its own: the same in every build
            tap.run("the runtime as a meson subproject: dependency('goc'), runtime_only",
                    t_subproject, tmp, example)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""test_process.py: gocd as a program (doc/protocol.md, "Starting it"): flags,
--help and --version, one-line errors with exit 2, a busy address, --procs
and GOMAXPROCS, shutdown on SIGTERM and SIGINT with clients connected, the
gocc client and the README's netcat recipe.

usage: test_process.py GOCD GOCC

Every server started here is stopped (killed if need be) and its stderr is
searched for sanitizer reports.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from gocd import (HOST, IO_TIMEOUT, Server, Tap, TestFailure, call, check, check_eq,
                  check_result, connect, expect_eof, frame, raw_member, recv_exact,
                  recv_json, req, run_gocd, sanitizer_lines, sentinel, stats)

PROTOCOL_FLAGS = ["--tcp", "--http", "--tls", "--tcp-tls", "--cert", "--key", "--db",
                  "--procs", "--max-frame", "--rate", "--outbox", "--web", "--log-level",
                  "--help", "--version"]


def no_sanitizer(text):
    bad = sanitizer_lines(text)
    check(not bad, "sanitizer reports on stderr: %r" % bad[:5])


def t_help(gocd):
    rc, out, err = run_gocd(gocd, ["--help"])
    no_sanitizer(err)
    check_eq(rc, 0, "exit status of --help")
    check_eq(err, "", "stderr of --help")
    missing = [f for f in PROTOCOL_FLAGS if f not in out]
    check(not missing, "--help does not list %s" % missing)


def t_version(gocd):
    rc, out, err = run_gocd(gocd, ["--version"])
    no_sanitizer(err)
    check_eq(rc, 0, "exit status of --version")
    check_eq(err, "", "stderr of --version")
    check(out.startswith("gocd ") and out.endswith("\n") and out.count("\n") == 1,
          "--version printed %r" % out)
    check(any(c.isdigit() for c in out), "no version number in %r" % out)


BAD_FLAGS = [
    ["--bogus"], ["--bogus", "1"], ["--bogus=1"], ["stray"],
    ["--tcp", "127.0.0.1:99999"], ["--tcp", "127.0.0.1:-1"], ["--tcp", "127.0.0.1:http"],
    ["--tcp", "nohostport"], ["--tcp", "127.0.0.1:"], ["--tcp"],
    ["--max-frame", "0"], ["--max-frame", "-5"], ["--max-frame", "abc"], ["--max-frame", "10x"],
    ["--max-frame", ""], ["--max-frame=99999999999999999999"],
    ["--log-level", "loud"], ["--log-level", ""], ["--log-level=INFO!"],
    ["--procs", "0"], ["--procs", "x"], ["--procs", "-1"],
]


def t_bad_flags(gocd):
    bad = []
    for flags in BAD_FLAGS:
        args = ["--tcp", "127.0.0.1:0", "--http", "off"] + flags
        try:
            rc, out, err = run_gocd(gocd, args, timeout=10)
        except subprocess.TimeoutExpired:
            bad.append("%s: still running after 10 s" % flags)
            continue
        lines = err.splitlines()
        if sanitizer_lines(err):
            bad.append("%s: sanitizer report %r" % (flags, sanitizer_lines(err)[:3]))
        elif rc != 2 or len(lines) != 1 or not err.endswith("\n") or out != "" or not lines[0].strip():
            bad.append("%s: exit %r, stdout %r, stderr %r" % (flags, rc, out, err))
    check(not bad, "want exit 2, nothing on stdout and one line on stderr; " + "; ".join(bad))


def t_busy_address(gocd):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        rc, out, err = run_gocd(gocd, ["--tcp", "%s:%d" % (HOST, port), "--http", "off"], timeout=10)
        no_sanitizer(err)
        check_eq(rc, 2, "exit status with %s:%d in use (stderr %r)" % (HOST, port, err))
        check_eq(len(err.splitlines()), 1, "stderr lines (%r)" % err)
        check(str(port) in err, "the error does not name the address: %r" % err)
        check_eq(out, "", "stdout")


def start_error(gocd, flags, want):
    """gocd with flags fails at start: exit 2, nothing on stdout, one line on
    stderr holding every piece of want."""
    rc, out, err = run_gocd(gocd, flags, timeout=10)
    no_sanitizer(err)
    check_eq(rc, 2, "exit status with %s (stderr %r)" % (flags, err))
    check_eq(out, "", "stdout with %s" % flags)
    check_eq(len(err.splitlines()), 1, "stderr lines with %s (%r)" % (flags, err))
    for w in want:
        check(w in err, "with %s, stderr %r does not say %r" % (flags, err, w))


def t_start_errors(gocd):
    top = tempfile.mkdtemp(prefix="gocd-start-")
    try:
        notdb = os.path.join(top, "notdb")
        with open(notdb, "wb") as f:
            f.write(b"this is not an SQLite database, but it is long enough to look at" * 20)
        base = ["--tcp", "127.0.0.1:0", "--http", "off"]
        start_error(gocd, base + ["--db", top], ["--db", top, "Is a directory"])
        start_error(gocd, base + ["--db", notdb], ["--db", notdb, "not a database"])
        start_error(gocd, base + ["--db", "/proc/none/chat.db"], ["--db", "No such file"])
        cert = os.path.join(top, "missing.pem")
        start_error(gocd, base + ["--tls", "127.0.0.1:0", "--cert", cert, "--key", cert],
                    ["--cert", cert, "No such file or directory"])
        start_error(gocd, base + ["--web", os.path.join(top, "noweb")],
                    ["--web", "No such file or directory"])
        start_error(gocd, base + ["--web", notdb], ["--web", "Not a directory"])
        start_error(gocd, ["--tcp", "off", "--http", "off"], ["nothing to serve"])
        start_error(gocd, base + ["--allow-origin", "localhost:8080"],
                    ["--allow-origin", "http[s]://HOST[:PORT]"])
        start_error(gocd, base + ["--procs", "0"], ["--procs", "from 1 to 1024"])
        start_error(gocd, base + ["--max-frame", "99999999999"], ["--max-frame", "from 1 to"])
    finally:
        shutil.rmtree(top, ignore_errors=True)


def procs_of(gocd, flags, env=None):
    with Server(gocd, *flags, env=env) as srv:
        with connect(srv.port) as s:
            st = stats(s)
        srv.check_clean_exit()
    check_eq(len(st["runq"]), st["procs"], "runq entries against procs")
    return st["procs"]


def t_procs(gocd):
    env = dict(os.environ)
    env.pop("GOMAXPROCS", None)
    check_eq(procs_of(gocd, ["--procs", "1"], env), 1, "procs with --procs 1")
    check_eq(procs_of(gocd, ["--procs", "4"], env), 4, "procs with --procs 4")
    check_eq(procs_of(gocd, [], dict(env, GOMAXPROCS="3")), 3, "procs with GOMAXPROCS=3")
    check_eq(procs_of(gocd, ["--procs=2"], dict(env, GOMAXPROCS="3")), 2,
             "procs with --procs=2 and GOMAXPROCS=3 (the flag wins)")
    ncpu = os.cpu_count()
    got = procs_of(gocd, [], env)
    check(got in (ncpu, len(os.sched_getaffinity(0))),
          "procs by default: %d, CPU count %d" % (got, ncpu))


def shutdown_case(gocd, sig):
    """Idle clients, a client mid-frame, and a request sent just before the
    signal: its reply arrives, every client sees the close, exit 0 < 5 s."""
    with Server(gocd, "--procs", "2") as srv:
        idle = [connect(srv.port) for _ in range(20)]
        for k, s in enumerate(idle):
            sentinel(s, "idle%d" % k)
        partial = connect(srv.port)
        partial.sendall(frame(req(1, "echo", [1]))[:9])
        busy = connect(srv.port)
        sentinel(busy, "busy")
        # ~100 KB: more than one read of the server's, so some of it is
        # still in the socket buffer when the signal is handled
        pad = "p" * 1000
        pipelined = b"".join(frame(req(i, "echo", [i, pad])) for i in range(N_INFLIGHT))
        busy.sendall(pipelined)
        srv.send_signal(sig)
        t0 = time.monotonic()
        try:
            for i in range(N_INFLIGHT):
                try:
                    check_result(recv_json(busy), i, [i, pad])
                except (EOFError, ConnectionError, TestFailure) as e:
                    raise TestFailure("request %d of %d sent before the signal: %s"
                                      % (i, N_INFLIGHT, e))
            for s in idle + [partial, busy]:
                expect_eof(s, STOP_WAIT)
        finally:
            rc = srv.wait(STOP_WAIT)
            took = time.monotonic() - t0
            for s in idle + [partial, busy]:
                s.close()
        no_sanitizer(srv.stderr())
        check(rc is not None, "still running %.1f s after the signal" % STOP_WAIT)
        check_eq(rc, 0, "exit status after %s (stderr %r)" % (sig.name, srv.stderr()[-1000:]))
        check(took < 5.0, "exit took %.2f s" % took)


STOP_WAIT = 6.0
N_INFLIGHT = 100


def t_sigterm(gocd):
    shutdown_case(gocd, signal.SIGTERM)


def t_sigint(gocd):
    shutdown_case(gocd, signal.SIGINT)


def t_sigterm_idle(gocd):
    with Server(gocd) as srv:
        rc, took = srv.stop(signal.SIGTERM)
        no_sanitizer(srv.stderr())
        check_eq(rc, 0, "exit status")
        check(took < 5.0, "exit took %.2f s" % took)


def t_shared_db(gocd):
    """Servers started together on one new --db file all start: opening
    waits for the lock another one holds for a moment (switching the file
    to WAL), instead of failing with "database is locked" (it did, in 20 of
    40 starts of this case, and in scripts/test where servers share the
    default data/chat.db)."""
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "chat.db")
        for _ in range(2):
            servers, errors = [], []

            def start():
                try:
                    servers.append(Server(gocd, "--db", db))
                except Exception as e:  # noqa: BLE001 (reported below)
                    errors.append(str(e))
            threads = [threading.Thread(target=start) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for srv in servers:
                srv.kill()
            check(not errors, "%d of 8 did not start: %s" % (len(errors), errors[:1]))
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))


def t_gocc_help(gocc):
    for flag, want in (("--help", "usage: gocc"), ("--version", "gocc ")):
        p = subprocess.run([gocc, flag], capture_output=True, timeout=15)
        check_eq(p.returncode, 0, "exit status of gocc %s" % flag)
        check(p.stdout.decode().startswith(want), "gocc %s printed %r" % (flag, p.stdout))
        check_eq(p.stderr, b"", "stderr of gocc %s" % flag)
    p = subprocess.run([gocc, "--bogus"], capture_output=True, timeout=15)
    check_eq(p.returncode, 2, "exit status of gocc --bogus")
    check(b"usage: gocc" in p.stderr, "gocc --bogus stderr %r" % p.stderr)


def t_gocc(gocd, gocc):
    with Server(gocd) as srv:
        lines = req(1, "echo", ["one", 1]) + "\n" + req("b", "echo", {"two": 2}) + "\n"
        p = subprocess.run([gocc, "--addr", "%s:%d" % (HOST, srv.port)], input=lines.encode(),
                           capture_output=True, timeout=15)
        out = p.stdout.decode()
        err = p.stderr.decode()
        no_sanitizer(err)
        check_eq(p.returncode, 0, "gocc exit status (stderr %r)" % err)
        got = out.splitlines()
        check_eq(len(got), 2, "reply lines from gocc: %r" % out)
        check_result(json.loads(got[0]), 1, ["one", 1])
        check_result(json.loads(got[1]), "b", {"two": 2})
        srv.check_clean_exit()


NETCAT = r"""printf '\x00\x00\x00\x35{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}' | nc -N 127.0.0.1 PORT"""


def t_netcat(gocd):
    with Server(gocd) as srv:
        cmd = NETCAT.replace("PORT", str(srv.port))
        p = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=15)
        check_eq(p.returncode, 0, "nc exit status (stderr %r)" % p.stderr)
        out = p.stdout
        check(len(out) >= 4, "nc printed %r" % out)
        (n,) = struct.unpack(">I", out[:4])
        check_eq(len(out), 4 + n, "frame length in %r" % out)
        check_result(json.loads(out[4:]), 1, [1])
        check_eq(raw_member(out[4:], "result"), b"[1]", "raw result")
        # the recipe's length byte is right: 0x35 = 53 bytes of payload
        check_eq(len(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}'), 0x35, "recipe length")
        srv.check_clean_exit()


def main():
    if len(sys.argv) < 3:
        print("usage: test_process.py GOCD GOCC", file=sys.stderr)
        return 2
    gocd, gocc = sys.argv[1], sys.argv[2]
    tap = Tap()
    tap.run("--help lists every flag, exit 0", t_help, gocd)
    tap.run("--version prints, exit 0", t_version, gocd)
    tap.run("bad flags: exit 2, one line on stderr", t_bad_flags, gocd)
    tap.run("busy address: exit 2, one line on stderr", t_busy_address, gocd)
    tap.run("start-up errors say why: exit 2, one line on stderr", t_start_errors, gocd)
    tap.run("--procs and GOMAXPROCS set the number of Ps", t_procs, gocd)
    tap.run("SIGTERM with no client: exit 0 within 5 s", t_sigterm_idle, gocd)
    tap.run("SIGTERM with clients: replies sent, exit 0 within 5 s", t_sigterm, gocd)
    tap.run("servers started together on one new --db file all start", t_shared_db, gocd)
    tap.run("SIGINT with clients: replies sent, exit 0 within 5 s", t_sigint, gocd)
    tap.run("gocc pipes JSON lines through the server", t_gocc, gocd, gocc)
    tap.run("gocc --help and --version: exit 0", t_gocc_help, gocc)
    if shutil.which("nc") is None:
        tap.skip("README netcat recipe", "nc is not installed")
    else:
        tap.run("README netcat recipe", t_netcat, gocd)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

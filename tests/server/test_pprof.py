#!/usr/bin/env python3
"""test_pprof.py: GET /debug/pprof/ on gocd (doc/protocol.md, "Profiles").

usage: test_pprof.py GOCD GO

One server (--http 0.0.0.0:0, so that it can be reached on a
non-loopback address of this machine too, --block-profile-rate 1,
--mutex-profile-fraction 1) serves: the index page; each profile as
gzipped profile.proto that `GO tool pprof -raw` reads (the goroutine
profile carrying the connection goroutines' listener/transport labels,
the CPU profile taken while framed-TCP clients call echo); the texts
(goroutine debug=1 and 2); the errors (bad seconds, unknown profile,
POST, a second CPU profile at once). Then the loopback rule: a client on
a non-loopback address of this machine gets 403, and 200 from a server
started with --pprof any; --pprof off answers 404 even on loopback. A
machine with no non-loopback address skips those two cases, saying so.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from gocd import Server, Tap, call, check, check_eq, connect, req
from webclient import http

GO = sys.argv[2] if len(sys.argv) > 2 else ""
TMP = tempfile.mkdtemp(prefix="gocd-pprof-")
ENV = dict(os.environ, HOME=os.environ.get("HOME", TMP), PPROF_TMPDIR=TMP)


def http_listening(srv):
    line = srv.wait_line(lambda l: l.startswith("listening http "), 15)
    m = re.match(r"^listening http ([\d.]+):(\d+)$", line)
    check(m, "listening line %r" % line)
    return int(m.group(2))


def get(srv, path):
    return http(srv.pprof_port, "GET", path)


def pprof_raw(data, name):
    check(GO, "go not found: install golang-go (scripts/test does)")
    path = os.path.join(TMP, name + ".pb.gz")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([GO, "tool", "pprof", "-raw", path], env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    check(p.returncode == 0, "go tool pprof -raw %s: %s" % (name, p.stderr.decode()[-2000:]))
    return p.stdout.decode()


def t_index(srv):
    r = get(srv, "/debug/pprof/")
    check_eq(r.status, 200, "status")
    check(r.headers.get("content-type", "").startswith("text/html"), r.headers)
    for name in ("allocs", "block", "goroutine", "heap", "mutex", "profile", "goroutine?debug=2"):
        check(('href="%s' % name) in r.body.decode(), "no link to %s" % name)


def t_goroutine_proto(srv):
    r = get(srv, "/debug/pprof/goroutine")
    check_eq(r.status, 200, "status")
    check_eq(r.headers.get("content-type"), "application/octet-stream", "Content-Type")
    check(r.body[:2] == b"\x1f\x8b", "not gzip")
    raw = pprof_raw(r.body, "goroutine")
    check("goroutine/count" in raw, raw[:300])
    # the connection answering is labelled by its listener and transport
    check("listener:[http]" in raw and "transport:[http]" in raw, raw)
    check("http_conn_serve" in raw or "serve" in raw, raw)


def t_goroutine_texts(srv):
    r = get(srv, "/debug/pprof/goroutine?debug=1")
    check_eq(r.status, 200, "status")
    body = r.body.decode()
    check(body.startswith("goroutine profile: total "), body[:200])
    check('# labels: {"listener":"http", "transport":"http"}' in body, body)
    r = get(srv, "/debug/pprof/goroutine?debug=2")
    check_eq(r.status, 200, "status")
    body = r.body.decode()
    check(re.search(r"^goroutine \d+ \[running\]:\npprof_route\+|^goroutine \d+ \[running\]:\n",
                    body, re.M), body[:500])
    check("\npprof_route+0x" in body, "the answering goroutine's frames: " + body[:1500])


def t_records(srv):
    for name in ("heap", "allocs", "mutex", "block"):
        r = get(srv, "/debug/pprof/" + name)
        check_eq(r.status, 200, name + " status")
        raw = pprof_raw(r.body, name)
        want = "alloc_space/bytes" if name in ("heap", "allocs") else "delay/nanoseconds"
        check(want in raw, "%s: %s" % (name, raw[:300]))
        r = get(srv, "/debug/pprof/%s?debug=1" % name)
        check_eq(r.status, 200, name + "?debug=1 status")


def load(port, stop):
    """echo calls on one framed-TCP connection until stop."""
    with connect(port) as sock:
        n = 0
        while not stop.is_set():
            call(sock, req(n, "echo", ["x" * 64]))
            n += 1


def t_cpu(srv):
    stop = threading.Event()
    th = threading.Thread(target=load, args=(srv.port, stop), daemon=True)
    th.start()
    try:
        got = {}
        first = threading.Thread(target=lambda: got.setdefault(
            "r", get(srv, "/debug/pprof/profile?seconds=2")))
        first.start()
        time.sleep(0.5)
        second = get(srv, "/debug/pprof/profile?seconds=1")
        first.join(30)
    finally:
        stop.set()
        th.join(10)
    check_eq(second.status, 500, "a second CPU profile at once")
    check("already in use" in second.body.decode(), second.body)
    r = got.get("r")
    check(r is not None, "no answer to the first profile")
    check_eq(r.status, 200, "status")
    raw = pprof_raw(r.body, "cpu")
    check("samples/count cpu/nanoseconds" in raw, raw[:300])
    check(re.search(r"^\s+\d+\s+\d+: [\d ]+$", raw, re.M), "no samples:\n" + raw[:2000])
    check("transport:[tcp]" in raw, "no sample labelled transport=tcp:\n" + raw[:3000])


def t_errors(srv):
    for path, status in (("/debug/pprof/profile?seconds=0", 400),
                         ("/debug/pprof/profile?seconds=61", 400),
                         ("/debug/pprof/profile?seconds=x", 400),
                         ("/debug/pprof/nosuch", 404),
                         ("/debug/pprof/heap?debug=2", 400),
                         ("/debug/pprof/goroutine?debug=9", 400)):
        check_eq(get(srv, path).status, status, path)
    check_eq(http(srv.pprof_port, "POST", "/debug/pprof/heap", b"x").status, 405, "POST")


def non_loopback_address():
    """An IPv4 address of this machine outside 127.0.0.0/8, or None."""
    cands = set()
    try:
        for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            cands.add(ai[4][0])
    except OSError:
        pass
    for probe in ("192.0.2.1", "10.255.255.255", "8.8.8.8"):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect((probe, 9))   # no packet is sent: picks the source address
            cands.add(s.getsockname()[0])
            s.close()
        except OSError:
            pass
    for a in sorted(cands):
        if not a.startswith("127.") and a != "0.0.0.0":
            try:   # it must be ours: bindable
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((a, 0))
                s.close()
                return a
            except OSError:
                pass
    return None


def get_from(addr, port, path):
    s = socket.create_connection((addr, port), timeout=5)
    s.settimeout(5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return int(data.split(b" ", 2)[1])


def main():
    tap = Tap()
    gocd = sys.argv[1]
    flags = ("--db", ":memory:", "--http", "0.0.0.0:0", "--block-profile-rate", "1",
             "--mutex-profile-fraction", "1")
    srv = tap.run("server starts", lambda: Server(gocd, *flags))
    if srv is None:
        return tap.finish()
    addr = non_loopback_address()
    with srv:
        srv.pprof_port = http_listening(srv)
        for name, fn in (("index page", t_index),
                         ("goroutine profile with labels, read by go tool pprof", t_goroutine_proto),
                         ("goroutine debug=1 and debug=2 texts", t_goroutine_texts),
                         ("heap, allocs, mutex, block read by go tool pprof", t_records),
                         ("CPU profile under load; a second at once gets 500", t_cpu),
                         ("bad requests: 400, 404, 405", t_errors)):
            tap.run(name, fn, srv)
        if addr is None:
            tap.skip("a non-loopback client gets 403", "no non-loopback address on this machine")
        else:
            tap.run("a non-loopback client gets 403 (%s)" % addr, lambda: (
                check_eq(get_from(addr, srv.pprof_port, "/debug/pprof/heap"), 403, "status"),
                check_eq(get_from("127.0.0.1", srv.pprof_port, "/debug/pprof/heap"), 200,
                         "loopback status")))
        tap.run("SIGTERM: exit 0, no sanitizer report", srv.check_clean_exit)
    if addr is None:
        tap.skip("--pprof any serves a non-loopback client", "no non-loopback address")
    else:
        def any_client():
            with Server(gocd, "--db", ":memory:", "--http", "0.0.0.0:0", "--pprof", "any") as s:
                port = http_listening(s)
                check_eq(get_from(addr, port, "/debug/pprof/heap"), 200, "status")
                s.check_clean_exit()
        tap.run("--pprof any serves a non-loopback client", any_client)

    def off():
        with Server(gocd, "--db", ":memory:", "--pprof", "off", http="127.0.0.1:0") as s:
            check_eq(http(s.http_port, "GET", "/debug/pprof/").status, 404, "status")
            check_eq(http(s.http_port, "GET", "/healthz").status, 200, "healthz")
            s.check_clean_exit()
    tap.run("--pprof off: 404 on loopback too", off)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

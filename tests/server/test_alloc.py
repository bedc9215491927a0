#!/usr/bin/env python3
"""test_alloc.py: the server allocates through goc_malloc, and a burst of
connections leaves nothing behind (doc/runtime.md, "Memory").

A server with every plain transport serves a burst of connections twice:
framed TCP and WebSocket members joining, sending, reading history and
leaving; HTTP requests (JSON-RPC, REST, /metrics, a static file). The
first burst warms what is made on first use; after the second, the live
objects of goc_malloc (/api/stats heap.objects) return to what they were
before it, within less than one object per connection. With the shim
(tests/server/alloc_shim.c, given when the build is not sanitized: the
sanitizers bring their own allocator), the server runs under LD_PRELOAD
and no allocation or free reaches libc's allocator directly from the
program or from the libraries routed to goc_malloc (jansson, libuv,
SQLite), from start to exit.

usage: test_alloc.py GOCD [SHIM.so]
"""
import os
import subprocess
import sys
import tempfile
import time

from gocd import Server, Tap, check, check_eq
from webclient import Http, Rpc, http

CONNS = 20  # of each kind, per burst


def heap_objects(srv):
    return http(srv.http_port, "GET", "/api/stats").json()["heap"]["objects"]


def burst(srv, n):
    """n framed-TCP and n WebSocket members, n HTTP connections."""
    for i in range(n):
        for kind in ("tcp", "ws"):
            with Rpc(srv, kind) as c:
                r = "alloc-%s-%d" % (kind, i % 4)
                c.result("chat.join", {"room": r, "nick": "n%d" % i})
                c.result("chat.send", {"room": r, "text": "hello %d" % i})
                c.result("chat.history", {"room": r, "limit": 5})
                c.result("echo", {"i": i, "list": [1, 2, 3]})
                c.result("runtime.stats")
                c.result("chat.leave", {"room": r})
        with Http(srv.http_port) as h:
            for path in ("/api/rooms", "/metrics", "/index.html", "/api/stats"):
                check_eq(h.request("GET", path).status, 200, "GET %s" % path)
            r = h.request("POST", "/rpc", b'{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}')
            check_eq(r.status, 200, "POST /rpc")
            r = h.request("POST", "/api/rooms/alloc-http/messages",
                          b'{"nick":"h%d","text":"hi"}' % i)
            check_eq(r.status, 201, "REST post")


def settle(srv, want, slack, timeout=10.0):
    """Waits until the live objects are below want + slack; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        n = heap_objects(srv)
        if n < want + slack or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


ALLOC_FUNCS = ("malloc", "calloc", "realloc", "reallocarray", "free", "memalign",
               "aligned_alloc", "posix_memalign")


def read_report(path, gocd):
    """{who: total}, and [(who, object, offset, calls)] per call site."""
    counts, sites = {}, []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "count":
                counts[parts[1]] = int(parts[2])
            elif parts[0] == "site":
                obj = gocd if parts[4] == "-" else parts[4]
                sites.append((parts[1], obj, int(parts[2], 16), int(parts[3])))
    return counts, sites


def called_before(obj, ret):
    """The function the call instruction ending at ret calls, as objdump
    names it ("free@plt"), or None when no call ends there."""
    for size in (5, 6):  # call rel32; call *rel32(%rip)
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                              "--start-address=%d" % (ret - size), "--stop-address=%d" % ret, obj],
                             capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            if "call" in line and "<" in line:
                return line[line.rindex("<") + 1:line.rindex(">")]
    return None


def direct_calls(sites):
    """The sites whose instruction calls an allocation function itself,
    with the function and where the site is (a library that tail-calls
    free makes its caller's return address look like free's)."""
    out = []
    for who, obj, off, calls in sites:
        target = called_before(obj, off)
        name = (target or "").split("@")[0]
        if name in ALLOC_FUNCS:
            where = subprocess.run(["addr2line", "-f", "-e", obj, hex(off - 1)],
                                   capture_output=True, text=True).stdout.split()
            out.append((who, calls, name, " ".join(where)))
    return out


def main():
    gocd = sys.argv[1]
    shim = sys.argv[2] if len(sys.argv) > 2 else None
    tap = Tap()
    top = tempfile.mkdtemp(prefix="gocd-alloc-")
    report = os.path.join(top, "report")
    env = dict(os.environ)
    if shim:
        env["LD_PRELOAD"] = shim
        env["GOC_ALLOC_REPORT"] = report
    srv = tap.run("server starts%s" % (" under the allocation shim" if shim else ""),
                  lambda: Server(gocd, "--db", os.path.join(top, "chat.db"), env=env,
                                 http="127.0.0.1:0"))
    if not srv:
        return tap.finish()
    with srv:
        def bursts():
            burst(srv, CONNS)                 # warms the caches made on first use
            base = settle(srv, 0, 1 << 60)
            burst(srv, CONNS)
            conns = 3 * CONNS
            after = settle(srv, base, conns)
            tap.diag("live objects: %d before the second burst, %d after (%d connections)"
                     % (base, after, conns))
            check(after < base + conns, "%d live objects after a burst of %d connections, %d "
                  "before: something is left behind per connection" % (after, conns, base))
        tap.run("a burst of connections leaves no live object behind", bursts)
        tap.run("SIGTERM: exit 0, no sanitizer report", srv.check_clean_exit)
    if shim:
        def libc_calls():
            counts, sites = read_report(report, gocd)
            check(set(counts) == {"program", "libjansson", "libuv", "libsqlite3"},
                  "report %r" % counts)
            tap.diag("calls returning into the program and the routed libraries, tail calls "
                     "included: %r" % counts)
            direct = direct_calls(sites)
            check(not direct, "direct calls of libc's allocator: %r" % direct)
        tap.run("no libc allocation from the program, jansson, libuv or SQLite", libc_calls)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

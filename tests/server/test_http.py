#!/usr/bin/env python3
"""test_http.py: gocd's HTTP transport against real sockets (doc/protocol.md,
"HTTP", "HTTP routes"): POST /rpc, keep-alive and pipelining, static files
from --web and no way out of that folder, /healthz, /metrics, /api/stats,
the REST routes and their errors, and the header deadline for slow
clients.

usage: test_http.py GOCD [GOCC]

One server (`--max-frame 4096`, a temporary --web folder with a secret
file beside it, --db :memory:) serves every case; at the end it must exit
0 on SIGTERM with no sanitizer report.
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time

from gocd import Server, Tap, check, check_eq, check_error, check_result, notif, req
from webclient import Http, expect_closed, http, request_bytes, tcp, upload_past_limit

MAX_FRAME = 4096
SECRET = b"TOP-SECRET-7f3a9c"
FILES = {            # name -> (content, Content-Type prefix)
    "index.html": (b"<!doctype html><title>goc</title>INDEX-PAGE", "text/html"),
    "app.js": (b"console.log('app');", ("application/javascript", "text/javascript")),
    "style.css": (b"body{color:red}", "text/css"),
    "a.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(64)), "image/png"),
    "x.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
}


def make_web():
    """A temp dir: web/ with FILES and a symlink out, secret.txt beside it."""
    top = tempfile.mkdtemp(prefix="gocd-web-")
    web = os.path.join(top, "web")
    os.mkdir(web)
    for name, (data, _) in FILES.items():
        with open(os.path.join(web, name), "wb") as f:
            f.write(data)
    with open(os.path.join(top, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink(os.path.join(top, "secret.txt"), os.path.join(web, "link.txt"))
    os.symlink(top, os.path.join(web, "up"))
    return top, web


def rpc(srv, body):
    return http(srv.http_port, "POST", "/rpc", body, {"Content-Type": "application/json"})


def t_rpc_post(srv):
    r = rpc(srv, req(1, "echo", [1, "x"]))
    check_eq(r.status, 200, "status")
    check(r.headers.get("content-type", "").startswith("application/json"),
          "Content-Type %r" % r.headers.get("content-type"))
    check_result(r.json(), 1, [1, "x"])
    r = rpc(srv, "[%s,%s]" % (req(1, "echo", [1]), req(2, "nope")))
    check_eq(r.status, 200, "batch status")
    check_eq(sorted(x["id"] for x in r.json()), [1, 2], "batch ids")
    r = rpc(srv, "{bad")
    check_eq(r.status, 200, "parse error status")
    check_error(r.json(), None, -32700)


def t_rpc_notifications_204(srv):
    for body in (notif("echo", [1]), "[%s,%s]" % (notif("echo"), notif("nope"))):
        with Http(srv.http_port) as c:
            r = c.request("POST", "/rpc", body)
            check_eq(r.status, 204, "status for %s" % body)
            check_eq(r.body, b"", "body")
            check(r.headers.get("content-length", "0") == "0",
                  "Content-Length %r" % r.headers.get("content-length"))
            # nothing stray after the 204: the next answer is the next request's
            r = c.request("POST", "/rpc", req(7, "echo"))
            check_result(r.json(), 7, None)


def t_rpc_405(srv):
    for m in ("GET", "PUT", "DELETE"):
        r = http(srv.http_port, m, "/rpc")
        check_eq(r.status, 405, "%s /rpc status" % m)
        allow = r.headers.get("allow")
        check(allow is not None and [x.strip() for x in allow.split(",")] == ["POST"],
              "Allow header %r" % allow)


def t_rpc_413(srv):
    body = req(1, "echo", ["z" * (MAX_FRAME + 10)])
    with Http(srv.http_port) as c:
        c.send(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.send(body.encode())
        r = c.response()
        check_eq(r.status, 413, "status")
    # a client still sending reads the 413 whole, and none of its writes
    # fail: the server shuts its side, then drains (lingering close)
    with Http(srv.http_port) as c:
        err, got = upload_past_limit(c.sock)
    check(err is None, "write or read failed: %r" % err)
    check(got.startswith(b"HTTP/1.1 413 "), "got %r" % got[:60])
    # exactly --max-frame is served
    head, tail = '{"jsonrpc":"2.0","id":1,"method":"echo","params":["', '"]}'
    pad = "p" * (MAX_FRAME - len(head) - len(tail))
    r = rpc(srv, head + pad + tail)
    check_eq(r.status, 200, "status at exactly --max-frame")
    check_result(r.json(), 1, [pad])


def t_malformed_400(srv):
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                b"POST /rpc HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n"):
        with Http(srv.http_port) as c:
            c.send(raw)
            r = c.response()
            check(400 <= r.status < 500, "%r: status %d" % (raw, r.status))
            check_eq(r.status, 400, "status for %r" % raw)
            rest = expect_closed(c.sock)
            check_eq(c.buf + rest, b"", "bytes after the 400")


def t_keep_alive(srv):
    with Http(srv.http_port) as c:
        for i in range(20):
            r = c.request("POST", "/rpc", req(i, "echo", [i]))
            check_eq(r.status, 200, "status of request %d" % i)
            check_result(r.json(), i, [i])
        check_eq(c.request("GET", "/healthz").body, b"ok", "healthz on the same connection")
        check_eq(c.request("GET", "/").status, 200, "index on the same connection")
        r = c.request("POST", "/rpc", req("last", "echo"), keep_alive=False)
        check_result(r.json(), "last", None)
        expect_closed(c.sock)


def t_pipelining(srv):
    with Http(srv.http_port) as c:
        blob = b"".join(request_bytes("POST", "/rpc", req(i, "echo", ["p%d" % i])) for i in range(3))
        c.send(blob)
        for i in range(3):
            r = c.response()
            check_eq(r.status, 200, "status %d" % i)
            check_result(r.json(), i, ["p%d" % i])
        # mixed routes, in one send, with a 204 in the middle
        blob = (request_bytes("GET", "/healthz") + request_bytes("POST", "/rpc", notif("echo"))
                + request_bytes("GET", "/app.js") + request_bytes("POST", "/rpc", req(9, "echo", [9])))
        c.send(blob)
        check_eq(c.response().body, b"ok", "1st")
        check_eq(c.response().status, 204, "2nd")
        check_eq(c.response().body, FILES["app.js"][0], "3rd")
        check_result(c.response().json(), 9, [9])


def t_static_types(srv):
    with Http(srv.http_port) as c:
        for name, (data, ctype) in FILES.items():
            r = c.request("GET", "/" + name)
            check_eq(r.status, 200, "status of /%s" % name)
            check_eq(r.body, data, "body of /%s" % name)
            got = r.headers.get("content-type", "")
            want = ctype if isinstance(ctype, tuple) else (ctype,)
            check(any(got.startswith(w) for w in want), "/%s Content-Type %r, want %r"
                  % (name, got, want))
        r = c.request("GET", "/")
        check_eq(r.status, 200, "status of /")
        check_eq(r.body, FILES["index.html"][0], "/ serves index.html")
        check(r.headers.get("content-type", "").startswith("text/html"), "/ Content-Type")
        r = c.request("HEAD", "/style.css")
        check_eq(r.status, 200, "HEAD status")
        check_eq(r.headers.get("content-length"), str(len(FILES["style.css"][0])),
                 "HEAD Content-Length")
        r = c.request("GET", "/missing.html")
        check_eq(r.status, 404, "missing file")
        r = c.request("GET", "/index.html?x=1")
        check_eq(r.body, FILES["index.html"][0], "a query string is ignored")


ESCAPES = ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt",
           "/..%2Fsecret.txt", "/%2e%2e%2fsecret.txt", "/a/../../secret.txt",
           "/./../secret.txt", "/index.html%00", "/secret.txt%00.html", "/..%5csecret.txt",
           "/..\\secret.txt", "/%5c..%5csecret.txt", "//../secret.txt", "/.%2e/secret.txt",
           "/link.txt", "/up/secret.txt", "/up/../secret.txt", "/..", "/%2e%2e"]


def t_no_escape(srv):
    bad = []
    for path in ESCAPES:
        with Http(srv.http_port) as c:
            c.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = expect_closed(c.sock)
            raw = c.buf + got
            m = re.match(rb"HTTP/1\.1 (\d+)", raw)
            if SECRET in raw:
                bad.append("%s leaked the secret" % path)
            elif not m or not (400 <= int(m.group(1)) < 500):
                bad.append("%s: %r" % (path, raw[:80]))
    check(not bad, "; ".join(bad))


def t_healthz(srv):
    r = http(srv.http_port, "GET", "/healthz")
    check_eq(r.status, 200, "status")
    check_eq(r.body, b"ok", "body")


def metric_value(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    check(m is not None, "no sample %r in /metrics" % name)
    return float(m.group(1))


def t_metrics(srv):
    r = http(srv.http_port, "GET", "/metrics")
    check_eq(r.status, 200, "status")
    check(r.headers.get("content-type", "").startswith("text/plain"), "Content-Type %r"
          % r.headers.get("content-type"))
    text = r.body.decode()
    for line in text.splitlines():
        check(line.startswith("#") or re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+$", line),
              "not Prometheus text: %r" % line)
    check(metric_value(text, "goc_goroutines") >= 1, "goc_goroutines")
    check("# TYPE goc_goroutines gauge" in text, "TYPE line of goc_goroutines")
    check(metric_value(text, 'gocd_connections{transport="http"}') >= 1, "http connections")
    before = 0.0
    if 'gocd_rpc_calls_total{method="echo"}' in text:
        before = metric_value(text, 'gocd_rpc_calls_total{method="echo"}')
    for i in range(5):
        check_result(rpc(srv, req(i, "echo")).json(), i, None)
    text = http(srv.http_port, "GET", "/metrics").body.decode()
    after = metric_value(text, 'gocd_rpc_calls_total{method="echo"}')
    check(after >= before + 5, "echo calls went %g -> %g after 5 calls" % (before, after))
    # the process, the build, and HTTP requests by route and status
    check(metric_value(text, "process_resident_memory_bytes") > 1 << 20, "RSS")
    check(metric_value(text, "process_open_fds") >= 3, "open descriptors")
    check(metric_value(text, "process_max_fds") >= metric_value(text, "process_open_fds"),
          "descriptor limit")
    # the collector: counters, gauges, and its pauses as a histogram
    cycles = metric_value(text, "goc_gc_cycles_total")
    check("# TYPE goc_gc_pause_seconds histogram" in text, "TYPE line of goc_gc_pause_seconds")
    check_eq(metric_value(text, "goc_gc_pause_seconds_count"), cycles, "pause count")
    check_eq(metric_value(text, 'goc_gc_pause_seconds_bucket{le="+Inf"}'), cycles, "+Inf bucket")
    check(metric_value(text, "goc_gc_heap_goal_bytes") >= 4 << 20, "goc_gc_heap_goal_bytes")
    check_eq(metric_value(text, "goc_gc_percent"), 100, "goc_gc_percent")
    start = metric_value(text, "process_start_time_seconds")
    check(0 <= time.time() - start < 3600, "start time %g" % start)
    check(metric_value(text, "process_cpu_seconds_total") > 0, "CPU seconds")
    check(re.search(r'^gocd_build_info\{version="[0-9.]+"\} 1$', text, re.M), "build info")
    rpc_ok = 'gocd_http_requests_total{route="/rpc",status="200"}'
    check(metric_value(text, rpc_ok) >= 5, "POST /rpc 200 counted")
    http(srv.http_port, "GET", "/no/such/file")
    http(srv.http_port, "GET", "/rpc")
    text = http(srv.http_port, "GET", "/metrics").body.decode()
    check(metric_value(text, 'gocd_http_requests_total{route="static",status="404"}') >= 1,
          "a 404 counted")
    check(metric_value(text, 'gocd_http_requests_total{route="/rpc",status="405"}') >= 1,
          "a 405 counted")


def t_api_stats(srv):
    r = http(srv.http_port, "GET", "/api/stats")
    check_eq(r.status, 200, "status")
    check(r.headers.get("content-type", "").startswith("application/json"), "Content-Type")
    s = r.json()
    for k in ("goroutines", "procs", "threads", "runq", "switches", "steals", "uptime_ms", "heap"):
        check(k in s, "/api/stats lacks %r: %r" % (k, sorted(s)))
    check(isinstance(s["runq"], list) and len(s["runq"]) == s["procs"], "runq %r" % s["runq"])
    check(isinstance(s["heap"], dict), "heap %r" % s["heap"])
    # the collector's figures: a pause histogram with as many pauses as cycles,
    # GOGC at its default, a goal (4 MiB at least while GOGC is on)
    g = s["gc"]
    for k in ("cycles", "forced", "pause_last_ns", "pause_max_ns", "pause_total_ns",
              "heap_live", "heap_marked", "heap_goal", "finalizers_queued", "finalizers_run"):
        check(isinstance(g.get(k), int) and g[k] >= 0, "gc.%s %r" % (k, g.get(k)))
    check(len(g["pause_hist_us"]) == 24 and sum(g["pause_hist_us"]) == g["cycles"],
          "gc.pause_hist_us %r for %d cycles" % (g["pause_hist_us"], g["cycles"]))
    check_eq(g["percent"], 100, "gc.percent")
    check(g["heap_goal"] >= 4 << 20, "gc.heap_goal %r" % g["heap_goal"])
    check(g["pause_max_ns"] >= g["pause_last_ns"], "gc pauses %r" % g)
    # the chat's counters (the runtime page's messages per second) count a send
    r = post_msg(srv, "statsroom", "counter", "counted")
    check_eq(r.status, 201, "POST status")
    t = http(srv.http_port, "GET", "/api/stats").json()
    check(t["chat"]["messages_stored"] >= s["chat"]["messages_stored"] + 1,
          "messages_stored %r -> %r" % (s["chat"], t["chat"]))


def post_msg(srv, room, nick, text):
    return http(srv.http_port, "POST", "/api/rooms/%s/messages" % room,
                json.dumps({"nick": nick, "text": text}), {"Content-Type": "application/json"})


def t_rest_messages(srv):
    ids = []
    for i in range(5):
        t0 = time.time() * 1000
        r = post_msg(srv, "resty", "bob", "hello %d" % i)
        check_eq(r.status, 201, "POST status (%r)" % (r,))
        m = r.json()
        check_eq(sorted(m), ["id", "nick", "room", "text", "ts"], "message keys")
        check_eq((m["room"], m["nick"], m["text"]), ("resty", "bob", "hello %d" % i), "message")
        check(isinstance(m["id"], int) and m["id"] > 0, "id %r" % m["id"])
        check(abs(m["ts"] - t0) < 60000, "ts %r is not now (%r)" % (m["ts"], t0))
        ids.append(m["id"])
    check(ids == sorted(ids) and len(set(ids)) == 5, "ids %r do not grow" % ids)
    r = http(srv.http_port, "GET", "/api/rooms/resty/messages")
    check_eq(r.status, 200, "GET status")
    h = r.json()
    check_eq([m["id"] for m in h], ids, "history ids")
    check_eq([m["text"] for m in h], ["hello %d" % i for i in range(5)], "history texts")
    h = http(srv.http_port, "GET", "/api/rooms/resty/messages?since=%d&limit=2" % ids[1]).json()
    check_eq([m["id"] for m in h], ids[2:4], "since/limit")
    h = http(srv.http_port, "GET", "/api/rooms/resty/messages?since=%d" % ids[4]).json()
    check_eq(h, [], "since the last id")
    # the same as chat.history over /rpc
    r = rpc(srv, req(1, "chat.history", {"room": "resty", "since": ids[0], "limit": 3})).json()
    h = http(srv.http_port, "GET", "/api/rooms/resty/messages?since=%d&limit=3" % ids[0]).json()
    check_eq(r.get("result"), h, "REST history vs chat.history")
    # scrolling back: the newest below before, oldest first
    h = http(srv.http_port, "GET", "/api/rooms/resty/messages?before=%d&limit=2" % ids[4]).json()
    check_eq([m["id"] for m in h], ids[2:4], "before/limit")
    h = http(srv.http_port, "GET", "/api/rooms/resty/messages?before=%d" % ids[2]).json()
    check_eq([m["id"] for m in h], ids[:2], "before, default limit")
    h = http(srv.http_port, "GET",
             "/api/rooms/resty/messages?since=%d&before=%d" % (ids[0], ids[3])).json()
    check_eq([m["id"] for m in h], ids[1:3], "since and before")
    check_eq(http(srv.http_port, "GET", "/api/rooms/resty/messages?before=1").json(), [],
             "before 1")
    for q in ("before=0", "before=-1", "before=x", "before="):
        r = http(srv.http_port, "GET", "/api/rooms/resty/messages?" + q)
        check_eq(r.status, 400, "GET ?%s status" % q)
        check("before" in r.json().get("error", ""), "GET ?%s error %r" % (q, r.json()))
    rooms = http(srv.http_port, "GET", "/api/rooms")
    check_eq(rooms.status, 200, "GET /api/rooms status")
    lst = rooms.json()
    check(isinstance(lst, list), "/api/rooms %r" % (lst,))
    mine = [x for x in lst if x.get("room") == "resty"]
    check_eq(len(mine), 1, "resty in /api/rooms %r" % (lst,))
    check_eq(sorted(mine[0]), ["members", "messages", "room"], "keys of a room entry")
    check_eq(mine[0]["messages"], 5, "messages of resty")
    check(isinstance(mine[0]["members"], (int, list)), "members %r" % (mine[0]["members"],))


def check_rest_error(r, what):
    check(400 <= r.status < 500, "%s: status %d (%r)" % (what, r.status, r))
    check(r.headers.get("content-type", "").startswith("application/json"),
          "%s: Content-Type %r" % (what, r.headers.get("content-type")))
    j = r.json()
    check(isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"],
          "%s: body %r" % (what, r.body))


def t_rest_errors(srv):
    p = srv.http_port
    check_rest_error(post_msg(srv, "bad%20room", "bob", "x"), "room with a space")
    check_rest_error(post_msg(srv, "r" * 65, "bob", "x"), "65-char room")
    check_rest_error(post_msg(srv, "ok", "", "x"), "empty nick")
    check_rest_error(post_msg(srv, "ok", "bob", ""), "empty text")
    check_rest_error(http(p, "POST", "/api/rooms/ok/messages", "{nick"), "bad JSON body")
    check_rest_error(http(p, "POST", "/api/rooms/ok/messages", "[1,2]"), "array body")
    check_rest_error(http(p, "POST", "/api/rooms/ok/messages", '{"nick":1,"text":"x"}'),
                     "nick not a string")
    check_rest_error(http(p, "GET", "/api/rooms/bad%20room/messages"), "GET bad room")
    check_rest_error(http(p, "GET", "/api/rooms/ok/messages?since=-1"), "since=-1")
    check_rest_error(http(p, "GET", "/api/rooms/ok/messages?limit=abc"), "limit=abc")
    r = http(p, "GET", "/api/nope")
    check_eq(r.status, 404, "unknown route")
    check_rest_error(r, "unknown route")
    check_rest_error(http(p, "GET", "/api/rooms/ok/other"), "unknown sub-route")
    check_rest_error(http(p, "DELETE", "/api/rooms"), "DELETE /api/rooms")


def t_static_security_headers(srv):
    """Every static file: a Content-Security-Policy allowing no inline
    script or style and no other origin, nosniff, a Referrer-Policy; and
    the project's own pages hold no inline script, style or handler (the
    policy would block them)."""
    with Http(srv.http_port) as c:
        for path in ["/"] + ["/" + n for n in FILES]:
            r = c.request("GET", path)
            csp = r.headers.get("content-security-policy", "")
            directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
            check("unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp,
                  "%s: CSP %r" % (path, csp))
            for d in ("default-src", "script-src", "style-src", "connect-src"):
                check_eq(directives.get(d), "'self'", "%s: CSP %s" % (path, d))
            check_eq(directives.get("frame-ancestors"), "'none'", "%s: frame-ancestors" % path)
            check_eq(r.headers.get("x-content-type-options"), "nosniff", path + " nosniff")
            check_eq(r.headers.get("referrer-policy"), "no-referrer", path + " Referrer-Policy")
    web = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), "web")
    for name in sorted(os.listdir(web)):
        if not name.endswith(".html"):
            continue
        text = open(os.path.join(web, name), encoding="utf-8").read().lower()
        check("<style" not in text, "web/%s: a <style> element" % name)
        check(not re.search(r"\sstyle\s*=", text), "web/%s: a style attribute" % name)
        check(not re.search(r"\son[a-z]+\s*=", text), "web/%s: an inline event handler" % name)
        check(not re.search(r"javascript:", text), "web/%s: a javascript: URL" % name)
        for m in re.finditer(r"<script([^>]*)>(.*?)</script>", text, re.S):
            check("src=" in m.group(1) and not m.group(2).strip(),
                  "web/%s: an inline script %r" % (name, m.group(0)[:80]))


def t_slow_header(srv):
    """Half a request line, then nothing: dropped after the header deadline
    (10 s), well before 15 s; an idle connection with nothing sent is not."""
    with tcp(srv.http_port, timeout=20) as s, Http(srv.http_port) as idle:
        t0 = time.monotonic()
        s.sendall(b"GET /heal")
        got = expect_closed(s, timeout=15)
        took = time.monotonic() - t0
        check(took >= 8, "dropped after %.1f s, before the 10 s deadline" % took)
        check(not got or got.startswith(b"HTTP/1.1 4") or got.startswith(b"HTTP/1.1 5"),
              "got %r" % got[:100])
        # the idle keep-alive connection opened at the same time still works
        check_eq(idle.request("GET", "/healthz").body, b"ok", "idle connection after 10 s")


def t_json_newline(srv):
    """Every JSON body (a JSON-RPC reply, REST, an error) ends with a newline,
    counted in Content-Length, so a shell prompt after curl starts a line."""
    answers = [
        http(srv.http_port, "POST", "/rpc", b'{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}'),
        http(srv.http_port, "GET", "/api/rooms"),
        http(srv.http_port, "GET", "/api/stats"),
        http(srv.http_port, "GET", "/api/nowhere"),
        http(srv.http_port, "GET", "/rpc"),
    ]
    for r in answers:
        check(r.headers.get("content-type", "").startswith("application/json"), "Content-Type %r"
              % r.headers.get("content-type"))
        check(r.body.endswith(b"\n") and not r.body.endswith(b"\n\n"), "body %r" % r.body[-40:])
        check_eq(int(r.headers["content-length"]), len(r.body), "Content-Length")
        json.loads(r.body)


CASES = [
    ("POST /rpc: 200 application/json", t_rpc_post),
    ("notifications only: 204, no body", t_rpc_notifications_204),
    ("other methods on /rpc: 405 Allow: POST", t_rpc_405),
    ("body over --max-frame: 413; at the limit: 200", t_rpc_413),
    ("malformed HTTP: 400 and close", t_malformed_400),
    ("keep-alive: many requests on one connection", t_keep_alive),
    ("pipelining: answers in order", t_pipelining),
    ("static files with their Content-Type; / is index.html", t_static_types),
    ("no path escapes the web folder", t_no_escape),
    ("static files: Content-Security-Policy (no inline script), nosniff, Referrer-Policy; "
     "web/*.html inline-free", t_static_security_headers),
    ("GET /healthz", t_healthz),
    ("/metrics: Prometheus text, counters grow", t_metrics),
    ("/api/stats: runtime.stats keys", t_api_stats),
    ("REST: post, history with since/before/limit, rooms", t_rest_messages),
    ("REST errors: 4xx with {error}", t_rest_errors),
    ("slow client dropped after the header deadline", t_slow_header),
    ("JSON answers end with a newline", t_json_newline),
]


def main():
    if len(sys.argv) < 2:
        print("usage: test_http.py GOCD [GOCC]", file=sys.stderr)
        return 2
    top, web = make_web()
    tap = Tap()
    try:
        srv = tap.run("server starts with --http and --max-frame %d" % MAX_FRAME,
                      lambda: Server(sys.argv[1], "--max-frame", str(MAX_FRAME), "--web", web,
                                     "--db", ":memory:", http="127.0.0.1:0"))
        if srv is None:
            return tap.finish()
        with srv:
            for name, fn in CASES:
                if srv.proc.poll() is not None:
                    tap.result(False, name, "server exited with %r; stderr tail %r"
                               % (srv.proc.returncode, srv.stderr()[-1500:]))
                    continue
                tap.run(name, fn, srv)
            tap.run("SIGTERM: exit 0, no sanitizer report", srv.check_clean_exit)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

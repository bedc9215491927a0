#!/usr/bin/env python3
"""test_logs.py: the server's log (doc/protocol.md, "Logs"): one line per
event on stderr, key=value pairs by default or one JSON object per line
with --log-format json; at debug level each connection's open and close,
each HTTP request (method, path, route, status, duration), each JSON-RPC
call (method, outcome, duration) and each WebSocket close with its code;
and a peer's bytes (a method name, a path) never reach a line raw.

usage: test_logs.py GOCD
"""
import json
import re
import struct
import sys
import time

from gocd import Server, Tap, call, check, check_eq, connect, req
from webclient import OP_CLOSE, Http, Rpc, http

# logfmt: key=value, the value bare or a quoted string with escapes
PAIR = r'[a-z_]+=(?:"(?:[^"\\\x00-\x1f]|\\.)*"|[^\s"=\\]+)'
LOGFMT = re.compile(r"^%s(?: %s)*$" % (PAIR, PAIR))


def traffic(srv):
    """A framed call, HTTP requests, a WebSocket member that closes with
    1000, and a peer's hostile bytes in a method name and a path."""
    with connect(srv.port) as s:
        call(s, req(1, "echo", [1]))
        call(s, req(2, 'evil\n"method" level=error', []))
    with Http(srv.http_port) as h:
        h.request("GET", "/api/rooms")
        h.request("GET", '/x"y%0aevent=fake')
    with Rpc(srv, "ws") as w:
        w.result("echo", {"a": 1})
        w.ws.send(OP_CLOSE, struct.pack(">H", 1000))
        w.ws.recv_frame()  # the server's answering close
    time.sleep(0.3)  # the server logs the close once the connection is over


def events(lines, fmt):
    out = []
    for line in lines:
        if fmt == "json":
            out.append(json.loads(line))
        else:
            check(LOGFMT.match(line), "not key=value: %r" % line)
            out.append(dict((k, v) for k, v in re.findall(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S+)',
                                                           line)))
    return out


def check_log(gocd, fmt):
    with Server(gocd, "--db", ":memory:", "--log-level", "debug", "--log-format", fmt,
                http="127.0.0.1:0") as srv:
        traffic(srv)
        srv.check_clean_exit()
        lines = srv.stderr().splitlines()
    check(len(lines) > 5, "log lines: %r" % lines)
    evs = events(lines, fmt)
    unq = (lambda v: json.loads(v) if v.startswith('"') else v) if fmt == "text" else (lambda v: v)
    kinds = [unq(e.get("event", '""')) for e in evs]
    for want in ("conn_open", "conn_close", "rpc", "http", "ws_open", "ws_close"):
        check(want in kinds, "no %s event in %r" % (want, kinds))
    for e in evs:
        check("time" in e and "level" in e, "time and level in %r" % e)
    rpc = [dict((k, unq(v)) for k, v in e.items()) for e, k in zip(evs, kinds) if k == "rpc"]
    check({"method": "echo", "code": "0", "transport": "tcp"}.items()
          <= rpc[0].items(), "the framed echo call: %r" % rpc[0])
    check(any(r["method"] == "(unknown)" and r["code"] == "-32601" for r in rpc),
          "the unknown method logged by its registered name: %r" % rpc)
    check(all("dur_us" in r for r in rpc), "durations %r" % rpc)
    https = [dict((k, unq(v)) for k, v in e.items()) for e, k in zip(evs, kinds) if k == "http"]
    check(any(h["path"] == "/api/rooms" and h["status"] == "200" and h["route"] == "/api"
              for h in https), "GET /api/rooms: %r" % https)
    closes = [dict((k, unq(v)) for k, v in e.items()) for e, k in zip(evs, kinds)
              if k == "ws_close"]
    check_eq((closes[0]["code"], closes[0]["by"]), ("1000", "peer"), "ws_close")
    text = "\n".join(lines)
    check("evil" not in text, "a peer's method name reached the log")
    check(not any(l.startswith("event=fake") or " event=fake" in l for l in lines),
          "a peer's path forged a field: %r" % [l for l in lines if "fake" in l])


def main():
    gocd = sys.argv[1]
    tap = Tap()
    tap.run("key=value log at debug: every event, nothing raw from peers", check_log, gocd,
            "text")
    tap.run("--log-format json: one object per line, the same events", check_log, gocd, "json")
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

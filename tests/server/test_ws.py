#!/usr/bin/env python3
"""test_ws.py: gocd's WebSocket transport against real sockets (doc/protocol.md,
"WebSocket"): the handshake, JSON-RPC over text messages, the close codes
1003 (binary), 1007 (invalid UTF-8), 1009 (over --max-frame), 1002 for
every protocol error (RFC 6455 7.1.7, 7.4.1), ping/pong,
the allowed-Origin list, the server's ping to an idle peer (a WebSocket
left idle from the start is pinged ~30 s later), and close 1001 on
SIGTERM.

usage: test_ws.py GOCD [GOCC]

One server (`--max-frame 4096 --allow-origin http://good`) serves every
case; the last case sends it SIGTERM with a WebSocket open and expects
close 1001 then exit 0 with no sanitizer report.
"""
import base64
import os
import struct
import sys
import time

from gocd import Server, Tap, check, check_eq, check_error, check_result, notif, req
from webclient import (OP_BIN, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Http, Ws,
                       expect_closed, ws_frame, ws_handshake_bytes)

MAX_FRAME = 4096
GOOD = "http://good"


def t_handshake(srv):
    with Ws(srv.http_port, origin=GOOD) as w:
        check("sec-websocket-accept" in w.response.headers, "no accept header")
        check_eq(w.h.buf, b"", "bytes after the 101")
    # the RFC 6455 example key
    with Http(srv.http_port) as c:
        c.send(ws_handshake_bytes("dGhlIHNhbXBsZSBub25jZQ==", GOOD))
        r = c.response()
        check_eq(r.status, 101, "status")
        check_eq(r.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                 "accept of the RFC's example key")


def bad_handshake_any(srv, lines, want):
    with Http(srv.http_port) as c:
        c.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        r = c.response()
        check(r.status in want, "status %d for %r, want one of %r" % (r.status, lines, want))


def t_bad_handshake_all(srv):
    key = base64.b64encode(os.urandom(16)).decode()
    base = ["GET /ws HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13", "Origin: " + GOOD]
    cases = [
        [l for l in base if not l.startswith("Upgrade")],
        [l for l in base if not l.startswith("Sec-WebSocket-Key")],
        [l if not l.startswith("Sec-WebSocket-Key") else "Sec-WebSocket-Key: short" for l in base],
        ["POST /ws HTTP/1.1"] + base[1:] + ["Content-Length: 0"],
    ]
    for lines in cases:
        bad_handshake_any(srv, lines, (400,))
    bad_handshake_any(srv, [l if not l.startswith("Sec-WebSocket-Version") else
                            "Sec-WebSocket-Version: 8" for l in base], (400, 426))


def t_origin(srv):
    for origin in ("http://evil", "http://good.evil", "https://good"):
        with Http(srv.http_port) as c:
            c.send(ws_handshake_bytes(base64.b64encode(os.urandom(16)).decode(), origin))
            r = c.response()
            check_eq(r.status, 403, "status for Origin %s" % origin)
    with Ws(srv.http_port, origin=GOOD) as w:
        w.send_text(req(1, "echo", ["good"]))
        check_result(w.recv_json(), 1, ["good"])


def t_echo(srv):
    with Ws(srv.http_port, origin=GOOD) as w:
        for i in range(20):
            w.send_text(req(i, "echo", {"i": i, "s": "é" * i}))
            check_result(w.recv_json(), i, {"i": i, "s": "é" * i})
        # several messages in one send; a notification gets nothing
        w.sock.sendall(b"".join(ws_frame(OP_TEXT, t) for t in
                                (req("a", "echo", [1]), notif("echo", [2]), req("b", "echo", [3]))))
        check_result(w.recv_json(), "a", [1])
        check_result(w.recv_json(), "b", [3])
        # a fragmented text message is one message
        msg = req("frag", "echo", ["x" * 300]).encode()
        w.send(OP_TEXT, msg[:100], fin=False)
        w.send(OP_PING, b"mid")            # control frames may come between fragments
        w.send(OP_CONT, msg[100:200], fin=False)
        w.send(OP_CONT, msg[200:])
        fin, op, data = w.recv_frame()
        check_eq((op, data), (OP_PONG, b"mid"), "pong between fragments")
        check_result(w.recv_json(), "frag", ["x" * 300])
        w.send_text("{bad")
        check_error(w.recv_json(), None, -32700)
        w.send_text("[%s,%s]" % (req(1, "echo", [1]), req(2, "nope")))
        r = w.recv_json()
        check(isinstance(r, list) and len(r) == 2, "batch %r" % (r,))
        # chat.join works over a WebSocket (a persistent transport)
        w.send_text(req(3, "chat.join", {"room": "wsroom", "nick": "n"}))
        check_result(w.recv_json(), 3, {"room": "wsroom", "nick": "n", "members": ["n"],
                                        "history": []})


def t_ping_pong(srv):
    with Ws(srv.http_port, origin=GOOD) as w:
        for payload in (b"", b"hello", bytes(range(125))):
            w.send(OP_PING, payload)
            fin, op, data = w.recv_frame()
            check_eq((fin, op, data), (True, OP_PONG, payload), "pong")
        w.send_text(req(1, "echo"))
        check_result(w.recv_json(), 1, None)


def close_case(srv, send, code):
    with Ws(srv.http_port, origin=GOOD) as w:
        w.send_text(req(1, "echo", [1]))
        check_result(w.recv_json(), 1, [1])
        send(w)
        w.expect_close(code)
        try:
            w.send(OP_CLOSE, struct.pack("!H", code))
        except OSError:
            pass
        rest = expect_closed(w.sock)
        check_eq(w.h.buf + rest, b"", "bytes after the close frame")


def t_binary_1003(srv):
    close_case(srv, lambda w: w.send(OP_BIN, b"\x00\x01binary"), 1003)


def t_utf8_1007(srv):
    close_case(srv, lambda w: w.send(OP_TEXT, b'{"jsonrpc":"2.0","id":1,"method":"echo","params":["\xff\xfe"]}'), 1007)
    close_case(srv, lambda w: w.send(OP_TEXT, b"\xed\xa0\x80"), 1007)   # a surrogate


def t_too_big_1009(srv):
    big = req(1, "echo", ["z" * MAX_FRAME])
    close_case(srv, lambda w: w.send_text(big), 1009)

    def fragmented(w):                     # the sum of the fragments counts
        part = b"y" * (MAX_FRAME // 2 + 10)
        w.send(OP_TEXT, part, fin=False)
        w.send(OP_CONT, part, fin=True)
    close_case(srv, fragmented, 1009)


def t_exact_max_frame(srv):
    head, tail = '{"jsonrpc":"2.0","id":1,"method":"echo","params":["', '"]}'
    pad = "p" * (MAX_FRAME - len(head) - len(tail))
    with Ws(srv.http_port, origin=GOOD) as w:
        w.send_text(head + pad + tail)
        check_result(w.recv_json(), 1, [pad])


def t_unmasked_refused(srv):
    with Ws(srv.http_port, origin=GOOD) as w:
        w.send(OP_TEXT, req(1, "echo"), mask=False)
        try:
            w.expect_close(1002)
        except EOFError:
            pass


def raw(b0, b1, *rest):
    """A hand-made frame header (and payload): b1 carries the mask bit."""
    def send(w):
        w.sock.sendall(bytes([b0, b1]) + b"".join(rest))
    return send


def t_protocol_errors_1002(srv):
    """Each way to break the framing: a close frame with code 1002, the
    connection then closed (the three wslay answered without a code, and
    the rest)."""
    key = b"\x01\x02\x03\x04"
    cases = [
        ("a ping over 125 bytes", lambda w: w.send(OP_PING, b"p" * 126)),
        ("a close over 125 bytes", lambda w: w.send(OP_CLOSE, b"\x03\xe8" + b"r" * 124)),
        ("a fragmented ping", lambda w: w.send(OP_PING, b"p", fin=False)),
        ("a ping fragment inside a message", lambda w: (w.send(OP_TEXT, b"te", fin=False),
                                                        w.send(OP_PING, b"p", fin=False))),
        ("a close with a 1-byte payload", lambda w: w.send(OP_CLOSE, b"\x03")),
        ("a close with code 1005", lambda w: w.send(OP_CLOSE, struct.pack("!H", 1005))),
        ("a close with code 999", lambda w: w.send(OP_CLOSE, struct.pack("!H", 999))),
        ("a close with code 5000", lambda w: w.send(OP_CLOSE, struct.pack("!H", 5000))),
        ("a reserved opcode", lambda w: w.send(0x3, b"x")),
        ("a reserved control opcode", lambda w: w.send(0xB, b"x")),
        ("an RSV bit", lambda w: w.send(OP_TEXT, req(2, "echo"), rsv=4)),
        ("a continuation of nothing", lambda w: w.send(OP_CONT, b"x")),
        ("a new message inside a fragmented one", lambda w: (w.send(OP_TEXT, b"a", fin=False),
                                                             w.send(OP_TEXT, b"b"))),
        ("a 16-bit length for 5 bytes", raw(0x81, 0x80 | 126, b"\x00\x05", key, b"hello")),
        ("a 64-bit length for 5 bytes", raw(0x81, 0x80 | 127, b"\x00" * 7 + b"\x05", key,
                                            b"hello")),
        ("a 64-bit length with its top bit", raw(0x81, 0x80 | 127, b"\x80" + b"\x00" * 7, key)),
    ]
    for what, send in cases:
        try:
            close_case(srv, send, 1002)
        except Exception as e:
            raise AssertionError("%s: %s" % (what, e))
    # and the other codes' fail paths in a close frame's reason
    close_case(srv, lambda w: w.send(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007)


def t_client_close(srv):
    with Ws(srv.http_port, origin=GOOD) as w:
        w.send(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
        fin, op, data = w.recv_frame()
        check_eq(op, OP_CLOSE, "answer to a close")
        check_eq(struct.unpack("!H", data[:2])[0], 1000, "echoed close code")
        expect_closed(w.sock)


PING_INTERVAL = 30.0     # ws.c: an idle peer is pinged after 30 s


def t_server_ping(srv, idle, t0):
    """A WebSocket idle since t0 gets a ping from the server about 30 s
    later; after the pong it still works."""
    left = t0 + PING_INTERVAL + 10 - time.monotonic()
    idle.sock.settimeout(max(left, 1))
    fin, op, data = idle.recv_frame()
    took = time.monotonic() - t0
    check_eq(op, OP_PING, "the first frame to an idle WebSocket (after %.1f s)" % took)
    check(took >= PING_INTERVAL - 2, "pinged after %.1f s of idleness" % took)
    idle.send(OP_PONG, data)
    idle.sock.settimeout(5)
    idle.send_text(req("after-ping", "echo", [1]))
    check_result(idle.recv_json(), "after-ping", [1])


def t_sigterm_1001(srv):
    with Ws(srv.http_port, origin=GOOD) as w, Ws(srv.http_port, origin=GOOD) as w2:
        w.send_text(req(1, "echo", [1]))
        check_result(w.recv_json(), 1, [1])
        srv.send_signal(15)
        for x in (w, w2):
            x.expect_close(1001)
            try:
                x.send(OP_CLOSE, struct.pack("!H", 1001))
            except OSError:
                pass
        rc = srv.wait(5)
        check_eq(rc, 0, "exit status after SIGTERM (stderr tail %r)" % srv.stderr()[-1000:])
    srv.check_clean_exit()


CASES = [
    ("handshake: 101 with the right Sec-WebSocket-Accept", t_handshake),
    ("bad handshakes: 400", t_bad_handshake_all),
    ("Origin not allowed: 403; allowed: 101", t_origin),
    ("JSON-RPC over text messages", t_echo),
    ("ping answered with pong", t_ping_pong),
    ("binary message: close 1003", t_binary_1003),
    ("invalid UTF-8: close 1007", t_utf8_1007),
    ("message over --max-frame: close 1009", t_too_big_1009),
    ("message of exactly --max-frame is served", t_exact_max_frame),
    ("unmasked client frame: close 1002", t_unmasked_refused),
    ("every protocol error: close 1002 (control frames too long or fragmented, a 1-byte "
     "close, bad codes, opcodes, RSV, continuations, long length forms)",
     t_protocol_errors_1002),
    ("client close is answered", t_client_close),
]


def main():
    if len(sys.argv) < 2:
        print("usage: test_ws.py GOCD [GOCC]", file=sys.stderr)
        return 2
    tap = Tap()
    srv = tap.run("server starts with --http --allow-origin %s" % GOOD,
                  lambda: Server(sys.argv[1], "--max-frame", str(MAX_FRAME), "--allow-origin", GOOD,
                                 "--db", ":memory:", http="127.0.0.1:0"))
    if srv is None:
        return tap.finish()
    with srv:
        idle = tap.run("an idle WebSocket opens", Ws, srv.http_port, GOOD)
        t0 = time.monotonic()
        for name, fn in CASES:
            if srv.proc.poll() is not None:
                tap.result(False, name, "server exited with %r; stderr tail %r"
                           % (srv.proc.returncode, srv.stderr()[-1500:]))
                continue
            tap.run(name, fn, srv)
        if idle:
            tap.run("the server pings an idle WebSocket after 30 s", t_server_ping, srv, idle, t0)
            idle.close()
        tap.run("SIGTERM with WebSockets open: close 1001, exit 0, no sanitizer report",
                t_sigterm_1001, srv)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""test_framed.py: gocd's framed-TCP transport against real sockets
(doc/protocol.md, "Framed TCP", the JSON-RPC error rules, runtime.stats).

usage: test_framed.py GOCD GOCC

One server (`--max-frame 1000 --procs 3`) serves every case, each on fresh
loopback connections; at the end it must exit 0 on SIGTERM with no
sanitizer report. "No reply" is asserted with a sentinel: a request sent
after the silent frame whose reply must be the very next frame, because
replies keep request order.
"""
import json
import socket
import struct
import sys
import threading
import time

from gocd import (IO_TIMEOUT, canon, Server, Tap, TestFailure, call, check, check_eq,
                  check_error, check_result, connect, expect_eof, expect_silence,
                  frame, notif, raw_member, recv_frame, recv_json, req, sentinel,
                  stats, wait_conns)

MAX_FRAME = 1000
PROCS = 3


def t_listening_line(srv):
    check(srv.port != 0, "port 0 was printed as is: %r" % srv.listening_line)
    check_eq(srv.listening_line, "listening tcp 127.0.0.1:%d" % srv.port, "listening line")
    check_eq(len([l for l in srv.stdout_lines if l.startswith("listening tcp")]), 1,
             "number of 'listening tcp' lines")
    with connect(srv.port) as s:
        sentinel(s, "listening")


def t_echo_params(srv):
    with connect(srv.port) as s:
        for i, params in enumerate([[1, "two", 3.5, None, True, {"x": [1]}], [],
                                    {"a": 1, "b": [True, None], "c": {"d": "é"}}, {}]):
            check_result(call(s, req(i, "echo", params)), i, params)
        r = call(s, req(99, "echo"))
        check_result(r, 99, None)


def t_echo_no_params_is_null(srv):
    with connect(srv.port) as s:
        s.sendall(frame('{"jsonrpc":"2.0","id":5,"method":"echo"}'))
        raw = recv_frame(s)
        check_eq(raw_member(raw, "result"), b"null", "raw result")
        check_eq(raw_member(raw, "id"), b"5", "raw id")


IDS = [b'"abc"', b'""', b'"x\\u00e9\\"\\\\"', b'"\xc3\xa9t\xc3\xa9"', b"0", b"7", b"-12",
       b"null", b"1e3", b"1E+2", b"2.5e-3", b"1.0", b"-0.5",
       b"9007199254740993", b"9223372036854775807", b"-9223372036854775808",
       b"18446744073709551616", b"123456789012345678901234567890"]


def t_ids_exact(srv):
    bad = []
    with connect(srv.port) as s:
        for raw_id in IDS:
            s.sendall(frame(b'{"jsonrpc":"2.0","id":' + raw_id + b',"method":"echo","params":[1]}'))
            reply = recv_frame(s)
            got = raw_member(reply, "id")
            if got != raw_id:
                bad.append("sent id %r, reply %r" % (raw_id, reply))
            elif raw_member(reply, "result") is None:
                bad.append("id %r: no result in %r" % (raw_id, reply))
    check(not bad, "; ".join(bad))


def t_ints_beside_big_int(srv):
    """An integer beyond 64 bits in one place of a message (an id, another
    batch entry) must not turn the other integers of the message into
    reals: echo [7] answers [7], not [7.0]."""
    big = b"123456789012345678901234567890"
    single = b'{"jsonrpc":"2.0","id":' + big + b',"method":"echo","params":[7,{"n":-3}]}'
    batch = (b'[{"jsonrpc":"2.0","id":' + big + b',"method":"echo","params":[1]},'
             b'{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}]')
    bad = []
    with connect(srv.port) as s:
        s.sendall(frame(single))
        reply = recv_frame(s)
        if raw_member(reply, "id") != big or raw_member(reply, "result") != b'[7,{"n":-3}]':
            bad.append("sent %r, got %r (want result [7,{\"n\":-3}])" % (single, reply))
        s.sendall(frame(batch))
        reply = recv_frame(s)
        r = json.loads(reply)
        two = [x for x in r if x.get("id") == 2] if isinstance(r, list) else []
        if len(two) != 1 or canon(two[0].get("result")) != "[2]":
            bad.append("sent %r, got %r (want the id 2 entry to answer [2])" % (batch, reply))
    check(not bad, "; ".join(bad))


MSG1 = frame(req(1, "echo", ["split", 1]))
MSG2 = frame(req("two", "echo", {"k": "v"}))


def t_split_every_position(srv):
    """Two frames back to back, cut in two at every byte position (inside
    the first header, its payload, the second header and payload)."""
    blob = MSG1 + MSG2
    with connect(srv.port) as s:
        for k in range(1, len(blob)):
            s.sendall(blob[:k])
            time.sleep(0.004)
            s.sendall(blob[k:])
            try:
                check_result(recv_json(s), 1, ["split", 1])
                check_result(recv_json(s), "two", {"k": "v"})
            except TestFailure as e:
                raise TestFailure("cut at byte %d: %s" % (k, e))


def t_one_byte_at_a_time(srv):
    with connect(srv.port) as s:
        for msg, id, res in ((MSG1, 1, ["split", 1]), (frame(""), None, None), (MSG2, "two", {"k": "v"})):
            for b in msg:
                s.send(bytes([b]))
                time.sleep(0.002)
            if id is not None:
                check_result(recv_json(s), id, res)
        sentinel(s, "bytewise")


def t_coalesced(srv):
    """600 frames (requests, notifications, heartbeats) in one send, over
    several of the server's reads: each request answered once, in order."""
    parts, want = [], []
    for i in range(600):
        if i % 5 == 3:
            parts.append(frame(notif("echo", [i])))
        elif i % 7 == 4:
            parts.append(frame(b""))
        else:
            parts.append(frame(req(i, "echo", [i, "x" * (i % 50)])))
            want.append(i)
    blob = b"".join(parts)
    check(len(blob) > 2 * 16384, "blob too small to span reads: %d" % len(blob))
    with connect(srv.port) as s:
        got = []
        reader_err = []

        def reader():
            try:
                for _ in want:
                    got.append(recv_json(s))
            except Exception as e:  # reported below
                reader_err.append(e)
        t = threading.Thread(target=reader)
        t.start()
        s.sendall(blob)
        t.join(IO_TIMEOUT * 3)
        check(not t.is_alive(), "replies still missing after %.0f s" % (IO_TIMEOUT * 3))
        check(not reader_err, "reading replies: %r (got %d of %d)" % (reader_err, len(got), len(want)))
        check_eq([r.get("id") for r in got], want, "reply ids in order")
        for r in got:
            check_result(r, r["id"], [r["id"], "x" * (r["id"] % 50)])
        sentinel(s, "coalesced")


def t_heartbeat(srv):
    with connect(srv.port) as s:
        s.sendall(frame(b""))
        expect_silence(s, 0.3)
        s.sendall(frame(b"") * 50)
        sentinel(s, "heartbeat")
        s.sendall(frame(b"") + MSG1 + frame(b"") + frame(b"") + MSG2 + frame(b""))
        check_result(recv_json(s), 1, ["split", 1])
        check_result(recv_json(s), "two", {"k": "v"})
        sentinel(s, "heartbeat2")


def t_notifications(srv):
    with connect(srv.port) as s:
        s.sendall(frame(notif("echo", [1])))
        expect_silence(s, 0.3)
        for n in (notif("echo"), notif("echo", {"a": 1}), notif("no.such.method"),
                  notif("runtime.stats")):
            s.sendall(frame(n))
        sentinel(s, "notifications")


def t_batch(srv):
    with connect(srv.port) as s:
        batch = "[%s,%s,%s,%s]" % (req(1, "echo", [1]), notif("echo", [2]), req("b", "echo", {"x": 3}),
                                   req(4, "nope"))
        r = call(s, batch)
        check(isinstance(r, list), "batch reply is not an array: %r" % (r,))
        check_eq(len(r), 3, "replies in the batch")
        by_id = {x.get("id"): x for x in r}
        check_eq(sorted(by_id, key=str), [1, 4, "b"], "ids in the batch reply")
        check_result(by_id[1], 1, [1])
        check_result(by_id["b"], "b", {"x": 3})
        check_error(by_id[4], 4, -32601)
        r = call(s, "[1]")
        check(isinstance(r, list) and len(r) == 1, "batch [1]: %r" % (r,))
        check_error(r[0], None, -32600)
        sentinel(s, "batch")


def t_empty_batch(srv):
    with connect(srv.port) as s:
        for text in ("[]", " [ ] "):
            r = call(s, text)
            check(isinstance(r, dict), "empty batch %r: want one error object, got %r" % (text, r))
            check_error(r, None, -32600)
        sentinel(s, "empty-batch")


def t_batch_of_notifications(srv):
    with connect(srv.port) as s:
        s.sendall(frame("[%s,%s]" % (notif("echo", [1]), notif("nope"))))
        expect_silence(s, 0.3)
        s.sendall(frame("[%s]" % notif("echo")))
        sentinel(s, "batch-notifications")


def t_parse_error(srv):
    with connect(srv.port) as s:
        for text in (b"{bad", b"[1,", b'{"jsonrpc":"2.0","id":1,"method":"echo"',
                     b"hello", b"\xff\xfe{}", b'[{"jsonrpc":"2.0","id":1,"method":"echo"},{bad]'):
            r = call(s, text)
            try:
                check_error(r, None, -32700)
            except TestFailure as e:
                raise TestFailure("payload %r: %s" % (text, e))
        sentinel(s, "parse-error")


def t_invalid_request(srv):
    with connect(srv.port) as s:
        for text, id in (('{"jsonrpc":"1.0","id":1,"method":"echo"}', 1),
                         ('{"jsonrpc":"2.0","id":2}', 2),
                         ('{"jsonrpc":"2.0","id":3,"method":7}', 3),
                         ('{"jsonrpc":"2.0","id":4,"method":"echo","params":5}', 4),
                         ('"just a string"', None), ('42', None)):
            r = call(s, text)
            check_eq(r.get("error", {}).get("code"), -32600, "code for %s" % text)
            check(r.get("id") in (id, None), "id for %s: %r" % (text, r.get("id")))
        sentinel(s, "invalid")


def t_unknown_method(srv):
    with connect(srv.port) as s:
        check_error(call(s, req(7, "no.such.method", [1])), 7, -32601)
        check_error(call(s, req("s", "ECHO")), "s", -32601)
        sentinel(s, "unknown")


def t_max_frame_boundary(srv):
    """A frame of exactly --max-frame bytes is served."""
    head = '{"jsonrpc":"2.0","id":1,"method":"echo","params":["'
    tail = '"]}'
    pad = "p" * (MAX_FRAME - len(head) - len(tail))
    text = head + pad + tail
    check_eq(len(text), MAX_FRAME, "payload size")
    with connect(srv.port) as s:
        check_result(call(s, text), 1, [pad])
        sentinel(s, "boundary")


def too_large_case(srv, send):
    """Another connection, opened first, stays untouched while this one
    gets exactly one -32005 error frame (id null) and is closed."""
    with connect(srv.port) as other, connect(srv.port) as s:
        sentinel(other, "before")
        other.sendall(MSG1[:7])             # the other one is mid-frame meanwhile
        send(s)
        raw = recv_frame(s)
        r = json.loads(raw)
        check_error(r, None, -32005)
        check_eq(raw_member(raw, "id"), b"null", "raw id")
        expect_eof(s)
        other.sendall(MSG1[7:])
        check_result(recv_json(other), 1, ["split", 1])
        sentinel(other, "after")


def t_json_without_prefix(srv):
    """JSON typed without the length prefix: one -32005 whose message says
    what is wrong (a length is missing), not "too large"; then the close."""
    with connect(srv.port) as s:
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}\n')
        r = json.loads(recv_frame(s))
        check_error(r, None, -32005)
        msg = r["error"]["message"]
        check("length" in msg and "too large" not in msg, "message %r" % msg)
        expect_eof(s)


def t_too_large_header_only(srv):
    too_large_case(srv, lambda s: s.sendall(struct.pack(">I", MAX_FRAME + 1)))


def t_too_large_with_payload(srv):
    too_large_case(srv, lambda s: s.sendall(frame(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":["'
                                                  + b"z" * MAX_FRAME + b'"]}')))


def t_too_large_streaming(srv):
    """A client still streaming an oversized frame's 4 MiB, not reading,
    gets every write through and then reads its -32005 and the end: the
    server shuts its side and drains before it closes (lingering close)."""
    with connect(srv.port) as s:
        s.sendall(struct.pack(">I", 4 << 20))
        chunk = b"z" * 65536
        for _ in range(64):
            s.sendall(chunk)  # a reset here would fail the case
        check_error(json.loads(recv_frame(s)), None, -32005)
        expect_eof(s)


def t_too_large_after_good(srv):
    """Good requests before the oversized header in the same send are
    answered first, then the error frame, then the close."""
    def send(s):
        s.sendall(MSG1 + MSG2 + struct.pack(">I", 0xFFFFFFFF) + b"{")
        check_result(recv_json(s), 1, ["split", 1])
        check_result(recv_json(s), "two", {"k": "v"})
    too_large_case(srv, send)


def t_many_connections(srv):
    """300 clients at once, each doing 5 calls, all open together."""
    n_clients, n_calls = 300, 5
    socks = [None] * n_clients
    errors = []
    connected = threading.Barrier(n_clients + 1, timeout=30)
    release = threading.Event()

    def client(k):
        try:
            s = connect(srv.port, timeout=15)
            socks[k] = s
            connected.wait()
            for j in range(n_calls):
                id = k * 100 + j
                check_result(call(s, req(id, "echo", {"client": k, "call": j})), id,
                             {"client": k, "call": j})
            release.wait(30)
        except Exception as e:
            errors.append("client %d: %r" % (k, e))
            try:
                connected.abort()
            except Exception:
                pass
    threads = [threading.Thread(target=client, args=(k,)) for k in range(n_clients)]
    try:
        for t in threads:
            t.start()
        try:
            connected.wait()
        except threading.BrokenBarrierError:
            pass
        with connect(srv.port) as watch:
            # all 300 are connected and not yet closed: the server counts them
            got = wait_conns(watch, n_clients + 1, 15)
            check(not errors, "%d clients failed, first: %s" % (len(errors), errors[:3]))
            check_eq(got, n_clients + 1, "conns.tcp with every client open")
            release.set()
            for t in threads:
                t.join(30)
            check(not any(t.is_alive() for t in threads), "clients still running")
            check(not errors, "%d clients failed, first: %s" % (len(errors), errors[:3]))
            for s in socks:
                s.close()
            check_eq(wait_conns(watch, 1, 10), 1, "conns.tcp after every client closed")
    finally:
        release.set()
        for s in socks:
            if s:
                s.close()


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def t_vanishing_clients(srv):
    """Clients that vanish mid-frame (FIN or RST, in the header or in the
    payload) do not disturb a client in the middle of its own frame."""
    with connect(srv.port) as stable:
        sentinel(stable, "stable-before")
        base = wait_conns(stable, 1)
        check_eq(base, 1, "conns.tcp with one test connection")
        stable.sendall(MSG2[:9])                    # stable is mid-frame too
        gone = []
        for k in range(40):
            s = connect(srv.port)
            if k % 4 == 0:
                s.sendall(MSG1[:2])                 # half a header
            elif k % 4 == 1:
                s.sendall(MSG1[:10])                # header and part of the payload
            elif k % 4 == 2:
                s.sendall(struct.pack(">I", 900) + b"{" * 500)
            else:
                s.sendall(MSG1 + MSG1[:20])         # a whole request, then half of one
            gone.append(s)
        time.sleep(0.2)
        for k, s in enumerate(gone):
            if k % 2:
                rst_close(s)
            else:
                s.close()
        stable.sendall(MSG2[9:])
        check_result(recv_json(stable), "two", {"k": "v"})
        check_eq(wait_conns(stable, 1, 10), 1, "conns.tcp after the clients vanished")
        sentinel(stable, "stable-after")


def t_runtime_stats(srv):
    with connect(srv.port) as s:
        a = stats(s)
        for key in ("goroutines", "procs", "threads", "runq", "switches", "steals",
                    "uptime_ms", "heap"):
            check(key in a, "runtime.stats lacks %r: %r" % (key, sorted(a)))
        for key in ("goroutines", "procs", "threads", "switches", "steals", "uptime_ms"):
            check(isinstance(a[key], int) and not isinstance(a[key], bool) and a[key] >= 0,
                  "%s is not a non-negative integer: %r" % (key, a[key]))
        check_eq(a["procs"], PROCS, "procs (--procs %d)" % PROCS)
        check(isinstance(a["runq"], list), "runq is not an array: %r" % (a["runq"],))
        check_eq(len(a["runq"]), PROCS, "runq entries (one per P)")
        check(all(isinstance(x, int) and x >= 0 for x in a["runq"]), "runq %r" % (a["runq"],))
        check(isinstance(a["heap"], dict), "heap is not an object: %r" % (a["heap"],))
        # beyond the protocol's minimum: what the runtime page charts
        check_eq(sorted(a["conns"]), ["http", "tcp", "ws"], "conns by transport")
        check_eq(sorted(a["chat"]), ["members", "messages_delivered", "messages_stored", "rooms"],
                 "chat figures")
        check(all(isinstance(v, int) and v >= 0 for v in a["chat"].values()), "chat %r" % a["chat"])
        check(a["goroutines"] >= 2, "goroutines %d: at least the accept loop and this connection"
              % a["goroutines"])
        check(a["threads"] >= 1, "threads %d" % a["threads"])
        # the previous case's connections may still be closing on the server
        check_eq(wait_conns(s, 1, 10), 1, "conns.tcp")
        time.sleep(0.2)
        b = stats(s)
        check(b["uptime_ms"] - a["uptime_ms"] >= 150,
              "uptime_ms moved %d ms in 200 ms" % (b["uptime_ms"] - a["uptime_ms"]))
        check(b["switches"] >= a["switches"], "switches went back: %d -> %d" % (a["switches"], b["switches"]))
        # runtime.stats ignores params, and takes its place in the order of replies
        s.sendall(MSG1 + frame(req(9, "runtime.stats", [1, 2])) + MSG2)
        check_result(recv_json(s), 1, ["split", 1])
        r = recv_json(s)
        check(r.get("id") == 9 and isinstance(r.get("result"), dict), "stats in a pipeline: %r" % (r,))
        check_result(recv_json(s), "two", {"k": "v"})


CASES = [
    ("listening line with port 0", t_listening_line),
    ("echo with params array, object, absent", t_echo_params),
    ("echo without params answers result null", t_echo_no_params_is_null),
    ("ids come back byte for byte", t_ids_exact),
    ("integers beside a >64-bit integer stay integers", t_ints_beside_big_int),
    ("two frames split at every byte position", t_split_every_position),
    ("frames sent one byte at a time", t_one_byte_at_a_time),
    ("600 coalesced frames answered once each, in order", t_coalesced),
    ("heartbeat gets no reply", t_heartbeat),
    ("notifications get no reply", t_notifications),
    ("batch answers its requests", t_batch),
    ("empty batch is one -32600", t_empty_batch),
    ("batch of notifications gets no reply", t_batch_of_notifications),
    ("parse error -32700 with id null", t_parse_error),
    ("invalid request -32600", t_invalid_request),
    ("unknown method -32601", t_unknown_method),
    ("frame of exactly --max-frame is served", t_max_frame_boundary),
    ("header above --max-frame: one -32005, close, others untouched", t_too_large_header_only),
    ("JSON without a length prefix: an error that says so, close", t_json_without_prefix),
    ("frame above --max-frame with payload: one -32005, close", t_too_large_with_payload),
    ("requests before an oversized frame are answered first", t_too_large_after_good),
    ("a client still streaming an oversized frame reads its -32005 (lingering close)",
     t_too_large_streaming),
    ("300 concurrent clients", t_many_connections),
    ("clients vanishing mid-frame disturb no one", t_vanishing_clients),
    ("runtime.stats figures", t_runtime_stats),
]


def main():
    if len(sys.argv) < 2:
        print("usage: test_framed.py GOCD [GOCC]", file=sys.stderr)
        return 2
    gocd = sys.argv[1]
    tap = Tap()
    srv = tap.run("server starts with --max-frame %d --procs %d" % (MAX_FRAME, PROCS),
                  Server, gocd, "--max-frame", str(MAX_FRAME), "--procs", str(PROCS))
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
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""test_limits.py: gocd's limits against abuse, each hit on purpose, and
the rest of the server untouched afterwards (README, "Limits"):

- --max-conns: past it a framed client gets one -32000 error frame, an
  HTTP client a 503, and both are closed; a freed slot is usable again.
- per address: --max-conns-per-ip (default a quarter of --max-conns) and
  --conn-rate (new connections per second, bursts of twice that) give the
  same answers; other addresses' limits are their own (the server counts
  127.0.0.2 apart from 127.0.0.1).
- JSON nesting deeper than 64 (even a megabyte of '['), and batches longer
  than 100: one -32600 with id null, on every transport.
- --read-timeout: a frame or HTTP request begun and not finished is closed
  after it; an idle framed connection between frames is not.
- TCP keep-alive on every accepted connection (half-open peers).
- memory per connection: clients that pipeline requests and never read
  the replies stall their own connection; the server's resident memory
  stays within a bound per connection and the others are served.
- rooms made up by a peer: joined and left (or abandoned by a closed
  connection), they leave no room, goroutine or memory behind.

usage: test_limits.py GOCD [GOCC]
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

from gocd import (Server, Tap, check, check_eq, check_error, check_result, connect, frame,
                  recv_json, req, expect_eof)
from webclient import Http, Ws, expect_closed, metrics, parse_metrics, tcp

MAX_CONNS = 6
MAX_FRAME = 65536
READ_TIMEOUT_MS = 600


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def echo_ok(sock, id=1):
    sock.sendall(frame(req(id, "echo", [id])))
    check_result(recv_json(sock), id, [id])


# ------------------------------------------------------------ --max-conns

def max_conns():
    # every client is 127.0.0.1: let one address have them all (the limit
    # per address, a quarter by default, has its own case)
    with Server(BIN, "--max-conns", str(MAX_CONNS), "--max-conns-per-ip", str(MAX_CONNS),
                "--db", ":memory:", http="127.0.0.1:0") as srv:
        held = [connect(srv.port) for _ in range(MAX_CONNS)]
        for i, s in enumerate(held):
            echo_ok(s, i + 1)  # each is served, so each is counted
        extra = connect(srv.port)
        r = recv_json(extra)
        check_error(r, None, -32000)
        check("connections" in r["error"]["message"], "message %r" % r["error"]["message"])
        expect_eof(extra)
        extra.close()
        h = tcp(srv.http_port)
        h.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = expect_closed(h)
        check(got.startswith(b"HTTP/1.1 503 "), "HTTP past --max-conns: %r" % got[:80])
        h.close()
        for s in held:  # the held ones were not disturbed
            echo_ok(s, 77)
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the slot comes back once the server has seen the close
            with Http(srv.http_port) as h:
                try:
                    r = h.request("GET", "/metrics")
                except (EOFError, ConnectionError):
                    r = None
            if r is not None and r.status == 200:
                break
            check(time.monotonic() < deadline, "the freed slot never came back")
            time.sleep(0.05)
        refused = parse_metrics(r.body.decode()).get("gocd_connections_refused_total")
        check(refused is not None and refused >= 2, "refusals counted: %r" % refused)
        for s in held:
            s.close()
        srv.check_clean_exit()


# -------------------------------------------------- limits per address

def refused_like_max_conns(port, http_port):
    """A framed client past a limit: one -32000 frame, then EOF; an HTTP
    client: 503 and the close."""
    extra = connect(port)
    r = recv_json(extra)
    check_error(r, None, -32000)
    expect_eof(extra)
    extra.close()
    h = tcp(http_port)
    h.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    got = expect_closed(h)
    check(got.startswith(b"HTTP/1.1 503 "), "HTTP past the limit: %r" % got[:80])
    h.close()


def connect_from(port, src):
    """A framed connection from the local address src (127.0.0.x)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def max_conns_per_ip():
    # default: a quarter of --max-conns
    with Server(BIN, "--max-conns", "40", "--db", ":memory:", http="127.0.0.1:0") as srv:
        held = [connect(srv.port) for _ in range(10)]
        for i, s in enumerate(held):
            echo_ok(s, i + 1)
        refused_like_max_conns(srv.port, srv.http_port)
        other = connect_from(srv.port, "127.0.0.2")  # another address: its own count
        echo_ok(other, 99)
        other.close()
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the slot comes back once the server has seen the close
            s = connect(srv.port)
            try:
                echo_ok(s, 50)
                break
            except Exception:
                check(time.monotonic() < deadline, "the freed slot never came back")
                time.sleep(0.05)
            finally:
                s.close()
        for s in held:
            s.close()
        srv.check_clean_exit()
    # explicit
    with Server(BIN, "--max-conns-per-ip", "3", "--db", ":memory:", http="127.0.0.1:0") as srv:
        held = [connect(srv.port) for _ in range(3)]
        for i, s in enumerate(held):
            echo_ok(s, i + 1)
        refused_like_max_conns(srv.port, srv.http_port)
        for s in held:
            echo_ok(s, 7)  # untouched
            s.close()
        srv.check_clean_exit()


def conn_rate():
    rate = 5  # bursts of 10
    with Server(BIN, "--conn-rate", str(rate), "--db", ":memory:", http="127.0.0.1:0") as srv:
        # a burst: 2 x rate admitted, plus what refilled meanwhile (a slow
        # sanitized build takes longer), then the -32000 answer
        t0 = time.monotonic()
        admitted = 0
        while admitted < 10 * rate:
            s = connect(srv.port)
            s.sendall(frame(req(admitted + 1, "echo", [1])))
            r = recv_json(s)
            s.close()
            if "error" in r:
                check_error(r, None, -32000)
                break
            admitted += 1
        took = time.monotonic() - t0
        check(2 * rate <= admitted <= 2 * rate + int(took * rate) + 1,
              "%d admitted in a burst of %.2f s (rate %d, bursts of %d)"
              % (admitted, took, rate, 2 * rate))
        refused_like_max_conns(srv.port, srv.http_port)
        # refills at `rate` per second: one comes back within a second or so
        time.sleep(max(0.0, t0 + 1.0 / rate * 2 - time.monotonic()) + 0.3)
        s = connect(srv.port)
        echo_ok(s, 77)
        s.close()
        other = connect_from(srv.port, "127.0.0.2")
        echo_ok(other, 78)
        other.close()
        time.sleep(1.0 / rate * 2)
        with Http(srv.http_port) as h:
            r = h.request("GET", "/metrics")
        m = parse_metrics(r.body.decode())
        check(m.get("gocd_connections_refused_address_total", 0) >= 2,
              "refusals per address counted: %r" % m.get("gocd_connections_refused_address_total"))
        srv.check_clean_exit()
    with Server(BIN, "--conn-rate", "0", "--db", ":memory:") as srv:  # 0: no limit
        for i in range(60):
            s = connect(srv.port)
            echo_ok(s, i + 1)
            s.close()
        srv.check_clean_exit()


# ------------------------------------------------------ JSON nesting, batch

def deep(n):
    return "[" * n + "]" * n


def nesting_and_batch(srv):
    ok_depth = '{"jsonrpc":"2.0","id":1,"method":"echo","params":%s}' % deep(63)
    too_deep = '{"jsonrpc":"2.0","id":2,"method":"echo","params":%s}' % deep(64)
    huge = "[" * (MAX_FRAME - 10)
    batch = lambda n: "[" + ",".join(req(i, "echo", [i]) for i in range(n)) + "]"
    # framed TCP
    s = connect(srv.port)
    s.sendall(frame(ok_depth))
    check_result(recv_json(s), 1, json.loads(deep(63)))
    for text in (too_deep, huge):
        s.sendall(frame(text))
        check_error(recv_json(s), None, -32600)
    s.sendall(frame(batch(100)))
    check_eq(len(recv_json(s)), 100, "replies to a batch of 100")
    s.sendall(frame(batch(101)))
    check_error(recv_json(s), None, -32600)
    echo_ok(s)
    s.close()
    # HTTP
    with Http(srv.http_port) as h:
        for text in (too_deep, batch(101)):
            r = h.request("POST", "/rpc", text, {"Content-Type": "application/json"})
            check_eq(r.status, 200, "status")
            check_error(r.json(), None, -32600)
    # WebSocket
    w = Ws(srv.http_port)
    for text in (too_deep, huge, batch(101)):
        w.send_text(text)
        check_error(w.recv_json(), None, -32600)
    w.close()


# ------------------------------------------------------------ --read-timeout

def frame_timeout(srv):
    stalled = connect(srv.port)
    stalled.sendall(b"\x00\x00\x01\x00" + b"{" * 10)  # 256 announced, 10 sent
    half_header = connect(srv.port)
    half_header.sendall(b"\x00\x00")
    idle = connect(srv.port)
    echo_ok(idle)  # between frames: no deadline
    t0 = time.monotonic()
    for s in (stalled, half_header):
        expect_closed(s, timeout=READ_TIMEOUT_MS / 1000 + 5)
        s.close()
    took = time.monotonic() - t0
    check(took >= READ_TIMEOUT_MS / 1000 * 0.8, "closed after %.2f s, before the timeout" % took)
    time.sleep(READ_TIMEOUT_MS / 1000)
    echo_ok(idle, 2)
    # a frame trickling in slower than the timeout as a whole is closed too
    slow = connect(srv.port)
    body = req(3, "echo", ["x" * 200])
    data = frame(body)
    t0 = time.monotonic()
    try:
        for b in data:
            slow.sendall(bytes([b]))
            time.sleep(0.01)
            if time.monotonic() - t0 > READ_TIMEOUT_MS / 1000 + 5:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    expect_closed(slow, timeout=5)
    slow.close()
    # while a client streaming frames back to back is never cut off
    fast = connect(srv.port)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < READ_TIMEOUT_MS / 1000 * 2:
        data = b"".join(frame(req(n + i, "echo", [n + i])) for i in range(20))
        fast.sendall(data[:-3])
        time.sleep(0.02)
        fast.sendall(data[-3:])
        for i in range(20):
            check_result(recv_json(fast), n + i, [n + i])
        n += 20
    fast.close()


def http_request_timeout(srv):
    s = tcp(srv.http_port)
    s.sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    t0 = time.monotonic()
    expect_closed(s, timeout=READ_TIMEOUT_MS / 1000 + 5)
    check(time.monotonic() - t0 >= READ_TIMEOUT_MS / 1000 * 0.8, "closed too early")
    s.close()


def keep_alive(srv):
    s = connect(srv.port)
    echo_ok(s)
    local = s.getsockname()[1]
    out = subprocess.run(["ss", "-tno", "state", "established",
                          "( sport = :%d and dport = :%d )" % (srv.port, local)],
                         capture_output=True, timeout=10).stdout.decode()
    check("keepalive" in out, "the server's socket has no keep-alive timer: %r" % out)
    s.close()


# ---------------------------------------------------- memory per connection

def never_reading_clients(srv):
    n_bad = 10
    before = rss_kib(srv.proc.pid)
    payload = req(1, "echo", ["y" * 8000])
    chunk = frame(payload) * 64  # ~0.5 MB per send
    bad = []
    stop = time.monotonic() + 3

    def flood(sock):
        try:
            while time.monotonic() < stop:
                sock.sendall(chunk)
        except (socket.timeout, OSError):
            pass  # the server stopped reading: that is the point

    threads = []
    for _ in range(n_bad):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(4)
        s.connect(("127.0.0.1", srv.port))
        bad.append(s)
        t = threading.Thread(target=flood, args=(s,), daemon=True)
        t.start()
        threads.append(t)
    time.sleep(1)
    good = connect(srv.port, timeout=30)  # the flood keeps the CPUs busy a while
    for i in range(20):
        echo_ok(good, i)  # others are served while they flood
    for t in threads:
        t.join(10)
    grown = rss_kib(srv.proc.pid) - before
    bound = n_bad * (2 * MAX_FRAME + 128 * 1024) // 1024
    print("# RSS grew %d KiB with %d clients flooding without reading" % (grown, n_bad))
    check(grown < bound, "RSS grew %d KiB with %d flooding clients (bound %d KiB)"
          % (grown, n_bad, bound))
    for s in bad:
        s.close()
    echo_ok(good, 99)
    good.close()


def made_up_rooms(srv):
    base = metrics(srv.http_port)
    n = 300
    s = connect(srv.port)
    for i in range(n):  # join and leave
        s.sendall(frame(req(i, "chat.join", {"room": "junk%d" % i, "nick": "n"})))
        recv_json(s)
        s.sendall(frame(req(i, "chat.leave", {"room": "junk%d" % i})))
        check_result(recv_json(s), i, True)
    abandoned = connect(srv.port)  # join, then vanish
    for i in range(n):
        abandoned.sendall(frame(req(i, "chat.join", {"room": "gone%d" % i, "nick": "n"})))
        recv_json(abandoned)
    during = metrics(srv.http_port)["gocd_chat_rooms"]
    check(during >= base["gocd_chat_rooms"] + n, "rooms while joined: %r" % during)
    abandoned.close()
    deadline = time.monotonic() + 10
    while True:
        m = metrics(srv.http_port)
        if (m["gocd_chat_rooms"] <= base["gocd_chat_rooms"]
                and m["goc_goroutines"] <= base["goc_goroutines"] + 2):
            break
        check(time.monotonic() < deadline, "rooms %r (were %r), goroutines %r (were %r)"
              % (m["gocd_chat_rooms"], base["gocd_chat_rooms"], m["goc_goroutines"],
                 base["goc_goroutines"]))
        time.sleep(0.1)
    s.sendall(frame(req(1, "chat.rooms")))
    rooms = recv_json(s)["result"]
    check(not [r for r in rooms if r["room"].startswith(("junk", "gone"))],
          "retired rooms still listed: %r" % rooms[:5])
    # a room comes back when joined again, with its history intact
    s.sendall(frame(req(2, "chat.join", {"room": "junk7", "nick": "back"})))
    check_eq(recv_json(s)["result"]["room"], "junk7", "rejoined room")
    s.close()


def main():
    global BIN
    BIN = sys.argv[1]
    tap = Tap()
    tap.run("--max-conns: framed -32000, HTTP 503, others untouched, slot reusable", max_conns)
    tap.run("--max-conns-per-ip: a quarter of --max-conns by default, the same answers, "
            "per address", max_conns_per_ip)
    tap.run("--conn-rate: new connections per address per second, bursts of twice", conn_rate)
    srv = tap.run("server starts with --max-frame %d --read-timeout %d" % (MAX_FRAME,
                                                                          READ_TIMEOUT_MS),
                  lambda: Server(BIN, "--max-frame", str(MAX_FRAME), "--read-timeout",
                                 str(READ_TIMEOUT_MS), "--db", ":memory:", "--rate", "0",
                                 http="127.0.0.1:0"))
    if srv:
        with srv:
            for name, fn in [
                ("nesting over 64 and batches over 100: -32600 on every transport",
                 nesting_and_batch),
                ("a stalled frame is closed after --read-timeout, an idle connection is not",
                 frame_timeout),
                ("a stalled HTTP request is closed after --read-timeout", http_request_timeout),
                ("accepted connections have TCP keep-alive", keep_alive),
                ("clients that never read: bounded memory, others served",
                 never_reading_clients),
                ("made-up rooms are retired once empty: no room or goroutine left",
                 made_up_rooms),
            ]:
                tap.run(name, fn, srv)
            tap.run("SIGTERM: exit 0, no sanitizer report", srv.check_clean_exit)
    sys.exit(tap.finish())


if __name__ == "__main__":
    main()

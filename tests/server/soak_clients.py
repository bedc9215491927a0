"""soak_clients.py: the client threads of test_soak.py, on any endpoint
(plain or TLS, framed or HTTP): well-behaved members (Member), HTTP
senders (HttpSender) and misbehaving clients (Abuser), reporting into one
Record.

Members and HTTP senders record every acknowledged message with the time
its answer came; members record, per membership (Stint), every chat.message
received, so test_soak.py can hold them to doc/protocol.md's delivery promise.
Abusers record a documented answer that did not come (the others are
checked only for not breaking the server).

Invariants: every socket has a timeout (gocd.IO_TIMEOUT unless told);
every text sent is unique (its sender's nick and a counter), so a stored
duplicate shows; only the rooms of ROOMS are used.
"""
import json
import os
import random
import select
import socket
import ssl
import struct
import threading
import time

from gocd import IO_TIMEOUT, TestFailure, check, check_eq, frame, recv_json, req
from webclient import (OP_BIN, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Http, Rpc, Ws, expect_closed,
                       request_bytes, tcp, ws_frame, ws_handshake_bytes)

SANITIZED = os.environ.get("GOC_SANITIZE", "none") not in ("", "none")
ROOMS = ("soak-0", "soak-1", "soak-2")
MAX_FRAME = 65536                  # the server's --max-frame
PACE = 0.5 if SANITIZED else 1.0   # scales every client's rate
MEMBER_RATE = 6.0 * PACE           # chat.send per second per member
HTTP_RATE = 15.0 * PACE            # requests per second per HTTP sender
ABUSE_GAP = 0.05 / PACE            # seconds between two abuses of one abuser


# ------------------------------------------------------------ endpoints

class Endpoint:
    """One listener: name as printed ("tcp", "http", "tls", "tcp-tls"),
    its port, and for the TLS ones the client's ssl context."""

    def __init__(self, name, port, tls_ctx=None):
        self.name, self.port, self.tls_ctx = name, port, tls_ctx
        self.framed = name in ("tcp", "tcp-tls")

    def dial(self, timeout=IO_TIMEOUT, rcvbuf=None):
        return tcp(self.port, timeout, rcvbuf, self.tls_ctx)


class SockRpc(Rpc):
    """webclient's Rpc on any endpoint (Rpc itself dials the server's
    ports by kind, with no receive buffer size)."""

    def __init__(self, kind, sock, ws=None):
        self.kind, self.sock, self.ws = kind, sock, ws
        self.pushes = []
        self.next_id = 1


def open_http(ep, timeout=IO_TIMEOUT, rcvbuf=None):
    return Http(ep.port, timeout, rcvbuf, ep.tls_ctx)


def open_ws(ep, timeout=IO_TIMEOUT, rcvbuf=None):
    return Ws(ep.port, timeout=timeout, rcvbuf=rcvbuf, tls=ep.tls_ctx)


def open_rpc(ep, timeout=IO_TIMEOUT, rcvbuf=None):
    """JSON-RPC on a persistent transport: framed on a framed endpoint,
    WebSocket on an HTTP one."""
    if ep.framed:
        return SockRpc(ep.name, ep.dial(timeout, rcvbuf))
    w = open_ws(ep, timeout, rcvbuf)
    return SockRpc("ws" if ep.name == "http" else "wss", w.sock, w)


def reset(sock):
    """Closes sock with a reset (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def readable(c, timeout):
    """True when c (SockRpc) has a message to read now or within timeout s."""
    if c.ws is not None and c.ws.h.buf:
        return True
    if isinstance(c.sock, ssl.SSLSocket) and c.sock.pending():
        return True
    r, _, _ = select.select([c.sock], [], [], max(0.0, timeout))
    return bool(r)


def recv_one(c):
    """The next JSON message on c, or None after a control frame (a ping is
    answered). A close frame or EOF raises EOFError."""
    if c.ws is None:
        return recv_json(c.sock)
    op, data = c.ws.recv_msg(answer_pings=False)
    if op == OP_PING:
        c.ws.send(OP_PONG, data)
        return None
    if op == OP_PONG:
        return None
    if op == OP_CLOSE:
        raise EOFError("close frame %r" % data[:40])
    return json.loads(data)


# ------------------------------------------------------------ shared record

class Record:
    """What every client thread reports (appends are atomic under the GIL)."""

    def __init__(self):
        self.acks = []       # (time.monotonic() of the reply, stored message)
        self.stints = []     # Stint of every well-behaved membership
        self.errors = []     # well-behaved clients: anything unexpected
        self.abuse_bad = []  # abusers: a documented answer missing or wrong
        self.counts = {}     # what was done, for the diagnostics

    def count(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n


class Stint:
    """One membership of a well-behaved member in a room."""

    def __init__(self, who, room):
        self.who, self.room = who, room
        self.after = None      # join point: the last id of chat.join's history, or 0
        self.received = []     # chat.message params, in arrival order
        self.t_leave = None    # time.monotonic() when chat.leave was sent (None: reset)
        self.whole = False     # a stayer: must have received every message after `after`


# ------------------------------------------------------------ members

class Member(threading.Thread):
    """A well-behaved member on ep: join, send at MEMBER_RATE, read all.
    stay: one stint until `stop`; else stints of 1-4 s until `quiet`."""

    def __init__(self, rec, ep, room, nick, stay, seed, quiet, stop):
        super().__init__(daemon=True)
        self.rec, self.ep, self.room, self.nick, self.stay = rec, ep, room, nick, stay
        self.rng = random.Random(seed)
        self.quiet, self.stop = quiet, stop   # Events: stop sending; leave and end
        self.seq = 0
        self.pending = {}                     # request id -> ("send", text) / ("join",) ...
        self.replies = {}                     # request id -> reply, for join and leave

    def run(self):
        try:
            while True:
                self.stint()
                if self.stay or self.quiet.is_set():
                    return
        except Exception as e:
            self.rec.errors.append("member %s (%s): %r" % (self.nick, self.ep.name, e))

    def handle(self, st, m):
        if m is None:
            return
        if "method" in m and "id" not in m:
            if m["method"] == "chat.message":
                check(m["params"].get("room") == st.room, "a message of another room: %r" % m)
                st.received.append(m["params"])
            return
        what = self.pending.pop(m.get("id"), None)
        check(what is not None, "a reply to no request: %r" % (m,))
        if what[0] == "send":
            r = m.get("result")
            check(isinstance(r, dict) and r.get("text") == what[1],
                  "chat.send %r answered %r" % (what[1], m))
            self.rec.acks.append((time.monotonic(), r))
        else:
            self.replies[m["id"]] = m

    def pump(self, c, st, timeout):
        if readable(c, timeout):
            self.handle(st, recv_one(c))

    def call(self, c, st, method, params):
        id = c.request(method, params)
        self.pending[id] = (method,)
        deadline = time.monotonic() + 15
        while id not in self.replies:
            check(time.monotonic() < deadline, "no reply to %s" % method)
            self.pump(c, st, 0.5)
        rep = self.replies.pop(id)
        check("result" in rep, "%s: %r" % (method, rep))
        return rep["result"]

    def send(self, c):
        text = "%s#%d" % (self.nick, self.seq)
        self.seq += 1
        self.pending[c.request("chat.send", {"room": self.room, "text": text})] = ("send", text)

    def stint(self):
        c = open_rpc(self.ep)
        self.pending.clear()
        # a fresh nick each time: the server may not have seen the last
        # stint's reset yet, and the old nick is still taken until it does
        nick = self.nick if self.stay else "%s-%d" % (self.nick, self.seq)
        st = Stint(nick, self.room)
        st.whole = self.stay
        try:
            h = self.call(c, st, "chat.join", {"room": self.room, "nick": nick})["history"]
            st.after = h[-1]["id"] if h else 0
            self.rec.count("member joins")
            end = time.monotonic() + self.rng.uniform(1.0, 4.0)
            next_send = time.monotonic() + self.rng.uniform(0, 1 / MEMBER_RATE)
            while not (self.stop if self.stay else self.quiet).is_set():
                now = time.monotonic()
                if not self.stay and now >= end:
                    break
                if not self.quiet.is_set() and now >= next_send:
                    self.send(c)
                    next_send = max(next_send + 1 / MEMBER_RATE, now - 1)
                self.pump(c, st, min(next_send - now, 0.2))
            if not self.stay and not self.quiet.is_set() and self.rng.random() < 0.3:
                self.rec.count("member resets")
                self.rec.stints.append(st)    # t_leave None: checked as a prefix only
                reset(c.sock)
                return
            st.t_leave = time.monotonic()
            check_eq(self.call(c, st, "chat.leave", {"room": self.room}), True, "chat.leave")
            # framed pushes go through a writer of their own: some may
            # follow the reply; take them until the line is quiet
            while readable(c, 0.5):
                self.handle(st, recv_one(c))
            self.rec.stints.append(st)
            c.close()
        except BaseException:
            c.close()
            raise


# ------------------------------------------------------------ HTTP senders

class HttpSender(threading.Thread):
    """chat.send with a nick over /rpc (single, pipelined three at a time,
    batched two at a time) and REST posts, at HTTP_RATE, on a keep-alive
    connection renewed now and then."""

    def __init__(self, rec, ep, nick, seed, quiet):
        super().__init__(daemon=True)
        self.rec, self.ep, self.nick, self.quiet = rec, ep, nick, quiet
        self.rng = random.Random(seed)
        self.seq = 0

    def text(self):
        self.seq += 1
        return "%s#%d" % (self.nick, self.seq)

    def ack(self, m, text):
        check(isinstance(m, dict) and m.get("text") == text, "%s answered %r" % (text, m))
        self.rec.acks.append((time.monotonic(), m))

    def body(self, id, room, text):
        return req(id, "chat.send", {"room": room, "nick": self.nick, "text": text})

    def one(self, h):
        x = self.rng.random()
        room = self.rng.choice(ROOMS)
        if x < 0.15:
            text = self.text()
            r = h.request("POST", "/api/rooms/%s/messages" % room,
                          json.dumps({"nick": self.nick, "text": text}))
            check_eq(r.status, 201, "REST post status (%r)" % r)
            self.ack(r.json(), text)
        elif x < 0.25:
            texts = [self.text() for _ in range(3)]
            h.send(b"".join(request_bytes("POST", "/rpc", self.body(i, room, t))
                            for i, t in enumerate(texts)))
            for t in texts:
                r = h.response()
                check_eq(r.status, 200, "pipelined /rpc status")
                self.ack(r.json().get("result"), t)
        elif x < 0.32:
            texts = [self.text() for _ in range(2)]
            batch = "[%s]" % ",".join(self.body(i, room, t) for i, t in enumerate(texts))
            r = h.request("POST", "/rpc", batch)
            check_eq(r.status, 200, "batch status")
            got = sorted(r.json(), key=lambda x: x.get("id"))
            check_eq(len(got), 2, "batch replies")
            for rep, t in zip(got, texts):
                self.ack(rep.get("result"), t)
        else:
            text = self.text()
            r = h.request("POST", "/rpc", self.body(1, room, text))
            check_eq(r.status, 200, "/rpc status")
            self.ack(r.json().get("result"), text)

    def run(self):
        h = None
        try:
            h = open_http(self.ep)
            next_t = time.monotonic()
            while not self.quiet.is_set():
                self.one(h)
                self.rec.count("http requests")
                if self.rng.random() < 0.05:
                    h.close()
                    h = open_http(self.ep)
                next_t += 1 / HTTP_RATE
                time.sleep(max(0.0, next_t - time.monotonic()))
        except Exception as e:
            self.rec.errors.append("http sender %s (%s): %r" % (self.nick, self.ep.name, e))
        finally:
            if h:
                h.close()


# ------------------------------------------------------------ abusers

class Abuser(threading.Thread):
    """Misbehaves on every endpoint in turn until `quiet`; a documented
    answer that does not come is reported in rec.abuse_bad."""

    def __init__(self, rec, eps, name, seed, quiet):
        super().__init__(daemon=True)
        self.rec, self.eps, self.name, self.quiet = rec, eps, name, quiet
        self.rng = random.Random(seed)
        self.slow = []          # (deadline, socket) of the slow readers
        self.n = 0

    def nick(self):
        self.n += 1
        return "%s-%d" % (self.name, self.n)

    # framed ----------------------------------------------------------
    def f_garbage(self, ep):
        s = ep.dial()
        s.sendall(bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(5, 300))))
        reset(s)

    def f_oversize(self, ep):
        s = ep.dial()
        s.sendall(struct.pack(">I", MAX_FRAME + 1))
        m = recv_json(s)
        e = m.get("error") or {}
        check(e.get("code") == -32005 and m.get("id", 0) is None,
              "%s: frame over --max-frame answered %r" % (ep.name, m))
        check_eq(expect_closed(s), b"", "%s: bytes after the -32005 frame" % ep.name)
        s.close()

    def f_half(self, ep):
        s = ep.dial()
        body = req(1, "chat.join", {"room": self.rng.choice(ROOMS), "nick": self.nick()})
        s.sendall(frame(body)[:self.rng.randint(1, len(body))])
        reset(s)

    def f_bad_json(self, ep):
        s = ep.dial()
        for bad, code in ((b"{oops", -32700), (b"[]", -32600), (b'{"jsonrpc":"2.0"}', -32600),
                          (req(7, "no.such"), -32601)):
            s.sendall(frame(bad))
            m = recv_json(s)
            check((m.get("error") or {}).get("code") == code,
                  "%s: %r answered %r, want %d" % (ep.name, bad, m, code))
        s.sendall(frame(req(8, "echo", ["still here"])))
        check_eq(recv_json(s).get("result"), ["still here"], "%s: echo after bad JSON" % ep.name)
        s.close()

    def f_send_reset(self, ep):
        s = ep.dial()
        room = self.rng.choice(ROOMS)
        nick = self.nick()
        s.sendall(frame(req(1, "chat.join", {"room": room, "nick": nick})))
        m = recv_json(s)
        while "method" in m:                  # the room's pushes may come first
            m = recv_json(s)
        check("result" in m, "%s: join: %r" % (ep.name, m))
        s.sendall(frame(req(2, "chat.send", {"room": room, "text": "reset after " + nick})))
        reset(s)

    # HTTP ------------------------------------------------------------
    def h_garbage(self, ep):
        h = open_http(ep)
        h.send(b"GARBAGE\x00\xff \r\n\r\n")
        r = h.response()
        check_eq(r.status, 400, "%s: garbage request status" % ep.name)
        expect_closed(h.sock)
        h.close()

    def h_oversize(self, ep):
        """The server may answer 413 and close before the body is all
        sent (a TLS write then fails): the answer is read all the same."""
        h = open_http(ep)
        try:
            h.send(request_bytes("POST", "/rpc", req(1, "echo", ["z" * MAX_FRAME])))
        except OSError:
            pass
        check_eq(h.response().status, 413, "%s: body over --max-frame" % ep.name)
        h.close()

    def h_half(self, ep):
        h = open_http(ep)
        data = request_bytes("POST", "/rpc", req(1, "chat.send", {"room": self.rng.choice(
            ROOMS), "nick": "half", "text": "never whole " + self.nick()}))
        h.send(data[:self.rng.randint(1, len(data) - 1)])
        reset(h.sock)

    def h_bad_json(self, ep):
        h = open_http(ep)
        r = h.request("POST", "/rpc", "{oops")
        check(r.status == 200 and (r.json().get("error") or {}).get("code") == -32700,
              "%s: bad JSON over /rpc: %r" % (ep.name, r))
        r = h.request("POST", "/api/rooms/%s/messages" % ROOMS[0], "{oops")
        check(400 <= r.status < 500 and "error" in r.json(),
              "%s: bad JSON over REST: %r" % (ep.name, r))
        h.close()

    def h_send_reset(self, ep):
        h = open_http(ep)
        nick = self.nick()
        h.send(request_bytes("POST", "/rpc", req(1, "chat.send", {
            "room": self.rng.choice(ROOMS), "nick": nick, "text": "reset mid-request " + nick})))
        reset(h.sock)

    # WebSocket -------------------------------------------------------
    def w_close_code(self, ep, send, code):
        w = open_ws(ep)
        try:
            send(w)
        except OSError:                   # closed before it was all sent: see h_oversize
            pass
        w.expect_close(code)
        w.close()

    def w_binary(self, ep):
        self.w_close_code(ep, lambda w: w.send(OP_BIN, b"\x00\x01"), 1003)

    def w_bad_utf8(self, ep):
        self.w_close_code(ep, lambda w: w.send(OP_TEXT, b'"\xff\xfe"'), 1007)

    def w_oversize(self, ep):
        self.w_close_code(ep, lambda w: w.send_text(req(1, "echo", ["z" * MAX_FRAME])), 1009)

    def w_bad_json(self, ep):
        w = open_ws(ep)
        w.send_text("{oops")
        m = w.recv_json()
        check((m.get("error") or {}).get("code") == -32700, "%s: ws bad JSON: %r" % (ep.name, m))
        w.close()

    def w_half(self, ep):
        if self.rng.random() < 0.5:       # half a handshake
            s = ep.dial()
            hs = ws_handshake_bytes("c29hay1rZXktMDAwMDAwMA==")
            s.sendall(hs[:self.rng.randint(1, len(hs) - 1)])
            reset(s)
            return
        w = open_ws(ep)                   # half a frame
        f = ws_frame(OP_TEXT, req(1, "echo", ["x" * 200]))
        w.sock.sendall(f[:self.rng.randint(1, len(f) - 1)])
        reset(w.sock)

    def w_send_reset(self, ep):
        c = open_rpc(ep)
        room = self.rng.choice(ROOMS)
        nick = self.nick()
        c.result("chat.join", {"room": room, "nick": nick})
        c.request("chat.send", {"room": room, "text": "reset after " + nick})
        reset(c.sock)

    # TLS -------------------------------------------------------------
    def t_not_tls(self, ep):
        """Bytes that are no TLS record, or a ClientHello cut short, on a
        TLS port; then a reset."""
        s = tcp(ep.port)
        if self.rng.random() < 0.5:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(self.rng.getrandbits(8) for _ in range(64)))
        else:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(20))
        reset(s)

    # slow readers ----------------------------------------------------
    def slow_reader(self, ep):
        """Joins a room with a 4 KiB receive buffer and never reads; reset
        after 2-5 s (the server may disconnect it first: too slow)."""
        c = open_rpc(ep, rcvbuf=4096)
        c.result("chat.join", {"room": self.rng.choice(ROOMS), "nick": self.nick()})
        self.slow.append((time.monotonic() + self.rng.uniform(2, 5), c.sock))

    def actions(self, ep):
        tls = [self.t_not_tls] if ep.tls_ctx else []
        if ep.framed:
            return tls + [self.f_garbage, self.f_oversize, self.f_half, self.f_bad_json,
                          self.f_send_reset, self.slow_reader]
        return tls + [self.h_garbage, self.h_oversize, self.h_half, self.h_bad_json,
                      self.h_send_reset, self.w_binary, self.w_bad_utf8, self.w_oversize,
                      self.w_bad_json, self.w_half, self.w_send_reset, self.slow_reader]

    def expire_slow(self, all=False):
        now = time.monotonic()
        keep = []
        for t, s in self.slow:
            if all or t <= now:
                reset(s)
            else:
                keep.append((t, s))
        self.slow = keep

    def run(self):
        try:
            while not self.quiet.is_set():
                ep = self.rng.choice(self.eps)
                act = self.rng.choice(self.actions(ep))
                try:
                    act(ep)
                except TestFailure as e:
                    self.rec.abuse_bad.append("%s on %s: %s" % (act.__name__, ep.name, e))
                except Exception as e:
                    self.rec.abuse_bad.append("%s on %s: %r" % (act.__name__, ep.name, e))
                self.rec.count("abuse " + act.__name__)
                self.expire_slow()
                time.sleep(ABUSE_GAP)
        finally:
            self.expire_slow(all=True)

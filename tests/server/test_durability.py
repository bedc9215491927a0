#!/usr/bin/env python3
"""test_durability.py: "a message whose chat.send was answered survives
kill -9 of the server at any moment" (doc/protocol.md, "Methods": chat.send
answers with the stored message; chat_history.c commits before it answers),
and the same after SIGTERM under load ("flush history, exit 0 within 5
seconds").

usage: test_durability.py GOCD [GOCC]

A life: gocd starts on a --db file in a temporary folder; senders on every
transport (framed TCP and WebSocket members pipelining a few requests
each, HTTP /rpc clients with a nick on a keep-alive connection or one
connection per request) send chat.send without pause; after a random
50-500 ms the server gets a signal. Every reply that arrived is an
acknowledged message. The next life starts on the same file and
chat.history must hold every acknowledged message (room, nick, text and ts
as answered), with ids strictly increasing, each sender's in the order its
replies came, no text stored twice, and the ids given after a restart
above every id stored before it.

Cases: ROUNDS lives ended by SIGKILL; one ended by SIGTERM (exit 0 within
5 s); one ended by SIGTERM while HTTP keep-alive clients keep sending,
whose connections must close soon after it ("finish the requests in
flight"), not when the 5 s grace period runs out.

Environment: GOC_SANITIZE (set by meson: the build's b_sanitize) runs fewer
rounds under sanitizers; DURABILITY_ROUNDS overrides the count,
DURABILITY_SEED fixes the random delays (printed as a diagnostic).

Invariants: every text sent is unique ("nick#seq"), so a duplicate shows as
a text stored twice; a sender's failure counts only if it happens before
the signal (after it, EOF, resets and refusals are the expected end).
"""
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

from gocd import Server, Tap, TestFailure, check, check_eq, req
from webclient import Http, Rpc, request_bytes

SANITIZED = os.environ.get("GOC_SANITIZE", "none") not in ("", "none")
ROUNDS = int(os.environ.get("DURABILITY_ROUNDS", "5" if SANITIZED else "8"))
ROOMS = ("durable-a", "durable-b")
# (transport, requests in flight) of each sender of a life
KILL_SENDERS = [("tcp", 4), ("tcp", 1), ("ws", 3), ("http", 1), ("http", 3), ("http-close", 1)]
TERM_SENDERS = [("tcp", 4), ("tcp", 1), ("ws", 3), ("http-close", 1), ("http-close", 1)]
SEND_LIMIT = 20.0       # seconds a sender may run (the signal comes well before)
KEEPALIVE_CLOSE = 1.0   # seconds: the server's 250 ms linger, and slack


class WrongReply(TestFailure):
    """A result that is not the message sent: wrong even after the signal."""


class Sender(threading.Thread):
    """Sends chat.send with unique texts, `window` in flight, until the
    connection dies; `acks` holds the answered messages in reply order.
    Kinds: "tcp" and "ws" (members of room), "http" (one keep-alive
    connection, pipelining `window` requests), "http-close" (a connection
    per request, Connection: close)."""

    def __init__(self, srv, kind, window, room, nick, go, stopped):
        super().__init__(daemon=True)
        self.srv, self.kind, self.window = srv, kind, window
        self.room, self.nick = room, nick
        self.go, self.stopped = go, stopped   # Events: start sending; signal sent
        self.ready = threading.Event()        # connected and joined
        self.acks = []                        # stored messages, in reply order
        self.sent = 0                         # texts sent: nick#0 .. nick#(sent-1)
        self.error = None                     # what went wrong before the signal
        self.ended = None                     # time.monotonic() when it stopped

    def text(self, seq):
        return "%s#%d" % (self.nick, seq)

    def run(self):
        conn = None
        try:
            if self.kind in ("http", "http-close"):
                conn = Http(self.srv.http_port)
            else:
                conn = Rpc(self.srv, self.kind)
                conn.result("chat.join", {"room": self.room, "nick": self.nick})
            self.ready.set()
            self.go.wait(SEND_LIMIT)
            deadline = time.monotonic() + SEND_LIMIT
            while time.monotonic() < deadline:
                if self.kind == "http-close":
                    conn.close()
                    conn = Http(self.srv.http_port)
                    self.http_round(conn, keep_alive=False)
                elif self.kind == "http":
                    self.http_round(conn)
                else:
                    self.rpc_round(conn)
        except WrongReply as e:
            self.error = "%s %s: %s" % (self.kind, self.nick, e)
        except Exception as e:          # EOF, reset, refused: the server is going
            if not self.stopped.is_set():
                self.error = "%s %s: %r" % (self.kind, self.nick, e)
        finally:
            self.ended = time.monotonic()
            self.ready.set()
            if conn:
                conn.close()

    def check_ack(self, reply, seq):
        """Records the message a reply (a JSON-RPC response) stored."""
        want = (self.room, self.nick, self.text(seq))
        check(isinstance(reply, dict) and "result" in reply, "no result: %r" % (reply,))
        m = reply["result"]
        got = tuple(m.get(k) for k in ("room", "nick", "text")) if isinstance(m, dict) else None
        if got != want:
            raise WrongReply("reply %r to %r" % (reply, want))
        self.acks.append(m)

    def rpc_round(self, c):
        """window pipelined chat.send, then their replies in order."""
        first = self.sent
        ids = []
        for _ in range(self.window):
            ids.append(c.request("chat.send", {"room": self.room, "text": self.text(self.sent)}))
            self.sent += 1
        for k, id in enumerate(ids):
            rep = c.reply(id)
            c.pushes.clear()                  # its own room's pushes: not checked here
            self.check_ack(rep, first + k)

    def http_round(self, h, keep_alive=True):
        first = self.sent
        data = b""
        for _ in range(self.window):
            body = req(self.sent, "chat.send",
                       {"room": self.room, "nick": self.nick, "text": self.text(self.sent)})
            data += request_bytes("POST", "/rpc", body, keep_alive=keep_alive)
            self.sent += 1
        h.send(data)
        for k in range(self.window):
            r = h.response()
            check_eq(r.status, 200, "HTTP status")
            self.check_ack(r.json(), first + k)


def history(srv, room):
    """Every message of room, oldest first (chat.history, 500 at a time)."""
    out = []
    with Rpc(srv, "tcp", timeout=30) as c:
        while True:
            since = out[-1]["id"] if out else 0
            page = c.result("chat.history", {"room": room, "since": since, "limit": 500})
            out += page
            if len(page) < 500:
                return out


def verify(srv, senders):
    """Checks the stored history against every acknowledged message of
    senders. Returns (highest id stored, messages stored)."""
    stored = {}
    top = 0
    for room in ROOMS:
        msgs = history(srv, room)
        ids = [m["id"] for m in msgs]
        check(all(a < b for a, b in zip(ids, ids[1:])), "%s: ids not strictly increasing" % room)
        for m in msgs:
            check(m["text"] not in stored, "text %r stored twice: %r and %r"
                  % (m["text"], stored.get(m["text"]), m))
            stored[m["text"]] = m
        top = max([top] + ids)
    lost = []
    for s in senders:
        lost += [(a, stored.get(a["text"])) for a in s.acks if stored.get(a["text"]) != a]
        ids = [a["id"] for a in s.acks]
        check(all(a < b for a, b in zip(ids, ids[1:])),
              "%s: acknowledged ids not increasing in reply order: %r" % (s.nick, ids))
    check(not lost, "%d acknowledged messages missing or changed after the restart"
          " (acknowledged, stored): first %r" % (len(lost), lost[:3]))
    return top, len(stored)


def one_life(gocd, db, life, spec, delay, sig, earlier, tap):
    """One server life on db: checks that what earlier lives acknowledged
    is stored, runs senders (spec: (kind, window) each) for `delay`
    seconds, then sends sig. Returns (senders, seconds from the signal to
    the exit, exit status, time.monotonic() of the signal)."""
    with Server(gocd, "--db", db, "--rate", "0", http="127.0.0.1:0") as srv:
        top, n_stored = verify(srv, earlier)
        if earlier:
            tap.diag("life %d: %d messages stored, all %d acknowledged ones there"
                     % (life, n_stored, sum(len(s.acks) for s in earlier)))
        go, stopped = threading.Event(), threading.Event()
        senders = [Sender(srv, kind, window, ROOMS[i % len(ROOMS)],
                          "l%d-%s%d" % (life, kind, i), go, stopped)
                   for i, (kind, window) in enumerate(spec)]
        for s in senders:
            s.start()
        for s in senders:
            s.ready.wait(SEND_LIMIT)
        bad = [s.error for s in senders if s.error]
        check(not bad, "before sending: %s" % bad)
        go.set()
        time.sleep(delay)
        check(srv.proc.poll() is None, "the server died under load: exit %r, stderr %r"
              % (srv.proc.poll(), srv.stderr()[-1500:]))
        stopped.set()
        t_sig = time.monotonic()
        rc, took = srv.stop(sig, timeout=10)
        for s in senders:
            s.join(SEND_LIMIT + 10)
        check(not any(s.is_alive() for s in senders), "senders still running after the signal")
        bad = [s.error for s in senders if s.error]
        check(not bad, "senders failed before the signal: %s" % bad)
        for s in senders:
            low = [a["id"] for a in s.acks if a["id"] <= top]
            check(not low, "%s: ids %r given after a restart, but %d was stored before"
                  % (s.nick, low[:5], top))
        tap.diag("life %d: signal %d after %.0f ms, exit %r %.2f s later, %d sends"
                 " acknowledged (%s)" % (life, sig, delay * 1000, rc, took,
                                         sum(len(s.acks) for s in senders),
                                         ", ".join("%s %d" % (s.kind, len(s.acks))
                                                   for s in senders)))
        if sig != signal.SIGKILL and rc != 0:
            raise TestFailure("exit status %r after signal %d (%.2f s); stderr tail %r"
                              % (rc, sig, took, srv.stderr()[-2500:]))
        return senders, took, rc, t_sig


def final_check(gocd, db, senders, tap):
    """A last life: every acknowledged message is stored; then a clean stop."""
    with Server(gocd, "--db", db, "--rate", "0", http="127.0.0.1:0") as srv:
        _, n_stored = verify(srv, senders)
        tap.diag("after the last restart: %d messages stored, all %d acknowledged ones there"
                 % (n_stored, sum(len(s.acks) for s in senders)))
        srv.check_clean_exit()


def with_db(fn):
    """Runs fn(database path) in a fresh temporary folder."""
    top = tempfile.mkdtemp(prefix="gocd-durable-")
    try:
        return fn(os.path.join(top, "chat.db"))
    finally:
        shutil.rmtree(top, ignore_errors=True)


def t_kills(gocd, tap, rng):
    def run(db):
        senders = []
        for life in range(ROUNDS):
            new, _, rc, _ = one_life(gocd, db, life, KILL_SENDERS, rng.uniform(0.05, 0.5),
                                     signal.SIGKILL, senders, tap)
            check_eq(rc, -signal.SIGKILL, "exit status after SIGKILL")
            senders += new
        check(sum(len(s.acks) for s in senders) >= ROUNDS,
              "too few acknowledged sends to prove anything")
        final_check(gocd, db, senders, tap)
    with_db(run)


def t_sigterm(gocd, tap, rng):
    def run(db):
        senders, took, _, _ = one_life(gocd, db, 0, TERM_SENDERS, rng.uniform(0.05, 0.5),
                                       signal.SIGTERM, [], tap)
        check(took < 5.0, "exit %.2f s after SIGTERM, doc/protocol.md says within 5 s" % took)
        final_check(gocd, db, senders, tap)
    with_db(run)


def t_sigterm_keepalive(gocd, tap, rng):
    """"Finish the requests in flight": an HTTP keep-alive client that keeps
    sending is closed soon after SIGTERM, not when the grace period ends."""
    def run(db):
        senders, took, _, t_sig = one_life(gocd, db, 0, [("http", 1), ("http", 2)],
                                           rng.uniform(0.05, 0.5), signal.SIGTERM, [], tap)
        late = ["%s closed %.2f s after SIGTERM" % (s.nick, s.ended - t_sig)
                for s in senders if s.ended - t_sig > KEEPALIVE_CLOSE]
        check(not late, "; ".join(late))
        check(took < 5.0, "exit %.2f s after SIGTERM, doc/protocol.md says within 5 s" % took)
        final_check(gocd, db, senders, tap)
    with_db(run)


def main():
    if len(sys.argv) < 2:
        print("usage: test_durability.py GOCD [GOCC]", file=sys.stderr)
        return 2
    gocd = sys.argv[1]
    tap = Tap()
    seed = int(os.environ.get("DURABILITY_SEED", str(int(time.time() * 1000) % 100000)))
    tap.diag("seed %d (DURABILITY_SEED), %d SIGKILL rounds" % (seed, ROUNDS))
    rng = random.Random(seed)
    tap.run("acknowledged chat.send messages survive SIGKILL at random moments",
            t_kills, gocd, tap, rng)
    tap.run("SIGTERM under load: exit 0 within 5 s, acknowledged messages stored",
            t_sigterm, gocd, tap, rng)
    tap.run("SIGTERM: a busy HTTP keep-alive connection closes within %.0f s"
            % KEEPALIVE_CLOSE, t_sigterm_keepalive, gocd, tap, rng)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

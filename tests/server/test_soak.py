#!/usr/bin/env python3
"""test_soak.py: a bounded soak of gocd on every transport at once.

usage: test_soak.py GOCD [GOCC] [--seconds N]

For N seconds (--seconds, else SOAK_SECONDS, else 60) threads of clients
(soak_clients.py) work on three rooms over every listener the server has:
framed TCP, HTTP /rpc and REST, WebSocket, and their TLS forms (--tls,
--tcp-tls, with a certificate from scripts/gen-cert that the clients
verify; left out, with a diagnostic, in a tree without that script):
  - well-behaved members join a room, send chat.send at a steady pace and
    read everything; "stayers" stay the whole run, "cyclers" join and leave
    again and again (chat.leave, or a reset now and then);
  - HTTP senders send chat.send with a nick (single, pipelined, batched)
    and REST posts on keep-alive connections;
  - abusers send garbage bytes, frames and bodies over --max-frame, bad
    JSON, half frames, requests and handshakes, binary and invalid UTF-8
    WebSocket messages, non-TLS bytes to TLS ports; reset (SO_LINGER 0)
    right after a chat.send or mid-request; join rooms and never read.

Before the load every transport and room is used once and 4 MiB of
messages go to a room of their own (SQLite's page cache is then full);
the baseline of descriptors (/proc/PID/fd) and goroutines (goc_goroutines
of /metrics) is taken once only the /metrics connection is open. After a
warm-up (WARMUP_SHARE of the run) the RSS (/proc/PID/status VmRSS) is
noted: the highest of the samples taken over the warm-up's last
WARMUP_WINDOW seconds, since the allocators give pages back in rounds (the
scavenger, and AddressSanitizer's allocator every 5 s) and one sample may
fall in a trough: under ASan two runs in eight noted 49 MB where the
others noted 52-60 MB, and ended 10.5% above it at the usual figure. At
the end, with the clients gone and a settle, the cases assert:
descriptors and goroutines back to the baseline; RSS at most 10% above
the warm-up figure; the documented answer to every abuse that has one;
every acknowledged message stored once, as answered; and doc/protocol.md's
delivery promise for every well-behaved membership: what it received is
exactly the room's messages after its join point (the last id of
chat.join's history), in id order with no gap and no duplicate, up to at
least every message acknowledged to anyone before it sent chat.leave
(stayers: all of them); then SIGTERM, exit 0, no sanitizer report.

Environment: GOC_SANITIZE (set by meson: the build's b_sanitize) halves
the clients' pace and lengthens the warm-up under sanitizers, and under
AddressSanitizer caps its quarantine and the allocation stacks it keeps
(server_env); SOAK_SEED fixes the clients' random choices (printed).

Invariants: only the rooms of ROOMS and FILL_ROOM are used (rooms live
until shutdown, so the goroutine baseline includes theirs); every server
is stopped before the program exits.
"""
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from gocd import Server, Tap, TestFailure, check, check_eq, req
from soak_clients import (MAX_FRAME, ROOMS, SANITIZED, Abuser, Endpoint, HttpSender, Member,
                          Record, open_http, open_rpc)
from webclient import request_bytes

FILL_ROOM = "soak-fill"            # filled before the baseline, then left alone
FILL_MIB = 4                       # twice SQLite's default page cache (2000 KiB)
OUTBOX = 256                       # the server's --outbox
ASAN_QUARANTINE_MB = 8             # see server_env
ASAN_MALLOC_FRAMES = 4             # see server_env
RSS_GROWTH = 1.10                  # end RSS / warm-up RSS at most
SETTLE_MAX = 20.0                  # seconds for descriptors and goroutines to come back
# the share of the run before the warm-up figure: the allocators (and, under
# AddressSanitizer, its bookkeeping) settle more slowly there
WARMUP_SHARE = 0.45 if SANITIZED else 1 / 3
WARMUP_WINDOW = 6.0                # seconds of samples for the warm-up figure
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ------------------------------------------------------------ the server's figures

def metrics(ep):
    """{name: value} of /metrics (labels kept in the name)."""
    h = open_http(ep)
    try:
        r = h.request("GET", "/metrics")
    finally:
        h.close()
    check_eq(r.status, 200, "/metrics status")
    out = {}
    for line in r.body.decode().splitlines():
        m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def figures(srv, ep):
    """(RSS in KiB, open descriptors, goroutines, open connections) now.
    The /metrics connection is one of the goroutines and connections."""
    pid = srv.proc.pid
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
    fds = len(os.listdir("/proc/%d/fd" % pid))
    m = metrics(ep)
    conns = sum(v for k, v in m.items() if k.startswith("gocd_connections{"))
    return rss, fds, int(m["goc_goroutines"]), int(conns)


def settle(srv, ep, want):
    """Polls figures until descriptors and goroutines equal want's (and
    only the /metrics connection is open), at most SETTLE_MAX s; returns
    the last figures."""
    deadline = time.monotonic() + SETTLE_MAX
    while True:
        f = figures(srv, ep)
        if (f[1], f[2], f[3]) == (want[1], want[2], 1) or time.monotonic() > deadline:
            return f
        time.sleep(0.25)


def baseline(srv, ep):
    """Figures once nothing is open but the /metrics connection, the same
    twice in a row."""
    deadline = time.monotonic() + SETTLE_MAX
    last = None
    while True:
        f = figures(srv, ep)
        if f[3] == 1 and last and (f[1], f[2]) == (last[1], last[2]):
            return f
        check(time.monotonic() < deadline, "no steady baseline: %r" % (f,))
        last = f
        time.sleep(0.3)


# ------------------------------------------------------------ TLS

def tls_setup(top):
    """(server flags, client ssl context) for the TLS listeners, or
    (None, why not): a certificate from scripts/gen-cert, which the
    clients take as their CA."""
    gen = os.path.join(ROOT, "scripts", "gen-cert")
    if not os.path.exists(gen):
        return None, "scripts/gen-cert not found: no TLS in this tree"
    p = subprocess.run([gen, top], capture_output=True, timeout=60)
    cert, key = os.path.join(top, "cert.pem"), os.path.join(top, "key.pem")
    if p.returncode != 0 or not os.path.exists(cert) or not os.path.exists(key):
        return None, "scripts/gen-cert failed: %r" % p.stderr[-500:]
    flags = ["--tls", "127.0.0.1:0", "--tcp-tls", "127.0.0.1:0", "--cert", cert, "--key", key]
    return flags, ssl.create_default_context(cafile=cert)


def endpoints(srv, tls_ctx):
    eps = [Endpoint("tcp", srv.port), Endpoint("http", srv.http_port)]
    if tls_ctx:
        eps += [Endpoint(name, srv.port_of(name), tls_ctx) for name in ("tls", "tcp-tls")]
    return eps


# ------------------------------------------------------------ the run

def prime(eps, rec):
    """Uses every endpoint and room once (rooms live until shutdown, and
    some things start on first use) before the baseline is taken."""
    for ep in eps:
        for room in ROOMS:
            c = open_rpc(ep)
            c.result("chat.join", {"room": room, "nick": "prime"})
            m = c.result("chat.send", {"room": room, "text": "prime %s %s" % (ep.name, room)})
            rec.acks.append((time.monotonic(), m))
            c.result("chat.leave", {"room": room})
            c.close()
        if not ep.framed:
            h = open_http(ep)
            r = h.request("POST", "/rpc", req(1, "chat.send", {"room": ROOMS[0], "nick": "prime",
                                                                "text": "prime http " + ep.name}))
            rec.acks.append((time.monotonic(), r.json()["result"]))
            check_eq(h.request("GET", "/api/rooms").status, 200, "/api/rooms")
            h.close()


def fill(ep, mib):
    """Stores mib MiB of messages in FILL_ROOM (pipelined over HTTP), so
    SQLite's page cache is full before the warm-up figure is taken."""
    h = open_http(ep)
    text = "f" * 4000
    for i in range(0, int(mib * 256), 16):
        h.send(b"".join(request_bytes("POST", "/rpc", req(j, "chat.send", {
            "room": FILL_ROOM, "nick": "fill", "text": "%d %s" % (j, text)}))
            for j in range(i, i + 16)))
        for _ in range(16):
            r = h.response()
            check(r.status == 200 and "result" in r.json(), "fill: %r" % r)
    h.close()


def start_clients(eps, rec, seed, quiet, stop):
    """Stayers (two per room), cyclers (one per room), an HTTP sender per
    HTTP endpoint plus one, two abusers; transports taken in turn."""
    persistent = list(eps)              # framed, or WebSocket on an HTTP endpoint
    http_eps = [e for e in eps if not e.framed]
    threads = []
    k = 0
    for i, room in enumerate(ROOMS):
        for j in range(2):
            ep = persistent[k % len(persistent)]
            k += 1
            threads.append(Member(rec, ep, room, "stay%d-%d" % (i, j), True, seed + k, quiet,
                                  stop))
        ep = persistent[k % len(persistent)]
        k += 1
        threads.append(Member(rec, ep, room, "cycle%d" % i, False, seed + k, quiet, stop))
    for i in range(len(http_eps) + 1):
        threads.append(HttpSender(rec, http_eps[i % len(http_eps)], "hs%d" % i, seed + 100 + i,
                                  quiet))
    for i in range(2):
        threads.append(Abuser(rec, eps, "ab%d" % i, seed + 200 + i, quiet))
    for t in threads:
        t.start()
    return threads


def history(ep, room):
    out = []
    c = open_rpc(ep, timeout=30)
    try:
        while True:
            page = c.result("chat.history", {"room": room, "since": out[-1]["id"] if out else 0,
                                             "limit": 500})
            out += page
            if len(page) < 500:
                return out
    finally:
        c.close()


def check_stint(st, msgs, acks_by_room):
    """doc/protocol.md's delivery promise for one stint; msgs: the room's
    history, oldest first."""
    after = [m for m in msgs if m["id"] > st.after]
    got = st.received
    n = len(got)
    if got != after[:n]:
        bad = next(i for i in range(n) if i >= len(after) or got[i] != after[i])
        raise TestFailure("%s in %s (joined after id %d): message %d received is %r, the room's"
                          " is %r (gap, duplicate or disorder)"
                          % (st.who, st.room, st.after, bad, got[bad],
                             after[bad] if bad < len(after) else None))
    if st.whole:
        check(n == len(after), "%s in %s: received %d of the %d messages after id %d"
              % (st.who, st.room, n, len(after), st.after))
    elif st.t_leave is not None:
        owed = [m["id"] for t, m in acks_by_room.get(st.room, ())
                if t < st.t_leave and m["id"] > st.after]
        last = got[-1]["id"] if got else st.after
        missing = [i for i in owed if i > last]
        check(not missing, "%s in %s: %d messages acknowledged before its chat.leave not"
              " received (first id %d; last received %d)"
              % (st.who, st.room, len(missing), missing[0] if missing else 0, last))


def t_delivery(rec, hist):
    acks_by_room = {}
    for t, m in rec.acks:
        acks_by_room.setdefault(m["room"], []).append((t, m))
    for st in rec.stints:
        check_stint(st, hist[st.room], acks_by_room)
    n = sum(len(st.received) for st in rec.stints)
    check(len(rec.stints) >= 2 * len(ROOMS) and n > 0, "too little delivered to prove anything")
    return n


def t_stored(rec, hist):
    by_id = {m["id"]: m for room in ROOMS for m in hist[room]}
    texts = [m["text"] for room in ROOMS for m in hist[room]]
    dup = len(texts) - len(set(texts))
    check(dup == 0, "%d texts stored twice" % dup)
    lost = [m for _, m in rec.acks if by_id.get(m["id"]) != m]
    check(not lost, "%d acknowledged messages not stored as answered, first %r"
          % (len(lost), lost[:2]))


def server_env():
    """The server's environment: ours, with AddressSanitizer's own memory
    kept from growing through the run: its quarantine of freed memory capped
    (256 MiB by default: RSS would grow until it is full, long after the
    warm-up), and the allocation stacks it records cut to a few frames (it
    keeps every distinct stack for good, and new ones kept turning up: RSS
    climbed 8-11% after the warm-up with 30 frames, 2% with 2, where the
    unsanitized server stays flat)."""
    env = dict(os.environ)
    if "address" in env.get("GOC_SANITIZE", ""):
        opts = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = "%s%squarantine_size_mb=%d:malloc_context_size=%d" % (
            opts, ":" if opts else "", ASAN_QUARANTINE_MB, ASAN_MALLOC_FRAMES)
    return env


def parse_seconds(argv):
    if "--seconds" in argv:
        return float(argv[argv.index("--seconds") + 1])
    return float(os.environ.get("SOAK_SECONDS", "60"))


class Run:
    """One soak: the figures and records the cases check."""

    def __init__(self, srv, eps, seed, seconds, tap):
        self.srv, self.eps, self.seed, self.seconds, self.tap = srv, eps, seed, seconds, tap
        self.mep = eps[1]             # plain HTTP: /metrics
        self.rec = Record()
        self.base = self.warm = self.end = None   # figures: before, after the warm-up, at the end
        self.alive = []               # client threads that did not end
        self.hist = {}                # room -> every message, oldest first

    def figures(self):
        return figures(self.srv, self.mep)

    def load(self):
        """Primes, takes the baseline, runs the clients for `seconds`
        (the warm-up figure after WARMUP_SHARE of it), stops them, settles."""
        tap = self.tap
        prime(self.eps, self.rec)
        fill(self.mep, FILL_MIB)
        self.base = baseline(self.srv, self.mep)
        tap.diag("baseline: RSS %d KiB, %d descriptors, %d goroutines" % self.base[:3])
        quiet, stop = threading.Event(), threading.Event()
        t0 = time.monotonic()
        threads = start_clients(self.eps, self.rec, self.seed, quiet, stop)
        warm_end = t0 + self.seconds * WARMUP_SHARE
        time.sleep(max(0.0, warm_end - WARMUP_WINDOW - time.monotonic()))
        samples = [self.figures()]
        while time.monotonic() < warm_end:
            time.sleep(0.5)
            samples.append(self.figures())
        self.warm = (max(f[0] for f in samples),) + samples[-1][1:]
        tap.diag("after the warm-up: RSS %d KiB, %d descriptors, %d goroutines,"
                 " %d connections" % self.warm)
        while time.monotonic() - t0 < self.seconds and self.srv.proc.poll() is None:
            time.sleep(min(10.0, max(0.1, self.seconds - (time.monotonic() - t0))))
            tap.diag("%3.0f s: RSS %d KiB, %d descriptors, %d goroutines, %d connections"
                     % ((time.monotonic() - t0,) + self.figures()))
        quiet.set()                   # stop sending, abusing, cycling
        for t in threads:
            if not (isinstance(t, Member) and t.stay):
                t.join(30)
        time.sleep(1.0)               # the last messages reach the stayers
        stop.set()
        for t in threads:
            t.join(30)
        self.alive = [t for t in threads if t.is_alive()]
        self.end = settle(self.srv, self.mep, self.base)
        tap.diag("at the end: RSS %d KiB, %d descriptors, %d goroutines, %d connections"
                 % self.end)
        tap.diag("done: %s" % ", ".join("%s %d" % kv for kv in sorted(self.rec.counts.items())))
        self.hist = {room: history(self.eps[0], room) for room in ROOMS}
        tap.diag("%d messages stored, %d acknowledged, %d memberships"
                 % (sum(len(h) for h in self.hist.values()), len(self.rec.acks),
                    len(self.rec.stints)))
        return True

    def t_load(self):
        check(self.srv.proc.poll() is None, "the server died: exit %r, stderr %r"
              % (self.srv.proc.poll(), self.srv.stderr()[-2000:]))
        check(not self.alive, "client threads still running: %r" % self.alive)
        errors = self.rec.errors
        check(not errors, "%d well-behaved clients failed: %s"
              % (len(errors), "; ".join(errors[:5])))

    def t_abuse(self):
        n = sum(v for k, v in self.rec.counts.items() if k.startswith("abuse "))
        bad = self.rec.abuse_bad
        check(n > 0, "no abuse done")
        check(not bad, "%d of %d abuses not answered as documented: %s"
              % (len(bad), n, "; ".join(bad[:5])))

    def t_rss(self):
        check(self.end[0] <= self.warm[0] * RSS_GROWTH, "RSS %d KiB at the end, %d KiB after"
              " the warm-up" % (self.end[0], self.warm[0]))

    def cases(self):
        tap = self.tap
        tap.run("load on %s: the server lives, no well-behaved client fails"
                % "+".join(e.name for e in self.eps), self.t_load)
        tap.run("misbehaving clients get the documented answers", self.t_abuse)
        tap.run("descriptors back to the baseline (%d)" % self.base[1],
                lambda: check_eq(self.end[1], self.base[1], "open descriptors"))
        tap.run("goroutines back to the baseline (%d)" % self.base[2],
                lambda: check_eq(self.end[2], self.base[2], "goroutines"))
        tap.run("RSS at most %d%% above the warm-up figure" % round((RSS_GROWTH - 1) * 100),
                self.t_rss)
        tap.run("every acknowledged message stored once, as answered",
                t_stored, self.rec, self.hist)
        n = tap.run("every well-behaved member got its rooms' messages: in order, no gap,"
                    " no duplicate", t_delivery, self.rec, self.hist)
        if n:
            tap.diag("%d deliveries checked" % n)
        tap.run("SIGTERM: exit 0, no sanitizer report", self.srv.check_clean_exit)


def soak(gocd, seconds, tap):
    top = tempfile.mkdtemp(prefix="gocd-soak-")
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()) % 100000)))
    tap.diag("seed %d (SOAK_SEED), %.0f s of load, %.0f s of warm-up"
             % (seed, seconds, seconds * WARMUP_SHARE))
    try:
        flags, tls_ctx = tls_setup(top)
        if not flags:
            tap.diag("TLS transports left out: %s" % tls_ctx)
            flags, tls_ctx = [], None
        srv = tap.run("server starts with every listener", lambda: Server(
            gocd, "--db", os.path.join(top, "chat.db"), "--max-frame", str(MAX_FRAME),
            "--outbox", str(OUTBOX), *flags, http="127.0.0.1:0", env=server_env()))
        if not srv:
            return
        with srv:
            run = Run(srv, endpoints(srv, tls_ctx), seed, seconds, tap)
            tap.diag("endpoints: %s" % ", ".join(e.name for e in run.eps))
            if not tap.run("the load runs and stops", run.load):
                tap.diag("server exit %r, stderr tail:\n%s"
                         % (srv.proc.poll(), srv.stderr()[-3000:]))
                return
            run.cases()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("--"):
        print("usage: test_soak.py GOCD [GOCC] [--seconds N]", file=sys.stderr)
        return 2
    tap = Tap()
    soak(args[0], parse_seconds(args), tap)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""test_cluster.py: several servers, one chat (doc/protocol.md, "Several
servers, one chat (--redis)"): gocd processes started with the same --redis URL,
on a real redis-server of the test's own (redisproc.py: a free port, a
temporary folder, appendonly yes and appendfsync always).

Cases: two servers (delivery both ways, nick unique across servers,
presence, history, rooms, members and REST the same everywhere, the
node's name and the broker's figures in runtime.stats and /metrics);
three servers with concurrent senders on several rooms (every member gets
every message of its room in id order, no gap, no duplicate);
simultaneous joins and leaves across servers (joinrace.py); a server
killed with SIGKILL (its members leave, on the others, within 10 s) and
one stopped with SIGTERM (at once); Redis stopped with SIGSTOP while
clients send (each call answers within 2 s, -32006 or a result;
/healthz 503 within 2 s and 200 again within 5 s; afterwards every
member has every acknowledged message, in order, once); Redis killed and
started again on its append-only file (nothing acknowledged lost, ids
keep growing); the subscription connection alone dropped (the gap is
found and filled); a server started before its Redis.

usage: test_cluster.py GOCD [GOCC]

Invariants: every server and every Redis is stopped at the end of its
case (context managers); every wait is bounded; counts scale down under
sanitizers (GOC_SANITIZE).
"""
import os
import signal
import sys
import threading
import time

import joinrace
from gocd import Server, Tap, TestFailure, check, check_eq
from redisproc import Conn, RedisError, RedisProc, free_port
from webclient import Rpc, http, metrics

SANITIZED = os.environ.get("GOC_SANITIZE", "false") not in ("", "none", "false")
GOCD = None
_room_no = [0]


def room():
    _room_no[0] += 1
    return "c%d_%d" % (os.getpid() % 1000, _room_no[0])


def node(redis, name, *flags, url=None):
    return Server(GOCD, "--redis", url or redis.url, "--node", name, "--rate", "0", *flags,
                  http="127.0.0.1:0")


class Cluster:
    """n servers on one Redis (a context manager that stops them all)."""

    def __init__(self, n, redis=None):
        self.redis = redis or RedisProc()
        self.own_redis = redis is None
        self.servers = []
        try:
            for i in range(n):
                self.servers.append(node(self.redis, "node-%d" % i))
        except BaseException:
            self.close()
            raise

    def close(self):
        for s in self.servers:
            s.kill()
        if self.own_redis:
            self.redis.close()

    def stop_clean(self):
        for s in self.servers:
            s.check_clean_exit()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def join(c, r, nick):
    return c.result("chat.join", {"room": r, "nick": nick})


def messages_until(c, r, end_id, timeout=10.0):
    """The chat.message notifications of room r that c receives (in order,
    those already in c.pushes first) until the one with id end_id."""
    got, deadline = [], time.monotonic() + timeout
    while True:
        while c.pushes:
            p = c.pushes.pop(0)
            if p["method"] == "chat.message" and p["params"]["room"] == r:
                got.append(p["params"])
                if p["params"]["id"] == end_id:
                    return got
        check(time.monotonic() < deadline, "message %d not received within %.0f s (last %r)"
              % (end_id, timeout, got[-1:]))
        c.pushes.append(c.recv())


def presence_until(c, r, pred, timeout):
    """Waits for a chat.presence of room r satisfying pred; returns it and
    the seconds it took."""
    t0 = time.monotonic()
    old = c.sock.gettimeout()
    try:
        while True:
            for i, p in enumerate(c.pushes):
                if p["method"] == "chat.presence" and p["params"]["room"] == r and pred(p["params"]):
                    return c.pushes.pop(i)["params"], time.monotonic() - t0
            left = timeout - (time.monotonic() - t0)
            check(left > 0, "no such presence within %.0f s: %r" % (timeout, c.pushes[-5:]))
            c.sock.settimeout(left)
            c.pushes.append(c.recv())
    finally:
        c.sock.settimeout(old)


def check_stream(got, history, first_id, what):
    """got (messages received) must be exactly history's messages from
    first_id on: every one, in id order, once."""
    want = [m["id"] for m in history if m["id"] >= first_id]
    ids = [m["id"] for m in got]
    check(ids == sorted(ids), "%s: not in id order" % what)
    check(len(ids) == len(set(ids)), "%s: a duplicate" % what)
    check_eq(ids, want, "%s: the room's messages" % what)


# ---------------------------------------------------------------- cases

def t_two_servers():
    with Cluster(2) as cl:
        a, b = cl.servers
        r = room()
        with Rpc(a, "ws") as ann, Rpc(b, "tcp") as bob, Rpc(b, "ws") as eve:
            j = join(ann, r, "ann")
            check_eq(j["members"], ["ann"], "first member")
            j = join(bob, r, "bob")
            check_eq(j["members"], ["ann", "bob"], "members across servers")
            p, _ = presence_until(ann, r, lambda p: p["nick"] == "bob", 5)
            check_eq(p["event"], "join", "presence across servers")
            check_eq(eve.error_code("chat.join", {"room": r, "nick": "ann"}), -32002,
                     "a nick held on another server")
            m1 = ann.result("chat.send", {"room": r, "text": "from a"})
            m2 = bob.result("chat.send", {"room": r, "text": "from b"})
            check(m2["id"] > m1["id"], "ids grow across servers")
            for c, who in ((ann, "ann"), (bob, "bob")):
                got = messages_until(c, r, m2["id"])
                check_eq([m["text"] for m in got], ["from a", "from b"], "%s's messages" % who)
            # REST on either server: the same rooms and history; a POST on b reaches a
            resp = http(b.http_port, "POST", "/api/rooms/%s/messages" % r,
                        b'{"nick":"rest","text":"via b"}')
            check_eq(resp.status, 201, "REST post on b")
            m3 = resp.json()
            got = messages_until(ann, r, m3["id"])
            check_eq(got[-1]["text"], "via b", "REST message on a")
            views = []
            for s in (a, b):
                rooms = [x for x in http(s.http_port, "GET", "/api/rooms").json() if x["room"] == r]
                hist = http(s.http_port, "GET", "/api/rooms/%s/messages" % r).json()
                with Rpc(s, "tcp") as c:
                    views.append((rooms, hist, c.result("chat.members", {"room": r}),
                                  [x for x in c.result("chat.rooms") if x["room"] == r],
                                  c.result("chat.history", {"room": r})))
            check_eq(views[0], views[1], "what a and b say")
            check_eq(views[0][0], [{"room": r, "members": 2, "messages": 3}], "/api/rooms")
            check_eq(views[0][2], ["ann", "bob"], "chat.members")
            # scrolling back works the same
            page = bob.result("chat.history", {"room": r, "before": m3["id"], "limit": 1})
            check_eq([m["id"] for m in page], [m2["id"]], "history before")
            # the node's name and the broker's figures
            st = ann.result("runtime.stats")
            check_eq(st.get("node"), "node-0", "runtime.stats node")
            check(st["broker"]["name"] == "redis" and st["broker"]["connected"] is True,
                  "runtime.stats broker %r" % st.get("broker"))
            mt = metrics(b.http_port)
            check_eq(mt.get('gocd_node_info{node="node-1"}'), 1.0, "gocd_node_info")
            for k in ("gocd_broker_connected", "gocd_broker_published_total",
                      "gocd_broker_received_total", "gocd_broker_gaps_filled_total",
                      "gocd_broker_reconnects_total", "gocd_broker_call_seconds_count"):
                check(k in mt, "/metrics lacks %s" % k)
            check(mt["gocd_broker_published_total"] >= 2, "b published its messages")
            check_eq(http(a.http_port, "GET", "/healthz").status, 200, "/healthz")
        cl.stop_clean()


def t_three_servers_concurrent():
    n = 30 if SANITIZED else 120
    with Cluster(3) as cl:
        rooms = [room(), room()]
        senders, receivers = [], []
        try:
            for i, s in enumerate(cl.servers):
                for k, r in enumerate(rooms):
                    kind = ("ws", "tcp")[(i + k) % 2]
                    snd, rcv = Rpc(s, kind), Rpc(s, ("tcp", "ws")[(i + k) % 2])
                    join(snd, r, "s%d" % i)
                    join(rcv, r, "r%d" % i)
                    senders.append((snd, r))
                    receivers.append((rcv, r))
            firsts = {r: senders[0][0].result("chat.send", {"room": r, "text": "start"})["id"]
                      if senders[0][1] == r else None for r in rooms}
            for snd, r in senders:
                if firsts[r] is None:
                    firsts[r] = snd.result("chat.send", {"room": r, "text": "start"})["id"]
            errors = []

            def send_all(c, r):
                try:
                    for i in range(n):
                        c.result("chat.send", {"room": r, "text": "m%d" % i})
                except Exception as e:
                    errors.append(e)

            threads = [threading.Thread(target=send_all, args=sr, daemon=True) for sr in senders]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            check(not errors, "senders failed: %r" % errors[:3])
            ends = {r: senders[0][0].result("chat.send", {"room": r, "text": "end"})["id"]
                    for r in rooms if senders[0][1] == r}
            for r in rooms:
                if r not in ends:
                    ends[r] = [c for c, rr in senders if rr == r][0].result(
                        "chat.send", {"room": r, "text": "end"})["id"]
            hist = {}
            for r in rooms:
                h = []
                since = firsts[r] - 1
                while True:
                    page = receivers[0][0].result("chat.history",
                                                  {"room": r, "since": since, "limit": 500})
                    h += page
                    if len(page) < 500:
                        break
                    since = page[-1]["id"]
                hist[r] = h
                check_eq(len(h), 3 * n + 2, "room %s: messages stored" % r)
            for i, (c, r) in enumerate(senders + receivers):
                got = messages_until(c, r, ends[r], timeout=30)
                got = [m for m in got if m["id"] >= firsts[r]]
                check_stream(got, hist[r], firsts[r], "member %d of %s" % (i, r))
        finally:
            for c, _ in senders + receivers:
                c.close()
        cl.stop_clean()


def t_join_race_cluster():
    rounds = 4 if SANITIZED else 15
    with Cluster(3) as cl:
        for _ in range(rounds):
            joinrace.run_round(cl.servers, ["ws", "tcp"], room(), clients=9)
        cl.stop_clean()


def t_sigkill_server():
    with Cluster(2) as cl:
        a, b = cl.servers
        r = room()
        with Rpc(a, "ws") as ann, Rpc(b, "tcp") as bob, Rpc(b, "ws") as carl:
            join(ann, r, "ann")
            join(bob, r, "bob")
            join(carl, r, "carl")
            b.send_signal(signal.SIGKILL)
            b.wait(5)
            left = set()
            t0 = time.monotonic()
            while left != {"bob", "carl"}:
                p, _ = presence_until(ann, r, lambda p: p["event"] == "leave", 10 - (time.monotonic() - t0))
                left.add(p["nick"])
            took = time.monotonic() - t0
            check(took < 10, "leave events after %.1f s" % took)
            check_eq(ann.result("chat.members", {"room": r}), ["ann"], "members after")
            # the nicks are free again
            with Rpc(a, "tcp") as c:
                join(c, r, "bob")
        a.check_clean_exit()


def t_sigterm_server():
    with Cluster(2) as cl:
        a, b = cl.servers
        r = room()
        with Rpc(a, "tcp") as ann:
            bob = Rpc(b, "tcp")
            join(ann, r, "ann")
            join(bob, r, "bob")
            t0 = time.monotonic()
            b.check_clean_exit()
            bob.close()
            p, took = presence_until(ann, r, lambda p: p["nick"] == "bob" and
                                     p["event"] == "leave", 5)
            check(time.monotonic() - t0 < 6, "leave after %.1f s" % (time.monotonic() - t0))
            check_eq(ann.result("chat.members", {"room": r}), ["ann"], "members after")
        a.check_clean_exit()


class Healthz(threading.Thread):
    """Polls /healthz every 50 ms, recording (time, status)."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.seen, self.stop = srv, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                st = http(self.srv.http_port, "GET", "/healthz").status
            except Exception:
                st = None
            self.seen.append((time.monotonic(), st))
            time.sleep(0.05)

    def first(self, status, after):
        for t, st in self.seen:
            if t >= after and st == status:
                return t
        return None


def t_redis_stopped():
    stop_s = 3.0
    with Cluster(2) as cl:
        a, b = cl.servers
        r = room()
        members = []
        try:
            for s, nick, kind in ((a, "ann", "ws"), (b, "bob", "tcp")):
                c = Rpc(s, kind)
                join(c, r, nick)
                members.append(c)
            first = members[0].result("chat.send", {"room": r, "text": "before"})["id"]
            acked, answers, errors = [], [], []
            done = threading.Event()

            def sender(s, kind, nick):
                try:
                    with Rpc(s, kind) as c:
                        join(c, r, nick)
                        i = 0
                        while not done.is_set():
                            t0 = time.monotonic()
                            rep = c.call("chat.send", {"room": r, "text": "%s %d" % (nick, i)})
                            took = time.monotonic() - t0
                            answers.append((took, rep))
                            if "result" in rep:
                                acked.append(rep["result"]["id"])
                            else:
                                check_eq(rep["error"]["code"], -32006, "error while Redis is away")
                            i += 1
                            time.sleep(0.05)
                except Exception as e:
                    errors.append(e)

            threads = [threading.Thread(target=sender, args=(s, k, n), daemon=True)
                       for s, k, n in ((a, "tcp", "sa"), (b, "ws", "sb"))]
            hz = Healthz(a)
            hz.start()
            for t in threads:
                t.start()
            time.sleep(0.5)
            t_stop = time.monotonic()
            cl.redis.signal(signal.SIGSTOP)
            time.sleep(stop_s)
            # while away: the calls that need Redis fail in time, the rest answer
            with Rpc(a, "tcp") as c:
                t0 = time.monotonic()
                check_eq(c.error_code("chat.join", {"room": r, "nick": "late"}), -32006,
                         "chat.join while Redis is stopped")
                check(time.monotonic() - t0 < 2.0, "chat.join answered after %.2f s"
                      % (time.monotonic() - t0))
                check_eq(c.result("echo", [1]), [1], "echo needs no Redis")
                check("goroutines" in c.result("runtime.stats"), "runtime.stats needs no Redis")
            t0 = time.monotonic()
            resp = http(b.http_port, "GET", "/api/rooms")
            check_eq(resp.status, 503, "GET /api/rooms while Redis is stopped")
            check(time.monotonic() - t0 < 2.0, "REST answered after %.2f s" % (time.monotonic() - t0))
            t_cont = time.monotonic()
            cl.redis.signal(signal.SIGCONT)
            down = hz.first(503, t_stop)
            check(down is not None and down - t_stop < 2.0,
                  "/healthz 503 %s s after Redis stopped" % (down and round(down - t_stop, 2)))
            deadline = time.monotonic() + 6
            while hz.first(200, t_cont) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            up = hz.first(200, t_cont)
            check(up is not None and up - t_cont < 5.0,
                  "/healthz 200 %s s after Redis came back" % (up and round(up - t_cont, 2)))
            time.sleep(0.5)
            done.set()
            for t in threads:
                t.join(10)
            hz.stop.set()
            check(not errors, "senders: %r" % errors[:3])
            slow = [(round(t, 2), rep) for t, rep in answers if t >= 2.0]
            check(not slow, "calls answered after 2 s or more: %r" % slow[:3])
            failed = sum(1 for _, rep in answers if "error" in rep)
            check(failed > 0, "no call failed while Redis was stopped (%d calls)" % len(answers))
            end = members[1].result("chat.send", {"room": r, "text": "end"})["id"]
            hist = members[0].result("chat.history", {"room": r, "since": first - 1, "limit": 500})
            stored = {m["id"] for m in hist}
            check(set(acked) <= stored, "acknowledged but not stored: %r"
                  % sorted(set(acked) - stored)[:5])
            for c in members:
                got = messages_until(c, r, end, timeout=15)
                got = [m for m in got if m["id"] >= first]
                check_stream(got, hist, first, "member on %s" % c.kind)
            # presence as before (a join answered -32006 may have reached
            # Redis after all: its server takes it back within a tick)
            deadline = time.monotonic() + 5
            while True:
                ms = sorted(members[0].result("chat.members", {"room": r}))
                if ms == ["ann", "bob"] or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            check_eq(ms, ["ann", "bob"], "presence as before")
        finally:
            for c in members:
                c.close()
        cl.stop_clean()


def t_redis_restarted():
    with Cluster(2) as cl:
        a, b = cl.servers
        r = room()
        with Rpc(a, "tcp") as ann, Rpc(b, "ws") as bob:
            join(ann, r, "ann")
            join(bob, r, "bob")
            acked = [ann.result("chat.send", {"room": r, "text": "a%d" % i})["id"]
                     for i in range(20)]
            cl.redis.kill()
            t0 = time.monotonic()
            check_eq(ann.error_code("chat.send", {"room": r, "text": "while down"}), -32006,
                     "send while Redis is down")
            check(time.monotonic() - t0 < 2.0, "answered after %.2f s" % (time.monotonic() - t0))
            cl.redis.start()
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                if http(a.http_port, "GET", "/healthz").status == 200 and \
                   http(b.http_port, "GET", "/healthz").status == 200:
                    break
                time.sleep(0.1)
            more = bob.result("chat.send", {"room": r, "text": "after restart"})
            check(more["id"] > acked[-1], "ids keep growing: %d after %d" % (more["id"], acked[-1]))
            hist = ann.result("chat.history", {"room": r, "limit": 500})
            check_eq([m["id"] for m in hist], acked + [more["id"]], "history after the restart")
            for c in (ann, bob):
                got = messages_until(c, r, more["id"], timeout=10)
                check_stream(got, hist, acked[0], "member on %s" % c.kind)
            check_eq(ann.result("chat.members", {"room": r}), ["ann", "bob"], "members kept")
        cl.stop_clean()


def t_subscription_dropped():
    with Cluster(2) as cl:
        a, b = cl.servers
        r = room()
        with Rpc(a, "ws") as ann, Rpc(b, "tcp") as bob:
            join(ann, r, "ann")
            join(bob, r, "bob")
            first = bob.result("chat.send", {"room": r, "text": "first"})["id"]
            messages_until(ann, r, first)
            gaps0 = metrics(a.http_port).get("gocd_broker_gaps_filled_total", 0)
            # no SUBSCRIBE for a while, and every subscription connection dropped
            cl.redis.cmd("ACL", "SETUSER", "default", "-subscribe")
            cl.redis.cmd("CLIENT", "KILL", "TYPE", "pubsub")
            sent = [bob.result("chat.send", {"room": r, "text": "gap %d" % i})["id"]
                    for i in range(5)]
            got = messages_until(ann, r, sent[-1], timeout=10)
            check_eq([m["id"] for m in got], sent, "messages sent while unsubscribed")
            cl.redis.cmd("ACL", "SETUSER", "default", "+subscribe")
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                mt = metrics(a.http_port)
                if mt.get("gocd_broker_subscription_reconnects_total", 0) >= 1 and \
                   mt.get("gocd_broker_subscribed", 0) == 1:
                    break
                time.sleep(0.1)
            check(mt.get("gocd_broker_gaps_filled_total", 0) > gaps0,
                  "no gap filled: %r" % {k: v for k, v in mt.items() if "broker" in k})
            check_eq(mt.get("gocd_broker_subscribed"), 1.0, "subscribed again")
            last = bob.result("chat.send", {"room": r, "text": "after"})["id"]
            got = messages_until(ann, r, last, timeout=5)
            check_eq([m["id"] for m in got], [last], "delivery after the subscription is back")
        cl.stop_clean()


def t_start_before_redis():
    port = free_port()
    url = "redis://127.0.0.1:%d" % port
    srv = Server(GOCD, "--redis", url, "--node", "early", "--rate", "0", http="127.0.0.1:0")
    with srv:
        with Rpc(srv, "tcp") as c:
            t0 = time.monotonic()
            check_eq(c.error_code("chat.join", {"room": "early", "nick": "e"}), -32006,
                     "chat.join without Redis")
            check(time.monotonic() - t0 < 2.0, "answered after %.2f s" % (time.monotonic() - t0))
            check_eq(c.error_code("chat.history", {"room": "early"}), -32006, "chat.history")
            check_eq(c.result("echo", {"x": 1}), {"x": 1}, "echo")
            check_eq(http(srv.http_port, "GET", "/healthz").status, 503, "/healthz without Redis")
            check_eq(http(srv.http_port, "POST", "/api/rooms/early/messages",
                          b'{"nick":"w","text":"x"}').status, 503, "REST post without Redis")
            redis = RedisProc(port=port)
            try:
                deadline = time.monotonic() + 5
                while http(srv.http_port, "GET", "/healthz").status != 200:
                    check(time.monotonic() < deadline, "/healthz not 200 within 5 s of Redis")
                    time.sleep(0.05)
                j = c.result("chat.join", {"room": "early", "nick": "e"})
                check_eq(j["members"], ["e"], "joined once Redis is there")
                srv.check_clean_exit()
            finally:
                redis.close()


def main():
    global GOCD
    if len(sys.argv) < 2:
        print("usage: test_cluster.py GOCD [GOCC]", file=sys.stderr)
        return 2
    GOCD = sys.argv[1]
    tap = Tap()
    cases = [
        ("two servers: delivery, nick unique, presence, the same answers everywhere",
         t_two_servers),
        ("three servers, concurrent senders, two rooms: in order, no gap, no duplicate",
         t_three_servers_concurrent),
        ("simultaneous joins and leaves across three servers", t_join_race_cluster),
        ("SIGKILL a server: its members leave on the others within 10 s", t_sigkill_server),
        ("SIGTERM a server: its members leave at once", t_sigterm_server),
        ("SIGSTOP Redis: -32006 within 2 s, /healthz, then every message in order",
         t_redis_stopped),
        ("SIGKILL Redis, restart on its AOF: nothing acknowledged lost, ids grow",
         t_redis_restarted),
        ("the subscription dropped alone: the gap is found and filled", t_subscription_dropped),
        ("a server starts before its Redis", t_start_before_redis),
    ]
    for name, fn in cases:
        tap.run(name, fn)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

"""joinrace.py: simultaneous joins and leaves, checked against
doc/protocol.md, "Joining is a snapshot, then a stream" (shared by test_chat.py, one
server, and test_cluster.py, several on one Redis).

A round: two members already in a room; then `clients` new connections
(spread over the servers and transports given) send chat.join at the same
moment; half of them leave again at once, the others each send a message.
Every joiner must get its chat.join reply before any notification of the
room; the reply's members, with the presence notifications that follow
applied in order (a join of someone not there, a leave of someone there),
must end as the room's members; and the chat.message notifications after
the reply must be exactly the stored messages after the reply's history,
in order. A final message from one of the first members marks the end.

Invariants: every socket has a timeout (webclient); threads are joined
before the round ends; each round uses a room of its own.
"""
import threading

from gocd import TestFailure, check, check_eq
from webclient import Rpc


class Joiner:
    """One new member's view: its join reply and what followed."""

    def __init__(self, srv, kind, room, nick, leaves):
        self.c = Rpc(srv, kind)
        self.room, self.nick, self.leaves = room, nick, leaves
        self.reply = None
        self.early = []   # notifications of the room before the join reply
        self.after = []   # notifications of the room after it, in order
        self.error = None
        self.done = threading.Event()  # joined and then left, or sent

    def run(self, barrier):
        try:
            barrier.wait()
            id = self.c.request("chat.join", {"room": self.room, "nick": self.nick})
            r = self.c.reply(id)
            self.early = [p for p in self.c.pushes if p["params"].get("room") == self.room]
            self.after = []
            check("result" in r, "%s join: %r" % (self.nick, r))
            self.reply = r["result"]
            if self.leaves:
                id = self.c.request("chat.leave", {"room": self.room})
                r = self.c.reply(id)
                self.after = [p for p in self.c.pushes if p["params"].get("room") == self.room]
                check(r.get("result") is True, "%s leave: %r" % (self.nick, r))
                return
            id = self.c.request("chat.send", {"room": self.room, "text": "from " + self.nick})
            r = self.c.reply(id)
            check("result" in r, "%s send: %r" % (self.nick, r))
            self.done.set()
            while True:  # until the end marker
                for p in self.c.pushes:
                    if p["params"].get("room") == self.room:
                        self.after.append(p)
                self.c.pushes = []
                if any(p["method"] == "chat.message" and p["params"]["text"] == "end"
                       for p in self.after):
                    return
                self.c.pushes.append(self.c.recv())
        except Exception as e:  # reported by check
            self.error = e
        finally:
            self.done.set()

    def check(self, final_members, history):
        if self.error:
            raise TestFailure("%s: %s" % (self.nick, self.error))
        check(not self.early, "%s got %r before its join reply" % (self.nick, self.early[:3]))
        members = list(self.reply["members"])
        check(self.nick in members, "%s not in its own members %r" % (self.nick, members))
        for p in self.after:
            if p["method"] != "chat.presence":
                continue
            who, ev = p["params"]["nick"], p["params"]["event"]
            if ev == "join":
                check(who not in members, "%s: join of %s, already in the reply's members %r"
                      % (self.nick, who, self.reply["members"]))
                members.append(who)
            else:
                check(who in members, "%s: leave of %s, not in the reply's members %r"
                      % (self.nick, who, self.reply["members"]))
                members.remove(who)
        if self.leaves:
            return
        check_eq(sorted(members), sorted(final_members),
                 "%s: its reply's members with the presence after it" % self.nick)
        hist = self.reply["history"]
        last = hist[-1]["id"] if hist else 0
        got = [p["params"]["id"] for p in self.after if p["method"] == "chat.message"]
        want = [m["id"] for m in history if m["id"] > last]
        check_eq(got, want, "%s: messages after its reply's history" % self.nick)


def run_round(servers, kinds, room, clients=8):
    """One round on servers (a list of gocd.Server with HTTP) with the
    transports kinds ("ws", "tcp"). Raises TestFailure on a broken rule."""
    first = [Rpc(servers[i % len(servers)], kinds[i % len(kinds)]) for i in range(2)]
    joiners = []
    try:
        for i, c in enumerate(first):
            c.result("chat.join", {"room": room, "nick": "first%d" % i})
        joiners = [Joiner(servers[i % len(servers)], kinds[(i // len(servers)) % len(kinds)],
                          room, "j%d" % i, leaves=i % 2 == 1) for i in range(clients)]
        barrier = threading.Barrier(clients)
        threads = [threading.Thread(target=j.run, args=(barrier,), daemon=True)
                   for j in joiners]
        for t in threads:
            t.start()
        deadline_s = 20.0
        for j in joiners:  # every join, leave and message is done
            check(j.done.wait(deadline_s), "%s: not done after %.0f s" % (j.nick, deadline_s))
        stayers = [j for j in joiners if not j.leaves]
        final = first[0].result("chat.members", {"room": room})
        end = first[0].result("chat.send", {"room": room, "text": "end"})
        for t in threads:
            t.join(deadline_s)
            check(not t.is_alive(), "a joiner is still waiting after %.0f s" % deadline_s)
        history = first[1].result("chat.history", {"room": room, "limit": 500})
        check(history and history[-1]["id"] == end["id"], "history ends with the marker")
        check_eq(sorted(final), sorted(["first0", "first1"] + [j.nick for j in stayers]),
                 "members after the round")
        for j in joiners:
            j.check(final, history)
    finally:
        for c in first:
            c.close()
        for j in joiners:
            j.c.close()

#!/usr/bin/env python3
"""test_auth.py: identity (doc/protocol.md, "Identity (--auth-secret)")
against a running gocd, every rule one by one, on every transport:

- --auth-secret: a key shorter than 32 bytes (after trailing white space)
  or a missing file: exit 2 with a one-line error.
- each token rule (alg none, HS512, an RS256 header over an HS256
  signature, a bad signature, a truncated token, bad base64url, a payload
  that is not JSON, exp missing or past, sub missing or breaking the nick
  rules) refused the same way on HTTP (401 with WWW-Authenticate: Bearer
  and a JSON error), at the WebSocket upgrade (401) and by auth.login
  (-32007, the connection staying open);
- each transport with a token and without one; the open routes; a nick
  that differs from sub and rooms outside the token's (-32007, REST 403),
  the sub as the nick when none is given; a token presented twice;
- expiry mid-connection (WebSocket close 1008; framed: a -32007 error
  frame with id null, then the close, within a second of exp) and
  auth.login extending a connection's time;
- WSS and framed TCP in TLS with tokens; scripts/token's tokens;
- development mode (no --auth-secret): a nick held by a joined member is
  not free over HTTP (-32002) or REST (409); auth.login does not exist.

Tokens are made here with Python's hmac, independently of the server.
usage: test_auth.py GOCD [GOCC]
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

from gocd import (Server, Tap, check, check_eq, check_error, check_result, connect, frame,
                  recv_json, req, expect_eof, run_gocd)
from webclient import OP_CLOSE, Http, Rpc, Ws, tcp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = b"integration-test-secret-0123456789abcdef"
SANITIZED = os.environ.get("GOC_SANITIZE", "none") not in ("", "none")
# doc/protocol.md: closed within 1 s of exp. Sanitized builds run several
# times slower on this 2-core machine, so their bound is looser.
EXPIRY_SLACK = 2.5 if SANITIZED else 1.0


# ------------------------------------------------------------ tokens

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(text, key=SECRET, digest=hashlib.sha256):
    return b64(hmac.new(key, text.encode(), digest).digest())


def token(sub="alice", ttl=300, rooms=None, header=None, claims=None, key=SECRET,
          payload=None, exp=None):
    """header.payload.signature (HS256 unless told); claims replace the
    default ones wholesale, payload (bytes) replaces the encoded claims."""
    if claims is None:
        claims = {"sub": sub, "exp": exp if exp is not None else int(time.time()) + ttl}
        if rooms is not None:
            claims["rooms"] = rooms
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(payload if payload is not None else json.dumps(claims).encode())
    text = head + "." + body
    return text + "." + sign(text, key)


def bad_tokens():
    """(what, token) for every rule a token can break."""
    good = token()
    now = int(time.time())
    h, p, sig = good.split(".")
    hs512 = b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode()) + "." + p
    return [
        ("alg none", b64(b'{"alg":"none","typ":"JWT"}') + "." + p + "."),
        ("alg none with a signature", token(header={"alg": "none"})),
        ("HS512", hs512 + "." + sign(hs512, digest=hashlib.sha512)),
        ("an RS256 header with an HS256 signature", token(header={"alg": "RS256", "typ": "JWT"})),
        ("a bad signature", token(key=b"another key that is long enough......")),
        ("a signature changed by one character", h + "." + p + "." + ("A" if sig[0] != "A" else "B") + sig[1:]),
        ("a truncated token", good[:-10]),
        ("a token without its signature", h + "." + p),
        ("bad base64url", h + "." + p[:5] + "+" + p[6:] + "." + sig),
        ("padded base64", good + "="),
        ("a payload that is not JSON", token(payload=b"sub=alice;exp=99999999999")),
        ("no exp", token(claims={"sub": "alice"})),
        ("a past exp", token(exp=now - 1)),
        ("no sub", token(claims={"exp": now + 300})),
        ("an empty sub", token(sub="")),
        ("a sub of 33 characters", token(sub="x" * 33)),
        ("a sub with a control character", token(sub="al\nice")),
    ]


def auth(tok):
    return {"Authorization": "Bearer " + tok}


def rpc_body(method, params=None, id=1):
    m = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m)


def post_rpc(srv, method, params=None, tok=None, headers=None):
    h = dict(auth(tok) if tok else {}, **(headers or {}))
    with Http(srv.http_port) as c:
        return c.request("POST", "/rpc", rpc_body(method, params), h)


def check_401(r, what):
    check_eq(r.status, 401, "%s: status (%r)" % (what, r))
    check(r.headers.get("www-authenticate", "").startswith("Bearer"),
          "%s: WWW-Authenticate %r" % (what, r.headers.get("www-authenticate")))
    check(isinstance(r.json().get("error"), str), "%s: JSON error %r" % (what, r.body))


def ws_status(srv, path="/ws", extra=None):
    """The status of a WebSocket upgrade request (101 or a refusal)."""
    with Http(srv.http_port) as c:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13"] + (extra or [])
        c.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return c.response()


def login(r, tok):
    return r.call("auth.login", {"token": tok})


def wait_close_code(ws, timeout):
    """(close code, seconds until it came) of the server's close frame."""
    t0 = time.time()
    ws.sock.settimeout(timeout)
    while True:
        op, data = ws.recv_msg()
        if op == OP_CLOSE:
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None, time.time()


# ------------------------------------------------------------ cases

def secret_file_rules(binary, tmp):
    short = os.path.join(tmp, "short.key")
    with open(short, "wb") as f:
        f.write(b"x" * 31 + b"  \n\t\n")  # 31 bytes once trailing white space goes
    ok = os.path.join(tmp, "ok.key")
    with open(ok, "wb") as f:
        f.write(b"y" * 32 + b"\n")
    for path in (short, os.path.join(tmp, "missing.key")):
        rc, _, err = run_gocd(binary, ["--auth-secret", path, "--tcp", "127.0.0.1:0", "--http",
                                       "off"])
        check_eq(rc, 2, "exit status with --auth-secret %s" % path)
        err = err.strip()
        check(len(err.splitlines()) == 1 and "auth-secret" in err, "one-line error: %r" % err)
    with Server(binary, "--auth-secret", ok, "--db", ":memory:") as srv:
        r = Rpc(srv, "tcp")
        tok = token(key=b"y" * 32)  # the file's bytes without the newline
        check_eq(login(r, tok)["result"]["nick"], "alice", "login with the trimmed key")
        r.close()


def rule_refused(srv, what, tok):
    """One bad token: HTTP 401, WebSocket 401, auth.login -32007 with the
    connection still open."""
    check_401(post_rpc(srv, "echo", [1], tok), "/rpc with " + what)
    with Http(srv.http_port) as c:
        check_401(c.request("GET", "/api/rooms", headers=auth(tok)), "/api/rooms with " + what)
    r = ws_status(srv, "/ws?token=" + tok)
    check_eq(r.status, 401, "WebSocket ?token= with %s" % what)
    r = ws_status(srv, extra=["Authorization: Bearer " + tok])
    check_eq(r.status, 401, "WebSocket header with %s" % what)
    with Rpc(srv, "tcp") as f:
        check_error(login(f, tok), 1, -32007)
        check_result(f.call("echo", ["still open"]), 2, ["still open"])
        check_eq(f.error_code("chat.rooms"), -32007, "chat.rooms after a failed login")


def without_token(srv):
    """Every transport without a token: refused, but the open routes."""
    check_401(post_rpc(srv, "echo", [1]), "/rpc without a token")
    for method, path in (("GET", "/api/rooms"), ("GET", "/api/stats"),
                         ("GET", "/api/rooms/lobby/messages"),
                         ("POST", "/api/rooms/lobby/messages")):
        with Http(srv.http_port) as c:
            body = json.dumps({"nick": "alice", "text": "x"}) if method == "POST" else None
            check_401(c.request(method, path, body), "%s %s without a token" % (method, path))
    check_eq(ws_status(srv).status, 401, "WebSocket upgrade without a token")
    check_401(post_rpc(srv, "echo", [1], headers={"Authorization": "Basic YTpi"}), "Basic auth")
    with Http(srv.http_port) as c:  # the open routes
        for path in ("/", "/healthz", "/metrics", "/app.js"):
            check_eq(c.request("GET", path).status, 200, "GET %s without a token" % path)
    with Rpc(srv, "tcp") as f:  # framed: only echo and auth.login before a login
        check_result(f.call("echo", [1]), 1, [1])
        for method, params in (("runtime.stats", None), ("chat.rooms", None),
                               ("chat.join", {"room": "lobby", "nick": "alice"}),
                               ("chat.send", {"room": "lobby", "text": "x"}),
                               ("chat.history", {"room": "lobby"}),
                               ("chat.members", {"room": "lobby"}),
                               ("chat.leave", {"room": "lobby"})):
            check_eq(f.error_code(method, params), -32007, "%s before a login" % method)
        check_error(f.call("auth.login", {}), f.next_id - 1, -32602)


def with_token(srv):
    """Every transport with a token."""
    tok = token("alice")
    r = post_rpc(srv, "echo", [1], tok)
    check_eq(r.status, 200, "/rpc with a token")
    check_result(r.json(), 1, [1])
    stored = post_rpc(srv, "chat.send", {"room": "lobby", "text": "over http"}, tok).json()
    check_eq(stored["result"]["nick"], "alice", "HTTP chat.send without nick: the sub")
    with Http(srv.http_port) as c:
        check_eq(c.request("GET", "/api/rooms", headers=auth(tok)).status, 200, "REST rooms")
        r = c.request("POST", "/api/rooms/lobby/messages", json.dumps({"text": "over rest"}),
                      auth(tok))
        check_eq(r.status, 201, "REST post without nick (%r)" % r)
        check_eq(r.json()["nick"], "alice", "REST post's nick")
        r = c.request("GET", "/api/rooms/lobby/messages?since=0", headers=auth(tok))
        check_eq([m["text"] for m in r.json()][-2:], ["over http", "over rest"], "history")
    with Rpc(srv, "ws", ws_path="/ws?token=" + tok) as w:
        j = w.result("chat.join", {"room": "lobby", "nick": "alice"})
        check_eq(j["nick"], "alice", "join result")
        check_eq(w.result("chat.send", {"room": "lobby", "text": "over ws"})["nick"], "alice",
                 "WebSocket send")
        check_eq(w.push("chat.message")["text"], "over ws", "own message pushed")
    with Ws(srv.http_port, extra=["Authorization: Bearer " + tok]) as w:
        w.send_text(rpc_body("runtime.stats"))
        check("result" in w.recv_json(), "runtime.stats over a header-authorized WebSocket")
    with Rpc(srv, "tcp") as f:
        res = login(f, tok)["result"]
        check_eq(res["nick"], "alice", "auth.login nick")
        check(res["exp"] > time.time(), "auth.login exp %r" % res["exp"])
        check_eq(f.result("chat.join", {"room": "room-b"})["nick"], "alice",
                 "framed join without nick: the sub")
        check("goroutines" in f.result("runtime.stats"), "runtime.stats after login")


def keep_alive_tokens(srv):
    """On one keep-alive connection each request's own token decides (the
    server remembers the last one it verified there, and nothing else)."""
    alice, bob = token("alice"), token("bob")
    bad = alice[:-3] + ("AAA" if not alice.endswith("AAA") else "BBB")
    with Http(srv.http_port) as c:
        def send(tok, text):
            h = auth(tok) if tok else {}
            return c.request("POST", "/rpc", rpc_body("chat.send", {"room": "ka", "text": text}),
                             h)
        check_eq(send(alice, "1").json()["result"]["nick"], "alice", "first request")
        check_401(send(bad, "2"), "a bad token after a good one")
        check_401(send(None, "3"), "no token after a good one")
        check_eq(send(alice, "4").json()["result"]["nick"], "alice", "the good one again")
        check_eq(send(bob, "5").json()["result"]["nick"], "bob", "another token")
        check_eq(send(alice, "6").json()["result"]["nick"], "alice", "and back")
    exp = int(time.time()) + 1
    short = token("carl", exp=exp)
    with Http(srv.http_port) as c:
        r = c.request("POST", "/rpc", rpc_body("echo", [1]), auth(short))
        check_eq(r.status, 200, "before exp")
        time.sleep(max(0.0, exp + 0.2 - time.time()))
        check_401(c.request("POST", "/rpc", rpc_body("echo", [1]), auth(short)),
                  "the same token once expired, on the same connection")


def nick_and_rooms(srv):
    """A nick that differs from sub, and rooms outside the token's."""
    tok = token("carol", rooms=["allowed"])
    # a nick that is not the sub
    r = post_rpc(srv, "chat.send", {"room": "allowed", "nick": "mallory", "text": "x"}, tok)
    check_error(r.json(), 1, -32007)
    with Http(srv.http_port) as c:
        r = c.request("POST", "/api/rooms/allowed/messages",
                      json.dumps({"nick": "mallory", "text": "x"}), auth(tok))
        check_eq(r.status, 403, "REST post as another nick (%r)" % r)
        check(isinstance(r.json().get("error"), str), "403 JSON error")
    with Rpc(srv, "ws", ws_path="/ws?token=" + tok) as w, \
            Rpc(srv, "ws", ws_path="/ws?token=" + token("zoe")) as z:
        z.result("chat.join", {"room": "elsewhere"})  # a room outside carol's, not empty
        check_eq(w.error_code("chat.join", {"room": "allowed", "nick": "mallory"}), -32007,
                 "join as another nick")
        # rooms outside the token's
        check_eq(w.error_code("chat.join", {"room": "elsewhere", "nick": "carol"}), -32007,
                 "join outside rooms")
        check_eq(w.error_code("chat.history", {"room": "elsewhere"}), -32007,
                 "history outside rooms")
        check_eq(w.error_code("chat.send", {"room": "elsewhere", "text": "x"}), -32007,
                 "send outside rooms")
        w.result("chat.join", {"room": "allowed", "nick": "carol"})
        w.result("chat.send", {"room": "allowed", "text": "inside"})
        w.result("chat.history", {"room": "allowed"})
        rooms = [x["room"] for x in w.result("chat.rooms")]
        check("elsewhere" in rooms, "room lists are not limited: %r" % rooms)
        check_eq(w.result("chat.members", {"room": "elsewhere"}), ["zoe"],
                 "member lists are not limited")
    r = post_rpc(srv, "chat.send", {"room": "elsewhere", "text": "x"}, tok)
    check_error(r.json(), 1, -32007)
    with Http(srv.http_port) as c:
        for method in ("GET", "POST"):
            body = json.dumps({"text": "x"}) if method == "POST" else None
            r = c.request(method, "/api/rooms/elsewhere/messages", body, auth(tok))
            check_eq(r.status, 403, "REST %s outside rooms (%r)" % (method, r))
        check_eq(c.request("GET", "/api/rooms", headers=auth(tok)).status, 200, "REST room list")
        r = c.request("POST", "/api/rooms/allowed/messages", json.dumps({"text": "ok"}), auth(tok))
        check_eq(r.status, 201, "REST post inside rooms")


def presented_twice(srv):
    """The same token on two connections; in the header and the address;
    twice in headers; auth.login twice."""
    tok = token("dave")
    with Rpc(srv, "ws", ws_path="/ws?token=" + tok) as a, \
            Rpc(srv, "ws", ws_path="/ws?token=" + tok) as b:
        a.result("chat.join", {"room": "twice", "nick": "dave"})
        check_eq(b.error_code("chat.join", {"room": "twice", "nick": "dave"}), -32002,
                 "the nick joined twice in one room")
        b.result("chat.join", {"room": "twice-b", "nick": "dave"})  # elsewhere it is free
    r = ws_status(srv, "/ws?token=" + tok, ["Authorization: Bearer " + tok])
    check_eq(r.status, 101, "the same token in the header and the address")
    r = ws_status(srv, "/ws?token=" + token("erin"), ["Authorization: Bearer " + tok])
    check_eq(r.status, 401, "two different tokens")
    with Http(srv.http_port) as c:
        c.send(("POST /rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
                % (tok, tok, len(rpc_body("echo", [1])), rpc_body("echo", [1]))).encode())
        check_401(c.response(), "two Authorization headers")
    with Rpc(srv, "tcp") as f:
        check_eq(login(f, tok)["result"]["nick"], "dave", "first login")
        check_eq(login(f, tok)["result"]["nick"], "dave", "the same token again")
        check_error(login(f, token("erin")), f.next_id - 1, -32007)
        check_eq(f.result("chat.join", {"room": "twice-c"})["nick"], "dave",
                 "still dave after refusing another nick's token")
        check_error(login(f, token(exp=int(time.time()) - 5)), f.next_id - 1, -32007)
        f.result("chat.send", {"room": "twice-c", "text": "a failed login keeps the old one"})


def login_over_http(srv):
    r = post_rpc(srv, "auth.login", {"token": token()}, token())
    check_error(r.json(), 1, -32001)


def ws_expiry(srv):
    ttl = 2
    exp = int(time.time()) + ttl
    with Rpc(srv, "ws", ws_path="/ws?token=" + token("frank", exp=exp)) as w:
        w.result("chat.join", {"room": "expiry", "nick": "frank"})
        code, at = wait_close_code(w.ws, ttl + 5)
        check_eq(code, 1008, "close code at expiry")
        check(exp - 0.05 <= at <= exp + EXPIRY_SLACK,
              "closed %.2f s after exp (want within %.1f s)" % (at - exp, EXPIRY_SLACK))


def framed_expiry(srv):
    ttl = 2
    exp = int(time.time()) + ttl
    with Rpc(srv, "tcp") as f:
        login(f, token("grace", exp=exp))
        f.result("chat.join", {"room": "expiry"})
        f.sock.settimeout(ttl + 5)
        m = recv_json(f.sock)
        at = time.time()
        check_error(m, None, -32007)
        check(exp - 0.05 <= at <= exp + EXPIRY_SLACK,
              "error frame %.2f s after exp (want within %.1f s)" % (at - exp, EXPIRY_SLACK))
        expect_eof(f.sock)


def login_refresh(srv):
    """auth.login with a fresh token keeps a connection past its first exp."""
    exp = int(time.time()) + 2
    with Rpc(srv, "tcp") as f, Rpc(srv, "ws", ws_path="/ws?token=" + token("hank", exp=exp)) as w:
        login(f, token("hank", exp=exp))
        f.result("chat.join", {"room": "refresh"})
        later = int(time.time()) + 60
        check_eq(login(f, token("hank", exp=later))["result"]["exp"], later, "framed new exp")
        check_eq(login(w, token("hank", exp=later))["result"]["exp"], later, "ws new exp")
        time.sleep(max(0.0, exp + 1.5 - time.time()))
        f.result("chat.send", {"room": "refresh", "text": "still here"})
        check_result(w.call("echo", ["ws still here"]), w.next_id - 1, ["ws still here"])


def over_tls(srv, ctx):
    tok = token("ivy")
    with Rpc(srv, "ws", tls=ctx, ws_path="/ws?token=" + tok) as w:
        check_eq(w.result("chat.join", {"room": "tls"})["nick"], "ivy", "WSS join")
    with Http(srv.port_of("tls"), tls=ctx) as c:
        check_401(c.request("POST", "/rpc", rpc_body("echo", [1])), "HTTPS without a token")
        r = c.request("POST", "/rpc", rpc_body("echo", [1]), auth(tok))
        check_eq(r.status, 200, "HTTPS with a token")
    r = Http(srv.port_of("tls"), tls=ctx)
    key = base64.b64encode(os.urandom(16)).decode()
    r.send(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    check_eq(r.response().status, 401, "WSS upgrade without a token")
    r.close()
    with Rpc(srv, "tcp", tls=ctx) as f:
        check_eq(f.error_code("chat.rooms"), -32007, "framed TLS before login")
        check_eq(login(f, tok)["result"]["nick"], "ivy", "framed TLS login")
        f.result("chat.rooms")


def token_script(binary, tmp):
    key = os.path.join(tmp, "script.key")
    script = os.path.join(ROOT, "scripts", "token")

    def make(*args):
        p = subprocess.run([script, *args, "--key", key], capture_output=True, timeout=20)
        check_eq(p.returncode, 0, "scripts/token %r: %s" % (args, p.stderr.decode()))
        return p.stdout.decode().strip()

    plain = make("jill")
    check(os.path.exists(key) and os.stat(key).st_mode & 0o777 == 0o600, "key made, mode 600")
    limited = make("jill", "--rooms", "a,b", "--ttl", "30")
    claims = json.loads(base64.urlsafe_b64decode(limited.split(".")[1] + "=="))
    check_eq(claims["rooms"], ["a", "b"], "--rooms")
    check(abs(claims["exp"] - (time.time() + 30)) < 5, "--ttl: exp %r" % claims["exp"])
    p = subprocess.run([script, "bad\nnick", "--key", key], capture_output=True, timeout=20)
    check_eq(p.returncode, 2, "a nick the server would refuse")
    with Server(binary, "--auth-secret", key, "--db", ":memory:") as srv:
        with Rpc(srv, "tcp") as f:
            check_eq(login(f, plain)["result"]["nick"], "jill", "scripts/token's token")
            f.result("chat.join", {"room": "c"})  # no --rooms: every room
        with Rpc(srv, "tcp") as f:
            login(f, limited)
            f.result("chat.join", {"room": "a"})
            check_eq(f.error_code("chat.join", {"room": "c"}), -32007, "outside --rooms")


def development_mode(binary):
    """No --auth-secret: a nick held by a joined member is not free."""
    with Server(binary, "--db", ":memory:", http="127.0.0.1:0") as srv:
        with Rpc(srv, "ws") as w:
            w.result("chat.join", {"room": "dev", "nick": "alice"})
            r = post_rpc(srv, "chat.send", {"room": "dev", "nick": "alice", "text": "spoof"})
            check_error(r.json(), 1, -32002)
            with Http(srv.http_port) as c:
                r = c.request("POST", "/api/rooms/dev/messages",
                              json.dumps({"nick": "alice", "text": "spoof"}))
                check_eq(r.status, 409, "REST post as a joined member (%r)" % r)
                r = c.request("POST", "/api/rooms/dev/messages",
                              json.dumps({"nick": "bob", "text": "hello"}))
                check_eq(r.status, 201, "REST post as a free nick")
            r = post_rpc(srv, "chat.send", {"room": "other", "nick": "alice", "text": "free there"})
            check("result" in r.json(), "the nick is free in another room: %r" % r.json())
            check_eq(w.push("chat.message")["nick"], "bob", "members saw only the free nick")
            check_eq(w.error_code("auth.login", {"token": token()}), -32601,
                     "auth.login without --auth-secret")
            w.result("chat.leave", {"room": "dev"})
            r = post_rpc(srv, "chat.send", {"room": "dev", "nick": "alice", "text": "free now"})
            check("result" in r.json(), "free once the member left: %r" % r.json())
        with Rpc(srv, "tcp") as f:  # framed: tokens are not asked for
            f.result("chat.rooms")


def main():
    if len(sys.argv) < 2:
        print("usage: test_auth.py GOCD [GOCC]", file=sys.stderr)
        return 2
    binary = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="goc-auth-")
    try:
        key = os.path.join(tmp, "auth.key")
        with open(key, "wb") as f:
            f.write(SECRET + b"\n")
        subprocess.run([os.path.join(ROOT, "scripts", "gen-cert"), tmp], check=True,
                       capture_output=True, timeout=60)
        ctx = ssl.create_default_context(cafile=os.path.join(tmp, "cert.pem"))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        tap.run("--auth-secret: short or missing key refused (exit 2), trailing white space trimmed",
                secret_file_rules, binary, tmp)
        flags = ["--auth-secret", key, "--db", ":memory:", "--tls", "127.0.0.1:0", "--tcp-tls",
                 "127.0.0.1:0", "--cert", os.path.join(tmp, "cert.pem"), "--key",
                 os.path.join(tmp, "key.pem"), "--rate", "0", "--log-level", "error"]
        srv = tap.run("server starts with --auth-secret",
                      lambda: Server(binary, *flags, http="127.0.0.1:0"))
        if srv:
            with srv:
                for what, tok in bad_tokens():
                    tap.run("token rule: %s refused on HTTP, at the upgrade, by auth.login" % what,
                            rule_refused, srv, what, tok)
                tap.run("without a token: HTTP 401, WebSocket 401, framed -32007 but echo; "
                        "static, /healthz, /metrics open", without_token, srv)
                tap.run("with a token: /rpc, REST, WebSocket (address and header), framed login",
                        with_token, srv)
                tap.run("keep-alive: each request's own token decides, an expired one refused",
                        keep_alive_tokens, srv)
                tap.run("a nick other than sub, a room outside rooms: -32007, REST 403",
                        nick_and_rooms, srv)
                tap.run("a token presented twice: two connections, header and address, "
                        "two headers, two logins", presented_twice, srv)
                tap.run("auth.login over HTTP: -32001", login_over_http, srv)
                tap.run("expiry mid-connection: WebSocket closed with 1008", ws_expiry, srv)
                tap.run("expiry mid-connection: framed -32007 with id null, then the close",
                        framed_expiry, srv)
                tap.run("auth.login with a fresh token extends the connection", login_refresh, srv)
                tap.run("TLS: WSS, HTTPS and framed TLS with tokens", over_tls, srv, ctx)
                tap.run("SIGTERM: clean exit", srv.check_clean_exit)
        tap.run("scripts/token: tokens the server accepts, --rooms, --ttl", token_script,
                binary, tmp)
        tap.run("development mode: a joined member's nick is taken over HTTP and REST",
                development_mode, binary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())

"""webclient.py: the HTTP and WebSocket clients of the server's integration
tests (standard library only), and one JSON-RPC client over either
persistent transport (WebSocket or framed TCP) for the chat tests.

Http reads responses off one socket with its own buffer, so pipelined
answers are taken one at a time in order. Ws speaks RFC 6455 from the
client's side: the upgrade handshake, masked frames, and frames read back
whole (opcode, payload). Rpc wraps a Ws or a framed-TCP socket: call()
sends a request with a fresh id and returns its reply, keeping every
notification that arrives meanwhile in `pushes`, in arrival order.

Invariants: every socket has a timeout (gocd.IO_TIMEOUT unless told);
every frame the client sends is masked (the server must refuse unmasked
ones); only 127.0.0.1 is used.
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct

from gocd import (HOST, IO_TIMEOUT, TestFailure, check, check_eq, frame, recv_json)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def tcp(port, timeout=IO_TIMEOUT, rcvbuf=None, tls=None):
    """A connected socket; rcvbuf sets SO_RCVBUF before connecting (a small
    receive window, for clients meant to fall behind); tls, an
    ssl.SSLContext, wraps it in TLS (handshake done, server name
    "localhost")."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((HOST, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is not None:
        s = tls.wrap_socket(s, server_hostname="localhost")
    return s


# ---------------------------------------------------------------- HTTP

def request_bytes(method, path, body=None, headers=None, keep_alive=True):
    """One HTTP/1.1 request as bytes."""
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": "127.0.0.1"}
    if body is not None:
        h["Content-Length"] = str(len(body))
    if not keep_alive:
        h["Connection"] = "close"
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    return head.encode() + (body or b"")


class Response:
    def __init__(self, status, headers, body):
        self.status = status        # int
        self.headers = headers      # lower-case name -> value (last one wins)
        self.body = body            # bytes

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise TestFailure("body is not JSON (%s): %r" % (e, self.body[:200]))

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:200])


class Http:
    """One HTTP connection; responses are read in order from its buffer."""

    def __init__(self, port, timeout=IO_TIMEOUT, rcvbuf=None, tls=None):
        self.sock = tcp(port, timeout, rcvbuf, tls)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed with %d bytes pending" % len(self.buf))
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self, head=False):
        """The next response: status line, headers, body (Content-Length or
        chunked; none for HEAD, 1xx, 204, 304)."""
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        check(len(parts) >= 2 and parts[0] == "HTTP/1.1" and parts[1].isdigit(),
              "bad status line %r" % status_line)
        status = int(parts[1])
        headers = {}
        while True:
            line = self._line().decode("latin-1")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if head or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, body)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                n = int(self._line().split(b";")[0], 16)
                if n == 0:
                    while self._line():
                        pass
                    break
                body += self._take(n)
                self._take(2)
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        else:
            while True:                   # read to EOF
                try:
                    self._more()
                except EOFError:
                    break
            body, self.buf = self.buf, b""
        return Response(status, headers, body)

    def request(self, method, path, body=None, headers=None, keep_alive=True):
        self.send(request_bytes(method, path, body, headers, keep_alive))
        return self.response(head=(method == "HEAD"))


def http(port, method, path, body=None, headers=None):
    """One request on a fresh connection."""
    with Http(port) as c:
        return c.request(method, path, body, headers)


def parse_metrics(text):
    """{sample name (labels kept): value} of a Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and " " in line:
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metrics(port, tls=None):
    """The server's /metrics as parse_metrics gives them."""
    with Http(port, tls=tls) as h:
        r = h.request("GET", "/metrics")
    check_eq(r.status, 200, "/metrics status")
    return parse_metrics(r.body.decode())


def expect_closed(sock, timeout=IO_TIMEOUT):
    """Fails unless the peer closes within timeout; returns what came first.
    A reset, or a TLS peer gone without close_notify, is a close too."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return got
            got += data
    except (ConnectionResetError, ssl.SSLError):
        return got
    except socket.timeout:
        raise TestFailure("connection still open after %.1f s (got %r)" % (timeout, got[:200]))


def upload_past_limit(sock, total=4 << 20, path="/rpc"):
    """POSTs a body of total bytes (announced in full, far over the
    server's limit) in 64 KiB writes without reading, then reads to EOF.
    Returns (the first write's OSError or None, every byte read): a server
    that closes with lingering lets every write through and is read whole."""
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % (path.encode(), total))
    chunk, err = b"z" * 65536, None
    for _ in range(total // len(chunk)):
        try:
            sock.sendall(chunk)
        except OSError as e:
            err = e
            break
    got = b""
    sock.settimeout(IO_TIMEOUT)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            got += data
    except OSError as e:
        err = err or e
    return err, got


# ------------------------------------------------------------- WebSocket

def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_handshake_bytes(key, origin=None, extra=None, path="/ws"):
    h = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket",
         "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if origin:
        h.append("Origin: " + origin)
    h += extra or []
    return ("\r\n".join(h) + "\r\n\r\n").encode()


def ws_frame(opcode, payload, fin=True, mask=True, rsv=0):
    """One client frame (masked unless told)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n < 4096 else \
        _mask_fast(payload, key)
    return head + key + masked


def _mask_fast(payload, key):
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


class Ws:
    """A client WebSocket: Ws(port) does the handshake (101 and the right
    Sec-WebSocket-Accept, or TestFailure); path and extra (header lines)
    go into the upgrade request."""

    def __init__(self, port, origin=None, timeout=IO_TIMEOUT, rcvbuf=None, tls=None,
                 path="/ws", extra=None):
        self.h = Http(port, timeout, rcvbuf, tls)
        self.sock = self.h.sock
        key = base64.b64encode(os.urandom(16)).decode()
        self.h.send(ws_handshake_bytes(key, origin, extra, path))
        r = self.h.response()
        check_eq(r.status, 101, "handshake status (%r)" % (r,))
        check_eq(r.headers.get("upgrade", "").lower(), "websocket", "Upgrade header")
        check_eq(r.headers.get("sec-websocket-accept"), ws_accept(key), "Sec-WebSocket-Accept")
        self.response = r

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, opcode, payload, **kw):
        self.sock.sendall(ws_frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send(OP_TEXT, text)

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame; server frames are unmasked."""
        b0, b1 = self.h._take(2)
        check(not (b1 & 0x80), "the server sent a masked frame")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.h._take(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.h._take(8))
        return bool(b0 & 0x80), b0 & 0x0F, self.h._take(n)

    def recv_msg(self, answer_pings=True):
        """(opcode, payload) of the next whole message or control frame
        other than a ping (answered with a pong unless told)."""
        parts, op0 = [], None
        while True:
            fin, op, data = self.recv_frame()
            if op == OP_PING and answer_pings:
                self.send(OP_PONG, data)
                continue
            if op >= 0x8:
                return op, data
            if op != OP_CONT:
                op0 = op
            parts.append(data)
            if fin:
                return op0, b"".join(parts)

    def recv_text(self):
        op, data = self.recv_msg()
        check(op == OP_TEXT, "expected a text message, got opcode %d %r" % (op, data[:200]))
        return data.decode("utf-8")

    def recv_json(self):
        return json.loads(self.recv_text())

    def expect_close(self, code, timeout=IO_TIMEOUT):
        """Reads (skipping data messages) until a close frame; fails unless
        its code is `code`. Returns the texts skipped."""
        self.sock.settimeout(timeout)
        skipped = []
        while True:
            try:
                op, data = self.recv_msg()
            except EOFError:
                raise TestFailure("connection closed without a close frame (want %d)" % code)
            if op == OP_CLOSE:
                got = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                check_eq(got, code, "close code (reason %r)" % data[2:])
                return skipped
            skipped.append(data)


# ------------------------------------------------- JSON-RPC over either

class Rpc:
    """JSON-RPC over a persistent transport: kind "ws" (WebSocket on the
    HTTP port) or "tcp" (framed TCP); with tls (an ssl.SSLContext), WSS on
    the server's tls port or framed TCP on its tcp-tls port."""

    def __init__(self, srv, kind, timeout=IO_TIMEOUT, tls=None, ws_path="/ws"):
        self.kind = kind
        if kind == "ws":
            port = srv.port_of("tls") if tls else srv.http_port
            self.ws = Ws(port, timeout=timeout, tls=tls, path=ws_path)
            self.sock = self.ws.sock
        else:
            self.ws = None
            self.sock = tcp(srv.port_of("tcp-tls") if tls else srv.port, timeout, tls=tls)
        self.pushes = []              # notifications not yet taken, in order
        self.next_id = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send_raw(self, text):
        if self.ws:
            self.ws.send_text(text)
        else:
            self.sock.sendall(frame(text))

    def recv(self):
        """The next JSON message from the server."""
        return self.ws.recv_json() if self.ws else recv_json(self.sock)

    def request(self, method, params=None):
        """Sends a request; returns its id."""
        id = self.next_id
        self.next_id += 1
        m = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            m["params"] = params
        self.send_raw(json.dumps(m))
        return id

    def reply(self, id):
        """The reply with this id; notifications before it go to pushes."""
        while True:
            m = self.recv()
            if isinstance(m, dict) and "id" not in m and "method" in m:
                self.pushes.append(m)
                continue
            check(isinstance(m, dict) and m.get("id") == id,
                  "expected the reply to id %r, got %r" % (id, m))
            return m

    def call(self, method, params=None):
        return self.reply(self.request(method, params))

    def result(self, method, params=None):
        r = self.call(method, params)
        check("result" in r, "%s %r: %r" % (method, params, r))
        return r["result"]

    def error_code(self, method, params=None):
        r = self.call(method, params)
        check("error" in r, "%s %r: want an error, got %r" % (method, params, r))
        return r["error"].get("code")

    def push(self, method, pred=lambda p: True):
        """The first notification `method` whose params satisfy pred (taken
        from pushes, else read); other notifications stay in pushes."""
        while True:
            for i, m in enumerate(self.pushes):
                if m.get("method") == method and pred(m.get("params")):
                    return self.pushes.pop(i)["params"]
            m = self.recv()
            check(isinstance(m, dict) and "method" in m and "id" not in m,
                  "expected a notification, got %r" % (m,))
            self.pushes.append(m)

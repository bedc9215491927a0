"""gocd.py: the shared helpers of the server's integration tests.

Server starts gocd with `--tcp 127.0.0.1:0 --http off` plus the given flags
(or, given http="127.0.0.1:0", with that HTTP listener too), reads its
`listening tcp HOST:PORT` line (and `listening http ...`; bounded wait) and
stops it; its
stderr goes to a temporary file that is read back at the end of its life
and searched for sanitizer reports. A Server is a context manager: leaving
the block kills the process if a test left it running.

The framed-TCP helpers speak doc/protocol.md's frames (a 4-byte big-endian
length, then the payload) over loopback sockets with timeouts of a few
seconds, so no test can hang. Tap prints the TAP stream meson reads: one
`ok`/`not ok` line per case, diagnostics as `#` lines, the plan at the end.

Invariants: every socket has a timeout; every server process is waited for
(killed if need be) before the program exits; only 127.0.0.1 is used.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0          # seconds any single socket operation may take
START_TIMEOUT = 15.0      # seconds to wait for the listening line (sanitizers are slow)
STOP_TIMEOUT = 5.0        # doc/protocol.md: exit within 5 seconds of SIGINT/SIGTERM
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer")
LISTENING_RE = re.compile(r"^listening (tcp|http|tls|tcp-tls) (127\.0\.0\.1):(\d+)$")


class TestFailure(AssertionError):
    """A failed check; its message becomes the TAP diagnostic."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


# ---------------------------------------------------------------- the server

def sanitizer_lines(text):
    """The lines of text that report a sanitizer error."""
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]


class Server:
    """A running gocd. `port` is the framed-TCP port it printed; `http_port`
    the HTTP port when started with http=ADDR (else None)."""

    def __init__(self, binary, *flags, env=None, tcp="127.0.0.1:0", http="off"):
        self.args = [binary, "--tcp", tcp, "--http", http] + list(flags)
        self._err = tempfile.TemporaryFile()
        self.stdout_lines = []        # every line gocd printed, in order
        self._got_line = threading.Condition()
        self.rc = None
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err,
                                     env=env)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.port = None
        try:
            line = self.wait_line(lambda l: l.startswith("listening tcp "), START_TIMEOUT)
            m = LISTENING_RE.match(line)
            check(m is not None, "listening line %r does not match %s" % (line, LISTENING_RE.pattern))
            self.listening_line = line
            self.port = int(m.group(3))
            self.http_port = None
            if http != "off":
                line = self.wait_line(lambda l: l.startswith("listening http "), START_TIMEOUT)
                m = LISTENING_RE.match(line)
                check(m is not None, "listening line %r does not match %s"
                      % (line, LISTENING_RE.pattern))
                self.http_port = int(m.group(3))
        except BaseException:
            self.kill()
            raise

    def port_of(self, kind):
        """The port of the `listening KIND ...` line (kind: tcp, http, tls,
        tcp-tls), waiting for it as for the first."""
        line = self.wait_line(lambda l: l.startswith("listening %s " % kind), START_TIMEOUT)
        m = LISTENING_RE.match(line)
        check(m is not None, "listening line %r does not match" % line)
        return int(m.group(3))

    def _read_stdout(self):
        for raw in self.proc.stdout:
            with self._got_line:
                self.stdout_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._got_line.notify_all()
        with self._got_line:
            self._got_line.notify_all()

    def wait_line(self, pred, timeout):
        """The first stdout line for which pred holds; fails after timeout s."""
        deadline = time.monotonic() + timeout
        with self._got_line:
            while True:
                for l in self.stdout_lines:
                    if pred(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and self.proc.poll() is not None):
                    if self.proc.poll() is None:
                        # still running: its goroutines' stacks say where it waits
                        self.proc.send_signal(signal.SIGQUIT)
                        try:
                            self.proc.wait(5)
                        except subprocess.TimeoutExpired:
                            pass
                    raise TestFailure("no listening line within %.0f s; stdout %r, exit %r, stderr %r"
                                      % (timeout, self.stdout_lines, self.proc.poll(),
                                         self.stderr()[-6000:]))
                self._got_line.wait(min(left, 0.2))

    def stderr(self):
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit status, or None (and the process killed) after timeout s."""
        try:
            self.rc = self.proc.wait(timeout)
            return self.rc
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits; returns (exit status or None, seconds taken)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.send_signal(sig)
        rc = self.wait(timeout)
        return rc, time.monotonic() - t0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.rc = self.proc.wait()

    def check_clean_exit(self):
        """Stops the server (SIGTERM) and fails unless it exited 0 in time
        with no sanitizer report on stderr."""
        rc, took = self.stop()
        bad = sanitizer_lines(self.stderr())
        check(not bad, "sanitizer reports on stderr: %r" % bad[:5])
        check(rc == 0, "exit status %r after SIGTERM (%.2f s); stderr tail %r"
              % (rc, took, self.stderr()[-1500:]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self._err.close()
        return False


def run_gocd(binary, args, timeout=15.0, env=None):
    """Runs gocd to completion: (exit status, stdout, stderr) as text."""
    p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, env=env)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# ---------------------------------------------------------- framed TCP I/O

def frame(payload):
    """One frame: the 4-byte big-endian length, then the payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack(">I", len(payload)) + payload


def connect(port, timeout=IO_TIMEOUT):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    """Exactly n bytes; raises EOFError if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    """The payload of the next frame."""
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    check(n <= 64 << 20, "absurd frame length %d from the server" % n)
    return recv_exact(sock, n)


def recv_json(sock):
    raw = recv_frame(sock)
    try:
        return json.loads(raw)
    except ValueError as e:
        raise TestFailure("reply is not JSON (%s): %r" % (e, raw[:200]))


def expect_eof(sock, timeout=IO_TIMEOUT):
    """Fails unless the peer closes (EOF or reset) with no more data."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise TestFailure("connection still open after %.1f s" % timeout)
    check(data == b"", "expected the connection to close, got %r" % data[:200])


def expect_silence(sock, secs=0.3):
    """Fails if anything arrives within secs."""
    sock.settimeout(secs)
    try:
        data = sock.recv(4096)
    except socket.timeout:
        return
    finally:
        sock.settimeout(IO_TIMEOUT)
    raise TestFailure("expected no reply, got %r" % data[:200])


_MISSING = object()


def req(id, method, params=_MISSING):
    """A request (a notification when id is _MISSING) as JSON text."""
    m = {"jsonrpc": "2.0", "method": method}
    if params is not _MISSING:
        m["params"] = params
    if id is not _MISSING:
        m["id"] = id
    return json.dumps(m, separators=(",", ":"))


def notif(method, params=_MISSING):
    return req(_MISSING, method, params)


def call(sock, text):
    """Sends one frame and returns the decoded reply."""
    sock.sendall(frame(text))
    return recv_json(sock)


def check_result(reply, id, result):
    check(isinstance(reply, dict), "reply is not an object: %r" % (reply,))
    check_eq(reply.get("jsonrpc"), "2.0", "jsonrpc member")
    check("error" not in reply, "unexpected error %r" % (reply.get("error"),))
    check("result" in reply, "no result member in %r" % (reply,))
    check_eq(canon(reply.get("id")), canon(id), "id")
    check_eq(canon(reply["result"]), canon(result), "result")


def canon(v):
    """JSON text that tells 1 from 1.0 and true from 1 (Python's == does not)."""
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def check_error(reply, id, code):
    check(isinstance(reply, dict), "reply is not an object: %r" % (reply,))
    check_eq(reply.get("jsonrpc"), "2.0", "jsonrpc member")
    check("result" not in reply, "unexpected result in %r" % (reply,))
    err = reply.get("error")
    check(isinstance(err, dict), "no error object in %r" % (reply,))
    check_eq(err.get("code"), code, "error code")
    check(isinstance(err.get("message"), str), "error message not a string: %r" % (err,))
    check("id" in reply, "no id member in %r" % (reply,))
    check_eq(reply["id"], id, "id")


def sentinel(sock, tag):
    """Sends an echo with a fresh id and checks that the very next frame is its
    reply: proves nothing else (a stray reply) was queued before it."""
    id = "sentinel-%s" % tag
    check_result(call(sock, req(id, "echo", [tag])), id, [tag])


def stats(sock):
    r = call(sock, req("stats", "runtime.stats"))
    check("result" in r and isinstance(r["result"], dict), "runtime.stats failed: %r" % (r,))
    return r["result"]


def wait_conns(sock, want, timeout=IO_TIMEOUT):
    """Polls runtime.stats until conns.tcp == want; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        got = stats(sock).get("conns", {}).get("tcp")
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def raw_member(text, key):
    """The raw bytes of the top-level member `key` of a JSON object, exactly
    as they appear in text (bytes), or None. Only skips; never re-encodes."""
    i, n = 0, len(text)

    def ws(i):
        while i < n and text[i] in b" \t\r\n":
            i += 1
        return i

    def skip_string(i):           # text[i] == '"'
        i += 1
        while text[i] != 0x22:
            i += 2 if text[i] == 0x5C else 1
        return i + 1

    def skip_value(i):
        if text[i] == 0x22:
            return skip_string(i)
        if text[i] in b"[{":
            depth = 0
            while True:
                c = text[i]
                if c == 0x22:
                    i = skip_string(i)
                    continue
                if c in b"[{":
                    depth += 1
                elif c in b"]}":
                    depth -= 1
                    if depth == 0:
                        return i + 1
                i += 1
        while i < n and text[i] not in b",}] \t\r\n":
            i += 1
        return i

    i = ws(i)
    if i >= n or text[i] != 0x7B:
        return None
    i = ws(i + 1)
    while i < n and text[i] != 0x7D:
        end = skip_string(i)
        name = json.loads(text[i:end])
        i = ws(end)
        i = ws(i + 1)             # ':'
        vend = skip_value(i)
        if name == key:
            return text[i:vend]
        i = ws(vend)
        if i < n and text[i] == 0x2C:
            i = ws(i + 1)
    return None


# ------------------------------------------------------------------ TAP

class Tap:
    """Runs named cases, prints TAP; the plan comes last."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line)
        sys.stdout.flush()

    def result(self, ok, name, why=None):
        self.n += 1
        if not ok:
            self.failed += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name))
        if why:
            self.diag(why)
        sys.stdout.flush()

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why))
        sys.stdout.flush()

    def run(self, name, fn, *args):
        """Runs fn(*args); a raised exception fails the case. Returns fn's
        value, or None when it failed."""
        t0 = time.monotonic()
        try:
            v = fn(*args)
        except TestFailure as e:
            self.result(False, name, "%s (after %.2f s)" % (e, time.monotonic() - t0))
            return None
        except Exception:
            self.result(False, name, traceback.format_exc())
            return None
        self.result(True, name)
        return v

    def finish(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0

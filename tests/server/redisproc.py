"""redisproc.py: a real redis-server for the cluster tests, and a tiny
RESP client to look at it and to inject faults.

RedisProc starts redis-server on a free loopback port with its data in a
fresh temporary folder (persistent, as scripts/cluster runs it:
appendonly yes, appendfsync always), and can signal it (SIGSTOP/SIGCONT),
kill it (SIGKILL) and start it again on the same port and the same
append-only file. cmd() sends one command and returns the decoded reply.

Invariants: the process is always killed and waited for, and its folder
removed, when the RedisProc is closed (it is a context manager); every
socket has a timeout; only 127.0.0.1 is used.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RedisError(Exception):
    """An error reply."""


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One RESP connection (blocking, with a timeout)."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("redis closed the connection")
            self.buf += more
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("redis closed the connection")
            self.buf += more
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._take(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError("not RESP: %r" % line)

    def cmd(self, *args):
        self.sock.sendall(encode(*args))
        r = self.read()
        if isinstance(r, RedisError):
            raise r
        return r


class RedisProc:
    """A redis-server of the test's own (see the top of the file)."""

    def __init__(self, persistent=True, extra=(), port=None):
        self.dir = tempfile.mkdtemp(prefix="goc-redis-")
        self.port = port or free_port()
        self.url = "redis://%s:%d" % (HOST, self.port)
        self.args = ["redis-server", "--port", str(self.port), "--bind", HOST,
                     "--dir", self.dir, "--save", "", "--daemonize", "no",
                     "--logfile", os.path.join(self.dir, "redis.log"),
                     "--appendonly", "yes" if persistent else "no",
                     "--appendfsync", "always"] + list(extra)
        self.proc = None
        self.start()

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = Conn(self.port, timeout=1.0)
                try:
                    if c.cmd("PING") == "PONG":
                        return
                finally:
                    c.close()
            except (OSError, ConnectionError, RedisError):
                pass  # not yet listening, or still loading its file
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %r" % self.proc.returncode)
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer within %.0f s" % timeout)

    def cmd(self, *args):
        c = Conn(self.port)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL and wait; the data folder stays."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

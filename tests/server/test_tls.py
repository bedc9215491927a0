#!/usr/bin/env python3
"""test_tls.py: gocd's TLS listeners (doc/protocol.md, "Starting it": --tls for
HTTPS and WSS, --tcp-tls for framed TCP in TLS, --cert and --key) with a
certificate made by scripts/gen-cert: Python's ssl and curl succeed when
they trust it and fail cleanly when they do not; only TLS 1.2 with ECDHE
and AEAD suites is spoken; a client that stalls in the handshake is
dropped after --read-timeout; a reconnecting client resumes its session
(Python's ssl and openssl s_client -reconnect, by ticket and by session
id); a bad certificate file stops start-up with a one-line error.

usage: test_tls.py GOCD [GOCC]

One server with every listener serves the cases; at the end it must exit 0
on SIGTERM, closing its WSS clients with 1001, with no sanitizer report.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings

from gocd import (Server, Tap, check, check_eq, check_result, frame, recv_json, req,
                  run_gocd)
from webclient import Http, Rpc, Ws, expect_closed, metrics, tcp, upload_past_limit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANDSHAKE_MS = 700


def gen_cert(dir):
    subprocess.run([os.path.join(ROOT, "scripts", "gen-cert"), dir], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    return os.path.join(dir, "cert.pem"), os.path.join(dir, "key.pem")


def trusting(cafile):
    """A client context that verifies the server against cafile."""
    return ssl.create_default_context(cafile=cafile)


def any_server():
    """A client context that checks nothing (for the suite tests)."""
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def metric(srv, name):
    return metrics(srv.http_port)[name]


# ---------------------------------------------------------------- cases

def https_routes(srv, ctx):
    with Http(srv.port_of("tls"), tls=ctx) as h:
        check_eq(h.sock.version(), "TLSv1.2", "negotiated version")
        name = h.sock.cipher()[0]
        check(name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name),
              "suite %r is not ECDHE with AEAD" % name)
        r = h.request("GET", "/healthz")
        check_eq((r.status, r.body), (200, b"ok"), "GET /healthz over TLS")
        # keep-alive: a second request on the same session
        body = req(1, "echo", ["over", "tls"])
        r = h.request("POST", "/rpc", body, {"Content-Type": "application/json"})
        check_eq(r.status, 200, "POST /rpc status")
        check_result(r.json(), 1, ["over", "tls"])


def upload_over_limit_tls(srv, ctx):
    """Over TLS too, a client still sending a body past --max-frame reads
    the 413 whole and none of its writes fail (lingering close after
    close_notify)."""
    with Http(srv.port_of("tls"), tls=ctx) as h:
        err, got = upload_past_limit(h.sock)
    check(err is None, "write or read failed: %r" % err)
    check(got.startswith(b"HTTP/1.1 413 "), "got %r" % got[:60])


def curl_https(srv, cafile):
    url = "https://127.0.0.1:%d/rpc" % srv.port_of("tls")
    body = req(5, "echo", {"curl": True})
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cafile, "-H",
                        "Content-Type: application/json", "-d", body, url],
                       capture_output=True, timeout=20)
    check_eq(p.returncode, 0, "curl exit status (stderr %r)" % p.stderr[-300:])
    check_result(json.loads(p.stdout), 5, {"curl": True})
    # without the certificate curl refuses the server
    p = subprocess.run(["curl", "-sS", "--max-time", "10", url], capture_output=True,
                       timeout=20)
    check_eq(p.returncode, 60, "curl exit status without --cacert (want 60: peer certificate "
             "cannot be authenticated)")


def framed_tls(srv, ctx):
    s = tcp(srv.port_of("tcp-tls"), tls=ctx)
    try:
        big = "x" * 100000  # several TLS records each way
        msgs = [req(i, "echo", [i, big if i == 2 else "small"]) for i in range(1, 5)]
        s.sendall(b"".join(frame(m) for m in msgs))
        for i in range(1, 5):
            check_result(recv_json(s), i, [i, big if i == 2 else "small"])
    finally:
        s.close()


def chat_everywhere(srv, ctx):
    """Members on WSS, framed TLS and plain WebSocket share one room."""
    with Rpc(srv, "ws", tls=ctx) as a, Rpc(srv, "tcp", tls=ctx) as b, Rpc(srv, "ws") as c:
        for who, r in (("ann", a), ("bob", b), ("cy", c)):
            r.result("chat.join", {"room": "tls", "nick": who})
        sent = a.result("chat.send", {"room": "tls", "text": "hello <b>tls</b>"})
        for r in (a, b, c):
            p = r.push("chat.message", lambda p: p.get("text") == "hello <b>tls</b>")
            check_eq((p["nick"], p["id"]), ("ann", sent["id"]), "message as pushed")
        b.result("chat.send", {"room": "tls", "text": "from framed tls"})
        for r in (a, c):
            r.push("chat.message", lambda p: p.get("text") == "from framed tls")


def untrusted_fails(srv, other_ca):
    """A client trusting another CA fails the handshake; the server keeps
    serving."""
    before = metric(srv, "gocd_tls_handshake_failures_total")
    for port in (srv.port_of("tls"), srv.port_of("tcp-tls")):
        try:
            tcp(port, tls=trusting(other_ca)).close()
            raise AssertionError("handshake succeeded with an untrusted certificate")
        except ssl.SSLCertVerificationError:
            pass
    deadline = time.monotonic() + 5
    while metric(srv, "gocd_tls_handshake_failures_total") < before + 2:
        check(time.monotonic() < deadline, "the failed handshakes were not counted")
        time.sleep(0.05)
    framed_tls(srv, any_server())


def old_versions_refused(srv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        c = any_server()
        c.minimum_version = ssl.TLSVersion.TLSv1
        c.maximum_version = ssl.TLSVersion.TLSv1_1
        c.set_ciphers("ALL:@SECLEVEL=0")
    try:
        tcp(srv.port_of("tls"), tls=c).close()
        raise AssertionError("a TLS 1.1 handshake succeeded")
    except ssl.SSLError as e:
        check("PROTOCOL_VERSION" in str(e).upper() or "HANDSHAKE_FAILURE" in str(e).upper(),
              "refused with an alert from the server, not %r" % e)


def weak_suites_refused(srv):
    """CBC suites and static-RSA key exchange are not offered by the server."""
    c = any_server()
    c.maximum_version = ssl.TLSVersion.TLSv1_2
    c.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA:AES256-SHA:"
                  "AES128-GCM-SHA256:@SECLEVEL=0")
    try:
        tcp(srv.port_of("tls"), tls=c).close()
        raise AssertionError("a handshake with only weak suites succeeded")
    except ssl.SSLError as e:
        check("HANDSHAKE_FAILURE" in str(e).upper(), "refused with handshake_failure, not %r" % e)


def stalled_handshake_dropped(srv):
    """Silent, and half a ClientHello: both closed after the deadline."""
    for first in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        s = tcp(srv.port_of("tls"))
        s.sendall(first)
        t0 = time.monotonic()
        expect_closed(s, timeout=HANDSHAKE_MS / 1000 + 5)
        took = time.monotonic() - t0
        check(took >= HANDSHAKE_MS / 1000 * 0.8, "dropped after %.2f s, before the deadline"
              % took)
        s.close()


def plaintext_on_tls_port(srv):
    """HTTP and garbage on TLS ports: closed, nothing else disturbed."""
    for port, data in ((srv.port_of("tls"), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
                       (srv.port_of("tcp-tls"), os.urandom(3000))):
        s = tcp(port)
        s.sendall(data)
        expect_closed(s, timeout=5)
        s.close()
    https_routes(srv, any_server())


def resumption_python(srv, cafile):
    """Python's ssl resumes its session on the second handshake, with the
    server's ticket and, with tickets off, by session id; on both TLS
    ports."""
    for tickets in (True, False):
        ctx = trusting(cafile)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if not tickets:
            ctx.options |= ssl.OP_NO_TICKET
        for kind in ("tls", "tcp-tls"):
            first = tcp(srv.port_of(kind), tls=ctx)
            check(not first.session_reused, "%s: the first handshake is full" % kind)
            session = first.session
            check(session is not None and session.has_ticket == tickets,
                  "%s: a session %s a ticket" % (kind, "with" if tickets else "without"))
            first.close()
            for i in range(3):
                raw = socket.create_connection(("127.0.0.1", srv.port_of(kind)), timeout=5)
                again = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
                check(again.session_reused, "%s (tickets %s): handshake %d not resumed"
                      % (kind, tickets, i + 2))
                again.close()
    with Http(srv.port_of("tls"), tls=trusting(cafile)) as h:  # still served afterwards
        check_eq(h.request("GET", "/healthz").status, 200, "/healthz")


def resumption_openssl(srv, cafile):
    """openssl s_client -reconnect: its five reconnections report the
    session reused, with tickets and without."""
    for extra in ([], ["-no_ticket"]):
        p = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % srv.port_of("tcp-tls"), "-servername", "localhost",
                            "-CAfile", cafile, "-tls1_2", "-reconnect"] + extra,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        reused = out.count("Reused, TLSv1.2")
        check(reused >= 5, "s_client -reconnect %s: %d of the reconnections reused the session "
              "(want 5); output tail %r" % (" ".join(extra), reused, out[-600:]))
        check("Verify return code: 0 (ok)" in out, "certificate verified")


def gocc_tls(srv, gocc, cafile, other_ca):
    """gocc --tls: echo through framed TLS, and a refusal of an untrusted
    server."""
    line = req(9, "echo", ["gocc", "tls"]) + "\n"
    addr = "127.0.0.1:%d" % srv.port_of("tcp-tls")
    p = subprocess.run([gocc, "--tls", "--cacert", cafile, "--addr", addr], input=line.encode(),
                       capture_output=True, timeout=20)
    check_eq(p.returncode, 0, "gocc exit status (stderr %r)" % p.stderr[-300:])
    check_result(json.loads(p.stdout.decode().splitlines()[0]), 9, ["gocc", "tls"])
    p = subprocess.run([gocc, "--tls", "--cacert", other_ca, "--addr", addr],
                       input=line.encode(), capture_output=True, timeout=20)
    check_eq(p.returncode, 1, "gocc exit status with an untrusted server")
    check(b"TLS handshake failed" in p.stderr, "gocc says why: %r" % p.stderr)


def bad_files_refused(binary, cert, key, tmp):
    bogus = os.path.join(tmp, "bogus.pem")
    with open(bogus, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    cases = [(os.path.join(tmp, "missing.pem"), key), (bogus, key), (cert, bogus), (key, cert)]
    for c, k in cases:
        rc, out, err = run_gocd(binary, ["--tcp", "off", "--http", "off", "--tls",
                                         "127.0.0.1:0", "--cert", c, "--key", k, "--db",
                                         ":memory:"])
        check_eq(rc, 2, "exit status with --cert %s --key %s" % (c, k))
        lines = err.strip().splitlines()
        check(len(lines) == 1 and lines[0].startswith("gocd: "), "one-line error, got %r" % err)
        check(out == "", "nothing on stdout (no listening line), got %r" % out)
    rc, _, err = run_gocd(binary, ["--tls", "127.0.0.1:0", "--db", ":memory:"])
    check_eq(rc, 2, "--tls without --cert/--key")


def peer_cert(port):
    """The DER certificate the server presents on a new connection."""
    s = tcp(port, tls=any_server())
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def sighup_reload(binary, tmp):
    """SIGHUP loads the certificate files again: new connections get the
    renewed certificate, a connection opened before goes on with its
    session; a broken file keeps the certificate in use; the server never
    dies of the signal."""
    cert, key = gen_cert(os.path.join(tmp, "hup"))
    new_cert, new_key = gen_cert(os.path.join(tmp, "hup-new"))
    with Server(binary, "--tcp-tls", "127.0.0.1:0", "--cert", cert, "--key", key, "--db",
                ":memory:") as srv:
        port = srv.port_of("tcp-tls")
        check_eq(peer_cert(port), der(cert), "the first certificate")
        old = tcp(port, tls=any_server())
        try:
            old.sendall(frame(req(1, "echo", ["before"])))
            check_result(recv_json(old), 1, ["before"])
            shutil.copy(new_cert, cert)
            shutil.copy(new_key, key)
            srv.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while peer_cert(port) != der(new_cert) and time.monotonic() < deadline:
                time.sleep(0.05)
            check_eq(peer_cert(port), der(new_cert), "the certificate after SIGHUP")
            old.sendall(frame(req(2, "echo", ["after"])))
            check_result(recv_json(old), 2, ["after"])
        finally:
            old.close()
        with open(cert, "w") as f:
            f.write("not a certificate")
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        check_eq(peer_cert(port), der(new_cert), "the certificate after a failed reload")
        check(srv.proc.poll() is None, "the server died of SIGHUP")
        check("SIGHUP" in srv.stderr(), "the reloads are not logged: %r" % srv.stderr()[-500:])
        srv.check_clean_exit()
    with Server(binary, "--db", ":memory:") as plain:
        plain.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        check(plain.proc.poll() is None, "a server without TLS died of SIGHUP")
        plain.check_clean_exit()


def main():
    binary = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="gocd-tls-")
    try:
        cert, key = gen_cert(os.path.join(tmp, "a"))
        other_cert, _ = gen_cert(os.path.join(tmp, "b"))
        flags = ["--tls", "127.0.0.1:0", "--tcp-tls", "127.0.0.1:0", "--cert", cert, "--key",
                 key, "--read-timeout", str(HANDSHAKE_MS), "--db", ":memory:",
                 "--rate", "0"]
        with Server(binary, *flags, http="127.0.0.1:0") as srv:
            ctx = trusting(cert)
            tap.run("https: /healthz and /rpc over TLS 1.2, ECDHE + AEAD", https_routes,
                    srv, ctx)
            tap.run("https: a body past the limit gets a 413 read whole (lingering close)",
                    upload_over_limit_tls, srv, ctx)
            tap.run("curl: trusts the certificate with --cacert, refuses it without",
                    curl_https, srv, cert)
            tap.run("framed TCP in TLS: pipelined frames, a 100 KB one", framed_tls, srv, ctx)
            tap.run("chat: WSS, framed TLS and plain WebSocket members in one room",
                    chat_everywhere, srv, ctx)
            tap.run("untrusted certificate: the client fails cleanly, the server goes on",
                    untrusted_fails, srv, other_cert)
            if len(sys.argv) > 2:
                tap.run("gocc --tls: framed TLS from the command line", gocc_tls, srv,
                        sys.argv[2], cert, other_cert)
            tap.run("resumption: Python's ssl resumes, by ticket and by session id",
                    resumption_python, srv, cert)
            tap.run("resumption: openssl s_client -reconnect reports reuse, with and without "
                    "tickets", resumption_openssl, srv, cert)
            tap.run("TLS 1.0/1.1 refused", old_versions_refused, srv)
            tap.run("CBC and static-RSA suites refused", weak_suites_refused, srv)
            tap.run("a client stalled in the handshake is dropped after the deadline",
                    stalled_handshake_dropped, srv)
            tap.run("plaintext and garbage on TLS ports are closed", plaintext_on_tls_port, srv)

            def shutdown():
                w = Ws(srv.port_of("tls"), tls=ctx)
                srv.send_signal(15)
                w.expect_close(1001)
                w.close()
                srv.check_clean_exit()
            tap.run("SIGTERM: WSS closed with 1001, clean exit", shutdown)
        tap.run("bad --cert/--key: one-line error, exit 2", bad_files_refused, binary, cert,
                key, tmp)
        tap.run("SIGHUP reloads the certificate; open sessions go on", sighup_reload, binary,
                tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(tap.finish())


if __name__ == "__main__":
    main()

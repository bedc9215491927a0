#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the inputs of
the existing tests: the HTTP cases and JSON-RPC cases of tests/proto, the
frames, WebSocket frames and request paths that tests/proto/*_test.c and
tests/server/test_*.py send. Each file starts with the control bytes of its
target (see the comment at the top of each fuzz_<target>.c), chosen in turn
so the seeds cover every cutting mode and every set of limits.

Usage: tests/fuzz/make_corpus.py   (rewrites the six folders)
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "proto")

# JSON-RPC cases used as seeds (frames, WebSocket texts, JSON-RPC messages).
JSONRPC_CASES = [
    "batch_duplicate_ids", "batch_mixed_id_types", "batch_nested_array", "batch_nested_batch",
    "batch_notifications_and_invalid", "batch_single_request", "depth_64_accepted",
    "depth_65_refused", "depth_brackets_in_strings", "depth_far_too_deep_invalid_json",
    "echo_array", "echo_notification", "echo_unicode_and_nul", "handler_custom_error_with_data",
    "handler_internal_error", "id_array_invalid", "id_beyond_int64", "id_duplicate_last_wins",
    "id_escaped_key", "id_exponent", "id_kept_on_invalid_request", "id_string_escaped",
    "message_null", "method_not_found_notification", "params_filter_not_object",
    "params_limit_not_integer", "params_missing_room",
    "parse_leading_zero_id_beside_big_int",  # found by fuzz_jsonrpc
]
# More messages from tests/server/test_framed.py and jsonrpc_test.c.
EXTRA_RPC = [
    b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"echo","params":[7,{"n":-3}]}',
    b'[{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"echo","params":[1]},'
    b'{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}]',
    b'{"jsonrpc":"2.0","method":"subtract","params":{"minuend":42,"subtrahend":23},"id":3}',
    b'{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"s"}',
    b'{"jsonrpc":"2.0","method":"history","params":{"room":"r","limit":5,"verbose":true,'
    b'"filter":{"a":1},"tags":["x"]},"id":99999999999999999999}',
    b'{"jsonrpc":"2.0","method":"persistent_only","id":1}',
    b'{"jsonrpc":"2.0","method":"fail_silent","id":1}',
    b'[ 7 , {"id" :1e3,"method":"nope","jsonrpc":"2.0"} ]',
    b'{"jsonrpc":"2.0","method":"echo","id":1e999}',
    b'[{"jsonrpc":"2.0","method":"update"},{"jsonrpc":"2.0","method":"echo","id":-0}]',
    b"\xff\xfe{}",
    b'[{"jsonrpc":"2.0","id":1,"method":"echo"},{bad]',
]


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


def named_rpc_messages():
    """(name, message) pairs: the case folder's name, or extra_NN."""
    named = [(c, read(PROTO, "jsonrpc_cases", c, "input.json").strip()) for c in JSONRPC_CASES]
    return named + [("extra_%02d" % i, m) for i, m in enumerate(EXTRA_RPC)]


def rpc_messages():
    return [m for _, m in named_rpc_messages()]


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def ws_frame(op, payload, fin=True, key=b"\x37\xfa\x21\x3d", masked=True):
    """A client frame as tests/proto/ws_test.c builds them."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | op])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame_seeds():
    rpc = rpc_messages()
    seeds = {
        "heartbeat": frame(b""),
        "heartbeats": frame(b"") * 5,
        "hb_around_msgs": frame(b"") + frame(rpc[0]) + frame(b"") * 2 + frame(rpc[1]) + frame(b""),
        "too_large_after_msgs": frame(rpc[2]) + frame(rpc[3]) + struct.pack(">I", 0xFFFFFFFF) + b"{",
        "partial_header": b"\x00\x00",
        "partial_payload": struct.pack(">I", 900) + b"{" * 50,
        "max_len_5000": struct.pack(">I", 5000) + b"z" * 40,
    }
    for i, m in enumerate(rpc[:12]):
        seeds["rpc_%02d" % i] = frame(m)
    seeds["many"] = b"".join(frame(m) for m in rpc[12:20])
    return seeds


def http_seeds():
    cases = os.path.join(PROTO, "http_cases")
    seeds = {c: read(cases, c, "in.http") for c in sorted(os.listdir(cases))}
    ws = (b"GET /ws HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          b"Sec-WebSocket-Version: 13\r\n")
    seeds["ws_upgrade"] = ws + b"\r\n"
    seeds["ws_upgrade_origin"] = ws + b"Origin: https://chat.example.com\r\n\r\n"
    seeds["ws_upgrade_version8"] = ws.replace(b"Version: 13", b"Version: 8") + b"\r\n"
    for i, p in enumerate(["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                           "/a/../../secret.txt", "/index.html%00", "/..%5csecret.txt",
                           "//../secret.txt", "/.%2e/secret.txt", "/sub/",
                           "/caf%C3%A9/app.js?since=5&limit=10"]):
        seeds["path_%02d" % i] = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode()
    body = rpc_messages()[0]
    seeds["post_rpc"] = (b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                         + body)
    return seeds


def ws_seeds():
    rpc = rpc_messages()
    zero = b"\0\0\0\0"
    return {
        "text": ws_frame(1, b"Hello") + ws_frame(1, "h\u00e9llo \U0001F600".encode()),
        "text_zero_key": ws_frame(1, rpc[0], key=zero),
        "fragmented_with_ping": ws_frame(1, b"h\xc3", fin=False) + ws_frame(9, b"are you there")
        + ws_frame(0, b"\xa9l", fin=False) + ws_frame(0, b"lo"),
        "pong": ws_frame(10, b"t1"),
        "binary": ws_frame(2, b"\x00\x01\x02"),
        "binary_fragmented": ws_frame(2, b"ab", fin=False) + ws_frame(0, b"cd")
        + ws_frame(1, b"after"),
        "bad_utf8": ws_frame(1, b"\xed\xa0\x80"),
        "bad_utf8_split": ws_frame(1, b"ab\xe2", fin=False) + ws_frame(0, b"\x82"),
        "too_big": ws_frame(1, b"a" * 100),
        "len16": ws_frame(1, b"b" * 300, key=zero),
        "unmasked": ws_frame(1, b"plain", masked=False),
        "continuation_of_nothing": ws_frame(0, b"cont"),
        "reserved_opcode": ws_frame(3, b"x"),
        "close_going": ws_frame(8, b"\x03\xe9going") + ws_frame(1, b"after close"),
        "close_empty": ws_frame(8, b""),
        "close_1000_bye": ws_frame(8, struct.pack("!H", 1000) + b"bye"),
        "ping_flood": ws_frame(9, b"ping!") * 10,
        "ping_payloads": ws_frame(9, b"") + ws_frame(9, b"hello") + ws_frame(9, bytes(range(125))),
        "rpc_batch": b"".join(ws_frame(1, m) for m in rpc[1:6]),
        # failures wslay answered with a codeless close (now 1002)
        "ping_126": ws_frame(9, b"p" * 126),
        "ping_fragmented": ws_frame(1, b"te", fin=False) + ws_frame(9, b"p", fin=False),
        "close_one_byte": ws_frame(8, b"\x03"),
        "len16_not_minimal": b"\x81\xfe\x00\x7d\x01\x02\x03\x04" + b"a" * 125,
        # found by fuzz_ws: a bad close reason fed one byte at a time
        "close_bad_reason_bytes": (b"\x71\xd4", ws_frame(8, b"\x03\xe8\xdbye")),
    }


def tls_record_seeds():
    """fuzz_tls_record: (cut, scenario, flip) and material. Odd scenarios seal
    the material's messages (type byte, 2-byte length, bytes); even ones send
    the material as it is, here records no key can have made."""
    rpc = rpc_messages()

    def msgs(*parts):
        return b"".join(bytes([t]) + struct.pack(">H", len(m)) + m for t, m in parts)

    forged = b"\x17\x03\x03\x00\x20" + bytes(range(32))
    return {
        "sealed_rpc": (bytes([0, 1, 0]), msgs(*((0, m) for m in rpc[:6]))),
        "sealed_rpc_bytes": (bytes([1, 1, 0]), msgs(*((0, m) for m in rpc[6:9]))),
        "sealed_alert_close": (bytes([2, 3, 0]), msgs((0, rpc[0]), (1, b"\x01\x00"))),
        "sealed_empty_and_big": (bytes([3, 5, 0]), msgs((0, b""), (0, b"x" * 3000), (0, b"y"))),
        "sealed_flip_text": (bytes([2, 1, 200]), msgs(*((0, m) for m in rpc[:3]))),
        "sealed_flip_header": (bytes([0, 1, 1]), msgs((0, rpc[1]), (0, rpc[2]))),
        "forged": (bytes([0, 0, 0]), forged * 2),
        "forged_small_reads": (bytes([2, 2, 0]), forged),
        "bad_version": (bytes([0, 0, 0]), b"\x17\x03\x01\x00\x20" + bytes(32)),
        "handshake_type": (bytes([0, 0, 0]), b"\x16\x03\x03\x00\x20" + bytes(32)),
        "too_long": (bytes([1, 0, 0]), b"\x17\x03\x03\x48\x21"),
        "too_short": (bytes([0, 0, 0]), b"\x15\x03\x03\x00\x17" + bytes(23)),
    }


def resp_bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def resp_array(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def resp_seeds():
    """fuzz_resp: replies as Redis sends them to the chat's client (script
    results, stream entries, pub/sub pushes), errors, and broken ones."""
    rpc = rpc_messages()
    push = resp_array(resp_bulk(b"message"), resp_bulk(b"goc:{lobby}:ch"),
                      resp_bulk(b"5-0 7-0 m " + rpc[0]))
    entry = resp_array(resp_bulk(b"7-0"), resp_array(resp_bulk(b"p"), resp_bulk(b"5-0"),
                                                     resp_bulk(b"n"), resp_bulk(b"bob"),
                                                     resp_bulk(b"t"), resp_bulk(rpc[1])))
    return {
        "ok_and_pong": b"+OK\r\n+PONG\r\n",
        "errors": b"-NOSCRIPT No matching script\r\n-WRONGPASS invalid\r\n",
        "integers": b":0\r\n:-1\r\n:9223372036854775807\r\n:-9223372036854775808\r\n",
        "nils": b"$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n",
        "subscribe": resp_array(resp_bulk(b"subscribe"), resp_bulk(b"goc:{a}:ch"), b":1\r\n"),
        "pushes": push * 3,
        "xrange": resp_array(entry, entry),
        "script_mixed": resp_array(b":42\r\n", resp_bulk(b"41-2"), b"$-1\r\n",
                                   resp_array(resp_bulk(b"ann"), resp_bulk(b"node#1 3-1"))),
        "deep": b"*1\r\n" * 10 + b":1\r\n",
        "big_bulk": resp_bulk(b"x" * 3000),
        "command": resp_array(resp_bulk(b"EVALSHA"), resp_bulk(b"0" * 40), resp_bulk(b"1")),
        "bad_type": b"+OK\r\n!oops\r\n",
        "bad_length": b"$-7\r\n",
        "no_crlf_after_bulk": b"$3\r\nabcd\r\n",
        "cut_in_bulk": b"$10\r\nabc",
    }


JWT_KEY = b"fuzz-key-0123456789abcdef-0123456789"  # fuzz_jwt.c's key_text


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt(header, payload, key=JWT_KEY):
    """header.payload.signature with HS256 under key, header and payload as
    bytes or as objects to encode."""
    enc = [x if isinstance(x, bytes) else json.dumps(x).encode() for x in (header, payload)]
    text = b64url(enc[0]) + b"." + b64url(enc[1])
    return text + b"." + b64url(hmac.new(key, text, hashlib.sha256).digest())


def jwt_seeds():
    """fuzz_jwt: (scenario, flip) then a token (even scenario) or a payload to
    sign (odd); the tokens are those of tests/proto/jwt_test.c's rules."""
    hs = {"alg": "HS256", "typ": "JWT"}
    good = {"sub": "alice", "exp": 1700000100}
    tokens = {
        "valid": jwt(hs, good),
        "valid_rooms": jwt(hs, dict(good, rooms=["lobby", "dev-ops"])),
        "valid_nbf_fraction": jwt({"alg": "HS256"}, {"sub": "b\u00e9", "exp": 1700000000.5,
                                                      "nbf": 1699999999}),
        "alg_none": jwt({"alg": "none"}, good)[:-43],
        "alg_hs512": jwt({"alg": "HS512"}, good),
        "alg_rs256": jwt({"alg": "RS256", "typ": "JWT"}, good),
        "crit": jwt({"alg": "HS256", "crit": ["exp"]}, good),
        "bad_signature": jwt(hs, good, key=b"another key, also long enough!!!"),
        "expired": jwt(hs, {"sub": "alice", "exp": 1699999999}),
        "no_exp": jwt(hs, {"sub": "alice"}),
        "sub_control": jwt(hs, {"sub": "al\nice", "exp": 1700000100}),
        "rooms_bad": jwt(hs, dict(good, rooms=["ok", 7, "no spaces"])),
        "duplicate": jwt(hs, b'{"sub":"a","sub":"b","exp":1700000100}'),
        "not_json": jwt(hs, b"sub=alice"),
        "deep": jwt(hs, b'{"sub":"a","exp":1700000100,"x":[[[[[[1]]]]]]}'),
        "truncated": jwt(hs, good)[:-7],
        "padded": jwt(hs, good) + b"=",
    }
    seeds = {k: (bytes([0, i * 31 & 0xff]), v) for i, (k, v) in enumerate(sorted(tokens.items()))}
    payloads = {
        "p_valid": good,
        "p_rooms": dict(good, rooms=["lobby", "a-b"], iat=1, extra={"n": [1, 2]}),
        "p_fraction": {"sub": "zo\u00eb", "exp": 1700000000.25},
        "p_expired": {"sub": "x", "exp": 1},
        "p_nbf_future": dict(good, nbf=1800000000),
        "p_not_object": [1, 2],
        "p_sub_long": {"sub": "x" * 40, "exp": 1700000100},
    }
    for i, (k, v) in enumerate(sorted(payloads.items())):
        seeds[k] = (bytes([1, i * 53 & 0xff]), json.dumps(v).encode())
    return seeds


def write(target, seeds, controls):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, (name, data) in enumerate(sorted(seeds.items())):
        # a seed is its bytes, or (control bytes, bytes) to replay a case exactly
        head, data = data if isinstance(data, tuple) else (controls(i), data)
        with open(os.path.join(d, name), "wb") as f:
            f.write(head + data)


def main():
    # fuzz_frame: cut, max_frame (index 0: the default, 6/7: 4096, 5000)
    write("frame", frame_seeds(), lambda i: bytes([i * 37 & 0xff, (0, 0, 6, 7)[i % 4]]))
    # fuzz_http: cut, limits | root << 2
    write("http", http_seeds(), lambda i: bytes([i * 37 & 0xff, (i % 4) | (i // 4 % 4) << 2]))
    # fuzz_ws: cut, limits | server actions
    write("ws", ws_seeds(), lambda i: bytes([i * 37 & 0xff, (i * 53) & 0xff]))
    # fuzz_jsonrpc: persistent | small limits << 1 | parse/run/reply << 2
    write("jsonrpc", dict(named_rpc_messages()), lambda i: bytes([i % 8]))
    # fuzz_tls_record: every seed carries its own control bytes
    write("tls_record", tls_record_seeds(), None)
    # fuzz_resp: cut, limits
    write("resp", resp_seeds(), lambda i: bytes([i * 37 & 0xff, i % 4]))
    # fuzz_jwt: every seed carries its own control bytes
    write("jwt", jwt_seeds(), None)


if __name__ == "__main__":
    main()

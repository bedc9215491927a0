/* ws_test.c: the WebSocket handshake, connection and UTF-8 check of
 * proto/ws.h and proto/utf8.h.
 *
 * The test plays the browser: a tiny encoder builds masked client frames, the
 * bytes go in through goc_ws_feed() (whole, split at every byte, or one byte
 * at a time), and the server's output is decoded back into frames and
 * checked, close codes included.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <errno.h>

#include "http.h"
#include "utf8.h"
#include "ws.h"

/* --- A tiny client ------------------------------------------------------ */

/* Appends one client frame (masked unless unmasked is set) to buf at *len. */
static void frame(uint8_t *buf, size_t *len, bool fin, uint8_t opcode, const void *payload,
                  size_t n, bool unmasked)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t *p = buf + *len;
    *p++ = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = unmasked ? 0 : 0x80;
    if (n < 126) {
        *p++ = (uint8_t)(m | n);
    } else if (n < 65536) {
        *p++ = m | 126;
        *p++ = (uint8_t)(n >> 8);
        *p++ = (uint8_t)n;
    } else {
        *p++ = m | 127;
        for (int i = 7; i >= 0; i--)
            *p++ = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (!unmasked) {
        memcpy(p, key, 4);
        p += 4;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = ((const uint8_t *)payload)[i] ^ (unmasked ? 0 : key[i % 4]);
    *len = (size_t)(p + n - buf);
}

/* One frame the server sent. */
typedef struct srv_frame {
    bool fin;            /* FIN bit */
    uint8_t opcode;      /* opcode */
    uint8_t data[70000]; /* payload */
    size_t len;          /* its length */
} srv_frame;

/* Decodes the frame at b[0..n); returns its size, 0 if incomplete, -1 if it
 * is masked or has RSV bits (a server must send neither). */
static long unframe(const uint8_t *b, size_t n, srv_frame *f)
{
    if (n < 2)
        return 0;
    if ((b[0] & 0x70) || (b[1] & 0x80))
        return -1;
    f->fin = b[0] & 0x80;
    f->opcode = b[0] & 0x0f;
    size_t hl = 2, len = b[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (size_t)b[2] << 8 | b[3];
        hl = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | b[2 + i];
        hl = 10;
    }
    if (n - hl < len || len > sizeof f->data)
        return 0;
    memcpy(f->data, b + hl, len);
    f->len = len;
    return (long)(hl + len);
}

/* What the server reported and sent, as the test saw it. */
typedef struct peer {
    goc_ws_t *ws;            /* the connection under test */
    int nev;                 /* events seen */
    goc_ws_event_kind_t kinds[64]; /* their kinds */
    char texts[64][256];     /* their data, NUL-terminated (truncated) */
    size_t lens[64];         /* their data lengths */
    uint16_t codes[64];      /* close codes */
    uint8_t out[200000];     /* server output not yet decoded */
    size_t out_len;          /* its length */
} peer;

static void on_event(void *user, const goc_ws_event_t *ev)
{
    peer *p = user;
    if (p->nev == 64)
        return;
    p->kinds[p->nev] = ev->kind;
    p->lens[p->nev] = ev->len;
    size_t n = ev->len < 255 ? ev->len : 255;
    memcpy(p->texts[p->nev], ev->data ? (const char *)ev->data : "", n);
    p->texts[p->nev][n] = 0;
    p->codes[p->nev] = ev->code;
    p->nev++;
}

static int open_peer(peer *p, goc_ws_config_t cfg)
{
    memset(p, 0, sizeof *p);
    cfg.on_event = on_event;
    cfg.user = p;
    return goc_ws_new(&cfg, &p->ws);
}

/* Drains all server output into p->out, in pieces of at most step bytes. */
static void drain(peer *p, size_t step)
{
    for (;;) {
        const uint8_t *d;
        long n = goc_ws_output(p->ws, &d);
        if (n <= 0)
            return;
        size_t take = (size_t)n < step ? (size_t)n : step;
        memcpy(p->out + p->out_len, d, take);
        p->out_len += take;
        goc_ws_consume(p->ws, take);
    }
}

/* Takes the next whole server frame out of p->out; false if none. */
static bool next_frame(peer *p, srv_frame *f)
{
    long n = unframe(p->out, p->out_len, f);
    if (n <= 0)
        return false;
    memmove(p->out, p->out + n, p->out_len - (size_t)n);
    p->out_len -= (size_t)n;
    return true;
}

/* The code of a close frame's payload. */
static uint16_t close_code(const srv_frame *f)
{
    return f->len >= 2 ? (uint16_t)(f->data[0] << 8 | f->data[1]) : 0;
}

static srv_frame fr; /* scratch frame, too big for a test's stack */

/* Feeds msg, expects one close frame with code back, no event, and done. */
static bool expect_refused(const goc_ws_config_t *cfg, const uint8_t *msg, size_t n,
                           uint16_t code)
{
    static peer p;
    memset(&fr, 0, sizeof fr);
    bool ok = open_peer(&p, *cfg) == 0 && goc_ws_feed(p.ws, msg, n) == 0;
    drain(&p, SIZE_MAX);
    ok = ok && p.nev == 0 && next_frame(&p, &fr) && fr.opcode == 0x8 && close_code(&fr) == code;
    ok = ok && p.out_len == 0 && goc_ws_close_code_sent(p.ws) == code && goc_ws_done(p.ws) &&
         !goc_ws_want_read(p.ws);
    if (!ok)
        printf("# refused: want close %u, got nev=%d opcode=%u code=%u left=%zu sent=%u "
               "done=%d read=%d\n",
               code, p.nev, fr.opcode, close_code(&fr), p.out_len, goc_ws_close_code_sent(p.ws),
               goc_ws_done(p.ws), goc_ws_want_read(p.ws));
    goc_ws_free(p.ws);
    return ok;
}

/* --- Handshake ---------------------------------------------------------- */

static void test_accept_key_rfc(void)
{
    char acc[GOC_WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK_EQ_INT(goc_ws_accept_key(key, strlen(key), acc), 0);
    CHECK_EQ_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_EQ_INT(goc_ws_accept_key(key, 0, acc), -EINVAL);
}

/* Parses raw as one request and runs the handshake check on it. */
static int check_raw(const char *raw, const char *const *origins, size_t norigins, char *acc)
{
    goc_http_reader_t *r;
    size_t used;
    if (goc_http_reader_new(NULL, &r) != 0)
        return -999;
    int rc = goc_http_reader_feed(r, raw, strlen(raw), &used);
    if (rc == 1)
        rc = goc_ws_handshake_check(goc_http_reader_request(r), origins, norigins, acc);
    else
        rc = -998;
    goc_http_reader_free(r);
    return rc;
}

#define WS_REQ(method, version, extra)                                                        \
    method " /ws HTTP/" version "\r\nHost: server.example.com\r\n" extra "\r\n"
#define WS_OK_HEADERS                                                                         \
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"                                           \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

static void test_handshake_check(void)
{
    char acc[GOC_WS_ACCEPT_LEN + 1];
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1", WS_OK_HEADERS), NULL, 0, acc), 0);
    CHECK_EQ_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* Token lists and case. */
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  "upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                                  "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "sec-websocket-version: 13\r\n"),
                           NULL, 0, acc),
                 0);
    CHECK_EQ_INT(check_raw(WS_REQ("POST", "1.1", WS_OK_HEADERS "Content-Length: 0\r\n"), NULL,
                           0, acc),
                 -EBADMSG);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.0", WS_OK_HEADERS), NULL, 0, acc), -EBADMSG);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  "Connection: Upgrade\r\nSec-WebSocket-Key: "
                                  "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
                           NULL, 0, acc),
                 -EBADMSG);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  "Upgrade: websocket\r\nConnection: keep-alive\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"),
                           NULL, 0, acc),
                 -EBADMSG);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"),
                           NULL, 0, acc),
                 -EBADMSG);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n"),
                           NULL, 0, acc),
                 -EBADMSG);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"),
                           NULL, 0, acc),
                 -EBADMSG);
    int rc = check_raw(WS_REQ("GET", "1.1",
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 8\r\n"),
                       NULL, 0, acc);
    CHECK_EQ_INT(rc, -EPROTONOSUPPORT);
    CHECK_EQ_INT(goc_ws_handshake_status(rc), 426);
    CHECK_EQ_INT(goc_ws_handshake_status(-EBADMSG), 400);
}

static void test_handshake_origin(void)
{
    char acc[GOC_WS_ACCEPT_LEN + 1];
    const char *const allowed[] = {"http://localhost:8080", "https://chat.example.com"};
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1", WS_OK_HEADERS "Origin: https://evil.example\r\n"),
                           NULL, 0, acc),
                 0); /* empty list: everyone */
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  WS_OK_HEADERS "Origin: HTTPS://chat.example.com\r\n"),
                           allowed, 2, acc),
                 0);
    int rc = check_raw(WS_REQ("GET", "1.1", WS_OK_HEADERS "Origin: https://evil.example\r\n"),
                       allowed, 2, acc);
    CHECK_EQ_INT(rc, -EACCES);
    CHECK_EQ_INT(goc_ws_handshake_status(rc), 403);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1",
                                  WS_OK_HEADERS "Origin: http://localhost:8080.evil\r\n"),
                           allowed, 2, acc),
                 -EACCES);
    CHECK_EQ_INT(check_raw(WS_REQ("GET", "1.1", WS_OK_HEADERS), allowed, 2, acc), 0);
}

static void test_handshake_response(void)
{
    goc_http_out_t o;
    goc_http_out_init(&o, 0);
    goc_ws_handshake_response(&o, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                       "\r\n\r\n";
    CHECK_EQ_INT(goc_http_out_finish(&o), (long)strlen(want));
    CHECK(memcmp(o.data, want, o.len) == 0);
    goc_http_out_free(&o);
}

/* --- Messages ----------------------------------------------------------- */

static peer P; /* the connection of the current case */
static uint8_t wire[300000];

static void test_text_split_everywhere(void)
{
    size_t n = 0;
    frame(wire, &n, true, 0x1, "Hello", 5, false);
    frame(wire, &n, true, 0x1, "h\xc3\xa9llo \xf0\x9f\x98\x80", 11, false);
    for (size_t k = 0; k <= n; k++) {
        CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
        CHECK_EQ_INT(goc_ws_feed(P.ws, wire, k), 0);
        CHECK_EQ_INT(goc_ws_feed(P.ws, wire + k, n - k), 0);
        CHECK_EQ_INT(P.nev, 2);
        CHECK_EQ_INT(P.kinds[0], GOC_WS_EV_TEXT);
        CHECK_EQ_STR(P.texts[0], "Hello");
        CHECK_EQ_STR(P.texts[1], "h\xc3\xa9llo \xf0\x9f\x98\x80");
        drain(&P, SIZE_MAX);
        CHECK_EQ_UINT(P.out_len, 0);
        CHECK(goc_ws_want_read(P.ws));
        CHECK(!goc_ws_done(P.ws));
        goc_ws_free(P.ws);
    }
    /* One byte at a time. */
    CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(goc_ws_feed(P.ws, wire + i, 1), 0);
    CHECK_EQ_INT(P.nev, 2);
    CHECK_EQ_STR(P.texts[1], "h\xc3\xa9llo \xf0\x9f\x98\x80");
    goc_ws_free(P.ws);
}

static void test_fragmented_with_ping(void)
{
    size_t n = 0;
    /* "héllo" split inside the two-byte é, with a ping between fragments. */
    frame(wire, &n, false, 0x1, "h\xc3", 2, false);
    frame(wire, &n, true, 0x9, "are you there", 13, false);
    frame(wire, &n, false, 0x0, "\xa9l", 2, false);
    frame(wire, &n, true, 0x0, "lo", 2, false);
    for (size_t k = 0; k <= n; k += 3) {
        CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
        CHECK_EQ_INT(goc_ws_feed(P.ws, wire, k), 0);
        CHECK_EQ_INT(goc_ws_feed(P.ws, wire + k, n - k), 0);
        CHECK_EQ_INT(P.nev, 2);
        CHECK_EQ_INT(P.kinds[0], GOC_WS_EV_PING);
        CHECK_EQ_STR(P.texts[0], "are you there");
        CHECK_EQ_INT(P.kinds[1], GOC_WS_EV_TEXT);
        CHECK_EQ_STR(P.texts[1], "h\xc3\xa9llo");
        drain(&P, SIZE_MAX);
        CHECK(next_frame(&P, &fr));
        CHECK_EQ_INT(fr.opcode, 0xA); /* the pong, same payload */
        CHECK(fr.fin);
        CHECK_EQ_UINT(fr.len, 13);
        CHECK(memcmp(fr.data, "are you there", 13) == 0);
        CHECK_EQ_UINT(P.out_len, 0);
        goc_ws_free(P.ws);
    }
}

static void test_ping_pong_and_send(void)
{
    CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
    CHECK_EQ_INT(goc_ws_ping(P.ws, "t1", 2), 0);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, "{\"jsonrpc\":\"2.0\"}", 17), 0);
    static char big[70000];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, big, 300), 0);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, big, sizeof big), 0);
    CHECK_EQ_INT(goc_ws_ping(P.ws, big, 126), -EINVAL);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, "\xc0\xaf", 2), -EINVAL);
    drain(&P, 1000); /* in small writes, as a slow socket takes them */
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_INT(fr.opcode, 0x9);
    CHECK(fr.len == 2 && memcmp(fr.data, "t1", 2) == 0);
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_INT(fr.opcode, 0x1);
    CHECK(fr.fin);
    CHECK(fr.len == 17 && memcmp(fr.data, "{\"jsonrpc\":\"2.0\"}", 17) == 0);
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_UINT(fr.len, 300); /* 16-bit length form */
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_UINT(fr.len, sizeof big); /* 64-bit length form */
    CHECK(memcmp(fr.data, big, sizeof big) == 0);
    CHECK_EQ_UINT(P.out_len, 0);
    /* The peer's pong comes back as an event. */
    size_t n = 0;
    frame(wire, &n, true, 0xA, "t1", 2, false);
    CHECK_EQ_INT(goc_ws_feed(P.ws, wire, n), 0);
    CHECK_EQ_INT(P.nev, 1);
    CHECK_EQ_INT(P.kinds[0], GOC_WS_EV_PONG);
    CHECK_EQ_STR(P.texts[0], "t1");
    goc_ws_free(P.ws);
}

static void test_binary_closes_1003(void)
{
    size_t n = 0;
    goc_ws_config_t cfg = {0};
    frame(wire, &n, true, 0x2, "\x00\x01\x02", 3, false);
    CHECK(expect_refused(&cfg, wire, n, 1003));
    /* A fragmented binary message is refused on its first frame. */
    n = 0;
    frame(wire, &n, false, 0x2, "ab", 2, false);
    frame(wire, &n, true, 0x0, "cd", 2, false);
    frame(wire, &n, true, 0x1, "after", 5, false);
    CHECK(expect_refused(&cfg, wire, n, 1003));
}

static void test_bad_utf8_closes_1007(void)
{
    static const char *const bad[] = {
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf",     /* overlong, 4 bytes */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xed\xbf\xbf",         /* surrogate U+DFFF */
        "ok\xe2\x82",           /* truncated euro sign */
        "\x80",                 /* stray continuation */
        "\xf4\x90\x80\x80",     /* above U+10FFFF */
        "\xff",                 /* never valid */
    };
    goc_ws_config_t cfg = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        frame(wire, &n, true, 0x1, bad[i], strlen(bad[i]), false);
        CHECK_MSG(expect_refused(&cfg, wire, n, 1007), "case %zu", i);
    }
    /* Valid fragments that end in the middle of a character. */
    size_t n = 0;
    frame(wire, &n, false, 0x1, "ab\xe2", 3, false);
    frame(wire, &n, true, 0x0, "\x82", 1, false);
    CHECK(expect_refused(&cfg, wire, n, 1007));
}

/* A close reason that is not UTF-8 is answered 1007, not echoed and not
 * reported, however the frame is cut (wslay alone catches it only when the
 * frame comes in one read). Found by tests/fuzz/fuzz_ws. */
static void test_bad_close_reason_1007(void)
{
    size_t n = 0;
    frame(wire, &n, true, 0x8, "\x03\xe8\xdbye", 5, false); /* 1000, then bad UTF-8 */
    for (size_t step = 1; step <= n; step++) {
        CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
        for (size_t i = 0; i < n; i += step)
            CHECK_EQ_INT(goc_ws_feed(P.ws, wire + i, i + step <= n ? step : n - i), 0);
        drain(&P, SIZE_MAX);
        CHECK_MSG(P.nev == 0, "step %zu: %d events", step, P.nev);
        CHECK(next_frame(&P, &fr));
        CHECK_EQ_INT(fr.opcode, 0x8);
        CHECK_MSG(close_code(&fr) == 1007, "step %zu: close %u", step, close_code(&fr));
        CHECK_EQ_UINT(P.out_len, 0);
        CHECK(goc_ws_done(P.ws));
        goc_ws_free(P.ws);
    }
}

static void test_too_big_closes_1009(void)
{
    goc_ws_config_t cfg = {.max_message = 16};
    static char msg[100000];
    memset(msg, 'a', sizeof msg);
    size_t n = 0;
    frame(wire, &n, true, 0x1, msg, 16, false);
    static peer p;
    CHECK_EQ_INT(open_peer(&p, cfg), 0);
    CHECK_EQ_INT(goc_ws_feed(p.ws, wire, n), 0);
    CHECK_EQ_INT(p.nev, 1); /* exactly the limit is fine */
    goc_ws_free(p.ws);
    n = 0;
    frame(wire, &n, true, 0x1, msg, 17, false);
    CHECK(expect_refused(&cfg, wire, n, 1009));
    /* Refused on the header (wslay reports a frame with its first payload
     * byte): the rest of the payload never needs to arrive. */
    n = 0;
    frame(wire, &n, true, 0x1, msg, sizeof msg, false);
    CHECK(expect_refused(&cfg, wire, 15, 1009));
    /* A fragmented message over the limit in total. */
    n = 0;
    frame(wire, &n, false, 0x1, msg, 10, false);
    frame(wire, &n, true, 0x0, msg, 10, false);
    CHECK(expect_refused(&cfg, wire, n, 1009));
}

/* expect_refused, also with the bytes fed one at a time. */
static bool expect_refused_split(const goc_ws_config_t *cfg, const uint8_t *msg, size_t n,
                                 uint16_t code)
{
    static peer p;
    if (!expect_refused(cfg, msg, n, code))
        return false;
    memset(&fr, 0, sizeof fr);
    bool ok = open_peer(&p, *cfg) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = goc_ws_feed(p.ws, msg + i, 1) == 0;
    drain(&p, SIZE_MAX);
    ok = ok && p.nev == 0 && next_frame(&p, &fr) && fr.opcode == 0x8 && close_code(&fr) == code;
    if (!ok)
        printf("# refused byte by byte: want close %u, got nev=%d opcode=%u code=%u\n", code,
               p.nev, fr.opcode, close_code(&fr));
    goc_ws_free(p.ws);
    return ok;
}

/* Every way a client can break the framing gets a close frame with 1002
 * (RFC 6455 7.1.7, 7.4.1), whole or fed byte by byte. */
static void test_protocol_errors_close_1002(void)
{
    goc_ws_config_t cfg = {0};
    static uint8_t big[200];
    size_t n = 0;
    frame(wire, &n, true, 0x1, "plain", 5, true); /* a client must mask */
    CHECK(expect_refused_split(&cfg, wire, n, 1002));
    n = 0;
    frame(wire, &n, true, 0x0, "cont", 4, false); /* continuation of nothing */
    CHECK(expect_refused_split(&cfg, wire, n, 1002));
    for (uint8_t op = 0x3; op <= 0xf; op++) { /* reserved opcodes, data and control */
        if (op == 0x8 || op == 0x9 || op == 0xa)
            continue;
        n = 0;
        frame(wire, &n, true, op, "x", 1, false);
        CHECK_MSG(expect_refused_split(&cfg, wire, n, 1002), "opcode %u", op);
    }
    for (uint8_t rsv = 0x10; rsv <= 0x40; rsv <<= 1) { /* RSV bits, no extension agreed */
        n = 0;
        frame(wire, &n, true, 0x1, "x", 1, false);
        wire[0] |= rsv;
        CHECK_MSG(expect_refused_split(&cfg, wire, n, 1002), "rsv %#x", rsv);
    }
    n = 0; /* a new message before the fragmented one ended */
    frame(wire, &n, false, 0x1, "part", 4, false);
    frame(wire, &n, true, 0x1, "new", 3, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1002));
    /* control frames: over 125 bytes (ping, pong, close), fragmented */
    static const uint8_t controls[] = {0x9, 0xa, 0x8};
    for (size_t i = 0; i < 3; i++) {
        n = 0;
        big[0] = 0x03, big[1] = 0xe8;
        frame(wire, &n, true, controls[i], big, 126, false);
        CHECK_MSG(expect_refused_split(&cfg, wire, n, 1002), "control %u of 126", controls[i]);
        n = 0;
        frame(wire, &n, false, controls[i], big, 2, false);
        CHECK_MSG(expect_refused_split(&cfg, wire, n, 1002), "fragmented %u", controls[i]);
    }
    n = 0; /* a fragmented ping inside a fragmented text */
    frame(wire, &n, false, 0x1, "te", 2, false);
    frame(wire, &n, false, 0x9, "p", 1, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1002));
    n = 0; /* a close with a one-byte payload: half a code */
    frame(wire, &n, true, 0x8, "\x03", 1, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1002));
    /* close codes that may not be sent */
    static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000};
    for (size_t i = 0; i < sizeof bad_codes / sizeof *bad_codes; i++) {
        uint8_t c[2] = {(uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i]};
        n = 0;
        frame(wire, &n, true, 0x8, c, 2, false);
        CHECK_MSG(expect_refused_split(&cfg, wire, n, 1002), "close code %u", bad_codes[i]);
    }
    /* lengths not in their shortest form: 16 bits for 125, 64 bits for
     * 65535; and a 64-bit length with its top bit set */
    static const uint8_t long16[] = {0x81, 0xfe, 0x00, 0x7d, 1, 2, 3, 4};
    CHECK(expect_refused_split(&cfg, long16, sizeof long16, 1002));
    static const uint8_t long64[] = {0x81, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
    CHECK(expect_refused_split(&cfg, long64, sizeof long64, 1002));
    static const uint8_t top64[] = {0x81, 0xff, 0x80, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4};
    CHECK(expect_refused_split(&cfg, top64, sizeof top64, 1002));
    /* a good message first: it is delivered, then the bad header closes */
    static peer p;
    n = 0;
    frame(wire, &n, true, 0x1, "fine", 4, false);
    frame(wire, &n, false, 0x9, "p", 1, false);
    CHECK_EQ_INT(open_peer(&p, cfg), 0);
    CHECK_EQ_INT(goc_ws_feed(p.ws, wire, n), 0);
    CHECK_EQ_INT(p.nev, 1);
    CHECK_EQ_STR(p.texts[0], "fine");
    drain(&p, SIZE_MAX);
    CHECK(next_frame(&p, &fr));
    CHECK_EQ_INT(fr.opcode, 0x8);
    CHECK_EQ_INT(close_code(&fr), 1002);
    CHECK(!goc_ws_want_read(p.ws) && goc_ws_done(p.ws));
    goc_ws_free(p.ws);
}

/* The other fail paths keep their codes fed byte by byte too. */
static void test_fail_codes_split(void)
{
    goc_ws_config_t cfg = {.max_message = 16};
    size_t n = 0;
    frame(wire, &n, true, 0x1, "\xc3\x28", 2, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1007));
    n = 0;
    frame(wire, &n, true, 0x8, "\x03\xe8\xff", 3, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1007));
    n = 0;
    frame(wire, &n, true, 0x1, "0123456789abcdefg", 17, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1009));
    n = 0;
    frame(wire, &n, true, 0x2, "bin", 3, false);
    CHECK(expect_refused_split(&cfg, wire, n, 1003));
}

static void test_server_close_codes(void)
{
    static const uint16_t codes[] = {1001, 1008, 1000};
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
        CHECK_EQ_INT(goc_ws_send_text(P.ws, "queued", 6), 0);
        CHECK_EQ_INT(goc_ws_close(P.ws, codes[i], "bye"), 0);
        CHECK_EQ_INT(goc_ws_close(P.ws, 1000, NULL), -EPIPE);
        CHECK_EQ_INT(goc_ws_send_text(P.ws, "late", 4), -EPIPE);
        CHECK_EQ_INT(goc_ws_ping(P.ws, "", 0), -EPIPE);
        drain(&P, SIZE_MAX);
        CHECK(next_frame(&P, &fr));
        CHECK_EQ_INT(fr.opcode, 0x8); /* control frames go first */
        CHECK_EQ_INT(close_code(&fr), codes[i]);
        CHECK(fr.len == 5 && memcmp(fr.data + 2, "bye", 3) == 0);
        CHECK_EQ_INT(goc_ws_close_code_sent(P.ws), codes[i]);
        CHECK(!goc_ws_done(P.ws)); /* waiting for the peer's close */
        CHECK(goc_ws_want_read(P.ws));
        /* Messages arriving after our close are not delivered. */
        size_t n = 0;
        frame(wire, &n, true, 0x1, "ignored", 7, false);
        frame(wire, &n, true, 0x8, "\x03\xe8", 2, false);
        CHECK_EQ_INT(goc_ws_feed(P.ws, wire, n), 0);
        CHECK_EQ_INT(P.nev, 1);
        CHECK_EQ_INT(P.kinds[0], GOC_WS_EV_CLOSE);
        CHECK_EQ_INT(P.codes[0], 1000);
        drain(&P, SIZE_MAX);
        CHECK_EQ_UINT(P.out_len, 0); /* no second close */
        CHECK(goc_ws_done(P.ws));
        CHECK_EQ_INT(goc_ws_close_code_received(P.ws), 1000);
        goc_ws_free(P.ws);
    }
    CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
    CHECK_EQ_INT(goc_ws_close(P.ws, 1005, NULL), -EINVAL);
    CHECK_EQ_INT(goc_ws_close(P.ws, 1006, NULL), -EINVAL);
    CHECK_EQ_INT(goc_ws_close(P.ws, 999, NULL), -EINVAL);
    CHECK_EQ_INT(goc_ws_close(P.ws, 1000, "\xff"), -EINVAL);
    goc_ws_free(P.ws);
}

static void test_peer_close_echoed(void)
{
    CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
    size_t n = 0;
    frame(wire, &n, true, 0x8, "\x03\xe9going", 7, false); /* 1001 "going" */
    frame(wire, &n, true, 0x1, "after close", 11, false);
    CHECK_EQ_INT(goc_ws_feed(P.ws, wire, n), 0);
    CHECK_EQ_INT(P.nev, 1);
    CHECK_EQ_INT(P.kinds[0], GOC_WS_EV_CLOSE);
    CHECK_EQ_INT(P.codes[0], 1001);
    CHECK_EQ_STR(P.texts[0], "going");
    CHECK(!goc_ws_want_read(P.ws));
    CHECK_EQ_INT(goc_ws_send_text(P.ws, "x", 1), -EPIPE);
    CHECK(!goc_ws_done(P.ws)); /* the answer is not written yet */
    drain(&P, SIZE_MAX);
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_INT(fr.opcode, 0x8);
    CHECK_EQ_INT(close_code(&fr), 1001);
    CHECK(goc_ws_done(P.ws));
    goc_ws_free(P.ws);
    /* A close without a code reports 1005. */
    CHECK_EQ_INT(open_peer(&P, (goc_ws_config_t){0}), 0);
    n = 0;
    frame(wire, &n, true, 0x8, "", 0, false);
    CHECK_EQ_INT(goc_ws_feed(P.ws, wire, n), 0);
    CHECK_EQ_INT(P.codes[0], 1005);
    CHECK_EQ_INT(goc_ws_close_code_received(P.ws), 1005);
    goc_ws_free(P.ws);
}

static void test_queue_bounds(void)
{
    goc_ws_config_t cfg = {.max_queued = 100, .max_queued_msgs = 4, .out_buffer = 16};
    CHECK_EQ_INT(open_peer(&P, cfg), 0);
    static char msg[200];
    memset(msg, 'q', sizeof msg);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, msg, 101), -ENOBUFS);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, msg, 60), 0);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, msg, 41), -ENOBUFS);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, msg, 40), 0);
    /* Draining makes room again; the 16-byte output buffer still yields
     * whole frames over several writes. */
    drain(&P, 7);
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_UINT(fr.len, 60);
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_UINT(fr.len, 40);
    CHECK_EQ_INT(goc_ws_send_text(P.ws, msg, 100), 0);
    goc_ws_free(P.ws);
    /* A peer that pings and never reads is cut off with 1008. */
    CHECK_EQ_INT(open_peer(&P, cfg), 0);
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        frame(wire, &n, true, 0x9, "ping!", 5, false);
    CHECK_EQ_INT(goc_ws_feed(P.ws, wire, n), 0);
    CHECK(P.nev <= 5);
    CHECK(!goc_ws_want_read(P.ws));
    drain(&P, SIZE_MAX);
    CHECK(next_frame(&P, &fr));
    CHECK_EQ_INT(fr.opcode, 0x8);
    CHECK_EQ_INT(close_code(&fr), 1008);
    goc_ws_free(P.ws);
}

static void test_config_errors(void)
{
    goc_ws_t *ws;
    goc_ws_config_t cfg = {0};
    CHECK_EQ_INT(goc_ws_new(&cfg, &ws), -EINVAL); /* no on_event */
    cfg.on_event = on_event;
    cfg.out_buffer = 8;
    CHECK_EQ_INT(goc_ws_new(&cfg, &ws), -EINVAL);
    goc_ws_free(NULL);
}

/* --- UTF-8 -------------------------------------------------------------- */

static bool v(const char *s)
{
    return goc_utf8_valid((const uint8_t *)s, strlen(s));
}

static void test_utf8(void)
{
    CHECK(goc_utf8_valid(NULL, 0));
    CHECK(v("plain ascii, long enough to use the 8-byte path"));
    CHECK(v("\xc2\x80"));             /* U+0080, smallest 2-byte */
    CHECK(v("\xdf\xbf"));             /* U+07FF */
    CHECK(v("\xe0\xa0\x80"));         /* U+0800, smallest 3-byte */
    CHECK(v("\xed\x9f\xbf"));         /* U+D7FF, just below surrogates */
    CHECK(v("\xee\x80\x80"));         /* U+E000, just above */
    CHECK(v("\xef\xbf\xbf"));         /* U+FFFF */
    CHECK(v("\xf0\x90\x80\x80"));     /* U+10000, smallest 4-byte */
    CHECK(v("\xf4\x8f\xbf\xbf"));     /* U+10FFFF, the last */
    CHECK(v("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac"));
    CHECK(!v("\xc0\x80"));            /* overlong NUL */
    CHECK(!v("\xc1\xbf"));            /* overlong */
    CHECK(!v("\xe0\x9f\xbf"));        /* overlong 3-byte */
    CHECK(!v("\xf0\x8f\xbf\xbf"));    /* overlong 4-byte */
    CHECK(!v("\xed\xa0\x80"));        /* U+D800 */
    CHECK(!v("\xed\xbf\xbf"));        /* U+DFFF */
    CHECK(!v("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 surrogate pair */
    CHECK(!v("\xf4\x90\x80\x80"));    /* U+110000 */
    CHECK(!v("\xf5\x80\x80\x80"));
    CHECK(!v("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    CHECK(!v("\xfe"));
    CHECK(!v("\xbf"));                /* lone continuation */
    CHECK(!v("\xc3"));                /* truncated */
    CHECK(!v("\xe2\x82"));            /* truncated */
    CHECK(!v("\xf0\x9f\x98"));        /* truncated */
    CHECK(!v("\xc3\x28"));            /* bad continuation */
    CHECK(!v("\xe2\x28\xa1"));
    CHECK(!v("aaaaaaaaaaaaaaaa\xe2\x82")); /* truncated after the fast path */
    const uint8_t nul[] = {'a', 0, 'b'};
    CHECK(goc_utf8_valid(nul, 3)); /* U+0000 is valid UTF-8 */
}

static const test_case cases[] = {
    TEST_CASE(test_accept_key_rfc),
    TEST_CASE(test_handshake_check),
    TEST_CASE(test_handshake_origin),
    TEST_CASE(test_handshake_response),
    TEST_CASE(test_text_split_everywhere),
    TEST_CASE(test_fragmented_with_ping),
    TEST_CASE(test_ping_pong_and_send),
    TEST_CASE(test_binary_closes_1003),
    TEST_CASE(test_bad_utf8_closes_1007),
    TEST_CASE(test_bad_close_reason_1007),
    TEST_CASE(test_too_big_closes_1009),
    TEST_CASE(test_protocol_errors_close_1002),
    TEST_CASE(test_fail_codes_split),
    TEST_CASE(test_server_close_codes),
    TEST_CASE(test_peer_close_echoed),
    TEST_CASE(test_queue_bounds),
    TEST_CASE(test_config_errors),
    TEST_CASE(test_utf8),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

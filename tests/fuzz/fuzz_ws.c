/* fuzz_ws.c: libFuzzer target for the WebSocket connection engine
 * (proto/ws.h, on wslay), fed as the server feeds it after the upgrade.
 *
 * Input: byte 0 says how to cut the client's bytes into reads (fuzz.h);
 * byte 1 picks the connection's limits (bits 0-1) and seeds what the server
 * does between reads (the rest); the rest is what the client sends.
 *
 * The harness plays the server: each text message is echoed back (a full
 * queue closes with 1008, as the server does with a slow peer), and between
 * reads it sometimes pushes a message, pings, or closes with 1001, and
 * drains the output in pieces of random size (sometimes not at all: a
 * socket that does not take bytes). Everything the engine writes is parsed
 * as a client would and must be a valid server stream: unmasked, no RSV
 * bits, known opcodes, control frames whole and short, minimal length
 * encodings, UTF-8 text, a close code that may be sent and nothing after
 * the close frame; a close frame without a code only as the answer to the
 * peer's own codeless close (every failure names its code, RFC 6455
 * 7.1.7), and once reading is over a close frame has gone out. Events must
 * respect their limits and stop after a close,
 * and a close event carries a UTF-8 reason and the code the engine reports.
 *
 * Invariants: a fresh connection per input, freed before returning; no
 * memory kept across inputs.
 */
#include <errno.h>

#include "fuzz.h"
#include "utf8.h"
#include "ws.h"

static const goc_ws_config_t configs[] = {
    {0},
    {.max_message = 64, .max_queued = 256, .max_queued_msgs = 4, .out_buffer = 16},
    {.max_message = 1, .max_queued = 8, .max_queued_msgs = 1, .out_buffer = 16},
    {.max_message = 4096, .out_buffer = 17},
};

/* The server side of one connection, as the harness sees it. */
typedef struct peer {
    goc_ws_t *ws;        /* the engine */
    size_t max_message;  /* its limit on received messages */
    bool we_closed;      /* goc_ws_close succeeded: no more text or ping events */
    bool got_close;      /* the peer's close event came */
    uint8_t *out;        /* engine output not yet parsed into frames */
    size_t out_len;      /* its length */
    size_t out_cap;      /* its capacity */
    bool close_out;      /* a close frame was parsed from the output */
    uint16_t close_code; /* its code (1005 when it had none) */
    bool in_fragment;    /* a text message sent in fragments is open */
} peer;

static bool code_sendable(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

static void on_event(void *user, const goc_ws_event_t *ev)
{
    peer *p = user;
    FUZZ_CHECK(!p->got_close); /* nothing after the peer's close */
    FUZZ_CHECK(ev->len == 0 || ev->data != NULL);
    switch (ev->kind) {
    case GOC_WS_EV_TEXT: {
        FUZZ_CHECK(!p->we_closed && ev->len <= p->max_message);
        FUZZ_CHECK(goc_utf8_valid(ev->data, ev->len));
        int rc = goc_ws_send_text(p->ws, ev->data, ev->len); /* the reply */
        FUZZ_CHECK(rc == 0 || rc == -ENOBUFS || rc == -EPIPE);
        if (rc == -ENOBUFS) {
            rc = goc_ws_close(p->ws, GOC_WS_POLICY, "too slow");
            FUZZ_CHECK(rc == 0 || rc == -EPIPE);
            p->we_closed = true;
        }
        break;
    }
    case GOC_WS_EV_PING:
        FUZZ_CHECK(!p->we_closed && ev->len <= 125);
        break;
    case GOC_WS_EV_PONG:
        FUZZ_CHECK(ev->len <= 125);
        break;
    case GOC_WS_EV_CLOSE:
        FUZZ_CHECK(ev->len <= 123 && ev->code != 0);
        FUZZ_CHECK(ev->code == GOC_WS_NO_STATUS || code_sendable(ev->code));
        FUZZ_CHECK(goc_ws_close_code_received(p->ws) == ev->code);
        FUZZ_CHECK(ev->len == 0 || goc_utf8_valid(ev->data, ev->len));
        p->got_close = true;
        break;
    default:
        FUZZ_CHECK(!"unknown event");
    }
}

/* Parses the frame at p->out; returns its size, 0 if incomplete. */
static size_t parse_frame(peer *p)
{
    const uint8_t *b = p->out;
    size_t n = p->out_len;
    if (n < 2) return 0;
    FUZZ_CHECK((b[0] & 0x70) == 0 && (b[1] & 0x80) == 0); /* no RSV, unmasked */
    bool fin = b[0] & 0x80;
    unsigned op = b[0] & 0x0f;
    size_t hl = 2, len = b[1] & 0x7f;
    if (len == 126) {
        if (n < 4) return 0;
        len = (size_t)b[2] << 8 | b[3];
        FUZZ_CHECK(len >= 126);
        hl = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        FUZZ_CHECK((b[2] & 0x80) == 0);
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | b[2 + i];
        FUZZ_CHECK(len >= 65536);
        hl = 10;
    }
    if (n - hl < len) return 0;
    const uint8_t *d = b + hl;
    FUZZ_CHECK(!p->close_out); /* nothing after our close frame */
    if (op >= 0x8) {
        FUZZ_CHECK(fin && len <= 125 && (op == 0x8 || op == 0x9 || op == 0xA));
        if (op == 0x8) {
            FUZZ_CHECK(len != 1);
            FUZZ_CHECK(len != 0 || goc_ws_close_code_received(p->ws) == GOC_WS_NO_STATUS);
            p->close_out = true;
            p->close_code = len ? (uint16_t)(d[0] << 8 | d[1]) : GOC_WS_NO_STATUS;
            FUZZ_CHECK(len == 0 || code_sendable(p->close_code));
            FUZZ_CHECK(len <= 2 || goc_utf8_valid(d + 2, len - 2));
        }
    } else {
        FUZZ_CHECK(op == 0x1 || (op == 0x0 && p->in_fragment));
        FUZZ_CHECK(op == 0x0 || !p->in_fragment);
        if (op == 0x1 && fin) FUZZ_CHECK(goc_utf8_valid(d, len));
        p->in_fragment = !fin;
    }
    return hl + len;
}

/* Takes up to `budget` bytes of output (SIZE_MAX: all of it), consuming
 * them in pieces of random size, and parses the frames they complete. */
static void drain(peer *p, fuzz_cut *rnd, size_t budget)
{
    while (budget > 0) {
        const uint8_t *data;
        long n = goc_ws_output(p->ws, &data);
        FUZZ_CHECK(n >= 0);
        if (n == 0) return;
        size_t take = 1 + fuzz_rand(rnd) % (size_t)n;
        if (take > budget) take = budget;
        if (p->out_cap - p->out_len < take) {
            p->out_cap = 2 * (p->out_len + take);
            p->out = realloc(p->out, p->out_cap);
            FUZZ_CHECK(p->out != NULL);
        }
        memcpy(p->out + p->out_len, data, take);
        p->out_len += take;
        goc_ws_consume(p->ws, take);
        budget -= take;
        for (size_t f; (f = parse_frame(p)) > 0;) {
            memmove(p->out, p->out + f, p->out_len - f);
            p->out_len -= f;
        }
        if (p->close_out) FUZZ_CHECK(goc_ws_close_code_sent(p->ws) == p->close_code);
    }
}

/* What the server may do between two reads. */
static void server_acts(peer *p, fuzz_cut *rnd)
{
    uint32_t r = fuzz_rand(rnd);
    int rc = 0;
    if (r % 16 == 0) {
        rc = goc_ws_ping(p->ws, "alive?", 6);
    } else if (r % 16 == 1) {
        rc = goc_ws_send_text(p->ws, "{\"jsonrpc\":\"2.0\",\"method\":\"chat.message\"}", 41);
    } else if (r % 64 == 2) {
        rc = goc_ws_close(p->ws, GOC_WS_GOING_AWAY, "shutdown");
        FUZZ_CHECK(rc == 0 || rc == -EPIPE);
        p->we_closed = true;
    }
    FUZZ_CHECK(rc == 0 || rc == -ENOBUFS || rc == -EPIPE);
    /* A socket that takes nothing, a little, or everything. */
    r = fuzz_rand(rnd) % 4;
    drain(p, rnd, r == 0 ? 0 : r == 1 ? 1 + fuzz_rand(rnd) % 64 : SIZE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    fuzz_cut cut, rnd;
    fuzz_cut_init(&cut, data[0]);
    fuzz_cut_init(&rnd, data[1]);
    goc_ws_config_t cfg = configs[data[1] & 3];
    peer p = {.max_message = cfg.max_message ? cfg.max_message : 1024 * 1024};
    cfg.on_event = on_event;
    cfg.user = &p;
    FUZZ_CHECK(goc_ws_new(&cfg, &p.ws) == 0);
    const uint8_t *in = data + 2;
    size_t len = size - 2;
    for (size_t off = 0; off < len;) {
        size_t n = fuzz_cut_next(&cut, len - off);
        uint8_t *chunk = fuzz_dup(in + off, n);
        bool reading = goc_ws_want_read(p.ws);
        bool closed_before = p.got_close;
        FUZZ_CHECK(goc_ws_feed(p.ws, chunk, n) == 0);
        if (!reading) /* bytes after the end of reading are ignored */
            FUZZ_CHECK(p.got_close == closed_before);
        free(chunk);
        off += n;
        server_acts(&p, &rnd);
    }
    drain(&p, &rnd, SIZE_MAX);
    FUZZ_CHECK(p.out_len == 0 || !p.close_out); /* no partial frame after a close */
    if (goc_ws_close_code_sent(p.ws) != 0) FUZZ_CHECK(p.close_out);
    if (!goc_ws_want_read(p.ws)) FUZZ_CHECK(p.close_out); /* every failure is answered */
    if (goc_ws_done(p.ws)) FUZZ_CHECK(p.close_out && !goc_ws_want_read(p.ws));
    if (p.got_close) FUZZ_CHECK(!goc_ws_want_read(p.ws) && p.close_out && goc_ws_done(p.ws));
    goc_ws_free(p.ws);
    free(p.out);
    return 0;
}

/* framed.c: the framed-TCP transport (PROTOCOL.md, "Framed TCP"): a
 * goroutine per connection reads bytes, decodes frames as they come (split
 * or coalesced), answers each JSON-RPC message through the shared method
 * table in arrival order, and writes the replies of one read in one write.
 * A heartbeat (N = 0) gets no reply; a frame over --max-frame gets one
 * -32005 error frame, and the connection closes.
 *
 * Memory per connection is bounded: the read buffer, the decoder's buffer
 * (at most --max-frame), and the replies to one read's frames.
 */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"

#define READ_BUF 16384

typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

static int out_frame(outbuf *o, const char *payload, size_t len)
{
    size_t need = o->len + FRAME_HEADER_SIZE + len;
    if (need > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d)
            return -ENOMEM;
        o->data = d;
        o->cap = cap;
    }
    frame_header_encode((uint8_t *)o->data + o->len, len);
    memcpy(o->data + o->len + FRAME_HEADER_SIZE, payload, len);
    o->len = need;
    return 0;
}

/* Answers one payload; appends the reply frame (if any) to o. */
static int handle(goc_conn *c, const frame_t *fr, outbuf *o)
{
    jrpc_ctx_t ctx = {.persistent = true, .conn = c};
    char *reply = NULL;
    size_t rlen = 0;
    atomic_fetch_add_explicit(&srv.frames_in, 1, memory_order_relaxed);
    int rc = jrpc_handle(srv.rpc, fr->data, fr->len, &ctx, &reply, &rlen);
    if (rc < 0)
        return rc;
    if (reply) {
        rc = out_frame(o, reply, rlen);
        jrpc_reply_free(reply);
        atomic_fetch_add_explicit(&srv.frames_out, 1, memory_order_relaxed);
    }
    return rc;
}

typedef struct conn_state {
    goc_conn *conn;
    char peer[64];
} conn_state;

static void serve(goc_conn *c, const char *peer)
{
    frame_decoder_t dec;
    frame_decoder_init(&dec, srv.cfg.max_frame);
    outbuf o = {0};
    char *buf = malloc(READ_BUF);
    bool closing = false;
    while (buf && !closing) {
        ssize_t n = goc_conn_read(c, buf, READ_BUF);
        if (n <= 0) {
            if (n == 0 && frame_decoder_pending(&dec))
                log_debug("tcp %s: closed in the middle of a frame", peer);
            else if (n < 0 && n != -ETIMEDOUT && n != -ECANCELED && n != -ECONNRESET)
                log_debug("tcp %s: read: %s", peer, strerror((int)-n));
            break;
        }
        const char *p = buf;
        size_t left = (size_t)n;
        while (left > 0) {
            size_t used;
            frame_t fr;
            int rc = frame_decoder_decode(&dec, p, left, &used, &fr);
            p += used;
            left -= used;
            if (rc == FRAME_PAYLOAD) {
                if (handle(c, &fr, &o) < 0) {
                    closing = true;
                    break;
                }
            } else if (rc == FRAME_NEED_MORE || rc == FRAME_HEARTBEAT) {
                continue;
            } else {
                /* -EMSGSIZE (or out of memory): one error frame, then close */
                size_t elen;
                char *err = jrpc_error_encode(-32005, "frame too large", &elen);
                if (err) {
                    out_frame(&o, err, elen);
                    jrpc_reply_free(err);
                }
                atomic_fetch_add_explicit(&srv.frames_too_large, 1, memory_order_relaxed);
                log_info("tcp %s: frame over --max-frame (%zu bytes): closing", peer,
                         srv.cfg.max_frame);
                closing = true;
                break;
            }
        }
        if (o.len) {
            if (goc_conn_write(c, o.data, o.len) < 0)
                break;
            o.len = 0;
        }
        if (o.cap > 1 << 20) { /* do not keep a big buffer for an idle peer */
            free(o.data);
            o.data = NULL;
            o.cap = 0;
        }
    }
    free(buf);
    free(o.data);
    frame_decoder_free(&dec);
}

static void conn_main(void *arg)
{
    goc_conn *c = *(goc_conn **)arg;
    char peer[64] = "?";
    goc_conn_remote_addr(c, peer, sizeof peer);
    conn_entry e = {.conn = c, .transport = "tcp"};
    conns_add(&e);
    atomic_fetch_add(&srv.conns_open[TRANSPORT_TCP], 1);
    atomic_fetch_add(&srv.conns_total[TRANSPORT_TCP], 1);
    log_debug("tcp %s: connected", peer);
    if (!atomic_load(&srv.stopping))
        serve(c, peer);
    conns_remove(&e);
    goc_conn_close(c);
    atomic_fetch_sub(&srv.conns_open[TRANSPORT_TCP], 1);
    log_debug("tcp %s: closed", peer);
    goc_waitgroup_done(&srv.wg);
}

void framed_accept_loop(void *arg)
{
    goc_listener *l = *(goc_listener **)arg;
    for (;;) {
        goc_conn *c;
        int rc = goc_accept(l, &c);
        if (atomic_load(&srv.stopping)) {
            /* shutting down: main dialed us awake */
            if (rc == 0)
                goc_conn_close(c);
            break;
        }
        if (rc < 0) {
            log_warn("tcp accept: %s", strerror(-rc));
            goc_sleep(10 * 1000000); /* out of descriptors: back off */
            continue;
        }
        goc_waitgroup_add(&srv.wg, 1);
        if (goc_go(conn_main, &c, sizeof c) < 0) {
            goc_waitgroup_done(&srv.wg);
            goc_conn_close(c);
        }
    }
    goc_listener_close(l); /* no one else uses l */
    goc_waitgroup_done(&srv.wg);
}

/* framed_conn.c: the framed-TCP transport (doc/protocol.md, "Framed TCP"): a
 * goroutine per connection reads bytes, decodes frames as they come (split
 * or coalesced), answers each JSON-RPC message through the shared method
 * table in arrival order, and writes the replies of one read in one write.
 * A heartbeat (N = 0) gets no reply; a frame over --max-frame gets one
 * -32005 error frame, and the connection closes.
 *
 * Chat pushes (notifications) go through a bounded outbox channel
 * (--outbox) to a writer goroutine; a member whose outbox is full is too
 * slow and is disconnected. Replies and pushes share a write lock, so
 * frames never interleave.
 *
 * A frame, once begun, must be complete within --read-timeout (a peer
 * that stalls mid-frame is closed); an idle connection between frames may
 * stay as long as it likes (TCP keep-alive finds vanished peers). Once the
 * reader is done the socket gets a write deadline, so a peer that stops
 * reading cannot keep the connection alive.
 *
 * With --auth-secret a connection logs in with auth.login (auth.h) and is
 * closed when its token expires: one -32007 error frame with id null, then
 * the close.
 *
 * Memory per connection is bounded: the read buffer, the decoder's buffer
 * (at most --max-frame), the replies to one read's frames, the outbox. An
 * idle connection holds none of the buffers: once a read finds nothing
 * there, the read buffer goes back and the goroutine waits for
 * readability before taking one again.
 */
#include "server.h"

#include <goc/pprof.h>

#include <errno.h>
#include <string.h>

#include "auth.h"
#include "chat.h"
#include "frame.h"
#include "log.h"
#include "pconn.h"

#define READ_BUF 16384

typedef struct push {
    uint8_t *frame;
    size_t len;
} push;

typedef struct fconn {
    const stream *s;    /* the connection (TLS or not) */
    pconn pc;           /* kicks, failures and the reader's deadlines */
    goc_mutex wmu;      /* one writer at a time */
    goc_mutex omu;      /* guards outbox, done, closed */
    goc_chan *outbox;   /* push, bounded by --outbox; made on the first push */
    bool closed;        /* no more pushes: the connection is going away */
    goc_chan *done;     /* closed by the push writer when it exits */
    chat_member *member;
    const char *peer;   /* the remote address, for logs */
} fconn;

static int write_locked(fconn *f, const void *data, size_t len)
{
    goc_mutex_lock(&f->wmu);
    ssize_t rc = stream_write(f->s, data, len);
    goc_mutex_unlock(&f->wmu);
    if (rc < 0)
        pconn_fail(&f->pc); /* wakes the reader */
    return rc < 0 ? (int)rc : 0;
}

/* Writes the outbox's frames; those queued together leave in one write
 * (up to PUSH_BATCH bytes). */
#define PUSH_BATCH 65536

static void push_writer(void *arg)
{
    fconn *f = *(fconn **)arg;
    buf_t o = {0};
    push p;
    bool open = goc_chan_recv(f->outbox, &p);
    while (open) {
        if (atomic_load(&f->pc.dead) || (o.len == 0 && p.len >= PUSH_BATCH)) {
            if (!atomic_load(&f->pc.dead))
                write_locked(f, p.frame, p.len); /* big: as it is */
        } else if (buf_append(&o, p.frame, p.len) != 0) {
            buf_reset(&o); /* out of memory: this one is lost */
        }
        goc_free(p.frame);
        bool more = o.len < PUSH_BATCH && goc_chan_try_recv(f->outbox, &p, &open);
        if (!more) {
            if (o.len)
                write_locked(f, o.data, o.len);
            o.len = 0;
            if (open)
                open = goc_chan_recv(f->outbox, &p);
        }
    }
    if (o.len && !atomic_load(&f->pc.dead))
        write_locked(f, o.data, o.len);
    buf_free(&o);
    goc_chan_close(f->done);
}

/* The outbox and its writer exist only once a push comes (a member joined
 * a room): an idle connection costs neither the buffer nor the goroutine. */
static bool sink_push(void *conn, const char *text, size_t len)
{
    fconn *f = conn;
    goc_mutex_lock(&f->omu);
    if (!f->outbox && !f->closed) {
        goc_chan *outbox = goc_chan_make(sizeof(push), srv.cfg.outbox);
        f->done = goc_chan_make(0, 0);
        f->outbox = outbox;
        if (goc_go(push_writer, &f, sizeof f) < 0) {
            /* no writer, no outbox: this push fails, the chat kicks us */
            log_warn("tcp: cannot start a connection's writer goroutine");
            goc_chan_free(f->done);
            goc_chan_free(outbox);
            f->outbox = f->done = NULL;
            f->closed = true;
        }
    }
    goc_chan *ob = f->outbox;
    goc_mutex_unlock(&f->omu);
    if (!ob)
        return false;
    push p = {goc_malloc(FRAME_HEADER_SIZE + len), FRAME_HEADER_SIZE + len};
    if (!p.frame)
        return false;
    frame_header_encode(p.frame, len);
    memcpy(p.frame + FRAME_HEADER_SIZE, text, len);
    if (goc_chan_try_send(ob, &p))
        return true;
    goc_free(p.frame);
    return false;
}

static void sink_kick(void *conn)
{
    pconn_kick(&((fconn *)conn)->pc);
}

/* Answers one payload: the reply (if any) is written straight into o as a
 * frame, its header filled in once the reply's length is known. 0 or
 * -ENOMEM. */
static int handle(fconn *f, const frame_t *fr, buf_t *o)
{
    jrpc_ctx_t ctx = {.persistent = true,
                      .conn = f,
                      .data = f->member,
                      .transport = "tcp",
                      .peer = f->peer,
                      .auth = &f->pc.auth};
    size_t start = o->len;
    atomic_fetch_add_explicit(&srv.frames_in, 1, memory_order_relaxed);
    if (buf_append(o, "\0\0\0\0", FRAME_HEADER_SIZE))
        return o->err;
    int rc = jrpc_handle_buf(srv.rpc, fr->data, fr->len, &ctx, o);
    if (rc <= 0) { /* nothing to send (a notification), or out of memory */
        buf_truncate(o, start);
        return rc;
    }
    frame_header_encode((uint8_t *)o->data + start, o->len - start - FRAME_HEADER_SIZE);
    atomic_fetch_add_explicit(&srv.frames_out, 1, memory_order_relaxed);
    return 0;
}

/* Appends one error frame with id null to o (nothing when memory runs
 * out). */
static void error_frame(buf_t *o, int code, const char *message)
{
    size_t start = o->len;
    buf_append(o, "\0\0\0\0", FRAME_HEADER_SIZE);
    jrpc_error_write(o, code, message);
    if (o->err)
        buf_truncate(o, start);
    else
        frame_header_encode((uint8_t *)o->data + start, o->len - start - FRAME_HEADER_SIZE);
}

/* The token expired: one -32007 error frame with id null. */
static void expired(fconn *f, const char *peer)
{
    buf_t o = {0};
    error_frame(&o, JRPC_UNAUTHORIZED, "token expired");
    if (o.len)
        write_locked(f, o.data, o.len);
    buf_free(&o);
    log_event(LOG_INFO, "tcp_token_expired", "peer", peer, (const char *)NULL);
}

static void serve(fconn *f, const char *peer)
{
    frame_decoder_t dec;
    frame_decoder_init(&dec, srv.cfg.max_frame);
    buf_t o = {0};
    char *buf = NULL; /* held while frames are coming in */
    bool closing = false;
    int64_t frame_deadline = 0; /* for the frame begun, 0: between frames */
    int64_t expires = 0;        /* the token's expiry the read deadline knows */
    pconn_read_deadline(&f->pc, 0); /* a shutdown may have begun already */
    while (!closing) {
        ssize_t n = buf ? stream_read_nowait(f->s, buf, READ_BUF) : -EAGAIN;
        if (n == -EAGAIN) { /* idle: wait without buffers or deep stack pages */
            goc_free(buf);
            buf = NULL;
            if (!frame_decoder_pending(&dec))
                buf_free(&o);
            n = stream_wait_read(f->s);
            if (n == 0 && !(buf = goc_malloc(READ_BUF)))
                n = -ENOMEM;
            if (n == 0)
                n = stream_read(f->s, buf, READ_BUF);
        }
        if (n <= 0) {
            if (n == -ETIMEDOUT && auth_expired(&f->pc.auth) && !pconn_over(&f->pc) &&
                !atomic_load(&srv.stopping))
                expired(f, peer);
            else if (atomic_load(&f->pc.slow))
                log_info("tcp %s: too slow to take its messages: closing", peer);
            else if (n == -ETIMEDOUT && frame_deadline && !atomic_load(&srv.stopping))
                log_info("tcp %s: frame not complete within --read-timeout: closing", peer);
            else if (n == 0 && frame_decoder_pending(&dec))
                log_debug("tcp %s: closed in the middle of a frame", peer);
            else if (n < 0 && n != -ETIMEDOUT && n != -ECANCELED && n != -ECONNRESET)
                log_debug("tcp %s: read: %s", peer, strerror((int)-n));
            break;
        }
        const char *p = buf;
        size_t left = (size_t)n;
        bool completed = false; /* a frame ended in this read */
        while (left > 0) {
            size_t used;
            frame_t fr;
            int rc = frame_decoder_decode(&dec, p, left, &used, &fr);
            p += used;
            left -= used;
            completed |= rc == FRAME_PAYLOAD || rc == FRAME_HEARTBEAT;
            if (rc == FRAME_PAYLOAD) {
                if (handle(f, &fr, &o) < 0) {
                    closing = true;
                    break;
                }
            } else if (rc == FRAME_NEED_MORE || rc == FRAME_HEARTBEAT) {
                continue;
            } else {
                /* -EMSGSIZE (or out of memory): one error frame, then close */
                bool text = frame_decoder_saw_text(&dec);
                error_frame(&o, JRPC_TOO_LARGE,
                            text ? "not a frame: each message must follow its length as 4 "
                                   "bytes, big-endian (this one starts with JSON text)"
                                 : "frame too large");
                atomic_fetch_add_explicit(&srv.frames_too_large, 1, memory_order_relaxed);
                if (text)
                    log_info("tcp %s: JSON text without a length prefix: closing", peer);
                else
                    log_info("tcp %s: frame over --max-frame (%lld bytes): closing", peer,
                             (long long)srv.cfg.max_frame);
                closing = true;
                break;
            }
        }
        if (o.len) {
            if (write_locked(f, o.data, o.len) < 0)
                break;
            buf_reset(&o);
        }
        /* The replies are written: the notifications a chat.join held
         * back may follow them now (its reply comes first). */
        chat_member_flush(f->member);
        /* Each frame gets --read-timeout from the read that began it; a
         * login (or a new one) moves the token's expiry. */
        if (frame_decoder_pending(&dec) && (!frame_deadline || completed)) {
            frame_deadline = goc_nanotime() + srv.cfg.read_timeout_ms * GOC_MILLISECOND;
            pconn_read_deadline(&f->pc, frame_deadline);
        } else if (!frame_decoder_pending(&dec) && frame_deadline) {
            frame_deadline = 0;
            pconn_read_deadline(&f->pc, 0);
        } else if (f->pc.auth.expires != expires) {
            pconn_read_deadline(&f->pc, frame_deadline);
        }
        expires = f->pc.auth.expires;
        if (o.cap > 1 << 20) /* do not keep a big buffer after a burst */
            buf_free(&o);
    }
    goc_free(buf);
    buf_free(&o);
    frame_decoder_free(&dec);
}

void framed_conn_serve(const stream *s, const char *peer)
{
    goc_labels_set("transport", "tcp"); /* profiles (pprof.c) */
    goc_conn *c = s->conn;
    atomic_fetch_add(&srv.conns_open[TRANSPORT_TCP], 1);
    atomic_fetch_add(&srv.conns_total[TRANSPORT_TCP], 1);
    fconn f = {.s = s, .pc = {.conn = c}, .peer = peer};
    chat_sink sink = {sink_push, sink_kick, &f};
    f.member = chat_member_new(&sink);
    serve(&f, peer);
    /* No push can arrive once the member is gone: then stop the writer,
     * giving it PCONN_CLOSE_TIMEOUT to flush. */
    chat_member_gone(f.member);
    goc_conn_set_write_deadline(c, goc_nanotime() + PCONN_CLOSE_TIMEOUT);
    goc_mutex_lock(&f.omu);
    f.closed = true;
    goc_mutex_unlock(&f.omu);
    if (f.outbox) {
        goc_chan_close(f.outbox);
        goc_chan_recv(f.done, NULL);
        goc_chan_free(f.outbox);
        goc_chan_free(f.done);
    }
    auth_session_free(&f.pc.auth);
    atomic_fetch_sub(&srv.conns_open[TRANSPORT_TCP], 1);
}

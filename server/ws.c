/* ws.c: the WebSocket transport (PROTOCOL.md, "WebSocket"), after the
 * HTTP upgrade: JSON-RPC over text messages, server pushes, pings to idle
 * peers, and the close codes of the protocol.
 *
 * Two goroutines per connection: the reader (the connection's goroutine)
 * feeds received bytes to the protocol engine (proto/ws.h) and answers the
 * JSON-RPC messages; the writer drains the engine's output to the socket
 * whenever it is told there is some (a one-slot channel). The engine is
 * guarded by a mutex since both, and the chat's pushes, use it. Outgoing
 * messages are bounded (--outbox messages, 4 x --max-frame bytes): a peer
 * too slow to take them is closed with 1008.
 *
 * Invariants: the writer exits only after `wake` is closed and the output
 * is drained (or the socket failed); the reader closes `wake` and waits for
 * the writer before freeing anything. Once the reader is closing (or done)
 * the socket has a write deadline (CLOSE_TIMEOUT), so a peer that stops
 * reading cannot keep the writer, and the connection, alive.
 */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "log.h"
#include "ws.h"

/* Read and write chunks. Small, like gorilla's 4 KiB defaults: an idle
 * connection's memory is mostly its buffers (larger messages are gathered
 * by the protocol engine anyway). */
#define READ_BUF 4096
#define PING_INTERVAL (30 * 1000000000LL)
#define CLOSE_TIMEOUT (2 * 1000000000LL)

typedef struct text {
    struct text *next;
    size_t len;
    char data[];
} text;

struct wsconn {
    const stream *s;    /* the connection (TLS or not) */
    goc_conn *conn;     /* s->conn: deadlines */
    goc_ws_t *ws;       /* guarded by mu */
    goc_mutex mu;
    goc_chan *wake;     /* one slot: output is waiting; closed: finish */
    goc_chan *done;     /* closed by the writer when it exits */
    text *inbox, **inbox_tail; /* messages received during a feed (reader only) */
    bool awaiting_pong; /* reader only */
    _Atomic bool slow;  /* a push found the outbox full */
    _Atomic bool dead;  /* the socket failed */
    const char *peer;
    chat_member *member; /* the chat's member for this connection */
};

static void on_event(void *user, const goc_ws_event_t *ev)
{
    wsconn *w = user;
    if (ev->kind == GOC_WS_EV_TEXT) {
        text *t = malloc(sizeof *t + ev->len + 1);
        if (!t)
            return;
        t->next = NULL;
        t->len = ev->len;
        memcpy(t->data, ev->data, ev->len);
        t->data[ev->len] = 0;
        *w->inbox_tail = t;
        w->inbox_tail = &t->next;
    } else if (ev->kind == GOC_WS_EV_PONG) {
        w->awaiting_pong = false;
    }
}

/* The reader's ping deadline, which must not undo a wake-up: a kicked or
 * failed connection keeps its immediate deadline, shutdown's applies. */
static void ping_deadline(wsconn *w)
{
    conn_read_deadline(w->conn, goc_nanotime() + PING_INTERVAL);
    if (atomic_load(&w->slow) || atomic_load(&w->dead))
        goc_conn_set_read_deadline(w->conn, 1);
}

static void wake_writer(wsconn *w)
{
    char one = 1;
    goc_chan_try_send(w->wake, &one);
}

/* The only caller of goc_ws_output/consume: it writes the engine's output
 * buffer straight to the socket, without the lock (see proto/ws.h), so
 * pushes and the reader go on while a write blocks. */
static void writer(void *arg)
{
    wsconn *w = *(wsconn **)arg;
    for (;;) {
        char x;
        bool ok = goc_chan_recv(w->wake, &x);
        while (!atomic_load(&w->dead)) {
            const uint8_t *data;
            goc_mutex_lock(&w->mu);
            long n = goc_ws_output(w->ws, &data);
            goc_mutex_unlock(&w->mu);
            if (n <= 0)
                break;
            if (stream_write(w->s, data, (size_t)n) < 0) {
                atomic_store(&w->dead, true);
                goc_conn_set_read_deadline(w->conn, 1); /* wake the reader */
                break;
            }
            goc_mutex_lock(&w->mu);
            goc_ws_consume(w->ws, (size_t)n);
            goc_mutex_unlock(&w->mu);
        }
        if (!ok)
            break;
    }
    goc_chan_close(w->done);
}

/* Sends text from anywhere (replies, pushes). false: the queue is full. */
bool ws_send(wsconn *w, const char *msg, size_t len)
{
    goc_mutex_lock(&w->mu);
    int rc = goc_ws_send_text(w->ws, msg, len);
    goc_mutex_unlock(&w->mu);
    if (rc == -ENOBUFS)
        return false;
    wake_writer(w);
    return rc == 0 || rc == -EPIPE;
}

/* Marks w too slow; its reader closes it with 1008. Never blocks. */
void ws_kick(wsconn *w)
{
    atomic_store(&w->slow, true);
    goc_conn_set_read_deadline(w->conn, 1);
}

static bool ws_push(void *conn, const char *msg, size_t len)
{
    return ws_send(conn, msg, len); /* the engine queues its own copy */
}

static void ws_kick_cb(void *conn)
{
    ws_kick(conn);
}

static void ws_close(wsconn *w, uint16_t code, const char *reason)
{
    goc_mutex_lock(&w->mu);
    goc_ws_close(w->ws, code, reason);
    goc_mutex_unlock(&w->mu);
    wake_writer(w);
}

/* Answers the messages collected by the last feed, in order. */
static void answer(wsconn *w)
{
    text *t = w->inbox;
    w->inbox = NULL;
    w->inbox_tail = &w->inbox;
    while (t) {
        text *next = t->next;
        jrpc_ctx_t ctx = {.persistent = true, .conn = w, .data = w->member};
        char *reply = NULL;
        size_t rlen = 0;
        if (jrpc_handle(srv.rpc, t->data, t->len, &ctx, &reply, &rlen) >= 0 && reply) {
            if (!ws_send(w, reply, rlen))
                ws_kick(w);
            jrpc_reply_free(reply);
        }
        free(t);
        t = next;
    }
}

void ws_serve(const stream *s, const char *peer, const char *early, size_t nearly)
{
    goc_conn *c = s->conn;
    wsconn w = {.s = s, .conn = c, .peer = peer};
    w.inbox_tail = &w.inbox;
    goc_ws_config_t cfg = {
        .max_message = srv.cfg.max_frame,
        .max_queued = 4 * srv.cfg.max_frame,
        .max_queued_msgs = (size_t)srv.cfg.outbox,
        .out_buffer = READ_BUF,
        .on_event = on_event,
        .user = &w,
    };
    if (goc_ws_new(&cfg, &w.ws) != 0)
        return;
    atomic_fetch_add(&srv.conns_open[TRANSPORT_WS], 1);
    atomic_fetch_add(&srv.conns_total[TRANSPORT_WS], 1);
    w.wake = goc_chan_make(1, 1);
    w.done = goc_chan_make(0, 0);
    chat_sink sink = {ws_push, ws_kick_cb, &w};
    w.member = chat_member_new(&sink);
    wsconn *wp = &w;
    goc_go(writer, &wp, sizeof wp);
    log_debug("ws %s: open", peer);

    char *buf = malloc(READ_BUF);
    if (nearly) {
        goc_mutex_lock(&w.mu);
        goc_ws_feed(w.ws, early, nearly);
        goc_mutex_unlock(&w.mu);
        answer(&w);
        wake_writer(&w);
    }
    bool closing = false;
    int64_t close_deadline = 0;
    ping_deadline(&w);
    while (buf) {
        goc_mutex_lock(&w.mu);
        bool done = goc_ws_done(w.ws), want = goc_ws_want_read(w.ws);
        goc_mutex_unlock(&w.mu);
        if (done || atomic_load(&w.dead) || (closing && goc_nanotime() > close_deadline))
            break;
        if (!closing && (atomic_load(&w.slow) || atomic_load(&srv.stopping))) {
            bool slow = atomic_load(&w.slow);
            ws_close(&w, slow ? GOC_WS_POLICY : GOC_WS_GOING_AWAY,
                     slow ? "too slow" : "server shutting down");
            closing = true;
            close_deadline = goc_nanotime() + CLOSE_TIMEOUT;
            goc_conn_set_read_deadline(c, close_deadline);
            /* a peer that does not read must not hold the writer forever */
            goc_conn_set_write_deadline(c, close_deadline);
            continue;
        }
        if (!want) {
            /* our close is queued; give the writer time to send it */
            goc_sleep(1000000);
            continue;
        }
        ssize_t n = stream_read(s, buf, READ_BUF);
        if (n == -ETIMEDOUT) {
            if (closing || atomic_load(&w.slow) || atomic_load(&srv.stopping))
                continue; /* handled at the top of the loop */
            if (w.awaiting_pong) {
                log_debug("ws %s: no pong: closing", peer);
                break;
            }
            goc_mutex_lock(&w.mu);
            goc_ws_ping(w.ws, "goc", 3);
            goc_mutex_unlock(&w.mu);
            wake_writer(&w);
            w.awaiting_pong = true;
            ping_deadline(&w);
            continue;
        }
        if (n <= 0)
            break;
        w.awaiting_pong = false;
        if (!closing)
            ping_deadline(&w);
        goc_mutex_lock(&w.mu);
        int rc = goc_ws_feed(w.ws, buf, (size_t)n);
        goc_mutex_unlock(&w.mu);
        if (rc < 0)
            break;
        answer(&w);
        wake_writer(&w);
    }
    free(buf);
    chat_member_gone(w.member);
    if (!closing) /* bound the writer's last flush (the peer may not read) */
        goc_conn_set_write_deadline(c, goc_nanotime() + CLOSE_TIMEOUT);
    goc_chan_close(w.wake);
    goc_chan_recv(w.done, NULL);
    for (text *t = w.inbox, *next; t; t = next) { /* unanswered: dropped */
        next = t->next;
        free(t);
    }
    goc_chan_free(w.wake);
    goc_chan_free(w.done);
    goc_ws_free(w.ws);
    atomic_fetch_sub(&srv.conns_open[TRANSPORT_WS], 1);
    log_debug("ws %s: closed", peer);
}

/* ws_conn.c: the WebSocket transport (doc/protocol.md, "WebSocket"), after the
 * HTTP upgrade: JSON-RPC over text messages, server pushes, pings to idle
 * peers, and the close codes of the protocol.
 *
 * The reader (the connection's goroutine) feeds received bytes to the
 * protocol engine (proto/ws.h) and answers the JSON-RPC messages; a writer
 * goroutine moves outgoing messages into the engine and drains its output
 * to the socket. The engine is guarded by a mutex (the reader feeds it and
 * queues pings and closes). Replies and the chat's pushes do not take that
 * mutex: they go on a lock-free list the writer empties, so a room
 * broadcasting to a thousand members never waits for a member's writer.
 * Outgoing messages are bounded (--outbox messages, counting the list and
 * the engine's queue; 4 x --max-frame bytes): a peer too slow to take them
 * is closed with 1008.
 *
 * With --auth-secret the connection's identity comes from the upgrade
 * request's token (auth.h); when the token expires (auth.login can extend
 * it) the connection is closed with 1008. Every way the server ends a
 * connection it can still write to sends a close frame with a code: 1008
 * (too slow, token expired, no pong), 1001 (shutting down), 1011 (out of
 * memory), and the engine's own for what the peer broke (proto/ws.h).
 *
 * An idle connection costs little: the writer exists only while there is
 * output (started by whoever queues some, gone once it is written), the
 * read buffer only while bytes are arriving (the reader waits for
 * readability first), and the engine's output buffer only while it holds
 * output.
 *
 * Invariants: whoever queues output (on the list, or in the engine under
 * mu) then calls wake_writer, which starts a writer unless `writing` is
 * set; a writer clears `writing` only with mu held, the list empty and no
 * output left, and looks at the list again after clearing it, so queued
 * output always has a writer coming. `finished` (set under mu once the
 * reader is done) stops new writers; the reader waits for the last one
 * and frees what is still listed. Once the reader is closing (or done)
 * the socket has a write deadline (PCONN_CLOSE_TIMEOUT), so a peer that stops
 * reading cannot keep the writer, and the connection, alive.
 */
#include "server.h"

#include <goc/pprof.h>

#include <errno.h>
#include <string.h>

#include "auth.h"
#include "chat.h"
#include "log.h"
#include "pconn.h"
#include "ws.h"

/* Read and write chunks. Small, like gorilla's 4 KiB defaults: an idle
 * connection's memory is mostly its buffers (larger messages are gathered
 * by the protocol engine anyway). */
#define READ_BUF 4096
#define PING_INTERVAL (30 * GOC_SECOND)

/* A received message (the inbox), or an outgoing one (the list). */
typedef struct text {
    struct text *next;
    size_t len;
    char data[];
} text;

/* Frees a list of texts (goc_malloc'd, as all are). */
static void texts_free(text *t)
{
    for (text *next; t; t = next) {
        next = t->next;
        goc_free(t);
    }
}

typedef struct ws_conn {
    const stream *s;    /* the connection (TLS or not) */
    pconn pc;           /* kicks, failures and the reader's deadlines */
    goc_ws_t *ws;       /* guarded by mu */
    goc_mutex mu;
    _Atomic(text *) outq;     /* outgoing, not yet in the engine: newest first */
    _Atomic int64_t nqueued;  /* messages on outq */
    _Atomic int64_t nengine;  /* messages in the engine, as the writer last saw */
    _Atomic bool writing;     /* a writer goroutine runs (cleared under mu) */
    bool finished;      /* the reader is done: no new writer (under mu) */
    goc_waitgroup writers; /* the running writer, if any */
    text *inbox, **inbox_tail; /* messages received during a feed (reader only) */
    bool awaiting_pong; /* reader only */
    const char *peer;
    chat_member *member; /* the chat's member for this connection */
    uint16_t close_code;  /* the close frame's code, 0: none yet (reader only) */
    const char *close_by; /* who sent it first: "peer" or "server" (reader only) */
} ws_conn;

static void on_event(void *user, const goc_ws_event_t *ev)
{
    ws_conn *w = user;
    if (ev->kind == GOC_WS_EV_TEXT) {
        text *t = goc_malloc(sizeof *t + ev->len + 1);
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
    } else if (ev->kind == GOC_WS_EV_CLOSE) {
        w->close_code = ev->code;
        w->close_by = "peer";
    }
}

/* The reader's ping deadline. */
static void ping_deadline(ws_conn *w)
{
    pconn_read_deadline(&w->pc, goc_nanotime() + PING_INTERVAL);
}

static void writer(void *arg);

/* After queueing output: starts a writer unless one runs (or the reader is
 * done, or the socket failed). Lock-free when a writer runs. */
static void wake_writer(ws_conn *w)
{
    if (atomic_load(&w->writing))
        return;
    goc_mutex_lock(&w->mu);
    bool start = !atomic_load(&w->writing) && !w->finished && !atomic_load(&w->pc.dead);
    if (start) {
        atomic_store(&w->writing, true);
        goc_waitgroup_add(&w->writers, 1);
    }
    goc_mutex_unlock(&w->mu);
    if (start && goc_go(writer, &w, sizeof w) < 0) {
        goc_mutex_lock(&w->mu);
        atomic_store(&w->writing, false);
        goc_mutex_unlock(&w->mu);
        goc_waitgroup_done(&w->writers);
    }
}

/* Moves the listed messages into the engine, oldest first (under mu). A
 * message the engine refuses (its byte limit) marks the peer too slow. */
static void move_into_engine(ws_conn *w, text *newest_first)
{
    text *oldest = NULL;
    int64_t n = 0;
    while (newest_first) { /* reverse */
        text *t = newest_first;
        newest_first = t->next;
        t->next = oldest;
        oldest = t;
        n++;
    }
    atomic_fetch_sub(&w->nqueued, n);
    for (text *t = oldest, *next; t; t = next) {
        next = t->next;
        if (goc_ws_send_text(w->ws, t->data, t->len) == -ENOBUFS)
            pconn_kick(&w->pc);
        goc_free(t);
    }
}

/* Moves queued messages into the engine and writes its output until there
 * is none, then exits. The only caller of goc_ws_output/consume: it writes
 * the engine's buffer straight to the socket without the lock (see
 * proto/ws.h), so the reader goes on while a write blocks. */
static void writer(void *arg)
{
    ws_conn *w = *(ws_conn **)arg;
    goc_mutex_lock(&w->mu);
    while (!atomic_load(&w->pc.dead)) {
        text *list = atomic_exchange(&w->outq, NULL);
        if (list)
            move_into_engine(w, list);
        const uint8_t *data;
        long n = goc_ws_output(w->ws, &data);
        atomic_store(&w->nengine, (int64_t)goc_ws_queued_msgs(w->ws));
        if (n > 0) {
            goc_mutex_unlock(&w->mu);
            ssize_t rc = stream_write(w->s, data, (size_t)n);
            goc_mutex_lock(&w->mu);
            if (rc < 0) {
                pconn_fail(&w->pc); /* wakes the reader */
                break;
            }
            goc_ws_consume(w->ws, (size_t)n);
            continue;
        }
        /* Nothing left: stop, unless something was listed meanwhile and no
         * other writer has been started for it. */
        atomic_store(&w->writing, false);
        if (!atomic_load(&w->outq) || atomic_exchange(&w->writing, true))
            break;
    }
    if (atomic_load(&w->pc.dead))
        atomic_store(&w->writing, false);
    goc_mutex_unlock(&w->mu);
    goc_waitgroup_done(&w->writers);
}

/* Queues text from anywhere (replies, pushes) without blocking or taking
 * the engine's lock. false: the outbox is full (the peer is too slow). */
static bool ws_conn_send(ws_conn *w, const char *msg, size_t len)
{
    if (atomic_load(&w->pc.dead))
        return true; /* dropped, as on any closed connection */
    if (atomic_fetch_add(&w->nqueued, 1) + atomic_load(&w->nengine) >= srv.cfg.outbox) {
        atomic_fetch_sub(&w->nqueued, 1);
        return false;
    }
    text *t = goc_malloc(sizeof *t + len);
    if (!t) {
        atomic_fetch_sub(&w->nqueued, 1);
        return false;
    }
    t->len = len;
    memcpy(t->data, msg, len);
    t->next = atomic_load(&w->outq);
    while (!atomic_compare_exchange_weak(&w->outq, &t->next, t))
        ;
    wake_writer(w);
    return true;
}

/* The chat's sink: pushes, and kicks (the reader then closes with 1008). */
static bool sink_push(void *conn, const char *msg, size_t len)
{
    return ws_conn_send(conn, msg, len); /* the engine queues its own copy */
}

static void sink_kick(void *conn)
{
    pconn_kick(&((ws_conn *)conn)->pc);
}

static void ws_close(ws_conn *w, uint16_t code, const char *reason)
{
    if (!w->close_code) {
        w->close_code = code;
        w->close_by = "server";
    }
    goc_mutex_lock(&w->mu);
    goc_ws_close(w->ws, code, reason);
    goc_mutex_unlock(&w->mu);
    wake_writer(w);
}

/* Answers the messages collected by the last feed, in order; the replies
 * are written into one buffer, reused from message to message. */
static void answer(ws_conn *w)
{
    text *t = w->inbox;
    buf_t reply = {0};
    w->inbox = NULL;
    w->inbox_tail = &w->inbox;
    while (t) {
        text *next = t->next;
        jrpc_ctx_t ctx = {.persistent = true,
                          .conn = w,
                          .data = w->member,
                          .transport = "ws",
                          .peer = w->peer,
                          .auth = &w->pc.auth};
        if (jrpc_handle_buf(srv.rpc, t->data, t->len, &ctx, &reply) > 0 &&
            !ws_conn_send(w, reply.data, reply.len))
            pconn_kick(&w->pc);
        buf_reset(&reply);
        /* The reply is queued: the notifications a chat.join held back
         * may follow it now (its reply comes first). */
        chat_member_flush(w->member);
        goc_free(t);
        t = next;
    }
    buf_free(&reply);
}

/* Starts closing with code: the close frame is queued, and the reader
 * gives the peer PCONN_CLOSE_TIMEOUT to answer it (reading and writing). */
static void begin_close(ws_conn *w, uint16_t code, const char *reason, int64_t *deadline)
{
    ws_close(w, code, reason);
    *deadline = goc_nanotime() + PCONN_CLOSE_TIMEOUT;
    goc_conn_set_read_deadline(w->pc.conn, *deadline);
    /* a peer that does not read must not hold the writer forever */
    goc_conn_set_write_deadline(w->pc.conn, *deadline);
}

void ws_conn_serve(const stream *s, const char *peer, const char *early, size_t nearly,
                   auth_session *as)
{
    goc_labels_set("transport", "ws"); /* profiles (pprof.c) */
    goc_conn *c = s->conn;
    ws_conn w = {.s = s, .pc = {.conn = c, .auth = *as}, .peer = peer};
    *as = (auth_session){0}; /* the connection's from now on */
    w.inbox_tail = &w.inbox;
    goc_ws_config_t cfg = {
        .max_message = srv.cfg.max_frame,
        .max_queued = 4 * srv.cfg.max_frame,
        .max_queued_msgs = (size_t)srv.cfg.outbox,
        .out_buffer = READ_BUF,
        .on_event = on_event,
        .user = &w,
    };
    if (goc_ws_new(&cfg, &w.ws) != 0) {
        auth_session_free(&w.pc.auth);
        return;
    }
    atomic_fetch_add(&srv.conns_open[TRANSPORT_WS], 1);
    atomic_fetch_add(&srv.conns_total[TRANSPORT_WS], 1);
    chat_sink sink = {sink_push, sink_kick, &w};
    w.member = chat_member_new(&sink);
    log_event(LOG_DEBUG, "ws_open", "peer", peer, (const char *)NULL);

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
    for (;;) {
        goc_mutex_lock(&w.mu);
        bool done = goc_ws_done(w.ws), want = goc_ws_want_read(w.ws);
        goc_mutex_unlock(&w.mu);
        if (done || atomic_load(&w.pc.dead) || (closing && goc_nanotime() > close_deadline))
            break;
        if (!closing && (atomic_load(&w.pc.slow) || atomic_load(&srv.stopping))) {
            bool slow = atomic_load(&w.pc.slow);
            begin_close(&w, slow ? GOC_WS_POLICY : GOC_WS_GOING_AWAY,
                        slow ? "too slow" : "server shutting down", &close_deadline);
            closing = true;
            continue;
        }
        if (!closing && auth_expired(&w.pc.auth)) {
            log_event(LOG_INFO, "ws_token_expired", "peer", peer, (const char *)NULL);
            begin_close(&w, GOC_WS_POLICY, "token expired", &close_deadline);
            closing = true;
            continue;
        }
        if (!want) {
            /* our close is queued; give the writer time to send it */
            goc_sleep(GOC_MILLISECOND);
            continue;
        }
        /* The buffer exists only while bytes are coming in. */
        char *buf = NULL;
        ssize_t n = stream_wait_read(s);
        if (n == 0) {
            buf = goc_malloc(READ_BUF);
            n = buf ? stream_read(s, buf, READ_BUF) : -ENOMEM;
        }
        if (n <= 0)
            goc_free(buf);
        if (n == -ETIMEDOUT) {
            if (closing || atomic_load(&w.pc.slow) || atomic_load(&srv.stopping) ||
                auth_expired(&w.pc.auth))
                continue; /* handled at the top of the loop */
            if (w.awaiting_pong) {
                log_event(LOG_DEBUG, "ws_no_pong", "peer", peer, (const char *)NULL);
                begin_close(&w, GOC_WS_POLICY, "no pong", &close_deadline);
                closing = true;
                continue;
            }
            goc_mutex_lock(&w.mu);
            goc_ws_ping(w.ws, "goc", 3);
            goc_mutex_unlock(&w.mu);
            wake_writer(&w);
            w.awaiting_pong = true;
            ping_deadline(&w);
            continue;
        }
        if (n == -ENOMEM && !closing) {
            begin_close(&w, GOC_WS_INTERNAL, "out of memory", &close_deadline);
            closing = true;
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
        goc_free(buf);
        if (rc < 0) /* out of memory, and not even a close frame could be queued */
            break;
        answer(&w);
        wake_writer(&w);
    }
    chat_member_gone(w.member);
    if (!closing) /* bound the writer's last flush (the peer may not read) */
        goc_conn_set_write_deadline(c, goc_nanotime() + PCONN_CLOSE_TIMEOUT);
    goc_mutex_lock(&w.mu);
    w.finished = true;
    goc_mutex_unlock(&w.mu);
    goc_waitgroup_wait(&w.writers);
    texts_free(atomic_exchange(&w.outq, NULL)); /* unsent */
    texts_free(w.inbox);                        /* unanswered: dropped */
    goc_ws_free(w.ws);
    auth_session_free(&w.pc.auth);
    atomic_fetch_sub(&srv.conns_open[TRANSPORT_WS], 1);
    char code[24];
    log_event(LOG_DEBUG, "ws_close", "peer", peer, "code",
              w.close_code ? log_i64(code, w.close_code) : "none", "by",
              w.close_by ? w.close_by : "none", (const char *)NULL);
}

/* server.h: the server's shared state and the pieces of the program.
 *
 * One method table (rpc) serves every transport. The root context is
 * cancelled at shutdown; every connection and listener goroutine is counted
 * in wg, and every open connection is in the registry so shutdown can wake
 * it. Counters are atomics read by runtime.stats and /metrics.
 */
#ifndef GOCD_SERVER_H
#define GOCD_SERVER_H

#include <goc/goc.h>
#include <jansson.h>
#include <stdatomic.h>

#include "config.h"
#include "jsonrpc.h"
#include "tls.h"

/* One accepted connection's bytes: the socket itself, or TLS over it.
 * Deadlines, cancellation and close act on conn either way. */
typedef struct stream {
    goc_conn *conn; /* owned by the accepting goroutine (main.c) */
    goc_tls *tls;   /* NULL: plain TCP */
} stream;

static inline ssize_t stream_read(const stream *s, void *buf, size_t len)
{
    return s->tls ? goc_tls_read(s->tls, buf, len) : goc_conn_read(s->conn, buf, len);
}

/* A read that never waits: -EAGAIN when nothing is there yet (TLS: when
 * nothing decrypted or received is pending). */
static inline ssize_t stream_read_nowait(const stream *s, void *buf, size_t len)
{
    if (s->tls)
        return goc_tls_pending(s->tls) ? goc_tls_read(s->tls, buf, len) : -EAGAIN;
    return goc_conn_read_nowait(s->conn, buf, len);
}

/* Waits until a read would find bytes (or end of stream): 0, or a negative
 * errno as a read's. */
static inline int stream_wait_read(const stream *s)
{
    if (s->tls && goc_tls_pending(s->tls))
        return 0;
    return goc_conn_wait_read(s->conn);
}

/* Writes all len bytes (len, or a negative errno). Writers must not
 * interleave: each transport serializes its own. */
static inline ssize_t stream_write(const stream *s, const void *buf, size_t len)
{
    return s->tls ? goc_tls_write(s->tls, buf, len) : goc_conn_write(s->conn, buf, len);
}

/* One open connection, on its goroutine's stack, linked in the registry. */
typedef struct conn_entry {
    goc_conn *conn;
    const char *transport;
    struct conn_entry *prev, *next;
} conn_entry;

enum { TRANSPORT_TCP, TRANSPORT_HTTP, TRANSPORT_WS, TRANSPORT_N };

typedef struct server {
    config cfg;
    jrpc_t *rpc;
    goc_context *root;      /* cancelled when shutting down */
    goc_waitgroup wg;       /* goroutines to wait for at shutdown */
    goc_mutex conns_mu;     /* guards conns */
    conn_entry *conns;      /* open connections */
    _Atomic bool stopping;  /* set after wake_deadline */
    _Atomic int64_t wake_deadline; /* shutdown: reads end by then */
    _Atomic int64_t conns_open[TRANSPORT_N];
    _Atomic uint64_t conns_total[TRANSPORT_N];
    _Atomic uint64_t frames_in, frames_out, frames_too_large;
    _Atomic uint64_t http_requests;
    _Atomic int64_t conns_active;          /* every transport, for --max-conns */
    _Atomic uint64_t conns_rejected;       /* refused past --max-conns */
    _Atomic uint64_t tls_handshakes, tls_handshake_failures;
    const char **cfg_origins; /* --allow-origin values (empty: any) */
    size_t cfg_norigins;
} server;

extern server srv;

/* The registry: add on accept, remove before closing. */
void conns_add(conn_entry *e);
void conns_remove(conn_entry *e);
/* Shutdown: lets every connection read its requests in flight for a
 * moment, then wakes its blocked read, which fails from then on. */
void conns_wake_all(void);
/* Sets c's read deadline (0: none) as a transport's own timeouts do, but
 * never later than shutdown's: a connection cannot undo the wake-up of
 * conns_wake_all, however the two interleave. */
void conn_read_deadline(goc_conn *c, int64_t deadline);

/* Registers echo, runtime.stats and the chat's methods in rpc, and counts
 * every call's outcome. */
int methods_register(jrpc_t *rpc);
/* The call counters as Prometheus text, appended to *p (realloc'd). */
void rpc_metrics(char **p, size_t *len, size_t *cap);
/* The runtime.stats object (a new reference). */
json_t *stats_json(void);

/* HTTP: serves one accepted connection until it is over (the caller
 * closes it), the web root, the REST routes (rest.c), /metrics
 * (metrics.c). */
struct goc_http_request;
struct goc_http_out;
void http_serve(const stream *s, const char *peer);
void http_set_web_root(const char *dir);
void http_error_json(struct goc_http_out *o, int status, const char *msg, bool keep_alive,
                     bool head);
void rest_route(const struct goc_http_request *req, struct goc_http_out *o);
size_t metrics_text(char **out);

/* WebSocket: serves an upgraded connection; early holds bytes read after
 * the upgrade request. Returns when the connection is over (the caller
 * closes it). */
typedef struct wsconn wsconn;
void ws_serve(const stream *s, const char *peer, const char *early, size_t nearly);
bool ws_send(wsconn *w, const char *msg, size_t len);
void ws_kick(wsconn *w);

/* Framed TCP: serves one accepted connection until it is over (the
 * caller closes it). */
void framed_serve(const stream *s, const char *peer);

#endif

/* server.h: the server's shared state and the pieces of the program
 * (doc/architecture.md, "The server").
 *
 *   main.c        the wiring: flags, the runtime, listeners, signals
 *   server.c      the shared state, the registry of open connections
 *   listen.c      listeners and each connection's life: accept, limits,
 *                 TLS handshake, the transport, the lingering close
 *   pconn.c       what the persistent transports share (kick, deadlines)
 *   framed_conn.c, http_conn.c, ws_conn.c   the three transports
 *   methods.c, chat_*.c, rest.c, metrics.c, stats.c   what they serve
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

#include "buf.h"
#include "config.h"
#include "jsonrpc.h"
#include "tls.h"

/* One accepted connection's bytes: the socket itself, or TLS over it.
 * Deadlines, cancellation and close act on conn either way. */
typedef struct stream {
    goc_conn *conn; /* owned by the accepting goroutine (listen.c) */
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

/* The transports' names in /metrics and runtime.stats, by TRANSPORT_*. */
extern const char *const transport_name[TRANSPORT_N];

/* HTTP requests are counted by route and status (/metrics). ROUTE_NONE:
 * a request refused before it was routed (malformed, too large). */
enum { ROUTE_RPC, ROUTE_WS, ROUTE_API, ROUTE_METRICS, ROUTE_HEALTHZ, ROUTE_STATIC, ROUTE_PPROF,
       ROUTE_NONE, ROUTE_N };
extern const char *const http_route_name[ROUTE_N];
/* The statuses counted one by one; the last slot counts every other. */
#define HTTP_STATUSES 17
extern const int http_status_counted[HTTP_STATUSES - 1];

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
    _Atomic uint64_t http_requests[ROUTE_N][HTTP_STATUSES]; /* by route and status */
    int64_t start_time;    /* when the process started, seconds since the epoch */
    _Atomic int64_t conns_active;          /* every transport, for --max-conns */
    _Atomic uint64_t conns_rejected;       /* refused past --max-conns */
    _Atomic uint64_t conns_rejected_addr;  /* refused past a per-address limit (addrlimit.h) */
    _Atomic uint64_t tls_handshakes, tls_handshake_failures;
} server;

extern server srv;

/* ---- server.c: the registry of open connections ---------------------------- */

/* The registry: add on accept, remove before closing. */
void conns_add(conn_entry *e);
void conns_remove(conn_entry *e);
/* Shutdown: lets every connection read its requests in flight for a
 * moment (SHUTDOWN_LINGER), then wakes its blocked read, which fails from
 * then on; sets srv.stopping. */
void conns_stop_all(void);
/* Sets c's read deadline (0: none) as a transport's own timeouts do, but
 * never later than shutdown's: a connection cannot undo the wake-up of
 * conns_stop_all, however the two interleave. */
void conn_read_deadline(goc_conn *c, int64_t deadline);

/* ---- listen.c: listeners and connections ----------------------------------- */

typedef struct listener listener;
/* Binds the listener of one kind ("tcp", "http", "tls", "tcp-tls") on
 * addr. Returns it, or NULL after printing why to stderr. The TLS kinds
 * serve the certificate tls_load installed last. */
listener *listener_open(const char *kind, const char *addr);
/* Prints its "listening KIND ADDR" line and starts its accept loop; the
 * loop ends (and frees the listener) after listener_shutdown. Returns 0 or
 * a negative errno (the listener is then closed and freed). */
int listener_start(listener *l);
/* Stops the accept loop; callable until the loop has ended. */
void listener_shutdown(listener *l);
/* Loads the certificate chain and key and makes them the TLS listeners'
 * for every connection from now on (SIGHUP: a renewed certificate);
 * sessions already open keep theirs. 0, or -EINVAL/-ENOMEM with why in
 * err, the certificate in use unchanged. */
int tls_load(const char *cert, const char *key, char *err, size_t errlen);
/* At shutdown: gives up the server's hold on the certificate, freed once
 * no session uses it any more. */
void tls_drop(void);
/* The ticket-key timer's tick: replaces the session-ticket key of the
 * certificate in use if it is due (goc_tls_config_rotate_tickets). A
 * reloaded certificate comes with keys of its own: tickets issued before
 * a reload no longer resume. */
void tls_rotate_tickets(void);

/* ---- methods.c, stats.c ---------------------------------------------------- */

/* Registers echo, runtime.stats and the chat's methods in rpc, and counts
 * every call's outcome per method. Returns 0 or a negative errno. */
int methods_register(jrpc_t *rpc);
/* The call counters as Prometheus text, appended to b. */
void rpc_metrics(buf_t *b);
/* The runtime.stats object (a new reference). */
json_t *stats_json(void);

/* ---- the transports --------------------------------------------------------- */

/* Each serves one accepted connection until it is over; the caller (the
 * connection's goroutine, listen.c) then closes it. */
void framed_conn_serve(const stream *s, const char *peer);
void http_conn_serve(const stream *s, const char *peer);
/* WebSocket: serves a connection upgraded by http_conn.c; early holds the
 * bytes that came after the upgrade request, as the identity its token
 * gave (auth.h; empty in development mode), which auth.login may replace. */
struct auth_session;
void ws_conn_serve(const stream *s, const char *peer, const char *early, size_t nearly,
                   struct auth_session *as);

/* HTTP's routes beyond /rpc, /ws and the web root: REST (rest.c) and
 * /metrics (metrics.c). */
struct goc_http_request;
struct goc_http_out;
/* Serves static files from dir: 0, or a negative errno (no such
 * directory: static files are then off). */
int http_set_web_root(const char *dir);
/* A JSON answer: j (stolen) as compact text and a newline. */
void http_json(struct goc_http_out *o, int status, json_t *j, bool keep_alive, bool head);
/* An error answer: {"error": msg} with status. */
void http_error_json(struct goc_http_out *o, int status, const char *msg, bool keep_alive,
                     bool head);
/* as: the request's identity (auth.h; empty in development mode). */
void rest_route(const struct goc_http_request *req, struct goc_http_out *o,
                const struct auth_session *as);
/* GET /debug/pprof/... (pprof.c): one request being answered. */
typedef struct pprof_request {
    const struct goc_http_request *req;
    struct goc_http_out *o;
    const char *peer; /* "HOST:PORT" or "[V6]:PORT" */
    bool get, head, keep_alive;
} pprof_request;
void pprof_route(const pprof_request *r);
/* Whether peer ("HOST:PORT", "[V6]:PORT") is a loopback address:
 * 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool pprof_peer_loopback(const char *peer);

/* The /metrics text into *out (a new buffer, free with buf_free).
 * Returns 0 or -ENOMEM. */
int metrics_text(buf_t *out);

#endif

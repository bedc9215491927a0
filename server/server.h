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
    _Atomic bool stopping;
    _Atomic int64_t conns_open[TRANSPORT_N];
    _Atomic uint64_t conns_total[TRANSPORT_N];
    _Atomic uint64_t frames_in, frames_out, frames_too_large;
    _Atomic uint64_t http_requests;
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

/* Registers echo, runtime.stats and the chat's methods in rpc, and counts
 * every call's outcome. */
int methods_register(jrpc_t *rpc);
/* The call counters as Prometheus text, appended to *p (realloc'd). */
void rpc_metrics(char **p, size_t *len, size_t *cap);
/* The runtime.stats object (a new reference). */
json_t *stats_json(void);

/* HTTP: serves one accepted connection (as framed_conn_main), the web
 * root, the REST routes (rest.c), /metrics (metrics.c). */
struct goc_http_request;
struct goc_http_out;
void http_conn_main(void *arg);
void http_set_web_root(const char *dir);
void http_error_json(struct goc_http_out *o, int status, const char *msg, bool keep_alive,
                     bool head);
void rest_route(const struct goc_http_request *req, struct goc_http_out *o);
size_t metrics_text(char **out);

/* WebSocket: serves an upgraded connection; early holds bytes read after
 * the upgrade request. Returns when the connection is over (the caller
 * closes it). */
typedef struct wsconn wsconn;
void ws_serve(goc_conn *c, const char *peer, const char *early, size_t nearly);
bool ws_send(wsconn *w, const char *msg, size_t len);
void ws_kick(wsconn *w);

/* Framed TCP: serves one accepted connection (arg points at the goc_conn
 * pointer), then closes it and marks srv.wg done. */
void framed_conn_main(void *arg);

#endif

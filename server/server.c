/* server.c: the server's shared state (server.h) and the registry of open
 * connections, through which shutdown reaches every one of them.
 *
 * Invariants: a connection is in the registry from its accept until just
 * before it is closed (listen.c); conns_mu guards the list. Once
 * srv.stopping is set, every read deadline a connection sets is capped at
 * srv.wake_deadline (conn_read_deadline), so no connection outlives the
 * shutdown's grace period by resetting its own deadline.
 */
#include "server.h"

server srv;

const char *const transport_name[TRANSPORT_N] = {"tcp", "http", "ws"};

const char *const http_route_name[ROUTE_N] = {"/rpc",     "/ws",    "/api",         "/metrics",
                                              "/healthz", "static", "/debug/pprof", "(none)"};
const int http_status_counted[HTTP_STATUSES - 1] = {101, 200, 201, 204, 304, 400, 401, 403,
                                                    404, 405, 409, 413, 429, 431, 500, 503};

/* How long connections keep reading after SIGINT/SIGTERM: the requests a
 * client sent before the signal are already in the socket's buffer (or on
 * their way), and they are answered before the connection closes. */
#define SHUTDOWN_LINGER (250 * GOC_MILLISECOND)

void conns_add(conn_entry *e)
{
    goc_mutex_lock(&srv.conns_mu);
    e->prev = NULL;
    e->next = srv.conns;
    if (srv.conns)
        srv.conns->prev = e;
    srv.conns = e;
    goc_mutex_unlock(&srv.conns_mu);
}

void conns_remove(conn_entry *e)
{
    goc_mutex_lock(&srv.conns_mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        srv.conns = e->next;
    if (e->next)
        e->next->prev = e->prev;
    goc_mutex_unlock(&srv.conns_mu);
}

void conns_stop_all(void)
{
    int64_t deadline = goc_nanotime() + SHUTDOWN_LINGER;
    atomic_store(&srv.wake_deadline, deadline);
    atomic_store(&srv.stopping, true);
    goc_mutex_lock(&srv.conns_mu);
    /* A read deadline a moment away lets each connection's goroutine answer
     * the requests in flight; then it wakes a blocked read and fails every
     * later one, and the goroutine closes the connection. */
    for (conn_entry *e = srv.conns; e; e = e->next)
        goc_conn_set_read_deadline(e->conn, deadline);
    goc_mutex_unlock(&srv.conns_mu);
}

/* Either this load sees stopping (and applies the shutdown deadline), or
 * the store of stopping, and so conns_stop_all's deadline, comes after
 * this set, which it then overrides. */
void conn_read_deadline(goc_conn *c, int64_t deadline)
{
    goc_conn_set_read_deadline(c, deadline);
    if (atomic_load(&srv.stopping)) {
        int64_t wake = atomic_load(&srv.wake_deadline);
        goc_conn_set_read_deadline(c, deadline && deadline < wake ? deadline : wake);
    }
}

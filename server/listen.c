/* listen.c: listeners, and the life of each accepted connection
 * (doc/protocol.md, "Limits"): the --max-conns check and the per-address
 * ones (addrlimit.h: --max-conns-per-ip, --conn-rate), TCP keep-alive, the
 * TLS handshake bounded by --read-timeout, the transport, then a lingering
 * close.
 *
 * Each listener has one accept loop goroutine, and each connection its own
 * goroutine (conn_main), counted in srv.wg and listed in the registry
 * (server.c) while it lives.
 */
#include "server.h"

#include <goc/pprof.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <goc/malloc.h>

#include "addrlimit.h"
#include "frame.h"
#include "http.h"
#include "log.h"

/* What each kind of listener speaks. */
typedef struct listener_kind {
    const char *name; /* "tcp", "http", "tls", "tcp-tls": as printed */
    void (*serve)(const stream *s, const char *peer); /* the transport */
    bool http;        /* the transport speaks HTTP (for refusals) */
    bool tls;         /* inside TLS */
} listener_kind;

static const listener_kind kinds[] = {
    {"tcp", framed_conn_serve, false, false},
    {"http", http_conn_serve, true, false},
    {"tls", http_conn_serve, true, true},
    {"tcp-tls", framed_conn_serve, false, true},
};

struct listener {
    const listener_kind *kind;
    goc_listener *l;     /* owned, used and closed by its accept loop */
    char addr[64];       /* the bound HOST:PORT */
};

/* ---- the certificate in use (SIGHUP loads a new one) ---------------------- */

/* A TLS configuration and the sessions using it: the current one is
 * held by the server (one reference) and by each connection that began
 * its handshake with it, so a reload serves new connections the new
 * certificate while the old one lives until its last session ends. */
typedef struct tls_cert {
    goc_tls_config *cfg;
    int64_t refs; /* [tls_mu] */
} tls_cert;

static goc_mutex tls_mu;  /* guards current and every refs */
static tls_cert *current; /* NULL: no TLS listener */

/* The current certificate, with a reference for the caller (NULL: none). */
static tls_cert *tls_acquire(void)
{
    goc_mutex_lock(&tls_mu);
    tls_cert *c = current;
    if (c)
        c->refs++;
    goc_mutex_unlock(&tls_mu);
    return c;
}

static void tls_release(tls_cert *c)
{
    if (!c)
        return;
    goc_mutex_lock(&tls_mu);
    bool last = --c->refs == 0;
    goc_mutex_unlock(&tls_mu);
    if (last) {
        goc_tls_config_free(c->cfg);
        goc_free(c);
    }
}

/* Makes cfg the certificate of new TLS connections (taking it over). */
static int tls_install(goc_tls_config *cfg)
{
    tls_cert *c = goc_malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = (tls_cert){cfg, 1};
    goc_mutex_lock(&tls_mu);
    tls_cert *old = current;
    current = c;
    goc_mutex_unlock(&tls_mu);
    tls_release(old);
    return 0;
}

int tls_load(const char *cert, const char *key, char *err, size_t errlen)
{
    goc_tls_config *cfg;
    if (goc_tls_server_config(cert, key, &cfg, err, errlen) != 0)
        return -EINVAL;
    int rc = tls_install(cfg);
    if (rc) {
        goc_tls_config_free(cfg);
        snprintf(err, errlen, "%s", strerror(-rc));
    }
    return rc;
}

void tls_rotate_tickets(void)
{
    tls_cert *c = tls_acquire();
    if (c)
        goc_tls_config_rotate_tickets(c->cfg, false);
    tls_release(c);
}

void tls_drop(void)
{
    goc_mutex_lock(&tls_mu);
    tls_cert *c = current;
    current = NULL;
    goc_mutex_unlock(&tls_mu);
    tls_release(c);
}

/* Over --max-conns (or a per-address limit): the peer gets a short answer in its own protocol
 * (HTTP 503, or a framed JSON-RPC error), written without waiting, and the
 * connection closes. A TLS peer is only closed: a handshake to refuse it
 * would spend the CPU the limit protects. */
static void refuse(const listener *ls, goc_conn *c)
{
    static const char body[] = "{\"error\":\"too many connections\"}";
    atomic_fetch_add(&srv.conns_rejected, 1);
    goc_conn_set_write_deadline(c, goc_nanotime() + 10 * GOC_MILLISECOND);
    if (!ls->kind->tls && ls->kind->http) {
        char mem[256];
        goc_http_out_t o;
        goc_http_out_init_fixed(&o, mem, sizeof mem);
        goc_http_out_json(&o, 503, NULL, body, sizeof body - 1, false, false);
        if (goc_http_out_finish(&o) > 0)
            goc_conn_write(c, o.data, o.len);
    } else if (!ls->kind->tls) {
        size_t len;
        char *err = jrpc_error_encode(JRPC_TOO_MANY_CONNS, "too many connections", &len);
        uint8_t hdr[FRAME_HEADER_SIZE];
        if (err) {
            frame_header_encode(hdr, len);
            if (goc_conn_write(c, hdr, sizeof hdr) == (ssize_t)sizeof hdr)
                goc_conn_write(c, err, len);
            jrpc_reply_free(err);
        }
    }
    goc_conn_close(c);
}

/* As Go's listeners do: TCP keep-alive probes after 15 s of silence, every
 * 15 s, so a peer that vanished (no FIN, no RST) is found and its
 * connection closed instead of waiting forever in a read. */
static void keep_alive(goc_conn *c)
{
    int fd = goc_conn_fd(c), on = 1, secs = 15;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof secs);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &secs, sizeof secs);
}

/* Lingering close (as Apache's and nginx's): when the server ends a
 * conversation the peer may still be sending (a request over a limit, a
 * protocol error), closing with its input unread would reset the
 * connection, and the peer could lose the answer it has not read yet and
 * see its writes fail. So the write side is shut first (the peer reads our
 * last bytes, then EOF), and input is read and dropped until the peer
 * closes, for at most LINGER and LINGER_BYTES. A peer that closed first
 * costs one read that returns 0; none during shutdown. */
#define LINGER GOC_SECOND
#define LINGER_BYTES ((size_t)8 << 20)

static void linger(goc_conn *c)
{
    if (atomic_load(&srv.stopping) || goc_conn_close_write(c) != 0)
        return;
    conn_read_deadline(c, goc_nanotime() + LINGER);
    char buf[4096];
    for (size_t total = 0; total < LINGER_BYTES;) {
        ssize_t n = goc_conn_read(c, buf, sizeof buf);
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

/* What a connection's goroutine gets: its kind, not its listener, which
 * the accept loop frees at shutdown while connections may still run. */
typedef struct accepted {
    goc_conn *conn;
    const listener_kind *kind; /* static (kinds[]) */
    addr_key addr;             /* what it counts against (addrlimit.h) */
} accepted;

/* One connection's goroutine: registry, TLS handshake (bounded by
 * --read-timeout), the transport, then a lingering close. */
static void conn_main(void *arg)
{
    accepted a = *(accepted *)arg;
    const char *kind = a.kind->name;
    tls_cert *cert = a.kind->tls ? tls_acquire() : NULL;
    char peer[64] = "?";
    goc_conn_remote_addr(a.conn, peer, sizeof peer);
    /* its CPU samples and goroutine profile entry say which listener
     * (pprof.c); the transport adds its own name */
    goc_labels_set("listener", kind);
    conn_entry e = {.conn = a.conn, .transport = kind};
    conns_add(&e);
    int64_t opened = goc_nanotime();
    log_event(LOG_DEBUG, "conn_open", "listener", kind, "peer", peer, (const char *)NULL);
    keep_alive(a.conn);
    stream s = {.conn = a.conn};
    int rc = 0;
    if (a.kind->tls) {
        int64_t deadline = goc_nanotime() + srv.cfg.read_timeout_ms * GOC_MILLISECOND;
        rc = cert ? goc_tls_accept(cert->cfg, a.conn, deadline, &s.tls) : -ENOTCONN;
        if (rc) {
            atomic_fetch_add(&srv.tls_handshake_failures, 1);
            log_debug("%s %s: TLS handshake: %s", kind, peer, strerror(-rc));
        } else {
            atomic_fetch_add(&srv.tls_handshakes, 1);
        }
    }
    if (rc == 0 && !atomic_load(&srv.stopping))
        a.kind->serve(&s, peer);
    if (s.tls) { /* close_notify, if the peer takes it at once */
        goc_conn_set_write_deadline(a.conn, goc_nanotime() + 100 * GOC_MILLISECOND);
        goc_tls_free(s.tls);
    }
    tls_release(cert);
    linger(a.conn);
    conns_remove(&e);
    char ms[24];
    log_event(LOG_DEBUG, "conn_close", "listener", kind, "peer", peer, "dur_ms",
              log_i64(ms, (goc_nanotime() - opened) / GOC_MILLISECOND), (const char *)NULL);
    goc_conn_close(a.conn);
    addrlimit_release(&a.addr);
    atomic_fetch_sub(&srv.conns_active, 1);
    goc_waitgroup_done(&srv.wg);
}

/* Accepts connections on one listener until listener_shutdown, each served
 * by its own goroutine; then closes and frees the listener (no one else
 * uses it). arg points at the listener. */
static void accept_loop(void *arg)
{
    listener *ls = *(listener **)arg;
    for (;;) {
        goc_conn *c;
        int rc = goc_accept(ls->l, &c);
        if (rc == -EBADF)
            break; /* listener_shutdown: stopping */
        if (rc < 0) {
            log_warn("%s accept: %s", ls->kind->name, strerror(-rc));
            goc_sleep(10 * GOC_MILLISECOND); /* out of descriptors: back off */
            continue;
        }
        if (atomic_fetch_add(&srv.conns_active, 1) >= srv.cfg.max_conns) {
            atomic_fetch_sub(&srv.conns_active, 1);
            refuse(ls, c);
            continue;
        }
        accepted a = {c, ls->kind, {{0}}};
        if (!addrlimit_admit(c, &a.addr)) {
            atomic_fetch_sub(&srv.conns_active, 1);
            atomic_fetch_add(&srv.conns_rejected_addr, 1);
            refuse(ls, c);
            continue;
        }
        goc_waitgroup_add(&srv.wg, 1);
        if (goc_go(conn_main, &a, sizeof a) < 0) {
            log_warn("%s: cannot start a goroutine for a connection: closing it",
                     ls->kind->name);
            addrlimit_release(&a.addr);
            atomic_fetch_sub(&srv.conns_active, 1);
            goc_waitgroup_done(&srv.wg);
            goc_conn_close(c);
        }
    }
    goc_listener_close(ls->l);
    goc_free(ls);
    goc_waitgroup_done(&srv.wg);
}

listener *listener_open(const char *kind, const char *addr)
{
    const listener_kind *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, kind) == 0)
            k = &kinds[i];
    listener *ls = k ? goc_calloc(1, sizeof *ls) : NULL;
    if (!ls) {
        fprintf(stderr, "gocd: cannot listen on %s (%s): %s\n", addr, kind,
                strerror(k ? ENOMEM : EINVAL));
        return NULL;
    }
    int rc = goc_listen_tcp(addr, 1024, &ls->l);
    if (rc) {
        fprintf(stderr, "gocd: cannot listen on %s (%s): %s\n", addr, kind, strerror(-rc));
        goc_free(ls);
        return NULL;
    }
    ls->kind = k;
    goc_listener_addr(ls->l, ls->addr, sizeof ls->addr);
    return ls;
}

int listener_start(listener *ls)
{
    goc_waitgroup_add(&srv.wg, 1);
    int64_t rc = goc_go(accept_loop, &ls, sizeof ls);
    if (rc < 0) {
        goc_waitgroup_done(&srv.wg);
        goc_listener_close(ls->l);
        goc_free(ls);
        return (int)rc;
    }
    printf("listening %s %s\n", ls->kind->name, ls->addr);
    fflush(stdout);
    log_info("listening %s %s", ls->kind->name, ls->addr);
    return 0;
}

void listener_shutdown(listener *ls)
{
    goc_listener_shutdown(ls->l);
}

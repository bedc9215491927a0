/* main.c: gocd, the chat and JSON-RPC server (PROTOCOL.md).
 *
 * main() parses the flags (a bad one: a one-line error, exit 2), then
 * starts the runtime with --procs Ps; the main goroutine opens the
 * listeners, prints one "listening KIND ADDR" line per listener, and waits
 * for SIGINT or SIGTERM. The runtime handles those two signals before the
 * first listening line is printed, so a signal sent as soon as that line is
 * read shuts down gracefully instead of killing the process. Shutdown: stop
 * accepting, let each connection answer what it has already received (for
 * a moment), close WebSockets with 1001, and exit 0 within 5 seconds.
 */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <goc/malloc.h>

#include "chat.h"
#include "frame.h"
#include "log.h"
#include "webmem.h"

server srv;

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

/* How long connections keep reading after SIGINT/SIGTERM: the requests a
 * client sent before the signal are already in the socket's buffer (or on
 * their way), and they are answered before the connection closes. */
#define SHUTDOWN_LINGER_NS (250 * 1000000LL)

void conns_wake_all(void)
{
    int64_t deadline = atomic_load(&srv.wake_deadline);
    goc_mutex_lock(&srv.conns_mu);
    /* A read deadline a moment away lets each connection's goroutine answer
     * the requests in flight; then it wakes a blocked read and fails every
     * later one, and the goroutine closes the connection. */
    for (conn_entry *e = srv.conns; e; e = e->next)
        goc_conn_set_read_deadline(e->conn, deadline);
    goc_mutex_unlock(&srv.conns_mu);
}

/* Either this load sees stopping (and applies the shutdown deadline), or
 * the store of stopping, and so conns_wake_all's deadline, comes after
 * this set, which it then overrides. */
void conn_read_deadline(goc_conn *c, int64_t deadline)
{
    goc_conn_set_read_deadline(c, deadline);
    if (atomic_load(&srv.stopping)) {
        int64_t wake = atomic_load(&srv.wake_deadline);
        goc_conn_set_read_deadline(c, deadline && deadline < wake ? deadline : wake);
    }
}

typedef struct listener {
    const char *kind;    /* "tcp", "http", "tls", "tcp-tls", as printed */
    goc_listener *l;     /* owned, used and closed by its accept loop */
    char addr[64];       /* the bound HOST:PORT */
    void (*serve)(const stream *s, const char *peer); /* the transport */
    goc_tls_config *tls; /* shared by every session; NULL: plain */
    bool http;           /* the transport speaks HTTP (for refusals) */
} listener;

/* Over --max-conns: the peer gets a short answer in its own protocol
 * (HTTP 503, or a framed JSON-RPC error), written without waiting, and the
 * connection closes. A TLS peer is only closed: a handshake to refuse it
 * would spend the CPU the limit protects. */
static void refuse(const listener *ls, goc_conn *c)
{
    static const char http503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Content-Length: 33\r\nConnection: close\r\n\r\n"
                                  "{\"error\":\"too many connections\"}";
    atomic_fetch_add(&srv.conns_rejected, 1);
    goc_conn_set_write_deadline(c, goc_nanotime() + 10 * 1000000LL);
    if (!ls->tls && ls->http) {
        goc_conn_write(c, http503, sizeof http503 - 1);
    } else if (!ls->tls) {
        size_t len;
        char *err = jrpc_error_encode(-32000, "too many connections", &len);
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

typedef struct accepted {
    goc_conn *conn;
    const listener *ls;
} accepted;

/* Lingering close (as Apache's and nginx's): when the server ends a
 * conversation the peer may still be sending (a request over a limit, a
 * protocol error), closing with its input unread would reset the
 * connection, and the peer could lose the answer it has not read yet and
 * see its writes fail. So the write side is shut first (the peer reads our
 * last bytes, then EOF), and input is read and dropped until the peer
 * closes, for at most LINGER_NS and LINGER_BYTES. A peer that closed
 * first costs one read that returns 0; none during shutdown. */
#define LINGER_NS (1000 * 1000000LL)
#define LINGER_BYTES ((size_t)8 << 20)

static void linger(goc_conn *c)
{
    if (atomic_load(&srv.stopping) || goc_conn_close_write(c) != 0)
        return;
    conn_read_deadline(c, goc_nanotime() + LINGER_NS);
    char buf[4096];
    for (size_t total = 0; total < LINGER_BYTES;) {
        ssize_t n = goc_conn_read(c, buf, sizeof buf);
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

/* One connection's goroutine: registry, TLS handshake (bounded by
 * --read-timeout), the transport, then a lingering close. */
static void conn_main(void *arg)
{
    accepted a = *(accepted *)arg;
    char peer[64] = "?";
    goc_conn_remote_addr(a.conn, peer, sizeof peer);
    conn_entry e = {.conn = a.conn, .transport = a.ls->kind};
    conns_add(&e);
    keep_alive(a.conn);
    stream s = {.conn = a.conn};
    int rc = 0;
    if (a.ls->tls) {
        int64_t deadline = goc_nanotime() + srv.cfg.read_timeout_ms * 1000000LL;
        rc = goc_tls_accept(a.ls->tls, a.conn, deadline, &s.tls);
        if (rc) {
            atomic_fetch_add(&srv.tls_handshake_failures, 1);
            log_debug("%s %s: TLS handshake: %s", a.ls->kind, peer, strerror(-rc));
        } else {
            atomic_fetch_add(&srv.tls_handshakes, 1);
        }
    }
    if (rc == 0 && !atomic_load(&srv.stopping))
        a.ls->serve(&s, peer);
    if (s.tls) { /* close_notify, if the peer takes it at once */
        goc_conn_set_write_deadline(a.conn, goc_nanotime() + 100 * 1000000LL);
        goc_tls_free(s.tls);
    }
    linger(a.conn);
    conns_remove(&e);
    goc_conn_close(a.conn);
    atomic_fetch_sub(&srv.conns_active, 1);
    goc_waitgroup_done(&srv.wg);
}

/* Accepts connections on one listener until goc_listener_shutdown, each
 * served by its own goroutine; then closes the listener (no one else uses
 * it). arg points at the listener. */
static void accept_loop(void *arg)
{
    listener *ls = *(listener **)arg;
    for (;;) {
        goc_conn *c;
        int rc = goc_accept(ls->l, &c);
        if (rc == -EBADF)
            break; /* goc_listener_shutdown: stopping */
        if (rc < 0) {
            log_warn("%s accept: %s", ls->kind, strerror(-rc));
            goc_sleep(10 * 1000000); /* out of descriptors: back off */
            continue;
        }
        if (atomic_fetch_add(&srv.conns_active, 1) >= srv.cfg.max_conns) {
            atomic_fetch_sub(&srv.conns_active, 1);
            refuse(ls, c);
            continue;
        }
        goc_waitgroup_add(&srv.wg, 1);
        accepted a = {c, ls};
        if (goc_go(conn_main, &a, sizeof a) < 0) {
            atomic_fetch_sub(&srv.conns_active, 1);
            goc_waitgroup_done(&srv.wg);
            goc_conn_close(c);
        }
    }
    goc_listener_close(ls->l);
    goc_waitgroup_done(&srv.wg);
}

static int open_listener(const char *kind, const char *addr, listener *out)
{
    int rc = goc_listen_tcp(addr, 1024, &out->l);
    if (rc) {
        fprintf(stderr, "gocd: cannot listen on %s (%s): %s\n", addr, kind, strerror(-rc));
        return -1;
    }
    out->kind = kind;
    goc_listener_addr(out->l, out->addr, sizeof out->addr);
    return 0;
}

static void announce(const listener *l)
{
    printf("listening %s %s\n", l->kind, l->addr);
    fflush(stdout);
    log_info("listening %s %s", l->kind, l->addr);
}

/* What shutdown cannot free when connections outlive the grace period
 * (their goroutines may still use it): reachable from here, so the exit is
 * not reported as a leak. */
static struct {
    goc_chan *done;
    goc_tls_config *tls;
} shutdown_keep;

static void wait_all(void *arg)
{
    goc_chan *done = *(goc_chan **)arg;
    goc_waitgroup_wait(&srv.wg);
    goc_chan_close(done);
}

static int server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* Everything jansson (and the JSON-RPC engine) allocates goes through
     * the runtime's allocator. */
    json_set_alloc_funcs(goc_malloc, goc_free);
    goc_web_set_alloc(goc_realloc, goc_free); /* and the WebSocket engine */
    jrpc_limits_t limits = {.max_depth = JRPC_DEFAULT_MAX_DEPTH,
                            .max_batch = JRPC_DEFAULT_MAX_BATCH};
    srv.rpc = jrpc_new(&limits);
    if (!srv.rpc || methods_register(srv.rpc) != 0) {
        fprintf(stderr, "gocd: out of memory\n");
        return 2;
    }
    srv.root = goc_context_with_cancel(goc_context_background());
    srv.cfg_origins = srv.cfg.origins;
    srv.cfg_norigins = (size_t)srv.cfg.norigins;
    http_set_web_root(srv.cfg.web ? srv.cfg.web : GOCD_WEB_DIR);
    /* Bind every listener first: a busy address or an unreadable
     * certificate fails before anything else is said or opened. */
    static const struct {
        const char *kind;
        void (*serve)(const stream *s, const char *peer);
        bool http, tls;
    } kinds[] = {
        {"tcp", framed_serve, false, false},
        {"http", http_serve, true, false},
        {"tls", http_serve, true, true},
        {"tcp-tls", framed_serve, false, true},
    };
    const char *addrs[] = {srv.cfg.tcp, srv.cfg.http, srv.cfg.tls, srv.cfg.tcp_tls};
    goc_tls_config *tls = NULL; /* kept in shutdown_keep if connections outlive us */
    if (srv.cfg.tls || srv.cfg.tcp_tls) {
        char err[256];
        if (goc_tls_server_config(srv.cfg.cert, srv.cfg.key, &tls, err, sizeof err) != 0) {
            fprintf(stderr, "gocd: %s\n", err);
            exit(2);
        }
    }
    listener ls[4];
    int nl = 0;
    for (int k = 0; k < 4; k++) {
        if (!addrs[k])
            continue;
        if (open_listener(kinds[k].kind, addrs[k], &ls[nl]) != 0)
            exit(2);
        ls[nl].serve = kinds[k].serve;
        ls[nl].http = kinds[k].http;
        ls[nl].tls = kinds[k].tls ? tls : NULL;
        nl++;
    }
    if (chat_init(srv.cfg.db, srv.cfg.rate) != 0) {
        fprintf(stderr, "gocd: cannot open the history database %s\n", srv.cfg.db);
        exit(2);
    }
    /* Handle SIGINT/SIGTERM from before the first listening line: a signal
     * sent as soon as that line is read shuts down gracefully. */
    static const int stop_sigs[] = {SIGINT, SIGTERM};
    goc_signal_watch(stop_sigs, 2);
    for (int i = 0; i < nl; i++) {
        goc_waitgroup_add(&srv.wg, 1);
        listener *lp = &ls[i];
        goc_go(accept_loop, &lp, sizeof lp);
        announce(&ls[i]);
    }

    int sig = goc_signal_wait(stop_sigs, 2);
    log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&srv.wake_deadline, goc_nanotime() + SHUTDOWN_LINGER_NS);
    atomic_store(&srv.stopping, true);
    goc_context_cancel(srv.root);
    for (int i = 0; i < nl; i++)
        goc_listener_shutdown(ls[i].l); /* its accept loop closes it */
    conns_wake_all();

    /* Wait for the connections, at most 5 seconds in all. */
    goc_chan *done = goc_chan_make(0, 0);
    shutdown_keep.done = done;
    shutdown_keep.tls = tls;
    goc_go(wait_all, &done, sizeof done);
    goc_timer *t = goc_timer_new(4500 * 1000000LL);
    goc_select_case cases[2] = {
        {.c = done, .dir = GOC_SELECT_RECV},
        {.c = goc_timer_chan(t), .dir = GOC_SELECT_RECV},
    };
    if (goc_select(cases, 2, true) == 1)
        log_warn("shutdown: connections still open after the grace period");
    else {
        goc_chan_free(done); /* wait_all has finished with it */
        goc_tls_config_free(tls); /* and every session with this */
        shutdown_keep.done = NULL;
        shutdown_keep.tls = NULL;
    }
    goc_timer_free(t);
    chat_shutdown();
    log_info("bye");
    return 0;
}

/* As Go does at start-up: the soft descriptor limit up to the hard one,
 * since every connection is a descriptor. --max-conns defaults to what the
 * limit leaves after a reserve for listeners, the database and logs. */
static void descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (srv.cfg.max_conns == 0) {
        rlim_t n = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : 64;
        srv.cfg.max_conns = n > 1000000 ? 1000000 : (int64_t)n;
    }
}

int main(int argc, char **argv)
{
    int rc = config_parse(&srv.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    descriptor_limit();
    log_set_level(srv.cfg.log_level);
    goc_config gc = {.procs = srv.cfg.procs};
    goc_start(&gc, server_main, argc, argv);
}

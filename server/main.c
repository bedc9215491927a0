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

#include <goc/malloc.h>

#include "chat.h"
#include "log.h"

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
    int64_t deadline = goc_nanotime() + SHUTDOWN_LINGER_NS;
    goc_mutex_lock(&srv.conns_mu);
    /* A read deadline a moment away lets each connection's goroutine answer
     * the requests in flight; then it wakes a blocked read and fails every
     * later one, and the goroutine closes the connection. */
    for (conn_entry *e = srv.conns; e; e = e->next)
        goc_conn_set_read_deadline(e->conn, deadline);
    goc_mutex_unlock(&srv.conns_mu);
}

typedef struct listener {
    const char *kind; /* "tcp", ... as printed */
    goc_listener *l;  /* owned, used and closed by its accept loop */
    char addr[64];    /* the bound HOST:PORT */
    goc_fn serve;     /* runs one accepted connection in its own goroutine */
} listener;

/* Accepts connections on one listener until goc_listener_shutdown, each
 * served by its transport's goroutine; then closes the listener (no one
 * else uses it). arg points at the listener. */
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
        goc_waitgroup_add(&srv.wg, 1);
        if (goc_go(ls->serve, &c, sizeof c) < 0) {
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
    /* Bind every listener first: a busy address fails before anything else
     * is said or opened. */
    listener ls[4];
    int nl = 0;
    if (srv.cfg.tcp && open_listener("tcp", srv.cfg.tcp, &ls[nl++]) != 0)
        exit(2);
    if (srv.cfg.http && open_listener("http", srv.cfg.http, &ls[nl++]) != 0)
        exit(2);
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
        ls[i].serve = strcmp(ls[i].kind, "tcp") == 0 ? framed_conn_main : http_conn_main;
        listener *lp = &ls[i];
        goc_go(accept_loop, &lp, sizeof lp);
        announce(&ls[i]);
    }
    if (srv.cfg.tls || srv.cfg.tcp_tls)
        log_warn("--tls/--tcp-tls: TLS is not in this build yet");

    int sig = goc_signal_wait(stop_sigs, 2);
    log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&srv.stopping, true);
    goc_context_cancel(srv.root);
    for (int i = 0; i < nl; i++)
        goc_listener_shutdown(ls[i].l); /* its accept loop closes it */
    conns_wake_all();

    /* Wait for the connections, at most 5 seconds in all. */
    goc_chan *done = goc_chan_make(0, 0);
    goc_go(wait_all, &done, sizeof done);
    goc_timer *t = goc_timer_new(4500 * 1000000LL);
    goc_select_case cases[2] = {
        {.c = done, .dir = GOC_SELECT_RECV},
        {.c = goc_timer_chan(t), .dir = GOC_SELECT_RECV},
    };
    if (goc_select(cases, 2, true) == 1)
        log_warn("shutdown: connections still open after the grace period");
    else
        goc_chan_free(done); /* wait_all has finished with it */
    goc_timer_free(t);
    chat_shutdown();
    log_info("bye");
    return 0;
}

int main(int argc, char **argv)
{
    int rc = config_parse(&srv.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    log_set_level(srv.cfg.log_level);
    goc_config gc = {.procs = srv.cfg.procs};
    goc_start(&gc, server_main, argc, argv);
}

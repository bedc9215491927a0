/* main.c: gocd, the chat and JSON-RPC server (doc/protocol.md): the
 * wiring only.
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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <goc/malloc.h>
#include <goc/malloc_jansson.h>

#include "chat.h"
#include "log.h"

/* The grace period connections get at shutdown, inside the 5 s promised. */
#define SHUTDOWN_GRACE (4500 * GOC_MILLISECOND)

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

/* Waits for the connections and listeners, at most SHUTDOWN_GRACE. Frees
 * tls once no session can use it any more. */
static void wait_for_connections(goc_tls_config *tls)
{
    goc_chan *done = goc_chan_make(0, 0);
    shutdown_keep.done = done;
    shutdown_keep.tls = tls;
    if (goc_go(wait_all, &done, sizeof done) < 0) {
        log_warn("shutdown: cannot wait for the connections");
        return;
    }
    goc_timer *t = goc_timer_new(SHUTDOWN_GRACE);
    goc_select_case cases[2] = {
        {.c = done, .dir = GOC_SELECT_RECV},
        {.c = goc_timer_chan(t), .dir = GOC_SELECT_RECV},
    };
    if (goc_select(cases, 2, true) == 1) {
        log_warn("shutdown: connections still open after the grace period");
    } else {
        goc_chan_free(done);      /* wait_all has finished with it */
        goc_tls_config_free(tls); /* and every session with this */
        shutdown_keep.done = NULL;
        shutdown_keep.tls = NULL;
    }
    goc_timer_free(t);
}

static int server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    goc_jansson_use(); /* jansson and the JSON-RPC engine allocate with goc_malloc */
    srv.rpc = jrpc_new(&(jrpc_limits_t){JRPC_DEFAULT_MAX_DEPTH, JRPC_DEFAULT_MAX_BATCH});
    if (!srv.rpc || methods_register(srv.rpc) != 0) {
        fprintf(stderr, "gocd: out of memory\n");
        return 2;
    }
    srv.root = goc_context_with_cancel(goc_context_background());
    http_set_web_root(srv.cfg.web ? srv.cfg.web : GOCD_WEB_DIR);

    /* Bind every listener first: a busy address or an unreadable
     * certificate fails before anything else is said or opened. */
    goc_tls_config *tls = NULL; /* kept in shutdown_keep if connections outlive us */
    if (srv.cfg.tls || srv.cfg.tcp_tls) {
        char err[256];
        if (goc_tls_server_config(srv.cfg.cert, srv.cfg.key, &tls, err, sizeof err) != 0) {
            fprintf(stderr, "gocd: %s\n", err);
            exit(2);
        }
    }
    const struct {
        const char *kind, *addr;
    } wanted[] = {
        {"tcp", srv.cfg.tcp},
        {"http", srv.cfg.http},
        {"tls", srv.cfg.tls},
        {"tcp-tls", srv.cfg.tcp_tls},
    };
    listener *ls[sizeof wanted / sizeof wanted[0]];
    int nl = 0;
    for (size_t k = 0; k < sizeof wanted / sizeof wanted[0]; k++)
        if (wanted[k].addr && !(ls[nl++] = listener_open(wanted[k].kind, wanted[k].addr, tls)))
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
        if (listener_start(ls[i]) != 0) {
            fprintf(stderr, "gocd: cannot start a listener: out of memory\n");
            exit(2);
        }
    }

    int sig = goc_signal_wait(stop_sigs, 2);
    log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    conns_stop_all();
    goc_context_cancel(srv.root);
    for (int i = 0; i < nl; i++)
        listener_shutdown(ls[i]); /* its accept loop closes and frees it */
    wait_for_connections(tls);
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

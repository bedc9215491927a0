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

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <goc/malloc.h>
#include <goc/malloc_jansson.h>
#include <goc/profrate.h>

#include "addrlimit.h"
#include "auth.h"
#include "chat.h"
#include "log.h"
#include "redis.h"

/* The grace period connections get at shutdown, inside the 5 s promised. */
#define SHUTDOWN_GRACE (4500 * GOC_MILLISECOND)

/* What shutdown cannot free when connections outlive the grace period
 * (their goroutines may still use it): reachable from here, so the exit is
 * not reported as a leak. */
static struct {
    goc_chan *done;
} shutdown_keep;

static void wait_all(void *arg)
{
    goc_chan *done = *(goc_chan **)arg;
    goc_waitgroup_wait(&srv.wg);
    goc_chan_close(done);
}

/* Waits for the connections and listeners, at most SHUTDOWN_GRACE. */
static void wait_for_connections(void)
{
    goc_chan *done = goc_chan_make(0, 0);
    shutdown_keep.done = done;
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
        goc_chan_free(done); /* wait_all has finished with it */
        shutdown_keep.done = NULL;
    }
    goc_timer_free(t);
}

/* A start-up error: one line on stderr, exit status 2. */
__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "gocd: %s\n", line);
    exit(2);
}

/* A file the server needs at start (a certificate, a key) must be
 * readable: say which and why in the OS's words, not mbedtls's. */
static void check_readable(const char *flag, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail("cannot read %s %s: %s", flag, path, strerror(errno));
    close(fd);
}

/* The web client's folder when --web is not given: the installed one
 * beside the binary (<bindir>/../share/goc/web, so an installed tree may
 * move), else the source tree's (a build-tree run). */
static const char *default_web(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            struct stat st;
            int w = snprintf(buf, len, "%s/%s", exe, GOCD_WEB_FROM_BIN);
            if (w > 0 && (size_t)w < len && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
                return buf;
        }
    }
    return GOCD_WEB_DIR;
}

/* SIGHUP: loads the TLS certificate and key again (renewed ones are
 * served to new connections; open ones keep theirs). Without TLS there is
 * nothing to reload: said, and ignored. */
static void reload(void)
{
    if (!srv.cfg.tls && !srv.cfg.tcp_tls) {
        log_info("SIGHUP: no TLS certificate to reload");
        return;
    }
    char err[256];
    if (tls_load(srv.cfg.cert, srv.cfg.key, err, sizeof err) != 0)
        log_warn("SIGHUP: the certificate in use stays: %s", err);
    else
        log_info("SIGHUP: certificate %s and key %s reloaded", srv.cfg.cert, srv.cfg.key);
}

/* The ticket keys' timer: the active key of the certificate in use is
 * replaced every lifetime whether or not handshakes come (mbedtls alone
 * would replace it only when a handshake finds it old), so no key seals
 * for longer. */
static void rotate_tickets(void *arg)
{
    (void)arg;
    goc_ticker *tk = goc_ticker_new(GOC_TLS_TICKET_LIFETIME * GOC_SECOND);
    goc_select_case cases[2] = {
        {.c = goc_ticker_chan(tk), .dir = GOC_SELECT_RECV},
        {.c = goc_context_done(srv.root), .dir = GOC_SELECT_RECV},
    };
    while (goc_select(cases, 2, true) == 0)
        tls_rotate_tickets();
    goc_ticker_free(tk);
    goc_waitgroup_done(&srv.wg);
}

static int server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    goc_jansson_use(); /* jansson and the JSON-RPC engine allocate with goc_malloc */
    srv.rpc = jrpc_new(&(jrpc_limits_t){JRPC_DEFAULT_MAX_DEPTH, JRPC_DEFAULT_MAX_BATCH});
    if (!srv.rpc || methods_register(srv.rpc) != 0)
        fail("out of memory");
    srv.root = goc_context_with_cancel(goc_context_background());
    /* the profiles' sampling (/debug/pprof/, pprof.c) */
    goc_mem_profile_rate_set(srv.cfg.mem_profile_rate);
    goc_block_profile_rate_set(srv.cfg.block_profile_rate);
    goc_mutex_profile_fraction_set((int)srv.cfg.mutex_profile_fraction);
    char installed[PATH_MAX];
    const char *web = srv.cfg.web ? srv.cfg.web : default_web(installed, sizeof installed);
    int rc = http_set_web_root(web);
    if (rc && srv.cfg.web)
        fail("--web %s: %s", web, strerror(-rc));
    if (rc)
        log_warn("the web client's folder %s: %s (static files are off)", web, strerror(-rc));

    /* Bind every listener first: a busy address or an unreadable
     * certificate fails before anything else is said or opened. */
    if (srv.cfg.tls || srv.cfg.tcp_tls) {
        check_readable("--cert", srv.cfg.cert);
        check_readable("--key", srv.cfg.key);
        char err[256];
        if (tls_load(srv.cfg.cert, srv.cfg.key, err, sizeof err) != 0)
            fail("%s", err);
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
        if (wanted[k].addr && !(ls[nl++] = listener_open(wanted[k].kind, wanted[k].addr)))
            exit(2);
    if (srv.cfg.redis) { /* a bad URL is a bad flag: one line, exit 2 */
        redis_url u;
        char err[256];
        if (redis_url_parse(srv.cfg.redis, &u, err, sizeof err) != 0)
            fail("--redis: %s", err);
    }
    if (srv.cfg.tls || srv.cfg.tcp_tls) {
        goc_waitgroup_add(&srv.wg, 1);
        if (goc_go(rotate_tickets, NULL, 0) < 0)
            goc_waitgroup_done(&srv.wg); /* mbedtls still rotates on use */
    }
    char why[256];
    chat_config cc = {.db_path = srv.cfg.db, .rate = srv.cfg.rate,
                      .redis_url = srv.cfg.redis, .node = srv.cfg.node};
    if (chat_init(&cc, why, sizeof why) != 0) {
        if (srv.cfg.redis)
            fail("cannot start the chat on --redis %s: %s", srv.cfg.redis, why);
        fail("cannot open the history database --db %s: %s", srv.cfg.db, why);
    }
    /* Handle SIGINT/SIGTERM (and SIGHUP) from before the first listening
     * line: a signal sent as soon as that line is read is not fatal. */
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    goc_signal_watch(sigs, 3);
    for (int i = 0; i < nl; i++)
        if (listener_start(ls[i]) != 0)
            fail("cannot start a listener: out of memory");

    int sig;
    while ((sig = goc_signal_wait(sigs, 3)) == SIGHUP)
        reload();
    log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    conns_stop_all();
    goc_context_cancel(srv.root);
    for (int i = 0; i < nl; i++)
        listener_shutdown(ls[i]); /* its accept loop closes and frees it */
    tls_drop(); /* freed once its last session ends */
    wait_for_connections();
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
    srv.start_time = (int64_t)time(NULL);
    int rc = config_parse(&srv.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    descriptor_limit();
    if (srv.cfg.max_conns_per_ip == 0)
        srv.cfg.max_conns_per_ip = srv.cfg.max_conns / 4 > 0 ? srv.cfg.max_conns / 4 : 1;
    addrlimit_init(srv.cfg.max_conns_per_ip, srv.cfg.conn_rate);
    if (auth_init(srv.cfg.auth_secret) != 0)
        return 2;
    log_set_level(srv.cfg.log_level);
    log_set_format(srv.cfg.log_format);
    if (srv.cfg.redis || srv.cfg.node) /* several servers: say which one speaks */
        log_set_node(srv.cfg.node);
    goc_config gc = {.procs = srv.cfg.procs};
    goc_start(&gc, server_main, argc, argv);
}

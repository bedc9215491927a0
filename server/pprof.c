/* pprof.c: GET /debug/pprof/... (doc/protocol.md, "Profiles"), Go's
 * net/http/pprof on the runtime's profiles (goc/pprof.h):
 *
 *   /debug/pprof/                    an index page linking the others
 *   /debug/pprof/goroutine           ?debug=1 counts, ?debug=2 every stack as text
 *   /debug/pprof/heap, /allocs       sampled allocations (--mem-profile-rate)
 *   /debug/pprof/block, /mutex       waits (--block-profile-rate, --mutex-profile-fraction)
 *   /debug/pprof/profile?seconds=N   N seconds of CPU (1..60, default 30)
 *
 * Profiles are gzipped profile.proto (debug=0, the default) for `go tool
 * pprof URL`, or text with ?debug=1. Open only to clients on a loopback
 * address (127.0.0.0/8, ::1, and IPv4-mapped loopback) unless --pprof
 * any; --pprof off answers 404. A client elsewhere gets 403, before the
 * path is looked at. As in Go, a second CPU profile while one runs gets
 * 500; the profile's wait ends early (500) when the server shuts down.
 * Nothing here changes a rate: those are flags, as Go leaves them to the
 * program.
 */
#include "server.h"

#include <goc/pprof.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

#define CPU_SECONDS_DEFAULT 30
#define CPU_SECONDS_MAX 60
#define PPROF_HEADERS "X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n"

bool pprof_peer_loopback(const char *peer)
{
    char host[64];
    const char *end;
    if (peer[0] == '[') { /* [v6]:port */
        end = strchr(peer, ']');
        peer++;
    } else {
        end = strrchr(peer, ':');
    }
    if (!end || (size_t)(end - peer) >= sizeof host)
        return false;
    memcpy(host, peer, (size_t)(end - peer));
    host[end - peer] = 0;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/* ---- answers ------------------------------------------------------------------------ */

static int buf_write(void *arg, const void *p, size_t n)
{
    buf_t *b = arg;
    return buf_append(b, p, n) ? -ENOMEM : 0;
}

static void text(const pprof_request *r, int status, const char *body)
{
    goc_http_out_response(r->o, status, "text/plain; charset=utf-8", PPROF_HEADERS, body,
                          strlen(body), r->keep_alive, r->head);
}

/* A profile in b: gzipped proto, or text for debug > 0. */
static void profile_answer(const pprof_request *r, const char *name, int debug, const buf_t *b)
{
    char extra[256];
    if (debug) {
        goc_http_out_response(r->o, 200, "text/plain; charset=utf-8", PPROF_HEADERS, b->data,
                              b->len, r->keep_alive, r->head);
        return;
    }
    snprintf(extra, sizeof extra, PPROF_HEADERS "Content-Disposition: attachment; filename=\"%s\"\r\n",
             name);
    goc_http_out_response(r->o, 200, "application/octet-stream", extra, b->data, b->len,
                          r->keep_alive, r->head);
}

static const struct {
    const char *name;
    const char *what;
} profiles[] = {
    {"allocs", "A sampling of all past memory allocations"},
    {"block", "Stack traces that led to blocking on synchronization primitives"},
    {"goroutine", "Stack traces of all current goroutines. Use debug=2 as a query parameter to "
                  "export in the same format as an unrecovered panic."},
    {"heap", "A sampling of memory allocations of live objects"},
    {"mutex", "Stack traces of holders of contended mutexes"},
    {"profile", "CPU profile. You can specify the duration in the seconds GET parameter (1 to "
                "60, default 30). After you get the profile file, use the go tool pprof command "
                "to investigate the profile."},
};

static void index_page(const pprof_request *r)
{
    buf_t b = {0};
    buf_printf(&b, "<!doctype html><html><head><title>/debug/pprof/</title></head><body>\n"
                   "<p>/debug/pprof/</p>\n<p>Set debug=1 as a query parameter to export in "
                   "legacy text format</p>\n<p>Types of profiles available:</p>\n<ul>\n");
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        buf_printf(&b, "<li><a href=\"%s%s\">%s</a>: %s</li>\n", profiles[i].name,
                   strcmp(profiles[i].name, "profile") == 0 ? "" : "?debug=1", profiles[i].name,
                   profiles[i].what);
    buf_printf(&b, "<li><a href=\"goroutine?debug=2\">full goroutine stack dump</a></li>\n</ul>\n"
                   "<p>Sampling: heap %s, block %s, mutex %s (gocd --mem-profile-rate, "
                   "--block-profile-rate, --mutex-profile-fraction).</p>\n"
                   "<p><code>go tool pprof -http : http://HOST:PORT/debug/pprof/profile?seconds=10"
                   "</code> opens a flame graph.</p>\n</body></html>\n",
               srv.cfg.mem_profile_rate ? "on" : "off", srv.cfg.block_profile_rate ? "on" : "off",
               srv.cfg.mutex_profile_fraction ? "on" : "off");
    if (b.err)
        text(r, 500, "out of memory\n");
    else
        goc_http_out_response(r->o, 200, "text/html; charset=utf-8", PPROF_HEADERS, b.data,
                              b.len, r->keep_alive, r->head);
    buf_free(&b);
}

/* CPU for the given seconds; the wait ends early at shutdown. */
static void cpu(const pprof_request *r, int64_t seconds)
{
    buf_t b = {0};
    int rc = goc_pprof_cpu_start(0, buf_write, &b);
    if (rc == -EBUSY) {
        text(r, 500, "Could not enable CPU profiling: cpu profiling already in use\n");
        return;
    }
    if (rc) {
        text(r, 500, "Could not enable CPU profiling\n");
        return;
    }
    int64_t end = goc_nanotime() + seconds * GOC_SECOND;
    for (int64_t left; (left = end - goc_nanotime()) > 0 && !goc_context_err(srv.root);)
        goc_sleep(left < 100 * GOC_MILLISECOND ? left : 100 * GOC_MILLISECOND);
    rc = goc_pprof_cpu_stop();
    if (goc_context_err(srv.root))
        text(r, 500, "shutting down\n");
    else if (rc)
        text(r, 500, "Could not write the CPU profile\n");
    else
        profile_answer(r, "profile", 0, &b);
    buf_free(&b);
}

void pprof_route(const pprof_request *r)
{
    const goc_http_request_t *req = r->req;
    if (srv.cfg.pprof == PPROF_OFF) {
        text(r, 404, "404 page not found\n");
        return;
    }
    if (srv.cfg.pprof != PPROF_ANY && !pprof_peer_loopback(r->peer)) {
        text(r, 403, "pprof is served to loopback clients only (gocd --pprof any)\n");
        return;
    }
    if (!r->get) {
        text(r, 405, "method not allowed\n");
        return;
    }
    const char *name = req->path + strlen("/debug/pprof/");
    size_t len = req->path_len - strlen("/debug/pprof/");
    uint64_t debug = 0, seconds = CPU_SECONDS_DEFAULT;
    int q = goc_http_query_u64(req->query, req->query_len, "debug", &debug);
    if (q == -EINVAL || debug > 2) {
        text(r, 400, "bad debug parameter\n");
        return;
    }
    if (len == 0) {
        index_page(r);
    } else if (len == 7 && memcmp(name, "profile", 7) == 0) {
        q = goc_http_query_u64(req->query, req->query_len, "seconds", &seconds);
        if (q == -EINVAL || seconds < 1 || seconds > CPU_SECONDS_MAX)
            text(r, 400, "bad seconds parameter: want 1 to 60\n");
        else
            cpu(r, (int64_t)seconds);
    } else {
        char pname[16];
        if (len >= sizeof pname) {
            text(r, 404, "Unknown profile\n");
            return;
        }
        memcpy(pname, name, len);
        pname[len] = 0;
        buf_t b = {0};
        int rc = goc_pprof_write(pname, (int)debug, buf_write, &b);
        if (rc == -ENOENT)
            text(r, 404, "Unknown profile\n");
        else if (rc == -EINVAL)
            text(r, 400, "debug=2 is for the goroutine profile only\n");
        else if (rc)
            text(r, 500, "could not write the profile\n");
        else
            profile_answer(r, pname, (int)debug, &b);
        buf_free(&b);
    }
}

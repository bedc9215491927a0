/* http_conn.c: the HTTP/1.1 transport (doc/protocol.md, "HTTP" and "HTTP routes"):
 * a goroutine per connection reads requests as they come (keep-alive and
 * pipelining), routes each, and writes the answer; GET /ws hands the
 * connection to the WebSocket transport.
 *
 * Slow clients: once the first byte of a request has arrived, the whole
 * request must arrive within --read-timeout; an idle keep-alive connection
 * is closed after IDLE_TIMEOUT. Bodies are bounded by --max-frame (413),
 * headers by the reader's limits (431), malformed requests get 400 and the
 * connection closes.
 *
 * With --auth-secret, /rpc, /api/... and /ws need a token (auth.h): without
 * a valid one the answer is 401 with WWW-Authenticate: Bearer and a JSON
 * error, before anything else is done (for /ws, before the upgrade). The
 * web root, /healthz and /metrics stay open; /debug/pprof/ has its own
 * rule (pprof.c: loopback clients only, unless --pprof any). Static files come with a
 * Content-Security-Policy that allows the page's own scripts, styles and
 * connections only (no inline script), X-Content-Type-Options: nosniff
 * and Referrer-Policy: no-referrer.
 */
#include "server.h"

#include <goc/pprof.h>

#include <goc/malloc.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "ws.h"

#define READ_BUF 16384
#define IDLE_TIMEOUT (60 * GOC_SECOND)
#define MAX_STATIC (16 << 20)

/* What every static file is sent with: the browser runs the client's own
 * scripts and styles from this server and nothing else (no inline script
 * or style, no eval, no plugins, no framing by other sites), may reach
 * only this server (fetch, WebSocket: 'self' covers ws: and wss: to the
 * same host), guesses no content type, and sends no Referer (a page
 * address may hold a token in its fragment, which is never sent, but the
 * rule keeps other parts private too). */
#define STATIC_HEADERS                                                                             \
    "Cache-Control: no-cache\r\n"                                                                  \
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "               \
    "form-action 'self'; frame-ancestors 'none'\r\n"                                               \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Referrer-Policy: no-referrer\r\n"

/* ---- responses ------------------------------------------------------------------ */

static void respond(goc_http_out_t *o, int status, const char *ctype, const char *extra,
                    const void *body, size_t len, bool keep_alive, bool head)
{
    goc_http_out_response(o, status, ctype, extra, body, len, keep_alive, head);
}

/* A body as a string literal: its length is the compiler's. */
#define RESPOND_LITERAL(o, status, ctype, extra, lit, ka, head)                               \
    respond((o), (status), (ctype), (extra), (lit), sizeof(lit) - 1, (ka), (head))
#define JSON_LITERAL(o, status, extra, lit, ka, head)                                         \
    goc_http_out_json((o), (status), (extra), (lit), sizeof(lit) - 1, (ka), (head))

void http_json(goc_http_out_t *o, int status, json_t *j, bool keep_alive, bool head)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        JSON_LITERAL(o, 500, NULL, "{\"error\":\"out of memory\"}", keep_alive, head);
        return;
    }
    goc_http_out_json(o, status, NULL, text, strlen(text), keep_alive, head);
    goc_free(text); /* jansson allocates with the runtime's allocator */
}

/* REST errors: a 4xx status with {"error": "..."}. */
void http_error_json(goc_http_out_t *o, int status, const char *msg, bool keep_alive, bool head)
{
    http_json(o, status, json_pack("{s:s}", "error", msg), keep_alive, head);
}

/* ---- static files ------------------------------------------------------------------- */

static char web_root[PATH_MAX];

static int read_file(const char *path, char **data, size_t *len)
{
    goc_syscall_enter();
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = 0;
    struct stat st;
    char *buf = NULL;
    if (fd < 0) {
        rc = -errno;
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = -ENOENT;
    } else if (st.st_size > MAX_STATIC) {
        rc = -EFBIG;
    } else if (!(buf = goc_malloc((size_t)st.st_size + 1))) {
        rc = -ENOMEM;
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        *data = buf;
        *len = got;
    }
    if (fd >= 0)
        close(fd);
    goc_syscall_exit();
    if (rc)
        goc_free(buf);
    return rc;
}

static void serve_static(const goc_http_request_t *req, goc_http_out_t *o, bool head)
{
    char path[PATH_MAX], real[PATH_MAX];
    long n = goc_http_static_path(web_root, req->path, req->path_len, path, sizeof path);
    if (n < 0) {
        http_error_json(o, n == -EACCES ? 403 : 400, "bad path", req->keep_alive, head);
        return;
    }
    /* Symbolic links must not lead out of the folder. */
    if (!realpath(path, real)) {
        http_error_json(o, 404, "not found", req->keep_alive, head);
        return;
    }
    if (!goc_http_path_within(web_root, real)) {
        http_error_json(o, 403, "forbidden", req->keep_alive, head);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(real, &data, &len);
    if (rc) {
        http_error_json(o, rc == -ENOENT || rc == -EISDIR ? 404 : 500, "not found",
                        req->keep_alive, head);
        return;
    }
    respond(o, 200, goc_http_content_type(real, strlen(real)), STATIC_HEADERS,
            data, len, req->keep_alive, head);
    goc_free(data);
}

int http_set_web_root(const char *dir)
{
    struct stat st;
    if (!realpath(dir, web_root) || stat(web_root, &st) != 0) {
        int rc = -errno;
        snprintf(web_root, sizeof web_root, "/nonexistent-web-root");
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(web_root, sizeof web_root, "/nonexistent-web-root");
        return -ENOTDIR;
    }
    return 0;
}

/* ---- routes ------------------------------------------------------------------------ */

/* 401 for a request without a valid token (why: a static sentence); RFC
 * 6750 3's challenge, with error="invalid_token" when one was presented. */
static void unauthorized(goc_http_out_t *o, const char *why, bool presented, bool keep_alive,
                         bool head)
{
    json_t *j = json_pack("{s:s}", "error", why);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        JSON_LITERAL(o, 500, NULL, "{\"error\":\"out of memory\"}", keep_alive, head);
        return;
    }
    goc_http_out_json(o, 401,
                      presented ? "WWW-Authenticate: Bearer realm=\"gocd\", error=\"invalid_token\"\r\n"
                                : "WWW-Authenticate: Bearer realm=\"gocd\"\r\n",
                      text, strlen(text), keep_alive, head);
    goc_free(text);
}

static void route_rpc(const goc_http_request_t *req, goc_http_out_t *o, bool head,
                      const char *peer, auth_session *as)
{
    jrpc_ctx_t ctx = {.persistent = false, .transport = "http", .peer = peer, .auth = as};
    buf_t reply = {0};
    int rc = jrpc_handle_buf(srv.rpc, req->body, req->body_len, &ctx, &reply);
    if (rc < 0)
        http_error_json(o, 500, "out of memory", false, head);
    else if (rc == 0)
        respond(o, 204, NULL, NULL, NULL, 0, req->keep_alive, head);
    else
        goc_http_out_json(o, 200, NULL, reply.data, reply.len, req->keep_alive, head);
    buf_free(&reply);
}

/* One request being answered, for the route handlers. */
typedef struct request {
    const goc_http_request_t *req;
    goc_http_out_t *o;
    const char *peer;
    char *accept; /* the WebSocket accept key, GOC_WS_ACCEPT_LEN + 1 bytes */
    bool head;    /* HEAD: no body */
    bool get;     /* GET or HEAD */
    auth_session *as; /* the request's identity (empty without --auth-secret) */
} request;

/* With --auth-secret: the request's token into r->as, true; or false
 * after answering 401. query: ?token= counts too (GET /ws). */
static bool authorized(const request *r, bool query, bool keep_alive)
{
    if (!auth_on())
        return true;
    const char *why;
    int rc = auth_http(r->req, query, r->as, &why);
    if (rc == 0)
        return true;
    unauthorized(r->o, why, rc != -ENOENT, keep_alive, r->head);
    return false;
}

static void r_rpc(const request *r)
{
    if (!authorized(r, false, r->req->keep_alive))
        return;
    if (r->req->method != GOC_HTTP_POST)
        JSON_LITERAL(r->o, 405, "Allow: POST\r\n", "{\"error\":\"method not allowed\"}",
                     r->req->keep_alive, r->head);
    else
        route_rpc(r->req, r->o, r->head, r->peer, r->as);
}

/* Writes the 101 answer when the upgrade is accepted. */
static void r_ws(const request *r)
{
    int rc = goc_ws_handshake_check(r->req, srv.cfg.origins, (size_t)srv.cfg.norigins, r->accept);
    if (rc) {
        int st = goc_ws_handshake_status(rc);
        http_error_json(r->o, st, st == 403 ? "origin not allowed" : "bad WebSocket handshake",
                        false, r->head);
        return;
    }
    if (authorized(r, true, false))
        goc_ws_handshake_response(r->o, r->accept);
}

static void r_healthz(const request *r)
{
    bool ka = r->req->keep_alive;
    if (!r->get)
        RESPOND_LITERAL(r->o, 405, "text/plain", "Allow: GET, HEAD\r\n", "method not allowed\n",
                        ka, r->head);
    else if (chat_available())
        RESPOND_LITERAL(r->o, 200, "text/plain; charset=utf-8", NULL, "ok", ka, r->head);
    else /* with --redis: Redis is unreachable */
        RESPOND_LITERAL(r->o, 503, "text/plain; charset=utf-8", NULL, "unavailable", ka, r->head);
}

static void r_metrics(const request *r)
{
    bool ka = r->req->keep_alive;
    buf_t text;
    if (!r->get) {
        http_error_json(r->o, 405, "method not allowed", ka, r->head);
    } else if (metrics_text(&text) != 0) {
        http_error_json(r->o, 500, "out of memory", ka, r->head);
    } else {
        respond(r->o, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text.data, text.len,
                ka, r->head);
        buf_free(&text);
    }
}

static void r_api(const request *r)
{
    if (authorized(r, false, r->req->keep_alive))
        rest_route(r->req, r->o, r->as);
}

static void r_pprof(const request *r)
{
    pprof_request pr = {r->req, r->o, r->peer, r->get, r->head, r->req->keep_alive};
    pprof_route(&pr);
}

static void r_static(const request *r)
{
    if (!r->get)
        http_error_json(r->o, 405, "method not allowed", r->req->keep_alive, r->head);
    else
        serve_static(r->req, r->o, r->head);
}

/* The routes, first match wins; the last one matches every path. */
static const struct {
    const char *path; /* exact path, or a prefix when prefix is set */
    bool prefix;
    int id;           /* ROUTE_*: the label in /metrics */
    void (*answer)(const request *r);
} routes[] = {
    {"/rpc", false, ROUTE_RPC, r_rpc},
    {"/ws", false, ROUTE_WS, r_ws},
    {"/healthz", false, ROUTE_HEALTHZ, r_healthz},
    {"/metrics", false, ROUTE_METRICS, r_metrics},
    {"/api/", true, ROUTE_API, r_api},
    {"/debug/pprof/", true, ROUTE_PPROF, r_pprof},
    {"", true, ROUTE_STATIC, r_static},
};

/* Answers req into o; returns the route taken (ROUTE_WS with status 101
 * in o: the connection becomes a WebSocket, as its identity). */
static int route(const goc_http_request_t *req, goc_http_out_t *o, char *accept, const char *peer,
                 auth_session *as)
{
    request r = {req, o, peer, accept, req->method == GOC_HTTP_HEAD,
                 req->method == GOC_HTTP_GET || req->method == GOC_HTTP_HEAD, as};
    for (size_t i = 0;; i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].prefix ? req->path_len >= n && memcmp(req->path, routes[i].path, n) == 0
                             : req->path_len == n && memcmp(req->path, routes[i].path, n) == 0) {
            routes[i].answer(&r);
            return routes[i].id;
        }
    }
}

/* Counts one answered request in /metrics and logs it at debug level. */
static void count_request(int route_id, const goc_http_request_t *req, int status,
                          int64_t started, const char *peer)
{
    size_t k = 0;
    while (k < HTTP_STATUSES - 1 && http_status_counted[k] != status)
        k++;
    atomic_fetch_add_explicit(&srv.http_requests[route_id][k], 1, memory_order_relaxed);
    if (!log_enabled(LOG_DEBUG))
        return;
    char st[24], d[24], path[256];
    const char *method = req ? req->method_name : "";
    snprintf(path, sizeof path, "%.*s", req ? (int)(req->path_len < 255 ? req->path_len : 255) : 0,
             req ? req->path : "");
    log_event(LOG_DEBUG, "http", "peer", peer, "method", method, "path", path, "route",
              http_route_name[route_id], "status", log_i64(st, status), "dur_us",
              log_i64(d, (goc_nanotime() - started) / 1000), (const char *)NULL);
}

/* ---- the connection ---------------------------------------------------------------- */

static void serve(const stream *s, const char *peer)
{
    goc_conn *c = s->conn;
    goc_http_limits_t limits = {.max_body = srv.cfg.max_frame};
    goc_http_reader_t *r;
    if (goc_http_reader_new(&limits, &r) != 0)
        return;
    char *buf = goc_malloc(READ_BUF);
    goc_http_out_t o;
    goc_http_out_init(&o, srv.cfg.max_frame + 65536 + (MAX_STATIC));
    size_t have = 0; /* unconsumed bytes at buf[0..have) */
    bool in_request = false;
    int64_t request_timeout = srv.cfg.read_timeout_ms * GOC_MILLISECOND;
    auth_session as = {0}; /* the last token verified on this connection (auth.h) */
    conn_read_deadline(c, goc_nanotime() + IDLE_TIMEOUT);
    while (buf) {
        /* Feed what we have; read more only when it is all consumed. */
        size_t used = 0;
        int rc = have ? goc_http_reader_feed(r, buf, have, &used) : 0;
        if (used && !in_request) {
            in_request = true;
            conn_read_deadline(c, goc_nanotime() + request_timeout);
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        if (rc < 0) {
            int st = goc_http_error_status(rc);
            goc_http_out_reset(&o);
            http_error_json(&o, st, goc_http_status_text(st), false, false);
            count_request(ROUTE_NONE, NULL, st, goc_nanotime(), peer);
            if (goc_http_out_finish(&o) > 0)
                stream_write(s, o.data, o.len);
            break;
        }
        if (rc == 1) {
            const goc_http_request_t *req = goc_http_reader_request(r);
            int64_t started = goc_nanotime();
            goc_http_out_reset(&o);
            char accept[GOC_WS_ACCEPT_LEN + 1];
            int id = route(req, &o, accept, peer, &as);
            bool ws = id == ROUTE_WS && o.status == 101;
            bool keep = req->keep_alive && !ws;
            if (goc_http_out_finish(&o) < 0) {
                goc_http_out_reset(&o);
                http_error_json(&o, 500, "response too large", false, false);
                keep = false;
            }
            count_request(id, req, o.status, started, peer);
            if (stream_write(s, o.data, o.len) < 0)
                break;
            if (ws) {
                goc_http_out_free(&o);
                goc_http_reader_free(r);
                r = NULL;
                atomic_fetch_sub(&srv.conns_open[TRANSPORT_HTTP], 1);
                /* The WebSocket keeps only the bytes that came early, not
                 * this connection's HTTP buffer. */
                char *early = have ? goc_malloc(have) : NULL;
                if (early)
                    memcpy(early, buf, have);
                goc_free(buf);
                buf = NULL;
                ws_conn_serve(s, peer, early, early ? have : 0, &as);
                goc_free(early);
                atomic_fetch_add(&srv.conns_open[TRANSPORT_HTTP], 1);
                break;
            }
            if (!keep)
                break;
            in_request = have > 0;
            conn_read_deadline(c, goc_nanotime() + (in_request ? request_timeout : IDLE_TIMEOUT));
            continue;
        }
        ssize_t n = stream_read(s, buf + have, READ_BUF - have);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    goc_free(buf);
    auth_session_free(&as);
    if (r) {
        goc_http_out_free(&o);
        goc_http_reader_free(r);
    }
}

void http_conn_serve(const stream *s, const char *peer)
{
    goc_labels_set("transport", "http"); /* profiles (pprof.c) */
    atomic_fetch_add(&srv.conns_open[TRANSPORT_HTTP], 1);
    atomic_fetch_add(&srv.conns_total[TRANSPORT_HTTP], 1);
    serve(s, peer);
    atomic_fetch_sub(&srv.conns_open[TRANSPORT_HTTP], 1);
}

/* http_test.c: the HTTP reader, response writer and path helpers of
 * proto/http.h.
 *
 * The reader is tested with data (doc/contributing.md, rule 14): each folder of
 * tests/proto/http_cases holds in.http (bytes as a client sends them) and
 * out.txt (one summary line per request, its headers, then "error <status>"
 * or "rest <n>" for bytes left after an upgrade). Each case is fed whole, in
 * two pieces split at every byte, and one byte at a time, and must give the
 * same summary each way. Limits, helpers and the writer are tested in code.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <dirent.h>
#include <errno.h>

#include "http.h"

#ifndef HTTP_CASES
#error "HTTP_CASES must name the case folder"
#endif

/* A growing text the summaries are written to. */
typedef struct text {
    char buf[16384]; /* the text */
    size_t len;      /* its length */
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (n > sizeof t->buf - 1 - t->len)
        n = sizeof t->buf - 1 - t->len;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void text_str(text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* Body bytes with CR and LF spelled out, so a summary stays one line. */
static void text_escaped(text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r')
            text_str(t, "\\r");
        else if (s[i] == '\n')
            text_str(t, "\\n");
        else
            text_add(t, s + i, 1);
    }
}

static void summarize(text *t, const goc_http_request_t *q)
{
    char line[128];
    text_str(t, q->method_name);
    text_str(t, " path=");
    text_add(t, q->path, q->path_len);
    text_str(t, " query=");
    text_add(t, q->query, q->query_len);
    snprintf(line, sizeof line, " v=%d.%d ka=%d up=%d body=%zu:", q->version_major,
             q->version_minor, q->keep_alive, q->upgrade, q->body_len);
    text_str(t, line);
    text_escaped(t, q->body, q->body_len);
    text_str(t, "\n");
    for (size_t i = 0; i < q->nheaders; i++) {
        text_str(t, " hdr ");
        text_add(t, q->headers[i].name, q->headers[i].name_len);
        text_str(t, ": ");
        text_add(t, q->headers[i].value, q->headers[i].value_len);
        text_str(t, "\n");
    }
}

/* Plays data to a reader like a socket delivering it in reads of the sizes
 * given by cuts (cut points, ascending, ending at len), keeping unconsumed
 * bytes for the next feed as a server does. Writes the summary to t. */
static void play(const goc_http_limits_t *lim, const char *data, size_t len, const size_t *cuts,
                 size_t ncuts, text *t)
{
    goc_http_reader_t *r;
    static char pend[1 << 20];
    size_t plen = 0, from = 0;
    if (goc_http_reader_new(lim, &r) != 0) {
        text_str(t, "new failed\n");
        return;
    }
    for (size_t c = 0; c < ncuts; c++) {
        memcpy(pend + plen, data + from, cuts[c] - from);
        plen += cuts[c] - from;
        from = cuts[c];
        while (plen > 0) {
            size_t used = 0;
            int rc = goc_http_reader_feed(r, pend, plen, &used);
            memmove(pend, pend + used, plen - used);
            plen -= used;
            if (rc < 0) {
                char line[32];
                snprintf(line, sizeof line, "error %d\n", goc_http_error_status(rc));
                text_str(t, line);
                goto out;
            }
            if (rc == 0)
                break;
            const goc_http_request_t *q = goc_http_reader_request(r);
            summarize(t, q);
            if (q->upgrade) {
                char line[32];
                snprintf(line, sizeof line, "rest %zu\n", plen + (len - from));
                text_str(t, line);
                goto out;
            }
        }
    }
out:
    goc_http_reader_free(r);
}

static long read_file(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", HTTP_CASES, dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (long)n;
}

/* Runs one case every way; returns false (after saying why) on a mismatch. */
static bool run_case(const char *name)
{
    static char in[65536], want[16384];
    static text got;
    long n = read_file(name, "in.http", in, sizeof in);
    long w = read_file(name, "out.txt", want, sizeof want);
    if (n < 0 || w < 0) {
        printf("# %s: missing in.http or out.txt\n", name);
        return false;
    }
    size_t len = (size_t)n;
    size_t cuts[2];
    for (size_t k = 0; k <= len; k++) { /* k == len: whole, one read */
        got.len = 0;
        cuts[0] = k;
        cuts[1] = len;
        play(NULL, in, len, k == len ? cuts + 1 : cuts, k == len ? 1 : 2, &got);
        if (strcmp(got.buf, want) != 0) {
            printf("# case %s split at %zu:\n# got:\n%s# want:\n%s", name, k, got.buf, want);
            return false;
        }
    }
    static size_t each[65536];
    for (size_t i = 0; i < len; i++)
        each[i] = i + 1;
    got.len = 0;
    play(NULL, in, len, each, len, &got);
    if (strcmp(got.buf, want) != 0) {
        printf("# case %s byte by byte:\n# got:\n%s# want:\n%s", name, got.buf, want);
        return false;
    }
    return true;
}

static void test_cases(void)
{
    DIR *d = opendir(HTTP_CASES);
    CHECK_MSG(d, "cannot open %s", HTTP_CASES);
    int ran = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        ran++;
        bad += !run_case(e->d_name);
    }
    closedir(d);
    CHECK_MSG(ran >= 20, "only %d cases found", ran);
    CHECK_EQ_INT(bad, 0);
}

/* Plays a whole request once, one read; returns the summary. */
static const char *play_once(const goc_http_limits_t *lim, const char *data, size_t len)
{
    static text t;
    t.len = 0;
    t.buf[0] = 0;
    size_t cut = len;
    play(lim, data, len, &cut, 1, &t);
    return t.buf;
}

static void test_header_too_large(void)
{
    static char req[40000];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', 17000);
    n += 17000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    CHECK_EQ_STR(play_once(NULL, req, (size_t)n), "error 431\n");
    /* A target alone over the limit. */
    n = snprintf(req, sizeof req, "GET /");
    memset(req + n, 'b', 17000);
    n += 17000;
    n += snprintf(req + n, sizeof req - (size_t)n, " HTTP/1.1\r\n\r\n");
    CHECK_EQ_STR(play_once(NULL, req, (size_t)n), "error 431\n");
    /* Just under the limit passes. */
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'c', 16000);
    n += 16000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    CHECK_STR_CONTAINS(play_once(NULL, req, (size_t)n), "GET path=/ ");
    /* A custom limit. */
    goc_http_limits_t lim = {.max_header_bytes = 100};
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nA: %090d\r\n\r\n", 0);
    CHECK_EQ_STR(play_once(&lim, req, (size_t)n), "error 431\n");
}

static void test_too_many_headers(void)
{
    char req[8192];
    size_t n = (size_t)snprintf(req, sizeof req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(req + n, sizeof req - n, "H%d: v\r\n", i);
    memcpy(req + n, "\r\n", 3);
    CHECK_STR_CONTAINS(play_once(NULL, req, n + 2), "hdr H63: v");
    n += (size_t)snprintf(req + n, sizeof req - n, "H64: v\r\n\r\n");
    CHECK_EQ_STR(play_once(NULL, req, n), "error 431\n");
}

static void test_body_too_large(void)
{
    goc_http_limits_t lim = {.max_body = 10};
    const char *ok = "POST /rpc HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    CHECK_STR_CONTAINS(play_once(&lim, ok, strlen(ok)), "body=10:0123456789");
    /* Refused on the header, before any body byte. */
    const char *big = "POST /rpc HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    CHECK_EQ_STR(play_once(&lim, big, strlen(big)), "error 413\n");
    const char *huge = "POST /rpc HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n";
    CHECK_EQ_STR(play_once(&lim, huge, strlen(huge)), "error 413\n");
    /* Chunked: refused once the decoded body passes the limit. */
    const char *ch = "POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n";
    CHECK_EQ_STR(play_once(&lim, ch, strlen(ch)), "error 413\n");
    const char *chok = "POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n";
    CHECK_STR_CONTAINS(play_once(&lim, chok, strlen(chok)), "body=10:abcdefghij");
    CHECK_EQ_INT(goc_http_error_status(-EMSGSIZE), 413);
    CHECK_EQ_INT(goc_http_error_status(-E2BIG), 431);
    CHECK_EQ_INT(goc_http_error_status(-EBADMSG), 400);
    CHECK_EQ_INT(goc_http_error_status(-EPROTONOSUPPORT), 505);
    CHECK_EQ_INT(goc_http_error_status(-ENOMEM), 500);
}

static void test_errors_stick_and_idle(void)
{
    goc_http_reader_t *r;
    size_t used;
    CHECK_EQ_INT(goc_http_reader_new(NULL, &r), 0);
    CHECK(goc_http_reader_idle(r));
    CHECK_EQ_INT(goc_http_reader_feed(r, "GET / HT", 8, &used), 0);
    CHECK_EQ_UINT(used, 8);
    CHECK(!goc_http_reader_idle(r));
    CHECK(goc_http_reader_request(r) == NULL);
    CHECK_EQ_INT(goc_http_reader_feed(r, "TP/1.1\r\n\r\n", 10, &used), 1);
    CHECK(goc_http_reader_idle(r));
    CHECK(goc_http_reader_request(r) != NULL);
    CHECK_EQ_INT(goc_http_reader_feed(r, "BAD\x01", 4, &used), -EBADMSG);
    CHECK(goc_http_reader_request(r) == NULL);
    CHECK_EQ_INT(goc_http_reader_feed(r, "GET / HTTP/1.1\r\n\r\n", 18, &used), -EBADMSG);
    goc_http_reader_free(r);
    goc_http_limits_t bad = {.max_headers = 5000};
    CHECK_EQ_INT(goc_http_reader_new(&bad, &r), -EINVAL);
}

static void test_header_lookup(void)
{
    goc_http_reader_t *r;
    size_t used;
    const char *req = "GET / HTTP/1.1\r\nconnection: keep-alive, Upgrade\r\nHOST: h\r\n\r\n";
    CHECK_EQ_INT(goc_http_reader_new(NULL, &r), 0);
    CHECK_EQ_INT(goc_http_reader_feed(r, req, strlen(req), &used), 1);
    const goc_http_request_t *q = goc_http_reader_request(r);
    const goc_http_header_t *h = goc_http_header_find(q, "Connection");
    CHECK(h != NULL);
    CHECK(goc_http_has_token(h->value, h->value_len, "upgrade"));
    CHECK(goc_http_has_token(h->value, h->value_len, "KEEP-ALIVE"));
    CHECK(!goc_http_has_token(h->value, h->value_len, "close"));
    CHECK(!goc_http_has_token(h->value, h->value_len, "keep"));
    CHECK(goc_http_header_find(q, "host") != NULL);
    CHECK(goc_http_header_find(q, "Origin") == NULL);
    CHECK_EQ_INT(q->method, GOC_HTTP_GET);
    CHECK_EQ_STR(q->target, "/");
    goc_http_reader_free(r);
}

static void test_response_writer(void)
{
    goc_http_out_t o;
    goc_http_out_init(&o, 0);
    goc_http_out_response(&o, 405, "application/json", "Allow: POST\r\n", "{\"error\":\"x\"}", 13,
                          true, false);
    CHECK_EQ_INT(goc_http_out_finish(&o), (long)o.len);
    const char *want = "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
                       "Content-Length: 13\r\nConnection: keep-alive\r\nAllow: POST\r\n\r\n"
                       "{\"error\":\"x\"}";
    CHECK_EQ_UINT(o.len, strlen(want));
    CHECK(memcmp(o.data, want, o.len) == 0);
    goc_http_out_reset(&o);
    goc_http_out_response(&o, 204, NULL, NULL, NULL, 0, false, false);
    want = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    CHECK_EQ_UINT(o.len, strlen(want));
    CHECK(memcmp(o.data, want, o.len) == 0);
    goc_http_out_reset(&o);
    goc_http_out_response(&o, 200, "text/plain", NULL, "ok", 2, true, true); /* HEAD */
    want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
           "Connection: keep-alive\r\n\r\n";
    CHECK_EQ_UINT(o.len, strlen(want));
    CHECK(memcmp(o.data, want, o.len) == 0);
    /* Header injection refused. */
    goc_http_out_reset(&o);
    goc_http_out_status(&o, 200);
    goc_http_out_header(&o, "X", "a\r\nSet-Cookie: evil");
    CHECK_EQ_INT(goc_http_out_finish(&o), -EINVAL);
    goc_http_out_reset(&o);
    goc_http_out_header(&o, "Bad Name", "v");
    CHECK_EQ_INT(goc_http_out_finish(&o), -EINVAL);
    goc_http_out_free(&o);
    /* A large body grows the buffer; a capped one refuses. */
    static char big[100000];
    memset(big, 'z', sizeof big);
    goc_http_out_init(&o, 0);
    goc_http_out_response(&o, 200, "text/plain", NULL, big, sizeof big, true, false);
    CHECK(goc_http_out_finish(&o) > (long)sizeof big);
    goc_http_out_free(&o);
    goc_http_out_init(&o, 1000);
    goc_http_out_response(&o, 200, "text/plain", NULL, big, sizeof big, true, false);
    CHECK_EQ_INT(goc_http_out_finish(&o), -ENOBUFS);
    goc_http_out_free(&o);
    /* A fixed buffer: fits exactly, or refuses. */
    char mem[64];
    goc_http_out_init_fixed(&o, mem, sizeof mem);
    goc_http_out_response(&o, 200, NULL, NULL, "ok", 2, true, false);
    CHECK_EQ_INT(goc_http_out_finish(&o), 64); /* fills mem exactly */
    CHECK(memcmp(mem, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
                 64) == 0);
    goc_http_out_init_fixed(&o, mem, 63);
    goc_http_out_response(&o, 200, NULL, NULL, "ok", 2, true, false);
    CHECK_EQ_INT(goc_http_out_finish(&o), -ENOBUFS);
    CHECK_EQ_STR(goc_http_status_text(431), "Request Header Fields Too Large");
    CHECK_EQ_STR(goc_http_status_text(299), "Unknown");
}

static void test_url_decode(void)
{
    char out[64];
    CHECK_EQ_INT(goc_http_url_decode("/a%20b%2Fc", 10, out, sizeof out, 0), 6);
    CHECK_EQ_STR(out, "/a b/c");
    CHECK_EQ_INT(goc_http_url_decode("a+b", 3, out, sizeof out, 0), 3);
    CHECK_EQ_STR(out, "a+b");
    CHECK_EQ_INT(goc_http_url_decode("a+b", 3, out, sizeof out, GOC_HTTP_DECODE_PLUS), 3);
    CHECK_EQ_STR(out, "a b");
    CHECK_EQ_INT(goc_http_url_decode("%e2%82%AC", 9, out, sizeof out, 0), 3);
    CHECK_EQ_STR(out, "\xe2\x82\xac");
    CHECK_EQ_INT(goc_http_url_decode("%", 1, out, sizeof out, 0), -EINVAL);
    CHECK_EQ_INT(goc_http_url_decode("%4", 2, out, sizeof out, 0), -EINVAL);
    CHECK_EQ_INT(goc_http_url_decode("%zz", 3, out, sizeof out, 0), -EINVAL);
    CHECK_EQ_INT(goc_http_url_decode("a%00b", 5, out, sizeof out, 0), -EINVAL);
    CHECK_EQ_INT(goc_http_url_decode("abcdef", 6, out, 6, 0), -ENOBUFS);
    CHECK_EQ_INT(goc_http_url_decode("abcdef", 6, out, 7, 0), 6);
    char inplace[] = "x%41y";
    CHECK_EQ_INT(goc_http_url_decode(inplace, 5, inplace, sizeof inplace, 0), 3);
    CHECK_EQ_STR(inplace, "xAy");
}

static void test_query(void)
{
    const char *q = "since=42&limit=10&name=a+b%21&empty=&flag&since=7";
    size_t n = strlen(q);
    char out[32];
    uint64_t v = 99;
    CHECK_EQ_INT(goc_http_query_u64(q, n, "since", &v), 0);
    CHECK_EQ_UINT(v, 42);
    CHECK_EQ_INT(goc_http_query_u64(q, n, "limit", &v), 0);
    CHECK_EQ_UINT(v, 10);
    CHECK_EQ_INT(goc_http_query_get(q, n, "name", out, sizeof out), 4);
    CHECK_EQ_STR(out, "a b!");
    CHECK_EQ_INT(goc_http_query_get(q, n, "empty", out, sizeof out), 0);
    CHECK_EQ_INT(goc_http_query_get(q, n, "flag", out, sizeof out), 0);
    CHECK_EQ_INT(goc_http_query_get(q, n, "lim", out, sizeof out), -ENOENT);
    CHECK_EQ_INT(goc_http_query_get(q, n, "missing", out, sizeof out), -ENOENT);
    CHECK_EQ_INT(goc_http_query_get("", 0, "a", out, sizeof out), -ENOENT);
    v = 5;
    CHECK_EQ_INT(goc_http_query_u64(q, n, "name", &v), -EINVAL);
    CHECK_EQ_INT(goc_http_query_u64(q, n, "empty", &v), -EINVAL);
    CHECK_EQ_INT(goc_http_query_u64("a=-1", 4, "a", &v), -EINVAL);
    CHECK_EQ_INT(goc_http_query_u64("a=18446744073709551616", 22, "a", &v), -EINVAL);
    CHECK_EQ_UINT(v, 5);
    CHECK_EQ_INT(goc_http_query_u64("a=18446744073709551615", 22, "a", &v), 0);
    CHECK_EQ_UINT(v, UINT64_MAX);
    CHECK_EQ_INT(goc_http_query_u64("x=1", 3, "a", &v), -ENOENT);
}

static void test_static_path_ok(void)
{
    char out[256];
    CHECK_EQ_INT(goc_http_static_path("/srv/web", "/", 1, out, sizeof out), 19);
    CHECK_EQ_STR(out, "/srv/web/index.html");
    CHECK(goc_http_static_path("/srv/web/", "/app.js", 7, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "/srv/web/app.js");
    CHECK(goc_http_static_path("web", "/css/a%20b.css", 14, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "web/css/a b.css");
    CHECK(goc_http_static_path("web", "/docs/", 6, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "web/docs/index.html");
    CHECK(goc_http_static_path("web", "/a..b/c.d", 9, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "web/a..b/c.d");
    CHECK(goc_http_static_path("web", "/caf%C3%A9.txt", 14, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "web/caf\xc3\xa9.txt");
    CHECK_EQ_INT(goc_http_static_path("web", "/a.txt", 6, out, 8), -ENOBUFS);
    CHECK_EQ_INT(goc_http_static_path("web", "/dir/", 5, out, 12), -ENOBUFS);
    CHECK_EQ_INT(goc_http_static_path("web", "/a%zz", 5, out, sizeof out), -EINVAL);
}

static void test_static_path_refused(void)
{
    static const char *const bad[] = {
        "/../etc/passwd",
        "/..",
        "/a/../../etc/passwd",
        "/a/..",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/etc/passwd",
        "/.%2e/etc/passwd",
        "/%2e./etc/passwd",
        "/a/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/%2e%2e%2fetc%2fpasswd",
        "/..%2fetc",
        "/..%5cetc",
        "/..\\etc",
        "/a\\..\\..\\etc",
        "/%5c..%5cetc",
        "/.",
        "/./a",
        "/.git/config",
        "/.env",
        "/a/.hidden",
        "//etc/passwd",
        "/%2fetc/passwd",
        "/a//b",
        "etc/passwd",
        "",
        "../etc/passwd",
        "%2e%2e/etc/passwd",
        "/a%00.html",
        "/a%01b",
        "/a%7fb",
        "/%252e%252e/etc/passwd",
        "/%25",
        "/%c0%ae%c0%ae/etc/passwd",
        "/%e0%80%ae%e0%80%ae/etc",
        "/%ed%a0%80",
        "/%ff",
        "/C:/Windows",
        "/a:b",
    };
    char out[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long rc = goc_http_static_path("/srv/web", bad[i], strlen(bad[i]), out, sizeof out);
        CHECK_MSG(rc == -EACCES, "path \"%s\" gave %ld, want -EACCES", bad[i], rc);
    }
    const char raw_nul[] = "/a\0b";
    CHECK_EQ_INT(goc_http_static_path("/srv/web", raw_nul, 4, out, sizeof out), -EACCES);
}

static void test_path_within(void)
{
    CHECK(goc_http_path_within("/srv/web", "/srv/web/index.html"));
    CHECK(goc_http_path_within("/srv/web", "/srv/web"));
    CHECK(goc_http_path_within("/srv/web/", "/srv/web/a/b"));
    CHECK(!goc_http_path_within("/srv/web", "/srv/webx/a"));
    CHECK(!goc_http_path_within("/srv/web", "/srv"));
    CHECK(!goc_http_path_within("/srv/web", "/etc/passwd"));
    CHECK(goc_http_path_within("/", "/etc/passwd"));
}

static void test_content_types(void)
{
    static const char *const pairs[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"/a/b/INDEX.HTM", "text/html; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"style.css", "text/css; charset=utf-8"},
        {"data.json", "application/json"},
        {"app.js.map", "application/json"},
        {"logo.png", "image/png"},
        {"icon.svg", "image/svg+xml"},
        {"favicon.ico", "image/x-icon"},
        {"notes.txt", "text/plain; charset=utf-8"},
        {"font.woff2", "font/woff2"},
        {"archive.tar.gz", "application/octet-stream"},
        {"Makefile", "application/octet-stream"},
        {"dir.html/file", "application/octet-stream"},
        {"trailing.", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        CHECK_EQ_STR(goc_http_content_type(pairs[i][0], strlen(pairs[i][0])), pairs[i][1]);
}

static const test_case cases[] = {
    TEST_CASE(test_cases),
    TEST_CASE(test_header_too_large),
    TEST_CASE(test_too_many_headers),
    TEST_CASE(test_body_too_large),
    TEST_CASE(test_errors_stick_and_idle),
    TEST_CASE(test_header_lookup),
    TEST_CASE(test_response_writer),
    TEST_CASE(test_url_decode),
    TEST_CASE(test_query),
    TEST_CASE(test_static_path_ok),
    TEST_CASE(test_static_path_refused),
    TEST_CASE(test_path_within),
    TEST_CASE(test_content_types),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

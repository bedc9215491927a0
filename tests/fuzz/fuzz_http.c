/* fuzz_http.c: libFuzzer target for HTTP request handling (proto/http.h and
 * the handshake check of proto/ws.h).
 *
 * Input: byte 0 says how to cut the stream into reads (fuzz.h); byte 1
 * picks the reader's limits (bits 0-1) and the static root (bits 2-3); the
 * rest is what a client sends on one connection.
 *
 * The stream goes through a goc_http_reader_t the way the server's glue
 * feeds it: unconsumed bytes are kept and fed again with the next read, and
 * the connection stops after a request that ends it (close, HTTP/1.0,
 * upgrade) or after an error. Every request is then handled as the server
 * would: its path resolved under the root with goc_http_static_path (with a
 * roomy and a tight buffer) and checked with goc_http_path_within, the
 * WebSocket handshake checked (with and without an Origin list), its query
 * and headers looked up, and a response written.
 *
 * Checks: the request's invariants (NUL-terminated strings, limits kept,
 * trimmed values), a resolved path never escapes its root nor keeps a dot
 * segment, "//", '\\', '%', ':' or a control byte, and equals an independent
 * decoding of the path; an accepted handshake gives the RFC accept value.
 * Then the whole stream is played again in one read, and both runs must
 * give the same requests and both fail or neither (the error itself may
 * differ: a limit can be passed before a bad byte is seen).
 *
 * Invariants: a fresh reader per run, everything freed before returning.
 */
#include <errno.h>

#include "fuzz.h"
#include "http.h"
#include "utf8.h"
#include "ws.h"

/* Limits byte 1 chooses from: the server's, then tight ones that the
 * fuzzer can pass with short inputs. */
static const goc_http_limits_t limits[] = {
    {0, 0, 0},
    {128, 4, 32},
    {48, 1, 1},
    {GOC_HTTP_MAX_HEADER_BYTES, 1024, 8},
};
static const char *const roots[] = {"/srv/www", "/srv/www/", "web", "/var//w"};
static const char *const origins[] = {"http://localhost:8080", "https://chat.example.com"};

/* What one run of the stream saw, to compare the cut run with the whole. */
typedef struct outcome {
    uint64_t hash; /* FNV-1a over every request's fields */
    size_t nreq;   /* requests completed */
    int err;       /* the feed error that ended the run, or 0 */
} outcome;

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ull;
    *h = (*h ^ n) * 0x100000001b3ull; /* the length too: "ab","c" != "a","bc" */
}

static void hash_request(uint64_t *h, const goc_http_request_t *q)
{
    int v[6] = {q->method,     q->version_major, q->version_minor,
                q->keep_alive, q->upgrade,       (int)q->nheaders};
    hash_bytes(h, v, sizeof v);
    hash_bytes(h, q->method_name, strlen(q->method_name));
    hash_bytes(h, q->target, q->target_len);
    hash_bytes(h, q->path, q->path_len);
    hash_bytes(h, q->query, q->query_len);
    hash_bytes(h, q->body, q->body_len);
    for (size_t i = 0; i < q->nheaders; i++) {
        hash_bytes(h, q->headers[i].name, q->headers[i].name_len);
        hash_bytes(h, q->headers[i].value, q->headers[i].value_len);
    }
}

/* The request's own invariants (http.h) under limits lim. */
static void check_request(const goc_http_request_t *q, const goc_http_limits_t *lim)
{
    size_t max_headers = lim->max_headers ? lim->max_headers : GOC_HTTP_MAX_HEADERS;
    size_t max_hbytes = lim->max_header_bytes ? lim->max_header_bytes : GOC_HTTP_MAX_HEADER_BYTES;
    size_t max_body = lim->max_body ? lim->max_body : GOC_HTTP_MAX_BODY;
    FUZZ_CHECK(q->method_name != NULL);
    FUZZ_CHECK(q->version_major == 1); /* others are refused (505) */
    FUZZ_CHECK(q->target[q->target_len] == 0 && q->path[q->path_len] == 0 &&
               q->query[q->query_len] == 0);
    FUZZ_CHECK(q->path_len + q->query_len <= q->target_len);
    FUZZ_CHECK(q->nheaders <= max_headers && q->body_len <= max_body);
    size_t bytes = q->target_len;
    for (size_t i = 0; i < q->nheaders; i++) {
        const goc_http_header_t *h = &q->headers[i];
        bytes += h->name_len + h->value_len;
        if (h->value_len) {
            FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
            FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
    }
    FUZZ_CHECK(bytes <= max_hbytes);
}

/* goc_http_static_path into a buffer of exactly cap bytes; copies a
 * success into keep (NULL-safe) and returns the result. */
static long resolve(const char *root, const goc_http_request_t *q, size_t cap, char *keep)
{
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    long n = goc_http_static_path(root, q->path, q->path_len, out, cap);
    if (n >= 0) {
        FUZZ_CHECK((size_t)n < cap && strlen(out) == (size_t)n);
        if (keep) memcpy(keep, out, (size_t)n + 1);
    } else {
        FUZZ_CHECK(n == -EACCES || n == -EINVAL || n == -ENOBUFS);
    }
    free(out);
    return n;
}

/* A resolved path: root, then the decoded path with nothing unsafe. */
static void check_resolved(const char *root, const goc_http_request_t *q, const char *out, size_t n)
{
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    FUZZ_CHECK(n > rlen && memcmp(out, root, rlen) == 0);
    FUZZ_CHECK(goc_http_path_within(root, out));
    const char *s = out + rlen;
    size_t sl = n - rlen;
    FUZZ_CHECK(s[0] == '/' && goc_utf8_valid((const uint8_t *)s, sl));
    for (size_t i = 0; i < sl; i++) {
        unsigned char c = (unsigned char)s[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '\\' && c != '%' && c != ':');
        if (c == '/' && i + 1 < sl) FUZZ_CHECK(s[i + 1] != '/' && s[i + 1] != '.');
    }
    /* An independent decoding of the path gives the same text. */
    char *dec = malloc(q->path_len + 1);
    FUZZ_CHECK(dec != NULL);
    long d = goc_http_url_decode(q->path, q->path_len, dec, q->path_len + 1, 0);
    FUZZ_CHECK(d > 0 && (size_t)d <= sl && memcmp(dec, s, (size_t)d) == 0);
    if (dec[d - 1] == '/')
        FUZZ_CHECK(strcmp(s + d, "index.html") == 0);
    else
        FUZZ_CHECK((size_t)d == sl);
    free(dec);
}

static void handle_static(const char *root, const goc_http_request_t *q, fuzz_cut *rnd)
{
    static char big[8192];
    long n = resolve(root, q, sizeof big, big);
    if (n >= 0) check_resolved(root, q, big, (size_t)n);
    /* A tight buffer fails with -ENOBUFS or gives the same answer. */
    char small[64];
    long m = resolve(root, q, 1 + fuzz_rand(rnd) % 48, small);
    if (m >= 0)
        FUZZ_CHECK(m == n && memcmp(small, big, (size_t)m) == 0);
    else if (n >= 0)
        FUZZ_CHECK(m == -ENOBUFS);
    /* Containment is textual: anything is within itself, and the checks
     * must stay within the strings they are given. */
    FUZZ_CHECK(goc_http_path_within(q->path, q->path));
    (void)goc_http_path_within(q->target, q->path);
    (void)goc_http_path_within(q->path, q->query);
    (void)goc_http_content_type(q->path, q->path_len);
}

static void handle_handshake(const goc_http_request_t *q)
{
    char open_acc[GOC_WS_ACCEPT_LEN + 1], acc[GOC_WS_ACCEPT_LEN + 1];
    int open = goc_ws_handshake_check(q, NULL, 0, open_acc);
    int rc = goc_ws_handshake_check(q, origins, 2, acc);
    FUZZ_CHECK(open == 0 || open == -EBADMSG || open == -EPROTONOSUPPORT);
    FUZZ_CHECK(rc == open || (open == 0 && rc == -EACCES));
    FUZZ_CHECK(goc_ws_handshake_status(rc) >= 400);
    if (open != 0) return;
    FUZZ_CHECK(q->method == GOC_HTTP_GET && strlen(open_acc) == GOC_WS_ACCEPT_LEN);
    const goc_http_header_t *key = goc_http_header_find(q, "sec-websocket-key");
    char want[GOC_WS_ACCEPT_LEN + 1];
    FUZZ_CHECK(key && goc_ws_accept_key(key->value, key->value_len, want) == 0);
    FUZZ_CHECK(strcmp(want, open_acc) == 0);
    goc_http_out_t o;
    goc_http_out_init(&o, 0);
    goc_ws_handshake_response(&o, open_acc);
    FUZZ_CHECK(goc_http_out_finish(&o) > 0);
    goc_http_out_free(&o);
}

/* What the server does with a request, minus the I/O. */
static void handle(const char *root, const goc_http_request_t *q, fuzz_cut *rnd)
{
    handle_static(root, q, rnd);
    handle_handshake(q);
    size_t cap = 1 + fuzz_rand(rnd) % 32;
    char *val = malloc(cap);
    FUZZ_CHECK(val != NULL);
    long vn = goc_http_query_get(q->query, q->query_len, "since", val, cap);
    FUZZ_CHECK(vn < 0 || ((size_t)vn < cap && strlen(val) == (size_t)vn));
    free(val);
    uint64_t u;
    (void)goc_http_query_u64(q->query, q->query_len, "limit", &u);
    const goc_http_header_t *c = goc_http_header_find(q, "Connection");
    if (c) (void)goc_http_has_token(c->value, c->value_len, "keep-alive");
    goc_http_out_t o;
    goc_http_out_init(&o, 4 * GOC_HTTP_MAX_BODY);
    goc_http_out_response(&o, 200, goc_http_content_type(q->path, q->path_len), NULL, q->body,
                          q->body_len, q->keep_alive, q->method == GOC_HTTP_HEAD);
    FUZZ_CHECK(goc_http_out_finish(&o) > 0);
    goc_http_out_free(&o);
}

/* Plays stream s[0..len) to a new reader, cut by cut; handles requests
 * when root is not NULL. */
static outcome play(const uint8_t *s, size_t len, fuzz_cut *cut, const goc_http_limits_t *lim,
                    const char *root)
{
    outcome res = {.hash = 0xcbf29ce484222325ull};
    goc_http_reader_t *r;
    FUZZ_CHECK(goc_http_reader_new(lim, &r) == 0);
    uint8_t *pend = NULL; /* bytes read but not consumed, exact size */
    size_t plen = 0;
    bool over = false;
    for (size_t off = 0; off < len && !over;) {
        size_t n = fuzz_cut_next(cut, len - off);
        uint8_t *buf = malloc(plen + n);
        FUZZ_CHECK(buf != NULL);
        if (plen) memcpy(buf, pend, plen);
        memcpy(buf + plen, s + off, n);
        free(pend);
        pend = buf;
        plen += n;
        off += n;
        while (plen > 0 && !over) {
            size_t used = SIZE_MAX;
            int rc = goc_http_reader_feed(r, (const char *)pend, plen, &used);
            FUZZ_CHECK(used <= plen);
            memmove(pend, pend + used, plen - used);
            plen -= used;
            if (rc < 0) {
                FUZZ_CHECK(rc == -E2BIG || rc == -EMSGSIZE || rc == -EBADMSG ||
                           rc == -EPROTONOSUPPORT);
                FUZZ_CHECK(goc_http_reader_request(r) == NULL);
                FUZZ_CHECK(goc_http_reader_feed(r, "x", 1, &used) == rc && used == 0);
                FUZZ_CHECK(goc_http_error_status(rc) != 500);
                res.err = rc;
                over = true;
            } else if (rc == 0) {
                FUZZ_CHECK(plen == 0 && goc_http_reader_request(r) == NULL);
            } else {
                FUZZ_CHECK(rc == 1 && goc_http_reader_idle(r));
                const goc_http_request_t *q = goc_http_reader_request(r);
                FUZZ_CHECK(q != NULL);
                check_request(q, lim);
                hash_request(&res.hash, q);
                res.nreq++;
                if (root) handle(root, q, cut);
                over = !q->keep_alive || q->upgrade; /* the server reads no more */
            }
        }
    }
    free(pend);
    goc_http_reader_free(r);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const goc_http_limits_t *lim = &limits[data[1] & 3];
    const char *root = roots[(data[1] >> 2) & 3];
    fuzz_cut cut, whole;
    fuzz_cut_init(&cut, data[0]);
    fuzz_cut_init(&whole, FUZZ_CUT_WHOLE);
    outcome a = play(data + 2, size - 2, &cut, lim, root);
    outcome b = play(data + 2, size - 2, &whole, lim, NULL);
    FUZZ_CHECK(a.nreq == b.nreq && a.hash == b.hash);
    FUZZ_CHECK((a.err != 0) == (b.err != 0));
    return 0;
}

/* http_reader.c: the request reader of http.h, over http-parser.
 *
 * http-parser is incremental and calls us back with pieces: the target,
 * header names and values (each may arrive in several pieces when a request
 * is split across feeds), body chunks (already de-chunked). We copy the
 * pieces into two buffers of our own: hbuf for the target and the header
 * lines, body for the body, and remember offsets (hbuf moves when it grows).
 * When the message completes we pause the parser, so the feed returns right
 * after that request and pipelined bytes stay with the caller; the request's
 * pointers are built from the offsets at that moment.
 *
 * Invariants:
 *  - hdr_bytes counts the request line and header bytes of the current
 *    request and never exceeds lim.max_header_bytes while storing: the check
 *    happens before each append, so hbuf stays bounded by the limit (plus
 *    the NULs and the path/query copies added at the end of the headers).
 *  - body_len <= lim.max_body at all times; body_cap <= lim.max_body.
 *  - err != 0 means failed for good: every later feed returns err.
 *  - dead means the last request ended the connection (close, HTTP/1.0
 *    without keep-alive, upgrade): no more bytes are accepted.
 */
#include <goc/malloc.h>

#include "http.h"
#include "http_int.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <string.h>

#define MAX_HEADERS_LIMIT 1024
#define REQUEST_LINE_OVERHEAD 16 /* method, spaces, "HTTP/1.1", CRLF */
#define HEADER_LINE_OVERHEAD 4   /* ": " and CRLF */

/* One stored header line, as offsets into hbuf. */
typedef struct hdr_off {
    uint32_t name;      /* offset of the name */
    uint32_t name_len;  /* its length */
    uint32_t value;     /* offset of the value */
    uint32_t value_len; /* its length */
} hdr_off;

/* What the parser called us with last, to glue split pieces together. */
enum last_piece { LAST_NONE, LAST_FIELD, LAST_VALUE };

struct goc_http_reader {
    http_parser parser;       /* the byte-level state machine; data points to us */
    goc_http_limits_t lim;    /* limits, defaults filled in */
    char *hbuf;               /* target, NUL, header names and values, path, query */
    size_t hlen;              /* bytes used in hbuf */
    size_t hcap;              /* size of hbuf */
    hdr_off *hdrs;            /* lim.max_headers entries */
    goc_http_header_t *view;  /* lim.max_headers entries: hdrs as pointers */
    size_t nhdr;              /* header lines of the current request */
    size_t url_len;           /* target bytes at hbuf[0..url_len) */
    bool url_done;            /* the NUL after the target is stored */
    enum last_piece last;     /* kind of the last piece stored */
    size_t path_off, path_len;   /* path copy in hbuf (after the headers) */
    size_t query_off, query_len; /* query copy in hbuf */
    char *body;               /* de-chunked body bytes */
    size_t body_len;          /* bytes used in body */
    size_t body_cap;          /* size of body */
    size_t hdr_bytes;         /* header bytes counted so far (see invariants) */
    bool headers_done;        /* past the blank line of the current request */
    bool in_message;          /* some byte of a request was seen, not complete */
    bool complete;            /* set by on_message_complete, taken by feed */
    bool have_req;            /* req is the result of the last feed */
    bool dead;                /* see invariants */
    int err;                  /* sticky error, see invariants */
    goc_http_request_t req;   /* the last completed request */
};

/* Makes room for n more bytes in *buf (size *cap, used len), growing by
 * doubling up to limit. Returns 0 or -ENOMEM / -E2BIG (over limit). */
static int grow(char **buf, size_t *cap, size_t len, size_t n, size_t limit)
{
    if (*cap - len >= n)
        return 0;
    if (n > limit - len)
        return -E2BIG;
    size_t want = *cap ? *cap : 256;
    while (want - len < n)
        want = want > limit / 2 ? limit : want * 2;
    char *p = goc_realloc(*buf, want);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = want;
    return 0;
}

/* Appends to hbuf; its bound is the header limit plus the extras. */
static int hbuf_append(goc_http_reader_t *r, const char *at, size_t n)
{
    size_t limit = 2 * r->lim.max_header_bytes + 64;
    int rc = grow(&r->hbuf, &r->hcap, r->hlen, n, limit);
    if (rc < 0)
        return rc;
    memcpy(r->hbuf + r->hlen, at, n);
    r->hlen += n;
    return 0;
}

/* Counts n header bytes; fails the request with -E2BIG past the limit. */
static int count_header_bytes(goc_http_reader_t *r, size_t n)
{
    if (n > r->lim.max_header_bytes - r->hdr_bytes) {
        r->err = -E2BIG;
        return -1;
    }
    r->hdr_bytes += n;
    return 0;
}

/* Stores a piece; returns 0, or -1 with r->err set (stops the parser). */
static int store(goc_http_reader_t *r, const char *at, size_t n)
{
    if (count_header_bytes(r, n) < 0)
        return -1;
    int rc = hbuf_append(r, at, n);
    if (rc < 0) {
        r->err = rc;
        return -1;
    }
    return 0;
}

/* Ends the target with a NUL, once. */
static int end_url(goc_http_reader_t *r)
{
    if (r->url_done)
        return 0;
    r->url_done = true;
    int rc = hbuf_append(r, "", 1);
    if (rc < 0) {
        r->err = rc;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    goc_http_reader_t *r = p->data;
    r->hlen = 0;
    r->nhdr = 0;
    r->url_len = 0;
    r->url_done = false;
    r->last = LAST_NONE;
    r->body_len = 0;
    r->hdr_bytes = REQUEST_LINE_OVERHEAD;
    r->headers_done = false;
    r->in_message = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    goc_http_reader_t *r = p->data;
    if (store(r, at, n) < 0)
        return -1;
    r->url_len += n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    goc_http_reader_t *r = p->data;
    if (r->headers_done)
        return 0; /* a chunked trailer: bounded by the parser, not kept */
    if (end_url(r) < 0)
        return -1;
    if (r->last != LAST_FIELD) {
        if (r->nhdr == r->lim.max_headers || count_header_bytes(r, HEADER_LINE_OVERHEAD) < 0) {
            r->err = -E2BIG;
            return -1;
        }
        r->hdrs[r->nhdr++] = (hdr_off){(uint32_t)r->hlen, 0, (uint32_t)r->hlen, 0};
        r->last = LAST_FIELD;
    }
    for (size_t i = 0; i < n; i++) {
        if (!goc__http_tchar((unsigned char)at[i])) {
            r->err = -EBADMSG; /* http-parser lets spaces through names */
            return -1;
        }
    }
    if (store(r, at, n) < 0)
        return -1;
    r->hdrs[r->nhdr - 1].name_len += (uint32_t)n;
    r->hdrs[r->nhdr - 1].value = (uint32_t)r->hlen;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    goc_http_reader_t *r = p->data;
    if (r->headers_done || r->nhdr == 0)
        return 0;
    if (r->last != LAST_VALUE) {
        r->hdrs[r->nhdr - 1].value = (uint32_t)r->hlen;
        r->last = LAST_VALUE;
    }
    if (store(r, at, n) < 0)
        return -1;
    r->hdrs[r->nhdr - 1].value_len += (uint32_t)n;
    return 0;
}

/* Splits the target into path and query, copied NUL-terminated into hbuf.
 * An absolute-form target ("http://host/p") keeps only its path. */
static int split_target(goc_http_reader_t *r)
{
    const char *t = r->hbuf;
    size_t n = r->url_len, start = 0;
    const char *scheme = n ? memchr(t, ':', n) : NULL;
    if (t[0] != '/' && scheme && (size_t)(scheme - t) + 2 < n && scheme[1] == '/' &&
        scheme[2] == '/') {
        start = (size_t)(scheme - t) + 3;
        while (start < n && t[start] != '/' && t[start] != '?' && t[start] != '#')
            start++;
    }
    size_t q = start;
    while (q < n && t[q] != '?' && t[q] != '#')
        q++;
    size_t qs = q, qe = q;
    if (q < n && t[q] == '?') {
        qs = q + 1;
        qe = qs;
        while (qe < n && t[qe] != '#')
            qe++;
    }
    size_t path_len = q - start, query_len = qe - qs;
    size_t limit = 2 * r->lim.max_header_bytes + 64;
    int rc = grow(&r->hbuf, &r->hcap, r->hlen, path_len + query_len + 2, limit);
    if (rc < 0) {
        r->err = rc; /* the bound leaves room: hbuf holds at most one target */
        return -1;
    }
    r->path_off = r->hlen;
    r->path_len = path_len;
    memcpy(r->hbuf + r->hlen, r->hbuf + start, path_len);
    r->hlen += path_len;
    r->hbuf[r->hlen++] = 0;
    r->query_off = r->hlen;
    r->query_len = query_len;
    memcpy(r->hbuf + r->hlen, r->hbuf + qs, query_len);
    r->hlen += query_len;
    r->hbuf[r->hlen++] = 0;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    goc_http_reader_t *r = p->data;
    if (end_url(r) < 0 || split_target(r) < 0)
        return -1;
    if (p->http_major != 1) { /* HTTP/0.9, 2.0 as text, 9.9, ... */
        r->err = -EPROTONOSUPPORT;
        return -1;
    }
    r->headers_done = true;
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX) {
        if (p->content_length > r->lim.max_body) {
            r->err = -EMSGSIZE;
            return -1;
        }
        /* Known length: allocate it once instead of doubling. */
        size_t want = (size_t)p->content_length;
        if (want > r->body_cap) {
            int rc = grow(&r->body, &r->body_cap, 0, want, r->lim.max_body);
            if (rc < 0) {
                r->err = rc;
                return -1;
            }
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    goc_http_reader_t *r = p->data;
    if (n > r->lim.max_body - r->body_len) {
        r->err = -EMSGSIZE;
        return -1;
    }
    int rc = grow(&r->body, &r->body_cap, r->body_len, n, r->lim.max_body);
    if (rc < 0) {
        r->err = rc == -E2BIG ? -EMSGSIZE : rc;
        return -1;
    }
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    return 0;
}

static goc_http_method_t method_of(unsigned m)
{
    switch (m) {
    case HTTP_GET: return GOC_HTTP_GET;
    case HTTP_HEAD: return GOC_HTTP_HEAD;
    case HTTP_POST: return GOC_HTTP_POST;
    case HTTP_PUT: return GOC_HTTP_PUT;
    case HTTP_DELETE: return GOC_HTTP_DELETE;
    case HTTP_OPTIONS: return GOC_HTTP_OPTIONS;
    default: return GOC_HTTP_OTHER;
    }
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Builds r->req from the offsets. hbuf no longer moves for this request. */
static void build_request(goc_http_reader_t *r)
{
    http_parser *p = &r->parser;
    goc_http_request_t *q = &r->req;
    for (size_t i = 0; i < r->nhdr; i++) {
        const char *v = r->hbuf + r->hdrs[i].value;
        size_t vl = r->hdrs[i].value_len;
        while (vl && is_ows(v[0]))
            v++, vl--;
        while (vl && is_ows(v[vl - 1]))
            vl--;
        r->view[i] = (goc_http_header_t){r->hbuf + r->hdrs[i].name, r->hdrs[i].name_len, v, vl};
    }
    q->method = method_of(p->method);
    q->method_name = http_method_str((enum http_method)p->method);
    q->target = r->hbuf;
    q->target_len = r->url_len;
    q->path = r->hbuf + r->path_off;
    q->path_len = r->path_len;
    q->query = r->hbuf + r->query_off;
    q->query_len = r->query_len;
    q->version_major = p->http_major;
    q->version_minor = p->http_minor;
    q->headers = r->view;
    q->nheaders = r->nhdr;
    q->body = r->body_len ? r->body : "";
    q->body_len = r->body_len;
    q->keep_alive = http_should_keep_alive(p) != 0;
    q->upgrade = p->upgrade != 0;
}

static int on_message_complete(http_parser *p)
{
    goc_http_reader_t *r = p->data;
    build_request(r);
    r->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings reader_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int goc_http_reader_new(const goc_http_limits_t *limits, goc_http_reader_t **out)
{
    goc_http_limits_t lim = limits ? *limits : (goc_http_limits_t){0};
    if (!lim.max_header_bytes)
        lim.max_header_bytes = GOC_HTTP_MAX_HEADER_BYTES;
    if (!lim.max_headers)
        lim.max_headers = GOC_HTTP_MAX_HEADERS;
    if (!lim.max_body)
        lim.max_body = GOC_HTTP_MAX_BODY;
    if (lim.max_headers > MAX_HEADERS_LIMIT || lim.max_header_bytes > UINT32_MAX / 4)
        return -EINVAL;
    goc_http_reader_t *r = goc_realloc(NULL, sizeof *r);
    if (!r)
        return -ENOMEM;
    memset(r, 0, sizeof *r);
    r->lim = lim;
    r->hdrs = goc_realloc(NULL, lim.max_headers * sizeof *r->hdrs);
    r->view = goc_realloc(NULL, lim.max_headers * sizeof *r->view);
    if (!r->hdrs || !r->view) {
        goc_http_reader_free(r);
        return -ENOMEM;
    }
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    *out = r;
    return 0;
}

void goc_http_reader_free(goc_http_reader_t *r)
{
    if (!r)
        return;
    goc_free(r->hbuf);
    goc_free(r->body);
    goc_free(r->hdrs);
    goc_free(r->view);
    goc_free(r);
}

/* Turns a parser error without an error of ours into one of ours. */
static int parser_error(const http_parser *p)
{
    /* http-parser's own bound on raw header bytes (80 KiB) backs up ours,
     * which counts the bytes we keep. */
    return HTTP_PARSER_ERRNO(p) == HPE_HEADER_OVERFLOW ? -E2BIG : -EBADMSG;
}

int goc_http_reader_feed(goc_http_reader_t *r, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    r->have_req = false;
    if (r->err)
        return r->err;
    if (len == 0)
        return 0; /* http-parser reads a 0-length execute as end of stream */
    if (r->dead) {
        r->err = -EBADMSG;
        return r->err;
    }
    size_t n = http_parser_execute(&r->parser, &reader_settings, data, len);
    *consumed = n;
    if (r->complete) {
        if (HTTP_PARSER_ERRNO(&r->parser) == HPE_PAUSED)
            http_parser_pause(&r->parser, 0);
        r->complete = false;
        r->in_message = false;
        r->have_req = true;
        if (!r->req.keep_alive || r->req.upgrade)
            r->dead = true;
        return 1;
    }
    if (!r->err && HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
        r->err = parser_error(&r->parser);
    return r->err;
}

const goc_http_request_t *goc_http_reader_request(const goc_http_reader_t *r)
{
    return r->have_req ? &r->req : NULL;
}

bool goc_http_reader_idle(const goc_http_reader_t *r)
{
    return !r->in_message;
}

int goc_http_error_status(int err)
{
    switch (err) {
    case -E2BIG: return 431;
    case -EMSGSIZE: return 413;
    case -EBADMSG: return 400;
    case -EPROTONOSUPPORT: return 505;
    default: return 500;
    }
}

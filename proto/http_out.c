/* http_out.c: the response writer of http.h, and the header helpers.
 *
 * A goc_http_out_t is a byte buffer with a sticky error: writers append,
 * and the first failure (no room, no memory, a header that would inject a
 * line) is kept and every later write is ignored, so a caller writes a whole
 * response and checks once, in goc_http_out_finish().
 *
 * Invariants: len <= cap; fixed implies max == cap and data is never freed
 * or grown; err != 0 means nothing is appended any more.
 */
#include <goc/malloc.h>

#include "http.h"
#include "http_int.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void goc_http_out_init_fixed(goc_http_out_t *o, char *mem, size_t cap)
{
    *o = (goc_http_out_t){.data = mem, .cap = cap, .max = cap, .fixed = true};
}

void goc_http_out_init(goc_http_out_t *o, size_t max)
{
    *o = (goc_http_out_t){.max = max ? max : SIZE_MAX};
}

void goc_http_out_free(goc_http_out_t *o)
{
    if (!o->fixed)
        goc_free(o->data);
    *o = (goc_http_out_t){0};
}

void goc_http_out_reset(goc_http_out_t *o)
{
    o->len = 0;
    o->err = 0;
    o->status = 0;
}

/* Ensures room for n more bytes; sets the sticky error if there is none. */
static bool out_room(goc_http_out_t *o, size_t n)
{
    if (o->err)
        return false;
    if (o->cap - o->len >= n)
        return true;
    if (o->fixed || n > o->max - o->len) {
        o->err = -ENOBUFS;
        return false;
    }
    size_t want = o->cap ? o->cap : 512;
    while (want - o->len < n)
        want = want > o->max / 2 ? o->max : want * 2;
    char *p = goc_realloc(o->data, want);
    if (!p) {
        o->err = -ENOMEM;
        return false;
    }
    o->data = p;
    o->cap = want;
    return true;
}

static void out_put(goc_http_out_t *o, const void *p, size_t n)
{
    if (n && out_room(o, n)) {
        memcpy(o->data + o->len, p, n);
        o->len += n;
    }
}

static void out_str(goc_http_out_t *o, const char *s)
{
    out_put(o, s, strlen(s));
}

const char *goc_http_status_text(int status)
{
    const char *s = status >= 100 && status <= 599 ? http_status_str((enum http_status)status)
                                                   : "<unknown>";
    return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}

void goc_http_out_status(goc_http_out_t *o, int status)
{
    char line[64];
    if (status < 100 || status > 599) {
        if (!o->err)
            o->err = -EINVAL;
        return;
    }
    int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, goc_http_status_text(status));
    out_put(o, line, (size_t)n);
    o->status = status;
}

bool goc__http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

void goc_http_out_header(goc_http_out_t *o, const char *name, const char *value)
{
    bool ok = name[0] != 0;
    for (const char *c = name; *c && ok; c++)
        ok = goc__http_tchar((unsigned char)*c);
    for (const char *c = value; *c && ok; c++)
        ok = *c != '\r' && *c != '\n';
    if (!ok) {
        if (!o->err)
            o->err = -EINVAL;
        return;
    }
    out_str(o, name);
    out_put(o, ": ", 2);
    out_str(o, value);
    out_put(o, "\r\n", 2);
}

void goc_http_out_header_u64(goc_http_out_t *o, const char *name, uint64_t value)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)value);
    goc_http_out_header(o, name, num);
}

void goc_http_out_body(goc_http_out_t *o, const void *body, size_t len)
{
    out_put(o, "\r\n", 2);
    out_put(o, body, len);
}

/* A whole response whose body is body[0..len) then tail[0..tail_len). */
static void response(goc_http_out_t *o, int status, const char *content_type, const char *extra,
                     const void *body, size_t len, const char *tail, size_t tail_len,
                     bool keep_alive, bool head)
{
    goc_http_out_status(o, status);
    if (content_type)
        goc_http_out_header(o, "Content-Type", content_type);
    if (status >= 200 && status != 204 && status != 304)
        goc_http_out_header_u64(o, "Content-Length", len + tail_len);
    goc_http_out_header(o, "Connection", keep_alive ? "keep-alive" : "close");
    if (extra)
        out_str(o, extra);
    goc_http_out_body(o, head ? NULL : body, head ? 0 : len);
    if (!head)
        out_put(o, tail, tail_len);
}

void goc_http_out_response(goc_http_out_t *o, int status, const char *content_type,
                           const char *extra, const void *body, size_t len, bool keep_alive,
                           bool head)
{
    response(o, status, content_type, extra, body, len, NULL, 0, keep_alive, head);
}

void goc_http_out_json(goc_http_out_t *o, int status, const char *extra, const void *json,
                       size_t len, bool keep_alive, bool head)
{
    response(o, status, "application/json", extra, json, len, "\n", 1, keep_alive, head);
}

long goc_http_out_finish(const goc_http_out_t *o)
{
    return o->err ? o->err : (long)o->len;
}

/* ASCII case-insensitive comparison of s[0..n) with the C string t. */
static bool ieq(const char *s, size_t n, const char *t)
{
    return strlen(t) == n && strncasecmp(s, t, n) == 0;
}

const goc_http_header_t *goc_http_header_find(const goc_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (ieq(req->headers[i].name, req->headers[i].name_len, name))
            return &req->headers[i];
    return NULL;
}

bool goc_http_has_token(const char *value, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        size_t s = i;
        while (i < len && value[i] != ',')
            i++;
        size_t e = i;
        while (s < e && (value[s] == ' ' || value[s] == '\t'))
            s++;
        while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
            e--;
        if (ieq(value + s, e - s, token))
            return true;
        i++; /* past the comma */
    }
    return false;
}

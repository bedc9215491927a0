/* http_path.c: URL decoding, query parameters, the static-file path
 * resolver and the Content-Type table of http.h.
 *
 * The resolver is the one line of defence between a URL and the file
 * system, so it is strict and purely textual: it decodes the path once, then
 * refuses anything that could name a file outside the root or a file the
 * author did not mean to publish (dot segments and dot files, backslashes,
 * NUL and control bytes, a '%' left over for a second decoding, invalid
 * UTF-8, empty segments). It never looks at the disk (doc/contributing.md, rule 7).
 *
 * Invariants: every output is NUL-terminated when the call succeeds, and no
 * function writes past out + cap.
 */
#include "http.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long goc_http_url_decode(const char *in, size_t len, char *out, size_t cap, int flags)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (len - i < 3)
                return -EINVAL;
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0)
                return -EINVAL;
            c = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && (flags & GOC_HTTP_DECODE_PLUS)) {
            c = ' ';
        }
        if (c == 0)
            return -EINVAL;
        if (o + 1 >= cap)
            return -ENOBUFS;
        out[o++] = c;
    }
    if (o >= cap)
        return -ENOBUFS;
    out[o] = 0;
    return (long)o;
}

long goc_http_query_get(const char *q, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name), i = 0;
    while (i <= len) {
        size_t s = i;
        while (i < len && q[i] != '&')
            i++;
        const char *eq = memchr(q + s, '=', i - s);
        size_t klen = eq ? (size_t)(eq - (q + s)) : i - s;
        if (klen == nlen && memcmp(q + s, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : q + i;
            return goc_http_url_decode(v, (size_t)(q + i - v), out, cap, GOC_HTTP_DECODE_PLUS);
        }
        i++;
    }
    return -ENOENT;
}

int goc_http_query_u64(const char *q, size_t len, const char *name, uint64_t *value)
{
    char buf[32];
    long n = goc_http_query_get(q, len, name, buf, sizeof buf);
    if (n == -ENOENT)
        return -ENOENT;
    if (n <= 0)
        return -EINVAL;
    uint64_t v = 0;
    for (long i = 0; i < n; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(buf[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *value = v;
    return 0;
}

/* Checks a decoded path (starting with '/'): see goc_http_static_path. */
static bool path_safe(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/')
        return false;
    if (!goc_utf8_valid((const uint8_t *)p, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '%' || c == ':')
            return false;
        if (c == '/' && i + 1 < n && (p[i + 1] == '/' || p[i + 1] == '.'))
            return false; /* "//", or a segment starting with '.' */
    }
    return true;
}

/* True if p[0..n) holds a NUL byte, raw or as %00. */
static bool has_nul(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0 || (p[i] == '%' && n - i >= 3 && p[i + 1] == '0' && p[i + 2] == '0'))
            return true;
    return false;
}

long goc_http_static_path(const char *root, const char *p, size_t len, char *out, size_t cap)
{
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (rlen >= cap)
        return -ENOBUFS;
    memcpy(out, root, rlen);
    long d = goc_http_url_decode(p, len, out + rlen, cap - rlen, 0);
    if (d == -EINVAL && has_nul(p, len))
        return -EACCES; /* the decoder refuses NUL as it refuses bad escapes */
    if (d < 0)
        return d;
    if (!path_safe(out + rlen, (size_t)d))
        return -EACCES;
    size_t n = rlen + (size_t)d;
    if (out[n - 1] == '/') {
        static const char index[] = "index.html";
        if (cap - n < sizeof index)
            return -ENOBUFS;
        memcpy(out + n, index, sizeof index);
        n += sizeof index - 1;
    }
    return (long)n;
}

bool goc_http_path_within(const char *root, const char *file)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (strncmp(root, file, n) != 0)
        return false;
    if (n == 1 && root[0] == '/')
        return file[0] == '/';
    return file[n] == 0 || file[n] == '/';
}

/* Extension (without the dot, lower case compared) to Content-Type. */
static const struct {
    const char *ext;  /* file name extension */
    const char *type; /* its media type */
} content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"txt", "text/plain; charset=utf-8"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"wasm", "application/wasm"},
};

const char *goc_http_content_type(const char *path, size_t len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
        i--;
    if (i == 0 || path[i - 1] != '.')
        return "application/octet-stream";
    const char *ext = path + i;
    size_t elen = len - i;
    for (size_t k = 0; k < sizeof content_types / sizeof content_types[0]; k++)
        if (strlen(content_types[k].ext) == elen && strncasecmp(ext, content_types[k].ext, elen) == 0)
            return content_types[k].type;
    return "application/octet-stream";
}

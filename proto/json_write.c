/* json_write.c: the writers of json.h, appending JSON text to a growing
 * buffer.
 *
 * Strings are copied in runs: eight bytes at a time while none needs a
 * second look (a quote, a backslash, a control character, a byte of a
 * multi-byte sequence), then that byte escaped, or its UTF-8 sequence
 * checked and copied (U+FFFD written for an invalid one).
 *
 * Invariants: every byte goes through goc_json_raw, so the buffer's own
 * invariants (proto/buf.h) hold after each piece.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>

#include "utf8.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether any of the eight bytes of w needs more than a copy. */
static inline bool word_special(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((bs - ONES) & ~bs) | ((w - ONES * 0x20) & ~w) | w) & HIGHS;
}

/* Appends the escape for ASCII byte c ('"', '\\' or a control). */
static void put_escape(buf_t *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\', 0};
    size_t n = 2;
    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    default:
        e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15];
        n = 6;
    }
    goc_json_raw(b, e, n);
}

void goc_json_str(buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    goc_json_raw(b, "\"", 1);
    for (;;) {
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (word_special(w)) break;
            p += 8;
        }
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run) goc_json_raw(b, run, (size_t)(p - run));
        if (p >= end) break;
        if (*p < 0x80) {
            put_escape(b, *p);
            p++;
        } else {
            size_t k = goc_utf8_seq(p, (size_t)(end - p));
            if (k) {
                goc_json_raw(b, p, k);
                p += k;
            } else {
                goc_json_lit(b, "\xEF\xBF\xBD"); /* U+FFFD for the one bad byte */
                p++;
            }
        }
        run = p;
    }
    goc_json_raw(b, "\"", 1);
}

void goc_json_int(buf_t *b, int64_t v)
{
    char tmp[24], *q = tmp + sizeof tmp;
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (v < 0) *--q = '-';
    goc_json_raw(b, q, (size_t)(tmp + sizeof tmp - q));
}

void goc_json_real(buf_t *b, double v)
{
    char tmp[40];
    if (!isfinite(v)) {
        goc_json_lit(b, "null");
        return;
    }
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    /* the C locale's point, and jansson's shape: "1.0" not "1", "1e20"
     * not "1e+20" */
    bool dot_or_e = false;
    char *w = tmp;
    for (char *c = tmp; c < tmp + n; c++) {
        if (*c == ',') *c = '.';
        if (*c == '.' || *c == 'e') dot_or_e = true;
        if (c[0] == 'e' && c[1] == '+') {
            *w++ = 'e';
            c++;
            while (c[1] == '0' && c[2] >= '0' && c[2] <= '9')
                c++;
            continue;
        }
        if (c[0] == 'e' && c[1] == '-') {
            *w++ = 'e';
            *w++ = '-';
            c++;
            while (c[1] == '0' && c[2] >= '0' && c[2] <= '9')
                c++;
            continue;
        }
        *w++ = *c;
    }
    goc_json_raw(b, tmp, (size_t)(w - tmp));
    if (!dot_or_e) goc_json_lit(b, ".0");
}

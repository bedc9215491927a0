/* json_read.c: the readers of json.h, on text a scan accepted: walking
 * containers, finding members, decoding strings, converting numbers.
 *
 * Walking never validates again: a value is skipped by its first byte (a
 * string to its closing quote, a container to its matching bracket with
 * strings skipped inside, anything else to the next delimiter).
 *
 * Invariants: every function here is given values a scan produced, so
 * escapes are complete and surrogates paired; even so, no loop reads past
 * the end of the value it was given.
 */
#include "json.h"

#include <locale.h>
#include <stdlib.h>

#include <goc/malloc.h>

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

/* p at a quote: past the closing one; *escaped set if a backslash came. */
static const char *skip_string(const char *p, const char *end, bool *escaped)
{
    for (p++; p < end; p++) {
        if (*p == '"') return p + 1;
        if (*p == '\\') {
            *escaped = true;
            p++;
        }
    }
    return end;
}

static goc_json_type type_of(char c)
{
    switch (c) {
    case '"':
        return GOC_JSON_STRING;
    case '{':
        return GOC_JSON_OBJECT;
    case '[':
        return GOC_JSON_ARRAY;
    case 't':
        return GOC_JSON_TRUE;
    case 'f':
        return GOC_JSON_FALSE;
    case 'n':
        return GOC_JSON_NULL;
    default:
        return GOC_JSON_NUMBER;
    }
}

/* Cuts the value starting at p out of [p, end) into *v; returns past it. */
static const char *cut_value(const char *p, const char *end, goc_json_value *v)
{
    const char *start = p;
    bool escaped = false;
    uint8_t flags = 0;
    v->type = (uint8_t)type_of(*p);
    if (*p == '"') {
        p = skip_string(p, end, &escaped);
        flags = escaped ? GOC_JSON_ESCAPED : 0;
    } else if (*p == '[' || *p == '{') {
        size_t depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end, &escaped);
                continue;
            }
            p++;
            if (c == '[' || c == '{')
                depth++;
            else if ((c == ']' || c == '}') && --depth == 0)
                break;
        }
    } else {
        flags = v->type == GOC_JSON_NUMBER ? GOC_JSON_INTEGER : 0;
        while (p < end && !is_ws(*p) && *p != ',' && *p != ']' && *p != '}') {
            if (*p == '.' || *p == 'e' || *p == 'E') flags = 0;
            p++;
        }
    }
    v->text = start;
    v->len = (size_t)(p - start);
    v->flags = flags;
    return p;
}

void goc_json_iter_init(goc_json_iter *it, const goc_json_value *v)
{
    it->p = v->text + 1;
    it->end = v->text + v->len - 1;
}

bool goc_json_iter_next(goc_json_iter *it, goc_json_value *key, goc_json_value *val)
{
    const char *p = skip_ws(it->p, it->end);
    if (p < it->end && *p == ',') p = skip_ws(p + 1, it->end);
    if (p >= it->end) {
        it->p = it->end;
        return false;
    }
    if (key) {
        p = cut_value(p, it->end, key);
        p = skip_ws(p, it->end);
        p = skip_ws(p + 1, it->end); /* the colon */
    }
    it->p = cut_value(p, it->end, val);
    return true;
}

bool goc_json_object_get(const goc_json_value *obj, const char *name, size_t name_len,
                         goc_json_value *out)
{
    if (obj->type != GOC_JSON_OBJECT) return false;
    goc_json_iter it;
    goc_json_value k, v;
    bool found = false;
    goc_json_iter_init(&it, obj);
    while (goc_json_iter_next(&it, &k, &v)) {
        if (goc_json_string_equals(&k, name, name_len)) {
            *out = v;
            found = true; /* keep going: the last one wins */
        }
    }
    return found;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i];
        v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Writes code point cp as UTF-8 into out; returns the bytes. */
static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at *p (a backslash) into out (4 bytes); moves *p past
 * it and returns the bytes written. */
static size_t unescape(const char **p, char *out)
{
    const char *e = *p;
    char c = e[1];
    *p = e + 2;
    switch (c) {
    case 'b':
        *out = '\b';
        return 1;
    case 'f':
        *out = '\f';
        return 1;
    case 'n':
        *out = '\n';
        return 1;
    case 'r':
        *out = '\r';
        return 1;
    case 't':
        *out = '\t';
        return 1;
    case 'u':
        break;
    default: /* " \ / */
        *out = c;
        return 1;
    }
    uint32_t cp = (uint32_t)hex4(e + 2);
    *p = e + 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* paired: the scan saw to it */
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)hex4(e + 8) - 0xDC00);
        *p = e + 12;
    }
    return utf8_put(cp, out);
}

size_t goc_json_string_decode(const goc_json_value *v, char *dst)
{
    const char *p = v->text + 1, *end = v->text + v->len - 1;
    size_t n = 0;
    if (!(v->flags & GOC_JSON_ESCAPED)) {
        n = v->len - 2;
        memcpy(dst, p, n);
    } else {
        while (p < end) {
            const char *bs = memchr(p, '\\', (size_t)(end - p));
            size_t run = bs ? (size_t)(bs - p) : (size_t)(end - p);
            memcpy(dst + n, p, run);
            n += run;
            p += run;
            if (bs) n += unescape(&p, dst + n);
        }
    }
    dst[n] = 0;
    return n;
}

bool goc_json_string_equals(const goc_json_value *v, const char *s, size_t n)
{
    if (v->type != GOC_JSON_STRING) return false; /* GOC_JSON_NONE has no text */
    const char *p = v->text + 1, *end = v->text + v->len - 1;
    if (!(v->flags & GOC_JSON_ESCAPED)) return (size_t)(end - p) == n && memcmp(p, s, n) == 0;
    if ((size_t)(end - p) < n) return false; /* decoding never lengthens */
    size_t k = 0;
    while (p < end) {
        char one[4];
        size_t m;
        if (*p == '\\') {
            m = unescape(&p, one);
        } else {
            one[0] = *p++;
            m = 1;
        }
        if (k + m > n || memcmp(s + k, one, m) != 0) return false;
        k += m;
    }
    return k == n;
}

int goc_json_int64(const goc_json_value *v, int64_t *out)
{
    if (v->type != GOC_JSON_NUMBER || !(v->flags & GOC_JSON_INTEGER)) return -EINVAL;
    const char *p = v->text, *end = v->text + v->len;
    bool neg = *p == '-';
    uint64_t mag = 0;
    for (p += neg; p < end; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (mag > (UINT64_MAX - d) / 10) return -ERANGE;
        mag = mag * 10 + d;
    }
    if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) return -ERANGE;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

double goc_json_double(const goc_json_value *v)
{
    char small[64], *copy = small;
    if (v->len >= sizeof small && !(copy = goc_malloc(v->len + 1))) return 0;
    memcpy(copy, v->text, v->len);
    copy[v->len] = 0;
    /* strtod reads the locale's decimal point: give it that */
    char point = localeconv()->decimal_point[0];
    if (point != '.')
        for (char *c = copy; *c; c++)
            if (*c == '.') *c = point;
    double d = strtod(copy, NULL);
    if (copy != small) goc_free(copy);
    return d;
}

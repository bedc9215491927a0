/* jsonrpc_scan.c: a few passes over the raw message text, beside jansson's
 * parse. jansson gives values, not positions, and re-encoding a number is
 * not always the text that was sent (1e3 becomes 1000.0), so the ids that
 * must come back "exactly as sent" are cut out of the text here.
 *
 * Invariants: jrpc__too_deep() runs on untrusted bytes and never reads past
 * len; the other functions run only on text jansson accepted (or, for
 * jrpc__blank_integer_ids, refused for a too-big integer), and still stop
 * at the span's end (returning -EINVAL) if the text is not what they
 * expect, so a disagreement with jansson costs the exact id, never memory
 * safety. Blanking never turns invalid JSON into valid JSON.
 */
#include "jsonrpc_private.h"

#include <stdint.h>
#include <string.h>

#define SCAN_BAD SIZE_MAX

bool jrpc__too_deep(const char *s, size_t len, size_t max)
{
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return false;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t end, size_t i)
{
    while (i < end && is_ws(s[i]))
        i++;
    return i;
}

/* s[i] is '"': returns the index after the closing quote. */
static size_t skip_string(const char *s, size_t end, size_t i)
{
    for (i++; i < end; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return SCAN_BAD;
}

/* Returns the index after the value starting at s[i], or SCAN_BAD. */
static size_t skip_value(const char *s, size_t end, size_t i)
{
    if (i >= end) return SCAN_BAD;
    if (s[i] == '"') return skip_string(s, end, i);
    if (s[i] == '[' || s[i] == '{') {
        size_t depth = 0;
        while (i < end) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, end, i);
                if (i == SCAN_BAD) return SCAN_BAD;
                continue;
            }
            if (c == '[' || c == '{')
                depth++;
            else if ((c == ']' || c == '}') && --depth == 0)
                return i + 1;
            i++;
        }
        return SCAN_BAD;
    }
    size_t start = i;
    while (i < end && !is_ws(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}')
        i++;
    return i > start ? i : SCAN_BAD;
}

jrpc__span jrpc__trim(const char *s, size_t len)
{
    size_t a = skip_ws(s, len, 0), b = len;
    while (b > a && is_ws(s[b - 1]))
        b--;
    return (jrpc__span){a, b - a};
}

int jrpc__array_items(const char *s, jrpc__span a, jrpc__span *spans, size_t n)
{
    size_t end = a.off + a.len, i = a.off, k = 0;
    if (i >= end || s[i] != '[') return -EINVAL;
    i = skip_ws(s, end, i + 1);
    if (i < end && s[i] == ']') return n == 0 ? 0 : -EINVAL;
    for (;;) {
        size_t e = skip_value(s, end, i);
        if (e == SCAN_BAD || k == n) return -EINVAL;
        spans[k++] = (jrpc__span){i, e - i};
        i = skip_ws(s, end, e);
        if (i >= end) return -EINVAL;
        if (s[i] == ']') return k == n ? 0 : -EINVAL;
        if (s[i] != ',') return -EINVAL;
        i = skip_ws(s, end, i + 1);
    }
}

/* Whether the quoted key s[k] means "id", escapes decoded. */
static bool key_is_id(const char *s, jrpc__span k)
{
    const char *raw = s + k.off + 1;
    size_t rlen = k.len - 2;
    if (!memchr(raw, '\\', rlen)) return rlen == 2 && raw[0] == 'i' && raw[1] == 'd';
    json_t *v = json_loadb(s + k.off, k.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bool is = v && json_is_string(v) && json_string_length(v) == 2 &&
              memcmp(json_string_value(v), "id", 2) == 0;
    json_decref(v);
    return is;
}

int jrpc__find_id(const char *s, jrpc__span obj, jrpc__span *id)
{
    size_t end = obj.off + obj.len, i = obj.off;
    int found = 0;
    if (i >= end || s[i] != '{') return -EINVAL;
    i = skip_ws(s, end, i + 1);
    if (i < end && s[i] == '}') return 0;
    for (;;) {
        if (i >= end || s[i] != '"') return -EINVAL;
        size_t ke = skip_string(s, end, i);
        if (ke == SCAN_BAD) return -EINVAL;
        jrpc__span key = {i, ke - i};
        i = skip_ws(s, end, ke);
        if (i >= end || s[i] != ':') return -EINVAL;
        i = skip_ws(s, end, i + 1);
        size_t ve = skip_value(s, end, i);
        if (ve == SCAN_BAD) return -EINVAL;
        if (key_is_id(s, key)) {
            *id = (jrpc__span){i, ve - i};
            found = 1; /* keep going: the last duplicate wins, as in jansson */
        }
        i = skip_ws(s, end, ve);
        if (i >= end) return -EINVAL;
        if (s[i] == '}') return found;
        if (s[i] != ',') return -EINVAL;
        i = skip_ws(s, end, i + 1);
    }
}

/* Overwrites an integer id with "0" and spaces (same length). Only a
 * well-formed JSON integer, -?(0|[1-9][0-9]*): this text failed to parse,
 * so a malformed one ("007", "-") must stay and fail again. */
static void blank_id(char *s, jrpc__span obj)
{
    jrpc__span id;
    if (jrpc__find_id(s, obj, &id) != 1 || id.len == 0)
        return;
    const char *d = s + id.off;
    size_t k = d[0] == '-';
    if (k == id.len || (d[k] == '0' && id.len - k > 1))
        return; /* a bare '-' or a leading zero */
    for (; k < id.len; k++)
        if (!(d[k] >= '0' && d[k] <= '9'))
            return; /* not an integer literal: reals that overflow stay errors */
    s[id.off] = '0';
    memset(s + id.off + 1, ' ', id.len - 1);
}

void jrpc__blank_integer_ids(char *s, size_t len)
{
    jrpc__span top = jrpc__trim(s, len);
    if (top.len == 0)
        return;
    if (s[top.off] == '{') {
        blank_id(s, top);
        return;
    }
    if (s[top.off] != '[')
        return;
    size_t end = top.off + top.len, i = skip_ws(s, end, top.off + 1);
    while (i < end && s[i] != ']') {
        size_t e = skip_value(s, end, i);
        if (e == SCAN_BAD)
            return;
        if (s[i] == '{')
            blank_id(s, (jrpc__span){i, e - i});
        i = skip_ws(s, end, e);
        if (i < end && s[i] == ',')
            i = skip_ws(s, end, i + 1);
    }
}

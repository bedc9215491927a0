/* fuzz_json.c: libFuzzer target for strict JSON (proto/json.h and
 * proto/json_tree.h), with jansson as the reference.
 *
 * Input: byte 0 picks the nesting limit (bit 0: 4 levels, else 1000, below
 * jansson's own 2048); the rest is the text.
 *
 * Checked, on every input:
 *   - the scan and jansson (JSON_DECODE_ANY | JSON_ALLOW_NUL, numbers
 *     beyond 64-bit integers read again as reals) accept and refuse the
 *     same texts, but for the two places where jansson leaves RFC 8259
 *     (json_test.c's test_jansson_differences): a key holding \u0000, which
 *     jansson refuses, and a NUL byte after a number or a literal, which
 *     jansson drops (the text without those bytes must then be accepted by
 *     us and give the same value);
 *   - a scan refusing for depth (-E2BIG) means the text's brackets nest
 *     deeper than the limit; in an accepted one they nest no deeper;
 *   - both agree on the value: our tree (built by walking and decoding the
 *     text) equals jansson's, numbers compared by value; every member of a
 *     top-level object is found by goc_json_object_get with that value;
 *   - our writer gives json_dumps' exact text for jansson's tree, and the
 *     text scans again to the same value;
 *   - any bytes written as a string scan as one string that decodes to
 *     those bytes (when they are valid UTF-8).
 *
 * Invariants: jansson's allocator is libc's; everything is freed before
 * returning.
 */
#include "fuzz.h"
#include "json.h"
#include "json_tree.h"
#include "utf8.h"

#define DEEP 1000
#define SHALLOW 4

/* Same value, numbers by value (jansson may hold reals where we hold
 * integers). */
static bool same(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_string(a))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a)) {
        const char *k;
        size_t klen;
        json_t *v;
        if (json_object_size(a) != json_object_size(b)) return false;
        json_object_keylen_foreach(a, k, klen, v)
        {
            json_t *w = json_object_getn(b, k, klen);
            if (!w || !same(v, w)) return false;
        }
        return true;
    }
    return true; /* true, false, null */
}

/* The deepest nesting of brackets outside strings (a tree may hide it:
 * the last of duplicate keys wins). */
static size_t text_depth(const char *t, size_t len)
{
    size_t d = 0, max = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (t[i] == '\\')
                i++;
            else if (t[i] == '"')
                in_string = false;
        } else if (t[i] == '"') {
            in_string = true;
        } else if (t[i] == '[' || t[i] == '{') {
            if (++d > max) max = d;
        } else if ((t[i] == ']' || t[i] == '}') && d > 0) {
            d--;
        }
    }
    return max;
}

/* jansson's reading of text, integers beyond 64 bits as reals. */
static json_t *jansson_load(const char *text, size_t len, json_error_t *err)
{
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *j = json_loadb(text, len, flags, err);
    if (!j && json_error_code(err) == json_error_numeric_overflow)
        j = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, err);
    return j;
}

/* The text without the NUL bytes jansson drops (after a number or a
 * literal's last character); a new buffer of *len bytes. */
static char *without_dropped_nuls(const char *text, size_t *len)
{
    char *out = (char *)fuzz_dup((const uint8_t *)text, *len);
    size_t n = 0;
    for (size_t i = 0; i < *len; i++) {
        char prev = n ? out[n - 1] : 0;
        bool after_token = (prev >= '0' && prev <= '9') || (prev >= 'a' && prev <= 'z') ||
                           (prev >= 'A' && prev <= 'Z');
        if (text[i] == 0 && after_token) continue;
        out[n++] = text[i];
    }
    *len = n;
    return out;
}

/* Our value equals jansson's j; members found by name; writers agree. */
static void check_value(const goc_json_value *v, json_t *j)
{
    json_t *ours;
    FUZZ_CHECK(goc_json_tree(v, &ours) == 0);
    FUZZ_CHECK(same(ours, j));
    if (v->type == GOC_JSON_OBJECT) {
        const char *k;
        size_t klen;
        json_t *e;
        json_object_keylen_foreach(j, k, klen, e)
        {
            goc_json_value m;
            json_t *mt;
            FUZZ_CHECK(goc_json_object_get(v, k, klen, &m));
            FUZZ_CHECK(goc_json_tree(&m, &mt) == 0);
            FUZZ_CHECK(same(mt, e));
            json_decref(mt);
        }
    }
    buf_t b = {0};
    goc_json_tree_write(&b, j);
    FUZZ_CHECK(!b.err);
    char *d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    FUZZ_CHECK(d && strlen(d) == b.len && memcmp(d, b.data, b.len) == 0);
    free(d);
    goc_json_value again;
    json_t *back;
    FUZZ_CHECK(goc_json_validate(b.data, b.len, GOC_JSON_MAX_DEPTH, &again) == 0);
    FUZZ_CHECK(goc_json_tree(&again, &back) == 0);
    FUZZ_CHECK(same(back, ours));
    json_decref(back);
    json_decref(ours);
    buf_free(&b);
}

/* Any bytes, written as a string, read back as themselves. */
static void check_string_writer(const char *s, size_t n)
{
    buf_t b = {0};
    goc_json_value v;
    goc_json_str(&b, s, n);
    FUZZ_CHECK(!b.err);
    FUZZ_CHECK(goc_json_validate(b.data, b.len, 1, &v) == 0 && v.type == GOC_JSON_STRING);
    if (goc_utf8_valid((const uint8_t *)s, n)) {
        char *d = malloc(v.len);
        FUZZ_CHECK(d && goc_json_string_decode(&v, d) == n && memcmp(d, s, n) == 0);
        FUZZ_CHECK(goc_json_string_equals(&v, s, n));
        free(d);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max_depth = data[0] & 1 ? SHALLOW : DEEP;
    size_t len = size - 1;
    char *text = (char *)fuzz_dup(data + 1, len); /* exact size: see fuzz.h */
    goc_json_value v;
    int rc = goc_json_validate(text, len, max_depth, &v);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -E2BIG);
    json_error_t err;
    json_t *j = jansson_load(text, len, &err);
    if (rc == -E2BIG) {
        FUZZ_CHECK(text_depth(text, len) > max_depth);
    } else if (rc == 0) {
        FUZZ_CHECK(j || json_error_code(&err) == json_error_null_byte_in_key);
        if (j) {
            FUZZ_CHECK(text_depth(text, len) <= max_depth);
            check_value(&v, j);
        }
    } else if (j) {
        /* jansson accepted what we refused: only for the NULs it drops */
        size_t n = len;
        char *stripped = without_dropped_nuls(text, &n);
        FUZZ_CHECK(n < len);
        FUZZ_CHECK(goc_json_validate(stripped, n, max_depth, &v) == 0);
        check_value(&v, j);
        free(stripped);
    }
    json_decref(j);
    check_string_writer(text, len);
    free(text);
    return 0;
}

/* json_tree.c: jansson trees from scanned text and back to text (see
 * json_tree.h).
 *
 * Both directions recurse once per level of nesting; the depth is bounded
 * by the scan that accepted the text (at most GOC_JSON_MAX_DEPTH), and for
 * trees handlers build, by what they build.
 */
#include "json_tree.h"

#include <goc/malloc.h>

/* A decoded string in small, or in memory from goc_malloc. */
static char *decode_alloc(const goc_json_value *v, char *small, size_t small_size, size_t *n)
{
    char *d = small;
    if (v->len - 1 > small_size && !(d = goc_malloc(v->len - 1))) return NULL;
    *n = goc_json_string_decode(v, d);
    return d;
}

static void decode_free(char *d, char *small)
{
    if (d != small) goc_free(d);
}

static json_t *build(const goc_json_value *v);

static json_t *build_string(const goc_json_value *v)
{
    char small[256];
    size_t n;
    char *d = decode_alloc(v, small, sizeof small, &n);
    json_t *s = d ? json_stringn_nocheck(d, n) : NULL;
    decode_free(d, small);
    return s;
}

static json_t *build_number(const goc_json_value *v)
{
    int64_t i;
    if (goc_json_int64(v, &i) == 0) return json_integer((json_int_t)i);
    return json_real(goc_json_double(v));
}

static json_t *build_container(const goc_json_value *v)
{
    bool obj = v->type == GOC_JSON_OBJECT;
    json_t *c = obj ? json_object() : json_array();
    goc_json_iter it;
    goc_json_value k, e;
    goc_json_iter_init(&it, v);
    while (c && goc_json_iter_next(&it, obj ? &k : NULL, &e)) {
        json_t *x = build(&e);
        if (!x) goto fail;
        if (!obj) {
            if (json_array_append_new(c, x) < 0) goto fail;
            continue;
        }
        char small[256];
        size_t n;
        char *key = decode_alloc(&k, small, sizeof small, &n);
        int rc = key ? json_object_setn_new_nocheck(c, key, n, x) : (json_decref(x), -1);
        decode_free(key, small);
        if (rc < 0) goto fail;
    }
    return c;
fail:
    json_decref(c);
    return NULL;
}

static json_t *build(const goc_json_value *v)
{
    switch (v->type) {
    case GOC_JSON_NULL:
        return json_null();
    case GOC_JSON_TRUE:
        return json_true();
    case GOC_JSON_FALSE:
        return json_false();
    case GOC_JSON_NUMBER:
        return build_number(v);
    case GOC_JSON_STRING:
        return build_string(v);
    case GOC_JSON_ARRAY:
    case GOC_JSON_OBJECT:
        return build_container(v);
    default:
        return NULL;
    }
}

int goc_json_tree(const goc_json_value *v, json_t **out)
{
    *out = build(v);
    return *out ? 0 : -ENOMEM;
}

void goc_json_tree_write(buf_t *b, const json_t *v)
{
    size_t i, klen;
    const char *k;
    json_t *e;
    if (!v) {
        goc_json_lit(b, "null");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        goc_json_lit(b, "{");
        i = 0;
        json_object_keylen_foreach((json_t *)v, k, klen, e)
        {
            if (i++) goc_json_lit(b, ",");
            goc_json_str(b, k, klen);
            goc_json_lit(b, ":");
            goc_json_tree_write(b, e);
        }
        goc_json_lit(b, "}");
        return;
    case JSON_ARRAY:
        goc_json_lit(b, "[");
        for (i = 0; i < json_array_size(v); i++) {
            if (i) goc_json_lit(b, ",");
            goc_json_tree_write(b, json_array_get(v, i));
        }
        goc_json_lit(b, "]");
        return;
    case JSON_STRING:
        goc_json_str(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        goc_json_int(b, (int64_t)json_integer_value(v));
        return;
    case JSON_REAL:
        goc_json_real(b, json_real_value(v));
        return;
    case JSON_TRUE:
        goc_json_lit(b, "true");
        return;
    case JSON_FALSE:
        goc_json_lit(b, "false");
        return;
    default:
        goc_json_lit(b, "null");
        return;
    }
}

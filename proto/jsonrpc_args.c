/* jsonrpc_args.c: typed getters for a text method's named params, read
 * from the params' text (jsonrpc.h: jrpc_arg_*), with the same results and
 * -32602 messages as the tree getters of jsonrpc_params.c:
 *
 *   const char *room;
 *   if (jrpc_arg_str(call, "room", JRPC_REQUIRED, &room, NULL) < 0)
 *       return -EINVAL;
 *
 * Each getter finds its member with one walk of the params object (the
 * last of duplicates wins) and converts only that member. Strings are
 * decoded into the call's scratch, then into blocks it allocates when the
 * scratch is used up; all are freed with the call.
 *
 * Invariants: scratch_used <= JRPC__SCRATCH; a block, once handed out, is
 * never reused, so every string returned stays valid while the call lives.
 */
#include "jsonrpc_private.h"

#include <string.h>

/* n bytes of the call's memory, or NULL when out of memory. */
static char *scratch(jrpc_call_t *call, size_t n)
{
    if (n <= JRPC__SCRATCH - call->scratch_used) {
        char *p = call->scratch + call->scratch_used;
        call->scratch_used += n;
        return p;
    }
    jrpc__block *b = jrpc__alloc(sizeof *b + n);
    if (!b) return NULL;
    b->next = call->blocks;
    call->blocks = b;
    return b->data;
}

/* Finds params[name]. Returns 1 (found, not null), 0 (absent or null,
 * optional), or -EINVAL with the error set. `what` names the expected type
 * for the null-but-required message. */
static int lookup(jrpc_call_t *call, const char *name, unsigned flags, const char *what,
                  goc_json_value *v)
{
    const goc_json_value *p = &call->params;
    if (p->type == GOC_JSON_ARRAY) {
        jrpc_call_error(call, JRPC_INVALID_PARAMS, "params must be an object", NULL);
        return -EINVAL;
    }
    bool found = p->type == GOC_JSON_OBJECT && goc_json_object_get(p, name, strlen(name), v);
    if (found && v->type != GOC_JSON_NULL) return 1;
    if (!(flags & JRPC_REQUIRED)) return 0;
    if (found)
        jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "param '%s' must be %s", name, what);
    else
        jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "missing param '%s'", name);
    return -EINVAL;
}

static int wrong_type(jrpc_call_t *call, const char *name, const char *what)
{
    jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "param '%s' must be %s", name, what);
    return -EINVAL;
}

int jrpc_arg_str(jrpc_call_t *call, const char *name, unsigned flags, const char **out,
                 size_t *len)
{
    static const char what[] = "a string";
    goc_json_value v;
    int rc = lookup(call, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (v.type != GOC_JSON_STRING) return wrong_type(call, name, what);
    char *d = scratch(call, v.len - 1);
    if (!d) {
        jrpc_call_error(call, JRPC_INTERNAL_ERROR, NULL, NULL);
        return -ENOMEM;
    }
    size_t n = goc_json_string_decode(&v, d);
    *out = d;
    if (len) *len = n;
    return 1;
}

int jrpc_arg_int(jrpc_call_t *call, const char *name, unsigned flags, int64_t *out)
{
    static const char what[] = "an integer";
    goc_json_value v;
    int rc = lookup(call, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (goc_json_int64(&v, out) < 0) return wrong_type(call, name, what);
    return 1;
}

int jrpc_arg_bool(jrpc_call_t *call, const char *name, unsigned flags, bool *out)
{
    static const char what[] = "a boolean";
    goc_json_value v;
    int rc = lookup(call, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (v.type != GOC_JSON_TRUE && v.type != GOC_JSON_FALSE) return wrong_type(call, name, what);
    *out = v.type == GOC_JSON_TRUE;
    return 1;
}

int jrpc_arg_value(jrpc_call_t *call, const char *name, unsigned flags, goc_json_value *out)
{
    return lookup(call, name, flags, "given", out);
}

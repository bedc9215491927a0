/* jsonrpc_params.c: typed getters for a tree method's named params, each
 * failing with one clear -32602 message set on the call, so a handler reads
 *
 *   const char *room;
 *   if (jrpc_param_str(call, params, "room", JRPC_REQUIRED, &room, NULL) < 0)
 *       return -EINVAL;
 *
 * An optional param given as null counts as absent; a required one given as
 * null gets the type message ("param 'room' must be a string").
 */
#include "jsonrpc_private.h"

/* Finds params[name]. Returns 1 (found, non-null), 0 (absent or null,
 * optional), or -EINVAL with the error set. `what` names the expected type
 * for the null-but-required message. */
static int lookup(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                  const char *what, json_t **v)
{
    if (params && !json_is_object(params)) {
        jrpc_call_error(call, JRPC_INVALID_PARAMS, "params must be an object", NULL);
        return -EINVAL;
    }
    *v = params ? json_object_get(params, name) : NULL;
    if (*v && !json_is_null(*v)) return 1;
    if (!(flags & JRPC_REQUIRED)) return 0;
    if (*v)
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

int jrpc_param_str(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                   const char **out, size_t *len)
{
    static const char what[] = "a string";
    json_t *v;
    int rc = lookup(call, params, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (!json_is_string(v)) return wrong_type(call, name, what);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 1;
}

int jrpc_param_int(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                   json_int_t *out)
{
    static const char what[] = "an integer";
    json_t *v;
    int rc = lookup(call, params, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (!json_is_integer(v)) return wrong_type(call, name, what); /* 1.0, 1e3, beyond 64 bits */
    *out = json_integer_value(v);
    return 1;
}

int jrpc_param_bool(jrpc_call_t *call, json_t *params, const char *name, unsigned flags, bool *out)
{
    static const char what[] = "a boolean";
    json_t *v;
    int rc = lookup(call, params, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (!json_is_boolean(v)) return wrong_type(call, name, what);
    *out = json_is_true(v);
    return 1;
}

int jrpc_param_object(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                      json_t **out)
{
    static const char what[] = "an object";
    json_t *v;
    int rc = lookup(call, params, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (!json_is_object(v)) return wrong_type(call, name, what);
    *out = v;
    return 1;
}

int jrpc_param_array(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                     json_t **out)
{
    static const char what[] = "an array";
    json_t *v;
    int rc = lookup(call, params, name, flags, what, &v);
    if (rc <= 0) return rc;
    if (!json_is_array(v)) return wrong_type(call, name, what);
    *out = v;
    return 1;
}

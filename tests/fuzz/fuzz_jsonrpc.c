/* fuzz_jsonrpc.c: libFuzzer target for the JSON-RPC engine
 * (proto/jsonrpc.h): one message, single or batch, through jrpc_handle()
 * or through jrpc_msg_parse(), the calls run last to first, and
 * jrpc_msg_reply().
 *
 * Input: byte 0 holds the transport (bit 0: persistent), the limits (bit 1:
 * max_depth 4 and max_batch 3 instead of the defaults) and the path (bit 2:
 * parse / run / reply instead of jrpc_handle); the rest is the message.
 *
 * The method table is the one of tests/proto/jsonrpc_test.c in spirit:
 * echo, subtract and sum (positional or named params), history (every
 * jrpc_param_* getter, required and optional), a persistent-only method,
 * handlers that fail with and without an error, and a notification counter.
 *
 * The reply is checked against the rules of jsonrpc.h, computed on our own
 * parse of the message (every number as a double, so ids compare by value):
 * it is valid JSON; a message that is not JSON is one -32700, one too deep
 * or not an object or a non-empty array within max_batch is one -32600, all
 * with id null; otherwise the replies are exactly the entries that are not
 * notifications, in order, each with the entry's id (null for an invalid
 * one), one of result or error, and echo's result equal to its params. The
 * observer hears once per entry.
 *
 * Invariants: the two method tables are built once and only read; every
 * message and reply is freed before returning.
 */
#include <errno.h>

#include "fuzz.h"
#include "jsonrpc.h"

#define SMALL_DEPTH 4
#define SMALL_BATCH 3

static jrpc_t *tables[2]; /* [0] default limits, [1] small ones */
static size_t observed;   /* observer calls for the current message */

static int m_echo(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    *result = params ? json_incref(params) : NULL;
    return 0;
}

/* [a, b] or {"minuend": a, "subtrahend": b}; wraps around like unsigned. */
static int m_subtract(jrpc_call_t *call, json_t *params, json_t **result)
{
    json_int_t a, b;
    if (json_is_array(params)) {
        json_t *x = json_array_get(params, 0), *y = json_array_get(params, 1);
        if (json_array_size(params) != 2 || !json_is_integer(x) || !json_is_integer(y))
            return jrpc_call_error(call, JRPC_INVALID_PARAMS, "expected [minuend, subtrahend]",
                                   NULL);
        a = json_integer_value(x);
        b = json_integer_value(y);
    } else if (jrpc_param_int(call, params, "minuend", JRPC_REQUIRED, &a) < 0 ||
               jrpc_param_int(call, params, "subtrahend", JRPC_REQUIRED, &b) < 0) {
        return -EINVAL;
    }
    *result = json_integer((json_int_t)((unsigned long long)a - (unsigned long long)b));
    return 0;
}

static int m_sum(jrpc_call_t *call, json_t *params, json_t **result)
{
    unsigned long long s = 0;
    size_t i;
    json_t *v;
    if (!json_is_array(params))
        return jrpc_call_error(call, JRPC_INVALID_PARAMS, "expected an array of integers", NULL);
    json_array_foreach(params, i, v) s += (unsigned long long)json_integer_value(v);
    *result = json_integer((json_int_t)s);
    return 0;
}

/* Every getter: room (required string), limit (1..500), verbose, filter,
 * tags; the result repeats what was understood. */
static int m_history(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *room;
    size_t room_len;
    json_int_t limit = 100;
    bool verbose = false;
    json_t *filter = NULL, *tags = NULL;
    if (jrpc_param_str(call, params, "room", JRPC_REQUIRED, &room, &room_len) < 0 ||
        jrpc_param_int(call, params, "limit", JRPC_OPTIONAL, &limit) < 0 ||
        jrpc_param_bool(call, params, "verbose", JRPC_OPTIONAL, &verbose) < 0 ||
        jrpc_param_object(call, params, "filter", JRPC_OPTIONAL, &filter) < 0 ||
        jrpc_param_array(call, params, "tags", JRPC_OPTIONAL, &tags) < 0)
        return -EINVAL;
    if (limit < 1 || limit > 500)
        return jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "param 'limit' must be 1..500");
    *result = json_pack("{s:s%,s:I,s:b,s:O?,s:O?}", "room", room, room_len, "limit", limit,
                        "verbose", verbose, "filter", filter, "tags", tags);
    return 0;
}

static int m_persistent(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    FUZZ_CHECK(jrpc_call_ctx(call)->persistent);
    *result = json_string(jrpc_call_method(call));
    return 0;
}

static int m_fail_silent(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    (void)params;
    *result = json_string("dropped"); /* released by the engine */
    return -EIO;
}

static int m_custom_error(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)result;
    jrpc_call_error(call, JRPC_RATE_LIMITED, "slow down", params ? json_deep_copy(params) : NULL);
    return jrpc_call_error(call, JRPC_INTERNAL_ERROR, "not this one", json_string("x"));
}

static int m_count(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    (void)result;
    FUZZ_CHECK(jrpc_call_udata(call) == (void *)tables);
    return 0;
}

static void observe(void *ud, const jrpc_ctx_t *ctx, int method, int code, int64_t dur_ns)
{
    (void)ud;
    (void)code;
    FUZZ_CHECK(ctx != NULL && dur_ns >= 0);
    /* an index into the table (both tables hold the same methods), or -1 */
    FUZZ_CHECK(method >= -1 && method < (int)jrpc_method_count(tables[0]));
    FUZZ_CHECK(method < 0 || jrpc_method_name(tables[0], (size_t)method) != NULL);
    observed++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const struct {
        const char *name;
        jrpc_handler_fn fn;
        unsigned flags;
    } methods[] = {
        {"echo", m_echo, 0},
        {"subtract", m_subtract, 0},
        {"sum", m_sum, 0},
        {"history", m_history, 0},
        {"persistent_only", m_persistent, JRPC_PERSISTENT},
        {"fail_silent", m_fail_silent, 0},
        {"custom_error", m_custom_error, 0},
        {"update", m_count, 0},
    };
    const jrpc_limits_t small = {SMALL_DEPTH, SMALL_BATCH};
    (void)argc;
    (void)argv;
    tables[0] = jrpc_new(NULL);
    tables[1] = jrpc_new(&small);
    for (size_t t = 0; t < 2; t++) {
        FUZZ_CHECK(tables[t] != NULL);
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
            FUZZ_CHECK(jrpc_register(tables[t], methods[i].name, methods[i].fn, (void *)tables,
                                     methods[i].flags) == 0);
        FUZZ_CHECK(jrpc_register(tables[t], "echo", m_echo, NULL, 0) == -EEXIST);
        jrpc_set_observer(tables[t], observe, NULL);
    }
    return 0;
}

/* Parses JSON the way the checks compare it: any value, NUL allowed, every
 * number a double. */
static json_t *load(const char *text, size_t len)
{
    return json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
}

/* Brackets of v, the outermost counting 1. */
static size_t depth_of(json_t *v)
{
    size_t d = 0, i, x;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) if ((x = depth_of(e)) > d) d = x;
        return d + 1;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, k, e) if ((x = depth_of(e)) > d) d = x;
        return d + 1;
    }
    return 0;
}

/* The reply to one entry: its shape, and its error code (0 for a result). */
static int check_reply_shape(json_t *r)
{
    FUZZ_CHECK(json_is_object(r));
    json_t *v = json_object_get(r, "jsonrpc"), *id = json_object_get(r, "id");
    FUZZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0);
    FUZZ_CHECK(id && (json_is_string(id) || json_is_number(id) || json_is_null(id)));
    json_t *res = json_object_get(r, "result"), *err = json_object_get(r, "error");
    FUZZ_CHECK((res == NULL) != (err == NULL));
    if (res) return 0;
    json_t *code = json_object_get(err, "code");
    FUZZ_CHECK(json_is_object(err) && json_is_number(code));
    FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
    return (int)json_number_value(code);
}

/* A reply answering the whole message: one error with id null. */
static void check_whole_error(json_t *reply, int code)
{
    FUZZ_CHECK(reply != NULL && check_reply_shape(reply) == code);
    FUZZ_CHECK(json_is_null(json_object_get(reply, "id")));
}

/* The id an entry is answered with (a new reference), or NULL for a
 * notification, following entry_fill's rules in jsonrpc.h. */
static json_t *expected_id(json_t *req)
{
    if (!json_is_object(req)) return json_null();
    json_t *id = json_object_get(req, "id");
    if (id && (json_is_string(id) || json_is_number(id) || json_is_null(id)))
        return json_incref(id);
    if (id) return json_null();
    json_t *v = json_object_get(req, "jsonrpc"), *p = json_object_get(req, "params");
    bool ok = json_is_string(v) && json_string_length(v) == 3 &&
              memcmp(json_string_value(v), "2.0", 3) == 0 &&
              json_is_string(json_object_get(req, "method")) &&
              (!p || json_is_array(p) || json_is_object(p));
    return ok ? NULL : json_null();
}

/* One answered entry: its id, and echo's result. */
static void check_entry(json_t *req, json_t *want_id, json_t *rep)
{
    int code = check_reply_shape(rep);
    FUZZ_CHECK(json_equal(json_object_get(rep, "id"), want_id));
    json_t *m = json_object_get(req, "method");
    if (code == 0 && json_is_string(m) && strcmp(json_string_value(m), "echo") == 0) {
        json_t *p = json_object_get(req, "params"), *res = json_object_get(rep, "result");
        FUZZ_CHECK(p ? json_equal(p, res) : json_is_null(res));
    }
}

/* Replies and entries, in order: every entry that is not a notification,
 * and only those, is answered. */
static void check_entries(json_t *in, json_t *reply)
{
    bool batch = json_is_array(in);
    size_t n = batch ? json_array_size(in) : 1, k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *req = batch ? json_array_get(in, i) : in;
        json_t *want = expected_id(req);
        if (!want) continue;
        json_t *rep = batch ? json_array_get(reply, k) : reply;
        FUZZ_CHECK(rep != NULL && (batch || k == 0));
        check_entry(req, want, rep);
        json_decref(want);
        k++;
    }
    if (k == 0)
        FUZZ_CHECK(reply == NULL);
    else
        FUZZ_CHECK(batch ? json_is_array(reply) && json_array_size(reply) == k
                         : json_is_object(reply));
    FUZZ_CHECK(observed == n);
}

static void check(const char *text, size_t len, size_t max_depth, size_t max_batch, int rc,
                  const char *out, size_t out_len)
{
    FUZZ_CHECK(rc == 0 || rc == 1);
    FUZZ_CHECK((rc == 1) == (out != NULL));
    json_t *reply = NULL;
    if (out) {
        FUZZ_CHECK(strlen(out) == out_len);
        reply = load(out, out_len);
        FUZZ_CHECK(reply != NULL); /* ids are copied raw: still valid JSON */
    }
    json_t *in = load(text, len);
    json_t *data =
        json_is_object(reply) ? json_object_get(json_object_get(reply, "error"), "data") : NULL;
    bool too_deep =
        json_is_string(data) && strcmp(json_string_value(data), "nesting too deep") == 0;
    if (!in) {
        check_whole_error(reply, too_deep ? JRPC_INVALID_REQUEST : JRPC_PARSE_ERROR);
        FUZZ_CHECK(observed == 1);
    } else if (depth_of(in) > max_depth) {
        FUZZ_CHECK(too_deep && observed == 1);
        check_whole_error(reply, JRPC_INVALID_REQUEST);
    } else if (!json_is_object(in) && !(json_is_array(in) && json_array_size(in) > 0 &&
                                        json_array_size(in) <= max_batch)) {
        check_whole_error(reply, JRPC_INVALID_REQUEST);
        FUZZ_CHECK(observed == 1);
    } else {
        FUZZ_CHECK(!too_deep);
        check_entries(in, reply);
    }
    json_decref(in);
    json_decref(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool small = data[0] & 2;
    jrpc_t *rpc = tables[small];
    jrpc_ctx_t ctx = {.persistent = data[0] & 1};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char *copy = (char *)fuzz_dup(data + 1, len); /* exact size, see fuzz.h */
    char *out = NULL;
    size_t out_len = 0;
    int rc;
    observed = 0;
    if (data[0] & 4) {
        jrpc_msg_t *msg;
        FUZZ_CHECK(jrpc_msg_parse(rpc, copy, len, &ctx, &msg) == 0);
        free(copy); /* the engine keeps no pointer into the text */
        copy = NULL;
        size_t n = jrpc_msg_ncalls(msg);
        FUZZ_CHECK(jrpc_msg_call(msg, n) == NULL);
        for (size_t i = n; i-- > 0;)
            jrpc_call_run(jrpc_msg_call(msg, i));
        rc = jrpc_msg_reply(msg, &out, &out_len);
        jrpc_msg_free(msg);
    } else {
        rc = jrpc_handle(rpc, copy, len, &ctx, &out, &out_len);
    }
    free(copy);
    check(text, len, small ? SMALL_DEPTH : JRPC_DEFAULT_MAX_DEPTH,
          small ? SMALL_BATCH : JRPC_DEFAULT_MAX_BATCH, rc, out, out_len);
    jrpc_reply_free(out);
    return 0;
}

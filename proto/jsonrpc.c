/* jsonrpc.c: the method table, and turning one message text into entries
 * to answer (parse, validate, look up) and calls to run (see jsonrpc.h for
 * the rules and jsonrpc_private.h for the structures' invariants).
 *
 * Parsing never fails except for memory: whatever is wrong with the text
 * becomes the reply. The order of checks for a message: nesting depth on the
 * raw bytes, then jansson, then the shape (object, or array within the batch
 * limit), then each request on its own.
 */
#include "jsonrpc_private.h"

#include <string.h>
#include <time.h>

void *jrpc__alloc(size_t size)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    return m(size ? size : 1);
}

void jrpc__free(void *p)
{
    json_malloc_t m;
    json_free_t f;
    if (!p) return;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

char *jrpc__strndup(const char *s, size_t len)
{
    char *d = jrpc__alloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

jrpc_t *jrpc_new(const jrpc_limits_t *limits)
{
    jrpc_t *rpc = jrpc__alloc(sizeof *rpc);
    if (!rpc) return NULL;
    memset(rpc, 0, sizeof *rpc);
    if (limits) rpc->limits = *limits;
    if (!rpc->limits.max_depth) rpc->limits.max_depth = JRPC_DEFAULT_MAX_DEPTH;
    if (!rpc->limits.max_batch) rpc->limits.max_batch = JRPC_DEFAULT_MAX_BATCH;
    return rpc;
}

void jrpc_free(jrpc_t *rpc)
{
    if (!rpc) return;
    for (size_t i = 0; i < rpc->n; i++)
        jrpc__free(rpc->methods[i].name);
    jrpc__free(rpc->methods);
    jrpc__free(rpc);
}

static const jrpc__method *jrpc__lookup(const jrpc_t *rpc, const char *name, size_t len)
{
    for (size_t i = 0; i < rpc->n; i++) {
        const jrpc__method *m = &rpc->methods[i];
        if (strlen(m->name) == len && memcmp(m->name, name, len) == 0) return m;
    }
    return NULL;
}

int jrpc_register(jrpc_t *rpc, const char *name, jrpc_handler_fn fn, void *udata, unsigned flags)
{
    if (!rpc || !name || !fn) return -EINVAL;
    if (jrpc__lookup(rpc, name, strlen(name))) return -EEXIST;
    if (rpc->n == rpc->cap) {
        size_t cap = rpc->cap ? rpc->cap * 2 : 16;
        jrpc__method *m = jrpc__alloc(cap * sizeof *m);
        if (!m) return -ENOMEM;
        if (rpc->n) memcpy(m, rpc->methods, rpc->n * sizeof *m);
        jrpc__free(rpc->methods);
        rpc->methods = m;
        rpc->cap = cap;
    }
    char *copy = jrpc__strndup(name, strlen(name));
    if (!copy) return -ENOMEM;
    rpc->methods[rpc->n++] = (jrpc__method){copy, fn, udata, flags};
    return 0;
}

/* Makes msg one entry answering the whole message with an error, id null.
 * data is stolen. */
static int msg_whole_error(jrpc_msg_t *msg, int code, json_t *data)
{
    msg->batch = false;
    msg->entries = jrpc__alloc(sizeof *msg->entries);
    if (!msg->entries) {
        json_decref(data);
        return -ENOMEM;
    }
    memset(msg->entries, 0, sizeof *msg->entries);
    msg->nentries = 1;
    msg->entries[0].msg = msg;
    msg->entries[0].id = jrpc__strndup("null", 4);
    if (!msg->entries[0].id) {
        json_decref(data);
        return -ENOMEM;
    }
    jrpc_call_error(&msg->entries[0], code, NULL, data);
    return 0;
}

/* Sets call->id from the raw text of the id in span (if scanned) or from
 * the value. Returns 0 or -ENOMEM. */
static int entry_set_id(jrpc_call_t *call, const char *text, const jrpc__span *span, json_t *id)
{
    jrpc__span idspan;
    if (span && jrpc__find_id(text, *span, &idspan) == 1) {
        call->id = jrpc__strndup(text + idspan.off, idspan.len);
    } else {
        char *dump = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
        call->id = dump ? jrpc__strndup(dump, strlen(dump)) : NULL;
        jrpc__free(dump);
    }
    return call->id ? 0 : -ENOMEM;
}

/* Why req is not a valid request object, or NULL when it is. */
static const char *request_problem(json_t *req)
{
    json_t *v = json_object_get(req, "jsonrpc");
    if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0 ||
        json_string_length(v) != 3)
        return "'jsonrpc' must be \"2.0\"";
    if (!json_is_string(json_object_get(req, "method"))) return "'method' must be a string";
    v = json_object_get(req, "params");
    if (v && !json_is_array(v) && !json_is_object(v))
        return "'params' must be an array or an object";
    return NULL;
}

/* Fills call from request req (whose text is text[span], or span NULL when
 * unknown). Returns 0 or -ENOMEM. */
static int entry_fill(jrpc_msg_t *msg, jrpc_call_t *call, json_t *req, const char *text,
                      const jrpc__span *span)
{
    call->msg = msg;
    if (!json_is_object(req)) {
        if (!(call->id = jrpc__strndup("null", 4))) return -ENOMEM;
        jrpc_call_error(call, JRPC_INVALID_REQUEST, NULL,
                        json_string("a request must be an object"));
        return 0;
    }
    json_t *id = json_object_get(req, "id");
    bool id_ok = !id || json_is_string(id) || json_is_number(id) || json_is_null(id);
    const char *problem = id_ok ? request_problem(req) : "'id' must be a string, a number or null";
    if (id && id_ok) {
        if (entry_set_id(call, text, span, id) < 0) return -ENOMEM;
    } else if (problem) {
        if (!(call->id = jrpc__strndup("null", 4))) return -ENOMEM;
    } else {
        call->notification = true;
    }
    if (problem) {
        jrpc_call_error(call, JRPC_INVALID_REQUEST, NULL, json_string(problem));
        return 0;
    }
    json_t *method = json_object_get(req, "method");
    const jrpc__method *m =
        jrpc__lookup(msg->rpc, json_string_value(method), json_string_length(method));
    call->params = json_object_get(req, "params");
    if (!m)
        jrpc_call_error(call, JRPC_METHOD_NOT_FOUND, NULL, NULL);
    else if ((m->flags & JRPC_PERSISTENT) && !msg->ctx.persistent)
        jrpc_call_error(call, JRPC_NEEDS_PERSISTENT, "method needs a persistent connection", NULL);
    else {
        call->method = m;
        msg->run[msg->nrun++] = call;
    }
    return 0;
}

/* Splits the parsed root into entries. Returns 0 or -ENOMEM. */
static int msg_split(jrpc_msg_t *msg, const char *text, size_t len)
{
    json_t *root = msg->root;
    jrpc__span whole = jrpc__trim(text, len);
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    if (json_is_array(root) && n == 0)
        return msg_whole_error(msg, JRPC_INVALID_REQUEST, json_string("empty batch"));
    if (json_is_array(root) && n > msg->rpc->limits.max_batch)
        return msg_whole_error(msg, JRPC_INVALID_REQUEST, json_string("batch too long"));
    msg->batch = json_is_array(root);
    msg->entries = jrpc__alloc(n * sizeof *msg->entries);
    msg->run = jrpc__alloc(n * sizeof *msg->run);
    jrpc__span *spans = jrpc__alloc(n * sizeof *spans);
    int rc = -ENOMEM;
    if (!msg->entries || !msg->run || !spans) goto out;
    memset(msg->entries, 0, n * sizeof *msg->entries);
    msg->nentries = n;
    bool have_spans = true;
    if (msg->batch)
        have_spans = jrpc__array_items(text, whole, spans, n) == 0;
    else
        spans[0] = whole;
    for (size_t i = 0; i < n; i++) {
        json_t *req = msg->batch ? json_array_get(root, i) : root;
        if (entry_fill(msg, &msg->entries[i], req, text, have_spans ? &spans[i] : NULL) < 0)
            goto out;
    }
    rc = 0;
out:
    jrpc__free(spans);
    return rc;
}

int jrpc_msg_parse(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx,
                   jrpc_msg_t **out)
{
    jrpc_msg_t *msg = jrpc__alloc(sizeof *msg);
    *out = NULL;
    if (!msg) return -ENOMEM;
    memset(msg, 0, sizeof *msg);
    msg->rpc = rpc;
    if (ctx) msg->ctx = *ctx;
    int rc;
    if (jrpc__too_deep(text, len, rpc->limits.max_depth)) {
        rc = msg_whole_error(msg, JRPC_INVALID_REQUEST, json_string("nesting too deep"));
        goto done;
    }
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_error_t err;
    msg->root = json_loadb(text, len, flags, &err);
    if (!msg->root && json_error_code(&err) == json_error_numeric_overflow) {
        /* Most often the id is the big number: it is echoed from the raw
         * text anyway, so parse a copy without it. */
        char *copy = jrpc__strndup(text, len);
        if (copy) {
            jrpc__blank_integer_ids(copy, len);
            msg->root = json_loadb(copy, len, flags, &err);
            jrpc__free(copy);
        }
    }
    if (!msg->root && json_error_code(&err) == json_error_numeric_overflow) {
        msg->root = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, &err);
        msg->ints_as_real = msg->root != NULL;
    }
    if (!msg->root && json_error_code(&err) == json_error_out_of_memory)
        rc = -ENOMEM;
    else if (!msg->root)
        rc = msg_whole_error(msg, JRPC_PARSE_ERROR, NULL);
    else if (!json_is_array(msg->root) && !json_is_object(msg->root))
        rc = msg_whole_error(msg, JRPC_INVALID_REQUEST,
                             json_string("a message must be an object or an array"));
    else
        rc = msg_split(msg, text, len);
done:
    if (rc < 0) {
        jrpc_msg_free(msg);
        return rc;
    }
    *out = msg;
    return 0;
}

size_t jrpc_msg_ncalls(const jrpc_msg_t *msg)
{
    return msg->nrun;
}

jrpc_call_t *jrpc_msg_call(jrpc_msg_t *msg, size_t i)
{
    return i < msg->nrun ? msg->run[i] : NULL;
}

/* The monotonic clock, for the observer's call durations. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void jrpc_call_run(jrpc_call_t *call)
{
    json_t *result = NULL;
    bool timed = call->msg->rpc->observe != NULL;
    int64_t t0 = timed ? now_ns() : 0;
    int rc = call->method->fn(call, call->params, &result);
    if (timed)
        call->dur_ns = now_ns() - t0;
    if (call->has_error || rc < 0) {
        json_decref(result);
        if (!call->has_error) jrpc_call_error(call, JRPC_INTERNAL_ERROR, NULL, NULL);
    } else {
        call->result = result;
    }
    call->ran = true;
}

void jrpc_msg_free(jrpc_msg_t *msg)
{
    if (!msg) return;
    for (size_t i = 0; i < msg->nentries; i++) {
        jrpc_call_t *c = &msg->entries[i];
        jrpc__free(c->id);
        jrpc__free(c->err_msg);
        json_decref(c->result);
        json_decref(c->err_data);
    }
    jrpc__free(msg->entries);
    jrpc__free(msg->run);
    json_decref(msg->root);
    jrpc__free(msg);
}

int jrpc_handle(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx, char **reply,
                size_t *reply_len)
{
    jrpc_msg_t *msg;
    *reply = NULL;
    int rc = jrpc_msg_parse(rpc, text, len, ctx, &msg);
    if (rc < 0) return rc;
    for (size_t i = 0; i < jrpc_msg_ncalls(msg); i++)
        jrpc_call_run(jrpc_msg_call(msg, i));
    rc = jrpc_msg_reply(msg, reply, reply_len);
    jrpc_msg_free(msg);
    return rc;
}

size_t jrpc_method_count(const jrpc_t *rpc)
{
    return rpc->n;
}

const char *jrpc_method_name(const jrpc_t *rpc, size_t i)
{
    return i < rpc->n ? rpc->methods[i].name : NULL;
}

void jrpc_set_observer(jrpc_t *rpc, jrpc_observer_fn fn, void *ud)
{
    rpc->observe = fn;
    rpc->observe_ud = ud;
}

const jrpc_ctx_t *jrpc_call_ctx(const jrpc_call_t *call)
{
    return &call->msg->ctx;
}

void *jrpc_call_udata(const jrpc_call_t *call)
{
    return call->method ? call->method->udata : NULL;
}

const char *jrpc_call_method(const jrpc_call_t *call)
{
    return call->method ? call->method->name : NULL;
}

bool jrpc_call_is_notification(const jrpc_call_t *call)
{
    return call->notification;
}

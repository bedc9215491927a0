/* jsonrpc_scan.c: a message's one pass, from bytes to entries.
 *
 * The scan of proto/json.h runs over the message once. At the top level
 * (an object, or a batch's array of objects) this file walks the members
 * itself, so each request's "jsonrpc", "id", "method" and "params" are
 * recognised as the scan meets them; every value below is validated by the
 * scan and kept as its text. The nesting limit is the scan's, the batch
 * limit is counted here: both in the same pass.
 *
 * Invariants: nothing here allocates but a batch's entry and run arrays
 * (grown by doubling up to max_batch); an error found anywhere in the text
 * (syntax, nesting) turns the whole message into one error entry, whatever
 * entries were made before it; entries are classified (valid, which
 * method) only once their request object has been scanned whole.
 */
#include "jsonrpc_private.h"

#include <string.h>

/* The members of a request object the engine reads (absent: type NONE). */
typedef struct envelope {
    goc_json_value jsonrpc, id, method, params;
} envelope;

/* Where key k's value goes in env, or NULL for a member we ignore. */
static goc_json_value *slot_of(envelope *env, const goc_json_value *k)
{
    const char *t = k->text + 1;
    size_t n = k->len - 2;
    if (k->flags & GOC_JSON_ESCAPED) { /* rare: "\u0069d" is "id" */
        if (goc_json_string_equals(k, "id", 2)) return &env->id;
        if (goc_json_string_equals(k, "method", 6)) return &env->method;
        if (goc_json_string_equals(k, "params", 6)) return &env->params;
        if (goc_json_string_equals(k, "jsonrpc", 7)) return &env->jsonrpc;
        return NULL;
    }
    switch (n) {
    case 2:
        return t[0] == 'i' && t[1] == 'd' ? &env->id : NULL;
    case 6:
        if (memcmp(t, "method", 6) == 0) return &env->method;
        if (memcmp(t, "params", 6) == 0) return &env->params;
        return NULL;
    case 7:
        return memcmp(t, "jsonrpc", 7) == 0 ? &env->jsonrpc : NULL;
    default:
        return NULL;
    }
}

/* Scans the object at s->p, at nesting depth `depth` (1 for a message, 2
 * in a batch), into env. 0, -EBADMSG or -E2BIG. */
static int scan_request(goc_json_scan *s, size_t depth, envelope *env)
{
    goc_json_value k, v;
    if (depth > s->max_depth) return -E2BIG;
    s->p++; /* the '{' */
    int c = goc_json_scan_peek(s);
    if (c == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (c != '"' || goc_json_scan_string(s, &k) < 0) return -EBADMSG;
        if (goc_json_scan_peek(s) != ':') return -EBADMSG;
        s->p++;
        int rc = goc_json_scan_value(s, depth, &v);
        if (rc < 0) return rc;
        goc_json_value *slot = slot_of(env, &k);
        if (slot) *slot = v; /* the last duplicate wins */
        c = goc_json_scan_peek(s);
        s->p++;
        if (c == '}') return 0;
        if (c != ',') return -EBADMSG;
        c = goc_json_scan_peek(s);
    }
}

static const jrpc__method *lookup(const jrpc_t *rpc, const goc_json_value *name)
{
    for (size_t i = 0; i < rpc->n; i++)
        if (goc_json_string_equals(name, rpc->methods[i].name, rpc->methods[i].len))
            return &rpc->methods[i];
    return NULL;
}

/* Whether env's id, if any, is one a reply can carry. */
static bool id_valid(const envelope *env)
{
    uint8_t t = env->id.type;
    return t == GOC_JSON_NONE || t == GOC_JSON_STRING || t == GOC_JSON_NUMBER || t == GOC_JSON_NULL;
}

/* Why env is not a valid request, or NULL when it is. */
static const char *request_problem(const envelope *env)
{
    uint8_t t;
    if (!id_valid(env)) return "'id' must be a string, a number or null";
    if (!goc_json_string_equals(&env->jsonrpc, "2.0", 3)) return "'jsonrpc' must be \"2.0\"";
    if (env->method.type != GOC_JSON_STRING) return "'method' must be a string";
    t = env->params.type;
    if (t != GOC_JSON_NONE && t != GOC_JSON_ARRAY && t != GOC_JSON_OBJECT)
        return "'params' must be an array or an object";
    return NULL;
}

/* Fills call from the request's envelope, and lists it to run if it has a
 * handler. */
static void classify(jrpc_msg_t *msg, jrpc_call_t *call, const envelope *env)
{
    const char *problem = request_problem(env);
    call->msg = msg;
    if (env->id.type != GOC_JSON_NONE && id_valid(env))
        call->id = env->id; /* a valid id comes back, even on an invalid request */
    else if (!problem)
        call->notification = true;
    if (problem) {
        jrpc__call_fail(call, JRPC_INVALID_REQUEST, NULL, problem);
        return;
    }
    const jrpc__method *m = lookup(msg->rpc, &env->method);
    call->params = env->params;
    if (!m)
        jrpc__call_fail(call, JRPC_METHOD_NOT_FOUND, NULL, NULL);
    else if ((m->flags & JRPC_PERSISTENT) && !msg->ctx.persistent)
        jrpc__call_fail(call, JRPC_NEEDS_PERSISTENT, "method needs a persistent connection", NULL);
    else {
        call->method = m;
        msg->run[msg->nrun++] = call;
    }
}

/* Makes room for one more entry of a batch. 0 or -ENOMEM. */
static int grow_batch(jrpc_msg_t *msg, size_t *cap)
{
    if (msg->nentries < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap > msg->rpc->limits.max_batch) ncap = msg->rpc->limits.max_batch;
    jrpc_call_t *e = jrpc__alloc(ncap * sizeof *e);
    jrpc_call_t **r = jrpc__alloc(ncap * sizeof *r);
    if (!e || !r) {
        jrpc__free(e);
        jrpc__free(r);
        return -ENOMEM;
    }
    memset(e, 0, ncap * sizeof *e);
    if (msg->nentries) memcpy(e, msg->entries, msg->nentries * sizeof *e);
    for (size_t i = 0; i < msg->nrun; i++) /* the run list points into the entries */
        r[i] = e + (msg->run[i] - msg->entries);
    jrpc__free(msg->entries);
    jrpc__free(msg->run);
    msg->entries = e;
    msg->run = r;
    *cap = ncap;
    return 0;
}

/* Scans the batch at s->p. Entries beyond max_batch are validated but not
 * kept (*count says how many there were). 0, -EBADMSG, -E2BIG, -ENOMEM. */
static int scan_batch(jrpc_msg_t *msg, goc_json_scan *s, size_t *count)
{
    size_t cap = 0;
    s->p++; /* the '[' (depth 1: the scan allows at least that) */
    int c = goc_json_scan_peek(s);
    if (c == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        envelope env = {0};
        goc_json_value v;
        bool keep = *count < msg->rpc->limits.max_batch;
        int rc = c == '{' ? scan_request(s, 2, &env) : goc_json_scan_value(s, 1, &v);
        if (rc < 0) return rc;
        if (keep) {
            if (grow_batch(msg, &cap) < 0) return -ENOMEM;
            jrpc_call_t *call = &msg->entries[msg->nentries++];
            if (c == '{') {
                classify(msg, call, &env);
            } else {
                call->msg = msg;
                jrpc__call_fail(call, JRPC_INVALID_REQUEST, NULL, "a request must be an object");
            }
        }
        (*count)++;
        c = goc_json_scan_peek(s);
        s->p++;
        if (c == ']') return 0;
        if (c != ',') return -EBADMSG;
        c = goc_json_scan_peek(s);
    }
}

int jrpc__parse(jrpc_msg_t *msg, size_t len)
{
    goc_json_scan s;
    goc_json_value v;
    size_t count = 0;
    int rc;
    goc_json_scan_init(&s, msg->text, len, msg->rpc->limits.max_depth);
    int c = goc_json_scan_peek(&s);
    if (c == '{') {
        envelope env = {0};
        rc = scan_request(&s, 1, &env);
        if (rc == 0 && goc_json_scan_peek(&s) == -1) {
            msg->entries = &msg->one;
            msg->run = &msg->one_run;
            msg->nentries = 1;
            classify(msg, &msg->one, &env);
            return 0;
        }
    } else if (c == '[') {
        msg->batch = true;
        rc = scan_batch(msg, &s, &count);
        if (rc == -ENOMEM) return rc;
    } else {
        rc = goc_json_scan_value(&s, 0, &v);
    }
    if (rc == 0 && goc_json_scan_peek(&s) != -1) rc = -EBADMSG;
    if (rc == -E2BIG)
        jrpc__msg_whole_error(msg, JRPC_INVALID_REQUEST, "nesting too deep");
    else if (rc < 0)
        jrpc__msg_whole_error(msg, JRPC_PARSE_ERROR, NULL);
    else if (c != '[')
        jrpc__msg_whole_error(msg, JRPC_INVALID_REQUEST, "a message must be an object or an array");
    else if (count == 0)
        jrpc__msg_whole_error(msg, JRPC_INVALID_REQUEST, "empty batch");
    else if (count > msg->rpc->limits.max_batch)
        jrpc__msg_whole_error(msg, JRPC_INVALID_REQUEST, "batch too long");
    return 0;
}

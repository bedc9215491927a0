/* jsonrpc_reply.c: recording a call's error and writing the reply text.
 *
 * A reply is written as text, not built as a jansson value, because the id
 * is spliced in as the raw bytes the client sent: {"jsonrpc":"2.0",
 * "result"|"error":..., "id":RAW}. A batch reply joins the replies of its
 * non-notification entries with commas inside brackets.
 *
 * Invariant: a text buffer (tbuf) is always NUL-terminated once allocated;
 * on any allocation failure it is freed and marked failed, and every later
 * append is a no-op, so callers check once at the end.
 */
#include "jsonrpc_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *jrpc__code_text(int code)
{
    switch (code) {
    case JRPC_PARSE_ERROR:
        return "Parse error";
    case JRPC_INVALID_REQUEST:
        return "Invalid Request";
    case JRPC_METHOD_NOT_FOUND:
        return "Method not found";
    case JRPC_INVALID_PARAMS:
        return "Invalid params";
    case JRPC_INTERNAL_ERROR:
        return "Internal error";
    case JRPC_NEEDS_PERSISTENT:
        return "Needs a persistent connection";
    case JRPC_NICK_TAKEN:
        return "Nick taken";
    case JRPC_NOT_JOINED:
        return "Not joined";
    case JRPC_RATE_LIMITED:
        return "Rate limited";
    case JRPC_TOO_LARGE:
        return "Too large";
    default:
        return "Server error";
    }
}

int jrpc_call_error(jrpc_call_t *call, int code, const char *message, json_t *data)
{
    if (call->has_error) {
        json_decref(data);
        return code;
    }
    call->has_error = true;
    call->err_code = code;
    call->err_data = data;
    if (message) /* out of memory leaves NULL: the standard text */
        call->err_msg = jrpc__strndup(message, strlen(message));
    return code;
}

int jrpc_call_errorf(jrpc_call_t *call, int code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return jrpc_call_error(call, code, buf, NULL);
}

/* A growing text. */
typedef struct tbuf {
    char *p;     /* the text, NUL-terminated; owned; NULL before the first append */
    size_t len;  /* bytes before the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed: p is freed */
} tbuf;

static void tb_add(tbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = jrpc__alloc(cap);
        if (!np) {
            jrpc__free(b->p);
            *b = (tbuf){.failed = true};
            return;
        }
        if (b->len) memcpy(np, b->p, b->len);
        jrpc__free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void tb_str(tbuf *b, const char *s)
{
    tb_add(b, s, strlen(s));
}

/* Appends the JSON encoding of v (borrowed; NULL writes null). */
static void tb_json(tbuf *b, json_t *v)
{
    if (!v) {
        tb_str(b, "null");
        return;
    }
    char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!d) {
        jrpc__free(b->p);
        *b = (tbuf){.failed = true};
        return;
    }
    tb_str(b, d);
    jrpc__free(d);
}

/* Appends the error member's value of call. */
static void tb_error(tbuf *b, const jrpc_call_t *call)
{
    json_t *e = json_object();
    const char *msg = call->err_msg ? call->err_msg : jrpc__code_text(call->err_code);
    if (!e || json_object_set_new(e, "code", json_integer(call->err_code)) < 0 ||
        json_object_set_new(e, "message", json_string(msg)) < 0 ||
        (call->err_data && json_object_set(e, "data", call->err_data) < 0)) {
        json_decref(e);
        jrpc__free(b->p);
        *b = (tbuf){.failed = true};
        return;
    }
    tb_json(b, e);
    json_decref(e);
}

/* Appends the reply object of one answered entry. */
static void tb_reply(tbuf *b, const jrpc_call_t *call)
{
    tb_str(b, "{\"jsonrpc\":\"2.0\",");
    if (call->has_error) {
        tb_str(b, "\"error\":");
        tb_error(b, call);
    } else if (call->method && !call->ran) {
        jrpc_call_t fake = {.has_error = true, .err_code = JRPC_INTERNAL_ERROR};
        tb_str(b, "\"error\":");
        tb_error(b, &fake);
    } else {
        tb_str(b, "\"result\":");
        tb_json(b, call->result);
    }
    tb_str(b, ",\"id\":");
    tb_str(b, call->id);
    tb_str(b, "}");
}

int jrpc_msg_reply(jrpc_msg_t *msg, char **reply, size_t *len)
{
    tbuf b = {0};
    size_t answered = 0;
    *reply = NULL;
    if (len) *len = 0;
    if (msg->batch) tb_str(&b, "[");
    for (size_t i = 0; i < msg->nentries; i++) {
        const jrpc_call_t *call = &msg->entries[i];
        if (msg->rpc->observe)
            msg->rpc->observe(msg->rpc->observe_ud, &msg->ctx,
                              call->method ? (int)(call->method - msg->rpc->methods) : -1,
                              call->has_error ? call->err_code : 0, call->dur_ns);
        if (call->notification) continue;
        if (answered++) tb_str(&b, ",");
        tb_reply(&b, call);
    }
    if (msg->batch) tb_str(&b, "]");
    if (b.failed) return -ENOMEM;
    if (answered == 0) {
        jrpc__free(b.p);
        return 0;
    }
    *reply = b.p;
    if (len) *len = b.len;
    return 1;
}

void jrpc_reply_free(char *reply)
{
    jrpc__free(reply);
}

char *jrpc_notification_encode(const char *method, json_t *params, size_t *len)
{
    if (params && !json_is_array(params) && !json_is_object(params)) return NULL;
    json_t *m = json_string(method);
    tbuf b = {0};
    tb_str(&b, "{\"jsonrpc\":\"2.0\",\"method\":");
    tb_json(&b, m);
    json_decref(m);
    if (!m && !b.failed) {
        jrpc__free(b.p);
        return NULL;
    }
    if (params) {
        tb_str(&b, ",\"params\":");
        tb_json(&b, params);
    }
    tb_str(&b, "}");
    if (b.failed) return NULL;
    if (len) *len = b.len;
    return b.p;
}

char *jrpc_error_encode(int code, const char *message, size_t *len)
{
    jrpc_call_t call = {.id = (char *)"null"}; /* borrowed: not freed here */
    tbuf b = {0};
    jrpc_call_error(&call, code, message, NULL);
    tb_reply(&b, &call);
    jrpc__free(call.err_msg);
    if (b.failed) return NULL;
    if (len) *len = b.len;
    return b.p;
}

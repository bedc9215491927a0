/* jsonrpc_reply.c: recording a call's error, and writing replies, errors
 * and notifications as text.
 *
 * A reply is written, never built: {"jsonrpc":"2.0","result"|"error":...,
 * "id":RAW}, with the id spliced in as the bytes the client sent, the
 * result as the text a text method wrote (or a tree method's tree written
 * out), and the error object from the call's code, message and data. A
 * batch reply joins the replies of its non-notification entries with
 * commas inside brackets.
 *
 * Invariant: a failed buffer stays failed (proto/buf.h), so the writers
 * here never check as they go; their callers check once at the end.
 */
#include "jsonrpc_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_tree.h"

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

void jrpc__call_fail(jrpc_call_t *call, int code, const char *message, const char *detail)
{
    if (call->has_error) return;
    call->has_error = true;
    call->err_code = code;
    call->err_msg = message;
    call->err_detail = detail;
}

int jrpc_call_error(jrpc_call_t *call, int code, const char *message, json_t *data)
{
    if (call->has_error) {
        json_decref(data);
        return code;
    }
    jrpc__call_fail(call, code, NULL, NULL);
    call->err_data = data;
    if (message && (call->err_msg = jrpc__strndup(message, strlen(message))))
        call->err_msg_owned = true; /* out of memory leaves NULL: the standard text */
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

/* Writes the error member's value of call. */
static void write_error(buf_t *b, const jrpc_call_t *call)
{
    const char *msg = call->err_msg ? call->err_msg : jrpc__code_text(call->err_code);
    goc_json_lit(b, "{\"code\":");
    goc_json_int(b, call->err_code);
    goc_json_lit(b, ",\"message\":");
    goc_json_str(b, msg, strlen(msg));
    if (call->err_data) {
        goc_json_lit(b, ",\"data\":");
        goc_json_tree_write(b, call->err_data);
    } else if (call->err_detail) {
        goc_json_lit(b, ",\"data\":");
        goc_json_str(b, call->err_detail, strlen(call->err_detail));
    }
    goc_json_lit(b, "}");
}

void jrpc__write_reply(buf_t *b, const jrpc_call_t *call, const char *res, size_t res_len)
{
    goc_json_lit(b, "{\"jsonrpc\":\"2.0\",");
    if (call->has_error) {
        goc_json_lit(b, "\"error\":");
        write_error(b, call);
    } else if (call->method && !call->ran) {
        jrpc_call_t never_ran = {.has_error = true, .err_code = JRPC_INTERNAL_ERROR};
        goc_json_lit(b, "\"error\":");
        write_error(b, &never_ran);
    } else {
        goc_json_lit(b, "\"result\":");
        if (res)
            goc_json_raw(b, res, res_len);
        else
            goc_json_tree_write(b, call->result);
    }
    goc_json_lit(b, ",\"id\":");
    if (call->id.type == GOC_JSON_NONE)
        goc_json_lit(b, "null");
    else
        goc_json_raw(b, call->id.text, call->id.len);
    goc_json_lit(b, "}");
}

int jrpc_msg_reply(jrpc_msg_t *msg, char **reply, size_t *len)
{
    buf_t b = {0};
    size_t answered = 0;
    *reply = NULL;
    if (len) *len = 0;
    if (msg->batch) goc_json_lit(&b, "[");
    for (size_t i = 0; i < msg->nentries; i++) {
        const jrpc_call_t *call = &msg->entries[i];
        jrpc__observe(msg, call);
        if (call->notification) continue;
        if (answered++) goc_json_lit(&b, ",");
        bool text = call->method && call->method->text_fn && call->ran && !call->has_error;
        jrpc__write_reply(&b, call, text ? call->text.data : NULL, call->text.len);
    }
    if (msg->batch) goc_json_lit(&b, "]");
    if (b.err) {
        buf_free(&b);
        return -ENOMEM;
    }
    if (answered == 0) {
        buf_free(&b);
        return 0;
    }
    *reply = b.data; /* NUL-terminated, the caller's now */
    if (len) *len = b.len;
    return 1;
}

void jrpc_reply_free(char *reply)
{
    jrpc__free(reply);
}

void jrpc_notification_begin(buf_t *b, const char *method)
{
    goc_json_lit(b, "{\"jsonrpc\":\"2.0\",\"method\":");
    goc_json_str(b, method, strlen(method));
    goc_json_lit(b, ",\"params\":");
}

void jrpc_notification_end(buf_t *b)
{
    goc_json_lit(b, "}");
}

/* b's text, now the caller's (NULL when b failed). */
static char *take(buf_t *b, size_t *len)
{
    if (b->err) {
        buf_free(b);
        return NULL;
    }
    if (len) *len = b->len;
    return b->data;
}

char *jrpc_notification_encode(const char *method, json_t *params, size_t *len)
{
    if (params && !json_is_array(params) && !json_is_object(params)) return NULL;
    buf_t b = {0};
    if (params) {
        jrpc_notification_begin(&b, method);
        goc_json_tree_write(&b, params);
    } else {
        goc_json_lit(&b, "{\"jsonrpc\":\"2.0\",\"method\":");
        goc_json_str(&b, method, strlen(method));
    }
    jrpc_notification_end(&b);
    return take(&b, len);
}

void jrpc_error_write(buf_t *b, int code, const char *message)
{
    jrpc_call_t call = {.has_error = true, .err_code = code, .err_msg = message};
    jrpc__write_reply(b, &call, NULL, 0);
}

char *jrpc_error_encode(int code, const char *message, size_t *len)
{
    buf_t b = {0};
    jrpc_error_write(&b, code, message);
    return take(&b, len);
}

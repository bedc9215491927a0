/* jsonrpc.c: the method table, a message's life (parse, run, free), and
 * jrpc_handle_buf, which answers a message straight into the caller's
 * buffer (see jsonrpc.h for the rules and jsonrpc_private.h for the
 * structures' invariants).
 *
 * Parsing never fails except for memory: whatever is wrong with the text
 * becomes the reply (jsonrpc_scan.c). jrpc_handle_buf keeps its message on
 * the stack and borrows the caller's text; for each entry in order it
 * writes the beginning of the reply, runs the handler writing its result
 * right after it, and ends the reply with the id; when the handler fails
 * the buffer goes back to the entry's start and the error is written
 * instead (for a notification, it goes back in any case).
 */
#include "jsonrpc_private.h"

#include <string.h>
#include <time.h>

#include <goc/malloc.h>

#include "json_tree.h"

void *jrpc__alloc(size_t size)
{
    return goc_malloc(size);
}

void jrpc__free(void *p)
{
    goc_free(p);
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
    if (rpc->limits.max_depth > GOC_JSON_MAX_DEPTH) rpc->limits.max_depth = GOC_JSON_MAX_DEPTH;
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

static int add_method(jrpc_t *rpc, const char *name, const jrpc__method *m)
{
    if (!rpc || !name || (!m->tree_fn && !m->text_fn)) return -EINVAL;
    size_t len = strlen(name);
    for (size_t i = 0; i < rpc->n; i++)
        if (rpc->methods[i].len == len && memcmp(rpc->methods[i].name, name, len) == 0)
            return -EEXIST;
    if (rpc->n == rpc->cap) {
        size_t cap = rpc->cap ? rpc->cap * 2 : 16;
        jrpc__method *ms = jrpc__alloc(cap * sizeof *ms);
        if (!ms) return -ENOMEM;
        if (rpc->n) memcpy(ms, rpc->methods, rpc->n * sizeof *ms);
        jrpc__free(rpc->methods);
        rpc->methods = ms;
        rpc->cap = cap;
    }
    char *copy = jrpc__strndup(name, len);
    if (!copy) return -ENOMEM;
    rpc->methods[rpc->n] = *m;
    rpc->methods[rpc->n].name = copy;
    rpc->methods[rpc->n].len = len;
    rpc->n++;
    return 0;
}

int jrpc_register(jrpc_t *rpc, const char *name, jrpc_handler_fn fn, void *udata, unsigned flags)
{
    jrpc__method m = {.tree_fn = fn, .udata = udata, .flags = flags};
    return add_method(rpc, name, &m);
}

int jrpc_register_text(jrpc_t *rpc, const char *name, jrpc_text_fn fn, void *udata,
                       unsigned flags)
{
    jrpc__method m = {.text_fn = fn, .udata = udata, .flags = flags};
    return add_method(rpc, name, &m);
}

void jrpc__msg_whole_error(jrpc_msg_t *msg, int code, const char *detail)
{
    if (msg->entries != &msg->one) { /* a batch's entries own nothing yet */
        jrpc__free(msg->entries);
        jrpc__free(msg->run);
    }
    msg->batch = false;
    msg->entries = &msg->one;
    msg->run = &msg->one_run;
    msg->nentries = 1;
    msg->nrun = 0;
    memset(&msg->one, 0, sizeof msg->one);
    msg->one.msg = msg;
    jrpc__call_fail(&msg->one, code, NULL, detail);
}

/* Sets up msg (zeroed by the caller) for text, and parses it. */
static int msg_init(jrpc_msg_t *msg, jrpc_t *rpc, const char *text, size_t len,
                    const jrpc_ctx_t *ctx)
{
    msg->rpc = rpc;
    msg->text = text;
    if (ctx) msg->ctx = *ctx;
    return jrpc__parse(msg, len);
}

/* Frees what msg owns, but not msg itself. */
static void msg_release(jrpc_msg_t *msg)
{
    for (size_t i = 0; i < msg->nentries; i++)
        jrpc__call_release(&msg->entries[i]);
    if (msg->entries != &msg->one) {
        jrpc__free(msg->entries);
        jrpc__free(msg->run);
    }
}

int jrpc_msg_parse(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx,
                   jrpc_msg_t **out)
{
    /* the message and its copy of the text in one allocation */
    jrpc_msg_t *msg = jrpc__alloc(sizeof *msg + len);
    *out = NULL;
    if (!msg) return -ENOMEM;
    memset(msg, 0, sizeof *msg);
    msg->owned = true;
    char *copy = (char *)(msg + 1);
    if (len) memcpy(copy, text, len);
    if (msg_init(msg, rpc, copy, len, ctx) < 0) {
        jrpc_msg_free(msg);
        return -ENOMEM;
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

void jrpc__call_exec(jrpc_call_t *call, buf_t *out)
{
    const jrpc__method *m = call->method;
    bool timed = call->msg->rpc->observe != NULL;
    int64_t t0 = timed ? now_ns() : 0;
    int rc;
    if (m->text_fn) {
        size_t start = out->len;
        rc = m->text_fn(call, out);
        if (!call->has_error && rc >= 0 && !out->err && out->len == start)
            goc_json_lit(out, "null");
    } else {
        json_t *result = NULL;
        if (call->params.type != GOC_JSON_NONE && !call->params_tree &&
            goc_json_tree(&call->params, &call->params_tree) < 0) {
            jrpc__call_fail(call, JRPC_INTERNAL_ERROR, NULL, NULL);
            return;
        }
        rc = m->tree_fn(call, call->params_tree, &result);
        if (call->has_error || rc < 0)
            json_decref(result);
        else
            call->result = result;
    }
    if (timed) call->dur_ns = now_ns() - t0;
    if (rc < 0 && !call->has_error) jrpc__call_fail(call, JRPC_INTERNAL_ERROR, NULL, NULL);
}

void jrpc_call_run(jrpc_call_t *call)
{
    jrpc__call_exec(call, &call->text);
    if (call->text.err && !call->has_error)
        jrpc__call_fail(call, JRPC_INTERNAL_ERROR, NULL, NULL);
    call->ran = true;
}

void jrpc__call_release(jrpc_call_t *call)
{
    if (call->err_msg_owned) jrpc__free((char *)call->err_msg);
    json_decref(call->result);
    json_decref(call->err_data);
    json_decref(call->params_tree);
    buf_free(&call->text);
    for (jrpc__block *b = call->blocks, *next; b; b = next) {
        next = b->next;
        jrpc__free(b);
    }
}

void jrpc_msg_free(jrpc_msg_t *msg)
{
    if (!msg) return;
    msg_release(msg);
    jrpc__free(msg);
}

/* Runs one entry of a message in order and writes its reply (if it has
 * one) into out; *answered counts the replies written so far. */
static void answer_entry(jrpc_msg_t *msg, jrpc_call_t *call, buf_t *out, size_t *answered)
{
    size_t mark = out->len;
    if (call->method) {
        if (!call->notification) {
            if (msg->batch && *answered) goc_json_lit(out, ",");
            goc_json_lit(out, "{\"jsonrpc\":\"2.0\",\"result\":");
        }
        jrpc__call_exec(call, out);
        call->ran = true;
        if (out->err) return;
        if (!call->has_error && !call->notification) {
            if (!call->method->text_fn) goc_json_tree_write(out, call->result);
            goc_json_lit(out, ",\"id\":");
            if (call->id.type == GOC_JSON_NONE)
                goc_json_lit(out, "null");
            else
                goc_json_raw(out, call->id.text, call->id.len);
            goc_json_lit(out, "}");
            (*answered)++;
            jrpc__observe(msg, call);
            return;
        }
        buf_truncate(out, mark); /* a notification's result, or a failed call's beginning */
    }
    jrpc__observe(msg, call);
    if (call->notification) return;
    if ((*answered)++) goc_json_lit(out, ","); /* only a batch answers more than one */
    jrpc__write_reply(out, call, NULL, 0);
}

int jrpc_handle_buf(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx,
                    buf_t *out)
{
    jrpc_msg_t msg;
    memset(&msg, 0, offsetof(jrpc_msg_t, one));
    memset(&msg.one, 0, offsetof(jrpc_call_t, scratch)); /* the scratch needs no zeroing */
    msg.one_run = NULL;
    if (msg_init(&msg, rpc, text, len, ctx) < 0) {
        msg_release(&msg);
        out->err = -ENOMEM;
        return -ENOMEM;
    }
    size_t start = out->len, answered = 0;
    if (msg.batch) goc_json_lit(out, "[");
    for (size_t i = 0; i < msg.nentries; i++)
        answer_entry(&msg, &msg.entries[i], out, &answered);
    if (msg.batch) goc_json_lit(out, "]");
    msg_release(&msg);
    if (out->err) return -ENOMEM;
    if (answered == 0) {
        buf_truncate(out, start);
        return 0;
    }
    return 1;
}

int jrpc_handle(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx, char **reply,
                size_t *reply_len)
{
    buf_t b = {0};
    *reply = NULL;
    if (reply_len) *reply_len = 0;
    int rc = jrpc_handle_buf(rpc, text, len, ctx, &b);
    if (rc == 1) { /* the buffer's bytes are the reply, NUL-terminated */
        *reply = b.data;
        if (reply_len) *reply_len = b.len;
    } else {
        buf_free(&b);
    }
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

void jrpc__observe(const jrpc_msg_t *msg, const jrpc_call_t *call)
{
    if (msg->rpc->observe)
        msg->rpc->observe(msg->rpc->observe_ud, &msg->ctx,
                          call->method ? (int)(call->method - msg->rpc->methods) : -1,
                          call->has_error ? call->err_code : 0, call->dur_ns);
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

const goc_json_value *jrpc_call_params(const jrpc_call_t *call)
{
    return &call->params;
}

/* jsonrpc_test.c: the JSON-RPC 2.0 engine (proto/jsonrpc.h).
 *
 * Most behaviour is tested with data: every folder under the cases
 * directory (passed as the first argument by meson) holds input.json, fed
 * as raw bytes to jrpc_handle(), and expected.json, compared structurally
 * (json_equal) with the reply; an expected.json with nothing but whitespace
 * means "no reply". Optional files: `persistent` (empty marker: the message
 * arrives on a persistent transport; otherwise a non-persistent one, like
 * HTTP) and `notified` (how many times the notification-counting methods
 * must have run). The method table has tree methods (echo, history, ...)
 * and text methods (echo_text, history_text, fail_text, count_text,
 * persistent_text), so every rule is checked for both kinds. The C cases
 * below cover what data cannot say: exact id and params bytes, replies
 * written after what a buffer already holds, running calls out of order
 * and on other threads, the params getters of both kinds, limits given as
 * parameters, and the context handed to handlers.
 *
 * Usage: jsonrpc_test CASES_DIR [CASE_NAME]
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "jsonrpc.h"

#include <dirent.h>
#include <pthread.h>

static const char *cases_dir = "jsonrpc_cases";
static atomic_int notified; /* runs of the counting methods */

/* --- the test's method table --- */

static int m_echo(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    *result = params ? json_incref(params) : NULL;
    return 0;
}

/* subtract: [minuend, subtrahend] or {minuend, subtrahend}. */
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
    *result = json_integer(a - b);
    return 0;
}

static int m_sum(jrpc_call_t *call, json_t *params, json_t **result)
{
    json_int_t s = 0;
    size_t i;
    json_t *v;
    if (!json_is_array(params))
        return jrpc_call_error(call, JRPC_INVALID_PARAMS, "expected an array of integers", NULL);
    json_array_foreach(params, i, v) s += json_integer_value(v);
    *result = json_integer(s);
    return 0;
}

static int m_get_data(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    (void)params;
    *result = json_pack("[si]", "hello", 5);
    return 0;
}

static int m_count(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    (void)params;
    (void)result;
    atomic_fetch_add(&notified, 1);
    return 0;
}

/* room: required string; limit: optional integer 1..500, default 100;
 * verbose: optional boolean; filter: optional object; tags: optional array. */
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
    *result = json_boolean(jrpc_call_ctx(call)->persistent);
    return 0;
}

static int m_fail_silent(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    (void)params;
    *result = json_string("dropped"); /* must be released, not leaked */
    return -EIO;
}

static int m_custom_error(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    (void)result;
    jrpc_call_error(call, JRPC_RATE_LIMITED, "slow down", json_pack("{s:i}", "retry_ms", 100));
    /* A second error is dropped: the first wins. */
    return jrpc_call_error(call, JRPC_INTERNAL_ERROR, "not this one", json_string("x"));
}

/* Sets an error yet returns 0 with a result: the error wins. */
static int m_error_and_result(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    jrpc_call_error(call, JRPC_NOT_JOINED, NULL, NULL);
    *result = json_string("ignored");
    return 0;
}

/* Reports what the handler can see of its context. */
static int m_whoami(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    const jrpc_ctx_t *ctx = jrpc_call_ctx(call);
    *result = json_pack("{s:s,s:s,s:s,s:s,s:b}", "method", jrpc_call_method(call), "udata",
                        (const char *)jrpc_call_udata(call), "conn",
                        ctx->conn ? (const char *)ctx->conn : "", "data",
                        ctx->data ? (const char *)ctx->data : "", "notification",
                        jrpc_call_is_notification(call));
    return 0;
}

/* --- text methods: params read from the text, results written --- */

/* echo_text: the params' text as it came (null when absent). */
static int t_echo(jrpc_call_t *call, buf_t *out)
{
    const goc_json_value *p = jrpc_call_params(call);
    if (p->type != GOC_JSON_NONE) goc_json_raw(out, p->text, p->len);
    return 0;
}

/* history_text: history's params and result, through jrpc_arg_*. */
static int t_history(jrpc_call_t *call, buf_t *out)
{
    const char *room;
    size_t room_len;
    int64_t limit = 100;
    bool verbose = false;
    goc_json_value filter = {0}, tags = {0};
    if (jrpc_arg_str(call, "room", JRPC_REQUIRED, &room, &room_len) < 0 ||
        jrpc_arg_int(call, "limit", JRPC_OPTIONAL, &limit) < 0 ||
        jrpc_arg_bool(call, "verbose", JRPC_OPTIONAL, &verbose) < 0 ||
        jrpc_arg_value(call, "filter", JRPC_OPTIONAL, &filter) < 0 ||
        jrpc_arg_value(call, "tags", JRPC_OPTIONAL, &tags) < 0)
        return -EINVAL;
    if (filter.type != GOC_JSON_NONE && filter.type != GOC_JSON_OBJECT)
        return jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "param 'filter' must be an object");
    if (tags.type != GOC_JSON_NONE && tags.type != GOC_JSON_ARRAY)
        return jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "param 'tags' must be an array");
    if (limit < 1 || limit > 500)
        return jrpc_call_errorf(call, JRPC_INVALID_PARAMS, "param 'limit' must be 1..500");
    goc_json_lit(out, "{\"room\":");
    goc_json_str(out, room, room_len);
    goc_json_lit(out, ",\"limit\":");
    goc_json_int(out, limit);
    if (verbose)
        goc_json_lit(out, ",\"verbose\":true,\"filter\":");
    else
        goc_json_lit(out, ",\"verbose\":false,\"filter\":");
    if (filter.type)
        goc_json_raw(out, filter.text, filter.len);
    else
        goc_json_lit(out, "null");
    goc_json_lit(out, ",\"tags\":");
    if (tags.type)
        goc_json_raw(out, tags.text, tags.len);
    else
        goc_json_lit(out, "null");
    goc_json_lit(out, "}");
    return 0;
}

/* fail_text: writes half a result, then fails: the half must vanish. */
static int t_fail(jrpc_call_t *call, buf_t *out)
{
    goc_json_lit(out, "{\"half\":");
    return jrpc_call_error(call, JRPC_NOT_JOINED, "not joined to that room", NULL);
}

/* count_text: counts its runs, writes a result a notification drops. */
static int t_count(jrpc_call_t *call, buf_t *out)
{
    (void)call;
    atomic_fetch_add(&notified, 1);
    goc_json_lit(out, "\"counted\"");
    return 0;
}

static jrpc_t *make_rpc(const jrpc_limits_t *limits)
{
    jrpc_t *rpc = jrpc_new(limits);
    if (!rpc) return NULL;
    static const struct {
        const char *name;
        jrpc_handler_fn fn;
        unsigned flags;
    } table[] = {
        {"echo", m_echo, 0},
        {"subtract", m_subtract, 0},
        {"sum", m_sum, 0},
        {"get_data", m_get_data, 0},
        {"update", m_count, 0},
        {"notify_hello", m_count, 0},
        {"notify_sum", m_count, 0},
        {"history", m_history, 0},
        {"persistent_only", m_persistent, JRPC_PERSISTENT},
        {"fail_silent", m_fail_silent, 0},
        {"custom_error", m_custom_error, 0},
        {"error_and_result", m_error_and_result, 0},
        {"whoami", m_whoami, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (jrpc_register(rpc, table[i].name, table[i].fn, (void *)"the-udata", table[i].flags) !=
            0) {
            jrpc_free(rpc);
            return NULL;
        }
    }
    static const struct {
        const char *name;
        jrpc_text_fn fn;
        unsigned flags;
    } text_table[] = {
        {"echo_text", t_echo, 0},
        {"history_text", t_history, 0},
        {"fail_text", t_fail, 0},
        {"count_text", t_count, 0},
        {"persistent_text", t_echo, JRPC_PERSISTENT},
    };
    for (size_t i = 0; i < sizeof text_table / sizeof text_table[0]; i++) {
        if (jrpc_register_text(rpc, text_table[i].name, text_table[i].fn, (void *)"the-udata",
                               text_table[i].flags) != 0) {
            jrpc_free(rpc);
            return NULL;
        }
    }
    return rpc;
}

/* --- data-driven cases --- */

/* Reads a whole file; returns a malloc'd buffer (NUL-terminated) or NULL. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 + 1 > cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Loads JSON as the engine would (integers beyond 64 bits as doubles). */
static json_t *load_json(const char *text, size_t len, json_error_t *err)
{
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *v = json_loadb(text, len, flags, err);
    if (!v && json_error_code(err) == json_error_numeric_overflow)
        v = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, err);
    return v;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n", *s)) return false;
    return true;
}

/* Runs one case folder; returns NULL if it passed, else why (static). */
static const char *run_case(jrpc_t *rpc, const char *dir)
{
    static char why[8192];
    size_t in_len;
    char *input = read_file(dir, "input.json", &in_len);
    char *expected = read_file(dir, "expected.json", NULL);
    char *marker = read_file(dir, "persistent", NULL);
    char *count = read_file(dir, "notified", NULL);
    const char *fail = NULL;
    char *reply = NULL;
    json_t *want = NULL, *got = NULL;
    if (!input || !expected) {
        fail = "missing input.json or expected.json";
        goto out;
    }
    jrpc_ctx_t ctx = {.persistent = marker != NULL};
    atomic_store(&notified, 0);
    size_t reply_len = 0;
    int rc = jrpc_handle(rpc, input, in_len, &ctx, &reply, &reply_len);
    if (rc < 0 || (rc == 1) != (reply != NULL) || (reply && strlen(reply) != reply_len)) {
        fail = "jrpc_handle returned an inconsistent result";
        goto out;
    }
    if (blank(expected)) {
        if (rc != 0) {
            snprintf(why, sizeof why, "expected no reply, got %s", reply);
            fail = why;
        }
    } else if (rc == 0) {
        fail = "expected a reply, got none";
    } else {
        json_error_t err;
        want = load_json(expected, strlen(expected), &err);
        got = load_json(reply, reply_len, &err);
        if (!want) {
            fail = "expected.json does not parse";
        } else if (!got || !json_equal(want, got)) {
            snprintf(why, sizeof why, "reply %s", reply);
            fail = why;
        }
    }
    if (!fail && count && atoi(count) != atomic_load(&notified)) {
        snprintf(why, sizeof why, "notified %d times, want %d", atomic_load(&notified),
                 atoi(count));
        fail = why;
    }
out:
    jrpc_reply_free(reply);
    json_decref(want);
    json_decref(got);
    free(input);
    free(expected);
    free(marker);
    free(count);
    return fail;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_case_folders(void)
{
    DIR *d = opendir(cases_dir);
    CHECK_MSG(d, "cannot open %s", cases_dir);
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", cases_dir, names[i]);
        const char *why = run_case(rpc, dir);
        if (why) {
            failed++;
            test__fail(__FILE__, __LINE__, "case %s: %s", names[i], why);
        } else {
            printf("# case %s ok\n", names[i]);
        }
        free(names[i]);
    }
    jrpc_free(rpc);
    CHECK_EQ_INT(failed, 0);
    CHECK_MSG(n >= 60, "only %zu case folders in %s", n, cases_dir);
}

/* --- API cases --- */

/* Sends text and returns the reply (static storage), or "" for none. */
static const char *ask(jrpc_t *rpc, const char *text, const jrpc_ctx_t *ctx)
{
    static char out[65536];
    char *reply = NULL;
    int rc = jrpc_handle(rpc, text, strlen(text), ctx, &reply, NULL);
    snprintf(out, sizeof out, "%s", rc == 1 ? reply : rc == 0 ? "" : "(error)");
    jrpc_reply_free(reply);
    return out;
}

/* Ids come back byte for byte, whatever jansson makes of them. */
static void test_ids_exact_text(void)
{
    static const char *ids[] = {
        "1",
        "-0",
        "1e3",
        "1E+3",
        "1.50",
        "-12.5e-3",
        "0.1",
        "123456789012345678901234567890",
        "-9223372036854775809",
        "\"abc\"",
        "\"\\u00e9\\n\"",
        "\"\"",
        "null",
        "\"\\u0000\"",
    };
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char req[512], want[512];
        snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\": %s }", ids[i]);
        snprintf(want, sizeof want, "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":%s}", ids[i]);
        CHECK_EQ_STR(ask(rpc, req, NULL), want);
        /* The same inside a batch, next to an entry that is not an object. */
        snprintf(req, sizeof req, "[ 7 , {\"id\" :%s,\"method\":\"nope\",\"jsonrpc\":\"2.0\"} ]",
                 ids[i]);
        snprintf(want, sizeof want,
                 "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid "
                 "Request\",\"data\":\"a request must be an object\"},\"id\":null},"
                 "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method not "
                 "found\"},\"id\":%s}]",
                 ids[i]);
        CHECK_EQ_STR(ask(rpc, req, NULL), want);
    }
    /* An invalid request echoes its id when the id itself is fine. */
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":1e3}", NULL),
                 "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid "
                 "Request\",\"data\":\"'method' must be a string\"},\"id\":1e3}");
    /* Duplicate ids: the last one, like jansson; escaped key names count. */
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"id\":2.0}", NULL),
                 "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":2.0}");
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"\\u0069d\":10.0}", NULL),
                 "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":10.0}");
    jrpc_free(rpc);
}

/* An integer beyond 64 bits anywhere: params decode as doubles, and
 * jrpc_param_int still takes integral ones. */
static void test_big_integer_message(void)
{
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    CHECK_EQ_STR(ask(rpc,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"history\",\"params\":{\"room\":\"r\","
                     "\"limit\":5},\"id\":99999999999999999999}",
                     NULL),
                 "{\"jsonrpc\":\"2.0\",\"result\":{\"room\":\"r\",\"limit\":5,\"verbose\":false,"
                 "\"filter\":null,\"tags\":null},\"id\":99999999999999999999}");
    CHECK_STR_CONTAINS(ask(rpc,
                           "{\"jsonrpc\":\"2.0\",\"method\":\"history\",\"params\":{\"room\":"
                           "\"r\",\"limit\":5.5},\"id\":99999999999999999999}",
                           NULL),
                       "param 'limit' must be an integer");
    /* Beyond the double range: jansson cannot represent it. */
    CHECK_STR_CONTAINS(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1e999}", NULL),
                       "-32700");
    jrpc_free(rpc);
}

/* Split, run in any order, assemble in request order. */
static void test_split_run_assemble_out_of_order(void)
{
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"update\"},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[3],\"id\":3}]";
    jrpc_msg_t *msg;
    CHECK_EQ_INT(jrpc_msg_parse(rpc, text, strlen(text), NULL, &msg), 0);
    CHECK_EQ_INT(jrpc_msg_ncalls(msg), 3); /* the unknown method needs no handler */
    CHECK(jrpc_msg_call(msg, 3) == NULL);
    CHECK_EQ_STR(jrpc_call_method(jrpc_msg_call(msg, 1)), "update");
    CHECK(jrpc_call_is_notification(jrpc_msg_call(msg, 1)));
    CHECK(!jrpc_call_is_notification(jrpc_msg_call(msg, 0)));
    atomic_store(&notified, 0);
    for (size_t i = jrpc_msg_ncalls(msg); i-- > 0;)
        jrpc_call_run(jrpc_msg_call(msg, i));
    CHECK_EQ_INT(atomic_load(&notified), 1);
    char *reply;
    size_t len;
    CHECK_EQ_INT(jrpc_msg_reply(msg, &reply, &len), 1);
    CHECK_EQ_STR(reply, "[{\"jsonrpc\":\"2.0\",\"result\":[1],\"id\":1},"
                        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method "
                        "not found\"},\"id\":2},"
                        "{\"jsonrpc\":\"2.0\",\"result\":[3],\"id\":3}]");
    CHECK_EQ_INT(len, strlen(reply));
    jrpc_reply_free(reply);
    jrpc_msg_free(msg);

    /* A call never run is answered -32603 rather than a made-up result. */
    text = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"x\"}";
    CHECK_EQ_INT(jrpc_msg_parse(rpc, text, strlen(text), NULL, &msg), 0);
    CHECK_EQ_INT(jrpc_msg_reply(msg, &reply, NULL), 1);
    CHECK_STR_CONTAINS(reply, "-32603");
    jrpc_reply_free(reply);
    jrpc_msg_free(msg);
    jrpc_free(rpc);
}

/* Blocks until every call of the batch is running, so they truly overlap. */
static pthread_barrier_t barrier;

static int m_meet(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    pthread_barrier_wait(&barrier);
    *result = json_incref(params);
    return 0;
}

static void *run_thread(void *call)
{
    jrpc_call_run(call);
    return NULL;
}

static void test_calls_on_threads(void)
{
    enum { N = 8 };
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    CHECK_EQ_INT(jrpc_register(rpc, "meet", m_meet, NULL, 0), 0);
    char text[4096] = "[";
    for (int i = 0; i < N; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "%s{\"jsonrpc\":\"2.0\",\"method\":\"meet\",\"params\":{\"n\":%d},\"id\":%d}",
                 i ? "," : "", i, i);
    strcat(text, "]");
    jrpc_msg_t *msg;
    CHECK_EQ_INT(jrpc_msg_parse(rpc, text, strlen(text), NULL, &msg), 0);
    CHECK_EQ_INT(jrpc_msg_ncalls(msg), N);
    pthread_barrier_init(&barrier, NULL, N);
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(pthread_create(&th[i], NULL, run_thread, jrpc_msg_call(msg, N - 1 - i)), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    char *reply;
    CHECK_EQ_INT(jrpc_msg_reply(msg, &reply, NULL), 1);
    json_t *arr = json_loads(reply, 0, NULL);
    CHECK(json_is_array(arr) && json_array_size(arr) == N);
    for (int i = 0; i < N; i++) {
        json_t *r = json_array_get(arr, (size_t)i);
        CHECK_EQ_INT(json_integer_value(json_object_get(r, "id")), i);
        CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(r, "result"), "n")), i);
    }
    json_decref(arr);
    jrpc_reply_free(reply);
    jrpc_msg_free(msg);
    jrpc_free(rpc);
}

static void test_register(void)
{
    jrpc_t *rpc = jrpc_new(NULL);
    CHECK(rpc);
    CHECK_EQ_INT(jrpc_register(rpc, "a", m_echo, NULL, 0), 0);
    CHECK_EQ_INT(jrpc_register(rpc, "a", m_sum, NULL, 0), -EEXIST);
    CHECK_EQ_INT(jrpc_register(rpc, NULL, m_sum, NULL, 0), -EINVAL);
    CHECK_EQ_INT(jrpc_register(rpc, "b", NULL, NULL, 0), -EINVAL);
    /* Grow past the first allocation. */
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        CHECK_EQ_INT(jrpc_register(rpc, name, m_echo, NULL, 0), 0);
    }
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"m99\",\"params\":[9],\"id\":1}", NULL),
                 "{\"jsonrpc\":\"2.0\",\"result\":[9],\"id\":1}");
    /* Method names compare as whole byte strings. */
    CHECK_STR_CONTAINS(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\",\"id\":1}", NULL),
                       "-32601");
    CHECK_STR_CONTAINS(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"m9\",\"id\":1}", NULL),
                       "\"result\":null");
    jrpc_free(rpc);
}

/* Limits are parameters of the engine. */
static void test_limits_as_parameters(void)
{
    jrpc_limits_t lim = {.max_depth = 3, .max_batch = 2};
    jrpc_t *rpc = make_rpc(&lim);
    CHECK(rpc);
    CHECK_EQ_STR(
        ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[[1]],\"id\":1}", NULL),
        "{\"jsonrpc\":\"2.0\",\"result\":[[1]],\"id\":1}");
    CHECK_EQ_STR(
        ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[[[1]]],\"id\":1}", NULL),
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid "
        "Request\",\"data\":\"nesting too deep\"},\"id\":null}");
    /* Brackets inside strings do not count. */
    CHECK_EQ_STR(ask(rpc,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"[[[{{\\\"\"],"
                     "\"id\":1}",
                     NULL),
                 "{\"jsonrpc\":\"2.0\",\"result\":[\"[[[{{\\\"\"],\"id\":1}");
    const char *two = "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1},"
                      "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}]";
    CHECK_EQ_STR(ask(rpc, two, NULL), "[{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":1},"
                                      "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":2}]");
    atomic_store(&notified, 0);
    CHECK_EQ_STR(ask(rpc,
                     "[{\"jsonrpc\":\"2.0\",\"method\":\"update\"},"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"update\"},"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"update\"}]",
                     NULL),
                 "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid "
                 "Request\",\"data\":\"batch too long\"},\"id\":null}");
    CHECK_EQ_INT(atomic_load(&notified), 0); /* nothing ran */
    jrpc_free(rpc);
}

/* What a handler sees: its context, udata, name. */
static void test_context(void)
{
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    jrpc_ctx_t ctx = {.persistent = true, .conn = "conn-7", .data = "srv"};
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"whoami\",\"id\":1}", &ctx),
                 "{\"jsonrpc\":\"2.0\",\"result\":{\"method\":\"whoami\",\"udata\":\"the-udata\","
                 "\"conn\":\"conn-7\",\"data\":\"srv\",\"notification\":false},\"id\":1}");
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"persistent_only\",\"id\":1}", &ctx),
                 "{\"jsonrpc\":\"2.0\",\"result\":true,\"id\":1}");
    ctx.persistent = false;
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"persistent_only\",\"id\":1}", &ctx),
                 "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32001,\"message\":\"method needs a "
                 "persistent connection\"},\"id\":1}");
    CHECK_EQ_STR(ask(rpc, "{\"jsonrpc\":\"2.0\",\"method\":\"persistent_only\",\"id\":1}", NULL),
                 "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32001,\"message\":\"method needs a "
                 "persistent connection\"},\"id\":1}");
    jrpc_free(rpc);
}

/* The params getters, called directly on a parsed call. */
static void test_params_getters(void)
{
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"s\":\"a\\u0000b\","
                       "\"i\":-4,\"r\":2.0,\"b\":true,\"o\":{},\"a\":[],\"n\":null},\"id\":1}";
    jrpc_msg_t *msg;
    CHECK_EQ_INT(jrpc_msg_parse(rpc, text, strlen(text), NULL, &msg), 0);
    jrpc_call_t *call = jrpc_msg_call(msg, 0);
    CHECK(call);
    /* The getters read any params object; use a twin of the call's own. */
    json_t *root = json_loads(text, JSON_ALLOW_NUL, NULL);
    json_t *twin = json_object_get(root, "params");
    CHECK(json_is_object(twin));
    const char *s = NULL;
    size_t slen = 0;
    json_int_t i = 0;
    bool b = false;
    json_t *o = NULL;
    CHECK_EQ_INT(jrpc_param_str(call, twin, "s", JRPC_REQUIRED, &s, &slen), 1);
    CHECK_EQ_INT(slen, 3);
    CHECK(memcmp(s, "a\0b", 3) == 0);
    CHECK_EQ_INT(jrpc_param_int(call, twin, "i", JRPC_REQUIRED, &i), 1);
    CHECK_EQ_INT(i, -4);
    CHECK_EQ_INT(jrpc_param_bool(call, twin, "b", JRPC_OPTIONAL, &b), 1);
    CHECK(b);
    CHECK_EQ_INT(jrpc_param_object(call, twin, "o", JRPC_REQUIRED, &o), 1);
    CHECK(json_is_object(o));
    CHECK_EQ_INT(jrpc_param_array(call, twin, "a", JRPC_REQUIRED, &o), 1);
    CHECK(json_is_array(o));
    i = 77;
    CHECK_EQ_INT(jrpc_param_int(call, twin, "absent", JRPC_OPTIONAL, &i), 0);
    CHECK_EQ_INT(jrpc_param_int(call, twin, "n", JRPC_OPTIONAL, &i), 0);
    CHECK_EQ_INT(i, 77); /* untouched */
    CHECK_EQ_INT(jrpc_param_int(call, NULL, "x", JRPC_OPTIONAL, &i), 0);
    /* A real is not an integer. The reply below shows that it was the first
     * error set (the first wins), so none of the calls above set one. */
    CHECK_EQ_INT(jrpc_param_int(call, twin, "r", JRPC_REQUIRED, &i), -EINVAL);
    CHECK_EQ_INT(jrpc_param_str(call, twin, "zz", JRPC_REQUIRED, &s, NULL), -EINVAL);
    json_decref(root);
    char *reply;
    CHECK_EQ_INT(jrpc_msg_reply(msg, &reply, NULL), 1);
    CHECK_EQ_STR(reply, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"param "
                        "'r' must be an integer\"},\"id\":1}");
    jrpc_reply_free(reply);
    jrpc_msg_free(msg);
    jrpc_free(rpc);
}

static void test_notification_encode(void)
{
    json_t *p = json_pack("{s:s,s:s,s:s}", "room", "lobby", "nick", "ann", "event", "join");
    size_t len;
    char *t = jrpc_notification_encode("chat.presence", p, &len);
    CHECK(t);
    CHECK_EQ_STR(t, "{\"jsonrpc\":\"2.0\",\"method\":\"chat.presence\",\"params\":{\"room\":"
                    "\"lobby\",\"nick\":\"ann\",\"event\":\"join\"}}");
    CHECK_EQ_INT(len, strlen(t));
    jrpc_reply_free(t);
    json_decref(p);
    t = jrpc_notification_encode("ping", NULL, NULL);
    CHECK_EQ_STR(t, "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}");
    jrpc_reply_free(t);
    t = jrpc_error_encode(JRPC_TOO_LARGE, NULL, &len);
    CHECK_EQ_STR(t, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32005,\"message\":\"Too "
                    "large\"},\"id\":null}");
    CHECK_EQ_INT(len, strlen(t));
    jrpc_reply_free(t);
    t = jrpc_error_encode(JRPC_TOO_LARGE, "frame over 1048576 bytes", NULL);
    CHECK_STR_CONTAINS(t, "\"message\":\"frame over 1048576 bytes\"");
    jrpc_reply_free(t);
    json_t *bad = json_integer(1);
    CHECK(jrpc_notification_encode("x", bad, NULL) == NULL);
    json_decref(bad);
}

static uint32_t rand_next(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* The id jansson sees in a single valid request, or NULL. Borrowed. */
static json_t *plain_request_id(json_t *req)
{
    json_t *id = json_object_get(req, "id");
    if (!json_is_object(req) || !id || !json_is_string(json_object_get(req, "method"))) return NULL;
    return id;
}

/* Random edits of valid messages, fixed seed: the engine must answer every
 * one with well-formed JSON (or nothing), and the raw id it cuts out must be
 * the id jansson parsed. Under ASan this is also the scanner's memory check. */
static void test_mutation_fuzz(void)
{
    static const char *seeds[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":[1,\"x\\\"]\"]},\"id\":12}",
        ("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"a,b\"},{\"jsonrpc\":\"2.0\","
         "\"method\":\"update\"},{\"id\":1.5e2,\"method\":\"sum\",\"jsonrpc\":\"2.0\","
         "\"params\":[1,2]}]"),
        ("{ \"id\" : -0.0 , \"jsonrpc\" : \"2.0\" , \"method\" : \"history\" , \"params\" : "
         "{ \"room\" : \"r\" , \"limit\" : 3 } }"),
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"\\u0069d\":\"\\u00e9\",\"id\":[]}",
    };
    static const char alphabet[] = "[]{}\",:\\ 0123456789eE.-+truefalsnid\x01\xc3\xa9";
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    uint32_t seed = 4242;
    int rounds = TEST_SCALE(20000);
    for (int round = 0; round < rounds; round++) {
        char buf[512];
        const char *src = seeds[rand_next(&seed) % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(src);
        memcpy(buf, src, len);
        int edits = 1 + (int)(rand_next(&seed) % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rand_next(&seed) % len;
            char c = alphabet[rand_next(&seed) % (sizeof alphabet - 1)];
            switch (rand_next(&seed) % 4) {
            case 0:
                buf[at] = c;
                break; /* replace */
            case 1:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break; /* delete */
            case 2:    /* insert */
                if (len < sizeof buf - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            default:
                len = at;
                break; /* truncate */
            }
        }
        char *reply = NULL;
        size_t rlen = 0;
        int rc = jrpc_handle(rpc, buf, len, NULL, &reply, &rlen);
        CHECK_MSG(rc == 0 || rc == 1, "round %d: rc %d", round, rc);
        if (rc == 0) {
            jrpc_reply_free(reply);
            continue;
        }
        json_error_t err;
        json_t *got = load_json(reply, rlen, &err);
        CHECK_MSG(json_is_object(got) || json_is_array(got), "round %d: reply %s", round, reply);
        json_t *req = load_json(buf, len, &err);
        json_t *want_id = plain_request_id(req);
        if (want_id && json_is_object(got) && !json_is_array(req) &&
            (json_is_string(want_id) || json_is_number(want_id) || json_is_null(want_id))) {
            json_t *got_id = json_object_get(got, "id");
            CHECK_MSG(got_id && json_equal(got_id, want_id), "round %d: %.*s -> %s", round,
                      (int)len, buf, reply);
        }
        json_decref(req);
        json_decref(got);
        jrpc_reply_free(reply);
    }
    jrpc_free(rpc);
}

/* Text methods answer straight into the caller's buffer, after what it
 * already holds; a failed one leaves only its error; a notification's
 * result is dropped; nothing to send leaves the buffer as it was. */
static void test_handle_buf_text_methods(void)
{
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    buf_t b = {0};
    goc_json_lit(&b, "HEAD");
    const char *t = "{\"jsonrpc\":\"2.0\",\"method\":\"echo_text\",\"params\":[ 1 , {\"a\" : \"\\u00e9\"} ],"
                    "\"id\":7}";
    CHECK_EQ_INT(jrpc_handle_buf(rpc, t, strlen(t), NULL, &b), 1);
    const char *want = "HEAD{\"jsonrpc\":\"2.0\",\"result\":[ 1 , {\"a\" : \"\\u00e9\"} ],\"id\":7}";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "%.*s", (int)b.len, b.data);
    size_t before = b.len;
    t = "{\"jsonrpc\":\"2.0\",\"method\":\"fail_text\",\"id\":\"f\"}";
    CHECK_EQ_INT(jrpc_handle_buf(rpc, t, strlen(t), NULL, &b), 1);
    want = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32003,\"message\":\"not joined to that room\"},"
           "\"id\":\"f\"}";
    CHECK_MSG(b.len - before == strlen(want) && memcmp(b.data + before, want, strlen(want)) == 0,
              "%.*s", (int)(b.len - before), b.data + before);
    before = b.len;
    atomic_store(&notified, 0);
    t = "{\"jsonrpc\":\"2.0\",\"method\":\"count_text\"}";
    CHECK_EQ_INT(jrpc_handle_buf(rpc, t, strlen(t), NULL, &b), 0);
    CHECK_EQ_INT(b.len, before);
    CHECK_EQ_INT(atomic_load(&notified), 1);
    /* a key holding \u0000 is valid JSON (RFC 8259), passed on as text */
    b.len = 0;
    t = "{\"jsonrpc\":\"2.0\",\"method\":\"echo_text\",\"params\":{\"\\u0000\":1},\"id\":1}";
    CHECK_EQ_INT(jrpc_handle_buf(rpc, t, strlen(t), NULL, &b), 1);
    want = "{\"jsonrpc\":\"2.0\",\"result\":{\"\\u0000\":1},\"id\":1}";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "%.*s", (int)b.len, b.data);
    /* a batch mixing both kinds, a notification and a failure */
    t = "[{\"jsonrpc\":\"2.0\",\"method\":\"count_text\"},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"fail_text\",\"id\":1},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"x\":[]},\"id\":2},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo_text\",\"id\":3},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"count_text\",\"id\":4}]";
    b.len = 0;
    CHECK_EQ_INT(jrpc_handle_buf(rpc, t, strlen(t), NULL, &b), 1);
    want = "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32003,\"message\":\"not joined to that "
           "room\"},\"id\":1},{\"jsonrpc\":\"2.0\",\"result\":{\"x\":[]},\"id\":2},"
           "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":3},"
           "{\"jsonrpc\":\"2.0\",\"result\":\"counted\",\"id\":4}]";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "%.*s", (int)b.len, b.data);
    /* the same batch parsed, run last to first, assembled */
    jrpc_msg_t *msg;
    CHECK_EQ_INT(jrpc_msg_parse(rpc, t, strlen(t), NULL, &msg), 0);
    for (size_t i = jrpc_msg_ncalls(msg); i-- > 0;)
        jrpc_call_run(jrpc_msg_call(msg, i));
    char *reply;
    CHECK_EQ_INT(jrpc_msg_reply(msg, &reply, NULL), 1);
    CHECK_EQ_STR(reply, want);
    jrpc_reply_free(reply);
    jrpc_msg_free(msg);
    buf_free(&b);
    jrpc_free(rpc);
}

/* jrpc_arg_*: the tree getters' results and messages, from the text. */
static void test_arg_getters(void)
{
    jrpc_t *rpc = make_rpc(NULL);
    CHECK(rpc);
    const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"echo_text\",\"params\":{\"s\":\"a\\u0000b\","
                       "\"i\":-4,\"r\":2.0,\"b\":true,\"o\":{},\"n\":null,\"big\":9223372036854775808,"
                       "\"long\":\"0123456789012345678901234567890123456789012345678901234567890123"
                       "4567890123456789012345678901234567890123456789012345678901234567890123456789\","
                       "\"s\":\"last\"},\"id\":1}";
    jrpc_msg_t *msg;
    CHECK_EQ_INT(jrpc_msg_parse(rpc, text, strlen(text), NULL, &msg), 0);
    jrpc_call_t *call = jrpc_msg_call(msg, 0);
    CHECK(call);
    CHECK_EQ_INT(jrpc_call_params(call)->type, GOC_JSON_OBJECT);
    const char *s = NULL, *l = NULL;
    size_t slen = 0;
    int64_t i = 0;
    bool bv = false;
    goc_json_value o;
    CHECK_EQ_INT(jrpc_arg_str(call, "s", JRPC_REQUIRED, &s, &slen), 1);
    CHECK(slen == 4 && strcmp(s, "last") == 0); /* the last duplicate */
    CHECK_EQ_INT(jrpc_arg_str(call, "long", JRPC_REQUIRED, &l, &slen), 1); /* beyond the scratch */
    CHECK_EQ_INT(slen, 140);
    CHECK(strcmp(s, "last") == 0); /* earlier strings stay */
    CHECK_EQ_INT(jrpc_arg_int(call, "i", JRPC_REQUIRED, &i), 1);
    CHECK_EQ_INT(i, -4);
    CHECK_EQ_INT(jrpc_arg_bool(call, "b", JRPC_OPTIONAL, &bv), 1);
    CHECK(bv);
    CHECK_EQ_INT(jrpc_arg_value(call, "o", JRPC_REQUIRED, &o), 1);
    CHECK(o.type == GOC_JSON_OBJECT && o.len == 2);
    i = 77;
    CHECK_EQ_INT(jrpc_arg_int(call, "absent", JRPC_OPTIONAL, &i), 0);
    CHECK_EQ_INT(jrpc_arg_int(call, "n", JRPC_OPTIONAL, &i), 0);
    CHECK_EQ_INT(i, 77);
    /* the first error set wins: integer beyond 64 bits */
    CHECK_EQ_INT(jrpc_arg_int(call, "big", JRPC_REQUIRED, &i), -EINVAL);
    CHECK_EQ_INT(jrpc_arg_int(call, "r", JRPC_REQUIRED, &i), -EINVAL);
    char *reply;
    CHECK_EQ_INT(jrpc_msg_reply(msg, &reply, NULL), 1);
    CHECK_EQ_STR(reply, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"param "
                        "'big' must be an integer\"},\"id\":1}");
    jrpc_reply_free(reply);
    jrpc_msg_free(msg);
    /* positional params, and messages per failure */
    static const struct {
        const char *params, *want;
    } bad[] = {
        {"[1]", "params must be an object"},
        {"{}", "missing param 'room'"},
        {"{\"room\":null}", "param 'room' must be a string"},
        {"{\"room\":5}", "param 'room' must be a string"},
        {"{\"room\":\"r\",\"limit\":1.0}", "param 'limit' must be an integer"},
        {"{\"room\":\"r\",\"verbose\":1}", "param 'verbose' must be a boolean"},
        {"{\"room\":\"r\",\"limit\":0}", "param 'limit' must be 1..500"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char req[256];
        snprintf(req, sizeof req,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"history_text\",\"params\":%s,\"id\":1}",
                 bad[k].params);
        CHECK_STR_CONTAINS(ask(rpc, req, NULL), bad[k].want);
    }
    CHECK_EQ_STR(ask(rpc,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"history_text\",\"params\":{\"room\":"
                     "\"l\\u00e9\\\"\",\"limit\":5,\"tags\":[1, 2]},\"id\":1}",
                     NULL),
                 "{\"jsonrpc\":\"2.0\",\"result\":{\"room\":\"l\xC3\xA9\\\"\",\"limit\":5,"
                 "\"verbose\":false,\"filter\":null,\"tags\":[1, 2]},\"id\":1}");
    jrpc_free(rpc);
}

/* Notifications and errors written straight into a buffer. */
static void test_write_notification_and_error(void)
{
    buf_t b = {0};
    jrpc_notification_begin(&b, "chat.message");
    goc_json_lit(&b, "{\"id\":1}");
    jrpc_notification_end(&b);
    jrpc_error_write(&b, JRPC_TOO_LARGE, "frame too large");
    const char *want = "{\"jsonrpc\":\"2.0\",\"method\":\"chat.message\",\"params\":{\"id\":1}}"
                       "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32005,\"message\":\"frame too "
                       "large\"},\"id\":null}";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "%.*s", (int)b.len, b.data);
    buf_free(&b);
}

static const test_case cases[] = {
    TEST_CASE(test_handle_buf_text_methods), TEST_CASE(test_arg_getters),
    TEST_CASE(test_write_notification_and_error),
    TEST_CASE(test_case_folders),         TEST_CASE(test_ids_exact_text),
    TEST_CASE(test_big_integer_message),  TEST_CASE(test_split_run_assemble_out_of_order),
    TEST_CASE(test_calls_on_threads),     TEST_CASE(test_register),
    TEST_CASE(test_limits_as_parameters), TEST_CASE(test_context),
    TEST_CASE(test_params_getters),       TEST_CASE(test_notification_encode),
    TEST_CASE(test_mutation_fuzz),        {0},
};

int main(int argc, char **argv)
{
    if (argc > 1) {
        cases_dir = argv[1];
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    return test_main(argc, argv, cases);
}

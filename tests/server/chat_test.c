/* chat_test.c: the chat (server/chat*.c) through its C API and the JSON-RPC
 * engine, with fake members: a chat_sink whose push appends the text to a
 * list, bounded (a full list makes push fail, as a full outbox does) or not.
 * Every rule of doc/protocol.md's "Methods", notifications and "Delivery" for
 * the chat, the error codes, history limits and persistence across a
 * restart.
 *
 * Barrier: chat.members goes through the room's command channel after
 * anything published before it, so once it returns, every push of earlier
 * messages of that room has been made. With Redis (CHAT_TEST_REDIS=1: the
 * same cases on the Redis broker, with a redis-server of the test's own,
 * emptied before each case), the room first catches up with Redis (a
 * tick), then answers.
 *
 * The fake transport flushes a member's held notifications after each
 * call, as the real ones do once the reply is queued.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/goc.h>
#include <goc/malloc.h>
#include <stdatomic.h>
#include <time.h>

#include "chat_internal.h"
#include "redis.h"
#include "redis_proc.h"

static jrpc_t *rpc;
static bool redis_mode;  /* CHAT_TEST_REDIS: on the Redis broker */
static redis_proc rproc; /* its Redis */
static const jrpc_ctx_t http_ctx = {.persistent = false};

/* ---- fake members ------------------------------------------------------ */

typedef struct fake {
    goc_mutex mu;     /* guards msgs, n, cap */
    char **msgs;      /* texts pushed, in order */
    size_t n, cap;
    size_t limit;     /* push fails once n reaches it; 0: no limit */
    atomic_int kicks; /* kick calls */
    chat_member *m;
    jrpc_ctx_t ctx;   /* persistent, data = m */
} fake;

static bool fake_push(void *conn, const char *borrowed, size_t len)
{
    fake *f = conn;
    char *text = goc_malloc(len + 1); /* freed with jrpc_reply_free: goc_free */
    memcpy(text, borrowed, len);
    text[len] = 0;
    goc_mutex_lock(&f->mu);
    bool ok = !f->limit || f->n < f->limit;
    if (ok && f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->msgs = goc_realloc(f->msgs, f->cap * sizeof *f->msgs);
    }
    if (ok)
        f->msgs[f->n++] = text;
    goc_mutex_unlock(&f->mu);
    if (!ok)
        jrpc_reply_free(text);
    return ok;
}

static void fake_kick(void *conn)
{
    atomic_fetch_add(&((fake *)conn)->kicks, 1);
}

static fake *fake_new(size_t limit)
{
    fake *f = goc_calloc(1, sizeof *f);
    f->limit = limit;
    chat_sink sink = {.push = fake_push, .kick = fake_kick, .conn = f};
    f->m = chat_member_new(&sink);
    f->ctx = (jrpc_ctx_t){.persistent = true, .conn = f, .data = f->m};
    return f;
}

static void fake_free(fake *f)
{
    if (f->m)
        chat_member_gone(f->m);
    for (size_t i = 0; i < f->n; i++) {
        jrpc_reply_free(f->msgs[i]);
        if (i % 1024 == 1023)
            goc_yield();
    }
    goc_free(f->msgs);
    goc_free(f);
}

/* The params of every notification of method pushed to f (in order): a new
 * array. */
static json_t *fake_got(fake *f, const char *method)
{
    json_t *out = json_array();
    goc_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        json_t *j = json_loads(f->msgs[i], JSON_ALLOW_NUL, NULL);
        if (j && strcmp(json_string_value(json_object_get(j, "method")), method) == 0)
            json_array_append(out, json_object_get(j, "params"));
        json_decref(j);
        if (i % 256 == 255) { /* long lists: let the others run */
            goc_mutex_unlock(&f->mu);
            goc_yield();
            goc_mutex_lock(&f->mu);
        }
    }
    goc_mutex_unlock(&f->mu);
    return out;
}

/* ---- calls ------------------------------------------------------------- */

/* Runs method with params (JSON text, NULL: none) on ctx; returns the
 * reply (new reference). */
static json_t *call(const jrpc_ctx_t *ctx, const char *method, const char *params)
{
    size_t cap = 256 + (params ? strlen(params) : 0);
    char *req = goc_malloc(cap);
    snprintf(req, cap, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"%s\"%s%s}", method,
             params ? ",\"params\":" : "", params ? params : "");
    char *reply = NULL;
    int rc = jrpc_handle(rpc, req, strlen(req), ctx, &reply, NULL);
    chat_member_flush(ctx->data); /* the reply is "written" */
    goc_free(req);
    json_t *j = rc == 1 ? json_loads(reply, JSON_ALLOW_NUL, NULL) : NULL;
    jrpc_reply_free(reply);
    return j;
}

static int err_code(const json_t *reply)
{
    json_t *e = json_object_get(reply, "error");
    return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

static const char *err_msg(const json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
}

/* The error code of one call (0 on success). */
static int call_code(const jrpc_ctx_t *ctx, const char *method, const char *params)
{
    json_t *r = call(ctx, method, params);
    int c = r ? err_code(r) : -1;
    json_decref(r);
    return c;
}

/* The result of one call that must succeed (new reference), NULL after
 * printing the error. */
static json_t *call_ok(const jrpc_ctx_t *ctx, const char *method, const char *params)
{
    json_t *r = call(ctx, method, params);
    json_t *res = json_incref(json_object_get(r, "result"));
    if (!res || err_code(r)) {
        printf("# %s %s: %s\n", method, params ? params : "", r ? err_msg(r) : "no reply");
        json_decref(res);
        res = NULL;
    }
    json_decref(r);
    return res;
}

static void join(fake *f, const char *room, const char *nick)
{
    char p[256];
    snprintf(p, sizeof p, "{\"room\":\"%s\",\"nick\":\"%s\"}", room, nick);
    json_decref(call_ok(&f->ctx, "chat.join", p));
}

static void barrier(const char *room)
{
    chat_room *r = redis_mode ? chat__room_get(room, false) : NULL;
    if (r) { /* catch up with Redis, then answer after that */
        chat__cmd tick = {.op = ROOM_TICK};
        chat__room_call(r, &tick);
        chat__reply rep = {0};
        chat__cmd members = {.op = ROOM_MEMBERS, .reply = &rep};
        chat__room_call(r, &members);
        json_decref(rep.members);
        chat__room_put(r);
    }
    char p[128];
    snprintf(p, sizeof p, "{\"room\":\"%s\"}", room);
    json_decref(call_ok(&http_ctx, "chat.members", p));
}

/* The JSON text in b, read back with jansson (NULL if b holds none). */
static json_t *parsed(buf_t *b)
{
    json_t *j = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    buf_free(b);
    return j;
}

static int64_t send_as(const char *room, const char *nick, const char *text)
{
    int code;
    const char *msg;
    buf_t b = {0};
    int rc = chat_send_as(room, nick, text, strlen(text), &b, &code, &msg);
    json_t *m = parsed(&b);
    int64_t id = rc == 0 && m ? json_integer_value(json_object_get(m, "id")) : -code;
    json_decref(m);
    return id;
}

/* chat_history's array, read back (NULL when it failed). */
static json_t *history(const char *room, int64_t since, int64_t before, int64_t limit, int *code,
                       const char **msg)
{
    buf_t b = {0};
    int rc = chat_history(room, since, before, limit, &b, code, msg);
    json_t *h = parsed(&b);
    if (rc < 0) {
        json_decref(h);
        return NULL;
    }
    return h;
}

static char tmpdir[64];

static const char *tmp_db(void)
{
    static char path[128];
    strcpy(tmpdir, "/tmp/chat_test.XXXXXX");
    if (!mkdtemp(tmpdir))
        return NULL;
    snprintf(path, sizeof path, "%s/sub/dir/chat.db", tmpdir);
    return path;
}

static void tmp_clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    goc_syscall_enter_block();
    int rc = system(cmd);
    goc_syscall_exit();
    if (rc != 0)
        printf("# could not remove %s\n", tmpdir);
}


/* Empties the test's Redis. */
static void redis_flush(void)
{
    redis_url u;
    char err[128];
    redis_conn *c;
    redis_reply r;
    if (redis_url_parse(rproc.url, &u, err, sizeof err) != 0 ||
        redis_conn_open(&u, goc_nanotime() + 2 * GOC_SECOND, &c) != 0) {
        printf("# cannot empty Redis\n");
        return;
    }
    const char *argv[] = {"FLUSHALL"};
    size_t lens[] = {8};
    redis_call(c, goc_nanotime() + 2 * GOC_SECOND, 1, argv, lens, &r);
    redis_conn_close(c);
}

/* Starts the chat again on db (or on Redis, kept) with rate. */
static int restart(const char *db, int64_t rate)
{
    chat_shutdown();
    chat_config cfg = {.db_path = db, .rate = rate, .node = "test",
                       .redis_url = redis_mode ? rproc.url : NULL};
    char err[256];
    return chat_init(&cfg, err, sizeof err);
}

/* Restarts the chat on db with rate (a failed case may have left it
 * running), on an empty Redis in Redis mode. */
static int start(const char *db, int64_t rate)
{
    chat_shutdown();
    if (redis_mode)
        redis_flush();
    return restart(db, rate);
}

/* ---- cases ------------------------------------------------------------- */

static void test_params(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    fake *a = fake_new(0);
    const jrpc_ctx_t *c = &a->ctx;
    /* chat.join needs a persistent connection */
    CHECK_EQ_INT(call_code(&http_ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"a\"}"), -32001);
    /* rooms */
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"nick\":\"a\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"\",\"nick\":\"a\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"a b\",\"nick\":\"a\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"caf\\u00e9\",\"nick\":\"a\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":7,\"nick\":\"a\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "[\"r\",\"a\"]"), -32602);
    char p[1024], r64[65];
    memset(r64, 'R', 64);
    r64[64] = 0;
    snprintf(p, sizeof p, "{\"room\":\"%s\",\"nick\":\"a\"}", r64);
    CHECK_EQ_INT(call_code(c, "chat.join", p), 0);
    snprintf(p, sizeof p, "{\"room\":\"%sx\",\"nick\":\"a\"}", r64);
    CHECK_EQ_INT(call_code(c, "chat.join", p), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"Az09_-\",\"nick\":\"a\"}"), 0);
    /* nicks: 1-32 characters (not bytes), no control characters */
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"n1\",\"nick\":\"\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"n1\",\"nick\":\"a\\tb\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"n1\",\"nick\":\"a\\u007fb\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"n1\",\"nick\":\"a\\u0085b\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.join", "{\"room\":\"n1\",\"nick\":\"a\\u0000\"}"), -32602);
    char nick[256] = "";
    for (int i = 0; i < 32; i++)
        strcat(nick, "\xf0\x9f\x98\x80"); /* 32 emoji: 128 bytes */
    snprintf(p, sizeof p, "{\"room\":\"n1\",\"nick\":\"%s\"}", nick);
    CHECK_EQ_INT(call_code(c, "chat.join", p), 0);
    strcat(nick, "e");
    snprintf(p, sizeof p, "{\"room\":\"n2\",\"nick\":\"%s\"}", nick);
    CHECK_EQ_INT(call_code(c, "chat.join", p), -32602);
    memset(nick, 'x', 32);
    nick[32] = 0;
    snprintf(p, sizeof p, "{\"room\":\"n3\",\"nick\":\"%s\"}", nick);
    CHECK_EQ_INT(call_code(c, "chat.join", p), 0);
    snprintf(p, sizeof p, "{\"room\":\"n4\",\"nick\":\"%sx\"}", nick);
    CHECK_EQ_INT(call_code(c, "chat.join", p), -32602);
    fake_free(a);
    chat_shutdown();
}

static void test_text(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    fake *a = fake_new(0);
    join(a, "t", "a");
    const jrpc_ctx_t *c = &a->ctx;
    CHECK_EQ_INT(call_code(c, "chat.send", "{\"room\":\"t\",\"text\":\"\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.send", "{\"room\":\"t\",\"text\":5}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.send", "{\"room\":\"t\"}"), -32602);
    CHECK_EQ_INT(call_code(c, "chat.send", "{\"room\":\"t t\",\"text\":\"x\"}"), -32602);
    char *p = goc_malloc(9000), *t = goc_malloc(4200);
    memset(t, 'x', 4096);
    t[4096] = 0;
    snprintf(p, 9000, "{\"room\":\"t\",\"text\":\"%s\"}", t);
    CHECK_EQ_INT(call_code(c, "chat.send", p), 0);
    snprintf(p, 9000, "{\"room\":\"t\",\"text\":\"%sx\"}", t);
    CHECK_EQ_INT(call_code(c, "chat.send", p), -32602);
    /* 4096 bytes of 2-byte characters: fine; one more byte is too many */
    for (int i = 0; i < 2048; i++)
        memcpy(t + 2 * i, "\xc3\xa9", 2);
    snprintf(p, 9000, "{\"room\":\"t\",\"text\":\"%s\"}", t);
    CHECK_EQ_INT(call_code(c, "chat.send", p), 0);
    snprintf(p, 9000, "{\"room\":\"t\",\"text\":\"%s!\"}", t);
    CHECK_EQ_INT(call_code(c, "chat.send", p), -32602);
    goc_free(p);
    goc_free(t);
    /* invalid UTF-8 never parses as JSON; the C API checks it */
    static const char *const bad[] = {"\xff", "a\xc0\x80", "\xed\xa0\x80", "\xe2\x82",
                                      "\xf4\x90\x80\x80", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(send_as("t", "w", bad[i]), 32602);
        CHECK_EQ_INT(send_as("t", bad[i], "ok"), 32602);
    }
    CHECK_EQ_INT(send_as("t t", "w", "ok"), 32602);
    /* text round-trips exactly, \u0000 and all */
    json_t *m = call_ok(c, "chat.send", "{\"room\":\"t\",\"text\":\"a\\u0000b \\u00e9 \\ud83d\\ude00\"}");
    CHECK(m);
    const char *tx = json_string_value(json_object_get(m, "text"));
    CHECK_EQ_INT(json_string_length(json_object_get(m, "text")), 11);
    CHECK(memcmp(tx, "a\0b \xc3\xa9 \xf0\x9f\x98\x80", 11) == 0);
    json_t *h = call_ok(c, "chat.history", "{\"room\":\"t\"}");
    CHECK(h);
    CHECK_EQ_INT(json_array_size(h), 3);
    CHECK(json_equal(json_array_get(h, 2), m));
    json_decref(h);
    json_decref(m);
    fake_free(a);
    chat_shutdown();
}

static void test_join_presence(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    fake *a = fake_new(0), *b = fake_new(0), *c = fake_new(0);
    json_t *r = call_ok(&a->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"ann\"}");
    CHECK(r);
    json_t *want = json_pack("{s:s, s:s, s:[s], s:[]}", "room", "r", "nick", "ann", "members",
                             "ann", "history");
    CHECK(json_equal(r, want));
    json_decref(want);
    json_decref(r);
    r = call_ok(&b->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"bob\"}");
    CHECK(r);
    want = json_pack("[s, s]", "ann", "bob");
    CHECK(json_equal(json_object_get(r, "members"), want));
    json_decref(want);
    json_decref(r);
    /* the others get the presence, the joiner does not */
    json_t *pa = fake_got(a, "chat.presence"), *pb = fake_got(b, "chat.presence");
    want = json_pack("[{s:s, s:s, s:s}]", "room", "r", "nick", "bob", "event", "join");
    CHECK(json_equal(pa, want));
    CHECK_EQ_INT(json_array_size(pb), 0);
    json_decref(want);
    json_decref(pa);
    json_decref(pb);
    /* a nick is taken per room; case matters */
    CHECK_EQ_INT(call_code(&c->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"ann\"}"), -32002);
    CHECK_EQ_INT(call_code(&c->ctx, "chat.join", "{\"room\":\"r2\",\"nick\":\"ann\"}"), 0);
    CHECK_EQ_INT(call_code(&c->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"Ann\"}"), 0);
    /* joining again: same nick is idempotent (no presence), another is -32602 */
    CHECK_EQ_INT(call_code(&a->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"ann\"}"), 0);
    CHECK_EQ_INT(call_code(&a->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"ann2\"}"), -32602);
    /* one member, several rooms, several nicks */
    CHECK_EQ_INT(call_code(&a->ctx, "chat.join", "{\"room\":\"r2\",\"nick\":\"zed\"}"), 0);
    barrier("r");
    pb = fake_got(b, "chat.presence");
    CHECK_EQ_INT(json_array_size(pb), 1); /* Ann joined; ann's re-join was silent */
    json_decref(pb);
    json_t *ms = call_ok(&http_ctx, "chat.members", "{\"room\":\"r\"}");
    want = json_pack("[s, s, s]", "ann", "bob", "Ann");
    CHECK(json_equal(ms, want));
    json_decref(ms);
    json_decref(want);
    ms = call_ok(&http_ctx, "chat.members", "{\"room\":\"nowhere\"}");
    CHECK(ms && json_array_size(ms) == 0);
    json_decref(ms);
    /* leave */
    json_t *t = call_ok(&b->ctx, "chat.leave", "{\"room\":\"r\"}");
    CHECK(json_is_true(t));
    json_decref(t);
    CHECK_EQ_INT(call_code(&b->ctx, "chat.leave", "{\"room\":\"r\"}"), -32003);
    CHECK_EQ_INT(call_code(&b->ctx, "chat.leave", "{\"room\":\"nowhere\"}"), -32003);
    CHECK_EQ_INT(call_code(&http_ctx, "chat.leave", "{\"room\":\"r\"}"), -32003);
    CHECK_EQ_INT(call_code(&b->ctx, "chat.leave", "{}"), -32602);
    barrier("r");
    pa = fake_got(a, "chat.presence");
    want = json_pack("{s:s, s:s, s:s}", "room", "r", "nick", "bob", "event", "leave");
    CHECK(json_equal(json_array_get(pa, json_array_size(pa) - 1), want));
    json_decref(want);
    json_decref(pa);
    pb = fake_got(b, "chat.presence");
    CHECK_EQ_INT(json_array_size(pb), 1); /* no presence for its own leave */
    json_decref(pb);
    /* bob may come back as ann? no: ann is there */
    CHECK_EQ_INT(call_code(&b->ctx, "chat.join", "{\"room\":\"r\",\"nick\":\"ann\"}"), -32002);
    fake_free(a);
    fake_free(b);
    fake_free(c);
    chat_shutdown();
}

static void test_send(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    chat_stats s0, s1;
    chat_stats_read(&s0);
    fake *a = fake_new(0), *b = fake_new(0), *c = fake_new(0);
    join(a, "s", "ann");
    join(b, "s", "bob");
    join(c, "other", "cy");
    /* not joined */
    CHECK_EQ_INT(call_code(&c->ctx, "chat.send", "{\"room\":\"s\",\"text\":\"hi\"}"), -32003);
    CHECK_EQ_INT(call_code(&c->ctx, "chat.send", "{\"room\":\"none\",\"text\":\"hi\"}"), -32003);
    int64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    json_t *m = call_ok(&a->ctx, "chat.send", "{\"room\":\"s\",\"text\":\"hello\",\"nick\":\"x\"}");
    CHECK(m);
    CHECK(json_integer_value(json_object_get(m, "id")) > 0);
    CHECK_EQ_STR(json_string_value(json_object_get(m, "room")), "s");
    CHECK_EQ_STR(json_string_value(json_object_get(m, "nick")), "ann");
    CHECK_EQ_STR(json_string_value(json_object_get(m, "text")), "hello");
    int64_t ts = json_integer_value(json_object_get(m, "ts"));
    CHECK(ts >= t0 - 5 && ts < t0 + 60000);
    CHECK_EQ_INT(json_object_size(m), 5);
    /* over HTTP: nick required, no join needed */
    CHECK_EQ_INT(call_code(&http_ctx, "chat.send", "{\"room\":\"s\",\"text\":\"hi\"}"), -32602);
    CHECK_EQ_INT(call_code(&http_ctx, "chat.send",
                           "{\"room\":\"s\",\"text\":\"hi\",\"nick\":\"a\\nb\"}"), -32602);
    json_t *m2 = call_ok(&http_ctx, "chat.send", "{\"room\":\"s\",\"text\":\"web\",\"nick\":\"w\"}");
    CHECK(m2);
    CHECK_EQ_INT(json_integer_value(json_object_get(m2, "id")),
                 json_integer_value(json_object_get(m, "id")) + 1);
    barrier("s");
    barrier("other");
    json_t *want = json_pack("[O, O]", m, m2);
    json_t *ga = fake_got(a, "chat.message"), *gb = fake_got(b, "chat.message"),
           *gc = fake_got(c, "chat.message");
    CHECK(json_equal(ga, want)); /* the sender gets its own message too */
    CHECK(json_equal(gb, want));
    CHECK_EQ_INT(json_array_size(gc), 0);
    json_decref(ga);
    json_decref(gb);
    json_decref(gc);
    json_decref(want);
    json_decref(m);
    json_decref(m2);
    /* after leaving, no more messages and no more sending */
    json_decref(call_ok(&b->ctx, "chat.leave", "{\"room\":\"s\"}"));
    CHECK_EQ_INT(call_code(&b->ctx, "chat.send", "{\"room\":\"s\",\"text\":\"hi\"}"), -32003);
    CHECK(send_as("s", "w", "after") > 0);
    barrier("s");
    gb = fake_got(b, "chat.message");
    CHECK_EQ_INT(json_array_size(gb), 2);
    json_decref(gb);
    chat_stats_read(&s1);
    CHECK_EQ_INT(s1.messages_stored - s0.messages_stored, 3);
    CHECK_EQ_INT(s1.messages_delivered - s0.messages_delivered, 5);
    CHECK_EQ_INT(s1.members - s0.members, 3);
    CHECK_EQ_INT(s1.rooms, 2);
    fake_free(a);
    fake_free(b);
    fake_free(c);
    chat_stats_read(&s1);
    CHECK_EQ_INT(s1.members - s0.members, 0);
    chat_shutdown();
}

static void test_rate(void)
{
    CHECK_EQ_INT(start(":memory:", 5), 0);
    chat_stats s0, s1;
    chat_stats_read(&s0);
    fake *a = fake_new(0);
    join(a, "rl", "a");
    int64_t t0 = goc_nanotime();
    int ok = 0, code = 0;
    json_t *r = NULL;
    for (int i = 0; i < 40 && code == 0; i++) {
        json_decref(r);
        r = call(&a->ctx, "chat.send", "{\"room\":\"rl\",\"text\":\"x\"}");
        code = err_code(r);
        ok += code == 0;
    }
    double secs = (double)(goc_nanotime() - t0) / 1e9;
    CHECK_EQ_INT(code, -32004);
    CHECK_EQ_STR(err_msg(r), "rate limited: slow down");
    json_decref(r);
    /* a burst of twice the rate, plus what refilled meanwhile */
    CHECK_MSG(ok >= 10 && ok <= 10 + (int)(secs * 5) + 1, "%d sends in %.3f s", ok, secs);
    chat_stats_read(&s1);
    CHECK_EQ_INT(s1.rate_limited - s0.rate_limited, 1);
    goc_sleep(250 * GOC_MILLISECOND); /* one token back */
    CHECK_EQ_INT(call_code(&a->ctx, "chat.send", "{\"room\":\"rl\",\"text\":\"x\"}"), 0);
    /* HTTP sends are not limited */
    for (int i = 0; i < 20; i++)
        CHECK(send_as("rl", "w", "x") > 0);
    fake_free(a);
    chat_shutdown();
}

/* ---- ordering with concurrent senders ----------------------------------- */

typedef struct sender_arg {
    fake *f;
    int n;
    goc_waitgroup *wg;
    atomic_int *failures;
} sender_arg;

static void sender(void *arg)
{
    sender_arg *s = arg;
    for (int i = 0; i < s->n; i++) {
        char p[64];
        snprintf(p, sizeof p, "{\"room\":\"ord\",\"text\":\"m%d\"}", i);
        if (call_code(&s->f->ctx, "chat.send", p) != 0)
            atomic_fetch_add(s->failures, 1);
    }
    goc_waitgroup_done(s->wg);
}

/* Checks that f got exactly the ids first..last of room, in order. */
static bool ids_contiguous(fake *f, int64_t first, int64_t last)
{
    json_t *got = fake_got(f, "chat.message");
    bool ok = (int64_t)json_array_size(got) == last - first + 1;
    for (size_t i = 0; ok && i < json_array_size(got); i++)
        ok = json_integer_value(json_object_get(json_array_get(got, i), "id")) ==
             first + (int64_t)i;
    json_decref(got);
    return ok;
}

static void test_order(void)
{
    const char *db = tmp_db();
    CHECK(db);
    CHECK_EQ_INT(start(db, 0), 0);
    enum { SENDERS = 8 };
    int n = TEST_SCALE(200);
    fake *f[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        char nick[16];
        snprintf(nick, sizeof nick, "s%d", i);
        f[i] = fake_new(0);
        join(f[i], "ord", nick);
    }
    int64_t first = send_as("ord", "start", "start");
    CHECK(first > 0);
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    atomic_int failures = 0;
    for (int i = 0; i < SENDERS; i++) {
        sender_arg a = {.f = f[i], .n = n, .wg = &wg, .failures = &failures};
        goc_waitgroup_add(&wg, 1);
        goc_go(sender, &a, sizeof a);
    }
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(atomic_load(&failures), 0);
    int64_t last = send_as("ord", "end", "end");
    CHECK_EQ_INT(last, first + SENDERS * n + 1);
    barrier("ord");
    for (int i = 0; i < SENDERS; i++)
        CHECK_MSG(ids_contiguous(f[i], first, last), "member %d: gap or disorder", i);
    json_t *h = call_ok(&http_ctx, "chat.history", "{\"room\":\"ord\",\"limit\":500}");
    CHECK(h && json_array_size(h) == (size_t)(last - first + 1 < 500 ? last - first + 1 : 500));
    json_decref(h);
    for (int i = 0; i < SENDERS; i++)
        fake_free(f[i]);
    chat_shutdown();
    tmp_clean();
}

static void test_slow_member(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    chat_stats s0, s1;
    chat_stats_read(&s0);
    fake *a = fake_new(0), *b = fake_new(0), *slow = fake_new(5);
    join(a, "slow", "a");
    join(b, "slow", "b");
    join(slow, "slow", "s");
    join(slow, "calm", "s");
    join(b, "calm", "b");
    int n = 40;
    int64_t first = 0, last = 0;
    for (int i = 0; i < n; i++) {
        last = send_as("slow", "w", "x");
        CHECK(last > 0);
        if (!first)
            first = last;
    }
    barrier("slow");
    CHECK_EQ_INT(atomic_load(&slow->kicks), 1);
    CHECK(ids_contiguous(a, first, last));
    CHECK(ids_contiguous(b, first, last));
    json_t *ms = call_ok(&http_ctx, "chat.members", "{\"room\":\"slow\"}");
    json_t *want = json_pack("[s, s]", "a", "b");
    CHECK(json_equal(ms, want));
    json_decref(ms);
    json_decref(want);
    json_t *pa = fake_got(a, "chat.presence");
    want = json_pack("{s:s, s:s, s:s}", "room", "slow", "nick", "s", "event", "leave");
    CHECK(json_equal(json_array_get(pa, json_array_size(pa) - 1), want));
    json_decref(pa);
    json_decref(want);
    /* the kicked member is dropped from its other rooms at their next push */
    CHECK(send_as("calm", "w", "x") > 0);
    barrier("calm");
    CHECK_EQ_INT(atomic_load(&slow->kicks), 1);
    ms = call_ok(&http_ctx, "chat.members", "{\"room\":\"calm\"}");
    want = json_pack("[s]", "b");
    CHECK(json_equal(ms, want));
    json_decref(ms);
    json_decref(want);
    CHECK_EQ_INT(call_code(&slow->ctx, "chat.send", "{\"room\":\"slow\",\"text\":\"x\"}"), -32003);
    chat_stats_read(&s1);
    CHECK_EQ_INT(s1.slow_kicks - s0.slow_kicks, 1);
    fake_free(slow);
    fake_free(a);
    fake_free(b);
    chat_shutdown();
}

static void test_history(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    int64_t ids[120];
    for (int i = 0; i < 120; i++) {
        char t[16];
        snprintf(t, sizeof t, "h%d", i);
        ids[i] = send_as("h", "w", t);
        CHECK(ids[i] > 0);
        CHECK(send_as("noise", "w", t) > 0);
    }
    json_t *h = call_ok(&http_ctx, "chat.history", "{\"room\":\"h\"}");
    CHECK(h);
    CHECK_EQ_INT(json_array_size(h), 100); /* the default limit, oldest first */
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 0), "id")), ids[0]);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 99), "id")), ids[99]);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(h, 5), "text")), "h5");
    json_decref(h);
    char p[128];
    snprintf(p, sizeof p, "{\"room\":\"h\",\"since\":%lld,\"limit\":3}", (long long)ids[109]);
    h = call_ok(&http_ctx, "chat.history", p);
    CHECK(h && json_array_size(h) == 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 0), "id")), ids[110]);
    json_decref(h);
    h = call_ok(&http_ctx, "chat.history", "{\"room\":\"h\",\"limit\":500}");
    CHECK(h && json_array_size(h) == 120);
    json_decref(h);
    h = call_ok(&http_ctx, "chat.history", "{\"room\":\"h\",\"since\":999999}");
    CHECK(h && json_array_size(h) == 0);
    json_decref(h);
    h = call_ok(&http_ctx, "chat.history", "{\"room\":\"empty\",\"since\":null}");
    CHECK(h && json_array_size(h) == 0);
    json_decref(h);
    static const char *const bad[] = {
        "{\"room\":\"h\",\"limit\":0}",     "{\"room\":\"h\",\"limit\":501}",
        "{\"room\":\"h\",\"limit\":-1}",    "{\"room\":\"h\",\"since\":-1}",
        "{\"room\":\"h\",\"limit\":\"x\"}", "{\"room\":\"h\",\"since\":1.5}",
        "{\"room\":\"h h\"}",               "{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(call_code(&http_ctx, "chat.history", bad[i]) == -32602, "%s", bad[i]);
    int code;
    const char *msg;
    CHECK(!history("h", 0, 0, 501, &code, &msg));
    CHECK_EQ_INT(code, -32602);
    h = history("h", ids[117], 0, 10, &code, &msg);
    CHECK(h && json_array_size(h) == 2);
    json_decref(h);
    /* before: the newest below it, oldest first (scrolling back) */
    snprintf(p, sizeof p, "{\"room\":\"h\",\"before\":%lld,\"limit\":3}", (long long)ids[50]);
    h = call_ok(&http_ctx, "chat.history", p);
    CHECK(h && json_array_size(h) == 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 0), "id")), ids[47]);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 2), "id")), ids[49]);
    json_decref(h);
    snprintf(p, sizeof p, "{\"room\":\"h\",\"since\":%lld,\"before\":%lld}", (long long)ids[3],
             (long long)ids[6]);
    h = call_ok(&http_ctx, "chat.history", p);
    CHECK(h && json_array_size(h) == 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 0), "id")), ids[4]);
    json_decref(h);
    CHECK_EQ_INT(call_code(&http_ctx, "chat.history", "{\"room\":\"h\",\"before\":0}"), -32602);
    CHECK_EQ_INT(call_code(&http_ctx, "chat.history", "{\"room\":\"h\",\"before\":\"x\"}"), -32602);
    /* chat.join gives the last 50 of the room, oldest first */
    fake *a = fake_new(0);
    json_t *r = call_ok(&a->ctx, "chat.join", "{\"room\":\"h\",\"nick\":\"a\"}");
    CHECK(r);
    h = json_object_get(r, "history");
    CHECK_EQ_INT(json_array_size(h), 50);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 0), "id")), ids[70]);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 49), "id")), ids[119]);
    json_decref(r);
    /* the rooms (reading a room's history does not create it; "noise",
     * published to without members, retires once its messages are out) */
    json_t *want = redis_mode /* Redis knows every room with messages */
                       ? json_pack("[{s:s, s:i}, {s:s, s:i}]", "room", "h", "members", 1, "room",
                                   "noise", "members", 0)
                       : json_pack("[{s:s, s:i}]", "room", "h", "members", 1);
    json_t *rooms = NULL;
    for (int tries = 0; tries < 500; tries++) {
        json_decref(rooms);
        rooms = call_ok(&http_ctx, "chat.rooms", NULL);
        if (json_equal(rooms, want))
            break;
        goc_sleep(10 * 1000000);
    }
    CHECK(json_equal(rooms, want));
    json_decref(rooms);
    json_decref(want);
    fake_free(a);
    chat_shutdown();
}

/* The id of element i of the history array h. */
static int64_t id_at(json_t *h, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(h, i), "id"));
}

/* Scrolling back: "before" gives the newest messages below it, oldest
 * first, so pages taken with before = the oldest id held meet with no gap
 * and no overlap, down to an empty page. */
static void test_history_before(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    int64_t ids[120];
    for (int i = 0; i < 120; i++) {
        char t[16];
        snprintf(t, sizeof t, "b%d", i);
        ids[i] = send_as("back", "w", t);
        CHECK(ids[i] > 0);
        CHECK(send_as("other", "w", t) > 0); /* interleaved ids of another room */
    }
    /* pages of 50 from the newest: 70..119, 20..69, 0..19, then none */
    int64_t before = ids[119] + 1000;
    int want_first[] = {70, 20, 0}, want_n[] = {50, 50, 20};
    char p[128];
    for (int page = 0; page < 3; page++) {
        snprintf(p, sizeof p, "{\"room\":\"back\",\"before\":%lld,\"limit\":50}",
                 (long long)before);
        json_t *h = call_ok(&http_ctx, "chat.history", p);
        CHECK(h);
        CHECK_EQ_INT(json_array_size(h), want_n[page]);
        for (size_t i = 0; i < json_array_size(h); i++)
            CHECK_MSG(id_at(h, i) == ids[want_first[page] + (int)i], "page %d item %zu", page, i);
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(h, 0), "text")),
                     page == 0 ? "b70" : page == 1 ? "b20" : "b0");
        before = id_at(h, 0);
        json_decref(h);
    }
    snprintf(p, sizeof p, "{\"room\":\"back\",\"before\":%lld}", (long long)before);
    json_t *h = call_ok(&http_ctx, "chat.history", p);
    CHECK(h && json_array_size(h) == 0);
    json_decref(h);
    /* since and before together: the newest of the ids strictly between */
    snprintf(p, sizeof p, "{\"room\":\"back\",\"since\":%lld,\"before\":%lld,\"limit\":3}",
             (long long)ids[10], (long long)ids[20]);
    h = call_ok(&http_ctx, "chat.history", p);
    CHECK(h && json_array_size(h) == 3);
    CHECK(h && id_at(h, 0) == ids[17] && id_at(h, 2) == ids[19]);
    json_decref(h);
    snprintf(p, sizeof p, "{\"room\":\"back\",\"since\":%lld,\"before\":%lld}",
             (long long)ids[10], (long long)ids[11]);
    h = call_ok(&http_ctx, "chat.history", p);
    CHECK(h && json_array_size(h) == 0);
    json_decref(h);
    /* before 1 holds nothing; before null is no bound */
    h = call_ok(&http_ctx, "chat.history", "{\"room\":\"back\",\"before\":1}");
    CHECK(h && json_array_size(h) == 0);
    json_decref(h);
    h = call_ok(&http_ctx, "chat.history", "{\"room\":\"back\",\"before\":null,\"limit\":2}");
    CHECK(h && json_array_size(h) == 2 && id_at(h, 0) == ids[0]);
    json_decref(h);
    static const char *const bad[] = {
        "{\"room\":\"back\",\"before\":0}",
        "{\"room\":\"back\",\"before\":-1}",
        "{\"room\":\"back\",\"before\":\"9\"}",
        "{\"room\":\"back\",\"before\":2.5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(call_code(&http_ctx, "chat.history", bad[i]) == -32602, "%s", bad[i]);
    /* the C entry point REST uses */
    int code;
    const char *msg;
    h = history("back", 0, ids[5], 2, &code, &msg);
    CHECK(h && json_array_size(h) == 2 && id_at(h, 0) == ids[3] && id_at(h, 1) == ids[4]);
    json_decref(h);
    CHECK(!history("back", 0, -1, 10, &code, &msg));
    CHECK_EQ_INT(code, -32602);
    chat_shutdown();
}

/* Joining while messages flow: the join's history and the pushes meet
 * with no gap and no duplicate. */
typedef struct flow_arg {
    int n;
    goc_chan *done;
} flow_arg;

static void flow(void *arg)
{
    flow_arg *f = arg;
    for (int i = 0; i < f->n; i++)
        send_as("flow", "w", "x");
    goc_chan_close(f->done);
}

static void test_join_while_sending(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    int64_t first = send_as("flow", "w", "first");
    flow_arg fa = {.n = TEST_SCALE(2000), .done = goc_chan_make(0, 0)};
    goc_go(flow, &fa, sizeof fa);
    goc_sleep(2 * GOC_MILLISECOND);
    fake *a = fake_new(0);
    json_t *r = call_ok(&a->ctx, "chat.join", "{\"room\":\"flow\",\"nick\":\"a\"}");
    goc_chan_recv(fa.done, NULL);
    goc_chan_free(fa.done);
    int64_t last = send_as("flow", "w", "last");
    CHECK(r);
    barrier("flow");
    json_t *h = json_object_get(r, "history");
    int64_t hlast = json_array_size(h)
                        ? json_integer_value(json_object_get(json_array_get(h, json_array_size(h) - 1), "id"))
                        : first - 1;
    CHECK(hlast >= first);
    printf("# joined after %lld of %lld messages\n", (long long)(hlast - first + 1),
           (long long)(last - first + 1));
    CHECK_MSG(ids_contiguous(a, hlast + 1, last), "history up to %lld, then pushes to %lld",
              (long long)hlast, (long long)last);
    json_decref(r);
    fake_free(a);
    chat_shutdown();
}

static void test_gone(void)
{
    CHECK_EQ_INT(start(":memory:", 0), 0);
    fake *a = fake_new(0), *b = fake_new(0), *c = fake_new(0);
    join(a, "g1", "a");
    join(a, "g2", "a2");
    join(b, "g1", "b");
    join(c, "g2", "c");
    chat_member_gone(a->m);
    a->m = NULL;
    barrier("g1");
    barrier("g2");
    json_t *pb = fake_got(b, "chat.presence"), *pc = fake_got(c, "chat.presence");
    json_t *wb = json_pack("[{s:s, s:s, s:s}]", "room", "g1", "nick", "a", "event", "leave");
    json_t *wc = json_pack("[{s:s, s:s, s:s}]", "room", "g2", "nick", "a2", "event", "leave");
    CHECK(json_equal(pb, wb));
    CHECK(json_equal(pc, wc));
    json_decref(pb);
    json_decref(pc);
    json_decref(wb);
    json_decref(wc);
    /* the nick is free again */
    CHECK_EQ_INT(call_code(&c->ctx, "chat.join", "{\"room\":\"g1\",\"nick\":\"a\"}"), 0);
    fake_free(a);
    fake_free(b);
    fake_free(c);
    chat_shutdown();
}

static void test_restart(void)
{
    const char *db = tmp_db();
    CHECK(db);
    CHECK_EQ_INT(start(db, 0), 0);
    int64_t id1 = send_as("keep", "w", "one");
    int64_t id2 = send_as("keep", "w", "two");
    CHECK(id1 > 0 && id2 == id1 + 1);
    CHECK(send_as("keep2", "w", "three") == id2 + 1);
    CHECK_EQ_INT(restart(db, 0), 0);
    json_t *h = call_ok(&http_ctx, "chat.history", "{\"room\":\"keep\"}");
    CHECK(h && json_array_size(h) == 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(h, 1), "text")), "two");
    json_decref(h);
    /* ids keep growing */
    CHECK_EQ_INT(send_as("keep", "w", "four"), id2 + 2);
    /* rooms known only from the database, with their counts */
    int code;
    json_t *rooms = chat_rooms_json(true, &code);
    json_t *want = json_pack("[{s:s, s:i, s:i}, {s:s, s:i, s:i}]", "room", "keep", "members", 0,
                             "messages", 3, "room", "keep2", "members", 0, "messages", 1);
    CHECK(json_equal(rooms, want));
    json_decref(rooms);
    json_decref(want);
    /* a joiner after the restart sees the old history */
    fake *a = fake_new(0);
    json_t *r = call_ok(&a->ctx, "chat.join", "{\"room\":\"keep2\",\"nick\":\"a\"}");
    CHECK(r && json_array_size(json_object_get(r, "history")) == 1);
    json_decref(r);
    fake_free(a);
    chat_shutdown();
    /* an unusable path, or URL, fails cleanly, saying why */
    char err[256] = "";
    if (!redis_mode) {
        chat_config bad = {.db_path = "/proc/no/such/chat.db"};
        CHECK(chat_init(&bad, err, sizeof err) < 0);
        CHECK_MSG(strstr(err, "No such file") != NULL, "why: %s", err);
        chat_config dir = {.db_path = tmpdir};
        CHECK(chat_init(&dir, err, sizeof err) == -EISDIR);
        CHECK_EQ_STR(err, "Is a directory");
    } else {
        chat_config bad = {.redis_url = "redis://:x"};
        CHECK(chat_init(&bad, err, sizeof err) == -EINVAL);
        CHECK_STR_CONTAINS(err, "invalid Redis URL");
    }
    tmp_clean();
}

/* One whole life of the chat (members, rooms, messages, a kick, history,
 * shutdown) leaves no object of the runtime's allocator behind (LeakSanitizer
 * does not see those). */
static void chat_cycle(void)
{
    start(":memory:", 100);
    fake *a = fake_new(0), *b = fake_new(2);
    join(a, "c1", "a");
    join(a, "c2", "a");
    join(b, "c1", "b");
    for (int i = 0; i < 5; i++)
        json_decref(call_ok(&a->ctx, "chat.send", "{\"room\":\"c1\",\"text\":\"x\"}"));
    json_decref(call_ok(&a->ctx, "chat.history", "{\"room\":\"c1\"}"));
    json_decref(call_ok(&a->ctx, "chat.rooms", NULL));
    int code;
    json_decref(chat_rooms_json(true, &code));
    json_decref(call_ok(&a->ctx, "chat.members", "{\"room\":\"c2\"}"));
    barrier("c1");
    fake_free(b);
    fake_free(a);
    chat_shutdown();
}

/* A broker that wraps the one in use: it records every message sent
 * through it, and can refuse them as an unreachable store would. */
static struct {
    chat__broker b;           /* a copy of the real one, send replaced */
    const chat__broker *real;
    bool refuse;              /* answer JRPC_UNAVAILABLE */
    int n;
    char rooms[16][8];
} rec;

static int rec_send(const char *room, const char *nick, const char *text, size_t len,
                    int64_t deadline, int64_t *id, int64_t *ts, int *code)
{
    if (rec.refuse) {
        *code = JRPC_UNAVAILABLE;
        return -1;
    }
    if (rec.n < 16)
        snprintf(rec.rooms[rec.n++], sizeof rec.rooms[0], "%s", room);
    return rec.real->send(room, nick, text, len, deadline, id, ts, code);
}

static void test_broker(void)
{
    const char *db = tmp_db();
    CHECK(db);
    rec.real = redis_mode ? &chat__broker_redis : &chat__broker_inproc;
    rec.b = *rec.real;
    rec.b.send = rec_send;
    rec.refuse = false;
    rec.n = 0;
    chat__set_broker(&rec.b);
    CHECK_EQ_INT(start(db, 0), 0);
    fake *f = fake_new(0);
    join(f, "ba", "ann");
    const char *rooms[5] = {"ba", "bb", "ba", "bb", "ba"};
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = send_as(rooms[i], "bob", "hi");
    CHECK(call_code(&f->ctx, "chat.send", "{\"room\":\"ba\",\"text\":\"mine\"}") == 0);
    barrier("ba");
    /* every message went through the broker, members' and HTTP's alike */
    CHECK_EQ_INT(rec.n, 6);
    for (int i = 0; i < 5; i++) {
        CHECK(ids[i] > 0 && (i == 0 || ids[i] > ids[i - 1]));
        CHECK_EQ_STR(rec.rooms[i], rooms[i]);
    }
    json_t *got = fake_got(f, "chat.message");
    CHECK_EQ_INT(json_array_size(got), 4);
    json_decref(got);
    /* a broker that cannot reach its store: -32006 on every path */
    rec.refuse = true;
    CHECK_EQ_INT(send_as("ba", "bob", "no"), -JRPC_UNAVAILABLE);
    CHECK_EQ_INT(call_code(&f->ctx, "chat.send", "{\"room\":\"ba\",\"text\":\"no\"}"), -32006);
    CHECK_EQ_INT(call_code(&http_ctx, "chat.send",
                           "{\"room\":\"ba\",\"text\":\"no\",\"nick\":\"w\"}"),
                 -32006);
    rec.refuse = false;
    json_t *h = call_ok(&http_ctx, "chat.history", "{\"room\":\"ba\"}");
    CHECK(h && json_array_size(h) == 4);
    json_decref(h);
    fake_free(f);
    chat_shutdown();
    chat__set_broker(NULL);
    tmp_clean();
}

/* The program's idle state, read in main before anything starts: the
 * goroutines that always run (main) and no connection. */
static int64_t idle_goroutines, idle_conns;

/* Waits (at most 10 s) until the program is back to its idle state: the
 * goroutines a chat started have finished exiting, and the sockets it
 * closed have been released by the poller (Redis mode), both of which
 * free their records a moment after chat_shutdown returns. Each case
 * leaves such work behind, so a count read when test_no_leak starts is
 * no baseline: two connections of the case before were once still
 * closing then, and the last cycle's two were let go as "no more than
 * before". false if the state never comes: a goroutine or a connection
 * is left over for good. */
static bool settle(void)
{
    goc_sched_stats s;
    goc_net_stats ns;
    for (int i = 0; i < 1000; i++) {
        goc_sched_stats_read(&s);
        goc_net_stats_read(&ns);
        if (s.goroutines <= idle_goroutines && ns.conns <= idle_conns)
            return true;
        goc_sleep(10 * GOC_MILLISECOND);
    }
    printf("# not idle: %lld goroutines (idle: %lld), %lld connections (idle: %lld)\n",
           (long long)s.goroutines, (long long)idle_goroutines, (long long)ns.conns,
           (long long)idle_conns);
    return false;
}

/* The classes whose live objects differ between a and b, for the log. */
static void mem_diff(const goc_mem_stats *a, const goc_mem_stats *b)
{
    for (int k = 1; k < GOC_MEM_NUM_CLASSES; k++)
        if (a->classes[k].objects != b->classes[k].objects)
            printf("# class %d (%u bytes): %llu objects, then %llu\n", k, a->classes[k].size,
                   (unsigned long long)a->classes[k].objects,
                   (unsigned long long)b->classes[k].objects);
    if (a->large_objects != b->large_objects)
        printf("# large: %llu objects, then %llu\n", (unsigned long long)a->large_objects,
               (unsigned long long)b->large_objects);
}

/* Live objects before and after `cycles` chat cycles, from a settled
 * state to a settled state. Returns 1; 0 if the scheduler started a thread
 * meanwhile (then the window says nothing: an M keeps its record and its
 * signal stack for the program's life, as Go's do, both allocated before
 * it counts in goc_sched_stats.threads, and a busy machine makes one now
 * and then, a P handed off around a blocking call); -1 if the program did
 * not settle. */
static int leak_window(int cycles, uint64_t *before, uint64_t *after)
{
    goc_mem_stats *st = goc_malloc(2 * sizeof *st);
    goc_sched_stats s[2];
    bool settled = settle();
    goc_sched_stats_read(&s[0]);
    goc_mem_stats_read(&st[0]);
    for (int i = 0; i < cycles; i++)
        chat_cycle();
    settled = settle() && settled;
    /* the objects are read between the two thread counts: a thread that
     * starts around a read counts as started during the window */
    goc_mem_stats_read(&st[1]);
    goc_sched_stats_read(&s[1]);
    *before = st[0].objects_in_use;
    *after = st[1].objects_in_use;
    if (*after != *before)
        mem_diff(&st[0], &st[1]);
    int threads = (int)(s[1].threads - s[0].threads);
    if (threads)
        printf("# %d threads started during the cycles: measured again\n", threads);
    goc_free(st);
    return !settled ? -1 : threads == 0;
}

static void test_no_leak(void)
{
    chat_shutdown();
    chat_cycle(); /* warms up whatever the runtime keeps (caches) */
    /* A leak of one object per cycle would show `cycles`. With Redis
     * there is more to a cycle (connections, a reader per subscription). */
    int cycles = redis_mode ? 10 : 3;
    uint64_t before = 0, after = 0;
    int rc = 0;
    for (int tries = 0; tries < 5 && rc == 0; tries++)
        rc = leak_window(cycles, &before, &after);
    CHECK_MSG(rc >= 0, "the program did not settle after the cycles");
    CHECK_MSG(rc > 0, "threads were started during every window");
    CHECK_MSG(after == before, "%llu objects before, %llu after %d cycles",
              (unsigned long long)before, (unsigned long long)after, cycles);
}

static const test_case cases[] = {
    TEST_CASE(test_params),
    TEST_CASE(test_text),
    TEST_CASE(test_join_presence),
    TEST_CASE(test_send),
    TEST_CASE(test_rate),
    TEST_CASE(test_order),
    TEST_CASE(test_slow_member),
    TEST_CASE(test_history),
    TEST_CASE(test_history_before),
    TEST_CASE(test_join_while_sending),
    TEST_CASE(test_gone),
    TEST_CASE(test_restart),
    TEST_CASE(test_broker),
    TEST_CASE(test_no_leak),
    {0},
};

GOC_MAIN(argc, argv)
{
    json_set_alloc_funcs(goc_malloc, goc_free);
    goc_sched_stats s;
    goc_net_stats ns;
    goc_sched_stats_read(&s);
    goc_net_stats_read(&ns);
    idle_goroutines = s.goroutines;
    idle_conns = ns.conns;
    const char *env = getenv("CHAT_TEST_REDIS");
    redis_mode = env && strcmp(env, "1") == 0;
    if (redis_mode && redis_proc_start(&rproc, NULL) != 0) {
        printf("Bail out! cannot start redis-server\n");
        return 1;
    }
    rpc = jrpc_new(NULL);
    int rc = rpc && chat_register_methods(rpc) == 0 ? test_main(argc, argv, cases) : 2;
    chat_shutdown();
    jrpc_free(rpc);
    if (redis_mode)
        redis_proc_stop(&rproc);
    return rc;
}

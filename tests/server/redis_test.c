/* redis_test.c: the Redis client (server/redis*.c) against real
 * redis-server processes on free loopback ports (redis_proc.h): URLs,
 * commands and binary-safe replies, AUTH and SELECT from the URL, scripts
 * by SHA-1 with their fallback, the pool under concurrent callers, a
 * deadline on every call (Redis stopped with SIGSTOP), down and back up
 * again with the back-off, a subscription's pushes, a restart of Redis.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/goc.h>
#include <goc/malloc.h>

#include "redis.h"
#include "redis_proc.h"

static redis_proc rp; /* the server most cases use */

static int64_t in_ms(int64_t ms)
{
    return goc_nanotime() + ms * GOC_MILLISECOND;
}

static bool bulk_is(const resp_value *v, const char *s, size_t len)
{
    return v->type == RESP_BULK && v->len == len && memcmp(v->str, s, len) == 0;
}

/* Runs a command given as NUL-terminated words on c. */
static int cmd(redis_conn *c, redis_reply *r, int argc, const char **argv)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return redis_call(c, in_ms(2000), argc, argv, lens, r);
}

static void test_url(void)
{
    redis_url u;
    char err[200];
    CHECK_EQ_INT(redis_url_parse("redis://127.0.0.1:6380/2", &u, err, sizeof err), 0);
    CHECK_EQ_STR(u.addr, "127.0.0.1:6380");
    CHECK(u.db == 2 && !u.password[0] && !u.user[0]);
    CHECK_EQ_INT(redis_url_parse("redis://:s%40cret@example.com", &u, err, sizeof err), 0);
    CHECK_EQ_STR(u.addr, "example.com:6379");
    CHECK_EQ_STR(u.password, "s@cret");
    CHECK(u.db == 0 && !u.user[0]);
    CHECK_EQ_INT(redis_url_parse("redis://chat:pw@[::1]:7000/", &u, err, sizeof err), 0);
    CHECK_EQ_STR(u.addr, "[::1]:7000");
    CHECK_EQ_STR(u.user, "chat");
    CHECK_EQ_STR(u.password, "pw");
    static const char *const bad[] = {
        "http://x:1", "redis://", "redis://h:0", "redis://h:99999", "redis://h:12x",
        "redis://h:1/db", "redis://pw@h:1", "redis://:p%4@h", "redis://[::1:5", "redis://:",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_MSG(redis_url_parse(bad[i], &u, err, sizeof err) == -EINVAL, "%s accepted", bad[i]);
        CHECK_STR_CONTAINS(err, "invalid Redis URL");
    }
}

static void test_call(void)
{
    redis_url u;
    char err[200];
    CHECK_EQ_INT(redis_url_parse(rp.url, &u, err, sizeof err), 0);
    redis_conn *c;
    CHECK_EQ_INT(redis_conn_open(&u, in_ms(2000), &c), 0);
    redis_reply r;
    CHECK_EQ_INT(cmd(c, &r, 1, (const char *[]){"PING"}), 0);
    CHECK(r.v[0].type == RESP_STRING && r.v[0].len == 4);
    /* binary safe both ways: CRLF, NUL, high bytes */
    static const char val[] = "a\r\nb\0c\xff";
    const char *set[] = {"SET", "bin", val};
    size_t setl[] = {3, 3, sizeof val - 1};
    CHECK_EQ_INT(redis_call(c, in_ms(2000), 3, set, setl, &r), 0);
    CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"GET", "bin"}), 0);
    CHECK(bulk_is(&r.v[0], val, sizeof val - 1));
    CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"GET", "absent"}), 0);
    CHECK(r.v[0].type == RESP_NIL);
    /* a megabyte, read in many pieces */
    size_t big = (size_t)1 << 20;
    char *v = goc_malloc(big);
    for (size_t i = 0; i < big; i++)
        v[i] = (char)('a' + i % 26);
    const char *setb[] = {"SET", "big", v};
    size_t setbl[] = {3, 3, big};
    CHECK_EQ_INT(redis_call(c, in_ms(5000), 3, setb, setbl, &r), 0);
    CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"GET", "big"}), 0);
    CHECK(bulk_is(&r.v[0], v, big));
    goc_free(v);
    /* an error reply is a reply; the connection goes on */
    CHECK_EQ_INT(cmd(c, &r, 1, (const char *[]){"NOSUCHCOMMAND"}), 0);
    CHECK(r.v[0].type == RESP_ERROR && !redis_conn_broken(c));
    /* a nested reply */
    CHECK_EQ_INT(cmd(c, &r, 5, (const char *[]){"XADD", "s", "7-0", "n", "ann"}), 0);
    CHECK_EQ_INT(cmd(c, &r, 4, (const char *[]){"XRANGE", "s", "-", "+"}), 0);
    CHECK(r.v[0].type == RESP_ARRAY && r.v[0].integer == 1 && r.n == 6);
    CHECK(bulk_is(&r.v[2], "7-0", 3) && bulk_is(&r.v[5], "ann", 3));
    redis_conn_close(c);
}

static void test_auth_select(void)
{
    redis_proc pw;
    const char *extra[] = {"--requirepass", "s3cret", NULL};
    CHECK(redis_proc_start(&pw, extra) == 0);
    redis_url u;
    char err[200], url[128];
    redis_conn *c = NULL;
    redis_reply r;
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", pw.port);
    CHECK_EQ_INT(redis_url_parse(url, &u, err, sizeof err), 0);
    int rc = redis_conn_open(&u, in_ms(2000), &c);
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/3", pw.port);
    CHECK_EQ_INT(redis_url_parse(url, &u, err, sizeof err), 0);
    int rc2 = redis_conn_open(&u, in_ms(2000), &c);
    bool ok = rc == -EACCES && rc2 == 0;
    if (rc2 == 0) {
        cmd(c, &r, 3, (const char *[]){"SET", "k", "in3"});
        CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"SELECT", "0"}), 0);
        CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"GET", "k"}), 0);
        ok = ok && r.v[0].type == RESP_NIL;
        CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"SELECT", "3"}), 0);
        CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"GET", "k"}), 0);
        ok = ok && bulk_is(&r.v[0], "in3", 3);
        redis_conn_close(c);
    }
    redis_proc_stop(&pw);
    CHECK_MSG(ok, "wrong password %d, right one %d", rc, rc2);
}

static const char script_src[] = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}";

static void test_script(void)
{
    redis_url u;
    char err[200];
    redis_url_parse(rp.url, &u, err, sizeof err);
    redis_conn *c;
    CHECK_EQ_INT(redis_conn_open(&u, in_ms(2000), &c), 0);
    redis_script s;
    redis_script_init(&s, script_src);
    CHECK_EQ_INT(strlen(s.sha), 40);
    redis_reply r;
    CHECK_EQ_INT(cmd(c, &r, 2, (const char *[]){"SCRIPT", "FLUSH"}), 0);
    for (int round = 1; round <= 2; round++) { /* unknown to Redis, then known */
        const char *args[] = {"ctr", "x"};
        CHECK_EQ_INT(redis_eval(c, in_ms(2000), &s, 1, 2, args, NULL, &r), 0);
        CHECK_MSG(r.v[0].type == RESP_ARRAY && r.v[0].integer == 3, "type %d", r.v[0].type);
        CHECK(bulk_is(&r.v[1], "ctr", 3) && bulk_is(&r.v[2], "x", 1));
        CHECK_EQ_INT(r.v[3].integer, round);
    }
    /* it is known under the SHA-1 we computed */
    CHECK_EQ_INT(cmd(c, &r, 3, (const char *[]){"SCRIPT", "EXISTS", s.sha}), 0);
    CHECK(r.v[0].type == RESP_ARRAY && r.v[1].integer == 1);
    redis_conn_close(c);
}

/* ---- the pool ---------------------------------------------------------- */

typedef struct incr_arg {
    redis_client *cl;
    int n;
    goc_waitgroup *wg;
    atomic_int *errors;
} incr_arg;

static int expect_int(void *arg, const redis_reply *r)
{
    (void)arg;
    return r->v[0].type == RESP_INTEGER ? 0 : -EPROTO;
}

static void incr_many(void *p)
{
    incr_arg a = *(incr_arg *)p;
    const char *argv[] = {"INCR", "pool"};
    size_t lens[] = {4, 4};
    for (int i = 0; i < a.n; i++)
        if (redis_client_do(a.cl, in_ms(3000), NULL, 0, 2, argv, lens, expect_int, NULL) != 0)
            atomic_fetch_add(a.errors, 1);
    goc_waitgroup_done(a.wg);
}

static int get_int(void *arg, const redis_reply *r)
{
    if (r->v[0].type != RESP_BULK)
        return -EPROTO;
    *(long *)arg = strtol(r->v[0].str, NULL, 10);
    return 0;
}

static void test_pool(void)
{
    redis_url u;
    char err[200];
    redis_url_parse(rp.url, &u, err, sizeof err);
    redis_client *cl;
    CHECK_EQ_INT(redis_client_new(&u, 3, &cl), 0);
    goc_waitgroup wg = {0};
    atomic_int errors = 0;
    int workers = 8, each = TEST_SCALE(300);
    for (int i = 0; i < workers; i++) {
        incr_arg a = {cl, each, &wg, &errors};
        goc_waitgroup_add(&wg, 1);
        goc_go(incr_many, &a, sizeof a);
    }
    goc_waitgroup_wait(&wg);
    long total = 0;
    const char *argv[] = {"GET", "pool"};
    size_t lens[] = {3, 4};
    CHECK_EQ_INT(redis_client_do(cl, in_ms(2000), NULL, 0, 2, argv, lens, get_int, &total), 0);
    redis_stats st;
    redis_client_stats(cl, &st);
    redis_client_free(cl);
    CHECK_EQ_INT(atomic_load(&errors), 0);
    CHECK_EQ_INT(total, workers * each);
    CHECK_MSG(st.conns >= 1 && st.conns <= 3 && st.dials <= 3, "conns %lld dials %llu",
              (long long)st.conns, (unsigned long long)st.dials);
    CHECK(st.up && st.calls == (uint64_t)(workers * each + 1));
}

/* Redis stopped: a call ends at its deadline; the client is down and
 * answers at once; once Redis runs again, it comes back by itself. */
static void test_deadline_and_back(void)
{
    redis_url u;
    char err[200];
    redis_url_parse(rp.url, &u, err, sizeof err);
    redis_client *cl;
    CHECK_EQ_INT(redis_client_new(&u, 2, &cl), 0);
    const char *ping[] = {"PING"};
    size_t pl[] = {4};
    CHECK_EQ_INT(redis_client_do(cl, in_ms(2000), NULL, 0, 1, ping, pl, NULL, NULL), 0);
    redis_proc_signal(&rp, SIGSTOP);
    int64_t t0 = goc_nanotime();
    int rc = redis_client_do(cl, in_ms(300), NULL, 0, 1, ping, pl, NULL, NULL);
    int64_t took = goc_nanotime() - t0;
    int64_t t1 = goc_nanotime();
    int rc2 = redis_client_do(cl, in_ms(300), NULL, 0, 1, ping, pl, NULL, NULL);
    int64_t took2 = goc_nanotime() - t1;
    bool down = !redis_client_up(cl);
    redis_proc_signal(&rp, SIGCONT);
    CHECK_MSG(rc == -ETIMEDOUT && took >= 290 * GOC_MILLISECOND && took < 1500 * GOC_MILLISECOND,
              "rc %d after %lld ms", rc, (long long)(took / GOC_MILLISECOND));
    CHECK_MSG(rc2 == -ENOTCONN && took2 < 50 * GOC_MILLISECOND, "rc2 %d after %lld ms", rc2,
              (long long)(took2 / GOC_MILLISECOND));
    CHECK(down);
    int64_t until = in_ms(3000);
    while ((rc = redis_client_do(cl, in_ms(500), NULL, 0, 1, ping, pl, NULL, NULL)) != 0 &&
           goc_nanotime() < until)
        goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(rc, 0);
    CHECK(redis_client_up(cl));
    redis_client_free(cl);
}

static void test_subscribe(void)
{
    redis_url u;
    char err[200];
    redis_url_parse(rp.url, &u, err, sizeof err);
    redis_conn *sub, *pub;
    CHECK_EQ_INT(redis_conn_open(&u, in_ms(2000), &sub), 0);
    CHECK_EQ_INT(redis_conn_open(&u, in_ms(2000), &pub), 0);
    redis_reply r;
    const char *s[] = {"SUBSCRIBE", "ch1", "ch2"};
    size_t sl[] = {9, 3, 3};
    CHECK_EQ_INT(redis_send(sub, in_ms(2000), 3, s, sl), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(redis_read(sub, in_ms(2000), &r), 0);
        CHECK(r.v[0].type == RESP_ARRAY && bulk_is(&r.v[1], "subscribe", 9));
    }
    for (int i = 0; i < 50; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "m%d", i);
        CHECK_EQ_INT(cmd(pub, &r, 3, (const char *[]){"PUBLISH", i % 2 ? "ch2" : "ch1", msg}), 0);
        CHECK_EQ_INT(r.v[0].integer, 1);
    }
    for (int i = 0; i < 50; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "m%d", i);
        CHECK_EQ_INT(redis_read(sub, in_ms(2000), &r), 0);
        CHECK(r.v[0].integer == 3 && bulk_is(&r.v[1], "message", 7));
        CHECK(bulk_is(&r.v[2], i % 2 ? "ch2" : "ch1", 3) && bulk_is(&r.v[3], msg, (size_t)n));
    }
    /* nothing more: a read ends at its deadline and breaks the connection */
    CHECK_EQ_INT(redis_read(sub, in_ms(100), &r), -ETIMEDOUT);
    CHECK(redis_conn_broken(sub));
    redis_conn_close(sub);
    redis_conn_close(pub);
}

/* SIGKILL, then a new Redis on the same port: the client fails fast
 * meanwhile and is back within the back-off's bound. */
static void test_restart(void)
{
    redis_url u;
    char err[200];
    redis_url_parse(rp.url, &u, err, sizeof err);
    redis_client *cl;
    CHECK_EQ_INT(redis_client_new(&u, 2, &cl), 0);
    const char *ping[] = {"PING"};
    size_t pl[] = {4};
    CHECK_EQ_INT(redis_client_do(cl, in_ms(2000), NULL, 0, 1, ping, pl, NULL, NULL), 0);
    redis_proc_kill(&rp);
    int failures = 0;
    for (int i = 0; i < 5; i++) {
        int64_t t0 = goc_nanotime();
        int rc = redis_client_do(cl, in_ms(1000), NULL, 0, 1, ping, pl, NULL, NULL);
        CHECK_MSG(rc < 0 && goc_nanotime() - t0 < 1100 * GOC_MILLISECOND, "rc %d", rc);
        failures++;
        goc_sleep(100 * GOC_MILLISECOND);
    }
    CHECK(redis_proc_spawn(&rp) == 0);
    int64_t t0 = goc_nanotime();
    int rc;
    while ((rc = redis_client_do(cl, in_ms(500), NULL, 0, 1, ping, pl, NULL, NULL)) != 0 &&
           goc_nanotime() - t0 < 3 * GOC_SECOND)
        goc_sleep(20 * GOC_MILLISECOND);
    int64_t back = goc_nanotime() - t0;
    redis_stats st;
    redis_client_stats(cl, &st);
    redis_client_free(cl);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(back < 1500 * GOC_MILLISECOND, "back after %lld ms", (long long)(back / 1000000));
    CHECK(st.dial_failures >= 1 && st.call_failures >= 1);
    CHECK_EQ_INT(failures, 5);
}

static const test_case cases[] = {
    TEST_CASE(test_url),      TEST_CASE(test_call),    TEST_CASE(test_auth_select),
    TEST_CASE(test_script),   TEST_CASE(test_pool),    TEST_CASE(test_deadline_and_back),
    TEST_CASE(test_subscribe), TEST_CASE(test_restart), {0},
};

GOC_MAIN(argc, argv)
{
    if (redis_proc_start(&rp, NULL) != 0) {
        printf("Bail out! cannot start redis-server\n");
        return 1;
    }
    int rc = test_main(argc, argv, cases);
    redis_proc_stop(&rp);
    return rc;
}

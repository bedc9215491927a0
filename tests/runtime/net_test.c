/* net_test.c: goroutine-blocking TCP over the libuv netpoller: echo over
 * loopback, many connections, partial reads, half-close, deadlines,
 * cancellation, close waking a blocked reader, dial errors, signals. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/context.h>
#include <goc/net.h>
#include <goc/sched.h>
#include <goc/time.h>
#include <goc/chan.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "latch.h"
#include "runtime.h"


/* ---- an echo server ------------------------------------------------------------- */

static void reader(void *p);
static void waiter(void *p);

static void echo_conn(void *p)
{
    goc_conn *c = *(goc_conn **)p;
    char buf[4096];
    for (;;) {
        ssize_t n = goc_conn_read(c, buf, sizeof buf);
        if (n <= 0)
            break;
        if (goc_conn_write(c, buf, (size_t)n) < 0)
            break;
    }
    goc_conn_close(c);
}

typedef struct server {
    goc_listener *l;
    char addr[64];
    latch done;
} server;

static void accept_loop(void *p)
{
    server *s = *(server **)p;
    for (;;) {
        goc_conn *c;
        if (goc_accept(s->l, &c) != 0)
            break;
        goc_go(echo_conn, &c, sizeof c);
    }
    goc_listener_close(s->l); /* the loop owns it: shutdown only stopped it */
    latch_done(&s->done);
}

static int server_start(server *s)
{
    int rc = goc_listen_tcp("127.0.0.1:0", 1024, &s->l);
    if (rc)
        return rc;
    goc_listener_addr(s->l, s->addr, sizeof s->addr);
    s->done.count = 1;
    server *sp = s;
    goc_go(accept_loop, &sp, sizeof sp);
    return 0;
}

static void server_stop(server *s)
{
    goc_listener_shutdown(s->l);
    latch_wait(&s->done);
}

static ssize_t read_full(goc_conn *c, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = goc_conn_read(c, buf + got, len - got);
        if (n <= 0)
            return n < 0 ? n : (ssize_t)got;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static void test_echo_roundtrip(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    CHECK(strncmp(s.addr, "127.0.0.1:", 10) == 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 1000000000, &c), 0);
    char local[64], remote[64];
    CHECK_EQ_INT(goc_conn_remote_addr(c, remote, sizeof remote), 0);
    CHECK_EQ_STR(remote, s.addr);
    CHECK_EQ_INT(goc_conn_local_addr(c, local, sizeof local), 0);
    CHECK_EQ_INT(goc_conn_write(c, "hello, goroutines", 17), 17);
    char buf[32] = {0};
    CHECK_EQ_INT(read_full(c, buf, 17), 17);
    CHECK_EQ_STR(buf, "hello, goroutines");
    goc_conn_close(c);
    server_stop(&s);
}

static void test_large_transfer_both_ways(void)
{
    /* 4 MiB through the echo: writes block on a full socket buffer while
     * the reader drains, so both directions park and wake many times. */
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    size_t n = 4 << 20;
    char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(i * 7 + (i >> 13));
    typedef struct {
        goc_conn *c;
        char *buf;
        size_t n;
        ssize_t got;
        latch la;
    } rd;
    rd r = {c, in, n, 0, {.count = 1}};
    rd *rp = &r;
    goc_go(reader, &rp, sizeof rp);
    CHECK_EQ_INT(goc_conn_write(c, out, n), (ssize_t)n);
    latch_wait(&r.la);
    CHECK_EQ_INT(r.got, (ssize_t)n);
    CHECK(memcmp(in, out, n) == 0);
    free(out);
    free(in);
    goc_conn_close(c);
    server_stop(&s);
}

static void reader(void *p)
{
    struct {
        goc_conn *c;
        char *buf;
        size_t n;
        ssize_t got;
        latch la;
    } *r = *(void **)p;
    r->got = read_full(r->c, r->buf, r->n);
    latch_done(&r->la);
}

typedef struct client_arg {
    const char *addr;
    int rounds;
    _Atomic int *errors;
    latch *la;
} client_arg;

static void client(void *p)
{
    client_arg *a = p;
    goc_conn *c;
    if (goc_dial_tcp(a->addr, 5000000000LL, &c) != 0) {
        atomic_fetch_add(a->errors, 1);
        latch_done(a->la);
        return;
    }
    char msg[64], buf[64];
    for (int i = 0; i < a->rounds; i++) {
        int len = snprintf(msg, sizeof msg, "message %d from %lld", i, (long long)goc_id());
        if (goc_conn_write(c, msg, (size_t)len) != len || read_full(c, buf, (size_t)len) != len ||
            memcmp(msg, buf, (size_t)len) != 0) {
            atomic_fetch_add(a->errors, 1);
            break;
        }
    }
    goc_conn_close(c);
    latch_done(a->la);
}

static void test_many_connections(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    int n = TEST_SCALE(2000);
    if (n < 20)
        n = 20;
    _Atomic int errors = 0;
    latch la = {.count = n};
    client_arg a = {s.addr, 10, &errors, &la};
    for (int i = 0; i < n; i++)
        goc_go_copy(client, &a);
    latch_wait(&la);
    CHECK_EQ_INT(atomic_load(&errors), 0);
    goc_net_stats st;
    goc_net_stats_read(&st);
    CHECK(st.polls > 0);
    server_stop(&s);
}

static void test_half_close(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    CHECK_EQ_INT(goc_conn_write(c, "bye", 3), 3);
    CHECK_EQ_INT(goc_conn_close_write(c), 0);
    char buf[8];
    CHECK_EQ_INT(read_full(c, buf, 3), 3);
    /* the server saw EOF, closed, and we see EOF too */
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), 0);
    goc_conn_close(c);
    server_stop(&s);
}

/* goc_conn_wait_read parks until bytes come, takes none of them, and
 * reports end of stream and deadlines like a read; goc_conn_read_nowait
 * never parks. */
static void test_wait_read(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    goc_conn_set_read_deadline(c, goc_nanotime() + 30 * 1000000);
    CHECK_EQ_INT(goc_conn_wait_read(c), -ETIMEDOUT); /* nothing sent: nothing to read */
    goc_conn_set_read_deadline(c, 0);
    CHECK_EQ_INT(goc_conn_write(c, "abc", 3), 3);
    CHECK_EQ_INT(goc_conn_wait_read(c), 0); /* the echo arrived */
    CHECK_EQ_INT(goc_conn_wait_read(c), 0); /* and was not taken */
    char buf[8];
    CHECK_EQ_INT(read_full(c, buf, 3), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    CHECK_EQ_INT(goc_conn_read_nowait(c, buf, sizeof buf), -EAGAIN); /* all taken */
    CHECK_EQ_INT(goc_conn_write(c, "de", 2), 2);
    CHECK_EQ_INT(goc_conn_wait_read(c), 0);
    CHECK_EQ_INT(goc_conn_read_nowait(c, buf, sizeof buf), 2);
    CHECK(memcmp(buf, "de", 2) == 0);
    CHECK_EQ_INT(goc_conn_close_write(c), 0);
    CHECK_EQ_INT(goc_conn_wait_read(c), 0); /* end of stream is there to read */
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), 0);
    goc_conn_close(c);
    server_stop(&s);
}

static void test_read_deadline(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    int64_t t0 = goc_nanotime();
    goc_conn_set_read_deadline(c, t0 + 30 * 1000000);
    char buf[8];
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), -ETIMEDOUT);
    int64_t dt = goc_nanotime() - t0;
    CHECK_MSG(dt >= 30 * 1000000 && dt < 2000 * 1000000LL, "waited %lld ns", (long long)dt);
    /* still expired until the deadline moves */
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), -ETIMEDOUT);
    goc_conn_set_read_deadline(c, 0);
    CHECK_EQ_INT(goc_conn_write(c, "x", 1), 1);
    CHECK_EQ_INT(goc_conn_read(c, buf, 1), 1);
    /* a deadline in the past fails at once */
    goc_conn_set_read_deadline(c, goc_nanotime() - 1);
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), -ETIMEDOUT);
    goc_conn_close(c);
    server_stop(&s);
}

/* Deadlines set by several goroutines at once on one connection (a server
 * shutting connections down while their readers set their own): no timer
 * is armed twice, and the last deadline set is the one that holds. */
typedef struct setter {
    goc_conn *c;
    int rounds;
    uint32_t seed;
    latch *la;
} setter;

static void set_deadlines(void *p)
{
    setter *st = p;
    for (int i = 0; i < st->rounds; i++) {
        st->seed = st->seed * 1103515245u + 12345u;
        int64_t now = goc_nanotime();
        switch (st->seed >> 28 & 3) {
        case 0: goc_conn_set_read_deadline(st->c, 0); break;
        case 1: goc_conn_set_read_deadline(st->c, now + 1000); break;   /* fires soon */
        case 2: goc_conn_set_read_deadline(st->c, now + 3600 * 1000000000LL); break;
        default: goc_conn_set_read_deadline(st->c, now - 1); break;    /* already past */
        }
        if (i % 64 == 0)
            goc_yield();
    }
    latch_done(st->la);
}

static void test_deadlines_set_concurrently(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    enum { SETTERS = 4 };
    latch la = {.count = SETTERS};
    for (int i = 0; i < SETTERS; i++) {
        setter st = {c, TEST_SCALE(20000), (uint32_t)i * 7919u + 1, &la};
        goc_go(set_deadlines, &st, sizeof st);
    }
    latch_wait(&la);
    /* no deadline now: a read with data waiting succeeds */
    goc_conn_set_read_deadline(c, 0);
    goc_sleep(2 * 1000000); /* any firing still under way finds itself stale */
    char buf[2];
    CHECK_EQ_INT(goc_conn_write(c, "ok", 2), 2);
    CHECK_EQ_INT(read_full(c, buf, 2), 2);
    /* a far deadline holds, a past one fails at once */
    goc_conn_set_read_deadline(c, goc_nanotime() + 3600 * 1000000000LL);
    CHECK_EQ_INT(goc_conn_write(c, "ok", 2), 2);
    CHECK_EQ_INT(read_full(c, buf, 2), 2);
    goc_conn_set_read_deadline(c, goc_nanotime() - 1);
    CHECK_EQ_INT(goc_conn_read(c, buf, 1), -ETIMEDOUT);
    goc_conn_close(c);
    server_stop(&s);
}

/* A deadline replaced just as it falls due never expires the new one. */
static void test_replaced_deadline_is_stale(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    int rounds = TEST_SCALE(2000), spurious = 0;
    for (int i = 0; i < rounds; i++) {
        goc_conn_set_read_deadline(c, goc_nanotime() + 20 * 1000);
        int64_t until = goc_nanotime() + 20 * 1000 - (i % 8) * 1000;
        while (goc_nanotime() < until) /* close to due, maybe firing */
            ;
        goc_conn_set_read_deadline(c, 0);
        char b;
        if (goc_conn_write(c, "x", 1) != 1 || read_full(c, &b, 1) != 1)
            spurious++;
        goc_yield(); /* the busy waits add up: let sysmon see a yield point */
    }
    CHECK_MSG(spurious == 0, "%d of %d reads failed after their deadline was removed", spurious,
              rounds);
    goc_conn_close(c);
    server_stop(&s);
}

typedef struct blocked_read {
    goc_conn *c;
    ssize_t rc;
    latch la;
} blocked_read;

static void block_in_read(void *p)
{
    blocked_read *b = *(blocked_read **)p;
    char buf[8];
    b->rc = goc_conn_read(b->c, buf, sizeof buf);
    latch_done(&b->la);
}

static void test_cancel_wakes_reader(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    blocked_read b = {c, 1, {.count = 1}};
    blocked_read *bp = &b;
    goc_go(block_in_read, &bp, sizeof bp);
    goc_sleep(20 * 1000000);
    goc_conn_cancel(c);
    latch_wait(&b.la);
    CHECK_EQ_INT(b.rc, -ECANCELED);
    goc_conn_close(c);
    server_stop(&s);
}

static void test_context_cancels_io(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    goc_context *ctx = goc_context_with_cancel(goc_context_background());
    CHECK_EQ_INT(goc_conn_set_context(c, ctx), 0);
    CHECK_EQ_INT(goc_conn_set_context(c, ctx), -EBUSY);
    blocked_read b = {c, 1, {.count = 1}};
    blocked_read *bp = &b;
    goc_go(block_in_read, &bp, sizeof bp);
    goc_sleep(20 * 1000000);
    goc_context_cancel(ctx);
    latch_wait(&b.la);
    CHECK_EQ_INT(b.rc, -ECANCELED);
    /* sticky: later calls fail the same way */
    char buf[4];
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), -ECANCELED);
    CHECK_EQ_INT(goc_conn_write(c, "x", 1), -ECANCELED);
    goc_conn_close(c);
    goc_context_release(ctx);
    /* a context that outlives its connection */
    goc_context *ctx2 = goc_context_with_cancel(goc_context_background());
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    CHECK_EQ_INT(goc_conn_set_context(c, ctx2), 0);
    goc_conn_close(c);
    goc_sleep(5 * 1000000);
    goc_context_cancel(ctx2);
    goc_context_release(ctx2);
    server_stop(&s);
}

static void test_close_wakes_reader(void)
{
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    blocked_read b = {c, 1, {.count = 1}};
    blocked_read *bp = &b;
    goc_go(block_in_read, &bp, sizeof bp);
    goc_sleep(20 * 1000000);
    goc_conn_close(c);
    latch_wait(&b.la);
    CHECK_EQ_INT(b.rc, -EBADF);
    server_stop(&s);
}

static void test_dial_errors(void)
{
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp("not an address", 0, &c), -EINVAL);
    CHECK_EQ_INT(goc_dial_tcp("127.0.0.1:99999", 0, &c), -EINVAL);
    /* a port nobody listens on */
    goc_listener *l;
    CHECK_EQ_INT(goc_listen_tcp("127.0.0.1:0", 1, &l), 0);
    char addr[64];
    goc_listener_addr(l, addr, sizeof addr);
    goc_listener_close(l);
    goc_sleep(5 * 1000000);
    CHECK_EQ_INT(goc_dial_tcp(addr, 1000000000, &c), -ECONNREFUSED);
}

static void test_listen_address_in_use(void)
{
    goc_listener *a, *b;
    CHECK_EQ_INT(goc_listen_tcp("127.0.0.1:0", 16, &a), 0);
    char addr[64];
    goc_listener_addr(a, addr, sizeof addr);
    CHECK_EQ_INT(goc_listen_tcp(addr, 16, &b), -EADDRINUSE);
    goc_listener_close(a);
}

static void test_ipv6_loopback(void)
{
    goc_listener *l;
    int rc = goc_listen_tcp("[::1]:0", 16, &l);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        printf("# no IPv6 loopback here\n");
        return;
    }
    CHECK_EQ_INT(rc, 0);
    char addr[64];
    goc_listener_addr(l, addr, sizeof addr);
    CHECK(strncmp(addr, "[::1]:", 6) == 0);
    goc_listener_close(l);
}

static void test_signal_wait(void)
{
    static const int sigs[] = {SIGUSR1, SIGUSR2};
    typedef struct {
        int got;
        latch la;
    } sw;
    sw w = {0, {.count = 1}};
    sw *wp = &w;
    goc_go(waiter, &wp, sizeof wp);
    goc_sleep(20 * 1000000);
    raise(SIGUSR2);
    latch_wait(&w.la);
    CHECK_EQ_INT(w.got, SIGUSR2);
    (void)sigs;
}

static void waiter(void *p)
{
    static const int sigs[] = {SIGUSR1, SIGUSR2};
    struct {
        int got;
        latch la;
    } *w = *(void **)p;
    w->got = goc_signal_wait(sigs, 2);
    latch_done(&w->la);
}

static void test_idle_io_is_not_deadlock(void)
{
    /* A goroutine blocked reading a socket for a while is not a deadlock:
     * I/O may still wake it. (A deadlock would exit the process.) */
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0);
    goc_conn_set_read_deadline(c, goc_nanotime() + 50 * 1000000);
    char buf[4];
    CHECK_EQ_INT(goc_conn_read(c, buf, sizeof buf), -ETIMEDOUT);
    goc_conn_close(c);
    server_stop(&s);
}

/* ---- timers while the poller blocks ---------------------------------------------- */

static _Atomic int64_t sleeps_done;
static _Atomic bool sleeps_over;

/* Fails the process if the sleeper makes no progress for 3 s: a lost timer
 * wake-up would otherwise hang the test until meson's timeout. */
static void *sleep_watchdog(void *arg)
{
    (void)arg;
    int64_t last = -1, stalled_ms = 0;
    while (!atomic_load(&sleeps_over)) {
        usleep(10 * 1000);
        int64_t now = atomic_load(&sleeps_done);
        stalled_ms = now == last ? stalled_ms + 10 : 0;
        last = now;
        if (stalled_ms >= 3000) {
            fprintf(stderr, "FAIL: sleep %lld of a 100 us sleep loop has not returned "
                            "for 3 s (a lost timer wake-up)\n", (long long)now + 1);
            _exit(1);
        }
    }
    return NULL;
}

static void nothing(void *arg)
{
    (void)arg;
}

static void test_sleep_wakes_while_poller_blocks(void)
{
    /* The server's shape: a goroutine blocked in accept (so an idle M
     * blocks in the poller with no deadline), and one goroutine that sleeps
     * 100 us at a time while short-lived goroutines come and go (so two Ms
     * look for work at once). Each sleep must end: a timer added just
     * before another M began to poll, or a wake-up sent just before the
     * poller blocked, must not be lost. */
    server s = {0};
    CHECK_EQ_INT(server_start(&s), 0);
    atomic_store(&sleeps_done, 0);
    atomic_store(&sleeps_over, false);
    pthread_t wd;
    CHECK_EQ_INT(pthread_create(&wd, NULL, sleep_watchdog, NULL), 0);
    int n = TEST_SCALE(5000);
    for (int i = 0; i < n; i++) {
        goc_go(nothing, NULL, 0);
        goc_sleep(100 * 1000);
        atomic_fetch_add(&sleeps_done, 1);
    }
    atomic_store(&sleeps_over, true);
    pthread_join(wd, NULL);
    CHECK_EQ_INT(atomic_load(&sleeps_done), n);
    server_stop(&s);
}

/* The first network call installs the poller's hooks; an M may be asleep
 * on the futex poller by then, until a timer set before (here a ticker of
 * 12 hours). Breaks must still reach it: before the fix the deadlines
 * below fired only with the ticker, and the child hung about one run in
 * three. Each run is a fresh process (the hooks are installed once). */
static void ticker_forever(void *arg)
{
    goc_ticker *tk = goc_ticker_new(12LL * 3600 * GOC_SECOND);
    goc_chan *never = goc_chan_make(0, 0);
    goc_select_case cases[2] = {
        {.c = goc_ticker_chan(tk), .dir = GOC_SELECT_RECV},
        {.c = never, .dir = GOC_SELECT_RECV},
    };
    (void)arg;
    while (goc_select(cases, 2, true) == 0)
        ;
}

static void child_timer_before_network(void)
{
    alarm(10); /* a lost wake-up hangs: SIGALRM ends the child */
    goc_go(ticker_forever, NULL, 0);
    for (int i = 0; i < 3; i++) {
        server s = {0};
        CHECK_EQ_INT(server_start(&s), 0);
        goc_conn *c;
        CHECK_EQ_INT(goc_dial_tcp(s.addr, GOC_SECOND, &c), 0);
        int64_t t0 = goc_nanotime();
        goc_conn_set_read_deadline(c, t0 + 200 * GOC_MILLISECOND);
        char b;
        CHECK_EQ_INT(goc_conn_read(c, &b, 1), -ETIMEDOUT);
        int64_t took = goc_nanotime() - t0;
        CHECK_MSG(took < 3 * GOC_SECOND, "a 200 ms deadline fired after %lld ms",
                  (long long)(took / GOC_MILLISECOND));
        goc_conn_close(c);
        server_stop(&s);
    }
}

static void test_timer_set_before_the_network(void)
{
    static test_child r;
    for (int run = 0; run < 6; run++) {
        goc_syscall_enter_block(); /* waitpid: not a hog */
        int rc = test_run_child("child_timer_before_network", NULL, &r);
        goc_syscall_exit();
        CHECK_EQ_INT(rc, 0);
        CHECK_MSG(r.exited && r.status == 0, "run %d: %s %d: %s", run,
                  r.exited ? "exit" : "signal", r.status, r.out);
    }
}

static const test_case cases[] = {
    TEST_CASE(test_echo_roundtrip),
    TEST_CASE(test_large_transfer_both_ways),
    TEST_CASE(test_many_connections),
    TEST_CASE(test_half_close),
    TEST_CASE(test_wait_read),
    TEST_CASE(test_read_deadline),
    TEST_CASE(test_deadlines_set_concurrently),
    TEST_CASE(test_replaced_deadline_is_stale),
    TEST_CASE(test_cancel_wakes_reader),
    TEST_CASE(test_context_cancels_io),
    TEST_CASE(test_close_wakes_reader),
    TEST_CASE(test_dial_errors),
    TEST_CASE(test_listen_address_in_use),
    TEST_CASE(test_ipv6_loopback),
    TEST_CASE(test_signal_wait),
    TEST_CASE(test_idle_io_is_not_deadlock),
    TEST_CASE(test_sleep_wakes_while_poller_blocks),
    TEST_CASE(test_timer_set_before_the_network),
    TEST_CASE(child_timer_before_network),
    {0},
};

GOC_MAIN(argc, argv)
{
    return test_main(argc, argv, cases);
}

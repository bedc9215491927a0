/* time_test.c: timers and tickers as channels (time.NewTimer, After,
 * NewTicker), in select, with Stop/Reset and no stale values. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "sync_helpers.h"

static void test_timer_fires_once(void)
{
    int64_t t0 = goc_nanotime();
    goc_timer *t = goc_timer_new(3 * MS);
    int64_t when = 0;
    CHECK(goc_chan_recv(goc_timer_chan(t), &when));
    CHECK(when - t0 >= 3 * MS);
    CHECK(goc_nanotime() - t0 >= 3 * MS);
    goc_sleep(5 * MS);
    CHECK_EQ_INT(goc_chan_len(goc_timer_chan(t)), 0); /* only once */
    CHECK(!goc_timer_stop(t));                         /* expired and received */
    goc_timer_free(t);
}

static void test_after_in_select(void)
{
    goc_chan *never = goc_chan_make(8, 0);
    goc_timer *t = goc_after(2 * MS);
    int64_t v, when;
    goc_select_case cs[2] = {{never, GOC_SELECT_RECV, &v, false},
                             {goc_timer_chan(t), GOC_SELECT_RECV, &when, false}};
    CHECK_EQ_INT(goc_select(cs, 2, true), 1);
    goc_timer_free(t);
    goc_chan_free(never);
}

static void test_timer_stop_and_reset(void)
{
    goc_timer *t = goc_timer_new(2 * MS);
    CHECK(goc_timer_stop(t)); /* stopped before firing */
    goc_sleep(5 * MS);
    CHECK_EQ_INT(goc_chan_len(goc_timer_chan(t)), 0);
    CHECK(!goc_timer_stop(t));
    CHECK(!goc_timer_reset(t, 1 * MS)); /* was inactive */
    int64_t when;
    CHECK(goc_chan_recv(goc_timer_chan(t), &when));
    /* Fired but not received: Stop drops the value (no stale read). */
    CHECK(!goc_timer_reset(t, 1 * MS));
    goc_sleep(4 * MS);
    CHECK_EQ_INT(goc_chan_len(goc_timer_chan(t)), 1);
    CHECK(goc_timer_stop(t));
    CHECK_EQ_INT(goc_chan_len(goc_timer_chan(t)), 0);
    /* Reset while pending: fires once, at the new time. */
    int64_t t0 = goc_nanotime();
    goc_timer_reset(t, 50 * MS);
    CHECK(goc_timer_reset(t, 2 * MS));
    CHECK(goc_chan_recv(goc_timer_chan(t), &when));
    CHECK(goc_nanotime() - t0 < 45 * MS);
    goc_timer_free(t);
}

static void test_ticker(void)
{
    goc_ticker *tk = goc_ticker_new(2 * MS);
    int64_t prev = 0, when;
    for (int i = 0; i < 5; i++) {
        CHECK(goc_chan_recv(goc_ticker_chan(tk), &when));
        CHECK(when > prev);
        prev = when;
    }
    /* A slow receiver: ticks are dropped, never queued beyond one. */
    goc_sleep(10 * MS);
    CHECK_EQ_INT(goc_chan_len(goc_ticker_chan(tk)), 1);
    goc_ticker_stop(tk);
    CHECK_EQ_INT(goc_chan_len(goc_ticker_chan(tk)), 0);
    goc_sleep(5 * MS);
    CHECK_EQ_INT(goc_chan_len(goc_ticker_chan(tk)), 0);
    goc_ticker_reset(tk, 1 * MS);
    CHECK(goc_chan_recv(goc_ticker_chan(tk), &when));
    goc_ticker_free(tk);
}

static void bad_ticker(void *p)
{
    (void)p;
    goc_ticker_new(0);
}

static void test_ticker_nonpositive_panics(void)
{
    CHECK_EQ_STR(catch_panic(bad_ticker, NULL), "non-positive interval for NewTicker");
}

static void test_free_while_pending(void)
{
    /* Freed timers never fire into freed memory (ASan checks). */
    for (int i = 0; i < TEST_SCALE(2000); i++) {
        goc_timer *t = goc_timer_new((i % 3) * US);
        if (i % 2)
            goc_yield();
        goc_timer_free(t);
    }
    goc_sleep(2 * MS);
}

static const test_case cases[] = {
    TEST_CASE(test_timer_fires_once),
    TEST_CASE(test_after_in_select),
    TEST_CASE(test_timer_stop_and_reset),
    TEST_CASE(test_ticker),
    TEST_CASE(test_ticker_nonpositive_panics),
    TEST_CASE(test_free_while_pending),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

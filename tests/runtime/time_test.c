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


/* ---- Stop and Reset racing with the firing (Go 1.23 semantics) ------------------ */

/* Receives one value from c, or gives up after 10 s (a hang made visible,
 * as Go's tests guard their receives with a deadline timer). */
static bool recv_guarded(goc_chan *c)
{
    goc_timer *guard = goc_after(10 * GOC_SECOND);
    int64_t v;
    goc_select_case cs[2] = {{c, GOC_SELECT_RECV, &v, false},
                             {goc_timer_chan(guard), GOC_SELECT_RECV, &v, false}};
    int i = goc_select(cs, 2, true);
    goc_timer_free(guard);
    return i == 0;
}

static void spin_until(int64_t t)
{
    while (goc_nanotime() < t) {
    }
}

#define RACE_RING 64

/* One goroutine on P 0 arms short timers and stops or resets them at
 * random moments while the other P's M fires them: nobody receives, so by
 * Go 1.23's rule every Stop and Reset must answer true, and no value may
 * arrive after it; a false answer must at least be matched by exactly one
 * value (Go's `if !t.Stop() { <-t.C }` idiom), never by none (a hang). */
static void child_timer_stop_reset_race(void)
{
    CHECK_EQ_INT(goc_procs(), 2);
    int n = TEST_SCALE(100000);
    goc_timer *ring[RACE_RING] = {0};
    int nfalse = 0, nstop = 0, nreset = 0;
    for (int i = 0; i < n; i++) {
        goc_timer *t = goc_timer_new((int64_t)goc__fastrandn(61) * US);
        spin_until(goc_nanotime() + (int64_t)goc__fastrandn(61) * US);
        if (goc__fastrandn(2) == 0) {
            nstop++;
            if (!goc_timer_stop(t)) {
                nfalse++;
                CHECK_MSG(recv_guarded(goc_timer_chan(t)),
                          "iteration %d: Stop returned false and no value ever arrived", i);
            }
        } else {
            nreset++;
            if (!goc_timer_reset(t, (int64_t)goc__fastrandn(61) * US))
                nfalse++;
            CHECK_MSG(recv_guarded(goc_timer_chan(t)), "iteration %d: reset timer never fired",
                      i);
            CHECK_MSG(!goc_timer_stop(t), "iteration %d: Stop after the receive returned true", i);
        }
        /* Checked a while later: nothing arrives after Stop or the receive. */
        goc_timer *old = ring[i % RACE_RING];
        ring[i % RACE_RING] = t;
        if (old) {
            CHECK_MSG(goc_chan_len(goc_timer_chan(old)) == 0,
                      "a value arrived after Stop returned true (iteration %d)", i - RACE_RING);
            goc_timer_free(old);
        }
    }
    for (int i = 0; i < RACE_RING; i++)
        if (ring[i]) {
            CHECK_EQ_INT(goc_chan_len(goc_timer_chan(ring[i])), 0);
            goc_timer_free(ring[i]);
        }
    CHECK_MSG(nfalse == 0, "%d of %d Stops and %d Resets answered false with nobody receiving",
              nfalse, nstop, nreset);
    printf("# %d stops, %d resets, all true\n", nstop, nreset);
}

static void test_timer_stop_reset_race(void)
{
    static const char *env[] = {"GOMAXPROCS=2", NULL};
    test_child c;
    CHECK(test_run_child("child_timer_stop_reset_race", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "child: %s", c.out);
}

/* Go's TestTimerModifiedEarlier (issue 47329): a timer moved into the past
 * ten times in a row, with the Stop-and-drain idiom between, still fires,
 * and quickly. */
static void test_timer_modified_earlier(void)
{
    int64_t past = -goc_nanotime(); /* Go: Until(Unix(0, 0)) */
    int fail = 0;
    for (int i = 0; i < TEST_SCALE(1000); i++) {
        goc_timer *timer = goc_timer_new(3600 * GOC_SECOND);
        for (int j = 0; j < 10; j++) {
            if (!goc_timer_stop(timer))
                CHECK_MSG(recv_guarded(goc_timer_chan(timer)),
                          "Stop returned false and no value came (i=%d j=%d)", i, j);
            goc_timer_reset(timer, past);
        }
        int64_t now = goc_nanotime();
        if (!recv_guarded(goc_timer_chan(timer)))
            fail++;
        else if (goc_nanotime() - now > 8 * GOC_SECOND)
            fail++;
        goc_timer_free(timer);
    }
    CHECK_EQ_INT(fail, 0);
}

/* ---- durations that overflow the clock ------------------------------------------ */

static _Atomic int big_sleep_returned;

static void big_sleeper(void *p)
{
    (void)p;
    goc_sleep(INT64_MAX);
    atomic_store(&big_sleep_returned, 1);
}

/* Go's TestOverflowSleep: a sleep or timer so long that now + d overflows
 * never ends (nor disturbs other timers); the most negative one fires at
 * once. */
static void test_overflow_sleep(void)
{
    goc_go(big_sleeper, NULL, 0);
    goc_timer *big = goc_after(INT64_MAX), *ok = goc_after(25 * MS);
    int64_t v;
    goc_select_case cs[2] = {{goc_timer_chan(big), GOC_SELECT_RECV, &v, false},
                             {goc_timer_chan(ok), GOC_SELECT_RECV, &v, false}};
    CHECK_MSG(goc_select(cs, 2, true) == 1, "big timeout fired");
    CHECK_MSG(!atomic_load(&big_sleep_returned), "big sleep returned");
    goc_timer_free(big);
    goc_timer_free(ok);

    goc_sleep(INT64_MIN); /* returns at once */
    goc_timer *neg = goc_after(INT64_MIN), *late = goc_after(GOC_SECOND);
    cs[0].c = goc_timer_chan(neg);
    cs[1].c = goc_timer_chan(late);
    CHECK_MSG(goc_select(cs, 2, true) == 0, "negative timeout didn't fire");
    goc_timer_free(neg);
    goc_timer_free(late);
}

/* Go's TestOverflowPeriodRuntimeTimer, through the API: a ticker whose
 * period overflows the clock never ticks, and a Reset of a timer to such a
 * duration keeps it from firing; other timers still fire meanwhile. */
static void test_overflow_period(void)
{
    goc_ticker *tk = goc_ticker_new(INT64_MAX);
    goc_timer *t = goc_timer_new(1 * MS);
    CHECK(goc_timer_reset(t, INT64_MAX - 1));
    goc_timer *ok = goc_timer_new(20 * MS);
    int64_t v;
    CHECK(goc_chan_recv(goc_timer_chan(ok), &v));
    CHECK_EQ_INT(goc_chan_len(goc_ticker_chan(tk)), 0);
    CHECK_EQ_INT(goc_chan_len(goc_timer_chan(t)), 0);
    CHECK(goc_timer_stop(t));
    goc_ticker_free(tk);
    goc_timer_free(t);
    goc_timer_free(ok);
}

static const test_case cases[] = {
    TEST_CASE(test_timer_fires_once),
    TEST_CASE(test_after_in_select),
    TEST_CASE(test_timer_stop_and_reset),
    TEST_CASE(test_ticker),
    TEST_CASE(test_ticker_nonpositive_panics),
    TEST_CASE(test_free_while_pending),
    TEST_CASE(test_timer_stop_reset_race),
    TEST_CASE(test_timer_modified_earlier),
    TEST_CASE(test_overflow_sleep),
    TEST_CASE(test_overflow_period),
    TEST_CASE(child_timer_stop_reset_race),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

/* time_test.c: timers and tickers as channels (time.NewTimer, After,
 * NewTicker, Tick), in select, with Stop/Reset and no stale values;
 * AfterFunc; durations that overflow. Go's own tests of package time
 * (sleep_test.go, tick_test.go) are ported where they apply, under their
 * Go names. */
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

/* ---- AfterFunc ------------------------------------------------------------------- */

/* Go's TestAfterFunc: each call schedules the next with AfterFunc(0) and
 * then sleeps; the eleventh signals. The timers are kept to be freed. */
typedef struct chain {
    _Atomic int i;
    _Atomic int ntimers; /* slots taken in timers */
    _Atomic int nstored; /* slots filled (the next step may run first) */
    goc_timer *_Atomic timers[16];
    goc_chan *c;
} chain;

static void chain_step(void *p)
{
    chain *ch = p;
    int i = atomic_fetch_sub(&ch->i, 1) - 1;
    if (i >= 0) {
        int slot = atomic_fetch_add(&ch->ntimers, 1);
        atomic_store(&ch->timers[slot], goc_after_func(0, chain_step, ch));
        atomic_fetch_add(&ch->nstored, 1);
        goc_sleep(GOC_SECOND);
    } else {
        bool v = true;
        goc_chan_send(ch->c, &v);
    }
}

static void test_after_func(void)
{
    static chain ch; /* the sleepers outlive the test by a second */
    atomic_store(&ch.i, 10);
    ch.c = goc_chan_make(sizeof(bool), 0);
    atomic_store(&ch.ntimers, 1);
    atomic_store(&ch.timers[0], goc_after_func(0, chain_step, &ch));
    atomic_fetch_add(&ch.nstored, 1); /* step 1 may have counted already */
    bool v;
    CHECK(goc_chan_recv(ch.c, &v));
    CHECK(WAIT_UNTIL(atomic_load(&ch.nstored) == 11)); /* the tenth step may still be storing */
    CHECK_EQ_INT(atomic_load(&ch.ntimers), 11);
    for (int i = 0; i < 11; i++) {
        CHECK(goc_timer_chan(ch.timers[i]) == NULL);
        CHECK(!goc_timer_stop(ch.timers[i])); /* each has started its function */
        goc_timer_free(ch.timers[i]);
    }
}

static void noop(void *p) { (void)p; }

static void send_true(void *p)
{
    bool v = true;
    goc_chan_send(p, &v);
}

/* Go's TestAfterStop: timers stopped before they run never run, and a
 * second Stop answers false; five tries before a failure counts. */
static const char *after_stop_try(void)
{
    const char *err = NULL;
    goc_timer *other = goc_after_func(100 * MS, noop, NULL);
    goc_timer *t0 = goc_timer_new(50 * MS);
    goc_chan *c1 = goc_chan_make(sizeof(bool), 1);
    goc_timer *t1 = goc_after_func(150 * MS, send_true, c1);
    goc_timer *c2 = goc_after(200 * MS);
    if (!goc_timer_stop(t0)) {
        err = "failed to stop event 0";
    } else if (!goc_timer_stop(t1)) {
        err = "failed to stop event 1";
    } else {
        int64_t v;
        goc_chan_recv(goc_timer_chan(c2), &v);
        if (goc_chan_len(goc_timer_chan(t0)) != 0)
            err = "event 0 was not stopped";
        else if (goc_chan_len(c1) != 0)
            err = "event 1 was not stopped";
        else if (goc_timer_stop(t1))
            err = "Stop returned true twice";
    }
    goc_timer *all[] = {other, t0, t1, c2};
    for (int i = 0; i < 4; i++)
        goc_timer_free(all[i]);
    goc_sleep(200 * MS - 150 * MS); /* t1 would have run by now */
    goc_chan_free(c1);
    return err;
}

static void test_after_stop(void)
{
    const char *err = NULL;
    for (int i = 0; i < 5; i++)
        if ((err = after_stop_try()) == NULL)
            return;
    CHECK_MSG(false, "five tries failed, the last with: %s", err);
}

/* Go's TestTimerStopStress: 100 goroutines arm an AfterFunc of 2 s, sleep
 * 1 s and stop it: none may run. */
static _Atomic int stop_stress_fired;

static void stop_stress_fail(void *p)
{
    (void)p;
    atomic_fetch_add(&stop_stress_fired, 1);
}

static void stop_stress_one(void *p)
{
    (void)p;
    goc_timer *t = goc_after_func(2 * GOC_SECOND, stop_stress_fail, NULL);
    goc_sleep(GOC_SECOND);
    goc_timer_stop(t);
    goc_timer_free(t);
}

static void test_timer_stop_stress(void)
{
    for (int i = 0; i < 100; i++)
        goc_go(stop_stress_one, NULL, 0);
    goc_sleep(3 * GOC_SECOND);
    CHECK_EQ_INT(atomic_load(&stop_stress_fired), 0);
}

/* Reset and Stop of an AfterFunc timer, by Go 1.23's rule: true while the
 * function has not started; a Reset after it ran starts it once more. */
static void count_run(void *p) { atomic_fetch_add((_Atomic int *)p, 1); }

static void test_after_func_reset(void)
{
    _Atomic int runs = 0;
    goc_timer *t = goc_after_func(GOC_SECOND, count_run, &runs);
    CHECK(goc_timer_reset(t, 1 * MS)); /* moved earlier, still to run */
    CHECK(WAIT_UNTIL(atomic_load(&runs) == 1));
    CHECK(!goc_timer_stop(t));
    CHECK(!goc_timer_reset(t, 1 * MS)); /* had run: inactive */
    CHECK(WAIT_UNTIL(atomic_load(&runs) == 2));
    CHECK(!goc_timer_reset(t, GOC_SECOND));
    CHECK(goc_timer_stop(t));
    CHECK(!goc_timer_stop(t));
    goc_sleep(5 * MS);
    CHECK_EQ_INT(atomic_load(&runs), 2);
    goc_timer_free(t);
}

static void bad_after_func(void *p)
{
    (void)p;
    goc_after_func(0, NULL, NULL);
}

static void test_after_func_nil_panics(void)
{
    CHECK_EQ_STR(catch_panic(bad_after_func, NULL), "time: AfterFunc with a nil function");
}

/* The Stop race of test_timer_stop_reset_race for AfterFunc: with two Ps,
 * a Stop answering true means the function never runs, false that it ran
 * (or will) exactly once. */
#define AF_N 20000

static _Atomic uint8_t af_runs[AF_N];

static void af_mark(void *p) { atomic_fetch_add(&af_runs[(uintptr_t)p], 1); }

static void child_after_func_stop_race(void)
{
    CHECK_EQ_INT(goc_procs(), 2);
    int n = TEST_SCALE(AF_N);
    static bool stopped[AF_N];
    for (int i = 0; i < n; i++) {
        goc_timer *t = goc_after_func((int64_t)goc__fastrandn(61) * US, af_mark, (void *)(uintptr_t)i);
        spin_until(goc_nanotime() + (int64_t)goc__fastrandn(61) * US);
        stopped[i] = goc_timer_stop(t);
        goc_timer_free(t);
    }
    int nstopped = 0;
    for (int i = 0; i < n; i++) {
        if (stopped[i]) {
            nstopped++;
            continue;
        }
        CHECK_MSG(WAIT_UNTIL(atomic_load(&af_runs[i]) != 0), "timer %d: Stop false, fn never ran",
                  i);
    }
    goc_sleep(10 * MS); /* a run that Stop failed to prevent would show by now */
    for (int i = 0; i < n; i++)
        CHECK_MSG(atomic_load(&af_runs[i]) == (stopped[i] ? 0 : 1), "timer %d: stopped %d, ran %d",
                  i, stopped[i], atomic_load(&af_runs[i]));
    printf("# %d of %d stopped before they ran\n", nstopped, n);
}

static void test_after_func_stop_race(void)
{
    static const char *env[] = {"GOMAXPROCS=2", NULL};
    test_child c;
    CHECK(test_run_child("child_after_func_stop_race", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "child: %s", c.out);
}

/* ---- more of Go's sleep_test.go and tick_test.go ---------------------------------- */

/* Go's TestAfterStress: a ticker of 1 ns delivers 100 ticks while another
 * goroutine keeps sleeping 1 ns. */
typedef struct stress_flags {
    _Atomic int stop; /* set by the test */
    _Atomic int done; /* set by the sleeper on its way out */
} stress_flags;

static void sleeper_1ns(void *p)
{
    stress_flags *f = *(stress_flags **)p;
    while (!atomic_load(&f->stop))
        goc_sleep(1);
    atomic_store(&f->done, 1);
}

static void test_after_stress(void)
{
    stress_flags f = {0, 0};
    stress_flags *fp = &f;
    goc_go(sleeper_1ns, &fp, sizeof fp);
    goc_ticker *tk = goc_ticker_new(1);
    int64_t v;
    for (int i = 0; i < 100; i++)
        CHECK(goc_chan_recv(goc_ticker_chan(tk), &v));
    goc_ticker_free(tk);
    atomic_store(&f.stop, 1);
    CHECK(WAIT_UNTIL(atomic_load(&f.done)));
}

/* Go's TestAfterQueuing: After channels deliver in the order of their
 * durations, each within [d - delta/2, d + 10 delta]; five tries with a
 * growing delta before a failure counts. */
static const int slots[] = {5, 3, 6, 6, 6, 1, 1, 2, 7, 9, 4, 8, 0};
#define NSLOTS ((int)(sizeof slots / sizeof *slots))

typedef struct after_result {
    int slot;
    int64_t t;
} after_result;

typedef struct await_arg {
    int slot;
    goc_timer *t;
    goc_chan *result;
} await_arg;

static void await_after(void *p)
{
    await_arg *a = p;
    after_result r = {a->slot, 0};
    goc_chan_recv(goc_timer_chan(a->t), &r.t);
    goc_chan_send(a->result, &r);
}

static const char *after_queuing(int64_t delta, char *msg, size_t len)
{
    goc_chan *result = goc_chan_make(sizeof(after_result), NSLOTS);
    goc_timer *timers[NSLOTS];
    int64_t t0 = goc_nanotime();
    for (int i = 0; i < NSLOTS; i++) {
        timers[i] = goc_after(slots[i] * delta);
        await_arg a = {slots[i], timers[i], result};
        goc_go_copy(await_after, &a);
    }
    after_result got[NSLOTS];
    for (int i = 0; i < NSLOTS; i++)
        goc_chan_recv(result, &got[i]);
    const char *err = NULL;
    for (int i = 1; i < NSLOTS && !err; i++)
        if (got[i].slot < got[i - 1].slot) {
            snprintf(msg, len, "After calls returned out of order at %d", i);
            err = msg;
        }
    for (int i = 0; i < NSLOTS && !err; i++) {
        int64_t dt = got[i].t - t0, target = got[i].slot * delta;
        if (dt < target - delta / 2 || dt > target + delta * 10) {
            snprintf(msg, len, "After(%lld) arrived at %lld", (long long)target, (long long)dt);
            err = msg;
        }
    }
    for (int i = 0; i < NSLOTS; i++)
        goc_timer_free(timers[i]);
    goc_chan_free(result);
    return err;
}

static void test_after_queuing(void)
{
    char msg[128];
    const char *err = "!=nil";
    for (int i = 0; i < 5 && err; i++)
        err = after_queuing((20 + i * 50) * MS, msg, sizeof msg);
    CHECK_MSG(err == NULL, "%s", err);
}

/* Go's TestReset, with its growing units. */
static const char *try_reset(int64_t d)
{
    const char *err = NULL;
    goc_timer *t0 = goc_timer_new(2 * d);
    goc_sleep(d);
    if (!goc_timer_reset(t0, 3 * d))
        err = "resetting unfired timer returned false";
    goc_sleep(2 * d);
    if (!err && goc_chan_len(goc_timer_chan(t0)) != 0)
        err = "timer fired early";
    goc_sleep(2 * d);
    int64_t v;
    if (!err && !goc_chan_try_recv(goc_timer_chan(t0), &v, NULL))
        err = "reset timer did not fire";
    if (!err && goc_timer_reset(t0, 50 * MS))
        err = "resetting expired timer returned true";
    goc_timer_free(t0);
    return err;
}

static void test_reset(void)
{
    static const int64_t tries[] = {1, 3, 7, 15};
    const char *err = NULL;
    for (int i = 0; i < 4; i++)
        if ((err = try_reset(tries[i] * 25 * MS)) == NULL)
            return;
    CHECK_MSG(false, "%s", err);
}

/* Go's TestAdjustTimers (issue 47762): timers moved earlier and later at
 * random, stopped and drained, are never lost. */
static void test_adjust_timers(void)
{
    enum { N = 100 };
    goc_timer *timers[N] = {0};
    int states[N] = {0}, indices[N], left = N;
    for (int i = 0; i < N; i++)
        indices[i] = i;
    int64_t v;
    while (left != 0) {
        int ii = (int)goc__fastrandn((uint32_t)left), i = indices[ii];
        goc_timer *timer = timers[i];
        switch (states[i]++) {
        case 0:
            timers[i] = goc_timer_new(0);
            break;
        case 1:
            CHECK(goc_chan_recv(goc_timer_chan(timer), &v)); /* now idle */
            break;
        case 2:
        case 4:
        case 6:
            CHECK_MSG(!goc_timer_reset(timer, (int64_t)(states[i] / 2) * 60 * GOC_SECOND),
                      "timer %d state %d: shouldn't be active", i, states[i] - 1);
            break;
        case 3:
        case 5:
        case 7:
            if (!goc_timer_stop(timer))
                CHECK(goc_chan_recv(goc_timer_chan(timer), &v));
            break;
        case 8:
            CHECK_MSG(!goc_timer_reset(timer, 0), "timer.Reset returned true");
            break;
        case 9: {
            int64_t now = goc_nanotime();
            CHECK(goc_chan_recv(goc_timer_chan(timer), &v));
            CHECK_MSG(goc_nanotime() - now <= 750 * MS, "timer %d took %lld ns", i,
                      (long long)(goc_nanotime() - now));
            break;
        }
        case 10:
            goc_timer_free(timer);
            indices[ii] = indices[--left];
            break;
        }
    }
}

/* Go's TestZeroTimer (issue 44868): zero-duration timers are never
 * missed; each arrives within 2 s. */
static void test_zero_timer(void)
{
    int64_t v;
    for (int i = 0; i < TEST_SCALE(100000); i++) {
        int64_t s = goc_nanotime();
        goc_timer *t = goc_timer_new(0);
        CHECK(goc_chan_recv(goc_timer_chan(t), &v));
        CHECK_MSG(goc_nanotime() - s <= 2 * GOC_SECOND, "took %lld ns",
                  (long long)(goc_nanotime() - s));
        goc_timer_free(t);
    }
}

/* Go's TestTick and TestTeardown: Tick of a non-positive period is the nil
 * channel; a ticker torn down after one tick is gone for good. */
static void test_tick(void)
{
    CHECK(goc_tick(-1) == NULL);
    CHECK(goc_tick(0) == NULL);
    goc_chan *c = goc_tick(1 * MS);
    int64_t prev = 0, v;
    for (int i = 0; i < 3; i++) {
        CHECK(goc_chan_recv(c, &v));
        CHECK(v > prev);
        prev = v;
    }
    for (int i = 0; i < 3; i++) {
        goc_ticker *tk = goc_ticker_new(20 * MS);
        CHECK(goc_chan_recv(goc_ticker_chan(tk), &v));
        goc_ticker_stop(tk);
        goc_ticker_free(tk);
    }
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
    TEST_CASE(test_after_func),
    TEST_CASE(test_after_stop),
    TEST_CASE(test_timer_stop_stress),
    TEST_CASE(test_after_func_reset),
    TEST_CASE(test_after_func_nil_panics),
    TEST_CASE(test_after_func_stop_race),
    TEST_CASE(test_after_stress),
    TEST_CASE(test_after_queuing),
    TEST_CASE(test_reset),
    TEST_CASE(test_adjust_timers),
    TEST_CASE(test_zero_timer),
    TEST_CASE(test_tick),
    TEST_CASE(child_after_func_stop_race),
    TEST_CASE(child_timer_stop_reset_race),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

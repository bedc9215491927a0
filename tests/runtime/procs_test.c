/* procs_test.c: changing the number of Ps while running (goc_gomaxprocs,
 * Go's runtime.GOMAXPROCS) and the stop-the-world it needs: the count read
 * back, Ps that run in parallel afterwards (Go's TestGoroutineParallelism),
 * goroutines, timers and blocking calls that survive a shrink, a caller
 * whose own P goes away, and resizes racing with spawns, sleeps, channel
 * traffic and blocking calls (Go's TestStopTheWorldDeadlock, with the
 * resizes changing the count each time). Every case restores the count. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/chan.h>
#include <goc/sched.h>
#include <goc/sync.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime.h"

#define MS (INT64_C(1000000))

/* ---- the count --------------------------------------------------------------- */

static void *from_thread(void *p)
{
    *(int *)p = goc_gomaxprocs(2);
    return NULL;
}

static void test_gomaxprocs_reads_and_sets(void)
{
    int orig = goc_procs();
    CHECK_EQ_INT(goc_gomaxprocs(0), orig); /* n < 1 only reads */
    CHECK_EQ_INT(goc_gomaxprocs(-1), orig);
    CHECK_EQ_INT(goc_gomaxprocs(3), orig);
    CHECK_EQ_INT(goc_procs(), 3);
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    CHECK_EQ_INT(st.procs, 3);
    CHECK_EQ_INT(goc_sched_runq_len(2), 0);
    CHECK_EQ_INT(goc_gomaxprocs(1), 3);
    CHECK_EQ_INT(goc_sched_runq_len(2), -1);
    CHECK_EQ_INT(goc_gomaxprocs(1), 1); /* no change: no stop */
    CHECK_EQ_INT(goc_gomaxprocs(GOC_MAX_PROCS + 5), 1);
    CHECK_EQ_INT(goc_procs(), GOC_MAX_PROCS); /* clamped, as Go's */
    CHECK_EQ_INT(goc_gomaxprocs(orig), GOC_MAX_PROCS);
    int rc = 0;
    pthread_t th;
    pthread_create(&th, NULL, from_thread, &rc);
    pthread_join(th, NULL);
    CHECK_EQ_INT(rc, -EPERM); /* not a goroutine */
    CHECK_EQ_INT(goc_procs(), orig);
}

/* ---- parallelism after growing ----------------------------------------------- */

typedef struct par_arg {
    _Atomic uint32_t *x;
    int p, nprocs;
    goc_waitgroup *wg;
} par_arg;

static void take_turns(void *q)
{
    par_arg *a = q;
    for (int i = 0; i < 3; i++) {
        uint32_t expected = (uint32_t)(a->nprocs * i + a->p);
        while (atomic_load(a->x) != expected) {
        }
        atomic_store(a->x, expected + 1);
    }
    goc_waitgroup_done(a->wg);
}

/* Go's TestGoroutineParallelism: P goroutines that spin, each waiting for
 * its turn, finish only if all P of them run at the same time. */
static void test_goroutine_parallelism(void)
{
    enum { P = 4 };
    int orig = goc_gomaxprocs(P);
    for (int attempt = 0; attempt < TEST_SCALE(10); attempt++) {
        _Atomic uint32_t x = 0;
        goc_waitgroup wg = GOC_WAITGROUP_INIT;
        goc_waitgroup_add(&wg, P);
        for (int p = 0; p < P; p++) {
            par_arg a = {&x, p, P, &wg};
            goc_go_copy(take_turns, &a);
        }
        goc_waitgroup_wait(&wg);
    }
    goc_gomaxprocs(orig);
}

/* ---- shrinking ------------------------------------------------------------------ */

typedef struct sleeper_arg {
    int64_t d;
    _Atomic int *woke;
    goc_waitgroup *wg;
} sleeper_arg;

static void sleeper(void *p)
{
    sleeper_arg *a = p;
    goc_sleep(a->d);
    atomic_fetch_add(a->woke, 1);
    goc_waitgroup_done(a->wg);
}

static int timers_on(int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++) {
        goc_p *p = goc__sched_.allp[i];
        goc__lock_acquire(&p->timerlock);
        n += p->ntimers;
        goc__lock_release(&p->timerlock);
    }
    return n;
}

/* Sleepers spread over 4 Ps, then the count drops to 1: the timers of the
 * retired Ps move to P 0, every sleeper wakes, and the retired Ps are dead
 * and empty. Goroutines still queued move to the global queue and run. */
static void test_shrink_keeps_timers_and_goroutines(void)
{
    int orig = goc_gomaxprocs(4);
    enum { N = 200 };
    _Atomic int woke = 0;
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    goc_waitgroup_add(&wg, N);
    for (int i = 0; i < N; i++) {
        sleeper_arg a = {(50 + i % 50) * MS, &woke, &wg};
        goc_go_copy(sleeper, &a);
        if (i % 8 == 0)
            goc_yield(); /* let the other Ps steal some */
    }
    goc_sleep(5 * MS); /* all asleep, their timers on the Ps that ran them */
    int before = timers_on(1, 4);
    goc_gomaxprocs(1);
    CHECK_EQ_INT(timers_on(1, 4), 0);
    for (int i = 1; i < 4; i++) {
        CHECK_EQ_INT(atomic_load(&goc__sched_.allp[i]->status), GOC_PDEAD);
        CHECK(goc__runq_empty(goc__sched_.allp[i]));
    }
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(atomic_load(&woke), N);
    printf("# %d of %d timers were on the retired Ps\n", before, N);
    goc_gomaxprocs(orig);
}

/* The caller's own P goes away: it carries on on P 0. */
typedef struct mover {
    _Atomic int *claimed;
    _Atomic int *result; /* 1: resized from a P other than 0 and landed on P 0 */
    goc_waitgroup *wg;
} mover;

static void resize_from_far_p(void *q)
{
    mover *a = q;
    int64_t t0 = goc_nanotime();
    while (goc__getp()->id == 0 && !atomic_load(a->claimed) && goc_nanotime() - t0 < 5000 * MS)
        goc_yield();
    int zero = 0;
    if (goc__getp()->id != 0 && atomic_compare_exchange_strong(a->claimed, &zero, 1)) {
        int from = goc__getp()->id;
        goc_gomaxprocs(1);
        atomic_store(a->result, from != 0 && goc__getp()->id == 0 && goc_procs() == 1 ? 1 : -1);
    }
    goc_waitgroup_done(a->wg);
}

static void test_caller_p_retired(void)
{
    int orig = goc_gomaxprocs(4);
    _Atomic int claimed = 0, result = 0;
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    enum { N = 8 };
    goc_waitgroup_add(&wg, N);
    mover a = {&claimed, &result, &wg};
    for (int i = 0; i < N; i++)
        goc_go_copy(resize_from_far_p, &a);
    goc_waitgroup_wait(&wg);
    CHECK_MSG(atomic_load(&result) == 1, "result %d", atomic_load(&result));
    goc_gomaxprocs(orig);
}

/* ---- resizes racing with everything else ------------------------------------------ */

typedef struct storm {
    _Atomic int stop;
    _Atomic int64_t spawned, pings, syscalls;
    goc_chan *ping;
    goc_waitgroup wg;
} storm;

/* Go's perpetuumMobile: each goroutine spawns the next until told to stop. */
static void perpetuum(void *p)
{
    storm *s = *(storm **)p;
    if (atomic_load(&s->stop)) {
        goc_waitgroup_done(&s->wg);
        return;
    }
    atomic_fetch_add(&s->spawned, 1);
    goc_go(perpetuum, &s, sizeof s);
}

static void pinger(void *p)
{
    storm *s = *(storm **)p;
    int v = 0;
    while (!atomic_load(&s->stop)) {
        goc_chan_send(s->ping, &v);
        goc_sleep(20000);
    }
    v = -1;
    goc_chan_send(s->ping, &v);
    goc_waitgroup_done(&s->wg);
}

static void ponger(void *p)
{
    storm *s = *(storm **)p;
    int v;
    while (goc_chan_recv(s->ping, &v) && v >= 0)
        atomic_fetch_add(&s->pings, 1);
    goc_waitgroup_done(&s->wg);
}

static void blocker(void *p)
{
    storm *s = *(storm **)p;
    while (!atomic_load(&s->stop)) {
        goc_syscall_enter();
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        goc_syscall_exit();
        atomic_fetch_add(&s->syscalls, 1);
    }
    goc_waitgroup_done(&s->wg);
}

typedef struct resizer_arg {
    storm *s;
    goc_waitgroup *wg;
    int rounds, first;
    _Atomic int *done; /* resizes made by both */
} resizer_arg;

/* Whether every other member of the storm has made some progress. */
static bool storm_moved(storm *s)
{
    return atomic_load(&s->spawned) > 0 && atomic_load(&s->pings) > 0 &&
           atomic_load(&s->syscalls) > 0;
}

/* Resizes rounds times (each waits for the other Ms to be scheduled: on a
 * loaded machine that is the kernel's latency, so at most 10 s of them),
 * and on until the others have moved meanwhile, for at most 60 s. */
static void resizer(void *p)
{
    resizer_arg *a = p;
    int64_t t0 = goc_nanotime();
    for (int i = 0; (i < a->rounds && goc_nanotime() - t0 < 10000 * MS) ||
                    (!storm_moved(a->s) && goc_nanotime() - t0 < 60000 * MS);
         i++) {
        goc_gomaxprocs(1 + (a->first + i) % 3);
        atomic_fetch_add(a->done, 1);
    }
    goc_waitgroup_done(a->wg);
}

static int64_t goroutines(void)
{
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    return st.goroutines;
}

static void test_stop_the_world_storm(void)
{
    int orig = goc_gomaxprocs(3);
    storm st = {0};
    storm *s = &st;
    s->ping = goc_chan_make(sizeof(int), 0);
    goc_waitgroup_add(&s->wg, 4);
    goc_go(perpetuum, &s, sizeof s);
    goc_go(pinger, &s, sizeof s);
    goc_go(ponger, &s, sizeof s);
    goc_go(blocker, &s, sizeof s);
    goc_waitgroup resizers = GOC_WAITGROUP_INIT;
    int rounds = TEST_SCALE(1000) > 20 ? TEST_SCALE(1000) : 20; /* TSan scales 1000 to 10 */
    _Atomic int done = 0;
    for (int r = 0; r < 2; r++) { /* two resizers: their calls take turns */
        resizer_arg a = {s, &resizers, rounds, r, &done};
        goc_waitgroup_add(&resizers, 1);
        goc_go_copy(resizer, &a);
    }
    goc_waitgroup_wait(&resizers);
    CHECK_MSG(atomic_load(&done) >= 2 * 20, "%d resizes", atomic_load(&done));
    CHECK_MSG(storm_moved(s), "in 60 s of resizes: %lld spawns, %lld pings, %lld blocking calls",
              (long long)atomic_load(&s->spawned), (long long)atomic_load(&s->pings),
              (long long)atomic_load(&s->syscalls));
    atomic_store(&s->stop, 1);
    goc_waitgroup_wait(&s->wg);
    printf("# %d resizes; meanwhile %lld spawns, %lld pings, %lld blocking calls\n",
           atomic_load(&done), (long long)atomic_load(&s->spawned),
           (long long)atomic_load(&s->pings), (long long)atomic_load(&s->syscalls));
    goc_chan_free(s->ping);
    goc_gomaxprocs(orig);
    /* every goroutine of the storm ends, and the counts of the Ps, retired
     * ones included, add up to the main goroutine alone */
    int64_t t0 = goc_nanotime();
    while (goroutines() != 1 && goc_nanotime() - t0 < 5000 * MS)
        goc_sleep(1 * MS);
    CHECK_MSG(goroutines() == 1, "%lld goroutines left", (long long)goroutines());
}

static const test_case cases[] = {
    TEST_CASE(test_gomaxprocs_reads_and_sets),
    TEST_CASE(test_goroutine_parallelism),
    TEST_CASE(test_shrink_keeps_timers_and_goroutines),
    TEST_CASE(test_caller_p_retired),
    TEST_CASE(test_stop_the_world_storm),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

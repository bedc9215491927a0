/* prof_test.c: the samples behind the heap, block and mutex profiles
 * (runtime/core/prof.c, runtime/mem/mprof.c and the sampling sites in
 * runtime/sync), read back through goc__prof_each as the profile writers
 * read them. Stacks are checked by name (goc__symbolize): a goroutine
 * allocating in a loop owns the heap samples, with its function as the
 * first frame; its frees bring what is live back to zero; rate 1 samples
 * every allocation, rate 0 none; a wait on a channel, a select, a Mutex,
 * an RWMutex, a Cond and a WaitGroup is recorded in the block profile on
 * the waiter's stack, for about as long as it waited; a contended Mutex
 * and RWMutex charge the waiting to the stack of the Unlock. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "sync_helpers.h"

#include <goc/malloc.h>
#include <goc/profrate.h>

#include "prof.h"
#include "traceback.h"

/* ---- reading the buckets ---------------------------------------------------- */

/* The totals of the buckets whose stack names func (NULL: every bucket). */
typedef struct tally {
    const char *func;   /* the function looked for */
    const char *not;    /* and, if set, a function that must not be on the stack */
    int buckets;        /* buckets counted */
    int first;          /* of which func is the first frame */
    int64_t allocs, alloc_bytes, frees, free_bytes, count, ns;
} tally;

/* The frame of b's stack naming func, or -1. */
static int frame_of(const goc__prof_bucket *b, const char *func)
{
    for (int i = 0; i < b->nstk; i++) {
        goc__symbol s;
        if (goc__symbolize(b->stk[i] - 1, &s) && strcmp(s.func, func) == 0)
            return i;
    }
    return -1;
}

static void tally_one(const goc__prof_bucket *b, void *arg)
{
    tally *t = arg;
    int at = t->func ? frame_of(b, t->func) : 0;
    if (at < 0 || (t->not && frame_of(b, t->not) >= 0))
        return;
    t->buckets++;
    t->first += at == 0;
    t->allocs += b->allocs;
    t->alloc_bytes += b->alloc_bytes;
    t->frees += b->frees;
    t->free_bytes += b->free_bytes;
    t->count += b->count;
    t->ns += b->ns;
}

static tally tally_of(int kind, const char *func, const char *not)
{
    tally t = {.func = func, .not = not};
    goc__prof_each(kind, tally_one, &t);
    return t;
}

/* ---- heap ------------------------------------------------------------------------ */

enum { HOG_N = 20000, HOG_SIZE = 256, HOG_LARGE_EVERY = 100, HOG_LARGE = 40 << 10 };
#define TEST_RATE 4096

typedef struct hog {
    void **objs; /* HOG_N blocks, live until alloc_hog_free */
    goc_chan *done;
} hog;

/* Allocates HOG_N blocks (every HOG_LARGE_EVERY-th a zeroed large one)
 * and keeps them live. */
__attribute__((noinline)) static void alloc_hog(void *arg)
{
    hog *h = *(hog **)arg;
    for (int i = 0; i < HOG_N; i++) {
        h->objs[i] = i % HOG_LARGE_EVERY == 0 ? goc_calloc(1, HOG_LARGE) : goc_malloc(HOG_SIZE);
        if (i % 1000 == 999)
            goc_yield(); /* a good citizen (sysmon notes long runs) */
    }
    int one = 1;
    goc_chan_send(h->done, &one);
}

__attribute__((noinline)) static void alloc_hog_free(void *arg)
{
    hog *h = *(hog **)arg;
    for (int i = 0; i < HOG_N; i++)
        goc_free(h->objs[i]);
    int one = 1;
    goc_chan_send(h->done, &one);
}

/* A little allocation beside the hog. */
__attribute__((noinline)) static void alloc_light(void *arg)
{
    goc_chan *done = *(goc_chan **)arg;
    for (int i = 0; i < HOG_N / 100; i++)
        goc_free(goc_malloc(HOG_SIZE));
    int one = 1;
    goc_chan_send(done, &one);
}

static void run_and_wait(goc_fn fn, void *arg, goc_chan *done)
{
    goc_go(fn, &arg, sizeof arg);
    int v;
    goc_chan_recv(done, &v);
}

static void test_mem_hog_dominates_and_frees_count(void)
{
    int64_t old = goc_mem_profile_rate_set(TEST_RATE);
    CHECK_EQ_INT(goc__prof_rate(GOC__PROF_MEM), TEST_RATE);
    tally all0 = tally_of(GOC__PROF_MEM, NULL, NULL);
    hog h = {goc_malloc(HOG_N * sizeof(void *)), goc_chan_make(sizeof(int), 0)};
    CHECK(h.objs);
    run_and_wait(alloc_hog, &h, h.done);
    run_and_wait(alloc_light, h.done, h.done);

    tally t = tally_of(GOC__PROF_MEM, "alloc_hog", NULL);
    tally light = tally_of(GOC__PROF_MEM, "alloc_light", NULL);
    tally all = tally_of(GOC__PROF_MEM, NULL, NULL);
    /* HOG_N / 100 large blocks of 40 KiB, each sampled once (it holds a
     * sample point but for a chance of exp(-10)), and the rest of 256
     * bytes, one sample per TEST_RATE bytes of them */
    double expect = (double)(HOG_N / HOG_LARGE_EVERY) +
                    (double)(HOG_N - HOG_N / HOG_LARGE_EVERY) * HOG_SIZE / TEST_RATE;
    printf("# hog: %lld samples (%.0f expected) in %d buckets, light %lld, all %lld\n",
           (long long)t.allocs, expect, t.buckets, (long long)light.allocs,
           (long long)(all.allocs - all0.allocs));
    CHECK_MSG(t.allocs > expect * 0.8 && t.allocs < expect * 1.2, "hog samples %lld, expected ~%.0f",
              (long long)t.allocs, expect);
    /* the stack starts at the function that called the allocator */
    CHECK_EQ_INT(t.first, t.buckets);
    /* the hog dominates: nearly every sample taken meanwhile is its own */
    CHECK(t.alloc_bytes > 10 * light.alloc_bytes);
    CHECK(t.allocs * 10 > (all.allocs - all0.allocs) * 9);
    CHECK(t.alloc_bytes >= t.allocs * HOG_SIZE);
    CHECK_EQ_INT(t.frees, 0);

    run_and_wait(alloc_hog_free, &h, h.done);
    tally f = tally_of(GOC__PROF_MEM, "alloc_hog", NULL);
    /* every sampled block's free is counted: nothing of it is live */
    CHECK_EQ_INT(f.allocs, t.allocs);
    CHECK_EQ_INT(f.frees, f.allocs);
    CHECK_EQ_INT(f.free_bytes, f.alloc_bytes);
    goc_free(h.objs);
    goc_chan_free(h.done);
    goc_mem_profile_rate_set(old);
}

enum { EVERY_N = 100 };

/* EVERY_N allocations of assorted sizes, small and large, through each
 * entry point, without a yield between the rate change and them. */
__attribute__((noinline)) static void alloc_every(void **objs)
{
    for (int i = 0; i < EVERY_N; i++) {
        size_t n = (size_t)(i % 5 == 4 ? 50000 : 8 + 24 * i);
        objs[i] = i % 3 == 0 ? goc_calloc(1, n) : goc_malloc(n);
    }
    objs[0] = goc_realloc(objs[0], 70000); /* moves: one more, and a free */
}

static void test_mem_rate_1_samples_every_allocation(void)
{
    void *objs[EVERY_N];
    int64_t old = goc_mem_profile_rate_set(1);
    alloc_every(objs);
    goc_mem_profile_rate_set(old);
    tally t = tally_of(GOC__PROF_MEM, "alloc_every", NULL);
    CHECK_EQ_INT(t.allocs, EVERY_N + 1);
    CHECK_EQ_INT(t.frees, 1);
    for (int i = 0; i < EVERY_N; i++)
        goc_free(objs[i]);
    t = tally_of(GOC__PROF_MEM, "alloc_every", NULL);
    CHECK_EQ_INT(t.frees, EVERY_N + 1);
    CHECK_EQ_INT(t.free_bytes, t.alloc_bytes);
    /* bytes are those of the size class, or the pages of a large block */
    CHECK(t.alloc_bytes >= 20 * 50000);
}

__attribute__((noinline)) static void alloc_off(void)
{
    for (int i = 0; i < 20000; i++)
        goc_free(goc_malloc(1000));
    goc_free(goc_malloc(1 << 20));
}

static void test_mem_rate_0_records_nothing(void)
{
    int64_t old = goc_mem_profile_rate_set(0);
    CHECK_EQ_INT(goc_mem_profile_rate_set(-1), 0);
    tally all0 = tally_of(GOC__PROF_MEM, NULL, NULL);
    alloc_off();
    tally all = tally_of(GOC__PROF_MEM, NULL, NULL);
    goc_mem_profile_rate_set(old);
    CHECK_EQ_INT(tally_of(GOC__PROF_MEM, "alloc_off", NULL).buckets, 0);
    CHECK_EQ_INT(all.allocs, all0.allocs);
    CHECK_EQ_INT(all.buckets, all0.buckets);
}

/* Run in a child with GOC_MEMPROFILERATE set: prints the rate it starts with. */
static void child_env_rate(void)
{
    printf("rate=%lld\n", (long long)goc_mem_profile_rate_set(-1));
}

static void test_mem_rate_from_environment(void)
{
    static test_child ch;
    const char *const env[] = {"GOC_MEMPROFILERATE=1234", NULL};
    CHECK_EQ_INT(test_run_child("child_env_rate", env, &ch), 0);
    CHECK_STR_CONTAINS(ch.out, "rate=1234\n");
    CHECK_EQ_INT(test_run_child("child_env_rate", NULL, &ch), 0);
    CHECK_STR_CONTAINS(ch.out, "rate=524288\n"); /* Go's default */
}

/* ---- block ------------------------------------------------------------------------ */

#define HOLD (40 * MS) /* how long each waiter is kept waiting */

typedef struct waiter {
    goc_g *g;          /* the waiting goroutine, once it started */
    goc_chan *c, *c2;  /* channel waits */
    goc_mutex mu;
    goc_rwmutex rw;
    goc_cond cond;
    bool signalled;    /* the Cond's condition [mu] */
    goc_waitgroup wg;
    goc_chan *done;
} waiter;

static void started(waiter *w)
{
    __atomic_store_n(&w->g, goc__getg(), __ATOMIC_RELEASE);
}

static void finished(waiter *w)
{
    int one = 1;
    goc_chan_send(w->done, &one);
}

__attribute__((noinline)) static void block_chan_waiter(void *arg)
{
    waiter *w = *(waiter **)arg;
    started(w);
    int v;
    goc_chan_recv(w->c, &v);
    finished(w);
}

__attribute__((noinline)) static void block_select_waiter(void *arg)
{
    waiter *w = *(waiter **)arg;
    started(w);
    int v;
    goc_select_case cases[2] = {{w->c, GOC_SELECT_RECV, &v, false},
                                {w->c2, GOC_SELECT_RECV, &v, false}};
    goc_select(cases, 2, true);
    finished(w);
}

__attribute__((noinline)) static void block_mutex_waiter(void *arg)
{
    waiter *w = *(waiter **)arg;
    started(w);
    goc_mutex_lock(&w->mu);
    goc_mutex_unlock(&w->mu);
    finished(w);
}

__attribute__((noinline)) static void block_rwmutex_waiter(void *arg)
{
    waiter *w = *(waiter **)arg;
    started(w);
    goc_rwmutex_rlock(&w->rw);
    goc_rwmutex_runlock(&w->rw);
    finished(w);
}

__attribute__((noinline)) static void block_cond_waiter(void *arg)
{
    waiter *w = *(waiter **)arg;
    goc_mutex_lock(&w->mu);
    started(w);
    while (!w->signalled)
        goc_cond_wait(&w->cond);
    goc_mutex_unlock(&w->mu);
    finished(w);
}

__attribute__((noinline)) static void block_wg_waiter(void *arg)
{
    waiter *w = *(waiter **)arg;
    started(w);
    goc_waitgroup_wait(&w->wg);
    finished(w);
}

/* Until w's goroutine is parked with reason. */
static bool parked(waiter *w, const char *reason)
{
    return WAIT_UNTIL(__atomic_load_n(&w->g, __ATOMIC_ACQUIRE) &&
                      atomic_load(&w->g->status) == GOC_GWAITING &&
                      strcmp(w->g->waitreason, reason) == 0);
}

static waiter *waiter_new(void)
{
    waiter *w = goc_malloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->c = goc_chan_make(sizeof(int), 0);
    w->c2 = goc_chan_make(sizeof(int), 0);
    w->done = goc_chan_make(sizeof(int), 0);
    goc_cond_init(&w->cond, goc_mutex_locker(&w->mu));
    return w;
}

static void waiter_free(waiter *w)
{
    goc_chan_free(w->c);
    goc_chan_free(w->c2);
    goc_chan_free(w->done);
    goc_free(w);
}

/* The releases, in functions of their own: the mutex profile names them. */
__attribute__((noinline)) static void mutex_holder_unlock(goc_mutex *mu)
{
    goc_mutex_unlock(mu);
}

__attribute__((noinline)) static void rwmutex_holder_unlock(goc_rwmutex *rw)
{
    goc_rwmutex_unlock(rw);
}

/* Keeps a waiter of each kind waiting HOLD, then releases it. */
static void one_wait(goc_fn fn, const char *reason)
{
    waiter *w = waiter_new();
    int one = 1;
    if (fn == block_mutex_waiter || fn == block_cond_waiter)
        goc_mutex_lock(&w->mu);
    if (fn == block_rwmutex_waiter)
        goc_rwmutex_lock(&w->rw);
    if (fn == block_wg_waiter)
        goc_waitgroup_add(&w->wg, 1);
    goc_go(fn, &w, sizeof w);
    if (fn == block_cond_waiter) {
        goc_mutex_unlock(&w->mu); /* the waiter takes it, then waits */
        if (!parked(w, reason))
            goto out;
        goc_sleep(HOLD);
        goc_mutex_lock(&w->mu);
        w->signalled = true;
        goc_cond_signal(&w->cond);
        goc_mutex_unlock(&w->mu);
    } else {
        if (!parked(w, reason))
            goto out;
        goc_sleep(HOLD);
        if (fn == block_chan_waiter || fn == block_select_waiter)
            goc_chan_send(w->c, &one);
        else if (fn == block_mutex_waiter)
            mutex_holder_unlock(&w->mu);
        else if (fn == block_rwmutex_waiter)
            rwmutex_holder_unlock(&w->rw);
        else
            goc_waitgroup_done(&w->wg);
    }
    goc_chan_recv(w->done, &one);
out:
    waiter_free(w);
}

static const struct {
    goc_fn fn;
    const char *name, *reason;
} waits[] = {
    {block_chan_waiter, "block_chan_waiter", "chan receive"},
    {block_select_waiter, "block_select_waiter", "select"},
    {block_mutex_waiter, "block_mutex_waiter", "sync.Mutex.Lock"},
    {block_rwmutex_waiter, "block_rwmutex_waiter", "sync.RWMutex.RLock"},
    {block_cond_waiter, "block_cond_waiter", "sync.Cond.Wait"},
    {block_wg_waiter, "block_wg_waiter", "sync.WaitGroup.Wait"},
};
#define NWAITS ((int)(sizeof waits / sizeof waits[0]))

static void test_block_records_each_wait_on_the_waiter(void)
{
    int64_t old = goc_block_profile_rate_set(1);
    CHECK_EQ_INT(goc__prof_rate(GOC__PROF_BLOCK), 1);
    for (int i = 0; i < NWAITS; i++)
        one_wait(waits[i].fn, waits[i].reason);
    goc_block_profile_rate_set(old);
    for (int i = 0; i < NWAITS; i++) {
        tally t = tally_of(GOC__PROF_BLOCK, waits[i].name, NULL);
        printf("# %s: %lld events, %.1f ms\n", waits[i].name, (long long)t.count, t.ns / 1e6);
        CHECK_MSG(t.count >= 1, "%s: no block event", waits[i].name);
        /* it waited from before the HOLD until the release after it, and
         * the whole test is far shorter than 10 s */
        CHECK_MSG(t.ns >= HOLD && t.ns < 10000 * MS, "%s: %lld ns", waits[i].name,
                  (long long)t.ns);
    }
}

static void test_block_rate_0_records_nothing(void)
{
    CHECK_EQ_INT(goc_block_profile_rate_set(-1), 0);
    tally before = tally_of(GOC__PROF_BLOCK, NULL, NULL);
    one_wait(block_chan_waiter, "chan receive");
    one_wait(block_mutex_waiter, "sync.Mutex.Lock");
    tally after = tally_of(GOC__PROF_BLOCK, NULL, NULL);
    CHECK_EQ_INT(after.buckets, before.buckets);
    CHECK_EQ_INT(after.count, before.count);
    CHECK_EQ_INT(after.ns, before.ns);
}

/* A rate above the waits: each short wait is kept with probability
 * wait / rate and then counted rate / wait times (Go's removal of the
 * sampling bias), so the count estimates the number of waits. */
typedef struct short_waits {
    goc_chan *c;    /* N values, then closed */
    goc_chan *done; /* the waiter's last word */
} short_waits;

__attribute__((noinline)) static void block_short_waiter(void *arg)
{
    short_waits *sw = *(short_waits **)arg;
    int v;
    while (goc_chan_recv(sw->c, &v)) {
    }
    goc_chan_close(sw->done);
}

static void test_block_rate_weighs_short_waits(void)
{
    enum { N = 2000 };
    int64_t rate = 1 * MS; /* waits here are ~10 us to 100 us */
    int64_t old = goc_block_profile_rate_set(rate);
    short_waits sw = {goc_chan_make(sizeof(int), 0), goc_chan_make(sizeof(int), 0)};
    short_waits *swp = &sw;
    goc_go(block_short_waiter, &swp, sizeof swp);
    for (int i = 0; i < N; i++) {
        goc_sleep(10 * US);
        goc_chan_send(sw.c, &i);
    }
    goc_chan_close(sw.c);
    goc_chan_recv(sw.done, NULL);
    goc_block_profile_rate_set(old);
    tally t = tally_of(GOC__PROF_BLOCK, "block_short_waiter", NULL);
    printf("# %d waits under %lld ns: recorded as %lld events, %.1f ms\n", N, (long long)rate,
           (long long)t.count, t.ns / 1e6);
    /* about a hundred kept, weighted back to about N (the loose bounds are
     * many standard deviations wide) */
    CHECK_MSG(t.count > N / 3 && t.count < 3 * N, "%lld events for %d waits", (long long)t.count, N);
    goc_chan_free(sw.c);
    goc_chan_free(sw.done);
}

/* ---- mutex ------------------------------------------------------------------------ */

static void test_mutex_charges_the_unlocker(void)
{
    int64_t old = goc_mutex_profile_fraction_set(1);
    CHECK_EQ_INT(goc__prof_rate(GOC__PROF_MUTEX), 1);
    one_wait(block_mutex_waiter, "sync.Mutex.Lock");
    one_wait(block_rwmutex_waiter, "sync.RWMutex.RLock");
    goc_mutex_profile_fraction_set(old);
    tally m = tally_of(GOC__PROF_MUTEX, "mutex_holder_unlock", NULL);
    tally rw = tally_of(GOC__PROF_MUTEX, "rwmutex_holder_unlock", NULL);
    printf("# mutex: %lld events %.1f ms; rwmutex: %lld events %.1f ms\n", (long long)m.count,
           m.ns / 1e6, (long long)rw.count, rw.ns / 1e6);
    CHECK_EQ_INT(m.count, 1);
    CHECK(m.ns >= HOLD && m.ns < 10000 * MS);
    CHECK_EQ_INT(rw.count, 1);
    CHECK(rw.ns >= HOLD && rw.ns < 10000 * MS);
    /* charged to the Unlock, never to the waiter */
    CHECK_EQ_INT(tally_of(GOC__PROF_MUTEX, "block_mutex_waiter", NULL).buckets, 0);
    CHECK_EQ_INT(tally_of(GOC__PROF_MUTEX, "block_rwmutex_waiter", NULL).buckets, 0);
}

static void test_mutex_fraction_0_records_nothing(void)
{
    CHECK_EQ_INT(goc_mutex_profile_fraction_set(-1), 0);
    tally before = tally_of(GOC__PROF_MUTEX, NULL, NULL);
    one_wait(block_mutex_waiter, "sync.Mutex.Lock");
    tally after = tally_of(GOC__PROF_MUTEX, NULL, NULL);
    CHECK_EQ_INT(after.count, before.count);
    CHECK_EQ_INT(after.buckets, before.buckets);
}

/* Fraction n keeps one event in n on average and counts it n times. */
__attribute__((noinline)) static void contend(void *arg)
{
    waiter *w = *(waiter **)arg;
    for (int i = 0; i < 200; i++) {
        goc_mutex_lock(&w->mu);
        goc_yield();
        goc_mutex_unlock(&w->mu);
    }
    finished(w);
}

static void test_mutex_fraction_scales(void)
{
    enum { F = 3 };
    int64_t old = goc_mutex_profile_fraction_set(F);
    waiter *w = waiter_new();
    for (int i = 0; i < 4; i++)
        goc_go(contend, &w, sizeof w);
    int one;
    for (int i = 0; i < 4; i++)
        goc_chan_recv(w->done, &one);
    goc_mutex_profile_fraction_set(old);
    tally t = tally_of(GOC__PROF_MUTEX, "contend", NULL);
    printf("# contend: %lld events (scaled) in %d buckets\n", (long long)t.count, t.buckets);
    CHECK(t.count % F == 0);
    waiter_free(w);
}

static const test_case cases[] = {
    TEST_CASE(test_mem_hog_dominates_and_frees_count),
    TEST_CASE(test_mem_rate_1_samples_every_allocation),
    TEST_CASE(test_mem_rate_0_records_nothing),
    TEST_CASE(test_mem_rate_from_environment),
    TEST_CASE(child_env_rate),
    TEST_CASE(test_block_records_each_wait_on_the_waiter),
    TEST_CASE(test_block_rate_0_records_nothing),
    TEST_CASE(test_block_rate_weighs_short_waits),
    TEST_CASE(test_mutex_charges_the_unlocker),
    TEST_CASE(test_mutex_fraction_0_records_nothing),
    TEST_CASE(test_mutex_fraction_scales),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

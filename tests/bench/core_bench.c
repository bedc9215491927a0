/* core_bench.c: the runtime core's benchmarks (issue 2): yield_pingpong,
 * spawn_join, parked_memory, sleep_100k. `core_bench NAME` runs one and
 * prints its RESULT line; the same work is in tests/bench/go/NAME. */
#include "bench_util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Two goroutines yielding to each other on one P: ns per switch. */
typedef struct yp_arg {
    int rounds;
    latch *la;
} yp_arg;

static void yielder(void *p)
{
    yp_arg *a = p;
    for (int i = 0; i < a->rounds; i++)
        goc_yield();
    latch_done(a->la);
}

static void yield_pingpong(void)
{
    const int rounds = 5000000;
    latch la = {.count = 2};
    yp_arg a = {rounds, &la};
    int64_t t0 = goc_nanotime();
    goc_go_copy(yielder, &a);
    goc_go_copy(yielder, &a);
    latch_wait(&la);
    int64_t dt = goc_nanotime() - t0;
    bench_result("yield_pingpong", (double)dt / (2.0 * rounds), "ns");
}

/* 1,000,000 empty goroutines started and waited for: ns each. */
static void empty(void *p)
{
    latch_done(*(latch **)p);
}

static void spawn_join(void)
{
    const int n = 1000000;
    double best = 0;
    for (int round = 0; round < 3; round++) { /* the first round maps stacks */
        latch la = {.count = n};
        latch *lp = &la;
        int64_t t0 = goc_nanotime();
        for (int i = 0; i < n; i++)
            goc_go(empty, &lp, sizeof lp);
        latch_wait(&la);
        double ns = (double)(goc_nanotime() - t0) / n;
        if (round == 0 || ns < best)
            best = ns;
    }
    bench_result("spawn_join", best, "ns");
}

/* RSS per goroutine with 1,000,000 parked. */
typedef struct gate {
    goc__lock l;
    goc_g **gs;
    int64_t n;
} gate;

static bool gate_park(goc_g *g, void *arg)
{
    gate *gt = arg;
    gt->gs[gt->n++] = g;
    goc__lock_release(&gt->l);
    return true;
}

typedef struct pm_arg {
    gate *gt;
    latch *parked, *done;
} pm_arg;

static void parked(void *p)
{
    pm_arg *a = p;
    latch_done(a->parked);
    goc__lock_acquire(&a->gt->l);
    goc__park(gate_park, a->gt, "gate");
    latch_done(a->done);
}

static void parked_memory(void)
{
    const int n = 1000000;
    gate gt = {.gs = malloc(sizeof(goc_g *) * n)};
    latch pl = {.count = n}, dl = {.count = n};
    pm_arg a = {&gt, &pl, &dl};
    long before = bench_rss_bytes();
    for (int i = 0; i < n; i++)
        goc_go_copy(parked, &a);
    latch_wait(&pl);
    goc_sleep(10000000);
    long after = bench_rss_bytes();
    bench_result("parked_memory", (double)(after - before) / n, "bytes");
    goc__lock_acquire(&gt.l);
    int64_t cnt = gt.n;
    goc__lock_release(&gt.l);
    for (int64_t i = 0; i < cnt; i++)
        goc__ready(gt.gs[i], false);
    latch_wait(&dl);
    free(gt.gs);
}

/* 100,000 goroutines each sleeping 1 ms once: total wall time. */
static void sleeper(void *p)
{
    goc_sleep(1000000);
    latch_done(*(latch **)p);
}

static void sleep_100k(void)
{
    const int n = 100000;
    double best = 0;
    for (int round = 0; round < 3; round++) {
        latch la = {.count = n};
        latch *lp = &la;
        int64_t t0 = goc_nanotime();
        for (int i = 0; i < n; i++)
            goc_go(sleeper, &lp, sizeof lp);
        latch_wait(&la);
        double ms = (double)(goc_nanotime() - t0) / 1e6;
        if (round == 0 || ms < best)
            best = ms;
    }
    bench_result("sleep_100k", best, "ms");
}

GOC_MAIN(argc, argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    bool all = strcmp(which, "all") == 0;
    if (all || strcmp(which, "yield_pingpong") == 0)
        yield_pingpong();
    if (all || strcmp(which, "spawn_join") == 0)
        spawn_join();
    if (all || strcmp(which, "parked_memory") == 0)
        parked_memory();
    if (all || strcmp(which, "sleep_100k") == 0)
        sleep_100k();
    return 0;
}

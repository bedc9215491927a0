/* sync_bench.c: the channel, select, Mutex, RWMutex, WaitGroup and Context
 * benchmarks of issue 3. `sync_bench NAME` runs one and prints its RESULT
 * line(s); the Go peers under tests/bench/go/NAME do the same work. Names
 * whose result depends on the number of Ps carry it as a suffix (_p1, _p2:
 * the harness sets GOMAXPROCS). */
#include <goc/chan.h>
#include <goc/context.h>
#include <goc/sched.h>
#include <goc/sync.h>

#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static char namebuf[128];
static const char *pname(const char *base)
{
    snprintf(namebuf, sizeof namebuf, "%s_p%d", base, goc_procs());
    return namebuf;
}

/* ---- chan_pingpong: unbuffered round trips ------------------------------- */

typedef struct pp {
    goc_chan *ping, *pong;
    int n;
} pp;

static void pong_body(void *p)
{
    pp x = **(pp **)p; /* a copy: the creator's frame ends with the last send */
    int64_t v;
    for (int i = 0; i < x.n; i++) {
        goc_chan_recv(x.ping, &v);
        goc_chan_send(x.pong, &v);
    }
}

static void bench_chan_pingpong(void)
{
    pp x = {goc_chan_make(8, 0), goc_chan_make(8, 0), 1000000};
    pp *xp = &x;
    goc_go(pong_body, &xp, sizeof xp);
    int64_t t0 = goc_nanotime(), v = 1;
    for (int i = 0; i < x.n; i++) {
        goc_chan_send(x.ping, &v);
        goc_chan_recv(x.pong, &v);
    }
    bench_result(pname("chan_pingpong"), (double)(goc_nanotime() - t0) / x.n, "ns");
}

/* ---- chan_buffered: producer/consumer over capacity 1024 ------------------- */

typedef struct prod {
    goc_chan *c;
    int n;
} prod;

static void producer(void *p)
{
    prod x = **(prod **)p; /* a copy, as above */
    for (int64_t i = 0; i < x.n; i++)
        goc_chan_send(x.c, &i);
}

static void bench_chan_buffered(void)
{
    prod x = {goc_chan_make(8, 1024), 5000000};
    prod *xp = &x;
    int64_t t0 = goc_nanotime(), v, sum = 0;
    goc_go(producer, &xp, sizeof xp);
    for (int i = 0; i < x.n; i++) {
        goc_chan_recv(x.c, &v);
        sum += v;
    }
    double ns = (double)(goc_nanotime() - t0) / x.n;
    if (sum != (int64_t)x.n * (x.n - 1) / 2)
        abort();
    bench_result(pname("chan_buffered"), ns, "ns");
}

/* ---- select4: one receiver over four fed channels --------------------------- */

static void bench_select4(void)
{
    enum { K = 4 };
    int per = 500000;
    prod xs[K];
    goc_select_case cs[K];
    int64_t v;
    for (int i = 0; i < K; i++) {
        xs[i] = (prod){goc_chan_make(8, 128), per};
        prod *xp = &xs[i];
        goc_go(producer, &xp, sizeof xp);
        cs[i] = (goc_select_case){xs[i].c, GOC_SELECT_RECV, &v, false};
    }
    int64_t t0 = goc_nanotime();
    for (int i = 0; i < K * per; i++)
        goc_select(cs, K, true);
    bench_result(pname("select4"), (double)(goc_nanotime() - t0) / (K * per), "ns");
}

/* ---- mutex_contended: 4 and 64 goroutines ----------------------------------- */

typedef struct mtx {
    goc_mutex m;
    int64_t counter;
    int iters;
    int64_t maxwait; /* [m] */
    goc_waitgroup wg;
} mtx;

static void mutex_worker(void *p)
{
    mtx *x = *(mtx **)p;
    for (int i = 0; i < x->iters; i++) {
        int64_t t0 = goc_nanotime();
        goc_mutex_lock(&x->m);
        int64_t w = goc_nanotime() - t0;
        if (w > x->maxwait)
            x->maxwait = w;
        x->counter++;
        goc_mutex_unlock(&x->m);
    }
    goc_waitgroup_done(&x->wg);
}

static void mutex_run(int g)
{
    mtx x;
    memset(&x, 0, sizeof x);
    x.iters = 2000000 / g;
    mtx *xp = &x;
    goc_waitgroup_add(&x.wg, g);
    int64_t t0 = goc_nanotime();
    for (int i = 0; i < g; i++)
        goc_go(mutex_worker, &xp, sizeof xp);
    goc_waitgroup_wait(&x.wg);
    double ns = (double)(goc_nanotime() - t0) / ((double)x.iters * g);
    char name[64];
    snprintf(name, sizeof name, "mutex_contended_%d", g);
    bench_result(pname(name), ns, "ns");
    snprintf(name, sizeof name, "mutex_contended_%d_maxwait", g);
    bench_result(pname(name), (double)x.maxwait / 1000.0, "us");
}

static void bench_mutex_contended(void)
{
    mutex_run(4);
    mutex_run(64);
}

/* ---- rwmutex_readheavy: 64 goroutines, 99% reads ---------------------------- */

typedef struct rwx {
    goc_rwmutex rw;
    int64_t data[8];
    int iters;
    goc_waitgroup wg;
} rwx;

static void rw_worker(void *p)
{
    rwx *x = *(rwx **)p;
    int64_t sink = 0;
    for (int i = 0; i < x->iters; i++) {
        if (i % 100 == 0) {
            goc_rwmutex_lock(&x->rw);
            x->data[i % 8]++;
            goc_rwmutex_unlock(&x->rw);
        } else {
            goc_rwmutex_rlock(&x->rw);
            sink += x->data[i % 8];
            goc_rwmutex_runlock(&x->rw);
        }
    }
    if (sink == -1)
        abort();
    goc_waitgroup_done(&x->wg);
}

static void bench_rwmutex_readheavy(void)
{
    int g = 64;
    rwx x;
    memset(&x, 0, sizeof x);
    x.iters = 4000000 / g;
    rwx *xp = &x;
    goc_waitgroup_add(&x.wg, g);
    int64_t t0 = goc_nanotime();
    for (int i = 0; i < g; i++)
        goc_go(rw_worker, &xp, sizeof xp);
    goc_waitgroup_wait(&x.wg);
    bench_result(pname("rwmutex_readheavy"),
                 (double)(goc_nanotime() - t0) / ((double)x.iters * g), "ns");
}

/* ---- waitgroup_fanout: 1000 rounds of 1000 goroutines ------------------------ */

static void wg_child(void *p) { goc_waitgroup_done(*(goc_waitgroup **)p); }

static void bench_waitgroup_fanout(void)
{
    int64_t t0 = goc_nanotime();
    for (int r = 0; r < 1000; r++) {
        goc_waitgroup wg = GOC_WAITGROUP_INIT;
        goc_waitgroup *wp = &wg;
        goc_waitgroup_add(&wg, 1000);
        for (int i = 0; i < 1000; i++)
            goc_go(wg_child, &wp, sizeof wp);
        goc_waitgroup_wait(&wg);
    }
    bench_result(pname("waitgroup_fanout"), (double)(goc_nanotime() - t0) / 1e6, "ms");
}

/* ---- context_cancel_tree: 10,000 children, and a chain of 100 --------------- */

static void bench_context_cancel_tree(void)
{
    enum { N = 10000, DEPTH = 100, ROUNDS = 50 };
    goc_context **kids = malloc(N * sizeof *kids);
    int64_t t0 = goc_nanotime();
    for (int r = 0; r < ROUNDS; r++) {
        goc_context *root = goc_context_with_cancel(goc_context_background());
        for (int i = 0; i < N; i++) {
            kids[i] = goc_context_with_cancel(root);
            goc_context_done(kids[i]);
        }
        goc_context_cancel(root);
        for (int i = 0; i < N; i++) {
            if (goc_context_err(kids[i]) == NULL)
                abort();
            goc_context_cancel(kids[i]);
            goc_context_release(kids[i]);
        }
        goc_context_release(root);
    }
    bench_result(pname("context_cancel_tree"), (double)(goc_nanotime() - t0) / ROUNDS / 1000.0,
                 "us");
    t0 = goc_nanotime();
    for (int r = 0; r < ROUNDS * 100; r++) {
        goc_context *root = goc_context_with_cancel(goc_context_background());
        goc_context *cur = root;
        for (int i = 0; i < DEPTH; i++) {
            kids[i] = cur = goc_context_with_cancel(cur);
            goc_context_done(cur);
        }
        goc_context_cancel(root);
        if (goc_context_err(cur) == NULL)
            abort();
        for (int i = DEPTH - 1; i >= 0; i--) {
            goc_context_cancel(kids[i]);
            goc_context_release(kids[i]);
        }
        goc_context_release(root);
    }
    bench_result(pname("context_cancel_chain"),
                 (double)(goc_nanotime() - t0) / (ROUNDS * 100) / 1000.0, "us");
    free(kids);
}

static const struct {
    const char *name;
    void (*fn)(void);
} benches[] = {
    {"chan_pingpong", bench_chan_pingpong},
    {"chan_buffered", bench_chan_buffered},
    {"select4", bench_select4},
    {"mutex_contended", bench_mutex_contended},
    {"rwmutex_readheavy", bench_rwmutex_readheavy},
    {"waitgroup_fanout", bench_waitgroup_fanout},
    {"context_cancel_tree", bench_context_cancel_tree},
};

GOC_MAIN(argc, argv)
{
    int ran = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (argc < 2 || strcmp(argv[1], benches[i].name) == 0) {
            benches[i].fn();
            ran++;
        }
    }
    if (!ran) {
        fprintf(stderr, "usage: sync_bench [NAME]\n");
        return 2;
    }
    return 0;
}

/* bench_util.h: shared by the C benchmark programs: a latch on the
 * runtime's park/ready (so the core benchmarks need nothing above the
 * core), RSS, and the RESULT line that scripts/bench reads. */
#ifndef GOC_BENCH_UTIL_H
#define GOC_BENCH_UTIL_H

#include <goc/sched.h>

#include <stdio.h>
#include <unistd.h>

#include "runtime.h"

typedef struct bench_latch {
    goc__lock l;
    int64_t count;
    goc_g *waiter;
} bench_latch;

static inline void bench_latch_done(bench_latch *la)
{
    goc__lock_acquire(&la->l);
    goc_g *g = NULL;
    if (--la->count == 0) {
        g = la->waiter;
        la->waiter = NULL;
    }
    goc__lock_release(&la->l);
    if (g)
        goc__ready(g, true);
}

static inline void bench_latch_wait(bench_latch *la)
{
    goc__lock_acquire(&la->l);
    if (la->count == 0) {
        goc__lock_release(&la->l);
        return;
    }
    la->waiter = goc__getg();
    goc__park_unlock(&la->l, "latch");
}

static inline long bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static inline void bench_result(const char *name, double value, const char *unit)
{
    printf("RESULT %s %.3f %s\n", name, value, unit);
    fflush(stdout);
}

#endif

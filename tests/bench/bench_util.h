/* bench_util.h: shared by the C benchmark programs: the tests' latch (so
 * the core benchmarks need nothing above the core), RSS, and the RESULT
 * line that scripts/bench reads. */
#ifndef GOC_BENCH_UTIL_H
#define GOC_BENCH_UTIL_H

#include <goc/sched.h>

#include <stdio.h>
#include <unistd.h>

#include "latch.h"
#include "runtime.h"

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

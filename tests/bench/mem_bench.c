/* mem_bench.c: issue 4's map and slice benchmarks against Go's
 * (tests/bench/go/map_int, tests/bench/go/slice_append), best of 3 rounds:
 *   map_int       ms to insert 1,000,000 int64 keys into an empty map and
 *                 look each one up again
 *   slice_append  ms for 10,000,000 single int64 appends to a nil slice */
#include <goc/malloc.h>
#include <goc/map.h>
#include <goc/sched.h>
#include <goc/slice.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static volatile int64_t sink;

static double map_int(void)
{
    enum { N = 1000000 };
    goc_map_type t = GOC_MAP_INT(int64_t, int64_t);
    double t0 = now_ms();
    goc_map *m = goc_map_make(&t, 0);
    for (int64_t i = 0; i < N; i++) {
        int64_t k = i * 2654435761;
        *(int64_t *)goc_map_assign(m, &k, NULL) = i;
    }
    int64_t sum = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t k = i * 2654435761;
        sum += *(int64_t *)goc_map_get(m, &k);
    }
    double t1 = now_ms();
    sink = sum;
    goc_map_free(m);
    return t1 - t0;
}

static double slice_append(void)
{
    enum { N = 10000000 };
    double t0 = now_ms();
    goc_slice s = {0};
    for (int64_t i = 0; i < N; i++)
        GOC_SLICE_PUSH(&s, int64_t, i);
    double t1 = now_ms();
    sink = ((int64_t *)s.array)[N - 1];
    goc_slice_free(&s);
    return t1 - t0;
}

static double best3(double (*fn)(void))
{
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double v = fn();
        if (r == 0 || v < best)
            best = v;
    }
    return best;
}

GOC_MAIN(argc, argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    bool all = strcmp(what, "all") == 0;
    if (all || strcmp(what, "map_int") == 0)
        printf("RESULT map_int %.3f ms\n", best3(map_int));
    if (all || strcmp(what, "slice_append") == 0)
        printf("RESULT slice_append %.3f ms\n", best3(slice_append));
    return 0;
}

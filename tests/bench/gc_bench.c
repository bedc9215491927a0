/* gc_bench.c: the collector's benchmarks, ours and (built with
 * -DPEER_BOEHM against Debian's libgc) the Boehm-Demers-Weiser collector's,
 * from one source; tests/bench/go/gc_* are Go's. Each prints RESULT lines.
 *
 *   gc_bench binary_trees DEPTH
 *     The benchmarks game's binary-trees: a stretch tree of DEPTH+1, a
 *     long-lived tree of DEPTH kept throughout, and for each depth d from 4
 *     to DEPTH step 2, 2^(DEPTH-d+4) trees of depth d built and checked, the
 *     depths in parallel (a goroutine, or for Boehm a thread, each), as Go's
 *     fastest version does. Nodes are two pointers (16 bytes), never freed.
 *     RESULT gc_binary_trees <ms>, and gc_peak_rss <MB> (VmHWM).
 *
 *   gc_bench pause SECONDS
 *     A tree of 2^22 - 1 nodes of 32 bytes (128 MiB) stays live while 4
 *     workers (goroutines, or threads) each replace random subtrees of 63
 *     nodes in their own quarter for SECONDS: the collector runs as the
 *     garbage piles up. RESULT gc_pause_max <ms> and gc_pause_p99 <ms> over
 *     every pause of the run (ours: goc_gc_stats's recent pauses, sampled;
 *     Boehm: the time from its GC_EVENT_PRE_STOP_WORLD to
 *     GC_EVENT_POST_START_WORLD).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PEER_BOEHM
#define GC_THREADS
#include <gc.h>
#include <pthread.h>
#define ALLOC(n) GC_MALLOC(n)
#else
#include <goc/gc.h>
#include <goc/sched.h>
#include <goc/sync.h>
#define ALLOC(n) goc_gc_alloc(n)
#endif

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (double)kb / 1024.0;
}

static void result(const char *name, double v, const char *unit)
{
    printf("RESULT %s %.3f %s\n", name, v, unit);
    fflush(stdout);
}

/* ---- running work in parallel: goroutines, or threads for Boehm ----------------- */

typedef void (*task_fn)(void *arg);

#ifdef PEER_BOEHM
typedef struct group {
    pthread_t th[64];
    int n;
} group;

typedef struct task {
    task_fn fn;
    void *arg;
} task;

static void *task_main(void *p)
{
    task t = *(task *)p;
    free(p);
    t.fn(t.arg);
    return NULL;
}

static void group_go(group *g, task_fn fn, void *arg)
{
    task *t = malloc(sizeof *t);
    *t = (task){fn, arg};
    pthread_create(&g->th[g->n++], NULL, task_main, t);
}

static void group_wait(group *g)
{
    for (int i = 0; i < g->n; i++)
        pthread_join(g->th[i], NULL);
}

#define YIELD() ((void)0)
#else
typedef struct group {
    goc_waitgroup wg;
} group;

typedef struct task {
    task_fn fn;
    void *arg;
    group *g;
} task;

static void task_main(void *p)
{
    task *t = p;
    t->fn(t->arg);
    goc_waitgroup_done(&t->g->wg);
}

static void group_go(group *g, task_fn fn, void *arg)
{
    task t = {fn, arg, g};
    goc_waitgroup_add(&g->wg, 1);
    goc_go(task_main, &t, sizeof t);
}

static void group_wait(group *g)
{
    goc_waitgroup_wait(&g->wg);
}

#define YIELD() goc_yield()
#endif

/* ---- binary trees ----------------------------------------------------------------- */

typedef struct node {
    struct node *l, *r;
} node;

static node *bottom_up(int depth)
{
    node *n = ALLOC(sizeof *n);
    if (depth > 0) {
        n->l = bottom_up(depth - 1);
        n->r = bottom_up(depth - 1);
    }
    return n;
}

static long check(const node *n)
{
    return n->l ? 1 + check(n->l) + check(n->r) : 1;
}

typedef struct depth_job {
    int depth, max;
    long iterations, check;
} depth_job;

static void depth_run(void *p)
{
    depth_job *j = p;
    j->iterations = 1L << (j->max - j->depth + 4);
    long c = 0;
    for (long i = 0; i < j->iterations; i++) {
        c += check(bottom_up(j->depth));
        if ((i & 63) == 0)
            YIELD(); /* C does not preempt: let the other depths run */
    }
    j->check = c;
}

static int binary_trees(int max)
{
    double t0 = now_ms();
    printf("stretch tree of depth %d\t check: %ld\n", max + 1, check(bottom_up(max + 1)));
    node *long_lived = bottom_up(max);
    depth_job jobs[32];
    group g = {0};
    int n = 0;
    for (int d = 4; d <= max; d += 2, n++) {
        jobs[n] = (depth_job){.depth = d, .max = max};
        group_go(&g, depth_run, &jobs[n]);
    }
    group_wait(&g);
    for (int i = 0; i < n; i++)
        printf("%ld\t trees of depth %d\t check: %ld\n", jobs[i].iterations, jobs[i].depth,
               jobs[i].check);
    printf("long lived tree of depth %d\t check: %ld\n", max, check(long_lived));
    result("gc_binary_trees", now_ms() - t0, "ms");
    result("gc_peak_rss", peak_rss_mb(), "MB");
    return 0;
}

/* ---- pauses under a large live heap ------------------------------------------------- */

#define PAUSE_DEPTH 21 /* 2^22 - 1 nodes */
#define SUBTREE 5      /* replaced subtrees: 63 nodes */
#define WORKERS 4

typedef struct tnode {
    struct tnode *l, *r;
    uint64_t a, b; /* 32 bytes */
} tnode;

static tnode *tbuild(int depth, uint64_t v)
{
    tnode *n = ALLOC(sizeof *n);
    n->a = v;
    n->b = ~v;
    if (depth > 0) {
        n->l = tbuild(depth - 1, 2 * v);
        n->r = tbuild(depth - 1, 2 * v + 1);
    }
    return n;
}

static tnode *pause_root;
static atomic_int pause_stop;
static atomic_long pause_replaced;

static void pause_worker(void *p)
{
    tnode *top = p; /* this worker's quarter (depth PAUSE_DEPTH - 2) */
    uint64_t rnd = (uint64_t)(uintptr_t)p | 1;
    long n = 0;
    while (!atomic_load_explicit(&pause_stop, memory_order_relaxed)) {
        tnode *t = top;
        for (int d = PAUSE_DEPTH - 2; d > SUBTREE + 1; d--) { /* a random path down */
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            t = rnd & 1 ? t->l : t->r;
        }
        if (rnd & 2)
            t->l = tbuild(SUBTREE, rnd);
        else
            t->r = tbuild(SUBTREE, rnd);
        if ((++n & 15) == 0)
            YIELD();
    }
    atomic_fetch_add(&pause_replaced, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pauses[1 << 16];
static atomic_int npauses;

static void add_pause(double ms)
{
    int i = atomic_fetch_add(&npauses, 1);
    if (i < (int)(sizeof pauses / sizeof pauses[0]))
        pauses[i] = ms;
}

#ifdef PEER_BOEHM
static double stop_began;

static void on_gc_event(GC_EventType e)
{
    if (e == GC_EVENT_PRE_STOP_WORLD)
        stop_began = now_ms();
    else if (e == GC_EVENT_POST_START_WORLD)
        add_pause(now_ms() - stop_began);
}

static void pause_sample(uint64_t *seen)
{
    (void)seen;
}
#else
/* Records the pauses of the cycles completed since the last look. */
static void pause_sample(uint64_t *seen)
{
    static goc_gc_stats s;
    goc_gc_stats_read(&s);
    for (uint64_t c = *seen + 1; c <= s.cycles; c++)
        if (s.cycles - c < GOC_GC_PAUSE_RECENT)
            add_pause((double)s.pause_recent_ns[(c - 1) % GOC_GC_PAUSE_RECENT] / 1e6);
    *seen = s.cycles;
}
#endif

static int pause_bench(double seconds)
{
#ifdef PEER_BOEHM
    GC_set_on_collection_event(on_gc_event);
#endif
    pause_root = tbuild(PAUSE_DEPTH, 1);
    uint64_t seen = 0;
    pause_sample(&seen);
    atomic_store(&npauses, 0); /* the build's own collections do not count */
    group g = {0};
    tnode *quarters[WORKERS] = {pause_root->l->l, pause_root->l->r, pause_root->r->l,
                                pause_root->r->r};
    for (int i = 0; i < WORKERS; i++)
        group_go(&g, pause_worker, quarters[i]);
    double t0 = now_ms();
    while (now_ms() - t0 < seconds * 1e3) {
#ifdef PEER_BOEHM
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
#else
        goc_sleep(50 * 1000000);
#endif
        pause_sample(&seen);
    }
    atomic_store(&pause_stop, 1);
    group_wait(&g);
    pause_sample(&seen);
    int n = atomic_load(&npauses);
    if (n > (int)(sizeof pauses / sizeof pauses[0]))
        n = (int)(sizeof pauses / sizeof pauses[0]);
    qsort(pauses, (size_t)n, sizeof pauses[0], cmp_double);
    double max = n ? pauses[n - 1] : 0, p99 = n ? pauses[(int)ceil(0.99 * n) - 1] : 0;
    fprintf(stderr, "# %d pauses, %ld subtrees replaced, median %.3f ms\n", n,
            atomic_load(&pause_replaced), n ? pauses[n / 2] : 0.0);
    result("gc_pause_max", max, "ms");
    result("gc_pause_p99", p99, "ms");
    return 0;
}

static int run(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "binary_trees") == 0)
        return binary_trees(atoi(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "pause") == 0)
        return pause_bench(atof(argv[2]));
    fprintf(stderr, "usage: %s binary_trees DEPTH | pause SECONDS\n", argv[0]);
    return 2;
}

#ifdef PEER_BOEHM
int main(int argc, char **argv)
{
    GC_INIT();
    GC_allow_register_threads();
    GC_start_mark_threads(); /* its parallel marker, one per CPU (GC_MARKERS) */
    return run(argc, argv);
}
#else
GOC_MAIN(argc, argv)
{
    return run(argc, argv);
}
#endif

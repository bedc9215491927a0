/* mem_test.c: the allocator: size-class tables, every class, the large
 * path, calloc/realloc, statistics, memory going back to the kernel, frees
 * from threads without a P, many goroutines allocating and freeing across
 * Ps, and (ASan builds) use-after-free and overflow reports in a child. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/malloc.h>
#include <goc/sched.h>

#include <pthread.h>
#include <stdatomic.h>

#include "mem/mem.h"
#include "latch.h"
#include "runtime.h"

/* ---- helpers ----------------------------------------------------------- */


static long rss_bytes(void)
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

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fills and checks a block with a pattern derived from its address and tag. */
static void fill(unsigned char *p, size_t n, uint32_t tag)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((uintptr_t)p + i * 7 + tag);
}

static bool intact(const unsigned char *p, size_t n, uint32_t tag)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)((uintptr_t)p + i * 7 + tag))
            return false;
    return true;
}

/* ---- size classes ------------------------------------------------------- */

static void test_class_tables(void)
{
    CHECK_EQ_INT(goc__class_size[1], 8);
    CHECK_EQ_INT(goc__class_size[3], 24);
    CHECK_EQ_INT(goc__class_size[GOC_NUM_CLASSES - 1], 32768);
    for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++) {
        uint32_t size = goc__class_size[k];
        size_t span = (size_t)goc__class_npages[k] * GOC_PAGE_SIZE;
        CHECK_MSG(k == 1 || size > goc__class_size[k - 1], "class %u not increasing", k);
        CHECK_MSG(span % size <= span / 8, "class %u tail waste %zu of %zu", k, span % size, span);
        CHECK(span / size <= GOC_MAX_OBJS);
        for (size_t i = 0; i < span / size; i++) {
            size_t off = i * size;
            CHECK_EQ_UINT(((uint64_t)off * goc__class_divmul[k]) >> 32, i);
            if (i)
                CHECK_EQ_UINT(((uint64_t)(off - 1) * goc__class_divmul[k]) >> 32, i - 1);
        }
    }
    for (size_t n = 1; n <= GOC_MAX_SMALL; n++) {
        uint32_t k = goc__size_class(n);
        CHECK_MSG(goc__class_size[k] >= n && (k == 1 || goc__class_size[k - 1] < n),
                  "size %zu -> class %u (%u bytes)", n, k, goc__class_size[k]);
        CHECK_EQ_UINT(goc_malloc_roundup(n), goc__class_size[k]);
    }
    CHECK_EQ_UINT(goc_malloc_roundup(32769), 40960);
}

static void test_every_class(void)
{
    enum { N = 64 };
    void *objs[N];
    for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++) {
        uint32_t size = goc__class_size[k];
        uint32_t lo = goc__class_size[k - 1] + 1;
        goc_mem_stats before, during;
        goc_mem_stats_read(&before);
        for (int i = 0; i < N; i++) {
            size_t n = i % 2 ? size : lo;
            unsigned char *p = goc_malloc(n);
            CHECK(p != NULL);
            CHECK_EQ_UINT(goc_malloc_usable_size(p), size);
            CHECK_EQ_UINT((uintptr_t)p % 8, 0);
            uint32_t pow2 = size & -size;
            CHECK_EQ_UINT((uintptr_t)p % (pow2 > 8192 ? 8192 : pow2), 0);
            fill(p, size, k + (uint32_t)i);
            objs[i] = p;
        }
        goc_mem_stats_read(&during);
        CHECK_EQ_UINT(during.classes[k].objects - before.classes[k].objects, N);
        for (int i = 0; i < N; i++) {
            CHECK_MSG(intact(objs[i], size, k + (uint32_t)i), "class %u object %d overwritten", k, i);
            goc_free(objs[i]);
        }
        goc_mem_stats_read(&during);
        CHECK_EQ_UINT(during.classes[k].objects, before.classes[k].objects);
        /* counted exactly, whether the frees stayed on the P's list or
         * (beyond its bound, in the larger classes) went to mcentral */
        CHECK_EQ_UINT(during.classes[k].mallocs - before.classes[k].mallocs, N);
        CHECK_EQ_UINT(during.classes[k].frees - before.classes[k].frees, N);
    }
    void *z = goc_malloc(0);
    CHECK(z != NULL && goc_malloc(0) != z);
    goc_free(z);
}

static void test_large(void)
{
    static const size_t sizes[] = {32769, 65536, 1 << 20, 3 << 20, (size_t)96 << 20};
    goc_mem_stats st0, st1;
    goc_mem_stats_read(&st0);
    void *ps[5];
    for (int i = 0; i < 5; i++) {
        size_t n = sizes[i];
        unsigned char *p = goc_malloc(n);
        CHECK(p != NULL);
        CHECK_EQ_UINT((uintptr_t)p % GOC_PAGE_SIZE, 0);
        size_t u = goc_malloc_usable_size(p);
        CHECK_EQ_UINT(u, (n + GOC_PAGE_SIZE - 1) & ~(GOC_PAGE_SIZE - 1));
        p[0] = 1;
        p[n - 1] = 2;
        ps[i] = p;
    }
    goc_mem_stats_read(&st1);
    CHECK_EQ_UINT(st1.large_objects - st0.large_objects, 5);
    CHECK(st1.spans_large - st0.spans_large == 5);
    CHECK(st1.heap_mapped >= ((size_t)96 << 20));
    for (int i = 0; i < 5; i++) {
        CHECK(((unsigned char *)ps[i])[0] == 1 && ((unsigned char *)ps[i])[sizes[i] - 1] == 2);
        goc_free(ps[i]);
    }
    goc_mem_stats_read(&st1);
    CHECK_EQ_UINT(st1.large_objects, st0.large_objects);
    CHECK(goc_malloc((size_t)1 << 60) == NULL);
    CHECK(goc_malloc(SIZE_MAX) == NULL);
}

static void test_calloc_realloc(void)
{
    for (size_t n = 1; n < 200000; n = n * 3 + 1) {
        unsigned char *p = goc_malloc(n);
        memset(p, 0xee, n);
        goc_free(p);
        unsigned char *q = goc_calloc(1, n);
        CHECK(q != NULL);
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(q[i] == 0, "calloc(%zu) byte %zu not zero", n, i);
        goc_free(q);
    }
    CHECK(goc_calloc(SIZE_MAX / 2, 4) == NULL);
    /* The pattern must not depend on the address: realloc moves blocks. */
    unsigned char *p = goc_realloc(NULL, 10);
    for (size_t i = 0; i < 10; i++)
        p[i] = (unsigned char)(i * 13);
    size_t n = 10;
    for (size_t m = 11; m < 300000; m = m * 2 + 5) {
        p = goc_realloc(p, m);
        CHECK(p != NULL);
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(p[i] == (unsigned char)(i * 13), "realloc %zu->%zu lost byte %zu", n, m, i);
        for (size_t i = 0; i < m; i++)
            p[i] = (unsigned char)(i * 13);
        n = m;
    }
    p = goc_realloc(p, 100);
    for (size_t i = 0; i < 100; i++)
        CHECK(p[i] == (unsigned char)(i * 13));
    CHECK(goc_realloc(p, 0) == NULL);
}

/* ---- giving memory back --------------------------------------------------- */

static void test_rss_large(void)
{
    size_t n = (size_t)TEST_SCALE(256) << 20;
    if (n < ((size_t)32 << 20))
        n = (size_t)32 << 20;
    long base = rss_bytes();
    unsigned char *p = goc_malloc(n);
    CHECK(p != NULL);
    memset(p, 1, n);
    long live = rss_bytes();
    CHECK_MSG(live - base >= (long)(n * 9 / 10), "rss grew %ld for %zu", live - base, n);
    goc_mem_stats st;
    goc_mem_stats_read(&st);
    uint64_t released0 = st.pages_released;
    goc_free(p);
    CHECK(goc_mem_scavenge() >= n * 8 / 10); /* released now, not after the delay */
    long after = rss_bytes();
    CHECK_MSG(live - after >= (long)(n * 8 / 10), "rss fell only %ld of %zu", live - after, n);
    goc_mem_stats_read(&st);
    CHECK(st.pages_released >= released0 + (n * 8 / 10) / GOC_PAGE_SIZE);
    CHECK(st.madvise_calls > 0);
}

/* Freed pages are held for a while (a program reusing them soon does not
 * fault them in again), then given back without any call. */
static void test_rss_lazy(void)
{
    size_t n = (size_t)16 << 20;
    goc_mem_scavenge(); /* nothing held, no release pending */
    unsigned char *p = goc_malloc(n);
    CHECK(p != NULL);
    memset(p, 1, n);
    goc_mem_stats st;
    goc_mem_stats_read(&st);
    uint64_t released0 = st.pages_released, madv0 = st.madvise_calls;
    int64_t t0 = goc_nanotime();
    goc_free(p);
    goc_mem_stats_read(&st);
    CHECK_MSG(st.madvise_calls == madv0, "released at once on free");
    /* Allocated and freed again while held: still nothing released. */
    p = goc_malloc(n);
    CHECK(p != NULL);
    memset(p, 2, n);
    goc_free(p);
    goc_mem_stats_read(&st);
    CHECK_MSG(st.madvise_calls == madv0, "released at once on the second free");
    /* Nine tenths: the runtime's own records (a new thread's signal stack,
     * say) may take a few released pages back meanwhile. */
    uint64_t want = released0 + (n * 9 / 10) / GOC_PAGE_SIZE;
    for (;;) {
        goc_mem_stats_read(&st);
        if (st.pages_released >= want ||
            goc_nanotime() - t0 > (int64_t)5000 * 1000000)
            break;
        goc_sleep(20 * 1000000);
    }
    int64_t ms = (goc_nanotime() - t0) / 1000000;
    CHECK_MSG(st.pages_released >= want, "not released after %lld ms",
              (long long)ms);
    CHECK_MSG(ms >= 500, "released after %lld ms, not held", (long long)ms);
}

static void test_rss_small(void)
{
    size_t count = 1000000; /* not scaled: it must dwarf the 4 MiB the heap retains */
    void **v = goc_malloc(count * sizeof *v);
    memset(v, 0, count * sizeof *v);
    long base = rss_bytes();
    for (size_t i = 0; i < count; i++) {
        v[i] = goc_malloc(64);
        memset(v[i], 1, 64);
    }
    long live = rss_bytes();
    /* Free pages retained from earlier cases may absorb part of the growth. */
    CHECK_MSG((size_t)(live - base) >= count * 64 / 2, "rss grew %ld", live - base);
    for (size_t i = 0; i < count; i++)
        goc_free(v[i]);
    goc_free(v);
    /* No explicit scavenge: the heap must give the pages back by itself
     * about 1 s later (sysmon's tick); wait for it, at most 5 s. */
    goc_mem_stats st;
    int64_t waited = 0;
    for (;;) {
        goc_mem_stats_read(&st);
        if (st.pages_free - st.pages_released <= 1024 || waited >= (int64_t)5000 * 1000000)
            break;
        goc_sleep(50 * 1000000);
        waited += 50 * 1000000;
    }
    long after = rss_bytes();
    CHECK_MSG(st.pages_free - st.pages_released <= 1024, "%llu free pages kept",
              (unsigned long long)(st.pages_free - st.pages_released));
#if defined(GOC_SANITIZE_THREAD)
    long slack = (long)(count * 64 * 4); /* TSan's shadow of the freed pages stays */
#elif defined(GOC_SANITIZE_ADDRESS)
    long slack = (long)(count * 64 * 3 / 10); /* so does ASan's */
#else
    long slack = (long)(count * 64 * 15 / 100);
#endif
    CHECK_MSG(after - base <= slack, "rss still %ld above the start after freeing %zu",
              after - base, count * 64);
}

/* ---- threads and Ps ---------------------------------------------------------- */

typedef struct nop_arg {
    void **objs;   /* allocated on a P; the thread frees them */
    int n;
    int bad;
} nop_arg;

static void *nop_thread(void *argp)
{
    nop_arg *a = argp;
    if (goc__getp() != NULL)
        a->bad++;
    for (int i = 0; i < a->n; i++) {
        if (!intact(a->objs[i], 48, 9))
            a->bad++;
        goc_free(a->objs[i]);
        unsigned char *q = goc_malloc((size_t)i % 3000 + 1);
        fill(q, (size_t)i % 3000 + 1, 1);
        a->objs[i] = q;
    }
    return NULL;
}

static void test_no_p_thread(void)
{
    nop_arg a = {.n = 5000};
    a.objs = goc_malloc((size_t)a.n * sizeof(void *));
    for (int i = 0; i < a.n; i++) {
        a.objs[i] = goc_malloc(48);
        fill(a.objs[i], 48, 9);
    }
    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, nop_thread, &a), 0);
    goc_syscall_enter();
    pthread_join(t, NULL);
    goc_syscall_exit();
    CHECK_EQ_INT(a.bad, 0);
    for (int i = 0; i < a.n; i++) {
        CHECK(intact(a.objs[i], (size_t)i % 3000 + 1, 1));
        goc_free(a.objs[i]); /* allocated off-P, freed on a P */
    }
    goc_free(a.objs);
}

/* Workers pass blocks through a shared ring; each checks and frees what it
 * takes, and counts frees made on another P than the allocation's. */
enum { RING = 1024 };

typedef struct block_hdr {
    uint32_t size;
    int32_t pid; /* P that allocated it */
    uint32_t tag;
} block_hdr;

typedef struct exchange {
    goc__lock l;
    void *ring[RING];
    int n;
    _Atomic int64_t cross, frees, bad;
    latch done;
} exchange;

typedef struct worker_arg {
    exchange *x;
    uint64_t seed;
    int iters;
} worker_arg;

static void take_and_free(exchange *x, void *b)
{
    block_hdr *h = b;
    if (!intact((unsigned char *)b + sizeof *h, h->size - sizeof *h, h->tag))
        atomic_fetch_add(&x->bad, 1);
    goc_p *p = goc__getp();
    if (p && p->id != h->pid)
        atomic_fetch_add(&x->cross, 1);
    atomic_fetch_add(&x->frees, 1);
    goc_free(b);
}

static void worker(void *argp)
{
    worker_arg *a = argp;
    exchange *x = a->x;
    uint64_t s = a->seed;
    for (int i = 0; i < a->iters; i++) {
        uint64_t r = rng_next(&s);
        size_t size = sizeof(block_hdr) + (r % 16 == 0 ? r % 70000 : r % 2048);
        block_hdr *h = goc_malloc(size);
        h->size = (uint32_t)size;
        h->pid = goc__getp()->id;
        h->tag = (uint32_t)r;
        fill((unsigned char *)(h + 1), size - sizeof *h, h->tag);
        void *out = NULL;
        goc__lock_acquire(&x->l);
        if (x->n == RING || (x->n > 0 && (r >> 20) % 2)) {
            out = x->ring[(r >> 32) % (uint64_t)x->n];
            x->ring[(r >> 32) % (uint64_t)x->n] = h;
        } else {
            x->ring[x->n++] = h;
        }
        goc__lock_release(&x->l);
        if (out)
            take_and_free(x, out);
        if (i % 64 == 0)
            goc_yield();
    }
    latch_done(&x->done);
}

static void test_cross_p(void)
{
    enum { WORKERS = 8 };
    static exchange x;
    memset(&x, 0, sizeof x);
    goc_mem_stats st0, st1;
    goc_mem_stats_read(&st0);
    x.done.count = WORKERS;
    for (int i = 0; i < WORKERS; i++) {
        worker_arg a = {.x = &x, .seed = (uint64_t)i * 977 + 1, .iters = TEST_SCALE(100000)};
        CHECK(goc_go_copy(worker, &a) > 0);
    }
    latch_wait(&x.done);
    for (int i = 0; i < x.n; i++)
        take_and_free(&x, x.ring[i]);
    CHECK_EQ_INT(atomic_load(&x.bad), 0);
    CHECK_EQ_INT(atomic_load(&x.frees), (int64_t)WORKERS * TEST_SCALE(100000));
    if (goc_procs() > 1)
        CHECK_MSG(atomic_load(&x.cross) > 0, "no free happened on another P");
    printf("# cross-P frees: %lld of %lld\n", (long long)atomic_load(&x.cross),
           (long long)atomic_load(&x.frees));
    goc_mem_stats_read(&st1);
    CHECK_EQ_UINT(st1.objects_in_use, st0.objects_in_use);
}

/* ---- misuse, in child processes ----------------------------------------------------- */

static void child_double_free_large(void)
{
    void *p = goc_malloc(100000);
    goc_free(p);
    goc_free(p);
}

static void child_foreign_free(void)
{
    static char x[64];
    goc_free(x + 8);
}

/* A pointer inside a live block, not at its start: small, then large. */
static void child_interior_free_small(void)
{
    char *p = goc_malloc(48);
    goc_free(p + 16);
}

static void child_interior_free_large(void)
{
    char *p = goc_malloc(100000);
    goc_free(p + 8192);
}

static void test_bad_frees(void)
{
    static const struct {
        const char *child, *says;
    } bad[] = {
        {"child_double_free_large", "goc_free"},
        {"child_foreign_free", "not a live block"},
        {"child_interior_free_small", "not a live block"},
        {"child_interior_free_large", "not a live block"},
    };
    static test_child c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(test_run_child(bad[i].child, NULL, &c), 0);
        CHECK_MSG(!(c.exited && c.status == 0), "%s exited 0", bad[i].child);
        CHECK_STR_CONTAINS(c.out, bad[i].says);
    }
}

#ifdef GOC_SANITIZE_ADDRESS
static void child_use_after_free(void)
{
    volatile unsigned char *p = goc_malloc(64);
    p[3] = 1;
    goc_free((void *)p);
    p[3] = 2;
}

static void child_overflow(void)
{
    volatile unsigned char *p = goc_malloc(40); /* class 48: 8 bytes of slack */
    p[40] = 1;
}

static void child_large_overflow(void)
{
    volatile unsigned char *p = goc_malloc(40000);
    p[40000] = 1;
}

static void test_asan(void)
{
    static test_child c;
    static const char *const names[] = {"child_use_after_free", "child_overflow",
                                        "child_large_overflow"};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(test_run_child(names[i], NULL, &c), 0);
        CHECK_MSG(!(c.exited && c.status == 0), "%s did not fail", names[i]);
        CHECK_STR_CONTAINS(c.out, "AddressSanitizer");
    }
}
#endif

static const test_case cases[] = {
    TEST_CASE(test_class_tables),
    TEST_CASE(test_every_class),
    TEST_CASE(test_large),
    TEST_CASE(test_calloc_realloc),
    TEST_CASE(test_rss_large),
    TEST_CASE(test_rss_lazy),
    TEST_CASE(test_rss_small),
    TEST_CASE(test_no_p_thread),
    TEST_CASE(test_cross_p),
    TEST_CASE(test_bad_frees),
#ifdef GOC_SANITIZE_ADDRESS
    TEST_CASE(test_asan),
    {"child_use_after_free", child_use_after_free},
    {"child_overflow", child_overflow},
    {"child_large_overflow", child_large_overflow},
#endif
    {"child_double_free_large", child_double_free_large},
    {"child_foreign_free", child_foreign_free},
    {"child_interior_free_small", child_interior_free_small},
    {"child_interior_free_large", child_interior_free_large},
    {0},
};

GOC_MAIN(argc, argv)
{
    return test_main(argc, argv, cases);
}

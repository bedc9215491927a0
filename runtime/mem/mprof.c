/* mprof.c: sampling goc_malloc for the heap profile (Go's MemProfileRate,
 * malloc.go's nextSample and mprof.go's mProf_Malloc / mProf_Free).
 *
 * Each P counts down the bytes it allocates (struct goc_mcache's
 * sample_left; threads without a P share one countdown); when it reaches
 * 0 the allocation is sampled and the next distance drawn from an
 * exponential distribution of mean `rate` bytes, so every byte has the
 * same chance, 1/rate, of being the one sampled (Go's fastexprand). The
 * allocator's fast path pays a subtraction and one predictable branch;
 * with the profile off the countdown still runs, and each time it reaches
 * 0 (every OFF_RECHECK bytes) the rate is looked at again. A change of the
 * rate stores a rearm request into every cache, so it applies from each
 * P's next allocation (a request that races with the owner's own store may
 * be lost: the change then waits for the current countdown).
 *
 * A sampled object is added to its stack's bucket and remembered in
 * `objs`, a hash table from address to bucket and size, and its span's
 * nsampled counts it; goc_free looks the address up only in spans whose
 * nsampled is not 0, so the frees of unsampled objects cost one load and
 * one branch more. Collected memory (goc_gc_alloc) is not sampled.
 *
 * Invariants:
 *  - An address is in objs exactly while its object, sampled when
 *    allocated, is live; its span's nsampled is the number of such
 *    addresses in it, changed only under objs.lock.
 *  - objs.lock is taken before a bucket lock (prof.c) is, never after;
 *    nothing here allocates from the goc heap (the table is mmap'd).
 */
#include "goc/profrate.h"

#include "mem.h"
#include "profrec.h"
#include "runtime.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>

#define OFF_RECHECK ((int64_t)1 << 20) /* bytes between looks at a rate of 0 */
#define REARM (INT64_MIN / 2)          /* a countdown below this was asked to rearm */
#define OBJS_MIN 1024                  /* first size of the table, a power of two */

typedef struct sampled {
    uintptr_t addr;     /* the object; 0: an empty slot */
    goc__prof_rec *rec; /* its stack's bucket */
    int64_t bytes;      /* its size class's (or pages') size */
} sampled;

static struct {
    goc__lock lock; /* guards the table and every span's nsampled */
    sampled *tab;   /* cap slots, linear probing; mmap'd */
    size_t cap, n;  /* slots, and how many hold an object */
} objs = {.lock = GOC_LOCK_INIT};

_Atomic int64_t goc__mprof_nop_left = REARM;

/* ---- the countdown --------------------------------------------------------- */

/* Bytes to the next sample at rate: exponential with mean rate, at least 1
 * (Go's fastexprand); OFF_RECHECK when off. */
static int64_t next_distance(int64_t rate)
{
    if (rate <= 0)
        return OFF_RECHECK;
    if (rate == 1)
        return 1;
    /* u uniform in (0, 1] */
    double u = (double)((goc__fastrand64() >> 11) + 1) * 0x1.0p-53;
    double d = -log(u) * (double)rate;
    return d >= 0x1.0p62 ? (int64_t)1 << 62 : (int64_t)d + 1;
}

int64_t goc__mprof_first(void)
{
    return next_distance(goc__prof_rate_of(GOC__PROF_MEM));
}

int64_t goc_mem_profile_rate_set(int64_t bytes)
{
    if (bytes < 0)
        return goc__prof_rate_of(GOC__PROF_MEM);
    int64_t old = atomic_exchange(&goc__prof_rates[GOC__PROF_MEM], bytes);
    if (old != bytes) {
        for (struct goc_mcache *c = atomic_load(&goc__allcaches); c; c = c->alllink)
            __atomic_store_n(&c->sample_left, REARM, __ATOMIC_RELAXED);
        atomic_store_explicit(&goc__mprof_nop_left, REARM, memory_order_relaxed);
    }
    return old;
}

/* ---- the table of sampled objects ---------------------------------------- */

static size_t slot_of(uintptr_t addr, size_t cap)
{
    return (size_t)(((uint64_t)addr * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static void put(sampled *tab, size_t cap, const sampled *e)
{
    size_t i = slot_of(e->addr, cap);
    while (tab[i].addr)
        i = (i + 1) & (cap - 1);
    tab[i] = *e;
}

/* Room for one more entry, growing the table to keep it at most half
 * full; false when the OS refuses memory. objs.lock held. */
static bool reserve(void)
{
    if (objs.tab && 2 * (objs.n + 1) <= objs.cap)
        return true;
    size_t cap = objs.cap ? 2 * objs.cap : OBJS_MIN;
    void *m = mmap(NULL, cap * sizeof(sampled), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    sampled *tab = m;
    for (size_t i = 0; i < objs.cap; i++)
        if (objs.tab[i].addr)
            put(tab, cap, &objs.tab[i]);
    if (objs.tab)
        munmap(objs.tab, objs.cap * sizeof(sampled));
    objs.tab = tab;
    objs.cap = cap;
    return true;
}

/* Removes addr's entry into *out; false if it has none. objs.lock held.
 * Deletion shifts the following entries of the run back (no tombstones). */
static bool take(uintptr_t addr, sampled *out)
{
    if (!objs.tab)
        return false;
    size_t mask = objs.cap - 1, i = slot_of(addr, objs.cap);
    for (; objs.tab[i].addr != addr; i = (i + 1) & mask)
        if (!objs.tab[i].addr)
            return false;
    *out = objs.tab[i];
    for (size_t j = (i + 1) & mask; objs.tab[j].addr; j = (j + 1) & mask) {
        size_t home = slot_of(objs.tab[j].addr, objs.cap);
        /* j's entry may move to the hole at i unless its home lies in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            objs.tab[i] = objs.tab[j];
            i = j;
        }
    }
    objs.tab[i].addr = 0;
    objs.n--;
    return true;
}

static void nsampled_add(goc_mspan *s, int d)
{
    __atomic_store_n(&s->nsampled, (uint16_t)(s->nsampled + d), __ATOMIC_RELAXED);
}

/* ---- sampling and freeing ------------------------------------------------ */

extern char __start_goc_malloc_text[] __attribute__((weak, visibility("hidden")));
extern char __stop_goc_malloc_text[] __attribute__((weak, visibility("hidden")));

/* The stack from the caller of goc_malloc (calloc, realloc) on: the
 * leading frames in goc_malloc_text are dropped. */
static int alloc_stack(uintptr_t *stk)
{
    int n = goc__prof_stack(stk, 0), i = 0;
    uintptr_t lo = (uintptr_t)__start_goc_malloc_text, hi = (uintptr_t)__stop_goc_malloc_text;
    while (i < n && stk[i] - 1 >= lo && stk[i] - 1 < hi)
        i++;
    memmove(stk, stk + i, (size_t)(n - i) * sizeof *stk);
    return n - i;
}

/* Records p: its stack's bucket, and the table entry its free will find. */
GOC_MALLOC_TEXT __attribute__((noinline)) static void record(void *p, size_t bytes)
{
    uintptr_t stk[GOC__PROF_DEPTH];
    int n = alloc_stack(stk);
    goc__prof_rec *r = goc__prof_find(GOC__PROF_MEM, stk, n);
    if (!r)
        return;
    goc_mspan *s = goc__spanof(p);
    goc__lock_acquire(&objs.lock);
    if (!reserve()) {
        goc__lock_release(&objs.lock);
        return; /* not remembered, so not counted at all */
    }
    sampled e = {(uintptr_t)p, r, (int64_t)bytes};
    put(objs.tab, objs.cap, &e);
    objs.n++;
    nsampled_add(s, 1);
    goc__lock_release(&objs.lock);
    goc__prof_mem_alloc(r, (int64_t)bytes);
}

GOC_MALLOC_TEXT __attribute__((noinline)) void *goc__mprof_sampled(int64_t *left, void *p, size_t bytes)
{
    int64_t was = __atomic_load_n(left, __ATOMIC_RELAXED);
    int64_t rate = goc__prof_rate_of(GOC__PROF_MEM);
    __atomic_store_n(left, next_distance(rate), __ATOMIC_RELAXED);
    /* A rearm request is not a sample: the new rate draws its own first
     * distance. */
    if (rate > 0 && was > REARM / 2)
        record(p, bytes);
    return p;
}

void goc__mprof_free(void *p, goc_mspan *s)
{
    sampled e;
    goc__lock_acquire(&objs.lock);
    bool found = take((uintptr_t)p, &e);
    if (found)
        nsampled_add(s, -1);
    goc__lock_release(&objs.lock);
    if (found)
        goc__prof_mem_free(e.rec, e.bytes);
}

/* prof.c: the buckets of the heap, block and mutex profiles (prof.h,
 * profrec.h), the block and mutex events, and the public rate setters
 * (goc/profrate.h; the heap's is in runtime/mem/mprof.c). Go's
 * runtime/mprof.go, smaller.
 *
 * Each kind has a hash table of buckets keyed by stack: a sample adds to
 * its stack's bucket, so memory grows with the number of distinct stacks,
 * never with time. Buckets and the tables are mmap'd (a bump allocator over
 * 64 KiB chunks, never freed), not taken from the goc heap: the allocator
 * samples itself, and the collector must not see them as roots or objects.
 *
 * Invariants:
 *  - A bucket's stack and hash are written once, before it is linked under
 *    its kind's lock, and never change; its address is stable for the life
 *    of the process (sampled objects remember it).
 *  - Counters change only under the kind's lock, so a copy taken under it
 *    is consistent (allocs with alloc_bytes, count with ns).
 *  - The kind's lock is a leaf: nothing is called with it held but memcpy
 *    and mmap.
 */
#include "goc/profrate.h"

#include "profrec.h"
#include "runtime.h"
#include "traceback.h"

#include <string.h>
#include <sys/mman.h>

#define NHASH 4096             /* hash heads per kind (a power of two) */
#define CHUNK ((size_t)64 << 10) /* bytes mmap'd at a time for buckets */
#define MEM_RATE_DEFAULT (512 * 1024) /* Go's MemProfileRate */

struct goc__prof_rec {
    goc__prof_rec *hnext;   /* next in its hash chain [kind lock] */
    goc__prof_rec *alllink; /* every bucket of the kind, newest first [kind lock] */
    uint64_t hash;          /* of the stack, constant */
    goc__prof_bucket b;     /* stack constant; counters [kind lock] */
};

static struct prof_kind {
    goc__lock lock;       /* guards everything below and the counters of every bucket */
    goc__prof_rec **heads; /* NHASH chains, mmap'd on first use */
    goc__prof_rec *all;   /* every bucket, newest first */
    size_t n;             /* buckets in all */
    char *chunk;          /* where the next bucket is carved from */
    size_t chunk_left;    /* bytes left in chunk */
} kinds[GOC__PROF_KINDS] = {{.lock = GOC_LOCK_INIT}, {.lock = GOC_LOCK_INIT},
                            {.lock = GOC_LOCK_INIT}};

_Atomic int64_t goc__prof_rates[GOC__PROF_KINDS] = {MEM_RATE_DEFAULT, 0, 0};

int64_t goc__prof_rate(int kind)
{
    if (kind < 0 || kind >= GOC__PROF_KINDS)
        return 0;
    return goc__prof_rate_of(kind);
}

/* ---- the bucket table ----------------------------------------------------- */

static uint64_t stack_hash(const uintptr_t *stk, int nstk)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)nstk;
    for (int i = 0; i < nstk; i++) {
        h ^= (uint64_t)stk[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return h;
}

static void *map_zeroed(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A new zeroed bucket record; NULL when the OS refuses memory. k locked. */
static goc__prof_rec *rec_new(struct prof_kind *k)
{
    size_t need = (sizeof(goc__prof_rec) + 15) & ~(size_t)15;
    if (k->chunk_left < need) {
        char *c = map_zeroed(CHUNK);
        if (!c)
            return NULL;
        k->chunk = c;
        k->chunk_left = CHUNK;
    }
    goc__prof_rec *r = (goc__prof_rec *)(void *)k->chunk;
    k->chunk += need;
    k->chunk_left -= need;
    return r;
}

goc__prof_rec *goc__prof_find(int kind, const uintptr_t *stk, int nstk)
{
    struct prof_kind *k = &kinds[kind];
    if (nstk > GOC__PROF_DEPTH)
        nstk = GOC__PROF_DEPTH;
    uint64_t h = stack_hash(stk, nstk);
    size_t bytes = (size_t)nstk * sizeof *stk;
    goc__lock_acquire(&k->lock);
    if (GOC_UNLIKELY(!k->heads)) {
        k->heads = map_zeroed(NHASH * sizeof *k->heads);
        if (!k->heads) {
            goc__lock_release(&k->lock);
            return NULL;
        }
    }
    goc__prof_rec **head = &k->heads[h & (NHASH - 1)], *r;
    for (r = *head; r; r = r->hnext)
        if (r->hash == h && r->b.nstk == nstk && memcmp(r->b.stk, stk, bytes) == 0)
            break;
    if (!r && (r = rec_new(k)) != NULL) {
        r->hash = h;
        r->b.nstk = nstk;
        memcpy(r->b.stk, stk, bytes);
        r->hnext = *head;
        *head = r;
        r->alllink = k->all;
        k->all = r;
        k->n++;
    }
    goc__lock_release(&k->lock);
    return r;
}

void goc__prof_mem_alloc(goc__prof_rec *r, int64_t bytes)
{
    struct prof_kind *k = &kinds[GOC__PROF_MEM];
    goc__lock_acquire(&k->lock);
    r->b.allocs++;
    r->b.alloc_bytes += bytes;
    goc__lock_release(&k->lock);
}

void goc__prof_mem_free(goc__prof_rec *r, int64_t bytes)
{
    struct prof_kind *k = &kinds[GOC__PROF_MEM];
    goc__lock_acquire(&k->lock);
    r->b.frees++;
    r->b.free_bytes += bytes;
    goc__lock_release(&k->lock);
}

/* Adds count events of ns nanoseconds in all to the bucket of stk. */
static void event_add(int kind, const uintptr_t *stk, int nstk, int64_t count, int64_t ns)
{
    goc__prof_rec *r = goc__prof_find(kind, stk, nstk);
    if (!r)
        return;
    struct prof_kind *k = &kinds[kind];
    goc__lock_acquire(&k->lock);
    r->b.count += count;
    r->b.ns += ns;
    goc__lock_release(&k->lock);
}

__attribute__((noinline)) int goc__prof_stack(uintptr_t *stk, int skip)
{
    enum { MAXSKIP = 8 };
    uintptr_t pcs[GOC__PROF_DEPTH + MAXSKIP];
    if (skip > MAXSKIP - 2)
        skip = MAXSKIP - 2;
    skip += 2; /* the walk starts in this function, then its caller */
    int n = goc__traceback_here(pcs, GOC__PROF_DEPTH + skip);
    if (n <= skip)
        return 0;
    memcpy(stk, pcs + skip, (size_t)(n - skip) * sizeof *stk);
    return n - skip;
}

void goc__prof_each(int kind, void (*fn)(const goc__prof_bucket *b, void *arg), void *arg)
{
    if (kind < 0 || kind >= GOC__PROF_KINDS)
        return;
    struct prof_kind *k = &kinds[kind];
    for (;;) {
        goc__lock_acquire(&k->lock);
        size_t n = k->n;
        goc__lock_release(&k->lock);
        if (n == 0)
            return;
        /* Sized outside the lock (the allocation may sample, and so take
         * the MEM lock); buckets are only ever added, so retry if more
         * appeared meanwhile. */
        goc__prof_bucket *copy = goc__alloc(n * sizeof *copy);
        if (!copy)
            return;
        goc__lock_acquire(&k->lock);
        if (k->n != n) {
            goc__lock_release(&k->lock);
            goc__free(copy);
            continue;
        }
        size_t i = 0;
        for (goc__prof_rec *r = k->all; r; r = r->alllink)
            copy[i++] = r->b;
        goc__lock_release(&k->lock);
        for (i = 0; i < n; i++)
            fn(&copy[i], arg);
        goc__free(copy);
        return;
    }
}

/* ---- block and mutex events ------------------------------------------------- */

/* A random int64 in [0, n), n > 0. */
static int64_t rand_below(int64_t n)
{
    return (int64_t)(goc__fastrand64() % (uint64_t)n);
}

__attribute__((noinline)) void goc__prof_block_event(int64_t t0, int64_t t1)
{
    int64_t rate = goc__prof_rate_of(GOC__PROF_BLOCK), d = t1 - t0;
    if (d < 0)
        d = 0;
    /* Go's blocksampled: every wait of at least rate; a shorter one with
     * probability d / rate, then counted rate / d times (Go's removal of
     * the sampling bias), so the expected totals are the true ones. */
    if (rate <= 0 || (rate > d && rand_below(rate) > d))
        return;
    int64_t count = 1, ns = d;
    if (d < rate) {
        int64_t dd = d > 0 ? d : 1;
        count = (rate + dd / 2) / dd;
        ns = rate;
    }
    uintptr_t stk[GOC__PROF_DEPTH];
    int n = goc__prof_stack(stk, 0);
    event_add(GOC__PROF_BLOCK, stk, n, count, ns);
}

__attribute__((noinline)) void goc__prof_mutex_event(int64_t ns)
{
    int64_t rate = goc__prof_rate_of(GOC__PROF_MUTEX);
    if (rate <= 0 || rand_below(rate) != 0)
        return;
    if (ns < 0)
        ns = 0;
    uintptr_t stk[GOC__PROF_DEPTH];
    int n = goc__prof_stack(stk, 0);
    /* Scaled here (prof.h): one event in rate is kept */
    event_add(GOC__PROF_MUTEX, stk, n, rate, ns * rate);
}

/* ---- public setters ------------------------------------------------------------ */

static int64_t rate_set(int kind, int64_t rate)
{
    if (rate < 0)
        return goc__prof_rate_of(kind);
    return atomic_exchange(&goc__prof_rates[kind], rate);
}

int64_t goc_block_profile_rate_set(int64_t ns)
{
    return rate_set(GOC__PROF_BLOCK, ns);
}

int goc_mutex_profile_fraction_set(int fraction)
{
    return (int)rate_set(GOC__PROF_MUTEX, fraction);
}

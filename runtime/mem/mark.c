/* mark.c: the parallel mark (Go's mgcmark.go and mgcwork.go, without
 * write barriers: the world stays stopped until the mark is done).
 *
 * One marker per P: the collecting thread and helper threads, which sleep
 * between cycles. Each marker has its own mark stack: a private top block
 * of work entries (ranges still to scan) and a list of full blocks that
 * the others may steal. A marker first takes root jobs (roots.c) from a
 * shared counter, scanning each and draining what it found; then it drains
 * its stack, and when empty steals a full block from another marker. A
 * marker that keeps a partial block while others are idle splits it and
 * publishes half (Go's balance).
 *
 * Termination: nbusy counts the markers that may still make work. A
 * marker leaves it only when its own stack and full list are empty and a
 * steal failed, and re-enters it (never from zero) before it steals again;
 * only busy markers publish blocks. So once nbusy is zero, no work exists
 * anywhere and none can appear: every marker returns.
 *
 * Everything here runs while the world is stopped (GOC_STW_FN); the work
 * blocks come from a private mapping (goc__gc_scratch), reset per cycle.
 */
#include "gc.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WB_N 255              /* entries per work block: 4 KiB blocks */
#define CHUNK (64 << 10)      /* longest range scanned in one piece */
#define MAX_MARKERS 64
#define BALANCE_EVERY 16      /* pops between checks for idle markers */
#define PREFETCH 8            /* far entries waiting for their memory */
#define NEAR 256              /* an entry this close after the last object: in cache */
#define SPINS 64              /* idle rounds before a marker yields its CPU */
#define SCRATCH_RESERVE ((size_t)64 << 30) /* address space; pages as used */
#define SCRATCH_KEEP ((size_t)4 << 20)     /* kept resident between cycles */

typedef struct wentry {
    uintptr_t p, n; /* scan n bytes from p */
} wentry;

typedef struct wbuf {
    struct wbuf *next;
    uint64_t n;
    wentry e[WB_N];
} wbuf;

struct goc__gcw {
    wbuf *cur;              /* top of the mark stack: its owner's alone */
    wbuf *spare;            /* empty blocks: its owner's alone */
    _Atomic uint32_t lock;  /* guards full */
    _Atomic uint32_t nfull; /* blocks on full (read without the lock by thieves) */
    wbuf *full;             /* full blocks, which any marker may take */
    uintptr_t lo, range;    /* lo <= v < lo + range: v may point into the heap */
    goc_mspan *cs;          /* the collected span the last lookup found ... */
    uintptr_t cbase, clen;  /* ... and its range: most pointers go near the last one */
    uint64_t marked;        /* bytes of objects this marker marked */
    uint32_t pops;
    uint32_t id;
    uint32_t go_seen; /* helpers: the last mk.go they answered */
} __attribute__((aligned(64)));

static goc__gcw workers[MAX_MARKERS];

static struct {
    int n;                   /* markers in this cycle */
    int nhelpers;            /* helper threads started (markers 1..nhelpers) */
    _Atomic uint32_t go;     /* futex: bumped to start the helpers */
    _Atomic uint32_t done;   /* futex: helpers done with this mark */
    _Atomic uint32_t nbusy;  /* markers that may still make work */
    _Atomic size_t nextjob;  /* next root job to take */
    size_t njobs;
} mk;

static struct {
    char *base;              /* SCRATCH_RESERVE bytes, mapped once */
    _Atomic size_t used;     /* bytes handed out this cycle */
    size_t high;             /* most used by a cycle since the last trim */
} scratch;

/* ---- scratch memory ------------------------------------------------------------- */

GOC_STW_FN void *goc__gc_scratch(size_t n)
{
    n = (n + 63) & ~(size_t)63;
    size_t off = atomic_fetch_add_explicit(&scratch.used, n, memory_order_relaxed);
    if (off + n > SCRATCH_RESERVE)
        goc__throw("collector: out of scratch memory");
    return scratch.base + off;
}

void goc__gc_scratch_reset(void)
{
    if (!scratch.base) {
        void *p = mmap(NULL, SCRATCH_RESERVE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            goc__throw("collector: cannot reserve its scratch memory");
        scratch.base = p;
    }
    size_t used = atomic_load(&scratch.used);
    if (used > scratch.high)
        scratch.high = used;
    if (scratch.high > SCRATCH_KEEP) {
        madvise(scratch.base + SCRATCH_KEEP, scratch.high - SCRATCH_KEEP, MADV_DONTNEED);
        scratch.high = SCRATCH_KEEP;
    }
    atomic_store(&scratch.used, 0);
}

/* ---- work blocks ----------------------------------------------------------------- */

GOC_STW_FN static wbuf *block_get(goc__gcw *w)
{
    wbuf *b = w->spare;
    if (b)
        w->spare = b->next;
    else
        b = goc__gc_scratch(sizeof *b);
    b->next = NULL;
    b->n = 0;
    return b;
}

/* Adds block b to w's shared list. */
GOC_STW_FN static void publish_block(goc__gcw *w, wbuf *b)
{
    goc__gc_spin_lock(&w->lock);
    b->next = w->full;
    w->full = b;
    atomic_store_explicit(&w->nfull, atomic_load_explicit(&w->nfull, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    goc__gc_spin_unlock(&w->lock);
}

/* Moves the full top block to the shared list and starts a new one. */
GOC_STW_FN static void publish(goc__gcw *w)
{
    publish_block(w, w->cur);
    w->cur = block_get(w);
}

static inline __attribute__((always_inline)) GOC_STW_FN void push(goc__gcw *w, uintptr_t p, uintptr_t n)
{
    if (GOC_UNLIKELY(w->cur->n == WB_N))
        publish(w);
    w->cur->e[w->cur->n++] = (wentry){p, n};
}

/* Takes a full block from v into w's top (w's top is empty). */
GOC_STW_FN static bool take_from(goc__gcw *w, goc__gcw *v)
{
    if (!atomic_load_explicit(&v->nfull, memory_order_relaxed))
        return false;
    goc__gc_spin_lock(&v->lock);
    wbuf *b = v->full;
    if (b) {
        v->full = b->next;
        atomic_store_explicit(&v->nfull, atomic_load_explicit(&v->nfull, memory_order_relaxed) - 1,
                              memory_order_relaxed);
    }
    goc__gc_spin_unlock(&v->lock);
    if (!b)
        return false;
    w->cur->next = w->spare;
    w->spare = w->cur;
    w->cur = b;
    return true;
}

static inline __attribute__((always_inline)) GOC_STW_FN bool pop(goc__gcw *w, wentry *e)
{
    for (;;) {
        wbuf *b = w->cur;
        if (GOC_LIKELY(b->n)) {
            *e = b->e[--b->n];
            return true;
        }
        if (!take_from(w, w))
            return false;
    }
}

GOC_STW_FN static bool steal(goc__gcw *w)
{
    int n = mk.n;
    for (int i = 1; i < n; i++)
        if (take_from(w, &workers[(w->id + (uint32_t)i) % (uint32_t)n]))
            return true;
    return false;
}

/* Others are idle and this marker has work only in its top block: gives
 * them half of it. */
GOC_STW_FN static void balance(goc__gcw *w)
{
    wbuf *b = w->cur;
    if (b->n < 4 || atomic_load_explicit(&w->nfull, memory_order_relaxed) ||
        atomic_load_explicit(&mk.nbusy, memory_order_relaxed) == (uint32_t)mk.n)
        return;
    wbuf *h = block_get(w);
    uint64_t half = b->n / 2;
    for (uint64_t i = 0; i < half; i++)
        h->e[i] = b->e[i]; /* the oldest entries: the biggest share of work */
    for (uint64_t i = half; i < b->n; i++)
        b->e[i - half] = b->e[i];
    h->n = half;
    b->n -= half;
    publish_block(w, h);
}

/* ---- marking ------------------------------------------------------------------------ */

/* The collected span holding v, or NULL. */
static inline __attribute__((always_inline)) GOC_SCAN_FN goc_mspan *span_at(goc__gcw *w,
                                                                           uintptr_t v)
{
    if (v - w->cbase < w->clen)
        return w->cs;
    goc__arena *ar = goc__arenas[v >> GOC_ARENA_SHIFT];
    if (!ar)
        return NULL;
    goc_mspan *s = ar->spans[(v >> GOC_PAGE_SHIFT) & (GOC_ARENA_PAGES - 1)];
    if (!s || s->state < GOC_SPAN_GC_SMALL)
        return NULL; /* free, dead or explicit */
    uintptr_t len = (uintptr_t)s->npages << GOC_PAGE_SHIFT;
    if (v - s->base >= len)
        return NULL; /* a stale page entry (pages of free spans keep them) */
    w->cs = s;
    w->cbase = s->base;
    w->clen = len;
    return s;
}

static inline __attribute__((always_inline)) GOC_SCAN_FN void mark(goc__gcw *w, uintptr_t v)
{
    goc_mspan *s = span_at(w, v);
    if (!s)
        return;
    uintptr_t off = v - s->base;
    uint32_t idx = (uint32_t)(((uint64_t)off * s->divmul) >> 32);
    if (idx >= s->nelems)
        return; /* the span's tail */
    uint32_t wi = idx >> 6;
    uint64_t bit = (uint64_t)1 << (idx & 63);
    if (!(s->allocbits[wi] & bit))
        return; /* a free slot keeps nothing */
    uint64_t *mw = &s->markbits[wi];
    if (__atomic_load_n(mw, __ATOMIC_RELAXED) & bit)
        return;
    if (__atomic_fetch_or(mw, bit, __ATOMIC_RELAXED) & bit)
        return;
    if (s->state == GOC_SPAN_GC_SMALL) {
        w->marked += s->elemsize;
        if (s->kind == GOC_KIND_SCAN)
            push(w, s->base + (uintptr_t)idx * s->elemsize, s->elemsize);
    } else {
        w->marked += (uint64_t)s->npages << GOC_PAGE_SHIFT;
        if (s->kind == GOC_KIND_SCAN)
            push(w, s->base, (s->reqsize + 7) & ~(size_t)7);
    }
}

GOC_SCAN_FN void goc__gcw_mark(goc__gcw *w, uintptr_t v)
{
    if (v - w->lo < w->range)
        mark(w, v);
}

GOC_SCAN_FN void goc__gcw_scan(goc__gcw *w, uintptr_t p, size_t n)
{
    if (n > CHUNK) {
        push(w, p + CHUNK, n - CHUNK);
        n = CHUNK;
    }
    /* Backwards: the first pointer is pushed last and scanned first, so
     * structures are traversed in the order they were built, which is
     * usually the order of their addresses. */
    const uintptr_t *q = (const uintptr_t *)p, *e = q + n / sizeof(uintptr_t);
    uintptr_t lo = w->lo, range = w->range;
    while (e > q) {
        uintptr_t v = *--e;
        if (v - lo < range)
            mark(w, v);
    }
}

/* Scans everything this marker can reach from its own stack, last in
 * first out, with objects scanned backwards: the entry popped next is
 * often the object right after the one just scanned, already in the cache,
 * and is scanned at once. Others (a far child, in a heap whose structures
 * were rebuilt piecemeal) are prefetched and wait in a small queue while
 * PREFETCH others are scanned. */
GOC_SCAN_FN static void drain(goc__gcw *w)
{
    wentry ring[PREFETCH];
    unsigned head = 0, cnt = 0;
    uintptr_t near = 0; /* just past the last object scanned */
    for (;;) {
        wentry e;
        if (pop(w, &e)) {
            if (e.p - near >= NEAR) {
                __builtin_prefetch((const void *)e.p);
                if (cnt == PREFETCH) { /* queue full: make room */
                    wentry f = ring[head];
                    ring[head] = e;
                    head = (head + 1) % PREFETCH;
                    e = f;
                } else {
                    ring[(head + cnt++) % PREFETCH] = e;
                    continue;
                }
            }
        } else if (cnt) {
            e = ring[head];
            head = (head + 1) % PREFETCH;
            cnt--;
        } else {
            return;
        }
        goc__gcw_scan(w, e.p, e.n);
        near = e.p + e.n;
        if (++w->pops % BALANCE_EVERY == 0)
            balance(w);
    }
}

/* One marker's whole mark: root jobs, then its stack and stealing, until
 * no work is left anywhere. */
GOC_STW_FN static void run(goc__gcw *w)
{
    size_t j;
    while ((j = atomic_fetch_add(&mk.nextjob, 1)) < mk.njobs) {
        goc__gc_root_job(w, j);
        drain(w);
    }
    for (;;) {
        drain(w);
        if (steal(w))
            continue;
        atomic_fetch_sub(&mk.nbusy, 1);
        for (int spins = 0;; spins++) {
            uint32_t n = atomic_load(&mk.nbusy);
            if (n == 0)
                return;
            bool any = false;
            for (int i = 0; i < mk.n && !any; i++)
                any = atomic_load_explicit(&workers[i].nfull, memory_order_relaxed) != 0;
            if (any && atomic_compare_exchange_weak(&mk.nbusy, &n, n + 1)) {
                if (steal(w))
                    break;
                atomic_fetch_sub(&mk.nbusy, 1);
            }
            if (spins < SPINS)
                goc__procyield(50);
            else
                syscall(SYS_sched_yield); /* the machine may have fewer CPUs free than markers */
        }
    }
}

/* ---- the markers ------------------------------------------------------------------- */

GOC_STW_FN static void futex_wait(_Atomic uint32_t *a, uint32_t v)
{
    syscall(SYS_futex, (uint32_t *)a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

GOC_STW_FN static void futex_wake(_Atomic uint32_t *a)
{
    syscall(SYS_futex, (uint32_t *)a, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

GOC_STW_FN static void *helper_main(void *arg)
{
    goc__gcw *w = arg;
    for (;;) {
        uint32_t g;
        while ((g = atomic_load(&mk.go)) == w->go_seen)
            futex_wait(&mk.go, g);
        w->go_seen = g;
        if (w->id < (uint32_t)mk.n)
            run(w);
        atomic_fetch_add(&mk.done, 1);
        futex_wake(&mk.done);
    }
    return NULL;
}

void goc__gc_markers_prepare(int n)
{
    if (n > MAX_MARKERS)
        n = MAX_MARKERS;
    if (n < 1)
        n = 1;
    while (mk.nhelpers < n - 1) {
        goc__gcw *w = &workers[mk.nhelpers + 1];
        w->id = (uint32_t)mk.nhelpers + 1;
        w->go_seen = atomic_load(&mk.go); /* before it starts: no mark is under way */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 128 * 1024);
        sigset_t all, old; /* the stop signal and the others are for the Ms */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t th;
        int rc = pthread_create(&th, &attr, helper_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break; /* fewer markers: still correct */
        mk.nhelpers++;
    }
    mk.n = mk.nhelpers + 1 < n ? mk.nhelpers + 1 : n;
}

void goc__gc_mark_statics(const void **p, size_t *n)
{
    *p = workers;
    *n = sizeof workers;
}

int goc__gc_markers(void)
{
    return mk.n;
}

GOC_STW_FN uint64_t goc__gc_mark(size_t njobs, uintptr_t lo, uintptr_t hi)
{
    for (int i = 0; i < mk.n; i++) {
        goc__gcw *w = &workers[i];
        w->id = (uint32_t)i;
        w->spare = NULL;
        w->full = NULL;
        atomic_store(&w->nfull, 0);
        atomic_store(&w->lock, 0);
        w->cur = block_get(w);
        w->lo = lo;
        w->range = hi - lo;
        w->cs = NULL;
        w->cbase = w->clen = 0;
        w->marked = 0;
        w->pops = 0;
    }
    mk.njobs = njobs;
    atomic_store(&mk.nextjob, 0);
    atomic_store(&mk.nbusy, (uint32_t)mk.n);
    atomic_store(&mk.done, 0);
    atomic_fetch_add(&mk.go, 1);
    futex_wake(&mk.go);
    run(&workers[0]);
    uint32_t d;
    while ((d = atomic_load(&mk.done)) < (uint32_t)mk.nhelpers)
        futex_wait(&mk.done, d);
    uint64_t marked = 0;
    for (int i = 0; i < mk.n; i++)
        marked += workers[i].marked;
    return marked;
}

/* Marks the object at obj without scanning it; returns the bytes newly
 * marked (0 when it was marked already). */
GOC_STW_FN uint64_t goc__gc_mark_only(void *obj)
{
    goc_mspan *s = goc__spanof(obj);
    uint32_t idx = (uint32_t)(((uint64_t)((uintptr_t)obj - s->base) * s->divmul) >> 32);
    uint64_t bit = (uint64_t)1 << (idx & 63);
    if (s->markbits[idx >> 6] & bit)
        return 0;
    s->markbits[idx >> 6] |= bit;
    return s->state == GOC_SPAN_GC_SMALL ? s->elemsize : (uint64_t)s->npages << GOC_PAGE_SHIFT;
}

/* Whether the collected object at obj is marked. */
GOC_STW_FN bool goc__gc_is_marked(void *obj)
{
    goc_mspan *s = goc__spanof(obj);
    uint32_t idx = (uint32_t)(((uint64_t)((uintptr_t)obj - s->base) * s->divmul) >> 32);
    return (s->markbits[idx >> 6] >> (idx & 63)) & 1;
}

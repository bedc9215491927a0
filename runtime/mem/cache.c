/* cache.c: the per-P cache (Go's mcache) and the public malloc entry points.
 *
 * Small allocation on a P takes no lock: first the class's local free list
 * (objects freed on this P), then the cached span's allocCache, a 64-bit
 * window of its bitmap read with count-trailing-zeros (Go's nextFreeFast),
 * then a reload of that window, and only when the span is exhausted a trip
 * to mcentral. A free pushes the object on the freeing P's list for its
 * class; past maxfree objects, the colder half of the list goes back to
 * mcentral in one locked batch. mem.h states who owns what.
 *
 * goc_malloc and goc_free are leaf functions on their fast paths (the list
 * pop or push): the P's cache comes from goc__tls_mcache, one thread-local
 * the scheduler keeps equal to the held P's cache, and everything else
 * (span refills, large objects, threads without a P, the first use of a
 * P) is out of line.
 *
 * A P's cache is made on its first allocation and lives for the process;
 * only the thread running that P touches it (goroutines are not preempted
 * inside the allocator, and the P is attached to one M at a time). Threads
 * without a P share `nop` under nop_lock.
 */
#include "goc/malloc.h"

#include "gc.h"
#include "mem.h"
#include "runtime.h"

#include <errno.h>
#include <string.h>

#define CACHE_BYTES (64 << 10) /* a class list holds up to this many bytes ... */
#define CACHE_MIN 4             /* ... but at least this many objects */
#define CACHE_MAX 512           /* ... and at most this many */

_Atomic(struct goc_mcache *) goc__allcaches;

static struct goc_mcache *nop;        /* the shared cache for threads without a P */
static _Atomic uint64_t uncached_frees[GOC_NUM_CLASSES]; /* freed with no cache to take them */
static goc__lock nop_lock = GOC_LOCK_INIT; /* guards *nop and its creation */

static void cache_init(struct goc_mcache *c)
{
    goc__gc_init();
    for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++) {
        uint32_t n = CACHE_BYTES / goc__class_size[k];
        c->c[k].maxfree = n < CACHE_MIN ? CACHE_MIN : n > CACHE_MAX ? CACHE_MAX : n;
        /* GOC_GCSTRESS counts explicit allocations on the slow path: with
         * no free list, every one takes it */
        if (goc__gc.stress)
            c->c[k].maxfree = 0;
    }
    c->sample_left = goc__mprof_first();
    struct goc_mcache *head = atomic_load(&goc__allcaches);
    do
        c->alllink = head;
    while (!atomic_compare_exchange_weak(&goc__allcaches, &head, c));
}

static struct goc_mcache *cache_new(void)
{
    struct goc_mcache *c = goc__persistent_alloc(sizeof *c);
    if (c)
        cache_init(c);
    return c;
}

/* This P's cache, made on first use; NULL without a P. The scheduler keeps
 * goc__tls_mcache equal to the held P's cache, so only the first allocation
 * on a P comes here. */
__attribute__((noinline)) static struct goc_mcache *my_cache_slow(void)
{
    goc_p *pp = goc__getp();
    if (!pp)
        return NULL;
    if (!pp->mcache)
        pp->mcache = cache_new();
    goc__tls_mcache = pp->mcache;
    return pp->mcache;
}

static inline struct goc_mcache *my_cache(void)
{
    struct goc_mcache *c = goc__tls_mcache;
    return GOC_LIKELY(c) ? c : my_cache_slow();
}

struct goc_mcache *goc__cache_mine(void)
{
    return my_cache();
}

void goc__cache_nop_lock(void)
{
    goc__lock_acquire(&nop_lock);
}

void goc__cache_nop_unlock(void)
{
    goc__lock_release(&nop_lock);
}

/* The shared cache, locked; NULL (unlocked) if it cannot be made. */
static struct goc_mcache *nop_acquire(void)
{
    goc__lock_acquire(&nop_lock);
    if (GOC_UNLIKELY(!nop)) {
        nop = cache_new();
        if (!nop) {
            goc__lock_release(&nop_lock);
            return NULL;
        }
    }
    return nop;
}

static inline void set_nfree(goc__cache_class *k, uint32_t n)
{
    __atomic_store_n(&k->nfree, n, __ATOMIC_RELAXED);
}

static inline void count(_Atomic uint64_t *ctr)
{
    atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void *cache_refill(goc__cache_class *k, uint32_t cls)
{
    goc_mspan *s = goc__central_refill(cls, k->span);
    k->span = s;
    return s ? goc__span_next(s) : NULL;
}

/* The class list's first object, counted as handed out; NULL when the
 * list is empty. goc_malloc's fast path is this alone. */
static inline void *list_pop(goc__cache_class *k)
{
    void *p = k->free;
    if (p) {
        k->free = goc__link_get(p);
        set_nfree(k, k->nfree - 1);
        count(&k->nmalloc);
    }
    return p;
}

static inline void *cache_alloc(struct goc_mcache *c, uint32_t cls)
{
    goc__cache_class *k = &c->c[cls];
    void *p = list_pop(k);
    if (p)
        return p;
    p = k->span ? goc__span_next(k->span) : NULL;
    if (GOC_UNLIKELY(!p)) {
        p = cache_refill(k, cls);
        if (!p)
            return NULL;
    }
    count(&c->counts[cls].nspan);
    count(&k->nmalloc);
    return p;
}

/* Sends the colder half of a class's free list to mcentral. */
__attribute__((noinline)) static void cache_flush(struct goc_mcache *c, uint32_t cls, uint32_t keep)
{
    goc__cache_class *k = &c->c[cls];
    _Atomic uint64_t *flushed = &c->counts[cls].nflushed;
    void *rest = k->free;
    if (keep == 0) {
        k->free = NULL;
    } else {
        void *last = k->free;
        for (uint32_t i = 1; i < keep; i++)
            last = goc__link_get(last);
        rest = goc__link_get(last);
        goc__link_set(last, NULL);
    }
    atomic_store_explicit(flushed,
                          atomic_load_explicit(flushed, memory_order_relaxed) + (k->nfree - keep),
                          memory_order_relaxed);
    set_nfree(k, keep);
    goc__central_free(cls, rest);
}

static inline void cache_free(struct goc_mcache *c, uint32_t cls, void *p)
{
    goc__cache_class *k = &c->c[cls];
    goc__link_set(p, k->free);
    k->free = p;
    uint32_t n = k->nfree + 1;
    set_nfree(k, n);
    if (GOC_UNLIKELY(n > k->maxfree))
        cache_flush(c, cls, k->maxfree / 2);
}

/* ---- public entry points ---------------------------------------------------------- */

static void *large_alloc(size_t size)
{
    if (size > ((size_t)1 << GOC_ADDR_BITS))
        return NULL;
    size_t npages = (size + GOC_PAGE_SIZE - 1) >> GOC_PAGE_SHIFT;
    if (npages > UINT32_MAX)
        return NULL;
    goc_mspan *s = goc__heap_alloc((uint32_t)npages, 0, GOC_KIND_EXPLICIT);
    if (!s)
        return NULL;
    s->reqsize = size;
    GOC_UNPOISON((void *)s->base, size);
    return (void *)s->base;
}

static void *small_alloc(uint32_t cls)
{
    struct goc_mcache *c = my_cache();
    if (GOC_LIKELY(c))
        return cache_alloc(c, cls);
    c = nop_acquire();
    if (!c)
        return NULL;
    void *p = cache_alloc(c, cls);
    goc__lock_release(&nop_lock);
    return p;
}

/* Counts the off-fast-path allocation p (bytes: its class's or its pages'
 * size) toward the heap profile's next sample (mprof.c). */
static inline void *sample(void *p, size_t bytes)
{
    struct goc_mcache *c = goc__tls_mcache;
    int64_t *left = c ? &c->sample_left : (int64_t *)&goc__mprof_nop_left;
    if (goc__mprof_due(left, bytes))
        return goc__mprof_sampled(left, p, bytes);
    return p;
}

/* Everything but a small request served from the P's free list. */
GOC_MALLOC_TEXT __attribute__((noinline)) static void *malloc_slow(size_t size)
{
    bool small = size <= GOC_MAX_SMALL;
    uint32_t cls = small ? (size ? goc__size_class(size) : 1) : 0;
    void *p = small ? small_alloc(cls) : large_alloc(size);
    if (GOC_UNLIKELY(!p)) {
        errno = ENOMEM;
        return NULL;
    }
    if (small)
        GOC_UNPOISON(p, size ? size : 1);
    p = sample(p, small ? goc__class_size[cls] : (size_t)goc__spanof(p)->npages << GOC_PAGE_SHIFT);
    if (GOC_UNLIKELY(goc__gc.stress))
        goc__gc_after_alloc(false); /* we may hold any runtime lock: asks the background */
    return p;
}

/* The fast path is a leaf (no frame, no saved registers): the cached
 * class list's first object, counted toward the heap profile's next
 * sample (one subtraction and a branch, whether the profile is on or
 * off), else malloc_slow. */
GOC_MALLOC_TEXT void *goc_malloc(size_t size)
{
    struct goc_mcache *c = goc__tls_mcache;
    if (GOC_LIKELY(c && size - 1 < GOC_MAX_SMALL)) {
        uint32_t cls = goc__size_class(size);
        void *p = list_pop(&c->c[cls]);
        if (GOC_LIKELY(p)) {
            GOC_UNPOISON(p, size);
            if (goc__mprof_due(&c->sample_left, goc__class_size[cls]))
                return goc__mprof_sampled(&c->sample_left, p, goc__class_size[cls]);
            return p;
        }
    }
    return malloc_slow(size);
}

GOC_MALLOC_TEXT void *goc_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > GOC_MAX_SMALL) {
        void *p = large_alloc(total);
        if (!p) {
            errno = ENOMEM;
            return NULL;
        }
        goc_mspan *s = goc__spanof(p);
        if (s->needzero)
            memset(p, 0, total);
        return sample(p, (size_t)s->npages << GOC_PAGE_SHIFT);
    }
    void *p = goc_malloc(total);
    if (p)
        memset(p, 0, total ? total : 1);
    return p;
}

__attribute__((noinline, cold)) _Noreturn static void bad_pointer(void)
{
    goc_fatal("goc_free: pointer is not a live block of the goc heap");
}

/* p's span if p is an object's start in it, else NULL. The page map gives
 * the span of p's page, so p lies inside it (divmul is 0 for a large span:
 * only offset 0 passes). The span's state is left to the caller. */
static inline goc_mspan *span_of_object(void *p)
{
    goc_mspan *s = goc__spanof(p);
    if (GOC_UNLIKELY(!s))
        return NULL;
    uintptr_t off = (uintptr_t)p - s->base;
    uint32_t idx = (uint32_t)(((uint64_t)off * s->divmul) >> 32);
    return GOC_LIKELY((uintptr_t)idx * s->elemsize == off) ? s : NULL;
}

static inline bool span_live(const goc_mspan *s)
{
    return s->state == GOC_SPAN_SMALL || s->state == GOC_SPAN_LARGE;
}

/* The span of live block p, checked; fatal for a pointer that is not one. */
static inline goc_mspan *span_checked(void *p)
{
    goc_mspan *s = span_of_object(p);
    if (GOC_UNLIKELY(!s || !span_live(s)))
        bad_pointer();
    return s;
}

/* Everything but a small object going onto the P's free list. */
__attribute__((noinline)) static void free_slow(void *p, goc_mspan *s)
{
    if (!span_live(s))
        bad_pointer();
    if (s->state == GOC_SPAN_LARGE) {
        goc__heap_free(s);
        return;
    }
    uint32_t cls = s->sizeclass;
    struct goc_mcache *c = my_cache();
    if (c) {
        cache_free(c, cls, p);
        return;
    }
    c = nop_acquire();
    if (c) {
        cache_free(c, cls, p);
        goc__lock_release(&nop_lock);
    } else {
        goc__link_set(p, NULL);
        atomic_fetch_add_explicit(&uncached_frees[cls], 1, memory_order_relaxed);
        goc__central_free(cls, p);
    }
}

/* A large object, or one in a span holding objects the heap profile
 * sampled: checked, its free counted if it was sampled, then free_slow. */
__attribute__((noinline)) static void free_other(void *p, goc_mspan *s)
{
    if (!span_live(s))
        bad_pointer();
    if (goc__span_sampled(s))
        goc__mprof_free(p, s);
    if (s->state == GOC_SPAN_SMALL)
        GOC_POISON(p, s->elemsize);
    free_slow(p, s);
}

/* Like goc_malloc, a leaf on the fast path: a small object freed on a P
 * goes on its cache's list; free_slow checks and does the rest. */
void goc_free(void *p)
{
    if (GOC_UNLIKELY(!p))
        return;
    goc_mspan *s = span_of_object(p);
    if (GOC_UNLIKELY(!s))
        bad_pointer();
#ifdef GOC_MEM_ASAN
    if (__asan_address_is_poisoned(p))
        goc_fatal("goc_free: double free (block already poisoned)");
#endif
    if (GOC_LIKELY(s->state == GOC_SPAN_SMALL && !goc__span_sampled(s))) {
        GOC_POISON(p, s->elemsize);
        struct goc_mcache *c = goc__tls_mcache;
        if (GOC_LIKELY(c)) {
            cache_free(c, s->sizeclass, p);
            return;
        }
        free_slow(p, s);
        return;
    }
    free_other(p, s);
}

size_t goc_malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    goc_mspan *s = span_checked(p);
    size_t n = s->state == GOC_SPAN_LARGE ? (size_t)s->npages << GOC_PAGE_SHIFT : s->elemsize;
    GOC_UNPOISON(p, n);
    return n;
}

size_t goc_malloc_roundup(size_t size)
{
    if (size <= GOC_MAX_SMALL)
        return goc__class_size[size ? goc__size_class(size) : 1];
    if (size > SIZE_MAX - GOC_PAGE_SIZE)
        return size;
    return (size + GOC_PAGE_SIZE - 1) & ~(GOC_PAGE_SIZE - 1);
}

GOC_MALLOC_TEXT void *goc_realloc(void *p, size_t size)
{
    if (!p)
        return goc_malloc(size);
    if (size == 0) {
        goc_free(p);
        return NULL;
    }
    goc_mspan *s = span_checked(p);
    size_t have = s->state == GOC_SPAN_LARGE ? (size_t)s->npages << GOC_PAGE_SHIFT : s->elemsize;
    /* Stay put when the new size rounds to the same class or page count. */
    if (goc_malloc_roundup(size) == have) {
        GOC_UNPOISON(p, size);
        GOC_POISON((char *)p + size, have - size);
        if (s->state == GOC_SPAN_LARGE)
            s->reqsize = size;
        return p;
    }
    void *q = goc_malloc(size);
    if (!q)
        return NULL;
    GOC_UNPOISON(p, have);
    memcpy(q, p, have < size ? have : size);
    goc_free(p);
    return q;
}

/* Marks the objects of one explicit free list in their spans' markbits. */
GOC_SCAN_FN static void mark_free_list(void *o)
{
    for (; o; o = goc__link_get(o)) {
        goc_mspan *s = goc__spanof(o);
        uint32_t idx = (uint32_t)(((uint64_t)((uintptr_t)o - s->base) * s->divmul) >> 32);
        s->markbits[idx >> 6] |= (uint64_t)1 << (idx & 63);
    }
}

GOC_SCAN_FN void goc__cache_mark_free(void)
{
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        struct goc_mcache *c = goc__sched_.allp[i]->mcache;
        for (uint32_t k = 1; c && k < GOC_NUM_CLASSES; k++)
            mark_free_list(c->c[k].free);
    }
}

void goc_mem_stats_read(goc_mem_stats *out)
{
    memset(out, 0, sizeof *out);
    for (struct goc_mcache *c = atomic_load(&goc__allcaches); c; c = c->alllink)
        for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++) {
            goc__cache_class *cc = &c->c[k];
            uint64_t mallocs = atomic_load_explicit(&cc->nmalloc, memory_order_relaxed);
            out->classes[k].mallocs += mallocs;
            goc__cache_counts *cn = &c->counts[k];
            out->classes[k].frees += mallocs - atomic_load_explicit(&cn->nspan, memory_order_relaxed) +
                                     atomic_load_explicit(&cn->nflushed, memory_order_relaxed) +
                                     __atomic_load_n(&cc->nfree, __ATOMIC_RELAXED);
        }
    for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++)
        out->classes[k].frees += atomic_load_explicit(&uncached_frees[k], memory_order_relaxed);
    goc__heap_stats_t h;
    goc__heap_stats(&h);
    for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++) {
        goc_mem_class_stats *cs = &out->classes[k];
        cs->size = goc__class_size[k];
        cs->span_pages = goc__class_npages[k];
        cs->objects = cs->mallocs > cs->frees ? cs->mallocs - cs->frees : 0;
        out->objects_in_use += cs->objects;
        out->bytes_in_use += cs->objects * cs->size;
    }
    out->large_objects = h.large_objects;
    out->large_bytes = h.large_bytes;
    out->objects_in_use += h.large_objects;
    out->bytes_in_use += h.large_bytes;
    out->spans_small = h.spans_small;
    out->spans_large = h.spans_large;
    out->heap_mapped = h.mapped;
    out->pages_in_use = h.inuse_pages;
    out->pages_free = h.free_pages;
    out->pages_released = h.released_pages;
    out->madvise_calls = h.madvise_calls;
    out->meta_bytes = h.meta_bytes;
}

/* Core reaches the allocator through its hook table (runtime.h): filled
 * here, before main, whenever the allocator is linked at all. */
__attribute__((constructor)) static void register_with_core(void)
{
    static const goc__mem_hooks hooks = {
        .alloc = goc_malloc,
        .calloc = goc_calloc,
        .realloc = goc_realloc,
        .free = goc_free,
        .scavenge_tick = goc__heap_scavenge_tick,
        .start = goc__gc_start,
    };
    goc__mem_register(&hooks);
}

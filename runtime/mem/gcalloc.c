/* gcalloc.c: allocating collected memory (goc_gc_alloc and
 * goc_gc_alloc_noscan), and the collected classes' centrals.
 *
 * Collected objects live in spans of their own (GOC_SPAN_GC_SMALL, one
 * size class and kind each; GOC_SPAN_GC_LARGE, one object). A P's cache
 * holds one span per class and kind, and the fast path takes the next free
 * slot of its bitmap, exactly as goc_malloc's span path does, zeroing it
 * when the span's memory may hold old data. The fast path is placed in the
 * section goc_nostop_text: it advances the span's allocation state before
 * the new object's address is in any register, so the collector must not
 * stop a thread there (runtime/core/stw.c refuses, and signals again).
 *
 * When the cached span is exhausted, the refill gives it back to its
 * class's collected central and takes another: a swept one with a free
 * slot, else one left unswept by the last cycle, swept here first (Go's
 * lazy sweeping, up to REFILL_SWEEP_BUDGET spans), else a new span from the
 * heap. The whole refill, the first object included, runs under the
 * central's lock, which the collector takes before it stops the world: no
 * refill is ever half done during a pause.
 *
 * Pacing (Go's heapLive): the free slots of a span count as allocated from
 * the moment it is cached, and the unused ones are subtracted when it is
 * given back, so the fast path counts nothing; goc__gc_after_alloc starts a
 * cycle once heap_live reaches the trigger.
 *
 * Under a sanitizer, and with GOC_GCSTRESS, no span is cached: each
 * allocation takes one slot under its central's lock (the sanitizers' calls
 * could not sit in goc_nostop_text, and the stress mode counts each
 * allocation on the slow path).
 *
 * Invariants (gc.h has the collector's):
 *  - A cache's collected span changes only under its central's lock, and
 *    the first object of a new one is taken under it too.
 *  - heap_live counts every slot of every cached span, allocated or not,
 *    plus the allocated slots of uncached spans since the last mark.
 */
#include "gc.h"

#include <errno.h>
#include <string.h>

#define REFILL_SWEEP_BUDGET 100 /* spans a refill may sweep before it grows (Go's spanBudget) */
#define NOSTOP_TEXT __attribute__((section("goc_nostop_text")))

goc__gcentral goc__gcentrals[2][GOC_NUM_CLASSES];
goc__gcentral goc__gclarge;

/* A span of class cls and kind k with a free slot, not on any list: a
 * swept one, one it sweeps, or a new one. gc->lock held. */
static goc_mspan *take(goc__gcentral *gc, uint8_t k, uint32_t cls, uint32_t sg)
{
    int sw = goc__gc_swept(sg), us = goc__gc_unswept(sg);
    goc_mspan *s = goc__gc_pop(&gc->partial[sw]);
    if (s)
        return s;
    for (int budget = REFILL_SWEEP_BUDGET; budget > 0; budget--) {
        s = goc__gc_pop(&gc->partial[us]);
        if (!s)
            s = goc__gc_pop(&gc->full[us]);
        if (!s)
            break;
        if (goc__gc_sweep_span(s) < s->nelems)
            return s;
        goc__gc_push(&gc->full[sw], s);
    }
    s = goc__heap_alloc(goc__class_npages[cls], cls, k);
    if (s)
        s->sweepgen = sg;
    return s;
}

static inline void live_add(int64_t n)
{
    atomic_fetch_add_explicit(&goc__gc.heap_live, (uint64_t)n, memory_order_relaxed);
}

/* Gives cached span s back to its central, counting its unused slots out
 * of heap_live. gc->lock held. */
static void uncache(goc__gcentral *gc, goc_mspan *s, uint32_t sg)
{
    goc__span_commit(s);
    s->cached = false;
    live_add(-(int64_t)(s->nelems - s->alloccount) * s->elemsize);
    int sw = goc__gc_swept(sg);
    goc__gc_push(s->alloccount < s->nelems ? &gc->partial[sw] : &gc->full[sw], s);
}

/* Swaps cache c's exhausted span of class cls, kind k for one with a free
 * slot and allocates from it. */
static void *refill(struct goc_mcache *c, uint8_t k, uint32_t cls)
{
    goc__gcentral *gc = &goc__gcentrals[k - 1][cls];
    goc_mspan **slot = &c->gc[k - 1][cls];
    goc__lock_acquire(&gc->lock);
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    if (*slot) {
        uncache(gc, *slot, sg);
        *slot = NULL;
    }
    goc_mspan *s = take(gc, k, cls, sg);
    if (!s) {
        goc__lock_release(&gc->lock);
        return NULL;
    }
    s->cached = true;
    s->freeindex = 0;
    s->alloccache = 0;
    live_add((int64_t)(s->nelems - s->alloccount) * s->elemsize);
    *slot = s;
    void *p = goc__span_next(s);
    bool zero = s->needzero;
    goc__lock_release(&gc->lock);
    if (zero)
        memset(p, 0, s->elemsize);
    return p;
}

/* One slot of class cls, kind k, taken under the central's lock from a
 * span that stays on its lists (no caching). */
static void *alloc_locked(uint8_t k, uint32_t cls, size_t size)
{
    goc__gcentral *gc = &goc__gcentrals[k - 1][cls];
    goc__lock_acquire(&gc->lock);
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    int sw = goc__gc_swept(sg);
    goc_mspan *s = gc->partial[sw];
    if (!s) {
        s = take(gc, k, cls, sg);
        if (!s) {
            goc__lock_release(&gc->lock);
            return NULL;
        }
        goc__gc_push(&gc->partial[sw], s);
    }
    uint32_t idx = 0;
    for (uint32_t w = 0; w < GOC_BITMAP_WORDS; w++)
        if (~s->allocbits[w]) {
            idx = w * 64 + (uint32_t)__builtin_ctzll(~s->allocbits[w]);
            break;
        }
    s->allocbits[idx >> 6] |= (uint64_t)1 << (idx & 63);
    if (++s->alloccount == s->nelems)
        goc__gc_push(&gc->full[sw], goc__gc_pop(&gc->partial[sw]));
    live_add(s->elemsize);
    void *p = (void *)(s->base + (uintptr_t)idx * s->elemsize);
    size_t n = s->elemsize;
    bool zero = s->needzero;
    goc__lock_release(&gc->lock);
    GOC_UNPOISON(p, n);
    GOC_TSAN_NEW(p, n);
    if (zero)
        memset(p, 0, n);
    GOC_POISON((char *)p + size, n - size);
    return p;
}

/* A large object: a span of its own on the large list. */
static void *alloc_large(uint8_t k, size_t size)
{
    if (size > ((size_t)1 << GOC_ADDR_BITS))
        return NULL;
    size_t npages = (size + GOC_PAGE_SIZE - 1) >> GOC_PAGE_SHIFT;
    if (npages > UINT32_MAX)
        return NULL;
    goc__lock_acquire(&goc__gclarge.lock);
    goc_mspan *s = goc__heap_alloc((uint32_t)npages, 0, k);
    if (!s) {
        goc__lock_release(&goc__gclarge.lock);
        return NULL;
    }
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    s->allocbits[0] = 1;
    s->alloccount = 1;
    s->reqsize = size;
    s->sweepgen = sg;
    goc__gc_push(&goc__gclarge.full[goc__gc_swept(sg)], s);
    live_add((int64_t)npages << GOC_PAGE_SHIFT);
    bool zero = s->needzero;
    goc__lock_release(&goc__gclarge.lock);
    void *p = (void *)s->base;
    GOC_UNPOISON(p, size);
    GOC_TSAN_NEW(p, size);
    if (zero)
        memset(p, 0, size);
    return p;
}

__attribute__((noinline, cold)) _Noreturn static void outside_goroutine(void)
{
    goc_fatal("goc_gc_alloc: called outside a goroutine (collected memory belongs to goroutines)");
}

/* Everything but a slot from the cached span. k: GOC_KIND_SCAN or NOSCAN. */
__attribute__((noinline)) static void *alloc_slow(size_t size, uint8_t k)
{
    goc__gc_init();
    struct goc_mcache *c = goc__cache_mine();
    if (!c)
        outside_goroutine();
    if (size == 0)
        size = 1;
    void *p;
    if (size > GOC_MAX_SMALL)
        p = alloc_large(k, size);
    else if (goc__gc.locked)
        p = alloc_locked(k, goc__size_class(size), size);
    else
        p = refill(c, k, goc__size_class(size));
    if (GOC_UNLIKELY(!p)) {
        errno = ENOMEM;
        return NULL;
    }
    goc__gc_after_alloc(true);
    return p;
}

/* The fast path (see the file comment): a leaf but for the memset. */
static inline __attribute__((always_inline)) void *alloc_fast(size_t size, uint8_t k)
{
    struct goc_mcache *c = goc__tls_mcache;
    if (GOC_LIKELY(c && size - 1 < GOC_MAX_SMALL)) {
        goc_mspan *s = c->gc[k - 1][goc__size_class(size)];
        if (GOC_LIKELY(s)) {
            void *p = goc__span_next(s);
            if (GOC_LIKELY(p)) {
                if (s->needzero)
                    memset(p, 0, s->elemsize);
                return p;
            }
        }
    }
    return alloc_slow(size, k);
}

NOSTOP_TEXT void *goc_gc_alloc(size_t size)
{
    return alloc_fast(size, GOC_KIND_SCAN);
}

NOSTOP_TEXT void *goc_gc_alloc_noscan(size_t size)
{
    return alloc_fast(size, GOC_KIND_NOSCAN);
}

/* ---- for the collector ------------------------------------------------------------ */

void goc__gc_centrals_lock(void)
{
    for (int k = 0; k < 2; k++)
        for (uint32_t cls = 1; cls < GOC_NUM_CLASSES; cls++)
            goc__lock_acquire(&goc__gcentrals[k][cls].lock);
    goc__lock_acquire(&goc__gclarge.lock);
}

void goc__gc_centrals_unlock(void)
{
    goc__lock_release(&goc__gclarge.lock);
    for (int k = 1; k >= 0; k--)
        for (uint32_t cls = GOC_NUM_CLASSES - 1; cls >= 1; cls--)
            goc__lock_release(&goc__gcentrals[k][cls].lock);
}

GOC_STW_FN void goc__gc_caches_commit(void)
{
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        struct goc_mcache *c = goc__sched_.allp[i]->mcache;
        for (int k = 0; c && k < 2; k++)
            for (uint32_t cls = 1; cls < GOC_NUM_CLASSES; cls++)
                if (c->gc[k][cls])
                    goc__span_commit(c->gc[k][cls]);
    }
}

GOC_STW_FN uint64_t goc__gc_caches_sweep(void)
{
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    bool poison = goc__gc.poison;
    uint64_t free_bytes = 0;
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        struct goc_mcache *c = goc__sched_.allp[i]->mcache;
        for (int k = 0; c && k < 2; k++)
            for (uint32_t cls = 1; cls < GOC_NUM_CLASSES; cls++) {
                goc_mspan *s = c->gc[k][cls];
                if (!s)
                    continue;
                goc__gc_sweep_bits(s, poison);
                s->sweepgen = sg;
                free_bytes += (uint64_t)(s->nelems - s->alloccount) * s->elemsize;
            }
    }
    return free_bytes;
}

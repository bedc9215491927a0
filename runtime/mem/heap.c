/* heap.c: the page heap (Go's mheap) over 64 MiB arenas.
 *
 * Design. Address space is reserved from the OS in 64 MiB-aligned arenas
 * (Go's heapArenaBytes on 64-bit Linux, doc/go-rules.md 8.9), first near Go's hint
 * 0xc000000000 and then next to the previous arena, so the heap is usually
 * contiguous but need not be. A request larger than an arena reserves
 * several adjacent ones at once. We do not reserve Go's old contiguous
 * 512 GB arena (doc/go-rules.md 8.9: the pre-1.11 design): it needs a fixed range
 * of address space, caps the heap, and its side tables must be sized up
 * front; arenas grow on demand and only cost what they map.
 *
 * Finding a span from a pointer, as Go: a flat arena index with one entry
 * per 64 MiB of the 47-bit address space (2^21 pointers, reserved with
 * MAP_NORESERVE so only touched pages cost memory), each pointing at an
 * arena record that maps every page of the arena to its span.
 *
 * Free pages are kept as free spans, coalesced with free neighbours on
 * free, in lists by length (1..127 pages, and one list for longer ones,
 * searched best-fit). This is Go's mheap before its 1.14 bitmap page
 * allocator (doc/go-rules.md 8.8): simpler, and our heap changes far less than a
 * garbage-collected one. Allocation splits the best fit.
 *
 * Returning memory, lazily as Go's background scavenger does: free pages
 * still backed by memory ("held") may exceed the retained amount (4 MiB
 * plus as many pages as are in use, so the resident heap stays within about
 * twice the live size as Go's heap goal with GOGC=100 does; plus 1 MiB of
 * slack) for up to SCAV_DELAY_NS. The first free that pushes them over
 * starts that clock; the first heap allocation or free after it runs out,
 * or sysmon's tick (goc__heap_scavenge_tick), gives the excess back with
 * madvise(MADV_DONTNEED), largest free spans first, down to half the
 * retained amount. Held pages beyond a hard limit (the retained amount plus
 * twice the peak in-use pages since the last scavenge plus 64 MiB) go back
 * at once. A program that frees a large heap and reuses it soon (a growing
 * slice, a round of work) so keeps its pages instead of faulting them in
 * again; goc_mem_scavenge releases every free page now (Go's
 * debug.FreeOSMemory). A released page reads as zero when next touched, so
 * a span made only of released pages needs no zeroing.
 *
 * The collector (gc.h) reads the records through allspans (every record
 * ever made, which only grows) and the heap's bounds, holding heap.lock
 * across its pause; collected spans differ from explicit ones by their
 * state (GOC_SPAN_GC_SMALL, GOC_SPAN_GC_LARGE) and kind.
 *
 * Invariants (all under heap.lock):
 *  - Every page of every arena belongs to exactly one span (free or not).
 *  - In-use spans have every page's map entry pointing at them; free spans
 *    have at least their first and last page's.
 *  - No two free spans are adjacent (they are merged).
 *  - A page's bit in its arena's released map is set iff the page is free
 *    and released (fresh from mmap or madvised since it was last used).
 *  - A free span's npreleased is the count of its pages with that bit set;
 *    a span with some but not all released (after merging a released and
 *    an unreleased span) is treated as not released by release(); split,
 *    each part gets its exact count from the map, so an allocation made
 *    only of released pages is known to be zero.
 */
#include "goc/malloc.h"
#include "goc/time.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NLISTS 128 /* free lists for 1..127 pages; [0]: 128 pages and more */
#define RETAIN_MIN_PAGES 512 /* 4 MiB */
#define RETAIN_SLACK_PAGES 128 /* scavenge only 1 MiB past the limit, down to half of it */
#define HARD_EXTRA_PAGES 8192  /* 64 MiB: see the hard limit above */
#define SCAV_DELAY_NS GOC_SECOND /* how long an excess may be held */

static struct {
    goc__lock lock;               /* guards everything below */
    goc_mspan *free[NLISTS];      /* free spans by page count */
    goc_mspan *deadspans;         /* span records for reuse, linked by next */
    goc_mspan **allspans;         /* every record ever made (goc__heap_allspans) */
    size_t nallspans, capallspans;
    uintptr_t lo, hi;             /* bounds of the arenas reserved so far */
    uintptr_t hint;               /* where to ask for the next arena */
    uint64_t peak_inuse;          /* most in-use pages since the last scavenge */
    _Atomic int64_t scav_due;     /* when the held excess goes back (ns); 0: none.
                                     Written under lock, read by sysmon without */
    goc__heap_stats_t st;
} heap = {.lock = GOC_LOCK_INIT, .hint = (uintptr_t)0xc0 << 32};

/* [addr >> 26]; written under heap.lock, read without it (see mem.h). */
goc__arena *goc__arenas[GOC_ARENA_INDEX];

static goc__lock persist_lock = GOC_LOCK_INIT; /* guards persist_* */
static char *persist_cur, *persist_end;
static _Atomic uint64_t persist_bytes;

/* ---- permanent records ------------------------------------------------------ */

static void *os_map(size_t size, void *hint)
{
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *goc__persistent_alloc(size_t size)
{
    enum { CHUNK = 256 << 10 };
    size = (size + 63) & ~(size_t)63;
    if (size > CHUNK / 4) {
        void *p = os_map(size, NULL);
        if (p)
            atomic_fetch_add_explicit(&persist_bytes, size, memory_order_relaxed);
        return p;
    }
    goc__lock_acquire(&persist_lock);
    if ((size_t)(persist_end - persist_cur) < size) {
        char *c = os_map(CHUNK, NULL);
        if (!c) {
            goc__lock_release(&persist_lock);
            return NULL;
        }
        persist_cur = c;
        persist_end = c + CHUNK;
        atomic_fetch_add_explicit(&persist_bytes, CHUNK, memory_order_relaxed);
    }
    void *p = persist_cur;
    persist_cur += size;
    goc__lock_release(&persist_lock);
    return p;
}

/* Records the new span record s in allspans. heap.lock held. */
static bool allspans_add(goc_mspan *s)
{
    if (heap.nallspans == heap.capallspans) {
        size_t cap = heap.capallspans ? heap.capallspans * 2 : 1024;
        goc_mspan **a = goc__persistent_alloc(cap * sizeof *a);
        if (!a)
            return false;
        if (heap.nallspans)
            memcpy(a, heap.allspans, heap.nallspans * sizeof *a);
        heap.allspans = a; /* the old array stays mapped: permanent records */
        heap.capallspans = cap;
    }
    heap.allspans[heap.nallspans++] = s;
    return true;
}

static goc_mspan *span_new(void) /* heap.lock held */
{
    goc_mspan *s = heap.deadspans;
    if (s) {
        heap.deadspans = s->next;
        memset(s, 0, sizeof *s);
        return s;
    }
    s = goc__persistent_alloc(sizeof(goc_mspan));
    if (s && !allspans_add(s))
        return NULL; /* the record stays unused: permanent memory */
    return s;
}

goc_mspan **goc__heap_allspans(size_t *n)
{
    *n = heap.nallspans;
    return heap.allspans;
}

void goc__heap_lock(void)
{
    goc__lock_acquire(&heap.lock);
}

void goc__heap_unlock(void)
{
    goc__lock_release(&heap.lock);
}

void goc__heap_statics(const void **p, size_t *n)
{
    *p = &heap;
    *n = sizeof heap;
}

void goc__heap_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = heap.lo;
    *hi = heap.hi;
}

static void span_dispose(goc_mspan *s) /* heap.lock held */
{
    s->state = GOC_SPAN_DEAD;
    s->next = heap.deadspans;
    heap.deadspans = s;
}

/* ---- page map --------------------------------------------------------------------- */

static void map_page(uintptr_t a, goc_mspan *s)
{
    goc__arena_of(a)->spans[(a >> GOC_PAGE_SHIFT) & (GOC_ARENA_PAGES - 1)] = s;
}

static void map_all(goc_mspan *s)
{
    for (uint32_t i = 0; i < s->npages; i++)
        map_page(s->base + ((uintptr_t)i << GOC_PAGE_SHIFT), s);
}

static void map_ends(goc_mspan *s)
{
    map_page(s->base, s);
    map_page(s->base + ((uintptr_t)(s->npages - 1) << GOC_PAGE_SHIFT), s);
}

/* Counts (op 0), sets (op 1) or clears (op 2) the released bits of npages
 * pages from base; returns the count before the change. A 64-page word
 * never straddles two arenas. */
static uint64_t rbits(uintptr_t base, uint64_t npages, int op)
{
    uint64_t n = 0;
    while (npages) {
        goc__arena *ar = goc__arena_of(base);
        uint64_t i = (base >> GOC_PAGE_SHIFT) & (GOC_ARENA_PAGES - 1);
        uint64_t b = i % 64, k = 64 - b;
        if (k > npages)
            k = npages;
        uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
        uint64_t *w = &ar->released[i / 64];
        n += (uint64_t)__builtin_popcountll(*w & mask);
        if (op == 1)
            *w |= mask;
        else if (op == 2)
            *w &= ~mask;
        base += (uintptr_t)k << GOC_PAGE_SHIFT;
        npages -= k;
    }
    return n;
}

/* ---- free lists -------------------------------------------------------------------- */

static inline goc_mspan **list_for(uint32_t npages)
{
    return &heap.free[npages < NLISTS ? npages : 0];
}

static void list_insert(goc_mspan **head, goc_mspan *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void list_remove(goc_mspan **head, goc_mspan *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* The smallest free span of at least npages. */
static goc_mspan *find_fit(uint32_t npages)
{
    for (uint32_t n = npages; n < NLISTS; n++)
        if (heap.free[n])
            return heap.free[n];
    goc_mspan *best = NULL;
    for (goc_mspan *s = heap.free[0]; s; s = s->next)
        if (s->npages >= npages && (!best || s->npages < best->npages))
            best = s;
    return best;
}

/* Adds free span s to the lists, merging it with free neighbours. */
static void insert_free(goc_mspan *s)
{
    s->state = GOC_SPAN_FREE;
    goc_mspan *before = s->base > 0 ? goc__spanof((void *)(s->base - 1)) : NULL;
    if (before && before->state == GOC_SPAN_FREE &&
        before->base + ((uintptr_t)before->npages << GOC_PAGE_SHIFT) == s->base) {
        list_remove(list_for(before->npages), before);
        before->npages += s->npages;
        before->npreleased += s->npreleased;
        span_dispose(s);
        s = before;
    }
    uintptr_t end = s->base + ((uintptr_t)s->npages << GOC_PAGE_SHIFT);
    goc_mspan *after = goc__spanof((void *)end);
    if (after && after->state == GOC_SPAN_FREE && after->base == end) {
        list_remove(list_for(after->npages), after);
        s->npages += after->npages;
        s->npreleased += after->npreleased;
        span_dispose(after);
    }
    map_ends(s);
    list_insert(list_for(s->npages), s);
}

/* ---- growing ----------------------------------------------------------------------------- */

/* Reserves size bytes aligned to the arena size. */
static uintptr_t reserve(size_t size)
{
    void *p = os_map(size, (void *)heap.hint);
    if (p && ((uintptr_t)p & (GOC_ARENA_SIZE - 1)) == 0 && !(((uintptr_t)p + size - 1) >> GOC_ADDR_BITS))
        return (uintptr_t)p;
    if (p)
        munmap(p, size);
    char *q = os_map(size + GOC_ARENA_SIZE, NULL);
    if (!q)
        return 0;
    uintptr_t a = ((uintptr_t)q + GOC_ARENA_SIZE - 1) & ~(uintptr_t)(GOC_ARENA_SIZE - 1);
    if (a > (uintptr_t)q)
        munmap(q, a - (uintptr_t)q);
    uintptr_t tail = (uintptr_t)q + size + GOC_ARENA_SIZE - (a + size);
    if (tail)
        munmap((void *)(a + size), tail);
    if ((a + size - 1) >> GOC_ADDR_BITS) {
        munmap((void *)a, size);
        return 0;
    }
    return a;
}

/* Adds at least npages pages to the heap. */
static bool grow(uint32_t npages)
{
    size_t size = ((size_t)npages << GOC_PAGE_SHIFT);
    size = (size + GOC_ARENA_SIZE - 1) & ~(GOC_ARENA_SIZE - 1);
    uintptr_t base = reserve(size);
    if (!base)
        return false;
    for (uintptr_t a = base; a < base + size; a += GOC_ARENA_SIZE) {
        goc__arena *ar = goc__persistent_alloc(sizeof(goc__arena));
        if (!ar) {
            munmap((void *)a, base + size - a);
            size = a - base;
            break;
        }
        __atomic_store_n(&goc__arenas[a >> GOC_ARENA_SHIFT], ar, __ATOMIC_RELEASE);
    }
    if (!size)
        return false;
    heap.hint = base + size;
    if (!heap.lo || base < heap.lo)
        heap.lo = base;
    if (base + size > heap.hi)
        heap.hi = base + size;
    madvise((void *)base, size, MADV_HUGEPAGE); /* advisory: an error is harmless */
    goc_mspan *s = span_new();
    if (!s)
        return false;
    s->base = base;
    s->npages = (uint32_t)(size >> GOC_PAGE_SHIFT);
    s->npreleased = s->npages; /* fresh pages: zero and not resident */
    rbits(base, s->npages, 1);
    heap.st.mapped += size;
    heap.st.free_pages += s->npages;
    heap.st.released_pages += s->npages;
    insert_free(s);
    return true;
}

/* ---- returning pages to the OS ------------------------------------------------------------ */

static void release(goc_mspan *s)
{
    if (s->npreleased == s->npages)
        return;
    madvise((void *)s->base, (size_t)s->npages << GOC_PAGE_SHIFT, MADV_DONTNEED);
    rbits(s->base, s->npages, 1);
    heap.st.madvise_calls++;
    heap.st.released_pages += s->npages - s->npreleased;
    s->npreleased = s->npages;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Releases free pages, largest spans first, until at most `keep` free pages
 * are still backed by memory. Returns the pages released. */
static uint64_t release_down_to(uint64_t keep)
{
    uint64_t held = heap.st.free_pages - heap.st.released_pages, held0 = held;
    for (goc_mspan *s = heap.free[0]; s && held > keep; s = s->next) {
        uint32_t before = s->npreleased;
        release(s);
        held -= s->npreleased - before;
    }
    for (uint32_t n = NLISTS - 1; n > 0 && held > keep; n--)
        for (goc_mspan *s = heap.free[n]; s && held > keep; s = s->next) {
            uint32_t before = s->npreleased;
            release(s);
            held -= s->npreleased - before;
        }
    heap.peak_inuse = heap.st.inuse_pages;
    atomic_store_explicit(&heap.scav_due, 0, memory_order_relaxed);
    return held0 - held;
}

/* The release policy (see the file comment), after a heap allocation or
 * free: starts the clock on an excess, releases it once the clock ran out
 * or the hard limit is passed. */
static void scavenge(void)
{
    if (heap.st.inuse_pages > heap.peak_inuse)
        heap.peak_inuse = heap.st.inuse_pages;
    uint64_t retain = RETAIN_MIN_PAGES + heap.st.inuse_pages;
    uint64_t held = heap.st.free_pages - heap.st.released_pages;
    int64_t due = atomic_load_explicit(&heap.scav_due, memory_order_relaxed);
    if (held <= retain + RETAIN_SLACK_PAGES) {
        if (due)
            atomic_store_explicit(&heap.scav_due, 0, memory_order_relaxed);
        return;
    }
    bool over_hard = held > retain + 2 * heap.peak_inuse + HARD_EXTRA_PAGES;
    if (!over_hard) {
        int64_t now = mono_ns();
        if (!due) {
            atomic_store_explicit(&heap.scav_due, now + SCAV_DELAY_NS, memory_order_relaxed);
            return;
        }
        if (now < due)
            return;
    }
    release_down_to(retain / 2); /* overshoot, so that the next scavenge is some frees away */
}

void goc__heap_scavenge_tick(int64_t now)
{
    int64_t due = atomic_load_explicit(&heap.scav_due, memory_order_relaxed);
    if (!due || now < due)
        return;
    goc__lock_acquire(&heap.lock);
    scavenge();
    goc__lock_release(&heap.lock);
}

size_t goc_mem_scavenge(void)
{
    goc__lock_acquire(&heap.lock);
    uint64_t n = release_down_to(0);
    goc__lock_release(&heap.lock);
    return (size_t)n << GOC_PAGE_SHIFT;
}

/* ---- allocation ------------------------------------------------------------------------------- */

static void span_setup(goc_mspan *s, uint32_t cls, uint8_t kind)
{
    s->sizeclass = (uint8_t)cls;
    if (kind == GOC_KIND_EXPLICIT)
        s->state = cls ? GOC_SPAN_SMALL : GOC_SPAN_LARGE;
    else
        s->state = cls ? GOC_SPAN_GC_SMALL : GOC_SPAN_GC_LARGE;
    s->kind = kind;
    s->sweepgen = 0;
    s->elemsize = cls ? goc__class_size[cls] : s->npages * (uint32_t)GOC_PAGE_SIZE;
    s->divmul = goc__class_divmul[cls];
    s->nelems = cls ? (uint32_t)((s->npages * GOC_PAGE_SIZE) / s->elemsize) : 1;
    s->freeindex = 0;
    s->alloccount = 0;
    s->alloccache = 0;
    s->cached = false;
    s->remote = NULL;
    s->reqsize = 0;
    memset(s->allocbits, 0, sizeof s->allocbits);
    memset(s->markbits, 0, sizeof s->markbits);
}

goc_mspan *goc__heap_alloc(uint32_t npages, uint32_t cls, uint8_t kind)
{
    goc__lock_acquire(&heap.lock);
    goc_mspan *s = find_fit(npages);
    if (!s && grow(npages))
        s = find_fit(npages);
    if (!s) {
        goc__lock_release(&heap.lock);
        return NULL;
    }
    list_remove(list_for(s->npages), s);
    /* Released pages among the ones handed out: exact from the map when
     * the span is mixed. */
    uint32_t nrel = s->npreleased == s->npages ? npages
                    : s->npreleased == 0        ? 0
                                                : (uint32_t)rbits(s->base, npages, 0);
    bool fresh = nrel == npages;
    if (s->npages > npages) {
        goc_mspan *t = span_new();
        if (!t) {
            list_insert(list_for(s->npages), s);
            goc__lock_release(&heap.lock);
            return NULL;
        }
        t->base = s->base + ((uintptr_t)npages << GOC_PAGE_SHIFT);
        t->npages = s->npages - npages;
        t->npreleased = s->npreleased - nrel;
        s->npages = npages;
        s->state = GOC_SPAN_LARGE; /* not FREE: t must not merge back into it */
        insert_free(t);
    }
    if (nrel)
        rbits(s->base, npages, 2);
    heap.st.released_pages -= nrel;
    s->npreleased = 0;
    s->needzero = !fresh;
    span_setup(s, cls, kind);
    map_all(s);
    heap.st.free_pages -= npages;
    heap.st.inuse_pages += npages;
    if (atomic_load_explicit(&heap.scav_due, memory_order_relaxed) ||
        heap.st.inuse_pages > heap.peak_inuse)
        scavenge();
    if (cls)
        heap.st.spans_small++;
    else {
        heap.st.spans_large++;
        heap.st.large_objects++;
        heap.st.large_bytes += (uint64_t)npages << GOC_PAGE_SHIFT;
    }
    goc__lock_release(&heap.lock);
    GOC_POISON((void *)s->base, (size_t)npages << GOC_PAGE_SHIFT);
    return s;
}

void goc__heap_free(goc_mspan *s)
{
    GOC_POISON((void *)s->base, (size_t)s->npages << GOC_PAGE_SHIFT);
    goc__lock_acquire(&heap.lock);
    if (goc__span_small(s))
        heap.st.spans_small--;
    else {
        heap.st.spans_large--;
        heap.st.large_objects--;
        heap.st.large_bytes -= (uint64_t)s->npages << GOC_PAGE_SHIFT;
    }
    heap.st.inuse_pages -= s->npages;
    heap.st.free_pages += s->npages;
    s->npreleased = 0;
    s->sizeclass = 0;
    s->kind = GOC_KIND_EXPLICIT;
    insert_free(s);
    scavenge();
    goc__lock_release(&heap.lock);
}

void goc__heap_stats(goc__heap_stats_t *out)
{
    goc__lock_acquire(&heap.lock);
    *out = heap.st;
    goc__lock_release(&heap.lock);
    out->meta_bytes = atomic_load_explicit(&persist_bytes, memory_order_relaxed);
}

/* mem.h: the allocator's private structures (runtime/mem).
 *
 * Go's design (doc/go-rules.md 8), without a collector: memory is handed out in
 * 8 KiB pages; small objects (<= 32 KiB) are rounded up to one of 67 size
 * classes and carved out of spans (runs of pages holding objects of one
 * class); large objects get a span of their own straight from the page heap.
 *
 *   goc_malloc -> P's mcache (no lock) -> mcentral[class] (lock) -> mheap (lock)
 *
 * Ownership of a small span, the rule everything else rests on:
 *  - A span is either cached (owned by exactly one mcache, which alone
 *    touches its bitmap, freeindex and allocCache, without a lock), or held
 *    by its class's mcentral (on the partial or full list, or the spare
 *    slot), whose lock then guards it. `cached` flips only under the
 *    mcentral lock.
 *  - An object freed on any P goes onto that P's mcache free list for its
 *    class (no lock, whichever span it belongs to). Lists that grow too long
 *    are flushed in batches to mcentral, which clears the object's bit in its
 *    span, or, when the span is cached by some mcache, pushes the object on
 *    the span's `remote` list; only the owner drains that list, under the
 *    mcentral lock, when its span runs out. So no thread ever writes another
 *    P's cache or another owner's bitmap.
 *  - Threads without a P (libuv's pool, foreign threads, code between
 *    goc_syscall_enter and exit, or before the scheduler starts) use one
 *    shared mcache under a lock: the same code, serialized.
 * Lock order: the no-P cache lock, then an mcentral lock, then the mheap lock.
 *
 * Collected memory (gc.h) lives in spans of its own, GOC_SPAN_GC_SMALL and
 * GOC_SPAN_GC_LARGE, never mixed with explicit objects: a P's cache holds
 * one span per collected class beside its explicit ones, and the collected
 * classes have centrals of their own (gcalloc.c) with swept and unswept
 * lists. goc_free refuses collected objects (their state is not SMALL or
 * LARGE). The collector stops the world only after taking every allocator
 * lock itself, so no stopped thread ever holds one.
 */
#ifndef GOC_MEM_H
#define GOC_MEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

#define GOC_PAGE_SHIFT 13
#define GOC_PAGE_SIZE ((size_t)1 << GOC_PAGE_SHIFT) /* 8 KiB */
#define GOC_MAX_SMALL 32768                          /* largest small object */
#define GOC_NUM_CLASSES 68                           /* class 0 is "large" */
#define GOC_ARENA_SHIFT 26
#define GOC_ARENA_SIZE ((size_t)1 << GOC_ARENA_SHIFT) /* 64 MiB, as Go's heapArenaBytes */
#define GOC_ARENA_PAGES (GOC_ARENA_SIZE / GOC_PAGE_SIZE)
#define GOC_ADDR_BITS 47 /* user address space on x86-64/arm64 Linux (4-level paging) */
#define GOC_ARENA_INDEX (1u << (GOC_ADDR_BITS - GOC_ARENA_SHIFT))
#define GOC_MAX_OBJS 1024 /* most objects in a small span (class 1: 8 B x 1024) */
#define GOC_BITMAP_WORDS (GOC_MAX_OBJS / 64)
#define GOC_MEM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- size classes (sizeclass.c) ------------------------------------------ */

extern const uint16_t goc__class_size[GOC_NUM_CLASSES];
extern const uint8_t goc__class_npages[GOC_NUM_CLASSES];
extern const uint8_t goc__size_to_class8[1024 / 8 + 1];
extern const uint8_t goc__size_to_class128[(GOC_MAX_SMALL - 1024) / 128 + 1];
/* Go's divMagic: (offset * class_divmul) >> 32 == offset / size for every
 * offset inside a span of the class. */
extern const uint32_t goc__class_divmul[GOC_NUM_CLASSES];

/* Size class of a small request (1 <= n <= GOC_MAX_SMALL). */
static inline __attribute__((always_inline)) uint32_t goc__size_class(size_t n)
{
    if (n <= 1024 - 8)
        return goc__size_to_class8[(n + 7) >> 3];
    return goc__size_to_class128[(n - 1024 + 127) >> 7];
}

/* ---- spans ------------------------------------------------------------------ */

enum {
    GOC_SPAN_FREE = 0,     /* in the heap's free lists */
    GOC_SPAN_SMALL = 1,    /* holds explicit objects of one size class */
    GOC_SPAN_LARGE = 2,    /* holds one explicit large object */
    GOC_SPAN_DEAD = 3,     /* record on the span pool's free list */
    GOC_SPAN_GC_SMALL = 4, /* holds collected objects of one size class (gc.h) */
    GOC_SPAN_GC_LARGE = 5, /* holds one collected large object */
};

/* What a span's objects are: explicit (goc_malloc), or collected and
 * scanned, or collected and never scanned (goc_gc_alloc_noscan). */
enum { GOC_KIND_EXPLICIT = 0, GOC_KIND_SCAN = 1, GOC_KIND_NOSCAN = 2 };

typedef struct goc_mspan goc_mspan;

struct goc_mspan {
    goc_mspan *next, *prev; /* heap free list, or mcentral list; guarded by its owner's lock */
    uintptr_t base;         /* first byte */
    uint32_t npages;        /* length in pages */
    uint32_t npreleased;    /* FREE: pages madvised away (all or none, see heap.c) */
    uint8_t state;          /* GOC_SPAN_*; written under the heap lock */
    uint8_t sizeclass;      /* 0 for large spans */
    bool needzero;          /* memory may hold old data (else it is fresh zero pages) */
    bool cached;            /* SMALL: owned by an mcache; flips under the mcentral lock */
    uint8_t list;           /* SMALL, not cached: which mcentral list holds it */
    uint8_t kind;           /* GOC_KIND_*: set with the state, constant while in use */
    uint16_t nsampled;      /* explicit: objects in it the heap profile sampled and
                               still waits to see freed (mprof.c); changed under its
                               table's lock, read atomically by goc_free */
    uint32_t elemsize;      /* object size (large: npages * page size) */
    uint32_t divmul;        /* SMALL: the class's divmul (offset -> index); LARGE: 0 */
    uint32_t nelems;        /* objects in the span */
    /* Allocation state, owned by the caching mcache while cached, else by mcentral:
     * allocbits has a 1 for every allocated object, except that while the span is
     * cached, objects below freeindex count as allocated whatever their bit says. */
    uint32_t freeindex;  /* next index to look at */
    uint32_t alloccount; /* allocated objects (exact while not cached) */
    uint64_t alloccache; /* ~allocbits shifted so bit 0 is freeindex; 0: reload */
    void *remote;        /* objects freed while cached, linked through their first word;
                            pushed and drained under the mcentral lock */
    size_t reqsize;      /* LARGE: bytes requested (ASan poisons the rest) */
    /* Collected spans (gc.h): Go's sweepgen. Relative to the collector's
     * sweepgen sg: sg - 2 needs sweeping, sg - 1 is being swept, sg swept.
     * Written under the span's central (or the large-object) lock, or by
     * the collector while the world is stopped. */
    uint32_t sweepgen;
    uint64_t allocbits[GOC_BITMAP_WORDS];
    /* Collected spans: the objects the last mark reached (set by the
     * markers with atomic ORs while the world is stopped; become allocbits
     * when swept). Explicit spans: scratch of the collector's explicit root
     * scan (objects on free lists), zero outside a collection. */
    uint64_t markbits[GOC_BITMAP_WORDS];
};

static inline bool goc__span_small(const goc_mspan *s)
{
    return s->state == GOC_SPAN_SMALL || s->state == GOC_SPAN_GC_SMALL;
}

/* ---- the page heap (heap.c) --------------------------------------------------- */

/* One arena's page-to-span map (heap.c keeps it). */
typedef struct goc__arena {
    goc_mspan *spans[GOC_ARENA_PAGES];
    uint64_t released[GOC_ARENA_PAGES / 64]; /* [heap.lock] bit per page: free and
                                                madvised away (reads as zero) */
} goc__arena;

/* The arena index: GOC_ARENA_INDEX entries (32 MiB of zero pages until
 * used: a static array, so finding an arena is one load, not two); an entry
 * is set once, before any span in its arena is handed out. */
extern goc__arena *goc__arenas[GOC_ARENA_INDEX];

/* The arena holding address a, or NULL. Reads the index without a lock:
 * an entry is set (with a release store) before any span in its arena is
 * handed out, and never changes. */
static inline __attribute__((always_inline)) goc__arena *goc__arena_of(uintptr_t a)
{
    if (GOC_MEM_UNLIKELY(a >> GOC_ADDR_BITS))
        return NULL;
    return __atomic_load_n(&goc__arenas[a >> GOC_ARENA_SHIFT], __ATOMIC_ACQUIRE);
}

/* Which span holds address p, or NULL if p is not in our heap. The entry
 * of a live object's page does not change while the object is allocated. */
static inline __attribute__((always_inline)) goc_mspan *goc__spanof(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    goc__arena *ar = goc__arena_of(a);
    return ar ? ar->spans[(a >> GOC_PAGE_SHIFT) & (GOC_ARENA_PAGES - 1)] : NULL;
}

/* A span of npages pages, set up as small of class cls or large (cls 0),
 * holding objects of kind (GOC_KIND_*), with every page mapped to it; NULL
 * when the OS refuses memory. */
goc_mspan *goc__heap_alloc(uint32_t npages, uint32_t cls, uint8_t kind);
/* Returns an in-use span's pages to the heap. */
void goc__heap_free(goc_mspan *s);

/* Every span record ever made (in use, free or dead), for the collector's
 * walks: records are never unmapped, so the array only grows. Read it
 * with the heap lock held, or while the world is stopped. */
goc_mspan **goc__heap_allspans(size_t *n);
/* The heap lock, which the collector holds across its pause (gc.c). */
void goc__heap_lock(void);
void goc__heap_unlock(void);
/* Lowest and highest address of any arena (0, 0 before the first), which
 * bound every heap pointer. */
void goc__heap_bounds(uintptr_t *lo, uintptr_t *hi);
/* Where the heap's own state lives (the collector does not scan it). */
void goc__heap_statics(const void **p, size_t *n);
/* Sysmon's tick (now: CLOCK_MONOTONIC ns): releases the free pages held
 * past their delay (heap.c). Any thread, no locks held. */
void goc__heap_scavenge_tick(int64_t now);

/* The maps' integer hash (hash.c describes the mixer), inline so that
 * map.c's 8-byte-key paths pay no call. */
static inline uint64_t goc__hash_u64(uint64_t k, uint64_t seed)
{
    __uint128_t r = (__uint128_t)(k ^ seed ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    uint64_t x = (uint64_t)r ^ (uint64_t)(r >> 64);
    r = (__uint128_t)(x ^ seed) * 0x94d049bb133111ebull;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Heap statistics, read under the heap lock. */
typedef struct goc__heap_stats {
    uint64_t mapped;         /* bytes reserved from the OS in arenas */
    uint64_t inuse_pages;    /* pages in SMALL and LARGE spans */
    uint64_t free_pages;     /* pages in free spans */
    uint64_t released_pages; /* free pages given back to the kernel */
    uint64_t spans_small, spans_large;
    uint64_t large_bytes, large_objects; /* live large objects (requested bytes) */
    uint64_t madvise_calls;
    uint64_t meta_bytes; /* span records, arena records, caches */
} goc__heap_stats_t;
void goc__heap_stats(goc__heap_stats_t *out);

/* Permanent zeroed memory for the allocator's own records (never freed). */
void *goc__persistent_alloc(size_t size);

/* ---- mcentral (central.c) ------------------------------------------------------ */

/* Swaps the cache's span of class cls (NULL or exhausted) for one with a
 * free object, keeping the old one if remote frees refilled it. Returns the
 * span to cache, or NULL when out of memory. */
goc_mspan *goc__central_refill(uint32_t cls, goc_mspan *old);
/* Hands back a chain of n freed objects of class cls (linked through their
 * first word, NULL-terminated). */
void goc__central_free(uint32_t cls, void *head);
/* Gives a cached span back to mcentral (cache teardown in tests). */
void goc__central_uncache(uint32_t cls, goc_mspan *s);

/* ---- mcache (cache.c) ----------------------------------------------------------- */

/* One class of an mcache: what the fast paths touch, 32 bytes. */
typedef struct goc__cache_class {
    goc_mspan *span;   /* span being allocated from, cached; NULL: none yet */
    void *free;        /* objects freed on this P, linked through their first word */
    uint32_t nfree;    /* length of free (stored atomically: statistics read it) */
    uint16_t maxfree;  /* flush half of the list to mcentral beyond this (<= CACHE_MAX) */
    uint16_t size;     /* the class's object size (goc__class_size), for the fast path */
    _Atomic uint64_t nmalloc; /* objects handed out (owner writes, statistics read) */
} goc__cache_class;

/* A class's counters off the fast paths. Frees are not counted on their
 * own (one increment less on the free path): every object freed here was
 * since handed out again, sent to mcentral, or is still on the list, so
 * frees = (nmalloc - nspan) + nflushed + nfree. */
typedef struct goc__cache_counts {
    _Atomic uint64_t nspan;    /* objects handed out from a span (not the list) */
    _Atomic uint64_t nflushed; /* objects sent from the list to mcentral */
} goc__cache_counts;

/* The per-P cache (Go's mcache), touched only by the thread running its P
 * (or under the no-P lock for the shared one). */
struct goc_mcache {
    goc__cache_class c[GOC_NUM_CLASSES];
    goc__cache_counts counts[GOC_NUM_CLASSES];
    struct goc_mcache *alllink; /* every cache, for statistics; set once */
    /* Collected classes (gcalloc.c): the span each allocates from, NULL
     * for none; [0] scanned objects, [1] noscan. Set by the owner under the
     * class's collected central lock; read and advanced by the owner's fast
     * path; committed and swept in place by the collector while the world
     * is stopped. Always NULL in the shared no-P cache. */
    goc_mspan *gc[2][GOC_NUM_CLASSES];
    /* Bytes left to allocate on this P before its next heap profile sample
     * (mprof.c): counted down by the owner's allocations, rearmed when it
     * reaches 0; another thread may store a rearm request (relaxed atomics
     * both ways). Alone on its line: written on every allocation. */
    _Alignas(64) int64_t sample_left;
};

_Static_assert(sizeof(goc__cache_class) == 32, "a class entry is 32 bytes (indexed by a shift)");

/* Every cache ever made, newest first (statistics walk it). */
extern _Atomic(struct goc_mcache *) goc__allcaches;

/* Records a cached span's allocations (every slot below freeindex) in its
 * allocbits, recounts them, and restarts its allocation from slot 0. The
 * owner does it under the central's lock before giving the span up or
 * applying remote frees; the collector does it for every cached span while
 * the world is stopped, hence no memset call (volatile stores). */
static inline __attribute__((always_inline)) void goc__span_commit(goc_mspan *s)
{
    uint32_t w = s->freeindex >> 6, b = s->freeindex & 63;
    volatile uint64_t *bits = s->allocbits;
    for (uint32_t i = 0; i < w; i++)
        bits[i] = ~(uint64_t)0;
    if (b)
        s->allocbits[w] |= ((uint64_t)1 << b) - 1;
    uint32_t n = 0;
    for (uint32_t i = 0; i < (s->nelems + 63) / 64; i++)
        n += (uint32_t)__builtin_popcountll(s->allocbits[i]);
    s->alloccount = n;
    s->freeindex = 0;
    s->alloccache = 0;
}

/* Next free object of cached span s (Go's nextFreeFast, then a reload of
 * the 64-bit window of its bitmap), or NULL when it has none left. The
 * owner only. */
static inline __attribute__((always_inline)) void *goc__span_next(goc_mspan *s)
{
    for (;;) {
        uint64_t cache = s->alloccache;
        if (__builtin_expect(cache != 0, 1)) {
            uint32_t t = (uint32_t)__builtin_ctzll(cache);
            uint32_t idx = s->freeindex + t;
            if (GOC_MEM_UNLIKELY(idx >= s->nelems)) {
                s->freeindex = s->nelems;
                s->alloccache = 0;
                return NULL;
            }
            s->freeindex = idx + 1;
            s->alloccache = t == 63 ? 0 : cache >> (t + 1);
            return (void *)(s->base + (uintptr_t)idx * s->elemsize);
        }
        if (s->freeindex >= s->nelems)
            return NULL;
        uint32_t w = s->freeindex >> 6;
        s->alloccache = ~s->allocbits[w] >> (s->freeindex & 63);
        if (!s->alloccache)
            s->freeindex = (w + 1) * 64;
    }
}

/* The calling thread's P's cache, made on first use; NULL without a P. */
struct goc_mcache *goc__cache_mine(void);
/* While the world is stopped: marks, in their spans' markbits, the
 * explicit objects on every P's free lists (free, so not roots). */
void goc__cache_mark_free(void);
/* The shared no-P cache's lock and every explicit central's (held across
 * the collector's pause, gc.c). */
void goc__cache_nop_lock(void);
void goc__cache_nop_unlock(void);
void goc__central_lock_all(void);
void goc__central_unlock_all(void);

/* ---- heap profile (mprof.c) ---------------------------------------------------- */

/* The allocator's entry points and the sampler live in this section, so a
 * sample's stack starts at the first frame outside it (the code that
 * called goc_malloc), whichever of them were inlined or tail-called. */
#define GOC_MALLOC_TEXT __attribute__((section("goc_malloc_text")))

/* Counts bytes allocated against the countdown *left (a P's sample_left):
 * true when a sample is due, then goc__mprof_sampled must follow. */
static inline __attribute__((always_inline)) bool goc__mprof_due(int64_t *left, size_t bytes)
{
    int64_t l = __atomic_load_n(left, __ATOMIC_RELAXED) - (int64_t)bytes;
    __atomic_store_n(left, l, __ATOMIC_RELAXED);
    return GOC_MEM_UNLIKELY(l <= 0);
}
/* The countdown *left reached 0 on the allocation of p (bytes: its size
 * class's or its pages'): rearms it, and records p if the heap profile is
 * on. Returns p. Takes no allocator lock; never allocates from the heap. */
GOC_MALLOC_TEXT void *goc__mprof_sampled(int64_t *left, void *p, size_t bytes);
/* The countdown of threads without a P (shared). */
extern _Atomic int64_t goc__mprof_nop_left;
/* The first countdown of a new cache. */
int64_t goc__mprof_first(void);
/* s holds objects the heap profile sampled: a free must look (one relaxed
 * load; goc_free's fast path tests it). */
static inline __attribute__((always_inline)) bool goc__span_sampled(const goc_mspan *s)
{
    return __atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) != 0;
}
/* Before live object p of span s (goc__span_sampled) is freed: counts its
 * free if it was sampled. */
void goc__mprof_free(void *p, goc_mspan *s);

/* ---- AddressSanitizer hooks ------------------------------------------------- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GOC_MEM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GOC_MEM_ASAN)
#define GOC_MEM_ASAN 1
#endif

#ifdef GOC_MEM_ASAN
#include <sanitizer/asan_interface.h>
#define GOC_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define GOC_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define GOC_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define GOC_POISON(p, n) ((void)(p), (void)(n))
#define GOC_UNPOISON(p, n) ((void)(p), (void)(n))
#define GOC_NO_ASAN
#endif

/* A free object's first word links it into a list; the object itself stays
 * poisoned under ASan, so these two read and write it unchecked. */
GOC_NO_ASAN static inline void *goc__link_get(void *obj)
{
    return *(void **)obj;
}
GOC_NO_ASAN static inline void goc__link_set(void *obj, void *next)
{
    *(void **)obj = next;
}

#endif

/* gc.h: the collector's private structures (runtime/mem/gc*.c, mark.c,
 * sweep.c, roots.c, finalizer.c; the public side is goc/gc.h).
 *
 * A conservative, non-moving, parallel mark-sweep collector over the
 * allocator's spans, with Go's pacing and sweeping. A cycle (gc.c):
 *  1. sweep termination: the spans left unswept by the last cycle are
 *     swept (sweep.c), the background sweeper paused;
 *  2. the collector takes its own locks, every P's timer lock and every
 *     allocator lock, then stops the world by signal (runtime/core/stw.c):
 *     no stopped thread holds one of them, so every structure it reads is
 *     consistent;
 *  3. mark (mark.c): one marker per P (the collector and helper threads)
 *     runs root jobs (roots.c) and traces collected objects, each from its
 *     own mark stack, stealing from the others when it runs dry;
 *  4. mark termination: finalizers of unreached objects are queued
 *     (finalizer.c), cached spans swept in place, sweepgen advanced by 2,
 *     the heap goal set from what was marked (Go 1.19's pacing);
 *  5. the world restarts; the spans are swept lazily, by allocations that
 *     need a span, and by the background sweeper (sweep.c).
 * Explicit memory (goc_malloc) is never freed by the collector but is a
 * root: every allocated explicit block is scanned.
 *
 * A word is a pointer to an object when it falls in a collected span's
 * allocated slot, anywhere inside it: interior pointers keep their object,
 * a word in a free slot keeps nothing.
 *
 * Sanitizers, and why each exemption is safe:
 *  - The scanner reads memory it does not own: stacks below live frames'
 *    red zones, explicit blocks' slack and freed slots, globals' red zones.
 *    Under ASan those functions are no_sanitize("address") (GOC_SCAN_FN):
 *    the reads are by design, only ever of mapped memory (heap arenas,
 *    stacks, data segments), and their values are only compared, never
 *    used as data.
 *  - Everything that runs while the world is stopped is uninstrumented
 *    under TSan (GOC_STW_FN): a stopped thread may be inside TSan's runtime
 *    holding its locks. TSan therefore does not see the collector's reads
 *    (all other threads that could race with them are stopped), nor its
 *    writes, which are to allocator state the stopped owners read later on
 *    their own thread (allocbits of a cached span) or that the next user
 *    reaches through an allocator lock. Memory the collector frees is
 *    declared new to TSan when it is reused (GOC_TSAN_NEW), since the
 *    thread that last wrote it and the one that reuses it need not have
 *    synchronized.
 *
 * Invariants:
 *  - A collected span is cached by one P (c->gc[kind][cls]), or on one list
 *    of its class's gcentral, or being swept by whoever popped it under
 *    that central's lock (which it holds throughout), or a large object on
 *    the gclarge lists. Its allocbits are exact except that a cached
 *    span's slots below freeindex are allocated whatever their bit says.
 *  - Relative to goc__gc.sweepgen sg: lists[swept(sg)] hold swept spans,
 *    lists[unswept(sg)] spans left to sweep; advancing sg by 2 (only while
 *    the world is stopped, when the unswept lists are empty) turns every
 *    swept list into an unswept one.
 *  - Markbits are zero outside a collection, except that a collected
 *    span's marks wait in markbits until the span is swept.
 *  - A cached span is always swept (the collector sweeps them in place).
 */
#ifndef GOC_GC_INTERNAL_H
#define GOC_GC_INTERNAL_H

#include "mem.h"
#include "runtime.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "goc/gc.h"
#include "goc/malloc.h"

#if GOC_TSAN
/* Forgets what TSan knows of [p, p + n): its accesses and sync objects, as
 * for memory just returned by malloc. AnnotateNewMemory would say so but
 * does nothing (clang 14: the race it should hide was still reported);
 * TSan's Java heap calls are its public calls that reset a range, over a
 * "Java heap" declared as the whole address space (goc__gc_init). Called
 * only with the world running: TSan's runtime takes locks. */
void __tsan_java_init(unsigned long heap_begin, unsigned long heap_size);
void __tsan_java_alloc(unsigned long ptr, unsigned long size);
void __tsan_java_free(unsigned long ptr, unsigned long size);
#define GOC_TSAN_HEAP_BEGIN 4096ul
#define GOC_TSAN_NEW(p, n)                                                                   \
    (__tsan_java_free((unsigned long)(p), (unsigned long)(n)),                               \
     __tsan_java_alloc((unsigned long)(p), (unsigned long)(n)))
#else
#define GOC_TSAN_NEW(p, n) ((void)(p), (void)(n))
#endif

#define GOC_POISON_WORD 0xdeadbeefdeadbeefull /* fills freed objects in stress mode */
#define GOC_REDZONE 128 /* bytes below a suspended stack pointer that may hold data (x86-64) */

/* ---- collected centrals (gcalloc.c) ------------------------------------------ */

/* The spans of one collected class and kind that no cache holds. Each
 * list pair is indexed by goc__gc_swept(sg) / goc__gc_unswept(sg). Singly
 * linked through next. */
typedef struct goc__gcentral {
    goc__lock lock;        /* guards the lists and their spans' state */
    goc_mspan *partial[2]; /* spans with a free slot */
    goc_mspan *full[2];    /* spans without (large objects: all of them) */
    _Atomic bool unswept;  /* the unswept lists may be non-empty (set while stopped) */
} __attribute__((aligned(64))) goc__gcentral;

/* [kind - 1][class]: scanned and noscan centrals. */
extern goc__gcentral goc__gcentrals[2][GOC_NUM_CLASSES];
/* Large collected objects, one span each, on full[]. */
extern goc__gcentral goc__gclarge;

static inline int goc__gc_swept(uint32_t sg)
{
    return (int)((sg >> 1) & 1);
}

static inline int goc__gc_unswept(uint32_t sg)
{
    return (int)(((sg >> 1) + 1) & 1);
}

static inline void goc__gc_push(goc_mspan **head, goc_mspan *s)
{
    s->next = *head;
    *head = s;
}

static inline goc_mspan *goc__gc_pop(goc_mspan **head)
{
    goc_mspan *s = *head;
    if (s) {
        *head = s->next;
        s->next = NULL;
    }
    return s;
}

/* Takes, and gives back in reverse order, every collected central's lock
 * (before the pause; gc.c). */
void goc__gc_centrals_lock(void);
void goc__gc_centrals_unlock(void);
/* While stopped: records every cache's allocations in its spans' allocbits
 * (so allocbits are exact while marking). */
void goc__gc_caches_commit(void);
/* While stopped, after marking: sweeps every cached span in place and
 * returns the bytes of their free slots (which count as allocated). */
uint64_t goc__gc_caches_sweep(void);

/* ---- the collector's state (gc.c) ---------------------------------------------- */

typedef struct goc__gcstate {
    /* Pacing. heap_live: bytes of collected objects marked by the last
     * cycle plus those handed out since (a cached span's free slots count
     * as handed out), Go's heapLive; trigger: the heap_live that starts
     * the next cycle (UINT64_MAX: never). */
    _Atomic uint64_t heap_live;
    _Atomic uint64_t trigger;
    _Atomic uint32_t sweepgen; /* advanced by 2 per cycle, while stopped */
    _Atomic int32_t percent;   /* GOGC; negative: off */
    uint32_t stress;           /* GOC_GCSTRESS: a cycle every so many allocations; 0 off */
    _Atomic uint64_t stress_count; /* allocations counted toward the next stress cycle */
    bool locked;               /* no cached spans: each allocation under its central's lock */
    bool poison;               /* fill freed objects with GOC_POISON_WORD */
    bool trace;                /* GOC_GCTRACE=1: a line per cycle on stderr */
    _Atomic bool ready;        /* goc__gc_init ran */
    _Atomic bool started;      /* goc_start set the scheduler up (goc__gc_start) */
} goc__gcstate;

extern goc__gcstate goc__gc;

/* Reads GOGC, GOC_GCSTRESS and GOC_GCTRACE once. */
void goc__gc_init(void);
/* goc_start's hook (core's goc__mem_start), once the Ps exist: from here
 * the background thread may run cycles of its own. */
void goc__gc_start(void);
/* An allocation made heap_live reach the trigger, or counted toward a
 * stress cycle: runs a cycle now if this thread may (a goroutine or a
 * thread holding no runtime lock), else asks the background thread to. */
void goc__gc_after_alloc(bool may_collect);
/* Runs one full cycle (steps 1-5 above) on the calling thread: one asked
 * for by goc__gc_after_alloc(false), and the one forced when none ran for
 * 2 minutes (both skipped with GOGC off). */
void goc__gc_collect_requested(void);
void goc__gc_collect_timed(void);
/* goc__nanotime() at the end of the last cycle (0: none yet), and its pause. */
int64_t goc__gc_last_end(void);
uint64_t goc__gc_last_pause(void);

/* ---- sweeping (sweep.c) --------------------------------------------------------- */

/* Sweeps span s (collected, popped off its unswept list by the caller, who
 * holds its central's lock): allocbits become markbits, freed slots are
 * poisoned; returns its allocated count. */
uint32_t goc__gc_sweep_span(goc_mspan *s);
/* Sweeps one span left unswept anywhere (placing or freeing it); false
 * when none is left. */
bool goc__gc_sweepone(void);
/* The background thread: sweeps after each cycle, and runs the cycles
 * asked for from places that cannot run one (goc__gc_after_alloc), and the
 * one forced every 2 minutes. */
void goc__gc_bg_start(void);
void goc__gc_bg_pause(void);
void goc__gc_bg_resume(void);
void goc__gc_bg_request(void);
bool goc__gc_bg_is_self(void);

/* The sweep of the bits of s, shared by the sweeper and the collector's
 * in-place sweep of cached spans (which inlines it into GOC_STW_FN code):
 * allocbits := markbits, markbits := 0, freed slots poisoned. */
void goc__gc_poison(void *p, size_t n);
static inline __attribute__((always_inline)) uint32_t goc__gc_sweep_bits(goc_mspan *s, bool poison)
{
    uint32_t nw = (s->nelems + 63) / 64, n = 0;
    bool freed_any = false;
    for (uint32_t w = 0; w < nw; w++) {
        uint64_t mark = s->markbits[w], freed = s->allocbits[w] & ~mark;
        while (freed) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(freed);
            void *obj = (void *)(s->base + (uintptr_t)i * s->elemsize);
            freed &= freed - 1;
            freed_any = true;
            if (poison)
                goc__gc_poison(obj, s->elemsize);
            GOC_POISON(obj, s->elemsize);
        }
        s->allocbits[w] = mark;
        s->markbits[w] = 0;
        n += (uint32_t)__builtin_popcountll(mark);
    }
    if (freed_any)
        s->needzero = true;
    s->alloccount = n;
    return n;
}

/* ---- marking (mark.c) ---------------------------------------------------------- */

typedef struct goc__gcw goc__gcw;

/* Marks the object v points into, if any, and queues it for scanning. */
void goc__gcw_mark(goc__gcw *w, uintptr_t v);
/* Scans [p, p + n) word by word (p 8-aligned), marking what it points to;
 * long ranges are split and queued so that other markers can share them. */
void goc__gcw_scan(goc__gcw *w, uintptr_t p, size_t n);
/* Makes sure n markers exist (helper threads; before the pause). */
void goc__gc_markers_prepare(int n);
/* Where the markers' state lives (not scanned: it holds the heap's bounds). */
void goc__gc_mark_statics(const void **p, size_t *n);
/* Markers of the coming (or last) cycle. */
int goc__gc_markers(void);
/* While stopped: runs njobs root jobs (roots.c) and the mark to its end
 * on every marker; lo..hi bounds the heap's arenas. Returns the bytes
 * marked. */
uint64_t goc__gc_mark(size_t njobs, uintptr_t lo, uintptr_t hi);
/* After the mark, while stopped: marks the collected object at obj
 * without scanning it, returning the bytes newly marked; and whether it is
 * marked. */
uint64_t goc__gc_mark_only(void *obj);
bool goc__gc_is_marked(void *obj);
/* Scratch memory for one cycle (from a private mapping: usable while the
 * world is stopped); freed all at once by goc__gc_scratch_reset. */
void *goc__gc_scratch(size_t n);
void goc__gc_scratch_reset(void);

/* ---- roots (roots.c) ----------------------------------------------------------- */

/* Before the pause: the data and bss segments of the program and its
 * libraries (dl_iterate_phdr takes the loader's lock). */
void goc__gc_roots_prepare(void);
/* While stopped: lays out the root jobs over the stacks, the segments,
 * the span records given (goc__heap_allspans) and the rest; returns their
 * count. */
size_t goc__gc_roots_jobs(goc_mspan **spans, size_t nspans);
/* Runs root job i on marker w. */
void goc__gc_root_job(goc__gcw *w, size_t i);
/* Bytes the last cycle's root jobs scanned (stacks, globals, explicit). */
uint64_t goc__gc_roots_bytes(void);
/* The registered roots' lock (goc_gc_root_add), held across the pause. */
void goc__gc_roots_lock(void);
void goc__gc_roots_unlock(void);

/* ---- finalizers (finalizer.c) -------------------------------------------------- */

/* Locks held across the pause. */
void goc__gc_fin_lock(void);
void goc__gc_fin_unlock(void);
/* Before the pause (locks held): room for the finalizers this cycle may
 * queue. */
void goc__gc_fin_prepare(void);
/* Root work: the objects a pending finalizer may use, and the queue. */
size_t goc__gc_fin_njobs(void);
void goc__gc_fin_job(goc__gcw *w, size_t i);
/* While stopped, after marking: queues the finalizers of unreached
 * objects, marking those objects (they live until their finalizer ran);
 * returns the bytes so marked. */
uint64_t goc__gc_fin_queue(void);
/* After the restart: hands the queued finalizers to the finalizer
 * goroutine. */
void goc__gc_fin_flush(void);
/* Finalizers queued and run so far. */
void goc__gc_fin_stats(uint64_t *queued, uint64_t *run);

/* ---- a spin lock for the pause ---------------------------------------------------- */

/* goc__lock's slow path sleeps through lock.c, instrumented under TSan:
 * the markers' own short critical sections spin instead. */
static inline GOC_STW_FN void goc__gc_spin_lock(_Atomic uint32_t *l)
{
    while (__atomic_exchange_n((uint32_t *)l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n((uint32_t *)l, __ATOMIC_RELAXED))
            goc__procyield(10);
}

static inline GOC_STW_FN void goc__gc_spin_unlock(_Atomic uint32_t *l)
{
    __atomic_store_n((uint32_t *)l, 0, __ATOMIC_RELEASE);
}

#endif

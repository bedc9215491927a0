/* goc/gc.h: collected memory, beside the explicit allocator.
 *
 * goc_gc_alloc returns zeroed memory that the runtime frees by itself once
 * nothing reaches it any more, as Go's new and make: allocate, share
 * through channels, never free. goc_malloc memory (goc/malloc.h) stays
 * explicit, owned by whoever frees it, and the two mix freely: a
 * collected object may point to explicit blocks and the other way round.
 *
 * The collector is conservative (as the Boehm-Demers-Weiser collector): it
 * does not know which words are pointers, so any word that holds the
 * address of a byte inside a collected object keeps that object alive
 * (interior pointers count; a word pointing into free memory keeps
 * nothing). What it scans for such words, the roots:
 *  - every goroutine's stack, from its stack pointer up, and the registers
 *    of those running when the collection stops them;
 *  - the data and bss segments of the program and its shared libraries
 *    (globals and statics);
 *  - every live block from goc_malloc and friends (so also channels'
 *    buffers, maps, slices, contexts);
 *  - the arguments of pending runtime timers;
 *  - what goc_gc_root_add registered;
 *  - and, from there, the contents of every collected object reached,
 *    except those from goc_gc_alloc_noscan.
 * Not roots: memory from libc's malloc or mmap, thread-local variables,
 * and the stacks of threads that are not goroutines (foreign threads,
 * libuv's pool): register what they hold with goc_gc_root_add.
 *
 * Collected memory belongs to goroutines: allocate it on a goroutine, and
 * between goc_syscall_enter and goc_syscall_exit neither allocate it nor
 * store pointers to it (the collector counts such a thread as stopped at
 * the call to goc_syscall_enter, scanning the registers and stack it had
 * there). A pointer hidden from the collector (xor-ed, kept only in a file
 * descriptor's kernel buffer, stored only beyond the end of an object)
 * does not keep its object.
 *
 * When: a collection runs when the collected heap has grown by GOGC
 * percent (default 100) over what the last one left live, plus the
 * scanned roots, as Go 1.19 paces it (at least 4 MiB x GOGC/100 between
 * collections); GOGC=off disables it, goc_gc runs one now. It stops every
 * goroutine for its mark (threads marking in parallel, one per P), then
 * sweeps lazily while goroutines run. GOC_GCTRACE=1 prints one line per
 * collection on stderr; GOC_GCSTRESS=N runs one every N allocations (for
 * tests) and fills freed memory with 0xdeadbeef.
 *
 * Errors are 0 or a negative errno value, as in the rest of the runtime.
 */
#ifndef GOC_GC_H
#define GOC_GC_H

#include <stddef.h>
#include <stdint.h>

#include "goc/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns size zeroed bytes that the collector frees once unreachable
 * (Go's new), aligned as goc_malloc aligns (goc/malloc.h), or NULL when
 * the OS refuses memory. size 0 gives a unique minimal object. The caller
 * never frees it: goc_free and goc_realloc on it are fatal errors. Must be
 * called on a goroutine (fatal elsewhere). */
GOC_API void *goc_gc_alloc(size_t size);

/* goc_gc_alloc for objects that hold no pointers the collector must
 * follow (byte buffers, numbers): never scanned, so a pointer stored in it
 * keeps nothing alive, and a collection costs nothing per byte of it. */
GOC_API void *goc_gc_alloc_noscan(size_t size);

/* A collected T, zeroed: T *t = GOC_GC_NEW(T); */
#define GOC_GC_NEW(T) ((T *)goc_gc_alloc(sizeof(T)))

/* Runs a full collection and returns when it and the sweep of every span
 * are done (Go's runtime.GC), so goc_gc_stats_read then shows exactly what
 * is live. Callable from any thread; never fails. */
GOC_API void goc_gc(void);

/* Sets GOGC: a collection starts when the collected heap has grown by
 * percent percent since the last one (GOGC=100 by default, or the GOGC
 * environment variable: a number or "off"); negative: never (off), and a
 * collection already under way is waited for, so none runs once this
 * returns. Returns the previous value (-1 for off), as Go's
 * debug.SetGCPercent. */
GOC_API int goc_gc_percent_set(int percent);

/* Finalizers (Go's runtime.SetFinalizer): fn(obj) runs once, on a
 * goroutine of its own (one for all finalizers, run one at a time), after
 * a collection found obj unreachable; obj and what it points to stay
 * alive until fn has returned, and may be kept alive by it (obj is
 * collected later if unreachable again, without a second call). An object
 * with a finalizer that is part of a cycle of pointers is never collected.
 * fn NULL removes obj's finalizer. obj must be the start of a collected
 * object (goc_gc_alloc's result).
 * Errors: -EINVAL (obj is not the start of a collected object), -EEXIST
 * (obj already has a finalizer), -ENOMEM. */
GOC_API int goc_gc_finalizer_set(void *obj, void (*fn)(void *obj));

/* Keeps p, and the object it points into, alive until this call (Go's
 * runtime.KeepAlive): for a finalizer that must not run while a resource
 * the object owns is still in use. */
GOC_API void goc_gc_keepalive(const void *p);

/* Adds [addr, addr + size) to the roots: every aligned word in it is
 * scanned by each collection until goc_gc_root_remove(addr). For memory the
 * collector cannot see (libc's malloc, a foreign thread's buffers). The
 * caller keeps owning the memory. Callable from any thread.
 * Errors: -EINVAL (addr NULL or size 0), -ENOMEM. */
GOC_API int goc_gc_root_add(void *addr, size_t size);

/* Removes the root goc_gc_root_add(addr, ...) added.
 * Errors: -ENOENT (no root starts at addr). */
GOC_API int goc_gc_root_remove(void *addr);

#define GOC_GC_PAUSE_BUCKETS 24
#define GOC_GC_PAUSE_RECENT 256

/* The collector's figures. */
typedef struct goc_gc_stats {
    uint64_t cycles;         /* collections completed */
    uint64_t forced;         /* of those, run by goc_gc, GOC_GCSTRESS or the 2-minute rule */
    uint64_t pause_last_ns;  /* the last collection's stop of the world */
    uint64_t pause_max_ns;   /* the longest one */
    uint64_t pause_total_ns; /* all of them */
    /* pauses by length: [0] under 2 us, [i] from 2^i to 2^(i+1) us, the
     * last bucket everything longer */
    uint64_t pause_hist[GOC_GC_PAUSE_BUCKETS];
    /* the last 256 pauses, as Go's MemStats.PauseNs: collection n's at
     * [(n - 1) % GOC_GC_PAUSE_RECENT] */
    uint64_t pause_recent_ns[GOC_GC_PAUSE_RECENT];
    uint64_t mark_last_ns;   /* the last mark, within its pause */
    uint64_t heap_live;      /* collected bytes counted in use now: marked by the last
                                collection and allocated since */
    uint64_t heap_marked;    /* collected bytes the last collection found live */
    uint64_t heap_goal;      /* heap_live at which the next one starts (0: GOGC off) */
    uint64_t roots_bytes;    /* bytes the last collection scanned as roots */
    uint64_t finalizers_queued; /* finalizers queued to run, cumulative */
    uint64_t finalizers_run;    /* finalizers that returned, cumulative */
    int32_t percent;         /* GOGC (-1: off) */
    int32_t markers;         /* threads that marked the last collection */
    uint32_t stress;         /* GOC_GCSTRESS (0: off) */
} goc_gc_stats;

/* Fills *out (figures of the last completed collection, and current
 * heap_live). Callable from any thread. */
GOC_API void goc_gc_stats_read(goc_gc_stats *out);

#ifdef __cplusplus
}
#endif
#endif

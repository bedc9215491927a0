/* prof.h: the runtime's sampled records for Go's profiles (heap and allocs,
 * block, mutex), shared between the places that sample (the allocator, the
 * sync primitives, channels and select) and the writers that turn them into
 * profile.proto.
 *
 * Go keeps one bucket per distinct stack (runtime/mprof.go): a sample adds
 * to its stack's bucket, never makes a record of its own, so memory grows
 * with the number of distinct call sites, not with time. The same here.
 *
 * Sampling costs one predictable branch when off: each site tests its rate
 * (an atomic relaxed load) before doing any work.
 */
#ifndef GOC_PROF_H
#define GOC_PROF_H

#include <stdint.h>

/* Frames kept per sample (Go's maxStack is 32). */
#define GOC__PROF_DEPTH 32

enum {
    GOC__PROF_MEM = 0,   /* goc_malloc samples: heap (live) and allocs (cumulative) */
    GOC__PROF_BLOCK = 1, /* time parked on channels, select, Mutex, RWMutex, Cond, WaitGroup */
    GOC__PROF_MUTEX = 2, /* time others waited on a Mutex/RWMutex, charged at Unlock */
    GOC__PROF_KINDS = 3,
};

/* One stack's totals. For GOC__PROF_MEM the counts are of sampled objects
 * (the writer scales them up by the rate, as Go's scaleHeapSample does);
 * live = allocs - frees. For BLOCK and MUTEX, count events and total
 * nanoseconds waited (already scaled: Go records 1/fraction-th of the mutex
 * events and writes count*fraction). */
typedef struct goc__prof_bucket {
    int nstk;
    uintptr_t stk[GOC__PROF_DEPTH]; /* return addresses, innermost first */
    int64_t allocs, alloc_bytes;    /* MEM */
    int64_t frees, free_bytes;      /* MEM */
    int64_t count, ns;              /* BLOCK, MUTEX */
} goc__prof_bucket;

/* Calls fn once per bucket of kind, with a consistent copy of it (never a
 * pointer into the live table: fn may allocate, take locks, and yield).
 * For MEM, only cycles the sampler has published (Go reports the heap as
 * of the last completed GC cycle; we have explicit frees, so "published"
 * is simply every sample taken so far). */
void goc__prof_each(int kind, void (*fn)(const goc__prof_bucket *b, void *arg), void *arg);

/* The current rates (0: off). MEM: bytes per sample on average; BLOCK:
 * nanoseconds (every event at least that long is recorded, shorter ones
 * with probability ns/rate, as Go's blockevent); MUTEX: 1/fraction of
 * events recorded. */
int64_t goc__prof_rate(int kind);

#endif

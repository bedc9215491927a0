/* profrec.h: the sampling side of the profiles (prof.h is the reading
 * side): the rates, the bucket table's insertions, and the hooks the
 * sampling sites call (the allocator in runtime/mem/mprof.c; channels,
 * select, semaphores and notify lists in runtime/sync).
 *
 * Every hook is cheap to skip: a site tests its rate with one relaxed load
 * (goc__prof_on) or, for the allocator, a per-P byte countdown, and calls
 * out of line only when it samples. Nothing here allocates from the goc
 * heap: buckets and the tables live in mmap'd memory of their own, so the
 * allocator may sample itself without recursing.
 *
 * Locks: one per kind (prof.c), a leaf: held only to find or update a
 * bucket, never across a stack walk, an allocation or a call out.
 */
#ifndef GOC_PROFREC_H
#define GOC_PROFREC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "prof.h"
#include "runtime.h"

/* [kind]: the rate of each profile (prof.h says what each means); 0 off.
 * Written by the public setters, read relaxed by the sampling sites. */
extern _Atomic int64_t goc__prof_rates[GOC__PROF_KINDS];

static inline __attribute__((always_inline)) int64_t goc__prof_rate_of(int kind)
{
    return atomic_load_explicit(&goc__prof_rates[kind], memory_order_relaxed);
}

/* One stack's bucket, as the table keeps it (opaque outside prof.c): its
 * address never changes once made, so a sampled object may remember it. */
typedef struct goc__prof_rec goc__prof_rec;

/* The bucket of kind for stack stk[0..nstk) (nstk <= GOC__PROF_DEPTH),
 * made if new; NULL only when the OS refuses memory for a new one. */
goc__prof_rec *goc__prof_find(int kind, const uintptr_t *stk, int nstk);

/* MEM: a sampled object of bytes bytes was allocated / freed under r. */
void goc__prof_mem_alloc(goc__prof_rec *r, int64_t bytes);
void goc__prof_mem_free(goc__prof_rec *r, int64_t bytes);

/* The stack from the caller of the function calling this on (skip: drop
 * that many more frames), into stk (GOC__PROF_DEPTH entries); returns its
 * length. */
int goc__prof_stack(uintptr_t *stk, int skip);

/* ---- block and mutex events (prof.c) ----------------------------------- */

/* The start of a wait the block profile may record: goc__nanotime(), or 0
 * when block profiling is off. */
static inline int64_t goc__prof_block_start(void)
{
    return goc__prof_rate_of(GOC__PROF_BLOCK) > 0 ? goc__nanotime() : 0;
}

/* The calling goroutine waited from t0 (goc__prof_block_start, non-zero)
 * until it was released at t1: recorded on its stack when sampled (Go's
 * blockevent: waits of at least the rate always, shorter ones with
 * probability duration / rate). */
void goc__prof_block_event(int64_t t0, int64_t t1);

/* The caller (an Unlock) woke a goroutine that had waited ns for the lock:
 * recorded on the caller's stack for one event in rate on average (Go's
 * mutexevent), scaled by the rate. */
void goc__prof_mutex_event(int64_t ns);

#endif

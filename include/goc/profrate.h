/* goc/profrate.h: how often the runtime samples for the heap, block and
 * mutex profiles (Go's runtime.MemProfileRate, SetBlockProfileRate and
 * SetMutexProfileFraction).
 *
 * The samples are kept per distinct stack, so their memory grows with the
 * number of call sites, not with time, and they are read as Go's
 * profile.proto (the profile writers and the server's /debug/pprof).
 *
 *  - heap (and allocs): goc_malloc, goc_calloc and goc_realloc sample one
 *    allocation per `rate` bytes on average (the distance to the next
 *    sample is drawn from an exponential distribution, per P, as Go does),
 *    with the stack that made it; a sampled block's goc_free is counted too,
 *    so the profile has both what is live and what was ever allocated. On
 *    by default at 512 KiB, as in Go.
 *  - block: time goroutines spend parked on channel sends and receives,
 *    select, Mutex and RWMutex locks, Cond waits and WaitGroup waits, with
 *    the waiting goroutine's stack. Off by default.
 *  - mutex: for a contended Mutex or RWMutex, the time the goroutine woken
 *    by an Unlock had waited, charged to the stack of that Unlock. Off by
 *    default.
 *
 * Each setter may be called at any time from any thread; a change of the
 * heap rate applies to each P from its next allocation. Off costs one
 * predictable branch at each sampling site.
 */
#ifndef GOC_PROFRATE_H
#define GOC_PROFRATE_H

#include <stdint.h>

#include "goc/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the heap sampling rate: one sample per `bytes` bytes allocated on
 * average (Go's runtime.MemProfileRate); 1 samples every allocation, 0
 * turns heap sampling off. A negative value changes nothing. Returns the
 * previous rate. Samples already taken are kept (and their frees counted). */
GOC_API int64_t goc_mem_profile_rate_set(int64_t bytes);

/* Sets the block profile's rate in nanoseconds (Go's
 * runtime.SetBlockProfileRate): every wait of at least `ns` is recorded,
 * a shorter one with probability wait / ns (and weighted to make up for
 * the ones left out); 1 records every wait, 0 turns it off. A negative
 * value changes nothing. Returns the previous rate. */
GOC_API int64_t goc_block_profile_rate_set(int64_t ns);

/* Sets the mutex profile's fraction (Go's
 * runtime.SetMutexProfileFraction): one contention event in `fraction` is
 * recorded on average (and counted `fraction` times); 1 records every
 * one, 0 turns it off. A negative value changes nothing. Returns the
 * previous fraction. */
GOC_API int goc_mutex_profile_fraction_set(int fraction);

#ifdef __cplusplus
}
#endif

#endif

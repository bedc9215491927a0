/* goc/pprof.h: Go's profiles (runtime/pprof), in Go's profile.proto
 * format, so that `go tool pprof` reads them unchanged, and goroutine
 * labels.
 *
 * Profiles, by the names Go gives them (goc_pprof_write):
 *  - "goroutine": every goroutine's stack, counted per distinct stack and
 *    set of labels. A parked goroutine's stack comes from the registers it
 *    saved; one running on another thread at that moment is shown by a
 *    frame "goroutine running on another thread" (Go stops the world for
 *    this profile; we do not).
 *  - "heap" and "allocs": the sampled allocations of goc_malloc and
 *    friends with their stacks, live (inuse_*) and cumulative (alloc_*),
 *    scaled up by the sampling rate as Go scales them; "allocs" is the
 *    same profile with alloc_space as its default sample type.
 *  - "block" and "mutex": where goroutines waited on channels, select,
 *    Mutex, RWMutex, Cond and WaitGroup (block), or were made to wait on a
 *    Mutex by the holder's Unlock (mutex), and for how long.
 * Heap sampling is on by default (one sample per 512 KiB allocated);
 * block and mutex sampling are off until a rate is set: goc/profrate.h.
 * And the CPU profile (goc_pprof_cpu_start): 100 samples a second of CPU
 * time by default, from a timer on each thread that runs goroutines
 * (CLOCK_THREAD_CPUTIME_ID; Go 1.18's per-thread timers), each sample the
 * stack the timer's SIGPROF interrupted, with the labels of the goroutine
 * running there.
 *
 * Every location is symbolized here from the ELF symbol tables of the
 * executable and the libraries (function names, static ones included; no
 * file or line: the runtime reads no DWARF), and the profile lists their
 * mappings with their build ids, so `go tool pprof BINARY PROFILE` can
 * also find lines from the binary's debug information.
 *
 * Labels (Go's pprof.SetGoroutineLabels, pprof.Do): a goroutine carries
 * key/value strings, which the goroutines it starts inherit (a copy taken
 * at goc_go: later changes on either side do not reach the other), and
 * which tag its CPU samples and its goroutine profile entry. `go tool
 * pprof -tagfocus key=value` filters on them.
 *
 * Output goes to a goc_pprof_write_fn: each profile is written as one
 * gzip stream (stored, uncompressed deflate blocks) in calls of at most
 * 64 KiB; the first error the function returns ends the writing and is
 * returned. goc_pprof_write_fd writes to a file descriptor.
 *
 * Errors are 0 or a negative errno value, as in the rest of the runtime.
 * Every function here must be called on a goroutine (-EPERM elsewhere).
 */
#ifndef GOC_PPROF_H
#define GOC_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "goc/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives len bytes of a profile. Returns 0, or a negative errno value
 * that stops the writing. */
typedef int (*goc_pprof_write_fn)(void *arg, const void *buf, size_t len);

/* A goc_pprof_write_fn writing to the file descriptor *(int *)fdp (whole,
 * retrying short writes and EINTR; as a blocking C call, goc/sched.h).
 * Errors: a negative errno from write(2). */
GOC_API int goc_pprof_write_fd(void *fdp, const void *buf, size_t len);

/* Writes the profile called name ("goroutine", "heap", "allocs", "block"
 * or "mutex") to fn. debug 0: profile.proto, gzipped. debug 1: text, each
 * distinct stack with its count (or values) and its frames, as Go's
 * debug=1. debug 2, goroutine only: every goroutine with its state, wait
 * reason and frames, as Go's debug=2 and the SIGQUIT dump print them.
 * Errors: -ENOENT (no such profile), -EINVAL (debug not supported for
 * it), -ENOMEM, -EPERM (not on a goroutine), or fn's error. */
GOC_API int goc_pprof_write(const char *name, int debug, goc_pprof_write_fn fn, void *arg);

/* Starts the CPU profile at hz samples per second of CPU time (0: 100),
 * to be written to fn, arg by goc_pprof_cpu_stop. One at a time in the
 * process. Errors: -EBUSY (one is running), -EINVAL (hz outside
 * 0..1000), -ENOMEM, -EPERM, or the errno of timer_create(2). */
GOC_API int goc_pprof_cpu_start(int hz, goc_pprof_write_fn fn, void *arg);

/* Stops the CPU profile and writes it (Go's StopCPUProfile); returns when
 * it is written. Errors: -ENOENT (none running), -ENOMEM (nothing
 * written), or fn's error. */
GOC_API int goc_pprof_cpu_stop(void);

/* Profiles the CPU for duration_ns and writes the profile to fn (what
 * GET /debug/pprof/profile?seconds=N does): goc_pprof_cpu_start, a sleep,
 * goc_pprof_cpu_stop. Errors: theirs. */
GOC_API int goc_pprof_cpu_profile(int64_t duration_ns, int hz, goc_pprof_write_fn fn, void *arg);

/* Sets the label key to value on the current goroutine (value NULL:
 * removes key). Both are copied. At most 64 labels, keys and values of
 * at most 4096 bytes. Errors: -EINVAL (key NULL or empty, or too long),
 * -E2BIG (64 labels already), -ENOMEM, -EPERM. */
GOC_API int goc_labels_set(const char *key, const char *value);

/* Copies the current goroutine's value for key, NUL-terminated, into buf
 * of size bytes. Returns its length. Errors: -ENOENT (no such label, or
 * not on a goroutine), -ERANGE (size too small). */
GOC_API int goc_labels_get(const char *key, char *buf, size_t size);

/* Removes every label of the current goroutine. Errors: -EPERM. */
GOC_API int goc_labels_clear(void);

#ifdef __cplusplus
}
#endif
#endif

/* labels.h: goroutine labels inside the runtime (labels.c): the sets, and
 * how the profile writers read them.
 *
 * A set is immutable once made and shared by reference count: every
 * goroutine whose g->labels points to it holds one reference, as does
 * every CPU sample taken under it (cpu.c) until the sample is written.
 * Changing a goroutine's labels makes a new set and swaps the pointer.
 */
#ifndef GOC_PROF_LABELS_H
#define GOC_PROF_LABELS_H

#include <stdatomic.h>
#include <stdint.h>

#include "runtime.h"

struct goc__labels {
    _Atomic int32_t ref;
    int32_t n;         /* pairs */
    const char *kv[];  /* key0, value0, key1, ... sorted by key; the strings follow */
};

/* One more reference to l (not NULL). Async-signal-safe. */
static inline void goc__labels_ref(goc__labels *l)
{
    atomic_fetch_add_explicit(&l->ref, 1, memory_order_relaxed);
}

/* Drops a reference (l may be NULL); the last one frees the set, unless a
 * reader (below) is active, in which case the last reader frees it. */
void goc__labels_unref(goc__labels *l);

/* Reading another goroutine's labels: between begin and end, a set read
 * from any g->labels stays valid (its memory is not freed), though the
 * goroutine may move to another set meanwhile. Readers copy what they
 * need before end. */
void goc__labels_read_begin(void);
void goc__labels_read_end(void);

#endif

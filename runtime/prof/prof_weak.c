/* prof_weak.c: what the profile writers (pprof.c) read when no sampler is
 * linked: no buckets, every rate 0. Weak definitions, replaced by the
 * sampler's strong ones (runtime/core/prof.c) wherever both are in the
 * library; they only let this directory build and link on its own. */
#include "prof.h"

__attribute__((weak)) void goc__prof_each(int kind,
                                          void (*fn)(const goc__prof_bucket *b, void *arg),
                                          void *arg)
{
    (void)kind;
    (void)fn;
    (void)arg;
}

__attribute__((weak)) int64_t goc__prof_rate(int kind)
{
    (void)kind;
    return 0;
}

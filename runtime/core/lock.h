/* lock.h: the runtime's internal lock and the futex it sleeps on.
 *
 * goc__lock is a three-state futex mutex (0 free, 1 held, 2 held with
 * sleepers) that spins briefly before sleeping. It blocks the OS thread, not
 * the goroutine, so hold it only for short, non-blocking sections (a
 * channel's state, a run queue, a timer heap), as Go's runtime mutex.
 */
#ifndef GOC_LOCK_H
#define GOC_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct goc__lock {
    _Atomic uint32_t key;
} goc__lock;

#define GOC_LOCK_INIT {0}

void goc__lock_slow(goc__lock *l);
void goc__unlock_slow(goc__lock *l);

static inline void goc__lock_acquire(goc__lock *l)
{
    uint32_t expect = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->key, &expect, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        goc__lock_slow(l);
}

static inline bool goc__lock_try(goc__lock *l)
{
    uint32_t expect = 0;
    return atomic_compare_exchange_strong_explicit(&l->key, &expect, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static inline void goc__lock_release(goc__lock *l)
{
    if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
        goc__unlock_slow(l);
}

/* Sleeps while *addr == val, at most ns nanoseconds (ns < 0: no limit). */
void goc__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns);
void goc__futex_wake(_Atomic uint32_t *addr, int n);

/* One PAUSE (x86) or YIELD (arm) instruction, n times: Go's procyield. */
static inline __attribute__((always_inline)) void goc__procyield(int n)
{
    for (int i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__)
        __asm__ volatile("yield" ::: "memory");
#else
        __asm__ volatile("" ::: "memory");
#endif
    }
}

#endif

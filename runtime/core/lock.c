/* lock.c: the slow paths of goc__lock, and the futex calls (Linux). */
#include "lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void goc__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts, *tsp = NULL;
    if (ns >= 0) {
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
    }
    /* Spurious wake-ups and EINTR are fine: every caller re-checks. */
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

void goc__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Spin a little (the holder is likely running on another core), then mark
 * the lock contended and sleep until the holder's release wakes us. */
void goc__lock_slow(goc__lock *l)
{
    for (int spin = 0; spin < 4; spin++) {
        goc__procyield(30);
        uint32_t expect = 0;
        if (atomic_load_explicit(&l->key, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->key, &expect, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0)
        goc__futex_wait(&l->key, 2, -1);
}

void goc__unlock_slow(goc__lock *l)
{
    goc__futex_wake(&l->key, 1);
}

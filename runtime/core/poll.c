/* poll.c: the blocking wait of an idle M when no I/O is registered: a futex
 * sleep until the next timer or a goc__netpoll_break. The network poller
 * (runtime/net) plugs its own readiness into goc__netpoll through the hooks
 * below; without it, only timers wake the sleeping poller.
 */
#include "runtime.h"

/* 1: a break is pending. */
static _Atomic uint32_t poll_key;

/* The network layer's hooks (runtime/net/netpoll.c sets them). */
void (*goc__netpoll_hook)(int64_t delay, goc__glist *out);
void (*goc__netpoll_break_hook)(void);
_Atomic int64_t goc__netpoll_nwait;

void goc__netpoll(int64_t delay, goc__glist *out)
{
    if (goc__netpoll_hook) {
        goc__netpoll_hook(delay, out);
        return;
    }
    if (delay == 0)
        return;
    if (atomic_exchange(&poll_key, 0) == 1)
        return;
    goc__futex_wait(&poll_key, 0, delay);
    atomic_store(&poll_key, 0);
}

void goc__netpoll_break(void)
{
    if (goc__netpoll_break_hook) {
        goc__netpoll_break_hook();
        return;
    }
    atomic_store(&poll_key, 1);
    goc__futex_wake(&poll_key, 1);
}

int64_t goc__netpoll_waiters(void)
{
    return atomic_load_explicit(&goc__netpoll_nwait, memory_order_relaxed);
}

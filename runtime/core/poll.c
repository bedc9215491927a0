/* poll.c: the blocking wait of an idle M when no I/O is registered: a futex
 * sleep until the next timer or a goc__netpoll_break. The network poller
 * (runtime/net) plugs its own readiness into goc__netpoll through the hooks
 * below; without it, only timers wake the sleeping poller.
 *
 * The hooks are installed at a program's first network call, perhaps while
 * an M sleeps on the futex (a goroutine had started a timer first: a
 * ticker, a sleep). From then on a break goes to the network poller, and
 * would never reach that sleeper, which holds the scheduler's polling slot
 * until its timer, maybe hours away: no timer added since and no I/O would
 * be seen. So a break also wakes futex sleepers, and a sleeper that finds
 * the break hook installed does not sleep: a sleeper counts itself in
 * futex_sleepers, then looks at the break hook; a breaker loads the break
 * hook, then futex_sleepers (all sequentially consistent), so either the
 * sleeper sees the hook or the breaker sees the sleeper.
 */
#include "runtime.h"

/* 1: a break is pending. */
static _Atomic uint32_t poll_key;

/* The network layer's hooks (runtime/net/netpoll.c sets them). */
_Atomic goc__netpoll_fn goc__netpoll_hook;
_Atomic goc__netpoll_break_fn goc__netpoll_break_hook;
_Atomic int64_t goc__netpoll_nwait;    /* goroutines parked on I/O or signals */
_Atomic int64_t goc__netpoll_npending; /* requests queued for the poller */
static _Atomic int64_t lastpoll;       /* when the poller last ran */
static _Atomic int futex_sleepers;     /* Ms inside the futex wait below */

void goc__netpoll(int64_t delay, goc__glist *out)
{
    goc__netpoll_fn hook = atomic_load(&goc__netpoll_hook);
    if (hook) {
        hook(delay, out);
        atomic_store_explicit(&lastpoll, goc__nanotime(), memory_order_relaxed);
        return;
    }
    if (delay == 0)
        return;
    atomic_fetch_add(&futex_sleepers, 1);
    if (!atomic_load(&goc__netpoll_break_hook) && atomic_exchange(&poll_key, 0) != 1)
        goc__futex_wait(&poll_key, 0, delay); /* else: the caller looks again */
    atomic_fetch_sub(&futex_sleepers, 1);
    atomic_store(&poll_key, 0);
}

void goc__netpoll_break(void)
{
    goc__netpoll_break_fn brk = atomic_load(&goc__netpoll_break_hook);
    if (brk)
        brk();
    if (!brk || atomic_load(&futex_sleepers) > 0) {
        atomic_store(&poll_key, 1);
        goc__futex_wake(&poll_key, 1);
    }
}

int64_t goc__netpoll_waiters(void)
{
    return atomic_load_explicit(&goc__netpoll_nwait, memory_order_relaxed) +
           atomic_load_explicit(&goc__netpoll_npending, memory_order_relaxed);
}

/* sysmon: poll without blocking if goroutines wait on I/O and nobody has
 * polled for 10 ms (every P busy). */
void goc__netpoll_sysmon(int64_t now)
{
    if (!atomic_load(&goc__netpoll_hook) || goc__netpoll_waiters() == 0 ||
        now - atomic_load_explicit(&lastpoll, memory_order_relaxed) < 10 * GOC_MILLISECOND)
        return;
    goc__glist l = {0};
    goc__netpoll(0, &l);
    goc__ready_list(&l);
}

/* timer.c: per-P timer heaps (src/runtime/time.go, simplified) and sleep.
 *
 * Each P keeps a 4-ary min-heap of pending timers ordered by `when`, under
 * its own lock; timer0when mirrors the earliest `when` (0: none) so the
 * scheduler can test for due timers without the lock. A timer is added to
 * the current P's heap and stays there until it runs or is deleted; any M
 * may run a P's due timers (its owner in the scheduler, a thief, or the
 * poller for idle Ps).
 *
 * Invariants:
 *  - t->pp != NULL and t->idx >= 0 exactly while t is in pp's heap.
 *  - A timer's callback runs with no heap lock held, at most once per
 *    arming; a periodic timer is re-armed before its callback runs.
 */
#include "runtime.h"

#include <stdlib.h>

#include "runq.h"

static void heap_set(goc_p *p, int32_t i, goc__timer *t)
{
    p->timers[i] = t;
    t->idx = i;
}

static void sift_up(goc_p *p, int32_t i)
{
    goc__timer *t = p->timers[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 4;
        if (p->timers[parent]->when <= t->when)
            break;
        heap_set(p, i, p->timers[parent]);
        i = parent;
    }
    heap_set(p, i, t);
}

static void sift_down(goc_p *p, int32_t i)
{
    int32_t n = p->ntimers;
    goc__timer *t = p->timers[i];
    for (;;) {
        int32_t c = i * 4 + 1;
        if (c >= n)
            break;
        int32_t best = c;
        for (int32_t k = c + 1; k < c + 4 && k < n; k++)
            if (p->timers[k]->when < p->timers[best]->when)
                best = k;
        if (p->timers[best]->when >= t->when)
            break;
        heap_set(p, i, p->timers[best]);
        i = best;
    }
    heap_set(p, i, t);
}

static void update0(goc_p *p)
{
    atomic_store(&p->timer0when, p->ntimers ? p->timers[0]->when : 0);
}

/* Removes the timer at index i. p->timerlock held. */
static void heap_remove(goc_p *p, int32_t i)
{
    goc__timer *t = p->timers[i];
    int32_t last = --p->ntimers;
    if (i != last) {
        goc__timer *moved = p->timers[last];
        heap_set(p, i, moved);
        sift_down(p, i);
        if (moved->idx == i)
            sift_up(p, i);
    }
    t->idx = -1;
    __atomic_store_n(&t->pp, NULL, __ATOMIC_RELEASE);
}

static void heap_push(goc_p *p, goc__timer *t)
{
    if (p->ntimers == p->captimers) {
        int32_t cap = p->captimers ? p->captimers * 2 : 64;
        goc__timer **nt = goc__realloc(p->timers, (size_t)cap * sizeof *nt);
        if (!nt)
            goc__throw("timer heap: out of memory");
        p->timers = nt;
        p->captimers = cap;
    }
    __atomic_store_n(&t->pp, p, __ATOMIC_RELEASE);
    heap_set(p, p->ntimers++, t);
    sift_up(p, t->idx);
}

void goc__timer_add(goc__timer *t)
{
    goc_p *p = goc__getp();
    if (!p)
        p = goc__sched_.allp[0];
    if (t->when <= 0)
        t->when = 1;
    goc__lock_acquire(&p->timerlock);
    if (t->pp)
        goc__throw("timer_add: timer already pending");
    heap_push(p, t);
    bool first = p->timers[0] == t;
    int64_t when = t->when; /* t may fire and be re-armed once unlocked */
    if (first)
        update0(p);
    goc__lock_release(&p->timerlock);
    if (first)
        goc__timer_wake(when);
}

bool goc__timer_del(goc__timer *t)
{
    for (;;) {
        goc_p *p = __atomic_load_n(&t->pp, __ATOMIC_ACQUIRE);
        if (!p)
            return false;
        goc__lock_acquire(&p->timerlock);
        if (t->pp != p) { /* ran, or moved, meanwhile */
            goc__lock_release(&p->timerlock);
            continue;
        }
        heap_remove(p, t->idx);
        update0(p);
        goc__lock_release(&p->timerlock);
        return true;
    }
}

int64_t goc__timers_run(goc_p *p, int64_t now)
{
    goc__lock_acquire(&p->timerlock);
    while (p->ntimers > 0) {
        goc__timer *t = p->timers[0];
        if (t->when > now)
            break;
        void (*f)(void *, uintptr_t) = t->f;
        void *arg = t->arg;
        uintptr_t seq = t->seq;
        if (t->period > 0) {
            /* re-arm first: the callback may delete it */
            int64_t delta = t->when - now;
            t->when += t->period * (1 + -delta / t->period);
            sift_down(p, 0);
        } else {
            heap_remove(p, 0);
        }
        update0(p);
        goc__lock_release(&p->timerlock);
        f(arg, seq);
        goc__lock_acquire(&p->timerlock);
    }
    int64_t next = p->ntimers ? p->timers[0]->when : 0;
    update0(p);
    goc__lock_release(&p->timerlock);
    return next;
}

int64_t goc__timers_next(void)
{
    int64_t next = 0;
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        int64_t w = atomic_load(&goc__sched_.allp[i]->timer0when);
        if (w != 0 && (next == 0 || w < next))
            next = w;
    }
    return next;
}

/* wakeNetPoller: an M in the poller that would sleep past when is woken
 * (pollUntil 0 is "no deadline", or not stored yet: woken too); with none
 * there, an idle P gets an M, which will wait for the timer. */
void goc__timer_wake(int64_t when)
{
    if (atomic_load(&goc__sched_.polling)) {
        int64_t until = atomic_load(&goc__sched_.pollUntil);
        if (until == 0 || when < until)
            goc__netpoll_break();
    } else {
        goc__wakep();
    }
}

/* ---- sleep ---------------------------------------------------------------- */

static void sleep_wake(void *arg, uintptr_t seq)
{
    (void)seq;
    goc__ready(arg, true);
}

static bool sleep_arm(goc_g *g, void *arg)
{
    (void)arg;
    goc__timer_add(&g->sleeptimer);
    return true;
}

void goc_sleep(int64_t ns)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return;
    if (ns <= 0) {
        goc_yield();
        return;
    }
    goc__timer *t = &g->sleeptimer;
    t->when = goc__nanotime() + ns;
    t->period = 0;
    t->f = sleep_wake;
    t->arg = g;
    t->seq = 0;
    /* Armed after the switch: the timer may fire on another M at once. */
    goc__park(sleep_arm, NULL, "sleep");
}

/* netpoll.c: the netpoller on libuv (doc/architecture.md, "libuv and the
 * scheduler").
 *
 * One uv_loop_t, run by whichever M holds it: an idle M blocks in it (Go
 * blocks an idle M in netpoll), a busy M or sysmon polls it without
 * blocking. A goroutine never waits on a socket unless its own non-blocking
 * call returned EAGAIN; it then parks as the descriptor's reader or writer
 * and queues the descriptor on the arm queue. The M running the loop drains
 * that queue (libuv is not thread-safe: only the loop's current owner
 * touches uv handles), starts a uv_poll_t for the events with waiters, and
 * its readiness callbacks move the woken goroutines into one list that the
 * scheduler makes runnable as a batch.
 *
 * A uv_poll_t stays armed after it woke a waiter (the next wait usually
 * follows soon, and re-arming costs an epoll_ctl); it is stopped when an
 * event arrives that nobody waits for.
 *
 * Invariants:
 *  - loop_busy is 1 while one thread runs the loop or touches its handles.
 *  - A waiter is readied only with its pollfd's lock held while taking it,
 *    and the parker holds that lock until it is off its stack (the park's
 *    unlock function releases it), so a goroutine is never readied early.
 *  - goc__netpoll_nwait counts parked I/O waiters (signal waiters too);
 *    with the arm queue's length it tells the scheduler the loop has work.
 */
#include "netpoll.h"

#include "goc/malloc.h"
#include "goc/net.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runq.h"


static uv_loop_t loop;
static uv_async_t wake_async;   /* breaks a blocked uv_run */
static uv_timer_t poll_timer;   /* bounds a blocking uv_run */
static _Atomic int loop_busy;   /* someone owns the loop */
static _Atomic int loop_blocked; /* the owner is (about to be) blocked in uv_run */
static _Atomic int break_pending; /* a netpoll_break the blocking wait must not miss */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static goc__glist *cur_out;     /* readied goroutines of the current run (owner only) */

static goc__lock q_lock; /* guards q_head, q_tail */
static goc__pollfd *q_head, *q_tail;
extern _Atomic int64_t goc__netpoll_npending; /* poll.c: arm queue length */
#define q_len goc__netpoll_npending

static _Atomic uint64_t stat_polls, stat_parks;
_Atomic int64_t goc__net_conns;

/* ---- signals ------------------------------------------------------------------ */

#define NSIG_MAX 65

typedef struct sigwaiter {
    goc_g *g;
    const int *sigs;
    int n;
    int got;
    struct sigwaiter *next;
} sigwaiter;

static goc__lock sig_lock; /* guards the fields below */
static sigwaiter *sig_waiters;
static int sig_pending[NSIG_MAX];
static bool sig_wanted[NSIG_MAX];  /* requested, maybe not started yet */
static bool sig_started[NSIG_MAX]; /* uv_signal_start done (loop owner only) */
static uv_signal_t sig_handles[NSIG_MAX];
static _Atomic int sig_requests;   /* signals asked for but not started */

/* ---- the arm queue ------------------------------------------------------------- */

static void break_loop(void)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&loop_blocked))
        uv_async_send(&wake_async);
}

/* Queues pd for the loop. pd->lock held. */
static void enqueue(goc__pollfd *pd)
{
    if (pd->queued)
        return;
    pd->queued = true;
    goc__lock_acquire(&q_lock);
    pd->qnext = NULL;
    if (q_tail)
        q_tail->qnext = pd;
    else
        q_head = pd;
    q_tail = pd;
    atomic_fetch_add(&q_len, 1);
    goc__lock_release(&q_lock);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void on_closed(uv_handle_t *h)
{
    goc__pollfd *pd = h->data;
    close(pd->fd);
    goc_free(pd);
    atomic_fetch_sub(&goc__net_conns, 1);
}

/* Brings one queued pollfd's uv_poll_t in line with its waiters. Loop
 * owner only. */
static void arm(goc__pollfd *pd)
{
    goc__lock_acquire(&pd->lock);
    pd->queued = false;
    int want = (pd->rg ? UV_READABLE : 0) | (pd->wg ? UV_WRITABLE : 0);
    bool close_req = pd->close_req;
    goc__lock_release(&pd->lock);
    if (close_req) {
        if (pd->poll_inited) {
            uv_poll_stop(&pd->poll);
            uv_close((uv_handle_t *)&pd->poll, on_closed);
        } else {
            close(pd->fd);
            goc_free(pd);
            atomic_fetch_sub(&goc__net_conns, 1);
        }
        return;
    }
    if (!pd->poll_inited) {
        if (uv_poll_init(&loop, &pd->poll, pd->fd) != 0) {
            goc__pollfd_wake(pd, -EBADF, false);
            return;
        }
        pd->poll.data = pd;
        pd->poll_inited = true;
    }
    int ev = pd->armed | want;
    if (ev != pd->armed) {
        if (uv_poll_start(&pd->poll, ev, on_poll) != 0) {
            goc__pollfd_wake(pd, -EBADF, false);
            return;
        }
        pd->armed = ev;
    }
}

static void start_signals(void);

static void drain_queue(void)
{
    if (atomic_load(&sig_requests))
        start_signals();
    for (;;) {
        goc__lock_acquire(&q_lock);
        goc__pollfd *list = q_head;
        q_head = q_tail = NULL;
        goc__lock_release(&q_lock);
        if (!list)
            return;
        while (list) {
            goc__pollfd *next = list->qnext;
            atomic_fetch_sub(&q_len, 1);
            arm(list);
            list = next;
        }
    }
}

/* Takes the waiter of one direction, to be readied by the caller.
 * pd->lock held. */
static goc_g *take(goc_g **slot, int *errp, int err)
{
    goc_g *g = *slot;
    if (g) {
        *slot = NULL;
        *errp = err;
        atomic_fetch_sub(&goc__netpoll_nwait, 1);
    }
    return g;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    goc__pollfd *pd = h->data;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE;
    int delivered = 0;
    goc__lock_acquire(&pd->lock);
    if (events & UV_READABLE) {
        goc_g *g = take(&pd->rg, &pd->rerr, 0);
        if (g) {
            goc__glist_push(cur_out, g);
            delivered |= UV_READABLE;
        }
    }
    if (events & UV_WRITABLE) {
        goc_g *g = take(&pd->wg, &pd->werr, 0);
        if (g) {
            goc__glist_push(cur_out, g);
            delivered |= UV_WRITABLE;
        }
    }
    int want = (pd->rg ? UV_READABLE : 0) | (pd->wg ? UV_WRITABLE : 0);
    goc__lock_release(&pd->lock);
    /* Keep what just woke a waiter; drop what fired for nobody. */
    int ev = status < 0 ? want : ((pd->armed & ~(events & ~delivered)) | want);
    if (ev != pd->armed) {
        if (ev)
            uv_poll_start(&pd->poll, ev, on_poll);
        else
            uv_poll_stop(&pd->poll);
        pd->armed = ev;
    }
}

/* ---- the scheduler's hooks -------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    (void)t;
}

static void on_wake(uv_async_t *a)
{
    (void)a;
}

static void netpoll(int64_t delay, goc__glist *out)
{
    int zero = 0;
    if (!atomic_compare_exchange_strong(&loop_busy, &zero, 1))
        return;
    atomic_fetch_add_explicit(&stat_polls, 1, memory_order_relaxed);
    cur_out = out;
    drain_queue();
    if (delay == 0) {
        uv_run(&loop, UV_RUN_NOWAIT);
    } else {
        if (delay > 0)
            uv_timer_start(&poll_timer, on_timer, (uint64_t)((delay + 999999) / 1000000), 0);
        atomic_store(&loop_blocked, 1);
        drain_queue(); /* what came in before loop_blocked was visible */
        /* A break sent before loop_blocked was visible sent no async: it
         * left break_pending, and this wait does not block. */
        if (!out->head && !atomic_exchange(&break_pending, 0))
            uv_run(&loop, UV_RUN_ONCE);
        atomic_store(&loop_blocked, 0);
        /* A break since was for this wait (its timer is in a heap already,
         * and the caller looks at the heaps before it polls again). */
        atomic_store(&break_pending, 0);
        if (delay > 0)
            uv_timer_stop(&poll_timer);
    }
    drain_queue();
    cur_out = NULL;
    atomic_store(&loop_busy, 0);
}

/* Ends the current or the next blocking wait. break_pending, then
 * loop_blocked; the poller stores them in the other order (both seq_cst),
 * so either it sees the break or the break sees it blocked. */
static void netpoll_break(void)
{
    atomic_store(&break_pending, 1);
    if (atomic_load(&loop_blocked))
        uv_async_send(&wake_async);
}

static void net_init(void)
{
    /* libuv allocates through the runtime's allocator too: before its
     * first use, as uv_replace_allocator requires (a program that used
     * libuv itself before its first network call keeps libc's). */
    uv_replace_allocator(goc_malloc, goc_realloc, goc_calloc, goc_free);
    if (uv_loop_init(&loop) != 0)
        goc_fatal("netpoll: uv_loop_init failed");
    uv_async_init(&loop, &wake_async, on_wake);
    uv_timer_init(&loop, &poll_timer);
    atomic_store(&goc__netpoll_break_hook, netpoll_break);
    atomic_store(&goc__netpoll_hook, netpoll);
}

void goc__net_init(void)
{
    pthread_once(&init_once, net_init);
}

/* ---- pollfds ---------------------------------------------------------------------- */

goc__pollfd *goc__pollfd_new(int fd, size_t size)
{
    goc__net_init();
    goc__pollfd *pd = goc_calloc(1, size);
    if (!pd)
        return NULL;
    pd->fd = fd;
    atomic_store(&pd->refs, 1);
    pd->rtimer.idx = pd->wtimer.idx = -1;
    atomic_fetch_add(&goc__net_conns, 1);
    return pd;
}

bool goc__pollfd_acquire(goc__pollfd *pd)
{
    int r = atomic_load(&pd->refs);
    do {
        if (r <= 0)
            return false;
    } while (!atomic_compare_exchange_weak(&pd->refs, &r, r + 1));
    goc__lock_acquire(&pd->lock);
    bool ok = !pd->closing;
    goc__lock_release(&pd->lock);
    if (!ok)
        goc__pollfd_release(pd);
    return ok;
}

void goc__pollfd_release(goc__pollfd *pd)
{
    if (atomic_fetch_sub(&pd->refs, 1) != 1)
        return;
    /* no deadline timer is armed: an armed one holds a reference */
    goc__lock_acquire(&pd->lock);
    pd->close_req = true;
    enqueue(pd);
    goc__lock_release(&pd->lock);
    break_loop();
}

/* Disarms a deadline timer (see Deadlines below), dropping the arming's
 * reference (never the last: the caller holds one). pd->lock held. */
static void disarm_locked(goc__pollfd *pd, goc__timer *t)
{
    if (goc__timer_del(t))
        atomic_fetch_sub(&pd->refs, 1);
}

void goc__pollfd_wake(goc__pollfd *pd, int err, bool closing)
{
    goc__lock_acquire(&pd->lock);
    if (closing) {
        pd->closing = true; /* and no deadline is armed again */
        disarm_locked(pd, &pd->rtimer);
        disarm_locked(pd, &pd->wtimer);
    }
    goc_g *r = take(&pd->rg, &pd->rerr, err);
    goc_g *w = take(&pd->wg, &pd->werr, err);
    goc__lock_release(&pd->lock);
    if (r)
        goc__ready(r, false);
    if (w)
        goc__ready(w, false);
}

void goc__pollfd_cancel(goc__pollfd *pd)
{
    goc__lock_acquire(&pd->lock);
    pd->canceled = true;
    goc__lock_release(&pd->lock);
    goc__pollfd_wake(pd, -ECANCELED, false);
}

static bool unlock_pd(goc_g *g, void *arg)
{
    (void)g;
    goc__pollfd *pd = arg;
    goc__lock_release(&pd->lock);
    break_loop();
    return true;
}

int goc__pollfd_wait(goc__pollfd *pd, int mode)
{
    goc_g *g = goc__getg();
    goc__lock_acquire(&pd->lock);
    if (pd->closing || pd->canceled) {
        int err = pd->closing ? -EBADF : -ECANCELED;
        goc__lock_release(&pd->lock);
        return err;
    }
    goc_g **slot = mode == 'r' ? &pd->rg : &pd->wg;
    bool expired = mode == 'r' ? pd->rexpired : pd->wexpired;
    if (expired || *slot) {
        goc__lock_release(&pd->lock);
        return expired ? -ETIMEDOUT : -EBUSY;
    }
    *slot = g;
    atomic_fetch_add(&goc__netpoll_nwait, 1);
    atomic_fetch_add_explicit(&stat_parks, 1, memory_order_relaxed);
    enqueue(pd);
    goc__park(unlock_pd, pd, mode == 'r' ? "IO wait read" : "IO wait write");
    return mode == 'r' ? pd->rerr : pd->werr;
}

/* ---- deadlines -------------------------------------------------------------------- */

/* Deadlines, as Go's pollSetDeadline: a deadline is set under pd->lock,
 * so two goroutines setting one at once (a server shutting connections
 * down while their readers set their own) cannot both arm the timer; each
 * set bumps the mode's generation, which the timer carries (seq = gen << 1
 * | write), so a firing already under way for a replaced deadline changes
 * nothing; and an armed timer holds a reference on pd, so a firing never
 * meets a freed pollfd. Closing disarms both (goc__pollfd_wake). */

/* The deadline of generation gen has passed. */
static void expire(goc__pollfd *pd, int mode, uintptr_t gen)
{
    goc_g *g = NULL;
    goc__lock_acquire(&pd->lock);
    if (mode == 'r' && gen == pd->rgen) {
        pd->rexpired = true;
        g = take(&pd->rg, &pd->rerr, -ETIMEDOUT);
    } else if (mode == 'w' && gen == pd->wgen) {
        pd->wexpired = true;
        g = take(&pd->wg, &pd->werr, -ETIMEDOUT);
    }
    goc__lock_release(&pd->lock);
    if (g)
        goc__ready(g, false);
}

static void deadline_fire(void *arg, uintptr_t seq)
{
    goc__pollfd *pd = arg;
    expire(pd, seq & 1 ? 'w' : 'r', seq >> 1);
    goc__pollfd_release(pd); /* the arming's reference */
}

void goc__pollfd_set_deadline(goc__pollfd *pd, int mode, int64_t deadline)
{
    goc__timer *t = mode == 'r' ? &pd->rtimer : &pd->wtimer;
    goc__lock_acquire(&pd->lock);
    uintptr_t gen;
    if (mode == 'r') {
        pd->rexpired = false;
        gen = ++pd->rgen;
    } else {
        pd->wexpired = false;
        gen = ++pd->wgen;
    }
    disarm_locked(pd, t);
    bool now = deadline != 0 && deadline <= goc__nanotime();
    if (deadline != 0 && !now && !pd->closing) {
        t->when = deadline;
        t->period = 0;
        t->f = deadline_fire;
        t->arg = pd;
        t->seq = gen << 1 | (mode == 'w');
        atomic_fetch_add(&pd->refs, 1);
        goc__timer_add(t);
    }
    goc__lock_release(&pd->lock);
    if (now)
        expire(pd, mode, gen);
}

int goc__pollfd_check(goc__pollfd *pd, int mode)
{
    goc__lock_acquire(&pd->lock);
    int err = pd->closing                                    ? -EBADF
              : pd->canceled                                 ? -ECANCELED
              : (mode == 'r' ? pd->rexpired : pd->wexpired) ? -ETIMEDOUT
                                                           : 0;
    goc__lock_release(&pd->lock);
    return err;
}

/* ---- signals ------------------------------------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum <= 0 || signum >= NSIG_MAX)
        return;
    goc__lock_acquire(&sig_lock);
    for (sigwaiter **pp = &sig_waiters; *pp; pp = &(*pp)->next) {
        sigwaiter *w = *pp;
        for (int i = 0; i < w->n; i++) {
            if (w->sigs[i] == signum) {
                *pp = w->next;
                w->got = signum;
                atomic_fetch_sub(&goc__netpoll_nwait, 1);
                goc__glist_push(cur_out, w->g);
                goc__lock_release(&sig_lock);
                return;
            }
        }
    }
    sig_pending[signum]++;
    goc__lock_release(&sig_lock);
}

static void start_signals(void)
{
    goc__lock_acquire(&sig_lock);
    atomic_store(&sig_requests, 0);
    for (int s = 1; s < NSIG_MAX; s++) {
        if (sig_wanted[s] && !sig_started[s]) {
            uv_signal_init(&loop, &sig_handles[s]);
            uv_signal_start(&sig_handles[s], on_signal, s);
            uv_unref((uv_handle_t *)&sig_handles[s]);
            sig_started[s] = true;
        }
    }
    goc__lock_release(&sig_lock);
}

/* Takes the loop from whoever runs it (waking a blocked owner). */
static void own_loop(void)
{
    for (;;) {
        int zero = 0;
        if (atomic_compare_exchange_strong(&loop_busy, &zero, 1))
            return;
        netpoll_break();
        goc_yield();
    }
}

static bool unlock_sig(goc_g *g, void *arg)
{
    (void)g;
    (void)arg;
    goc__lock_release(&sig_lock);
    break_loop();
    return true;
}

/* Marks sigs wanted and installs their handlers now. sig_lock held; it is
 * released and taken again around taking the loop. */
static int watch_locked(const int *sigs, int n)
{
    for (int i = 0; i < n; i++) {
        int s = sigs[i];
        if (s <= 0 || s >= NSIG_MAX)
            return -EINVAL;
        if (!sig_wanted[s]) {
            sig_wanted[s] = true;
            atomic_store(&sig_requests, 1);
        }
    }
    if (atomic_load(&sig_requests)) {
        /* Install the handlers before returning, so the signals' default
         * action stops applying now. */
        goc__lock_release(&sig_lock);
        own_loop();
        start_signals();
        atomic_store(&loop_busy, 0);
        goc__lock_acquire(&sig_lock);
    }
    return 0;
}

int goc_signal_watch(const int *sigs, int n)
{
    goc__net_init();
    goc__lock_acquire(&sig_lock);
    int rc = watch_locked(sigs, n);
    goc__lock_release(&sig_lock);
    return rc;
}

int goc_signal_wait(const int *sigs, int n)
{
    goc__net_init();
    goc__lock_acquire(&sig_lock);
    int rc = watch_locked(sigs, n);
    if (rc) {
        goc__lock_release(&sig_lock);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        if (sig_pending[sigs[i]] > 0) {
            sig_pending[sigs[i]]--;
            goc__lock_release(&sig_lock);
            return sigs[i];
        }
    }
    sigwaiter w = {goc__getg(), sigs, n, 0, sig_waiters};
    sig_waiters = &w;
    atomic_fetch_add(&goc__netpoll_nwait, 1);
    goc__park(unlock_sig, NULL, "signal wait");
    return w.got;
}

/* ---- statistics ----------------------------------------------------------------------- */

void goc_net_stats_read(goc_net_stats *out)
{
    out->waiters = atomic_load(&goc__netpoll_nwait);
    out->polls = atomic_load(&stat_polls);
    out->parks = atomic_load(&stat_parks);
    out->conns = atomic_load(&goc__net_conns);
}


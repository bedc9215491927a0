/* timechan.c: timers and tickers delivering on channels (Go's time.Timer,
 * time.After, time.Ticker, time.Tick), and timers starting a function on a
 * goroutine of its own (time.AfterFunc), on the core's per-P timer heaps.
 *
 * A chantimer arms one core timer at a time (one-shot; a ticker re-arms it
 * from its own callback). Every arming carries seq, the chantimer's
 * generation at that moment; Stop and Reset bump seq under the lock, so a
 * callback already on its way (the core could not delete it) finds a stale
 * seq and does nothing. The send happens under the same lock, and Stop and
 * Reset drain the channel under it: no stale value survives them.
 *
 * What Stop and Reset answer is Go 1.23's rule: true unless the value was
 * received (or the timer was already stopped). It is decided by `due`, not
 * by whether the core timer could still be deleted: the core takes a timer
 * out of its heap before running its callback, so a Stop may meet a timer
 * that is neither in the heap nor fired yet; the callback will find a stale
 * seq and send nothing, so that Stop did prevent the value and says so.
 *
 * An AfterFunc timer has no channel: its firing starts fn(arg) on a new
 * goroutine (goc__go_any: the callback runs in scheduler context, maybe
 * without a P), and "sent" reads "started". The goroutine gets copies of
 * fn and arg, never the timer, so freeing the timer does not wait for it.
 *
 * Invariants:
 *  - refs = 1 for the owner + 1 per arming whose callback has not finished
 *    (the pending one, plus at most a stale one in flight per Stop/Reset).
 *    The callback drops its arming's reference unless it re-arms (ticker),
 *    which passes the reference on; a successful goc__timer_del drops it.
 *  - The core timer is re-armed only under lock, and only while not
 *    pending (the core clears pp before a one-shot callback runs).
 *  - due is true from an arming until its value is sent or its function
 *    started (a timer), or until Stop or Reset (a ticker: every tick keeps
 *    it due); a value in the channel was sent by the current arming.
 *  - Exactly one of c and fn is set, for the object's whole life.
 */
#include "goc/time.h"

#include "goc/gc.h"

#include "sync_internal.h"

#define RETRY_NS 2000 /* busy channel lock: fire again this much later */

typedef struct chantimer {
    goc__timer t;   /* the core timer; t.seq = seq when armed [lock] */
    goc__lock lock; /* guards seq, period, t's when/seq, and the sends on c */
    uintptr_t seq;  /* generation; bumped by Stop/Reset [lock] */
    int64_t period; /* ticker interval, 0 for a timer [lock] */
    int64_t base;   /* when the current arming was due (ticks count from it) [lock] */
    bool due;       /* the current arming has a value to send [lock] */
    int32_t refs;   /* atomic: see invariants */
    goc_chan *c;    /* capacity 1, int64_t elements; owned. NULL: AfterFunc */
    void (*fn)(void *arg); /* AfterFunc: run on its own goroutine; constant */
    void *arg;             /* its argument; constant */
} chantimer;

/* What an AfterFunc goroutine gets: a copy, so the timer may go at once. */
typedef struct afterfunc_call {
    void (*fn)(void *arg);
    void *arg;
} afterfunc_call;

struct goc_timer {
    chantimer ct;
};
struct goc_ticker {
    chantimer ct;
};

static void ct_unref(chantimer *ct)
{
    if (ADD_FETCH(&ct->refs, -1) == 0) {
        if (ct->c)
            goc_chan_free(ct->c);
        goc__sync_free(ct);
    }
}

static void afterfunc_run(void *p)
{
    afterfunc_call *call = p;
    call->fn(call->arg);
}

/* The firing of an AfterFunc timer: ct locked, seq current. Unlocks. */
static void ct_fire_func(chantimer *ct)
{
    afterfunc_call call = {ct->fn, ct->arg};
    ct->due = false;
    goc__lock_release(&ct->lock);
    if (goc__go_any(afterfunc_run, &call, sizeof call) < 0)
        goc__throw("AfterFunc: cannot start a goroutine: out of memory");
    ct_unref(ct);
}

/* Runs on an M in scheduler context: only non-blocking work. */
static void ct_fire(void *arg, uintptr_t seq)
{
    chantimer *ct = arg;
    goc__lock_acquire(&ct->lock);
    if (seq != ct->seq) { /* stopped or reset since this arming */
        goc__lock_release(&ct->lock);
        ct_unref(ct);
        return;
    }
    if (ct->fn) {
        ct_fire_func(ct);
        return;
    }
    int64_t now = goc__nanotime();
    if (goc__chan_send_from_timer(ct->c, &now) < 0) {
        /* Channel lock busy (maybe held by this very thread): retry soon,
         * keeping this arming and its reference. */
        ct->t.when = now + RETRY_NS;
        goc__timer_add(&ct->t);
        goc__lock_release(&ct->lock);
        return;
    }
    /* A full channel dropped the value (a ticker's slow receiver). */
    if (ct->period > 0) {
        int64_t when = goc__time_add(ct->base, ct->period);
        if (when <= now) /* fell behind: skip the missed ticks */
            when += ct->period * ((now - when) / ct->period + 1);
        ct->base = when;
        ct->t.when = when;
        goc__timer_add(&ct->t); /* keeps this arming's reference */
        goc__lock_release(&ct->lock);
        return;
    }
    ct->due = false;
    goc__lock_release(&ct->lock);
    ct_unref(ct);
}

/* Disarms and drains. Returns whether a value was prevented, or sent and
 * dropped unread (Go 1.23's Stop). ct locked; *drop_ref set when the
 * arming's reference is ours: the core timer was still in its heap, else
 * a callback is on its way and drops it (seeing the stale seq). */
static bool ct_stop_locked(chantimer *ct, bool *drop_ref)
{
    ct->seq++;
    *drop_ref = goc__timer_del(&ct->t);
    bool drained = ct->c && goc_chan_try_recv(ct->c, NULL, NULL);
    bool active = ct->due || drained;
    ct->due = false;
    return active;
}

static void ct_arm_locked(chantimer *ct, int64_t d, int64_t period, bool reuse_ref)
{
    if (!reuse_ref)
        ADD_FETCH(&ct->refs, 1);
    ct->period = period;
    ct->due = true;
    ct->t.seq = ct->seq;
    ct->t.period = 0;
    ct->t.when = goc__deadline(d > 0 ? d : 0); /* INT64_MAX: never */
    ct->base = ct->t.when;
    goc__timer_add(&ct->t);
}

/* fn NULL: a timer or ticker with a channel; else an AfterFunc timer. */
static chantimer *ct_new(size_t size, int64_t d, int64_t period, void (*fn)(void *), void *arg)
{
    chantimer *ct = goc__sync_alloc(size);
    memset(ct, 0, size);
    if (fn) {
        ct->fn = fn;
        ct->arg = arg;
    } else {
        ct->c = goc_chan_make(sizeof(int64_t), 1);
    }
    ct->t.f = ct_fire;
    ct->t.arg = ct;
    ct->t.idx = -1;
    ct->refs = 1;
    goc__lock_acquire(&ct->lock);
    ct_arm_locked(ct, d, period, false);
    goc__lock_release(&ct->lock);
    return ct;
}

static bool ct_stop(chantimer *ct)
{
    bool drop;
    goc__lock_acquire(&ct->lock);
    bool active = ct_stop_locked(ct, &drop);
    goc__lock_release(&ct->lock);
    if (drop)
        ct_unref(ct);
    return active;
}

static bool ct_reset(chantimer *ct, int64_t d, int64_t period)
{
    bool drop;
    goc__lock_acquire(&ct->lock);
    bool active = ct_stop_locked(ct, &drop);
    ct_arm_locked(ct, d, period, drop);
    goc__lock_release(&ct->lock);
    return active;
}

/* ---- timers ----------------------------------------------------------------- */

goc_timer *goc_timer_new(int64_t d)
{
    return (goc_timer *)ct_new(sizeof(goc_timer), d, 0, NULL, NULL);
}

goc_timer *goc_after(int64_t d) { return goc_timer_new(d); }

/* time.After as Go has it: a collected timer holding a collected channel.
 * While the timer is pending, the core's heap reaches it (every pending
 * timer's argument is a root of the collector), and it reaches the
 * channel; once it has fired, only whoever holds the channel keeps it. */
typedef struct aftertimer {
    goc__timer t;
    goc_chan *c;
} aftertimer;

/* Runs on an M in scheduler context: only non-blocking work. */
static void after_fire(void *arg, uintptr_t seq)
{
    (void)seq;
    aftertimer *at = arg;
    int64_t now = goc__nanotime();
    if (goc__chan_send_from_timer(at->c, &now) < 0) { /* channel lock busy */
        at->t.when = now + RETRY_NS;
        goc__timer_add(&at->t);
    }
}

goc_chan *goc_after_chan(int64_t d)
{
    aftertimer *at = goc_gc_alloc(sizeof *at);
    if (!at)
        goc_fatal("runtime: out of memory");
    at->c = goc_chan_make_gc(sizeof(int64_t), 1);
    at->t.f = after_fire;
    at->t.arg = at;
    at->t.idx = -1;
    at->t.when = goc__deadline(d > 0 ? d : 0); /* INT64_MAX: never */
    goc__timer_add(&at->t);
    return at->c;
}

goc_timer *goc_after_func(int64_t d, void (*fn)(void *arg), void *arg)
{
    if (fn == NULL)
        goc_panic("time: AfterFunc with a nil function");
    return (goc_timer *)ct_new(sizeof(goc_timer), d, 0, fn, arg);
}

goc_chan *goc_timer_chan(goc_timer *t) { return t->ct.c; }

bool goc_timer_stop(goc_timer *t) { return ct_stop(&t->ct); }

bool goc_timer_reset(goc_timer *t, int64_t d) { return ct_reset(&t->ct, d, 0); }

void goc_timer_free(goc_timer *t)
{
    if (t == NULL)
        return;
    ct_stop(&t->ct);
    ct_unref(&t->ct);
}

/* ---- tickers ------------------------------------------------------------------ */

goc_ticker *goc_ticker_new(int64_t d)
{
    if (d <= 0)
        goc_panic("non-positive interval for NewTicker");
    return (goc_ticker *)ct_new(sizeof(goc_ticker), d, d, NULL, NULL);
}

goc_chan *goc_tick(int64_t d)
{
    if (d <= 0)
        return NULL;
    return goc_ticker_chan(goc_ticker_new(d)); /* never freed, as documented */
}

goc_chan *goc_ticker_chan(goc_ticker *t) { return t->ct.c; }

void goc_ticker_stop(goc_ticker *t) { ct_stop(&t->ct); }

void goc_ticker_reset(goc_ticker *t, int64_t d)
{
    if (d <= 0)
        goc_panic("non-positive interval for Ticker.Reset");
    ct_reset(&t->ct, d, d);
}

void goc_ticker_free(goc_ticker *t)
{
    if (t == NULL)
        return;
    ct_stop(&t->ct);
    ct_unref(&t->ct);
}

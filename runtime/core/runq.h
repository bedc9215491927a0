/* runq.h: the local and global run queues (runq.c). */
#ifndef GOC_RUNQ_H
#define GOC_RUNQ_H

#include "runtime.h"

void goc__glist_push(goc__glist *l, goc_g *g);
goc_g *goc__glist_pop(goc__glist *l);

/* Ring slots are atomics: a thief may read a slot while its CAS is about to
 * fail, concurrently with the owner refilling it. */
#define GOC__RUNQ_SLOT(p, i) (((_Atomic(goc_g *) *)(p)->runq)[(i) & (GOC_RUNQ_SIZE - 1)])

/* The local queue is full: moves half of it and g to the global queue. */
bool goc__runqputslow(goc_p *p, goc_g *g, uint32_t h, uint32_t t);

/* Local queue of p; only p's owner may put (runnext with next). Get:
 * runnext first (*inherit set), then the ring's head. Inline: they run on
 * every switch. */
static inline void goc__runqput(goc_p *p, goc_g *g, bool next)
{
    if (next) {
        goc_g *old = atomic_exchange_explicit(&p->runnext, g, memory_order_acq_rel);
        if (!old)
            return;
        g = old; /* the old runnext goes to the tail */
    }
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        if (t - h < GOC_RUNQ_SIZE) {
            atomic_store_explicit(&GOC__RUNQ_SLOT(p, t), g, memory_order_relaxed);
            atomic_store_explicit(&p->runqtail, t + 1, memory_order_release);
            return;
        }
        if (goc__runqputslow(p, g, h, t))
            return;
    }
}

static inline goc_g *goc__runqget(goc_p *p, bool *inherit)
{
    goc_g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
    if (next && atomic_compare_exchange_strong_explicit(&p->runnext, &next, NULL,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed)) {
        *inherit = true;
        return next;
    }
    *inherit = false;
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        if (t == h)
            return NULL;
        goc_g *g = atomic_load_explicit(&GOC__RUNQ_SLOT(p, h), memory_order_relaxed);
        if (t - h > 1) /* the G after it may sit in another P's cache (a spawn) */
            __builtin_prefetch(atomic_load_explicit(&GOC__RUNQ_SLOT(p, h + 1),
                                                    memory_order_relaxed), 1);
        if (goc__sched_.nprocs == 1) {
            /* One P: no thief can exist, the owner is the only consumer. */
            atomic_store_explicit(&p->runqhead, h + 1, memory_order_release);
            return g;
        }
        if (atomic_compare_exchange_weak_explicit(&p->runqhead, &h, h + 1, memory_order_release,
                                                  memory_order_relaxed))
            return g;
    }
}

/* For a yield with one P (goc__sched_.nprocs == 1): puts g at the tail and
 * takes the head in one step, or returns NULL when the ring is empty. With
 * no other P no thief exists, so g may be queued before its registers are
 * saved: nothing can run it until this M, the only one with a P, switches
 * again. (A full ring works too: the head's slot is read before the tail's,
 * the same slot, is written.) */
static inline goc_g *goc__runqrotate(goc_p *p, goc_g *g)
{
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
    if (t == h)
        return NULL;
    goc_g *next = atomic_load_explicit(&GOC__RUNQ_SLOT(p, h), memory_order_relaxed);
    atomic_store_explicit(&GOC__RUNQ_SLOT(p, t), g, memory_order_relaxed);
    atomic_store_explicit(&p->runqhead, h + 1, memory_order_relaxed);
    atomic_store_explicit(&p->runqtail, t + 1, memory_order_relaxed);
    return next;
}

/* Owner's get that serves the ring before runnext. */
goc_g *goc__runqget_fair(goc_p *p);
/* Steals half of victim's queue into p's; returns one G to run. */
goc_g *goc__runqsteal(goc_p *p, goc_p *victim, bool stealnext);
int goc__runq_len(goc_p *p);

/* Global queue; sched.lock held for all three. */
void goc__globrunqput(goc_g *g);
void goc__globrunqputbatch(goc__glist *batch);
/* Takes a fair share (at most max when max > 0) into p's queue, returns one. */
goc_g *goc__globrunqget(goc_p *p, int32_t max);

#endif

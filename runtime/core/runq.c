/* runq.c: run queues: each P's 256-slot ring plus runnext, and the global
 * queue (src/runtime/proc.go: runqput, runqget, runqgrab, runqsteal,
 * globrunqget; doc/go-rules.md 7.2, 7.3, 7.5).
 *
 * Invariants:
 *  - Only a P's owner writes runqtail and the ring slots it publishes;
 *    owner and thieves consume by CAS on runqhead.
 *  - runqtail - runqhead <= GOC_RUNQ_SIZE at every moment.
 *  - The global queue is guarded by goc__sched_.lock; runqsize mirrors its
 *    length for lock-free peeks.
 */
#include "runq.h"

#include <stdatomic.h>
#include <time.h>

#define RUNQ_MASK (GOC_RUNQ_SIZE - 1)

/* Ring slots are atomics: a thief may read a slot while its CAS is about to
 * fail, concurrently with the owner refilling it. */
#define SLOT(p, i) (((_Atomic(goc_g *) *)(p)->runq)[(i) & RUNQ_MASK])

void goc__glist_push(goc__glist *l, goc_g *g)
{
    g->schedlink = NULL;
    if (l->tail)
        l->tail->schedlink = g;
    else
        l->head = g;
    l->tail = g;
    l->n++;
}

goc_g *goc__glist_pop(goc__glist *l)
{
    goc_g *g = l->head;
    if (g) {
        l->head = g->schedlink;
        if (!l->head)
            l->tail = NULL;
        l->n--;
        g->schedlink = NULL;
    }
    return g;
}

/* Puts batch (n Gs linked by schedlink) on the global queue. sched.lock held. */
static void globrunqputbatch(goc__glist *batch)
{
    goc__glist *q = &goc__sched_.runq;
    if (!batch->head)
        return;
    if (q->tail)
        q->tail->schedlink = batch->head;
    else
        q->head = batch->head;
    q->tail = batch->tail;
    q->n += batch->n;
    atomic_store_explicit(&goc__sched_.runqsize, q->n, memory_order_relaxed);
}

void goc__globrunqput(goc_g *g)
{
    goc__glist one = {0};
    goc__glist_push(&one, g);
    globrunqputbatch(&one);
}

void goc__globrunqputbatch(goc__glist *batch)
{
    globrunqputbatch(batch);
}

/* The local queue is full: move half of it and g to the global queue. */
bool goc__runqputslow(goc_p *p, goc_g *g, uint32_t h, uint32_t t)
{
    goc_g *batch[GOC_RUNQ_SIZE / 2 + 1];
    uint32_t n = (t - h) / 2;
    if (n != GOC_RUNQ_SIZE / 2)
        goc__throw("runqputslow: queue is not full");
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&SLOT(p, h + i), memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n, memory_order_release,
                                                 memory_order_relaxed))
        return false;
    batch[n] = g;
    goc__glist l = {0};
    for (uint32_t i = 0; i <= n; i++)
        goc__glist_push(&l, batch[i]);
    goc__lock_acquire(&goc__sched_.lock);
    globrunqputbatch(&l);
    goc__lock_release(&goc__sched_.lock);
    return true;
}

/* Takes the queue's head instead of runnext (after a preemption request:
 * a chain of runnext hand-offs must not starve the queue). */
goc_g *goc__runqget_fair(goc_p *p)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        if (t == h)
            break;
        goc_g *g = atomic_load_explicit(&SLOT(p, h), memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&p->runqhead, &h, h + 1, memory_order_release,
                                                  memory_order_relaxed))
            return g;
    }
    bool inherit;
    return goc__runqget(p, &inherit);
}

bool goc__runq_empty(goc_p *p)
{
    /* runnext and the ring can exchange a G between our loads: retry until
     * the tail is stable across the reads (proc.go: runqempty). */
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
        goc_g *next = atomic_load_explicit(&p->runnext, memory_order_acquire);
        if (t == atomic_load_explicit(&p->runqtail, memory_order_acquire))
            return h == t && next == NULL;
    }
}

int goc__runq_len(goc_p *p)
{
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
    int n = (int)(t - h);
    if (n < 0 || n > GOC_RUNQ_SIZE)
        n = 0; /* torn read: head moved past our tail */
    return n + (atomic_load_explicit(&p->runnext, memory_order_relaxed) != NULL);
}

/* Grabs half of p's queue into batch[batchhead...] (ring indices). */
static uint32_t runqgrab(goc_p *p, goc_g **batch, uint32_t batchhead, bool stealnext)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
        uint32_t n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (stealnext) {
                goc_g *next = atomic_load_explicit(&p->runnext, memory_order_acquire);
                if (next && atomic_load_explicit(&p->status, memory_order_relaxed) == GOC_PRUNNING) {
                    /* Its P is running and will likely run runnext soon
                     * (a goroutine just readied it): give it 3 us before
                     * taking it away, as Go does, so producer/consumer
                     * pairs stay on one P instead of bouncing. */
                    struct timespec ts = {0, 3000};
                    nanosleep(&ts, NULL);
                    next = atomic_load_explicit(&p->runnext, memory_order_acquire);
                }
                if (next && atomic_compare_exchange_strong_explicit(
                                &p->runnext, &next, NULL, memory_order_acq_rel,
                                memory_order_relaxed)) {
                    atomic_store_explicit(&((_Atomic(goc_g *) *)batch)[batchhead & RUNQ_MASK],
                                          next, memory_order_relaxed);
                    return 1;
                }
            }
            return 0;
        }
        if (n > GOC_RUNQ_SIZE / 2)
            continue; /* read h and t inconsistently */
        for (uint32_t i = 0; i < n; i++) {
            goc_g *g = atomic_load_explicit(&SLOT(p, h + i), memory_order_relaxed);
            atomic_store_explicit(&((_Atomic(goc_g *) *)batch)[(batchhead + i) & RUNQ_MASK], g,
                                  memory_order_relaxed);
        }
        if (atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n,
                                                    memory_order_release, memory_order_relaxed))
            return n;
    }
}

goc_g *goc__runqsteal(goc_p *p, goc_p *victim, bool stealnext)
{
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
    uint32_t n = runqgrab(victim, p->runq, t, stealnext);
    if (n == 0)
        return NULL;
    n--;
    goc_g *g = atomic_load_explicit(&SLOT(p, t + n), memory_order_relaxed);
    atomic_fetch_add_explicit(&p->nsteal, n + 1, memory_order_relaxed);
    if (n == 0)
        return g;
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    if (t - h + n >= GOC_RUNQ_SIZE)
        goc__throw("runqsteal: runq overflow");
    atomic_store_explicit(&p->runqtail, t + n, memory_order_release);
    return g;
}

goc_g *goc__globrunqget(goc_p *p, int32_t max)
{
    goc__glist *q = &goc__sched_.runq;
    if (q->n == 0)
        return NULL;
    int64_t n = q->n / goc__sched_.nprocs + 1;
    if (n > q->n)
        n = q->n;
    if (max > 0 && n > max)
        n = max;
    if (n > GOC_RUNQ_SIZE / 2)
        n = GOC_RUNQ_SIZE / 2;
    goc_g *g = goc__glist_pop(q);
    for (n--; n > 0; n--)
        goc__runqput(p, goc__glist_pop(q), false);
    atomic_store_explicit(&goc__sched_.runqsize, q->n, memory_order_relaxed);
    return g;
}

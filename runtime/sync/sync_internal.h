/* sync_internal.h: what the files of runtime/sync share: the channel
 * structure and its wait queues, the semaphore table, notify lists and the
 * counters.
 *
 * Invariants (channel, as Go's chan.go):
 *  - At most one of sendq and recvq is non-empty, except for an unbuffered
 *    channel with one goroutine selecting on both its send and receive.
 *  - Buffered: qcount > 0 implies recvq empty; qcount < dataqsiz implies
 *    sendq empty.
 *  - Fields read without the lock by the fast paths (qcount, closed,
 *    recvq.first, sendq.first) are written with atomic stores, under lock.
 *  - No G is readied while a channel lock is held (doc/go-rules.md 1.6).
 */
#ifndef GOC_SYNC_INTERNAL_H
#define GOC_SYNC_INTERNAL_H

#include "goc/chan.h"
#include "goc/sync.h"
#include "profrec.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

/* Relaxed / acquire / release access to plain fields shared with lock-free
 * readers (the builtins keep ThreadSanitizer informed). */
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CAS_ACQREL(p, expp, v)                                                                \
    __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ADD_FETCH(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* Allocation of the sync layer: goc_malloc and goc_free, aborting on
 * exhaustion. */
void *goc__sync_alloc(size_t n);
void goc__sync_free(void *p);

/* ---- channels ------------------------------------------------------------ */

/* A FIFO of sudogs linked through prev/next; new waiters go on the tail. */
typedef struct goc__waitq {
    goc_sudog *first; /* atomic-stored: read by the lock-free fast paths */
    goc_sudog *last;
} goc__waitq;

struct goc_chan {
    uint32_t qcount;   /* elements in buf (atomic-stored, under lock) */
    uint32_t dataqsiz; /* capacity, constant */
    char *buf;         /* dataqsiz slots of elemsize bytes, after the struct */
    uint16_t elemsize; /* constant */
    uint32_t closed;   /* 0 or 1 (atomic-stored, under lock) */
    uint32_t sendx;    /* next slot to fill [lock] */
    uint32_t recvx;    /* next slot to drain [lock] */
    goc__waitq recvq;  /* blocked receivers [lock] */
    goc__waitq sendq;  /* blocked senders [lock] */
    goc__lock lock;    /* guards every field marked [lock], and the sudogs
                        * queued on this channel */
};

/* Pops the first waiter that can be woken (1.8: a select sudog whose
 * selectdone CAS fails is skipped). c must be locked. An empty queue is
 * answered inline: the operations that do not wait meet one every time. */
goc_sudog *goc__waitq_pop(goc__waitq *q);
static inline goc_sudog *goc__waitq_dequeue(goc__waitq *q)
{
    return q->first ? goc__waitq_pop(q) : NULL;
}
/* Appends sg. c must be locked. */
void goc__waitq_enqueue(goc__waitq *q, goc_sudog *sg);
/* Unlinks sg wherever it is in q (select pass 3). c must be locked. */
void goc__waitq_remove(goc__waitq *q, goc_sudog *sg);

static inline char *goc__chanbuf(goc_chan *c, uint32_t i)
{
    return c->buf + (size_t)i * c->elemsize;
}

/* Direct hand-off to a waiting receiver sg (1.4d): copies ep into sg->elem,
 * marks success. Returns the G to ready once c is unlocked. c locked. */
goc_g *goc__chan_send_direct(goc_chan *c, goc_sudog *sg, const void *ep);
/* Takes from a waiting sender sg (1.5d), through the buffer if buffered.
 * Returns the G to ready once c is unlocked. c locked. */
goc_g *goc__chan_recv_direct(goc_chan *c, goc_sudog *sg, void *ep);
/* Buffer put / get (1.4e, 1.5e). c locked, room / items present. */
void goc__chan_buf_put(goc_chan *c, const void *ep);
void goc__chan_buf_get(goc_chan *c, void *ep);

/* Non-blocking send for timer callbacks: -1 if c's lock is busy (the
 * callback may run on a thread whose parking goroutine still holds it: the
 * core runs timers while picking the next G), else whether it was sent. */
int goc__chan_send_from_timer(goc_chan *c, const void *elem);

/* Parks forever (nil channel, empty select). */
_Noreturn void goc__block_forever(const char *reason);

/* ---- semaphores (sema.c) ----------------------------------------------- */

/* What a semaphore wait counts toward (Go's semaProfileFlags). */
enum {
    GOC__SEMA_BLOCK = 1, /* the block profile: the waiter's time parked */
    GOC__SEMA_MUTEX = 2, /* the mutex profile: charged to the releaser's stack */
};

/* Go's semacquire1: waits until *addr > 0 and decrements it. lifo queues
 * the waiter at the head of addr's list (a Mutex waiter that already
 * waited). reason is the wait reason shown in dumps; prof, GOC__SEMA_*
 * flags, the profiles the wait may be recorded in. */
void goc__semacquire(uint32_t *addr, bool lifo, const char *reason, int prof);
/* Go's semrelease1: increments *addr and wakes one waiter; handoff passes
 * the count directly to it and yields to it. */
void goc__semrelease(uint32_t *addr, bool handoff);

/* Go's notifyList (sync.Cond). The ticket counters wrap. */
uint32_t goc__notify_list_add(goc__notify_list *l);
void goc__notify_list_wait(goc__notify_list *l, uint32_t t);
void goc__notify_list_notify_one(goc__notify_list *l);
void goc__notify_list_notify_all(goc__notify_list *l);

/* Go's canSpin for Mutex (doc/go-rules.md 4.6), mutex.c. */
bool goc__sync_can_spin(int iter);

/* Context introspection for tests (context.c): registered children, and
 * the reference count. */
struct goc_context;
int goc__context_nchildren(struct goc_context *c);
int32_t goc__context_refs(struct goc_context *c);

/* ---- the block profile's waker side ------------------------------------ */

/* Stamps the time sg's goroutine is released, when its wait is being
 * timed (Go's readyWithTime and the channel wakers' releasetime): before
 * it is readied. */
static inline void goc__sudog_release(goc_sudog *sg)
{
    if (GOC_UNLIKELY(sg->releasetime != 0))
        sg->releasetime = goc__nanotime();
}

/* ---- counters (stats.c) ------------------------------------------------ */

enum {
    GOC__CTR_SEND,
    GOC__CTR_RECV,
    GOC__CTR_CLOSE,
    GOC__CTR_SELECT,
    GOC__CTR_CHAN_PARK,
    GOC__CTR_SEMA_PARK,
    GOC__CTR_STARVE,
    GOC__CTR_N
};

/* Adds 1 to counter i of the calling thread's block. Never inlined: the
 * thread-local address must not survive a yield point in the caller. */
void goc__sync_count(int i);

#endif

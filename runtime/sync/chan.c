/* chan.c: channels (Go's src/runtime/chan.go, doc/go-rules.md 1).
 *
 * A channel is one allocation: the goc_chan header, then dataqsiz slots of
 * elemsize bytes. Blocked goroutines wait on recvq / sendq through sudogs on
 * their own stacks; a sender that finds a waiting receiver copies straight
 * into the receiver's destination (and the reverse), skipping the buffer.
 *
 * Invariants: see sync_internal.h. Everything under c->lock; the lock-free
 * fast paths (non-blocking operations that would fail) read only qcount,
 * closed and the queue heads, in Go's order.
 */
#include "sync_internal.h"

#include "goc/malloc.h"
#include "runq.h"

#include <stdio.h>

#define GOC_MAX_ALLOC ((uint64_t)1 << 47) /* Go's maxAlloc on 64-bit Linux */

/* Channels, contexts, timers' channels and select's scratch come from the
 * runtime's allocator, as everything does (doc/runtime.md, "Memory"). */
void *goc__sync_alloc(size_t n)
{
    void *p = goc_malloc(n);
    if (!p)
        goc_fatal("runtime: out of memory");
    return p;
}

void goc__sync_free(void *p) { goc_free(p); }

/* ---- wait queues --------------------------------------------------------- */

void goc__waitq_enqueue(goc__waitq *q, goc_sudog *sg)
{
    sg->next = NULL;
    goc_sudog *x = q->last;
    if (x == NULL) {
        sg->prev = NULL;
        STORE_RELAXED(&q->first, sg);
        q->last = sg;
        return;
    }
    sg->prev = x;
    x->next = sg;
    q->last = sg;
}

goc_sudog *goc__waitq_pop(goc__waitq *q)
{
    for (;;) {
        goc_sudog *sg = q->first;
        if (sg == NULL)
            return NULL;
        goc_sudog *y = sg->next;
        if (y == NULL) {
            STORE_RELAXED(&q->first, NULL);
            q->last = NULL;
        } else {
            y->prev = NULL;
            STORE_RELAXED(&q->first, y);
            sg->next = NULL;
        }
        /* A select waiter is taken only if its selectdone CAS wins; the
         * loser is left for its own pass 3 to unlink (here: already out). */
        if (sg->isselect) {
            uint32_t zero = 0;
            if (!atomic_compare_exchange_strong(&sg->g->selectdone, &zero, 1))
                continue;
        }
        return sg;
    }
}

void goc__waitq_remove(goc__waitq *q, goc_sudog *sg)
{
    goc_sudog *x = sg->prev, *y = sg->next;
    if (x != NULL) {
        if (y != NULL) {
            x->next = y;
            y->prev = x;
            sg->next = sg->prev = NULL;
            return;
        }
        x->next = NULL;
        q->last = x;
        sg->prev = NULL;
        return;
    }
    if (y != NULL) {
        y->prev = NULL;
        STORE_RELAXED(&q->first, y);
        sg->next = NULL;
        return;
    }
    /* sg is the only element, or not in q at all (already dequeued). */
    if (q->first == sg) {
        STORE_RELAXED(&q->first, NULL);
        q->last = NULL;
    }
}

/* ---- make / free ---------------------------------------------------------- */

goc_chan *goc_chan_make(size_t elemsize, int64_t cap)
{
    if (elemsize >= 65536)
        goc_fatal("makechan: invalid channel element type");
    size_t hdr = (sizeof(goc_chan) + 7) & ~(size_t)7;
    if (cap < 0 || cap > (int64_t)UINT32_MAX ||
        (uint64_t)cap * elemsize > GOC_MAX_ALLOC - hdr)
        goc_panic("makechan: size out of range");
    size_t bufsize = (size_t)cap * elemsize;
    goc_chan *c = goc__sync_alloc(hdr + bufsize);
    memset(c, 0, sizeof *c);
    c->buf = (char *)c + hdr;
    c->elemsize = (uint16_t)elemsize;
    c->dataqsiz = (uint32_t)cap;
    return c;
}

void goc_chan_free(goc_chan *c)
{
    if (c)
        goc__sync_free(c);
}

/* ---- blocking helpers ------------------------------------------------------ */

static bool park_forever_commit(goc_g *g, void *arg)
{
    (void)g;
    (void)arg;
    return true;
}

_Noreturn void goc__block_forever(const char *reason)
{
    for (;;)
        goc__park(park_forever_commit, NULL, reason);
}

static void sudog_init(goc_sudog *sg, goc_chan *c, void *elem)
{
    memset(sg, 0, sizeof *sg);
    sg->g = goc__getg();
    sg->elem = elem;
    sg->c = c;
}

/* ---- copies shared with select ----------------------------------------- */

goc_g *goc__chan_send_direct(goc_chan *c, goc_sudog *sg, const void *ep)
{
    if (sg->elem != NULL) {
        goc__copy(sg->elem, ep, c->elemsize);
        sg->elem = NULL;
    }
    goc_g *gp = sg->g;
    gp->param = sg;
    sg->success = true;
    goc__sudog_release(sg);
    return gp;
}

goc_g *goc__chan_recv_direct(goc_chan *c, goc_sudog *sg, void *ep)
{
    if (c->elemsize == 0) {
        /* nothing to copy; for buffered, indices move as below */
        if (c->dataqsiz != 0) {
            if (++c->recvx == c->dataqsiz)
                c->recvx = 0;
            c->sendx = c->recvx;
        }
    } else if (c->dataqsiz == 0) {
        if (ep != NULL)
            goc__copy(ep, sg->elem, c->elemsize);
    } else {
        /* The buffer is full: take its head and put the sender's value in
         * the freed slot, which becomes the tail. */
        char *qp = goc__chanbuf(c, c->recvx);
        if (ep != NULL)
            goc__copy(ep, qp, c->elemsize);
        goc__copy(qp, sg->elem, c->elemsize);
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    sg->elem = NULL;
    goc_g *gp = sg->g;
    gp->param = sg;
    sg->success = true;
    goc__sudog_release(sg);
    return gp;
}

void goc__chan_buf_put(goc_chan *c, const void *ep)
{
    goc__copy(goc__chanbuf(c, c->sendx), ep, c->elemsize);
    if (++c->sendx == c->dataqsiz)
        c->sendx = 0;
    STORE_RELAXED(&c->qcount, c->qcount + 1);
}

void goc__chan_buf_get(goc_chan *c, void *ep)
{
    char *qp = goc__chanbuf(c, c->recvx);
    if (c->elemsize == 8) { /* as goc__copy, with one test for both */
        if (ep != NULL)
            memcpy(ep, qp, 8);
        memset(qp, 0, 8);
    } else if (c->elemsize != 0) {
        if (ep != NULL)
            memcpy(ep, qp, c->elemsize);
        memset(qp, 0, c->elemsize);
    }
    if (++c->recvx == c->dataqsiz)
        c->recvx = 0;
    STORE_RELAXED(&c->qcount, c->qcount - 1);
}

/* A waiter of a channel being closed: woken without a value (success
 * false), collected to be readied after the unlock. c->lock held. */
static void close_wake(goc__glist *woken, goc_sudog *sg)
{
    sg->g->param = sg;
    sg->success = false;
    goc__sudog_release(sg);
    goc__glist_push(woken, sg->g);
}

/* ---- send -------------------------------------------------------------- */

static inline bool chan_full(goc_chan *c)
{
    if (c->dataqsiz == 0)
        return LOAD_RELAXED(&c->recvq.first) == NULL;
    return LOAD_RELAXED(&c->qcount) == c->dataqsiz;
}

static inline bool chan_empty(goc_chan *c)
{
    if (c->dataqsiz == 0)
        return LOAD_ACQ(&c->sendq.first) == NULL;
    return LOAD_ACQ(&c->qcount) == 0;
}

/* A send or receive that must wait: queued on q (c's sendq or recvq) as
 * the current G until a counterpart completes it (true) or a close wakes
 * it (false). c locked on entry, unlocked on return. Out of line, so the
 * paths that do not wait keep a small frame. */
__attribute__((noinline)) static bool chan_park(goc_chan *c, goc__waitq *q, void *ep,
                                                const char *reason)
{
    goc_sudog mysg;
    sudog_init(&mysg, c, ep);
    int64_t t0 = goc__prof_block_start();
    if (t0)
        mysg.releasetime = -1; /* the waker stamps it */
    mysg.g->waiting = &mysg;
    mysg.g->param = NULL;
    goc__waitq_enqueue(q, &mysg);
    goc__sync_count(GOC__CTR_CHAN_PARK);
    goc__park_unlock(&c->lock, reason);

    goc_g *gp = mysg.g;
    gp->waiting = NULL;
    gp->param = NULL;
    if (GOC_UNLIKELY(mysg.releasetime > 0))
        goc__prof_block_event(t0, mysg.releasetime);
    return mysg.success; /* c is not re-read: its closer may have freed it */
}

/* chansend from step (c) on; c locked on entry, unlocked on return. */
static bool chansend_locked(goc_chan *c, const void *ep, bool block)
{
    if (c->closed != 0) {
        goc__lock_release(&c->lock);
        goc_panic("send on closed channel");
    }
    goc_sudog *sg = goc__waitq_dequeue(&c->recvq);
    if (sg != NULL) {
        goc_g *gp = goc__chan_send_direct(c, sg, ep);
        goc__lock_release(&c->lock);
        goc__ready(gp, true);
        goc__sync_count(GOC__CTR_SEND);
        return true;
    }
    if (c->qcount < c->dataqsiz) {
        goc__chan_buf_put(c, ep);
        goc__lock_release(&c->lock);
        goc__sync_count(GOC__CTR_SEND);
        return true;
    }
    if (!block) {
        goc__lock_release(&c->lock);
        return false;
    }
    if (!chan_park(c, &c->sendq, (void *)ep, "chan send"))
        goc_panic("send on closed channel"); /* only a close fails a sender */
    goc__sync_count(GOC__CTR_SEND);
    return true;
}

/* Go's chansend (1.4). Returns whether the value was sent. */
static bool chansend(goc_chan *c, const void *ep, bool block)
{
    if (c == NULL) {
        if (!block)
            return false;
        goc__block_forever("chan send (nil chan)");
    }
    if (!block && LOAD_RELAXED(&c->closed) == 0 && chan_full(c))
        return false;

    goc__lock_acquire(&c->lock);
    return chansend_locked(c, ep, block);
}

void goc_chan_send(goc_chan *c, const void *elem) { chansend(c, elem, true); }

int goc__chan_send_from_timer(goc_chan *c, const void *elem)
{
    if (!goc__lock_try(&c->lock))
        return -1;
    return chansend_locked(c, elem, false);
}

bool goc_chan_try_send(goc_chan *c, const void *elem) { return chansend(c, elem, false); }

/* ---- receive ------------------------------------------------------------ */

/* Go's chanrecv (1.5): returns selected; *received as Go's second result. */
static bool chanrecv(goc_chan *c, void *ep, bool block, bool *received)
{
    *received = false;
    if (c == NULL) {
        if (!block)
            return false;
        goc__block_forever("chan receive (nil chan)");
    }
    /* Fast path: empty first, then closed, then empty again. */
    if (!block && chan_empty(c)) {
        if (LOAD_ACQ(&c->closed) == 0)
            return false;
        if (chan_empty(c)) {
            if (ep != NULL)
                memset(ep, 0, c->elemsize);
            return true;
        }
    }

    goc__lock_acquire(&c->lock);
    if (c->closed != 0) {
        if (c->qcount == 0) {
            goc__lock_release(&c->lock);
            if (ep != NULL)
                memset(ep, 0, c->elemsize);
            return true;
        }
        /* Closed but buffered values remain: fall to the buffer below. */
    } else {
        goc_sudog *sg = goc__waitq_dequeue(&c->sendq);
        if (sg != NULL) {
            goc_g *gp = goc__chan_recv_direct(c, sg, ep);
            goc__lock_release(&c->lock);
            goc__ready(gp, true);
            goc__sync_count(GOC__CTR_RECV);
            *received = true;
            return true;
        }
    }
    if (c->qcount > 0) {
        goc__chan_buf_get(c, ep);
        goc__lock_release(&c->lock);
        goc__sync_count(GOC__CTR_RECV);
        *received = true;
        return true;
    }
    if (!block) {
        goc__lock_release(&c->lock);
        return false;
    }
    *received = chan_park(c, &c->recvq, ep, "chan receive");
    if (*received)
        goc__sync_count(GOC__CTR_RECV);
    return true;
}

bool goc_chan_recv(goc_chan *c, void *elem)
{
    bool ok;
    chanrecv(c, elem, true, &ok);
    return ok;
}

bool goc_chan_try_recv(goc_chan *c, void *elem, bool *ok)
{
    bool received;
    bool selected = chanrecv(c, elem, false, &received);
    if (selected && ok != NULL)
        *ok = received;
    return selected;
}

/* ---- close, len, cap ---------------------------------------------------- */

void goc_chan_close(goc_chan *c)
{
    if (c == NULL)
        goc_panic("close of nil channel");
    goc__lock_acquire(&c->lock);
    if (c->closed != 0) {
        goc__lock_release(&c->lock);
        goc_panic("close of closed channel");
    }
    STORE_REL(&c->closed, 1);

    goc__glist woken = {0};
    goc_sudog *sg;
    while ((sg = goc__waitq_dequeue(&c->recvq)) != NULL) {
        if (sg->elem != NULL) {
            memset(sg->elem, 0, c->elemsize);
            sg->elem = NULL;
        }
        close_wake(&woken, sg);
    }
    while ((sg = goc__waitq_dequeue(&c->sendq)) != NULL) {
        sg->elem = NULL;
        close_wake(&woken, sg);
    }
    goc__lock_release(&c->lock);
    goc__sync_count(GOC__CTR_CLOSE);

    /* Ready only after unlocking (1.6). Read the link before readying: the
     * G may run (and be re-queued elsewhere) at once. */
    for (goc_g *gp = woken.head; gp != NULL;) {
        goc_g *next = gp->schedlink;
        goc__ready(gp, true);
        gp = next;
    }
}

int64_t goc_chan_len(const goc_chan *c)
{
    return c ? (int64_t)LOAD_RELAXED(&c->qcount) : 0;
}

int64_t goc_chan_cap(const goc_chan *c) { return c ? (int64_t)c->dataqsiz : 0; }

size_t goc_chan_elemsize(const goc_chan *c) { return c ? c->elemsize : 0; }

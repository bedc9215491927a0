/* sema.c: the semaphore table and notify lists (Go's src/runtime/sema.go,
 * doc/go-rules.md 3).
 *
 * A semaphore is any uint32_t in user memory; goroutines waiting on it are
 * kept in one of 251 roots chosen by its address. Each root is a treap of
 * sudogs keyed by address (binary search tree on elem, min-heap on the
 * random ticket); waiters on the same address hang off their treap node
 * through waitlink, the node's waittail pointing at the last one.
 *
 * Invariants:
 *  - root->nwait counts the goroutines queued (or about to queue) in the
 *    root; semrelease skips the lock when it is 0. A waiter increments it
 *    before its last cansemacquire under the lock, so no wake-up is lost.
 *  - A queued sudog's ticket is its treap priority (odd, non-zero); after
 *    dequeue it is 0, and 1 if the releaser handed the count over.
 *  - Gs are readied only after the root lock is released.
 */
#include "sync_internal.h"

#define SEMTAB_SIZE 251

typedef struct semaroot {
    goc__lock lock;    /* guards treap and the queued sudogs */
    goc_sudog *treap;  /* root of the treap of distinct addresses [lock] */
    uint32_t nwait;    /* atomic: waiters (see invariants) */
} semaroot;

static struct {
    semaroot root;
    char pad[GOC_CACHELINE - sizeof(semaroot)];
} semtable[SEMTAB_SIZE] __attribute__((aligned(GOC_CACHELINE)));

static semaroot *semroot(const uint32_t *addr)
{
    return &semtable[((uintptr_t)addr >> 3) % SEMTAB_SIZE].root;
}

static bool cansemacquire(uint32_t *addr)
{
    uint32_t v = LOAD_SC(addr);
    while (v != 0) {
        if (__atomic_compare_exchange_n(addr, &v, v - 1, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return true;
    }
    return false;
}

/* ---- treap ---------------------------------------------------------------- */

/* Children are sg->prev (smaller addresses) and sg->next (larger). */
static void rotate_left(semaroot *r, goc_sudog *x)
{
    goc_sudog *p = x->parent, *y = x->next, *b = y->prev;
    y->prev = x;
    x->parent = y;
    x->next = b;
    if (b != NULL)
        b->parent = x;
    y->parent = p;
    if (p == NULL)
        r->treap = y;
    else if (p->prev == x)
        p->prev = y;
    else
        p->next = y;
}

static void rotate_right(semaroot *r, goc_sudog *y)
{
    goc_sudog *p = y->parent, *x = y->prev, *b = x->next;
    x->next = y;
    y->parent = x;
    y->prev = b;
    if (b != NULL)
        b->parent = y;
    x->parent = p;
    if (p == NULL)
        r->treap = x;
    else if (p->prev == y)
        p->prev = x;
    else
        p->next = x;
}

/* Adds s (waiting on addr) to r. r locked. */
static void sema_queue(semaroot *r, uint32_t *addr, goc_sudog *s, bool lifo)
{
    s->g = goc__getg();
    s->elem = addr;
    s->next = s->prev = s->parent = NULL;
    s->waitlink = s->waittail = NULL;
    goc_sudog *last = NULL, **pt = &r->treap;
    for (goc_sudog *t = *pt; t != NULL; t = *pt) {
        if (t->elem == addr) {
            if (lifo) {
                /* s takes t's place in the treap and heads the list. */
                *pt = s;
                s->ticket = t->ticket;
                s->acquiretime = t->acquiretime;
                s->parent = t->parent;
                s->prev = t->prev;
                s->next = t->next;
                if (s->prev != NULL)
                    s->prev->parent = s;
                if (s->next != NULL)
                    s->next->parent = s;
                s->waitlink = t;
                s->waittail = t->waittail ? t->waittail : t;
                t->parent = t->prev = t->next = NULL;
                t->waittail = NULL;
            } else {
                if (t->waittail == NULL)
                    t->waitlink = s;
                else
                    t->waittail->waitlink = s;
                t->waittail = s;
            }
            return;
        }
        last = t;
        pt = (uintptr_t)addr < (uintptr_t)t->elem ? &t->prev : &t->next;
    }
    /* A new address: a leaf, rotated up to restore the heap order. */
    s->ticket = goc__fastrand() | 1;
    s->parent = last;
    *pt = s;
    while (s->parent != NULL && s->parent->ticket > s->ticket) {
        if (s->parent->prev == s)
            rotate_right(r, s->parent);
        else
            rotate_left(r, s->parent);
    }
}

/* Removes and returns the first waiter on addr, or NULL. r locked. When
 * the waiter's wait is timed for the mutex profile (acquiretime set), *now
 * is the time, and the next waiter on addr is timed from it (so each wait
 * is charged once, to the release that ended it, as Go does). */
static goc_sudog *sema_dequeue(semaroot *r, uint32_t *addr, int64_t *now)
{
    goc_sudog **ps = &r->treap, *s = *ps;
    for (; s != NULL; s = *ps) {
        if (s->elem == addr)
            break;
        ps = (uintptr_t)addr < (uintptr_t)s->elem ? &s->prev : &s->next;
    }
    if (s == NULL)
        return NULL;
    *now = s->acquiretime != 0 ? goc__nanotime() : 0;
    goc_sudog *t = s->waitlink;
    if (t != NULL) {
        /* The next waiter on addr replaces s in the treap. */
        *ps = t;
        t->ticket = s->ticket;
        t->parent = s->parent;
        t->prev = s->prev;
        if (t->prev != NULL)
            t->prev->parent = t;
        t->next = s->next;
        if (t->next != NULL)
            t->next->parent = t;
        t->waittail = t->waitlink != NULL ? s->waittail : NULL;
        t->acquiretime = *now;
        s->waitlink = s->waittail = NULL;
    } else {
        /* Rotate s down to a leaf, then cut it off. */
        while (s->next != NULL || s->prev != NULL) {
            if (s->next == NULL || (s->prev != NULL && s->prev->ticket < s->next->ticket))
                rotate_right(r, s);
            else
                rotate_left(r, s);
        }
        if (s->parent != NULL) {
            if (s->parent->prev == s)
                s->parent->prev = NULL;
            else
                s->parent->next = NULL;
        } else {
            r->treap = NULL;
        }
    }
    s->parent = s->prev = s->next = NULL;
    s->elem = NULL;
    s->ticket = 0;
    return s;
}

/* ---- acquire / release -------------------------------------------------- */

void goc__semacquire(uint32_t *addr, bool lifo, const char *reason, int prof)
{
    if (cansemacquire(addr))
        return;
    semaroot *r = semroot(addr);
    goc_sudog s;
    memset(&s, 0, sizeof s);
    int64_t t0 = 0;
    if (prof & GOC__SEMA_BLOCK) {
        t0 = goc__prof_block_start();
        if (t0)
            s.releasetime = -1; /* the releaser stamps it */
    }
    if ((prof & GOC__SEMA_MUTEX) && goc__prof_rate_of(GOC__PROF_MUTEX) > 0)
        s.acquiretime = t0 ? t0 : goc__nanotime();
    for (;;) {
        goc__lock_acquire(&r->lock);
        ADD_FETCH(&r->nwait, 1);
        if (cansemacquire(addr)) {
            ADD_FETCH(&r->nwait, (uint32_t)-1);
            goc__lock_release(&r->lock);
            return;
        }
        sema_queue(r, addr, &s, lifo);
        goc__sync_count(GOC__CTR_SEMA_PARK);
        goc__park_unlock(&r->lock, reason);
        if (s.ticket != 0 || cansemacquire(addr))
            break;
    }
    if (GOC_UNLIKELY(s.releasetime > 0))
        goc__prof_block_event(t0, s.releasetime);
}

void goc__semrelease(uint32_t *addr, bool handoff)
{
    semaroot *r = semroot(addr);
    ADD_FETCH(addr, 1);
    if (LOAD_SC(&r->nwait) == 0)
        return;
    goc__lock_acquire(&r->lock);
    if (LOAD_RELAXED(&r->nwait) == 0) {
        goc__lock_release(&r->lock);
        return;
    }
    int64_t now = 0;
    goc_sudog *s = sema_dequeue(r, addr, &now);
    if (s != NULL)
        ADD_FETCH(&r->nwait, (uint32_t)-1);
    goc__lock_release(&r->lock);
    if (s == NULL)
        return;
    bool handed = handoff && cansemacquire(addr);
    if (handed)
        s->ticket = 1;
    if (GOC_UNLIKELY(s->acquiretime != 0))
        goc__prof_mutex_event(now - s->acquiretime);
    goc__sudog_release(s);
    goc__ready(s->g, true);
    /* The waiter now has the count and sits in runnext: let it run at once
     * with the rest of our time slice (Go issue 33747). */
    if (handed)
        goc__yield_local();
}

/* ---- notify lists ----------------------------------------------------------- */

_Static_assert(sizeof(goc__lock) == sizeof(uint32_t), "notify list lock");

static inline goc__lock *nl_lock(goc__notify_list *l) { return (goc__lock *)(void *)&l->lock; }

/* a < b in ticket order, robust to wrap-around. */
static inline bool less(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

uint32_t goc__notify_list_add(goc__notify_list *l)
{
    return __atomic_fetch_add(&l->wait, 1, __ATOMIC_ACQ_REL);
}

void goc__notify_list_wait(goc__notify_list *l, uint32_t t)
{
    goc__lock_acquire(nl_lock(l));
    if (less(t, LOAD_RELAXED(&l->notify))) {
        goc__lock_release(nl_lock(l));
        return;
    }
    goc_sudog s;
    memset(&s, 0, sizeof s);
    s.g = goc__getg();
    s.ticket = t;
    if (l->tail == NULL)
        l->head = &s;
    else
        ((goc_sudog *)l->tail)->next = &s;
    l->tail = &s;
    int64_t t0 = goc__prof_block_start();
    if (t0)
        s.releasetime = -1; /* the notifier stamps it */
    goc__sync_count(GOC__CTR_SEMA_PARK);
    goc__park_unlock(nl_lock(l), "sync.Cond.Wait");
    if (GOC_UNLIKELY(s.releasetime > 0))
        goc__prof_block_event(t0, s.releasetime);
}

void goc__notify_list_notify_one(goc__notify_list *l)
{
    if (LOAD_ACQ(&l->wait) == LOAD_ACQ(&l->notify))
        return;
    goc__lock_acquire(nl_lock(l));
    uint32_t t = l->notify;
    if (t == LOAD_RELAXED(&l->wait)) {
        goc__lock_release(nl_lock(l));
        return;
    }
    STORE_REL(&l->notify, t + 1);
    /* The waiter with ticket t may not have queued yet (it then sees
     * notify > t and returns at once). */
    for (goc_sudog *p = NULL, *s = l->head; s != NULL; p = s, s = s->next) {
        if (s->ticket == t) {
            goc_sudog *n = s->next;
            if (p != NULL)
                p->next = n;
            else
                l->head = n;
            if (n == NULL)
                l->tail = p;
            goc__lock_release(nl_lock(l));
            s->next = NULL;
            goc__sudog_release(s);
            goc__ready(s->g, true);
            return;
        }
    }
    goc__lock_release(nl_lock(l));
}

void goc__notify_list_notify_all(goc__notify_list *l)
{
    if (LOAD_ACQ(&l->wait) == LOAD_ACQ(&l->notify))
        return;
    goc__lock_acquire(nl_lock(l));
    goc_sudog *s = l->head;
    l->head = l->tail = NULL;
    STORE_REL(&l->notify, LOAD_RELAXED(&l->wait));
    goc__lock_release(nl_lock(l));
    while (s != NULL) {
        goc_sudog *next = s->next;
        s->next = NULL;
        goc__sudog_release(s);
        goc__ready(s->g, true);
        s = next;
    }
}

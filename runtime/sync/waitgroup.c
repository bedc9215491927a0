/* waitgroup.c: sync.WaitGroup (with Go 1.25's Go), sync.Once, the
 * Lockers and sync.Cond (Go's src/sync/waitgroup.go, once.go, cond.go;
 * doc/go-rules.md 5.2 to 5.4).
 *
 * Invariants:
 *  - WaitGroup state = counter << 32 | waiters. Waiters are only added
 *    while the counter is positive; the Add that brings the counter to zero
 *    resets the whole word to 0 and releases each waiter once.
 *  - Once: done becomes 1 only after f has returned or panicked, with m
 *    held, so a caller that sees done == 1 sees f's effects.
 *  - Cond: checker holds the Cond's own address once used; a different
 *    address means the struct was copied.
 */
#include "sync_internal.h"

/* ---- WaitGroup ------------------------------------------------------------ */

static const char wg_misuse[] = "sync: WaitGroup misuse: Add called concurrently with Wait";

void goc_waitgroup_add(goc_waitgroup *wg, int delta)
{
    uint64_t s = ADD_FETCH(&wg->state, (uint64_t)(int64_t)delta << 32);
    int32_t v = (int32_t)(s >> 32);
    uint32_t w = (uint32_t)s;
    if (v < 0)
        goc_panic("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == delta)
        goc_panic(wg_misuse);
    if (v > 0 || w == 0)
        return;
    /* Counter is 0 with waiters: nobody may change the state now. */
    if (LOAD_SC(&wg->state) != s)
        goc_panic(wg_misuse);
    __atomic_store_n(&wg->state, 0, __ATOMIC_SEQ_CST);
    for (; w != 0; w--)
        goc__semrelease(&wg->sema, false);
}

void goc_waitgroup_done(goc_waitgroup *wg) { goc_waitgroup_add(wg, -1); }

/* The header a WaitGroup.Go goroutine gets before its argument's copy. */
typedef struct wg_go_hdr {
    goc_waitgroup *wg;
    void (*fn)(void *arg);
    size_t argsize; /* 0: fn gets NULL, as from goc_go */
} wg_go_hdr;

static void wg_go_done(void *wg) { goc_waitgroup_done(wg); }

static void wg_go_run(void *p)
{
    wg_go_hdr *h = p;
    goc_defer(wg_go_done, h->wg); /* also when fn ends in goc_exit */
    h->fn(h->argsize ? (char *)p + GOC__SPAWN_ARG_OFFSET(sizeof *h) : NULL);
}

int64_t goc_waitgroup_go(goc_waitgroup *wg, void (*fn)(void *arg), const void *arg,
                         size_t argsize)
{
    goc_waitgroup_add(wg, 1);
    wg_go_hdr h = {wg, fn, argsize};
    int64_t id = goc__go_wrapped(wg_go_run, &h, sizeof h, arg, argsize);
    if (id < 0)
        goc_waitgroup_add(wg, -1);
    return id;
}

void goc_waitgroup_wait(goc_waitgroup *wg)
{
    uint64_t s = LOAD_SC(&wg->state);
    for (;;) {
        if ((int32_t)(s >> 32) == 0)
            return;
        if (__atomic_compare_exchange_n(&wg->state, &s, s + 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            goc__semacquire(&wg->sema, false, "sync.WaitGroup.Wait", GOC__SEMA_BLOCK);
            if (LOAD_SC(&wg->state) != 0)
                goc_panic("sync: WaitGroup is reused before previous Wait has returned");
            return;
        }
    }
}

/* ---- Once --------------------------------------------------------------- */

typedef struct once_call {
    goc_once *o;
    void (*f)(void *);
    void *arg;
} once_call;

static void once_unlock(void *arg) { goc_mutex_unlock(&((goc_once *)arg)->m); }

static void once_mark_done(void *arg)
{
    __atomic_store_n(&((goc_once *)arg)->done, 1, __ATOMIC_RELEASE);
}

static void once_slow(void *arg)
{
    once_call *oc = arg;
    goc_mutex_lock(&oc->o->m);
    goc_defer(once_unlock, oc->o);
    if (LOAD_RELAXED(&oc->o->done) == 0) {
        goc_defer(once_mark_done, oc->o); /* runs even if f panics */
        oc->f(oc->arg);
    }
}

void goc_once_do(goc_once *o, void (*f)(void *arg), void *arg)
{
    if (GOC_LIKELY(LOAD_ACQ(&o->done) != 0))
        return;
    once_call oc = {o, f, arg};
    goc_call(once_slow, &oc);
}

/* ---- Lockers ---------------------------------------------------------------- */

void goc__locker_mutex_lock(void *m) { goc_mutex_lock(m); }
void goc__locker_mutex_unlock(void *m) { goc_mutex_unlock(m); }
void goc__locker_rwmutex_lock(void *rw) { goc_rwmutex_lock(rw); }
void goc__locker_rwmutex_unlock(void *rw) { goc_rwmutex_unlock(rw); }
void goc__locker_rwmutex_rlock(void *rw) { goc_rwmutex_rlock(rw); }
void goc__locker_rwmutex_runlock(void *rw) { goc_rwmutex_runlock(rw); }

goc_locker goc_mutex_locker(goc_mutex *m) { return (goc_locker)GOC_MUTEX_LOCKER(m); }
goc_locker goc_rwmutex_locker(goc_rwmutex *rw) { return (goc_locker)GOC_RWMUTEX_LOCKER(rw); }
goc_locker goc_rwmutex_rlocker(goc_rwmutex *rw) { return (goc_locker)GOC_RWMUTEX_RLOCKER(rw); }

/* ---- Cond ----------------------------------------------------------------- */

void goc_cond_init(goc_cond *c, goc_locker L)
{
    memset(c, 0, sizeof *c);
    c->L = L;
}

static void cond_check(goc_cond *c)
{
    uintptr_t self = (uintptr_t)c;
    uintptr_t cur = LOAD_RELAXED(&c->checker);
    if (cur == self)
        return;
    if (cur == 0 && CAS_ACQREL(&c->checker, &cur, self))
        return;
    if (LOAD_RELAXED(&c->checker) != self)
        goc_panic("sync.Cond is copied");
}

void goc_cond_wait(goc_cond *c)
{
    cond_check(c);
    uint32_t t = goc__notify_list_add(&c->notify);
    c->L.unlock(c->L.l);
    goc__notify_list_wait(&c->notify, t);
    c->L.lock(c->L.l);
}

void goc_cond_signal(goc_cond *c)
{
    cond_check(c);
    goc__notify_list_notify_one(&c->notify);
}

void goc_cond_broadcast(goc_cond *c)
{
    cond_check(c);
    goc__notify_list_notify_all(&c->notify);
}

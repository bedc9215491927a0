/* sched.c: the G/M/P scheduler (src/runtime/proc.go; doc/go-rules.md 7).
 *
 * Each M runs its scheduler loop on its own thread stack (g0). Parking or
 * yielding switches straight to the next runnable G of the same P when the
 * P's queues have one, and to g0 otherwise; g0 then looks for work the long
 * way (findrunnable: timers, global queue, netpoll, stealing) and sleeps on
 * a futex when there is none. A G is published (queued, or its wait lock
 * released) by the incoming side after the switch (m->post), never before,
 * so no two Ms run on one stack. The one exception needs no such care: with
 * one P a yield queues the G on its own P before the switch, where no other
 * M can take it (goc__runqrotate).
 *
 * Invariants:
 *  - An M runs Gs only while holding a P (m->p, p->m).
 *  - nmspinning counts Ms with m->spinning set; a spinning M that gives up
 *    re-checks every queue after decrementing it (the wakep hand-shake).
 *  - sched.lock guards the global queue, the idle P and M lists and the M
 *    counts; it is never held across a switch or a futex sleep.
 */
#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runq.h"

#if GOC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if GOC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

goc__sched goc__sched_;

static __thread goc_m *tls_m __attribute__((tls_model("initial-exec")));

/* The M read inline, for a function that is itself never inlined and reads
 * it once, before its only switch (goc__yield_local): no caller can carry
 * the thread-local's address across that switch. */
static inline goc_m *getm_once(void)
{
    return tls_m;
}

__thread struct goc_mcache *goc__tls_mcache;

/* Gives the calling thread's M the P p (NULL: none), and the allocator the
 * P's cache with it: every change of m->p goes through here. */
static inline void setp(goc_m *m, goc_p *p)
{
    m->p = p;
    goc__tls_mcache = p ? p->mcache : NULL;
}

/* Coprime strides for the random steal order (stealOrder in proc.go). */
static uint32_t steal_coprimes[GOC_MAX_PROCS];
static int steal_ncoprimes;

/* ---- current G, M, P ---------------------------------------------------- */

/* Each accessor is a real call with a compiler barrier: the compiler may not
 * cache a thread-local's address across a call that can switch goroutines,
 * and these calls are never inlined or assumed free of side effects. */
__attribute__((noinline)) goc_m *goc__getm(void)
{
    __asm__ volatile("" ::: "memory");
    return tls_m;
}

__attribute__((noinline)) goc_g *goc__getg(void)
{
    __asm__ volatile("" ::: "memory");
    goc_m *m = tls_m;
    return m ? m->curg : NULL;
}

__attribute__((noinline)) goc_p *goc__getp(void)
{
    __asm__ volatile("" ::: "memory");
    goc_m *m = tls_m;
    return m ? m->p : NULL;
}

/* ---- small utilities -------------------------------------------------- */

int64_t goc__nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t goc_nanotime(void)
{
    return goc__nanotime();
}

static uint64_t global_rand_state(void)
{
    static _Atomic uint64_t seed;
    uint64_t s = atomic_fetch_add(&seed, 0x9E3779B97F4A7C15ull);
    return s ^ (uint64_t)goc__nanotime() ^ ((uint64_t)getpid() << 32);
}

uint64_t goc__fastrand64(void)
{
    goc_m *m = goc__getm();
    uint64_t *s;
    static __thread uint64_t foreign_state;
    if (m) {
        s = &m->fastrand;
    } else {
        if (!foreign_state)
            foreign_state = global_rand_state() | 1;
        s = &foreign_state;
    }
    /* wyrand */
    *s += 0xa0761d6478bd642full;
    __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

uint32_t goc__fastrand(void)
{
    return (uint32_t)goc__fastrand64();
}

uint32_t goc__fastrandn(uint32_t n)
{
    return (uint32_t)(((uint64_t)goc__fastrand() * n) >> 32);
}

_Noreturn void goc__throw(const char *msg)
{
    goc_fatal(msg);
}

int32_t goc__npidle(void)
{
    return atomic_load(&goc__sched_.npidle);
}

int32_t goc__nmspinning(void)
{
    return atomic_load(&goc__sched_.nmspinning);
}

int goc_procs(void)
{
    return goc__sched_.nprocs;
}

/* ---- notes: one-shot futex events --------------------------------------- */

static void note_clear(goc__note *n)
{
    atomic_store(&n->key, 0);
}

static void note_wakeup(goc__note *n)
{
    if (atomic_exchange(&n->key, 1) != 0)
        goc__throw("note_wakeup: double wakeup");
    goc__futex_wake(&n->key, 1);
}

static void note_sleep(goc__note *n)
{
    while (atomic_load(&n->key) == 0)
        goc__futex_wait(&n->key, 0, -1);
}

/* ---- idle P and M lists (sched.lock held) --------------------------------- */

static void stop_p_locked(goc_p *p);

/* A P given up goes to the idle list, or to a stop-the-world under way. */
static void pidleput(goc_p *p)
{
    if (atomic_load(&goc__sched_.stopping)) {
        stop_p_locked(p);
        return;
    }
    if (!goc__runq_empty(p))
        goc__throw("pidleput: P has non-empty run queue");
    atomic_store(&p->status, GOC_PIDLE);
    __atomic_store_n(&p->m, NULL, __ATOMIC_RELAXED);
    p->link = goc__sched_.pidle;
    goc__sched_.pidle = p;
    atomic_fetch_add(&goc__sched_.npidle, 1);
}

static goc_p *pidleget(void)
{
    goc_p *p = goc__sched_.pidle;
    if (p) {
        goc__sched_.pidle = p->link;
        p->link = NULL;
        atomic_fetch_sub(&goc__sched_.npidle, 1);
    }
    return p;
}

static void mput(goc_m *m)
{
    m->schedlink = goc__sched_.midle;
    goc__sched_.midle = m;
    goc__sched_.nmidle++;
}

static goc_m *mget(void)
{
    goc_m *m = goc__sched_.midle;
    if (m) {
        goc__sched_.midle = m->schedlink;
        m->schedlink = NULL;
        goc__sched_.nmidle--;
    }
    return m;
}

/* ---- attaching Ps ----------------------------------------------------- */

static void acquirep(goc_m *m, goc_p *p)
{
    if (m->p || p->m)
        goc__throw("acquirep: already in use");
    setp(m, p);
    __atomic_store_n(&p->m, m, __ATOMIC_RELAXED);
    atomic_store(&p->status, GOC_PRUNNING);
}

static goc_p *releasep(goc_m *m)
{
    goc_p *p = m->p;
    if (!p || p->m != m)
        goc__throw("releasep: invalid P");
    setp(m, NULL);
    __atomic_store_n(&p->m, NULL, __ATOMIC_RELAXED);
    atomic_store(&p->status, GOC_PIDLE);
    return p;
}

/* ---- starting and stopping Ms --------------------------------------------- */

static void *mstart(void *arg);
static void schedule(goc_m *m) __attribute__((noreturn));

static void m_init_g0(goc_m *m)
{
    clockid_t cid;
    if (pthread_getcpuclockid(pthread_self(), &cid) == 0) {
        atomic_store(&m->cpuclock, (int)cid);
        m->has_cpuclock = true;
    }
    m->g0.is_g0 = true;
    m->g0.id = 0;
    atomic_store(&m->g0.status, GOC_GRUNNING);
    m->curg = &m->g0;
    m->g0.m = m;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo;
        size_t size;
        pthread_attr_getstack(&attr, &lo, &size);
        m->g0_stack_lo = lo;
        m->g0_stack_size = size;
        pthread_attr_destroy(&attr);
    }
#if GOC_TSAN
    m->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
    goc__stw_thread_start(m);
    goc__cpuprof_m_start(m);
}

static goc_m *allocm(void)
{
    goc_m *m = goc__calloc(1, sizeof *m);
    if (!m)
        goc__throw("allocm: out of memory");
    /* Here rather than on the new thread: all of an M's memory exists
     * once it counts in mcount (goc_sched_stats.threads), so one who
     * compares live objects across a span can tell what new threads hold. */
    goc__sigaltstack_alloc(m);
    m->fastrand = global_rand_state() | 1;
    goc__lock_acquire(&goc__sched_.lock);
    m->id = goc__sched_.mcount++;
    m->alllink = goc__sched_.allm;
    goc__sched_.allm = m;
    goc__lock_release(&goc__sched_.lock);
    return m;
}

/* Starts a new thread running the scheduler with P p. */
static void newm(goc_p *p, bool spinning)
{
    goc_m *m = allocm();
    m->nextp = p;
    m->spinning = spinning;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t th;
    int rc = pthread_create(&th, &attr, mstart, m);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        goc__throw("newm: pthread_create failed");
}

/* Gives P p (or an idle P) to an idle or new M. spinning: the M is counted
 * in nmspinning already (by wakep). */
static void startm(goc_p *p, bool spinning)
{
    goc__lock_acquire(&goc__sched_.lock);
    if (!p) {
        p = pidleget();
        if (!p) {
            goc__lock_release(&goc__sched_.lock);
            if (spinning)
                atomic_fetch_sub(&goc__sched_.nmspinning, 1);
            return;
        }
    }
    goc_m *nm = mget();
    goc__lock_release(&goc__sched_.lock);
    if (!nm) {
        newm(p, spinning);
        return;
    }
    if (nm->p || nm->nextp)
        goc__throw("startm: M has a P");
    nm->spinning = spinning;
    nm->nextp = p;
    note_wakeup(&nm->park);
}

/* Tries to add one more M to run Gs, if an idle P exists and nobody is
 * already looking for work (wakep in proc.go). */
void goc__wakep(void)
{
    if (atomic_load(&goc__sched_.npidle) == 0)
        return;
    int32_t zero = 0;
    if (atomic_load(&goc__sched_.nmspinning) != 0 ||
        !atomic_compare_exchange_strong(&goc__sched_.nmspinning, &zero, 1))
        return;
    startm(NULL, true);
}

/* Hands off P p from an M that is blocking or stopping (handoffp). */
static void handoffp(goc_p *p)
{
    if (!goc__runq_empty(p) || atomic_load(&goc__sched_.runqsize) > 0) {
        startm(p, false);
        return;
    }
    int32_t zero = 0;
    if (atomic_load(&goc__sched_.nmspinning) + atomic_load(&goc__sched_.npidle) == 0 &&
        atomic_compare_exchange_strong(&goc__sched_.nmspinning, &zero, 1)) {
        startm(p, true);
        return;
    }
    goc__lock_acquire(&goc__sched_.lock);
    if (goc__sched_.runq.n > 0) {
        goc__lock_release(&goc__sched_.lock);
        startm(p, false);
        return;
    }
    /* The last running P with timers or I/O pending and nobody polling:
     * keep an M around to serve them. */
    if (atomic_load(&goc__sched_.npidle) == goc__sched_.nprocs - 1 &&
        atomic_load(&goc__sched_.polling) == 0 &&
        (atomic_load(&p->timer0when) != 0 || goc__netpoll_waiters() > 0)) {
        goc__lock_release(&goc__sched_.lock);
        startm(p, false);
        return;
    }
    pidleput(p);
    goc__lock_release(&goc__sched_.lock);
}

/* Deadlock detection (checkdead): called with sched.lock held by an M about
 * to sleep. If no M is running, no G can become runnable except through a
 * timer or I/O; without those, every goroutine is blocked for ever. */
static void checkdead(void)
{
    int32_t run = goc__sched_.mcount - goc__sched_.nmidle;
    if (run > 0 || !goc__sched_.main_started)
        return;
    if (goc__sched_.runq.n > 0 || goc__timers_next() != 0 || goc__netpoll_waiters() > 0)
        return;
    for (int i = 0; i < goc__sched_.nprocs; i++)
        if (!goc__runq_empty(goc__sched_.allp[i]))
            return;
    goc__lock_release(&goc__sched_.lock);
    static const char msg[] = "fatal error: all goroutines are asleep - deadlock!\n\n";
    (void)!write(2, msg, sizeof msg - 1);
    goc__dump_all(2, NULL);
    _exit(2);
}

/* Puts the M to sleep until startm gives it a P. */
static void stopm(goc_m *m)
{
    if (m->p)
        goc__throw("stopm: holding a P");
    if (m->spinning)
        goc__throw("stopm: spinning");
    goc__lock_acquire(&goc__sched_.lock);
    mput(m);
    checkdead();
    goc__lock_release(&goc__sched_.lock);
    note_sleep(&m->park);
    note_clear(&m->park);
    acquirep(m, m->nextp);
    m->nextp = NULL;
}

/* A spinning M found work: stop counting it, and wake another spinner if it
 * was the last (resetspinning). */
static void resetspinning(goc_m *m)
{
    if (!m->spinning)
        return;
    m->spinning = false;
    if (atomic_fetch_sub(&goc__sched_.nmspinning, 1) < 1)
        goc__throw("resetspinning: negative nmspinning");
    goc__wakep();
}

/* ---- readying --------------------------------------------------------- */

void goc__ready(goc_g *g, bool next)
{
    uint32_t old = GOC_GWAITING;
    if (!atomic_compare_exchange_strong(&g->status, &old, GOC_GRUNNABLE))
        goc__throw("goready: bad g status");
    goc_m *m = goc__getm();
    if (m && m->p) {
        goc__runqput(m->p, g, next);
    } else {
        goc__lock_acquire(&goc__sched_.lock);
        goc__globrunqput(g);
        goc__lock_release(&goc__sched_.lock);
        /* An M blocked in the poller without a P may be the only one up. */
    }
    goc__wakep();
}

void goc__ready_list(goc__glist *l)
{
    if (!l->head)
        return;
    goc_g *g;
    goc__glist batch = {0};
    while ((g = goc__glist_pop(l))) {
        uint32_t old = GOC_GWAITING;
        if (!atomic_compare_exchange_strong(&g->status, &old, GOC_GRUNNABLE))
            goc__throw("injectglist: bad g status");
        goc__glist_push(&batch, g);
    }
    int64_t n = batch.n;
    goc__lock_acquire(&goc__sched_.lock);
    goc__globrunqputbatch(&batch);
    goc__lock_release(&goc__sched_.lock);
    for (int64_t i = 0; i < n && atomic_load(&goc__sched_.npidle) > 0; i++)
        startm(NULL, false);
}

/* ---- switching ---------------------------------------------------------- */

static inline void san_before(goc_m *m, goc_g *from, goc_g *to, bool dying)
{
    (void)m;
    (void)from;
    (void)to;
    (void)dying;
#if GOC_ASAN
    const void *bottom;
    size_t size;
    if (to->is_g0) {
        bottom = to->m->g0_stack_lo;
        size = to->m->g0_stack_size;
    } else {
        bottom = to->stack->lo;
        size = to->stack->size;
    }
    __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake_stack, bottom, size);
#endif
#if GOC_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

static inline void san_after(goc_g *self)
{
    (void)self;
#if GOC_ASAN
    __sanitizer_finish_switch_fiber(self->asan_fake_stack, NULL, NULL);
#endif
}

static void post_yield(goc_m *m, goc_g *prev, void *arg);

/* Runs on the incoming side of every switch. self->m was set to the M
 * that switched to us (do_switch writes to->m), which is the current M:
 * no thread-local lookup needed. */
static inline void after_switch(goc_g *self)
{
    san_after(self);
    goc_m *m = self->m;
    goc__post_fn f = m->post;
    if (f) {
        m->post = NULL;
        if (f == post_yield) /* the most frequent one, without the call */
            goc__runqput(m->p, m->post_prev, false);
        else
            f(m, m->post_prev, m->post_arg);
    }
}

/* The switch proper, once m->curg and to->m name to: checks from's stack
 * (from_g0: from is a g0, on its thread's stack), tells the sanitizers,
 * switches, and on resuming runs what the switcher left in m->post. */
static inline __attribute__((always_inline)) void switch_ctx(goc_m *m, goc_g *from, goc_g *to,
                                                             bool from_g0, bool dying)
{
    goc__stack *st = from->stack;
    if (!from_g0 && !st->guarded && (char *)__builtin_frame_address(0) < (char *)st->lo)
        goc__stack_overflow(from);
    san_before(m, from, to, dying);
    goc__ctx_switch(&from->ctx, &to->ctx);
    after_switch(from);
}

static inline void count_switch(goc_p *p)
{
    atomic_store_explicit(&p->nswitch, atomic_load_explicit(&p->nswitch, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* post NULL: nothing to run after the switch (m->post is NULL between
 * switches: after_switch clears it). */
static inline __attribute__((always_inline)) void do_switch(goc_m *m, goc_g *from, goc_g *to,
                                                             goc__post_fn post, void *arg,
                                                             bool dying)
{
    if (post) {
        m->post = post;
        m->post_prev = from;
        m->post_arg = arg;
    }
    m->curg = to;
    to->m = m;
    goc_p *p = m->p; /* read once: the stores below could alias it */
    if (p) {
        if (to->is_g0)
            atomic_store_explicit(&p->curg_id, 0, memory_order_relaxed);
        count_switch(p);
    }
    switch_ctx(m, from, to, from->is_g0, dying);
}

void goc__switch(goc_m *m, goc_g *from, goc_g *to, goc__post_fn post, void *arg)
{
    do_switch(m, from, to, post, arg, false);
}

/* Marks g running on m's P; the time slice is new unless inherited. */
static inline void execute_prep(goc_m *m, goc_g *g, bool inherit)
{
    goc_p *p = m->p;
    atomic_store_explicit(&p->curg_id, g->id, memory_order_relaxed);
    atomic_store_explicit(&g->status, GOC_GRUNNING, memory_order_relaxed);
    if (!inherit)
        atomic_store_explicit(&p->schedtick,
                              atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

/* The short search used when a G parks or yields: timers, the global queue
 * every 61 ticks, the local queue, then the global queue. NULL: go to g0
 * for the long search. */
static bool timers_due(goc_p *p)
{
    int64_t w = atomic_load_explicit(&p->timer0when, memory_order_relaxed);
    return w != 0 && w <= goc__nanotime();
}

/* runtimers: false when the caller may hold locks that a timer callback
 * takes (a parking goroutine keeps its channel or semaphore lock until
 * after the switch): the caller then goes through g0 when timers are due. */
static inline __attribute__((always_inline)) goc_g *pick_local(goc_m *m, bool *inherit,
                                                               bool runtimers)
{
    goc_p *p = m->p;
    *inherit = false;
    if (GOC_UNLIKELY(atomic_load_explicit(&goc__sched_.stopping, memory_order_relaxed)))
        return NULL; /* to g0, which hands the P over (gcstopm) */
    if (runtimers && atomic_load_explicit(&p->timer0when, memory_order_relaxed) != 0) {
        int64_t now = goc__nanotime();
        if (atomic_load_explicit(&p->timer0when, memory_order_relaxed) <= now)
            goc__timers_run(p, now);
    }
    goc_g *g = NULL;
    uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
    if (tick % 61 == 0 && atomic_load_explicit(&goc__sched_.runqsize, memory_order_relaxed) > 0) {
        goc__lock_acquire(&goc__sched_.lock);
        g = goc__globrunqget(p, 1);
        goc__lock_release(&goc__sched_.lock);
        if (g)
            return g;
    }
    if (GOC_UNLIKELY(atomic_load_explicit(&p->preempt, memory_order_relaxed))) {
        atomic_store_explicit(&p->preempt, false, memory_order_relaxed);
        g = goc__runqget_fair(p);
    } else {
        g = goc__runqget(p, inherit);
    }
    if (g)
        return g;
    if (atomic_load_explicit(&goc__sched_.runqsize, memory_order_relaxed) > 0) {
        goc__lock_acquire(&goc__sched_.lock);
        g = goc__globrunqget(p, 0);
        goc__lock_release(&goc__sched_.lock);
    }
    return g;
}

/* ---- park, yield, exit -------------------------------------------------- */

typedef struct park_args {
    bool (*unlockf)(goc_g *, void *);
    void *arg;
} park_args;

static void post_park(goc_m *m, goc_g *prev, void *arg)
{
    park_args *pa = arg;
    if (pa->unlockf && !pa->unlockf(prev, pa->arg)) {
        atomic_store(&prev->status, GOC_GRUNNABLE);
        goc__runqput(m->p, prev, true);
    }
}

void goc__park(bool (*unlockf)(goc_g *, void *), void *arg, const char *reason)
{
    goc_m *m = goc__getm();
    goc_g *g = m->curg;
    if (!m->p || g->is_g0)
        goc__throw("gopark: not on a goroutine with a P");
    park_args pa = {unlockf, arg};
    g->waitreason = reason;
    g->waitsince = 0;
    /* wakers find g only after unlockf ran, past the switch */
    atomic_store_explicit(&g->status, GOC_GWAITING, memory_order_release);
    bool inherit;
    goc_g *next = timers_due(m->p) ? NULL : pick_local(m, &inherit, false);
    if (next) {
        execute_prep(m, next, inherit);
        goc__switch(m, g, next, post_park, &pa);
    } else {
        goc__switch(m, g, &m->g0, post_park, &pa);
    }
}

static bool unlock_lock(goc_g *g, void *l)
{
    (void)g;
    goc__lock_release(l);
    return true;
}

void goc__park_unlock(goc__lock *l, const char *reason)
{
    goc__park(unlock_lock, l, reason);
}

static void post_yield(goc_m *m, goc_g *prev, void *arg)
{
    (void)arg;
    goc__runqput(m->p, prev, false);
}

/* With one P, a yield that pick_local would serve from the ring alone
 * (runnext empty, no timer due, no preempt request from sysmon, not the
 * 61st tick's turn of a non-empty global queue) swaps g for the ring's head
 * before the switch, with no step after it (goc__runqrotate). */
static inline bool yield_rotates(goc_p *p)
{
    if (goc__sched_.nprocs != 1 || atomic_load_explicit(&p->runnext, memory_order_relaxed) ||
        atomic_load_explicit(&p->preempt, memory_order_relaxed))
        return false;
    if (atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61 == 0 &&
        atomic_load_explicit(&goc__sched_.runqsize, memory_order_relaxed) > 0)
        return false;
    int64_t when = atomic_load_explicit(&p->timer0when, memory_order_relaxed);
    return when == 0 || when > goc__nanotime(); /* due: pick_local runs it */
}

__attribute__((noinline)) void goc__yield_local(void)
{
    goc_m *m = getm_once();
    goc_g *g = m->curg;
    goc_p *p = m->p;
    if (!p || g->is_g0)
        return;
    goc_g *next;
    if (yield_rotates(p) && (next = goc__runqrotate(p, g)) != NULL) {
        /* execute_prep and do_switch, without what they check */
        atomic_store_explicit(&g->status, GOC_GRUNNABLE, memory_order_relaxed);
        atomic_store_explicit(&next->status, GOC_GRUNNING, memory_order_relaxed);
        atomic_store_explicit(&p->curg_id, next->id, memory_order_relaxed);
        atomic_store_explicit(&p->schedtick,
                              atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        count_switch(p);
        m->curg = next;
        next->m = m;
        switch_ctx(m, g, next, false, false);
        return;
    }
    if (GOC_UNLIKELY(atomic_load_explicit(&goc__sched_.stopping, memory_order_relaxed))) {
        /* queued once off its stack; g0 hands the P over (gcstopm) */
        atomic_store_explicit(&g->status, GOC_GRUNNABLE, memory_order_relaxed);
        do_switch(m, g, &m->g0, post_yield, NULL, false);
        return;
    }
    bool inherit;
    next = pick_local(m, &inherit, true);
    if (!next) {
        atomic_store_explicit(&m->p->nyield,
                              atomic_load_explicit(&m->p->nyield, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return;
    }
    /* published by post_yield's release store: no full barrier needed */
    atomic_store_explicit(&g->status, GOC_GRUNNABLE, memory_order_relaxed);
    execute_prep(m, next, inherit);
    do_switch(m, g, next, post_yield, NULL, false);
}

void goc_yield(void) __attribute__((alias("goc__yield_local")));

void goc__preempt_check(void)
{
    goc_m *m = goc__getm();
    if (m && m->p && atomic_load_explicit(&m->p->preempt, memory_order_relaxed))
        goc__yield_local();
}

static void post_exit(goc_m *m, goc_g *prev, void *arg)
{
    (void)arg;
#if GOC_TSAN
    __tsan_destroy_fiber(prev->tsan_fiber);
    prev->tsan_fiber = NULL;
#endif
    goc__stack_put(m->p, prev);
}

/* Ends the current goroutine: its defers have run. */
_Noreturn void goc__goexit0(void)
{
    goc_m *m = goc__getm();
    goc_g *g = m->curg;
    if (g->deferpool)
        goc__defer_pool_free(g);
    /* What the next spawn on this stack expects (see struct goc_g); the
     * wait and select fields are reset by their own paths. */
    g->frame = NULL;
    g->panic = NULL;
    goc__labels_exit(g);
#if GOC_ASAN
    g->asan_fake_stack = NULL; /* a stale fake stack from the last switch-out */
#endif
    atomic_store_explicit(&m->p->nexit, atomic_load_explicit(&m->p->nexit, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&g->status, GOC_GDEAD, memory_order_release);
    bool inherit;
    goc_g *next = pick_local(m, &inherit, true);
    if (next) {
        execute_prep(m, next, inherit);
        do_switch(m, g, next, post_exit, NULL, true);
    } else {
        do_switch(m, g, &m->g0, post_exit, NULL, true);
    }
    goc__throw("goexit: dead goroutine resumed");
}

/* First code a new goroutine runs. */
static void g_start(void *arg)
{
    goc_g *g = arg;
    after_switch(g);
    g->frame = &g->baseframe;
    g->baseframe.link = NULL;
    g->baseframe.defers = NULL;
    if (setjmp(g->baseframe.land) == 0)
        g->fn(g->arg);
    /* Returned, or a panic was recovered in the function's own defers. */
    g = goc__getg();
    goc__frame_run_defers(g, &g->baseframe);
    g->frame = NULL;
    goc__goexit0();
}

/* ---- spawning ----------------------------------------------------------- */

static int64_t next_goid(goc_p *p)
{
    if (!p)
        return atomic_fetch_add(&goc__sched_.goidgen, 1) + 1;
    if (p->goidcache == p->goidcacheend) {
        p->goidcache = atomic_fetch_add(&goc__sched_.goidgen, 16) + 1;
        p->goidcacheend = p->goidcache + 16;
    }
    return p->goidcache++;
}

/* What a spawn copies onto the new stack: the caller's argument, after a
 * header of the runtime's own when a wrapper runs first (WaitGroup.Go);
 * fn receives the copy of the header, or of the argument when there is
 * none. */
typedef struct spawn_block {
    const void *hdr;
    size_t hdrsize;
    const void *arg;
    size_t argsize;
} spawn_block;

/* A G ready to run fn on a stack from p's cache (p NULL: the global pool),
 * or NULL when the argument block is too large (-EINVAL) or no stack can
 * be mapped (-ENOMEM). */
static goc_g *newproc(goc_p *p, goc_fn fn, spawn_block b, size_t stack_size)
{
    if (stack_size == 0)
        stack_size = goc__sched_.stack_size;
    size_t total = (b.hdrsize ? GOC__SPAWN_ARG_OFFSET(b.hdrsize) : 0) + b.argsize;
    if (total > stack_size / 4 || (b.argsize && !b.arg))
        return NULL;
    goc_g *g = goc__stack_get(p, stack_size);
    if (!g)
        return NULL;
    /* The argument copy sits right below the G header. */
    uintptr_t top = (uintptr_t)g;
    void *argcopy = NULL;
    if (total) {
        top = (top - total) & ~(uintptr_t)15;
        argcopy = (void *)top;
        if (b.hdrsize) {
            memcpy(argcopy, b.hdr, b.hdrsize);
            goc__copy((char *)argcopy + GOC__SPAWN_ARG_OFFSET(b.hdrsize), b.arg, b.argsize);
        } else {
            goc__copy(argcopy, b.arg, b.argsize);
        }
    }
    /* Only the first line: the rest is as carve or goexit0 left it. */
    g->fn = fn;
    g->arg = argcopy;
    g->id = next_goid(p);
    g->m = NULL;
    g->schedlink = NULL;
    goc__labels_inherit(g);
#if GOC_TSAN
    g->tsan_fiber = __tsan_create_fiber(0);
#endif
    void *lo = g->stack->lo;
    goc__ctx_init(&g->ctx, lo, top - (uintptr_t)lo, g_start, g);
    /* published with g by the run queue's release store */
    atomic_store_explicit(&g->status, GOC_GRUNNABLE, memory_order_relaxed);
    if (p)
        atomic_store_explicit(&p->nspawn,
                              atomic_load_explicit(&p->nspawn, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&goc__sched_.nspawn_nop, 1, memory_order_relaxed);
    return g;
}

static int64_t spawn_error(spawn_block b, size_t stack_size)
{
    size_t total = (b.hdrsize ? GOC__SPAWN_ARG_OFFSET(b.hdrsize) : 0) + b.argsize;
    return total > (stack_size ? stack_size : goc__sched_.stack_size) / 4 || (b.argsize && !b.arg)
               ? -EINVAL
               : -ENOMEM;
}

static int64_t go_block(goc_fn fn, spawn_block b, size_t stack_size);

int64_t goc_go_stack(goc_fn fn, const void *arg, size_t argsize, size_t stack_size)
{
    return go_block(fn, (spawn_block){NULL, 0, arg, argsize}, stack_size);
}

int64_t goc__go_wrapped(goc_fn wrapper, const void *hdr, size_t hdrsize, const void *arg,
                        size_t argsize)
{
    return go_block(wrapper, (spawn_block){hdr, hdrsize, arg, argsize}, 0);
}

int64_t goc__go_any(goc_fn fn, const void *arg, size_t argsize)
{
    spawn_block b = {NULL, 0, arg, argsize};
    goc_m *m = goc__getm();
    goc_p *p = m ? m->p : NULL;
    goc_g *g = newproc(p, fn, b, 0);
    if (!g)
        return spawn_error(b, 0);
    int64_t id = g->id;
    if (p) {
        goc__runqput(p, g, false);
    } else {
        goc__lock_acquire(&goc__sched_.lock);
        goc__globrunqput(g);
        goc__lock_release(&goc__sched_.lock);
    }
    goc__wakep();
    return id;
}

static int64_t go_block(goc_fn fn, spawn_block b, size_t stack_size)
{
    goc_m *m = goc__getm();
    if (!m || !m->p)
        return -EPERM;
    goc_g *g = newproc(m->p, fn, b, stack_size);
    if (!g)
        return spawn_error(b, stack_size);
    int64_t id = g->id;
    goc_p *p = m->p;
    goc__runqput(p, g, true);
    if (goc__sched_.main_started)
        goc__wakep();
    /* Back-pressure: a spawner that has filled its P's queue runs some of
     * that work before making more, instead of piling up goroutines (and
     * their stacks) faster than the Ps can run them. Spawning is a yield
     * point only then. */
    if (goc__runq_len(p) >= GOC_RUNQ_SIZE - 1)
        goc__yield_local();
    return id;
}

int64_t goc_go(goc_fn fn, const void *arg, size_t argsize)
{
    return goc_go_stack(fn, arg, argsize, 0);
}

int64_t goc_id(void)
{
    goc_g *g = goc__getg();
    return g && !g->is_g0 ? g->id : 0;
}

/* ---- finding work ------------------------------------------------------- */

/* Runs the due timers of every P (the poller and thieves do this for Ps
 * whose M is busy or gone). */
static void run_all_timers(int64_t now)
{
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        goc_p *pp = goc__sched_.allp[i];
        int64_t w = atomic_load(&pp->timer0when);
        if (w != 0 && w <= now)
            goc__timers_run(pp, now);
    }
}

/* Steals from other Ps: 4 passes in random order, runnext and timers only
 * on the last (stealWork). */
static goc_g *stealwork(goc_m *m)
{
    goc_p *p = m->p;
    int n = goc__sched_.nprocs;
    for (int pass = 0; pass < 4; pass++) {
        bool last = pass == 3;
        uint32_t r = goc__fastrand();
        uint32_t pos = r % (uint32_t)n;
        uint32_t inc = steal_coprimes[(r >> 16) % (uint32_t)steal_ncoprimes];
        for (int i = 0; i < n; i++, pos = (pos + inc) % (uint32_t)n) {
            goc_p *victim = goc__sched_.allp[pos];
            if (victim == p)
                continue;
            if (last) {
                int64_t w = atomic_load(&victim->timer0when);
                if (w != 0) {
                    int64_t now = goc__nanotime();
                    if (w <= now) {
                        goc__timers_run(victim, now);
                        bool inh;
                        goc_g *g = goc__runqget(p, &inh);
                        if (g)
                            return g;
                    }
                }
            }
            if (atomic_load(&victim->status) == GOC_PIDLE)
                continue;
            goc_g *g = goc__runqsteal(p, victim, last);
            if (g)
                return g;
        }
    }
    return NULL;
}

/* The long search for a runnable G (findRunnable). Returns with m->p held. */
static void gcstopm(goc_m *m);

static goc_g *findrunnable(goc_m *m, bool *inherit)
{
top:;
    if (atomic_load(&goc__sched_.stopping)) {
        gcstopm(m); /* back with a P once the world restarts */
        goto top;
    }
    goc_p *p = m->p;
    *inherit = false;
    goc_g *g = pick_local(m, inherit, true);
    if (g)
        return g;

    /* Poll the network without blocking if anyone waits on it. */
    if (goc__netpoll_waiters() > 0 && atomic_load(&goc__sched_.polling) == 0) {
        goc__glist l = {0};
        goc__netpoll(0, &l);
        if (l.head) {
            g = goc__glist_pop(&l);
            atomic_store(&g->status, GOC_GRUNNABLE);
            goc__ready_list(&l);
            return g;
        }
    }

    /* Steal, if spinning is allowed (at most half the busy Ps spin). */
    int32_t procs = goc__sched_.nprocs;
    if (m->spinning ||
        2 * atomic_load(&goc__sched_.nmspinning) < procs - atomic_load(&goc__sched_.npidle)) {
        if (!m->spinning) {
            m->spinning = true;
            atomic_fetch_add(&goc__sched_.nmspinning, 1);
        }
        g = stealwork(m);
        if (g)
            return g;
    }

    /* Nothing: give up the P. */
    goc__lock_acquire(&goc__sched_.lock);
    if (goc__sched_.runq.n > 0) {
        g = goc__globrunqget(p, 0);
        goc__lock_release(&goc__sched_.lock);
        return g;
    }
    releasep(m);
    pidleput(p);
    goc__lock_release(&goc__sched_.lock);

    bool wasspinning = m->spinning;
    if (m->spinning) {
        m->spinning = false;
        if (atomic_fetch_sub(&goc__sched_.nmspinning, 1) < 1)
            goc__throw("findrunnable: negative nmspinning");
        /* Work may have been queued after we looked and before we stopped
         * counting as spinning: look again (the wakep hand-shake). */
        for (int i = 0; i < procs; i++) {
            goc_p *pp = goc__sched_.allp[i];
            if (!goc__runq_empty(pp)) {
                goc__lock_acquire(&goc__sched_.lock);
                goc_p *np = pidleget();
                goc__lock_release(&goc__sched_.lock);
                if (np) {
                    acquirep(m, np);
                    m->spinning = true;
                    atomic_fetch_add(&goc__sched_.nmspinning, 1);
                    goto top;
                }
                break;
            }
        }
    }
    (void)wasspinning;

    /* Block in the poller until I/O or the next timer, if someone may need
     * it and no other M is already there. */
    int64_t pollUntil = goc__timers_next();
    uint32_t zero = 0;
    if ((goc__netpoll_waiters() > 0 || pollUntil != 0) &&
        atomic_compare_exchange_strong(&goc__sched_.polling, &zero, 1)) {
        int64_t now = goc__nanotime();
        int64_t delay = -1;
        if (pollUntil != 0) {
            delay = pollUntil - now;
            if (delay < 0)
                delay = 0;
        }
        atomic_store(&goc__sched_.pollUntil, pollUntil);
        m->blocked_poll = true;
        goc__glist l = {0};
        goc__netpoll(delay, &l);
        m->blocked_poll = false;
        atomic_store(&goc__sched_.pollUntil, 0);
        atomic_store(&goc__sched_.polling, 0);
        now = goc__nanotime();
        goc__lock_acquire(&goc__sched_.lock);
        goc_p *np = pidleget();
        goc__lock_release(&goc__sched_.lock);
        if (!np) {
            goc__ready_list(&l);
            run_all_timers(now);
            stopm(m);
            goto top;
        }
        acquirep(m, np);
        run_all_timers(now);
        if (l.head) {
            g = goc__glist_pop(&l);
            atomic_store(&g->status, GOC_GRUNNABLE);
            goc__ready_list(&l);
            return g;
        }
        goto top;
    }
    if (pollUntil != 0) {
        /* Another M polls, perhaps since before a timer of ours was
         * added: it must not sleep past it (findRunnable's check). */
        goc__timer_wake(pollUntil);
    }
    stopm(m);
    goto top;
}

/* The scheduler loop on g0: find a G, run it until it comes back here. */
static void schedule(goc_m *m)
{
    for (;;) {
        if (!m->p)
            stopm(m);
        bool inherit;
        goc_g *g = findrunnable(m, &inherit);
        resetspinning(m);
        execute_prep(m, g, inherit);
        goc__switch(m, &m->g0, g, NULL, NULL);
        m = goc__getm(); /* same M: g0 never migrates */
    }
}

static void *mstart(void *arg)
{
    goc_m *m = arg;
    /* Ms take signals like the process's main thread, whoever created them
     * (sysmon, which blocks every signal, may): a signal raised by a
     * goroutine must not stay pending on a thread that blocks it. */
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    tls_m = m;
    m_init_g0(m);
    goc__sigaltstack_init(m);
    goc_p *p = m->nextp;
    m->nextp = NULL;
    if (p)
        acquirep(m, p);
    schedule(m);
}

/* ---- blocking C calls (entersyscall / exitsyscall) ---------------------- */

/* goc_syscall_enter's body; its assembly entry (gcregs_*.S) passes the
 * caller's callee-saved registers and stack pointer for the collector. */
void goc__syscall_enter(const uintptr_t *regs, uintptr_t sp)
{
    goc_m *m = goc__getm();
    goc_p *p = m->p;
    goc_g *g = m->curg;
    if (!p || g->is_g0)
        return;
    atomic_fetch_add_explicit(&goc__sched_.nsyscall, 1, memory_order_relaxed);
    atomic_store(&g->status, GOC_GSYSCALL);
    m->syscallwhen = 0;
    atomic_fetch_add(&p->syscalltick, 1);
    m->oldp = p;
    setp(m, NULL);
    __atomic_store_n(&p->m, NULL, __ATOMIC_RELAXED);
    atomic_store(&p->status, GOC_PSYSCALL);
    goc__stw_syscall_enter(m, regs, GOC_SYSCALL_NREGS, sp);
}

void goc__syscall_enter_block(const uintptr_t *regs, uintptr_t sp)
{
    goc__syscall_enter(regs, sp);
    goc_m *m = goc__getm();
    goc_p *p = m->oldp;
    if (!p)
        return;
    uint32_t s = GOC_PSYSCALL;
    if (atomic_compare_exchange_strong(&p->status, &s, GOC_PIDLE))
        handoffp(p);
}

/* Queues the goroutine that found no P after its call, and takes a P that
 * went idle meanwhile in the same critical section (Go's exitsyscall0):
 * checked apart, the last busy P could go idle in between, leaving the
 * goroutine queued with nobody to run it. */
static void post_exitsyscall(goc_m *m, goc_g *prev, void *arg)
{
    (void)arg;
    goc__lock_acquire(&goc__sched_.lock);
    goc__globrunqput(prev);
    goc_p *np = pidleget();
    goc__lock_release(&goc__sched_.lock);
    if (np)
        acquirep(m, np);
}

void goc_syscall_exit(void)
{
    goc_m *m = goc__getm();
    goc_g *g = m->curg;
    goc_p *p = m->oldp;
    if (!p || g->is_g0 || atomic_load(&g->status) != GOC_GSYSCALL)
        return;
    goc__stw_syscall_exit(m);
    m->oldp = NULL;
    uint32_t s = GOC_PSYSCALL;
    if (atomic_compare_exchange_strong(&p->status, &s, GOC_PRUNNING)) {
        /* Fast path: our P was not taken. */
        setp(m, p);
        __atomic_store_n(&p->m, m, __ATOMIC_RELAXED);
        atomic_fetch_add(&p->syscalltick, 1);
        atomic_store(&g->status, GOC_GRUNNING);
        return;
    }
    /* The monitor took the P: find an idle one, or queue and stop. */
    goc__lock_acquire(&goc__sched_.lock);
    goc_p *np = pidleget();
    goc__lock_release(&goc__sched_.lock);
    if (np) {
        acquirep(m, np);
        atomic_store(&g->status, GOC_GRUNNING);
        return;
    }
    atomic_store(&g->status, GOC_GRUNNABLE);
    /* Back to g0 with no P: the loop there stops this M until it gets one;
     * g is queued once we are off its stack. */
    goc__switch(m, g, &m->g0, post_exitsyscall, NULL);
}

/* Used by sysmon: retake P p from a blocked call. */
bool goc__retake_syscall(goc_p *p)
{
    uint32_t s = GOC_PSYSCALL;
    if (!atomic_compare_exchange_strong(&p->status, &s, GOC_PIDLE))
        return false;
    atomic_fetch_add_explicit(&goc__sched_.nretake, 1, memory_order_relaxed);
    handoffp(p);
    return true;
}

/* Used by sysmon when a timer is overdue: wakes the poller, or an idle P
 * when nobody polls (a safety net; timer_wake should have done it). */
void goc__wake_idle(void)
{
    if (atomic_load(&goc__sched_.polling))
        goc__netpoll_break();
    else
        goc__wakep();
}

/* ---- GOMAXPROCS: stopping the world and resizing ------------------------ */

/* goc_gomaxprocs stops every P but its caller's (Go's stopTheWorld, here
 * cooperative: an M gives its P up at its next schedule point, so a
 * goroutine that never reaches a yield point delays the stop), changes the
 * number of Ps with nothing else running, and starts the world again. This
 * is the scheduler's own stop, apart from any other the runtime may have.
 * The stopper sets stopping under sched.lock and counts in stopwait the Ps
 * it waits for; each is handed over once, under the lock, as GCSTOP: idle
 * ones at once, those in a blocking call by a CAS from PSYSCALL, running
 * ones by their M in gcstopm (findrunnable's first step; pick_local and
 * goc__yield_local send an M there), and any P given up meanwhile by
 * pidleput. */

static _Atomic uint32_t resize_lock; /* 1 while a goc_gomaxprocs resizes */

static goc_p *p_make(int i);
static void steal_order_init(int n);

/* Hands P p, given up by its owner or taken from PSYSCALL, to the stopper.
 * sched.lock held, stopping set. */
static void stop_p_locked(goc_p *p)
{
    atomic_store(&p->status, GOC_PGCSTOP);
    __atomic_store_n(&p->m, NULL, __ATOMIC_RELAXED);
    if (--goc__sched_.stopwait == 0)
        note_wakeup(&goc__sched_.stopnote);
}

/* An M at a schedule point while the world stops: its P goes to the
 * stopper, and the M sleeps until startm gives it one (Go's gcstopm). */
static void gcstopm(goc_m *m)
{
    goc__lock_acquire(&goc__sched_.lock);
    if (!atomic_load(&goc__sched_.stopping)) { /* restarted meanwhile */
        goc__lock_release(&goc__sched_.lock);
        return;
    }
    if (m->spinning) {
        m->spinning = false;
        atomic_fetch_sub(&goc__sched_.nmspinning, 1);
    }
    stop_p_locked(releasep(m));
    goc__lock_release(&goc__sched_.lock);
    stopm(m);
}

/* Says, once per stop, which Ps a stop has waited for over a second: a
 * goroutine that runs without reaching a yield point holds it up (C cannot
 * be preempted). */
static void report_slow_stop(int n, goc_m *m)
{
    char buf[160];
    for (int i = 0; i < n; i++) {
        goc_p *p = goc__sched_.allp[i];
        uint32_t st = atomic_load(&p->status);
        if (p == m->p || st == GOC_PGCSTOP)
            continue;
        int len = snprintf(buf, sizeof buf,
                           "goc: GOMAXPROCS has waited 1 s for P %d (status %u, goroutine %lld "
                           "running) to reach a yield point\n",
                           i, st, (long long)atomic_load(&p->curg_id));
        (void)!write(2, buf, (size_t)len);
    }
}

/* Stops every P but m's: returns once each is GCSTOP. */
static void stop_the_world(goc_m *m)
{
    goc__sched *s = &goc__sched_;
    int n = s->nprocs;
    int64_t t0 = goc__nanotime();
    bool reported = false;
    goc__lock_acquire(&s->lock);
    s->stopwait = n - 1;
    note_clear(&s->stopnote);
    atomic_store(&s->stopping, true);
    goc_p *p;
    while ((p = pidleget()) != NULL)
        stop_p_locked(p);
    goc__lock_release(&s->lock);
    for (;;) {
        for (int i = 0; i < n; i++) {
            p = s->allp[i];
            uint32_t st = GOC_PSYSCALL;
            if (p == m->p)
                continue;
            if (atomic_load(&p->status) == GOC_PRUNNING) /* its channel ops yield soon */
                atomic_store_explicit(&p->preempt, true, memory_order_relaxed);
            if (atomic_compare_exchange_strong(&p->status, &st, GOC_PGCSTOP)) {
                goc__lock_acquire(&s->lock);
                stop_p_locked(p);
                goc__lock_release(&s->lock);
            }
        }
        goc__lock_acquire(&s->lock);
        bool done = s->stopwait == 0;
        goc__lock_release(&s->lock);
        if (done)
            return;
        if (!reported && goc__nanotime() - t0 > 1000000000) {
            report_slow_stop(n, m);
            reported = true;
        }
        /* A P may enter a blocking call before its M sees the stop: look
         * again every 100 us. */
        goc__futex_wait(&s->stopnote.key, 0, 100000);
    }
}

/* A P going away (world stopped): its goroutines go to the global queue,
 * its timers to heir, its free stacks to the pool; its allocator cache
 * stays with it, for when a resize brings it back. */
static void p_retire(goc_p *p, goc_p *heir)
{
    goc_g *g;
    bool inherit;
    goc__lock_acquire(&goc__sched_.lock);
    while ((g = goc__runqget(p, &inherit)) != NULL)
        goc__globrunqput(g);
    goc__lock_release(&goc__sched_.lock);
    goc__timers_move(p, heir);
    goc__stack_cache_flush(p);
    atomic_store(&p->status, GOC_PDEAD);
}

/* Makes n Ps (world stopped, m holding its P): revives or makes the new
 * ones, retires the extra ones; m moves to P 0 if its own goes. */
static void procresize(goc_m *m, int n)
{
    goc__sched *s = &goc__sched_;
    int old = s->nprocs;
    for (int i = old; i < n; i++) {
        goc_p *p = i < s->nprocs_made ? s->allp[i] : p_make(i);
        /* sysmon's fields are its own: it meets a revived P as one that was
         * idle long, and its first switch renews them */
        atomic_store(&p->status, GOC_PGCSTOP);
    }
    goc_p *me = m->p;
    goc_p *heir = me->id < n ? me : s->allp[0];
    for (int i = n; i < old; i++)
        if (s->allp[i] != me)
            p_retire(s->allp[i], heir);
    if (me->id >= n) {
        int64_t id = atomic_load_explicit(&me->curg_id, memory_order_relaxed);
        releasep(m);
        p_retire(me, heir);
        acquirep(m, heir);
        atomic_store_explicit(&heir->curg_id, id, memory_order_relaxed);
    }
    steal_order_init(n);
    atomic_store(&s->nprocs, n);
}

/* Restarts the world: Ps with work get an M, the others go idle. */
static void start_the_world(goc_m *m)
{
    goc__sched *s = &goc__sched_;
    goc_p *work = NULL;
    goc__lock_acquire(&s->lock);
    atomic_store(&s->stopping, false);
    for (int i = 0; i < s->nprocs; i++) {
        goc_p *p = s->allp[i];
        if (p == m->p)
            continue;
        if (goc__runq_empty(p)) {
            pidleput(p);
        } else {
            p->link = work;
            work = p;
        }
    }
    goc__lock_release(&s->lock);
    while (work) {
        goc_p *p = work;
        work = p->link;
        p->link = NULL;
        startm(p, false);
    }
    goc__wakep(); /* the global queue may hold the retired Ps' goroutines */
}

int goc_gomaxprocs(int n)
{
    int prev = goc__sched_.nprocs;
    if (n < 1)
        return prev;
    if (n > GOC_MAX_PROCS)
        n = GOC_MAX_PROCS;
    goc_m *m = goc__getm();
    if (!m || !m->p || m->curg->is_g0)
        return -EPERM;
    uint32_t unlocked = 0;
    while (!atomic_compare_exchange_weak(&resize_lock, &unlocked, 1)) {
        unlocked = 0;
        goc_yield(); /* a resize under way stops this P too */
    }
    m = goc__getm(); /* no yield point from here to the unlock */
    prev = goc__sched_.nprocs;
    if (n != prev) {
        stop_the_world(m);
        procresize(m, n);
        start_the_world(m);
    }
    atomic_store(&resize_lock, 0);
    return prev;
}

/* ---- statistics ----------------------------------------------------------- */

void goc_sched_stats_read(goc_sched_stats *out)
{
    memset(out, 0, sizeof *out);
    goc__sched *s = &goc__sched_;
    out->procs = s->nprocs;
    goc__lock_acquire(&s->lock);
    out->threads = s->mcount;
    out->global_runq = s->runq.n;
    goc__lock_release(&s->lock);
    out->idle_procs = atomic_load(&s->npidle);
    out->spinning = atomic_load(&s->nmspinning);
    goc__lock_acquire(&s->lock); /* nprocs_made */
    int made = s->nprocs_made;
    goc__lock_release(&s->lock);
    for (int i = 0; i < made; i++) { /* dead Ps too: their counts still add up */
        goc_p *p = s->allp[i];
        int64_t spawns = (int64_t)atomic_load_explicit(&p->nspawn, memory_order_relaxed);
        if (i == 0) /* spawns without a P are counted apart */
            spawns += (int64_t)atomic_load_explicit(&s->nspawn_nop, memory_order_relaxed);
        out->spawns += spawns;
        /* Live goroutines, as Go counts them (no shared counter on the
         * spawn and exit paths): exact when nothing spawns or exits while
         * the Ps are read. */
        out->goroutines += spawns - (int64_t)atomic_load_explicit(&p->nexit, memory_order_relaxed);
        out->switches += atomic_load_explicit(&p->nswitch, memory_order_relaxed);
        out->steals += atomic_load_explicit(&p->nsteal, memory_order_relaxed);
    }
    out->syscalls = atomic_load(&s->nsyscall);
    out->retakes = atomic_load(&s->nretake);
    out->hogs = atomic_load(&s->nhog);
    out->uptime_ns = goc__nanotime() - s->start_time;
    out->stack_size = s->stack_size;
    out->stacks_mapped = goc__stacks_mapped();
    goc__stack_pool_counts(&out->stacks_pooled, &out->stacks_released);
}

int goc_sched_runq_len(int i)
{
    if (i < 0 || i >= goc__sched_.nprocs)
        return -1;
    return goc__runq_len(goc__sched_.allp[i]);
}

/* ---- start-up --------------------------------------------------------------- */

static int env_int(const char *name, long min, long max, long dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return (int)dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < min || v > max)
        return (int)dflt;
    return (int)v;
}

/* P record i, made once (Ps live as long as the process, cache-line
 * aligned). */
static goc_p *p_make(int i)
{
    uintptr_t raw = (uintptr_t)goc__calloc(1, sizeof(goc_p) + GOC_CACHELINE);
    if (!raw)
        goc__throw("procs: out of memory");
    goc_p *p = (goc_p *)((raw + GOC_CACHELINE - 1) & ~(uintptr_t)(GOC_CACHELINE - 1));
    p->id = i;
    atomic_store(&p->status, GOC_PDEAD);
    goc__sched_.allp[i] = p;
    goc__lock_acquire(&goc__sched_.lock);
    goc__sched_.nprocs_made = i + 1;
    goc__lock_release(&goc__sched_.lock);
    return p;
}

/* The coprime strides of stealwork for n Ps (Ms with a P read them: set
 * at start-up and with the world stopped). */
static void steal_order_init(int n)
{
    steal_ncoprimes = 0;
    for (int i = 1; i <= n; i++) {
        int a = i, b = n;
        while (b) {
            int t = a % b;
            a = b;
            b = t;
        }
        if (a == 1)
            steal_coprimes[steal_ncoprimes++] = (uint32_t)i;
    }
}

static void procs_init(int n)
{
    goc__sched_.allp = goc__calloc(GOC_MAX_PROCS, sizeof(goc_p *));
    if (!goc__sched_.allp)
        goc__throw("procs_init: out of memory");
    for (int i = 0; i < n; i++)
        atomic_store(&p_make(i)->status, GOC_PIDLE);
    goc__sched_.nprocs = n;
    steal_order_init(n);
}

typedef struct main_args {
    int (*fn)(int, char **);
    int argc;
    char **argv;
} main_args;

static void main_goroutine(void *arg)
{
    main_args *ma = arg;
    int rc = ma->fn(ma->argc, ma->argv);
    atomic_store(&goc__sched_.exiting, true);
    exit(rc);
}

_Noreturn void goc_start(const goc_config *cfg, int (*main_fn)(int, char **), int argc,
                         char **argv)
{
    goc__sched *s = &goc__sched_;
    if (s->nprocs)
        goc__throw("goc_start called twice");
    s->start_time = goc__nanotime();
    int procs = cfg && cfg->procs > 0 ? cfg->procs : 0;
    if (!procs) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        procs = env_int("GOMAXPROCS", 1, GOC_MAX_PROCS, ncpu > 0 ? ncpu : 1);
    }
    if (procs > GOC_MAX_PROCS)
        procs = GOC_MAX_PROCS;
    size_t stack = cfg && cfg->stack_size ? cfg->stack_size : 0;
    if (!stack)
        stack = (size_t)env_int("GOC_STACK_SIZE", 16384, 1 << 30, GOC_DEFAULT_STACK_SIZE);
#if GOC_ASAN || GOC_TSAN
    stack *= 4; /* instrumented frames are several times larger */
#endif
    s->stack_size = (stack + 4095) & ~(size_t)4095;
    procs_init(procs);

    goc_m *m = allocm();
    tls_m = m;
    m_init_g0(m);
    goc__signals_init();
    goc__sigaltstack_init(m);
    goc__lsan_init();
    goc__mem_start(); /* the collector's settings; GOC_GCSTRESS's cycles start here */

    goc__lock_acquire(&s->lock);
    for (int i = procs - 1; i >= 1; i--)
        pidleput(s->allp[i]);
    goc__lock_release(&s->lock);
    acquirep(m, s->allp[0]);

    main_args ma = {main_fn, argc, argv};
    size_t main_stack = s->stack_size < (1u << 20) ? (1u << 20) : s->stack_size;
    goc_g *g = newproc(m->p, main_goroutine, (spawn_block){NULL, 0, &ma, sizeof ma}, main_stack);
    if (!g)
        goc__throw("goc_start: cannot map the main goroutine's stack");
    goc__runqput(m->p, g, true);
    s->main_started = true;
    goc__sysmon_start();
    schedule(m);
}

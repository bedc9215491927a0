/* sync_test.c: the semaphore table (doc/go-rules.md 3), Mutex (4), RWMutex,
 * WaitGroup, Once and Cond (5), one case per numbered rule, plus the
 * starvation scenario; then OnceFunc and OnceValue, WaitGroup.Go and Cond
 * over a Locker, with Go's own tests of them (oncefunc_test.go,
 * waitgroup_test.go, cond_test.go) ported under their Go names. Fatal
 * errors are checked in child processes. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "sync_helpers.h"

#include <errno.h>

static uint64_t sema_parks(void)
{
    goc_sync_stats st;
    goc_sync_stats_read(&st);
    return st.sema_parks;
}

/* ---- 3. semaphores ------------------------------------------------------------ */

typedef struct sem_waiter {
    uint32_t *addr;
    bool lifo;
    int id;
    int *order;
    _Atomic int *norder;
    _Atomic int done;
} sem_waiter;

static void sem_wait_body(void *p)
{
    sem_waiter *w = *(sem_waiter **)p;
    goc__semacquire(w->addr, w->lifo, "test", 0);
    w->order[atomic_fetch_add(w->norder, 1)] = w->id;
    atomic_store(&w->done, 1);
}

static void spawn_waiter(sem_waiter *w) { goc_go(sem_wait_body, &w, sizeof w); }

/* Waits until the semaphore counter says n goroutines parked (approx.:
 * by the global park count). */
static bool wait_parks(uint64_t base, uint64_t n)
{
    return WAIT_UNTIL(sema_parks() >= base + n);
}

static void test_3_1_semtable_roots_by_address(void)
{
    /* Addresses 251*8 bytes apart share a root; they must not interfere. */
    static uint32_t sems[3 * 251 * 2];
    uint32_t *a = &sems[0], *b = &sems[251 * 2], *c = &sems[2 * 251 * 2];
    int order[3];
    _Atomic int n = 0;
    sem_waiter w[3] = {{a, false, 0, order, &n, 0}, {b, false, 1, order, &n, 0},
                       {c, false, 2, order, &n, 0}};
    uint64_t base = sema_parks();
    for (int i = 0; i < 3; i++)
        spawn_waiter(&w[i]);
    CHECK(wait_parks(base, 3));
    goc__semrelease(b, false);
    CHECK(WAIT_UNTIL(atomic_load(&w[1].done)));
    goc_sleep(1 * MS);
    CHECK(!atomic_load(&w[0].done) && !atomic_load(&w[2].done));
    goc__semrelease(c, false);
    goc__semrelease(a, false);
    CHECK(WAIT_UNTIL(atomic_load(&w[0].done) && atomic_load(&w[2].done)));
    CHECK_EQ_INT(*a + *b + *c, 0);
}

static void test_3_2_treap_many_addresses(void)
{
    enum { N = 64 };
    static uint32_t sems[N * 251 * 2];
    static sem_waiter w[N];
    int order[N];
    _Atomic int n = 0;
    uint64_t base = sema_parks();
    for (int i = 0; i < N; i++) {
        w[i] = (sem_waiter){&sems[i * 251 * 2 + (i % 3) * 2], false, i, order, &n, 0};
        spawn_waiter(&w[i]);
    }
    CHECK(wait_parks(base, N));
    /* Release in a scrambled order; exactly the right one wakes each time. */
    for (int k = 0; k < N; k++) {
        int i = (k * 37) % N;
        goc__semrelease(w[i].addr, false);
        CHECK(WAIT_UNTIL(atomic_load(&w[i].done)));
        CHECK_EQ_INT(order[k], i);
    }
}

static void test_3_3_semacquire_fast_slow_lifo(void)
{
    static uint32_t s = 2;
    uint64_t base = sema_parks();
    goc__semacquire(&s, false, "test", 0); /* fast path: no park */
    goc__semacquire(&s, false, "test", 0);
    CHECK_EQ_INT(s, 0);
    CHECK_EQ_UINT(sema_parks(), base);
    /* FIFO waiters 0, 1, then a LIFO waiter 2 jumps to the front. */
    int order[3];
    _Atomic int n = 0;
    sem_waiter w[3] = {{&s, false, 0, order, &n, 0}, {&s, false, 1, order, &n, 0},
                       {&s, true, 2, order, &n, 0}};
    for (int i = 0; i < 3; i++) {
        spawn_waiter(&w[i]);
        CHECK(wait_parks(base, (uint64_t)i + 1));
    }
    for (int i = 0; i < 3; i++) {
        goc__semrelease(&s, false);
        CHECK(WAIT_UNTIL(atomic_load(&n) == i + 1));
    }
    /* each waiter's last write, to w[] on this frame, before it goes */
    CHECK(WAIT_UNTIL(atomic_load(&w[0].done) && atomic_load(&w[1].done) &&
                     atomic_load(&w[2].done)));
    CHECK_EQ_INT(order[0], 2);
    CHECK_EQ_INT(order[1], 0);
    CHECK_EQ_INT(order[2], 1);
}

static void test_3_4_semrelease_handoff(void)
{
    static uint32_t s = 0;
    /* Without waiters: just a counter increment. */
    goc__semrelease(&s, true);
    CHECK_EQ_INT(s, 1);
    goc__semacquire(&s, false, "test", 0);
    /* Hand-off: the count goes straight to the waiter, who runs at once
     * (we yielded to it), so the releaser cannot take it back. */
    int order[2];
    _Atomic int n = 0;
    sem_waiter w = {&s, false, 0, order, &n, 0};
    uint64_t base = sema_parks();
    spawn_waiter(&w);
    CHECK(wait_parks(base, 1));
    goc__semrelease(&s, true);
    CHECK_EQ_INT(s, 0);
    CHECK(WAIT_UNTIL(atomic_load(&w.done)));
    /* Without hand-off the count stays available to a fast path. */
    sem_waiter w2 = {&s, false, 0, order, &n, 0};
    base = sema_parks();
    spawn_waiter(&w2);
    CHECK(wait_parks(base, 1));
    goc__semrelease(&s, false);
    CHECK(WAIT_UNTIL(atomic_load(&w2.done)));
    CHECK_EQ_INT(s, 0);
}

typedef struct cond_waiter {
    goc_cond *c;
    goc_mutex *m;
    int *flag;
    _Atomic int done;
} cond_waiter;

static void cond_wait_body(void *p)
{
    cond_waiter *w = *(cond_waiter **)p;
    goc_mutex_lock(w->m);
    while (!*w->flag)
        goc_cond_wait(w->c);
    goc_mutex_unlock(w->m);
    atomic_store(&w->done, 1);
}

static void test_3_5_who_passes_what_and_ticket_wrap(void)
{
    /* notifyList tickets survive wrap-around. */
    static goc_mutex m;
    static goc_cond c = GOC_COND_INIT(&m);
    c.notify.wait = c.notify.notify = UINT32_MAX - 1;
    int flag = 0;
    cond_waiter w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (cond_waiter){&c, &m, &flag, 0};
        cond_waiter *wp = &w[i];
        goc_go(cond_wait_body, &wp, sizeof wp);
    }
    CHECK(WAIT_UNTIL(LOAD_RELAXED(&c.notify.wait) == UINT32_MAX - 1 + 4));
    goc_mutex_lock(&m);
    flag = 1;
    goc_mutex_unlock(&m);
    for (int i = 0; i < 4; i++)
        goc_cond_signal(&c);
    for (int i = 0; i < 4; i++)
        CHECK(WAIT_UNTIL(atomic_load(&w[i].done)));
    CHECK_EQ_UINT(c.notify.notify, c.notify.wait);
    CHECK(c.notify.wait < 4); /* wrapped */
}

/* ---- 4. Mutex ------------------------------------------------------------------- */

static void hold_lock(void *p)
{
    goc_mutex *m = *(goc_mutex **)p;
    goc_mutex_lock(m);
    goc_mutex_unlock(m);
}

static void test_4_1_layout_and_constants(void)
{
    CHECK_EQ_INT(sizeof(goc_mutex), 8);
    static goc_mutex m = GOC_MUTEX_INIT;
    goc_mutex_lock(&m);
    CHECK_EQ_INT(m.state, 1);
    goc_mutex *mp = &m;
    goc_go(hold_lock, &mp, sizeof mp);
    CHECK(WAIT_UNTIL((LOAD_RELAXED(&m.state) >> 3) == 1)); /* one waiter */
    CHECK(LOAD_RELAXED(&m.state) & 1);
    goc_mutex_unlock(&m);
    CHECK(WAIT_UNTIL(LOAD_RELAXED(&m.state) == 0));
}

static void test_4_2_fast_path_and_trylock(void)
{
    goc_mutex m = GOC_MUTEX_INIT;
    CHECK(goc_mutex_trylock(&m));
    CHECK_EQ_INT(m.state, 1);
    CHECK(!goc_mutex_trylock(&m));
    goc_mutex_unlock(&m);
    m.state = 4; /* starving, unlocked: TryLock must not barge in */
    CHECK(!goc_mutex_trylock(&m));
    m.state = 2 << 3; /* waiters but unlocked: allowed */
    CHECK(goc_mutex_trylock(&m));
    CHECK_EQ_INT(m.state, (2 << 3) | 1);
}

typedef struct counter_arg {
    goc_mutex *m;
    int64_t *counter;
    int iters;
    goc_waitgroup *wg;
} counter_arg;

static void count_body(void *p)
{
    counter_arg *a = p;
    for (int i = 0; i < a->iters; i++) {
        goc_mutex_lock(a->m);
        int64_t v = *a->counter;
        if (i % 8 == 0)
            goc_yield(); /* hold it across a switch now and then */
        *a->counter = v + 1;
        goc_mutex_unlock(a->m);
    }
    goc_waitgroup_done(a->wg);
}

static void test_4_3_lock_slow_mutual_exclusion(void)
{
    static goc_mutex m;
    static int64_t counter;
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    int n = 32, iters = TEST_SCALE(2000);
    goc_waitgroup_add(&wg, n);
    for (int i = 0; i < n; i++) {
        counter_arg a = {&m, &counter, iters, &wg};
        goc_go(count_body, &a, sizeof a);
    }
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(counter, (int64_t)n * iters);
    CHECK_EQ_INT(m.state, 0);
}

static void child_unlock_unlocked(void *p)
{
    (void)p;
    goc_mutex m = GOC_MUTEX_INIT;
    goc_mutex_unlock(&m);
}

static void child_unlock_unlocked_case(void)
{
    /* Not recoverable: the recover in catch_panic must not stop it. */
    catch_panic(child_unlock_unlocked, NULL);
    printf("recovered?!\n");
}

static void test_4_4_unlock_of_unlocked_is_fatal(void)
{
    test_child c;
    CHECK(test_run_child("child_unlock_unlocked_case", NULL, &c) == 0);
    CHECK_MSG(!c.exited || c.status != 0, "%s", c.out);
    CHECK_STR_CONTAINS(c.out, "fatal error: sync: unlock of unlocked mutex");
    CHECK(strstr(c.out, "recovered?!") == NULL);
}

typedef struct starve {
    goc_mutex m;
    _Atomic int stop;
    int64_t max_wait;
    _Atomic int waiting;   /* the waiter is in goc_mutex_lock */
    _Atomic int hog_while; /* the hog's acquisitions during that wait */
    int max_hog_while;
    _Atomic int done;
} starve;

static void starve_hog(void *p)
{
    starve *s = *(starve **)p;
    while (!atomic_load(&s->stop)) {
        goc_mutex_lock(&s->m);
        if (atomic_load(&s->waiting))
            atomic_fetch_add(&s->hog_while, 1);
        goc_sleep(100 * US);
        goc_mutex_unlock(&s->m);
    }
    atomic_fetch_add(&s->done, 1);
}

static void starve_waiter(void *p)
{
    starve *s = *(starve **)p;
    for (int i = 0; i < 10; i++) {
        goc_sleep(100 * US);
        atomic_store(&s->hog_while, 0);
        atomic_store(&s->waiting, 1);
        int64_t t0 = goc_nanotime();
        goc_mutex_lock(&s->m);
        int64_t w = goc_nanotime() - t0;
        atomic_store(&s->waiting, 0);
        if (w > s->max_wait)
            s->max_wait = w;
        if (atomic_load(&s->hog_while) > s->max_hog_while)
            s->max_hog_while = atomic_load(&s->hog_while);
        goc_mutex_unlock(&s->m);
    }
    atomic_store(&s->stop, 1);
    atomic_fetch_add(&s->done, 1);
}

/* One run of the hog against the waiter's 10 waits; false if they did
 * not finish (they may still be running: s must outlive the case). */
static bool starve_run(starve *s)
{
    starve *sp = s;
    goc_go(starve_hog, &sp, sizeof sp);
    goc_go(starve_waiter, &sp, sizeof sp);
    return WAIT_UNTIL(atomic_load(&s->done) == 2);
}

static void test_4_5_starvation_mode(void)
{
    /* Starvation starts after 1 ms of waiting; then the hog's next unlock
     * hands the lock over. In acquisitions: the hog, re-locking at most
     * every 100 us, gets the lock at most 11 times in the waiter's first
     * millisecond, and once more before the hand-off. In time: the waiter
     * gets the lock a few milliseconds at most after it began to wait. A
     * host that stalls the process for longer than that must not fail the
     * case, so up to three runs are made for the time bound; a mutex
     * without starvation mode fails every one (the hog, running, takes the
     * lock back before the woken waiter runs, for as long as it likes). */
#if defined(GOC_SANITIZE_THREAD)
    const int64_t bound = 1000 * MS; /* TSan's fiber switches are very slow */
#elif defined(GOC_SANITIZE_ADDRESS)
    const int64_t bound = 50 * MS;
#else
    const int64_t bound = 8 * MS;
#endif
    goc_sync_stats a, b;
    goc_sync_stats_read(&a);
    static starve s;
    for (int run = 0; run < 3; run++) {
        memset(&s, 0, sizeof s);
        CHECK(starve_run(&s));
        printf("# run %d: longest wait %.2f ms, the hog's acquisitions during it %d\n", run + 1,
               s.max_wait / 1e6, s.max_hog_while);
        CHECK(s.max_hog_while <= 12);
        if (s.max_wait < bound)
            break;
    }
    goc_sync_stats_read(&b);
    printf("# starvation entries %llu\n",
           (unsigned long long)(b.mutex_starvations - a.mutex_starvations));
    CHECK(s.max_wait < bound);
    CHECK(b.mutex_starvations > a.mutex_starvations);
    CHECK_EQ_INT(s.m.state, 0);
    /* Any goroutine may unlock. The mutex is static: hold_lock may still be
     * inside its unlock after the state reads 0, and this frame's stack
     * must not be reused under it. */
    static goc_mutex m = GOC_MUTEX_INIT;
    goc_mutex_lock(&m);
    goc_mutex *mp = &m;
    goc_go(hold_lock, &mp, sizeof mp); /* blocks */
    CHECK(WAIT_UNTIL((LOAD_RELAXED(&m.state) >> 3) == 1));
    goc_mutex_unlock(&m);
    CHECK(WAIT_UNTIL(LOAD_RELAXED(&m.state) == 0));
}

static void test_4_6_can_spin(void)
{
    CHECK(!goc__sync_can_spin(4)); /* at most active_spin (4) iterations */
    if (goc_procs() == 1) {
        CHECK(!goc__sync_can_spin(0)); /* gomaxprocs <= npidle+nmspinning+1 */
        return;
    }
    /* Other Ps idle: spinning would not help. */
    if (goc__npidle() + goc__nmspinning() + 1 >= goc_procs())
        CHECK(!goc__sync_can_spin(0));
}

/* ---- 5. RWMutex, WaitGroup, Once, Cond ------------------------------------------ */

typedef struct rw_arg {
    goc_rwmutex *rw;
    _Atomic int state; /* 1 acquired, 2 released */
    bool write;
} rw_arg;

static void rw_body(void *p)
{
    rw_arg *a = *(rw_arg **)p;
    if (a->write)
        goc_rwmutex_lock(a->rw);
    else
        goc_rwmutex_rlock(a->rw);
    atomic_store(&a->state, 1);
    while (atomic_load(&a->state) != 3)
        goc_sleep(50 * US);
    if (a->write)
        goc_rwmutex_unlock(a->rw);
    else
        goc_rwmutex_runlock(a->rw);
    atomic_store(&a->state, 2);
}

static void spawn_rw(rw_arg *a) { goc_go(rw_body, &a, sizeof a); }

static void child_runlock_unlocked(void)
{
    goc_rwmutex rw = GOC_RWMUTEX_INIT;
    goc_rwmutex_runlock(&rw);
}

static void child_wunlock_unlocked(void)
{
    goc_rwmutex rw = GOC_RWMUTEX_INIT;
    goc_rwmutex_unlock(&rw);
}

static void test_5_1_rwmutex(void)
{
    static goc_rwmutex rw;
    rw_arg r1 = {&rw, 0, false}, r2 = {&rw, 0, false}, w = {&rw, 0, true}, r3 = {&rw, 0, false};
    spawn_rw(&r1);
    spawn_rw(&r2);
    CHECK(WAIT_UNTIL(atomic_load(&r1.state) == 1 && atomic_load(&r2.state) == 1)); /* shared */
    spawn_rw(&w);
    CHECK(WAIT_UNTIL(LOAD_RELAXED(&rw.reader_count) < 0)); /* writer pending */
    CHECK(WAIT_UNTIL(LOAD_RELAXED(&rw.reader_wait) == 2));
    CHECK(!goc_rwmutex_tryrlock(&rw));
    spawn_rw(&r3); /* a pending writer blocks new readers */
    goc_sleep(2 * MS);
    CHECK_EQ_INT(atomic_load(&r3.state), 0);
    CHECK_EQ_INT(atomic_load(&w.state), 0);
    atomic_store(&r1.state, 3);
    atomic_store(&r2.state, 3);
    CHECK(WAIT_UNTIL(atomic_load(&w.state) == 1));
    CHECK_EQ_INT(atomic_load(&r3.state), 0);
    atomic_store(&w.state, 3);
    CHECK(WAIT_UNTIL(atomic_load(&r3.state) == 1));
    atomic_store(&r3.state, 3);
    CHECK(WAIT_UNTIL(atomic_load(&r3.state) == 2 && atomic_load(&r1.state) == 2 &&
                     atomic_load(&r2.state) == 2 && atomic_load(&w.state) == 2));
    CHECK_EQ_INT(rw.reader_count, 0);
    CHECK(goc_rwmutex_trylock(&rw));
    CHECK(!goc_rwmutex_tryrlock(&rw));
    goc_rwmutex_unlock(&rw);
    test_child c;
    CHECK(test_run_child("child_runlock_unlocked", NULL, &c) == 0);
    CHECK_STR_CONTAINS(c.out, "fatal error: sync: RUnlock of unlocked RWMutex");
    CHECK(test_run_child("child_wunlock_unlocked", NULL, &c) == 0);
    CHECK_STR_CONTAINS(c.out, "fatal error: sync: Unlock of unlocked RWMutex");
}

static void wg_negative(void *p) { goc_waitgroup_add(p, -1); }
static void wg_add1(void *p) { goc_waitgroup_add(p, 1); }

typedef struct wg_arg {
    goc_waitgroup *wg;
    const char *panic;
    _Atomic int done;
} wg_arg;

static void wg_wait_fn(void *p) { goc_waitgroup_wait(p); }

static void wg_waiter(void *p)
{
    wg_arg *a = *(wg_arg **)p;
    a->panic = catch_panic(wg_wait_fn, a->wg);
    atomic_store(&a->done, 1);
}

static void test_5_2_waitgroup(void)
{
    CHECK_EQ_INT(sizeof(((goc_waitgroup *)0)->state), 8);
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    goc_waitgroup_wait(&wg); /* zero: returns at once */
    CHECK_EQ_STR(catch_panic(wg_negative, &wg), "sync: negative WaitGroup counter");
    wg.state = 0;
    /* Waiters are released when the counter reaches zero. */
    goc_waitgroup_add(&wg, 2);
    wg_arg a = {&wg, NULL, 0}, b = {&wg, NULL, 0};
    wg_arg *ap = &a, *bp = &b;
    goc_go(wg_waiter, &ap, sizeof ap);
    goc_go(wg_waiter, &bp, sizeof bp);
    CHECK(WAIT_UNTIL((uint32_t)LOAD_RELAXED(&wg.state) == 2)); /* two waiters */
    CHECK_EQ_INT(LOAD_RELAXED(&wg.state) >> 32, 2);
    goc_waitgroup_done(&wg);
    goc_sleep(1 * MS);
    CHECK(!atomic_load(&a.done));
    goc_waitgroup_done(&wg);
    CHECK(WAIT_UNTIL(atomic_load(&a.done) && atomic_load(&b.done)));
    CHECK(a.panic == NULL && b.panic == NULL);
    CHECK_EQ_INT(wg.state, 0);
    /* Add from zero while waiters are recorded: misuse. */
    wg.state = 1;
    CHECK_EQ_STR(catch_panic(wg_add1, &wg),
                 "sync: WaitGroup misuse: Add called concurrently with Wait");
    /* A waiter that wakes to a non-zero state: reused too early. */
    goc_waitgroup wg2 = GOC_WAITGROUP_INIT;
    goc_waitgroup_add(&wg2, 1);
    wg_arg c = {&wg2, NULL, 0};
    wg_arg *cp = &c;
    goc_go(wg_waiter, &cp, sizeof cp);
    CHECK(WAIT_UNTIL((uint32_t)LOAD_RELAXED(&wg2.state) == 1));
    __atomic_store_n(&wg2.state, (uint64_t)5 << 32, __ATOMIC_SEQ_CST);
    goc__semrelease(&wg2.sema, false);
    CHECK(WAIT_UNTIL(atomic_load(&c.done)));
    CHECK_EQ_STR(c.panic, "sync: WaitGroup is reused before previous Wait has returned");
}

typedef struct once_arg {
    goc_once *o;
    _Atomic int *runs;
    _Atomic int *finished;
    bool saw_finished;
    _Atomic int done;
} once_arg;

static void once_slow_fn(void *p)
{
    once_arg *a = p;
    atomic_fetch_add(a->runs, 1);
    goc_sleep(5 * MS);
    atomic_store(a->finished, 1);
}

static void once_caller(void *p)
{
    once_arg *a = *(once_arg **)p;
    goc_once_do(a->o, once_slow_fn, a);
    a->saw_finished = atomic_load(a->finished);
    atomic_store(&a->done, 1);
}

static void panicking_f(void *p)
{
    (void)p;
    goc_panic("once boom");
}

static void once_panics(void *p) { goc_once_do(p, panicking_f, NULL); }

static void count_run(void *p) { (*(int *)p)++; }

static void test_5_3_once(void)
{
    static goc_once o;
    _Atomic int runs = 0, finished = 0;
    once_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (once_arg){&o, &runs, &finished, false, 0};
        once_arg *ap = &a[i];
        goc_go(once_caller, &ap, sizeof ap);
    }
    for (int i = 0; i < 8; i++) {
        CHECK(WAIT_UNTIL(atomic_load(&a[i].done)));
        CHECK(a[i].saw_finished); /* nobody returned before f did */
    }
    CHECK_EQ_INT(atomic_load(&runs), 1);
    /* A panicking f counts as done; the panic reaches the caller. */
    goc_once o2 = GOC_ONCE_INIT;
    CHECK_EQ_STR(catch_panic(once_panics, &o2), "once boom");
    int n = 0;
    goc_once_do(&o2, count_run, &n);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(o2.m.state, 0);
}

static void cond_copied(void *p)
{
    goc_cond *orig = p;
    goc_cond copy = *orig;
    goc_cond_signal(&copy);
}

static void test_5_4_cond(void)
{
    static goc_mutex m;
    static goc_cond c = GOC_COND_INIT(&m);
    int flag = 0;
    cond_waiter w[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (cond_waiter){&c, &m, &flag, 0};
        cond_waiter *wp = &w[i];
        goc_go(cond_wait_body, &wp, sizeof wp);
        CHECK(WAIT_UNTIL(LOAD_RELAXED(&c.notify.wait) == (uint32_t)i + 1));
    }
    goc_cond_signal(&c); /* wakes the first; flag still 0: it waits again */
    goc_sleep(1 * MS);
    for (int i = 0; i < 5; i++)
        CHECK(!atomic_load(&w[i].done));
    goc_mutex_lock(&m);
    flag = 1;
    goc_cond_broadcast(&c);
    goc_mutex_unlock(&m);
    for (int i = 0; i < 5; i++)
        CHECK(WAIT_UNTIL(atomic_load(&w[i].done)));
    CHECK_EQ_STR(catch_panic(cond_copied, &c), "sync.Cond is copied");
}

/* ---- OnceFunc and OnceValue (Go 1.21) ------------------------------------------ */

static void count_call(void *p) { (*(int *)p)++; }

/* Go's TestOnceFunc: f runs once however often the result is called. */
static void test_once_func(void)
{
    int calls = 0;
    goc_once_func f = GOC_ONCE_FUNC_INIT(count_call, &calls);
    for (int i = 0; i < 10; i++)
        goc_once_func_call(&f);
    CHECK_EQ_INT(calls, 1);
}

static void *count_and_return(void *p)
{
    int *calls = p;
    ++*calls;
    return (void *)(intptr_t)*calls;
}

/* Go's TestOnceValue: every call returns the first call's value. */
static void test_once_value(void)
{
    int calls = 0;
    goc_once_value f = GOC_ONCE_VALUE_INIT(count_and_return, &calls);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT((intptr_t)goc_once_value_get(&f), 1);
    CHECK_EQ_INT(calls, 1);
}

/* Go's TestOnceValues, C's way: two values behind one pointer. */
typedef struct two_values {
    int calls, v1, v2;
} two_values;

static void *two(void *p)
{
    two_values *t = p;
    t->calls++;
    t->v1 = t->calls;
    t->v2 = t->calls + 1;
    return t;
}

static void test_once_values(void)
{
    two_values t = {0, 0, 0};
    goc_once_value f = GOC_ONCE_VALUE_INIT(two, &t);
    two_values *r = NULL;
    for (int i = 0; i < 10; i++)
        r = goc_once_value_get(&f);
    CHECK_EQ_INT(t.calls, 1);
    CHECK(r == &t && r->v1 == 1 && r->v2 == 2);
}

static void panic_x(void *p)
{
    (*(int *)p)++;
    goc_panic_value("x", p);
}

static void *panic_x_value(void *p)
{
    panic_x(p);
    return NULL;
}

static void call_once_func(void *p) { goc_once_func_call(p); }
static void get_once_value(void *p) { (void)goc_once_value_get(p); }

/* Go's testOncePanicX: both calls panic with f's message (and value); f
 * ran once. */
typedef struct panic_seen {
    const char *msg;
    void *value;
} panic_seen;

static void record_recover(void *p)
{
    panic_seen *s = p;
    const goc_panic_info *pi = goc_recover();
    if (pi) {
        s->msg = pi->msg;
        s->value = pi->value;
    }
}

typedef struct call_arg {
    void (*fn)(void *);
    void *arg;
    panic_seen *seen;
} call_arg;

static void call_recording(void *p)
{
    call_arg *a = p;
    goc_defer(record_recover, a->seen);
    a->fn(a->arg);
}

static void once_panics_twice(void (*call)(void *), void *of, int *calls)
{
    for (int i = 0; i < 2; i++) {
        panic_seen s = {NULL, NULL};
        call_arg a = {call, of, &s};
        goc_call(call_recording, &a);
        CHECK_MSG(s.msg != NULL, "call %d: f did not panic", i + 1);
        CHECK_EQ_STR(s.msg, "x");
        CHECK(s.value == calls);
    }
    CHECK_EQ_INT(*calls, 1);
}

/* Go's TestOnceFuncPanic and TestOnceValuePanic. */
static void test_once_func_panic(void)
{
    int calls = 0;
    goc_once_func f = GOC_ONCE_FUNC_INIT(panic_x, &calls);
    once_panics_twice(call_once_func, &f, &calls);
    int vcalls = 0;
    goc_once_value v = GOC_ONCE_VALUE_INIT(panic_x_value, &vcalls);
    once_panics_twice(get_once_value, &v, &vcalls);
}

/* Go's TestOnceFuncGoexit: f ends its goroutine; it still runs only once,
 * and a later call panics instead of returning as if f had. */
static void count_and_exit(void *p)
{
    atomic_fetch_add((_Atomic int *)p, 1);
    goc_exit();
}

static void recover_any(void *p)
{
    if (goc_recover())
        atomic_fetch_add((_Atomic int *)p, 1);
}

typedef struct goexit_arg {
    goc_once_func *f;
    _Atomic int *panics;
    goc_waitgroup *wg;
} goexit_arg;

static void wg_done(void *p) { goc_waitgroup_done(p); }

static void call_goexit_once(void *p)
{
    goexit_arg *a = p;
    goc_defer(wg_done, a->wg);
    goc_defer(recover_any, a->panics);
    goc_once_func_call(a->f);
}

static void test_once_func_goexit(void)
{
    _Atomic int calls = 0, panics = 0;
    goc_once_func f = GOC_ONCE_FUNC_INIT(count_and_exit, &calls);
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    for (int i = 0; i < 2; i++) {
        goc_waitgroup_add(&wg, 1);
        goexit_arg a = {&f, &panics, &wg};
        goc_go_copy(call_goexit_once, &a);
        goc_waitgroup_wait(&wg);
    }
    CHECK_EQ_INT(atomic_load(&calls), 1);
    CHECK_EQ_INT(atomic_load(&panics), 1); /* the second call */
}

/* Concurrent first calls: one runs f, the others wait for it. */
static void *slow_value(void *p)
{
    atomic_fetch_add((_Atomic int *)p, 1);
    goc_sleep(2 * MS);
    return p;
}

typedef struct ov_arg {
    goc_once_value *ov;
    _Atomic int *wrong;
    goc_waitgroup *wg;
} ov_arg;

static void get_and_check(void *p)
{
    ov_arg *a = p;
    if (goc_once_value_get(a->ov) != a->ov->arg)
        atomic_fetch_add(a->wrong, 1);
    goc_waitgroup_done(a->wg);
}

static void test_once_value_concurrent(void)
{
    _Atomic int calls = 0, wrong = 0;
    goc_once_value ov = GOC_ONCE_VALUE_INIT(slow_value, (void *)&calls);
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    for (int i = 0; i < 32; i++) {
        goc_waitgroup_add(&wg, 1);
        ov_arg a = {&ov, &wrong, &wg};
        goc_go_copy(get_and_check, &a);
    }
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(atomic_load(&calls), 1);
    CHECK_EQ_INT(atomic_load(&wrong), 0);
}

/* ---- WaitGroup.Go (Go 1.25) ----------------------------------------------------- */

static void incr(void *p) { atomic_fetch_add(*(_Atomic int **)p, 1); }

/* Go's TestWaitGroupGo. */
static void test_waitgroup_go(void)
{
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    _Atomic int i = 0;
    _Atomic int *ip = &i;
    CHECK(goc_waitgroup_go(&wg, incr, &ip, sizeof ip) > 0);
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(atomic_load(&i), 1);
}

/* Go's testWaitGroup barrier, its goroutines started by Go; the argument
 * is a copy (here 40 bytes), and fn gets NULL for an empty one. */
typedef struct barrier_arg {
    goc_waitgroup *wg1, *wg2;
    goc_chan *exited;
    int64_t pad[2];
} barrier_arg;

static void barrier_member(void *p)
{
    barrier_arg *a = p;
    goc_waitgroup_done(a->wg1);
    goc_waitgroup_wait(a->wg2);
    bool t = true;
    goc_chan_send(a->exited, &t);
}

static void expect_null(void *p)
{
    if (p != NULL)
        goc_panic("WaitGroup.Go: fn got an argument");
}

static void test_waitgroup_go_barrier(void)
{
    goc_waitgroup wg1 = GOC_WAITGROUP_INIT, wg2 = GOC_WAITGROUP_INIT, all = GOC_WAITGROUP_INIT;
    enum { N = 16 };
    goc_chan *exited = goc_chan_make(sizeof(bool), N);
    for (int round = 0; round < 8; round++) {
        goc_waitgroup_add(&wg1, N);
        goc_waitgroup_add(&wg2, N);
        for (int i = 0; i < N; i++) {
            barrier_arg a = {&wg1, &wg2, exited, {i, -i}};
            CHECK(goc_waitgroup_go(&all, barrier_member, &a, sizeof a) > 0);
        }
        goc_waitgroup_wait(&wg1);
        bool t;
        for (int i = 0; i < N; i++) {
            CHECK_MSG(!goc_chan_try_recv(exited, &t, NULL), "WaitGroup released group too soon");
            goc_waitgroup_done(&wg2);
        }
        for (int i = 0; i < N; i++)
            CHECK(goc_chan_recv(exited, &t));
        goc_waitgroup_wait(&all);
    }
    CHECK(goc_waitgroup_go(&all, expect_null, NULL, 0) > 0);
    goc_waitgroup_wait(&all);
    CHECK_EQ_INT(goc_waitgroup_go(&all, expect_null, NULL, 1 << 30), -EINVAL);
    goc_waitgroup_wait(&all); /* the failed Go left the counter alone */
    goc_chan_free(exited);
}

/* ---- Cond over a Locker ----------------------------------------------------------- */

typedef struct signal_arg {
    goc_cond *c;
    goc_chan *running, *awake;
    int i;
} signal_arg;

static void cond_waiter_once(void *p)
{
    signal_arg *a = p;
    a->c->L.lock(a->c->L.l);
    bool t = true;
    goc_chan_send(a->running, &t);
    goc_cond_wait(a->c);
    goc_chan_send(a->awake, &a->i);
    a->c->L.unlock(a->c->L.l);
}

/* Go's TestCondSignal: each Signal wakes exactly one waiter. */
static void test_cond_signal(void)
{
    goc_mutex m = GOC_MUTEX_INIT;
    goc_cond c;
    goc_cond_init(&c, goc_mutex_locker(&m));
    int n = 2, v;
    goc_chan *running = goc_chan_make(sizeof(bool), n), *awake = goc_chan_make(sizeof(int), n);
    for (int i = 0; i < n; i++) {
        signal_arg a = {&c, running, awake, i};
        goc_go_copy(cond_waiter_once, &a);
    }
    bool t;
    for (int i = 0; i < n; i++)
        goc_chan_recv(running, &t);
    for (; n > 0; n--) {
        CHECK_MSG(!goc_chan_try_recv(awake, &v, NULL), "goroutine not asleep");
        goc_mutex_lock(&m);
        goc_cond_signal(&c);
        goc_mutex_unlock(&m);
        goc_chan_recv(awake, &v);
        CHECK_MSG(!goc_chan_try_recv(awake, &v, NULL), "too many goroutines awake");
    }
    goc_cond_signal(&c);
    goc_chan_free(running);
    goc_chan_free(awake);
}

/* Go's TestCondSignalGenerations: waiters wake in the order they waited. */
static void test_cond_signal_generations(void)
{
    goc_mutex m = GOC_MUTEX_INIT;
    goc_cond c = GOC_COND_INIT(&m);
    int n = 100;
    goc_chan *running = goc_chan_make(sizeof(bool), n), *awake = goc_chan_make(sizeof(int), n);
    bool t;
    for (int i = 0; i < n; i++) {
        signal_arg a = {&c, running, awake, i};
        goc_go_copy(cond_waiter_once, &a);
        if (i > 0) {
            int got;
            goc_chan_recv(awake, &got);
            CHECK_MSG(got == i - 1, "wrong goroutine woke up: want %d, got %d", i - 1, got);
        }
        goc_chan_recv(running, &t);
        goc_mutex_lock(&m);
        goc_cond_signal(&c);
        goc_mutex_unlock(&m);
    }
    int last;
    goc_chan_recv(awake, &last);
    goc_chan_free(running);
    goc_chan_free(awake);
}

/* Go's TestCondBroadcast, once over a Mutex and once over an RWMutex's read
 * side (readers wait together; the writer changes the state under the
 * write lock). */
typedef struct bcast {
    goc_cond *c;
    goc_chan *running, *awake;
    bool *exit;
    goc_waitgroup *wg;
} bcast;

typedef struct bcast_arg {
    bcast *b;
    int g;
} bcast_arg;

static void bcast_waiter(void *p)
{
    bcast_arg *a = p;
    goc_cond *c = a->b->c;
    c->L.lock(c->L.l);
    while (!*a->b->exit) {
        goc_chan_send(a->b->running, &a->g);
        goc_cond_wait(c);
        goc_chan_send(a->b->awake, &a->g);
    }
    c->L.unlock(c->L.l);
    goc_waitgroup_done(a->b->wg);
}

static void cond_broadcast_over(goc_cond *c, goc_locker writer)
{
    enum { N = 200 };
    bool exit = false;
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    bcast b = {c, goc_chan_make(sizeof(int), N), goc_chan_make(sizeof(int), N), &exit, &wg};
    for (int i = 0; i < N; i++) {
        bcast_arg a = {&b, i};
        goc_waitgroup_add(&wg, 1);
        goc_go_copy(bcast_waiter, &a);
    }
    int g;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < N; k++)
            goc_chan_recv(b.running, &g);
        if (i == N - 1) {
            writer.lock(writer.l);
            exit = true;
            writer.unlock(writer.l);
        }
        CHECK_MSG(!goc_chan_try_recv(b.awake, &g, NULL), "goroutine not asleep");
        writer.lock(writer.l);
        goc_cond_broadcast(c);
        writer.unlock(writer.l);
        bool seen[N] = {0};
        for (int k = 0; k < N; k++) {
            goc_chan_recv(b.awake, &g);
            CHECK_MSG(!seen[g], "goroutine woke up twice");
            seen[g] = true;
        }
    }
    goc_waitgroup_wait(&wg);
    CHECK_MSG(!goc_chan_try_recv(b.running, &g, NULL), "goroutine did not exit");
    goc_cond_broadcast(c);
    goc_chan_free(b.running);
    goc_chan_free(b.awake);
}

static void test_cond_broadcast(void)
{
    goc_mutex m = GOC_MUTEX_INIT;
    goc_cond c = GOC_COND_INIT(&m);
    cond_broadcast_over(&c, goc_mutex_locker(&m));
    goc_rwmutex rw = GOC_RWMUTEX_INIT;
    goc_cond rc = GOC_COND_INIT_LOCKER(GOC_RWMUTEX_RLOCKER(&rw));
    cond_broadcast_over(&rc, goc_rwmutex_locker(&rw));
}

/* Readers waiting on a read-side Cond hold the read lock together: while
 * they wait a writer gets in; once woken, all of them are inside at once. */
typedef struct rl_arg {
    goc_rwmutex *rw;
    goc_cond *c;
    int *gen;
    _Atomic int *inside, *maxinside;
    goc_waitgroup *wg;
} rl_arg;

static void rl_reader(void *p)
{
    rl_arg *a = p;
    goc_rwmutex_rlock(a->rw);
    while (*a->gen == 0)
        goc_cond_wait(a->c);
    int in = atomic_fetch_add(a->inside, 1) + 1;
    int mx = atomic_load(a->maxinside);
    while (in > mx && !atomic_compare_exchange_weak(a->maxinside, &mx, in)) {
    }
    goc_sleep(1 * MS);
    atomic_fetch_sub(a->inside, 1);
    goc_rwmutex_runlock(a->rw);
    goc_waitgroup_done(a->wg);
}

static void test_cond_rlocker(void)
{
    goc_rwmutex rw = GOC_RWMUTEX_INIT;
    goc_cond c;
    goc_cond_init(&c, goc_rwmutex_rlocker(&rw));
    int gen = 0;
    _Atomic int inside = 0, maxinside = 0;
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    enum { N = 8 };
    for (int i = 0; i < N; i++) {
        rl_arg a = {&rw, &c, &gen, &inside, &maxinside, &wg};
        goc_waitgroup_add(&wg, 1);
        goc_go_copy(rl_reader, &a);
    }
    CHECK(WAIT_UNTIL(LOAD_RELAXED(&c.notify.wait) == N));
    goc_rwmutex_lock(&rw); /* every reader is waiting: none holds rw */
    gen = 1;
    goc_cond_broadcast(&c);
    goc_rwmutex_unlock(&rw);
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(atomic_load(&maxinside), N);
}

/* Go's TestRace: three goroutines hand x along under c.L. */
typedef struct race_arg {
    goc_cond *c;
    int *x;
    _Atomic int *bad;
    goc_waitgroup *wg;
} race_arg;

static void race1(void *p)
{
    race_arg *a = p;
    a->c->L.lock(a->c->L.l);
    *a->x = 1;
    goc_cond_wait(a->c);
    if (*a->x != 2)
        atomic_fetch_add(a->bad, 1);
    *a->x = 3;
    goc_cond_signal(a->c);
    a->c->L.unlock(a->c->L.l);
    goc_waitgroup_done(a->wg);
}

static void race2(void *p)
{
    race_arg *a = p;
    a->c->L.lock(a->c->L.l);
    for (;;) {
        if (*a->x == 1) {
            *a->x = 2;
            goc_cond_signal(a->c);
            break;
        }
        a->c->L.unlock(a->c->L.l);
        goc_yield();
        a->c->L.lock(a->c->L.l);
    }
    a->c->L.unlock(a->c->L.l);
    goc_waitgroup_done(a->wg);
}

static void race3(void *p)
{
    race_arg *a = p;
    a->c->L.lock(a->c->L.l);
    for (;;) {
        if (*a->x == 2) {
            goc_cond_wait(a->c);
            if (*a->x != 3)
                atomic_fetch_add(a->bad, 1);
            break;
        }
        if (*a->x == 3)
            break;
        a->c->L.unlock(a->c->L.l);
        goc_yield();
        a->c->L.lock(a->c->L.l);
    }
    a->c->L.unlock(a->c->L.l);
    goc_waitgroup_done(a->wg);
}

static void test_cond_race(void)
{
    goc_mutex m = GOC_MUTEX_INIT;
    goc_cond c = GOC_COND_INIT(&m);
    int x = 0;
    _Atomic int bad = 0;
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    goc_waitgroup_add(&wg, 3);
    race_arg a = {&c, &x, &bad, &wg};
    goc_go_copy(race1, &a);
    goc_go_copy(race2, &a);
    goc_go_copy(race3, &a);
    goc_waitgroup_wait(&wg);
    CHECK_EQ_INT(atomic_load(&bad), 0);
}

static const test_case cases[] = {
    TEST_CASE(test_3_1_semtable_roots_by_address),
    TEST_CASE(test_3_2_treap_many_addresses),
    TEST_CASE(test_3_3_semacquire_fast_slow_lifo),
    TEST_CASE(test_3_4_semrelease_handoff),
    TEST_CASE(test_3_5_who_passes_what_and_ticket_wrap),
    TEST_CASE(test_4_1_layout_and_constants),
    TEST_CASE(test_4_2_fast_path_and_trylock),
    TEST_CASE(test_4_3_lock_slow_mutual_exclusion),
    TEST_CASE(test_4_4_unlock_of_unlocked_is_fatal),
    TEST_CASE(test_4_5_starvation_mode),
    TEST_CASE(test_4_6_can_spin),
    TEST_CASE(test_5_1_rwmutex),
    TEST_CASE(test_5_2_waitgroup),
    TEST_CASE(test_5_3_once),
    TEST_CASE(test_5_4_cond),
    TEST_CASE(test_once_func),
    TEST_CASE(test_once_value),
    TEST_CASE(test_once_values),
    TEST_CASE(test_once_func_panic),
    TEST_CASE(test_once_func_goexit),
    TEST_CASE(test_once_value_concurrent),
    TEST_CASE(test_waitgroup_go),
    TEST_CASE(test_waitgroup_go_barrier),
    TEST_CASE(test_cond_signal),
    TEST_CASE(test_cond_signal_generations),
    TEST_CASE(test_cond_broadcast),
    TEST_CASE(test_cond_rlocker),
    TEST_CASE(test_cond_race),
    {"child_unlock_unlocked_case", child_unlock_unlocked_case},
    {"child_runlock_unlocked", child_runlock_unlocked},
    {"child_wunlock_unlocked", child_wunlock_unlocked},
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

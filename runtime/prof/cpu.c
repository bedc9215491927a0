/* cpu.c: the CPU profile (goc/pprof.h; Go's runtime/cpuprof.go and its
 * per-thread timers, Go 1.18's setThreadCPUProfiler).
 *
 * Each M's thread gets a POSIX timer on its own CPU-time clock, sending
 * SIGPROF to that thread (SIGEV_THREAD_ID) every 1/hz second of CPU it
 * uses: idle threads take no samples, busy ones take hz a second each. The
 * handler walks the stack it interrupted (goc__traceback_ucontext) into a
 * slot of a ring and takes a reference to the labels of the goroutine
 * running there. A reader goroutine drains the ring every 100 ms into a
 * table of distinct (stack, labels) with their counts; goc_pprof_cpu_stop
 * drains the rest and writes the profile. When the ring is full a sample
 * is counted as lost, and the profile shows the lost ones under a frame of
 * their own.
 *
 * The ring: producers (handlers, on any M) reserve a slot by a CAS on
 * head, fill it and publish it by storing its sequence number (index +
 * 1); the one consumer takes slots in order while they are published and
 * frees them by advancing tail. A reserved slot not yet published stops
 * the consumer until the next drain. The ring is mapped once and never
 * unmapped: a SIGPROF can arrive after its timer is deleted.
 *
 * Invariants:
 *  - lock guards on, hz and every M's prof_armed/prof_timer: a timer is
 *    made and deleted under it, by the starter, the stopper, or the M
 *    starting (goc__cpuprof_m_start), so each M has one timer at most.
 *  - in_handler counts handlers between their check of on and their
 *    publish; the stopper waits for it to fall to 0 after clearing on, so
 *    the last drain sees every sample.
 *  - cpu_mu (a goroutine mutex) serializes start and stop; state between
 *    them belongs to the running profile.
 */
#include "goc/pprof.h"
#include "goc/sched.h"
#include "goc/sync.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "labels.h"
#include "profile.h"
#include "runtime.h"
#include "traceback.h"

#define DEPTH GOC__STACK_DEPTH /* frames per sample (Go's maxCPUProfStack, 64) */
#define RING 1024         /* slots: 5 s of samples at 100 Hz on 2 busy threads */
#define DRAIN_NS (100 * GOC_MILLISECOND)

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* One sample in the ring. */
typedef struct slot {
    _Atomic uint64_t seq; /* index + 1 once published */
    int32_t n;            /* frames */
    goc__labels *labels;  /* a reference, or NULL */
    uintptr_t pcs[DEPTH];
} slot;

static goc__lock lock = GOC_LOCK_INIT; /* see the invariants */
static _Atomic bool on;                /* samples are wanted */
static int hz;                         /* [lock] */
static _Atomic int32_t in_handler;
static slot *ring;                     /* RING slots, mapped on the first start */
static _Atomic uint64_t head, tail;    /* reserved up to head; consumed up to tail */
static _Atomic uint64_t lost;          /* samples dropped: ring full */

static goc_mutex cpu_mu;               /* serializes start and stop */
static struct {
    bool running;
    goc_pprof_write_fn fn;
    void *arg;
    int64_t start_wall, start_mono;
    int hz;
    _Atomic bool stop;                 /* the reader should end */
    goc_waitgroup reader;              /* the reader goroutine */
    goc__stacktab tab;                 /* the samples; each record holds one labels reference */
    int err;                           /* -ENOMEM while aggregating */
} prof; /* [cpu_mu, and the reader while running] */

/* ---- the signal handler ------------------------------------------------------- */

static void on_sigprof(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)si;
    int saved = errno;
    atomic_fetch_add(&in_handler, 1);
    goc_m *m = atomic_load(&on) ? goc__getm() : NULL;
    if (m) {
        uint64_t h = atomic_load_explicit(&head, memory_order_relaxed);
        bool got = false;
        while (!got && h - atomic_load_explicit(&tail, memory_order_acquire) < RING)
            got = atomic_compare_exchange_weak_explicit(&head, &h, h + 1, memory_order_relaxed,
                                                        memory_order_relaxed);
        if (got) {
            slot *s = &ring[h % RING];
            int n = goc__traceback_ucontext(uctx, s->pcs, DEPTH);
            s->n = n > 0 ? n : 0;
            goc_g *g = m->curg;
            goc__labels *l = g && !g->is_g0 ? atomic_load_explicit(&g->labels,
                                                                   memory_order_relaxed)
                                            : NULL;
            if (l)
                goc__labels_ref(l);
            s->labels = l;
            atomic_store_explicit(&s->seq, h + 1, memory_order_release);
        } else {
            atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
        }
    }
    atomic_fetch_sub(&in_handler, 1);
    errno = saved;
}

static void install_handler(void)
{
    static bool done;
    if (done)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    done = true;
}

/* ---- the timers --------------------------------------------------------------- */

/* Gives m its timer. lock held. 0 or a negative errno. */
static int arm(goc_m *m)
{
    int32_t tid = atomic_load(&m->prof_tid);
    if (m->prof_armed || tid == 0 || !m->has_cpuclock)
        return 0; /* (an M not started yet arms itself) */
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_notify_thread_id = tid;
    timer_t t;
    if (timer_create((clockid_t)atomic_load(&m->cpuclock), &sev, &t) != 0)
        return -errno;
    long ns = 1000000000L / hz;
    struct itimerspec its = {{ns / 1000000000L, ns % 1000000000L},
                             {ns / 1000000000L, ns % 1000000000L}};
    if (timer_settime(t, 0, &its, NULL) != 0) {
        int rc = -errno;
        timer_delete(t);
        return rc;
    }
    memcpy(&m->prof_timer, &t, sizeof t < sizeof m->prof_timer ? sizeof t : sizeof m->prof_timer);
    m->prof_armed = true;
    return 0;
}

static void disarm(goc_m *m)
{
    if (!m->prof_armed)
        return;
    timer_t t;
    memcpy(&t, &m->prof_timer, sizeof t < sizeof m->prof_timer ? sizeof t : sizeof m->prof_timer);
    timer_delete(t);
    m->prof_armed = false;
}

void goc__cpuprof_m_start(goc_m *m)
{
    atomic_store(&m->prof_tid, (int32_t)syscall(SYS_gettid));
    if (!atomic_load(&on))
        return;
    goc__lock_acquire(&lock);
    if (atomic_load(&on))
        arm(m); /* a failure leaves this thread unsampled */
    goc__lock_release(&lock);
}

/* Every M, from the scheduler's list (each M is on it before its thread
 * runs, and never leaves it). */
static int each_m(bool start)
{
    int rc = 0;
    goc__lock_acquire(&goc__sched_.lock);
    goc_m *all = goc__sched_.allm;
    goc__lock_release(&goc__sched_.lock);
    for (goc_m *m = all; m; m = m->alllink) {
        if (start && rc == 0)
            rc = arm(m);
        else
            disarm(m);
    }
    return rc;
}

/* ---- the reader ---------------------------------------------------------------- */

/* Adds one sample to the table; takes over its labels reference. */
static void aggregate(const slot *s)
{
    int rc = goc__stacktab_add(&prof.tab, s->pcs, s->n, s->labels);
    if (rc < 0)
        prof.err = rc;
    if (rc <= 0) /* counted before, or not at all */
        goc__labels_unref(s->labels);
}

static void drain(void)
{
    for (;;) {
        uint64_t t = atomic_load_explicit(&tail, memory_order_relaxed);
        slot *s = &ring[t % RING];
        if (atomic_load_explicit(&s->seq, memory_order_acquire) != t + 1)
            return;
        aggregate(s);
        atomic_store_explicit(&tail, t + 1, memory_order_release);
    }
}

static void reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&prof.stop)) {
        drain();
        goc_sleep(DRAIN_NS);
    }
}

/* ---- start and stop ---------------------------------------------------------------- */

int goc_pprof_cpu_start(int rate, goc_pprof_write_fn fn, void *arg)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return -EPERM;
    if (rate < 0 || rate > 1000 || !fn)
        return -EINVAL;
    goc_mutex_lock(&cpu_mu);
    int rc = 0;
    if (prof.running) {
        rc = -EBUSY;
        goto out;
    }
    if (!ring) {
        void *p = mmap(NULL, RING * sizeof *ring, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            rc = -ENOMEM;
            goto out;
        }
        ring = p;
    }
    install_handler();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    prof.fn = fn;
    prof.arg = arg;
    prof.hz = rate ? rate : 100;
    prof.start_wall = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    prof.start_mono = goc_nanotime();
    prof.err = 0;
    atomic_store(&prof.stop, false);
    atomic_store(&lost, 0);
    if (goc_waitgroup_go(&prof.reader, reader, NULL, 0) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    goc__lock_acquire(&lock);
    hz = prof.hz;
    atomic_store(&on, true);
    rc = each_m(true);
    if (rc) {
        atomic_store(&on, false);
        each_m(false);
    }
    goc__lock_release(&lock);
    if (rc) {
        atomic_store(&prof.stop, true);
        goc_waitgroup_wait(&prof.reader);
    } else {
        prof.running = true;
    }
out:
    goc_mutex_unlock(&cpu_mu);
    return rc;
}

/* Writes the aggregated samples, and releases them. */
static int write_profile(int64_t duration)
{
    static const goc__ptype types[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
    int64_t period = 1000000000 / prof.hz;
    goc__profile *p = goc__alloc(sizeof *p);
    int rc = p ? goc__profile_init(p, types, 2, types[1], period, NULL) : -ENOMEM;
    for (size_t i = 0; i < prof.tab.n; i++) {
        goc__stackrec *r = &prof.tab.recs[i];
        goc__labels *l = (goc__labels *)r->labels;
        if (rc == 0) {
            int64_t v[2] = {r->count, r->count * period};
            goc__profile_add(p, r->pcs, r->n, NULL, v, l ? l->kv : NULL, l ? l->n : 0);
        }
        goc__labels_unref(l);
    }
    int64_t nlost = (int64_t)atomic_load(&lost);
    if (rc == 0 && nlost) {
        int64_t v[2] = {nlost, nlost * period};
        goc__profile_add(p, NULL, 0, "lost samples (profile buffer full)", v, NULL, 0);
    }
    if (rc == 0 && prof.err) {
        goc__profile_free(p);
        rc = prof.err;
    } else if (rc == 0) {
        rc = goc__profile_finish(p, prof.start_wall, duration, prof.fn, prof.arg);
    }
    goc__free(p);
    goc__stacktab_free(&prof.tab);
    return rc;
}

int goc_pprof_cpu_stop(void)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return -EPERM;
    goc_mutex_lock(&cpu_mu);
    if (!prof.running) {
        goc_mutex_unlock(&cpu_mu);
        return -ENOENT;
    }
    goc__lock_acquire(&lock);
    atomic_store(&on, false);
    each_m(false);
    goc__lock_release(&lock);
    while (atomic_load(&in_handler) != 0)
        goc_sleep(GOC_MILLISECOND);
    atomic_store(&prof.stop, true);
    goc_waitgroup_wait(&prof.reader);
    drain();
    int rc = write_profile(goc_nanotime() - prof.start_mono);
    prof.running = false;
    goc_mutex_unlock(&cpu_mu);
    return rc;
}

int goc_pprof_cpu_profile(int64_t duration_ns, int rate, goc_pprof_write_fn fn, void *arg)
{
    int rc = goc_pprof_cpu_start(rate, fn, arg);
    if (rc)
        return rc;
    goc_sleep(duration_ns);
    return goc_pprof_cpu_stop();
}

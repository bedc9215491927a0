/* sysmon.c: the monitor thread (sysmon in src/runtime/proc.go; doc/go-rules.md
 * 7.7, 7.9). It runs without a P and:
 *  - retakes a P from an M blocked in a C call (goc_syscall_enter) for at
 *    least one tick (20 us) when other work could use it;
 *  - asks a P whose goroutines have handed runnext to each other for more
 *    than 10 ms to serve its queue (Go's preemption of such a pair);
 *  - reports a goroutine that has run for more than 10 ms without reaching
 *    a yield point (C code cannot be preempted safely: it is reported, not
 *    interrupted), and asks it to yield at its next preemption check (a
 *    network read or write that did not block calls one);
 *  - wakes an idle P when a timer is overdue and no M is watching timers;
 *  - gives free heap pages back to the kernel once held past their delay
 *    (through the allocator's hook, runtime/mem/heap.c), as Go's scavenger, and
 *    the pages of stacks idle in the global pool (goc__stack_scavenge_tick),
 *    as Go's collector frees the stacks of the Gs on its global free list.
 * It sleeps 20 us, doubling after 50 idle rounds, up to 10 ms.
 */
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "runq.h"

#define FORCE_PREEMPT_NS (10 * GOC_MILLISECOND)


static void report_hog(goc_p *p, int64_t id, int64_t ms)
{
    atomic_fetch_add_explicit(&goc__sched_.nhog, 1, memory_order_relaxed);
    fprintf(stderr,
            "goc: goroutine %lld has run for %lld ms on P %d without reaching a yield point\n",
            (long long)id, (long long)ms, p->id);
}

/* CPU time consumed by the thread holding p (-1 when unknown): a goroutine
 * is a hog only if it really ran, not if the OS descheduled its thread. */
static int64_t m_cputime(goc_p *p)
{
    goc_m *m = __atomic_load_n(&p->m, __ATOMIC_RELAXED);
    if (!m || !m->has_cpuclock)
        return -1;
    struct timespec ts;
    if (clock_gettime((clockid_t)atomic_load(&m->cpuclock), &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int retake(int64_t now)
{
    int n = 0;
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        goc_p *p = goc__sched_.allp[i];
        uint32_t s = atomic_load(&p->status);
        if (s == GOC_PRUNNING) {
            uint64_t sw = atomic_load_explicit(&p->nswitch, memory_order_relaxed) +
                          atomic_load_explicit(&p->nyield, memory_order_relaxed);
            uint32_t t = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
            if (p->sysmon_nswitch != sw || p->sysmon_syscallwhen == 0) {
                p->sysmon_nswitch = sw;
                p->sysmon_syscallwhen = now; /* last switch seen */
                p->sysmon_cpu = m_cputime(p);
            } else if (now - p->sysmon_syscallwhen >= FORCE_PREEMPT_NS &&
                       !atomic_load(&goc__sched_.exiting)) {
                int64_t id = atomic_load_explicit(&p->curg_id, memory_order_relaxed);
                int64_t cpu = m_cputime(p);
                bool ran = cpu < 0 || p->sysmon_cpu < 0 || cpu - p->sysmon_cpu >= FORCE_PREEMPT_NS;
                if (id != 0 && ran)
                    atomic_store_explicit(&p->preempt, true, memory_order_relaxed);
                if (id != 0 && id != p->hog_reported && ran) {
                    p->hog_reported = id;
                    report_hog(p, id, (now - p->sysmon_syscallwhen) / 1000000);
                }
            }
            if (p->sysmon_schedtick != t || p->sysmon_schedwhen == 0) {
                p->sysmon_schedtick = t;
                p->sysmon_schedwhen = now;
            } else if (now - p->sysmon_schedwhen >= FORCE_PREEMPT_NS) {
                atomic_store_explicit(&p->preempt, true, memory_order_relaxed);
                p->sysmon_schedwhen = now;
            }
        } else if (s == GOC_PSYSCALL) {
            uint32_t t = atomic_load(&p->syscalltick);
            if (p->sysmon_syscalltick != t) {
                p->sysmon_syscalltick = t;
                p->sysmon_schedwhen = now;
                continue;
            }
            /* Leave it while it has nothing queued, someone else can take
             * new work, and the call is young. */
            if (goc__runq_empty(p) &&
                atomic_load(&goc__sched_.nmspinning) + atomic_load(&goc__sched_.npidle) > 0 &&
                now - p->sysmon_schedwhen < FORCE_PREEMPT_NS)
                continue;
            if (goc__retake_syscall(p))
                n++;
        }
    }
    return n;
}

static void *sysmon(void *arg)
{
    (void)arg;
    int idle = 0;
    int64_t delay = 20000;
    for (;;) {
        if (idle == 0)
            delay = 20000;
        else if (idle > 50)
            delay *= 2;
        if (delay > 10000000)
            delay = 10000000;
        struct timespec ts = {0, (long)delay};
        nanosleep(&ts, NULL);
        int64_t now = goc__nanotime();
        if (retake(now))
            idle = 0;
        else
            idle++;
        goc__netpoll_sysmon(now);
        goc__mem_tick(now);
        goc__stack_scavenge_tick(now);
        int64_t next = goc__timers_next();
        if (next != 0 && next + 1000000 < now)
            goc__wake_idle();
    }
    return NULL;
}

void goc__sysmon_start(void)
{
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&th, &attr, sysmon, NULL) != 0)
        goc__throw("cannot start sysmon");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* stw.c: stopping the world for the collector (runtime/mem/gc.c).
 *
 * C code need not reach a yield point, so the world is not stopped by
 * asking goroutines to yield: as the Boehm-Demers-Weiser collector does on
 * Linux, the stopper sends a signal (SIGPWR) to each M, and the handler
 * records the registers and stack pointer it interrupted, acknowledges, and
 * waits in the handler until the world restarts. What an M is when the
 * world stops:
 *  - running (goroutine code, the scheduler, or asleep without work): it
 *    is signalled and stops in the handler, wherever it was;
 *  - between goc_syscall_enter and goc_syscall_exit: it is not signalled
 *    (the signal would interrupt its blocking call) but counts as stopped
 *    at the stack pointer and callee-saved registers goc_syscall_enter
 *    saved; goc_syscall_exit waits while the world is stopped, and the
 *    code in between must not touch collected memory;
 *  - not started yet, or starting meanwhile: it waits at its start
 *    (goc__stw_thread_start) before running anything.
 * The collector takes every allocator lock, and its own, before it stops
 * the world (gc.c), so no stopped thread holds one. The one place a thread
 * holding no lock may still not be stopped is the collected allocation's
 * fast path (section goc_nostop_text, runtime/mem/gcalloc.c), which
 * advances a span's allocation state before the new object's address
 * exists in any register: the handler refuses there, and the stopper
 * signals again a moment later.
 *
 * Under ThreadSanitizer the handler is installed behind TSan's back
 * (glibc's __sigaction): TSan would hold an asynchronous signal until the
 * thread next calls an intercepted function, which a loop that never yields
 * does not. The handler and everything else that runs while the world is
 * stopped are left uninstrumented (GOC_STW_FN): a stopped thread may be
 * inside TSan's runtime.
 *
 * Invariants:
 *  - stw.stopping is 1 from the start of a stop until the restart; threads
 *    waiting at their start or in goc_syscall_exit sleep on it (futex). A
 *    signal handler waits on stw.restarted for the end of its own stop.
 *  - An M is counted in stw.nacked at most once per stop (m->stw.acked).
 *  - m->stw.sp and regs are written by the M itself before it is counted
 *    as stopped (ack, or the SYSCALL state's release store), and read by
 *    the collector only after.
 */
#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define STOP_SIGNAL SIGPWR
#define RESIGNAL_NS 50000 /* how long to wait before signalling again */

#if GOC_TSAN
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
#define install_sigaction __sigaction
#else
#define install_sigaction sigaction
#endif

/* The collected allocation's fast path (linker-made bounds; weak: empty
 * when nothing is placed there). */
extern char __start_goc_nostop_text[] __attribute__((weak, visibility("hidden")));
extern char __stop_goc_nostop_text[] __attribute__((weak, visibility("hidden")));

static struct {
    _Atomic uint32_t stopping; /* futex: 1 while a stop is under way or holds */
    _Atomic uint32_t epoch;    /* stops so far (the current one while stopping) */
    _Atomic uint32_t restarted; /* futex: the last stop the world restarted from */
    _Atomic uint32_t nacked;   /* futex: Ms that acknowledged the current stop */
    goc_m *allm;               /* the Ms when this stop began (their alllink list) */
    goc_m *self;               /* the stopper's M, NULL if it is not an M */
    pid_t pid;                 /* for tgkill (getpid is not called while stopped) */
    uintptr_t self_sp;         /* the stopper's own goroutine: scan from here */
    uint32_t self_nregs;
    const uintptr_t *self_regs;
    bool installed;
} stw;

static __thread goc_m *tls_m __attribute__((tls_model("initial-exec")));

GOC_STW_FN static void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, ns >= 0 ? &ts : NULL, NULL, 0);
}

GOC_STW_FN static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Sleeps until no stop is under way. */
GOC_STW_FN static void wait_restart(void)
{
    uint32_t v;
    while ((v = atomic_load(&stw.stopping)) != 0)
        futex_wait(&stw.stopping, v, -1);
}

/* Sleeps until the world restarts from stop e (a handler must not wait
 * for a later stop: its signal is blocked while it runs). */
GOC_STW_FN static void wait_restart_from(uint32_t e)
{
    uint32_t v;
    while ((int32_t)((v = atomic_load(&stw.restarted)) - e) < 0)
        futex_wait(&stw.restarted, v, -1);
}

/* ---- the stopped side ----------------------------------------------------- */

/* Copies the interrupted registers and stack pointer from the signal's
 * context into m. */
GOC_STW_FN static void record_context(goc_m *m, const ucontext_t *uc)
{
    uint32_t n = 0;
#if defined(__x86_64__)
    const greg_t *g = uc->uc_mcontext.gregs;
    static const int gpr[] = {REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12,
                              REG_R13, REG_R14, REG_R15, REG_RDI, REG_RSI,
                              REG_RBP, REG_RBX, REG_RDX, REG_RAX, REG_RCX};
    for (size_t i = 0; i < sizeof gpr / sizeof gpr[0]; i++)
        m->stw.regs[n++] = (uintptr_t)g[gpr[i]];
    const struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
    for (int i = 0; fp && i < 16; i++) { /* a compiler may keep a pointer in XMM */
        m->stw.regs[n++] = (uintptr_t)fp->_xmm[i].element[0] |
                           (uintptr_t)fp->_xmm[i].element[1] << 32;
        m->stw.regs[n++] = (uintptr_t)fp->_xmm[i].element[2] |
                           (uintptr_t)fp->_xmm[i].element[3] << 32;
    }
    m->stw.sp = (uintptr_t)g[REG_RSP];
    m->stw.exact = false; /* a leaf function's red zone lies below it */
#elif defined(__aarch64__)
    for (int i = 0; i < 31; i++)
        m->stw.regs[n++] = (uintptr_t)uc->uc_mcontext.regs[i];
    m->stw.sp = (uintptr_t)uc->uc_mcontext.sp;
    m->stw.exact = true; /* no red zone on aarch64 */
#else
#error "stw.c: no register layout for this CPU"
#endif
    m->stw.nregs = n;
}

GOC_STW_FN static bool in_nostop_text(const ucontext_t *uc)
{
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
#endif
    return pc >= (uintptr_t)__start_goc_nostop_text && pc < (uintptr_t)__stop_goc_nostop_text;
}

GOC_STW_FN static void on_stop_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    int saved_errno = errno;
    goc_m *m = tls_m;
    uint32_t e = atomic_load(&stw.epoch);
    if (m && atomic_load(&stw.stopping) && atomic_load(&m->stw.acked) != e &&
        !in_nostop_text(ctx)) {
        /* An M that entered goc_syscall_enter after the stopper looked
         * keeps the registers and stack pointer saved there (exact). */
        if (atomic_load(&m->stw.state) != GOC_STWM_SYSCALL)
            record_context(m, ctx);
        atomic_store(&m->stw.acked, e);
        atomic_fetch_add(&stw.nacked, 1);
        futex_wake(&stw.nacked);
        wait_restart_from(e);
    }
    errno = saved_errno;
}

void goc__stw_thread_start(goc_m *m)
{
    tls_m = m;
    m->stw.tid = (int32_t)syscall(SYS_gettid);
    /* Paired with the stopper's stopping store: either it sees RUNNING
     * (and signals us), or we see it stopping and wait here. */
    atomic_store(&m->stw.state, GOC_STWM_RUNNING);
    wait_restart();
}

void goc__stw_syscall_enter(goc_m *m, const uintptr_t *regs, uint32_t n, uintptr_t sp)
{
    memcpy(m->stw.regs, regs, n * sizeof *regs);
    m->stw.nregs = n;
    m->stw.sp = sp;
    m->stw.exact = true;
    atomic_store_explicit(&m->stw.state, GOC_STWM_SYSCALL, memory_order_release);
}

/* Forgets m's saved registers once they are stale (m's record is a heap
 * block the collector scans: old register values would keep their
 * objects alive). */
GOC_STW_FN static void forget_regs(goc_m *m)
{
    for (uint32_t i = 0; i < m->stw.nregs; i++)
        *(volatile uintptr_t *)&m->stw.regs[i] = 0;
    m->stw.nregs = 0;
    m->stw.sp = 0;
}

void goc__stw_syscall_exit(goc_m *m)
{
    for (;;) {
        uint32_t s = GOC_STWM_SYSCALL;
        if (atomic_compare_exchange_strong(&m->stw.state, &s, GOC_STWM_RUNNING)) {
            forget_regs(m);
            return;
        }
        /* SYSCALL_STOPPED: the restart makes it SYSCALL again first */
        uint32_t v = atomic_load(&stw.stopping);
        if (v)
            futex_wait(&stw.stopping, v, -1);
    }
}

/* ---- the stopper ---------------------------------------------------------- */

void goc__stw_init(void)
{
    if (stw.installed)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (install_sigaction(STOP_SIGNAL, &sa, NULL) != 0)
        goc__throw("collector: cannot install the stop signal's handler");
    stw.installed = true;
}

static void note_pid(void)
{
    stw.pid = getpid(); /* again at each stop: a fork's child has its own */
}

GOC_STW_FN static void send_stop(goc_m *m)
{
    syscall(SYS_tgkill, (long)stw.pid, (long)m->stw.tid, STOP_SIGNAL);
}

/* Signals every running M, and counts those in a blocking call as stopped;
 * returns how many must acknowledge. */
GOC_STW_FN static uint32_t signal_all(uint32_t e)
{
    uint32_t need = 0;
    for (goc_m *m = stw.allm; m; m = m->alllink) {
        if (m == stw.self)
            continue;
        uint32_t s = atomic_load(&m->stw.state);
        if (s == GOC_STWM_NONE)
            continue; /* waits at its start: it saw stopping */
        if (s == GOC_STWM_SYSCALL &&
            atomic_compare_exchange_strong(&m->stw.state, &s, GOC_STWM_SYSCALL_STOPPED))
            continue;
        m->stw.signalled = e;
        need++;
        send_stop(m);
    }
    return need;
}

GOC_STW_FN static void wait_acks(uint32_t e, uint32_t need)
{
    uint32_t n;
    while ((n = atomic_load(&stw.nacked)) < need) {
        futex_wait(&stw.nacked, n, RESIGNAL_NS);
        if (atomic_load(&stw.nacked) != n)
            continue;
        /* Nothing for a while: a handler refused (the allocation fast
         * path), or a signal is still on its way. Send again. */
        for (goc_m *m = stw.allm; m; m = m->alllink)
            if (m->stw.signalled == e && atomic_load(&m->stw.acked) != e)
                send_stop(m);
    }
}

void goc__stw_prepare(uintptr_t sp, const uintptr_t *regs, uint32_t nregs)
{
    goc__stw_init();
    note_pid();
    /* The M list is read under sched.lock before anything is stopped (a
     * stopped thread may hold that lock); Ms made after this see stopping
     * at their start and wait there. */
    atomic_store(&stw.stopping, 1);
    atomic_store(&stw.nacked, 0); /* before the epoch a handler would ack */
    atomic_fetch_add(&stw.epoch, 1);
    goc__lock_acquire(&goc__sched_.lock);
    stw.allm = goc__sched_.allm;
    goc__lock_release(&goc__sched_.lock);
    stw.self = tls_m;
    stw.self_sp = sp;
    stw.self_regs = regs;
    stw.self_nregs = nregs;
}

GOC_STW_FN void goc__stw_stop(void)
{
    uint32_t e = atomic_load(&stw.epoch);
    wait_acks(e, signal_all(e));
}

GOC_STW_FN void goc__stw_start(void)
{
    for (goc_m *m = stw.allm; m; m = m->alllink) {
        uint32_t s = GOC_STWM_SYSCALL_STOPPED;
        if (!atomic_compare_exchange_strong(&m->stw.state, &s, GOC_STWM_SYSCALL) &&
            s == GOC_STWM_RUNNING && m->stw.signalled == atomic_load(&stw.epoch))
            forget_regs(m); /* stopped by the signal: stale once it runs on */
    }
    atomic_store(&stw.restarted, atomic_load(&stw.epoch));
    futex_wake(&stw.restarted);
    atomic_store(&stw.stopping, 0);
    futex_wake(&stw.stopping);
}

GOC_STW_FN void goc__stw_each(void (*fn)(goc_m *m, uintptr_t sp, bool exact,
                                         const uintptr_t *regs, uint32_t nregs, void *arg),
                              void *arg)
{
    /* the stopper's sp is where it called into the collector: exact */
    for (goc_m *m = stw.allm; m; m = m->alllink) {
        if (m == stw.self)
            fn(m, stw.self_sp, true, stw.self_regs, stw.self_nregs, arg);
        else if (atomic_load(&m->stw.state) != GOC_STWM_NONE)
            fn(m, m->stw.sp, m->stw.exact, m->stw.regs, m->stw.nregs, arg);
        else
            fn(m, 0, true, NULL, 0, arg);
    }
    if (!stw.self)
        fn(NULL, stw.self_sp, true, stw.self_regs, stw.self_nregs, arg);
}

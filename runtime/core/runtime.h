/* runtime.h: the runtime's private core, shared by every runtime/ file.
 *
 * G, M and P as in Go (src/runtime/runtime2.go): a G is a goroutine, its
 * header living at the top of its own stack; an M is an OS thread with its
 * own scheduler context (g0, the thread's native stack); a P is a processor,
 * holding a local run queue, timers, a stack cache and an allocator cache.
 * An M must hold a P to run Gs.
 *
 * Invariants:
 *  - A G is in at most one run queue (a P's ring or runnext, or the global
 *    list), and only while GOC_GRUNNABLE.
 *  - A G is published (queued, or its wait lock released) only after the
 *    switch away from its stack has completed: the incoming side runs the
 *    M's post-switch action, so no two Ms ever run on one stack.
 *  - Never ready a G while holding a channel or semaphore lock that a timer
 *    callback may also take (doc/go-rules.md 1.6).
 *  - Code that ran before a yield point must re-read the current M/P after
 *    it: the G may have moved to another thread.
 */
#ifndef GOC_RUNTIME_H
#define GOC_RUNTIME_H

#include "goc/sched.h"
#include "goc/time.h"

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctx.h"
#include "lock.h"

#define GOC_CACHELINE 64
#define GOC_RUNQ_SIZE 256 /* Go: len(p.runq) */
#define GOC_MAX_PROCS 1024

typedef struct goc_g goc_g;
typedef struct goc_m goc_m;
typedef struct goc_p goc_p;
typedef struct goc_sudog goc_sudog;
typedef struct goc__timer goc__timer;
typedef struct goc__stack goc__stack;
typedef struct goc__frame goc__frame;
typedef struct goc__panic goc__panic;
typedef struct goc__labels goc__labels;

/* G states, numbered as Go's (doc/go-rules.md 7.1). */
enum {
    GOC_GIDLE = 0,
    GOC_GRUNNABLE = 1,
    GOC_GRUNNING = 2,
    GOC_GSYSCALL = 3,
    GOC_GWAITING = 4,
    GOC_GDEAD = 6,
};

/* P states (doc/go-rules.md 7.1). */
enum {
    GOC_PIDLE = 0,
    GOC_PRUNNING = 1,
    GOC_PSYSCALL = 2,
    GOC_PGCSTOP = 3, /* stopped for a stop-the-world (goc_gomaxprocs) */
    GOC_PDEAD = 4,   /* beyond nprocs: unused until a resize brings it back */
};

/* A timer, owned by its user (embedded in a G, a channel timer, a context).
 * While pending it sits in exactly one P's heap, under that heap's lock.
 * f runs on an M in scheduler context once `when` has passed: it must not
 * block; it may ready goroutines and do non-blocking channel sends. */
struct goc__timer {
    int64_t when;   /* monotonic ns; guarded by the owning heap's lock */
    int64_t period; /* > 0: re-armed at when + period after each run */
    void (*f)(void *arg, uintptr_t seq);
    void *arg;
    uintptr_t seq;
    goc_p *pp;   /* heap holding it, NULL when not pending */
    int32_t idx; /* index in pp's heap, -1 when not pending */
};

/* A goroutine waiting on a channel or semaphore; lives on the waiter's own
 * stack (no allocation per block). Fields as Go's sudog. */
struct goc_sudog {
    goc_g *g;
    goc_sudog *next, *prev; /* wait queue links */
    void *elem;             /* data element (may point into g's stack) */
    int64_t acquiretime, releasetime;
    uint32_t ticket; /* semaphore: treap priority; 1 = handed off */
    bool isselect;   /* in a select: wake only if g->selectdone CAS wins */
    bool success;    /* true: woken by a value, false: by close */
    goc_sudog *parent;   /* semaroot treap */
    goc_sudog *waitlink; /* g->waiting list, or semaphore same-address list */
    goc_sudog *waittail; /* semaphore: tail of the same-address list */
    void *c;             /* channel */
};

/* Deferred call record (see panic.c). */
typedef struct goc__defer {
    goc_fn fn;
    void *arg;
    struct goc__defer *link;
} goc__defer;

/* One goc_call body (or a goroutine's function): its deferred calls and the
 * landing point for a recovered panic. Lives on the stack of goc_call. */
struct goc__frame {
    goc__frame *link; /* enclosing frame */
    goc__defer *defers;
    jmp_buf land;
};

struct goc__panic {
    goc_panic_info info;
    goc__panic *link;  /* panic this one started during (printed together) */
    bool recovered;
    bool aborted;      /* a newer panic started inside one of its defers */
    goc__frame *frame; /* frame whose defers are running */
};

/* The fields a spawn writes, and those every switch reads, share the first
 * cache line: the spawning P writes a G its last run left in another P's
 * cache, so each further line would be one more transfer per spawn. The
 * others are reset by the exit path (goc__goexit0), on the P that has them. */
struct goc_g {
    goc__ctx ctx;      /* saved registers while not running */
    _Atomic uint32_t status;
    bool is_g0;
    int64_t id;
    goc_g *schedlink;  /* global run queue / gList link */
    goc_m *m;          /* M running it, NULL otherwise */
    goc__stack *stack; /* the stack this G lives on */
    goc_fn fn;
    void *arg;
    const char *waitreason; /* why it is GOC_GWAITING */
    int64_t waitsince;
    void *param;               /* wake-up argument (select: the winning sudog) */
    _Atomic uint32_t selectdone; /* select: 0 until a case wins */
    goc_sudog *waiting;        /* select: its sudogs, in lock order */
    goc__timer sleeptimer;     /* goc_sleep */
    goc__frame *frame;         /* innermost goc_call body */
    goc__panic *panic;         /* innermost active panic */
    goc__defer *deferpool;     /* free defer records */
    goc__frame baseframe;      /* frame of the goroutine's function */
    void *asan_fake_stack;     /* AddressSanitizer's fake stack while switched out */
    void *tsan_fiber;          /* ThreadSanitizer's fiber */
    /* profile labels (runtime/prof/labels.h), a counted reference or NULL:
     * set by newproc from the spawner's, changed only by the goroutine
     * itself, dropped by goexit0 */
    _Atomic(goc__labels *) labels;
};

/* What the collector's stop of the world (stw.c) keeps per M. */
enum {
    GOC_STWM_NONE = 0,            /* thread not started yet */
    GOC_STWM_RUNNING = 1,         /* may run goroutines: stopped by a signal */
    GOC_STWM_SYSCALL = 2,         /* between goc_syscall_enter and exit */
    GOC_STWM_SYSCALL_STOPPED = 3, /* the same, counted as stopped by the stopper */
};
#define GOC_STW_NREGS 48 /* x86-64: 15 GPRs and 16 XMM registers; aarch64: 31 */
typedef struct goc__stwm {
    _Atomic uint32_t state; /* GOC_STWM_*; SYSCALL <-> SYSCALL_STOPPED by CAS */
    _Atomic uint32_t acked; /* the last stop (stw.c's epoch) this M acknowledged */
    uint32_t signalled;     /* the last stop that signalled it (the stopper's) */
    int32_t tid;            /* kernel thread id, where the signal goes */
    /* While stopped: the stack pointer its stack is scanned from (0: none)
     * and the registers it held, written by the M itself (at
     * goc_syscall_enter, or in the signal handler) before it is counted. */
    uintptr_t sp;
    bool exact;             /* sp is a call's (goc_syscall_enter): no red zone below it */
    uint32_t nregs;
    uintptr_t regs[GOC_STW_NREGS];
} goc__stwm;

/* The scheduler's own context on an M, and what runs after a switch. */
typedef void (*goc__post_fn)(goc_m *m, goc_g *prev, void *arg);

/* A futex-backed one-shot event (Go's note). */
typedef struct goc__note {
    _Atomic uint32_t key;
} goc__note;

struct goc_m {
    goc_g g0;         /* scheduler context: the thread's own stack */
    goc_g *curg;      /* G running on this M, &g0 in the scheduler */
    goc_p *p;         /* attached P, NULL when none */
    goc_p *nextp;     /* P handed over by startm */
    goc_p *oldp;      /* P held before a syscall */
    int32_t id;
    bool spinning;    /* looking for work (counted in nmspinning) */
    bool blocked_poll; /* inside the blocking poll */
    goc_m *schedlink; /* idle M list */
    goc__note park;   /* idle sleep */
    uint64_t fastrand;
    goc__post_fn post; /* run by the incoming side after a switch */
    goc_g *post_prev;
    void *post_arg;
    int64_t syscallwhen;
    void *g0_stack_lo;   /* native stack bounds, for the sanitizers */
    size_t g0_stack_size;
    void *sigaltstack;
    goc_m *alllink;
    _Atomic int cpuclock; /* the thread's CPU-time clock (sysmon's hog check) */
    bool has_cpuclock;
    goc__stwm stw; /* the collector's view (stw.c) */
    /* the CPU profiler's timer on this thread (runtime/prof/cpu.c) */
    _Atomic int32_t prof_tid;  /* kernel thread id, 0 until the M has started */
    bool prof_armed;           /* [cpu.c's lock] prof_timer exists */
    void *prof_timer;          /* [cpu.c's lock] its timer_t */
};

/* Per-P allocator cache, defined by the allocator (runtime/mem). */
struct goc_mcache;

/* A list of free stacks (runtime/core/stack.c): a P's cache, and the
 * global pools. */
typedef struct goc__stackcache {
    goc__stack *list;
    int32_t n;
} goc__stackcache;

struct goc_p {
    int32_t id;
    _Atomic uint32_t status;
    goc_p *link; /* idle P list */
    goc_m *m;    /* M holding it */
    _Atomic uint32_t schedtick;
    _Atomic uint32_t syscalltick;
    _Atomic(goc_g *) runnext;
    _Atomic uint32_t runqhead; /* consumers: owner and thieves (CAS) */
    _Atomic uint32_t runqtail; /* producer: the owner only */
    goc_g *runq[GOC_RUNQ_SIZE];
    /* timers */
    goc__lock timerlock;          /* guards timers[] */
    goc__timer **timers;          /* 4-ary min-heap on when */
    int32_t ntimers, captimers;
    _Atomic int64_t timer0when;   /* earliest when, 0 if none */
    goc__stackcache stackcache;
    struct goc_mcache *mcache;
    int64_t goidcache, goidcacheend;
    /* sysmon's view of it */
    uint32_t sysmon_schedtick;
    uint64_t sysmon_nswitch;
    int64_t sysmon_cpu; /* CPU time of its M when sysmon last saw a switch */
    int64_t sysmon_schedwhen;
    uint32_t sysmon_syscalltick;
    int64_t sysmon_syscallwhen;
    int64_t hog_reported; /* id of the G last reported as a hog */
    _Atomic int64_t curg_id; /* id of the G running on it (sysmon's reports) */
    _Atomic bool preempt;    /* sysmon: serve the queue before runnext next time */
    /* counters, written by the owner, read by anyone */
    _Atomic uint64_t nswitch, nspawn, nsteal, nexit;
    _Atomic uint64_t nyield; /* yield points passed without a switch */
} __attribute__((aligned(GOC_CACHELINE)));

/* A list of Gs linked through schedlink. */
typedef struct goc__glist {
    goc_g *head, *tail;
    int64_t n;
} goc__glist;

/* The scheduler's global state (Go's schedt). */
typedef struct goc__sched {
    goc__lock lock; /* guards the fields below marked [lock] */
    goc__glist runq;                /* [lock] global run queue */
    _Atomic int64_t runqsize;       /* mirror of runq.n for lock-free peeks */
    _Atomic bool stopping;          /* a stop-the-world wants every P (sched.c) */
    int32_t stopwait;               /* [lock] Ps it still waits for */
    goc__note stopnote;             /* the stopper sleeps here until stopwait is 0 */
    goc_p *pidle;                   /* [lock] idle Ps */
    _Atomic int32_t npidle;
    _Atomic int32_t nmspinning;
    goc_m *midle;                   /* [lock] idle Ms */
    int32_t nmidle;                 /* [lock] */
    int32_t mcount;                 /* [lock] Ms started */
    int32_t nmsys;                  /* [lock] Ms in a blocking call without P */
    goc_m *allm;                    /* [lock] every M */
    _Atomic int64_t goidgen;
    _Atomic uint32_t polling;       /* an M is in the blocking poll */
    _Atomic int64_t pollUntil;      /* when that poll wakes by itself */
    _Atomic int32_t nprocs;  /* Ps in use: allp[0, nprocs); changed with the world stopped */
    int32_t nprocs_made;     /* P records made (allp[nprocs, nprocs_made) are dead) */
    goc_p **allp;            /* GOC_MAX_PROCS slots, filled in order, never freed */
    size_t stack_size;
    int64_t start_time;
    bool main_started;
    _Atomic bool exiting; /* main returned: no more hog reports */
    _Atomic uint64_t nsyscall, nretake, nhog;
    _Atomic uint64_t nspawn_nop; /* goroutines spawned without a P (goc__go_any) */
} goc__sched;

extern goc__sched goc__sched_;

/* ---- current G, M, P ----------------------------------------------- */

/* Opaque on purpose: a G may resume on another thread after any switch, so
 * the compiler must not keep a thread-local's address across one. */
goc_m *goc__getm(void);
goc_g *goc__getg(void);
goc_p *goc__getp(void);

/* The cache of the P this thread holds (NULL without a P, or before the P
 * made one), kept by the scheduler wherever an M gains or loses its P: the
 * allocator's fast path reads it in one instruction. Safe to read inline
 * only because the allocator never reaches a yield point. */
extern __thread struct goc_mcache *goc__tls_mcache __attribute__((tls_model("initial-exec")));

/* ---- parking and readying -------------------------------------------- */

/* Parks the current G in GOC_GWAITING with the given reason. Once its stack
 * has been left, unlockf(g, arg) runs on the M; if it returns false, the G
 * is made runnable again at once. */
void goc__park(bool (*unlockf)(goc_g *g, void *arg), void *arg, const char *reason);

/* Parks and releases l after the switch (Go's goparkunlock). */
void goc__park_unlock(goc__lock *l, const char *reason);

/* Makes a waiting G runnable: into the current P's runnext (next=true) or
 * its queue's tail, waking an idle P if one exists. Callable from any
 * thread, with or without a P. */
void goc__ready(goc_g *g, bool next);

/* Readies every G of the list (timers, netpoll). */
void goc__ready_list(goc__glist *l);

/* Starts an M on an idle P unless one is already looking for work (Go's
 * wakep). Callable from any thread. */
void goc__wakep(void);

/* Starts fn(copy of arg) from any context: a goroutine, a timer callback
 * in scheduler context, a thread outside the runtime (goc_go needs a P,
 * and may yield). Never yields. The id, or -EINVAL (argsize too large) or
 * -ENOMEM (no stack). */
int64_t goc__go_any(goc_fn fn, const void *arg, size_t argsize);

/* goc_go for the runtime's wrappers: wrapper(h) runs with h a copy of the
 * hdrsize bytes at hdr, followed at GOC__SPAWN_ARG_OFFSET(hdrsize) by a
 * copy of the caller's argsize bytes at arg (16-byte aligned). Returns as
 * goc_go. */
#define GOC__SPAWN_ARG_OFFSET(hdrsize) (((hdrsize) + 15) & ~(size_t)15)
int64_t goc__go_wrapped(goc_fn wrapper, const void *hdr, size_t hdrsize, const void *arg,
                        size_t argsize);

/* Puts the current G at the tail of its P's queue and runs another (Go's
 * goyield, used after a semaphore hand-off). */
void goc__yield_local(void);

/* Yields if sysmon asked the current P to (its goroutine ran > 10 ms): a
 * cheap check for operations that usually complete without blocking. */
void goc__preempt_check(void);

/* Whether the current P's local run queue is empty (canSpin). */
bool goc__runq_empty(goc_p *p);

/* Returns the idle P count and spinning M count (canSpin). */
int32_t goc__npidle(void);
int32_t goc__nmspinning(void);

/* ---- randomness ------------------------------------------------------- */

uint32_t goc__fastrand(void);
uint64_t goc__fastrand64(void);
/* Uniform in [0, n). */
uint32_t goc__fastrandn(uint32_t n);

/* ---- time and timers ---------------------------------------------------- */

int64_t goc__nanotime(void);

/* a + b, saturated at INT64_MAX and INT64_MIN: a time so far away that it
 * overflows is "never", as Go's when(d) makes it (TestOverflowSleep). Every
 * deadline computed from a caller's duration goes through here. */
static inline int64_t goc__time_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        r = b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* The deadline d from now, saturated (goc__time_add). */
static inline int64_t goc__deadline(int64_t d)
{
    return goc__time_add(goc__nanotime(), d);
}

/* Arms t at t->when on the current P (or P 0 off an M). t must not be
 * pending: whoever re-arms a timer that others may arm too does its
 * del-and-add under a lock of its own (netpoll's deadlines, timechan). */
void goc__timer_add(goc__timer *t);
/* Disarms t; returns true if it was pending (it will not run), false if it
 * already ran or is running. */
bool goc__timer_del(goc__timer *t);
/* Moves every timer of from's heap into to's (a P going away). */
void goc__timers_move(goc_p *from, goc_p *to);
/* Runs p's due timers; returns the earliest remaining when (0: none). */
int64_t goc__timers_run(goc_p *p, int64_t now);
/* Earliest pending timer over every P (0: none). */
int64_t goc__timers_next(void);
/* A timer at when is pending: wakes a poller that would sleep past it, or
 * starts an M when nobody polls. */
void goc__timer_wake(int64_t when);

/* ---- netpoll (runtime/net) ------------------------------------------ */

/* Blocks up to delay ns (-1: forever, 0: not at all) for I/O readiness and
 * adds the goroutines it makes runnable to out. */
void goc__netpoll(int64_t delay, goc__glist *out);
/* The network layer plugs its poller in here (runtime/net). */
typedef void (*goc__netpoll_fn)(int64_t delay, goc__glist *out);
typedef void (*goc__netpoll_break_fn)(void);
extern _Atomic goc__netpoll_fn goc__netpoll_hook;
extern _Atomic goc__netpoll_break_fn goc__netpoll_break_hook;
/* Wakes an M blocked in goc__netpoll. */
void goc__netpoll_break(void);
/* Goroutines (or outside threads) that I/O may still wake. */
int64_t goc__netpoll_waiters(void);

/* ---- the allocator (runtime/mem) --------------------------------------- */

/* The allocator sits above core (it reads the current P's cache), so core
 * reaches it only through this table, which runtime/mem fills from a
 * constructor, before main (mem/cache.c). Core allocates through
 * goc__alloc/goc__realloc/goc__free: M and P records, timer heaps, defer
 * records, signal stacks, the stack registry. A program that links no
 * part of runtime/mem (it never calls goc_malloc) leaves the table at its
 * defaults, libc's, which core then uses throughout: every core block is
 * allocated after main begins, so no block ever meets the other
 * allocator. */
typedef struct goc__mem_hooks {
    void *(*alloc)(size_t n);            /* goc_malloc */
    void *(*calloc)(size_t n, size_t size); /* goc_calloc */
    void *(*realloc)(void *p, size_t n); /* goc_realloc */
    void (*free)(void *p);               /* goc_free */
    void (*scavenge_tick)(int64_t now);  /* sysmon, each tick: return idle pages */
    void (*start)(void);                 /* goc_start: the collector reads its settings
                                            (GOGC...; GOC_GCSTRESS starts its cycles) */
} goc__mem_hooks;

/* Installs the allocator's hooks (runtime/mem, once, before main). */
void goc__mem_register(const goc__mem_hooks *h);
void *goc__alloc(size_t n);
void *goc__calloc(size_t n, size_t size);
void *goc__realloc(void *p, size_t n);
void goc__free(void *p);
/* sysmon: the allocator's periodic work, if an allocator is linked. */
void goc__mem_tick(int64_t now);
/* goc_start: the collector's start, if the allocator is linked. */
void goc__mem_start(void);

/* ---- stacks (stack.c) ------------------------------------------------- */

struct goc__stack {
    void *lo;         /* lowest usable byte */
    size_t size;      /* usable bytes */
    goc__stack *next; /* free list link */
    goc_g *g;         /* the G header at the top */
    bool guarded;     /* a guard page sits below lo */
    bool released;    /* free, and its pages below the header given back */
    bool single;      /* a mapping of its own (not the default size): unmapped at exit */
    union {
        struct {          /* single */
            void *map_base; /* the mapping, guard page included */
            size_t map_len;
        };
        struct {                 /* default size, first of a batch in the pool */
            goc__stack *batch_tail; /* the batch's last stack */
            size_t batch_n;         /* its stacks */
        };
    };
};

/* A stack of at least size bytes with its G header, from p's cache (p
 * NULL: from the global pool). */
goc_g *goc__stack_get(goc_p *p, size_t size);
/* Empties p's cache into the global pool (a P going away). */
void goc__stack_cache_flush(goc_p *p);
/* Returns g's stack to p's cache (p may be NULL). */
void goc__stack_put(goc_p *p, goc_g *g);
/* sysmon, each tick: once a second, gives back the pages of the stacks
 * idle in the global pool (all but its most recent POOL_KEEP). */
void goc__stack_scavenge_tick(int64_t now);
/* Calls fn for every G living on a mapped stack (dumps). */
void goc__stack_each_g(void (*fn)(goc_g *g, void *arg), void *arg);
/* While the world is stopped, for the collector: the number of slabs of
 * stacks (entries of the stack registry), and fn(stack) for every stack of
 * slab i whose header is laid out (live or free). */
int goc__stack_nslabs(void);
void goc__stack_slab_each(int i, void (*fn)(goc__stack *st, void *arg), void *arg);
/* The G whose stack (or guard page) holds addr, or NULL. */
goc_g *goc__stack_find(const void *addr, bool *in_guard);
size_t goc__stacks_mapped(void);
/* The global pool's free stacks, and how many of them hold no pages. */
void goc__stack_pool_counts(size_t *pooled, size_t *released);
/* ASan builds: lets LeakSanitizer see goroutine stacks at exit. */
void goc__lsan_init(void);

/* ---- switching (sched.c) ------------------------------------------------ */

/* Switches from the current G to `to` on M m, and after the switch the
 * incoming side runs post(m, from, arg). */
void goc__switch(goc_m *m, goc_g *from, goc_g *to, goc__post_fn post, void *arg);

/* ---- stopping the world for the collector (stw.c) -------------------------- */

/* An M's thread begins: records it for stw.c, and waits while the world is
 * stopped. Called by every M before it runs anything (m_init_g0). */
void goc__stw_thread_start(goc_m *m);
/* goc_syscall_enter, last step: the goroutine's callee-saved registers
 * (n of them) and its stack pointer at the call, as the assembly entry
 * (gcregs_*.S) saved them; from here the M counts as stopped there. */
void goc__stw_syscall_enter(goc_m *m, const uintptr_t *regs, uint32_t n, uintptr_t sp);
/* goc_syscall_exit, first step: waits while the world is stopped. */
void goc__stw_syscall_exit(goc_m *m);
/* The bodies of goc_syscall_enter and goc_syscall_enter_block (sched.c),
 * called by their assembly entries with the registers saved. */
void goc__syscall_enter(const uintptr_t *regs, uintptr_t sp);
void goc__syscall_enter_block(const uintptr_t *regs, uintptr_t sp);
#if defined(__x86_64__)
#define GOC_SYSCALL_NREGS 6 /* what gcregs_*.S saves: see there */
#else
#define GOC_SYSCALL_NREGS 18
#endif

/* Installs the stop signal's handler (idempotent; before the first stop). */
void goc__stw_init(void);
/* Begins a stop: from here Ms that start wait at their start. sp, regs: the
 * stopper's own goroutine is scanned from sp, with these registers (its
 * frame at sp must stay live until goc__stw_start). Takes sched.lock: call
 * it before taking any lock a stopped thread could be waiting for under
 * sched.lock. */
void goc__stw_prepare(uintptr_t sp, const uintptr_t *regs, uint32_t nregs);
/* Stops every other M (see stw.c); returns when all are stopped. Must be
 * called from GOC_STW_FN code, and everything until goc__stw_start too. */
void goc__stw_stop(void);
/* Restarts the world. */
void goc__stw_start(void);
/* While stopped: calls fn for every M (m, the stack pointer to scan its
 * current stack from, or 0; exact: sp is where a call was made, else the
 * 128-byte red zone below it may hold data; and its registers), and once
 * with m NULL for a stopper that is not an M. */
void goc__stw_each(void (*fn)(goc_m *m, uintptr_t sp, bool exact, const uintptr_t *regs,
                              uint32_t nregs, void *arg),
                   void *arg);

/* ---- profiles (runtime/prof) ------------------------------------------------ */

/* A new goroutine g starts with the labels of its spawner (the current
 * goroutine, if any): newproc. */
void goc__labels_inherit(goc_g *g);
/* g ends: drops its labels (goexit0). */
void goc__labels_exit(goc_g *g);
/* An M's thread has started (m_init_g0): the CPU profiler arms its timer
 * when a profile is running. */
void goc__cpuprof_m_start(goc_m *m);

/* ---- misc ---------------------------------------------------------------- */

void goc__gstatus_name(uint32_t s, const char **out);
void goc__signals_init(void);
/* The M's signal stack: allocated with the M (allocm), installed by its
 * thread (none when the allocation failed). */
void goc__sigaltstack_alloc(goc_m *m);
void goc__sigaltstack_init(goc_m *m);
void goc__sysmon_start(void);
void goc__dump_all(int fd, goc_g *current);
/* The same dump, with the calling goroutine as the current one, written
 * through write(arg, ...) in pieces; returns its first error (pprof.c). */
int goc__dump_all_to(int (*write)(void *arg, const void *buf, size_t len), void *arg);
_Noreturn void goc__throw(const char *msg);
void goc__frame_run_defers(goc_g *g, goc__frame *f);
void goc__defer_pool_free(goc_g *g);
_Noreturn void goc__stack_overflow(goc_g *g);
/* The exit path of a goroutine (sched.c), after its defers ran. */
_Noreturn void goc__goexit0(void);
/* sysmon (sched.c): hands p, held by an M in a C call since the last tick,
 * to another M when there is work for it; true when it did. */
bool goc__retake_syscall(goc_p *p);
/* sysmon (sched.c), when a timer is overdue: wakes the poller, or an idle
 * P when nobody polls. */
void goc__wake_idle(void);
/* sysmon (poll.c): polls the network when nobody has for 10 ms. */
void goc__netpoll_sysmon(int64_t now);

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GOC_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define GOC_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GOC_ASAN)
#define GOC_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GOC_TSAN)
#define GOC_TSAN 1
#endif

/* Code that runs while the world is stopped (stw.c, the collector's mark)
 * must not enter ThreadSanitizer's runtime: a stopped thread may be inside
 * it, holding its locks. Such code is left uninstrumented; what it reads and
 * writes is invisible to TSan, which is safe because every thread that
 * could race with it is stopped (runtime/mem/gc.h explains each use). */
#if GOC_TSAN && defined(__clang__)
/* (in a section of their own, which tests/runtime/stw_calls_test.py reads;
 * never inlined: clang 14 inlines such a function into an instrumented
 * caller, instrumenting it there, as TSan's report of a race in
 * goc__gc_poison called from the background sweeper showed) */
#define GOC_STW_FN                                                                         \
    __attribute__((disable_sanitizer_instrumentation, noinline, section("goc_stw_text")))
#else
#define GOC_STW_FN
#endif
/* Code that reads memory it does not own (the collector's scanner: stacks
 * below their frames' red zones, freed objects, globals' red zones):
 * AddressSanitizer would report those reads, which are by design. */
#if GOC_ASAN
#define GOC_SCAN_FN GOC_STW_FN __attribute__((no_sanitize("address")))
#else
#define GOC_SCAN_FN GOC_STW_FN
#endif

#define GOC_LIKELY(x) __builtin_expect(!!(x), 1)
#define GOC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Copies n bytes of a caller-sized value (a goroutine's argument block, a
 * channel element): the 8-byte case, a pointer or an int64, is done inline,
 * without the libc call a variable size costs; n == 0 touches nothing
 * (zero-size elements may have no buffer). */
static inline void goc__copy(void *dst, const void *src, size_t n)
{
    if (n == 8)
        memcpy(dst, src, 8);
    else if (n != 0)
        memcpy(dst, src, n);
}

#endif

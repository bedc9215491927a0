/* sched_test.c: the runtime core: spawning, yielding, sleeping, stealing,
 * blocking calls, a million goroutines, defer/panic/recover, and the fatal
 * reports (stack overflow, unrecovered panic, deadlock, SIGQUIT) checked in
 * child processes. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/sched.h>

#include <errno.h>
#include <fenv.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "latch.h"
#include "runtime.h"

/* ---- a latch and a gate on the runtime's park/ready --------------------- */


/* Parks any number of goroutines until gate_open. */
typedef struct gate {
    goc__lock l;
    goc_g **gs;
    int64_t n, cap;
    bool open;
} gate;

static void gate_wait(gate *gt)
{
    goc__lock_acquire(&gt->l);
    if (gt->open) {
        goc__lock_release(&gt->l);
        return;
    }
    if (gt->n == gt->cap) {
        gt->cap = gt->cap ? gt->cap * 2 : 1024;
        gt->gs = realloc(gt->gs, (size_t)gt->cap * sizeof *gt->gs);
    }
    gt->gs[gt->n++] = goc__getg();
    goc__park_unlock(&gt->l, "gate");
}

static void gate_open(gate *gt)
{
    goc__lock_acquire(&gt->l);
    gt->open = true;
    goc__lock_release(&gt->l);
    for (int64_t i = 0; i < gt->n; i++)
        goc__ready(gt->gs[i], false);
    free(gt->gs);
    gt->gs = NULL;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- spawning and ids --------------------------------------------------------- */

typedef struct argblk {
    int a;
    char text[40];
    latch *la;
    int64_t *id_out;
} argblk;

static void check_args(void *p)
{
    argblk *b = p;
    if (b->a == 42 && strcmp(b->text, "copied onto the stack") == 0)
        *b->id_out = goc_id();
    latch_done(b->la);
}

static void test_spawn_copies_args(void)
{
    latch la = {.count = 1};
    int64_t seen = 0;
    argblk b = {.a = 42, .la = &la, .id_out = &seen};
    strcpy(b.text, "copied onto the stack");
    int64_t id = goc_go(check_args, &b, sizeof b);
    b.a = 0; /* the goroutine has its own copy */
    strcpy(b.text, "changed");
    CHECK(id > 1);
    latch_wait(&la);
    CHECK_EQ_INT(seen, id);
    CHECK_EQ_INT(goc_id() > 0, 1);
}

static void test_spawn_rejects_huge_args(void)
{
    static char big[1 << 20];
    CHECK_EQ_INT(goc_go(check_args, big, sizeof big), -EINVAL);
}

static void test_main_is_goroutine_1(void)
{
    CHECK_EQ_INT(goc_id(), 1);
}

/* ---- yield ------------------------------------------------------------------- */

typedef struct pp_arg {
    _Atomic int *turn;
    int me, rounds;
    latch *la;
    _Atomic int *errors;
} pp_arg;

static void pingpong(void *p)
{
    pp_arg *a = p;
    for (int i = 0; i < a->rounds; i++) {
        int spins = 0;
        while (atomic_load(a->turn) != a->me) {
            goc_yield();
            if (++spins > 10000000) {
                atomic_fetch_add(a->errors, 1);
                break;
            }
        }
        atomic_store(a->turn, 1 - a->me);
    }
    latch_done(a->la);
}

static void test_yield_alternates(void)
{
    _Atomic int turn = 0, errors = 0;
    latch la = {.count = 2};
    pp_arg a = {&turn, 0, 10000, &la, &errors}, b = {&turn, 1, 10000, &la, &errors};
    goc_go_copy(pingpong, &a);
    goc_go_copy(pingpong, &b);
    latch_wait(&la);
    CHECK_EQ_INT(atomic_load(&errors), 0);
}

/* ---- sleep and timers -------------------------------------------------------- */

static void test_sleep_duration(void)
{
    int64_t t0 = goc_nanotime();
    goc_sleep(20 * 1000000);
    int64_t dt = goc_nanotime() - t0;
    CHECK_MSG(dt >= 20 * 1000000, "slept only %lld ns", (long long)dt);
    CHECK_MSG(dt < 2000 * 1000000LL, "slept %lld ns", (long long)dt);
}

typedef struct sleeper_arg {
    latch *la;
    int64_t ns;
    _Atomic int *early;
} sleeper_arg;

static void sleeper(void *p)
{
    sleeper_arg *a = p;
    int64_t t0 = goc_nanotime();
    goc_sleep(a->ns);
    if (goc_nanotime() - t0 < a->ns)
        atomic_fetch_add(a->early, 1);
    latch_done(a->la);
}

static void test_100k_sleepers(void)
{
    int n = TEST_SCALE(100000);
    _Atomic int early = 0;
    latch la = {.count = n};
    sleeper_arg a = {&la, 1000000, &early};
    for (int i = 0; i < n; i++)
        CHECK(goc_go_copy(sleeper, &a) > 0);
    latch_wait(&la);
    CHECK_EQ_INT(atomic_load(&early), 0);
}

static _Atomic int so_order[8], so_pos;
static int64_t so_step; /* the spacing of the deadlines */

static void so_fn(void *p)
{
    struct {
        int idx;
        latch *la;
    } *a = p;
    goc_sleep((int64_t)(a->idx + 1) * so_step);
    atomic_store(&so_order[atomic_fetch_add(&so_pos, 1)], a->idx);
    latch_done(a->la);
}

/* Eight sleepers, deadlines so_step apart: whether they woke in order. */
static bool sleepers_wake_in_order(void)
{
    latch la = {.count = 8};
    struct {
        int idx;
        latch *la;
    } a;
    atomic_store(&so_pos, 0);
    for (int i = 7; i >= 0; i--) {
        a.idx = i;
        a.la = &la;
        goc_go(so_fn, &a, sizeof a);
    }
    latch_wait(&la);
    for (int i = 0; i < 8; i++)
        if (atomic_load(&so_order[i]) != i)
            return false;
    return true;
}

/* Deadlines that pass together (a thread stalled longer than their
 * spacing, on a loaded machine) may wake in either order, as in Go: so, as
 * Go's TestAfterQueuing does, a wider spacing is tried before failing. */
static void test_sleep_wakes_in_deadline_order(void)
{
    static const int64_t steps[] = {15, 50, 150};
    for (int i = 0; i < 3; i++) {
        so_step = steps[i] * 1000000;
        if (sleepers_wake_in_order())
            return;
        printf("# out of order %lld ms apart\n", (long long)steps[i]);
    }
    CHECK_MSG(false, "sleepers 150 ms apart woke out of order");
}

/* ---- a million goroutines ------------------------------------------------------ */

static void empty_fn(void *p)
{
    latch_done(*(latch **)p);
}

static void test_million_spawned_and_joined(void)
{
    int n = TEST_SCALE(1000000);
    latch la = {.count = n};
    latch *lp = &la;
    int64_t t0 = goc_nanotime();
    for (int i = 0; i < n; i++)
        CHECK(goc_go(empty_fn, &lp, sizeof lp) > 0);
    latch_wait(&la);
    printf("# %d goroutines spawned and joined in %.1f ms\n", n,
           (double)(goc_nanotime() - t0) / 1e6);
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    CHECK(st.spawns >= (uint64_t)n);
}

/* Touches about n + 1 KiB of the stack, a frame per KiB, and notes a byte
 * of the deepest frame in *deepest (unless NULL). */
static __attribute__((noinline)) void touch_deep(int n, volatile uintptr_t *deepest)
{
    volatile char buf[1024];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)0xab;
    if (n > 0)
        touch_deep(n - 1, deepest);
    else if (deepest)
        *deepest = (uintptr_t)&buf[512];
    buf[0] = 0; /* no tail call: every frame stays while the deepest runs */
}

typedef struct park_arg {
    gate *gt;
    latch *parked, *done;
    int touch_kib; /* stack to touch before parking (0: none) */
} park_arg;

static void parker(void *p)
{
    park_arg *a = p;
    if (a->touch_kib)
        touch_deep(a->touch_kib - 1, NULL);
    latch_done(a->parked);
    gate_wait(a->gt);
    latch_done(a->done);
}

static void test_million_parked(void)
{
    int n = TEST_SCALE(1000000);
    gate gt = {0};
    latch parked = {.count = n}, done = {.count = n};
    park_arg a = {&gt, &parked, &done, 0};
    long before = rss_kib();
    for (int i = 0; i < n; i++)
        CHECK(goc_go_copy(parker, &a) > 0);
    latch_wait(&parked);
    long after = rss_kib();
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    CHECK(st.goroutines >= n);
    printf("# %d goroutines parked: %.0f bytes of RSS each, %zu stacks mapped\n", n,
           (double)(after - before) * 1024.0 / n, st.stacks_mapped);
    gate_open(&gt);
    latch_wait(&done);
}

/* ---- work spreads over every P ---------------------------------------------------- */

typedef struct spread_arg {
    _Atomic int *seen; /* per P */
    latch *la;
} spread_arg;

static void spin_work(void *p)
{
    spread_arg *a = p;
    int64_t t0 = goc_nanotime();
    while (goc_nanotime() - t0 < 2000000) {
    } /* 2 ms of work, no yield */
    atomic_fetch_add(&a->seen[goc__getp()->id], 1);
    latch_done(a->la);
}

static void test_work_is_stolen_by_every_p(void)
{
    int procs = goc_procs();
    if (procs < 2) {
        printf("# one P only: nothing to steal\n");
        return;
    }
    _Atomic int seen[GOC_MAX_PROCS] = {0};
    int n = 64;
    latch la = {.count = n};
    spread_arg a = {seen, &la};
    goc_sched_stats s0, s1;
    goc_sched_stats_read(&s0);
    for (int i = 0; i < n; i++)
        goc_go_copy(spin_work, &a); /* all queued on this P */
    latch_wait(&la);
    goc_sched_stats_read(&s1);
    for (int i = 0; i < procs; i++)
        CHECK_MSG(atomic_load(&seen[i]) > 0, "P %d ran nothing", i);
    CHECK(s1.steals > s0.steals);
}

/* ---- blocking C calls --------------------------------------------------------------- */

typedef struct blk_arg {
    _Atomic int *counter;
    _Atomic int *stop;
    latch *la;
} blk_arg;

static void counter_fn(void *p)
{
    blk_arg *a = p;
    while (!atomic_load(a->stop)) {
        atomic_fetch_add(a->counter, 1);
        goc_sleep(1000000);
    }
    latch_done(a->la);
}

static void test_blocking_call_does_not_stop_its_p(void)
{
    /* Run with one P in a child so the blocked call holds the only P. */
    static const char *env[] = {"GOMAXPROCS=1", NULL};
    test_child c;
    CHECK(test_run_child("child_blocking_call", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "child: %s", c.out);
    CHECK_STR_CONTAINS(c.out, "progress during the call");
}

static void child_blocking_call(void)
{
    _Atomic int counter = 0, stop = 0;
    latch la = {.count = 1};
    blk_arg a = {&counter, &stop, &la};
    goc_go_copy(counter_fn, &a);
    goc_sleep(5000000);
    int before = atomic_load(&counter);
    goc_syscall_enter();
    struct timespec ts = {0, 200 * 1000000};
    nanosleep(&ts, NULL);
    goc_syscall_exit();
    int during = atomic_load(&counter) - before;
    atomic_store(&stop, 1);
    latch_wait(&la);
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    printf("procs=%d retakes=%llu ticks during the call=%d\n", st.procs,
           (unsigned long long)st.retakes, during);
    if (st.procs == 1 && during >= 20 && st.retakes >= 1)
        printf("progress during the call\n");
}

static void test_syscall_enter_block_hands_off(void)
{
    static const char *env[] = {"GOMAXPROCS=1", NULL};
    test_child c;
    CHECK(test_run_child("child_syscall_block", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "child: %s", c.out);
    CHECK_STR_CONTAINS(c.out, "progress during the call");
}

static void child_syscall_block(void)
{
    _Atomic int counter = 0, stop = 0;
    latch la = {.count = 1};
    blk_arg a = {&counter, &stop, &la};
    goc_go_copy(counter_fn, &a);
    goc_sleep(5000000);
    int before = atomic_load(&counter);
    goc_syscall_enter_block();
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    goc_syscall_exit();
    int during = atomic_load(&counter) - before;
    atomic_store(&stop, 1);
    latch_wait(&la);
    if (during >= 10)
        printf("progress during the call\n");
}

/* ---- migration: the current G is re-read after every switch --------------------- */

static void migrate_fn(void *p)
{
    spread_arg *a = p;
    int64_t me = goc_id();
    for (int i = 0; i < 2000; i++) {
        goc_yield();
        if (goc_id() != me || goc__getg()->id != me)
            atomic_fetch_add(&a->seen[0], 1);
    }
    latch_done(a->la);
}

static void test_identity_survives_migration(void)
{
    _Atomic int bad[1] = {0};
    latch la = {.count = 16};
    spread_arg a = {bad, &la};
    for (int i = 0; i < 16; i++)
        goc_go_copy(migrate_fn, &a);
    latch_wait(&la);
    CHECK_EQ_INT(atomic_load(&bad[0]), 0);
}

/* ---- floating-point control words belong to the goroutine ---------------- */

typedef struct fp_arg {
    int mode;
    _Atomic int *bad;
    latch *la;
} fp_arg;

static void fp_worker(void *p)
{
    fp_arg *a = p;
    fesetround(a->mode);
    for (int i = 0; i < 2000; i++) {
        if (i % 50 == 49)
            goc_sleep(1000); /* a park, and maybe a trip through g0 */
        else
            goc_yield();
        if (fegetround() != a->mode) /* glibc reads the x87 control word */
            atomic_fetch_add(a->bad, 1);
#if defined(__x86_64__)
        /* and MXCSR's rounding field (bits 13-14: the x87 one shifted by 3) */
        if ((_mm_getcsr() & 0x6000u) != (unsigned)a->mode << 3)
            atomic_fetch_add(a->bad, 1);
#endif
    }
    fesetround(FE_TONEAREST);
    latch_done(a->la);
}

static void test_fp_rounding_mode_is_per_goroutine(void)
{
    _Atomic int bad = 0;
    latch la = {.count = 4};
    int modes[4] = {FE_UPWARD, FE_TONEAREST, FE_DOWNWARD, FE_TOWARDZERO};
    for (int i = 0; i < 4; i++) {
        fp_arg a = {modes[i], &bad, &la};
        goc_go_copy(fp_worker, &a);
    }
    latch_wait(&la);
    CHECK_EQ_INT(atomic_load(&bad), 0);
    CHECK_EQ_INT(fegetround(), FE_TONEAREST);
}

/* ---- one P: a yield swaps the goroutine for the queue's head ---------------
 * With one P the yield queues the goroutine before its registers are saved
 * (goc__runqrotate: no other P can take it); run in a child with
 * GOMAXPROCS=1 so that path is the one taken. */

enum { ROT_G = 4, ROT_ROUNDS = 2000 };

typedef struct rot_arg {
    int idx;
    int *log;
    _Atomic int *n;
    latch *la;
} rot_arg;

static void rot_fn(void *p)
{
    rot_arg *a = p;
    for (int i = 0; i < ROT_ROUNDS; i++) {
        a->log[atomic_fetch_add(a->n, 1)] = a->idx;
        goc_yield();
    }
    latch_done(a->la);
}

/* Round robin: once all have run, every turn repeats the first. */
static void check_round_robin(void)
{
    static int log[ROT_G * ROT_ROUNDS];
    _Atomic int n = 0;
    latch la = {.count = ROT_G};
    goc_sched_stats s0, s1;
    goc_sched_stats_read(&s0);
    for (int i = 0; i < ROT_G; i++) {
        rot_arg a = {i, log, &n, &la};
        goc_go_copy(rot_fn, &a);
    }
    latch_wait(&la);
    goc_sched_stats_read(&s1);
    CHECK_EQ_INT(atomic_load(&n), ROT_G * ROT_ROUNDS);
    int seen = 0, out_of_turn = 0;
    for (int i = 0; i < ROT_G; i++)
        seen |= 1 << log[i];
    for (int i = ROT_G; i < ROT_G * ROT_ROUNDS; i++)
        out_of_turn += log[i] != log[i - ROT_G];
    CHECK_EQ_INT(seen, (1 << ROT_G) - 1);
    CHECK_EQ_INT(out_of_turn, 0);
    CHECK(s1.switches - s0.switches >= (uint64_t)ROT_G * ROT_ROUNDS);
}

static void sleep_long(void *p)
{
    (void)p;
    goc_sleep(60 * 1000000000LL); /* outlives the child */
}

static void child_one_p(void)
{
    CHECK_EQ_INT(goc_procs(), 1);
    check_round_robin();
    /* the same with a timer pending (not due): a sleeping goroutine */
    goc_go(sleep_long, NULL, 0);
    goc_sleep(1000000);
    check_round_robin();
    /* and each goroutine's floating-point control words stay its own, over
     * yields that rotate and sleeps that take the long way */
    test_fp_rounding_mode_is_per_goroutine();
    printf("one P: %d yields in turn, twice\n", ROT_G * ROT_ROUNDS);
}

static void test_one_p_yield_rotates(void)
{
    static const char *env[] = {"GOMAXPROCS=1", NULL};
    test_child c;
    CHECK(test_run_child("child_one_p", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "child: %s", c.out);
    CHECK_STR_CONTAINS(c.out, "yields in turn");
}

/* ---- defer, panic, recover ------------------------------------------------------ */

static char trace[64];
static void note(void *p)
{
    strcat(trace, (const char *)p);
}

static void body_defers(void *p)
{
    (void)p;
    goc_defer(note, "1");
    goc_defer(note, "2");
    goc_defer(note, "3");
    strcat(trace, "b");
}

static void test_defer_runs_last_first(void)
{
    trace[0] = 0;
    CHECK_EQ_INT(goc_call(body_defers, NULL), false);
    CHECK_EQ_STR(trace, "b321");
}

static const char *recovered_msg;
static void do_recover(void *p)
{
    (void)p;
    const goc_panic_info *pi = goc_recover();
    recovered_msg = pi ? pi->msg : NULL;
    strcat(trace, "r");
}

static void body_panics(void *p)
{
    (void)p;
    goc_defer(note, "a");
    goc_defer(do_recover, NULL);
    goc_defer(note, "c");
    strcat(trace, "x");
    goc_panic("boom");
    strcat(trace, "never");
}

static void test_recover_stops_panic(void)
{
    trace[0] = 0;
    recovered_msg = NULL;
    CHECK_EQ_INT(goc_call(body_panics, NULL), true);
    CHECK_EQ_STR(recovered_msg, "boom");
    CHECK_EQ_STR(trace, "xcra");
}

static void inner_panics(void *p)
{
    (void)p;
    goc_defer(note, "i");
    goc_panic("deep");
}

static void outer_recovers(void *p)
{
    (void)p;
    goc_defer(do_recover, NULL);
    goc_defer(note, "o");
    goc_call(inner_panics, NULL);
    strcat(trace, "never");
}

static void test_panic_unwinds_nested_frames(void)
{
    trace[0] = 0;
    recovered_msg = NULL;
    CHECK_EQ_INT(goc_call(outer_recovers, NULL), true);
    CHECK_EQ_STR(trace, "ior");
    CHECK_EQ_STR(recovered_msg, "deep");
}

static void test_recover_outside_panic_is_null(void)
{
    CHECK(goc_recover() == NULL);
}

static void nested_recover_fn(void *p)
{
    (void)p;
    /* recover not called directly by the deferred function: nil */
    recovered_msg = goc_recover() ? "wrong" : "nil";
}

static void indirect(void *p)
{
    (void)p;
    goc_call(nested_recover_fn, NULL);
}

static void body_indirect(void *p)
{
    (void)p;
    goc_defer(do_recover, NULL);
    goc_defer(indirect, NULL);
    goc_panic("x");
}

static void test_recover_only_in_direct_defer(void)
{
    trace[0] = 0;
    CHECK_EQ_INT(goc_call(body_indirect, NULL), true);
    /* the indirect call saw nil, then do_recover recovered "x" */
    CHECK_EQ_STR(recovered_msg, "x");
}

static void panic_in_defer(void *p)
{
    (void)p;
    goc_panic("second");
}

static void body_double(void *p)
{
    (void)p;
    goc_defer(do_recover, NULL);
    goc_defer(panic_in_defer, NULL);
    goc_panic("first");
}

static void test_panic_during_panic_recovered(void)
{
    recovered_msg = NULL;
    CHECK_EQ_INT(goc_call(body_double, NULL), true);
    CHECK_EQ_STR(recovered_msg, "second");
}

static _Atomic int exit_defer_ran;
static void mark_exit(void *p)
{
    (void)p;
    atomic_store(&exit_defer_ran, 1);
}

/* Deferred calls run last first: latch_done is deferred first so that it
 * runs last, after mark_exit (the other order woke the test before the
 * mark, a race that showed under load). */
static void exits_early(void *p)
{
    latch *la = *(latch **)p;
    goc_defer((goc_fn)latch_done, la);
    goc_defer(mark_exit, NULL);
    goc_exit();
    atomic_store(&exit_defer_ran, 2);
}

static void test_exit_runs_defers(void)
{
    latch la = {.count = 1};
    latch *lp = &la;
    goc_go(exits_early, &lp, sizeof lp);
    latch_wait(&la);
    CHECK_EQ_INT(atomic_load(&exit_defer_ran), 1);
}

/* ---- fatal reports, in children ------------------------------------------------- */

static volatile int depth_limit = 1 << 30;
static int deep(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    if (n >= depth_limit)
        return 0;
    return deep(n + 1) + pad[0];
}

static void overflow_fn(void *p)
{
    (void)p;
    deep(0);
}

/* ---- goc_stack_trim: deep calls' pages go back ---------------------------- */


typedef struct trim_result {
    char before, after;  /* the deepest frame's byte around the trim */
    int regrown;         /* the stack was usable again afterwards */
    latch done;
} trim_result;

/* The frames of touch_deep are gone but their bytes stay in the stack's
 * pages, far below the calls made here; the trim gives those pages back,
 * so they read as zero (anonymous memory) afterwards. */
static void trim_fn(void *arg)
{
    trim_result *r = *(trim_result **)arg;
    volatile uintptr_t deepest;
    touch_deep(24, &deepest);
    r->before = *(volatile char *)deepest;
    goc_stack_trim();
    r->after = *(volatile char *)deepest;
    touch_deep(24, NULL); /* the pages come back when needed */
    r->regrown = 1;
    latch_done(&r->done);
}

static void test_stack_trim_releases_deep_pages(void)
{
    trim_result r = {.done = {.count = 1}};
    trim_result *rp = &r;
    goc_go(trim_fn, &rp, sizeof rp);
    latch_wait(&r.done);
    CHECK_EQ_INT((unsigned char)r.before, 0xab);
    CHECK_EQ_INT(r.after, 0);
    CHECK(r.regrown);
}

/* In a child, so that what earlier cases left resident (a million
 * stacks' headers, say) does not blur the figures. */
static void child_idle_stacks(void)
{
    /* Once they end, their stacks sit in the Ps' caches (at most 128 each)
     * and the global pool; within a few of sysmon's once-a-second releases
     * every pooled stack but the most recent 32 has given its pages back,
     * and most of what the goroutines touched is no longer resident. Not
     * scaled down under the sanitizers: fewer would all fit the caches. */
    const int n = 2000;
    gate gt = {0};
    latch touched = {.count = n}, done = {.count = n};
    park_arg a = {&gt, &touched, &done, 25}; /* all alive at once, 25 KiB each */
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    int64_t live = st.goroutines;
    long base = rss_kib();
    for (int i = 0; i < n; i++)
        CHECK(goc_go_copy(parker, &a) > 0);
    latch_wait(&touched);
    long peak = rss_kib();
    gate_open(&gt);
    latch_wait(&done);
    for (int i = 0; i < 50; i++) { /* they exit, then the release comes */
        goc_sched_stats_read(&st);
        if (st.goroutines == live && st.stacks_pooled - st.stacks_released <= 64)
            break;
        goc_sleep(100 * 1000000LL);
    }
    long grown = peak - base, now = rss_kib();
    printf("# %d goroutines touched their stacks: RSS %ld KiB before, %ld with them, %ld after "
           "they ended; %zu stacks pooled, %zu of them released\n",
           n, base, peak, now, st.stacks_pooled, st.stacks_released);
    CHECK_EQ_INT(st.goroutines, live);
    CHECK(st.stacks_pooled - st.stacks_released <= 64);
#if defined(GOC_SANITIZE_THREAD) /* its own shadow of the stacks dominates the RSS */
    (void)grown;
#else
    CHECK(grown >= n * 20); /* KiB: the pages were touched */
    CHECK(now <= base + grown / 3);
#endif
}

static void test_idle_stacks_give_pages_back(void)
{
    test_child c;
    CHECK(test_run_child("child_idle_stacks", NULL, &c) == 0);
    /* its output as TAP diagnostics: its stderr (a hog report under a
     * sanitizer's load) would otherwise be stray lines in our TAP */
    for (char *line = c.out, *end; *line; line = end) {
        end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        printf("%s%.*s%s", line[0] == '#' ? "" : "# ", (int)(end - line), line,
               end[-1] == '\n' ? "" : "\n");
    }
    CHECK_MSG(c.exited && c.status == 0, "exited=%d status=%d", c.exited, c.status);
}

static void child_stack_overflow(void)
{
    latch la = {.count = 1};
    goc_go(overflow_fn, NULL, 0);
    latch_wait(&la);
}

static void test_stack_overflow_reported(void)
{
    test_child c;
    CHECK(test_run_child("child_stack_overflow", NULL, &c) == 0);
    CHECK_MSG(!c.exited && c.status == SIGABRT, "exited=%d status=%d: %s", c.exited, c.status,
              c.out);
    CHECK_STR_CONTAINS(c.out, "fatal error: stack overflow");
    CHECK_STR_CONTAINS(c.out, "runtime: goroutine 2 stack exceeds its");
    CHECK_STR_CONTAINS(c.out, "-byte stack");
    CHECK_STR_CONTAINS(c.out, "goroutine 2 [running]:\ndeep"); /* its frames, from the fault */
    CHECK_MSG(strstr(c.out, "\noverflow_fn+0x") || strstr(c.out, "...additional frames elided..."),
              "%s", c.out); /* down to its function, unless there are too many */
}

static void child_panic(void)
{
    goc_panic("something broke");
}

static void test_unrecovered_panic_aborts_with_dump(void)
{
    test_child c;
    CHECK(test_run_child("child_panic", NULL, &c) == 0);
    CHECK_MSG(!c.exited && c.status == SIGABRT, "exited=%d status=%d: %s", c.exited, c.status,
              c.out);
    CHECK_STR_CONTAINS(c.out, "panic: something broke");
    CHECK_STR_CONTAINS(c.out, "goroutine 1 [");
    CHECK_STR_CONTAINS(c.out, "\ngoc_panic+0x"); /* the functions on its stack */
    CHECK_STR_CONTAINS(c.out, "\nchild_panic+0x");
}

static void blocked_forever(void *p)
{
    gate *gt = *(gate **)p;
    gate_wait(gt);
}

static void child_deadlock(void)
{
    static gate gt;
    gate *gp = &gt;
    goc_go(blocked_forever, &gp, sizeof gp);
    goc_sleep(1000000);
    latch la = {.count = 1};
    latch_wait(&la); /* nobody will ever count it down */
}

static void test_deadlock_detected(void)
{
    test_child c;
    CHECK(test_run_child("child_deadlock", NULL, &c) == 0);
    CHECK_MSG(c.exited && c.status == 2, "exited=%d status=%d: %s", c.exited, c.status, c.out);
    CHECK_STR_CONTAINS(c.out, "fatal error: all goroutines are asleep - deadlock!");
    CHECK_STR_CONTAINS(c.out, "goroutine 1 [latch]:");
    CHECK_STR_CONTAINS(c.out, "[gate]:");
    CHECK_STR_CONTAINS(c.out, "\nchild_deadlock+0x"); /* each one's functions */
    CHECK_STR_CONTAINS(c.out, "\nblocked_forever+0x");
}

static void child_sigquit(void)
{
    static gate gt;
    gate *gp = &gt;
    goc_go(blocked_forever, &gp, sizeof gp);
    goc_sleep(1000000);
    raise(SIGQUIT); /* delivered to this thread, an M */
    for (int i = 0; i < 1000; i++)
        goc_sleep(1000000);
}

static void test_sigquit_dumps_goroutines(void)
{
    test_child c;
    CHECK(test_run_child("child_sigquit", NULL, &c) == 0);
    CHECK_MSG(c.exited && c.status == 2, "exited=%d status=%d: %s", c.exited, c.status, c.out);
    CHECK_STR_CONTAINS(c.out, "SIGQUIT: quit");
    CHECK_STR_CONTAINS(c.out, "[gate]:");
    CHECK_STR_CONTAINS(c.out, "goroutine 1 [");
    CHECK_STR_CONTAINS(c.out, "\nblocked_forever+0x");
    CHECK_STR_CONTAINS(c.out, "\nchild_sigquit+0x"); /* the one the signal stopped */
}

/* Runs without a yield point until sysmon has reported a hog (or 30 s
 * have passed): however loaded the machine, sysmon reports a goroutine
 * once it has seen it use 10 ms of CPU in one stretch (reading the
 * statistics is no yield point). */
typedef struct hog_arg {
    latch *done;
    uint64_t hogs_before;
} hog_arg;

static void hog_fn(void *p)
{
    hog_arg *h = p;
    int64_t t0 = goc_nanotime();
    goc_sched_stats st;
    do
        goc_sched_stats_read(&st);
    while (st.hogs == h->hogs_before && goc_nanotime() - t0 < 30 * GOC_SECOND);
    latch_done(h->done);
}

static void test_hog_is_reported(void)
{
    goc_sched_stats s0, s1;
    goc_sched_stats_read(&s0);
    latch la = {.count = 1};
    hog_arg h = {&la, s0.hogs};
    goc_go(hog_fn, &h, sizeof h);
    latch_wait(&la);
    goc_sched_stats_read(&s1);
    CHECK(s1.hogs > s0.hogs);
}

static void test_stats_counters(void)
{
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    CHECK_EQ_INT(st.procs, goc_procs());
    CHECK(st.threads >= 1);
    CHECK(st.goroutines >= 1);
    CHECK(st.switches > 0);
    CHECK(st.uptime_ns > 0);
    CHECK(st.stack_size >= 16384);
    for (int i = 0; i < st.procs; i++)
        CHECK(goc_sched_runq_len(i) >= 0);
    CHECK_EQ_INT(goc_sched_runq_len(st.procs), -1);
}

static const test_case cases[] = {
    TEST_CASE(test_main_is_goroutine_1),
    TEST_CASE(test_spawn_copies_args),
    TEST_CASE(test_spawn_rejects_huge_args),
    TEST_CASE(test_yield_alternates),
    TEST_CASE(test_sleep_duration),
    TEST_CASE(test_sleep_wakes_in_deadline_order),
    TEST_CASE(test_100k_sleepers),
    TEST_CASE(test_million_spawned_and_joined),
    TEST_CASE(test_million_parked),
    TEST_CASE(test_work_is_stolen_by_every_p),
    TEST_CASE(test_blocking_call_does_not_stop_its_p),
    TEST_CASE(test_syscall_enter_block_hands_off),
    TEST_CASE(test_identity_survives_migration),
    TEST_CASE(test_fp_rounding_mode_is_per_goroutine),
    TEST_CASE(test_defer_runs_last_first),
    TEST_CASE(test_recover_stops_panic),
    TEST_CASE(test_panic_unwinds_nested_frames),
    TEST_CASE(test_recover_outside_panic_is_null),
    TEST_CASE(test_recover_only_in_direct_defer),
    TEST_CASE(test_panic_during_panic_recovered),
    TEST_CASE(test_exit_runs_defers),
    TEST_CASE(test_stack_overflow_reported),
    TEST_CASE(test_stack_trim_releases_deep_pages),
    TEST_CASE(test_idle_stacks_give_pages_back),
    TEST_CASE(test_unrecovered_panic_aborts_with_dump),
    TEST_CASE(test_deadlock_detected),
    TEST_CASE(test_sigquit_dumps_goroutines),
    TEST_CASE(test_hog_is_reported),
    TEST_CASE(test_stats_counters),
    TEST_CASE(test_one_p_yield_rotates),
    /* run only as children */
    {"child_blocking_call", child_blocking_call},
    {"child_one_p", child_one_p},
    {"child_syscall_block", child_syscall_block},
    {"child_stack_overflow", child_stack_overflow},
    {"child_idle_stacks", child_idle_stacks},
    {"child_panic", child_panic},
    {"child_deadlock", child_deadlock},
    {"child_sigquit", child_sigquit},
    {0},
};

GOC_MAIN(argc, argv)
{
    return test_main(argc, argv, cases);
}

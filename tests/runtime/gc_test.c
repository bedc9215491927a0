/* gc_test.c: the collector (goc/gc.h).
 *
 * Roots: an object reachable only from a parked goroutine's stack, a
 * running goroutine's register in a loop that never yields, a goroutine
 * blocked between goc_syscall_enter and exit, a channel's buffer, a map
 * value, an explicit block, a global, a timer's argument, a registered
 * root, an interior pointer: each survives many cycles with its contents
 * intact (a pattern over every word; freed memory is poisoned, and churn
 * between cycles allocates and fills many objects of its size). Unreachable memory is freed: after a goroutine builds and
 * drops a few megabytes, a cycle brings the marked heap and the spans back
 * to their baseline. Finalizers run exactly once, on objects still intact.
 * GOC_GCSTRESS: thousands of goroutines building trees and passing them
 * through channels, a cycle every few hundred allocations, freed memory
 * poisoned, every node verified. GOGC=off: no cycle ever. Also zeroing,
 * noscan, large objects, the trace, the pacing and the figures.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/chan.h>
#include <goc/gc.h>
#include <goc/malloc.h>
#include <goc/map.h>
#include <goc/sched.h>
#include <goc/sync.h>
#include <goc/time.h>

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "latch.h"
#include "mem/gc.h"
#include "runtime.h"

#define CYCLES 20         /* collections each root test survives */
#define CHURN 2000        /* objects allocated and filled between them */
#define OBJ_WORDS 8       /* a 64-byte object */

/* ---- objects with a pattern -------------------------------------------------- */

typedef struct obj {
    uint64_t w[OBJ_WORDS];
} obj;

static uint64_t pattern(uint64_t id, int i)
{
    return (id * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)i << 56) ^ 0x0123456789abcdefull;
}

__attribute__((noinline)) static obj *obj_new(uint64_t id)
{
    obj *o = goc_gc_alloc(sizeof *o);
    for (int i = 0; i < OBJ_WORDS; i++)
        o->w[i] = pattern(id, i);
    return o;
}

static bool obj_ok(const obj *o, uint64_t id)
{
    for (int i = 0; i < OBJ_WORDS; i++)
        if (o->w[i] != pattern(id, i))
            return false;
    return true;
}

/* Allocates and fills objects of obj's class (scanned), dropping them:
 * a slot the collector freed by mistake gets reused and overwritten. */
__attribute__((noinline)) static void churn(void)
{
    for (int i = 0; i < TEST_SCALE(CHURN); i++) {
        obj *o = goc_gc_alloc(sizeof *o);
        for (int k = 0; k < OBJ_WORDS; k++)
            o->w[k] = 0x5a5a5a5a5a5a5a5aull;
    }
}

static uint64_t cycles_now(void)
{
    goc_gc_stats s;
    goc_gc_stats_read(&s);
    return s.cycles;
}

/* Runs n collections with churn in between. */
__attribute__((noinline)) static void collect_many(int n)
{
    for (int i = 0; i < n; i++) {
        churn();
        goc_gc();
    }
}

/* Hides a pointer from the collector (and undoes it). */
#define HIDE(p) ((uintptr_t)(p) ^ 0xa5a5a5a5a5a5a5a5ull)
#define UNHIDE(h) ((void *)((uintptr_t)(h) ^ 0xa5a5a5a5a5a5a5a5ull))

/* ---- roots ------------------------------------------------------------------------ */

static goc_chan *park_gate;
static _Atomic int park_ok;

static void parked_holder(void *arg)
{
    latch *done = *(latch **)arg;
    obj *o = obj_new(11);
    int go;
    goc_chan_recv(park_gate, &go); /* parked: o lives on this stack only */
    atomic_store(&park_ok, obj_ok(o, 11) ? 1 : -1);
    latch_done(done);
}

static void test_root_parked_stack(void)
{
    latch la = {.count = 1};
    latch *lp = &la;
    park_gate = goc_chan_make(sizeof(int), 0);
    goc_go(parked_holder, &lp, sizeof lp);
    goc_yield();
    uint64_t c0 = cycles_now();
    collect_many(CYCLES);
    int go = 1;
    goc_chan_send(park_gate, &go);
    latch_wait(&la);
    goc_chan_free(park_gate);
    CHECK(cycles_now() >= c0 + CYCLES);
    CHECK_EQ_INT(atomic_load(&park_ok), 1);
}

/* A goroutine spinning on another P with the only copy of the pointer in a
 * callee-saved register (memory holds it hidden): the collector must read
 * the register from the signal that stopped it. */
static _Atomic int spin_stop, spin_started, spin_ok;

/* A new object, hidden. Not the first of its span: a span's base address
 * lingers in the allocator's own frames and would keep it alive anyway. */
__attribute__((noinline)) static uintptr_t new_hidden(uint64_t id)
{
    obj *o;
    do
        o = obj_new(id);
    while (((uintptr_t)o & 8191) == 0);
    return HIDE(o);
}

__attribute__((noinline)) static void *spin_holding(uintptr_t hidden)
{
#if defined(__x86_64__)
    register uintptr_t r __asm__("r12") = hidden;
    __asm__ volatile("xorq %[k], %%r12\n\t"
                     "movl $1, %[started]\n\t"
                     "1: pause\n\t"
                     "cmpl $0, %[stop]\n\t"
                     "je 1b\n\t"
                     : "+r"(r), [started] "=m"(spin_started)
                     : [k] "r"(0xa5a5a5a5a5a5a5a5ull), [stop] "m"(spin_stop)
                     : "memory");
#elif defined(__aarch64__)
    register uintptr_t r __asm__("x19") = hidden;
    __asm__ volatile("eor x19, x19, %[k]\n\t"
                     "mov w9, #1\n\t"
                     "str w9, %[started]\n\t"
                     "1: yield\n\t"
                     "ldr w9, %[stop]\n\t"
                     "cbz w9, 1b\n\t"
                     : "+r"(r), [started] "=m"(spin_started)
                     : [k] "r"(0xa5a5a5a5a5a5a5a5ull), [stop] "m"(spin_stop)
                     : "x9", "memory");
#else
#error "spin_holding: x86-64 and aarch64 only"
#endif
    return (void *)r;
}

/* Overwrites the dead frames below the caller's, where copies of a pointer
 * its callees handled may linger (the collector scans the red zone below a
 * stopped stack pointer). */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

static void spinner(void *arg)
{
    latch *done = *(latch **)arg;
    uintptr_t h = new_hidden(12);
    scrub_stack();
    obj *o = spin_holding(h);
    atomic_store(&spin_ok, obj_ok(o, 12) ? 1 : -1);
    latch_done(done);
}

static void child_root_running_registers(void)
{
    latch la = {.count = 1};
    latch *lp = &la;
    goc_go(spinner, &lp, sizeof lp);
    /* It never yields once started: sleep (rather than yield) while waiting,
     * so that if it started on this P, the timer wakes us on the other. */
    while (!atomic_load(&spin_started))
        goc_sleep(GOC_MILLISECOND);
    uint64_t c0 = cycles_now();
    collect_many(CYCLES);
    uint64_t c1 = cycles_now();
    atomic_store(&spin_stop, 1);
    latch_wait(&la);
    CHECK(c1 >= c0 + CYCLES);
    CHECK_EQ_INT(atomic_load(&spin_ok), 1);
}

static void test_root_running_registers(void)
{
    static const char *const env[] = {"GOMAXPROCS=2", NULL};
    test_child c;
    CHECK(test_run_child("child_root_running_registers", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "status %d: %s", c.status, c.out);
}

/* A goroutine blocked in read() between goc_syscall_enter and exit: the
 * collector does not stop it, and scans it from where it entered. */
static int sys_pipe[2];
static _Atomic int sys_ok, sys_entered;

/* The pointer is unhidden into a callee-saved register just before
 * goc_syscall_enter, whose entry saves it for the collector. */
__attribute__((noinline)) static bool blocked_holding(uintptr_t hidden)
{
    char b;
    atomic_store(&sys_entered, 1);
#if defined(__x86_64__)
    register uintptr_t r __asm__("r12") = hidden;
    __asm__ volatile("xorq %[k], %%r12" : "+r"(r) : [k] "r"(0xa5a5a5a5a5a5a5a5ull));
#else
    register uintptr_t r __asm__("x19") = hidden;
    __asm__ volatile("eor x19, x19, %[k]" : "+r"(r) : [k] "r"(0xa5a5a5a5a5a5a5a5ull));
#endif
    goc_syscall_enter();
    ssize_t n = read(sys_pipe[0], &b, 1);
    goc_syscall_exit();
    __asm__ volatile("" : "+r"(r));
    return n == 1 && obj_ok((obj *)r, 13);
}

static void syscall_holder(void *arg)
{
    latch *done = *(latch **)arg;
    uintptr_t h = new_hidden(13);
    scrub_stack();
    atomic_store(&sys_ok, blocked_holding(h) ? 1 : -1);
    latch_done(done);
}

static void test_root_syscall(void)
{
    CHECK(pipe(sys_pipe) == 0);
    latch la = {.count = 1};
    latch *lp = &la;
    goc_go(syscall_holder, &lp, sizeof lp);
    while (!atomic_load(&sys_entered))
        goc_yield();
    goc_sleep(2 * GOC_MILLISECOND); /* let it reach read() */
    collect_many(CYCLES);
    CHECK(write(sys_pipe[1], "x", 1) == 1);
    latch_wait(&la);
    close(sys_pipe[0]);
    close(sys_pipe[1]);
    CHECK_EQ_INT(atomic_load(&sys_ok), 1);
}

__attribute__((noinline)) static void send_new(goc_chan *c, uint64_t id)
{
    obj *o = obj_new(id);
    goc_chan_send(c, &o);
}

static void test_root_channel_buffer(void)
{
    goc_chan *c = goc_chan_make(sizeof(obj *), 4);
    for (uint64_t id = 20; id < 24; id++)
        send_new(c, id);
    collect_many(CYCLES);
    for (uint64_t id = 20; id < 24; id++) {
        obj *o;
        CHECK(goc_chan_recv(c, &o));
        CHECK(obj_ok(o, id));
    }
    goc_chan_free(c);
}

__attribute__((noinline)) static void map_put(goc_map *m, int64_t k)
{
    obj *o = obj_new((uint64_t)k);
    goc_map_set(m, &k, &o);
}

static void test_root_map_value(void)
{
    goc_map_type t = GOC_MAP_INT(int64_t, obj *);
    goc_map *m = goc_map_make(&t, 0);
    for (int64_t k = 30; k < 130; k++) /* enough to grow the table while collecting */
        map_put(m, k);
    collect_many(CYCLES);
    for (int64_t k = 30; k < 130; k++) {
        obj **v = goc_map_get(m, &k);
        CHECK(v && obj_ok(*v, (uint64_t)k));
    }
    goc_map_free(m);
}

typedef struct holder {
    int64_t pad;
    obj *o;
} holder;

__attribute__((noinline)) static holder *explicit_holder(void)
{
    holder *h = goc_malloc(sizeof *h);
    h->pad = 0;
    h->o = obj_new(40);
    return h;
}

static void test_root_explicit_block(void)
{
    holder *h = explicit_holder();
    uintptr_t hidden = HIDE(h); /* only the explicit block reaches o */
    h = NULL;
    collect_many(CYCLES);
    h = UNHIDE(hidden);
    CHECK(obj_ok(h->o, 40));
    goc_free(h);
}

static obj *global_obj;

__attribute__((noinline)) static void set_global(void)
{
    global_obj = obj_new(50);
}

static void test_root_global(void)
{
    set_global();
    collect_many(CYCLES);
    CHECK(obj_ok(global_obj, 50));
    global_obj = NULL;
}

static void timer_noop(void *arg, uintptr_t seq)
{
    (void)arg, (void)seq;
}

__attribute__((noinline)) static goc__timer *arm_timer(void)
{
    goc__timer *t = calloc(1, sizeof *t); /* libc memory: not itself a root */
    t->idx = -1;
    t->when = goc_nanotime() + 3600 * GOC_SECOND;
    t->f = timer_noop;
    t->arg = obj_new(60);
    goc__timer_add(t);
    return t;
}

static void test_root_timer_argument(void)
{
    uintptr_t hidden = HIDE(arm_timer());
    collect_many(CYCLES);
    goc__timer *t = UNHIDE(hidden);
    CHECK(obj_ok(t->arg, 60));
    CHECK(goc__timer_del(t));
    free(t);
}

static void test_root_registered(void)
{
    obj **slot = malloc(sizeof *slot); /* libc memory, invisible but for the root */
    CHECK_EQ_INT(goc_gc_root_add(slot, sizeof *slot), 0);
    *slot = obj_new(70);
    collect_many(CYCLES);
    CHECK(obj_ok(*slot, 70));
    CHECK_EQ_INT(goc_gc_root_remove(slot), 0);
    CHECK_EQ_INT(goc_gc_root_remove(slot), -ENOENT);
    CHECK_EQ_INT(goc_gc_root_add(NULL, 8), -EINVAL);
    free(slot);
}

static char *interior;

__attribute__((noinline)) static void set_interior(void)
{
    interior = (char *)obj_new(80) + 13; /* not even word-aligned inside */
}

static void test_root_interior_pointer(void)
{
    set_interior();
    collect_many(CYCLES);
    CHECK(obj_ok((obj *)(interior - 13), 80));
    interior = NULL;
}

/* ---- unreachable memory is freed -------------------------------------------------- */

typedef struct tnode {
    struct tnode *l, *r;
    uint64_t v;
} tnode;

static tnode *tree(int depth, uint64_t v)
{
    tnode *n = GOC_GC_NEW(tnode);
    n->v = v;
    if (depth > 0) {
        n->l = tree(depth - 1, 2 * v);
        n->r = tree(depth - 1, 2 * v + 1);
    }
    return n;
}

static void build_and_drop(void *arg)
{
    latch *done = *(latch **)arg;
    tnode *t = tree(14, 1);                /* 32k small objects */
    void **big = goc_gc_alloc(200 << 10);  /* a large object, pointing to */
    for (int i = 0; i < 1000; i++)         /* a thousand 1 KiB ones */
        big[i] = goc_gc_alloc(1024);
    big[1000] = t;
    goc_gc_keepalive(big);
    latch_done(done);
}

/* After a full collection, the collected heap and the pages in use are
 * back where they were (within a few objects). */
static void check_back_to_baseline(const goc_gc_stats *s0, const goc_mem_stats *m0)
{
    goc_gc();
    goc_gc_stats s1;
    goc_gc_stats_read(&s1);
    goc_mem_stats m1;
    goc_mem_stats_read(&m1);
    CHECK_MSG(s1.heap_marked <= s0->heap_marked + 16384, "marked %llu -> %llu",
              (unsigned long long)s0->heap_marked, (unsigned long long)s1.heap_marked);
    CHECK_MSG(m1.pages_in_use <= m0->pages_in_use + 8, "pages in use %llu -> %llu",
              (unsigned long long)m0->pages_in_use, (unsigned long long)m1.pages_in_use);
}

static void child_unreachable_freed(void)
{
    goc_gc();
    goc_gc_stats s0;
    goc_gc_stats_read(&s0);
    goc_mem_stats m0;
    goc_mem_stats_read(&m0);
    latch la = {.count = 1};
    latch *lp = &la;
    goc_go(build_and_drop, &lp, sizeof lp);
    latch_wait(&la);
    check_back_to_baseline(&s0, &m0); /* about 2.3 MB were allocated */
}

/* In a process of its own: the collector is conservative, so a stale word
 * anywhere among the roots that happens to point into the dropped 200 KiB
 * object keeps all of it. After the earlier cases, under TSan (whose
 * runtime's statics are in the program's bss, a root), that happened in 3
 * runs of 10; alone, in none of 24. */
static void test_unreachable_freed(void)
{
    test_child c;
    CHECK(test_run_child("child_unreachable_freed", NULL, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "status %d: %s", c.status, c.out);
}

/* A word pointing into a free slot keeps nothing: the slot stays free.
 * The object is made on this goroutine, so that its span is the one this
 * P allocates from (another P's cached span is not handed out here). */
static obj *dangling;

static void test_free_slot_keeps_nothing(void)
{
    uintptr_t h = new_hidden(85);
    scrub_stack();
    goc_gc(); /* frees it */
    goc_gc_stats s0, s1;
    goc_gc_stats_read(&s0);
    dangling = UNHIDE(h); /* a global now points into the free slot */
    goc_gc();
    goc_gc_stats_read(&s1);
    CHECK_EQ_UINT(s1.heap_marked, s0.heap_marked);
    goc_mspan *sp = goc__spanof(dangling);
    uint32_t idx = (uint32_t)(((uint64_t)((uintptr_t)dangling - sp->base) * sp->divmul) >> 32);
    CHECK(!(sp->allocbits[idx / 64] >> (idx % 64) & 1)); /* free in its bitmap */
    bool reused = false; /* and handed out again */
    for (int i = 0; i < 200000 && !reused; i++)
        reused = goc_gc_alloc(sizeof(obj)) == (void *)dangling;
    CHECK(reused);
    dangling = NULL;
}

/* ---- goc_after_chan: time.After, collected ------------------------------------ */

__attribute__((noinline)) static int64_t after_many(int n)
{
    int64_t bad = 0;
    for (int i = 0; i < n; i++) {
        int64_t t0 = goc_nanotime(), at = 0;
        goc_chan_recv(goc_after_chan(0), &at);
        bad += at < t0;
    }
    return bad;
}

/* Fired and received, nothing reaches them: the collector takes every
 * timer and channel back (about 2 MB made). */
static void test_after_chan_collected(void)
{
    goc_gc();
    goc_gc_stats s0;
    goc_gc_stats_read(&s0);
    goc_mem_stats m0;
    goc_mem_stats_read(&m0);
    CHECK_EQ_INT(after_many(TEST_SCALE(20000)), 0);
    scrub_stack();
    check_back_to_baseline(&s0, &m0);
}

__attribute__((noinline)) static uintptr_t after_hidden(int64_t d)
{
    return HIDE(goc_after_chan(d));
}

/* Pending, its channel referenced by nobody but the timer: the timer keeps
 * it through many collections, and its value still arrives. */
static void test_after_chan_pending_survives(void)
{
    int64_t t0 = goc_nanotime();
    uintptr_t h = after_hidden(200 * GOC_MILLISECOND);
    scrub_stack();
    collect_many(5);
    goc_chan *c = UNHIDE(h);
    CHECK_EQ_INT(goc_chan_cap(c), 1); /* freed, it would read as poison */
    int64_t at = 0;
    goc_chan_recv(c, &at);
    CHECK(at >= t0 + 200 * GOC_MILLISECOND);
}

/* ---- finalizers --------------------------------------------------------------------- */

#define NFIN 1000
typedef struct fobj {
    uint64_t id;
    obj *child; /* reachable only through the finalized object */
} fobj;

static _Atomic int fin_runs[NFIN];
static _Atomic int fin_bad;

static void fin_fn(void *p)
{
    fobj *f = p;
    if (f->id >= NFIN || !f->child || !obj_ok(f->child, 1000 + f->id)) {
        atomic_fetch_add(&fin_bad, 1);
        return;
    }
    atomic_fetch_add(&fin_runs[f->id], 1);
}

static void make_finalized(void *arg)
{
    latch *done = *(latch **)arg;
    for (uint64_t i = 0; i < TEST_SCALE(NFIN); i++) {
        fobj *f = GOC_GC_NEW(fobj);
        f->id = i;
        f->child = obj_new(1000 + i);
        if (goc_gc_finalizer_set(f, fin_fn) != 0)
            atomic_fetch_add(&fin_bad, 1);
    }
    latch_done(done);
}

static int fin_total(void)
{
    int n = 0;
    for (int i = 0; i < NFIN; i++)
        n += atomic_load(&fin_runs[i]);
    return n;
}

static void test_finalizers_run_once(void)
{
    latch la = {.count = 1};
    latch *lp = &la;
    goc_go(make_finalized, &lp, sizeof lp);
    latch_wait(&la);
    int want = TEST_SCALE(NFIN);
    for (int i = 0; i < 2000 && fin_total() < want; i++) {
        churn();
        goc_gc();
        goc_sleep(GOC_MILLISECOND);
    }
    collect_many(5); /* and again: none runs twice */
    goc_sleep(20 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&fin_bad), 0);
    for (int i = 0; i < want; i++)
        CHECK_MSG(atomic_load(&fin_runs[i]) == 1, "finalizer %d ran %d times", i,
                  atomic_load(&fin_runs[i]));
}

static _Atomic int keep_fin;
static obj *resurrected;

static void resurrect_fn(void *p)
{
    atomic_fetch_add(&keep_fin, 1);
    resurrected = p;
}

__attribute__((noinline)) static obj *finalized_obj(void)
{
    obj *o = obj_new(90);
    goc_gc_finalizer_set(o, resurrect_fn);
    return o;
}

static void test_finalizer_keepalive_and_resurrection(void)
{
    obj *o = finalized_obj();
    CHECK_EQ_INT(goc_gc_finalizer_set(o, resurrect_fn), -EEXIST);
    CHECK_EQ_INT(goc_gc_finalizer_set((char *)o + 8, resurrect_fn), -EINVAL);
    void *explicit = goc_malloc(16);
    CHECK_EQ_INT(goc_gc_finalizer_set(explicit, resurrect_fn), -EINVAL);
    goc_free(explicit);
    collect_many(3);
    goc_sleep(5 * GOC_MILLISECOND);
    CHECK_EQ_INT(atomic_load(&keep_fin), 0); /* o is still in use */
    goc_gc_keepalive(o);
    o = NULL;
    for (int i = 0; i < 500 && !atomic_load(&keep_fin); i++) {
        goc_gc();
        goc_sleep(GOC_MILLISECOND);
    }
    CHECK_EQ_INT(atomic_load(&keep_fin), 1);
    collect_many(5); /* resurrected by its finalizer: alive, intact, not finalized again */
    goc_sleep(5 * GOC_MILLISECOND);
    CHECK(obj_ok(resurrected, 90));
    CHECK_EQ_INT(atomic_load(&keep_fin), 1);
    resurrected = NULL;
    collect_many(3);
    CHECK_EQ_INT(atomic_load(&keep_fin), 1);
}

/* A pointer kept only inside a noscan object keeps nothing alive. */
static _Atomic int noscan_fin;

static void noscan_fn(void *p)
{
    (void)p;
    atomic_store(&noscan_fin, 1);
}

static void **noscan_box;

__attribute__((noinline)) static void fill_noscan(void)
{
    noscan_box = goc_gc_alloc_noscan(64);
    obj *o = obj_new(95);
    goc_gc_finalizer_set(o, noscan_fn);
    noscan_box[0] = o;
}

static void test_noscan_keeps_nothing(void)
{
    fill_noscan();
    for (int i = 0; i < 500 && !atomic_load(&noscan_fin); i++) {
        goc_gc();
        goc_sleep(GOC_MILLISECOND);
    }
    CHECK_EQ_INT(atomic_load(&noscan_fin), 1);
    noscan_box = NULL;
}

/* ---- stress --------------------------------------------------------------------- */

#define STRESS_ROUNDS 20

typedef struct stress_arg {
    int i, n;
    goc_chan **chans;
    goc_waitgroup *wg;
} stress_arg;

static _Atomic int64_t stress_bad, stress_checked;

static tnode *stree(int depth, uint64_t v)
{
    tnode *n = GOC_GC_NEW(tnode);
    n->v = v;
    if (depth > 0) {
        n->l = stree(depth - 1, v * 2);
        n->r = stree(depth - 1, v * 2 + 1);
    }
    return n;
}

/* Verifies every node of a tree built by stree(depth, v). */
static int64_t scheck(const tnode *n, int depth, uint64_t v)
{
    if (!n || n->v != v || (depth > 0) != (n->l != NULL))
        return -1000000;
    if (depth == 0)
        return 1;
    int64_t a = scheck(n->l, depth - 1, v * 2), b = scheck(n->r, depth - 1, v * 2 + 1);
    return a < 0 || b < 0 ? -1000000 : a + b + 1;
}

typedef struct parcel {
    uint64_t seed;
    int depth;
    tnode *t;
} parcel;

static void stress_worker(void *p)
{
    stress_arg *a = p;
    goc_chan *out = a->chans[(a->i + 1) % a->n], *in = a->chans[a->i];
    for (int r = 0; r < STRESS_ROUNDS; r++) {
        int depth = 2 + (a->i + r) % 5;
        uint64_t seed = ((uint64_t)a->i << 32 | (uint64_t)r) + 1;
        parcel *x = GOC_GC_NEW(parcel);
        *x = (parcel){seed, depth, stree(depth, seed)};
        goc_chan_send(out, &x); /* the channel's buffer holds the only reference */
        tnode *junk = stree(3, 7); /* garbage on the way */
        (void)junk;
        parcel *y;
        goc_chan_recv(in, &y);
        int64_t n = scheck(y->t, y->depth, y->seed);
        if (n != ((int64_t)2 << y->depth) - 1)
            atomic_fetch_add(&stress_bad, 1);
        atomic_fetch_add(&stress_checked, 1);
        if (r % 4 == 0)
            goc_yield();
    }
    goc_waitgroup_done(a->wg);
}

static void child_stress(void)
{
    int n = TEST_SCALE(2000);
    if (n < 8)
        n = 8;
    goc_chan **chans = goc_malloc(sizeof *chans * (size_t)n);
    for (int i = 0; i < n; i++)
        chans[i] = goc_chan_make(sizeof(parcel *), STRESS_ROUNDS + 1);
    goc_waitgroup wg = {0};
    goc_waitgroup_add(&wg, n);
    for (int i = 0; i < n; i++) {
        stress_arg a = {i, n, chans, &wg};
        goc_go(stress_worker, &a, sizeof a);
    }
    goc_waitgroup_wait(&wg);
    goc_gc_stats s;
    goc_gc_stats_read(&s);
    printf("# %d goroutines, %lld trees checked, %llu collections (stress %u)\n", n,
           (long long)atomic_load(&stress_checked), (unsigned long long)s.cycles, s.stress);
    CHECK_EQ_INT(atomic_load(&stress_bad), 0);
    CHECK_EQ_INT(atomic_load(&stress_checked), (int64_t)n * STRESS_ROUNDS);
    CHECK(s.cycles >= 20);
    CHECK(s.stress > 0);
}

static void test_stress_trees_through_channels(void)
{
    static const char *const env[] = {"GOC_GCSTRESS=200", NULL};
    test_child c;
    CHECK(test_run_child("child_stress", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "status %d: %s", c.status, c.out);
    printf("%s", strstr(c.out, "# ") ? strstr(c.out, "# ") : "");
}

/* ---- pacing, GOGC, figures --------------------------------------------------------- */

__attribute__((noinline)) static void garbage(size_t bytes)
{
    for (size_t n = 0; n < bytes; n += 256) {
        char *p = goc_gc_alloc(256);
        p[0] = 1;
    }
}

static void child_gogc_off(void)
{
    garbage(64 << 20);
    goc_gc_stats s;
    goc_gc_stats_read(&s);
    CHECK_EQ_INT(s.cycles, 0);
    CHECK_EQ_INT(s.percent, -1);
    CHECK_EQ_INT(s.heap_goal, 0);
}

static void test_gogc_off_never_collects(void)
{
    static const char *const env[] = {"GOGC=off", NULL};
    test_child c;
    CHECK(test_run_child("child_gogc_off", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "status %d: %s", c.status, c.out);
    /* and the call: */
    int old = goc_gc_percent_set(-1);
    uint64_t c0 = cycles_now();
    garbage(32 << 20);
    CHECK_EQ_INT(cycles_now(), c0);
    CHECK_EQ_INT(goc_gc_percent_set(old), -1);
}

static void child_pacing(void)
{
    int old = goc_gc_percent_set(100);
    goc_gc();
    goc_gc_stats s;
    goc_gc_stats_read(&s);
    /* goal = live + (live + roots) * 100%, at least 4 MiB */
    uint64_t want = s.heap_marked + (s.heap_marked + s.roots_bytes);
    if (want < (4u << 20))
        want = 4u << 20;
    CHECK_EQ_UINT(s.heap_goal, want);
    uint64_t c0 = s.cycles;
    garbage(3 * (size_t)want);
    goc_gc_stats_read(&s);
    CHECK_MSG(s.cycles >= c0 + 2 && s.cycles <= c0 + 4, "cycles %llu -> %llu",
              (unsigned long long)c0, (unsigned long long)s.cycles);
    CHECK_EQ_INT(goc_gc_percent_set(old), 100);
}

/* In a child without GOC_GCSTRESS, whose extra cycles are not paced. */
static const char *const no_stress[] = {"GOC_GCSTRESS=0", NULL};

static void test_pacing_follows_gogc(void)
{
    test_child c;
    CHECK(test_run_child("child_pacing", no_stress, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "status %d: %s", c.status, c.out);
}

static void test_zeroed_and_sizes(void)
{
    size_t sizes[] = {0, 1, 8, 24, 100, 1000, 5000, 32768, 40000, 1 << 20};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            for (int k = 0; k < 20; k++) {
                unsigned char *p = goc_gc_alloc(sizes[i]);
                CHECK(p != NULL);
                CHECK_EQ_INT((uintptr_t)p % 8, 0);
                for (size_t j = 0; j < sizes[i]; j++)
                    CHECK_MSG(p[j] == 0, "size %zu byte %zu is %d", sizes[i], j, p[j]);
                memset(p, 0xee, sizes[i]); /* dirty it for the next round */
            }
        }
        goc_gc();
    }
}

static void test_large_object_survives(void)
{
    size_t n = 3 << 20;
    uint64_t *big = goc_gc_alloc(n);
    for (size_t i = 0; i < n / 8; i++)
        big[i] = i * 7;
    big[5] = (uint64_t)(uintptr_t)obj_new(99); /* and what it points to */
    collect_many(5);
    CHECK(obj_ok((obj *)(uintptr_t)big[5], 99));
    for (size_t i = 6; i < n / 8; i++)
        CHECK(big[i] == i * 7);
    goc_gc_keepalive(big);
}

static void child_free_collected(void)
{
    void *p = goc_gc_alloc(32);
    goc_free(p); /* fatal */
}

static void test_free_of_collected_is_fatal(void)
{
    test_child c;
    CHECK(test_run_child("child_free_collected", NULL, &c) == 0);
    CHECK(!(c.exited && c.status == 0));
    CHECK_STR_CONTAINS(c.out, "goc_free");
}

static void child_trace(void)
{
    for (int i = 0; i < 3; i++)
        goc_gc();
}

static void test_trace_line_per_cycle(void)
{
    static const char *const env[] = {"GOC_GCTRACE=1", "GOC_GCSTRESS=0", NULL};
    test_child c;
    CHECK(test_run_child("child_trace", env, &c) == 0);
    CHECK_MSG(c.exited && c.status == 0, "status %d: %s", c.status, c.out);
    int lines = 0;
    for (const char *p = c.out; (p = strstr(p, "gc ")); p++)
        lines += p == c.out || p[-1] == '\n';
    CHECK_EQ_INT(lines, 3);
    CHECK_STR_CONTAINS(c.out, "ms pause");
    CHECK_STR_CONTAINS(c.out, "MB goal");
}

static void test_stats_figures(void)
{
    goc_gc();
    goc_gc_stats s;
    goc_gc_stats_read(&s);
    uint64_t n = 0;
    for (int i = 0; i < GOC_GC_PAUSE_BUCKETS; i++)
        n += s.pause_hist[i];
    CHECK_EQ_UINT(n, s.cycles);
    CHECK(s.pause_max_ns >= s.pause_last_ns);
    CHECK(s.pause_total_ns >= s.pause_max_ns);
    CHECK(s.pause_last_ns >= s.mark_last_ns);
    CHECK(s.forced > 0);
    CHECK(s.markers >= 1);
    CHECK(s.roots_bytes > 0);
}

static const test_case cases[] = {
    TEST_CASE(test_root_parked_stack),
    TEST_CASE(test_root_running_registers),
    TEST_CASE(test_root_syscall),
    TEST_CASE(test_root_channel_buffer),
    TEST_CASE(test_root_map_value),
    TEST_CASE(test_root_explicit_block),
    TEST_CASE(test_root_global),
    TEST_CASE(test_root_timer_argument),
    TEST_CASE(test_root_registered),
    TEST_CASE(test_root_interior_pointer),
    TEST_CASE(test_unreachable_freed),
    TEST_CASE(test_free_slot_keeps_nothing),
    TEST_CASE(test_after_chan_collected),
    TEST_CASE(test_after_chan_pending_survives),
    TEST_CASE(test_finalizers_run_once),
    TEST_CASE(test_finalizer_keepalive_and_resurrection),
    TEST_CASE(test_noscan_keeps_nothing),
    TEST_CASE(test_stress_trees_through_channels),
    TEST_CASE(test_gogc_off_never_collects),
    TEST_CASE(test_pacing_follows_gogc),
    TEST_CASE(test_zeroed_and_sizes),
    TEST_CASE(test_large_object_survives),
    TEST_CASE(test_free_of_collected_is_fatal),
    TEST_CASE(test_trace_line_per_cycle),
    TEST_CASE(test_stats_figures),
    TEST_CASE(child_root_running_registers),
    TEST_CASE(child_unreachable_freed),
    TEST_CASE(child_stress),
    TEST_CASE(child_gogc_off),
    TEST_CASE(child_free_collected),
    TEST_CASE(child_trace),
    TEST_CASE(child_pacing),
    {0},
};

GOC_MAIN(argc, argv)
{
    /* Freed objects are filled with 0xdeadbeef at once (as under
     * GOC_GCSTRESS), so an object freed while reachable fails its pattern
     * check even where no allocation would reuse its slot. */
    goc__gc_init();
    goc__gc.poison = true;
    return test_main(argc, argv, cases);
}

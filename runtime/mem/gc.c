/* gc.c: the collector's cycle, pacing, figures and public calls (gc.h
 * describes the whole collector).
 *
 * A cycle runs on the thread that needs it: the goroutine whose
 * allocation reached the trigger, the caller of goc_gc, or the background
 * thread (sweep.c) for cycles asked for where none can run. Before it
 * stops the world it finishes the last cycle's sweeping, prepares the
 * markers and the data segments, and takes, in this order: the cycle lock,
 * sched.lock briefly (stw.c's list of Ms), the registered roots' lock, the
 * finalizers' lock, every P's timer lock, the no-P cache lock, every
 * explicit central's, every collected central's and the heap lock. Every
 * other holder of those takes them in the same order or alone, and none
 * waits while holding one for anything a stopped thread could hold; so no
 * stopped thread holds one, and the pause (GOC_STW_FN code only) reads
 * consistent structures.
 *
 * Pacing, as Go 1.19 (doc/go-rules.md 10.3; src/runtime/mgcpacer.go): after a
 * mark that found `marked` live bytes and scanned `roots` bytes of roots,
 * the next cycle starts when heap_live reaches
 *     marked + (marked + roots) * GOGC / 100,
 * but not before 4 MiB * GOGC / 100; GOGC off: never. Our mark stops the
 * world, so the trigger is the goal itself (Go starts earlier, to mark
 * concurrently). A cycle also runs when none did for 2 minutes (sweep.c).
 */
#include "gc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HEAP_MIN ((uint64_t)4 << 20) /* Go's heapMinimum at GOGC=100 */

goc__gcstate goc__gc = {.trigger = HEAP_MIN, .percent = 100};

enum { CYCLE_GOAL, CYCLE_STRESS, CYCLE_TIMED, CYCLE_FORCED };

static goc__lock init_lock = GOC_LOCK_INIT;
static goc__lock cycle_lock = GOC_LOCK_INIT; /* one cycle at a time */

static struct {
    goc__lock lock; /* guards the figures */
    uint64_t cycles, forced;
    uint64_t pause_last, pause_max, pause_total, hist[GOC_GC_PAUSE_BUCKETS];
    uint64_t recent[GOC_GC_PAUSE_RECENT];
    uint64_t mark_last, marked, goal, roots;
    int32_t markers;
    _Atomic int64_t last_end;
} st = {.lock = GOC_LOCK_INIT};

/* What the pause needs and finds. */
typedef struct pause_args {
    goc_mspan **spans; /* every span record */
    size_t nspans;
    uintptr_t lo, hi;  /* heap bounds */
    int32_t percent;
    uint64_t marked, roots, goal, mark_ns; /* out */
} pause_args;

/* ---- set-up ---------------------------------------------------------------------------- */

static int env_percent(void)
{
    const char *e = getenv("GOGC");
    if (!e || !*e)
        return 100;
    if (strcmp(e, "off") == 0)
        return -1;
    char *end;
    long v = strtol(e, &end, 10);
    return *end || v < 0 || v > 1000000 ? 100 : (int)v;
}

void goc__gc_init(void)
{
    if (atomic_load_explicit(&goc__gc.ready, memory_order_acquire))
        return;
    goc__lock_acquire(&init_lock);
    if (!atomic_load_explicit(&goc__gc.ready, memory_order_relaxed)) {
        int pct = env_percent();
        const char *s = getenv("GOC_GCSTRESS");
        long n = s ? strtol(s, NULL, 10) : 0;
        goc__gc.stress = n > 0 && n < (1L << 30) ? (uint32_t)n : 0;
        s = getenv("GOC_GCTRACE");
        goc__gc.trace = s && atoi(s) > 0;
        goc__gc.poison = goc__gc.stress != 0;
#if GOC_TSAN
        __tsan_java_init(GOC_TSAN_HEAP_BEGIN, ((unsigned long)1 << GOC_ADDR_BITS) - GOC_TSAN_HEAP_BEGIN);
#endif
#if GOC_ASAN || GOC_TSAN
        goc__gc.locked = true; /* the fast path's calls could not be in goc_nostop_text */
#else
        goc__gc.locked = goc__gc.stress != 0;
#endif
        atomic_store(&goc__gc.percent, pct);
        atomic_store(&goc__gc.trigger, pct < 0 ? UINT64_MAX : HEAP_MIN * (uint64_t)pct / 100);
        atomic_store_explicit(&goc__gc.ready, true, memory_order_release);
    }
    goc__lock_release(&init_lock);
}

void goc__gc_start(void)
{
    goc__gc_init();
    atomic_store(&goc__gc.started, true);
    if (goc__gc.stress)
        goc__gc_bg_request(); /* starts its timed cycles (sweep.c) */
}

/* The heap_live that starts the next cycle. */
static uint64_t goal_of(uint64_t marked, uint64_t roots, int32_t pct)
{
    if (pct < 0)
        return UINT64_MAX;
    uint64_t goal = marked + (marked + roots) * (uint64_t)pct / 100;
    uint64_t min = HEAP_MIN * (uint64_t)pct / 100;
    return goal > min ? goal : min;
}

/* ---- the pause -------------------------------------------------------------------------- */

GOC_STW_FN static int64_t raw_now(void)
{
    struct timespec ts; /* not through libc: TSan intercepts clock_gettime */
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Flags each collected central whose swept lists are about to become its
 * unswept ones (sweepgen advances by 2). */
GOC_STW_FN static void flag_unswept(uint32_t sg)
{
    int sw = goc__gc_swept(sg);
    for (int k = 0; k < 2; k++)
        for (uint32_t cls = 1; cls < GOC_NUM_CLASSES; cls++) {
            goc__gcentral *gc = &goc__gcentrals[k][cls];
            atomic_store_explicit(&gc->unswept, gc->partial[sw] || gc->full[sw],
                                  memory_order_relaxed);
        }
    atomic_store_explicit(&goc__gclarge.unswept, goc__gclarge.full[sw] != NULL,
                          memory_order_relaxed);
}

/* Stops the world, marks, terminates the mark, restarts the world. */
GOC_STW_FN static void stop_and_mark(pause_args *a)
{
    goc__stw_stop();
    int64_t t0 = raw_now();
    goc__gc_caches_commit();
    goc__cache_mark_free();
    size_t njobs = goc__gc_roots_jobs(a->spans, a->nspans);
    uint64_t marked = goc__gc_mark(njobs, a->lo, a->hi);
    marked += goc__gc_fin_queue();
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    flag_unswept(sg);
    atomic_store(&goc__gc.sweepgen, sg + 2);
    uint64_t cached_free = goc__gc_caches_sweep();
    a->marked = marked;
    a->roots = goc__gc_roots_bytes();
    a->goal = goal_of(marked, a->roots, a->percent);
    atomic_store(&goc__gc.heap_live, marked + cached_free);
    atomic_store(&goc__gc.trigger, a->goal);
    a->mark_ns = (uint64_t)(raw_now() - t0);
    goc__stw_start();
}

/* ---- the cycle ------------------------------------------------------------------------- */

static void lock_all(void)
{
    goc__gc_roots_lock();
    goc__gc_fin_lock();
    goc__gc_fin_prepare();
    for (int i = 0; i < goc__sched_.nprocs; i++)
        goc__lock_acquire(&goc__sched_.allp[i]->timerlock);
    goc__cache_nop_lock();
    goc__central_lock_all();
    goc__gc_centrals_lock();
    goc__heap_lock();
}

static void unlock_all(void)
{
    goc__heap_unlock();
    goc__gc_centrals_unlock();
    goc__central_unlock_all();
    goc__cache_nop_unlock();
    for (int i = goc__sched_.nprocs - 1; i >= 0; i--)
        goc__lock_release(&goc__sched_.allp[i]->timerlock);
    goc__gc_fin_unlock();
    goc__gc_roots_unlock();
}

static unsigned bucket_of(uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned b = us < 2 ? 0 : 63 - (unsigned)__builtin_clzll(us);
    return b < GOC_GC_PAUSE_BUCKETS ? b : GOC_GC_PAUSE_BUCKETS - 1;
}

static void record(const pause_args *a, uint64_t pause_ns, uint64_t before, int kind,
                   const char *why, int64_t start)
{
    goc__lock_acquire(&st.lock);
    uint64_t n = ++st.cycles;
    if (kind != CYCLE_GOAL)
        st.forced++;
    st.pause_last = pause_ns;
    if (pause_ns > st.pause_max)
        st.pause_max = pause_ns;
    st.pause_total += pause_ns;
    st.hist[bucket_of(pause_ns)]++;
    st.recent[(n - 1) % GOC_GC_PAUSE_RECENT] = pause_ns;
    st.mark_last = a->mark_ns;
    st.marked = a->marked;
    st.goal = a->goal;
    st.roots = a->roots;
    int markers = st.markers = goc__gc_markers();
    goc__lock_release(&st.lock);
    atomic_store(&st.last_end, goc__nanotime());
    if (goc__gc.trace) {
        double mb = 1.0 / (1 << 20);
        fprintf(stderr,
                "gc %llu @%.3fs: %.3f ms pause (%.3f ms mark, %d markers), %.1f->%.1f MB, "
                "%.1f MB goal, %.1f MB roots (%s)\n",
                (unsigned long long)n, (double)(start - goc__sched_.start_time) / 1e9,
                (double)pause_ns / 1e6, (double)a->mark_ns / 1e6, markers, (double)before * mb,
                (double)a->marked * mb, a->goal == UINT64_MAX ? 0.0 : (double)a->goal * mb,
                (double)a->roots * mb, why);
    }
}

__attribute__((noinline)) static void cycle(uintptr_t sp, int kind, const char *why)
{
    goc__gc_init();
    goc__lock_acquire(&cycle_lock);
    int32_t pct = atomic_load(&goc__gc.percent);
    uint64_t live = atomic_load(&goc__gc.heap_live);
    if ((kind == CYCLE_GOAL && live < atomic_load(&goc__gc.trigger)) ||
        (kind != CYCLE_FORCED && pct < 0)) {
        goc__lock_release(&cycle_lock); /* one ran meanwhile, or GOGC is off */
        return;
    }
    int64_t start = goc__nanotime();
    goc__gc_bg_pause();
    while (goc__gc_sweepone()) /* sweep termination */
        ;
    goc__gc_markers_prepare(goc__sched_.nprocs > 0 ? goc__sched_.nprocs : 1);
    goc__gc_scratch_reset();
    goc__gc_roots_prepare();
    goc__stw_prepare(sp, NULL, 0);
    lock_all();
    pause_args a = {.percent = pct};
    a.spans = goc__heap_allspans(&a.nspans);
    goc__heap_bounds(&a.lo, &a.hi);
    int64_t t0 = goc__nanotime();
    stop_and_mark(&a);
    uint64_t pause_ns = (uint64_t)(goc__nanotime() - t0);
    unlock_all();
    goc__gc_bg_resume();
    goc__gc_fin_flush();
    record(&a, pause_ns, live, kind, why, start);
    goc__lock_release(&cycle_lock);
}

/* The cycle runs below this frame, which keeps the callers' callee-saved
 * registers (__builtin_unwind_init) and is where the collecting goroutine's
 * stack is scanned from; cycle is not inlined, so its locals (the heap's
 * bounds among them) stay below that point. */
__attribute__((noinline)) static void collect(int kind, const char *why)
{
    __builtin_unwind_init();
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
#else
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    cycle(sp, kind, why);
    __asm__ volatile("" ::: "memory"); /* not a tail call: this frame must stay */
}

void goc__gc_collect_requested(void)
{
    collect(CYCLE_STRESS, "requested");
}

void goc__gc_collect_timed(void)
{
    collect(CYCLE_TIMED, "2 minutes");
}

void goc__gc_after_alloc(bool may_collect)
{
    bool stress = false;
    if (goc__gc.stress)
        stress = (atomic_fetch_add_explicit(&goc__gc.stress_count, 1, memory_order_relaxed) + 1) %
                     goc__gc.stress ==
                 0;
    if (!stress && atomic_load_explicit(&goc__gc.heap_live, memory_order_relaxed) <
                       atomic_load_explicit(&goc__gc.trigger, memory_order_relaxed))
        return;
    if (!may_collect)
        goc__gc_bg_request();
    else
        collect(stress ? CYCLE_STRESS : CYCLE_GOAL, stress ? "stress" : "heap goal");
}

int64_t goc__gc_last_end(void)
{
    return atomic_load(&st.last_end);
}

uint64_t goc__gc_last_pause(void)
{
    goc__lock_acquire(&st.lock);
    uint64_t p = st.pause_last;
    goc__lock_release(&st.lock);
    return p;
}

/* ---- public calls ------------------------------------------------------------------------ */

void goc_gc(void)
{
    collect(CYCLE_FORCED, "goc_gc");
    while (goc__gc_sweepone())
        ;
}

int goc_gc_percent_set(int percent)
{
    goc__gc_init();
    if (percent < 0)
        percent = -1;
    int old = atomic_exchange(&goc__gc.percent, percent);
    goc__lock_acquire(&st.lock);
    uint64_t goal = goal_of(st.marked, st.roots, percent);
    st.goal = goal;
    goc__lock_release(&st.lock);
    atomic_store(&goc__gc.trigger, goal);
    if (percent < 0) { /* as Go's: no cycle is running once this returns */
        goc__lock_acquire(&cycle_lock);
        goc__lock_release(&cycle_lock);
    }
    return old;
}

void goc_gc_keepalive(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

void goc_gc_stats_read(goc_gc_stats *out)
{
    goc__gc_init();
    memset(out, 0, sizeof *out);
    goc__lock_acquire(&st.lock);
    out->cycles = st.cycles;
    out->forced = st.forced;
    out->pause_last_ns = st.pause_last;
    out->pause_max_ns = st.pause_max;
    out->pause_total_ns = st.pause_total;
    memcpy(out->pause_hist, st.hist, sizeof st.hist);
    memcpy(out->pause_recent_ns, st.recent, sizeof st.recent);
    out->mark_last_ns = st.mark_last;
    out->heap_marked = st.marked;
    out->heap_goal = st.goal == UINT64_MAX ? 0 : st.goal;
    out->roots_bytes = st.roots;
    out->markers = st.markers;
    goc__lock_release(&st.lock);
    out->heap_live = atomic_load(&goc__gc.heap_live);
    out->percent = atomic_load(&goc__gc.percent);
    out->stress = goc__gc.stress;
    goc__gc_fin_stats(&out->finalizers_queued, &out->finalizers_run);
    if (!out->cycles)
        out->heap_goal = atomic_load(&goc__gc.trigger) == UINT64_MAX ? 0
                                                                     : atomic_load(&goc__gc.trigger);
}

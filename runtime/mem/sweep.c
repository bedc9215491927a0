/* sweep.c: sweeping collected spans (Go's mgcsweep.go), lazily and in
 * the background, and the collector's background thread.
 *
 * Sweeping a span turns its mark bits into its allocation bits: every
 * slot the last mark did not reach becomes free (filled with
 * GOC_POISON_WORD under GOC_GCSTRESS, poisoned under ASan). A swept span
 * with no object left goes back to the heap, whose scavenger gives its
 * pages to the kernel as for explicit memory. Spans are swept
 *  - by a refill that needs a span (gcalloc.c: lazy sweeping),
 *  - by the background thread right after each cycle,
 *  - and what is left by the next cycle before it marks (sweep
 *    termination), since marking needs exact allocation bits.
 * Whoever sweeps a span holds its central's lock throughout.
 *
 * The background thread is not an M (the collector never stops it): it
 * sweeps, and runs the cycles asked for by code that cannot run one itself
 * (goc_malloc under GOC_GCSTRESS may hold any runtime lock), the one Go
 * forces when none ran for 2 minutes, and under GOC_GCSTRESS one every
 * millisecond that passes without any, so that programs that hardly
 * allocate are stopped and scanned at arbitrary points too. The collector pauses its sweeping
 * before a cycle (goc__gc_bg_pause): bg.lock is held by the sweeping
 * thread for one span at a time, and by the collector through its cycle.
 */
#include "gc.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#define FORCE_NS ((int64_t)120 * 1000000000) /* Go's forcegcperiod */
#define STRESS_NS ((int64_t)1000000)         /* GOC_GCSTRESS: a cycle at least this often */

/* Fills a freed object with the poison pattern. Uninstrumented: the
 * object was last written by threads the sweeper has no order with (its
 * next user is declared to TSan as new memory, gcalloc.c). */
GOC_SCAN_FN void goc__gc_poison(void *p, size_t n)
{
    volatile uint64_t *q = p;
    for (size_t i = 0; i < n / 8; i++)
        q[i] = GOC_POISON_WORD;
}

uint32_t goc__gc_sweep_span(goc_mspan *s)
{
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    s->sweepgen = sg - 1;
    uint32_t n = goc__gc_sweep_bits(s, goc__gc.poison);
    s->sweepgen = sg;
    return n;
}

/* Gives an empty collected span's pages back to the heap. */
static void span_free(goc_mspan *s)
{
    GOC_TSAN_NEW((void *)s->base, (size_t)s->npages << GOC_PAGE_SHIFT);
    goc__heap_free(s);
}

/* Sweeps one span of gc (kind k - 1, class cls); false when none is left. */
static bool sweep_central(goc__gcentral *gc, uint32_t sg)
{
    int sw = goc__gc_swept(sg), us = goc__gc_unswept(sg);
    if (!atomic_load_explicit(&gc->unswept, memory_order_relaxed))
        return false;
    goc__lock_acquire(&gc->lock);
    goc_mspan *s = goc__gc_pop(&gc->partial[us]);
    if (!s)
        s = goc__gc_pop(&gc->full[us]);
    if (!s) {
        atomic_store_explicit(&gc->unswept, false, memory_order_relaxed);
        goc__lock_release(&gc->lock);
        return false;
    }
    uint32_t n = goc__gc_sweep_span(s);
    if (n == 0)
        span_free(s);
    else
        goc__gc_push(n < s->nelems ? &gc->partial[sw] : &gc->full[sw], s);
    goc__lock_release(&gc->lock);
    return true;
}

/* Sweeps one large object; false when none is left. */
static bool sweep_large(uint32_t sg)
{
    goc__gcentral *gc = &goc__gclarge;
    if (!atomic_load_explicit(&gc->unswept, memory_order_relaxed))
        return false;
    goc__lock_acquire(&gc->lock);
    goc_mspan *s = goc__gc_pop(&gc->full[goc__gc_unswept(sg)]);
    if (!s) {
        atomic_store_explicit(&gc->unswept, false, memory_order_relaxed);
        goc__lock_release(&gc->lock);
        return false;
    }
    if (s->markbits[0] & 1) {
        s->markbits[0] = 0;
        s->sweepgen = sg;
        goc__gc_push(&gc->full[goc__gc_swept(sg)], s);
    } else {
        if (goc__gc.poison)
            goc__gc_poison((void *)s->base, s->reqsize);
        span_free(s);
    }
    goc__lock_release(&gc->lock);
    return true;
}

bool goc__gc_sweepone(void)
{
    static _Atomic uint32_t next; /* where the last search stopped, to spread sweepers */
    uint32_t sg = atomic_load(&goc__gc.sweepgen);
    uint32_t n = 2 * GOC_NUM_CLASSES, start = atomic_load_explicit(&next, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = (start + i) % n, k = j / GOC_NUM_CLASSES, cls = j % GOC_NUM_CLASSES;
        if (cls == 0)
            continue;
        if (sweep_central(&goc__gcentrals[k][cls], sg)) {
            atomic_store_explicit(&next, j, memory_order_relaxed);
            return true;
        }
    }
    return sweep_large(sg);
}

/* ---- the background thread ---------------------------------------------------- */

static struct {
    goc__lock lock;           /* held while sweeping a span, and by a cycle */
    _Atomic uint32_t wake;    /* futex: bumped to wake the thread */
    _Atomic bool sweep;       /* spans may be left to sweep */
    _Atomic bool request;     /* a cycle was asked for */
    _Atomic bool started;
} bg = {.lock = GOC_LOCK_INIT};

static __thread bool is_bg; /* this thread is the background thread */

static void sweep_all(void)
{
    for (;;) {
        goc__lock_acquire(&bg.lock);
        bool more = goc__gc_sweepone();
        goc__lock_release(&bg.lock);
        if (!more)
            return;
    }
}

/* How long the background thread waits after a cycle before it runs one
 * of its own: under GOC_GCSTRESS a millisecond, or four times the last
 * pause when that is longer (a million goroutines' stacks take a while to
 * scan: the program still gets four fifths of the time). */
static int64_t stress_gap(void)
{
    int64_t gap = 4 * (int64_t)goc__gc_last_pause();
    return gap > STRESS_NS ? gap : STRESS_NS;
}

static void *bg_main(void *arg)
{
    (void)arg;
    is_bg = true;
    for (;;) {
        uint32_t w = atomic_load(&bg.wake);
        int64_t wait = 1000000000; /* look at the clock each second */
        int64_t idle = goc__nanotime() - goc__gc_last_end();
        /* GOGC off: none of these; nor before goc_start has set the Ps up */
        bool on = atomic_load(&goc__gc.percent) >= 0 && atomic_load(&goc__gc.started);
        if (on && goc__gc.stress && idle < stress_gap()) {
            wait = stress_gap() - idle; /* requests wait too, and pile up meanwhile */
        } else if (on && (goc__gc.stress || atomic_load(&bg.request))) {
            atomic_store(&bg.request, false);
            goc__gc_collect_requested(); /* under stress also while nothing allocates */
            continue;
        } else if (on && goc__gc_last_end() && idle >= FORCE_NS) {
            goc__gc_collect_timed();
        }
        atomic_store(&bg.request, false);
        if (atomic_exchange(&bg.sweep, false))
            sweep_all();
        if (w == atomic_load(&bg.wake))
            goc__futex_wait(&bg.wake, w, wait);
    }
    return NULL;
}

static void bg_wake(void)
{
    atomic_fetch_add(&bg.wake, 1);
    goc__futex_wake(&bg.wake, 1);
}

void goc__gc_bg_start(void)
{
    if (atomic_load(&bg.started) || atomic_exchange(&bg.started, true))
        return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    sigset_t all, old; /* signals are for the Ms */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    if (pthread_create(&th, &attr, bg_main, NULL) != 0)
        goc__throw("collector: cannot start its background thread");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

bool goc__gc_bg_is_self(void)
{
    return is_bg;
}

void goc__gc_bg_pause(void)
{
    if (!goc__gc_bg_is_self())
        goc__lock_acquire(&bg.lock);
}

void goc__gc_bg_resume(void)
{
    if (!goc__gc_bg_is_self())
        goc__lock_release(&bg.lock);
    atomic_store(&bg.sweep, true);
    goc__gc_bg_start();
    bg_wake();
}

void goc__gc_bg_request(void)
{
    atomic_store(&bg.request, true);
    goc__gc_bg_start();
    bg_wake();
}

/* roots.c: the collector's roots (Go's markroot), as jobs the markers
 * share, and the registered roots (goc_gc_root_add).
 *
 * The jobs, in order:
 *  - goroutine stacks, one job per slab of the stack registry: each live
 *    goroutine's stack from its saved stack pointer (less the x86-64 red
 *    zone) to the top of its header (the G and stack record: a goroutine's
 *    argument copy, timer and panic live there); a stack holding the
 *    stack pointer at which the world stopped one of the Ms is scanned
 *    from that one instead, whatever its goroutine's state (a goroutine
 *    caught mid-switch has a stale saved one);
 *  - the writable segments of the program and its shared libraries
 *    (dl_iterate_phdr, read before the pause), in 256 KiB pieces, less the
 *    allocator's and collector's own statics (the arena index: 16 MiB of
 *    pointers to its records; the heap's bounds: the first object of an
 *    arena would never be freed);
 *  - explicit blocks: every allocated slot of every explicit span, less the
 *    objects on the Ps' free lists (goc__cache_mark_free), 256 spans a job;
 *  - the threads: every stopped M's registers, and its own stack (g0) from
 *    its stop or saved stack pointer;
 *  - the argument of every pending timer of every P;
 *  - the registered roots;
 *  - what pending finalizers need (finalizer.c).
 * Stacks of threads that are not Ms, thread-local storage and libc's heap
 * are not roots (goc/gc.h says so).
 */
#include "gc.h"

#include <errno.h>
#include <link.h>
#include <string.h>

#define DATA_CHUNK ((uintptr_t)256 << 10)
#define SPANS_PER_JOB 256

typedef struct range {
    uintptr_t lo, hi;
} range;

/* Where the world stopped one M (stw.c's records), sorted by sp. */
typedef struct stop {
    uintptr_t sp;
    bool exact; /* no red zone below sp (a call's stack pointer) */
    const uintptr_t *regs;
    uint32_t nregs;
    goc_m *m;
} stop;

static struct {
    range *data;  /* writable segments (before the pause), in scratch memory */
    size_t ndata;
    stop *stops;  /* the stop records, sorted by sp */
    size_t nstops;
    goc_mspan **spans; /* every span record */
    size_t nspans;
    /* the job layout: first job of each kind */
    size_t j_data, j_spans, j_threads, j_timers, j_registered, j_fin, njobs;
    _Atomic uint64_t bytes; /* scanned by root jobs this cycle */
} rt;

/* Roots registered by goc_gc_root_add, their addresses hidden (~addr) so
 * that the table, an explicit block scanned like the others, keeps
 * nothing alive itself. */
static struct {
    goc__lock lock; /* guards the table; held by the collector across its pause */
    struct reg_root {
        uintptr_t haddr;
        size_t size;
    } *v;
    size_t n, cap;
} reg = {.lock = GOC_LOCK_INIT};

/* ---- the segments, before the pause ---------------------------------------------- */

typedef struct seg_walk {
    range *data; /* NULL: count only */
    size_t n, cap;
} seg_walk;

/* The allocator's and the collector's own statics, which hold heap
 * addresses that are not references (the arena index; the heap's bounds
 * and next-arena hint; the markers' bounds): scanned, they would keep the
 * first object of an arena alive. */
static range exclude[4];

static void exclusions(void)
{
    const void *p;
    size_t n;
    exclude[0] = (range){(uintptr_t)goc__arenas, (uintptr_t)goc__arenas + sizeof goc__arenas};
    goc__heap_statics(&p, &n);
    exclude[1] = (range){(uintptr_t)p, (uintptr_t)p + n};
    goc__gc_mark_statics(&p, &n);
    exclude[2] = (range){(uintptr_t)p, (uintptr_t)p + n};
    exclude[3] = (range){(uintptr_t)&rt, (uintptr_t)(&rt + 1)};
}

/* Adds [lo, hi) to the walk's ranges, less the excluded ones. */
static void add_range(uintptr_t lo, uintptr_t hi, seg_walk *sw)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    hi &= ~(uintptr_t)7;
    if (lo >= hi)
        return;
    for (size_t i = 0; i < sizeof exclude / sizeof exclude[0]; i++) {
        uintptr_t xlo = exclude[i].lo & ~(uintptr_t)7, xhi = (exclude[i].hi + 7) & ~(uintptr_t)7;
        if (lo < xhi && xlo < hi) { /* cut the excluded range out */
            add_range(lo, xlo, sw);
            add_range(xhi, hi, sw);
            return;
        }
    }
    if (sw->data && sw->n < sw->cap)
        sw->data[sw->n] = (range){lo, hi};
    sw->n++;
}

static int each_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    seg_walk *sw = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        add_range(lo, lo + ph->p_memsz, sw);
    }
    return 0;
}

void goc__gc_roots_prepare(void)
{
    exclusions();
    seg_walk count = {NULL, 0, 0};
    dl_iterate_phdr(each_object, &count);
    size_t cap = count.n + 8; /* a library loaded between the walks */
    seg_walk fill = {goc__gc_scratch(cap * sizeof(range)), 0, cap};
    dl_iterate_phdr(each_object, &fill);
    rt.data = fill.data;
    rt.ndata = fill.n < cap ? fill.n : cap;
}

/* ---- the job layout, while stopped ------------------------------------------------- */

typedef struct stop_fill {
    stop *v;
    size_t n;
} stop_fill;

GOC_STW_FN static void count_stop(goc_m *m, uintptr_t sp, bool exact, const uintptr_t *regs,
                                  uint32_t n, void *arg)
{
    (void)m, (void)sp, (void)exact, (void)regs, (void)n;
    ((stop_fill *)arg)->n++;
}

GOC_STW_FN static void fill_stop(goc_m *m, uintptr_t sp, bool exact, const uintptr_t *regs,
                                 uint32_t n, void *arg)
{
    stop_fill *f = arg;
    f->v[f->n++] = (stop){sp, exact, regs, n, m};
}

/* Sorts the stop records by sp (Shell's sort: a few hundred records). */
GOC_STW_FN static void sort_stops(stop *v, size_t n)
{
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            stop t = v[i];
            size_t j = i;
            for (; j >= gap && v[j - gap].sp > t.sp; j -= gap)
                v[j] = v[j - gap];
            v[j] = t;
        }
}

GOC_STW_FN static size_t data_jobs(void)
{
    size_t n = 0;
    for (size_t i = 0; i < rt.ndata; i++)
        n += (rt.data[i].hi - rt.data[i].lo + DATA_CHUNK - 1) / DATA_CHUNK;
    return n;
}

GOC_STW_FN size_t goc__gc_roots_jobs(goc_mspan **spans, size_t nspans)
{
    stop_fill f = {NULL, 0};
    goc__stw_each(count_stop, &f);
    f.v = goc__gc_scratch(f.n * sizeof(stop) + 1);
    f.n = 0;
    goc__stw_each(fill_stop, &f);
    sort_stops(f.v, f.n);
    rt.stops = f.v;
    rt.nstops = f.n;
    rt.spans = spans;
    rt.nspans = nspans;
    atomic_store_explicit(&rt.bytes, 0, memory_order_relaxed);
    size_t j = (size_t)goc__stack_nslabs();
    rt.j_data = j;
    j += data_jobs();
    rt.j_spans = j;
    j += (rt.nspans + SPANS_PER_JOB - 1) / SPANS_PER_JOB;
    rt.j_threads = j++;
    rt.j_timers = j++;
    rt.j_registered = j++;
    rt.j_fin = j;
    j += goc__gc_fin_njobs();
    rt.njobs = j;
    return j;
}

/* ---- the jobs ----------------------------------------------------------------------- */

GOC_STW_FN static void count_bytes(uintptr_t n)
{
    atomic_fetch_add_explicit(&rt.bytes, n, memory_order_relaxed);
}

/* The stop record whose sp lies in [lo, hi), or NULL. */
GOC_STW_FN static const stop *stop_in(uintptr_t lo, uintptr_t hi)
{
    size_t a = 0, b = rt.nstops;
    while (a < b) { /* first sp >= lo */
        size_t mid = (a + b) / 2;
        if (rt.stops[mid].sp < lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a < rt.nstops && rt.stops[a].sp < hi ? &rt.stops[a] : NULL;
}

/* Scans [sp, top) (less the red zone below sp unless exact), sp clamped
 * into [lo, top). Where the stack pointer is a call's (the collecting
 * goroutine's own, or goc_syscall_enter's) there is no red zone: what
 * lies below is the collector's own frames, or the blocking call's. */
GOC_STW_FN static void scan_from(goc__gcw *w, uintptr_t lo, uintptr_t sp, bool exact,
                                 uintptr_t top)
{
    if (!exact)
        sp = sp > lo + GOC_REDZONE ? sp - GOC_REDZONE : lo;
    if (sp >= top)
        sp = lo;
    sp &= ~(uintptr_t)7;
    goc__gcw_scan(w, sp, top - sp);
    count_bytes(top - sp);
}

GOC_STW_FN static void scan_stack(goc__stack *st, void *arg)
{
    goc__gcw *w = arg;
    uintptr_t lo = (uintptr_t)st->lo, top = (uintptr_t)st + sizeof *st;
    const stop *sr = stop_in(lo, top);
    if (sr) {
        scan_from(w, lo, sr->sp, sr->exact, top);
        return;
    }
    goc_g *g = st->g;
    uint32_t s = atomic_load_explicit(&g->status, memory_order_relaxed);
    if (s == GOC_GDEAD || s == GOC_GIDLE || g->id == 0)
        return;
    scan_from(w, lo, goc__ctx_sp(&g->ctx), false, top); /* the switch may be in a leaf */
}

/* Stopped Ms: registers, and the thread's own stack (g0). */
GOC_STW_FN static void scan_threads(goc__gcw *w)
{
    for (size_t i = 0; i < rt.nstops; i++) {
        const stop *sr = &rt.stops[i];
        for (uint32_t k = 0; k < sr->nregs; k++)
            goc__gcw_mark(w, sr->regs[k]);
        goc_m *m = sr->m;
        if (!m || !m->g0_stack_lo)
            continue;
        uintptr_t lo = (uintptr_t)m->g0_stack_lo, top = lo + m->g0_stack_size;
        bool on_g0 = sr->sp >= lo && sr->sp < top;
        uintptr_t sp = on_g0 ? sr->sp : goc__ctx_sp(&m->g0.ctx);
        if (sp >= lo && sp < top)
            scan_from(w, lo, sp, on_g0 && sr->exact, top);
    }
}

GOC_STW_FN static void scan_timers(goc__gcw *w)
{
    for (int i = 0; i < goc__sched_.nprocs; i++) {
        goc_p *p = goc__sched_.allp[i];
        for (int32_t j = 0; j < p->ntimers; j++)
            goc__gcw_mark(w, (uintptr_t)p->timers[j]->arg);
    }
}

GOC_STW_FN static void scan_registered(goc__gcw *w)
{
    for (size_t i = 0; i < reg.n; i++) { /* the aligned words inside the root */
        uintptr_t a = ~reg.v[i].haddr;
        uintptr_t lo = (a + 7) & ~(uintptr_t)7, hi = (a + reg.v[i].size) & ~(uintptr_t)7;
        if (hi > lo) {
            goc__gcw_scan(w, lo, hi - lo);
            count_bytes(hi - lo);
        }
    }
}

/* An explicit span: each allocated slot not on a free list (whose marks
 * goc__cache_mark_free left in markbits, cleared here). */
GOC_SCAN_FN static void scan_explicit(goc__gcw *w, goc_mspan *s)
{
    if (s->state == GOC_SPAN_LARGE) {
        size_t n = (s->reqsize + 7) & ~(size_t)7;
        goc__gcw_scan(w, s->base, n);
        count_bytes(n);
        return;
    }
    uint32_t nelems = s->nelems, below = s->cached ? s->freeindex : 0;
    uintptr_t es = s->elemsize;
    for (uint32_t wi = 0; wi * 64 < nelems; wi++) {
        uint64_t live = s->allocbits[wi];
        if (below > wi * 64) /* a cached span's slots below freeindex are allocated */
            live |= below >= wi * 64 + 64 ? ~(uint64_t)0 : ((uint64_t)1 << (below - wi * 64)) - 1;
        if (nelems < wi * 64 + 64)
            live &= ((uint64_t)1 << (nelems - wi * 64)) - 1;
        live &= ~s->markbits[wi];
        s->markbits[wi] = 0;
        while (live) {
            uint32_t idx = wi * 64 + (uint32_t)__builtin_ctzll(live);
            live &= live - 1;
            goc__gcw_scan(w, s->base + idx * es, es);
            count_bytes(es);
        }
    }
}

GOC_STW_FN void goc__gc_root_job(goc__gcw *w, size_t i)
{
    if (i < rt.j_data) {
        goc__stack_slab_each((int)i, scan_stack, w);
    } else if (i < rt.j_spans) {
        size_t k = i - rt.j_data;
        for (size_t r = 0; r < rt.ndata; r++) { /* the k-th chunk over all ranges */
            size_t nchunks = (rt.data[r].hi - rt.data[r].lo + DATA_CHUNK - 1) / DATA_CHUNK;
            if (k >= nchunks) {
                k -= nchunks;
                continue;
            }
            uintptr_t lo = rt.data[r].lo + k * DATA_CHUNK;
            uintptr_t hi = lo + DATA_CHUNK < rt.data[r].hi ? lo + DATA_CHUNK : rt.data[r].hi;
            goc__gcw_scan(w, lo, hi - lo);
            count_bytes(hi - lo);
            return;
        }
    } else if (i < rt.j_threads) {
        size_t a = (i - rt.j_spans) * SPANS_PER_JOB;
        size_t b = a + SPANS_PER_JOB < rt.nspans ? a + SPANS_PER_JOB : rt.nspans;
        for (size_t k = a; k < b; k++) {
            goc_mspan *s = rt.spans[k];
            if (s->state == GOC_SPAN_SMALL || s->state == GOC_SPAN_LARGE)
                scan_explicit(w, s);
        }
    } else if (i == rt.j_threads) {
        scan_threads(w);
    } else if (i == rt.j_timers) {
        scan_timers(w);
    } else if (i == rt.j_registered) {
        scan_registered(w);
    } else {
        goc__gc_fin_job(w, i - rt.j_fin);
    }
}

GOC_STW_FN uint64_t goc__gc_roots_bytes(void)
{
    return atomic_load_explicit(&rt.bytes, memory_order_relaxed);
}

/* ---- registered roots ------------------------------------------------------------- */

void goc__gc_roots_lock(void)
{
    goc__lock_acquire(&reg.lock);
}

void goc__gc_roots_unlock(void)
{
    goc__lock_release(&reg.lock);
}

int goc_gc_root_add(void *addr, size_t size)
{
    if (!addr || !size)
        return -EINVAL;
    goc__lock_acquire(&reg.lock);
    if (reg.n == reg.cap) {
        size_t cap = reg.cap ? reg.cap * 2 : 16;
        struct reg_root *v = goc_realloc(reg.v, cap * sizeof *v);
        if (!v) {
            goc__lock_release(&reg.lock);
            return -ENOMEM;
        }
        reg.v = v;
        reg.cap = cap;
    }
    reg.v[reg.n++] = (struct reg_root){~(uintptr_t)addr, size};
    goc__lock_release(&reg.lock);
    return 0;
}

int goc_gc_root_remove(void *addr)
{
    int rc = -ENOENT;
    goc__lock_acquire(&reg.lock);
    for (size_t i = 0; i < reg.n; i++)
        if (reg.v[i].haddr == ~(uintptr_t)addr) {
            reg.v[i] = reg.v[--reg.n];
            rc = 0;
            break;
        }
    goc__lock_release(&reg.lock);
    return rc;
}

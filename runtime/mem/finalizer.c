/* finalizer.c: finalizers (Go's runtime.SetFinalizer; src/runtime/mfinal.go).
 *
 * A finalizer is a record (object, function) in a hash table keyed by the
 * object's address, stored hidden (~addr) so that the table, an explicit
 * block the collector scans like any other, keeps nothing alive. Each cycle:
 *  - root work (goc__gc_fin_job): the contents of every object with a
 *    finalizer are scanned, the object itself is not marked: what it points
 *    to stays alive for its finalizer, and it is found unreachable only if
 *    nothing else reaches it (an object reachable from itself never is, as
 *    in Go);
 *  - after the mark (goc__gc_fin_queue): each object with a finalizer left
 *    unmarked is marked (it lives until its finalizer ran) and its record
 *    moves from the table to the pending array, so it runs at most once;
 *  - after the restart (goc__gc_fin_flush): each pending record becomes a
 *    queue entry, an explicit block holding the object's address (a root
 *    until the finalizer ran), and the finalizer goroutine, made on first
 *    need, runs the queue one entry at a time.
 * The collector holds fin.lock across its pause: the table, the pending
 * array and the queue are consistent while it reads them.
 */
#include "gc.h"

#include <errno.h>
#include <string.h>

#define TOMB UINTPTR_MAX   /* a removed record (~0: no object is at address 0) */
#define FIN_JOB_SLOTS 1024 /* table slots per root job */

typedef struct special {
    uintptr_t hobj;      /* ~object; 0: empty slot; TOMB: removed */
    void (*fn)(void *);
} special;

typedef struct finrec {
    struct finrec *next;
    void (*fn)(void *);
    void *obj;
} finrec;

static struct {
    goc__lock lock;       /* guards everything below; held by the collector across its pause */
    special *tab;         /* open addressing, linear probing; cap a power of two */
    size_t cap, n, used;  /* slots, live records, live + removed */
    special *pending;     /* queued by the last mark, not yet in the queue */
    size_t npending, cappending;
    finrec *head, *tail;  /* the queue, oldest first */
    goc_g *fing;          /* the finalizer goroutine, once it runs */
    bool parked;          /* fing waits for the queue */
    _Atomic bool spawned;
    _Atomic uint64_t nqueued, nrun;
} fin = {.lock = GOC_LOCK_INIT};

static inline size_t slot_of(uintptr_t hobj, size_t cap)
{
    return (size_t)((hobj * 0x9e3779b97f4a7c15ull) >> 7) & (cap - 1);
}

/* The slot holding hobj, or the empty slot where it would go. */
static special *find(uintptr_t hobj)
{
    for (size_t i = slot_of(hobj, fin.cap);; i = (i + 1) & (fin.cap - 1))
        if (fin.tab[i].hobj == hobj || fin.tab[i].hobj == 0)
            return &fin.tab[i];
}

/* Room for one more record (removed ones are dropped on a rehash). */
static bool grow(void)
{
    if (fin.cap && (fin.used + 1) * 2 <= fin.cap)
        return true;
    size_t cap = fin.cap ? fin.cap : 64;
    while ((fin.n + 1) * 2 > cap)
        cap *= 2;
    special *old = fin.tab;
    size_t oldcap = fin.cap;
    fin.tab = goc_calloc(cap, sizeof *fin.tab);
    if (!fin.tab) {
        fin.tab = old;
        return false;
    }
    fin.cap = cap;
    fin.used = fin.n;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].hobj && old[i].hobj != TOMB)
            *find(old[i].hobj) = old[i];
    goc_free(old);
    return true;
}

/* ---- the finalizer goroutine ------------------------------------------------------ */

static void fing_main(void *arg)
{
    (void)arg;
    for (;;) {
        goc__lock_acquire(&fin.lock);
        fin.fing = goc__getg();
        finrec *r = fin.head;
        if (!r) {
            fin.parked = true;
            goc__park_unlock(&fin.lock, "finalizer wait");
            continue;
        }
        fin.head = r->next;
        if (!fin.head)
            fin.tail = NULL;
        goc__lock_release(&fin.lock);
        void (*fn)(void *) = r->fn;
        void *obj = r->obj;
        r->obj = NULL; /* a freed block is not scanned, but be plain about it */
        goc_free(r);
        fn(obj);
        goc_gc_keepalive(obj);
        atomic_fetch_add(&fin.nrun, 1);
    }
}

/* Starts the finalizer goroutine once, if the caller runs on a P. */
static void fing_spawn(void)
{
    if (atomic_load(&fin.spawned) || !goc__getp())
        return;
    if (atomic_exchange(&fin.spawned, true))
        return;
    if (goc_go(fing_main, NULL, 0) < 0)
        atomic_store(&fin.spawned, false);
}

/* ---- the public call ----------------------------------------------------------------- */

int goc_gc_finalizer_set(void *obj, void (*fn)(void *obj))
{
    goc_mspan *s = obj ? goc__spanof(obj) : NULL;
    if (!s || (s->state != GOC_SPAN_GC_SMALL && s->state != GOC_SPAN_GC_LARGE))
        return -EINVAL;
    uintptr_t off = (uintptr_t)obj - s->base;
    uint32_t idx = (uint32_t)(((uint64_t)off * s->divmul) >> 32);
    if ((uintptr_t)idx * s->elemsize != off || idx >= s->nelems)
        return -EINVAL;
    uintptr_t h = ~(uintptr_t)obj;
    int rc = 0;
    goc__lock_acquire(&fin.lock);
    special *sp = fin.cap ? find(h) : NULL;
    if (sp && sp->hobj == h) {
        if (fn) {
            rc = -EEXIST;
        } else {
            sp->hobj = TOMB;
            fin.n--;
        }
    } else if (fn) {
        if (!grow()) {
            rc = -ENOMEM;
        } else {
            sp = find(h);
            *sp = (special){h, fn};
            fin.n++;
            fin.used++;
        }
    }
    goc__lock_release(&fin.lock);
    if (rc == 0 && fn)
        fing_spawn();
    return rc;
}

/* ---- for the collector ------------------------------------------------------------- */

void goc__gc_fin_lock(void)
{
    goc__lock_acquire(&fin.lock);
}

void goc__gc_fin_unlock(void)
{
    goc__lock_release(&fin.lock);
}

void goc__gc_fin_prepare(void)
{
    if (fin.n <= fin.cappending)
        return;
    special *p = goc_realloc(fin.pending, fin.n * sizeof *p);
    if (!p)
        goc_fatal("collector: out of memory for finalizers");
    fin.pending = p;
    fin.cappending = fin.n;
}

GOC_STW_FN size_t goc__gc_fin_njobs(void)
{
    return (fin.cap + FIN_JOB_SLOTS - 1) / FIN_JOB_SLOTS;
}

GOC_STW_FN void goc__gc_fin_job(goc__gcw *w, size_t j)
{
    size_t a = j * FIN_JOB_SLOTS, b = a + FIN_JOB_SLOTS < fin.cap ? a + FIN_JOB_SLOTS : fin.cap;
    for (size_t i = a; i < b; i++) {
        uintptr_t h = fin.tab[i].hobj;
        if (!h || h == TOMB)
            continue;
        uintptr_t obj = ~h;
        goc_mspan *s = goc__spanof((void *)obj);
        if (s->kind != GOC_KIND_SCAN)
            continue;
        goc__gcw_scan(w, obj, s->state == GOC_SPAN_GC_SMALL ? s->elemsize
                                                           : (s->reqsize + 7) & ~(size_t)7);
    }
}

GOC_STW_FN uint64_t goc__gc_fin_queue(void)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < fin.cap; i++) {
        special *sp = &fin.tab[i];
        if (!sp->hobj || sp->hobj == TOMB || goc__gc_is_marked((void *)~sp->hobj))
            continue;
        bytes += goc__gc_mark_only((void *)~sp->hobj);
        fin.pending[fin.npending++] = *sp;
        sp->hobj = TOMB;
        fin.n--;
    }
    return bytes;
}

void goc__gc_fin_flush(void)
{
    goc__lock_acquire(&fin.lock);
    size_t n = fin.npending;
    for (size_t i = 0; i < n; i++) {
        finrec *r = goc_malloc(sizeof *r);
        if (!r)
            goc_fatal("collector: out of memory for finalizers");
        *r = (finrec){NULL, fin.pending[i].fn, (void *)~fin.pending[i].hobj};
        if (fin.tail)
            fin.tail->next = r;
        else
            fin.head = r;
        fin.tail = r;
    }
    fin.npending = 0;
    atomic_fetch_add(&fin.nqueued, n);
    if (fin.head && fin.parked) {
        fin.parked = false;
        goc__ready(fin.fing, false);
    }
    bool waiting = fin.head != NULL;
    goc__lock_release(&fin.lock);
    if (waiting)
        fing_spawn();
}

void goc__gc_fin_stats(uint64_t *queued, uint64_t *run)
{
    *queued = atomic_load(&fin.nqueued);
    *run = atomic_load(&fin.nrun);
}

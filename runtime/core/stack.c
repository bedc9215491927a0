/* stack.c: goroutine stacks.
 *
 * A stack is anonymous mapped memory that the kernel commits page by page
 * as it is touched, so an idle goroutine costs the pages it used (one, for
 * a parked goroutine that did little). The G header lives at the top of its
 * stack, so spawning allocates nothing else.
 *
 * Stacks of the default size are carved from slabs of SLAB_STACKS stacks:
 * one mapping per slab keeps the number of kernel mappings (VMAs) far below
 * vm.max_map_count (65530) even with a million goroutines. Below each stack
 * sits a guard page. With Linux 6.13's MADV_GUARD_INSTALL the guard costs
 * no VMA; on older kernels it is an mprotect(PROT_NONE) page (two VMAs per
 * stack) while a budget of a quarter of max_map_count lasts, after which
 * stacks go unguarded and overflow is caught by the stack-pointer check on
 * every switch. Other sizes (the main goroutine's, explicit sizes) get a
 * mapping each and are unmapped when their goroutine ends.
 *
 * Free default stacks are cached per P (no lock) and in a global pool, most
 * recently used first. They move between the two in batches of up to half
 * a cache, which the pool keeps whole: taking one is a constant-time unlink
 * (walking it there, under the lock, through records last written by
 * another P's CPU had been a sixth of spawn_join with two Ps).
 * A stack keeps the pages its deepest call touched, so
 * stacks that rotate through the caches would come to hold their deepest
 * use each: once a second sysmon gives back the pages of the pool's stacks
 * but the most recent POOL_KEEP (goc__stack_scavenge_tick), as Go frees the
 * stacks of its global free list at each collection. Such stacks wait on a
 * list of their own, used after the others; so do fresh ones, and those the
 * pool gives back at once when it holds more than POOL_TRIM.
 *
 * Invariants:
 *  - Every mapped stack is in the registry (goc__stack_each_g, find).
 *  - A stack in a cache or the pool holds a G in GOC_GDEAD (or never used).
 *  - A stack on pool_rel has released set: nothing below its header page
 *    is resident. A stack taken for a goroutine has released clear.
 *  - pool is a chain of batches: the first stack of each names the batch's
 *    last (batch_tail) and its count (batch_n); pool.n is their sum.
 */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if GOC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define GUARD 4096
#define SLAB_STACKS 64
#define PCACHE_MAX 128 /* per-P cache: half goes to the pool past this */
#define POOL_TRIM 4096 /* pool stacks beyond this give their pages back */
#define POOL_KEEP 32   /* pool stacks the once-a-second release leaves alone */
#define STACK_SCAV_NS GOC_SECOND

/* A mapping holding n stacks of `stride` bytes (guard + usable): stack j's
 * top is at base + (j + 1) * stride (runtime/gdb/goc-gdb.py relies on it). */
typedef struct slab {
    char *base;
    size_t stride;
    size_t size; /* usable bytes per stack */
    int n;
    _Atomic int live; /* 0: unmapped, entry free for reuse */
} slab;

/* The registry: entries [0, reg_n) of chunks of REG_CHUNK slabs. An enum,
 * not macros, so that the debug info holds them: runtime/gdb/goc-gdb.py
 * walks the registry to list the goroutines. */
enum { REG_CHUNK = 4096, REG_CHUNKS = 4096 };
static slab *reg_chunks[REG_CHUNKS];
static _Atomic int reg_n; /* entries published */
static goc__lock reg_lock;

static goc__lock pool_lock;     /* guards the three below */
static goc__stackcache pool;     /* free stacks that may hold pages, most recent first */
static goc__stackcache pool_rel; /* free stacks whose pages went back */
static int32_t pool_releasing;   /* taken off pool by the release in progress */
static int64_t scav_last;     /* sysmon's last release (sysmon only) */
static _Atomic size_t nmapped;

static int guard_mode = -1; /* 0: MADV_GUARD_INSTALL, 1: mprotect, 2: budget spent */
static long guard_budget;

static inline __attribute__((always_inline)) slab *reg_at(int i)
{
    return &reg_chunks[i / REG_CHUNK][i % REG_CHUNK];
}

static slab *reg_add(char *base, size_t stride, size_t size, int n)
{
    goc__lock_acquire(&reg_lock);
    int cnt = atomic_load(&reg_n);
    for (int i = 0; i < cnt; i++) {
        slab *s = reg_at(i);
        if (atomic_load(&s->live) == 0) {
            s->base = base, s->stride = stride, s->size = size, s->n = n;
            atomic_store(&s->live, 1);
            goc__lock_release(&reg_lock);
            return s;
        }
    }
    if (cnt >= REG_CHUNK * REG_CHUNKS)
        goc__throw("stack registry full");
    if (!reg_chunks[cnt / REG_CHUNK]) {
        reg_chunks[cnt / REG_CHUNK] = goc__calloc(REG_CHUNK, sizeof(slab));
        if (!reg_chunks[cnt / REG_CHUNK])
            goc__throw("stack registry: out of memory");
    }
    slab *s = reg_at(cnt);
    s->base = base, s->stride = stride, s->size = size, s->n = n;
    atomic_store(&s->live, 1);
    atomic_store(&reg_n, cnt + 1);
    goc__lock_release(&reg_lock);
    return s;
}

static bool install_guard(char *page)
{
    if (guard_mode < 0) {
        long max = 65530;
        FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
        if (f) {
            if (fscanf(f, "%ld", &max) != 1)
                max = 65530;
            fclose(f);
        }
        guard_budget = max / 4;
        guard_mode = madvise(page, GUARD, MADV_GUARD_INSTALL) == 0 ? 0 : 1;
        if (guard_mode == 0)
            return true;
    }
    if (guard_mode == 0)
        return madvise(page, GUARD, MADV_GUARD_INSTALL) == 0;
    if (guard_mode == 1 && guard_budget > 0) {
        guard_budget -= 2;
        return mprotect(page, GUARD, PROT_NONE) == 0;
    }
    guard_mode = 2;
    return false;
}

/* A list of free stacks (a P's cache, the pool, the released pool). */
static inline void list_push(goc__stackcache *l, goc__stack *s)
{
    s->next = l->list;
    l->list = s;
    l->n++;
}

static inline goc__stack *list_pop(goc__stackcache *l)
{
    goc__stack *s = l->list;
    if (s) {
        l->list = s->next;
        l->n--;
        s->next = NULL;
    }
    return s;
}

/* The G header just below a stack record (carve's layout). */
static inline goc_g *g_below(const goc__stack *st)
{
    return (goc_g *)(((uintptr_t)st - sizeof(goc_g)) & ~(uintptr_t)63);
}

/* Lays the G header (and its stack record) at the top of [lo, lo+size). */
static goc_g *carve(char *lo, size_t size, bool guarded)
{
    uintptr_t top = (uintptr_t)lo + size;
    goc__stack *st = (goc__stack *)((top - sizeof(goc__stack)) & ~(uintptr_t)63);
    goc_g *g = g_below(st);
    memset(g, 0, sizeof *g);
    st->lo = lo;
    st->size = (size_t)((uintptr_t)g - (uintptr_t)lo); /* usable below the header */
    st->next = NULL;
    st->g = g;
    st->guarded = guarded;
    st->single = false;
    st->released = true; /* only the header's page is touched */
    g->stack = st;
    g->sleeptimer.idx = -1; /* not pending */
    atomic_store(&g->status, GOC_GDEAD);
    return g;
}

static void *map_region(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    return p;
}

/* Maps a slab of default stacks; all but the returned one go to the pool. */
static goc_g *new_slab(size_t size)
{
    size_t stride = GUARD + size;
    char *base = map_region(stride * SLAB_STACKS);
    if (!base)
        return NULL;
    reg_add(base, stride, size, SLAB_STACKS);
    atomic_fetch_add(&nmapped, SLAB_STACKS);
    goc_g *first = NULL;
    goc__stack *batch = NULL;
    for (int i = 0; i < SLAB_STACKS; i++) {
        char *s = base + (size_t)i * stride;
        bool guarded = install_guard(s);
        goc_g *g = carve(s + GUARD, size, guarded);
        if (!first) {
            first = g;
        } else {
            g->stack->next = batch;
            batch = g->stack;
        }
    }
    goc__lock_acquire(&pool_lock);
    while (batch) {
        goc__stack *n = batch->next;
        list_push(&pool_rel, batch);
        batch = n;
    }
    goc__lock_release(&pool_lock);
    first->stack->released = false;
    return first;
}

/* A stack of its own, for sizes other than the default. */
static goc_g *new_single(size_t size)
{
    size = (size + 4095) & ~(size_t)4095;
    char *base = map_region(GUARD + size);
    if (!base)
        return NULL;
    reg_add(base, GUARD + size, size, 1);
    atomic_fetch_add(&nmapped, 1);
    goc_g *g = carve(base + GUARD, size, install_guard(base));
    g->stack->single = true;
    g->stack->map_base = base;
    g->stack->map_len = GUARD + size;
    return g;
}

#if GOC_ASAN
/* Clears the shadow of [lo, lo+size) as AddressSanitizer clears large
 * ranges: its whole pages are given back (they read as zero, "addressable",
 * and cost nothing until touched), the ends are unpoisoned. Unpoisoning it
 * all would memset it, and an eighth of every stack ever used would stay
 * resident. lo and size are multiples of 8 bytes. */
static void clear_shadow(char *lo, size_t size)
{
    size_t scale, offset;
    __asan_get_shadow_mapping(&scale, &offset);
    uintptr_t beg = ((uintptr_t)lo >> scale) + offset;
    uintptr_t end = (((uintptr_t)lo + size) >> scale) + offset;
    uintptr_t pbeg = (beg + 4095) & ~(uintptr_t)4095, pend = end & ~(uintptr_t)4095;
    if (pbeg >= pend) {
        __asan_unpoison_memory_region(lo, size);
        return;
    }
    __asan_unpoison_memory_region(lo, (pbeg - beg) << scale);
    __asan_unpoison_memory_region(lo + ((pend - beg) << scale), (end - pend) << scale);
    madvise((void *)pbeg, pend - pbeg, MADV_DONTNEED);
}
#endif

static void prepare(goc_g *g)
{
#if GOC_ASAN
    /* Frames that never returned left poisoned redzones behind. */
    clear_shadow(g->stack->lo, g->stack->size);
#endif
    (void)g;
}

/* Gives back a free stack's pages below its header's page. */
static void release_pages(goc__stack *s)
{
    if (s->released)
        return;
    uintptr_t hdr = (uintptr_t)s->g & ~(uintptr_t)4095;
    if (hdr > (uintptr_t)s->lo)
        madvise(s->lo, hdr - (uintptr_t)s->lo, MADV_DONTNEED);
#if GOC_ASAN
    clear_shadow(s->lo, s->size); /* its shadow too */
#endif
    s->released = true;
}

/* One free stack from the pools, for a spawn without a P: the head of the
 * most recent batch (the rest stays a batch), else a released one. */
static goc__stack *pool_take_one(void)
{
    goc__lock_acquire(&pool_lock);
    goc__stack *h = pool.list;
    if (h) {
        size_t n = h->batch_n;
        goc__stack *t = h->batch_tail;
        pool.list = h->next;
        pool.n--;
        if (n > 1) {
            pool.list->batch_tail = t;
            pool.list->batch_n = n - 1;
        }
        h->next = NULL;
    } else {
        h = list_pop(&pool_rel);
    }
    goc__lock_release(&pool_lock);
    return h;
}

goc_g *goc__stack_get(goc_p *p, size_t size)
{
    size_t dflt = goc__sched_.stack_size;
    if (size != dflt) {
        goc_g *g = new_single(size);
        return g;
    }
    if (!p) {
        goc__stack *s = pool_take_one();
        goc_g *g = s ? s->g : new_slab(dflt);
        if (!g)
            return NULL;
        g->stack->released = false;
        prepare(g);
        return g;
    }
    goc__stackcache *c = &p->stackcache;
    if (!c->list) {
        goc__lock_acquire(&pool_lock);
        goc__stack *h = pool.list;
        if (h) { /* the most recent batch, whole */
            goc__stack *t = h->batch_tail;
            pool.list = t->next;
            pool.n -= (int32_t)h->batch_n;
            t->next = NULL;
            c->list = h;
            c->n = (int32_t)h->batch_n;
        } else {
            for (int i = 0; i < PCACHE_MAX / 2; i++) {
                goc__stack *s = list_pop(&pool_rel);
                if (!s)
                    break;
                list_push(c, s);
            }
        }
        goc__lock_release(&pool_lock);
    }
    goc_g *g;
    goc__stack *s = list_pop(c);
    if (s) {
        s->released = false;
        g = s->g;
        /* The next spawn's lines were last written by the P that ran its
         * previous goroutine: start fetching them now (the record, the
         * header's first line, the argument and first frame below it). */
        goc__stack *nx = c->list;
        if (nx) {
            __builtin_prefetch(nx, 1);
            __builtin_prefetch(g_below(nx), 1);
            __builtin_prefetch((char *)g_below(nx) - 64, 1);
        }
    } else {
        g = new_slab(dflt);
        if (!g)
            return NULL;
    }
    prepare(g);
    return g;
}

static slab *slab_of(const void *addr)
{
    int cnt = atomic_load(&reg_n);
    for (int i = 0; i < cnt; i++) {
        slab *s = reg_at(i);
        if (atomic_load(&s->live) && (const char *)addr >= s->base &&
            (const char *)addr < s->base + s->stride * (size_t)s->n)
            return s;
    }
    return NULL;
}

void goc__stack_put(goc_p *p, goc_g *g)
{
    goc__stack *st = g->stack;
    if (st->single) {
        slab *s = slab_of(st->map_base);
        void *base = st->map_base;
        size_t len = st->map_len;
        if (s)
            atomic_store(&s->live, 0);
        munmap(base, len);
        atomic_fetch_sub(&nmapped, 1);
        return;
    }
    goc__stackcache *c = p ? &p->stackcache : NULL;
    if (c && c->n < PCACHE_MAX) {
        list_push(c, st);
        return;
    }
    /* Move half of the cache (or this stack alone) to the pool, as a batch
     * whose last stack is st (list_push adds at the head). */
    goc__stackcache batch = {0};
    list_push(&batch, st);
    while (c && c->n > PCACHE_MAX / 2)
        list_push(&batch, list_pop(c));
    batch.list->batch_tail = st;
    batch.list->batch_n = (size_t)batch.n;
    goc__lock_acquire(&pool_lock);
    bool trim = pool.n + batch.n > POOL_TRIM;
    if (trim) { /* give the pages back outside the lock */
        goc__lock_release(&pool_lock);
        for (goc__stack *s = batch.list; s; s = s->next)
            release_pages(s);
        goc__lock_acquire(&pool_lock);
    }
    goc__stackcache *to = trim ? &pool_rel : &pool;
    st->next = to->list;
    to->list = batch.list;
    to->n += batch.n;
    goc__lock_release(&pool_lock);
}

void goc__stack_cache_flush(goc_p *p)
{
    goc__stackcache *c = &p->stackcache;
    if (!c->list)
        return;
    goc__stack *tail = c->list;
    while (tail->next)
        tail = tail->next;
    c->list->batch_tail = tail; /* one batch, as goc__stack_put makes them */
    c->list->batch_n = (size_t)c->n;
    goc__lock_acquire(&pool_lock);
    tail->next = pool.list;
    pool.list = c->list;
    pool.n += c->n;
    goc__lock_release(&pool_lock);
    c->list = NULL;
    c->n = 0;
}

void goc__stack_scavenge_tick(int64_t now)
{
    if (now - scav_last < STACK_SCAV_NS)
        return;
    scav_last = now;
    /* Detach all but the most recent POOL_KEEP, release them unlocked:
     * whole batches, then the head of the next one, cut to fit. */
    goc__lock_acquire(&pool_lock);
    goc__stack *cold = NULL, *last = NULL, *h = pool.list;
    int32_t kept = 0;
    while (h && kept + (int32_t)h->batch_n <= POOL_KEEP) {
        kept += (int32_t)h->batch_n;
        last = h->batch_tail;
        h = last->next;
    }
    if (h && kept < POOL_KEEP) {
        goc__stack *t = h;
        for (int32_t i = kept + 1; i < POOL_KEEP; i++)
            t = t->next;
        h->batch_tail = t;
        h->batch_n = (size_t)(POOL_KEEP - kept);
        kept = POOL_KEEP;
        last = t;
    }
    if (last && last->next) {
        cold = last->next;
        last->next = NULL;
        pool_releasing = pool.n - kept;
        pool.n = kept;
    }
    goc__lock_release(&pool_lock);
    if (!cold)
        return;
    goc__stack *tail = cold;
    for (goc__stack *s = cold; s; s = s->next) {
        release_pages(s);
        tail = s;
    }
    goc__lock_acquire(&pool_lock);
    tail->next = pool_rel.list;
    pool_rel.list = cold;
    pool_rel.n += pool_releasing;
    pool_releasing = 0;
    goc__lock_release(&pool_lock);
}

void goc_stack_trim(void)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return;
    long page = sysconf(_SC_PAGESIZE);
    char here; /* the current depth; one page below it stays for this call */
    uintptr_t end = ((uintptr_t)&here - (uintptr_t)page) & ~((uintptr_t)page - 1);
    uintptr_t lo = ((uintptr_t)g->stack->lo + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    if (end > lo)
        madvise((void *)lo, end - lo, MADV_DONTNEED);
}

void goc__stack_each_g(void (*fn)(goc_g *g, void *arg), void *arg)
{
    int cnt = atomic_load(&reg_n);
    for (int i = 0; i < cnt; i++) {
        slab *s = reg_at(i);
        if (!atomic_load(&s->live))
            continue;
        for (int j = 0; j < s->n; j++) {
            char *lo = s->base + (size_t)j * s->stride + GUARD;
            uintptr_t top = (uintptr_t)lo + s->size;
            goc__stack *st = (goc__stack *)((top - sizeof(goc__stack)) & ~(uintptr_t)63);
            if (st->g && st->lo == lo)
                fn(st->g, arg);
        }
    }
}

goc_g *goc__stack_find(const void *addr, bool *in_guard)
{
    slab *s = slab_of(addr);
    if (!s)
        return NULL;
    size_t off = (size_t)((const char *)addr - s->base);
    size_t j = off / s->stride;
    *in_guard = off % s->stride < GUARD;
    char *lo = s->base + j * s->stride + GUARD;
    uintptr_t top = (uintptr_t)lo + s->size;
    goc__stack *st = (goc__stack *)((top - sizeof(goc__stack)) & ~(uintptr_t)63);
    return st->lo == lo ? st->g : NULL;
}

GOC_STW_FN int goc__stack_nslabs(void)
{
    return atomic_load(&reg_n);
}

GOC_STW_FN void goc__stack_slab_each(int i, void (*fn)(goc__stack *st, void *arg), void *arg)
{
    slab *s = reg_at(i);
    if (!atomic_load(&s->live))
        return;
    for (int j = 0; j < s->n; j++) {
        char *lo = s->base + (size_t)j * s->stride + GUARD;
        uintptr_t top = (uintptr_t)lo + s->size;
        goc__stack *st = (goc__stack *)((top - sizeof(goc__stack)) & ~(uintptr_t)63);
        if (st->lo == lo && st->g)
            fn(st, arg);
    }
}

size_t goc__stacks_mapped(void)
{
    return atomic_load(&nmapped);
}

void goc__stack_pool_counts(size_t *pooled, size_t *released)
{
    goc__lock_acquire(&pool_lock);
    *pooled = (size_t)(pool.n + pool_releasing + pool_rel.n);
    *released = (size_t)pool_rel.n;
    goc__lock_release(&pool_lock);
}

#if GOC_ASAN
/* LeakSanitizer checks for leaks at exit, after this runs (atexit is last
 * in, first out, and it registered first): it must see the pointers held
 * on goroutine stacks, which are not thread stacks. Only the live part of
 * each live goroutine's stack is registered (from its saved stack pointer
 * up): scanning every mapped stack whole would read gigabytes. */
static void lsan_live(goc_g *g, void *cur)
{
    uint32_t s = atomic_load(&g->status);
    if (s == GOC_GDEAD || s == GOC_GIDLE || g->id == 0)
        return;
    /* up to the end of the G header and stack record above the usable part */
    char *top = (char *)g->stack + sizeof(goc__stack);
    char *sp = (char *)g->stack->lo;
#if !defined(GOC_CTX_UCONTEXT)
    /* the red zone below a suspended context's rsp may hold its values */
    if (g != cur && s != GOC_GRUNNING && (char *)g->ctx.sp - 128 > sp && (char *)g->ctx.sp < top)
        sp = (char *)g->ctx.sp - 128;
#endif
    if (g == cur) {
        char here;
        if (&here > sp && &here < top)
            sp = &here - 256;
    }
    __lsan_register_root_region(sp, (size_t)(top - sp));
}

static void lsan_at_exit(void)
{
    goc__stack_each_g(lsan_live, goc__getg());
}

void goc__lsan_init(void)
{
    atexit(lsan_at_exit);
}
#else
void goc__lsan_init(void)
{
}
#endif

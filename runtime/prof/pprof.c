/* pprof.c: the profiles goc_pprof_write names (goc/pprof.h): goroutine,
 * heap, allocs, block and mutex, in profile.proto (debug 0) or in Go's
 * text forms (debug 1; goroutine debug 2, the SIGQUIT dump's text).
 *
 * The goroutine profile walks every goroutine's stack while others run
 * (goc__stack_each_g, goc__traceback_g): a goroutine that runs on another
 * thread has no stack to read and is shown by a frame saying so. Their
 * labels are read inside a labels read section (labels.h), which stays
 * open until the profile is built, so every set read stays valid.
 *
 * heap, allocs, block and mutex come from the runtime's buckets
 * (runtime/core/prof.h), copied out one at a time by goc__prof_each, with
 * the values Go writes: heap counts scaled up by the sampling rate as
 * Go's scaleHeapSample does (an object of size s is sampled with
 * probability 1 - exp(-s/rate)); block and mutex as recorded.
 */
#include "goc/pprof.h"
#include "goc/sched.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labels.h"
#include "prof.h"
#include "profile.h"
#include "runtime.h"
#include "traceback.h"

#define RUNNING_ELSEWHERE "goroutine running on another thread"

static bool on_goroutine(void)
{
    goc_g *g = goc__getg();
    return g && !g->is_g0;
}

static int64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int goc_pprof_write_fd(void *fdp, const void *buf, size_t len)
{
    int fd = *(const int *)fdp, rc = 0;
    const char *p = buf;
    goc_syscall_enter();
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    goc_syscall_exit();
    return rc;
}

/* ---- text ----------------------------------------------------------------------- */

/* Text written through fn in pieces of a 4 KiB buffer. */
typedef struct text {
    goc_pprof_write_fn fn;
    void *arg;
    int err;
    size_t n;
    char buf[4096];
} text;

static void text_flush(text *t)
{
    if (t->err == 0 && t->n)
        t->err = t->fn(t->arg, t->buf, t->n);
    t->n = 0;
}

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    if (t->n + (size_t)n > sizeof t->buf)
        text_flush(t);
    memcpy(t->buf + t->n, line, (size_t)n);
    t->n += (size_t)n;
}

/* " @ 0x.. 0x..\n" and the frames, as Go's printStackRecord: the PC in
 * the call, the function and the offset, the object (we have no lines). */
static void text_stack(text *t, const uintptr_t *pcs, int n)
{
    text_printf(t, " @");
    for (int i = 0; i < n; i++)
        text_printf(t, " %#" PRIxPTR, pcs[i]);
    text_printf(t, "\n");
}

static void text_frames(text *t, const uintptr_t *pcs, int n)
{
    for (int i = 0; i < n; i++) {
        goc__symbol s;
        uintptr_t pc = pcs[i] - 1;
        if (goc__symbolize(pc, &s))
            text_printf(t, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\t%s\n", pc, s.func, s.offset,
                        s.module);
        else
            text_printf(t, "#\t%#" PRIxPTR "\t?\t%s\n", pc, s.module ? s.module : "?");
    }
    text_printf(t, "\n");
}

/* ---- goroutine -------------------------------------------------------------------- */

typedef struct gcollect {
    goc__stacktab tab;
    goc_g *self;
    int64_t total;
    int err;
} gcollect;

static void collect_g(goc_g *g, void *arg)
{
    gcollect *c = arg;
    uint32_t s = atomic_load(&g->status);
    if (s == GOC_GDEAD || s == GOC_GIDLE || g->is_g0 || c->err)
        return;
    uintptr_t pcs[GOC__STACK_DEPTH];
    int n = g == c->self ? goc__traceback_here(pcs, GOC__STACK_DEPTH)
                         : goc__traceback_g(g, pcs, GOC__STACK_DEPTH);
    if (n < 0) { /* running elsewhere: one made-up PC, 1, names no code */
        pcs[0] = 1;
        n = 1;
    }
    int rc = goc__stacktab_add(&c->tab, pcs, n, atomic_load(&g->labels));
    if (rc < 0)
        c->err = rc;
    c->total++;
}

static int by_count(const void *a, const void *b)
{
    const goc__stackrec *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void text_labels(text *t, const goc__labels *l)
{
    if (!l || l->n == 0)
        return;
    text_printf(t, "# labels: {");
    for (int i = 0; i < l->n; i++)
        text_printf(t, "%s\"%s\":\"%s\"", i ? ", " : "", l->kv[2 * i], l->kv[2 * i + 1]);
    text_printf(t, "}\n");
}

static int goroutine_write(int debug, goc_pprof_write_fn fn, void *arg)
{
    if (debug >= 2)
        return goc__dump_all_to(fn, arg);
    gcollect c = {.self = goc__getg()};
    goc__labels_read_begin();
    goc__stack_each_g(collect_g, &c);
    int rc = c.err;
    if (rc == 0 && debug == 1) {
        text *t = goc__alloc(sizeof *t);
        if (t) {
            *t = (text){.fn = fn, .arg = arg};
            qsort(c.tab.recs, c.tab.n, sizeof *c.tab.recs, by_count);
            text_printf(t, "goroutine profile: total %" PRId64 "\n", c.total);
            for (size_t i = 0; i < c.tab.n; i++) {
                const goc__stackrec *r = &c.tab.recs[i];
                bool elsewhere = r->n == 1 && r->pcs[0] == 1;
                text_printf(t, "%" PRId64, r->count);
                text_stack(t, r->pcs, elsewhere ? 0 : r->n);
                text_labels(t, r->labels);
                if (elsewhere)
                    text_printf(t, "#\t" RUNNING_ELSEWHERE "\n\n");
                else
                    text_frames(t, r->pcs, r->n);
            }
            text_flush(t);
            rc = t->err;
            goc__free(t);
        } else {
            rc = -ENOMEM;
        }
    } else if (rc == 0) {
        static const goc__ptype type = {"goroutine", "count"};
        goc__profile *p = goc__alloc(sizeof *p);
        rc = p ? goc__profile_init(p, &type, 1, type, 1, NULL) : -ENOMEM;
        for (size_t i = 0; rc == 0 && i < c.tab.n; i++) {
            const goc__stackrec *r = &c.tab.recs[i];
            const goc__labels *l = r->labels;
            bool elsewhere = r->n == 1 && r->pcs[0] == 1;
            goc__profile_add(p, r->pcs, elsewhere ? 0 : r->n, elsewhere ? RUNNING_ELSEWHERE : NULL,
                             &r->count, l ? l->kv : NULL, l ? l->n : 0);
        }
        if (rc == 0)
            rc = goc__profile_finish(p, wall_now(), 0, fn, arg);
        goc__free(p);
    }
    goc__labels_read_end();
    goc__stacktab_free(&c.tab);
    return rc;
}

/* ---- heap, allocs, block, mutex ----------------------------------------------------- */

/* The buckets of one kind, copied. */
typedef struct buckets {
    goc__prof_bucket *b;
    size_t n, cap;
    int err;
} buckets;

static void copy_bucket(const goc__prof_bucket *b, void *arg)
{
    buckets *bs = arg;
    if (bs->err)
        return;
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 64;
        goc__prof_bucket *nb = goc__realloc(bs->b, cap * sizeof *nb);
        if (!nb) {
            bs->err = -ENOMEM;
            return;
        }
        bs->b = nb;
        bs->cap = cap;
    }
    bs->b[bs->n++] = *b;
}

/* Go's scaleHeapSample: count objects of size bytes in all, sampled at
 * one per rate bytes on average, as the counts they stand for. */
static void scale_heap(int64_t count, int64_t size, int64_t rate, int64_t *c, int64_t *s)
{
    if (count <= 0 || size <= 0) {
        *c = *s = 0;
        return;
    }
    if (rate <= 1) {
        *c = count;
        *s = size;
        return;
    }
    double avg = (double)size / (double)count;
    double scale = 1 / (1 - exp(-avg / (double)rate));
    *c = (int64_t)((double)count * scale);
    *s = (int64_t)((double)size * scale);
}

/* The 2 (block, mutex) or 4 (heap) values of bucket b. */
static void values_of(int kind, const goc__prof_bucket *b, int64_t rate, int64_t *v)
{
    if (kind == GOC__PROF_MEM) {
        scale_heap(b->allocs, b->alloc_bytes, rate, &v[0], &v[1]);
        scale_heap(b->allocs - b->frees, b->alloc_bytes - b->free_bytes, rate, &v[2], &v[3]);
    } else {
        v[0] = b->count;
        v[1] = b->ns;
    }
}

static int records_proto(int kind, bool allocs, const buckets *bs, int64_t rate,
                         goc_pprof_write_fn fn, void *arg)
{
    static const goc__ptype mem[] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                                     {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    static const goc__ptype wait[] = {{"contentions", "count"}, {"delay", "nanoseconds"}};
    static const goc__ptype space = {"space", "bytes"};
    goc__profile *p = goc__alloc(sizeof *p);
    int rc = !p ? -ENOMEM
         : kind == GOC__PROF_MEM
             ? goc__profile_init(p, mem, 4, space, rate, allocs ? "alloc_space" : NULL)
             : goc__profile_init(p, wait, 2, wait[0], 1, NULL);
    for (size_t i = 0; rc == 0 && i < bs->n; i++) {
        int64_t v[4];
        values_of(kind, &bs->b[i], rate, v);
        goc__profile_add(p, bs->b[i].stk, bs->b[i].nstk, NULL, v, NULL, 0);
    }
    if (rc == 0)
        rc = goc__profile_finish(p, wall_now(), 0, fn, arg);
    goc__free(p);
    return rc;
}

/* Go's legacy text: "heap profile: ..." or "--- contention:" and one
 * line of values per stack, with its frames. */
static int records_text(int kind, const buckets *bs, int64_t rate, goc_pprof_write_fn fn,
                        void *arg)
{
    text *t = goc__alloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    *t = (text){.fn = fn, .arg = arg};
    if (kind == GOC__PROF_MEM) {
        int64_t tot[4] = {0, 0, 0, 0};
        for (size_t i = 0; i < bs->n; i++) {
            int64_t v[4];
            values_of(kind, &bs->b[i], rate, v);
            for (int k = 0; k < 4; k++)
                tot[k] += v[k];
        }
        text_printf(t, "heap profile: %" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @ heap/%" PRId64 "\n",
                    tot[2], tot[3], tot[0], tot[1], 2 * rate);
    } else {
        text_printf(t, "--- %s:\ncycles/second=1000000000\n",
                    kind == GOC__PROF_MUTEX ? "mutex" : "contention");
        if (kind == GOC__PROF_MUTEX)
            text_printf(t, "sampling period=%" PRId64 "\n", rate);
    }
    for (size_t i = 0; i < bs->n; i++) {
        int64_t v[4];
        const goc__prof_bucket *b = &bs->b[i];
        values_of(kind, b, rate, v);
        if (kind == GOC__PROF_MEM)
            text_printf(t, "%" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "]", v[2], v[3],
                        v[0], v[1]);
        else
            text_printf(t, "%" PRId64 " %" PRId64, v[1], v[0]);
        text_stack(t, b->stk, b->nstk);
        text_frames(t, b->stk, b->nstk);
    }
    text_flush(t);
    int rc = t->err;
    goc__free(t);
    return rc;
}

static int records_write(int kind, bool allocs, int debug, goc_pprof_write_fn fn, void *arg)
{
    buckets bs = {0};
    int64_t rate = goc__prof_rate(kind);
    goc__prof_each(kind, copy_bucket, &bs);
    int rc = bs.err;
    if (rc == 0)
        rc = debug ? records_text(kind, &bs, rate, fn, arg)
                   : records_proto(kind, allocs, &bs, rate, fn, arg);
    goc__free(bs.b);
    return rc;
}

int goc_pprof_write(const char *name, int debug, goc_pprof_write_fn fn, void *arg)
{
    if (!on_goroutine())
        return -EPERM;
    if (!name || !fn || debug < 0)
        return -EINVAL;
    if (strcmp(name, "goroutine") == 0)
        return goroutine_write(debug, fn, arg);
    int kind = strcmp(name, "heap") == 0 || strcmp(name, "allocs") == 0 ? GOC__PROF_MEM
             : strcmp(name, "block") == 0                               ? GOC__PROF_BLOCK
             : strcmp(name, "mutex") == 0                               ? GOC__PROF_MUTEX
                                                                        : -1;
    if (kind < 0)
        return -ENOENT;
    if (debug > 1)
        return -EINVAL;
    return records_write(kind, strcmp(name, "allocs") == 0, debug, fn, arg);
}

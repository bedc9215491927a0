/* labels.c: goroutine labels (goc/pprof.h; Go's pprof.SetGoroutineLabels
 * and pprof.Do, runtime/pprof/label.go): key/value pairs a goroutine
 * carries, inherited by the goroutines it starts, attached to its CPU
 * samples and its entry in the goroutine profile.
 *
 * A set is one block: the header, 2n string pointers sorted by key, then
 * the strings. Sets never change: goc_labels_set builds a new one and
 * swaps it into g->labels, then drops the old one. References: one per
 * goroutine using the set, one per CPU sample holding it (taken in the
 * signal handler, which only ever adds a reference to the set of the
 * goroutine it interrupted, and so to a set that goroutine still holds).
 *
 * Readers of other goroutines' labels (the goroutine profile) cannot take
 * a reference safely: the owner may drop its last one between their load
 * of g->labels and their increment. So a reader announces itself
 * (readers, seq_cst), and a set whose last reference is dropped while any
 * reader is active goes to limbo, freed by the last reader to leave.
 * Either the dropper sees the reader (limbo), or the reader's load of
 * g->labels comes after the dropper's swap and cannot see the old set.
 *
 * Invariants:
 *  - g->labels is written only by g itself (and by newproc before g
 *    runs, and by goexit0 as g ends).
 *  - A set in limbo has no references; limbo is emptied when readers
 *    falls to 0, under limbo_lock.
 */
#include "labels.h"

#include "goc/pprof.h"

#include <errno.h>
#include <string.h>

#define MAX_PAIRS 64
#define MAX_LEN 4096 /* bytes of a key or a value */

static _Atomic int32_t readers; /* active readers */
static goc__lock limbo_lock = GOC_LOCK_INIT; /* guards limbo */
static goc__labels *limbo;      /* sets dropped while readers were active; linked
                                   through kv[0] (n set to -1) */

/* ---- references ------------------------------------------------------------- */

void goc__labels_unref(goc__labels *l)
{
    if (!l || atomic_fetch_sub_explicit(&l->ref, 1, memory_order_acq_rel) != 1)
        return;
    if (atomic_load(&readers) == 0) {
        goc__free(l);
        return;
    }
    goc__lock_acquire(&limbo_lock);
    bool keep = atomic_load(&readers) != 0;
    if (keep) {
        l->n = -1;
        l->kv[0] = (const char *)limbo;
        limbo = l;
    }
    goc__lock_release(&limbo_lock);
    if (!keep)
        goc__free(l);
}

void goc__labels_read_begin(void)
{
    atomic_fetch_add(&readers, 1);
}

void goc__labels_read_end(void)
{
    goc__lock_acquire(&limbo_lock);
    goc__labels *list = NULL;
    if (atomic_fetch_sub(&readers, 1) == 1) {
        list = limbo;
        limbo = NULL;
    }
    goc__lock_release(&limbo_lock);
    while (list) {
        goc__labels *next = (goc__labels *)(uintptr_t)list->kv[0];
        goc__free(list);
        list = next;
    }
}

void goc__labels_inherit(goc_g *g)
{
    goc_g *parent = goc__getg();
    goc__labels *l = parent && !parent->is_g0 ? atomic_load_explicit(&parent->labels,
                                                                      memory_order_relaxed)
                                              : NULL;
    if (l)
        goc__labels_ref(l);
    atomic_store_explicit(&g->labels, l, memory_order_relaxed);
}

void goc__labels_exit(goc_g *g)
{
    if (atomic_load_explicit(&g->labels, memory_order_relaxed))
        goc__labels_unref(atomic_exchange(&g->labels, NULL));
}

/* ---- making a set ------------------------------------------------------------ */

/* A new set: old's pairs with key set to value (value NULL: removed). */
static goc__labels *with(const goc__labels *old, const char *key, const char *value)
{
    int n = old ? old->n : 0;
    size_t bytes = strlen(key) + 1 + (value ? strlen(value) + 1 : 0);
    for (int i = 0; i < 2 * n; i++)
        bytes += strlen(old->kv[i]) + 1;
    goc__labels *l = goc__alloc(sizeof *l + (size_t)(2 * (n + 1)) * sizeof(char *) + bytes);
    if (!l)
        return NULL;
    char *s = (char *)&l->kv[2 * (n + 1)];
    int k = 0;
    bool placed = value == NULL;
#define PUT(str)                                                                                   \
    do {                                                                                           \
        size_t len_ = strlen(str) + 1;                                                             \
        memcpy(s, (str), len_);                                                                    \
        l->kv[k++] = s;                                                                            \
        s += len_;                                                                                 \
    } while (0)
    for (int i = 0; i < n; i++) {
        int c = strcmp(old->kv[2 * i], key);
        if (!placed && c >= 0) {
            PUT(key);
            PUT(value);
            placed = true;
        }
        if (c != 0) {
            PUT(old->kv[2 * i]);
            PUT(old->kv[2 * i + 1]);
        }
    }
    if (!placed) {
        PUT(key);
        PUT(value);
    }
#undef PUT
    l->n = k / 2;
    atomic_init(&l->ref, 1);
    return l;
}

int goc_labels_set(const char *key, const char *value)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return -EPERM;
    if (!key || !key[0] || strlen(key) > MAX_LEN || (value && strlen(value) > MAX_LEN))
        return -EINVAL;
    goc__labels *old = atomic_load_explicit(&g->labels, memory_order_relaxed);
    if (value && old && old->n >= MAX_PAIRS)
        return -E2BIG;
    goc__labels *l = with(old, key, value);
    if (!l)
        return -ENOMEM;
    if (l->n == 0) { /* the last one removed */
        goc__free(l);
        l = NULL;
    }
    goc__labels_unref(atomic_exchange(&g->labels, l));
    return 0;
}

int goc_labels_get(const char *key, char *buf, size_t size)
{
    goc_g *g = goc__getg();
    goc__labels *l = g && !g->is_g0 ? atomic_load_explicit(&g->labels, memory_order_relaxed) : NULL;
    for (int i = 0; l && i < l->n; i++) {
        if (strcmp(l->kv[2 * i], key) != 0)
            continue;
        size_t n = strlen(l->kv[2 * i + 1]);
        if (n >= size)
            return -ERANGE;
        memcpy(buf, l->kv[2 * i + 1], n + 1);
        return (int)n;
    }
    return -ENOENT;
}

int goc_labels_clear(void)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return -EPERM;
    goc__labels_exit(g);
    return 0;
}

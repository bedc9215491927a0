/* central.c: one mcentral per size class (Go's mcentral), under a lock.
 *
 * mcentral holds the spans of its class that no mcache owns: `partial`
 * (some free object), `full` (none), and one empty `spare` kept so that a
 * class whose objects come and go does not page-allocate on every turn;
 * further empty spans go back to the heap at once. Without a collector
 * there is no sweeping: frees clear bits here directly (doc/go-rules.md 8.7 has
 * Go's swept/unswept sets instead).
 *
 * Invariants (under the class's lock):
 *  - A span is on at most one list; s->list says which; cached spans are on
 *    none and s->cached is true.
 *  - A non-cached span's allocbits and alloccount are exact; it is on
 *    `full` iff alloccount == nelems, in `spare` or the heap iff 0.
 *  - Objects on a cached span's remote list have their bit still set.
 */
#include "mem.h"

#include "goc/sched.h"

enum { LIST_NONE, LIST_PARTIAL, LIST_FULL, LIST_SPARE };

typedef struct central {
    goc__lock lock;    /* guards the lists and their spans' allocation state */
    goc_mspan *partial; /* spans with free objects, not cached */
    goc_mspan *full;    /* spans with no free object, not cached */
    goc_mspan *spare;   /* one empty span, or NULL */
} __attribute__((aligned(64))) central;

static central centrals[GOC_NUM_CLASSES];

static void push(goc_mspan **head, goc_mspan *s, uint8_t which)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
    s->list = which;
}

static void unlink_span(central *c, goc_mspan *s)
{
    goc_mspan **head = s->list == LIST_PARTIAL ? &c->partial : &c->full;
    if (s->list == LIST_SPARE) {
        c->spare = NULL;
    } else if (s->list != LIST_NONE) {
        if (s->prev)
            s->prev->next = s->next;
        else
            *head = s->next;
        if (s->next)
            s->next->prev = s->prev;
    }
    s->next = s->prev = NULL;
    s->list = LIST_NONE;
}

static inline void clear_bit(goc_mspan *s, void *obj)
{
    uint32_t idx = (uint32_t)(((uint64_t)((uintptr_t)obj - s->base) *
                               goc__class_divmul[s->sizeclass]) >> 32);
    uint64_t m = (uint64_t)1 << (idx & 63);
    if (!(s->allocbits[idx >> 6] & m))
        goc_fatal("goc_free: double free of a small object");
    s->allocbits[idx >> 6] &= ~m;
    s->alloccount--;
}

/* Puts a non-cached span where its count says. */
static void place(central *c, goc_mspan *s)
{
    if (s->alloccount == 0) {
        if (!c->spare) {
            c->spare = s;
            s->list = LIST_SPARE;
        } else {
            goc__heap_free(s);
        }
    } else if (s->alloccount == s->nelems) {
        push(&c->full, s, LIST_FULL);
    } else {
        push(&c->partial, s, LIST_PARTIAL);
    }
}

static void drain_remote(goc_mspan *s)
{
    void *o = s->remote;
    s->remote = NULL;
    while (o) {
        void *next = goc__link_get(o);
        clear_bit(s, o);
        o = next;
    }
}

goc_mspan *goc__central_refill(uint32_t cls, goc_mspan *old)
{
    central *c = &centrals[cls];
    goc__lock_acquire(&c->lock);
    if (old) {
        goc__span_commit(old);
        drain_remote(old);
        if (old->alloccount < old->nelems) {
            goc__lock_release(&c->lock);
            return old;
        }
        old->cached = false;
        place(c, old);
    }
    goc_mspan *s = c->partial ? c->partial : c->spare;
    if (s) {
        unlink_span(c, s);
    } else {
        s = goc__heap_alloc(goc__class_npages[cls], cls, GOC_KIND_EXPLICIT);
        if (!s) {
            goc__lock_release(&c->lock);
            return NULL;
        }
    }
    s->cached = true;
    s->freeindex = 0;
    s->alloccache = 0;
    goc__lock_release(&c->lock);
    return s;
}

void goc__central_free(uint32_t cls, void *head)
{
    central *c = &centrals[cls];
    goc__lock_acquire(&c->lock);
    while (head) {
        void *next = goc__link_get(head);
        goc_mspan *s = goc__spanof(head);
        if (s->cached) {
            goc__link_set(head, s->remote);
            s->remote = head;
        } else {
            bool was_full = s->list == LIST_FULL;
            clear_bit(s, head);
            s->needzero = true;
            if (was_full || s->alloccount == 0) {
                unlink_span(c, s);
                place(c, s);
            }
        }
        head = next;
    }
    goc__lock_release(&c->lock);
}

void goc__central_lock_all(void)
{
    for (uint32_t k = 1; k < GOC_NUM_CLASSES; k++)
        goc__lock_acquire(&centrals[k].lock);
}

void goc__central_unlock_all(void)
{
    for (uint32_t k = GOC_NUM_CLASSES - 1; k >= 1; k--)
        goc__lock_release(&centrals[k].lock);
}

void goc__central_uncache(uint32_t cls, goc_mspan *s)
{
    central *c = &centrals[cls];
    goc__lock_acquire(&c->lock);
    goc__span_commit(s);
    drain_remote(s);
    s->cached = false;
    place(c, s);
    goc__lock_release(&c->lock);
}

/* stats.c: the sync layer's counters.
 *
 * Each OS thread increments its own block (no shared cache line on the hot
 * path); goc_sync_stats_read sums every block. A thread takes its block on
 * its first count and never gives it back (the number of Ms is bounded), so
 * a reader may walk the list at any time. The first STATIC_BLOCKS blocks
 * are static: that first count may come at any moment of a thread's life
 * (an M can sit idle long after it started), and a heap object appearing
 * then would read as a leak to whoever counts live objects
 * (goc_mem_stats.objects_in_use). Threads beyond them take one from the
 * heap.
 *
 * Invariants: a block is written only by its thread (relaxed load + store,
 * no locked instruction) and read by anyone with relaxed loads; the list
 * only grows, by a CAS on its head.
 */
#include "goc/malloc.h"
#include "sync_internal.h"

#include <stdint.h>

/* A block has cache lines of its own: two threads' counters must never
 * share one (false sharing would make every count a cache miss). */
typedef struct ctr_block {
    uint64_t v[GOC__CTR_N];  /* counters, written by the owner thread only */
    struct ctr_block *next;  /* list of every block, immutable once linked */
} __attribute__((aligned(128))) ctr_block;

#define STATIC_BLOCKS 64 /* 8 KiB: more threads than a program has Ms, as a rule */

static ctr_block *blocks; /* atomic: head of the list */
static __thread ctr_block *my_block;
static ctr_block static_blocks[STATIC_BLOCKS];
static int static_taken; /* atomic: static_blocks handed out (may pass STATIC_BLOCKS) */

static ctr_block *block_new(void)
{
    ctr_block *b;
    int i = __atomic_fetch_add(&static_taken, 1, __ATOMIC_RELAXED);
    if (i < STATIC_BLOCKS) {
        b = &static_blocks[i];
    } else {
        /* Blocks live as long as the process: aligned by hand, never freed. */
        uintptr_t raw = (uintptr_t)goc_calloc(1, sizeof(ctr_block) + 127);
        if (!raw)
            goc_fatal("sync stats: out of memory");
        b = (ctr_block *)((raw + 127) & ~(uintptr_t)127);
    }
    ctr_block *head = LOAD_RELAXED(&blocks);
    do {
        b->next = head;
    } while (!__atomic_compare_exchange_n(&blocks, &head, b, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    my_block = b;
    return b;
}

__attribute__((noinline)) void goc__sync_count(int i)
{
    ctr_block *b = my_block;
    if (GOC_UNLIKELY(b == NULL))
        b = block_new();
    STORE_RELAXED(&b->v[i], LOAD_RELAXED(&b->v[i]) + 1);
}

void goc_sync_stats_read(goc_sync_stats *out)
{
    uint64_t sum[GOC__CTR_N] = {0};
    for (ctr_block *b = LOAD_ACQ(&blocks); b != NULL; b = b->next)
        for (int i = 0; i < GOC__CTR_N; i++)
            sum[i] += LOAD_RELAXED(&b->v[i]);
    out->chan_sends = sum[GOC__CTR_SEND];
    out->chan_recvs = sum[GOC__CTR_RECV];
    out->chan_closes = sum[GOC__CTR_CLOSE];
    out->selects = sum[GOC__CTR_SELECT];
    out->chan_parks = sum[GOC__CTR_CHAN_PARK];
    out->sema_parks = sum[GOC__CTR_SEMA_PARK];
    out->mutex_starvations = sum[GOC__CTR_STARVE];
}

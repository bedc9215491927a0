/* latch.h: a count-down latch on the runtime's own park/ready, for tests
 * and benchmarks of the layers below sync (which cannot use WaitGroup).
 * One goroutine waits; latch_done from any goroutine counts down. */
#ifndef GOC_TEST_LATCH_H
#define GOC_TEST_LATCH_H

#include "runtime.h"

typedef struct latch {
    goc__lock l;     /* guards waiter */
    int64_t count;   /* atomic: latch_done calls still expected */
    goc_g *waiter;   /* the goroutine in latch_wait, if any */
} latch;

/* One atomic decrement (as Go's WaitGroup.Done); the last call takes the
 * lock to wake the waiter. */
static inline void latch_done(latch *la)
{
    if (__atomic_sub_fetch(&la->count, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    goc__lock_acquire(&la->l);
    goc_g *g = la->waiter;
    la->waiter = NULL;
    goc__lock_release(&la->l);
    if (g)
        goc__ready(g, true);
}

/* The count is read under the lock: either the last latch_done's critical
 * section comes first (and the count reads 0) or it finds the waiter. */
static inline void latch_wait(latch *la)
{
    goc__lock_acquire(&la->l);
    if (__atomic_load_n(&la->count, __ATOMIC_ACQUIRE) == 0) {
        goc__lock_release(&la->l);
        return;
    }
    la->waiter = goc__getg();
    goc__park_unlock(&la->l, "latch");
}

#endif

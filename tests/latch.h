/* latch.h: a count-down latch on the runtime's own park/ready, for tests
 * and benchmarks of the layers below sync (which cannot use WaitGroup).
 * One goroutine waits; latch_done from any goroutine counts down. */
#ifndef GOC_TEST_LATCH_H
#define GOC_TEST_LATCH_H

#include "runtime.h"

typedef struct latch {
    goc__lock l;     /* guards count and waiter */
    int64_t count;   /* latch_done calls still expected */
    goc_g *waiter;   /* the goroutine in latch_wait, if any */
} latch;

static inline void latch_done(latch *la)
{
    goc__lock_acquire(&la->l);
    goc_g *g = NULL;
    if (--la->count == 0) {
        g = la->waiter;
        la->waiter = NULL;
    }
    goc__lock_release(&la->l);
    if (g)
        goc__ready(g, true);
}

static inline void latch_wait(latch *la)
{
    goc__lock_acquire(&la->l);
    if (la->count == 0) {
        goc__lock_release(&la->l);
        return;
    }
    la->waiter = goc__getg();
    goc__park_unlock(&la->l, "latch");
}

#endif

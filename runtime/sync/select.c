/* select.c: select over any number of channel cases (Go's selectgo,
 * src/runtime/select.go; doc/go-rules.md 2).
 *
 * Three passes with every involved channel locked, once each, in address
 * order: (1) in a random poll order, complete the first ready case; (2) if
 * none and blocking, queue one sudog per case (lock order) and park; (3)
 * after the wake-up, which exactly one counterparty caused by winning the
 * G's selectdone CAS, unlink every other sudog and report the winner.
 * Before them, a case that looks ready (read without locks) is completed
 * with only its own channel locked; only when none does, or it raced, do
 * the passes run (see select_try_ready).
 *
 * Invariants:
 *  - pollorder holds the non-nil cases in a uniformly random order (an
 *    inside-out Fisher-Yates shuffle); lockorder the same cases sorted by
 *    channel address (heap sort: O(n log n), constant stack).
 *  - The sudogs live on this goroutine's stack (or in one scratch array for
 *    more than SELECT_STACK_CASES cases) and are off every queue when
 *    goc_select returns or panics.
 */
#include "sync_internal.h"

#define SELECT_STACK_CASES 8

typedef struct select_state {
    goc_select_case *cases;
    uint16_t *pollorder; /* norder entries */
    uint16_t *lockorder; /* norder entries */
    goc_sudog *sgs;      /* one per case index */
    int norder;
} select_state;

static inline uintptr_t case_key(const select_state *s, uint16_t i)
{
    return (uintptr_t)s->cases[i].c;
}

/* Builds pollorder (random, nil channels left out) and lockorder. */
static void select_orders(select_state *s, int ncases)
{
    /* pollorder: inside-out Fisher-Yates (doc/go-rules.md 2.2). One 64-bit random
     * value serves four cases: j = (16 random bits * (norder + 1)) >> 16,
     * a bias below (n + 1) / 65536. */
    int norder = 0;
    uint64_t r = 0;
    int bits = 0;
    for (int i = 0; i < ncases; i++) {
        if (s->cases[i].c == NULL)
            continue;
        if (bits < 16) {
            r = goc__fastrand64();
            bits = 64;
        }
        uint32_t j = (uint32_t)(((r & 0xffff) * (uint64_t)(norder + 1)) >> 16);
        r >>= 16;
        bits -= 16;
        s->pollorder[norder] = s->pollorder[j];
        s->pollorder[j] = (uint16_t)i;
        norder++;
    }
    s->norder = norder;

    uint16_t *lo = s->lockorder;
    if (norder <= 8) {
        /* A few cases sort fastest by insertion. They are taken in case
         * order, which is the same on every call of a select in a loop, so
         * the comparisons predict well; cases on one channel are then put
         * in pollorder sequence, so that they are permuted as Go's are. */
        int n = 0;
        for (int i = 0; i < ncases; i++) {
            if (s->cases[i].c == NULL)
                continue;
            uintptr_t key = case_key(s, (uint16_t)i);
            int j = n++;
            while (j > 0 && case_key(s, lo[j - 1]) > key) {
                lo[j] = lo[j - 1];
                j--;
            }
            lo[j] = (uint16_t)i;
        }
        for (int a = 0; a + 1 < n; a++) {
            if (case_key(s, lo[a]) != case_key(s, lo[a + 1]))
                continue;
            int b = a + 1; /* a run of cases on one channel: [a, b] */
            while (b + 1 < n && case_key(s, lo[b + 1]) == case_key(s, lo[a]))
                b++;
            int k = a;
            for (int p = 0; p < norder; p++) /* refill the run in pollorder */
                if (case_key(s, s->pollorder[p]) == case_key(s, lo[a]))
                    lo[k++] = s->pollorder[p];
            a = b;
        }
        return;
    }
    for (int i = 0; i < norder; i++) { /* heap insert (max-heap on address) */
        int j = i;
        uintptr_t key = case_key(s, s->pollorder[i]);
        while (j > 0 && case_key(s, lo[(j - 1) / 2]) < key) {
            int k = (j - 1) / 2;
            lo[j] = lo[k];
            j = k;
        }
        lo[j] = s->pollorder[i];
    }
    for (int i = norder - 1; i >= 0; i--) { /* heap extract */
        uint16_t o = lo[i];
        uintptr_t key = case_key(s, o);
        lo[i] = lo[0];
        int j = 0;
        for (;;) {
            int k = j * 2 + 1;
            if (k >= i)
                break;
            if (k + 1 < i && case_key(s, lo[k]) < case_key(s, lo[k + 1]))
                k++;
            if (key < case_key(s, lo[k])) {
                lo[j] = lo[k];
                j = k;
                continue;
            }
            break;
        }
        lo[j] = o;
    }
}

static void sellock(select_state *s)
{
    goc_chan *last = NULL;
    for (int i = 0; i < s->norder; i++) {
        goc_chan *c = s->cases[s->lockorder[i]].c;
        if (c != last) {
            last = c;
            goc__lock_acquire(&c->lock);
        }
    }
}

static void selunlock(select_state *s)
{
    /* Reverse order; a channel appearing several times is unlocked at its
     * first (lowest-index) occurrence only. */
    for (int i = s->norder - 1; i >= 0; i--) {
        goc_chan *c = s->cases[s->lockorder[i]].c;
        if (i > 0 && c == s->cases[s->lockorder[i - 1]].c)
            continue;
        goc__lock_release(&c->lock);
    }
}

/* Runs on the M after the switch away: unlock each channel after its last
 * sudog in the chain, since its waiters may change once it is unlocked. */
static bool selparkcommit(goc_g *gp, void *arg)
{
    (void)arg;
    goc_chan *lastc = NULL;
    for (goc_sudog *sg = gp->waiting; sg != NULL; sg = sg->waitlink) {
        if (sg->c != lastc && lastc != NULL)
            goc__lock_release(&lastc->lock);
        lastc = sg->c;
    }
    if (lastc != NULL)
        goc__lock_release(&lastc->lock);
    return true;
}

/* What trying one case with its channel locked came to. */
enum { CASE_NOT_READY, CASE_DONE, CASE_RECV_CLOSED, CASE_SEND_CLOSED };

/* Completes case cas if it can go now; its channel is locked. *wake gets
 * a G to ready once the locks are dropped. */
static int case_try(goc_select_case *cas, goc_g **wake)
{
    goc_chan *c = cas->c;
    if (cas->dir == GOC_SELECT_RECV) {
        goc_sudog *sg = goc__waitq_dequeue(&c->sendq);
        if (sg != NULL)
            *wake = goc__chan_recv_direct(c, sg, cas->elem);
        else if (c->qcount > 0)
            goc__chan_buf_get(c, cas->elem);
        else
            return c->closed != 0 ? CASE_RECV_CLOSED : CASE_NOT_READY;
        return CASE_DONE;
    }
    if (c->closed != 0)
        return CASE_SEND_CLOSED;
    goc_sudog *sg = goc__waitq_dequeue(&c->recvq);
    if (sg != NULL)
        *wake = goc__chan_send_direct(c, sg, cas->elem);
    else if (c->qcount < c->dataqsiz)
        goc__chan_buf_put(c, cas->elem);
    else
        return CASE_NOT_READY;
    return CASE_DONE;
}

/* The rest of a completed case, after its locks were dropped. */
static void case_finish(goc_select_case *cas, int how, goc_g *wake)
{
    if (how == CASE_SEND_CLOSED)
        goc_panic("send on closed channel");
    if (how == CASE_RECV_CLOSED) {
        if (cas->elem != NULL)
            memset(cas->elem, 0, cas->c->elemsize);
        cas->ok = false;
        return;
    }
    if (wake != NULL)
        goc__ready(wake, true);
    if (cas->dir == GOC_SELECT_RECV)
        cas->ok = true;
    goc__sync_count(cas->dir == GOC_SELECT_RECV ? GOC__CTR_RECV : GOC__CTR_SEND);
}

/* Whether case cas looks ready, read without the lock (the fields read are
 * stored atomically under it). */
static bool case_looks_ready(const goc_select_case *cas)
{
    goc_chan *c = cas->c;
    if (cas->dir == GOC_SELECT_RECV)
        return LOAD_RELAXED(&c->qcount) > 0 || LOAD_RELAXED(&c->sendq.first) != NULL ||
               LOAD_RELAXED(&c->closed) != 0;
    return LOAD_RELAXED(&c->qcount) < c->dataqsiz || LOAD_RELAXED(&c->recvq.first) != NULL ||
           LOAD_RELAXED(&c->closed) != 0;
}

/* Before pass 1 (not in Go): the first case in poll order that looks ready
 * is completed with only its own channel locked. The outcome is one Go's
 * select could give: that case was ready at a moment the select was
 * running, and the poll order is the same uniform shuffle. Returns -1 when
 * no case looks ready or the one that did is no longer (a race): the full
 * passes follow, which alone may conclude that nothing is ready. */
static int select_try_ready(select_state *s)
{
    for (int i = 0; i < s->norder; i++) {
        int casi = s->pollorder[i];
        goc_select_case *cas = &s->cases[casi];
        if (!case_looks_ready(cas))
            continue;
        goc_g *wake = NULL;
        goc__lock_acquire(&cas->c->lock);
        int how = case_try(cas, &wake);
        goc__lock_release(&cas->c->lock);
        if (how == CASE_NOT_READY)
            return -1;
        case_finish(cas, how, wake);
        return casi;
    }
    return -1;
}

/* Pass 1: returns the index of a completed case, or -1. Channels locked on
 * entry; on success they are unlocked and any G to wake is readied. Panics
 * (after unlocking) on a send to a closed channel. */
static int select_poll(select_state *s)
{
    for (int i = 0; i < s->norder; i++) {
        int casi = s->pollorder[i];
        goc_select_case *cas = &s->cases[casi];
        goc_g *wake = NULL;
        int how = case_try(cas, &wake);
        if (how == CASE_NOT_READY)
            continue;
        selunlock(s);
        case_finish(cas, how, wake);
        return casi;
    }
    return -1;
}

/* Passes 2 and 3: queue, park, and sort out the wake-up. Channels locked on
 * entry, unlocked on return. */
static int select_block(select_state *s)
{
    goc_g *gp = goc__getg();
    atomic_store(&gp->selectdone, 0);
    int64_t t0 = goc__prof_block_start();
    goc_sudog **nextp = &gp->waiting;
    for (int i = 0; i < s->norder; i++) {
        int casi = s->lockorder[i];
        goc_select_case *cas = &s->cases[casi];
        goc_sudog *sg = &s->sgs[casi];
        memset(sg, 0, sizeof *sg);
        sg->g = gp;
        sg->isselect = true;
        sg->releasetime = t0 ? -1 : 0; /* the waker stamps the winner's */
        sg->elem = cas->elem;
        sg->c = cas->c;
        *nextp = sg;
        nextp = &sg->waitlink;
        if (cas->dir == GOC_SELECT_SEND)
            goc__waitq_enqueue(&cas->c->sendq, sg);
        else
            goc__waitq_enqueue(&cas->c->recvq, sg);
    }
    *nextp = NULL;
    gp->param = NULL;
    goc__sync_count(GOC__CTR_CHAN_PARK);
    goc__park(selparkcommit, NULL, "select");

    sellock(s);
    atomic_store(&gp->selectdone, 0);
    goc_sudog *won = gp->param;
    gp->param = NULL;
    for (goc_sudog *sg1 = gp->waiting; sg1 != NULL; sg1 = sg1->waitlink) {
        sg1->isselect = false;
        sg1->elem = NULL;
        sg1->c = NULL;
    }
    gp->waiting = NULL;

    int chosen = -1;
    bool success = false;
    for (int i = 0; i < s->norder; i++) {
        int casi = s->lockorder[i];
        goc_select_case *cas = &s->cases[casi];
        goc_sudog *sg = &s->sgs[casi];
        if (sg == won) {
            chosen = casi;
            success = sg->success;
        } else if (cas->dir == GOC_SELECT_SEND) {
            goc__waitq_remove(&cas->c->sendq, sg);
        } else {
            goc__waitq_remove(&cas->c->recvq, sg);
        }
    }
    if (chosen < 0)
        goc__throw("selectgo: bad wakeup");
    goc_select_case *cas = &s->cases[chosen];
    selunlock(s);
    if (GOC_UNLIKELY(won->releasetime > 0))
        goc__prof_block_event(t0, won->releasetime);
    if (cas->dir == GOC_SELECT_SEND) {
        if (!success)
            goc_panic("send on closed channel");
        goc__sync_count(GOC__CTR_SEND);
    } else {
        cas->ok = success;
        if (success)
            goc__sync_count(GOC__CTR_RECV);
    }
    return chosen;
}

static int select_run(select_state *s, bool block)
{
    if (s->norder == 0) {
        if (!block)
            return -1;
        goc__block_forever("select (no cases)");
    }
    int casi = s->norder > 1 ? select_try_ready(s) : -1;
    if (casi >= 0)
        return casi;
    sellock(s);
    casi = select_poll(s);
    if (casi >= 0)
        return casi;
    if (!block) {
        selunlock(s);
        return -1;
    }
    return select_block(s);
}

/* Frees the scratch array when a panic unwinds through goc_select. */
static void select_free_scratch(void *p) { goc__sync_free(p); }

typedef struct select_call {
    select_state *s;
    bool block;
    int result;
} select_call;

static void select_call_body(void *arg)
{
    select_call *sc = arg;
    goc_defer(select_free_scratch, sc->s->sgs);
    sc->result = select_run(sc->s, sc->block);
}

int goc_select(goc_select_case *cases, int ncases, bool block)
{
    goc__sync_count(GOC__CTR_SELECT);
    if (ncases < 0 || ncases > GOC_SELECT_MAX_CASES)
        goc_panic("select: too many cases");
    select_state s = {.cases = cases};
    if (ncases <= SELECT_STACK_CASES) {
        goc_sudog sgs[SELECT_STACK_CASES];
        uint16_t orders[2 * SELECT_STACK_CASES];
        s.sgs = sgs;
        s.pollorder = orders;
        s.lockorder = orders + SELECT_STACK_CASES;
        select_orders(&s, ncases);
        return select_run(&s, block);
    }
    /* Large selects: one scratch array, freed by a deferred call so that a
     * "send on closed channel" panic does not leak it. */
    size_t n = (size_t)ncases;
    char *mem = goc__sync_alloc(n * sizeof(goc_sudog) + 2 * n * sizeof(uint16_t));
    s.sgs = (goc_sudog *)mem;
    s.pollorder = (uint16_t *)(mem + n * sizeof(goc_sudog));
    s.lockorder = s.pollorder + n;
    select_orders(&s, ncases);
    select_call sc = {.s = &s, .block = block, .result = -1};
    goc_call(select_call_body, &sc);
    return sc.result;
}

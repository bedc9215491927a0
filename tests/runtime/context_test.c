/* context_test.c: Go's context (doc/go-rules.md 6), one case per numbered
 * rule, plus a 10,000-node tree that must cancel completely; then causes,
 * WithoutCancel and AfterFunc, with Go's own tests of them (context's
 * x_test.go, Go 1.20 to 1.21) ported under their Go names. Leaks show up
 * in the ASan build (every context is released). */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "sync_helpers.h"

static bool is_closed(goc_chan *c)
{
    bool ok = true;
    return c != NULL && goc_chan_try_recv(c, NULL, &ok) && !ok;
}

static void test_6_1_background_and_todo(void)
{
    goc_context *bg = goc_context_background(), *todo = goc_context_todo();
    CHECK(bg != NULL && todo != NULL && bg != todo);
    CHECK(goc_context_done(bg) == NULL);
    CHECK(goc_context_err(bg) == NULL);
    int64_t d;
    CHECK(!goc_context_deadline(todo, &d));
    CHECK(goc_context_value(bg, &d) == NULL);
    goc_context_cancel(bg); /* no effect */
    CHECK(goc_context_err(bg) == NULL);
    goc_context_release(goc_context_retain(bg)); /* no-ops */
}

static void test_6_2_errors(void)
{
    CHECK_EQ_STR(goc_context_canceled.msg, "context canceled");
    CHECK_EQ_STR(goc_context_deadline_exceeded.msg, "context deadline exceeded");
    CHECK(goc_context_deadline_exceeded.timeout && goc_context_deadline_exceeded.temporary);
    CHECK(!goc_context_canceled.timeout);
    goc_context *c = goc_context_with_cancel(goc_context_background());
    CHECK(goc_context_err(c) == NULL);
    goc_context_cancel(c);
    CHECK(goc_context_err(c) == &goc_context_canceled);
    goc_context_cancel(c);
    CHECK(goc_context_err(c) == &goc_context_canceled); /* constant */
    goc_context_release(c);
}

static void test_6_3_done_lazy_and_closedchan(void)
{
    goc_context *a = goc_context_with_cancel(goc_context_background());
    goc_chan *d = goc_context_done(a);
    CHECK(d != NULL);
    CHECK(goc_context_done(a) == d); /* created once */
    CHECK(!is_closed(d));
    goc_context_cancel(a);
    CHECK(is_closed(d));
    /* Canceled before anyone asked: the shared closed channel. */
    goc_context *b = goc_context_with_cancel(goc_context_background());
    goc_context *c = goc_context_with_cancel(goc_context_background());
    goc_context_cancel(b);
    goc_context_cancel(c);
    CHECK(goc_context_done(b) == goc_context_done(c));
    CHECK(is_closed(goc_context_done(b)));
    goc_context_release(a);
    goc_context_release(b);
    goc_context_release(c);
}

static void nil_parent(void *p)
{
    (void)p;
    goc_context_with_cancel(NULL);
}

static void test_6_4_with_cancel(void)
{
    CHECK_EQ_STR(catch_panic(nil_parent, NULL), "cannot create context from nil parent");
    goc_context *c = goc_context_with_cancel(goc_context_background());
    goc_context_cancel(c);
    goc_context_cancel(c); /* idempotent */
    CHECK(goc_context_err(c) == &goc_context_canceled);
    goc_context_release(c);
}

static void test_6_5_propagate_cancel(void)
{
    /* 1. A never-canceled parent: nothing registered anywhere. */
    goc_context *c = goc_context_with_cancel(goc_context_background());
    /* 3. Registered with the nearest cancelable ancestor, through values. */
    static int key;
    goc_context *v = goc_context_with_value(c, &key, &key);
    goc_context *child = goc_context_with_cancel(v);
    CHECK_EQ_INT(goc__context_nchildren(c), 1);
    /* 2. A parent already done cancels the child at once, with its error. */
    goc_context *dead = goc_context_with_deadline(goc_context_background(), goc_nanotime() - 1);
    CHECK(goc_context_err(dead) == &goc_context_deadline_exceeded);
    goc_context *late = goc_context_with_cancel(dead);
    CHECK(goc_context_err(late) == &goc_context_deadline_exceeded);
    CHECK_EQ_INT(goc__context_nchildren(dead), 0);
    goc_context_cancel(c);
    CHECK(goc_context_err(child) == &goc_context_canceled);
    CHECK(goc_context_err(v) == &goc_context_canceled);
    CHECK(is_closed(goc_context_done(v)));
    goc_context_cancel(child);
    goc_context_cancel(late);
    goc_context_cancel(dead);
    goc_context_release(late);
    goc_context_release(dead);
    goc_context_release(child);
    goc_context_release(v);
    goc_context_release(c);
}

static void test_6_6_cancel_children_and_remove(void)
{
    goc_context *p = goc_context_with_cancel(goc_context_background());
    goc_context *a = goc_context_with_cancel(p), *b = goc_context_with_cancel(p);
    goc_context *aa = goc_context_with_timeout(a, 3600 * INT64_C(1000000000));
    CHECK_EQ_INT(goc__context_nchildren(p), 2);
    CHECK_EQ_INT(goc__context_nchildren(a), 1);
    /* Canceling a child removes it from its parent. */
    goc_context_cancel(b);
    CHECK_EQ_INT(goc__context_nchildren(p), 1);
    CHECK(goc_context_err(p) == NULL);
    /* Canceling the parent cancels the rest with its error, and the
     * children list is emptied. */
    goc_chan *d = goc_context_done(aa);
    goc_context_cancel(p);
    CHECK(goc_context_err(a) == &goc_context_canceled);
    CHECK(goc_context_err(aa) == &goc_context_canceled);
    CHECK(is_closed(d));
    CHECK_EQ_INT(goc__context_nchildren(p), 0);
    CHECK_EQ_INT(goc__context_nchildren(a), 0);
    /* aa's timer was stopped: its reference is gone (only ours left). */
    CHECK_EQ_INT(goc__context_refs(aa), 1);
    goc_context_cancel(a);
    goc_context_cancel(aa);
    goc_context_release(aa);
    goc_context_release(a);
    goc_context_release(b);
    goc_context_release(p);
}

typedef struct waiter {
    goc_context *ctx;
    int chosen;
    _Atomic int done;
} waiter;

static void wait_done(void *p)
{
    waiter *w = *(waiter **)p;
    int64_t v;
    goc_select_case cs[2] = {{goc_context_done(w->ctx), GOC_SELECT_RECV, NULL, false},
                             {NULL, GOC_SELECT_RECV, &v, false}};
    w->chosen = goc_select(cs, 2, true);
    atomic_store(&w->done, 1);
}

static void test_6_7_with_deadline(void)
{
    int64_t now = goc_nanotime();
    /* A later deadline than the parent's is the parent's. */
    goc_context *p = goc_context_with_deadline(goc_context_background(), now + 300 * MS);
    goc_context *c = goc_context_with_deadline(p, now + 3600 * INT64_C(1000000000));
    int64_t d;
    CHECK(goc_context_deadline(c, &d));
    CHECK_EQ_INT(d, now + 300 * MS);
    /* An earlier one is its own, and fires: Done closes in a select. */
    goc_context *e = goc_context_with_timeout(p, 5 * MS);
    CHECK(goc_context_deadline(e, &d));
    CHECK(d < now + 300 * MS);
    waiter w = {.ctx = e};
    waiter *wp = &w;
    goc_go(wait_done, &wp, sizeof wp);
    CHECK(WAIT_UNTIL(atomic_load(&w.done)));
    CHECK_EQ_INT(w.chosen, 0);
    CHECK(goc_nanotime() - now >= 5 * MS);
    CHECK(goc_context_err(e) == &goc_context_deadline_exceeded);
    CHECK(goc_context_err(p) == NULL);
    /* The parent's deadline cancels c with deadline exceeded too. */
    CHECK(WAIT_UNTIL(goc_context_err(c) != NULL));
    CHECK(goc_context_err(c) == &goc_context_deadline_exceeded);
    CHECK(goc_context_err(p) == &goc_context_deadline_exceeded);
    /* Already past: canceled immediately. */
    goc_context *past = goc_context_with_deadline(goc_context_background(), now - 1);
    CHECK(goc_context_err(past) == &goc_context_deadline_exceeded);
    /* The fired timers dropped their references. */
    CHECK(WAIT_UNTIL(goc__context_refs(e) == 1 && goc__context_refs(p) <= 3));
    goc_context *all[] = {past, e, c, p};
    for (int i = 0; i < 4; i++) {
        goc_context_cancel(all[i]);
        goc_context_release(all[i]);
    }
}

/* A timeout that overflows the clock is a deadline never reached (it was
 * done at once), and the most negative one is already past. */
static void test_overflow_timeout(void)
{
    goc_context *c = goc_context_with_timeout(goc_context_background(), INT64_MAX);
    int64_t d;
    CHECK(goc_context_deadline(c, &d));
    CHECK_EQ_INT(d, INT64_MAX);
    goc_sleep(20 * MS);
    CHECK(goc_context_err(c) == NULL);
    goc_context *neg = goc_context_with_timeout(c, INT64_MIN);
    CHECK(goc_context_err(neg) == &goc_context_deadline_exceeded);
    CHECK(goc_context_err(c) == NULL);
    goc_context *far = goc_context_with_deadline(goc_context_background(), INT64_MIN);
    CHECK(goc_context_err(far) == &goc_context_deadline_exceeded);
    goc_context *all[] = {far, neg, c};
    for (int i = 0; i < 3; i++) {
        goc_context_cancel(all[i]);
        goc_context_release(all[i]);
    }
}

static void nil_key(void *p)
{
    (void)p;
    goc_context_with_value(goc_context_background(), NULL, NULL);
}

static void test_6_8_with_value(void)
{
    static int k1, k2, k3;
    int v1 = 1, v2 = 2, v1b = 3;
    CHECK_EQ_STR(catch_panic(nil_key, NULL), "nil key");
    goc_context *a = goc_context_with_value(goc_context_background(), &k1, &v1);
    goc_context *b = goc_context_with_cancel(a);
    goc_context *c = goc_context_with_value(b, &k2, &v2);
    goc_context *d = goc_context_with_value(c, &k1, &v1b);
    CHECK(goc_context_value(d, &k1) == &v1b); /* innermost wins */
    CHECK(goc_context_value(c, &k1) == &v1);  /* through the cancel context */
    CHECK(goc_context_value(d, &k2) == &v2);
    CHECK(goc_context_value(d, &k3) == NULL);
    CHECK(goc_context_done(d) == goc_context_done(b));
    goc_context_cancel(b);
    CHECK(goc_context_err(d) == &goc_context_canceled);
    goc_context_release(d);
    goc_context_release(c);
    goc_context_release(b);
    goc_context_release(a);
}

static void test_context_tree_cancels_completely(void)
{
    int n = TEST_SCALE(10000);
    if (n < 200)
        n = 200;
    goc_context **nodes = calloc((size_t)n, sizeof *nodes);
    goc_context *root = goc_context_with_cancel(goc_context_background());
    static int key;
    uint32_t seed = 12345;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        goc_context *parent = i == 0 ? root : nodes[(seed >> 8) % (uint32_t)i];
        switch ((seed >> 4) % 4) {
        case 0:
            nodes[i] = goc_context_with_value(parent, &key, nodes);
            break;
        case 1:
            nodes[i] = goc_context_with_timeout(parent, 3600 * INT64_C(1000000000));
            break;
        default:
            nodes[i] = goc_context_with_cancel(parent);
        }
        if (i % 3 == 0)
            goc_context_done(nodes[i]); /* some with real channels */
    }
    /* A middle subtree first, then everything. */
    goc_context_cancel(nodes[n / 2]);
    goc_context_cancel(root);
    for (int i = 0; i < n; i++) {
        const goc_context_error *e = goc_context_err(nodes[i]);
        CHECK_MSG(e == &goc_context_canceled, "node %d not canceled", i);
        CHECK(is_closed(goc_context_done(nodes[i])));
    }
    CHECK_EQ_INT(goc__context_nchildren(root), 0);
    for (int i = n - 1; i >= 0; i--) {
        goc_context_cancel(nodes[i]);
        goc_context_release(nodes[i]);
    }
    CHECK_EQ_INT(goc__context_refs(root), 1);
    goc_context_release(root);
    free(nodes);
}

static void test_context_chain_deep(void)
{
    /* A deep chain cancels without recursion (stack stays small). */
    int n = TEST_SCALE(20000);
    if (n < 500)
        n = 500;
    goc_context **nodes = calloc((size_t)n, sizeof *nodes);
    goc_context *cur = goc_context_with_cancel(goc_context_background());
    goc_context *root = cur;
    for (int i = 0; i < n; i++)
        cur = nodes[i] = goc_context_with_cancel(cur);
    goc_context_cancel(root);
    CHECK(goc_context_err(nodes[n - 1]) == &goc_context_canceled);
    /* Release the handles root first: the chain frees itself from the leaf. */
    goc_context_release(root);
    for (int i = 0; i < n; i++)
        goc_context_release(nodes[i]);
    free(nodes);
}

/* ---- causes (Go 1.20, 1.21) ----------------------------------------------------- */

static const goc_context_error parent_cause = {"parentCause", false, false};
static const goc_context_error child_cause = {"childCause", false, false};
static const goc_context_error too_slow = {"tooSlow", false, false};
static const goc_context_error finished_early = {"finishedEarly", false, false};

#define FOREVER (1000000 * GOC_SECOND)

/* Contexts built by one row of Go's TestCause, kept to be released. */
typedef struct built {
    goc_context *c[3];
    int n;
} built;

static goc_context *keep(built *b, goc_context *c)
{
    b->c[b->n++] = c;
    return c;
}

static goc_context *bg(void) { return goc_context_background(); }

static goc_context *cause_case(int i, built *b)
{
    goc_context *p, *c;
    switch (i) {
    case 0:
        return bg();
    case 1:
        return goc_context_todo();
    case 2: /* WithCancel */
        c = keep(b, goc_context_with_cancel(bg()));
        goc_context_cancel(c);
        return c;
    case 3: /* WithCancelCause */
        c = keep(b, goc_context_with_cancel_cause(bg()));
        goc_context_cancel_cause(c, &parent_cause);
        return c;
    case 4: /* WithCancelCause nil */
        c = keep(b, goc_context_with_cancel_cause(bg()));
        goc_context_cancel_cause(c, NULL);
        return c;
    case 5: /* parent cause before child */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_with_cancel_cause(p));
        goc_context_cancel_cause(p, &parent_cause);
        goc_context_cancel_cause(c, &child_cause);
        return c;
    case 6: /* parent cause after child */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_with_cancel_cause(p));
        goc_context_cancel_cause(c, &child_cause);
        goc_context_cancel_cause(p, &parent_cause);
        return c;
    case 7: /* parent cause before nil */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_with_cancel(p));
        goc_context_cancel_cause(p, &parent_cause);
        goc_context_cancel(c);
        return c;
    case 8: /* parent cause after nil */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_with_cancel(p));
        goc_context_cancel(c);
        goc_context_cancel_cause(p, &parent_cause);
        return c;
    case 9: /* child cause after nil */
        p = keep(b, goc_context_with_cancel(bg()));
        c = keep(b, goc_context_with_cancel_cause(p));
        goc_context_cancel(p);
        goc_context_cancel_cause(c, &child_cause);
        return c;
    case 10: /* child cause before nil */
        p = keep(b, goc_context_with_cancel(bg()));
        c = keep(b, goc_context_with_cancel_cause(p));
        goc_context_cancel_cause(c, &child_cause);
        goc_context_cancel(p);
        return c;
    case 11: /* WithTimeout */
        c = keep(b, goc_context_with_timeout(bg(), 0));
        goc_context_cancel(c);
        return c;
    case 12: /* WithTimeout canceled */
        c = keep(b, goc_context_with_timeout(bg(), FOREVER));
        goc_context_cancel(c);
        return c;
    case 13: /* WithTimeoutCause */
        c = keep(b, goc_context_with_timeout_cause(bg(), 0, &too_slow));
        goc_context_cancel(c);
        return c;
    case 14: /* WithTimeoutCause canceled */
        c = keep(b, goc_context_with_timeout_cause(bg(), FOREVER, &too_slow));
        goc_context_cancel(c);
        return c;
    case 15: /* WithTimeoutCause stacked */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_with_timeout_cause(p, 0, &too_slow));
        goc_context_cancel_cause(p, &finished_early);
        return c;
    case 16: /* WithTimeoutCause stacked canceled */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_with_timeout_cause(p, FOREVER, &too_slow));
        goc_context_cancel_cause(p, &finished_early);
        return c;
    case 17: /* WithoutCancel */
        return keep(b, goc_context_without_cancel(bg()));
    case 18: /* WithoutCancel canceled */
        p = keep(b, goc_context_with_cancel_cause(bg()));
        c = keep(b, goc_context_without_cancel(p));
        goc_context_cancel_cause(p, &finished_early);
        return c;
    default: /* WithoutCancel timeout */
        p = keep(b, goc_context_with_timeout_cause(bg(), 0, &too_slow));
        c = keep(b, goc_context_without_cancel(p));
        goc_context_cancel(p);
        return c;
    }
}

/* Go's TestCause: each row's Err and Cause. */
static void test_cause(void)
{
    const goc_context_error *C = &goc_context_canceled, *D = &goc_context_deadline_exceeded;
    const struct {
        const goc_context_error *err, *cause;
    } want[] = {
        {NULL, NULL}, {NULL, NULL}, {C, C}, {C, &parent_cause}, {C, C},
        {C, &parent_cause}, {C, &child_cause}, {C, &parent_cause}, {C, C}, {C, C},
        {C, &child_cause}, {D, D}, {C, C}, {D, &too_slow}, {C, C},
        {D, &too_slow}, {C, &finished_early}, {NULL, NULL}, {NULL, NULL}, {NULL, NULL},
    };
    for (int i = 0; i < (int)(sizeof want / sizeof *want); i++) {
        built b = {{0}, 0};
        goc_context *ctx = cause_case(i, &b);
        const goc_context_error *err = goc_context_err(ctx), *cause = goc_context_cause(ctx);
        for (int k = b.n - 1; k >= 0; k--) {
            goc_context_cancel(b.c[k]);
            goc_context_release(b.c[k]);
        }
        CHECK_MSG(err == want[i].err, "row %d: Err = %s", i, err ? err->msg : "nil");
        CHECK_MSG(cause == want[i].cause, "row %d: Cause = %s", i, cause ? cause->msg : "nil");
    }
}

/* Go's TestCauseRace: Cause polled while another goroutine cancels. */
static const goc_context_error race_cause = {"TestCauseRace", false, false};

static void cancel_with_race_cause(void *p)
{
    goc_context *c = *(goc_context **)p;
    goc_context_cancel_cause(c, &race_cause);
    goc_context_release(c);
}

static void test_cause_race(void)
{
    goc_context *ctx = goc_context_with_cancel_cause(bg());
    goc_context *ref = goc_context_retain(ctx);
    goc_go(cancel_with_race_cause, &ref, sizeof ref);
    const goc_context_error *e;
    while ((e = goc_context_cause(ctx)) == NULL)
        goc_yield();
    CHECK(e == &race_cause);
    goc_context_release(ctx);
}

/* Go's TestWithCancelCanceledParent and its Simultaneously variant: a child
 * of a parent canceled with a cause (before, or while, it is made) is done
 * with Err canceled and the parent's cause. */
static void pcancel_because(void *p)
{
    goc_context *c = *(goc_context **)p;
    goc_context_cancel_cause(c, &parent_cause);
    goc_context_release(c);
}

static void test_with_cancel_canceled_parent(void)
{
    goc_context *parent = goc_context_with_cancel_cause(bg());
    goc_context_cancel_cause(parent, &parent_cause);
    goc_context *c = goc_context_with_cancel(parent);
    CHECK(is_closed(goc_context_done(c)));
    CHECK(goc_context_err(c) == &goc_context_canceled);
    CHECK(goc_context_cause(c) == &parent_cause);
    goc_context_release(c);
    goc_context_release(parent);
    for (int i = 0; i < 100; i++) {
        parent = goc_context_with_cancel_cause(bg());
        goc_context *ref = goc_context_retain(parent);
        goc_go(pcancel_because, &ref, sizeof ref);
        c = goc_context_with_cancel(parent);
        CHECK(goc_chan_recv(goc_context_done(c), NULL) == false);
        CHECK(goc_context_err(c) == &goc_context_canceled);
        CHECK(goc_context_cause(c) == &parent_cause);
        goc_context_cancel(c);
        goc_context_release(c);
        goc_context_release(parent);
    }
}

/* Go's TestWithoutCancel: values pass through, nothing else does. */
static int wc_key;

static void test_without_cancel(void)
{
    goc_context *v = goc_context_with_value(bg(), &wc_key, "value");
    goc_context *ctx = goc_context_without_cancel(v);
    int64_t d;
    CHECK(!goc_context_deadline(ctx, &d));
    CHECK(goc_context_done(ctx) == NULL);
    CHECK(goc_context_err(ctx) == NULL);
    CHECK_EQ_STR(goc_context_value(ctx, &wc_key), "value");
    /* A canceled or timed-out parent leaves it alone, and its children. */
    goc_context *p = goc_context_with_timeout(bg(), 50 * MS);
    goc_context *w = goc_context_without_cancel(p);
    goc_context *child = goc_context_with_cancel(w);
    CHECK(!goc_context_deadline(w, &d));
    goc_context_cancel(p);
    CHECK(goc_context_err(w) == NULL && goc_context_cause(w) == NULL);
    CHECK(goc_context_err(child) == NULL);
    CHECK_EQ_INT(goc__context_nchildren(p), 0);
    goc_context_cancel(child);
    goc_context *all[] = {child, w, p, ctx, v};
    for (int i = 0; i < 5; i++)
        goc_context_release(all[i]);
}

/* ---- AfterFunc (Go 1.21) --------------------------------------------------------- */

static void close_chan(void *p) { goc_chan_close(p); }

static bool recv_within(goc_chan *c, int64_t d)
{
    goc_timer *t = goc_after(d);
    goc_select_case cs[2] = {{c, GOC_SELECT_RECV, NULL, false},
                             {goc_timer_chan(t), GOC_SELECT_RECV, NULL, false}};
    int i = goc_select(cs, 2, true);
    goc_timer_free(t);
    return i == 0;
}

#define SHORT (20 * MS)
#define VERY_LONG (10 * GOC_SECOND)

/* Go's TestAfterFuncCalledAfterCancel. */
static void test_after_func_called_after_cancel(void)
{
    goc_context *ctx = goc_context_with_cancel(bg());
    goc_chan *donec = goc_chan_make(0, 0);
    goc_context_after *stop = goc_context_after_func(ctx, close_chan, donec);
    CHECK_MSG(!recv_within(donec, SHORT), "AfterFunc called before context is done");
    goc_context_cancel(ctx);
    CHECK_MSG(recv_within(donec, VERY_LONG), "AfterFunc not called after context is canceled");
    CHECK(!goc_context_after_stop(stop));
    goc_context_after_free(stop);
    goc_context_release(ctx);
    goc_chan_free(donec);
}

/* Go's TestAfterFuncCalledAfterTimeout. */
static void test_after_func_called_after_timeout(void)
{
    goc_context *ctx = goc_context_with_timeout(bg(), SHORT);
    goc_chan *donec = goc_chan_make(0, 0);
    goc_context_after_free(goc_context_after_func(ctx, close_chan, donec));
    CHECK_MSG(recv_within(donec, VERY_LONG), "AfterFunc not called after context is canceled");
    goc_context_cancel(ctx);
    goc_context_release(ctx);
    goc_chan_free(donec);
}

/* Go's TestAfterFuncCalledImmediately. */
static void test_after_func_called_immediately(void)
{
    goc_context *ctx = goc_context_with_cancel(bg());
    goc_context_cancel(ctx);
    goc_chan *donec = goc_chan_make(0, 0);
    goc_context_after_free(goc_context_after_func(ctx, close_chan, donec));
    CHECK_MSG(recv_within(donec, VERY_LONG), "AfterFunc not called for already-canceled context");
    goc_context_release(ctx);
    goc_chan_free(donec);
}

/* Go's TestAfterFuncNotCalledAfterStop. */
static void test_after_func_not_called_after_stop(void)
{
    goc_context *ctx = goc_context_with_cancel(bg());
    goc_chan *donec = goc_chan_make(0, 0);
    goc_context_after *stop = goc_context_after_func(ctx, close_chan, donec);
    CHECK(goc_context_after_stop(stop));
    CHECK_EQ_INT(goc__context_nchildren(ctx), 0);
    goc_context_cancel(ctx);
    CHECK_MSG(!recv_within(donec, SHORT), "AfterFunc called for already-canceled context");
    CHECK(!goc_context_after_stop(stop));
    goc_context_after_free(stop);
    goc_context_release(ctx);
    goc_chan_free(donec);
}

/* Go's TestAfterFuncCalledAsynchronously: cancel does not wait for the
 * function, which blocks until the canceller reads. */
static void send_unit(void *p) { goc_chan_send(p, NULL); }

static void test_after_func_called_asynchronously(void)
{
    goc_context *ctx = goc_context_with_cancel(bg());
    goc_chan *donec = goc_chan_make(0, 0);
    goc_context_after *stop = goc_context_after_func(ctx, send_unit, donec);
    goc_context_cancel(ctx);
    CHECK_MSG(recv_within(donec, VERY_LONG), "AfterFunc not called after context is canceled");
    goc_context_after_stop(stop);
    goc_context_after_free(stop);
    goc_context_release(ctx);
    goc_chan_free(donec);
}

/* Stop racing with cancel on another goroutine: exactly one of "stop
 * answered true" and "the function ran" holds, every time. */
typedef struct af_race {
    goc_context *ctx;
    goc_waitgroup *wg;
} af_race;

static void af_count(void *p) { atomic_fetch_add((_Atomic int *)p, 1); }

static void af_cancel(void *p)
{
    af_race *r = p;
    goc_context_cancel(r->ctx);
    goc_waitgroup_done(r->wg);
}

static void test_after_func_stop_races_cancel(void)
{
    int n = TEST_SCALE(2000), stopped = 0;
    _Atomic int ran = 0;
    for (int i = 0; i < n; i++) {
        goc_context *ctx = goc_context_with_cancel(bg());
        goc_context_after *a = goc_context_after_func(ctx, af_count, &ran);
        goc_waitgroup wg = GOC_WAITGROUP_INIT;
        goc_waitgroup_add(&wg, 1);
        af_race r = {ctx, &wg};
        goc_go_copy(af_cancel, &r);
        if (i % 2)
            goc_yield();
        stopped += goc_context_after_stop(a);
        goc_waitgroup_wait(&wg);
        goc_context_after_free(a);
        goc_context_release(ctx);
    }
    CHECK(WAIT_UNTIL(atomic_load(&ran) + stopped == n));
    goc_sleep(5 * MS);
    CHECK_EQ_INT(atomic_load(&ran) + stopped, n);
}

static const test_case cases[] = {
    TEST_CASE(test_6_1_background_and_todo),
    TEST_CASE(test_6_2_errors),
    TEST_CASE(test_6_3_done_lazy_and_closedchan),
    TEST_CASE(test_6_4_with_cancel),
    TEST_CASE(test_6_5_propagate_cancel),
    TEST_CASE(test_6_6_cancel_children_and_remove),
    TEST_CASE(test_6_7_with_deadline),
    TEST_CASE(test_overflow_timeout),
    TEST_CASE(test_6_8_with_value),
    TEST_CASE(test_context_tree_cancels_completely),
    TEST_CASE(test_context_chain_deep),
    TEST_CASE(test_cause),
    TEST_CASE(test_cause_race),
    TEST_CASE(test_with_cancel_canceled_parent),
    TEST_CASE(test_without_cancel),
    TEST_CASE(test_after_func_called_after_cancel),
    TEST_CASE(test_after_func_called_after_timeout),
    TEST_CASE(test_after_func_called_immediately),
    TEST_CASE(test_after_func_not_called_after_stop),
    TEST_CASE(test_after_func_called_asynchronously),
    TEST_CASE(test_after_func_stop_races_cancel),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

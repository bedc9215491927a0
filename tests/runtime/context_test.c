/* context_test.c: Go's context (doc/go-rules.md 6), one case per numbered rule,
 * plus a 10,000-node tree that must cancel completely. Leaks show up in the
 * ASan build (every context is released). */
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

static const test_case cases[] = {
    TEST_CASE(test_6_1_background_and_todo),
    TEST_CASE(test_6_2_errors),
    TEST_CASE(test_6_3_done_lazy_and_closedchan),
    TEST_CASE(test_6_4_with_cancel),
    TEST_CASE(test_6_5_propagate_cancel),
    TEST_CASE(test_6_6_cancel_children_and_remove),
    TEST_CASE(test_6_7_with_deadline),
    TEST_CASE(test_6_8_with_value),
    TEST_CASE(test_context_tree_cancels_completely),
    TEST_CASE(test_context_chain_deep),
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

/* chan_test.c: channels (doc/go-rules.md 1) and select (doc/go-rules.md 2), one case per
 * numbered rule, plus select fairness and a conservation storm. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "sync_helpers.h"

#include <math.h>

/* ---- goroutine bodies ------------------------------------------------------ */

typedef struct op_arg {
    goc_chan *c;
    int64_t v;
    int64_t got;
    bool ok;
    _Atomic int done;
    const char *panic;
} op_arg;

static void do_send(void *p)
{
    op_arg *a = p;
    goc_chan_send(a->c, &a->v);
}

static void sender(void *p)
{
    op_arg *a = *(op_arg **)p;
    a->panic = catch_panic(do_send, a);
    atomic_store(&a->done, 1);
}

static void receiver(void *p)
{
    op_arg *a = *(op_arg **)p;
    a->ok = goc_chan_recv(a->c, &a->got);
    atomic_store(&a->done, 1);
}

static void spawn(goc_fn fn, op_arg *a) { goc_go(fn, &a, sizeof a); }

/* ---- 1. channels ------------------------------------------------------------- */

static void test_1_1_hchan_fields_and_fifo_queues(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 3);
    CHECK_EQ_INT(c->dataqsiz, 3);
    CHECK_EQ_INT(c->elemsize, 8);
    CHECK_EQ_INT(c->qcount, 0);
    CHECK_EQ_INT(c->closed, 0);
    goc_chan_free(c);
    /* Waiters queue FIFO: five blocked senders are received in order. */
    c = goc_chan_make(sizeof(int64_t), 0);
    op_arg a[5];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 5; i++) {
        a[i].c = c;
        a[i].v = 100 + i;
        spawn(sender, &a[i]);
        CHECK(WAIT_SENDQ(c, i + 1));
    }
    CHECK(c->sendq.first->elem == &a[0].v);
    CHECK(c->sendq.last->elem == &a[4].v);
    for (int i = 0; i < 5; i++) {
        int64_t v;
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, 100 + i);
    }
    for (int i = 0; i < 5; i++)
        CHECK(WAIT_UNTIL(atomic_load(&a[i].done)));
    goc_chan_free(c);
}

static void both_ways_select(void *p)
{
    op_arg *a = *(op_arg **)p;
    int64_t in = 0, out = 7;
    goc_select_case cs[2] = {{a->c, GOC_SELECT_RECV, &in, false},
                             {a->c, GOC_SELECT_SEND, &out, false}};
    a->got = goc_select(cs, 2, true);
    atomic_store(&a->done, 1);
}

static void test_1_2_invariants_one_queue_nonempty(void)
{
    /* Buffered: blocked receivers only while empty, senders only while full. */
    goc_chan *c = goc_chan_make(sizeof(int64_t), 2);
    op_arg r = {.c = c};
    spawn(receiver, &r);
    CHECK(WAIT_RECVQ(c, 1));
    CHECK_EQ_INT(c->qcount, 0);
    CHECK(c->sendq.first == NULL);
    int64_t v = 1;
    goc_chan_send(c, &v); /* handed to the receiver */
    CHECK(WAIT_UNTIL(atomic_load(&r.done)));
    goc_chan_send(c, &v);
    goc_chan_send(c, &v);
    op_arg s = {.c = c, .v = 3};
    spawn(sender, &s);
    CHECK(WAIT_SENDQ(c, 1));
    CHECK_EQ_INT(c->qcount, c->dataqsiz);
    CHECK(c->recvq.first == NULL);
    for (int i = 0; i < 3; i++)
        CHECK(goc_chan_recv(c, &v));
    CHECK(WAIT_UNTIL(atomic_load(&s.done)));
    goc_chan_free(c);
    /* The exception: one goroutine selecting both ways on an unbuffered
     * channel sits in both queues. */
    c = goc_chan_make(sizeof(int64_t), 0);
    op_arg b = {.c = c};
    spawn(both_ways_select, &b);
    CHECK(WAIT_RECVQ(c, 1));
    CHECK_EQ_INT(waitq_len(c, &c->sendq), 1);
    CHECK(c->recvq.first->g == c->sendq.first->g);
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 7);
    CHECK(WAIT_UNTIL(atomic_load(&b.done)));
    CHECK_EQ_INT(b.got, 1);
    CHECK(c->recvq.first == NULL && c->sendq.first == NULL);
    goc_chan_free(c);
}

static void make_neg(void *p)
{
    (void)p;
    goc_chan_make(8, -1);
}

static void make_huge(void *p)
{
    (void)p;
    goc_chan_make(1024, INT64_C(1) << 40);
}

static void child_makechan_bad_elem(void) { goc_chan_make(65536, 1); }

static void test_1_3_makechan(void)
{
    CHECK_EQ_STR(catch_panic(make_neg, NULL), "makechan: size out of range");
    CHECK_EQ_STR(catch_panic(make_huge, NULL), "makechan: size out of range");
    /* One block: the buffer follows the header. */
    goc_chan *c = goc_chan_make(24, 10);
    CHECK(c->buf > (char *)c && c->buf < (char *)c + sizeof *c + 8);
    CHECK_EQ_INT(goc_chan_cap(c), 10);
    goc_chan_free(c);
    /* Zero-size elements and the largest element size work. */
    c = goc_chan_make(0, 4);
    CHECK(goc_chan_try_send(c, NULL));
    CHECK_EQ_INT(goc_chan_len(c), 1);
    goc_chan_free(c);
    c = goc_chan_make(65535, 1);
    goc_chan_free(c);
    test_child ch;
    CHECK(test_run_child("child_makechan_bad_elem", NULL, &ch) == 0);
    CHECK_MSG(!ch.exited, "%s", ch.out);
    CHECK_STR_CONTAINS(ch.out, "fatal error: makechan: invalid channel element type");
}

static void test_1_4_a_send_on_nil_channel(void)
{
    int64_t v = 1;
    CHECK(!goc_chan_try_send(NULL, &v));
    op_arg a = {.c = NULL, .v = 1};
    spawn(sender, &a); /* parks forever */
    goc_sleep(5 * MS);
    CHECK_EQ_INT(atomic_load(&a.done), 0);
}

static void test_1_4_b_nonblocking_send_fast_fail(void)
{
    int64_t v = 5;
    goc_chan *c = goc_chan_make(sizeof v, 0);
    CHECK(!goc_chan_try_send(c, &v)); /* no receiver */
    goc_chan_free(c);
    c = goc_chan_make(sizeof v, 1);
    CHECK(goc_chan_try_send(c, &v));
    CHECK(!goc_chan_try_send(c, &v)); /* full */
    CHECK_EQ_INT(goc_chan_len(c), 1);
    goc_chan_free(c);
}

static void send_closed(void *p) { goc_chan_send(p, &(int64_t){1}); }
static void try_send_closed(void *p) { goc_chan_try_send(p, &(int64_t){1}); }

static void test_1_4_c_send_on_closed_panics(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 1);
    goc_chan_close(c);
    CHECK_EQ_STR(catch_panic(send_closed, c), "send on closed channel");
    CHECK_EQ_STR(catch_panic(try_send_closed, c), "send on closed channel");
    goc_chan_free(c);
}

static void test_1_4_d_send_to_waiting_receiver_skips_buffer(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 4);
    op_arg r = {.c = c};
    spawn(receiver, &r);
    CHECK(WAIT_RECVQ(c, 1));
    int64_t v = 42;
    goc_chan_send(c, &v);
    CHECK_EQ_INT(c->qcount, 0); /* never went through the buffer */
    CHECK_EQ_INT(c->sendx, 0);
    CHECK(WAIT_UNTIL(atomic_load(&r.done)));
    CHECK(r.ok);
    CHECK_EQ_INT(r.got, 42);
    goc_chan_free(c);
}

static void test_1_4_e_buffered_send_wraps(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 3);
    for (int64_t i = 0; i < 10; i++) {
        goc_chan_send(c, &i);
        CHECK_EQ_INT(c->sendx, (i + 1) % 3);
        int64_t v;
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, i);
    }
    goc_chan_free(c);
}

static void test_1_4_f_nonblocking_send_would_block(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 2);
    int64_t v = 1;
    CHECK(goc_chan_try_send(c, &v));
    CHECK(goc_chan_try_send(c, &v));
    v = 9;
    CHECK(!goc_chan_try_send(c, &v));
    CHECK_EQ_INT(c->qcount, 2);
    CHECK(c->sendq.first == NULL); /* did not queue */
    goc_chan_free(c);
}

static void test_1_4_g_blocked_sender_parks_and_panics_on_close(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
    op_arg s = {.c = c, .v = 11};
    spawn(sender, &s);
    CHECK(WAIT_SENDQ(c, 1));
    CHECK_EQ_INT(atomic_load(&s.done), 0);
    int64_t v;
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 11);
    CHECK(WAIT_UNTIL(atomic_load(&s.done)));
    CHECK(s.panic == NULL);
    /* Closing wakes a blocked sender, which panics. */
    op_arg s2 = {.c = c, .v = 12};
    spawn(sender, &s2);
    CHECK(WAIT_SENDQ(c, 1));
    goc_chan_close(c);
    CHECK(WAIT_UNTIL(atomic_load(&s2.done)));
    CHECK_EQ_STR(s2.panic, "send on closed channel");
    goc_chan_free(c);
}

static void test_1_5_a_recv_on_nil_channel(void)
{
    int64_t v = 3;
    bool ok = true;
    CHECK(!goc_chan_try_recv(NULL, &v, &ok));
    CHECK_EQ_INT(v, 3);
    op_arg a = {.c = NULL};
    spawn(receiver, &a);
    goc_sleep(5 * MS);
    CHECK_EQ_INT(atomic_load(&a.done), 0);
}

static void test_1_5_b_nonblocking_recv_fast_path(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 1);
    int64_t v = 3;
    bool ok = true;
    CHECK(!goc_chan_try_recv(c, &v, &ok)); /* empty, open */
    CHECK_EQ_INT(v, 3);
    goc_chan_close(c);
    CHECK(goc_chan_try_recv(c, &v, &ok)); /* empty, closed: zero value */
    CHECK(!ok);
    CHECK_EQ_INT(v, 0);
    goc_chan_free(c);
}

static void test_1_5_c_closed_buffered_drains_first(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 3);
    for (int64_t i = 1; i <= 3; i++)
        goc_chan_send(c, &i);
    goc_chan_close(c);
    for (int64_t i = 1; i <= 3; i++) {
        int64_t v = 0;
        CHECK(goc_chan_recv(c, &v)); /* ok=true after close */
        CHECK_EQ_INT(v, i);
    }
    int64_t v = 9;
    CHECK(!goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 0);
    goc_chan_free(c);
}

static void test_1_5_d_recv_from_full_buffer_with_sender(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 2);
    for (int64_t i = 1; i <= 2; i++)
        goc_chan_send(c, &i);
    op_arg s = {.c = c, .v = 3};
    spawn(sender, &s);
    CHECK(WAIT_SENDQ(c, 1));
    int64_t v;
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 1);                 /* head of the buffer */
    CHECK_EQ_INT(c->qcount, 2);         /* sender's value took the slot */
    CHECK_EQ_INT(c->sendx, c->recvx);   /* buffer full again */
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 2);
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 3);
    CHECK(WAIT_UNTIL(atomic_load(&s.done)));
    /* Unbuffered: straight from the sender's memory. */
    goc_chan *u = goc_chan_make(sizeof(int64_t), 0);
    op_arg s2 = {.c = u, .v = 77};
    spawn(sender, &s2);
    CHECK(WAIT_SENDQ(u, 1));
    CHECK(goc_chan_recv(u, &v));
    CHECK_EQ_INT(v, 77);
    CHECK(WAIT_UNTIL(atomic_load(&s2.done)));
    goc_chan_free(c);
    goc_chan_free(u);
}

static void test_1_5_e_buffered_recv_fifo_and_clears_slot(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 4);
    for (int64_t i = 0; i < 4; i++)
        goc_chan_send(c, &i);
    int64_t v;
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(*(int64_t *)goc__chanbuf(c, 0), 0);
    CHECK_EQ_INT(c->recvx, 1);
    CHECK_EQ_INT(goc_chan_len(c), 3);
    for (int64_t i = 1; i < 4; i++) {
        CHECK(goc_chan_recv(c, &v));
        CHECK_EQ_INT(v, i);
    }
    CHECK_EQ_INT(c->recvx, 0); /* wrapped */
    goc_chan_free(c);
}

static void test_1_5_f_nonblocking_recv_would_block(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
    int64_t v = 5;
    bool ok = true;
    CHECK(!goc_chan_try_recv(c, &v, &ok));
    CHECK(c->recvq.first == NULL);
    CHECK_EQ_INT(v, 5);
    CHECK(ok);
    goc_chan_free(c);
}

static void test_1_5_g_blocked_receiver_woken_by_send_or_close(void)
{
    goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
    op_arg r = {.c = c};
    spawn(receiver, &r);
    CHECK(WAIT_RECVQ(c, 1));
    int64_t v = 8;
    goc_chan_send(c, &v);
    CHECK(WAIT_UNTIL(atomic_load(&r.done)));
    CHECK(r.ok);
    CHECK_EQ_INT(r.got, 8);
    op_arg r2 = {.c = c, .got = 99};
    spawn(receiver, &r2);
    CHECK(WAIT_RECVQ(c, 1));
    goc_chan_close(c);
    CHECK(WAIT_UNTIL(atomic_load(&r2.done)));
    CHECK(!r2.ok);
    CHECK_EQ_INT(r2.got, 0);
    goc_chan_free(c);
}

static void close_nil(void *p)
{
    (void)p;
    goc_chan_close(NULL);
}

static void close_twice(void *p) { goc_chan_close(p); }

static void test_1_6_close(void)
{
    CHECK_EQ_STR(catch_panic(close_nil, NULL), "close of nil channel");
    goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
    op_arg r[3], s[2];
    memset(r, 0, sizeof r);
    memset(s, 0, sizeof s);
    for (int i = 0; i < 3; i++) {
        r[i].c = c;
        r[i].got = 5;
        spawn(receiver, &r[i]);
    }
    CHECK(WAIT_RECVQ(c, 3));
    goc_chan_close(c);
    for (int i = 0; i < 3; i++) {
        CHECK(WAIT_UNTIL(atomic_load(&r[i].done)));
        CHECK(!r[i].ok);
        CHECK_EQ_INT(r[i].got, 0);
    }
    CHECK_EQ_STR(catch_panic(close_twice, c), "close of closed channel");
    goc_chan_free(c);
    /* Senders blocked at close panic; buffered data stays receivable. */
    c = goc_chan_make(sizeof(int64_t), 1);
    int64_t v = 1;
    goc_chan_send(c, &v);
    for (int i = 0; i < 2; i++) {
        s[i].c = c;
        s[i].v = 2;
        spawn(sender, &s[i]);
    }
    CHECK(WAIT_SENDQ(c, 2));
    goc_chan_close(c);
    for (int i = 0; i < 2; i++) {
        CHECK(WAIT_UNTIL(atomic_load(&s[i].done)));
        CHECK_EQ_STR(s[i].panic, "send on closed channel");
    }
    CHECK(goc_chan_recv(c, &v));
    CHECK_EQ_INT(v, 1);
    CHECK(!goc_chan_recv(c, &v));
    goc_chan_free(c);
}

static void test_1_7_len_cap(void)
{
    CHECK_EQ_INT(goc_chan_len(NULL), 0);
    CHECK_EQ_INT(goc_chan_cap(NULL), 0);
    goc_chan *c = goc_chan_make(4, 5);
    CHECK_EQ_INT(goc_chan_cap(c), 5);
    int32_t v = 1;
    goc_chan_send(c, &v);
    goc_chan_send(c, &v);
    CHECK_EQ_INT(goc_chan_len(c), 2);
    goc_chan_close(c);
    CHECK_EQ_INT(goc_chan_len(c), 2);
    goc_chan_free(c);
    c = goc_chan_make(4, 0);
    CHECK_EQ_INT(goc_chan_cap(c), 0);
    CHECK_EQ_INT(goc_chan_len(c), 0);
    goc_chan_free(c);
}

typedef struct two_chans {
    goc_chan *a, *b;
    int64_t got;
    int chosen;
    _Atomic int done;
} two_chans;

static void select_two(void *p)
{
    two_chans *t = *(two_chans **)p;
    goc_select_case cs[2] = {{t->a, GOC_SELECT_RECV, &t->got, false},
                             {t->b, GOC_SELECT_RECV, &t->got, false}};
    t->chosen = goc_select(cs, 2, true);
    atomic_store(&t->done, 1);
}

static void test_1_8_dequeue_skips_lost_select(void)
{
    /* G selects on a and b; H then waits on b behind G. A send on a wins
     * G; a send on b must skip G's stale sudog (its CAS fails) and go to
     * H. */
    for (int round = 0; round < 20; round++) {
        two_chans t = {.a = goc_chan_make(8, 0), .b = goc_chan_make(8, 0)};
        two_chans *tp = &t;
        goc_go(select_two, &tp, sizeof tp);
        CHECK(WAIT_RECVQ(t.b, 1));
        op_arg h = {.c = t.b};
        spawn(receiver, &h);
        CHECK(WAIT_RECVQ(t.b, 2));
        int64_t v = 1;
        goc_chan_send(t.a, &v);
        v = 2;
        goc_chan_send(t.b, &v);
        CHECK(WAIT_UNTIL(atomic_load(&t.done) && atomic_load(&h.done)));
        CHECK_EQ_INT(t.chosen, 0);
        CHECK_EQ_INT(t.got, 1);
        CHECK_EQ_INT(h.got, 2);
        CHECK(t.b->recvq.first == NULL);
        goc_chan_free(t.a);
        goc_chan_free(t.b);
    }
}

/* ---- 2. select ------------------------------------------------------------- */

static void empty_select(void *p)
{
    op_arg *a = *(op_arg **)p;
    goc_select(NULL, 0, true);
    atomic_store(&a->done, 1);
}

static void too_many_cases(void *p)
{
    (void)p;
    goc_select(NULL, GOC_SELECT_MAX_CASES + 1, true);
}

static void test_2_1_lowering(void)
{
    /* Empty select: default returns -1, blocking parks forever. */
    CHECK_EQ_INT(goc_select(NULL, 0, false), -1);
    op_arg a = {0};
    spawn(empty_select, &a);
    goc_sleep(5 * MS);
    CHECK_EQ_INT(atomic_load(&a.done), 0);
    CHECK_EQ_STR(catch_panic(too_many_cases, NULL), "select: too many cases");
    /* One case plus default behaves as a non-blocking operation. */
    goc_chan *c = goc_chan_make(8, 1);
    int64_t v = 4;
    goc_select_case cs = {c, GOC_SELECT_RECV, &v, true};
    CHECK_EQ_INT(goc_select(&cs, 1, false), -1);
    cs.dir = GOC_SELECT_SEND;
    CHECK_EQ_INT(goc_select(&cs, 1, false), 0);
    CHECK_EQ_INT(goc_select(&cs, 1, false), -1); /* full */
    cs.dir = GOC_SELECT_RECV;
    v = 0;
    CHECK_EQ_INT(goc_select(&cs, 1, true), 0);
    CHECK_EQ_INT(v, 4);
    CHECK(cs.ok);
    goc_chan_free(c);
}

static void test_2_2_pollorder_random_and_skips_nil(void)
{
    enum { N = 3 };
    goc_chan *c[N];
    goc_select_case cs[N + 2];
    for (int i = 0; i < N; i++) {
        c[i] = goc_chan_make(0, 1);
        CHECK(goc_chan_try_send(c[i], NULL));
    }
    int counts[N + 2] = {0};
    int rounds = TEST_SCALE(30000);
    for (int r = 0; r < rounds; r++) {
        cs[0] = (goc_select_case){NULL, GOC_SELECT_RECV, NULL, false};
        for (int i = 0; i < N; i++)
            cs[i + 1] = (goc_select_case){c[i], GOC_SELECT_RECV, NULL, false};
        cs[N + 1] = (goc_select_case){NULL, GOC_SELECT_SEND, NULL, false};
        int k = goc_select(cs, N + 2, false);
        CHECK(k >= 1 && k <= N);
        counts[k]++;
        CHECK(goc_chan_try_send(c[k - 1], NULL)); /* refill */
    }
    CHECK_EQ_INT(counts[0] + counts[N + 1], 0);
    /* Each share within 5 standard deviations (and 5%) of 1/N. */
    double tol = 5 * sqrt((1.0 / N) * (1 - 1.0 / N) / rounds);
    if (tol < 0.05)
        tol = 0.05;
    for (int i = 1; i <= N; i++) {
        double share = (double)counts[i] / rounds;
        CHECK_MSG(share > 1.0 / N - tol && share < 1.0 / N + tol, "case %d share %.3f", i,
                  share);
    }
    /* Only nil channels: default, or block forever. */
    cs[0] = (goc_select_case){NULL, GOC_SELECT_RECV, NULL, false};
    CHECK_EQ_INT(goc_select(cs, 1, false), -1);
    for (int i = 0; i < N; i++)
        goc_chan_free(c[i]);
}

typedef struct many_sel {
    goc_select_case *cs;
    int n;
    int chosen;
    _Atomic int done;
} many_sel;

static void select_many(void *p)
{
    many_sel *m = *(many_sel **)p;
    m->chosen = goc_select(m->cs, m->n, true);
    atomic_store(&m->done, 1);
}

static void test_2_3_lockorder_duplicates_and_many_cases(void)
{
    /* Cases on the same channel several times (locked once), in both the
     * on-stack and the heap-allocated form. */
    int sizes[2] = {6, 1000};
    for (int si = 0; si < 2; si++) {
        int n = sizes[si];
        goc_chan *ch[5];
        for (int i = 0; i < 5; i++)
            ch[i] = goc_chan_make(sizeof(int64_t), 0);
        goc_select_case *cs = calloc((size_t)n, sizeof *cs);
        int64_t *vals = calloc((size_t)n, sizeof *vals);
        for (int i = 0; i < n; i++)
            cs[i] = (goc_select_case){ch[(i * 7) % 5], GOC_SELECT_RECV, &vals[i], false};
        many_sel m = {.cs = cs, .n = n};
        many_sel *mp = &m;
        goc_go(select_many, &mp, sizeof mp);
        int on3 = 0;
        for (int i = 0; i < n; i++)
            on3 += cs[i].c == ch[3];
        CHECK(WAIT_RECVQ(ch[3], on3));
        int64_t v = 55;
        goc_chan_send(ch[3], &v);
        CHECK(WAIT_UNTIL(atomic_load(&m.done)));
        CHECK(m.chosen >= 0 && m.chosen < n);
        CHECK(cs[m.chosen].c == ch[3]);
        CHECK_EQ_INT(vals[m.chosen], 55);
        for (int i = 0; i < 5; i++) {
            CHECK(ch[i]->recvq.first == NULL);
            goc_chan_free(ch[i]);
        }
        free(cs);
        free(vals);
    }
}

static void select_send_closed(void *p)
{
    goc_select_case cs[2] = {{p, GOC_SELECT_SEND, &(int64_t){1}, false},
                             {NULL, GOC_SELECT_RECV, NULL, false}};
    goc_select(cs, 2, false);
}

static void test_2_4_pass1_ready_cases(void)
{
    goc_chan *buf = goc_chan_make(sizeof(int64_t), 1), *cl = goc_chan_make(sizeof(int64_t), 0);
    int64_t v = 3, got = 9;
    goc_chan_send(buf, &v);
    goc_select_case cs[1] = {{buf, GOC_SELECT_RECV, &got, false}};
    CHECK_EQ_INT(goc_select(cs, 1, true), 0);
    CHECK(cs[0].ok);
    CHECK_EQ_INT(got, 3);
    /* Receive from a closed channel: zero, ok=false. */
    goc_chan_close(cl);
    got = 9;
    cs[0] = (goc_select_case){cl, GOC_SELECT_RECV, &got, true};
    CHECK_EQ_INT(goc_select(cs, 1, false), 0);
    CHECK(!cs[0].ok);
    CHECK_EQ_INT(got, 0);
    /* Send on closed: panic, everything unlocked (the channel still works). */
    CHECK_EQ_STR(catch_panic(select_send_closed, cl), "send on closed channel");
    CHECK(!goc_chan_recv(cl, NULL));
    /* Send into buffer space. */
    cs[0] = (goc_select_case){buf, GOC_SELECT_SEND, &v, false};
    CHECK_EQ_INT(goc_select(cs, 1, false), 0);
    CHECK_EQ_INT(goc_chan_len(buf), 1);
    /* Nothing ready and !block: -1. */
    CHECK_EQ_INT(goc_select(cs, 1, false), -1);
    goc_chan_free(buf);
    goc_chan_free(cl);
}

static void test_2_5_pass2_enqueue_and_park(void)
{
    goc_chan *a = goc_chan_make(sizeof(int64_t), 0), *b = goc_chan_make(sizeof(int64_t), 0);
    two_chans t = {.a = a, .b = b};
    two_chans *tp = &t;
    goc_go(select_two, &tp, sizeof tp);
    CHECK(WAIT_RECVQ(a, 1));
    CHECK(WAIT_RECVQ(b, 1));
    CHECK(a->recvq.first->isselect);
    CHECK(a->recvq.first->g == b->recvq.first->g);
    int64_t v = 21;
    goc_chan_send(b, &v);
    CHECK(WAIT_UNTIL(atomic_load(&t.done)));
    CHECK_EQ_INT(t.chosen, 1);
    CHECK_EQ_INT(t.got, 21);
    goc_chan_free(a);
    goc_chan_free(b);
}

static void test_2_6_exactly_one_case_completes(void)
{
    int rounds = TEST_SCALE(300);
    for (int r = 0; r < rounds; r++) {
        goc_chan *a = goc_chan_make(sizeof(int64_t), 0), *b = goc_chan_make(sizeof(int64_t), 0);
        two_chans t = {.a = a, .b = b};
        two_chans *tp = &t;
        goc_go(select_two, &tp, sizeof tp);
        CHECK(WAIT_RECVQ(a, 1));
        op_arg sa = {.c = a, .v = 1}, sb = {.c = b, .v = 2};
        spawn(sender, &sa);
        spawn(sender, &sb);
        CHECK(WAIT_UNTIL(atomic_load(&t.done)));
        /* The loser is still blocked: take its value by hand. */
        op_arg *loser = t.chosen == 0 ? &sb : &sa;
        CHECK_EQ_INT(t.got, t.chosen == 0 ? 1 : 2);
        int64_t v;
        CHECK(goc_chan_recv(loser->c, &v));
        CHECK_EQ_INT(v, loser->v);
        CHECK(WAIT_UNTIL(atomic_load(&sa.done) && atomic_load(&sb.done)));
        goc_chan_free(a);
        goc_chan_free(b);
    }
}

typedef struct send_sel {
    goc_chan *a, *b;
    const char *panic;
    int chosen;
    _Atomic int done;
} send_sel;

static void do_select_send(void *p)
{
    send_sel *s = p;
    goc_select_case cs[2] = {{s->a, GOC_SELECT_SEND, &(int64_t){1}, false},
                             {s->b, GOC_SELECT_RECV, NULL, false}};
    s->chosen = goc_select(cs, 2, true);
}

static void select_send_body(void *p)
{
    send_sel *s = *(send_sel **)p;
    s->panic = catch_panic(do_select_send, s);
    atomic_store(&s->done, 1);
}

static void test_2_7_pass3_dequeue_losers_and_close(void)
{
    /* A send case woken by close panics; the other sudog is unlinked. */
    goc_chan *a = goc_chan_make(sizeof(int64_t), 0), *b = goc_chan_make(sizeof(int64_t), 0);
    send_sel s = {.a = a, .b = b, .chosen = -5};
    send_sel *sp = &s;
    goc_go(select_send_body, &sp, sizeof sp);
    CHECK(WAIT_SENDQ(a, 1));
    CHECK(WAIT_RECVQ(b, 1));
    goc_chan_close(a);
    CHECK(WAIT_UNTIL(atomic_load(&s.done)));
    CHECK_EQ_STR(s.panic, "send on closed channel");
    CHECK(b->recvq.first == NULL);
    /* A receive case woken by close: ok=false, other sudogs unlinked. */
    goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
    two_chans t = {.a = b, .b = c, .got = 4};
    two_chans *tp = &t;
    goc_go(select_two, &tp, sizeof tp);
    CHECK(WAIT_RECVQ(c, 1));
    goc_chan_close(c);
    CHECK(WAIT_UNTIL(atomic_load(&t.done)));
    CHECK_EQ_INT(t.chosen, 1);
    CHECK_EQ_INT(t.got, 0);
    CHECK(b->recvq.first == NULL);
    goc_chan_free(a);
    goc_chan_free(b);
    goc_chan_free(c);
}

static void test_2_8_select_both_directions_never_pairs_with_itself(void)
{
    for (int r = 0; r < 10; r++) {
        goc_chan *c = goc_chan_make(sizeof(int64_t), 0);
        op_arg b = {.c = c};
        spawn(both_ways_select, &b);
        CHECK(WAIT_RECVQ(c, 1));
        CHECK(WAIT_SENDQ(c, 1));
        goc_sleep(200 * US);
        CHECK_EQ_INT(atomic_load(&b.done), 0); /* still waiting */
        int64_t v = 3;
        goc_chan_send(c, &v); /* pairs with its receive case */
        CHECK(WAIT_UNTIL(atomic_load(&b.done)));
        CHECK_EQ_INT(b.got, 0);
        CHECK(c->sendq.first == NULL && c->recvq.first == NULL);
        goc_chan_free(c);
    }
}

/* ---- fairness ---------------------------------------------------------------- */

static void test_select_fairness(void)
{
    goc_chan *a = goc_chan_make(0, 1), *b = goc_chan_make(0, 1);
    goc_chan_try_send(a, NULL);
    goc_chan_try_send(b, NULL);
    int n = TEST_SCALE(100000), na = 0;
    for (int i = 0; i < n; i++) {
        goc_select_case cs[2] = {{a, GOC_SELECT_RECV, NULL, false},
                                 {b, GOC_SELECT_RECV, NULL, false}};
        int k = goc_select(cs, 2, true);
        na += k == 0;
        goc_chan_try_send(k == 0 ? a : b, NULL);
    }
    double share = (double)na / n;
    double tol = 0.02;
    double sigma5 = 5 * 0.5 / sqrt((double)n);
    if (sigma5 > tol)
        tol = sigma5; /* scaled-down runs: keep it a 5-sigma bound */
    CHECK_MSG(share > 0.5 - tol && share < 0.5 + tol, "first case chosen %.4f of %d", share, n);
    goc_chan_free(a);
    goc_chan_free(b);
}

/* ---- conservation storm ---------------------------------------------------- */

enum { STORM_CHANS = 16 };

typedef struct storm {
    goc_chan *ch[STORM_CHANS];
    _Atomic int closed[STORM_CHANS];
    int nworkers, ops;
    _Atomic uint8_t *sent;  /* per value: 1 once sent */
    _Atomic uint8_t *recvd; /* per value: times received */
    _Atomic int64_t nsent, nrecvd, npanics;
    goc_waitgroup wg;
} storm;

typedef struct storm_worker {
    storm *s;
    int id;
} storm_worker;

static void storm_got(storm *s, int64_t v)
{
    atomic_fetch_add(&s->recvd[v], 1);
    atomic_fetch_add(&s->nrecvd, 1);
}

typedef struct storm_op {
    storm *s;
    int64_t v;
    uint32_t rnd;
    goc_timer *tm;
} storm_op;

static void storm_step(void *p)
{
    storm_op *o = p;
    storm *s = o->s;
    uint32_t r = o->rnd;
    goc_chan *a = s->ch[r % STORM_CHANS], *b = s->ch[(r >> 8) % STORM_CHANS];
    int64_t got = -1;
    switch ((r >> 16) % 5) {
    case 0: /* non-blocking send */
        if (goc_chan_try_send(a, &o->v)) {
            atomic_store(&s->sent[o->v], 1);
            atomic_fetch_add(&s->nsent, 1);
        }
        break;
    case 1: { /* non-blocking receive */
        bool ok;
        if (goc_chan_try_recv(b, &got, &ok) && ok)
            storm_got(s, got);
        break;
    }
    default: { /* select: send on a, receive on b, or time out */
        goc_timer_reset(o->tm, 200 * US);
        int64_t t;
        goc_select_case cs[3] = {{a, GOC_SELECT_SEND, &o->v, false},
                                 {b, GOC_SELECT_RECV, &got, false},
                                 {goc_timer_chan(o->tm), GOC_SELECT_RECV, &t, false}};
        int k = goc_select(cs, 3, true);
        if (k == 0) {
            atomic_store(&s->sent[o->v], 1);
            atomic_fetch_add(&s->nsent, 1);
        } else if (k == 1 && cs[1].ok) {
            storm_got(s, got);
        }
        break;
    }
    }
}

static void storm_work(void *p)
{
    storm_worker *w = p;
    storm *s = w->s;
    uint32_t seed = (uint32_t)w->id * 2654435761u + 1;
    storm_op o = {.s = s, .tm = goc_timer_new(INT64_C(1) << 40)};
    int i = 0;
    while (i < s->ops) {
        seed = seed * 1103515245u + 12345u;
        o.rnd = seed >> 1;
        o.v = (int64_t)w->id * s->ops + i;
        if (catch_panic(storm_step, &o) != NULL)
            atomic_fetch_add(&s->npanics, 1); /* send on a closed channel */
        if (atomic_load(&s->sent[o.v]))
            i++; /* next value; an unsent one is retried */
        else if (o.rnd % 97 == 0)
            i++; /* give up on it now and then: it stays unsent */
        else
            goc_yield();
        /* A few workers close a channel midway. */
        if (i == s->ops / 2 && w->id % 37 == 5) {
            int k = w->id % STORM_CHANS;
            int z = 0;
            if (atomic_compare_exchange_strong(&s->closed[k], &z, 1))
                goc_chan_close(s->ch[k]);
        }
    }
    goc_timer_free(o.tm);
    goc_waitgroup_done(&s->wg);
}

static void test_conservation_storm(void)
{
    goc_timer_free(goc_timer_new(0)); /* any lazily started helper first */
    int64_t base = live_goroutines();
    storm *s = calloc(1, sizeof *s);
    s->nworkers = 64 * goc_procs();
    s->ops = TEST_SCALE(2000) + 4;
    size_t nvals = (size_t)s->nworkers * (size_t)s->ops;
    s->sent = calloc(nvals, 1);
    s->recvd = calloc(nvals, 1);
    int caps[4] = {0, 1, 4, 32};
    for (int i = 0; i < STORM_CHANS; i++)
        s->ch[i] = goc_chan_make(sizeof(int64_t), caps[i % 4]);
    goc_waitgroup_add(&s->wg, s->nworkers);
    for (int i = 0; i < s->nworkers; i++) {
        storm_worker w = {s, i};
        goc_go(storm_work, &w, sizeof w);
    }
    goc_waitgroup_wait(&s->wg);
    /* Close what is left open and drain everything. */
    for (int i = 0; i < STORM_CHANS; i++) {
        if (!atomic_load(&s->closed[i]))
            goc_chan_close(s->ch[i]);
        int64_t v;
        while (goc_chan_recv(s->ch[i], &v))
            storm_got(s, v);
    }
    for (size_t v = 0; v < nvals; v++) {
        int want = atomic_load(&s->sent[v]) ? 1 : 0;
        CHECK_MSG(atomic_load(&s->recvd[v]) == want, "value %zu sent %d received %d", v, want,
                  atomic_load(&s->recvd[v]));
    }
    CHECK_EQ_INT(atomic_load(&s->nsent), atomic_load(&s->nrecvd));
    CHECK(atomic_load(&s->nsent) > (int64_t)nvals / 2);
    CHECK(WAIT_UNTIL(live_goroutines() <= base));
    for (int i = 0; i < STORM_CHANS; i++)
        goc_chan_free(s->ch[i]);
    printf("# storm: %d workers, %lld sent, %lld panics\n", s->nworkers, (long long)s->nsent,
         (long long)s->npanics);
    fflush(stdout);
    free(s->sent);
    free(s->recvd);
    free(s);
}

static void test_stats_count_channel_ops(void)
{
    goc_sync_stats a, b;
    goc_sync_stats_read(&a);
    goc_chan *c = goc_chan_make(8, 1);
    int64_t v = 1;
    goc_chan_send(c, &v);
    goc_chan_recv(c, &v);
    goc_select_case cs = {c, GOC_SELECT_SEND, &v, false};
    goc_select(&cs, 1, false);
    goc_chan_close(c);
    goc_sync_stats_read(&b);
    CHECK(b.chan_sends >= a.chan_sends + 2);
    CHECK(b.chan_recvs >= a.chan_recvs + 1);
    CHECK(b.selects >= a.selects + 1);
    CHECK(b.chan_closes >= a.chan_closes + 1);
    goc_chan_free(c);
}

/* GOC_CHAN_TYPE: values of the declared type go through by value, in
 * order; close and drain; try_send/try_recv; a struct element type; the
 * channel's element size is the type's. */
typedef struct point {
    int32_t x, y;
    char tag[12];
} point;
GOC_CHAN_TYPE(point_chan, point);

static void typed_producer(void *arg)
{
    point_chan pc = *(point_chan *)arg;
    for (int32_t i = 0; i < 100; i++) {
        point p = {i, -i, "p"};
        point_chan_send(pc, p);
    }
    point_chan_close(pc);
}

static void test_typed_channels(void)
{
    goc_chan_int ci = goc_chan_int_make(2);
    CHECK_EQ_UINT(goc_chan_elemsize(ci.c), sizeof(int64_t));
    CHECK(goc_chan_int_try_send(ci, INT64_MAX));
    goc_chan_int_send(ci, -7);
    CHECK(!goc_chan_int_try_send(ci, 1)); /* full */
    bool ok = false;
    CHECK_EQ_INT(goc_chan_int_recv(ci, &ok), INT64_MAX);
    CHECK(ok);
    int64_t v = 0;
    CHECK(goc_chan_int_try_recv(ci, &v, &ok) && ok && v == -7);
    goc_chan_int_close(ci);
    CHECK_EQ_INT(goc_chan_int_recv(ci, &ok), 0);
    CHECK(!ok);
    goc_chan_int_free(ci);

    int x = 5;
    goc_chan_ptr cp = goc_chan_ptr_make(1);
    goc_chan_ptr_send(cp, &x);
    CHECK(goc_chan_ptr_recv(cp, NULL) == &x);
    goc_chan_ptr_free(cp);

    point_chan pc = point_chan_make(0);
    CHECK_EQ_UINT(goc_chan_elemsize(pc.c), sizeof(point));
    goc_go(typed_producer, &pc, sizeof pc);
    int32_t n = 0;
    for (;;) {
        point p = point_chan_recv(pc, &ok);
        if (!ok)
            break;
        CHECK_EQ_INT(p.x, n);
        CHECK_EQ_INT(p.y, -n);
        CHECK_EQ_STR(p.tag, "p");
        n++;
    }
    CHECK_EQ_INT(n, 100);
    point_chan_free(pc);
}

static const test_case cases[] = {
    TEST_CASE(test_1_1_hchan_fields_and_fifo_queues),
    TEST_CASE(test_1_2_invariants_one_queue_nonempty),
    TEST_CASE(test_1_3_makechan),
    TEST_CASE(test_1_4_a_send_on_nil_channel),
    TEST_CASE(test_1_4_b_nonblocking_send_fast_fail),
    TEST_CASE(test_1_4_c_send_on_closed_panics),
    TEST_CASE(test_1_4_d_send_to_waiting_receiver_skips_buffer),
    TEST_CASE(test_1_4_e_buffered_send_wraps),
    TEST_CASE(test_1_4_f_nonblocking_send_would_block),
    TEST_CASE(test_1_4_g_blocked_sender_parks_and_panics_on_close),
    TEST_CASE(test_1_5_a_recv_on_nil_channel),
    TEST_CASE(test_1_5_b_nonblocking_recv_fast_path),
    TEST_CASE(test_1_5_c_closed_buffered_drains_first),
    TEST_CASE(test_1_5_d_recv_from_full_buffer_with_sender),
    TEST_CASE(test_1_5_e_buffered_recv_fifo_and_clears_slot),
    TEST_CASE(test_1_5_f_nonblocking_recv_would_block),
    TEST_CASE(test_1_5_g_blocked_receiver_woken_by_send_or_close),
    TEST_CASE(test_1_6_close),
    TEST_CASE(test_1_7_len_cap),
    TEST_CASE(test_1_8_dequeue_skips_lost_select),
    TEST_CASE(test_2_1_lowering),
    TEST_CASE(test_2_2_pollorder_random_and_skips_nil),
    TEST_CASE(test_2_3_lockorder_duplicates_and_many_cases),
    TEST_CASE(test_2_4_pass1_ready_cases),
    TEST_CASE(test_2_5_pass2_enqueue_and_park),
    TEST_CASE(test_2_6_exactly_one_case_completes),
    TEST_CASE(test_2_7_pass3_dequeue_losers_and_close),
    TEST_CASE(test_2_8_select_both_directions_never_pairs_with_itself),
    TEST_CASE(test_select_fairness),
    TEST_CASE(test_conservation_storm),
    TEST_CASE(test_stats_count_channel_ops),
    TEST_CASE(test_typed_channels),
    {"child_makechan_bad_elem", child_makechan_bad_elem},
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

/* pprof_test.c: goroutine labels and the profile writers (runtime/prof,
 * goc/pprof.h), in process: labels set, read, removed and inherited at
 * goc_go; the CPU profile's start/stop rules; the goroutine profile's
 * texts (debug 1 and 2) naming parked functions and labels; the gzip
 * container. The `child_*` cases write one profile each to $PPROF_OUT for
 * pprof_test.py, which reads them with `go tool pprof`: a CPU hog, parked
 * goroutines, an allocating loop, contended mutexes, blocked channels. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/chan.h>
#include <goc/malloc.h>
#include <goc/pprof.h>
#include <goc/profrate.h>
#include <goc/sched.h>
#include <goc/sync.h>

#include <errno.h>
#include <fcntl.h>

#define MS (INT64_C(1000000))

/* A profile written into memory. */
typedef struct membuf {
    char *data;
    size_t len, cap;
} membuf;

static int mem_write(void *arg, const void *buf, size_t len)
{
    membuf *m = arg;
    if (m->len + len + 1 > m->cap) {
        size_t cap = (m->len + len + 1) * 2;
        char *d = goc_realloc(m->data, cap);
        if (!d)
            return -ENOMEM;
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    m->data[m->len] = 0;
    return 0;
}

/* ---- labels ------------------------------------------------------------------ */

static void test_labels_set_get(void)
{
    char buf[64];
    CHECK_EQ_INT(goc_labels_get("k", buf, sizeof buf), -ENOENT);
    CHECK_EQ_INT(goc_labels_set("k", "v1"), 0);
    CHECK_EQ_INT(goc_labels_set("a", "first"), 0);
    CHECK_EQ_INT(goc_labels_get("k", buf, sizeof buf), 2);
    CHECK_EQ_STR(buf, "v1");
    CHECK_EQ_INT(goc_labels_set("k", "v2"), 0); /* replaced */
    CHECK_EQ_INT(goc_labels_get("k", buf, sizeof buf), 2);
    CHECK_EQ_STR(buf, "v2");
    CHECK_EQ_INT(goc_labels_get("a", buf, 3), -ERANGE);
    CHECK_EQ_INT(goc_labels_set("k", NULL), 0); /* removed */
    CHECK_EQ_INT(goc_labels_get("k", buf, sizeof buf), -ENOENT);
    CHECK_EQ_INT(goc_labels_get("a", buf, sizeof buf), 5);
    CHECK_EQ_INT(goc_labels_set("", "x"), -EINVAL);
    CHECK_EQ_INT(goc_labels_set(NULL, "x"), -EINVAL);
    CHECK_EQ_INT(goc_labels_clear(), 0);
    CHECK_EQ_INT(goc_labels_get("a", buf, sizeof buf), -ENOENT);
    char key[8];
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_EQ_INT(goc_labels_set(key, "v"), 0);
    }
    CHECK_EQ_INT(goc_labels_set("one-more", "v"), -E2BIG);
    CHECK_EQ_INT(goc_labels_clear(), 0);
}

typedef struct inherit_arg {
    goc_chan *go_on;  /* the child waits here before reading again */
    goc_chan *result; /* the values it saw, as ints: 1 = as expected */
} inherit_arg;

static void child_reads(void *p)
{
    inherit_arg *a = p;
    char buf[32];
    int ok = goc_labels_get("who", buf, sizeof buf) == 6 && strcmp(buf, "parent") == 0;
    goc_chan_send(a->result, &ok);
    goc_labels_set("who", "child"); /* its own: the parent's stays */
    int v;
    goc_chan_recv(a->go_on, &v);
    /* the parent changed its labels meanwhile: not seen here */
    ok = goc_labels_get("who", buf, sizeof buf) == 5 && strcmp(buf, "child") == 0;
    goc_chan_send(a->result, &ok);
}

/* Go's rule: a goroutine starts with a copy of its creator's labels. */
static void test_labels_inherited(void)
{
    inherit_arg a = {goc_chan_make(sizeof(int), 0), goc_chan_make(sizeof(int), 0)};
    CHECK_EQ_INT(goc_labels_set("who", "parent"), 0);
    goc_go(child_reads, &a, sizeof a);
    int ok = 0, v = 1;
    goc_chan_recv(a.result, &ok);
    CHECK(ok);
    goc_labels_set("who", "changed");
    goc_chan_send(a.go_on, &v);
    goc_chan_recv(a.result, &ok);
    CHECK(ok);
    char buf[32];
    CHECK_EQ_INT(goc_labels_get("who", buf, sizeof buf), 7);
    CHECK_EQ_STR(buf, "changed");
    goc_labels_clear();
    goc_chan_free(a.go_on);
    goc_chan_free(a.result);
}

/* ---- goroutines parked where the profiles must show them ----------------------- */

typedef struct parked {
    goc_chan *c;      /* parked_recv waits on it; closed to end them */
    goc_mutex mu;     /* held by the test: parked_mutex waits */
    goc_waitgroup wg; /* every parked goroutine, until it ends */
} parked;

__attribute__((noinline)) static void parked_recv(void *p)
{
    parked *pk = *(parked **)p;
    goc_labels_set("role", "receiver");
    int v;
    goc_chan_recv(pk->c, &v);
    goc_waitgroup_done(&pk->wg);
}

__attribute__((noinline)) static void parked_mutex(void *p)
{
    parked *pk = *(parked **)p;
    goc_mutex_lock(&pk->mu);
    goc_mutex_unlock(&pk->mu);
    goc_waitgroup_done(&pk->wg);
}

__attribute__((noinline)) static void parked_sleep(void *p)
{
    parked *pk = *(parked **)p;
    goc_sleep(300 * MS);
    goc_waitgroup_done(&pk->wg);
}

/* Starts 3 receivers, 1 mutex waiter, 1 sleeper; returns once parked. */
static parked *park_some(void)
{
    parked *pk = goc_malloc(sizeof *pk);
    memset(pk, 0, sizeof *pk);
    pk->c = goc_chan_make(sizeof(int), 0);
    goc_mutex_lock(&pk->mu);
    goc_waitgroup_add(&pk->wg, 5);
    for (int i = 0; i < 3; i++)
        goc_go(parked_recv, &pk, sizeof pk);
    goc_go(parked_mutex, &pk, sizeof pk);
    goc_go(parked_sleep, &pk, sizeof pk);
    goc_sleep(50 * MS); /* they run and park (the checks below allow for a late one) */
    return pk;
}

static void unpark(parked *pk)
{
    goc_chan_close(pk->c);
    goc_mutex_unlock(&pk->mu);
    goc_waitgroup_wait(&pk->wg);
    goc_chan_free(pk->c);
    goc_free(pk);
}

static void test_goroutine_debug2(void)
{
    parked *pk = park_some();
    membuf m = {0};
    CHECK_EQ_INT(goc_pprof_write("goroutine", 2, mem_write, &m), 0);
    unpark(pk);
    CHECK(m.data != NULL);
    CHECK_STR_CONTAINS(m.data, "[running]:\n");
    CHECK_STR_CONTAINS(m.data, "test_goroutine_debug2+");
    CHECK_STR_CONTAINS(m.data, "[chan receive]:\n");
    CHECK_STR_CONTAINS(m.data, "\nparked_recv+");
    CHECK_STR_CONTAINS(m.data, "[sync.Mutex.Lock]:\n");
    CHECK_STR_CONTAINS(m.data, "\nparked_mutex+");
    CHECK_STR_CONTAINS(m.data, "[sleep]:\n");
    CHECK_STR_CONTAINS(m.data, "\nparked_sleep+");
    goc_free(m.data);
}

static void test_goroutine_debug1(void)
{
    parked *pk = park_some();
    membuf m = {0};
    CHECK_EQ_INT(goc_pprof_write("goroutine", 1, mem_write, &m), 0);
    unpark(pk);
    CHECK(m.data != NULL);
    CHECK_STR_CONTAINS(m.data, "goroutine profile: total ");
    /* goroutines with one stack and equal labels make one record: of the
     * three receivers (parked by one of goc__park's two switches), at
     * least two share one */
    CHECK_MSG(strstr(m.data, "\n3 @ 0x") || strstr(m.data, "\n2 @ 0x"), "no record counts 2 or 3: %s",
              m.data);
    CHECK_STR_CONTAINS(m.data, "# labels: {\"role\":\"receiver\"}\n");
    CHECK_STR_CONTAINS(m.data, "\tparked_recv+0x");
    CHECK_STR_CONTAINS(m.data, "\tparked_mutex+0x");
    goc_free(m.data);
}

/* The proto form: a gzip member of stored blocks whose CRC and length
 * match what it holds (the contents are go tool pprof's to judge). */
static void test_goroutine_proto_gzip(void)
{
    membuf m = {0};
    CHECK_EQ_INT(goc_pprof_write("goroutine", 0, mem_write, &m), 0);
    CHECK(m.len > 18);
    const uint8_t *d = (const uint8_t *)m.data;
    CHECK(d[0] == 0x1f && d[1] == 0x8b && d[2] == 8);
    size_t at = 10, raw = 0;
    uint32_t crc = 0xffffffffu;
    for (bool last = false; !last;) {
        CHECK(at + 5 <= m.len);
        last = d[at] & 1;
        CHECK_EQ_INT(d[at] >> 1, 0); /* stored */
        size_t n = d[at + 1] | (size_t)d[at + 2] << 8;
        CHECK_EQ_INT(n ^ 0xffff, d[at + 3] | (size_t)d[at + 4] << 8);
        at += 5;
        CHECK(at + n <= m.len);
        for (size_t i = 0; i < n; i++) {
            crc ^= d[at + i];
            for (int k = 0; k < 8; k++)
                crc = crc >> 1 ^ (0xedb88320u & -(crc & 1));
        }
        at += n;
        raw += n;
    }
    CHECK_EQ_INT(at + 8, m.len);
    uint32_t want = d[at] | (uint32_t)d[at + 1] << 8 | (uint32_t)d[at + 2] << 16 |
                    (uint32_t)d[at + 3] << 24;
    uint32_t size = d[at + 4] | (uint32_t)d[at + 5] << 8 | (uint32_t)d[at + 6] << 16 |
                    (uint32_t)d[at + 7] << 24;
    CHECK_EQ_UINT(~crc, want);
    CHECK_EQ_UINT(size, raw);
    goc_free(m.data);
}

static void test_write_errors(void)
{
    membuf m = {0};
    CHECK_EQ_INT(goc_pprof_write("nope", 0, mem_write, &m), -ENOENT);
    CHECK_EQ_INT(goc_pprof_write("heap", 2, mem_write, &m), -EINVAL);
    CHECK_EQ_INT(goc_pprof_write("goroutine", -1, mem_write, &m), -EINVAL);
    goc_free(m.data);
}

static int fail_write(void *arg, const void *buf, size_t len)
{
    (void)arg;
    (void)buf;
    (void)len;
    return -EPIPE;
}

/* One CPU profile at a time; stop without start; a writer's error comes
 * back from stop. */
static void test_cpu_start_stop(void)
{
    membuf m = {0};
    CHECK_EQ_INT(goc_pprof_cpu_stop(), -ENOENT);
    CHECK_EQ_INT(goc_pprof_cpu_start(5000, mem_write, &m), -EINVAL);
    CHECK_EQ_INT(goc_pprof_cpu_start(0, mem_write, &m), 0);
    CHECK_EQ_INT(goc_pprof_cpu_start(0, mem_write, &m), -EBUSY);
    CHECK_EQ_INT(goc_pprof_cpu_profile(MS, 0, mem_write, &m), -EBUSY);
    CHECK_EQ_INT(goc_pprof_cpu_stop(), 0);
    CHECK(m.len > 18 && (uint8_t)m.data[0] == 0x1f);
    CHECK_EQ_INT(goc_pprof_cpu_stop(), -ENOENT);
    CHECK_EQ_INT(goc_pprof_cpu_profile(10 * MS, 0, fail_write, NULL), -EPIPE);
    goc_free(m.data);
}

/* ---- the children: one profile each, to $PPROF_OUT ------------------------------- */

static int out_fd(void)
{
    const char *path = getenv("PPROF_OUT");
    return path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
}

static _Atomic bool hog_stop;

__attribute__((noinline)) static void cpu_hog(void *p)
{
    (void)p;
    goc_labels_set("role", "hog");
    volatile uint64_t x = 1;
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
}

/* A hog and a goroutine that mostly sleeps, profiled for 1 s. */
static void child_cpu(void)
{
    int fd = out_fd();
    CHECK(fd >= 0);
    goc_go(cpu_hog, NULL, 0);
    parked *pk = park_some();
    CHECK_EQ_INT(goc_pprof_cpu_profile(1000 * MS, 0, goc_pprof_write_fd, &fd), 0);
    atomic_store(&hog_stop, true);
    unpark(pk);
    close(fd);
}

static void child_goroutine(void)
{
    int fd = out_fd();
    CHECK(fd >= 0);
    parked *pk = park_some();
    CHECK_EQ_INT(goc_pprof_write("goroutine", 0, goc_pprof_write_fd, &fd), 0);
    unpark(pk);
    close(fd);
}

__attribute__((noinline)) static void alloc_loop(void *p)
{
    goc_waitgroup *wg = *(goc_waitgroup **)p;
    void *keep[64] = {0};
    for (int i = 0; i < 200000; i++) {
        goc_free(keep[i % 64]);
        keep[i % 64] = goc_malloc(256 + (size_t)(i % 7) * 64);
    }
    for (int i = 0; i < 64; i++)
        goc_free(keep[i]);
    goc_waitgroup_done(wg);
}

/* $PPROF_NAME: heap or allocs, after 50 MB allocated in alloc_loop. */
static void child_allocs(void)
{
    int fd = out_fd();
    CHECK(fd >= 0);
    goc_waitgroup wg = GOC_WAITGROUP_INIT;
    goc_waitgroup *w = &wg;
    goc_waitgroup_add(&wg, 1);
    goc_go(alloc_loop, &w, sizeof w);
    goc_waitgroup_wait(&wg);
    const char *name = getenv("PPROF_NAME");
    CHECK_EQ_INT(goc_pprof_write(name ? name : "allocs", 0, goc_pprof_write_fd, &fd), 0);
    close(fd);
}

typedef struct contend {
    goc_mutex mu;
    goc_waitgroup wg;
    int64_t counter;
} contend;

__attribute__((noinline)) static void contend_mutex(void *p)
{
    contend *c = *(contend **)p;
    for (int i = 0; i < 2000; i++) {
        goc_mutex_lock(&c->mu);
        c->counter++;
        if (i % 16 == 0)
            goc_yield(); /* held across a yield: the others wait */
        goc_mutex_unlock(&c->mu);
    }
    goc_waitgroup_done(&c->wg);
}

typedef struct blocked {
    goc_chan *c;
    goc_waitgroup *wg; /* done once received */
} blocked;

__attribute__((noinline)) static void block_on_chan(void *p)
{
    blocked *b = p;
    int v;
    goc_chan_recv(b->c, &v);
    goc_waitgroup_done(b->wg);
}

/* $PPROF_NAME mutex or block, with every event recorded
 * (goc/profrate.h) around 4 goroutines sharing one mutex and receivers
 * blocked 20 ms each on a channel. */
static void child_contention(void)
{
    int fd = out_fd();
    CHECK(fd >= 0);
    goc_mutex_profile_fraction_set(1);
    goc_block_profile_rate_set(1);
    contend *c = goc_malloc(sizeof *c);
    memset(c, 0, sizeof *c);
    goc_waitgroup_add(&c->wg, 4);
    for (int i = 0; i < 4; i++)
        goc_go(contend_mutex, &c, sizeof c);
    goc_chan *ch = goc_chan_make(sizeof(int), 0);
    goc_waitgroup_add(&c->wg, 4);
    blocked b = {ch, &c->wg};
    for (int i = 0; i < 4; i++)
        goc_go(block_on_chan, &b, sizeof b);
    goc_sleep(20 * MS);
    for (int i = 0; i < 4; i++)
        goc_chan_send(ch, &i);
    goc_waitgroup_wait(&c->wg); /* the lockers and the receivers, events recorded */
    CHECK_EQ_INT(c->counter, 8000);
    const char *name = getenv("PPROF_NAME");
    CHECK_EQ_INT(goc_pprof_write(name ? name : "mutex", 0, goc_pprof_write_fd, &fd), 0);
    goc_free(c);
    goc_chan_free(ch);
    close(fd);
}

static const test_case cases[] = {
    TEST_CASE(test_labels_set_get),
    TEST_CASE(test_labels_inherited),
    TEST_CASE(test_goroutine_debug2),
    TEST_CASE(test_goroutine_debug1),
    TEST_CASE(test_goroutine_proto_gzip),
    TEST_CASE(test_write_errors),
    TEST_CASE(test_cpu_start_stop),
    {"child_cpu", child_cpu},
    {"child_goroutine", child_goroutine},
    {"child_allocs", child_allocs},
    {"child_contention", child_contention},
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

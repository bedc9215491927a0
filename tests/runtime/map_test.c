/* map_test.c: Go's map: a model-based test against a plain array, growth
 * during iteration, exactly-once iteration, random iteration starts, string,
 * blob and custom keys, same-size growth, nil maps, and the fatal error on
 * concurrent writes (in a child). */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/malloc.h>
#include <goc/map.h>
#include <goc/sched.h>

#include <pthread.h>

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- model-based --------------------------------------------------------- */

enum { KEYS = 4000 };

typedef struct model {
    bool present[KEYS];
    int64_t val[KEYS];
    size_t count;
} model;

static uint8_t seen[KEYS];

/* Iterates m fully and checks it against the model. Returns false on a
 * mismatch (after reporting it). */
static bool check_iteration(goc_map *m, const model *md)
{
    memset(seen, 0, sizeof seen);
    goc_map_iter it;
    size_t n = 0;
    for (goc_map_iter_init(&it, m); goc_map_iter_next(&it);) {
        int64_t k = *(int64_t *)it.key;
        if (k < 0 || k >= KEYS || !md->present[k] || seen[k] || *(int64_t *)it.val != md->val[k]) {
            test__fail(__FILE__, __LINE__, "iteration: bad entry %lld", (long long)k);
            return false;
        }
        seen[k] = 1;
        n++;
    }
    if (n != md->count) {
        test__fail(__FILE__, __LINE__, "iteration saw %zu of %zu", n, md->count);
        return false;
    }
    return true;
}

static void test_model(void)
{
    static model md;
    memset(&md, 0, sizeof md);
    goc_map_type t = GOC_MAP_INT(int64_t, int64_t);
    goc_map *m = goc_map_make(&t, 0);
    uint64_t s = 42;
    int ops = TEST_SCALE(400000);
    for (int op = 0; op < ops; op++) {
        uint64_t r = rng_next(&s);
        /* Phases bias towards inserts, then deletes, so the map grows and
         * shrinks through several sizes. */
        int phase = (op / 50000) % 2;
        int64_t k = (int64_t)((r >> 8) % KEYS);
        unsigned what = (unsigned)(r % 100);
        if (what < (phase ? 30u : 60u)) {
            bool ins;
            int64_t *v = goc_map_assign(m, &k, &ins);
            CHECK_EQ_INT(ins, !md.present[k]);
            if (ins)
                CHECK_EQ_INT(*v, 0);
            *v = (int64_t)r;
            md.val[k] = (int64_t)r;
            md.count += !md.present[k];
            md.present[k] = true;
        } else if (what < 90) {
            bool had = goc_map_delete(m, &k);
            CHECK_EQ_INT(had, md.present[k]);
            md.count -= md.present[k];
            md.present[k] = false;
        } else if (what < 99) {
            int64_t *v = goc_map_get(m, &k);
            CHECK_EQ_INT(v != NULL, md.present[k]);
            if (v)
                CHECK_EQ_INT(*v, md.val[k]);
        } else if (op % 997 == 0) {
            if (!check_iteration(m, &md))
                return;
        }
        CHECK_EQ_UINT(goc_map_len(m), md.count);
    }
    for (int64_t k = 0; k < KEYS; k++) {
        int64_t *v = goc_map_get(m, &k);
        CHECK_EQ_INT(v != NULL, md.present[k]);
    }
    if (!check_iteration(m, &md))
        return;
    goc_map_free(m);
}

/* ---- iteration ------------------------------------------------------------ */

static void test_iteration_during_growth(void)
{
    enum { N = 1000, ADD = 20000 };
    goc_map_type t = GOC_MAP_INT(int32_t, int32_t);
    for (int round = 0; round < 20; round++) {
        goc_map *m = goc_map_make(&t, 0);
        for (int32_t k = 0; k < N; k++)
            goc_map_set(m, &k, &k);
        static uint8_t count[N + ADD];
        static bool deleted[N];
        memset(count, 0, sizeof count);
        memset(deleted, 0, sizeof deleted);
        goc_map_info info;
        goc_map_info_read(m, &info);
        uint8_t B0 = info.B;
        goc_map_iter it;
        int32_t next = N, steps = 0;
        bool grew_mid = false;
        for (goc_map_iter_init(&it, m); goc_map_iter_next(&it); steps++) {
            int32_t k = *(int32_t *)it.key;
            CHECK(k >= 0 && k < N + ADD);
            CHECK_EQ_INT(*(int32_t *)it.val, k);
            count[k]++;
            if (k < N)
                CHECK_MSG(!deleted[k], "deleted key %d seen", k);
            /* Insert a lot while iterating (several grows), and delete
             * some original keys. */
            for (int j = 0; j < 20 && next < N + ADD; j++, next++)
                goc_map_set(m, &next, &next);
            int32_t d = (int32_t)((k * 7 + steps) % N);
            if (count[d] == 0 && !deleted[d]) {
                CHECK(goc_map_delete(m, &d));
                deleted[d] = true;
            }
            goc_map_info_read(m, &info);
            grew_mid |= info.growing || info.B > B0;
        }
        CHECK(grew_mid);
        for (int32_t k = 0; k < N; k++)
            CHECK_MSG(deleted[k] ? count[k] == 0 : count[k] == 1, "round %d: key %d seen %d times",
                      round, k, count[k]);
        for (int32_t k = N; k < N + ADD; k++)
            CHECK_MSG(count[k] <= 1, "new key %d seen %d times", k, count[k]);
        goc_map_free(m);
    }
}

static void test_iteration_starts_differ(void)
{
    goc_map_type t = GOC_MAP_INT(int64_t, int64_t);
    goc_map *m = goc_map_make(&t, 0);
    for (int64_t k = 0; k < 100; k++)
        goc_map_set(m, &k, &k);
    int64_t firsts[16];
    int distinct = 0;
    for (int r = 0; r < 16; r++) {
        goc_map_iter it;
        goc_map_iter_init(&it, m);
        CHECK(goc_map_iter_next(&it));
        firsts[r] = *(int64_t *)it.key;
        goc_map_iter_done(&it);
        bool dup = false;
        for (int j = 0; j < r; j++)
            dup |= firsts[j] == firsts[r];
        distinct += !dup;
    }
    CHECK_MSG(distinct >= 4, "only %d distinct starting keys in 16 iterations", distinct);
    /* Two maps get different seeds. */
    goc_map *m2 = goc_map_make(&t, 0);
    goc_map_info a, b;
    goc_map_info_read(m, &a);
    goc_map_info_read(m2, &b);
    CHECK(a.seed != b.seed);
    goc_map_free(m2);
    goc_map_free(m);
}

/* ---- key kinds ---------------------------------------------------------------- */

static void test_string_keys(void)
{
    goc_map_type t = GOC_MAP_STR(int);
    goc_map *m = goc_map_make(&t, 10);
    char bufs[500][16];
    for (int i = 0; i < 500; i++) {
        snprintf(bufs[i], sizeof bufs[i], "key-%d", i);
        const char *k = bufs[i];
        goc_map_set(m, &k, &i);
    }
    for (int i = 0; i < 500; i++) {
        char probe[16]; /* another pointer, same characters */
        snprintf(probe, sizeof probe, "key-%d", i);
        const char *k = probe;
        int *v = goc_map_get(m, &k);
        CHECK(v && *v == i);
    }
    const char *missing = "key-500";
    CHECK(goc_map_get(m, &missing) == NULL);
    goc_map_free(m);
}

typedef struct blob {
    unsigned char b[200];
} blob;

typedef struct big {
    int64_t v[40];
} big;

static void test_blob_keys(void)
{
    goc_map_type t = GOC_MAP_BYTES(blob, big);
    goc_map *m = goc_map_make(&t, 0);
    for (int i = 0; i < 3000; i++) {
        blob k;
        memset(&k, i % 251, sizeof k);
        k.b[0] = (unsigned char)i;
        k.b[1] = (unsigned char)(i >> 8);
        big v;
        for (int j = 0; j < 40; j++)
            v.v[j] = i * 40 + j;
        goc_map_set(m, &k, &v);
    }
    CHECK_EQ_UINT(goc_map_len(m), 3000);
    for (int i = 0; i < 3000; i++) {
        blob k;
        memset(&k, i % 251, sizeof k);
        k.b[0] = (unsigned char)i;
        k.b[1] = (unsigned char)(i >> 8);
        big *v = goc_map_get(m, &k);
        CHECK(v != NULL);
        CHECK_EQ_INT(v->v[39], i * 40 + 39);
        CHECK_EQ_UINT((uintptr_t)v % 8, 0);
    }
    goc_map_free(m);
}

/* A hash that sends each run of 9 consecutive keys to one bucket, so every
 * run spills into an overflow bucket that its deletion leaves behind. */
static uint64_t run_hash(const void *key, size_t n, uint64_t seed)
{
    (void)seed;
    (void)n;
    uint64_t v;
    memcpy(&v, key, 8);
    return ((v / 9) % 64) | ((v % 200 + 5) << 56);
}

static void test_same_size_grow(void)
{
    goc_map_type t = {sizeof(int64_t), sizeof(int64_t), run_hash, goc_map_equal_bytes};
    goc_map *m = goc_map_make(&t, 0);
    for (int64_t k = 0; k < 20000; k++) {
        goc_map_set(m, &k, &k);
        if (k >= 9) {
            int64_t d = k - 9;
            CHECK(goc_map_delete(m, &d));
        }
        goc_map_info info;
        goc_map_info_read(m, &info);
        CHECK_EQ_UINT(goc_map_len(m), k >= 9 ? 9 : k + 1);
        CHECK(info.B <= 1);
    }
    goc_map_info info;
    goc_map_info_read(m, &info);
    CHECK_MSG(info.same_size_grows > 100, "%u same-size grows", info.same_size_grows);
    CHECK_EQ_UINT(info.grows, 1);
    for (int64_t k = 19991; k < 20000; k++) {
        int64_t *v = goc_map_get(m, &k);
        CHECK(v && *v == k);
    }
    goc_map_free(m);
}

/* ---- nil maps and misuse ------------------------------------------------------ */

static void grab(void *arg)
{
    const goc_panic_info *pi = goc_recover();
    *(const char **)arg = pi ? pi->msg : NULL;
}

static void assign_nil(void *arg)
{
    goc_defer(grab, arg);
    int64_t k = 1;
    goc_map_assign(NULL, &k, NULL);
}

static void test_nil_map(void)
{
    int64_t k = 1;
    CHECK(goc_map_get(NULL, &k) == NULL);
    CHECK_EQ_UINT(goc_map_len(NULL), 0);
    CHECK(!goc_map_delete(NULL, &k));
    goc_map_iter it;
    goc_map_iter_init(&it, NULL);
    CHECK(!goc_map_iter_next(&it));
    const char *msg = NULL;
    CHECK(goc_call(assign_nil, &msg));
    CHECK_EQ_STR(msg, "assignment to entry in nil map");
}

static void *writer(void *arg)
{
    goc_map *m = arg;
    for (int64_t k = 0;; k++)
        goc_map_set(m, &k, &k);
    return NULL;
}

static void child_concurrent_writes(void)
{
    goc_map_type t = GOC_MAP_INT(int64_t, int64_t);
    /* Sized for every key the writers reach before the detection fires, so
     * the map never grows: a growth frees the old buckets, and under ASan
     * the racing writer's store into them could be reported first. */
    goc_map *m = goc_map_make(&t, 1 << 16);
    pthread_t a, b;
    pthread_create(&a, NULL, writer, m);
    pthread_create(&b, NULL, writer, m);
    goc_syscall_enter();
    pthread_join(a, NULL);
    goc_syscall_exit();
}

static void test_concurrent_writes_fatal(void)
{
#ifndef GOC_SANITIZE_THREAD /* the race is the point; TSan would report it first */
    static test_child c;
    CHECK_EQ_INT(test_run_child("child_concurrent_writes", NULL, &c), 0);
    CHECK(!(c.exited && c.status == 0));
    CHECK_STR_CONTAINS(c.out, "fatal error: concurrent map");
#endif
}

static const test_case cases[] = {
    TEST_CASE(test_model),
    TEST_CASE(test_iteration_during_growth),
    TEST_CASE(test_iteration_starts_differ),
    TEST_CASE(test_string_keys),
    TEST_CASE(test_blob_keys),
    TEST_CASE(test_same_size_grow),
    TEST_CASE(test_nil_map),
    TEST_CASE(test_concurrent_writes_fatal),
    {"child_concurrent_writes", child_concurrent_writes},
    {0},
};

GOC_MAIN(argc, argv)
{
    return test_main(argc, argv, cases);
}

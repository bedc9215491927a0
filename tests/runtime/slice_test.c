/* slice_test.c: Go's slices: growth capacities equal Go 1.19's for the same
 * appends, sub-slices share the array, copy, make, and bounds panics with
 * Go's messages (recovered). */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/malloc.h>
#include <goc/sched.h>
#include <goc/slice.h>

#include "slice_growth_data.h"

static void check_growth(const growth_case *gc, bool push)
{
    goc_slice s = {0};
    unsigned char *elems = goc_calloc(gc->per_append, gc->elemsize ? gc->elemsize : 1);
    size_t k = 0, last = (size_t)-1;
    while (s.len < gc->limit) {
        void *old = s.array;
        if (push) {
            goc_slice_push(&s, gc->elemsize, elems, gc->per_append);
        } else {
            s = goc_slice_append(s, gc->elemsize, elems, gc->per_append);
            if (old && old != s.array)
                goc_free(old);
        }
        if (gc->per_append > 1 || s.cap != last) {
            CHECK_MSG(k < gc->ncaps, "%s: more growth steps than Go", gc->name);
            CHECK_MSG(s.cap == gc->caps[k], "%s step %zu (len %zu): cap %zu, Go %zu", gc->name, k,
                      s.len, s.cap, gc->caps[k]);
            k++;
            last = s.cap;
        }
    }
    CHECK_EQ_UINT(k, gc->ncaps);
    goc_slice_free(&s);
    goc_free(elems);
}

static void test_growth_matches_go(void)
{
    for (size_t i = 0; i < sizeof growth_cases / sizeof growth_cases[0]; i++) {
        check_growth(&growth_cases[i], false);
        check_growth(&growth_cases[i], true);
    }
}

static void test_append_values_and_sharing(void)
{
    goc_slice s = {0};
    for (int64_t i = 0; i < 1000; i++)
        GOC_SLICE_PUSH(&s, int64_t, i * 3);
    CHECK_EQ_UINT(s.len, 1000);
    for (size_t i = 0; i < 1000; i++)
        CHECK_EQ_INT(GOC_SLICE_AT(s, int64_t, i), (int64_t)i * 3);
    /* s[10:20] shares the array: writes show through both ways. */
    goc_slice t = goc_slice_sub(s, sizeof(int64_t), 10, 20);
    CHECK_EQ_UINT(t.len, 10);
    CHECK_EQ_UINT(t.cap, s.cap - 10);
    GOC_SLICE_AT(t, int64_t, 0) = -1;
    CHECK_EQ_INT(GOC_SLICE_AT(s, int64_t, 10), -1);
    /* Appending to t within its cap overwrites s[20], as in Go. */
    GOC_SLICE_APPEND(t, int64_t, -2);
    CHECK_EQ_INT(GOC_SLICE_AT(s, int64_t, 20), -2);
    /* A full slice expression caps it: the next append copies. */
    goc_slice u = goc_slice_sub3(s, sizeof(int64_t), 30, 32, 32);
    CHECK_EQ_UINT(u.cap, 2);
    goc_slice v = goc_slice_append(u, sizeof(int64_t), &(int64_t){-3}, 1);
    CHECK(v.array != u.array);
    CHECK_EQ_UINT(v.cap, 4); /* 2 -> 4 elements: 32 bytes, a size class */
    CHECK_EQ_INT(GOC_SLICE_AT(s, int64_t, 32), 96);
    CHECK_EQ_INT(GOC_SLICE_AT(v, int64_t, 0), 90);
    CHECK_EQ_INT(GOC_SLICE_AT(v, int64_t, 2), -3);
    goc_slice_free(&v);
    /* copy: min of the lengths, overlapping allowed. */
    goc_slice a = goc_slice_sub(s, sizeof(int64_t), 0, 5);
    goc_slice b = goc_slice_sub(s, sizeof(int64_t), 2, 100);
    CHECK_EQ_UINT(goc_slice_copy(a, b, sizeof(int64_t)), 5);
    CHECK_EQ_INT(GOC_SLICE_AT(s, int64_t, 0), 6);
    CHECK_EQ_INT(GOC_SLICE_AT(s, int64_t, 4), 18);
    goc_slice_free(&s);
    CHECK(s.array == NULL && s.len == 0);
}

static void test_make(void)
{
    goc_slice s = goc_slice_make(24, 5, 100);
    CHECK_EQ_UINT(s.len, 5);
    CHECK_EQ_UINT(s.cap, 100);
    for (size_t i = 0; i < 100 * 24; i++)
        CHECK(((unsigned char *)s.array)[i] == 0);
    goc_slice_free(&s);
    goc_slice z = goc_slice_make(0, 10, 10);
    CHECK(z.array != NULL);
    z = goc_slice_append(z, 0, NULL, 1000);
    CHECK_EQ_UINT(z.len, 1010);
    goc_slice_free(&z);
}

/* ---- panics --------------------------------------------------------------- */

typedef struct bad_op {
    int kind;
    const char *msg; /* recovered message */
} bad_op;

static void grab(void *arg)
{
    const goc_panic_info *pi = goc_recover();
    ((bad_op *)arg)->msg = pi ? pi->msg : NULL;
}

static void do_bad(void *arg)
{
    bad_op *op = arg;
    goc_defer(grab, op);
    goc_slice s = goc_slice_make(sizeof(int), 3, 4);
    switch (op->kind) {
    case 0: (void)goc_slice_index(s, sizeof(int), 5); break;
    case 1: (void)goc_slice_sub(s, sizeof(int), 0, 5); break;
    case 2: (void)goc_slice_sub(s, sizeof(int), 3, 2); break;
    case 3: (void)goc_slice_sub3(s, sizeof(int), 0, 1, 9); break;
    case 4: (void)goc_slice_sub3(s, sizeof(int), 0, 4, 3); break;
    case 5: (void)goc_slice_sub3(s, sizeof(int), 2, 1, 3); break;
    case 6: (void)goc_slice_make(sizeof(int), 5, 4); break;
    case 7: (void)goc_slice_make(sizeof(int), (size_t)1 << 62, (size_t)1 << 62); break;
    case 8: (void)goc_slice_index((goc_slice){0}, 8, 0); break;
    }
}

static void test_bounds_panic(void)
{
    static const char *const want[] = {
        "runtime error: index out of range [5] with length 3",
        "runtime error: slice bounds out of range [:5] with capacity 4",
        "runtime error: slice bounds out of range [3:2]",
        "runtime error: slice bounds out of range [::9] with capacity 4",
        "runtime error: slice bounds out of range [:4:3]",
        "runtime error: slice bounds out of range [2:1:]",
        "makeslice: cap out of range",
        "makeslice: len out of range",
        "runtime error: index out of range [0] with length 0",
    };
    for (int k = 0; k < 9; k++) {
        bad_op op = {.kind = k};
        CHECK_MSG(goc_call(do_bad, &op), "case %d did not panic", k);
        CHECK_EQ_STR(op.msg, want[k]);
    }
}

static const test_case cases[] = {
    TEST_CASE(test_growth_matches_go),
    TEST_CASE(test_append_values_and_sharing),
    TEST_CASE(test_make),
    TEST_CASE(test_bounds_panic),
    {0},
};

GOC_MAIN(argc, argv)
{
    return test_main(argc, argv, cases);
}

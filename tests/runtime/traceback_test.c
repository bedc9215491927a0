/* traceback_test.c: stack walks and symbolization (runtime/core/traceback.c)
 * and the fatal reports that print them: PCs named from the executable's
 * symbol table (static functions included) and from shared objects; the
 * running goroutine's stack, a parked one's from its saved registers, one
 * not yet started, one running elsewhere; and, in child processes, the
 * functions named by an unrecovered panic, a fault, a deadlock and Go's
 * TestOnceFuncPanicTraceback. */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/chan.h>
#include <goc/sched.h>
#include <goc/sync.h>

#include <gnu/libc-version.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"
#include "traceback.h"

#define MS (INT64_C(1000000))

/* Names of the PCs, innermost first, in one string "a b c ". */
static void names_of(const uintptr_t *pcs, int n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        goc__symbol s;
        const char *name = goc__symbolize(pcs[i] - 1, &s) ? s.func : "?";
        int w = snprintf(buf + k, len - k, "%s ", name);
        if (w < 0 || (size_t)w >= len - k)
            return;
        k += (size_t)w;
    }
}

/* Whether want appears in names as whole words, in this order. */
static bool in_order(const char *names, const char *const *want, int n)
{
    const char *p = names;
    for (int i = 0; i < n; i++) {
        char word[128];
        snprintf(word, sizeof word, "%s ", want[i]);
        const char *q = p;
        while ((q = strstr(q, word)) != NULL && q != names && q[-1] != ' ')
            q++;
        if (!q)
            return false;
        p = q + strlen(word);
    }
    return true;
}

/* ---- symbolization ------------------------------------------------------------ */

__attribute__((noinline)) static int a_static_function(int x)
{
    __asm__ volatile("" ::: "memory");
    return x * 3 + 1;
}

static void test_symbolize_static_and_exported(void)
{
    goc__symbol s;
    CHECK(goc__symbolize((uintptr_t)a_static_function, &s));
    CHECK_EQ_STR(s.func, "a_static_function");
    CHECK_EQ_INT(s.offset, 0);
    CHECK_STR_CONTAINS(s.module, "traceback_test");
    CHECK(goc__symbolize((uintptr_t)a_static_function + 2, &s));
    CHECK_EQ_INT(s.offset, 2);
    CHECK(goc__symbolize((uintptr_t)goc_go, &s));
    CHECK_EQ_STR(s.func, "goc_go");
    /* a shared object's function, named from its own table (one that no
     * sanitizer intercepts, so the address is libc's own) */
    CHECK(goc__symbolize((uintptr_t)gnu_get_libc_version, &s));
    CHECK_EQ_STR(s.func, "gnu_get_libc_version");
    CHECK_STR_CONTAINS(s.module, "libc");
    /* data is no function; the heap is no object */
    static int data;
    CHECK(!goc__symbolize((uintptr_t)&data, &s) || s.func == NULL ||
          strcmp(s.func, "a_static_function") != 0);
    int *heap = malloc(64);
    CHECK(!goc__symbolize((uintptr_t)heap, &s));
    CHECK(s.module == NULL);
    free(heap);
    CHECK_EQ_INT(a_static_function(1), 4);
}

/* ---- walks ------------------------------------------------------------------------ */

typedef struct walk {
    uintptr_t pcs[64];
    int n;
} walk;

__attribute__((noinline)) static void walk_c(walk *w)
{
    w->n = goc__traceback_here(w->pcs, 64);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void walk_b(walk *w)
{
    walk_c(w);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void walk_a(walk *w)
{
    walk_b(w);
    __asm__ volatile("" ::: "memory");
}

static void test_traceback_here(void)
{
    walk w;
    walk_a(&w);
    char names[2048];
    names_of(w.pcs, w.n, names, sizeof names);
    static const char *const want[] = {"walk_c", "walk_b", "walk_a", "test_traceback_here",
                                       "test_main", "g_start"};
    CHECK_MSG(in_order(names, want, 6), "frames: %s", names);
    CHECK_MSG(strncmp(names, "walk_c ", 7) == 0, "first frame: %s", names);
    /* the same through goc__traceback_g for the current goroutine */
    w.n = goc__traceback_g(goc__getg(), w.pcs, 64);
    names_of(w.pcs, w.n, names, sizeof names);
    CHECK_MSG(strncmp(names, "test_traceback_here ", 20) == 0, "frames: %s", names);
}

typedef struct g_by_id {
    int64_t id;
    goc_g *g;
} g_by_id;

static void match_id(goc_g *g, void *arg)
{
    g_by_id *w = arg;
    if (g->id == w->id && atomic_load(&g->status) != GOC_GDEAD)
        w->g = g;
}

/* The live goroutine with that id, found on the stacks. */
static goc_g *find_g(int64_t id)
{
    g_by_id w = {id, NULL};
    goc__stack_each_g(match_id, &w);
    return w.g;
}

__attribute__((noinline)) static void parked_in_recv(void *p)
{
    goc_chan *c = *(goc_chan **)p;
    int v;
    goc_chan_recv(c, &v);
    __asm__ volatile("" ::: "memory");
}

/* A goroutine parked on a channel: its frames from its saved registers. */
static void test_traceback_parked(void)
{
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int64_t id = goc_go(parked_in_recv, &c, sizeof c);
    goc_g *g = NULL;
    for (int i = 0; i < 5000 && (!(g = find_g(id)) || atomic_load(&g->status) != GOC_GWAITING);
         i++)
        goc_sleep(1 * MS);
    CHECK(g && atomic_load(&g->status) == GOC_GWAITING);
    uintptr_t pcs[64];
    int n = goc__traceback_g(g, pcs, 64);
    char names[2048];
    names_of(pcs, n, names, sizeof names);
    static const char *const want[] = {"goc__park", "goc_chan_recv", "parked_in_recv", "g_start"};
    CHECK_MSG(in_order(names, want, 4), "frames: %s", names);
    int v = 1;
    goc_chan_send(c, &v);
    goc_sleep(2 * MS);
    goc_chan_free(c);
}

static void never_started_yet(void *p) { (void)p; }

__attribute__((noinline)) static void spin_until_flag(void *p)
{
    _Atomic int *flag = *(_Atomic int **)p;
    atomic_store(flag, 1);
    while (atomic_load(flag) != 2) {
    }
    atomic_store(flag, 3);
}

/* Not started: its function. Running on another P: none (-1). */
static void test_traceback_unstarted_and_running(void)
{
    int orig = goc_gomaxprocs(1); /* nobody else runs it meanwhile */
    int64_t id = goc_go(never_started_yet, NULL, 0);
    goc_g *g = find_g(id);
    CHECK(g != NULL);
    uintptr_t pcs[8];
    CHECK_EQ_INT(goc__traceback_g(g, pcs, 8), 1);
    goc__symbol s;
    CHECK(goc__symbolize(pcs[0] - 1, &s));
    CHECK_EQ_STR(s.func, "never_started_yet");
    goc_gomaxprocs(2);
    _Atomic int flag = 0;
    _Atomic int *fp = &flag;
    id = goc_go(spin_until_flag, &fp, sizeof fp);
    while (atomic_load(&flag) != 1)
        goc_sleep(100000);
    g = find_g(id);
    CHECK(g != NULL);
    CHECK_EQ_INT(goc__traceback_g(g, pcs, 8), -1);
    atomic_store(&flag, 2);
    while (atomic_load(&flag) != 3)
        goc_sleep(100000);
    goc_gomaxprocs(orig);
}

/* ---- the fatal reports -------------------------------------------------------------- */

__attribute__((noinline)) static void panics_here(void)
{
    goc_panic("deliberate");
}

static void child_panic_names(void)
{
    panics_here();
}

static int *volatile nowhere; /* a page that may not be touched */

__attribute__((noinline)) static void faults_here(void)
{
    *nowhere = 1;
    __asm__ volatile("" ::: "memory");
}

static void child_fault_names(void)
{
    nowhere = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    faults_here();
}

static void (*volatile no_function)(void); /* NULL */

/* A call through a null function pointer: the fault is at address 0, in
 * no code; the caller is still named (its return address is at sp). */
static void child_call_null(void)
{
    no_function();
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void waits_forever(void *p)
{
    goc_chan *c = *(goc_chan **)p;
    goc_chan_recv(c, NULL);
}

static void child_deadlock_names(void)
{
    goc_chan *c = goc_chan_make(0, 0);
    goc_go(waits_forever, &c, sizeof c);
    goc_sleep(1 * MS);
    goc_chan_recv(c, NULL); /* and main too */
}

__attribute__((noinline)) static void once_func_panic(void *p)
{
    (void)p;
    goc_panic("x");
}

static void child_once_func_panic(void)
{
    static goc_once_func f = GOC_ONCE_FUNC_INIT(once_func_panic, NULL);
    goc_once_func_call(&f);
}

static void expect_report(const char *child, bool signaled, int status,
                          const char *const *want, int nwant)
{
    test_child c;
    CHECK(test_run_child(child, NULL, &c) == 0);
    CHECK_MSG(c.exited == !signaled && c.status == status, "%s: exited=%d status=%d: %s", child,
              c.exited, c.status, c.out);
    for (int i = 0; i < nwant; i++)
        CHECK_MSG(strstr(c.out, want[i]) != NULL, "%s: no \"%s\" in: %s", child, want[i],
                  c.out);
}

static void test_panic_report_names_functions(void)
{
    static const char *const want[] = {"panic: deliberate", "goroutine 1 [running]:\n",
                                       "\npanics_here+0x", "\nchild_panic_names+0x",
                                       "traceback_test+0x"};
    expect_report("child_panic_names", true, SIGABRT, want, 5);
}

static void test_fault_report_names_functions(void)
{
    static const char *const want[] = {"fatal error: unexpected signal SIGSEGV",
                                       "\nfaults_here+0x", "\nchild_fault_names+0x"};
    expect_report("child_fault_names", true, SIGSEGV, want, 3);
}

static void test_call_through_null_names_caller(void)
{
    static const char *const want[] = {"fatal error: unexpected signal SIGSEGV",
                                       "goroutine 1 [running]:\n?\n", "\nchild_call_null+0x"};
    expect_report("child_call_null", true, SIGSEGV, want, 3);
}

static void test_deadlock_report_names_functions(void)
{
    static const char *const want[] = {
        "fatal error: all goroutines are asleep - deadlock!", "[chan receive]:\ngoc__switch",
        "\nwaits_forever+0x", "\nchild_deadlock_names+0x"};
    expect_report("child_deadlock_names", false, 2, want, 4);
}

/* Go's TestOnceFuncPanicTraceback: the first call's report goes down to
 * the origin of the panic, inside f. */
static void test_once_func_panic_traceback(void)
{
    static const char *const want[] = {"panic: x", "\nonce_func_panic+0x",
                                       "\ngoc_once_func_call+0x", "\nchild_once_func_panic+0x"};
    expect_report("child_once_func_panic", true, SIGABRT, want, 4);
}

static const test_case cases[] = {
    TEST_CASE(test_symbolize_static_and_exported),
    TEST_CASE(test_traceback_here),
    TEST_CASE(test_traceback_parked),
    TEST_CASE(test_traceback_unstarted_and_running),
    TEST_CASE(test_panic_report_names_functions),
    TEST_CASE(test_fault_report_names_functions),
    TEST_CASE(test_call_through_null_names_caller),
    TEST_CASE(test_deadlock_report_names_functions),
    TEST_CASE(test_once_func_panic_traceback),
    {"child_panic_names", child_panic_names},
    {"child_fault_names", child_fault_names},
    {"child_call_null", child_call_null},
    {"child_deadlock_names", child_deadlock_names},
    {"child_once_func_panic", child_once_func_panic},
    {0},
};

GOC_MAIN(argc, argv) { return test_main(argc, argv, cases); }

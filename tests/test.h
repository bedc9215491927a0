/* test.h: the tests' tiny harness. One program per module; each case is a
 * void function registered in a table and reported as a TAP line, which
 * scripts/test counts. A failed check prints where and why, marks the case
 * failed and returns from the function it is in.
 *
 *   static void test_pushes(void) { CHECK_EQ_INT(f(1), 2); }
 *   static const test_case cases[] = { TEST_CASE(test_pushes), {0} };
 *   int main(int argc, char **argv) { return test_main(argc, argv, cases); }
 *
 * `prog NAME` runs one case only (tests that need a child process re-run
 * their own binary that way); `prog` runs them all, except the cases named
 * "child_..." that exist only to be run in a child.
 *
 * Sanitized builds run slower and TSan caps live fibers, so tests may scale
 * their largest counts with TEST_SCALE(n); the behaviour asserted stays the
 * same.
 */
#ifndef GOC_TEST_H
#define GOC_TEST_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST_CASE(fn) {#fn, fn}

#if defined(GOC_SANITIZE_THREAD)
#define TEST_SCALE(n) ((n) / 100 > 0 ? (n) / 100 : 1)
#elif defined(GOC_SANITIZE_ADDRESS)
#define TEST_SCALE(n) ((n) / 10 > 0 ? (n) / 10 : 1)
#else
#define TEST_SCALE(n) (n)
#endif

extern atomic_int test__failed;
extern const char *test__argv0;

static inline void test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "# %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    fflush(stdout);
    va_end(ap);
    atomic_store(&test__failed, 1);
}

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            test__fail(__FILE__, __LINE__, "CHECK(%s) failed", #c);                           \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_MSG(c, ...)                                                                     \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            test__fail(__FILE__, __LINE__, __VA_ARGS__);                                      \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            test__fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);         \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_UINT(a, b)                                                                   \
    do {                                                                                      \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);        \
        if (a_ != b_) {                                                                       \
            test__fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, a_, b_);         \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                    \
    do {                                                                                      \
        const char *a_ = (a), *b_ = (b);                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                              \
            test__fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,              \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");                               \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                       \
    do {                                                                                      \
        const char *h_ = (hay), *n_ = (needle);                                               \
        if (!h_ || !strstr(h_, n_)) {                                                         \
            test__fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, n_,        \
                       h_ ? h_ : "(null)");                                                   \
            return;                                                                           \
        }                                                                                     \
    } while (0)

/* Result of running this test binary again with one case name. */
typedef struct test_child {
    int exited;    /* 1 if it exited, 0 if killed by a signal */
    int status;    /* exit status or signal number */
    char out[65536]; /* stdout and stderr together, NUL-terminated */
} test_child;

/* Re-runs argv[0] with the case name `name` and collects its output. env
 * (may be NULL) is a NULL-terminated list of extra "K=V" settings. */
int test_run_child(const char *name, const char *const *env, test_child *res);

/* Runs every case (or only argv[1]); prints TAP; returns the exit status. */
int test_main(int argc, char **argv, const test_case *cases);

#ifdef TEST_IMPLEMENTATION
atomic_int test__failed;
const char *test__argv0;

int test_run_child(const char *name, const char *const *env, test_child *res)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execl(test__argv0, test__argv0, name, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(pfd[0], res->out + len, sizeof res->out - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof res->out - 1) {
            char sink[4096];
            while (read(pfd[0], sink, sizeof sink) > 0) {
            }
            break;
        }
    }
    res->out[len] = 0;
    close(pfd[0]);
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    res->exited = WIFEXITED(st);
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
    return 0;
}

int test_main(int argc, char **argv, const test_case *cases)
{
    test__argv0 = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    int n = 0;
    for (const test_case *c = cases; c->name; c++)
        n += strncmp(c->name, "child_", 6) != 0;
    if (argc > 1) {
        for (const test_case *c = cases; c->name; c++) {
            if (strcmp(c->name, argv[1]) == 0) {
                c->fn();
                return atomic_load(&test__failed) ? 1 : 0;
            }
        }
        fprintf(stderr, "no test case %s\n", argv[1]);
        return 2;
    }
    printf("1..%d\n", n);
    int failed = 0, i = 0;
    for (const test_case *c = cases; c->name; c++) {
        if (strncmp(c->name, "child_", 6) == 0)
            continue;
        atomic_store(&test__failed, 0);
        c->fn();
        bool bad = atomic_load(&test__failed);
        failed += bad;
        printf("%s %d - %s\n", bad ? "not ok" : "ok", ++i, c->name);
    }
    return failed ? 1 : 0;
}
#endif

#endif

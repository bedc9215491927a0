/* example.c: the README's first program, as a user writes it: it must
 * build without a warning under -Wall -Wextra -Wpedantic in C99, C11 and
 * C++11 (tests/runtime/meson.build), and run. Exits 1 unless every worker
 * ran. */
#include <goc/goc.h>
#include <stdio.h>

typedef struct job {
    int n;
} job;

static goc_waitgroup wg;
static int done[4];

static void worker(void *arg) /* arg points at a copy on its own stack */
{
    job *j = (job *)arg;
    goc_sleep(GOC_MILLISECOND); /* other goroutines run meanwhile */
    printf("job %d on goroutine %lld\n", j->n, (long long)goc_id());
    done[j->n] = 1;
    goc_waitgroup_done(&wg);
}

GOC_MAIN(argc, argv) /* main runs as goroutine 1 */
{
    for (int i = 0; i < 4; i++) {
        job j = {i};
        goc_waitgroup_add(&wg, 1);
        goc_go(worker, &j, sizeof j); /* the argument block is copied: no malloc */
    }
    goc_waitgroup_wait(&wg);
    return done[0] && done[1] && done[2] && done[3] ? 0 : 1;
}

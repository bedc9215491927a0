/* gdb_target.c: the program tests/runtime/gdb_test.py looks at with gdb.
 *
 * Its goroutines stand still where the test expects them: one parked in a
 * channel receive, one in a select, one on a Mutex, one in a sleep, one in
 * a network read, one running (spinning on a CPU), and the main goroutine
 * in a WaitGroup's wait. A plain thread outside the runtime watches the
 * runtime's own records until every one of them is there, then prints
 *     ready pid=P main=ID recv=ID select=ID mutex=ID sleep=ID read=ID spin=ID
 * and waits to be attached to, dumped and killed. Nobody ever wakes the
 * goroutines; the program ends itself after ten minutes if nobody kills it.
 *
 * Each park_in_* function is the program's own frame that the backtraces
 * must show above the runtime call that parked it.
 */
#include <goc/chan.h>
#include <goc/net.h>
#include <goc/sched.h>
#include <goc/sync.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime.h"

#define SECOND INT64_C(1000000000)

enum { MAIN, RECV, SELECT, MUTEX, SLEEP, READ, SPIN, NGS };

/* What each goroutine must be doing before "ready". */
static const struct {
    const char *name;
    uint32_t status;
    const char *reason; /* GOC_GWAITING's wait reason */
} want[NGS] = {
    [MAIN] = {"main", GOC_GWAITING, "sync.WaitGroup.Wait"},
    [RECV] = {"recv", GOC_GWAITING, "chan receive"},
    [SELECT] = {"select", GOC_GWAITING, "select"},
    [MUTEX] = {"mutex", GOC_GWAITING, "sync.Mutex.Lock"},
    [SLEEP] = {"sleep", GOC_GWAITING, "sleep"},
    [READ] = {"read", GOC_GWAITING, "IO wait read"},
    [SPIN] = {"spin", GOC_GRUNNING, NULL},
};

static int64_t ids[NGS]; /* written by main before the watcher starts */

static goc_chan *never_sent, *never_sent2;
static goc_mutex held = GOC_MUTEX_INIT;
static goc_waitgroup never_done;
static volatile uint64_t spins;

/* A call that returned although nobody wakes it. */
static void woke(const char *what)
{
    fprintf(stderr, "gdb_target: %s returned\n", what);
    abort();
}

static void park_in_recv(void *arg)
{
    (void)arg;
    int64_t v;
    goc_chan_recv(never_sent, &v);
    woke("chan receive");
}

static void park_in_select(void *arg)
{
    (void)arg;
    int64_t a, b;
    goc_select_case cases[2] = {
        {never_sent, GOC_SELECT_RECV, &a, false},
        {never_sent2, GOC_SELECT_RECV, &b, false},
    };
    goc_select(cases, 2, true);
    woke("select");
}

static void park_in_mutex(void *arg)
{
    (void)arg;
    goc_mutex_lock(&held);
    woke("mutex lock");
}

static void park_in_sleep(void *arg)
{
    (void)arg;
    goc_sleep(600 * SECOND);
    fprintf(stderr, "gdb_target: nobody ended me in ten minutes\n");
    exit(3);
}

static void park_in_read(void *arg)
{
    goc_conn *c = *(goc_conn **)arg;
    char buf[16];
    goc_conn_read(c, buf, sizeof buf);
    woke("network read");
}

static void spin_forever(void *arg)
{
    (void)arg;
    for (;;)
        spins = spins + 1;
}

/* ---- the watcher: a thread outside the runtime ------------------------------ */

typedef struct seen {
    int ok; /* goroutines standing where they should */
} seen;

static void check_one(goc_g *g, void *arg)
{
    seen *s = arg;
    uint32_t st = atomic_load_explicit(&g->status, memory_order_acquire);
    for (int i = 0; i < NGS; i++) {
        if (g->id != ids[i] || st != want[i].status)
            continue;
        /* the reason is written before the status's release store */
        if (!want[i].reason || (g->waitreason && strcmp(g->waitreason, want[i].reason) == 0))
            s->ok++;
    }
}

static void *watch(void *arg)
{
    (void)arg;
    for (;;) {
        seen s = {0};
        goc__stack_each_g(check_one, &s);
        if (s.ok == NGS)
            break;
        usleep(1000);
    }
    printf("ready pid=%d", (int)getpid());
    for (int i = 0; i < NGS; i++)
        printf(" %s=%lld", want[i].name, (long long)ids[i]);
    printf("\n");
    fflush(stdout);
    for (;;)
        pause();
    return NULL;
}

/* ---- main --------------------------------------------------------------------- */

static int target_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* gdb may attach to this process even where Yama allows attaching to
     * descendants only */
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    never_sent = goc_chan_make(sizeof(int64_t), 0);
    never_sent2 = goc_chan_make(sizeof(int64_t), 0);
    goc_listener *l;
    goc_conn *client, *server;
    char addr[64];
    if (goc_listen_tcp("127.0.0.1:0", 1, &l) < 0 || goc_listener_addr(l, addr, sizeof addr) < 0 ||
        goc_dial_tcp(addr, 10 * SECOND, &client) < 0 || goc_accept(l, &server) < 0) {
        fprintf(stderr, "gdb_target: no loopback connection\n");
        return 1;
    }
    goc_mutex_lock(&held);
    goc_waitgroup_add(&never_done, 1);
    ids[MAIN] = goc_id();
    ids[RECV] = goc_go(park_in_recv, NULL, 0);
    ids[SELECT] = goc_go(park_in_select, NULL, 0);
    ids[MUTEX] = goc_go(park_in_mutex, NULL, 0);
    ids[SLEEP] = goc_go(park_in_sleep, NULL, 0);
    ids[READ] = goc_go(park_in_read, &server, sizeof server);
    ids[SPIN] = goc_go(spin_forever, NULL, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, watch, NULL) != 0) {
        fprintf(stderr, "gdb_target: no watcher thread\n");
        return 1;
    }
    goc_waitgroup_wait(&never_done);
    woke("waitgroup wait");
    return 1;
}

int main(int argc, char **argv)
{
    goc_config cfg = {.procs = 2};
    goc_start(&cfg, target_main, argc, argv);
}

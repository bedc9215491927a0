/* signal.c: fatal signals, stack overflow reports, SIGQUIT, and the dump of
 * every goroutine that fatal errors print.
 *
 * Every M runs its signal handlers on an alternate stack, so a goroutine
 * that overflows into its guard page can still be reported: the faulting
 * address names the stack, hence the goroutine and its size. The dump is
 * written with write(2) only (no stdio, no allocation), as it runs from
 * signal handlers.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64 * 1024)

/* ---- async-signal-safe output ------------------------------------------- */

typedef struct out {
    int fd;
    char buf[512];
    size_t n;
} out;

static void out_flush(out *o)
{
    size_t off = 0;
    while (off < o->n) {
        ssize_t w = write(o->fd, o->buf + off, o->n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    o->n = 0;
}

static void out_str(out *o, const char *s)
{
    while (*s) {
        if (o->n == sizeof o->buf)
            out_flush(o);
        o->buf[o->n++] = *s++;
    }
}

static void out_int(out *o, int64_t v)
{
    char tmp[24];
    int i = sizeof tmp - 1;
    bool neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    tmp[i] = 0;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        tmp[--i] = '-';
    out_str(o, tmp + i);
}

static void out_hex(out *o, uintptr_t v)
{
    char tmp[20];
    int i = sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    out_str(o, "0x");
    out_str(o, tmp + i);
}

/* ---- the goroutine dump ---------------------------------------------------- */

static const char *state_name(goc_g *g)
{
    switch (atomic_load(&g->status)) {
    case GOC_GRUNNABLE:
        return "runnable";
    case GOC_GRUNNING:
        return "running";
    case GOC_GSYSCALL:
        return "syscall";
    case GOC_GWAITING:
        return g->waitreason ? g->waitreason : "waiting";
    case GOC_GDEAD:
        return "dead";
    default:
        return "idle";
    }
}

typedef struct dump_ctx {
    out *o;
    goc_g *skip;
    int64_t printed;
} dump_ctx;

static void dump_one(out *o, goc_g *g, const char *state)
{
    out_str(o, "goroutine ");
    out_int(o, g->id);
    out_str(o, " [");
    out_str(o, state);
    out_str(o, "]:\n\tstack ");
    out_int(o, (int64_t)(g->stack ? g->stack->size : 0));
    out_str(o, " bytes");
    if (atomic_load(&g->status) == GOC_GRUNNING && g->m) {
        out_str(o, ", on thread M");
        out_int(o, g->m->id);
    }
    out_str(o, "\n\n");
}

static void dump_each(goc_g *g, void *arg)
{
    dump_ctx *c = arg;
    uint32_t s = atomic_load(&g->status);
    if (g == c->skip || s == GOC_GDEAD || s == GOC_GIDLE || g->id == 0)
        return;
    dump_one(c->o, g, state_name(g));
    c->printed++;
}

void goc__dump_all(int fd, goc_g *current)
{
    out o = {.fd = fd};
    if (current && !current->is_g0)
        dump_one(&o, current, "running");
    else
        current = NULL;
    dump_ctx c = {&o, current, 0};
    goc__stack_each_g(dump_each, &c);
    out_flush(&o);
}

void goc_dump_goroutines(int fd)
{
    goc__dump_all(fd, goc__getg());
}

/* ---- handlers ------------------------------------------------------------- */

static void report_overflow(goc_g *g, void *addr)
{
    out o = {.fd = 2};
    out_str(&o, "runtime: goroutine ");
    out_int(&o, g->id);
    out_str(&o, " stack exceeds its ");
    out_int(&o, (int64_t)g->stack->size);
    out_str(&o, "-byte stack (at ");
    out_hex(&o, (uintptr_t)addr);
    out_str(&o, ")\nfatal error: stack overflow\n\n");
    out_flush(&o);
    goc__dump_all(2, g);
    signal(SIGABRT, SIG_DFL);
    abort();
}

_Noreturn void goc__stack_overflow(goc_g *g)
{
    report_overflow(g, __builtin_frame_address(0));
    __builtin_unreachable();
}

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    out o = {.fd = 2};
    bool in_guard = false;
    goc_g *g = goc__stack_find(si->si_addr, &in_guard);
    if (g && in_guard)
        report_overflow(g, si->si_addr);
    out_str(&o, "fatal error: unexpected signal ");
    out_str(&o, sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : "SIGFPE/SIGILL");
    out_str(&o, " at address ");
    out_hex(&o, (uintptr_t)si->si_addr);
    goc_g *cur = goc__getg();
    if (cur && !cur->is_g0) {
        out_str(&o, " in goroutine ");
        out_int(&o, cur->id);
    }
    out_str(&o, "\n\n");
    out_flush(&o);
    goc__dump_all(2, cur);
    /* Return with the default action restored: the fault repeats and the
     * process dies of it, with its usual status and core dump. */
    signal(sig, SIG_DFL);
}

static void on_quit(int sig)
{
    (void)sig;
    static const char msg[] = "SIGQUIT: quit\n\n";
    (void)!write(2, msg, sizeof msg - 1);
    goc__dump_all(2, NULL);
    _exit(2);
}

void goc__signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, NULL);
}

void goc__sigaltstack_alloc(goc_m *m)
{
    m->sigaltstack = goc__alloc(ALTSTACK_SIZE);
}

void goc__sigaltstack_init(goc_m *m)
{
    stack_t ss;
    if (!m->sigaltstack)
        return;
    ss.ss_sp = m->sigaltstack;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
}

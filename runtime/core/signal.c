/* signal.c: fatal signals, stack overflow reports, SIGQUIT, and the dump of
 * every goroutine that fatal errors print, each with the functions on its
 * stack (traceback.c): the current goroutine's from the dumper's own frames
 * or from the context a signal interrupted, a stopped one's from the
 * registers it saved; one running on another thread has none to show.
 *
 * Every M runs its signal handlers on an alternate stack, so a goroutine
 * that overflows into its guard page can still be reported: the faulting
 * address names the stack, hence the goroutine and its size. The dump is
 * written with write(2) only (no stdio, no allocation), as it runs from
 * signal handlers.
 */
#include "runtime.h"
#include "traceback.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64 * 1024)

/* ---- async-signal-safe output ------------------------------------------- */

typedef struct out {
    int fd;
    char buf[512];
    size_t n;
    /* instead of fd, when set (goc__dump_all_to: not from a signal
     * handler): where the text goes, and its first error */
    int (*write)(void *arg, const void *buf, size_t len);
    void *arg;
    int err;
} out;

static void out_flush(out *o)
{
    if (o->write) {
        if (o->err == 0 && o->n)
            o->err = o->write(o->arg, o->buf, o->n);
        o->n = 0;
        return;
    }
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

#define MAX_FRAMES 64

typedef struct dump_ctx {
    out *o;
    goc_g *skip;
    int64_t printed;
} dump_ctx;

/* One frame, as Go prints one: the function and the return address's
 * offset in it, then the object and the same address in the object's own
 * terms (what addr2line -e takes). */
static void dump_frame(out *o, uintptr_t pc)
{
    goc__symbol s;
    bool named = goc__symbolize(pc - 1, &s);
    out_str(o, named ? s.func : "?");
    if (named) {
        out_str(o, "+");
        out_hex(o, s.offset + 1);
    }
    out_str(o, "\n\t");
    if (s.module) {
        out_str(o, s.module);
        out_str(o, "+");
        out_hex(o, s.rel + 1);
    } else {
        out_hex(o, pc);
    }
    out_str(o, "\n");
}

/* g's header line, its frames (pcs; n < 0: none to show), its stack. */
static void dump_one(out *o, goc_g *g, const char *state, const uintptr_t *pcs, int n)
{
    out_str(o, "goroutine ");
    out_int(o, g->id);
    out_str(o, " [");
    out_str(o, state);
    out_str(o, "]:\n");
    for (int i = 0; i < n; i++)
        dump_frame(o, pcs[i]);
    if (n == MAX_FRAMES)
        out_str(o, "...additional frames elided...\n");
    if (n < 0)
        out_str(o, "\tgoroutine running on other thread; stack unavailable\n");
    out_str(o, "\tstack ");
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
    uintptr_t pcs[MAX_FRAMES];
    int n = goc__traceback_g(g, pcs, MAX_FRAMES);
    dump_one(c->o, g, state_name(g), pcs, n);
    c->printed++;
}

/* The dump into o, current's frames given (it runs here, or a signal
 * stopped it). */
static void dump_into(out *o, goc_g *current, const uintptr_t *pcs, int n)
{
    if (current && !current->is_g0)
        dump_one(o, current, "running", pcs, n);
    else
        current = NULL;
    dump_ctx c = {o, current, 0};
    goc__stack_each_g(dump_each, &c);
    out_flush(o);
}

static void dump_all_with(int fd, goc_g *current, const uintptr_t *pcs, int n)
{
    out o = {.fd = fd};
    dump_into(&o, current, pcs, n);
}

int goc__dump_all_to(int (*write)(void *arg, const void *buf, size_t len), void *arg)
{
    out o = {.fd = -1, .write = write, .arg = arg};
    uintptr_t pcs[MAX_FRAMES];
    goc_g *current = goc__getg();
    dump_into(&o, current, pcs, goc__traceback_here(pcs, MAX_FRAMES));
    return o.err;
}

void goc__dump_all(int fd, goc_g *current)
{
    uintptr_t pcs[MAX_FRAMES];
    int n = current == goc__getg() ? goc__traceback_here(pcs, MAX_FRAMES) : -1;
    dump_all_with(fd, current, pcs, n);
}

int goc__traceback_ucontext(const void *uctx, uintptr_t *pcs, int max)
{
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    const greg_t *r = uc->uc_mcontext.gregs;
    return goc__traceback_signal((uintptr_t)r[REG_RIP], (uintptr_t)r[REG_RSP],
                                 (uintptr_t)r[REG_RBP], 0, pcs, max);
#elif defined(__aarch64__)
    const mcontext_t *mc = &uc->uc_mcontext;
    return goc__traceback_signal((uintptr_t)mc->pc, (uintptr_t)mc->sp, (uintptr_t)mc->regs[29],
                                 (uintptr_t)mc->regs[30], pcs, max);
#else
    (void)uc;
    (void)pcs;
    (void)max;
    return -1;
#endif
}

void goc_dump_goroutines(int fd)
{
    goc__dump_all(fd, goc__getg());
}

/* ---- handlers ------------------------------------------------------------- */

static void report_overflow(goc_g *g, void *addr, const uintptr_t *pcs, int n)
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
    dump_all_with(2, g, pcs, n);
    signal(SIGABRT, SIG_DFL);
    abort();
}

_Noreturn void goc__stack_overflow(goc_g *g)
{
    uintptr_t pcs[MAX_FRAMES]; /* on an overflowed stack: the walk is short of it */
    report_overflow(g, __builtin_frame_address(0), pcs, goc__traceback_here(pcs, MAX_FRAMES));
    __builtin_unreachable();
}

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    out o = {.fd = 2};
    uintptr_t pcs[MAX_FRAMES];
    int n = goc__traceback_ucontext(uctx, pcs, MAX_FRAMES);
    bool in_guard = false;
    goc_g *g = goc__stack_find(si->si_addr, &in_guard);
    if (g && in_guard)
        report_overflow(g, si->si_addr, pcs, n);
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
    dump_all_with(2, cur, pcs, n);
    /* Return with the default action restored: the fault repeats and the
     * process dies of it, with its usual status and core dump. */
    signal(sig, SIG_DFL);
}

static void on_quit(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)si;
    static const char msg[] = "SIGQUIT: quit\n\n";
    (void)!write(2, msg, sizeof msg - 1);
    goc_g *cur = goc__getg(); /* the goroutine the signal stopped, if any */
    uintptr_t pcs[MAX_FRAMES];
    int n = cur && !cur->is_g0 ? goc__traceback_ucontext(uctx, pcs, MAX_FRAMES) : -1;
    dump_all_with(2, cur, pcs, n);
    _exit(2);
}

void goc__signals_init(void)
{
    goc__traceback_init(); /* before any other thread: the loader's list */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_quit;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, NULL);
}

/* A mapping of its own, not a heap block: the collector scans explicit
 * blocks, and the signal frames left on this stack (the registers of an
 * interrupted thread) would keep what they pointed to alive. Made with the
 * M (allocm), so all of an M's memory exists once it is counted. */
void goc__sigaltstack_alloc(goc_m *m)
{
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m->sigaltstack = p == MAP_FAILED ? NULL : p;
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

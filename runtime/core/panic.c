/* panic.c: defer, panic and recover per goroutine (src/runtime/panic.go).
 *
 * C has no hook on a function's return, so a "function body" in Go's sense
 * is made explicit: goc_call(fn, arg) runs fn as one, with a frame record
 * on its stack holding the deferred calls and a landing point (jmp_buf) for
 * a recovered panic. A goroutine's own function runs in its base frame.
 *
 * goc_panic runs the deferred calls of the innermost frame, then of the
 * frames around it; a deferred call that calls goc_recover stops the panic
 * and the frame's goc_call returns normally (with true) after running the
 * frame's remaining deferred calls. Unrecovered, the panic prints its
 * message and every goroutine, and aborts the process.
 *
 * Invariants:
 *  - g->frame is the innermost live frame; while a panic unwinds, it is the
 *    frame whose deferred calls are running.
 *  - A panic record lives on the stack of goc_panic, which stays alive
 *    while the deferred calls run deeper on the same stack.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static goc__defer *defer_new(goc_g *g)
{
    goc__defer *d = g->deferpool;
    if (d) {
        g->deferpool = d->link;
        return d;
    }
    d = goc__alloc(sizeof *d);
    if (!d)
        goc_fatal("defer: out of memory");
    return d;
}

/* Records go back to the goroutine's pool; the pool is freed when the
 * goroutine ends (goc__defer_pool_free). */
static void defer_free(goc_g *g, goc__defer *d)
{
    d->link = g->deferpool;
    g->deferpool = d;
}

void goc__defer_pool_free(goc_g *g)
{
    goc__defer *d = g->deferpool;
    while (d) {
        goc__defer *n = d->link;
        goc__free(d);
        d = n;
    }
    g->deferpool = NULL;
}

void goc_defer(goc_fn fn, void *arg)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0 || !g->frame)
        goc_fatal("goc_defer called outside a goroutine");
    goc__defer *d = defer_new(g);
    d->fn = fn;
    d->arg = arg;
    d->link = g->frame->defers;
    g->frame->defers = d;
}

void goc__frame_run_defers(goc_g *g, goc__frame *f)
{
    goc__defer *d;
    while ((d = f->defers)) {
        f->defers = d->link;
        goc_fn fn = d->fn;
        void *arg = d->arg;
        defer_free(g, d);
        fn(arg);
        g = goc__getg();
    }
}

bool goc_call(goc_fn fn, void *arg)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0) {
        fn(arg);
        return false;
    }
    goc__frame fr;
    fr.link = g->frame;
    fr.defers = NULL;
    g->frame = &fr;
    if (setjmp(fr.land) == 0) {
        fn(arg);
        g = goc__getg();
        goc__frame_run_defers(g, &fr);
        g->frame = fr.link;
        return false;
    }
    /* A panic was recovered by one of this frame's deferred calls. */
    g = goc__getg();
    goc__frame_run_defers(g, &fr);
    g->frame = fr.link;
    return true;
}

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void print_panics(goc__panic *p)
{
    if (!p)
        return;
    print_panics(p->link);
    put(2, p->link ? "\tpanic: " : "panic: ");
    put(2, p->info.msg);
    if (p->recovered)
        put(2, " [recovered]");
    put(2, "\n");
}

_Noreturn static void fatalpanic(goc_g *g, goc__panic *p)
{
    print_panics(p);
    put(2, "\n");
    goc__dump_all(2, g);
    signal(SIGABRT, SIG_DFL);
    abort();
}

_Noreturn void goc_panic_value(const char *msg, void *value)
{
    goc_g *g = goc__getg();
    goc__panic p;
    memset(&p, 0, sizeof p);
    p.info.msg = msg ? msg : "(nil)";
    p.info.value = value;
    if (!g || g->is_g0)
        fatalpanic(NULL, &p);
    p.link = g->panic;
    if (p.link)
        p.link->aborted = true;
    g->panic = &p;
    for (goc__frame *f = g->frame; f; f = f->link) {
        g->frame = f;
        p.frame = f;
        goc__defer *d;
        while ((d = f->defers)) {
            f->defers = d->link;
            goc_fn fn = d->fn;
            void *arg = d->arg;
            defer_free(g, d);
            fn(arg);
            g = goc__getg();
            if (p.recovered) {
                goc__panic *q = p.link;
                while (q && q->aborted)
                    q = q->link;
                g->panic = q;
                longjmp(f->land, 1);
            }
        }
    }
    g->frame = NULL;
    fatalpanic(g, &p);
}

_Noreturn void goc_panic(const char *msg)
{
    goc_panic_value(msg, NULL);
}

const goc_panic_info *goc_recover(void)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        return NULL;
    goc__panic *p = g->panic;
    if (!p || p->recovered || p->aborted || p->frame != g->frame)
        return NULL;
    p->recovered = true;
    return &p->info;
}

_Noreturn void goc_fatal(const char *msg)
{
    put(2, "fatal error: ");
    put(2, msg);
    put(2, "\n\n");
    goc__dump_all(2, goc__getg());
    signal(SIGABRT, SIG_DFL);
    abort();
}

_Noreturn void goc_exit(void)
{
    goc_g *g = goc__getg();
    if (!g || g->is_g0)
        goc_fatal("goc_exit called outside a goroutine");
    for (goc__frame *f = g->frame; f; f = f->link) {
        g->frame = f;
        goc__frame_run_defers(g, f);
        g = goc__getg();
    }
    g->frame = NULL;
    goc__goexit0();
}

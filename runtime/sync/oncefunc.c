/* oncefunc.c: Go 1.21's sync.OnceFunc and sync.OnceValue (Go's
 * src/sync/oncefunc.go), over goc_once.
 *
 * C has no closures: the returned function of Go is here an object that
 * holds f and its argument, called through goc_once_func_call or
 * goc_once_value_get. The first call runs f inside goc_once_do with a
 * deferred recorder: if f panics, the recorder recovers the panic, keeps
 * its message and value, and panics again with them from inside f's
 * unwinding (so the first caller's report shows f's frames); if f ends its
 * goroutine with goc_exit, the recorder keeps a message of its own and lets
 * the exit go on. Every later call panics with what was kept.
 *
 * Invariants:
 *  - valid, value and the panic fields are written only by the one run of
 *    f, inside goc_once_do, and read after goc_once_do returned (its done
 *    flag orders them).
 */
#include "sync_internal.h"

static const char exited[] = "sync: OnceFunc's function did not return";

/* The fields the recorder fills in, wherever they sit in the object. */
typedef struct once_rec {
    bool *valid;
    const char **panic_msg;
    void **panic_value;
} once_rec;

/* Deferred around f: keeps a panic (and raises it again) or an exit. */
static void once_record(void *p)
{
    once_rec *r = p;
    if (*r->valid)
        return;
    const goc_panic_info *pi = goc_recover();
    if (pi == NULL) { /* goc_exit: nothing to recover, nothing to raise */
        *r->panic_msg = exited;
        return;
    }
    *r->panic_msg = pi->msg;
    *r->panic_value = pi->value;
    goc_panic_value(pi->msg, pi->value);
}

static void repanic(const char *msg, void *value)
{
    goc_panic_value(msg, value);
}

/* ---- OnceFunc ---------------------------------------------------------------- */

static void once_func_run(void *p)
{
    goc_once_func *of = p;
    once_rec r = {&of->valid, &of->panic_msg, &of->panic_value};
    goc_defer(once_record, &r);
    of->f(of->arg);
    of->valid = true;
}

/* goc_once_do's function body: a frame of its own for the recorder. */
static void once_func_body(void *p) { goc_call(once_func_run, p); }

void goc_once_func_call(goc_once_func *of)
{
    goc_once_do(&of->once, once_func_body, of);
    if (!of->valid)
        repanic(of->panic_msg, of->panic_value);
}

/* ---- OnceValue --------------------------------------------------------------- */

static void once_value_run(void *p)
{
    goc_once_value *ov = p;
    once_rec r = {&ov->valid, &ov->panic_msg, &ov->panic_value};
    goc_defer(once_record, &r);
    ov->value = ov->f(ov->arg);
    ov->valid = true;
}

static void once_value_body(void *p) { goc_call(once_value_run, p); }

void *goc_once_value_get(goc_once_value *ov)
{
    goc_once_do(&ov->once, once_value_body, ov);
    if (!ov->valid)
        repanic(ov->panic_msg, ov->panic_value);
    return ov->value;
}

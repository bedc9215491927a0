/* goc/context.h: Go's context package (Go's src/context/context.go;
 * doc/go-rules.md 6): cancellation, deadlines and request-scoped values
 * carried down a tree of contexts.
 *
 * Canceling a context closes its Done channel, sets its Err and its Cause,
 * and cancels every descendant with the same two; a canceled child leaves
 * its parent's set of children. A deadline later than the parent's is the
 * parent's.
 *
 * Causes (Go 1.20's WithCancelCause and Cause, 1.21's WithDeadlineCause and
 * WithTimeoutCause) are goc_context_error values of the caller's own, e.g.
 *     static const goc_context_error too_slow = {"too slow", false, false};
 * compared by pointer, and borrowed: a cause must stay valid while any
 * context canceled with it may be asked for it (a static object, typically).
 *
 * Lifetime (reference counts, as C has no GC):
 *  - Every goc_context_with_* call returns a new context holding one
 *    reference, owned by the caller; goc_context_retain adds one (e.g. for a
 *    goroutine the context is passed to), goc_context_release drops one.
 *  - A context holds a reference on its parent, so a parent outlives its
 *    children; a cancelable context is also held by its parent's set of
 *    children until it is canceled, and by its deadline timer until that
 *    fires or is stopped.
 *  - As with Go's CancelFunc, call goc_context_cancel on every cancelable
 *    context you create once its work is done (typically just before
 *    goc_context_release); otherwise it stays in its parent's children
 *    until the parent is canceled.
 *  - Background and TODO are static: retain and release do nothing.
 *  - Pointers returned by goc_context_done, goc_context_err and
 *    goc_context_value stay valid while the caller holds a reference.
 *  - goc_context_after_func returns a handle owned by the caller, freed
 *    with goc_context_after_free; the registration itself is held by ctx
 *    until ctx is done or the handle stopped.
 *
 * Callable from goroutines; goc_context_cancel may also be called from any
 * thread. Nothing here blocks except on the caller's own select.
 */
#ifndef GOC_CONTEXT_H
#define GOC_CONTEXT_H

#include "goc/api.h"

#include <stdbool.h>
#include <stdint.h>

#include "goc/chan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_context goc_context;
typedef struct goc_context_after goc_context_after;

/* Why a context is done. Compare pointers with the two values below. */
typedef struct goc_context_error {
    const char *msg; /* Go's Error() */
    bool timeout;    /* Go's Timeout(): true for deadline exceeded */
    bool temporary;  /* Go's Temporary(): true for deadline exceeded */
} goc_context_error;

/* "context canceled" and "context deadline exceeded". */
GOC_API extern const goc_context_error goc_context_canceled;
GOC_API extern const goc_context_error goc_context_deadline_exceeded;

/* The root contexts: never canceled, no deadline, no values, a NULL (nil)
 * Done channel. Distinct from each other. */
GOC_API goc_context *goc_context_background(void);
GOC_API goc_context *goc_context_todo(void);

/* A child of parent canceled by goc_context_cancel or when parent is.
 * Panics "cannot create context from nil parent" if parent is NULL. */
GOC_API goc_context *goc_context_with_cancel(goc_context *parent);

/* Go's WithCancelCause: the same context as goc_context_with_cancel (in C
 * any cancelable context takes a cause: goc_context_cancel_cause). */
GOC_API goc_context *goc_context_with_cancel_cause(goc_context *parent);

/* A cancelable child also canceled, with deadline exceeded, at deadline
 * (goc_nanotime clock). If parent's deadline is earlier, this is
 * goc_context_with_cancel(parent). Panics as goc_context_with_cancel. */
GOC_API goc_context *goc_context_with_deadline(goc_context *parent, int64_t deadline);
/* goc_context_with_deadline(parent, goc_nanotime() + timeout), the sum
 * saturated: a timeout that overflows it is a deadline never reached. */
GOC_API goc_context *goc_context_with_timeout(goc_context *parent, int64_t timeout);

/* Go's WithDeadlineCause and WithTimeoutCause: as the two above, and when
 * the deadline passes the context's Cause is cause (NULL: deadline
 * exceeded); its Err is deadline exceeded either way. If parent's deadline
 * is earlier, this is goc_context_with_cancel(parent) (cause unused). */
GOC_API goc_context *goc_context_with_deadline_cause(goc_context *parent, int64_t deadline,
                                             const goc_context_error *cause);
GOC_API goc_context *goc_context_with_timeout_cause(goc_context *parent, int64_t timeout,
                                            const goc_context_error *cause);

/* Go's WithoutCancel: a child that carries parent's values but is never
 * canceled when parent is: no deadline, NULL Done, Err and Cause. Holds a
 * reference on parent. Panics as goc_context_with_cancel. */
GOC_API goc_context *goc_context_without_cancel(goc_context *parent);

/* A child carrying key -> value (compared by pointer; use the address of
 * a static object as key). Panics "nil key" if key is NULL and "cannot
 * create context from nil parent" if parent is NULL. value is borrowed. */
GOC_API goc_context *goc_context_with_value(goc_context *parent, const void *key, void *value);

/* Go's CancelFunc: cancels ctx and its descendants with "context canceled"
 * and removes ctx from its parent. Idempotent. No effect on contexts that
 * are not cancelable (goc_context_background, goc_context_todo, value
 * contexts). */
GOC_API void goc_context_cancel(goc_context *ctx);

/* Go's CancelCauseFunc: goc_context_cancel, with cause as the Cause of ctx
 * and of its descendants canceled by it (NULL: "context canceled"). Err is
 * "context canceled" either way. A context already canceled keeps its
 * first Err and Cause. */
GOC_API void goc_context_cancel_cause(goc_context *ctx, const goc_context_error *cause);

/* A channel closed when ctx is done; NULL (blocks forever) if ctx can never
 * be canceled. Owned by ctx: never close or free it. */
GOC_API goc_chan *goc_context_done(goc_context *ctx);

/* NULL while ctx is not done; afterwards the reason, which never changes. */
GOC_API const goc_context_error *goc_context_err(goc_context *ctx);

/* Go's Cause: NULL while ctx is not done (and always for
 * goc_context_background, goc_context_todo and goc_context_without_cancel's
 * contexts); afterwards the cause it was canceled with, else its Err. Never
 * changes once set. */
GOC_API const goc_context_error *goc_context_cause(goc_context *ctx);

/* Stores ctx's deadline (goc_nanotime clock) and returns true, or returns
 * false if it has none. */
GOC_API bool goc_context_deadline(goc_context *ctx, int64_t *deadline);

/* The value of the innermost goc_context_with_value for key, or NULL. */
GOC_API void *goc_context_value(goc_context *ctx, const void *key);

/* Go's context.AfterFunc: once ctx is done (at once if it is already),
 * starts fn(arg) on a goroutine of its own; never if ctx cannot be
 * canceled. arg is borrowed until fn runs or the registration is stopped.
 * Returns a handle owned by the caller. Panics "context: AfterFunc with a
 * nil function" if fn is NULL, and as goc_context_with_cancel. */
GOC_API goc_context_after *goc_context_after_func(goc_context *ctx, void (*fn)(void *arg), void *arg);

/* AfterFunc's stop: unregisters it. Returns true if this kept fn from
 * starting, false if fn has started or the registration was already
 * stopped. Does not wait for fn to finish. */
GOC_API bool goc_context_after_stop(goc_context_after *a);

/* Frees the handle (NULL: no-op). It does not stop the registration: fn
 * still starts when ctx is done, unless goc_context_after_stop was called. */
GOC_API void goc_context_after_free(goc_context_after *a);

/* Adds a reference and returns ctx. */
GOC_API goc_context *goc_context_retain(goc_context *ctx);
/* Drops a reference (NULL: no-op); the last one frees ctx. */
GOC_API void goc_context_release(goc_context *ctx);

#ifdef __cplusplus
}
#endif
#endif

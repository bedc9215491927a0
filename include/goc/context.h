/* goc/context.h: Go's context package (Go's src/context/context.go;
 * doc/go-rules.md 6): cancellation, deadlines and request-scoped values
 * carried down a tree of contexts.
 *
 * Canceling a context closes its Done channel, sets its Err, and cancels
 * every descendant; a canceled child leaves its parent's set of children.
 * A deadline later than the parent's is the parent's.
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

/* A cancelable child also canceled, with deadline exceeded, at deadline
 * (goc_nanotime clock). If parent's deadline is earlier, this is
 * goc_context_with_cancel(parent). Panics as goc_context_with_cancel. */
GOC_API goc_context *goc_context_with_deadline(goc_context *parent, int64_t deadline);
/* goc_context_with_deadline(parent, goc_nanotime() + timeout). */
GOC_API goc_context *goc_context_with_timeout(goc_context *parent, int64_t timeout);

/* A child carrying key -> value (compared by pointer; use the address of
 * a static object as key). Panics "nil key" if key is NULL and "cannot
 * create context from nil parent" if parent is NULL. value is borrowed. */
GOC_API goc_context *goc_context_with_value(goc_context *parent, const void *key, void *value);

/* Go's CancelFunc: cancels ctx and its descendants with "context canceled"
 * and removes ctx from its parent. Idempotent. No effect on contexts that
 * are not cancelable (Background, TODO, value contexts). */
GOC_API void goc_context_cancel(goc_context *ctx);

/* A channel closed when ctx is done; NULL (blocks forever) if ctx can never
 * be canceled. Owned by ctx: never close or free it. */
GOC_API goc_chan *goc_context_done(goc_context *ctx);

/* NULL while ctx is not done; afterwards the reason, which never changes. */
GOC_API const goc_context_error *goc_context_err(goc_context *ctx);

/* Stores ctx's deadline (goc_nanotime clock) and returns true, or returns
 * false if it has none. */
GOC_API bool goc_context_deadline(goc_context *ctx, int64_t *deadline);

/* The value of the innermost goc_context_with_value for key, or NULL. */
GOC_API void *goc_context_value(goc_context *ctx, const void *key);

/* Adds a reference and returns ctx. */
GOC_API goc_context *goc_context_retain(goc_context *ctx);
/* Drops a reference (NULL: no-op); the last one frees ctx. */
GOC_API void goc_context_release(goc_context *ctx);

#ifdef __cplusplus
}
#endif
#endif

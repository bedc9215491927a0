/* context.c: Go's context package (src/context/context.go, doc/go-rules.md 6).
 *
 * Six kinds share one struct: the static roots (goc_context_background and
 * goc_context_todo), cancel contexts, timer contexts (a cancel context with
 * a deadline and a core timer), value contexts, WithoutCancel's contexts (values pass through,
 * cancellation does not), and AfterFunc registrations (a cancelable node
 * that starts a function instead of closing a channel). A cancelable
 * context registers in the children list of its nearest cancelable
 * ancestor; canceling detaches that list and cancels it iteratively (a
 * work list instead of Go's recursion, so deep chains need no stack), each
 * child with the same error and cause.
 *
 * Invariants:
 *  - mu guards children, err, cause and the lazy creation of done; err,
 *    cause and done are also read without it (atomic loads), and never
 *    change once set; cause is stored before err.
 *  - A context is in at most one children list (cancel_parent's), with
 *    linked true, under cancel_parent->mu; the list holds a reference on it.
 *    A context detached by a cancel is owned (with that reference) by the
 *    canceller until its own cancel has run.
 *  - Lock order: parent's mu, then a child's mu, then a channel lock.
 *  - References: see context.h. A context is freed only when it is out of
 *    every list, its timer is not pending and no child points at it.
 *  - An AfterFunc node's af_done turns true once, under its mu, by the
 *    cancel that starts its function or by the stop that prevents it.
 */
#include "goc/context.h"

#include "sync_internal.h"

enum { CTX_BACKGROUND, CTX_TODO, CTX_CANCEL, CTX_TIMER, CTX_VALUE, CTX_WITHOUT, CTX_AFTERFUNC };

struct goc_context {
    int kind;
    int32_t refs;        /* atomic; unused by the static roots */
    goc_context *parent; /* referenced; NULL for the roots */
    /* value contexts */
    const void *key;
    void *val;
    /* cancel and timer contexts */
    goc__lock mu;                   /* guards the fields marked [mu] */
    goc_chan *done;                 /* atomic; created lazily [mu] */
    const goc_context_error *err;   /* atomic; NULL until canceled [mu] */
    const goc_context_error *cause; /* atomic; why, set with err [mu] */
    goc_context *children;          /* registered descendants [mu] */
    goc_context *sib_prev, *sib_next; /* links in cancel_parent's list */
    goc_context *cancel_parent;     /* where registered, NULL if nowhere */
    bool linked;                    /* in cancel_parent's list [parent's mu] */
    goc_context *work_next;         /* cancel work list (canceller-owned) */
    goc_context *expired_next;      /* expired-deadline list (reaper-owned) */
    /* timer contexts */
    int64_t deadline;
    const goc_context_error *deadline_cause; /* the cause when it passes; constant */
    goc__timer timer; /* fires cancel with deadline exceeded */
    bool timer_armed; /* [mu] */
    /* AfterFunc nodes */
    void (*af_fn)(void *arg); /* started on its own goroutine; constant */
    void *af_arg;             /* constant */
    bool af_done;             /* started, or stopped [mu] */
};

struct goc_context_after {
    goc_context c; /* kind CTX_AFTERFUNC */
};

const goc_context_error goc_context_canceled = {"context canceled", false, false};
const goc_context_error goc_context_deadline_exceeded = {"context deadline exceeded", true,
                                                         true};

static goc_context background_ctx = {.kind = CTX_BACKGROUND};
static goc_context todo_ctx = {.kind = CTX_TODO};

/* Done channel of contexts canceled before anyone asked for it. */
static goc_chan closedchan = {.closed = 1};

goc_context *goc_context_background(void) { return &background_ctx; }
goc_context *goc_context_todo(void) { return &todo_ctx; }

static bool is_static(const goc_context *c)
{
    return c->kind == CTX_BACKGROUND || c->kind == CTX_TODO;
}

static bool is_cancelable(const goc_context *c)
{
    return c->kind == CTX_CANCEL || c->kind == CTX_TIMER || c->kind == CTX_AFTERFUNC;
}

/* The context whose Done, Err and Cause c's are: c itself, or the nearest
 * ancestor past its value contexts. */
static goc_context *done_source(goc_context *c)
{
    while (c->kind == CTX_VALUE)
        c = c->parent;
    return c;
}

goc_context *goc_context_retain(goc_context *c)
{
    if (c != NULL && !is_static(c))
        ADD_FETCH(&c->refs, 1);
    return c;
}

void goc_context_release(goc_context *c)
{
    /* Iterative: freeing a child may free its parent, and so on. */
    while (c != NULL && !is_static(c)) {
        if (ADD_FETCH(&c->refs, -1) != 0)
            return;
        goc_context *parent = c->parent;
        goc_chan *d = c->done;
        if (d != NULL && d != &closedchan)
            goc_chan_free(d);
        goc__sync_free(c);
        c = parent;
    }
}

static goc_context *ctx_new(int kind, goc_context *parent)
{
    if (parent == NULL)
        goc_panic("cannot create context from nil parent");
    goc_context *c = goc__sync_alloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->refs = 1;
    c->parent = goc_context_retain(parent);
    c->timer.idx = -1;
    return c;
}

/* ---- accessors ------------------------------------------------------------- */

goc_chan *goc_context_done(goc_context *c)
{
    c = done_source(c);
    if (!is_cancelable(c))
        return NULL;
    goc_chan *d = LOAD_ACQ(&c->done);
    if (d != NULL)
        return d;
    goc__lock_acquire(&c->mu);
    d = c->done;
    if (d == NULL) {
        d = goc_chan_make(0, 0);
        STORE_REL(&c->done, d);
    }
    goc__lock_release(&c->mu);
    return d;
}

const goc_context_error *goc_context_err(goc_context *c)
{
    c = done_source(c);
    return is_cancelable(c) ? LOAD_ACQ(&c->err) : NULL;
}

const goc_context_error *goc_context_cause(goc_context *c)
{
    c = done_source(c);
    return is_cancelable(c) ? LOAD_ACQ(&c->cause) : NULL;
}

bool goc_context_deadline(goc_context *c, int64_t *deadline)
{
    for (; c != NULL && c->kind != CTX_WITHOUT; c = c->parent) {
        if (c->kind == CTX_TIMER) {
            *deadline = c->deadline;
            return true;
        }
    }
    return false;
}

void *goc_context_value(goc_context *c, const void *key)
{
    for (; c != NULL; c = c->parent)
        if (c->kind == CTX_VALUE && c->key == key)
            return c->val;
    return NULL;
}

/* ---- cancel ----------------------------------------------------------------- */

/* What an AfterFunc goroutine gets: copies, so the node may go at once. */
typedef struct afterfunc_call {
    void (*fn)(void *arg);
    void *arg;
} afterfunc_call;

static void afterfunc_run(void *p)
{
    afterfunc_call *call = p;
    call->fn(call->arg);
}

/* Cancels c itself and moves its children onto *work (with the list's
 * references): err, and cause (NULL: err). Returns false if c was already
 * canceled. An AfterFunc node starts its function instead of closing a
 * channel, from whatever context the cancel runs in (goc__go_any). */
static bool cancel_one(goc_context *c, const goc_context_error *err,
                       const goc_context_error *cause, goc_context **work)
{
    bool drop_timer_ref = false, start = false;
    goc__lock_acquire(&c->mu);
    if (c->err != NULL) {
        goc__lock_release(&c->mu);
        return false;
    }
    STORE_REL(&c->cause, cause != NULL ? cause : err);
    STORE_REL(&c->err, err);
    if (c->kind == CTX_AFTERFUNC) {
        start = !c->af_done;
        c->af_done = true;
    } else if (c->done == NULL) {
        STORE_REL(&c->done, &closedchan);
    } else {
        goc_chan_close(c->done);
    }
    for (goc_context *ch = c->children; ch != NULL; ch = ch->sib_next) {
        ch->linked = false;
        ch->work_next = *work;
        *work = ch;
    }
    c->children = NULL;
    if (c->timer_armed) {
        c->timer_armed = false;
        drop_timer_ref = goc__timer_del(&c->timer); /* else it is running */
    }
    goc__lock_release(&c->mu);
    if (drop_timer_ref)
        goc_context_release(c); /* the caller still holds one */
    if (start) {
        afterfunc_call call = {c->af_fn, c->af_arg};
        if (goc__go_any(afterfunc_run, &call, sizeof call) < 0)
            goc__throw("context.AfterFunc: cannot start a goroutine: out of memory");
    }
    return true;
}

/* Unlinks c from its parent's children (Go's removeChild). */
static void remove_child(goc_context *c)
{
    goc_context *p = c->cancel_parent;
    if (p == NULL)
        return;
    goc__lock_acquire(&p->mu);
    bool was = c->linked;
    if (was) {
        c->linked = false;
        if (c->sib_prev != NULL)
            c->sib_prev->sib_next = c->sib_next;
        else
            p->children = c->sib_next;
        if (c->sib_next != NULL)
            c->sib_next->sib_prev = c->sib_prev;
        c->sib_prev = c->sib_next = NULL;
    }
    goc__lock_release(&p->mu);
    if (was)
        goc_context_release(c); /* the list's reference */
}

/* Go's cancelCtx.cancel(removeFromParent, err, cause): the descendants get
 * the same err and cause. */
static void cancel_ctx(goc_context *c, bool remove_from_parent, const goc_context_error *err,
                       const goc_context_error *cause)
{
    goc_context *work = NULL;
    if (!cancel_one(c, err, cause, &work))
        return;
    if (remove_from_parent)
        remove_child(c);
    cause = LOAD_ACQ(&c->cause);
    while (work != NULL) {
        goc_context *ch = work;
        work = ch->work_next;
        ch->work_next = NULL;
        cancel_one(ch, err, cause, &work);
        goc_context_release(ch);
    }
}

void goc_context_cancel(goc_context *c)
{
    goc_context_cancel_cause(c, NULL);
}

void goc_context_cancel_cause(goc_context *c, const goc_context_error *cause)
{
    if (c != NULL && (c->kind == CTX_CANCEL || c->kind == CTX_TIMER))
        cancel_ctx(c, true, &goc_context_canceled, cause);
}

/* Go's propagateCancel: arranges for child to be canceled with parent. */
static void propagate_cancel(goc_context *parent, goc_context *child)
{
    goc_chan *done = goc_context_done(parent);
    if (done == NULL)
        return; /* parent is never canceled */
    if (goc_chan_try_recv(done, NULL, NULL)) { /* parent already done */
        cancel_ctx(child, false, goc_context_err(parent), goc_context_cause(parent));
        return;
    }
    goc_context *p = done_source(parent);
    goc__lock_acquire(&p->mu);
    const goc_context_error *perr = p->err, *pcause = p->cause;
    if (perr == NULL) {
        goc_context_retain(child);
        child->cancel_parent = p;
        child->linked = true;
        child->sib_prev = NULL;
        child->sib_next = p->children;
        if (p->children != NULL)
            p->children->sib_prev = child;
        p->children = child;
    }
    goc__lock_release(&p->mu);
    if (perr != NULL)
        cancel_ctx(child, false, perr, pcause);
}

goc_context *goc_context_with_cancel(goc_context *parent)
{
    goc_context *c = ctx_new(CTX_CANCEL, parent);
    propagate_cancel(parent, c);
    return c;
}

goc_context *goc_context_with_cancel_cause(goc_context *parent)
{
    return goc_context_with_cancel(parent);
}

/* ---- deadlines -------------------------------------------------------------- */

/* Expired deadlines are canceled by one goroutine, the reaper, not by the
 * timer callback itself: a callback may run on a thread whose parking
 * goroutine still holds a channel lock (the core runs timers while picking
 * the next G), and canceling closes Done channels. The callback pushes the
 * context on a lock-free stack and readies the reaper if it is parked. */
static goc_context *expired_head; /* atomic: stack through expired_next */
static uint32_t reaper_parked;    /* atomic: 1 while the reaper is parked */
static uint32_t reaper_started;   /* atomic: 1 once spawned */
static goc_g *reaper_g;           /* the reaper, published before parking */

static void deadline_fire(void *arg, uintptr_t seq)
{
    (void)seq;
    goc_context *c = arg; /* carries the timer's reference to the reaper */
    goc_context *h = __atomic_load_n(&expired_head, __ATOMIC_RELAXED);
    do {
        c->expired_next = h;
    } while (!__atomic_compare_exchange_n(&expired_head, &h, c, true, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    uint32_t one = 1;
    if (__atomic_compare_exchange_n(&reaper_parked, &one, 0, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
        goc__ready(reaper_g, true);
}

/* After the switch: parked unless work arrived meanwhile. */
static bool reaper_commit(goc_g *g, void *arg)
{
    (void)g;
    (void)arg;
    __atomic_store_n(&reaper_parked, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&expired_head, __ATOMIC_SEQ_CST) == NULL)
        return true;
    uint32_t one = 1;
    /* Resume unless a callback already took the wake-up (it readies us). */
    return !__atomic_compare_exchange_n(&reaper_parked, &one, 0, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
}

static void reaper(void *arg)
{
    (void)arg;
    __atomic_store_n(&reaper_g, goc__getg(), __ATOMIC_RELEASE);
    for (;;) {
        goc_context *c = __atomic_exchange_n(&expired_head, NULL, __ATOMIC_SEQ_CST);
        if (c == NULL) {
            goc__park(reaper_commit, NULL, "context deadlines");
            continue;
        }
        while (c != NULL) {
            goc_context *next = c->expired_next;
            cancel_ctx(c, true, &goc_context_deadline_exceeded, c->deadline_cause);
            goc_context_release(c); /* the timer's reference */
            c = next;
        }
    }
}

static void reaper_start(void)
{
    uint32_t zero = 0;
    if (__atomic_load_n(&reaper_started, __ATOMIC_ACQUIRE) == 0 &&
        __atomic_compare_exchange_n(&reaper_started, &zero, 1, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
        goc_go(reaper, NULL, 0);
}

goc_context *goc_context_with_deadline_cause(goc_context *parent, int64_t deadline,
                                             const goc_context_error *cause)
{
    if (parent == NULL)
        goc_panic("cannot create context from nil parent");
    int64_t cur;
    if (goc_context_deadline(parent, &cur) && cur < deadline)
        return goc_context_with_cancel(parent); /* the parent's is sooner */
    goc_context *c = ctx_new(CTX_TIMER, parent);
    c->deadline = deadline;
    c->deadline_cause = cause;
    propagate_cancel(parent, c);
    if (deadline <= goc__nanotime()) {
        cancel_ctx(c, true, &goc_context_deadline_exceeded, cause);
        return c;
    }
    reaper_start();
    goc__lock_acquire(&c->mu);
    if (c->err == NULL) {
        goc_context_retain(c);
        c->timer.f = deadline_fire;
        c->timer.arg = c;
        c->timer.when = deadline;
        c->timer_armed = true;
        goc__timer_add(&c->timer);
    }
    goc__lock_release(&c->mu);
    return c;
}

goc_context *goc_context_with_deadline(goc_context *parent, int64_t deadline)
{
    return goc_context_with_deadline_cause(parent, deadline, NULL);
}

goc_context *goc_context_with_timeout(goc_context *parent, int64_t timeout)
{
    return goc_context_with_deadline_cause(parent, goc__deadline(timeout), NULL);
}

goc_context *goc_context_with_timeout_cause(goc_context *parent, int64_t timeout,
                                            const goc_context_error *cause)
{
    return goc_context_with_deadline_cause(parent, goc__deadline(timeout), cause);
}

/* ---- WithoutCancel and AfterFunc ---------------------------------------------- */

goc_context *goc_context_without_cancel(goc_context *parent)
{
    return ctx_new(CTX_WITHOUT, parent); /* panics on NULL as the others */
}

goc_context_after *goc_context_after_func(goc_context *ctx, void (*fn)(void *arg), void *arg)
{
    if (fn == NULL)
        goc_panic("context: AfterFunc with a nil function");
    goc_context *c = ctx_new(CTX_AFTERFUNC, ctx);
    c->af_fn = fn;
    c->af_arg = arg;
    propagate_cancel(ctx, c); /* starts fn at once if ctx is done */
    return (goc_context_after *)c;
}

bool goc_context_after_stop(goc_context_after *a)
{
    goc_context *c = &a->c;
    goc__lock_acquire(&c->mu);
    bool stopped = !c->af_done;
    c->af_done = true;
    goc__lock_release(&c->mu);
    if (stopped) /* out of ctx's children: Go's stop cancels the node */
        cancel_ctx(c, true, &goc_context_canceled, NULL);
    return stopped;
}

void goc_context_after_free(goc_context_after *a)
{
    if (a != NULL)
        goc_context_release(&a->c);
}

/* ---- values ------------------------------------------------------------------- */

goc_context *goc_context_with_value(goc_context *parent, const void *key, void *value)
{
    if (parent == NULL)
        goc_panic("cannot create context from nil parent");
    if (key == NULL)
        goc_panic("nil key");
    goc_context *c = ctx_new(CTX_VALUE, parent);
    c->key = key;
    c->val = value;
    return c;
}

int goc__context_nchildren(goc_context *c)
{
    if (!is_cancelable(c))
        return 0;
    int n = 0;
    goc__lock_acquire(&c->mu);
    for (goc_context *ch = c->children; ch != NULL; ch = ch->sib_next)
        n++;
    goc__lock_release(&c->mu);
    return n;
}

int32_t goc__context_refs(goc_context *c) { return LOAD_ACQ(&c->refs); }

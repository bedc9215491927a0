/* sync_helpers.h: helpers shared by the channel, sync, context and time
 * tests: catching a panic's message, waiting until goroutines are queued on
 * a channel or semaphore, and a tiny done-counter. Include after test.h. */
#ifndef GOC_SYNC_HELPERS_H
#define GOC_SYNC_HELPERS_H

#include <goc/chan.h>
#include <goc/context.h>
#include <goc/sched.h>
#include <goc/sync.h>
#include <goc/time.h>

#include "runtime.h"
#include "sync/sync_internal.h"

#define MS (INT64_C(1000000))
#define US (INT64_C(1000))

/* Runs fn(arg) in its own body; returns the message of a panic it raised
 * (recovered), or NULL if it returned normally. */
typedef struct catch_ctx {
    void (*fn)(void *);
    void *arg;
    const char *msg;
} catch_ctx;

static void catch_recover_(void *arg)
{
    catch_ctx *c = arg;
    const goc_panic_info *pi = goc_recover();
    if (pi)
        c->msg = pi->msg;
}

static void catch_body_(void *arg)
{
    catch_ctx *c = arg;
    goc_defer(catch_recover_, c);
    c->fn(c->arg);
}

static inline const char *catch_panic(void (*fn)(void *), void *arg)
{
    catch_ctx c = {fn, arg, NULL};
    goc_call(catch_body_, &c);
    return c.msg;
}

/* Sudogs queued on q, counted under c's lock. */
static inline int waitq_len(goc_chan *c, goc__waitq *q)
{
    goc__lock_acquire(&c->lock);
    int n = 0;
    for (goc_sudog *s = q->first; s; s = s->next)
        n++;
    goc__lock_release(&c->lock);
    return n;
}

/* Sleeps in small steps until cond holds; false after 5 s. */
#define WAIT_UNTIL(cond)                                                                      \
    ({                                                                                        \
        int64_t t0_ = goc_nanotime();                                                         \
        bool ok_ = true;                                                                      \
        while (!(cond)) {                                                                     \
            if (goc_nanotime() - t0_ > 5000 * MS) {                                           \
                ok_ = false;                                                                  \
                break;                                                                        \
            }                                                                                 \
            goc_sleep(20 * US);                                                               \
        }                                                                                     \
        ok_;                                                                                  \
    })

#define WAIT_RECVQ(c, n) WAIT_UNTIL(waitq_len((c), &(c)->recvq) >= (n))
#define WAIT_SENDQ(c, n) WAIT_UNTIL(waitq_len((c), &(c)->sendq) >= (n))

static inline int64_t live_goroutines(void)
{
    goc_sched_stats st;
    goc_sched_stats_read(&st);
    return st.goroutines;
}

#endif

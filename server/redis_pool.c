/* redis_pool.c: the command connections of a Redis client (redis.h), at
 * most `size` of them, and whether Redis is up.
 *
 * Two buffered channels of capacity size hold the pool: `idle` carries
 * connections ready for a call, `slots` one token per connection that may
 * still be opened. A caller takes an idle connection, else a token (and
 * dials), else waits on both with its deadline; a connection given back
 * goes to idle, or, broken, is closed and its token returned.
 *
 * Up and down: every call's outcome is noted. A failure makes the client
 * down, bumps the generation (idle connections of older generations are
 * closed when met: they may hang as the failed one did) and doubles the
 * back-off (50 ms to 1 s); while down and within the back-off redis_get
 * fails at once, so callers get their answer (-32006 upstairs) without
 * waiting on a Redis that is known to be away. The first call after the
 * back-off tries again.
 *
 * Invariants: connections open (idle or taken) + tokens in slots == size;
 * gen only grows; fields under mu are only touched with it held.
 */
#include "redis_internal.h"

#include <errno.h>
#include <string.h>

#include <goc/malloc.h>

#include "log.h"

#define BACKOFF_MIN (50 * GOC_MILLISECOND)
#define BACKOFF_MAX (1000 * GOC_MILLISECOND)

const int64_t redis_latency_bounds_us[REDIS_LATENCY_BUCKETS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 500000, 2000000};

struct redis_client {
    redis_url url;      /* immutable */
    int size;           /* most connections open at once */
    goc_chan *idle;     /* redis_conn *, ready for a call */
    goc_chan *slots;    /* char tokens: connections that may still be dialed */
    goc_mutex mu;       /* guards everything below */
    uint64_t gen;       /* bumped by every failure */
    bool up;            /* the last outcome was a success */
    int64_t fail_ns;    /* goc_nanotime() of the last failure */
    int64_t backoff_ns; /* how long after fail_ns redis_get fails at once */
    redis_stats st;     /* the figures (st.up and st.conns are filled on read) */
};

int redis_client_new(const redis_url *u, int pool_size, redis_client **out)
{
    redis_client *cl = goc_calloc(1, sizeof *cl);
    if (!cl)
        return -ENOMEM;
    cl->url = *u;
    cl->size = pool_size > 0 ? pool_size : 1;
    cl->idle = goc_chan_make(sizeof(redis_conn *), cl->size);
    cl->slots = goc_chan_make(sizeof(char), cl->size);
    for (int i = 0; i < cl->size; i++) {
        char t = 0;
        goc_chan_try_send(cl->slots, &t);
    }
    *out = cl;
    return 0;
}

void redis_client_free(redis_client *cl)
{
    if (!cl)
        return;
    redis_conn *c;
    bool ok;
    while (goc_chan_try_recv(cl->idle, &c, &ok) && ok)
        redis_conn_close(c);
    goc_chan_free(cl->idle);
    goc_chan_free(cl->slots);
    goc_free(cl);
}

const redis_url *redis_client_url(const redis_client *cl)
{
    return &cl->url;
}

/* Caller holds mu. */
static void mark_down(redis_client *cl)
{
    cl->gen++;
    cl->up = false;
    cl->fail_ns = goc_nanotime();
    cl->backoff_ns = cl->backoff_ns ? cl->backoff_ns * 2 : BACKOFF_MIN;
    if (cl->backoff_ns > BACKOFF_MAX)
        cl->backoff_ns = BACKOFF_MAX;
}

static void mark_up(redis_client *cl)
{
    cl->up = true;
    cl->backoff_ns = 0;
}

void redis_client_note(redis_client *cl, int rc, int64_t started_ns)
{
    int64_t us = (goc_nanotime() - started_ns) / 1000;
    int b = 0;
    while (b < REDIS_LATENCY_BUCKETS && us > redis_latency_bounds_us[b])
        b++;
    goc_mutex_lock(&cl->mu);
    cl->st.calls++;
    cl->st.latency[b]++;
    cl->st.latency_sum_us += us;
    if (rc < 0) {
        cl->st.call_failures++;
        mark_down(cl);
    } else {
        mark_up(cl);
    }
    goc_mutex_unlock(&cl->mu);
}

bool redis_client_up(redis_client *cl)
{
    goc_mutex_lock(&cl->mu);
    bool up = cl->up;
    goc_mutex_unlock(&cl->mu);
    return up;
}

void redis_client_stats(redis_client *cl, redis_stats *out)
{
    goc_mutex_lock(&cl->mu);
    *out = cl->st;
    out->up = cl->up;
    goc_mutex_unlock(&cl->mu);
    out->conns = cl->size - goc_chan_len(cl->slots);
}

static void give_slot(redis_client *cl)
{
    char t = 0;
    goc_chan_try_send(cl->slots, &t);
}

/* Dials a new connection with a token already taken. */
static int dial_new(redis_client *cl, int64_t deadline, redis_conn **out)
{
    goc_mutex_lock(&cl->mu);
    uint64_t gen = cl->gen;
    cl->st.dials++;
    goc_mutex_unlock(&cl->mu);
    int rc = redis_conn_open(&cl->url, deadline, out);
    goc_mutex_lock(&cl->mu);
    if (rc) {
        cl->st.dial_failures++;
        bool was_up = cl->up || cl->st.dials == 1;
        mark_down(cl);
        goc_mutex_unlock(&cl->mu);
        give_slot(cl);
        if (was_up)
            log_warn("redis %s: %s", cl->url.addr, strerror(-rc));
        return rc;
    }
    (*out)->gen = gen;
    mark_up(cl);
    goc_mutex_unlock(&cl->mu);
    return 0;
}

/* True (and the connection closed, its token back) if c is from before
 * the last failure. */
static bool drop_if_stale(redis_client *cl, redis_conn *c)
{
    goc_mutex_lock(&cl->mu);
    bool stale = c->gen != cl->gen;
    goc_mutex_unlock(&cl->mu);
    if (stale) {
        redis_conn_close(c);
        give_slot(cl);
    }
    return stale;
}

int redis_get(redis_client *cl, int64_t deadline, redis_conn **out)
{
    for (;;) {
        redis_conn *c;
        bool ok;
        if (goc_chan_try_recv(cl->idle, &c, &ok)) {
            if (drop_if_stale(cl, c))
                continue;
            *out = c;
            return 0;
        }
        int64_t now = goc_nanotime();
        goc_mutex_lock(&cl->mu);
        bool wait_out = !cl->up && cl->fail_ns && now < cl->fail_ns + cl->backoff_ns;
        goc_mutex_unlock(&cl->mu);
        if (wait_out)
            return -ENOTCONN;
        char t;
        if (goc_chan_try_recv(cl->slots, &t, &ok))
            return dial_new(cl, deadline, out);
        if (now >= deadline)
            return -ETIMEDOUT;
        goc_timer *timer = goc_timer_new(deadline - now);
        goc_select_case cases[] = {
            {.c = cl->idle, .dir = GOC_SELECT_RECV, .elem = &c},
            {.c = cl->slots, .dir = GOC_SELECT_RECV, .elem = &t},
            {.c = goc_timer_chan(timer), .dir = GOC_SELECT_RECV},
        };
        int which = goc_select(cases, 3, true);
        goc_timer_free(timer);
        if (which == 2)
            return -ETIMEDOUT;
        if (which == 1)
            return dial_new(cl, deadline, out);
        if (!drop_if_stale(cl, c)) {
            *out = c;
            return 0;
        }
    }
}

void redis_put(redis_client *cl, redis_conn *c)
{
    if (!c)
        return;
    if (redis_conn_broken(c)) {
        redis_conn_close(c);
        give_slot(cl);
        return;
    }
    if (!drop_if_stale(cl, c))
            goc_chan_try_send(cl->idle, &c); /* always room: one place per connection */
}

int redis_client_do(redis_client *cl, int64_t deadline, const redis_script *script, int nkeys,
                    int argc, const char *const *argv, const size_t *lens, redis_reply_fn fn,
                    void *arg)
{
    int64_t t0 = goc_nanotime();
    redis_conn *c;
    int rc = redis_get(cl, deadline, &c);
    if (rc)
        return rc;
    redis_reply r;
    rc = script ? redis_eval(c, deadline, script, nkeys, argc, argv, lens, &r)
                : redis_call(c, deadline, argc, argv, lens, &r);
    redis_client_note(cl, rc, t0);
    if (rc == 0 && fn)
        rc = fn(arg, &r);
    redis_put(cl, c);
    return rc;
}

/* netpoll.h: the netpoller's private interface (netpoll.c), used by tcp.c.
 *
 * A goc__pollfd is one descriptor known to the poller. A goroutine that
 * got EAGAIN parks on it as its reader (rg) or writer (wg); the libuv loop,
 * run by whichever M is polling, arms a uv_poll_t for the events that have
 * waiters and readies them when the descriptor is ready. Deadline timers
 * and cancellation wake them too, with an error.
 *
 * Invariants:
 *  - lock guards rg, wg, rerr, werr, queued, closing and the deadline
 *    state; `poll` and `armed` are touched only by the thread running the
 *    loop.
 *  - A pollfd is freed only by the loop, after uv_close completed, once its
 *    last reference is gone.
 */
#ifndef GOC_NETPOLL_H
#define GOC_NETPOLL_H

#include <uv.h>

#include "runtime.h"

typedef struct goc__pollfd goc__pollfd;

struct goc__pollfd {
    int fd;
    goc__lock lock;
    goc_g *rg, *wg;   /* parked reader / writer */
    int rerr, werr;   /* why they were woken: 0 ready, or a negative errno */
    bool rexpired, wexpired; /* the deadline has passed */
    bool closing;     /* closed: every wait returns -EBADF */
    bool canceled;    /* its context is done: every call returns -ECANCELED */
    bool queued;      /* on the arm queue */
    _Atomic int refs; /* the owner's, plus one per call in progress */
    uintptr_t rgen, wgen; /* bumped by each deadline set: older firings are stale */
    goc__timer rtimer, wtimer; /* an armed one holds a reference */
    int armed;        /* UV_READABLE|UV_WRITABLE started (loop only) */
    bool poll_inited; /* uv_poll_init done (loop only) */
    bool close_req;   /* the loop should close it (last reference gone) */
    uv_poll_t poll;
    goc__pollfd *qnext; /* arm queue link */
};

/* Makes a pollfd for a non-blocking descriptor (refs = 1), in a zeroed
 * block of size bytes (>= sizeof(goc__pollfd)) that starts with it. NULL:
 * ENOMEM. */
goc__pollfd *goc__pollfd_new(int fd, size_t size);

/* Parks until the descriptor is readable (mode 'r') or writable ('w').
 * Returns 0 when ready, -ETIMEDOUT, -ECANCELED or -EBADF. */
int goc__pollfd_wait(goc__pollfd *pd, int mode);

/* Takes a reference for a call; false if the pollfd is closing. */
bool goc__pollfd_acquire(goc__pollfd *pd);
/* Drops a reference; the last one hands the descriptor to the loop to be
 * closed and freed. */
void goc__pollfd_release(goc__pollfd *pd);

/* Wakes both waiters with err (-EBADF when closing, -ECANCELED); sticky
 * marks the pollfd so later calls fail with err too. */
void goc__pollfd_wake(goc__pollfd *pd, int err, bool closing);
void goc__pollfd_cancel(goc__pollfd *pd);

/* Sets the read ('r') or write ('w') deadline (0: none). */
void goc__pollfd_set_deadline(goc__pollfd *pd, int mode, int64_t deadline);

/* Whether the deadline of mode has passed (-ETIMEDOUT then). */
int goc__pollfd_check(goc__pollfd *pd, int mode);

void goc__net_init(void);

extern _Atomic int64_t goc__netpoll_nwait;

#endif

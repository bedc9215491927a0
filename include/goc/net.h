/* goc/net.h: goroutine-blocking TCP on the runtime's netpoller (libuv).
 *
 * Every call that waits parks only the calling goroutine: the socket is
 * non-blocking, the goroutine does its own read/write/accept, and only on
 * EAGAIN does it park until libuv reports the descriptor ready. No OS
 * thread ever blocks on a socket.
 *
 * Addresses are "HOST:PORT" with a numeric IPv4 host, "[IPv6]:PORT", or
 * "localhost:PORT"; port 0 asks the kernel for a free port.
 *
 * Errors are negative errno values. A read or write past its deadline
 * returns -ETIMEDOUT (and keeps doing so until the deadline is moved); one
 * interrupted by goc_conn_cancel returns -ECANCELED; one on a connection
 * closed by goc_conn_close returns -EBADF.
 *
 * Ownership: a goc_conn or goc_listener belongs to whoever created it and
 * is freed by its close call; other goroutines blocked in it are woken and
 * their calls return -EBADF before the memory goes away.
 */
#ifndef GOC_NET_H
#define GOC_NET_H

#include "goc/api.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_conn goc_conn;
typedef struct goc_listener goc_listener;

/* Listens on addr. Returns 0, or -EINVAL (bad address), -EADDRINUSE,
 * -EACCES, ... from socket/bind/listen. *out is set on success only. */
GOC_API int goc_listen_tcp(const char *addr, int backlog, goc_listener **out);

/* Waits for a connection. 0 and *out set, or -EBADF once the listener is
 * closed, -EMFILE/-ENFILE when out of descriptors, other accept errors. */
GOC_API int goc_accept(goc_listener *l, goc_conn **out);

/* Wakes goroutines blocked in goc_accept (-EBADF) and frees l. */
GOC_API int goc_listener_close(goc_listener *l);

/* Stops l without freeing it: goc_accept calls, blocked or later, return
 * -EBADF. Lets one goroutine stop another's accept loop, which then calls
 * goc_listener_close itself. Callable until that close. */
GOC_API void goc_listener_shutdown(goc_listener *l);

/* The bound address as "HOST:PORT" (the real port when 0 was asked). */
GOC_API int goc_listener_addr(goc_listener *l, char *buf, size_t len);

/* Connects to addr, waiting at most timeout_ns (<= 0: no limit).
 * -ETIMEDOUT, -ECONNREFUSED, -EINVAL (bad address), ... */
GOC_API int goc_dial_tcp(const char *addr, int64_t timeout_ns, goc_conn **out);

/* Reads up to len bytes: the count (> 0), 0 at end of stream, or a
 * negative errno. */
GOC_API ssize_t goc_conn_read(goc_conn *c, void *buf, size_t len);

/* As goc_conn_read, but never waits: -EAGAIN when no byte is there yet. */
GOC_API ssize_t goc_conn_read_nowait(goc_conn *c, void *buf, size_t len);

/* Waits until c has bytes to read (or the peer closed: the next read then
 * returns 0), without taking any: 0, or a negative errno as goc_conn_read.
 * Lets a connection hold no read buffer while it is idle. */
GOC_API int goc_conn_wait_read(goc_conn *c);

/* Writes all len bytes: len, or a negative errno (-EPIPE, -ECONNRESET,
 * -ETIMEDOUT, ...) after which an unknown prefix may have been sent. */
GOC_API ssize_t goc_conn_write(goc_conn *c, const void *buf, size_t len);

/* Deadlines on goc_nanotime()'s clock; 0 removes the deadline. */
GOC_API int goc_conn_set_read_deadline(goc_conn *c, int64_t deadline);
GOC_API int goc_conn_set_write_deadline(goc_conn *c, int64_t deadline);

/* Wakes a goroutine blocked in read or write on c: its call returns
 * -ECANCELED. Later calls block as usual. */
GOC_API void goc_conn_cancel(goc_conn *c);

struct goc_context;

/* Ties c to ctx: once ctx is done, blocked and later reads and writes on c
 * return -ECANCELED. One context per connection (-EBUSY for a second);
 * ctx is retained until c is closed. Costs one parked goroutine. */
GOC_API int goc_conn_set_context(goc_conn *c, struct goc_context *ctx);

/* Half-close: no more writes (the peer reads end of stream). */
GOC_API int goc_conn_close_write(goc_conn *c);

/* Closes c and frees it (see Ownership above). */
GOC_API int goc_conn_close(goc_conn *c);

GOC_API int goc_conn_local_addr(goc_conn *c, char *buf, size_t len);
GOC_API int goc_conn_remote_addr(goc_conn *c, char *buf, size_t len);

/* The descriptor, for setsockopt and the like; never read or close it. */
GOC_API int goc_conn_fd(goc_conn *c);

/* Network statistics. */
typedef struct goc_net_stats {
    int64_t waiters;  /* goroutines parked on I/O */
    uint64_t polls;   /* loop iterations */
    uint64_t parks;   /* waits that parked */
    int64_t conns;    /* open connections */
} goc_net_stats;

GOC_API void goc_net_stats_read(goc_net_stats *out);

/* Blocks the calling goroutine until one of the n signals in sigs arrives,
 * and returns it (or -EINVAL for a bad signal number). The signals are
 * handled by the runtime from the first call on (their default action no
 * longer applies); one that arrives with nobody waiting is kept for the
 * next wait. */
GOC_API int goc_signal_wait(const int *sigs, int n);

/* Makes the runtime handle sigs from now on, without waiting: a signal
 * that arrives before goc_signal_wait is kept for it. Returns 0 or
 * -EINVAL. */
GOC_API int goc_signal_watch(const int *sigs, int n);

#ifdef __cplusplus
}
#endif
#endif

/* tcp.c: goroutine-blocking TCP (goc/net.h) over the netpoller.
 *
 * A goc_conn and a goc_listener are a goc__pollfd: every call takes a
 * reference for its duration, so a close from another goroutine wakes the
 * call (-EBADF) without freeing memory under it; the loop closes the
 * descriptor and frees it once the last reference is gone.
 */
#include "goc/net.h"
#include "goc/chan.h"
#include "goc/context.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <unistd.h>

#include "netpoll.h"

struct goc_conn {
    goc__pollfd pd; /* first: a goc_conn is its pollfd */
    goc_chan *ctx_stop;       /* closed by goc_conn_close: the watcher exits */
    struct goc_context *ctx;  /* bound by goc_conn_set_context, retained */
    _Atomic int ctx_state;    /* 0 both busy, 1 the close is done, 2 the watcher is done:
                                 whoever comes second frees ctx_stop */
};

struct goc_listener {
    goc__pollfd pd;
};

/* Parses "HOST:PORT", "[V6]:PORT" or "localhost:PORT". */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1])
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -EINVAL;
    char host[64];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, hl);
    host[hl] = 0;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -EINVAL;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof *s6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -EINVAL;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof *s4;
    return 0;
}

static int format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    int port;
    int n;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        n = snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        n = snprintf(buf, len, "%s:%d", host, port);
    }
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static int sock_addr(int fd, bool peer, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                  : getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (rc != 0)
        return -errno;
    return format_addr(&ss, buf, len);
}

/* After a failed call on pd: 0 to call again (interrupted, or pd became
 * ready after parking), or the negative errno to return. errno is read
 * here, before the yield point. */
static int after_failure(goc__pollfd *pd, int mode)
{
    int e = errno;
    if (e == EINTR)
        return 0;
    if (e != EAGAIN && e != EWOULDBLOCK)
        return -e;
    return goc__pollfd_wait(pd, mode);
}

/* ---- listening ------------------------------------------------------------------- */

int goc_listen_tcp(const char *addr, int backlog, goc_listener **out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = parse_addr(addr, &ss, &sl);
    if (rc)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
        listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    goc__pollfd *pd = goc__pollfd_new(fd, sizeof(goc_listener));
    if (!pd) {
        close(fd);
        return -ENOMEM;
    }
    *out = (goc_listener *)pd;
    return 0;
}

int goc_accept(goc_listener *l, goc_conn **out)
{
    goc__pollfd *pd = &l->pd;
    if (!goc__pollfd_acquire(pd))
        return -EBADF;
    int rc;
    for (;;) {
        int fd = accept4(pd->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            goc__pollfd *cpd = goc__pollfd_new(fd, sizeof(goc_conn));
            if (!cpd) {
                close(fd);
                rc = -ENOMEM;
                break;
            }
            *out = (goc_conn *)cpd;
            rc = 0;
            break;
        }
        if (errno == ECONNABORTED)
            continue;
        rc = after_failure(pd, 'r');
        if (rc)
            break;
    }
    goc__pollfd_release(pd);
    return rc;
}

int goc_listener_close(goc_listener *l)
{
    goc__pollfd_wake(&l->pd, -EBADF, true);
    goc__pollfd_release(&l->pd);
    return 0;
}

void goc_listener_shutdown(goc_listener *l)
{
    goc__pollfd_wake(&l->pd, -EBADF, true);
}

int goc_listener_addr(goc_listener *l, char *buf, size_t len)
{
    return sock_addr(l->pd.fd, false, buf, len);
}

/* ---- dialing ---------------------------------------------------------------------- */

int goc_dial_tcp(const char *addr, int64_t timeout_ns, goc_conn **out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = parse_addr(addr, &ss, &sl);
    if (rc)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    goc__pollfd *pd = goc__pollfd_new(fd, sizeof(goc_conn));
    if (!pd) {
        close(fd);
        return -ENOMEM;
    }
    rc = 0;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
        } else {
            if (timeout_ns > 0)
                goc__pollfd_set_deadline(pd, 'w', goc__deadline(timeout_ns));
            rc = goc__pollfd_wait(pd, 'w');
            if (rc == 0) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
                rc = -err;
            }
            goc__pollfd_set_deadline(pd, 'w', 0);
        }
    }
    if (rc) {
        goc__pollfd_release(pd);
        return rc;
    }
    *out = (goc_conn *)pd;
    return 0;
}

/* ---- reading and writing ------------------------------------------------------------ */

/* The one receive loop of a connection: recv with flags; on EAGAIN park
 * until readable (wait) or give -EAGAIN back at once (!wait). The count,
 * 0 at end of stream, or a negative errno. */
static ssize_t conn_recv(goc_conn *c, void *buf, size_t len, int flags, bool wait)
{
    goc__pollfd *pd = &c->pd;
    if (!goc__pollfd_acquire(pd))
        return -EBADF;
    ssize_t rc;
    for (;;) {
        rc = goc__pollfd_check(pd, 'r');
        if (rc)
            break;
        rc = recv(pd->fd, buf, len, flags);
        if (rc >= 0)
            break;
        if (!wait && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = -EAGAIN;
            break;
        }
        rc = after_failure(pd, 'r');
        if (rc)
            break;
    }
    goc__pollfd_release(pd);
    return rc;
}

ssize_t goc_conn_read(goc_conn *c, void *buf, size_t len)
{
    ssize_t rc = conn_recv(c, buf, len, 0, true);
    if (rc >= 0)
        goc__preempt_check(); /* a peer that always has data must not hog the P */
    return rc;
}

ssize_t goc_conn_read_nowait(goc_conn *c, void *buf, size_t len)
{
    return conn_recv(c, buf, len, 0, false);
}

int goc_conn_wait_read(goc_conn *c)
{
    char b; /* a byte, or end of stream, is there: taken by no one */
    ssize_t rc = conn_recv(c, &b, 1, MSG_PEEK, true);
    return rc < 0 ? (int)rc : 0;
}

ssize_t goc_conn_write(goc_conn *c, const void *buf, size_t len)
{
    goc__pollfd *pd = &c->pd;
    if (!goc__pollfd_acquire(pd))
        return -EBADF;
    size_t done = 0;
    ssize_t rc = 0;
    while (done < len) {
        rc = goc__pollfd_check(pd, 'w');
        if (rc)
            break;
        ssize_t n = send(pd->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        rc = after_failure(pd, 'w');
        if (rc)
            break;
    }
    goc__pollfd_release(pd);
    if (rc >= 0)
        goc__preempt_check();
    return rc < 0 ? rc : (ssize_t)len;
}

int goc_conn_set_read_deadline(goc_conn *c, int64_t deadline)
{
    goc__pollfd_set_deadline(&c->pd, 'r', deadline);
    return 0;
}

int goc_conn_set_write_deadline(goc_conn *c, int64_t deadline)
{
    goc__pollfd_set_deadline(&c->pd, 'w', deadline);
    return 0;
}

void goc_conn_cancel(goc_conn *c)
{
    goc__pollfd_wake(&c->pd, -ECANCELED, false);
}

int goc_conn_close_write(goc_conn *c)
{
    return shutdown(c->pd.fd, SHUT_WR) == 0 ? 0 : -errno;
}

/* Waits for the context or the connection's close; holds a reference on
 * the connection meanwhile. */
static void ctx_watcher(void *arg)
{
    goc_conn *c = *(goc_conn **)arg;
    goc_select_case cases[2] = {
        {.c = goc_context_done(c->ctx), .dir = GOC_SELECT_RECV},
        {.c = c->ctx_stop, .dir = GOC_SELECT_RECV},
    };
    if (goc_select(cases, 2, true) == 0)
        goc__pollfd_cancel(&c->pd);
    goc_context_release(c->ctx);
    if (atomic_exchange(&c->ctx_state, 2) == 1)
        goc_chan_free(c->ctx_stop);
    goc__pollfd_release(&c->pd);
}

int goc_conn_set_context(goc_conn *c, struct goc_context *ctx)
{
    if (c->ctx)
        return -EBUSY;
    if (!goc_context_done(ctx))
        return 0; /* never canceled: nothing to watch */
    if (!goc__pollfd_acquire(&c->pd))
        return -EBADF;
    c->ctx_stop = goc_chan_make(0, 0);
    c->ctx = goc_context_retain(ctx);
    if (goc_go(ctx_watcher, &c, sizeof c) < 0) {
        goc_chan_free(c->ctx_stop);
        goc_context_release(c->ctx);
        c->ctx = NULL;
        c->ctx_stop = NULL;
        goc__pollfd_release(&c->pd);
        return -ENOMEM;
    }
    return 0;
}

int goc_conn_close(goc_conn *c)
{
    goc__pollfd_wake(&c->pd, -EBADF, true);
    if (c->ctx_stop) {
        /* Close first (the channel is alive until both sides are done),
         * then whoever comes second frees it. */
        goc_chan_close(c->ctx_stop);
        if (atomic_exchange(&c->ctx_state, 1) == 2)
            goc_chan_free(c->ctx_stop);
    }
    goc__pollfd_release(&c->pd);
    return 0;
}

int goc_conn_local_addr(goc_conn *c, char *buf, size_t len)
{
    return sock_addr(c->pd.fd, false, buf, len);
}

int goc_conn_remote_addr(goc_conn *c, char *buf, size_t len)
{
    return sock_addr(c->pd.fd, true, buf, len);
}

int goc_conn_fd(goc_conn *c)
{
    return c->pd.fd;
}

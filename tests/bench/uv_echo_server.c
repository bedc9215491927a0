/* uv_echo_server.c: the libuv peer of the framed_echo benchmark (issue 5):
 * a callback-only framed-TCP echo server in plain C on libuv, one loop on
 * one thread, as a libuv program is written.
 *
 *   uv_echo_server HOST:PORT
 *
 * Each connection gathers the bytes it reads in its own buffer; every read
 * callback walks the whole frames there (4-byte big-endian length, then the
 * payload), copies each into one write request and sends it with one
 * uv_write; the incomplete tail stays for the next read (frames split
 * across reads or coalesced in one are both handled). A zero-length frame is
 * a heartbeat and gets no reply; a frame over 1 MiB closes the connection.
 * Prints "listening tcp ADDR" once it accepts.
 *
 * Invariants: in_len <= in_cap; in[0..in_len) begins at a frame boundary;
 * a write request owns its bytes until its callback frees them.
 */
#include <uv.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAME (1u << 20)
#define READ_ROOM 16384 /* free bytes offered to each read */

typedef struct client {
    uv_tcp_t tcp;  /* first, so a handle pointer is a client pointer */
    char *in;      /* bytes read, not yet whole frames; malloc'd */
    size_t in_len; /* valid bytes at in */
    size_t in_cap; /* bytes allocated at in */
} client;

typedef struct wreq {
    uv_write_t req; /* first, so a request pointer is a wreq pointer */
    uv_buf_t buf;   /* the echoed frames, freed with the request */
} wreq;

static uv_loop_t *loop;

static void on_close(uv_handle_t *h)
{
    client *cl = (client *)h;
    free(cl->in);
    free(cl);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    client *cl = (client *)h;
    if (cl->in_cap - cl->in_len < READ_ROOM) {
        size_t cap = cl->in_cap ? cl->in_cap * 2 : 2 * READ_ROOM;
        while (cap - cl->in_len < READ_ROOM)
            cap *= 2;
        char *p = realloc(cl->in, cap);
        if (!p) {
            *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
            return;
        }
        cl->in = p;
        cl->in_cap = cap;
    }
    *buf = uv_buf_init(cl->in + cl->in_len, (unsigned)(cl->in_cap - cl->in_len));
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    wreq *w = (wreq *)req;
    free(w->buf.base);
    free(w);
}

/* Length of the whole frames at the start of p[0..n), with the payload
 * bytes (heartbeats excluded) in *echo_len; -1 for a frame over MAX_FRAME. */
static long whole_frames(const uint8_t *p, size_t n, size_t *echo_len)
{
    size_t off = 0;
    *echo_len = 0;
    while (n - off >= 4) {
        uint32_t len = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
                       (uint32_t)p[off + 2] << 8 | p[off + 3];
        if (len > MAX_FRAME)
            return -1;
        if (n - off < 4 + (size_t)len)
            break;
        if (len > 0)
            *echo_len += 4 + len;
        off += 4 + len;
    }
    return (long)off;
}

/* Copies the non-heartbeat frames of p[0..n) (all whole) into out. */
static void copy_frames(const uint8_t *p, size_t n, char *out)
{
    size_t off = 0;
    while (off < n) {
        size_t len = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 |
                     p[off + 3];
        if (len > 0) {
            memcpy(out, p + off, 4 + len);
            out += 4 + len;
        }
        off += 4 + len;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    client *cl = (client *)s;
    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    cl->in_len += (size_t)nread;
    size_t echo_len;
    long whole = whole_frames((const uint8_t *)cl->in, cl->in_len, &echo_len);
    if (whole < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (echo_len > 0) {
        wreq *w = malloc(sizeof *w);
        char *data = malloc(echo_len);
        if (!w || !data) {
            free(w);
            free(data);
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
        copy_frames((const uint8_t *)cl->in, (size_t)whole, data);
        w->buf = uv_buf_init(data, (unsigned)echo_len);
        if (uv_write(&w->req, s, &w->buf, 1, on_written) < 0) {
            free(data);
            free(w);
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
    }
    memmove(cl->in, cl->in + whole, cl->in_len - (size_t)whole);
    cl->in_len -= (size_t)whole;
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return;
    uv_tcp_init(loop, &cl->tcp);
    if (uv_accept(server, (uv_stream_t *)&cl->tcp) < 0) {
        uv_close((uv_handle_t *)&cl->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&cl->tcp, 1);
    uv_read_start((uv_stream_t *)&cl->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: uv_echo_server HOST:PORT\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host) {
        fprintf(stderr, "uv_echo_server: bad address %s\n", argv[1]);
        return 2;
    }
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = 0;
    struct sockaddr_in sa;
    if (uv_ip4_addr(host, atoi(colon + 1), &sa) < 0) {
        fprintf(stderr, "uv_echo_server: bad address %s\n", argv[1]);
        return 2;
    }
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (rc < 0) {
        fprintf(stderr, "uv_echo_server: cannot listen on %s: %s\n", argv[1], uv_strerror(rc));
        return 2;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    char ip[64];
    uv_ip4_name((const struct sockaddr_in *)&bound, ip, sizeof ip);
    printf("listening tcp %s:%d\n", ip, ntohs(((struct sockaddr_in *)&bound)->sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* goc_echo_server.c: our side of the framed_echo benchmark (issue 5): a
 * framed-TCP echo server on our runtime, the same program shape as the Go
 * peer (tests/bench/go/framed_echo_server -mode raw), so the two compare the
 * runtimes, not the servers.
 *
 *   goc_echo_server HOST:PORT
 *
 * A goroutine per connection reads bytes, decodes frames as they come
 * (split or coalesced, proto/frame.h) and sends every frame back unchanged;
 * the replies to one read leave in one write. A zero-length frame is a
 * heartbeat and gets no reply; a frame over 1 MiB closes the connection.
 * Prints "listening tcp ADDR" once it accepts.
 *
 * Invariant: out.len is 0 between reads; out.cap stays at most what the
 * largest read's replies needed.
 */
#include <goc/goc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define READ_BUF 16384

/* A growable output buffer: the replies to one read. */
typedef struct outbuf {
    uint8_t *data; /* malloc'd, may be NULL */
    size_t len;    /* bytes queued */
    size_t cap;    /* bytes allocated */
} outbuf;

/* Appends one frame (header and payload). 0 or -ENOMEM. */
static int out_frame(outbuf *o, const frame_t *fr)
{
    size_t need = o->len + FRAME_HEADER_SIZE + fr->len;
    if (need > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *d = realloc(o->data, cap);
        if (!d)
            return -ENOMEM;
        o->data = d;
        o->cap = cap;
    }
    frame_header_encode(o->data + o->len, fr->len);
    memcpy(o->data + o->len + FRAME_HEADER_SIZE, fr->data, fr->len);
    o->len = need;
    return 0;
}

/* Decodes the n bytes read into frames and queues their echoes.
 * 0, or a negative errno when the connection must close. */
static int echo_bytes(frame_decoder_t *dec, const uint8_t *p, size_t n, outbuf *o)
{
    while (n > 0) {
        size_t used;
        frame_t fr;
        int rc = frame_decoder_decode(dec, p, n, &used, &fr);
        p += used;
        n -= used;
        if (rc < 0)
            return rc;
        if (rc == FRAME_PAYLOAD && out_frame(o, &fr) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void conn_main(void *arg)
{
    goc_conn *c = *(goc_conn **)arg;
    frame_decoder_t dec;
    frame_decoder_init(&dec, FRAME_DEFAULT_MAX);
    outbuf o = {0};
    uint8_t *buf = malloc(READ_BUF);
    while (buf) {
        ssize_t n = goc_conn_read(c, buf, READ_BUF);
        if (n <= 0 || echo_bytes(&dec, buf, (size_t)n, &o) < 0)
            break;
        if (o.len && goc_conn_write(c, o.data, o.len) < 0)
            break;
        o.len = 0;
    }
    free(buf);
    free(o.data);
    frame_decoder_free(&dec);
    goc_conn_close(c);
}

GOC_MAIN(argc, argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: goc_echo_server HOST:PORT\n");
        return 2;
    }
    goc_listener *l;
    int rc = goc_listen_tcp(argv[1], 1024, &l);
    if (rc) {
        fprintf(stderr, "goc_echo_server: cannot listen on %s: %s\n", argv[1], strerror(-rc));
        return 2;
    }
    char bound[64];
    goc_listener_addr(l, bound, sizeof bound);
    printf("listening tcp %s\n", bound);
    fflush(stdout);
    for (;;) {
        goc_conn *c;
        rc = goc_accept(l, &c);
        if (rc == -EMFILE || rc == -ENFILE) {
            goc_sleep(10 * 1000000); /* out of descriptors: back off */
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "goc_echo_server: accept: %s\n", strerror(-rc));
            return 1;
        }
        if (goc_go(conn_main, &c, sizeof c) < 0)
            goc_conn_close(c);
    }
}

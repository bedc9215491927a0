/* goc_echo_server.c: our side of the framed_echo benchmark (issue 5): a
 * framed-TCP echo server on our runtime, the same program shape as the Go
 * peer (tests/bench/go/framed_echo_server -mode raw), so the two compare the
 * runtimes, not the servers.
 *
 *   goc_echo_server [--tls CERT KEY] HOST:PORT
 *
 * A goroutine per connection reads bytes, decodes frames as they come
 * (split or coalesced, proto/frame.h) and sends every frame back unchanged;
 * the replies to one read leave in one write. A zero-length frame is a
 * heartbeat and gets no reply; a frame over 1 MiB closes the connection.
 * Prints "listening tcp ADDR" once it accepts.
 *
 * --tls (issue 7) serves the same frames over TLS (proto/tls.h, mbedtls
 * 2.28, so TLS 1.2) with the PEM certificate chain and key given, as the Go
 * peer's -cert/-key mode does: each connection's goroutine runs the
 * handshake first, with a 10 s deadline, then echoes plaintext. The first
 * session's version and suite go to stderr once.
 *
 * Invariant: out.len is 0 between reads; out.cap stays at most what the
 * largest read's replies needed. A session's tls is NULL in plain mode.
 */
#include <goc/goc.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "tls.h"

#define READ_BUF 16384
#define HANDSHAKE_TIMEOUT_NS (10 * 1000000000LL)

/* The server's TLS configuration; NULL without --tls. Set before the first
 * accept, read-only afterwards. */
static goc_tls_config *tls_cfg;

/* One connection, plain or TLS. */
typedef struct session {
    goc_conn *conn; /* owned: closed when the session ends */
    goc_tls *tls;   /* owned, NULL in plain mode or before the handshake */
} session;

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

static ssize_t session_read(session *s, void *buf, size_t len)
{
    return s->tls ? goc_tls_read(s->tls, buf, len) : goc_conn_read(s->conn, buf, len);
}

static ssize_t session_write(session *s, const void *buf, size_t len)
{
    return s->tls ? goc_tls_write(s->tls, buf, len) : goc_conn_write(s->conn, buf, len);
}

/* Runs the TLS handshake on s when the server has --tls. 0 or a negative
 * errno (the connection must then close). */
static int session_start(session *s)
{
    static atomic_flag reported = ATOMIC_FLAG_INIT;
    if (!tls_cfg)
        return 0;
    int rc = goc_tls_accept(tls_cfg, s->conn, goc_nanotime() + HANDSHAKE_TIMEOUT_NS, &s->tls);
    if (rc < 0)
        return rc;
    if (!atomic_flag_test_and_set(&reported))
        fprintf(stderr, "goc_echo_server: %s %s\n", goc_tls_version(s->tls),
                goc_tls_suite(s->tls));
    return 0;
}

static void conn_main(void *arg)
{
    session s = {.conn = *(goc_conn **)arg};
    frame_decoder_t dec;
    frame_decoder_init(&dec, FRAME_DEFAULT_MAX);
    outbuf o = {0};
    uint8_t *buf = malloc(READ_BUF);
    if (session_start(&s) < 0)
        goto done;
    while (buf) {
        ssize_t n = session_read(&s, buf, READ_BUF);
        if (n <= 0 || echo_bytes(&dec, buf, (size_t)n, &o) < 0)
            break;
        if (o.len && session_write(&s, o.data, o.len) < 0)
            break;
        o.len = 0;
    }
done:
    if (s.tls)
        goc_tls_free(s.tls);
    free(buf);
    free(o.data);
    frame_decoder_free(&dec);
    goc_conn_close(s.conn);
}

/* Loads --tls CERT KEY into tls_cfg. 0, or 2 (the exit status) with the
 * reason printed. */
static int load_tls(const char *cert, const char *key)
{
    char err[256];
    int rc = goc_tls_server_config(cert, key, &tls_cfg, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "goc_echo_server: %s\n", err);
        return 2;
    }
    return 0;
}

GOC_MAIN(argc, argv)
{
    if (argc == 5 && strcmp(argv[1], "--tls") == 0) {
        if (load_tls(argv[2], argv[3]))
            return 2;
    } else if (argc != 2) {
        fprintf(stderr, "usage: goc_echo_server [--tls CERT KEY] HOST:PORT\n");
        return 2;
    }
    const char *addr = argv[argc - 1];
    goc_listener *l;
    int rc = goc_listen_tcp(addr, 1024, &l);
    if (rc) {
        fprintf(stderr, "goc_echo_server: cannot listen on %s: %s\n", addr, strerror(-rc));
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

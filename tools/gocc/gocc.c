/* gocc: a framed-TCP client for gocd. Reads JSON lines on stdin and sends
 * each as one frame; prints each frame it receives as one line. At the end
 * of stdin it half-closes and prints what still arrives until the server
 * closes.
 *
 *   gocc [--addr HOST:PORT] [--max-frame BYTES] [--tls [--cacert PEM]]
 *   echo '{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}' | gocc
 *
 * The address defaults to 127.0.0.1:7000. --tls speaks framed TCP inside
 * TLS (gocd --tcp-tls); --cacert verifies the server's certificate for the
 * name "localhost" (without it nothing is verified: for development only).
 */
#include <goc/goc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "tls.h"

typedef struct client {
    goc_conn *conn;
    goc_tls *tls;   /* NULL: plain TCP */
    size_t max_frame;
    goc_chan *done; /* closed when the receiver stops */
} client;

static void receiver(void *arg)
{
    client *cl = *(client **)arg;
    frame_decoder_t dec;
    frame_decoder_init(&dec, cl->max_frame);
    char buf[16384];
    for (;;) {
        ssize_t n = cl->tls ? goc_tls_read(cl->tls, buf, sizeof buf)
                            : goc_conn_read(cl->conn, buf, sizeof buf);
        if (n <= 0)
            break;
        const char *p = buf;
        size_t left = (size_t)n;
        while (left) {
            size_t used;
            frame_t fr;
            int rc = frame_decoder_decode(&dec, p, left, &used, &fr);
            p += used;
            left -= used;
            if (rc == FRAME_PAYLOAD) {
                fwrite(fr.data, 1, fr.len, stdout);
                fputc('\n', stdout);
                fflush(stdout);
            } else if (rc < 0) {
                fprintf(stderr, "gocc: frame too large from server\n");
                goto out;
            }
        }
    }
out:
    frame_decoder_free(&dec);
    goc_chan_close(cl->done);
}

static ssize_t send_all(client *cl, const void *data, size_t len)
{
    return cl->tls ? goc_tls_write(cl->tls, data, len) : goc_conn_write(cl->conn, data, len);
}

/* Wraps cl->conn in TLS. 0, or 1 after printing why not. */
static int start_tls(client *cl, const char *cacert, goc_tls_config **cfg)
{
    char err[256];
    if (goc_tls_client_config(cacert, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "gocc: %s\n", err);
        return 1;
    }
    int rc = goc_tls_connect(*cfg, cl->conn, "localhost", goc_nanotime() + 10000000000LL,
                             &cl->tls);
    if (rc) {
        fprintf(stderr, "gocc: TLS handshake failed: %s\n",
                rc == -EPROTO ? "certificate not trusted or protocol error" : strerror(-rc));
        return 1;
    }
    return 0;
}

#define GOCC_VERSION "0.1.0"

static const char usage[] =
    "usage: gocc [--addr HOST:PORT] [--max-frame BYTES] [--tls [--cacert PEM]]\n"
    "  JSON lines on stdin go to gocd's framed-TCP port as frames; each frame\n"
    "  received is printed as one line.\n"
    "  --addr HOST:PORT   the server (default 127.0.0.1:7000)\n"
    "  --max-frame BYTES  largest frame accepted from the server (default 1048576)\n"
    "  --tls              framed TCP inside TLS (gocd --tcp-tls)\n"
    "  --cacert PEM       verify the server's certificate for \"localhost\"\n"
    "  --help, --version  print and exit\n";

static int client_main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:7000", *cacert = NULL;
    size_t max_frame = FRAME_DEFAULT_MAX;
    bool tls = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--max-frame") == 0 && i + 1 < argc) {
            max_frame = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tls") == 0) {
            tls = true;
        } else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc) {
            cacert = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("gocc %s\n", GOCC_VERSION);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    client cl = {.max_frame = max_frame};
    int rc = goc_dial_tcp(addr, 5 * GOC_SECOND, &cl.conn);
    if (rc) {
        fprintf(stderr, "gocc: cannot connect to %s: %s\n", addr, strerror(-rc));
        return 1;
    }
    goc_tls_config *tls_cfg = NULL;
    if (tls && start_tls(&cl, cacert, &tls_cfg) != 0) {
        goc_tls_config_free(tls_cfg);
        goc_conn_close(cl.conn);
        return 1;
    }
    cl.done = goc_chan_make(0, 0);
    client *cp = &cl;
    if (goc_go(receiver, &cp, sizeof cp) < 0) {
        fprintf(stderr, "gocc: cannot start the receiving goroutine: out of memory\n");
        goc_conn_close(cl.conn);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        /* stdin may block for long: hand the P to other goroutines */
        goc_syscall_enter_block();
        ssize_t n = getline(&line, &cap, stdin);
        goc_syscall_exit();
        if (n < 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0)
            continue;
        uint8_t hdr[FRAME_HEADER_SIZE];
        frame_header_encode(hdr, (size_t)n);
        if (send_all(&cl, hdr, sizeof hdr) < 0 || send_all(&cl, line, (size_t)n) < 0) {
            fprintf(stderr, "gocc: connection lost\n");
            break;
        }
    }
    free(line);
    if (cl.tls)
        goc_tls_close_write(cl.tls);
    else
        goc_conn_close_write(cl.conn);
    goc_chan_recv(cl.done, NULL);
    goc_chan_free(cl.done);
    goc_tls_free(cl.tls);
    goc_tls_config_free(tls_cfg);
    goc_conn_close(cl.conn);
    return 0;
}

int main(int argc, char **argv)
{
    goc_start(NULL, client_main, argc, argv);
}

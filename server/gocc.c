/* gocc: a framed-TCP client for gocd. Reads JSON lines on stdin and sends
 * each as one frame; prints each frame it receives as one line. At the end
 * of stdin it half-closes and prints what still arrives until the server
 * closes.
 *
 *   gocc [--addr HOST:PORT] [--max-frame BYTES]     (default 127.0.0.1:7000)
 *   echo '{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}' | gocc
 */
#include <goc/goc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"

typedef struct client {
    goc_conn *conn;
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
        ssize_t n = goc_conn_read(cl->conn, buf, sizeof buf);
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

static int client_main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:7000";
    size_t max_frame = FRAME_DEFAULT_MAX;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--max-frame") == 0 && i + 1 < argc) {
            max_frame = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: gocc [--addr HOST:PORT] [--max-frame BYTES]\n");
            return 2;
        }
    }
    client cl = {NULL, max_frame, goc_chan_make(0, 0)};
    int rc = goc_dial_tcp(addr, 5000000000LL, &cl.conn);
    if (rc) {
        fprintf(stderr, "gocc: cannot connect to %s: %s\n", addr, strerror(-rc));
        return 1;
    }
    client *cp = &cl;
    goc_go(receiver, &cp, sizeof cp);
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
        if (goc_conn_write(cl.conn, hdr, sizeof hdr) < 0 ||
            goc_conn_write(cl.conn, line, (size_t)n) < 0) {
            fprintf(stderr, "gocc: connection lost\n");
            break;
        }
    }
    free(line);
    goc_conn_close_write(cl.conn);
    goc_chan_recv(cl.done, NULL);
    goc_conn_close(cl.conn);
    return 0;
}

int main(int argc, char **argv)
{
    goc_start(NULL, client_main, argc, argv);
}

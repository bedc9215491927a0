/* config.h: the server's flags (PROTOCOL.md, "Starting it"). */
#ifndef GOCD_CONFIG_H
#define GOCD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct config {
    const char *tcp;     /* framed-TCP address, NULL: off */
    const char *http;    /* HTTP + WebSocket address, NULL: off */
    const char *tls;     /* HTTPS + WSS, NULL: off */
    const char *tcp_tls; /* framed TCP in TLS, NULL: off */
    const char *cert, *key;
    const char *db;
    int procs;           /* 0: GOMAXPROCS or the CPU count */
    size_t max_frame;
    int64_t rate;        /* chat messages per second per connection, 0: no limit */
    int64_t outbox;
    int64_t max_conns;   /* open connections, every transport; 0: from RLIMIT_NOFILE */
    int64_t read_timeout_ms; /* a started TLS handshake, HTTP request or frame
                              * must be complete within */
    const char *web;
    int log_level;
    const char *origins[16]; /* --allow-origin, repeatable; none: any origin */
    int norigins;
} config;

/* Fills cfg from argv. Returns 0; 1 after printing --help or --version
 * (exit 0); -1 after printing a one-line error to stderr (exit 2). */
int config_parse(config *cfg, int argc, char **argv);

#define GOCD_VERSION "0.1.0"

#endif

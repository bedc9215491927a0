/* config.h: the server's flags (doc/protocol.md, "Starting it").
 *
 * One table (config_flags) lists every flag once: its name, value, help
 * line, where it is stored and its range. The parser and --help both read
 * it, so a flag cannot be parsed without being documented or the reverse.
 */
#ifndef GOCD_CONFIG_H
#define GOCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_ORIGINS 16

typedef struct config {
    const char *tcp;     /* framed-TCP address, NULL: off */
    const char *http;    /* HTTP + WebSocket address, NULL: off */
    const char *tls;     /* HTTPS + WSS, NULL: off */
    const char *tcp_tls; /* framed TCP in TLS, NULL: off */
    const char *cert, *key;
    const char *db;
    int64_t procs;       /* 0: GOMAXPROCS or the CPU count */
    int64_t max_frame;
    int64_t rate;        /* chat messages per second per connection, 0: no limit */
    int64_t outbox;
    int64_t max_conns;   /* open connections, every transport; 0: from RLIMIT_NOFILE */
    int64_t max_conns_per_ip; /* open connections from one address; 0: max_conns / 4 */
    int64_t conn_rate;   /* new connections per second from one address, 0: no limit */
    const char *auth_secret; /* --auth-secret FILE, NULL: development mode */
    int64_t read_timeout_ms; /* a started TLS handshake, HTTP request or frame
                              * must be complete within */
    const char *web;
    int log_level;
    int log_format;      /* LOG_TEXT (key=value) or LOG_JSON */
    const char *origins[CONFIG_MAX_ORIGINS]; /* --allow-origin, repeatable; none: any */
    int norigins;
    const char *redis;   /* --redis URL: one chat with every server on it; NULL: off */
    const char *node;    /* --node NAME, NULL: HOSTNAME:PID */
    int pprof;           /* PPROF_LOCAL (default), PPROF_ANY or PPROF_OFF: who gets /debug/pprof/ */
    int64_t mem_profile_rate;       /* bytes per heap sample, 0: off (goc/profrate.h) */
    int64_t block_profile_rate;     /* ns, 0: off */
    int64_t mutex_profile_fraction; /* 1 event in N, 0: off */
} config;

/* --pprof: who may GET /debug/pprof/ (pprof.c). */
enum { PPROF_LOCAL, PPROF_ANY, PPROF_OFF };

/* How a flag's value is read. */
typedef enum config_kind {
    CONFIG_ADDR,   /* HOST:PORT, or "off" (NULL) */
    CONFIG_PATH,   /* any non-empty string */
    CONFIG_INT,    /* a decimal integer in [min, max] */
    CONFIG_LEVEL,  /* debug, info, warn or error */
    CONFIG_FORMAT, /* text or json */
    CONFIG_ORIGIN, /* repeatable: appended to origins */
    CONFIG_NAME,   /* 1-64 characters of [A-Za-z0-9_.:-] */
    CONFIG_PPROF,  /* local, any or off */
} config_kind;

/* One flag. `field` is the offset of its value in struct config (a const
 * char * for ADDR, PATH, ORIGIN and NAME, an int64_t for INT, an int for
 * LEVEL, FORMAT and PPROF). */
typedef struct config_flag {
    const char *name;  /* "--tcp" */
    const char *value; /* the value's name in --help: "ADDR" */
    const char *help;  /* what it does and its default, for --help */
    config_kind kind;
    size_t field;
    int64_t min, max;  /* CONFIG_INT: the range, printed by --help */
    const char *sample; /* a valid value (tests) */
} config_flag;

extern const config_flag config_flags[];
extern const size_t config_nflags;

/* Fills cfg from argv. Returns 0; 1 after printing --help or --version
 * (exit 0); -1 after printing a one-line error to stderr (exit 2). */
int config_parse(config *cfg, int argc, char **argv);

/* Writes the --help text to f. */
void config_usage(FILE *f);

#define GOCD_VERSION "0.1.0"

#endif

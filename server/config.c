/* config.c: flag parsing. Every flag of PROTOCOL.md is accepted, as
 * "--flag value" or "--flag=value"; a bad one is a one-line error. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char usage[] =
    "usage: gocd [flags]\n"
    "  --tcp ADDR          framed-TCP listener (default 127.0.0.1:7000; off disables)\n"
    "  --http ADDR         HTTP + WebSocket listener (default 127.0.0.1:8080; off disables)\n"
    "  --tls ADDR          HTTPS + WSS listener (default off; needs --cert and --key)\n"
    "  --tcp-tls ADDR      framed TCP inside TLS (default off; needs --cert and --key)\n"
    "  --cert PEM          server certificate chain\n"
    "  --key PEM           server private key\n"
    "  --db PATH           chat history, SQLite (default data/chat.db; :memory: keeps nothing)\n"
    "  --procs N           number of Ps (default: GOMAXPROCS, else the CPU count)\n"
    "  --max-frame BYTES   largest frame, WebSocket message or HTTP body (default 1048576)\n"
    "  --rate N            chat messages per second per connection, bursts of 2N (default 50; 0: "
    "no limit)\n"
    "  --outbox N          messages queued for a member before it is disconnected (default 1024)\n"
    "  --web DIR           static files served at / (default: the project's web/)\n"
    "  --log-level LEVEL   debug, info, warn or error (default info)\n"
    "  --allow-origin URL  a WebSocket Origin allowed (repeatable; default: any)\n"
    "  --max-conns N       open connections, all listeners (default: the descriptor limit less 64)\n"
    "  --read-timeout MS   time a peer has to complete a TLS handshake, an HTTP request or a\n"
    "                      frame once it has begun one (default 10000)\n"
    "  --help, --version   print and exit\n"
    "ADDR is HOST:PORT; port 0 asks the kernel for a free port.\n";

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "gocd: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see --help)\n");
    return -1;
}

static const char *const known[] = {"--tcp",    "--http",     "--tls",       "--tcp-tls",
                                    "--cert",   "--key",      "--db",        "--procs",
                                    "--max-frame", "--rate",  "--outbox",    "--web",
                                    "--log-level", "--allow-origin", "--max-conns",
                                    "--read-timeout", NULL};

static bool is_known(const char *name)
{
    for (int i = 0; known[i]; i++)
        if (strcmp(known[i], name) == 0)
            return true;
    return false;
}

static int parse_int(const char *flag, const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || !*v || *end || x < min || x > max)
        return bad("invalid value '%s' for %s", v, flag);
    *out = x;
    return 0;
}

static int check_addr(const char *flag, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !colon[1])
        return bad("invalid address '%s' for %s: want HOST:PORT", v, flag);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return bad("invalid port in '%s' for %s", v, flag);
    return 0;
}

int config_parse(config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->tcp = "127.0.0.1:7000";
    cfg->http = "127.0.0.1:8080";
    cfg->db = "data/chat.db";
    cfg->max_frame = 1048576;
    cfg->rate = 50;
    cfg->outbox = 1024;
    cfg->read_timeout_ms = 10000;
    cfg->web = NULL;
    cfg->log_level = LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("gocd %s\n", GOCD_VERSION);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return bad("unexpected argument '%s'%s", arg, "");
        char name[64];
        const char *val;
        const char *eq = strchr(arg, '=');
        if (eq) {
            size_t n = (size_t)(eq - arg);
            if (n >= sizeof name)
                return bad("unknown flag '%s'%s", arg, "");
            memcpy(name, arg, n);
            name[n] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
            if (!is_known(name))
                return bad("unknown flag '%s'%s", name, "");
            if (i + 1 >= argc)
                return bad("flag %s needs a value%s", arg, "");
            val = argv[++i];
        }
        int64_t x;
        if (strcmp(name, "--tcp") == 0 || strcmp(name, "--http") == 0 ||
            strcmp(name, "--tls") == 0 || strcmp(name, "--tcp-tls") == 0) {
            const char *v = strcmp(val, "off") == 0 ? NULL : val;
            if (v && check_addr(name, v))
                return -1;
            if (strcmp(name, "--tcp") == 0)
                cfg->tcp = v;
            else if (strcmp(name, "--http") == 0)
                cfg->http = v;
            else if (strcmp(name, "--tls") == 0)
                cfg->tls = v;
            else
                cfg->tcp_tls = v;
        } else if (strcmp(name, "--cert") == 0) {
            cfg->cert = val;
        } else if (strcmp(name, "--key") == 0) {
            cfg->key = val;
        } else if (strcmp(name, "--db") == 0) {
            if (!*val)
                return bad("empty value for %s%s", name, "");
            cfg->db = val;
        } else if (strcmp(name, "--procs") == 0) {
            if (parse_int(name, val, 1, 1024, &x))
                return -1;
            cfg->procs = (int)x;
        } else if (strcmp(name, "--max-frame") == 0) {
            if (parse_int(name, val, 1, (int64_t)1 << 30, &x))
                return -1;
            cfg->max_frame = (size_t)x;
        } else if (strcmp(name, "--rate") == 0) {
            if (parse_int(name, val, 0, 1000000, &x))
                return -1;
            cfg->rate = x;
        } else if (strcmp(name, "--outbox") == 0) {
            if (parse_int(name, val, 1, 1 << 24, &x))
                return -1;
            cfg->outbox = x;
        } else if (strcmp(name, "--max-conns") == 0) {
            if (parse_int(name, val, 1, 1000000, &x))
                return -1;
            cfg->max_conns = x;
        } else if (strcmp(name, "--read-timeout") == 0) {
            if (parse_int(name, val, 1, 3600000, &x))
                return -1;
            cfg->read_timeout_ms = x;
        } else if (strcmp(name, "--allow-origin") == 0) {
            if (cfg->norigins == (int)(sizeof cfg->origins / sizeof *cfg->origins))
                return bad("too many %s flags%s", name, "");
            cfg->origins[cfg->norigins++] = val;
        } else if (strcmp(name, "--web") == 0) {
            cfg->web = val;
        } else if (strcmp(name, "--log-level") == 0) {
            int l = log_level_parse(val);
            if (l < 0)
                return bad("invalid value '%s' for %s: want debug, info, warn or error", val,
                           name);
            cfg->log_level = l;
        } else {
            return bad("unknown flag '%s'%s", name, "");
        }
    }
    if ((cfg->tls || cfg->tcp_tls) && (!cfg->cert || !cfg->key))
        return bad("--tls and --tcp-tls need --cert and --key%s%s", "", "");
    return 0;
}

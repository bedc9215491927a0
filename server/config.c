/* config.c: flag parsing and --help, both from config_flags. Every flag is
 * accepted as "--flag value" or "--flag=value"; a bad one is a one-line
 * error naming the flag and, for numbers, their range. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define FIELD(f) offsetof(config, f)

const config_flag config_flags[] = {
    {"--tcp", "ADDR", "framed-TCP listener (default 127.0.0.1:7000; off disables)", CONFIG_ADDR,
     FIELD(tcp), 0, 0, "127.0.0.1:0"},
    {"--http", "ADDR", "HTTP + WebSocket listener (default 127.0.0.1:8080; off disables)",
     CONFIG_ADDR, FIELD(http), 0, 0, "127.0.0.1:0"},
    {"--tls", "ADDR", "HTTPS + WSS listener (default off; needs --cert and --key)", CONFIG_ADDR,
     FIELD(tls), 0, 0, "off"},
    {"--tcp-tls", "ADDR", "framed TCP inside TLS (default off; needs --cert and --key)",
     CONFIG_ADDR, FIELD(tcp_tls), 0, 0, "off"},
    {"--cert", "PEM", "server certificate chain", CONFIG_PATH, FIELD(cert), 0, 0, "cert.pem"},
    {"--key", "PEM", "server private key", CONFIG_PATH, FIELD(key), 0, 0, "key.pem"},
    {"--db", "PATH", "chat history, SQLite (default data/chat.db; :memory: keeps nothing)",
     CONFIG_PATH, FIELD(db), 0, 0, ":memory:"},
    {"--procs", "N", "number of Ps (default: GOMAXPROCS, else the CPU count)", CONFIG_INT,
     FIELD(procs), 1, 1024, "2"},
    {"--max-frame", "BYTES", "largest frame, WebSocket message or HTTP body (default 1048576)",
     CONFIG_INT, FIELD(max_frame), 1, (int64_t)1 << 30, "65536"},
    {"--rate", "N", "chat messages per second per connection, bursts of 2N (default 50; 0: no limit)",
     CONFIG_INT, FIELD(rate), 0, 1000000, "10"},
    {"--outbox", "N", "messages queued for a member before it is disconnected (default 1024)",
     CONFIG_INT, FIELD(outbox), 1, 1 << 24, "64"},
    {"--web", "DIR", "static files served at / (default: the project's web/)", CONFIG_PATH,
     FIELD(web), 0, 0, "web"},
    {"--log-level", "LEVEL", "debug, info, warn or error (default info)", CONFIG_LEVEL,
     FIELD(log_level), 0, 0, "warn"},
    {"--log-format", "FORMAT", "text (key=value pairs) or json (one object per line; default text)",
     CONFIG_FORMAT, FIELD(log_format), 0, 0, "json"},
    {"--allow-origin", "URL", "a WebSocket Origin allowed (repeatable; default: any)",
     CONFIG_ORIGIN, FIELD(origins), 0, 0, "http://localhost:8080"},
    {"--max-conns", "N", "open connections, all listeners (default: the descriptor limit less 64)",
     CONFIG_INT, FIELD(max_conns), 1, 1000000, "100"},
    {"--max-conns-per-ip", "N",
     "open connections from one address, an IPv4 address or an IPv6 /64 (default: a quarter of "
     "--max-conns)",
     CONFIG_INT, FIELD(max_conns_per_ip), 1, 1000000, "25"},
    {"--conn-rate", "N",
     "new connections per second from one address, bursts of 2N (default 200; 0: no limit)",
     CONFIG_INT, FIELD(conn_rate), 0, 1000000, "50"},
    {"--auth-secret", "FILE",
     "clients must present a token signed (HS256) with the key in FILE, at least 32 bytes "
     "(default: none, development mode)",
     CONFIG_PATH, FIELD(auth_secret), 0, 0, "data/auth.key"},
    {"--read-timeout", "MS",
     "time a peer has to complete a TLS handshake, an HTTP request or a frame once it has begun "
     "one (default 10000)",
     CONFIG_INT, FIELD(read_timeout_ms), 1, 3600000, "5000"},
    {"--redis", "URL",
     "redis://[:PASSWORD@]HOST:PORT[/DB]: one chat with every server started with it; history, "
     "ids and presence in Redis, --db unused (default off)",
     CONFIG_PATH, FIELD(redis), 0, 0, "redis://127.0.0.1:6379"},
    {"--node", "NAME", "this server's name among several: logs, /metrics, runtime.stats "
     "(default HOSTNAME:PID)",
     CONFIG_NAME, FIELD(node), 0, 0, "node-1"},
    {"--pprof", "WHO", "who may GET /debug/pprof/ (Go's profiles): local (loopback clients, "
     "the default), any, or off",
     CONFIG_PPROF, FIELD(pprof), 0, 0, "any"},
    {"--mem-profile-rate", "BYTES",
     "heap profile: one allocation sampled per BYTES allocated on average (default 524288; 0: "
     "off)",
     CONFIG_INT, FIELD(mem_profile_rate), 0, (int64_t)1 << 30, "4096"},
    {"--block-profile-rate", "NS",
     "block profile: waits of NS nanoseconds and more recorded, shorter ones in proportion "
     "(default 0: off)",
     CONFIG_INT, FIELD(block_profile_rate), 0, (int64_t)1 << 40, "10000"},
    {"--mutex-profile-fraction", "N",
     "mutex profile: one contention in N recorded (default 0: off)",
     CONFIG_INT, FIELD(mutex_profile_fraction), 0, 1 << 30, "5"},
};
const size_t config_nflags = sizeof config_flags / sizeof config_flags[0];

#define USAGE_INDENT 23 /* where the help text starts */
#define USAGE_WIDTH 96  /* and where its lines end, at the latest */

/* Writes text from column USAGE_INDENT, wrapped at word boundaries. */
static void usage_wrap(FILE *f, const char *text)
{
    size_t col = USAGE_INDENT;
    while (*text) {
        size_t w = strcspn(text, " ");
        if (col > USAGE_INDENT && col + 1 + w > USAGE_WIDTH) {
            fprintf(f, "\n%*s", USAGE_INDENT, "");
            col = USAGE_INDENT;
        } else if (col > USAGE_INDENT) {
            fputc(' ', f);
            col++;
        }
        fwrite(text, 1, w, f);
        col += w;
        text += w;
        text += strspn(text, " ");
    }
    fputc('\n', f);
}

void config_usage(FILE *f)
{
    fputs("usage: gocd [flags]\n", f);
    for (size_t i = 0; i < config_nflags; i++) {
        const config_flag *fl = &config_flags[i];
        char head[64], help[256];
        snprintf(head, sizeof head, "%s %s", fl->name, fl->value);
        if (fl->kind == CONFIG_INT)
            snprintf(help, sizeof help, "%s [%lld..%lld]", fl->help, (long long)fl->min,
                     (long long)fl->max);
        else
            snprintf(help, sizeof help, "%s", fl->help);
        if (strlen(head) < USAGE_INDENT - 3)
            fprintf(f, "  %-*s", USAGE_INDENT - 2, head);
        else /* too long for the column: the help starts on the next line */
            fprintf(f, "  %s\n%*s", head, USAGE_INDENT, "");
        usage_wrap(f, help);
    }
    fputs("  --help, --version    print and exit\n"
          "ADDR is HOST:PORT; port 0 asks the kernel for a free port.\n",
          f);
}

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "gocd: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see --help)\n");
    return -1;
}

static const config_flag *find(const char *name, size_t len)
{
    for (size_t i = 0; i < config_nflags; i++)
        if (strlen(config_flags[i].name) == len && memcmp(config_flags[i].name, name, len) == 0)
            return &config_flags[i];
    return NULL;
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

/* An Origin as browsers send it (RFC 6454): scheme://host[:port], with
 * nothing after: no path, no trailing slash, no spaces. */
static bool origin_valid(const char *v)
{
    const char *host = strncmp(v, "http://", 7) == 0    ? v + 7
                       : strncmp(v, "https://", 8) == 0 ? v + 8
                                                         : NULL;
    if (!host || !*host || *host == ':')
        return false;
    for (const char *p = host; *p; p++)
        if (*p == '/' || *p == '?' || *p == '#' || *p == '@' || (unsigned char)*p <= ' ' ||
            *p == 0x7f)
            return false;
    const char *colon = strrchr(host, ':');
    if (colon && host[0] != '[') { /* a port: digits only */
        if (!colon[1])
            return false;
        for (const char *p = colon + 1; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    return true;
}

/* Stores val as fl's value in cfg. 0, or -1 after printing why not. */
static int set(config *cfg, const config_flag *fl, const char *val)
{
    char *field = (char *)cfg + fl->field;
    switch (fl->kind) {
    case CONFIG_ADDR: {
        const char *v = strcmp(val, "off") == 0 ? NULL : val;
        if (v && check_addr(fl->name, v))
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CONFIG_PATH:
        if (!*val)
            return bad("empty value for %s%s", fl->name, "");
        memcpy(field, &val, sizeof val);
        return 0;
    case CONFIG_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(val, &end, 10);
        if (errno || !*val || *end || x < fl->min || x > fl->max) {
            fprintf(stderr, "gocd: invalid value '%s' for %s: want an integer from %lld to %lld\n",
                    val, fl->name, (long long)fl->min, (long long)fl->max);
            return -1;
        }
        int64_t v = x;
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CONFIG_LEVEL: {
        int l = log_level_parse(val);
        if (l < 0)
            return bad("invalid value '%s' for %s: want debug, info, warn or error", val, fl->name);
        memcpy(field, &l, sizeof l);
        return 0;
    }
    case CONFIG_NAME: {
        size_t n = strlen(val);
        bool ok = n >= 1 && n <= 64;
        for (size_t i = 0; ok && i < n; i++)
            ok = (val[i] >= 'a' && val[i] <= 'z') || (val[i] >= 'A' && val[i] <= 'Z') ||
                 (val[i] >= '0' && val[i] <= '9') || strchr("_.:-", val[i]);
        if (!ok)
            return bad("invalid value '%s' for %s: want 1-64 characters of [A-Za-z0-9_.:-]", val,
                       fl->name);
        memcpy(field, &val, sizeof val);
        return 0;
    }
    case CONFIG_FORMAT: {
        int fmt = log_format_parse(val);
        if (fmt < 0)
            return bad("invalid value '%s' for %s: want text or json", val, fl->name);
        memcpy(field, &fmt, sizeof fmt);
        return 0;
    }
    case CONFIG_PPROF: {
        int who = strcmp(val, "local") == 0 ? PPROF_LOCAL
                : strcmp(val, "any") == 0   ? PPROF_ANY
                : strcmp(val, "off") == 0   ? PPROF_OFF
                                            : -1;
        if (who < 0)
            return bad("invalid value '%s' for %s: want local, any or off", val, fl->name);
        memcpy(field, &who, sizeof who);
        return 0;
    }
    case CONFIG_ORIGIN:
        if (!origin_valid(val))
            return bad("invalid value '%s' for %s: want an origin, http[s]://HOST[:PORT]", val,
                       fl->name);
        if (cfg->norigins == CONFIG_MAX_ORIGINS)
            return bad("too many %s flags (at most 16)%s", fl->name, "");
        cfg->origins[cfg->norigins++] = val;
        return 0;
    }
    return -1;
}

int config_parse(config *cfg, int argc, char **argv)
{
    *cfg = (config){
        .tcp = "127.0.0.1:7000",
        .http = "127.0.0.1:8080",
        .db = "data/chat.db",
        .max_frame = 1048576,
        .rate = 50,
        .outbox = 1024,
        .read_timeout_ms = 10000,
        .conn_rate = 200,
        .log_level = LOG_INFO,
        .log_format = LOG_TEXT,
        .pprof = PPROF_LOCAL,
        .mem_profile_rate = 512 * 1024,
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("gocd %s\n", GOCD_VERSION);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return bad("unexpected argument '%s'%s", arg, "");
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const config_flag *fl = find(arg, nlen);
        if (!fl) {
            fprintf(stderr, "gocd: unknown flag '%.*s' (see --help)\n", (int)nlen, arg);
            return -1;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc)
                return bad("flag %s needs a value%s", arg, "");
            val = argv[++i];
        }
        if (set(cfg, fl, val))
            return -1;
    }
    if ((cfg->tls || cfg->tcp_tls) && (!cfg->cert || !cfg->key))
        return bad("--tls and --tcp-tls need --cert and --key%s%s", "", "");
    if (!cfg->tcp && !cfg->http && !cfg->tls && !cfg->tcp_tls)
        return bad("every listener is off (--tcp, --http, --tls, --tcp-tls): nothing to "
                   "serve%s%s",
                   "", "");
    return 0;
}

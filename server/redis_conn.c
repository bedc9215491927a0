/* redis_conn.c: one connection to Redis (redis.h): the URL, dialing (a
 * host name is resolved with getaddrinfo inside a blocking-call bracket),
 * AUTH and SELECT, commands written whole, replies read until resp_parse
 * finds one, scripts by SHA-1.
 *
 * Invariants:
 *  - rbuf[0..rlen) holds bytes read and not yet taken, except that the
 *    first `taken` bytes belong to the reply returned last: the caller may
 *    still read it, so they are dropped only at the next read.
 *  - need is a length resp_parse asked for: no new look before rlen
 *    reaches it (a bulk string is parsed once, not once per read).
 *  - Once broken, a connection does no more I/O: every call fails.
 */
#include "redis_internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <goc/malloc.h>
#include <mbedtls/sha1.h>

/* What one reply may hold: the chat reads at most a few MiB at once. */
static const resp_limits reply_limits = {
    .max_bulk = (size_t)16 << 20, .max_elems = 1u << 20, .max_depth = 8};
#define REPLY_MAX ((size_t)64 << 20) /* bytes of one reply */
#define READ_CHUNK 16384

/* ---- the URL ------------------------------------------------------------ */

static int url_bad(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "invalid Redis URL: %s (want redis://[:PASSWORD@]HOST:PORT[/DB])", why);
    return -EINVAL;
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Copies s[0..len) into out (cap bytes) decoding %XX. false if it does not
 * fit or a % escape is broken. */
static bool pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0)
                return false;
            c = (char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = 0;
    return true;
}

int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return url_bad(err, errlen, "it must start with redis://");
    const char *p = url + sizeof scheme - 1;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return url_bad(err, errlen, "the part before @ must be :PASSWORD or USER:PASSWORD");
        if (!pct_decode(p, (size_t)(colon - p), out->user, sizeof out->user) ||
            !pct_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof out->password))
            return url_bad(err, errlen, "bad or too long user or password");
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    if (hostport == 0)
        return url_bad(err, errlen, "no host");
    char hp[256]; /* with ":PORT", fits in out->addr */
    if (hostport >= sizeof hp)
        return url_bad(err, errlen, "host too long");
    memcpy(hp, p, hostport);
    hp[hostport] = 0;
    /* the port: after the last ':' unless that is inside [v6] */
    char *close = strrchr(hp, ']'), *colon = strrchr(hp, ':');
    long port = 6379;
    if (colon && (!close || colon > close)) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 1 || port > 65535)
            return url_bad(err, errlen, "bad port");
        *colon = 0;
    }
    if (!hp[0] || (hp[0] == '[') != (close != NULL))
        return url_bad(err, errlen, "bad host");
    snprintf(out->addr, sizeof out->addr, "%s:%ld", hp, port);
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 1000000)
            return url_bad(err, errlen, "bad database number");
        out->db = (int)db;
    }
    return 0;
}

/* ---- dialing ------------------------------------------------------------ */

/* Resolves a host name (a blocking call, bracketed) into a numeric
 * HOST:PORT in out. 0 or -EHOSTUNREACH. */
static int resolve(const char *addr, char *out, size_t cap)
{
    char host[sizeof ((redis_url *)0)->addr];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon)
        return -EINVAL;
    *colon = 0;
    const char *port = colon + 1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    goc_syscall_enter_block();
    int rc = getaddrinfo(host, port, &hints, &res);
    goc_syscall_exit();
    if (rc != 0 || !res)
        return -EHOSTUNREACH;
    char ip[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    else if (res->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip, sizeof ip);
    int family = res->ai_family;
    freeaddrinfo(res);
    if (!ip[0])
        return -EHOSTUNREACH;
    snprintf(out, cap, family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, port);
    return 0;
}

static int64_t left_ns(int64_t deadline)
{
    int64_t left = deadline - goc_nanotime();
    return left > 0 ? left : 1;
}

static int dial(const char *addr, int64_t deadline, goc_conn **out)
{
    int rc = goc_dial_tcp(addr, left_ns(deadline), out);
    if (rc != -EINVAL)
        return rc;
    char numeric[INET6_ADDRSTRLEN + 16];
    rc = resolve(addr, numeric, sizeof numeric);
    return rc ? rc : goc_dial_tcp(numeric, left_ns(deadline), out);
}

/* Expects +OK: 0, else -errno_if_not. */
static int expect_ok(const redis_reply *r, int errno_if_not)
{
    return r->v[0].type == RESP_STRING ? 0 : -errno_if_not;
}

int redis_conn_open(const redis_url *u, int64_t deadline, redis_conn **out)
{
    redis_conn *c = goc_calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    int rc = dial(u->addr, deadline, &c->conn);
    if (rc) {
        goc_free(c);
        return rc;
    }
    redis_reply r;
    if (u->password[0]) {
        const char *argv[] = {"AUTH", u->user, u->password};
        int argc = u->user[0] ? 3 : 2;
        if (argc == 2)
            argv[1] = u->password;
        size_t lens[3] = {4, strlen(argv[1]), argc == 3 ? strlen(argv[2]) : 0};
        rc = redis_call(c, deadline, argc, argv, lens, &r);
        if (rc == 0)
            rc = expect_ok(&r, EACCES);
    }
    if (rc == 0 && u->db) {
        char db[16];
        int n = snprintf(db, sizeof db, "%d", u->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, (size_t)n};
        rc = redis_call(c, deadline, 2, argv, lens, &r);
        if (rc == 0)
            rc = expect_ok(&r, EINVAL);
    }
    if (rc) {
        redis_conn_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void redis_conn_close(redis_conn *c)
{
    if (!c)
        return;
    goc_conn_close(c->conn);
    goc_free(c->rbuf);
    goc_free(c->wbuf);
    goc_free(c->nodes);
    goc_free(c);
}

bool redis_conn_broken(const redis_conn *c)
{
    return atomic_load(&c->broken);
}

/* goc_conn_cancel wakes only a goroutine parked at that instant: a reader
 * between its look at `broken` and its park would sleep on until its own
 * deadline (the subscriber's reader: an hour), and whoever waits for it
 * with it (chat_redis_sub.c's controller, then the chat's shutdown). So
 * the deadlines go into the past too, which lasts: every later wait
 * returns -ETIMEDOUT at once. A read sets its deadline before it looks at
 * `broken` (redis_read): either it sees broken, or this deadline replaced
 * its own. */
void redis_conn_cancel(redis_conn *c)
{
    atomic_store(&c->broken, true);
    goc_conn_cancel(c->conn);
    int64_t now = goc_nanotime();
    goc_conn_set_read_deadline(c->conn, now);
    goc_conn_set_write_deadline(c->conn, now);
}

static int broke(redis_conn *c, int rc)
{
    atomic_store(&c->broken, true);
    return rc;
}

/* ---- commands and replies ----------------------------------------------- */

int redis_send(redis_conn *c, int64_t deadline, int argc, const char *const *argv,
               const size_t *argvlen)
{
    if (atomic_load(&c->broken))
        return -ECONNRESET;
    size_t n = resp_encode_command(c->wbuf, c->wcap, argc, argv, argvlen);
    if (n > c->wcap) {
        char *w = goc_realloc(c->wbuf, n);
        if (!w)
            return -ENOMEM;
        c->wbuf = w;
        c->wcap = n;
        resp_encode_command(c->wbuf, c->wcap, argc, argv, argvlen);
    }
    goc_conn_set_write_deadline(c->conn, deadline);
    if (atomic_load(&c->broken)) /* after the deadline: see redis_conn_cancel */
        return -ECONNRESET;
    ssize_t w = goc_conn_write(c->conn, c->wbuf, n);
    if (c->wcap > 65536) { /* a big command (a long text): do not keep its buffer */
        goc_free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    return w < 0 ? broke(c, (int)w) : 0;
}

/* Drops the reply returned last and, when the buffer is large and empty,
 * the buffer itself. */
static void drop_taken(redis_conn *c)
{
    if (c->taken) {
        memmove(c->rbuf, c->rbuf + c->taken, c->rlen - c->taken);
        c->rlen -= c->taken;
        c->taken = 0;
    }
    if (c->rlen == 0 && c->rcap > ((size_t)1 << 20)) {
        goc_free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

/* Makes room for at least want bytes in rbuf. 0 or a negative errno. */
static int reserve(redis_conn *c, size_t want)
{
    if (want <= c->rcap)
        return 0;
    if (want > REPLY_MAX)
        return -EMSGSIZE;
    size_t cap = c->rcap ? c->rcap : READ_CHUNK;
    while (cap < want)
        cap *= 2;
    char *b = goc_realloc(c->rbuf, cap);
    if (!b)
        return -ENOMEM;
    c->rbuf = b;
    c->rcap = cap;
    return 0;
}

/* Looks for a reply in rbuf: 1 found (*out set), 0 need more, or a
 * negative errno. */
static int look(redis_conn *c, redis_reply *out)
{
    for (;;) {
        size_t n, need;
        long rc = resp_parse(c->rbuf, c->rlen, &reply_limits, c->nodes, c->ncap, &n, &need);
        if (rc > 0) {
            c->taken = (size_t)rc;
            c->need = 0;
            out->v = c->nodes;
            out->n = (uint32_t)n;
            return 1;
        }
        if (rc == -EAGAIN) {
            c->need = need;
            return 0;
        }
        if (rc != -ENOBUFS)
            return (int)rc;
        size_t cap = c->ncap ? c->ncap : 16;
        while (cap < n)
            cap *= 2;
        resp_value *v = goc_realloc(c->nodes, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        c->nodes = v;
        c->ncap = cap;
    }
}

int redis_read(redis_conn *c, int64_t deadline, redis_reply *out)
{
    if (atomic_load(&c->broken))
        return -ECONNRESET;
    drop_taken(c);
    goc_conn_set_read_deadline(c->conn, deadline);
    if (atomic_load(&c->broken)) /* after the deadline: see redis_conn_cancel */
        return -ECONNRESET;
    for (;;) {
        if (c->rlen > 0 && c->rlen >= c->need) {
            int rc = look(c, out);
            if (rc != 0)
                return rc > 0 ? 0 : broke(c, rc);
        }
        size_t want = c->need > c->rlen + READ_CHUNK ? c->need : c->rlen + READ_CHUNK;
        int rc = reserve(c, want);
        if (rc)
            return broke(c, rc);
        ssize_t n = goc_conn_read(c->conn, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n <= 0)
            return broke(c, n == 0 ? -ECONNRESET : (int)n);
        c->rlen += (size_t)n;
    }
}

int redis_call(redis_conn *c, int64_t deadline, int argc, const char *const *argv,
               const size_t *argvlen, redis_reply *out)
{
    int rc = redis_send(c, deadline, argc, argv, argvlen);
    return rc ? rc : redis_read(c, deadline, out);
}

/* ---- scripts ------------------------------------------------------------ */

void redis_script_init(redis_script *s, const char *src)
{
    unsigned char sum[20];
    mbedtls_sha1_ret((const unsigned char *)src, strlen(src), sum);
    for (int i = 0; i < 20; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", sum[i]);
    s->src = src;
}

/* An EVALSHA/EVAL command: argv[0..2) the verb and script, argv[2] the
 * key count, then the keys and arguments. */
#define EVAL_ARGS_MAX 32

int redis_eval(redis_conn *c, int64_t deadline, const redis_script *s, int nkeys, int nargs,
               const char *const *args, const size_t *lens, redis_reply *out)
{
    if (nargs + 3 > EVAL_ARGS_MAX)
        return -E2BIG;
    const char *argv[EVAL_ARGS_MAX];
    size_t alen[EVAL_ARGS_MAX];
    char nk[16];
    argv[0] = "EVALSHA";
    alen[0] = 7;
    argv[1] = s->sha;
    alen[1] = 40;
    argv[2] = nk;
    alen[2] = (size_t)snprintf(nk, sizeof nk, "%d", nkeys);
    for (int i = 0; i < nargs; i++) {
        argv[3 + i] = args[i];
        alen[3 + i] = lens ? lens[i] : strlen(args[i]);
    }
    int rc = redis_call(c, deadline, 3 + nargs, argv, alen, out);
    if (rc || out->v[0].type != RESP_ERROR || out->v[0].len < 8 ||
        memcmp(out->v[0].str, "NOSCRIPT", 8) != 0)
        return rc;
    argv[0] = "EVAL";
    alen[0] = 4;
    argv[1] = s->src;
    alen[1] = strlen(s->src);
    return redis_call(c, deadline, 3 + nargs, argv, alen, out);
}

/* redis.h: a Redis client on the runtime. A connection is an ordinary
 * goroutine-blocking goc_conn (no second event loop, no thread of its
 * own) speaking RESP2 through proto/resp.h; every call takes a deadline
 * and none waits past it. Names use the prefix `redis_`.
 *
 * Three pieces:
 *  - redis_url: "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"; AUTH and
 *    SELECT are sent on every new connection.
 *  - redis_conn: one connection. redis_call sends a command and reads its
 *    reply; redis_send and redis_read let a subscriber write and read
 *    separately (one goroutine reading, writers serialized by the caller).
 *    A reply's nodes point into the connection's buffer: they stay valid
 *    until the next read on that connection. Any I/O error, timeout or
 *    protocol error breaks the connection for good (redis_conn_broken): a
 *    reply may still be on its way, so the connection cannot be trusted
 *    again.
 *  - redis_client: a small pool of command connections (redis_get,
 *    redis_put) with the state "up or down". After a failure the client is
 *    down: redis_get fails at once (-ENOTCONN) until the back-off has
 *    passed (50 ms, doubling, at most 1 s), and the next redis_get then
 *    tries again; a success makes it up. Idle connections made before a
 *    failure are dropped instead of reused (they may hang as the failed
 *    one did).
 *
 * Errors are negative errno values: -ETIMEDOUT (the deadline passed),
 * -ECONNREFUSED and the other dial errors, -ECONNRESET (closed by Redis),
 * -EPROTO (not RESP), -EMSGSIZE (a reply over the limits), -ENOTCONN (the
 * client is down, retry later), -EACCES (AUTH refused), -EINVAL (bad
 * URL, SELECT refused), -ENOMEM. A Redis error reply ("-ERR ...") is not
 * an error of the call: it is the reply, of type RESP_ERROR.
 */
#ifndef GOCD_REDIS_H
#define GOCD_REDIS_H

#include <goc/goc.h>
#include <stdbool.h>
#include <stdint.h>

#include "resp.h"

typedef struct redis_url {
    char addr[300];     /* HOST:PORT for goc_dial_tcp (a name is resolved at dial time) */
    char user[128];     /* ACL user, empty: AUTH with the password alone */
    char password[256]; /* empty: no AUTH */
    int db;             /* SELECT db when not 0 */
} redis_url;

/* Parses url into *out. Returns 0, or -EINVAL after writing why into
 * err[0..errlen). */
int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen);

/* A reply: v[0] is the reply, v[0..n) its nodes (resp.h), borrowed from
 * the connection until its next read. */
typedef struct redis_reply {
    const resp_value *v;
    uint32_t n;
} redis_reply;

typedef struct redis_conn redis_conn;

/* Dials u (at most until deadline, on goc_nanotime's clock), then sends
 * AUTH and SELECT as u says. Returns 0 and *out, or a negative errno
 * (-EACCES when AUTH is refused). */
int redis_conn_open(const redis_url *u, int64_t deadline, redis_conn **out);
/* Closes c and frees it; NULL is ignored. */
void redis_conn_close(redis_conn *c);
/* True once an error has made c unusable. */
bool redis_conn_broken(const redis_conn *c);
/* Breaks c from another goroutine: a read or write blocked in it, or on
 * its way to block, returns -ECANCELED or -ETIMEDOUT at once, later ones
 * -ECONNRESET. c must still be closed by its owner. */
void redis_conn_cancel(redis_conn *c);

/* Sends argv[0..argc) (argvlen[i] bytes each) and reads the reply. 0 and
 * *out, or a negative errno (c is then broken). */
int redis_call(redis_conn *c, int64_t deadline, int argc, const char *const *argv,
               const size_t *argvlen, redis_reply *out);
/* Sends a command without reading anything. 0 or a negative errno. */
int redis_send(redis_conn *c, int64_t deadline, int argc, const char *const *argv,
               const size_t *argvlen);
/* Reads the next reply (or push). 0 and *out, or a negative errno. */
int redis_read(redis_conn *c, int64_t deadline, redis_reply *out);

/* A Lua script, run with EVALSHA and sent whole (EVAL) only when Redis
 * does not know it yet (after a restart, on a new server). */
typedef struct redis_script {
    const char *src; /* the Lua text, static */
    char sha[41];    /* its SHA-1 in hex, set by redis_script_init */
} redis_script;

void redis_script_init(redis_script *s, const char *src);
/* Runs s with keys args[0..nkeys) and arguments args[nkeys..nargs)
 * (lens[i] bytes each; lens may be NULL for NUL-terminated args).
 * As redis_call. */
int redis_eval(redis_conn *c, int64_t deadline, const redis_script *s, int nkeys, int nargs,
               const char *const *args, const size_t *lens, redis_reply *out);

typedef struct redis_client redis_client;

/* Call latency buckets of redis_stats, in microseconds. */
#define REDIS_LATENCY_BUCKETS 10
extern const int64_t redis_latency_bounds_us[REDIS_LATENCY_BUCKETS];

typedef struct redis_stats {
    bool up;                 /* the last attempt succeeded */
    int64_t conns;           /* command connections open */
    uint64_t dials, dial_failures;
    uint64_t calls, call_failures;
    uint64_t latency[REDIS_LATENCY_BUCKETS + 1]; /* calls per bucket, the last: above all */
    int64_t latency_sum_us;
} redis_stats;

/* A client with at most pool_size (>= 1) command connections to u (the
 * URL is copied). Dials nothing yet. 0 or -ENOMEM. */
int redis_client_new(const redis_url *u, int pool_size, redis_client **out);
/* Closes the idle connections and frees cl; every connection taken must
 * have been put back. */
void redis_client_free(redis_client *cl);
/* Takes a connection (idle, or a new one when fewer than pool_size are
 * open), waiting for one at most until deadline. 0 and *out, or
 * -ENOTCONN (down, within the back-off), -ETIMEDOUT, a dial error. */
int redis_get(redis_client *cl, int64_t deadline, redis_conn **out);
/* Gives c back; a broken one is closed, and marks the client down. */
void redis_put(redis_client *cl, redis_conn *c);
/* Records the outcome of a call on a connection of cl (for up/down, the
 * figures and the latency). redis_call does not know its client: the
 * helpers below call this. */
void redis_client_note(redis_client *cl, int rc, int64_t started_ns);
/* redis_get + redis_call (or redis_eval when script is not NULL) +
 * redis_client_note, then fn(arg, reply) while the connection is held,
 * then redis_put. Returns fn's result (>= 0 or a negative errno it
 * chose), or the negative errno of the call. */
typedef int (*redis_reply_fn)(void *arg, const redis_reply *r);
int redis_client_do(redis_client *cl, int64_t deadline, const redis_script *script, int nkeys,
                    int argc, const char *const *argv, const size_t *lens, redis_reply_fn fn,
                    void *arg);
/* True when the client is up. */
bool redis_client_up(redis_client *cl);
/* The URL the client was made with. */
const redis_url *redis_client_url(const redis_client *cl);
void redis_client_stats(redis_client *cl, redis_stats *out);

#endif

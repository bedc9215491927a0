/* addrlimit.c: limits per remote address (addrlimit.h).
 *
 * A hash table of the addresses seen lately, each with its open
 * connections and a token bucket of new connections (rate per second,
 * bursts of twice that, as --rate's). The accept loops admit, the
 * connections' goroutines release; both take the table's lock for a few
 * instructions.
 *
 * Invariants: an entry is in the table while it has open connections or
 * its bucket is not full again; one with neither is dropped when its last
 * connection is released or, at the latest, by the sweep an insertion
 * makes once the table holds more than SWEEP_AT entries beyond those last
 * swept. So the table holds the addresses with open connections (at most
 * --max-conns) plus those that opened one in the last two seconds or so
 * (the time a bucket takes to refill), whatever peers do.
 */
#include "addrlimit.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <goc/goc.h>

#define BUCKETS 4096  /* hash chains: a power of two */
#define SWEEP_AT 1024 /* entries added since the last sweep that start one */

typedef struct entry {
    addr_key key;
    int64_t open;      /* connections open now */
    double tokens;     /* new connections allowed now, at most 2 x rate */
    int64_t refill_ns; /* goc_nanotime() when tokens was last refilled */
    struct entry *next;
} entry;

static struct {
    int64_t max_open;   /* per address, 0: no limit; set before the first use */
    double rate;        /* per address per second, 0: no limit; likewise */
    goc_mutex mu;       /* guards the rest */
    entry *buckets[BUCKETS];
    int64_t n;          /* entries */
    int64_t since_sweep; /* entries added since the last sweep */
} T;

void addrlimit_init(int64_t max_per_addr, int64_t per_second)
{
    T.max_open = max_per_addr;
    T.rate = (double)per_second;
}

/* The key of c's peer; false when it cannot be read. */
static bool key_of(goc_conn *c, addr_key *k)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(k, 0, sizeof *k);
    if (getpeername(goc_conn_fd(c), (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        memcpy(k->b, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        k->b[16] = 4;
        return true;
    }
    if (ss.ss_family != AF_INET6)
        return false;
    const uint8_t *a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, v4mapped, 12) == 0) {
        memcpy(k->b, a + 12, 4);
        k->b[16] = 4;
    } else {
        memcpy(k->b, a, 8); /* the /64 */
        k->b[16] = 6;
    }
    return true;
}

static uint32_t hash(const addr_key *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < sizeof k->b; i++)
        h = (h ^ k->b[i]) * 16777619u;
    return h & (BUCKETS - 1);
}

/* Refills e's bucket to now. [mu] */
static void refill(entry *e, int64_t now)
{
    if (T.rate <= 0)
        return;
    e->tokens += (double)(now - e->refill_ns) * T.rate / (double)GOC_SECOND;
    if (e->tokens > 2 * T.rate)
        e->tokens = 2 * T.rate;
    e->refill_ns = now;
}

/* True when e holds nothing the table must remember. [mu] */
static bool idle(entry *e, int64_t now)
{
    refill(e, now);
    return e->open == 0 && (T.rate <= 0 || e->tokens >= 2 * T.rate);
}

/* Drops every idle entry. [mu] */
static void sweep(int64_t now)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        for (entry **p = &T.buckets[i]; *p;) {
            entry *e = *p;
            if (idle(e, now)) {
                *p = e->next;
                goc_free(e);
                T.n--;
            } else {
                p = &e->next;
            }
        }
    }
    T.since_sweep = 0;
}

/* The entry of k, made when absent (NULL when out of memory). [mu] */
static entry *lookup(const addr_key *k, int64_t now)
{
    entry **head = &T.buckets[hash(k)];
    for (entry *e = *head; e; e = e->next)
        if (memcmp(&e->key, k, sizeof *k) == 0)
            return e;
    if (++T.since_sweep > SWEEP_AT)
        sweep(now);
    entry *e = goc_malloc(sizeof *e);
    if (!e)
        return NULL;
    *e = (entry){.key = *k, .tokens = 2 * T.rate, .refill_ns = now, .next = *head};
    *head = e;
    T.n++;
    return e;
}

bool addrlimit_admit(goc_conn *c, addr_key *key)
{
    if ((T.max_open <= 0 && T.rate <= 0) || !key_of(c, key)) {
        key->b[16] = 0; /* not counted */
        return true;
    }
    int64_t now = goc_nanotime();
    bool ok = true;
    goc_mutex_lock(&T.mu);
    entry *e = lookup(key, now);
    if (e) {
        refill(e, now);
        if (T.max_open > 0 && e->open >= T.max_open)
            ok = false;
        else if (T.rate > 0 && e->tokens < 1)
            ok = false;
        if (ok) {
            e->open++;
            if (T.rate > 0)
                e->tokens -= 1;
        }
    }
    goc_mutex_unlock(&T.mu);
    if (!e)
        key->b[16] = 0; /* out of memory: let it in, uncounted */
    return ok;
}

void addrlimit_release(const addr_key *key)
{
    if (key->b[16] == 0)
        return;
    int64_t now = goc_nanotime();
    goc_mutex_lock(&T.mu);
    for (entry **p = &T.buckets[hash(key)]; *p; p = &(*p)->next) {
        entry *e = *p;
        if (memcmp(&e->key, key, sizeof *key) != 0)
            continue;
        e->open--;
        if (idle(e, now)) {
            *p = e->next;
            goc_free(e);
            T.n--;
        }
        break;
    }
    goc_mutex_unlock(&T.mu);
}

int64_t addrlimit_tracked(void)
{
    goc_mutex_lock(&T.mu);
    int64_t n = T.n;
    goc_mutex_unlock(&T.mu);
    return n;
}

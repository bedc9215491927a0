/* chat_redis_call.c: what the Redis broker's calls share: event ids, a
 * call with its deadline whose reply a function reads (an error reply, or
 * a Redis that cannot be reached, becoming a JSON-RPC code), and readers
 * of the replies (stream entries, the members hash).
 *
 * Invariants: a reply's nodes are only read inside the function given to
 * chat__redis_run, while the connection is held.
 */
#include "chat_redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/malloc.h>

#include "log.h"

/* ---- event ids ------------------------------------------------------------ */

bool chat__eid_parse(const char *s, size_t len, chat__eid *out)
{
    uint64_t part[2] = {0, 0};
    int k = 0;
    size_t digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-' && k == 0 && digits) {
            k = 1;
            digits = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9' || part[k] > (UINT64_MAX - 9) / 10)
            return false;
        part[k] = part[k] * 10 + (uint64_t)(s[i] - '0');
        digits++;
    }
    if (k != 1 || !digits)
        return false;
    out->ms = part[0];
    out->seq = part[1];
    return true;
}

int chat__eid_cmp(chat__eid a, chat__eid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

int chat__eid_fmt(chat__eid e, char *out, size_t cap)
{
    return snprintf(out, cap, "%llu-%llu", (unsigned long long)e.ms, (unsigned long long)e.seq);
}
/* ---- errors --------------------------------------------------------------- */

/* Error replies that mean "Redis cannot serve now", not "the call is wrong". */
static bool transient(const resp_value *v)
{
    static const char *const words[] = {"LOADING", "BUSY", "READONLY", "MASTERDOWN",
                                        "TRYAGAIN", "NOAUTH", "CLUSTERDOWN"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        if (v->len >= n && memcmp(v->str, words[i], n) == 0)
            return true;
    }
    return false;
}

int chat__redis_code(int rc, const redis_reply *r, const char *what)
{
    if (rc < 0)
        return JRPC_UNAVAILABLE;
    if (r && r->v[0].type == RESP_ERROR) {
        if (transient(&r->v[0]))
            return JRPC_UNAVAILABLE;
        log_error("redis: %s: %.*s", what, (int)r->v[0].len, r->v[0].str);
    }
    return JRPC_INTERNAL_ERROR;
}

size_t chat__room_key(char *out, size_t cap, const char *room, const char *suffix)
{
    return (size_t)snprintf(out, cap, "goc:{%s}:%s", room, suffix);
}

typedef struct run_ctx {
    int (*fn)(chat__call *o, const redis_reply *r);
    chat__call *o;
} run_ctx;

static int run_reply(void *arg, const redis_reply *r)
{
    run_ctx *c = arg;
    if (r->v[0].type == RESP_ERROR) {
        c->o->code = chat__redis_code(0, r, c->o->what);
        return -EPROTO;
    }
    int rc = c->fn(c->o, r);
    if (rc < 0) {
        log_error("redis: %s: unexpected reply", c->o->what);
        c->o->code = JRPC_INTERNAL_ERROR;
    }
    return rc;
}

int chat__redis_run(const redis_script *script, int nkeys, int argc, const char *const *argv,
               const size_t *lens, int64_t deadline, int (*fn)(chat__call *o, const redis_reply *r),
               chat__call *o)
{
    run_ctx c = {fn, o};
    o->code = 0;
    int rc = redis_client_do(chat__R.cl, deadline, script, nkeys, argc, argv, lens, run_reply, &c);
    if (rc < 0 && !o->code)
        o->code = chat__redis_code(rc, NULL, o->what);
    return rc < 0 ? -1 : 0;
}
/* ---- reading replies ------------------------------------------------------ */

bool chat__resp_is_str(const resp_value *v)
{
    return v->type == RESP_BULK || v->type == RESP_STRING;
}

bool chat__resp_str_eq(const resp_value *v, const char *s)
{
    size_t n = strlen(s);
    return chat__resp_is_str(v) && v->len == n && memcmp(v->str, s, n) == 0;
}

/* An integer in a bulk string (stream fields) or an integer reply. */
bool chat__resp_int(const resp_value *v, int64_t *out)
{
    if (v->type == RESP_INTEGER) {
        *out = v->integer;
        return true;
    }
    if (!chat__resp_is_str(v) || v->len == 0 || v->len > 19)
        return false;
    int64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return false;
        x = x * 10 + (v->str[i] - '0');
    }
    *out = x;
    return true;
}

bool chat__entry_read(const resp_value *v, uint32_t i, chat__entry *e)
{
    memset(e, 0, sizeof *e);
    if (v[i].type != RESP_ARRAY || v[i].integer != 2 || !chat__resp_is_str(&v[i + 1]) ||
        !chat__eid_parse(v[i + 1].str, v[i + 1].len, &e->eid))
        return false;
    uint32_t f = resp_after(v, i + 1);
    if (v[f].type != RESP_ARRAY)
        return false;
    uint32_t end = v[f].next;
    for (uint32_t j = resp_first(f); j < end; j = v[v[j].next].next) {
        uint32_t val = v[j].next;
        if (val >= end || !chat__resp_is_str(&v[j]) || v[j].len != 1)
            return false;
        const resp_value **slot = v[j].str[0] == 'p'   ? &e->p
                                  : v[j].str[0] == 'n' ? &e->n
                                  : v[j].str[0] == 't' ? &e->t
                                  : v[j].str[0] == 's' ? &e->s
                                  : v[j].str[0] == 'k' ? &e->k
                                                       : NULL;
        if (slot)
            *slot = &v[val];
    }
    return true;
}

/* A message as chat.history gives it. */
json_t *chat__message_json(const char *room, const chat__entry *e)
{
    int64_t ts = 0;
    if (!e->n || !e->t || !e->s || !chat__resp_int(e->s, &ts))
        return NULL;
    return json_pack("{s:I, s:s, s:s%, s:s%, s:I}", "id", (json_int_t)e->eid.ms, "room", room,
                     "nick", e->n->str, e->n->len, "text", e->t->str, e->t->len, "ts",
                     (json_int_t)ts);
}
/* ---- members -------------------------------------------------------------- */

static int by_join(const void *a, const void *b)
{
    return chat__eid_cmp(((const chat__member_rec *)a)->joined, ((const chat__member_rec *)b)->joined);
}

chat__member_rec *chat__members_sorted(const resp_value *v, uint32_t i, size_t *n)
{
    size_t cnt = v[i].type == RESP_ARRAY ? (size_t)v[i].integer / 2 : 0;
    chat__member_rec *m = goc_malloc((cnt ? cnt : 1) * sizeof *m);
    *n = 0;
    if (!m)
        return NULL;
    size_t il = strlen(chat__R.instance);
    for (uint32_t j = resp_first(i); *n < cnt && j < v[i].next; j = v[v[j].next].next) {
        const resp_value *val = &v[v[j].next];
        const char *sp = chat__resp_is_str(val) ? memchr(val->str, ' ', val->len) : NULL;
        chat__member_rec *r = &m[*n];
        if (!chat__resp_is_str(&v[j]) || !sp ||
            !chat__eid_parse(sp + 1, val->len - (size_t)(sp + 1 - val->str), &r->joined))
            continue;
        r->nick = &v[j];
        r->ours = (size_t)(sp - val->str) == il && memcmp(val->str, chat__R.instance, il) == 0;
        (*n)++;
    }
    qsort(m, *n, sizeof *m, by_join);
    return m;
}

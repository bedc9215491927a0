/* chat_redis.c: the Redis broker (chat__broker_redis): the chat's history,
 * message ids and presence in Redis, shared by every server started with
 * the same --redis URL (doc/cluster.md).
 *
 * Each change is one Lua script, so it is atomic: a message takes the
 * next id, goes into the room's stream with that id, bumps the room's
 * head and is published on the room's channel in one step; a join checks
 * that no other server holds the nick, records it and publishes the event
 * in one step too. Every event carries the id of the event before it in
 * its room, so a server that applies a room's events (chat_room_sync.c)
 * knows when one is missing and reads the gap from the streams.
 *
 * The calls here run on the caller's goroutine (a connection's handler, a
 * room's goroutine), each with a deadline; a Redis that cannot be reached
 * is JRPC_UNAVAILABLE at once or by the deadline. The subscription, the
 * heartbeat and the reaper are in chat_redis_sub.c.
 *
 * Invariants: scripts touch the keys of one room, plus the global ones
 * named in chat_redis.h; the chat's texts reach Redis as arguments, never
 * inside the Lua source.
 */
#include "chat_redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <goc/malloc.h>

#include "buf.h"
#include "log.h"

chat__redis chat__R;

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

/* ---- the scripts ---------------------------------------------------------- */

/* Shared by the scripts that make presence events. */
#define LUA_PRELUDE                                                                              \
    "local function now_ms()\n"                                                                  \
    "  local t = redis.call('TIME')\n"                                                           \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                       \
    "end\n"                                                                                      \
    "local function pres_event(room, op, nick, maxlen)\n"                                        \
    "  local pre = 'goc:{' .. room .. '}:'\n"                                                    \
    "  local prev = redis.call('GET', pre .. 'head') or '0-0'\n"                                 \
    "  local ms, seq = string.match(prev, '^(%d+)-(%d+)$')\n"                                    \
    "  local eid = ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)\n"                      \
    "  redis.call('XADD', pre .. 'pres', 'MAXLEN', '~', maxlen, eid, 'p', prev, 'k', op,"        \
    " 'n', nick)\n"                                                                              \
    "  redis.call('SET', pre .. 'head', eid)\n"                                                  \
    "  redis.call('PUBLISH', pre .. 'ch', prev .. ' ' .. eid .. ' ' .. op .. ' ' .. nick)\n"     \
    "  return prev, eid\n"                                                                       \
    "end\n"                                                                                      \
    /* a room with no member and no message is forgotten (its head kept a day) */                \
    "local function forget_if_empty(room)\n"                                                     \
    "  local pre = 'goc:{' .. room .. '}:'\n"                                                    \
    "  if redis.call('HLEN', pre .. 'members') == 0 and not redis.call('GET', pre .. 'count')"   \
    " then\n"                                                                                    \
    "    redis.call('DEL', pre .. 'pres', pre .. 'members')\n"                                   \
    "    redis.call('PEXPIRE', pre .. 'head', 86400000)\n"                                       \
    "    redis.call('SREM', 'goc:rooms', room)\n"                                                \
    "  end\n"                                                                                    \
    "end\n"

/* KEYS: ids, log, head, count, rooms. ARGV: room, nick, text, the
 * notification's head and tail (without the id and ts), maxlen, channel.
 * Returns {id, ts}. */
static const char send_src[] =
    LUA_PRELUDE
    "local id = redis.call('INCR', KEYS[1])\n"
    "local ts = string.format('%.0f', now_ms())\n"
    "local prev = redis.call('GET', KEYS[3]) or '0-0'\n"
    "local sid = string.format('%.0f', id)\n"
    "local eid = sid .. '-0'\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], eid, 'p', prev, 'n', ARGV[2],"
    " 't', ARGV[3], 's', ts)\n"
    "redis.call('SET', KEYS[3], eid)\n"
    "redis.call('INCR', KEYS[4])\n"
    "redis.call('SADD', KEYS[5], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[7], prev .. ' ' .. eid .. ' m ' .. ARGV[4] .. sid .. ARGV[5]"
    " .. ts .. '}}')\n"
    "return {id, tonumber(ts)}\n";

/* KEYS: members, head. ARGV: room, op (j or l), nick, instance, maxlen,
 * ttl (ms). Returns {'ok', prev, eid}, {'taken'}, {'held'} or {'absent'}. */
static const char presence_src[] =
    LUA_PRELUDE
    "local room, op, nick, inst = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local cur = redis.call('HGET', KEYS[1], nick)\n"
    "local owner = cur and string.match(cur, '^(%S+)')\n"
    "if op == 'j' then\n"
    "  if cur then\n"
    "    if owner ~= inst then return {'taken'} end\n"
    "    return {'held'}\n"
    "  end\n"
    "  local prev, eid = pres_event(room, 'j', nick, ARGV[5])\n"
    "  redis.call('HSET', KEYS[1], nick, inst .. ' ' .. eid)\n"
    "  redis.call('SADD', 'goc:rooms', room)\n"
    "  redis.call('SADD', 'goc:node:' .. inst .. ':rooms', room)\n"
    "  redis.call('HSETNX', 'goc:nodes', inst, string.format('%.0f', now_ms() + ARGV[6]))\n"
    "  return {'ok', prev, eid}\n"
    "end\n"
    "if owner ~= inst then return {'absent'} end\n"
    "redis.call('HDEL', KEYS[1], nick)\n"
    "local prev, eid = pres_event(room, 'l', nick, ARGV[5])\n"
    "forget_if_empty(room)\n"
    "return {'ok', prev, eid}\n";

/* KEYS: log, pres, head. ARGV: first id, last id (or +), count. Returns
 * {head, messages, presence events}. */
static const char events_src[] =
    "return {redis.call('GET', KEYS[3]) or '0-0',"
    " redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3]),"
    " redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[2], 'COUNT', ARGV[3])}\n";

/* KEYS: members, head, log. Returns {head, last message id, {nick, value, ...}}. */
static const char snapshot_src[] =
    "local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)\n"
    "local lastid = '0'\n"
    "if last[1] then lastid = string.match(last[1][1], '^(%d+)') end\n"
    "return {redis.call('GET', KEYS[2]) or '0-0', lastid, redis.call('HGETALL', KEYS[1])}\n";

/* Returns {room, members, messages, ...} for every room known. */
static const char rooms_src[] =
    "local out = {}\n"
    "for _, r in ipairs(redis.call('SMEMBERS', 'goc:rooms')) do\n"
    "  local pre = 'goc:{' .. r .. '}:'\n"
    "  out[#out + 1] = r\n"
    "  out[#out + 1] = redis.call('HLEN', pre .. 'members')\n"
    "  out[#out + 1] = tonumber(redis.call('GET', pre .. 'count') or '0')\n"
    "end\n"
    "return out\n";

/* ARGV: instance, ttl (ms), registered (1: a heartbeat went through
 * before). Returns 'reaped' when the others removed this instance. */
static const char heartbeat_src[] =
    LUA_PRELUDE
    "local had = redis.call('HEXISTS', 'goc:nodes', ARGV[1])\n"
    "redis.call('HSET', 'goc:nodes', ARGV[1], string.format('%.0f', now_ms() + ARGV[2]))\n"
    "if had == 0 and ARGV[3] == '1' then return 'reaped' end\n"
    "return 'ok'\n";

/* ARGV: this instance, maxlen, target ('': every other instance whose
 * heartbeat expired; else that instance). Removes their members, with a
 * leave event each. Returns how many. */
static const char reap_src[] =
    LUA_PRELUDE
    "local gone = {}\n"
    "if ARGV[3] ~= '' then gone = {ARGV[3]} else\n"
    "  local now = now_ms()\n"
    "  local nodes = redis.call('HGETALL', 'goc:nodes')\n"
    "  for i = 1, #nodes, 2 do\n"
    "    if nodes[i] ~= ARGV[1] and tonumber(nodes[i + 1]) < now then\n"
    "      gone[#gone + 1] = nodes[i]\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local n = 0\n"
    "for _, inst in ipairs(gone) do\n"
    "  for _, room in ipairs(redis.call('SMEMBERS', 'goc:node:' .. inst .. ':rooms')) do\n"
    "    local mk = 'goc:{' .. room .. '}:members'\n"
    "    local all = redis.call('HGETALL', mk)\n"
    "    for j = 1, #all, 2 do\n"
    "      if string.match(all[j + 1], '^(%S+)') == inst then\n"
    "        redis.call('HDEL', mk, all[j])\n"
    "        pres_event(room, 'l', all[j], ARGV[2])\n"
    "        n = n + 1\n"
    "      end\n"
    "    end\n"
    "    forget_if_empty(room)\n"
    "  end\n"
    "  redis.call('DEL', 'goc:node:' .. inst .. ':rooms')\n"
    "  redis.call('HDEL', 'goc:nodes', inst)\n"
    "end\n"
    "return n\n";

static struct {
    redis_script send, presence, events, snapshot, rooms, heartbeat, reap;
} S;

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

/* "goc:{room}:suffix" into out. */
static size_t room_key(char *out, size_t cap, const char *room, const char *suffix)
{
    return (size_t)snprintf(out, cap, "goc:{%s}:%s", room, suffix);
}

#define KEY_MAX (CHAT_ROOM_MAX + 32)

/* A call whose reply fn reads. On failure *code is set. */
typedef struct call_out {
    int code;         /* the JSON-RPC code when rc != 0 */
    const char *what; /* for the log */
    void *data;       /* fn's own */
} call_out;

/* The reply of a call: an error reply becomes a code (fn sees only the
 * others). */
static int run(const redis_script *script, int nkeys, int argc, const char *const *argv,
               const size_t *lens, int64_t deadline, int (*fn)(call_out *o, const redis_reply *r),
               call_out *o);

typedef struct run_ctx {
    int (*fn)(call_out *o, const redis_reply *r);
    call_out *o;
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

static int run(const redis_script *script, int nkeys, int argc, const char *const *argv,
               const size_t *lens, int64_t deadline, int (*fn)(call_out *o, const redis_reply *r),
               call_out *o)
{
    run_ctx c = {fn, o};
    o->code = 0;
    int rc = redis_client_do(chat__R.cl, deadline, script, nkeys, argc, argv, lens, run_reply, &c);
    if (rc < 0 && !o->code)
        o->code = chat__redis_code(rc, NULL, o->what);
    return rc < 0 ? -1 : 0;
}

/* ---- reading replies ------------------------------------------------------ */

static bool is_str(const resp_value *v)
{
    return v->type == RESP_BULK || v->type == RESP_STRING;
}

static bool str_eq(const resp_value *v, const char *s)
{
    size_t n = strlen(s);
    return is_str(v) && v->len == n && memcmp(v->str, s, n) == 0;
}

/* An integer in a bulk string (stream fields) or an integer reply. */
static bool int_of(const resp_value *v, int64_t *out)
{
    if (v->type == RESP_INTEGER) {
        *out = v->integer;
        return true;
    }
    if (!is_str(v) || v->len == 0 || v->len > 19)
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

/* A stream entry [id, [field, value, ...]] at node i: its fields by
 * letter (NULL when absent). */
typedef struct entry {
    chat__eid eid;
    const resp_value *p, *n, *t, *s, *k;
} entry;

static bool entry_read(const resp_value *v, uint32_t i, entry *e)
{
    memset(e, 0, sizeof *e);
    if (v[i].type != RESP_ARRAY || v[i].integer != 2 || !is_str(&v[i + 1]) ||
        !chat__eid_parse(v[i + 1].str, v[i + 1].len, &e->eid))
        return false;
    uint32_t f = resp_after(v, i + 1);
    if (v[f].type != RESP_ARRAY)
        return false;
    uint32_t end = v[f].next;
    for (uint32_t j = resp_first(f); j < end; j = v[v[j].next].next) {
        uint32_t val = v[j].next;
        if (val >= end || !is_str(&v[j]) || v[j].len != 1)
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
static json_t *message_json(const char *room, const entry *e)
{
    int64_t ts = 0;
    if (!e->n || !e->t || !e->s || !int_of(e->s, &ts))
        return NULL;
    return json_pack("{s:I, s:s, s:s%, s:s%, s:I}", "id", (json_int_t)e->eid.ms, "room", room,
                     "nick", e->n->str, e->n->len, "text", e->t->str, e->t->len, "ts",
                     (json_int_t)ts);
}

/* ---- the broker's calls --------------------------------------------------- */

typedef struct send_data {
    int64_t id, ts;
} send_data;

static int send_reply(call_out *o, const redis_reply *r)
{
    send_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer != 2 || !int_of(&v[1], &d->id) ||
        !int_of(&v[2], &d->ts))
        return -EPROTO;
    return 0;
}

/* A JSON string as it goes into a notification, appended to b. */
static void json_str(buf_t *b, const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    if (t)
        buf_str(b, t);
    else
        b->err = -ENOMEM;
    goc_free(t);
    json_decref(j);
}

static json_t *broker_send(const char *room, const char *nick, const char *text, size_t len,
                           int64_t deadline, int *code)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"chat.message\",\"params\":{\"id\":";
    buf_t tail = {0};
    buf_str(&tail, ",\"room\":");
    json_str(&tail, room, strlen(room));
    buf_str(&tail, ",\"nick\":");
    json_str(&tail, nick, strlen(nick));
    buf_str(&tail, ",\"text\":");
    json_str(&tail, text, len);
    buf_str(&tail, ",\"ts\":");
    if (tail.err) {
        buf_free(&tail);
        *code = JRPC_INTERNAL_ERROR;
        return NULL;
    }
    char klog[KEY_MAX], khead[KEY_MAX], kcount[KEY_MAX], chan[KEY_MAX], maxlen[16];
    room_key(klog, sizeof klog, room, "log");
    room_key(khead, sizeof khead, room, "head");
    room_key(kcount, sizeof kcount, room, "count");
    room_key(chan, sizeof chan, room, "ch");
    snprintf(maxlen, sizeof maxlen, "%d", CHAT_REDIS_HISTORY);
    const char *args[] = {"goc:ids", klog, khead, kcount, "goc:rooms",
                          room, nick, text, head, tail.data, maxlen, chan};
    size_t lens[] = {7, strlen(klog), strlen(khead), strlen(kcount), 9,
                     strlen(room), strlen(nick), len, sizeof head - 1, tail.len,
                     strlen(maxlen), strlen(chan)};
    send_data d = {0};
    call_out o = {.what = "send", .data = &d};
    int rc = run(&S.send, 5, 12, args, lens, deadline, send_reply, &o);
    buf_free(&tail);
    if (rc) {
        *code = o.code;
        return NULL;
    }
    atomic_fetch_add(&chat__R.published, 1);
    atomic_fetch_add(&chat__g.st_stored, 1);
    json_t *m = json_pack("{s:I, s:s, s:s, s:s%, s:I}", "id", (json_int_t)d.id, "room", room,
                          "nick", nick, "text", text, len, "ts", (json_int_t)d.ts);
    *code = JRPC_INTERNAL_ERROR;
    return m;
}

typedef struct history_data {
    const char *room;
    bool reverse; /* the reply is newest first */
    json_t *out;
} history_data;

static int history_reply(call_out *o, const redis_reply *r)
{
    history_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY)
        return -EPROTO;
    d->out = json_array();
    for (uint32_t i = resp_first(0); d->out && i < v[0].next; i = v[i].next) {
        entry e;
        json_t *m = entry_read(v, i, &e) ? message_json(d->room, &e) : NULL;
        if (!m)
            return -EPROTO;
        if (d->reverse)
            json_array_insert_new(d->out, 0, m);
        else
            json_array_append_new(d->out, m);
    }
    return d->out ? 0 : -ENOMEM;
}

static json_t *broker_history(const char *room, int64_t since, int64_t before, int64_t limit,
                              bool newest, int64_t deadline, int *code)
{
    if (before > 0 && before - 1 <= since)
        return json_array();
    char key[KEY_MAX], lo[32], hi[32], count[16];
    room_key(key, sizeof key, room, "log");
    snprintf(lo, sizeof lo, "%lld-0", (long long)since + 1);
    if (before > 0)
        snprintf(hi, sizeof hi, "%lld-0", (long long)before - 1);
    else
        strcpy(hi, "+");
    snprintf(count, sizeof count, "%lld", (long long)limit);
    const char *args[] = {newest ? "XREVRANGE" : "XRANGE", key, newest ? hi : lo,
                          newest ? lo : hi, "COUNT", count};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(args[i]);
    history_data d = {.room = room, .reverse = newest};
    call_out o = {.what = "history", .data = &d};
    if (run(NULL, 0, 6, args, lens, deadline, history_reply, &o)) {
        json_decref(d.out);
        *code = o.code;
        return NULL;
    }
    return d.out;
}

static int rooms_reply(call_out *o, const redis_reply *r)
{
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer % 3)
        return -EPROTO;
    json_t *out = json_object();
    for (uint32_t i = resp_first(0); out && i + 2 < v[0].next; i += 3) {
        if (!is_str(&v[i]) || v[i + 1].type != RESP_INTEGER || v[i + 2].type != RESP_INTEGER)
            break;
        char room[CHAT_ROOM_MAX + 1];
        if (v[i].len > CHAT_ROOM_MAX)
            continue;
        memcpy(room, v[i].str, v[i].len);
        room[v[i].len] = 0;
        json_object_set_new(out, room, json_pack("{s:I, s:I}", "members",
                                                 (json_int_t)v[i + 1].integer, "messages",
                                                 (json_int_t)v[i + 2].integer));
    }
    o->data = out;
    return out ? 0 : -ENOMEM;
}

static json_t *broker_rooms(int64_t deadline, int *code)
{
    call_out o = {.what = "rooms"};
    if (run(&S.rooms, 0, 0, NULL, NULL, deadline, rooms_reply, &o)) {
        json_decref(o.data);
        *code = o.code;
        return NULL;
    }
    return o.data;
}

/* ---- members -------------------------------------------------------------- */

typedef struct member_rec {
    chat__eid joined;
    const resp_value *nick;
    bool ours;
} member_rec;

static int by_join(const void *a, const void *b)
{
    return chat__eid_cmp(((const member_rec *)a)->joined, ((const member_rec *)b)->joined);
}

/* The members hash (HGETALL at node i) sorted by join order: an array the
 * caller frees, *n entries. */
static member_rec *members_sorted(const resp_value *v, uint32_t i, size_t *n)
{
    size_t cnt = v[i].type == RESP_ARRAY ? (size_t)v[i].integer / 2 : 0;
    member_rec *m = goc_malloc((cnt ? cnt : 1) * sizeof *m);
    *n = 0;
    if (!m)
        return NULL;
    size_t il = strlen(chat__R.instance);
    for (uint32_t j = resp_first(i); *n < cnt && j < v[i].next; j = v[v[j].next].next) {
        const resp_value *val = &v[v[j].next];
        const char *sp = is_str(val) ? memchr(val->str, ' ', val->len) : NULL;
        member_rec *r = &m[*n];
        if (!is_str(&v[j]) || !sp ||
            !chat__eid_parse(sp + 1, val->len - (size_t)(sp + 1 - val->str), &r->joined))
            continue;
        r->nick = &v[j];
        r->ours = (size_t)(sp - val->str) == il && memcmp(val->str, chat__R.instance, il) == 0;
        (*n)++;
    }
    qsort(m, *n, sizeof *m, by_join);
    return m;
}

static int members_reply(call_out *o, const redis_reply *r)
{
    if (r->v[0].type != RESP_ARRAY)
        return -EPROTO;
    size_t n;
    member_rec *m = members_sorted(r->v, 0, &n);
    json_t *out = m ? json_array() : NULL;
    for (size_t i = 0; out && i < n; i++)
        json_array_append_new(out, json_stringn(m[i].nick->str, m[i].nick->len));
    goc_free(m);
    o->data = out;
    return out ? 0 : -ENOMEM;
}

static json_t *broker_members(const char *room, int64_t deadline, int *code)
{
    char key[KEY_MAX];
    room_key(key, sizeof key, room, "members");
    const char *args[] = {"HGETALL", key};
    size_t lens[] = {7, strlen(key)};
    call_out o = {.what = "members"};
    if (run(NULL, 0, 2, args, lens, deadline, members_reply, &o)) {
        *code = o.code;
        return NULL;
    }
    return o.data;
}

static int held_reply(call_out *o, const redis_reply *r)
{
    if (r->v[0].type != RESP_INTEGER)
        return -EPROTO;
    o->data = r->v[0].integer ? (void *)1 : NULL;
    return 0;
}

static int broker_nick_held(const char *room, const char *nick, int64_t deadline)
{
    char key[KEY_MAX];
    room_key(key, sizeof key, room, "members");
    const char *args[] = {"HEXISTS", key, nick};
    size_t lens[] = {7, strlen(key), strlen(nick)};
    call_out o = {.what = "nick held"};
    if (run(NULL, 0, 3, args, lens, deadline, held_reply, &o))
        return o.code;
    return o.data != NULL;
}

/* ---- what the rooms call (chat_room_sync.c) -------------------------------- */

typedef struct presence_data {
    int result;
    chat__eid prev, eid;
} presence_data;

static int presence_reply(call_out *o, const redis_reply *r)
{
    presence_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer < 1)
        return -EPROTO;
    if (str_eq(&v[1], "taken"))
        d->result = CHAT_PRESENCE_TAKEN;
    else if (str_eq(&v[1], "held"))
        d->result = CHAT_PRESENCE_HELD;
    else if (str_eq(&v[1], "absent"))
        d->result = CHAT_PRESENCE_ABSENT;
    else if (str_eq(&v[1], "ok") && v[0].integer == 3 &&
             chat__eid_parse(v[2].str, v[2].len, &d->prev) &&
             chat__eid_parse(v[3].str, v[3].len, &d->eid))
        d->result = CHAT_PRESENCE_OK;
    else
        return -EPROTO;
    return 0;
}

int chat__redis_presence(const char *room, char op, const char *nick, int64_t deadline,
                         chat__eid *prev, chat__eid *eid)
{
    char kmem[KEY_MAX], khead[KEY_MAX], maxlen[16], ttl[24];
    room_key(kmem, sizeof kmem, room, "members");
    room_key(khead, sizeof khead, room, "head");
    snprintf(maxlen, sizeof maxlen, "%d", CHAT_REDIS_PRESENCE);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(CHAT_REDIS_NODE_TTL / GOC_MILLISECOND));
    const char opstr[2] = {op, 0};
    const char *args[] = {kmem, khead, room, opstr, nick, chat__R.instance, maxlen, ttl};
    presence_data d = {0};
    call_out o = {.what = op == 'j' ? "join" : "leave", .data = &d};
    if (run(&S.presence, 2, 8, args, NULL, deadline, presence_reply, &o))
        return o.code;
    *prev = d.prev;
    *eid = d.eid;
    return d.result;
}

void chat__events_free(chat__cmd *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        goc_free(v[i].text);
    goc_free(v);
}

typedef struct events_data {
    const char *room;
    chat__eid head;
    chat__cmd *v;
    size_t n;
} events_data;

/* One stream entry as a ROOM_EVENT command (its text allocated). */
static int event_of(const char *room, const entry *e, bool message, chat__cmd *c)
{
    memset(c, 0, sizeof *c);
    c->op = ROOM_EVENT;
    c->eid = e->eid;
    if (!e->p || !chat__eid_parse(e->p->str, e->p->len, &c->prev) || !e->n)
        return -EPROTO;
    if (message) {
        json_t *m = message_json(room, e);
        c->kind = 'm';
        c->id = (int64_t)e->eid.ms;
        c->text = m ? jrpc_notification_encode("chat.message", m, &c->len) : NULL;
        json_decref(m);
        return c->text ? 0 : -EPROTO;
    }
    if (!e->k || e->k->len != 1 || (e->k->str[0] != 'j' && e->k->str[0] != 'l') ||
        e->n->len > CHAT_NICK_MAX)
        return -EPROTO;
    c->kind = e->k->str[0];
    c->text = goc_malloc(e->n->len + 1);
    if (!c->text)
        return -ENOMEM;
    memcpy(c->text, e->n->str, e->n->len);
    c->text[e->n->len] = 0;
    c->len = e->n->len;
    return 0;
}

/* Merges the two sorted lists of entries (messages at node a, presence at
 * node b), each at most `count` long: when one list is full, only what
 * lies before its last entry is certain to be complete. */
static int events_reply(call_out *o, const redis_reply *r)
{
    events_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer != 3 || !is_str(&v[1]) ||
        !chat__eid_parse(v[1].str, v[1].len, &d->head))
        return -EPROTO;
    uint32_t a = resp_after(v, 1), b = resp_after(v, a);
    if (v[a].type != RESP_ARRAY || v[b].type != RESP_ARRAY)
        return -EPROTO;
    size_t total = (size_t)(v[a].integer + v[b].integer);
    chat__eid bound = {UINT64_MAX, UINT64_MAX};
    entry last;
    for (uint32_t list = a; list; list = list == a ? b : 0) {
        if (v[list].integer < CHAT_REDIS_SYNC_BATCH)
            continue;
        uint32_t i = resp_first(list), prev = i;
        for (; i < v[list].next; i = v[i].next)
            prev = i;
        if (entry_read(v, prev, &last) && chat__eid_cmp(last.eid, bound) < 0)
            bound = last.eid;
    }
    d->v = goc_malloc((total ? total : 1) * sizeof *d->v);
    if (!d->v)
        return -ENOMEM;
    uint32_t i = resp_first(a), j = resp_first(b);
    while (i < v[a].next || j < v[b].next) {
        entry ea, eb;
        bool has_a = i < v[a].next && entry_read(v, i, &ea);
        bool has_b = j < v[b].next && entry_read(v, j, &eb);
        if ((i < v[a].next && !has_a) || (j < v[b].next && !has_b))
            return -EPROTO;
        bool take_a = has_a && (!has_b || chat__eid_cmp(ea.eid, eb.eid) < 0);
        const entry *e = take_a ? &ea : &eb;
        if (chat__eid_cmp(e->eid, bound) > 0)
            break;
        if (event_of(d->room, e, take_a, &d->v[d->n]) != 0)
            return -EPROTO;
        d->n++;
        if (take_a)
            i = v[i].next;
        else
            j = v[j].next;
    }
    return 0;
}

int chat__redis_events(const char *room, chat__eid after, const chat__eid *until,
                       int64_t deadline, chat__eid *head, chat__cmd **out, size_t *n)
{
    char klog[KEY_MAX], kpres[KEY_MAX], khead[KEY_MAX], first[48], last[48], count[16];
    room_key(klog, sizeof klog, room, "log");
    room_key(kpres, sizeof kpres, room, "pres");
    room_key(khead, sizeof khead, room, "head");
    chat__eid next = after.seq == UINT64_MAX ? (chat__eid){after.ms + 1, 0}
                                             : (chat__eid){after.ms, after.seq + 1};
    chat__eid_fmt(next, first, sizeof first);
    if (until)
        chat__eid_fmt(*until, last, sizeof last);
    else
        strcpy(last, "+");
    snprintf(count, sizeof count, "%d", CHAT_REDIS_SYNC_BATCH);
    const char *args[] = {klog, kpres, khead, first, last, count};
    events_data d = {.room = room};
    call_out o = {.what = "events", .data = &d};
    if (run(&S.events, 3, 6, args, NULL, deadline, events_reply, &o)) {
        chat__events_free(d.v, d.n);
        return o.code;
    }
    *head = d.head;
    *out = d.v;
    *n = d.n;
    return 0;
}

void chat__snapshot_free(chat__snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        goc_free(s->nicks[i]);
    goc_free(s->nicks);
    goc_free(s->ours);
    memset(s, 0, sizeof *s);
}

static int snapshot_reply(call_out *o, const redis_reply *r)
{
    chat__snapshot *s = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer != 3 || !is_str(&v[1]) ||
        !chat__eid_parse(v[1].str, v[1].len, &s->head) || !int_of(&v[2], &s->last_id))
        return -EPROTO;
    size_t n;
    member_rec *m = members_sorted(v, 3, &n);
    s->nicks = goc_calloc(n ? n : 1, sizeof *s->nicks);
    s->ours = goc_calloc(n ? n : 1, sizeof *s->ours);
    if (!m || !s->nicks || !s->ours) {
        goc_free(m);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].nick->len > CHAT_NICK_MAX || !(s->nicks[s->n] = goc_malloc(m[i].nick->len + 1)))
            continue;
        memcpy(s->nicks[s->n], m[i].nick->str, m[i].nick->len);
        s->nicks[s->n][m[i].nick->len] = 0;
        s->ours[s->n++] = m[i].ours;
    }
    goc_free(m);
    return 0;
}

int chat__redis_snapshot(const char *room, int64_t deadline, chat__snapshot *out)
{
    char kmem[KEY_MAX], khead[KEY_MAX], klog[KEY_MAX];
    room_key(kmem, sizeof kmem, room, "members");
    room_key(khead, sizeof khead, room, "head");
    room_key(klog, sizeof klog, room, "log");
    const char *args[] = {kmem, khead, klog};
    memset(out, 0, sizeof *out);
    call_out o = {.what = "snapshot", .data = out};
    if (run(&S.snapshot, 3, 3, args, NULL, deadline, snapshot_reply, &o)) {
        chat__snapshot_free(out);
        return o.code;
    }
    return 0;
}

/* ---- this instance's rooms ------------------------------------------------- */

typedef struct node_rooms_data {
    void (*fn)(const char *room, void *arg);
    void *arg;
} node_rooms_data;

static int node_rooms_reply(call_out *o, const redis_reply *r)
{
    node_rooms_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY)
        return -EPROTO;
    for (uint32_t i = resp_first(0); i < v[0].next; i = v[i].next) {
        char room[CHAT_ROOM_MAX + 1];
        if (!is_str(&v[i]) || v[i].len > CHAT_ROOM_MAX)
            continue;
        memcpy(room, v[i].str, v[i].len);
        room[v[i].len] = 0;
        if (chat__room_valid(room, v[i].len))
            d->fn(room, d->arg);
    }
    return 0;
}

static size_t node_key(char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "goc:node:%s:rooms", chat__R.instance);
}

int chat__redis_node_rooms(int64_t deadline, void (*fn)(const char *room, void *arg), void *arg)
{
    char key[sizeof chat__R.instance + 32];
    const char *args[] = {"SMEMBERS", key};
    size_t lens[] = {8, node_key(key, sizeof key)};
    node_rooms_data d = {fn, arg};
    call_out o = {.what = "node rooms", .data = &d};
    return run(NULL, 0, 2, args, lens, deadline, node_rooms_reply, &o) ? o.code : 0;
}

static int any_reply(call_out *o, const redis_reply *r)
{
    (void)o;
    (void)r;
    return 0;
}

void chat__redis_node_forget(const char *room, int64_t deadline)
{
    char key[sizeof chat__R.instance + 32];
    const char *args[] = {"SREM", key, room};
    size_t lens[] = {4, node_key(key, sizeof key), strlen(room)};
    call_out o = {.what = "node forget"};
    run(NULL, 0, 3, args, lens, deadline, any_reply, &o);
}

/* ---- heartbeat and reaper (called by chat_redis_sub.c) --------------------- */

static int status_reply(call_out *o, const redis_reply *r)
{
    const resp_value *v = r->v;
    if (v[0].type == RESP_INTEGER) {
        o->data = (void *)(intptr_t)v[0].integer;
        return 0;
    }
    if (!is_str(&v[0]))
        return -EPROTO;
    o->data = str_eq(&v[0], "reaped") ? (void *)1 : NULL;
    return 0;
}

/* Refreshes this instance's heartbeat. 0 (and *reaped: the others had
 * removed this instance as dead) or a negative JSON-RPC code. */
int chat__redis_heartbeat(bool registered, int64_t deadline, bool *reaped)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)(CHAT_REDIS_NODE_TTL / GOC_MILLISECOND));
    const char *args[] = {chat__R.instance, ttl, registered ? "1" : "0"};
    call_out o = {.what = "heartbeat"};
    if (run(&S.heartbeat, 0, 3, args, NULL, deadline, status_reply, &o))
        return o.code;
    *reaped = o.data != NULL;
    return 0;
}

/* Removes the members of dead instances (target NULL) or of target.
 * Returns how many members, or a negative JSON-RPC code. */
int chat__redis_reap(const char *target, int64_t deadline)
{
    char maxlen[16];
    snprintf(maxlen, sizeof maxlen, "%d", CHAT_REDIS_PRESENCE);
    const char *args[] = {chat__R.instance, maxlen, target ? target : ""};
    call_out o = {.what = "reap"};
    if (run(&S.reap, 0, 3, args, NULL, deadline, status_reply, &o))
        return o.code;
    return (int)(intptr_t)o.data;
}

/* ---- the broker ------------------------------------------------------------ */

static bool broker_available(void)
{
    int64_t ok = atomic_load(&chat__R.beat_ok_ns);
    return ok && goc_nanotime() - ok < CHAT_REDIS_HEALTHY && atomic_load(&chat__R.sub_up) &&
           chat__R.cl && redis_client_up(chat__R.cl);
}

static int broker_start(const chat_config *cfg)
{
    redis_url u;
    char err[200];
    if (redis_url_parse(cfg->redis_url, &u, err, sizeof err) != 0) {
        log_error("chat: %s", err);
        return -EINVAL;
    }
    memset(&chat__R, 0, sizeof chat__R);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)goc_nanotime() ^ (uint64_t)getpid() << 32;
    snprintf(chat__R.instance, sizeof chat__R.instance, "%s#%016llx", chat__g.node,
             (unsigned long long)rnd);
    redis_script_init(&S.send, send_src);
    redis_script_init(&S.presence, presence_src);
    redis_script_init(&S.events, events_src);
    redis_script_init(&S.snapshot, snapshot_src);
    redis_script_init(&S.rooms, rooms_src);
    redis_script_init(&S.heartbeat, heartbeat_src);
    redis_script_init(&S.reap, reap_src);
    if (redis_client_new(&u, CHAT_REDIS_POOL, &chat__R.cl) != 0)
        return -ENOMEM;
    int rc = chat__redis_sub_start();
    if (rc) {
        redis_client_free(chat__R.cl);
        return rc;
    }
    log_info("chat: node %s, history and presence in Redis at %s", chat__g.node, u.addr);
    return 0;
}

static void broker_stop(void)
{
    chat__redis_sub_stop();
}

/* The rooms have ended: what this server's members left behind (a leave
 * that could not reach Redis) goes now, with its heartbeat. */
static void broker_release(void)
{
    int n = chat__redis_reap(chat__R.instance, goc_nanotime() + CHAT_CALL_TIMEOUT);
    if (n > 0)
        log_info("redis: removed %d members of this server on the way out", n);
    redis_client_free(chat__R.cl);
    chat__R.cl = NULL;
}

static json_t *broker_stats_json(void)
{
    redis_stats st = {0};
    if (chat__R.cl) /* NULL once stopped */
        redis_client_stats(chat__R.cl, &st);
    return json_pack("{s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "node",
                     chat__g.node, "instance", chat__R.instance, "connected", st.up,
                     "subscribed", atomic_load(&chat__R.sub_up), "reconnects",
                     (json_int_t)atomic_load(&chat__R.reconnects), "published",
                     (json_int_t)atomic_load(&chat__R.published), "received",
                     (json_int_t)atomic_load(&chat__R.received), "gaps_filled",
                     (json_int_t)atomic_load(&chat__R.gaps), "resyncs",
                     (json_int_t)atomic_load(&chat__R.resyncs), "dropped",
                     (json_int_t)atomic_load(&chat__R.dropped), "reaped",
                     (json_int_t)atomic_load(&chat__R.reaped), "calls",
                     (json_int_t)st.calls);
}

static void counter(buf_t *b, const char *name, const char *help, uint64_t v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

static void broker_metrics(buf_t *b)
{
    redis_stats st = {0};
    if (chat__R.cl) /* NULL once stopped */
        redis_client_stats(chat__R.cl, &st);
    buf_printf(b, "# HELP gocd_broker_connected Whether Redis is reachable (1) or not (0).\n"
                  "# TYPE gocd_broker_connected gauge\ngocd_broker_connected %d\n",
               broker_available());
    buf_printf(b, "# HELP gocd_broker_subscribed Whether the subscription is connected (1).\n"
                  "# TYPE gocd_broker_subscribed gauge\ngocd_broker_subscribed %d\n",
               atomic_load(&chat__R.sub_up) ? 1 : 0);
    buf_printf(b, "# HELP gocd_broker_connections Command connections to Redis open.\n"
                  "# TYPE gocd_broker_connections gauge\ngocd_broker_connections %lld\n",
               (long long)st.conns);
    counter(b, "gocd_broker_reconnects_total", "Times Redis came back after being unreachable.",
            atomic_load(&chat__R.reconnects));
    counter(b, "gocd_broker_subscription_reconnects_total",
            "Times the subscription connection was made again.",
            atomic_load(&chat__R.sub_reconnects));
    counter(b, "gocd_broker_published_total", "Messages this server stored and published.",
            atomic_load(&chat__R.published));
    counter(b, "gocd_broker_received_total", "Events received on the subscription.",
            atomic_load(&chat__R.received));
    counter(b, "gocd_broker_gaps_filled_total",
            "Events missed on the subscription and read back from the streams.",
            atomic_load(&chat__R.gaps));
    counter(b, "gocd_broker_resyncs_total",
            "Rooms brought back to Redis's state from a snapshot (a gap beyond the streams).",
            atomic_load(&chat__R.resyncs));
    counter(b, "gocd_broker_dropped_total",
            "Events a busy room could not queue (read back from the streams later).",
            atomic_load(&chat__R.dropped));
    counter(b, "gocd_broker_reaped_total", "Members of dead servers removed by this one.",
            atomic_load(&chat__R.reaped));
    counter(b, "gocd_broker_call_failures_total", "Redis calls that failed.", st.call_failures);
    buf_printf(b, "# HELP gocd_broker_call_seconds Redis call latency.\n"
                  "# TYPE gocd_broker_call_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < REDIS_LATENCY_BUCKETS; i++) {
        cum += st.latency[i];
        buf_printf(b, "gocd_broker_call_seconds_bucket{le=\"%g\"} %llu\n",
                   (double)redis_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += st.latency[REDIS_LATENCY_BUCKETS];
    buf_printf(b, "gocd_broker_call_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)cum);
    buf_printf(b, "gocd_broker_call_seconds_sum %.6f\ngocd_broker_call_seconds_count %llu\n",
               (double)st.latency_sum_us / 1e6, (unsigned long long)st.calls);
}

const chat__broker chat__broker_redis = {
    .name = "redis",
    .distributed = true,
    .start = broker_start,
    .stop = broker_stop,
    .release = broker_release,
    .send = broker_send,
    .history = broker_history,
    .rooms = broker_rooms,
    .members = broker_members,
    .nick_held = broker_nick_held,
    .available = broker_available,
    .stats_json = broker_stats_json,
    .metrics = broker_metrics,
};

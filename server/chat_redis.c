/* chat_redis.c: the Redis broker (chat__broker_redis): the chat's history,
 * message ids and presence in Redis, shared by every server started with
 * the same --redis URL (doc/cluster.md). Here: the broker's own calls
 * (chat.send, history, rooms, members, whether a nick is held), its start
 * and stop, and its figures. Its scripts are in chat_redis_lua.c, the
 * rooms' calls in chat_redis_room.c, the subscription, heartbeat and
 * reaper in chat_redis_sub.c, and the rooms as replicas in
 * chat_room_sync.c.
 *
 * A message is stored, numbered and published by one script; its sender
 * is answered once the script has run. Delivery, here as on every other
 * server, comes through the subscription, in the room's order.
 *
 * The calls run on the caller's goroutine (a connection's handler), each
 * with a deadline: a Redis that cannot be reached is JRPC_UNAVAILABLE at
 * once (the pool is down) or by the deadline.
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

/* ---- the broker's calls --------------------------------------------------- */

typedef struct send_data {
    int64_t id, ts;
} send_data;

static int send_reply(chat__call *o, const redis_reply *r)
{
    send_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer != 2 || !chat__resp_int(&v[1], &d->id) ||
        !chat__resp_int(&v[2], &d->ts))
        return -EPROTO;
    return 0;
}

/* The script puts the id and the ts into the chat.message notification
 * between head and the tail written here (chat__message_write's form). */
static int broker_send(const char *room, const char *nick, const char *text, size_t len,
                       int64_t deadline, int64_t *id, int64_t *ts, int *code)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"chat.message\",\"params\":{\"id\":";
    buf_t tail = {0};
    goc_json_lit(&tail, ",\"room\":");
    goc_json_str(&tail, room, strlen(room));
    goc_json_lit(&tail, ",\"nick\":");
    goc_json_str(&tail, nick, strlen(nick));
    goc_json_lit(&tail, ",\"text\":");
    goc_json_str(&tail, text, len);
    goc_json_lit(&tail, ",\"ts\":");
    if (tail.err) {
        buf_free(&tail);
        *code = JRPC_INTERNAL_ERROR;
        return -1;
    }
    char klog[CHAT_KEY_MAX], khead[CHAT_KEY_MAX], kcount[CHAT_KEY_MAX], chan[CHAT_KEY_MAX], maxlen[16];
    chat__room_key(klog, sizeof klog, room, "log");
    chat__room_key(khead, sizeof khead, room, "head");
    chat__room_key(kcount, sizeof kcount, room, "count");
    chat__room_key(chan, sizeof chan, room, "ch");
    snprintf(maxlen, sizeof maxlen, "%d", CHAT_REDIS_HISTORY);
    const char *args[] = {"goc:ids", klog, khead, kcount, "goc:rooms",
                          room, nick, text, head, tail.data, maxlen, chan};
    size_t lens[] = {7, strlen(klog), strlen(khead), strlen(kcount), 9,
                     strlen(room), strlen(nick), len, sizeof head - 1, tail.len,
                     strlen(maxlen), strlen(chan)};
    send_data d = {0};
    chat__call o = {.what = "send", .data = &d};
    int rc = chat__redis_run(&chat__scripts.send, 5, 12, args, lens, deadline, send_reply, &o);
    buf_free(&tail);
    if (rc) {
        *code = o.code;
        return -1;
    }
    atomic_fetch_add(&chat__R.published, 1);
    atomic_fetch_add(&chat__g.st_stored, 1);
    *id = d.id;
    *ts = d.ts;
    *code = JRPC_INTERNAL_ERROR;
    return 0;
}

typedef struct history_data {
    const char *room;
    bool reverse; /* the reply is newest first */
    buf_t *out;   /* the array goes on its end, from start */
    size_t start;
} history_data;

/* Writes the entries of the reply as a JSON array, oldest first, straight
 * from the reply's bulk strings. */
static int history_reply(chat__call *o, const redis_reply *r)
{
    history_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY)
        return -EPROTO;
    size_t n = 0, cap = v[0].integer > 0 ? (size_t)v[0].integer : 1;
    uint32_t *at = goc_malloc(cap * sizeof *at); /* the entries' nodes, in the reply's order */
    if (!at)
        return -ENOMEM;
    for (uint32_t i = resp_first(0); n < cap && i < v[0].next; i = v[i].next)
        at[n++] = i;
    buf_truncate(d->out, d->start);
    goc_json_lit(d->out, "[");
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        chat__entry e;
        if (k)
            goc_json_lit(d->out, ",");
        if (!chat__entry_read(v, at[d->reverse ? n - 1 - k : k], &e) ||
            !chat__message_entry_write(d->out, d->room, &e))
            rc = -EPROTO;
    }
    goc_json_lit(d->out, "]");
    goc_free(at);
    return rc ? rc : d->out->err;
}

static int broker_history(const char *room, int64_t since, int64_t before, int64_t limit,
                          bool newest, int64_t deadline, buf_t *out, int *code)
{
    *code = JRPC_INTERNAL_ERROR;
    if (before > 0 && before - 1 <= since) {
        goc_json_lit(out, "[]");
        return out->err ? -1 : 0;
    }
    char key[CHAT_KEY_MAX], lo[32], hi[32], count[16];
    chat__room_key(key, sizeof key, room, "log");
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
    history_data d = {.room = room, .reverse = newest, .out = out, .start = out->len};
    chat__call o = {.what = "history", .data = &d};
    if (chat__redis_run(NULL, 0, 6, args, lens, deadline, history_reply, &o)) {
        buf_truncate(out, d.start);
        *code = o.code;
        return -1;
    }
    return 0;
}

static int rooms_reply(chat__call *o, const redis_reply *r)
{
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer % 3)
        return -EPROTO;
    json_t *out = json_object();
    for (uint32_t i = resp_first(0); out && i + 2 < v[0].next; i += 3) {
        if (!chat__resp_is_str(&v[i]) || v[i + 1].type != RESP_INTEGER || v[i + 2].type != RESP_INTEGER)
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
    chat__call o = {.what = "rooms"};
    if (chat__redis_run(&chat__scripts.rooms, 0, 0, NULL, NULL, deadline, rooms_reply, &o)) {
        json_decref(o.data);
        *code = o.code;
        return NULL;
    }
    return o.data;
}
/* ---- members -------------------------------------------------------------- */

static int members_reply(chat__call *o, const redis_reply *r)
{
    if (r->v[0].type != RESP_ARRAY)
        return -EPROTO;
    size_t n;
    chat__member_rec *m = chat__members_sorted(r->v, 0, &n);
    json_t *out = m ? json_array() : NULL;
    for (size_t i = 0; out && i < n; i++)
        json_array_append_new(out, json_stringn(m[i].nick->str, m[i].nick->len));
    goc_free(m);
    o->data = out;
    return out ? 0 : -ENOMEM;
}

static json_t *broker_members(const char *room, int64_t deadline, int *code)
{
    char key[CHAT_KEY_MAX];
    chat__room_key(key, sizeof key, room, "members");
    const char *args[] = {"HGETALL", key};
    size_t lens[] = {7, strlen(key)};
    chat__call o = {.what = "members"};
    if (chat__redis_run(NULL, 0, 2, args, lens, deadline, members_reply, &o)) {
        *code = o.code;
        return NULL;
    }
    return o.data;
}

static int held_reply(chat__call *o, const redis_reply *r)
{
    if (r->v[0].type != RESP_INTEGER)
        return -EPROTO;
    o->data = r->v[0].integer ? (void *)1 : NULL;
    return 0;
}

static int broker_nick_held(const char *room, const char *nick, int64_t deadline)
{
    char key[CHAT_KEY_MAX];
    chat__room_key(key, sizeof key, room, "members");
    const char *args[] = {"HEXISTS", key, nick};
    size_t lens[] = {7, strlen(key), strlen(nick)};
    chat__call o = {.what = "nick held"};
    if (chat__redis_run(NULL, 0, 3, args, lens, deadline, held_reply, &o))
        return o.code;
    return o.data != NULL;
}
/* ---- the broker ------------------------------------------------------------ */

static bool broker_available(void)
{
    int64_t ok = atomic_load(&chat__R.beat_ok_ns);
    return ok && goc_nanotime() - ok < CHAT_REDIS_HEALTHY && atomic_load(&chat__R.sub_up) &&
           chat__R.cl && redis_client_up(chat__R.cl);
}

static int broker_start(const chat_config *cfg, char *err, size_t errlen)
{
    redis_url u;
    if (redis_url_parse(cfg->redis_url, &u, err, errlen) != 0)
        return -EINVAL;
    memset(&chat__R, 0, sizeof chat__R);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)goc_nanotime() ^ (uint64_t)getpid() << 32;
    snprintf(chat__R.instance, sizeof chat__R.instance, "%s#%016llx", chat__g.node,
             (unsigned long long)rnd);
    chat__redis_scripts_init();
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

static void metric(buf_t *b, const char *type, const char *name, const char *help, uint64_t v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
               (unsigned long long)v);
}

static void counter(buf_t *b, const char *name, const char *help, uint64_t v)
{
    metric(b, "counter", name, help, v);
}

static void broker_metrics(buf_t *b)
{
    redis_stats st = {0};
    if (chat__R.cl) /* NULL once stopped */
        redis_client_stats(chat__R.cl, &st);
    metric(b, "gauge", "gocd_broker_connected", "Whether Redis is reachable (1) or not (0).",
           broker_available() ? 1 : 0);
    metric(b, "gauge", "gocd_broker_subscribed", "Whether the subscription is connected (1).",
           atomic_load(&chat__R.sub_up) ? 1 : 0);
    metric(b, "gauge", "gocd_broker_connections", "Command connections to Redis open.",
           st.conns > 0 ? (uint64_t)st.conns : 0);
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

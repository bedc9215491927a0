/* chat_redis_room.c: the Redis calls of the rooms (chat_room_sync.c) and
 * of the upkeep (chat_redis_sub.c): joins and leaves, the events after a
 * room's head (its two streams merged in order), a room's snapshot, this
 * instance's rooms, the heartbeat and the reaper.
 *
 * Invariants: as chat_redis_call.c's; events come out in the rooms' order,
 * each with its predecessor, so the caller can check they follow.
 */
#include "chat_redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/malloc.h>

#include "log.h"

/* ---- what the rooms call (chat_room_sync.c) -------------------------------- */

typedef struct presence_data {
    int result;
    chat__eid prev, eid;
} presence_data;

static int presence_reply(chat__call *o, const redis_reply *r)
{
    presence_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer < 1)
        return -EPROTO;
    if (chat__resp_str_eq(&v[1], "taken"))
        d->result = CHAT_PRESENCE_TAKEN;
    else if (chat__resp_str_eq(&v[1], "held"))
        d->result = CHAT_PRESENCE_HELD;
    else if (chat__resp_str_eq(&v[1], "absent"))
        d->result = CHAT_PRESENCE_ABSENT;
    else if (chat__resp_str_eq(&v[1], "ok") && v[0].integer == 3 &&
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
    char kmem[CHAT_KEY_MAX], khead[CHAT_KEY_MAX], maxlen[16], ttl[24];
    chat__room_key(kmem, sizeof kmem, room, "members");
    chat__room_key(khead, sizeof khead, room, "head");
    snprintf(maxlen, sizeof maxlen, "%d", CHAT_REDIS_PRESENCE);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(CHAT_REDIS_NODE_TTL / GOC_MILLISECOND));
    const char opstr[2] = {op, 0};
    const char *args[] = {kmem, khead, room, opstr, nick, chat__R.instance, maxlen, ttl};
    presence_data d = {0};
    chat__call o = {.what = op == 'j' ? "join" : "leave", .data = &d};
    if (chat__redis_run(&chat__scripts.presence, 2, 8, args, NULL, deadline, presence_reply, &o))
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

/* One stream chat__entry as a ROOM_EVENT command (its text allocated). */
static int event_of(const char *room, const chat__entry *e, bool message, chat__cmd *c)
{
    memset(c, 0, sizeof *c);
    c->op = ROOM_EVENT;
    c->eid = e->eid;
    if (!e->p || !chat__eid_parse(e->p->str, e->p->len, &c->prev) || !e->n)
        return -EPROTO;
    if (message) {
        json_t *m = chat__message_json(room, e);
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
 * lies before its last chat__entry is certain to be complete. */
static int events_reply(chat__call *o, const redis_reply *r)
{
    events_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer != 3 || !chat__resp_is_str(&v[1]) ||
        !chat__eid_parse(v[1].str, v[1].len, &d->head))
        return -EPROTO;
    uint32_t a = resp_after(v, 1), b = resp_after(v, a);
    if (v[a].type != RESP_ARRAY || v[b].type != RESP_ARRAY)
        return -EPROTO;
    size_t total = (size_t)(v[a].integer + v[b].integer);
    chat__eid bound = {UINT64_MAX, UINT64_MAX};
    chat__entry last;
    for (uint32_t list = a; list; list = list == a ? b : 0) {
        if (v[list].integer < CHAT_REDIS_SYNC_BATCH)
            continue;
        uint32_t i = resp_first(list), prev = i;
        for (; i < v[list].next; i = v[i].next)
            prev = i;
        if (chat__entry_read(v, prev, &last) && chat__eid_cmp(last.eid, bound) < 0)
            bound = last.eid;
    }
    d->v = goc_malloc((total ? total : 1) * sizeof *d->v);
    if (!d->v)
        return -ENOMEM;
    uint32_t i = resp_first(a), j = resp_first(b);
    while (i < v[a].next || j < v[b].next) {
        chat__entry ea, eb;
        bool has_a = i < v[a].next && chat__entry_read(v, i, &ea);
        bool has_b = j < v[b].next && chat__entry_read(v, j, &eb);
        if ((i < v[a].next && !has_a) || (j < v[b].next && !has_b))
            return -EPROTO;
        bool take_a = has_a && (!has_b || chat__eid_cmp(ea.eid, eb.eid) < 0);
        const chat__entry *e = take_a ? &ea : &eb;
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
    char klog[CHAT_KEY_MAX], kpres[CHAT_KEY_MAX], khead[CHAT_KEY_MAX], first[48], last[48], count[16];
    chat__room_key(klog, sizeof klog, room, "log");
    chat__room_key(kpres, sizeof kpres, room, "pres");
    chat__room_key(khead, sizeof khead, room, "head");
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
    chat__call o = {.what = "events", .data = &d};
    if (chat__redis_run(&chat__scripts.events, 3, 6, args, NULL, deadline, events_reply, &o)) {
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

static int snapshot_reply(chat__call *o, const redis_reply *r)
{
    chat__snapshot *s = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer != 3 || !chat__resp_is_str(&v[1]) ||
        !chat__eid_parse(v[1].str, v[1].len, &s->head) || !chat__resp_int(&v[2], &s->last_id))
        return -EPROTO;
    size_t n;
    chat__member_rec *m = chat__members_sorted(v, 3, &n);
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
    char kmem[CHAT_KEY_MAX], khead[CHAT_KEY_MAX], klog[CHAT_KEY_MAX];
    chat__room_key(kmem, sizeof kmem, room, "members");
    chat__room_key(khead, sizeof khead, room, "head");
    chat__room_key(klog, sizeof klog, room, "log");
    const char *args[] = {kmem, khead, klog};
    memset(out, 0, sizeof *out);
    chat__call o = {.what = "snapshot", .data = out};
    if (chat__redis_run(&chat__scripts.snapshot, 3, 3, args, NULL, deadline, snapshot_reply, &o)) {
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

static int node_rooms_reply(chat__call *o, const redis_reply *r)
{
    node_rooms_data *d = o->data;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY)
        return -EPROTO;
    for (uint32_t i = resp_first(0); i < v[0].next; i = v[i].next) {
        char room[CHAT_ROOM_MAX + 1];
        if (!chat__resp_is_str(&v[i]) || v[i].len > CHAT_ROOM_MAX)
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
    chat__call o = {.what = "node rooms", .data = &d};
    return chat__redis_run(NULL, 0, 2, args, lens, deadline, node_rooms_reply, &o) ? o.code : 0;
}

static int any_reply(chat__call *o, const redis_reply *r)
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
    chat__call o = {.what = "node forget"};
    chat__redis_run(NULL, 0, 3, args, lens, deadline, any_reply, &o);
}

/* ---- heartbeat and reaper (called by chat_redis_sub.c) --------------------- */

static int status_reply(chat__call *o, const redis_reply *r)
{
    const resp_value *v = r->v;
    if (v[0].type == RESP_INTEGER) {
        o->data = (void *)(intptr_t)v[0].integer;
        return 0;
    }
    if (!chat__resp_is_str(&v[0]))
        return -EPROTO;
    o->data = chat__resp_str_eq(&v[0], "reaped") ? (void *)1 : NULL;
    return 0;
}

/* Refreshes this instance's heartbeat. 0 (and *reaped: the others had
 * removed this instance as dead) or a negative JSON-RPC code. */
int chat__redis_heartbeat(bool registered, int64_t deadline, bool *reaped)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)(CHAT_REDIS_NODE_TTL / GOC_MILLISECOND));
    const char *args[] = {chat__R.instance, ttl, registered ? "1" : "0"};
    chat__call o = {.what = "heartbeat"};
    if (chat__redis_run(&chat__scripts.heartbeat, 0, 3, args, NULL, deadline, status_reply, &o))
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
    chat__call o = {.what = "reap"};
    if (chat__redis_run(&chat__scripts.reap, 0, 3, args, NULL, deadline, status_reply, &o))
        return o.code;
    return (int)(intptr_t)o.data;
}

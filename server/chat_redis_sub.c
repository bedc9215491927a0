/* chat_redis_sub.c: the Redis broker's two goroutines.
 *
 * The subscriber keeps one connection subscribed to the channel of every
 * room this server has (a count per room name: a room retiring while its
 * successor starts keeps the channel). A reader goroutine per connection
 * takes the pushes and gives each room its events (chat__room_try: a
 * room whose queue is full misses the event and fills the gap later from
 * the streams, so the reader never waits on a room). After every
 * (re)subscription each room is told to check for what it missed. The
 * controller writes SUBSCRIBE, UNSUBSCRIBE and a PING every second; a
 * connection silent for 3 s is dead and is made again, at most 1 s apart.
 *
 * The upkeep goroutine, every CHAT_REDIS_HEARTBEAT: refreshes this
 * instance's heartbeat (which says whether Redis is reachable: /healthz,
 * chat_available); every second, asks each room whether Redis has events
 * it has not seen (one MGET of the rooms' heads: the safety net for a
 * push lost with nothing after it), and, once connected for a whole
 * CHAT_REDIS_NODE_TTL (so that live servers had the time to beat again
 * after an outage), removes the members of servers whose heartbeat
 * expired. If the others removed this one (it was silent too long), its
 * rooms put its members back (ROOM_RECONCILE).
 *
 * Invariants: only the subscriber goroutine touches `want` and the
 * connection's writing side; only the reader reads it; the reader is
 * stopped (cancel) and waited for before the connection is closed.
 */
#include "chat_redis.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <goc/malloc.h>

#include "log.h"

#define SUB_SILENT (3 * GOC_SECOND)     /* no byte for this long: the connection is dead */
#define SUB_PING (1 * GOC_SECOND)
#define BACKOFF_MIN (50 * GOC_MILLISECOND)
#define BACKOFF_MAX (1 * GOC_SECOND)
#define HEADS_PER_CALL 100

typedef struct room_name {
    char s[CHAT_ROOM_MAX + 1]; /* NUL-padded: the map hashes all of it */
} room_name;

typedef struct sub_msg {
    bool add;
    room_name room;
} sub_msg;

static struct {
    goc_chan *ctl;        /* sub_msg, from the rooms; never closed; kept after the stop
                           * (rooms still ending may look at it) until the next start */
    goc_chan *stop;       /* closed by chat__redis_sub_stop */
    _Atomic bool stopped; /* ctl is no longer read */
    goc_waitgroup wg;     /* the subscriber and the upkeep goroutines */
    redis_url url;        /* the subscription's own connection */
} SUB;

void chat__redis_sub_add(const char *room)
{
    sub_msg m = {.add = true};
    snprintf(m.room.s, sizeof m.room.s, "%s", room);
    if (!atomic_load(&SUB.stopped) && !goc_chan_try_send(SUB.ctl, &m))
        log_warn("redis: subscription requests overflow: room %s relies on polling", room);
}

void chat__redis_sub_remove(const char *room)
{
    sub_msg m = {.add = false};
    snprintf(m.room.s, sizeof m.room.s, "%s", room);
    if (!atomic_load(&SUB.stopped))
        goc_chan_try_send(SUB.ctl, &m);
}

/* ---- the reader ---------------------------------------------------------- */

typedef struct reader_arg {
    redis_conn *c;
    goc_chan *done;          /* closed when the reader returns */
    _Atomic int64_t *last;   /* goc_nanotime() of the last reply read */
} reader_arg;

/* "goc:{ROOM}:ch" -> ROOM. false if the channel is not a room's. */
static bool room_of(const resp_value *ch, room_name *out)
{
    if (ch->len < 9 || ch->len - 8 > CHAT_ROOM_MAX || memcmp(ch->str, "goc:{", 5) != 0 ||
        memcmp(ch->str + ch->len - 4, "}:ch", 4) != 0)
        return false;
    memset(out, 0, sizeof *out);
    memcpy(out->s, ch->str + 5, ch->len - 9);
    return chat__room_valid(out->s, ch->len - 9);
}

/* Tells the local room r (if any) to check for missed events. */
static void tick_room(const char *room, chat__eid redis_head)
{
    chat_room *r = chat__room_get(room, false);
    if (!r)
        return;
    chat__cmd c = {.op = ROOM_TICK, .eid = redis_head};
    chat__room_try(r, &c);
    chat__room_put(r);
}

/* Splits "PREV EID KIND REST" into an event for its room. */
static bool event_parse(const char *p, size_t len, chat__cmd *c)
{
    const char *end = p + len, *sp1 = memchr(p, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (!sp2 || end - sp2 < 3 || sp2[2] != ' ' || !chat__eid_parse(p, (size_t)(sp1 - p), &c->prev) ||
        !chat__eid_parse(sp1 + 1, (size_t)(sp2 - sp1 - 1), &c->eid))
        return false;
    c->op = ROOM_EVENT;
    c->kind = sp2[1];
    const char *rest = sp2 + 3;
    c->len = (size_t)(end - rest);
    if (c->kind == 'm')
        c->id = (int64_t)c->eid.ms;
    else if ((c->kind != 'j' && c->kind != 'l') || c->len == 0 || c->len > CHAT_NICK_MAX)
        return false;
    c->text = goc_malloc(c->len + 1);
    if (!c->text)
        return false;
    memcpy(c->text, rest, c->len);
    c->text[c->len] = 0;
    return true;
}

static void dispatch(const redis_reply *r)
{
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY || v[0].integer < 3 || v[1].type != RESP_BULK)
        return;
    room_name room;
    bool message = v[1].len == 7 && memcmp(v[1].str, "message", 7) == 0;
    bool subscribed = v[1].len == 9 && memcmp(v[1].str, "subscribe", 9) == 0;
    if ((!message && !subscribed) || !room_of(&v[2], &room))
        return;
    if (subscribed) { /* events may have been missed before this */
        tick_room(room.s, (chat__eid){0, 0});
        return;
    }
    atomic_fetch_add(&chat__R.received, 1);
    chat__cmd c = {0};
    if (v[3].type != RESP_BULK || !event_parse(v[3].str, v[3].len, &c)) {
        log_warn("redis: a malformed event on room %s: ignored (the gap will be filled)", room.s);
        return;
    }
    chat_room *rm = chat__room_get(room.s, false);
    if (!rm || !chat__room_try(rm, &c)) {
        if (rm)
            atomic_fetch_add(&chat__R.dropped, 1);
        goc_free(c.text);
    }
    chat__room_put(rm);
}

/* Reads pushes until the connection fails or says no (an error reply: a
 * SUBSCRIBE refused, say); the controller then makes a new one. The
 * subscription counts as up from its first good reply. */
static void reader_main(void *arg)
{
    reader_arg a = *(reader_arg *)arg;
    for (;;) {
        redis_reply r;
        if (redis_read(a.c, goc_nanotime() + 3600 * GOC_SECOND, &r) != 0)
            break;
        if (r.v[0].type == RESP_ERROR) {
            log_warn("redis: the subscription was refused: %.*s", (int)r.v[0].len, r.v[0].str);
            break;
        }
        atomic_store(a.last, goc_nanotime());
        atomic_store(&chat__R.sub_up, true);
        dispatch(&r);
    }
    atomic_store(&chat__R.sub_up, false);
    goc_chan_close(a.done);
}

/* ---- the subscriber ------------------------------------------------------ */

/* Sends SUBSCRIBE or UNSUBSCRIBE for rooms[0..n). 0 or a negative errno. */
static int sub_send(redis_conn *c, bool add, const room_name *rooms, size_t n)
{
    const char *argv[HEADS_PER_CALL + 1];
    size_t lens[HEADS_PER_CALL + 1];
    char (*chans)[CHAT_ROOM_MAX + 16] = goc_malloc(HEADS_PER_CALL * sizeof *chans);
    if (!chans)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += HEADS_PER_CALL) {
        size_t k = n - i < HEADS_PER_CALL ? n - i : HEADS_PER_CALL;
        argv[0] = add ? "SUBSCRIBE" : "UNSUBSCRIBE";
        lens[0] = strlen(argv[0]);
        for (size_t j = 0; j < k; j++) {
            lens[j + 1] = (size_t)snprintf(chans[j], sizeof chans[j], "goc:{%s}:ch", rooms[i + j].s);
            argv[j + 1] = chans[j];
        }
        rc = redis_send(c, goc_nanotime() + GOC_SECOND, (int)k + 1, argv, lens);
    }
    goc_free(chans);
    return rc;
}

/* Applies m to want; returns whether the channel must be (un)subscribed. */
static bool want_update(goc_map *want, const sub_msg *m)
{
    bool inserted;
    int *n = goc_map_assign(want, &m->room, &inserted);
    if (m->add)
        return ++*n == 1;
    if (--*n > 0)
        return false;
    goc_map_delete(want, &m->room);
    return true;
}

/* Every wanted room, for a new connection. */
static room_name *want_all(goc_map *want, size_t *n)
{
    *n = 0;
    room_name *all = goc_malloc((goc_map_len(want) + 1) * sizeof *all);
    if (!all)
        return NULL;
    goc_map_iter it;
    goc_map_iter_init(&it, want);
    while (goc_map_iter_next(&it))
        all[(*n)++] = *(room_name *)it.key;
    return all;
}

/* Waits d, or less if stopping (then true). Drains ctl meanwhile. */
static bool pause_for(goc_map *want, int64_t d)
{
    goc_timer *t = goc_timer_new(d);
    bool stop = false;
    for (;;) {
        sub_msg m;
        goc_select_case cases[] = {
            {.c = goc_timer_chan(t), .dir = GOC_SELECT_RECV},
            {.c = SUB.stop, .dir = GOC_SELECT_RECV},
            {.c = SUB.ctl, .dir = GOC_SELECT_RECV, .elem = &m},
        };
        int k = goc_select(cases, 3, true);
        if (k == 2) {
            want_update(want, &m);
            continue;
        }
        stop = k == 1;
        break;
    }
    goc_timer_free(t);
    return stop;
}

/* Serves one connection until it dies or the broker stops (true). */
static bool serve_conn(redis_conn *c, goc_map *want)
{
    size_t n;
    room_name *all = want_all(want, &n);
    int rc = all ? sub_send(c, true, all, n) : -ENOMEM;
    goc_free(all);
    if (rc)
        return false;
    _Atomic int64_t last = goc_nanotime();
    reader_arg ra = {c, goc_chan_make(0, 0), &last};
    goc_go(reader_main, &ra, sizeof ra);
    const char *ping[] = {"PING"};
    size_t pl[] = {4};
    redis_send(c, goc_nanotime() + GOC_SECOND, 1, ping, pl); /* a first reply soon */
    goc_ticker *tk = goc_ticker_new(SUB_PING);
    bool stop = false;
    while (!stop) {
        sub_msg m;
        goc_select_case cases[] = {
            {.c = ra.done, .dir = GOC_SELECT_RECV},
            {.c = SUB.stop, .dir = GOC_SELECT_RECV},
            {.c = SUB.ctl, .dir = GOC_SELECT_RECV, .elem = &m},
            {.c = goc_ticker_chan(tk), .dir = GOC_SELECT_RECV},
        };
        int k = goc_select(cases, 4, true);
        if (k == 0)
            break;
        stop = k == 1;
        if (k == 2 && want_update(want, &m) && sub_send(c, m.add, &m.room, 1) != 0)
            break;
        if (k == 3) {
            if (goc_nanotime() - atomic_load(&last) > SUB_SILENT) {
                log_warn("redis: the subscription went silent: reconnecting");
                break;
            }
            if (redis_send(c, goc_nanotime() + GOC_SECOND, 1, ping, pl) != 0)
                break;
        }
    }
    atomic_store(&chat__R.sub_up, false);
    goc_ticker_free(tk);
    redis_conn_cancel(c);
    goc_chan_recv(ra.done, NULL);
    goc_chan_free(ra.done);
    return stop;
}

static void sub_main(void *arg)
{
    (void)arg;
    goc_map *want = goc_map_make(&GOC_MAP_BYTES(room_name, int), 64);
    int64_t backoff = 0;
    bool first = true, stop = false;
    while (!stop) {
        redis_conn *c = NULL;
        int rc = redis_conn_open(&SUB.url, goc_nanotime() + GOC_SECOND, &c);
        if (rc) {
            backoff = backoff ? backoff * 2 : BACKOFF_MIN;
            if (backoff > BACKOFF_MAX)
                backoff = BACKOFF_MAX;
            stop = pause_for(want, backoff);
            continue;
        }
        if (!first) {
            atomic_fetch_add(&chat__R.sub_reconnects, 1);
            if (!backoff)
                log_info("redis: subscription connected again");
        }
        first = false;
        int64_t began = goc_nanotime();
        stop = serve_conn(c, want);
        redis_conn_close(c);
        /* one that did not last is tried again later and later */
        if (goc_nanotime() - began > BACKOFF_MAX)
            backoff = 0;
        else
            backoff = backoff ? (backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2)
                              : BACKOFF_MIN;
        if (!stop)
            stop = pause_for(want, backoff ? backoff : BACKOFF_MIN);
    }
    atomic_store(&SUB.stopped, true);
    goc_map_free(want);
    goc_waitgroup_done(&SUB.wg);
}

/* ---- upkeep -------------------------------------------------------------- */

typedef struct names {
    room_name *v;
    size_t n, cap;
} names;

static void collect(chat_room *r, void *arg)
{
    names *ns = arg;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        room_name *v = goc_realloc(ns->v, cap * sizeof *v);
        if (!v)
            return;
        ns->v = v;
        ns->cap = cap;
    }
    memset(&ns->v[ns->n], 0, sizeof ns->v[ns->n]);
    strcpy(ns->v[ns->n++].s, r->name);
}

typedef struct heads_arg {
    const room_name *rooms;
} heads_arg;

static int heads_reply(void *arg, const redis_reply *r)
{
    heads_arg *h = arg;
    const resp_value *v = r->v;
    if (v[0].type != RESP_ARRAY)
        return -EPROTO;
    size_t k = 0;
    for (uint32_t i = resp_first(0); i < v[0].next; i = v[i].next, k++) {
        chat__eid e = {0, 0};
        if (v[i].type == RESP_BULK && chat__eid_parse(v[i].str, v[i].len, &e))
            tick_room(h->rooms[k].s, e);
        else if (v[i].type == RESP_NIL)
            tick_room(h->rooms[k].s, (chat__eid){0, 0});
    }
    return 0;
}

/* Every local room compares its head with Redis's. */
static void check_heads(void)
{
    names ns = {0};
    chat__rooms_each(collect, &ns);
    const char *argv[HEADS_PER_CALL + 1];
    size_t lens[HEADS_PER_CALL + 1];
    char (*keys)[CHAT_ROOM_MAX + 16] = ns.n ? goc_malloc(HEADS_PER_CALL * sizeof *keys) : NULL;
    for (size_t i = 0; keys && i < ns.n; i += HEADS_PER_CALL) {
        size_t k = ns.n - i < HEADS_PER_CALL ? ns.n - i : HEADS_PER_CALL;
        argv[0] = "MGET";
        lens[0] = 4;
        for (size_t j = 0; j < k; j++) {
            lens[j + 1] = (size_t)snprintf(keys[j], sizeof keys[j], "goc:{%s}:head", ns.v[i + j].s);
            argv[j + 1] = keys[j];
        }
        heads_arg h = {ns.v + i};
        if (redis_client_do(chat__R.cl, goc_nanotime() + CHAT_CALL_TIMEOUT, NULL, 0, (int)k + 1,
                            argv, lens, heads_reply, &h) < 0)
            break;
    }
    goc_free(keys);
    goc_free(ns.v);
}

static void reconcile_room(chat_room *r, void *arg)
{
    (void)arg;
    chat__cmd c = {.op = ROOM_RECONCILE};
    chat__room_try(r, &c);
}

/* A room this instance has had members in, with no room here now: one is
 * made to reconcile (a nick left in Redis by a join answered -32006, or a
 * leave that could not reach it, goes), then it retires. */
static void visit_node_room(const char *room, void *arg)
{
    (void)arg;
    chat_room *r = chat__room_get(room, false);
    if (r) { /* live here: its own ticks reconcile it */
        chat__room_put(r);
        return;
    }
    r = chat__room_get(room, true);
    if (!r)
        return;
    chat__cmd c = {.op = ROOM_RECONCILE};
    chat__room_try(r, &c);
    chat__room_put(r);
}

static void upkeep_main(void *arg)
{
    (void)arg;
    goc_ticker *tk = goc_ticker_new(CHAT_REDIS_HEARTBEAT);
    bool registered = false, up = false;
    int64_t up_since = 0;
    for (uint64_t beat = 0;; beat++) {
        bool reaped = false;
        int rc = chat__redis_heartbeat(registered, goc_nanotime() + CHAT_REDIS_HEARTBEAT * 2,
                                       &reaped);
        int64_t now = goc_nanotime();
        if (rc == 0) {
            atomic_store(&chat__R.beat_ok_ns, now);
            if (!up) {
                if (registered) {
                    atomic_fetch_add(&chat__R.reconnects, 1);
                    log_info("redis: reachable again");
                }
                up_since = now;
            }
            up = registered = true;
            if (reaped) {
                log_warn("redis: this server was taken for dead: putting its members back");
                chat__rooms_each(reconcile_room, NULL);
            }
        } else if (up || beat == 0) {
            up = false;
            log_warn("redis: unreachable; chat calls answer -32006 until it is back");
        }
        if (up && beat % 10 == 5)
            chat__redis_node_rooms(now + CHAT_CALL_TIMEOUT, visit_node_room, NULL);
        if (up && beat % 2 == 1) {
            check_heads();
            if (now - up_since >= CHAT_REDIS_NODE_TTL) {
                int n = chat__redis_reap(NULL, now + CHAT_CALL_TIMEOUT);
                if (n > 0) {
                    atomic_fetch_add(&chat__R.reaped, (uint64_t)n);
                    log_info("redis: removed %d members of servers that stopped answering", n);
                }
            }
        }
        goc_select_case cases[] = {
            {.c = goc_ticker_chan(tk), .dir = GOC_SELECT_RECV},
            {.c = SUB.stop, .dir = GOC_SELECT_RECV},
        };
        if (goc_select(cases, 2, true) == 1)
            break;
    }
    goc_ticker_free(tk);
    goc_waitgroup_done(&SUB.wg);
}

/* ---- start and stop ------------------------------------------------------ */

int chat__redis_sub_start(void)
{
    SUB.url = *redis_client_url(chat__R.cl);
    goc_chan_free(SUB.ctl); /* the last run's: its rooms are all gone */
    SUB.ctl = goc_chan_make(sizeof(sub_msg), 4096);
    SUB.stop = goc_chan_make(0, 0);
    atomic_store(&SUB.stopped, false);
    goc_waitgroup_add(&SUB.wg, 2);
    if (goc_go(sub_main, NULL, 0) < 0) {
        goc_waitgroup_add(&SUB.wg, -2);
        goc_chan_free(SUB.stop);
        return -ENOMEM;
    }
    if (goc_go(upkeep_main, NULL, 0) < 0) {
        goc_waitgroup_done(&SUB.wg);
        goc_chan_close(SUB.stop);
        goc_waitgroup_wait(&SUB.wg);
        goc_chan_free(SUB.stop);
        return -ENOMEM;
    }
    return 0;
}

void chat__redis_sub_stop(void)
{
    goc_chan_close(SUB.stop);
    goc_waitgroup_wait(&SUB.wg);
    atomic_store(&SUB.stopped, true);
    goc_chan_free(SUB.stop);
    SUB.stop = NULL;
    atomic_store(&chat__R.sub_up, false);
    atomic_store(&chat__R.beat_ok_ns, 0);
}

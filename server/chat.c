/* chat.c: the chat's lifetime (init, shutdown, the broker), its rules for
 * rooms, nicks and texts, members (their rate limits and the pushes held
 * during a join), and the registry of rooms: a hash table under an
 * RWMutex, read-locked for lookups and write-locked to add a room. The
 * room goroutines are in chat_room.c and chat_room_sync.c, the brokers in
 * chat_history.c and chat_redis*.c, the JSON-RPC methods in
 * chat_methods.c.
 *
 * Invariants: see chat_internal.h. Rooms come and go with their members
 * until chat_shutdown, which closes every room's channel once the broker
 * takes no more messages, waits for the room goroutines, then frees the
 * rooms.
 */
#include "chat_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <goc/malloc.h>

#include "buf.h"
#include "log.h"
#include "utf8.h"

chat__state chat__g;

/* ---- rules ---------------------------------------------------------- */

bool chat__room_valid(const char *s, size_t len)
{
    if (len < 1 || len > CHAT_ROOM_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* A nick is 1-32 code points of valid UTF-8 with no control character
 * (C0, DEL, C1: U+0000-U+001F, U+007F-U+009F); so at most 128 bytes. */
bool chat__nick_valid(const char *s, size_t len)
{
    if (len < 1 || len > CHAT_NICK_MAX || !goc_utf8_valid((const uint8_t *)s, len))
        return false;
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        /* U+0080-U+009F is C2 80 - C2 9F */
        if (c == 0xc2 && i + 1 < len && (uint8_t)s[i + 1] <= 0x9f)
            return false;
        chars += (c & 0xc0) != 0x80;
    }
    return chars <= CHAT_NICK_MAX_CHARS;
}

bool chat_room_valid(const char *s, size_t len)
{
    return chat__room_valid(s, len);
}

bool chat_nick_valid(const char *s, size_t len)
{
    return chat__nick_valid(s, len);
}

bool chat__text_valid(const char *s, size_t len)
{
    return len >= 1 && len <= CHAT_TEXT_MAX && goc_utf8_valid((const uint8_t *)s, len);
}

/* ---- members -------------------------------------------------------- */

chat_member *chat_member_new(const chat_sink *sink)
{
    chat_member *m = goc_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->sink = *sink;
    m->held_tail = &m->held;
    m->tokens = 2.0 * (double)chat__g.rate;
    m->refill_ns = goc_nanotime();
    atomic_fetch_add(&chat__g.st_members, 1);
    return m;
}

void chat_member_gone(chat_member *m)
{
    if (!m)
        return;
    goc_rwmutex_rlock(&chat__g.life);
    /* Leave the rooms one by one: each leave removes the room from
     * m->rooms (in the room's goroutine), so take the last one each time. */
    while (chat__g.running) {
        goc_mutex_lock(&m->mu);
        chat_room *r = m->nrooms ? m->rooms[m->nrooms - 1].room : NULL;
        goc_mutex_unlock(&m->mu);
        if (!r)
            break;
        chat__reply rep = {0};
        chat__cmd cmd = {.op = ROOM_LEAVE, .m = m, .gone = true,
                         .deadline = goc_nanotime() + CHAT_CALL_TIMEOUT, .reply = &rep};
        chat__room_call(r, &cmd);
    }
    goc_rwmutex_runlock(&chat__g.life);
    atomic_fetch_sub(&chat__g.st_members, 1);
    for (chat__held *h = m->held, *next; h; h = next) {
        next = h->next;
        goc_free(h);
    }
    goc_free(m->rooms);
    goc_free(m);
}

/* ---- pushes held during a join -------------------------------------- */

void chat__member_hold(chat_member *m)
{
    goc_mutex_lock(&m->mu);
    m->holds++;
    atomic_store(&m->holding, true);
    goc_mutex_unlock(&m->mu);
}

/* The room goroutines push; a flush may run at the same time. While the
 * member holds, texts are listed under its lock; the flush pushes the list
 * and clears holding under that same lock, so a push that finds holding
 * clear comes after every held one. */
bool chat__member_push(chat_member *m, const char *text, size_t len)
{
    if (atomic_load(&m->holding)) {
        goc_mutex_lock(&m->mu);
        if (m->holds) {
            chat__held *h = m->nheld < CHAT_HELD_MAX ? goc_malloc(sizeof *h + len + 1) : NULL;
            if (h) {
                h->next = NULL;
                h->len = len;
                memcpy(h->text, text, len);
                h->text[len] = 0;
                *m->held_tail = h;
                m->held_tail = &h->next;
                m->nheld++;
            }
            goc_mutex_unlock(&m->mu);
            return h != NULL;
        }
        goc_mutex_unlock(&m->mu);
    }
    return m->sink.push(m->sink.conn, text, len);
}

void chat_member_flush(chat_member *m)
{
    if (!m || !atomic_load(&m->holding))
        return;
    goc_mutex_lock(&m->mu);
    bool ok = true;
    for (chat__held *h = m->held, *next; h; h = next) {
        next = h->next;
        ok = ok && !atomic_load(&m->kicked) && m->sink.push(m->sink.conn, h->text, h->len);
        goc_free(h);
    }
    m->held = NULL;
    m->held_tail = &m->held;
    m->nheld = 0;
    m->holds = 0;
    atomic_store(&m->holding, false);
    goc_mutex_unlock(&m->mu);
    if (!ok && !atomic_exchange(&m->kicked, true)) {
        atomic_fetch_add(&chat__g.st_kicks, 1);
        m->sink.kick(m->sink.conn);
    }
}

bool chat__rate_take(chat_member *m)
{
    if (chat__g.rate <= 0)
        return true;
    double rate = (double)chat__g.rate, burst = 2.0 * rate;
    goc_mutex_lock(&m->mu);
    int64_t now = goc_nanotime();
    m->tokens += rate * (double)(now - m->refill_ns) / 1e9;
    if (m->tokens > burst)
        m->tokens = burst;
    m->refill_ns = now;
    bool ok = m->tokens >= 1.0;
    if (ok)
        m->tokens -= 1.0;
    goc_mutex_unlock(&m->mu);
    return ok;
}

bool chat__member_nick(chat_member *m, chat_room *room, char *nick)
{
    bool found = false;
    goc_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nrooms && !found; i++) {
        if (m->rooms[i].room == room) {
            memcpy(nick, m->rooms[i].nick, sizeof m->rooms[i].nick);
            found = true;
        }
    }
    goc_mutex_unlock(&m->mu);
    return found;
}

/* ---- registry ------------------------------------------------------- */

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return h;
}

/* Doubles the table. Caller holds reg_mu for writing. */
static int registry_grow(void)
{
    size_t n = chat__g.nbuckets ? chat__g.nbuckets * 2 : 64;
    chat_room **b = goc_calloc(n, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < chat__g.nbuckets; i++) {
        for (chat_room *r = chat__g.buckets[i], *next; r; r = next) {
            next = r->next;
            size_t j = hash_name(r->name) & (n - 1);
            r->next = b[j];
            b[j] = r;
        }
    }
    goc_free(chat__g.buckets);
    chat__g.buckets = b;
    chat__g.nbuckets = n;
    return 0;
}

/* Caller holds reg_mu (either way). */
static chat_room *registry_find(const char *name)
{
    if (!chat__g.nbuckets)
        return NULL;
    for (chat_room *r = chat__g.buckets[hash_name(name) & (chat__g.nbuckets - 1)]; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* Makes a room and starts its goroutine. Caller holds reg_mu for writing. */
static chat_room *room_create(const char *name)
{
    if (chat__g.nrooms + 1 > chat__g.nbuckets / 2 && registry_grow() != 0)
        return NULL;
    chat_room *r = goc_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    strcpy(r->name, name);
    r->cmds = goc_chan_make(sizeof(chat__cmd), CHAT_ROOM_QUEUE);
    r->last_id = atomic_load(&chat__g.published_id);
    goc_waitgroup_add(&chat__g.rooms_wg, 1);
    if (goc_go(chat__room_main, &r, sizeof r) < 0) {
        goc_waitgroup_done(&chat__g.rooms_wg);
        goc_chan_free(r->cmds);
        goc_free(r);
        return NULL;
    }
    size_t i = hash_name(name) & (chat__g.nbuckets - 1);
    r->next = chat__g.buckets[i];
    chat__g.buckets[i] = r;
    chat__g.nrooms++;
    return r;
}

chat_room *chat__room_get(const char *name, bool create)
{
    goc_rwmutex_rlock(&chat__g.reg_mu);
    chat_room *r = registry_find(name);
    if (r)
        atomic_fetch_add(&r->users, 1);
    goc_rwmutex_runlock(&chat__g.reg_mu);
    if (r || !create)
        return r;
    goc_rwmutex_lock(&chat__g.reg_mu);
    r = registry_find(name);
    if (!r && !chat__g.reg_closed)
        r = room_create(name);
    if (r)
        atomic_fetch_add(&r->users, 1);
    goc_rwmutex_unlock(&chat__g.reg_mu);
    return r;
}

void chat__rooms_each(void (*fn)(chat_room *r, void *arg), void *arg)
{
    goc_rwmutex_rlock(&chat__g.reg_mu);
    for (size_t i = 0; i < chat__g.nbuckets; i++)
        for (chat_room *r = chat__g.buckets[i]; r; r = r->next)
            fn(r, arg);
    goc_rwmutex_runlock(&chat__g.reg_mu);
}

/* Caller holds reg_mu for writing: retires r when nothing holds it. The
 * room's goroutine sees its channel closed and frees r, after taking
 * reg_mu itself (chat__room_main), so r stays valid under the lock. */
static void retire_locked(chat_room *r)
{
    if (r->retired || chat__g.reg_closed || atomic_load(&r->nmembers) != 0 ||
        atomic_load(&r->users) != 0 || goc_chan_len(r->cmds) != 0)
        return;
    size_t i = hash_name(r->name) & (chat__g.nbuckets - 1);
    chat_room **pp = &chat__g.buckets[i];
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    chat__g.nrooms--;
    r->retired = true;
    goc_chan_close(r->cmds);
}

/* While our pointer counts in users, r cannot retire, so r is ours to read;
 * the last pointer goes back under the registry lock, where the room's own
 * check also runs: whichever comes second retires the room. */
void chat__room_put(chat_room *r)
{
    if (!r)
        return;
    int64_t u = atomic_load(&r->users);
    while (u > 1)
        if (atomic_compare_exchange_weak(&r->users, &u, u - 1))
            return;
    goc_rwmutex_lock(&chat__g.reg_mu);
    atomic_fetch_sub(&r->users, 1);
    retire_locked(r);
    goc_rwmutex_unlock(&chat__g.reg_mu);
}

/* Called by the room's goroutine only (r cannot be freed under it). */
void chat__room_retire_if_idle(chat_room *r)
{
    if (atomic_load(&r->nmembers) != 0 || atomic_load(&r->users) != 0)
        return;
    goc_rwmutex_lock(&chat__g.reg_mu);
    retire_locked(r);
    goc_rwmutex_unlock(&chat__g.reg_mu);
}

/* ---- lifetime ------------------------------------------------------- */

bool chat__deliver_local(const char *room, int64_t id, char *text, size_t len)
{
    chat_room *r = chat__room_get(room, true);
    if (!r) {
        jrpc_reply_free(text);
        return false;
    }
    chat__cmd c = {.op = ROOM_PUBLISH, .id = id, .text = text, .len = len};
    chat__room_call(r, &c);
    chat__room_put(r);
    return true;
}

void chat__set_broker(const chat__broker *b)
{
    chat__g.forced = b;
}

/* HOSTNAME:PID, as --node's default. */
static void default_node(char *out, size_t cap)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(out, cap, "%s:%d", host, (int)getpid());
}

int chat_init(const chat_config *cfg, char *err, size_t errlen)
{
    if (chat__g.running)
        return -EBUSY;
    chat__g.broker = chat__g.forced   ? chat__g.forced
                     : cfg->redis_url ? &chat__broker_redis
                                      : &chat__broker_inproc;
    if (cfg->node && cfg->node[0])
        snprintf(chat__g.node, sizeof chat__g.node, "%s", cfg->node);
    else
        default_node(chat__g.node, sizeof chat__g.node);
    chat__g.rate = cfg->rate > 0 ? cfg->rate : 0;
    chat__g.reg_closed = false;
    int rc = chat__g.broker->start(cfg, err, errlen);
    if (rc)
        return rc;
    goc_rwmutex_lock(&chat__g.life);
    chat__g.running = true;
    goc_rwmutex_unlock(&chat__g.life);
    return 0;
}

void chat_shutdown(void)
{
    goc_rwmutex_lock(&chat__g.life); /* waits for the operations in flight */
    bool was = chat__g.running;
    chat__g.running = false;
    goc_rwmutex_unlock(&chat__g.life);
    if (!was)
        return;
    /* In-process: the writer commits what is queued and hands it to the
     * rooms, which still run. Redis: the subscription stops feeding them,
     * and this server's presence leaves Redis. */
    chat__g.broker->stop();
    goc_rwmutex_lock(&chat__g.reg_mu);
    chat__g.reg_closed = true;
    goc_rwmutex_unlock(&chat__g.reg_mu);
    for (size_t i = 0; i < chat__g.nbuckets; i++)
        for (chat_room *r = chat__g.buckets[i]; r; r = r->next)
            goc_chan_close(r->cmds);
    goc_waitgroup_wait(&chat__g.rooms_wg);
    if (chat__g.broker->release) /* rooms call the broker until they end */
        chat__g.broker->release();
    for (size_t i = 0; i < chat__g.nbuckets; i++) {
        for (chat_room *r = chat__g.buckets[i], *next; r; r = next) {
            next = r->next;
            goc_chan_free(r->cmds);
            goc_free(r->slots);
            goc_free(r);
        }
    }
    goc_free(chat__g.buckets);
    chat__g.buckets = NULL;
    chat__g.nbuckets = chat__g.nrooms = 0;
}

bool chat_available(void)
{
    const chat__broker *b = chat__g.broker;
    return !b || !b->available || b->available();
}

const char *chat_node(void)
{
    return chat__g.node;
}

json_t *chat_broker_json(void)
{
    const chat__broker *b = chat__g.broker;
    json_t *j = b && b->stats_json ? b->stats_json() : json_object();
    if (j) {
        json_object_set_new(j, "name", json_string(b ? b->name : "none"));
        json_object_set_new(j, "available", json_boolean(chat_available()));
    }
    return j;
}

void chat_broker_metrics(buf_t *b)
{
    const chat__broker *br = chat__g.broker;
    if (br && br->metrics)
        br->metrics(b);
}

void chat_stats_read(chat_stats *out)
{
    goc_rwmutex_rlock(&chat__g.reg_mu);
    out->rooms = (int64_t)chat__g.nrooms;
    goc_rwmutex_runlock(&chat__g.reg_mu);
    out->members = atomic_load(&chat__g.st_members);
    out->messages_stored = atomic_load(&chat__g.st_stored);
    out->messages_delivered = atomic_load(&chat__g.st_delivered);
    out->slow_kicks = atomic_load(&chat__g.st_kicks);
    out->rate_limited = atomic_load(&chat__g.st_limited);
}

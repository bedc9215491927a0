/* chat_room.c: one goroutine per room, owning the room's member list and
 * fed by a buffered channel of commands: join, leave and members from the
 * members' handlers (synchronous: the caller waits for the reply), publish
 * from the history writer (asynchronous, in id order). With the Redis
 * broker the room is a replica instead, fed by the subscription's events:
 * chat_room_sync.c handles those commands, with the helpers here.
 *
 * The goroutine never blocks on anything but its channel: pushes to the
 * members are non-blocking (chat_sink.push); a push that finds an outbox
 * full marks the member kicked, asks its transport to close it, and the
 * room then removes it and tells the others it left ("reaping").
 *
 * Presence: a join or a leave is announced to the room's other members,
 * not to the member itself (its reply says it all). A member kicked as too
 * slow is announced as a "leave" too.
 *
 * Invariants: see chat_internal.h. Before and after each command, no slot
 * holds a kicked member (another room may kick one meanwhile: it is reaped
 * at the next command).
 */
#include "chat_internal.h"

#include <string.h>

#include <goc/malloc.h>

void chat__room_call(chat_room *room, chat__cmd *cmd)
{
    if (cmd->reply)
        goc_waitgroup_add(&cmd->reply->wg, 1);
    goc_chan_send(room->cmds, cmd);
    if (cmd->reply)
        goc_waitgroup_wait(&cmd->reply->wg);
}

bool chat__room_try(chat_room *room, const chat__cmd *cmd)
{
    return goc_chan_try_send(room->cmds, cmd);
}

ptrdiff_t chat__slot_of_member(const chat_room *r, const chat_member *m)
{
    for (size_t i = 0; i < r->nslots; i++)
        if (r->slots[i].m == m)
            return (ptrdiff_t)i;
    return -1;
}

ptrdiff_t chat__slot_of_nick(const chat_room *r, const char *nick)
{
    for (size_t i = 0; i < r->nslots; i++)
        if (strcmp(r->slots[i].nick, nick) == 0)
            return (ptrdiff_t)i;
    return -1;
}

/* Pushes text to slot i's member (the sink copies it): false if it is (or
 * now gets) kicked. The first failed push kicks the member. */
static bool push_to(chat_room *r, size_t i, const char *text, size_t len)
{
    chat_member *m = r->slots[i].m;
    if (atomic_load(&m->kicked))
        return false;
    if (chat__member_push(m, text, len))
        return true;
    if (!atomic_exchange(&m->kicked, true)) {
        atomic_fetch_add(&chat__g.st_kicks, 1);
        m->sink.kick(m->sink.conn);
    }
    return false;
}

/* Pushes msgs[0..n) in order to every member but except (may be NULL),
 * member by member, so a member's writer finds the whole run at once; a
 * member kicked on the way gets nothing more. Returns the number of
 * successful pushes. A big room yields now and then: the room's state is
 * its goroutine's alone, so nothing changes meanwhile. */
int64_t chat__broadcast(chat_room *r, const chat__cmd *msgs, int n, const chat_member *except)
{
    int64_t pushed = 0;
    for (size_t i = 0; i < r->nslots; i++) {
        for (int k = 0; r->slots[i].m != except && k < n; k++) {
            if (!push_to(r, i, msgs[k].text, msgs[k].len))
                break;
            pushed++;
        }
        if (i % 512 == 511)
            goc_yield();
    }
    return pushed;
}

void chat__presence(chat_room *r, const char *nick, const char *event, const chat_member *except)
{
    json_t *p = json_pack("{s:s, s:s, s:s}", "room", r->name, "nick", nick, "event", event);
    size_t len;
    char *text = p ? jrpc_notification_encode("chat.presence", p, &len) : NULL;
    json_decref(p);
    if (text) {
        chat__cmd one = {.text = text, .len = len};
        chat__broadcast(r, &one, 1, except);
    }
    jrpc_reply_free(text);
}

/* Removes slot i from the room and the room from its member's list. */
void chat__slot_remove(chat_room *r, size_t i)
{
    chat_member *m = r->slots[i].m;
    goc_mutex_lock(&m->mu);
    for (size_t j = 0; j < m->nrooms; j++) {
        if (m->rooms[j].room == r) {
            memmove(&m->rooms[j], &m->rooms[j + 1], (m->nrooms - j - 1) * sizeof m->rooms[0]);
            m->nrooms--;
            break;
        }
    }
    goc_mutex_unlock(&m->mu);
    memmove(&r->slots[i], &r->slots[i + 1], (r->nslots - i - 1) * sizeof r->slots[0]);
    r->nslots--;
    atomic_store(&r->nmembers, (int64_t)r->nslots);
}

/* Removes the kicked members, announcing each leave to the rest (which
 * may kick more). With Redis, the leave goes through Redis, whose event
 * announces it. */
void chat__reap(chat_room *r)
{
    if (chat__g.broker->distributed) {
        for (size_t i = 0; i < r->nslots;) {
            if (!atomic_load(&r->slots[i].m->kicked)) {
                i++;
                continue;
            }
            chat__reply rep = {0};
            chat__cmd c = {.op = ROOM_LEAVE, .m = r->slots[i].m, .gone = true,
                           .deadline = goc_nanotime() + CHAT_CALL_TIMEOUT, .reply = &rep};
            goc_waitgroup_add(&rep.wg, 1);
            chat__sync_leave(r, &c);
            i = 0;
        }
        return;
    }
    for (size_t i = 0; i < r->nslots;) {
        if (!atomic_load(&r->slots[i].m->kicked)) {
            i++;
            continue;
        }
        char nick[CHAT_NICK_MAX + 1];
        strcpy(nick, r->slots[i].nick);
        chat__slot_remove(r, i);
        chat__presence(r, nick, "leave", NULL);
        i = 0; /* the announcement may have kicked anyone */
    }
}

/* Adds m as nick to both lists. Returns 0 or -1 (out of memory). */
int chat__slot_add(chat_room *r, chat_member *m, const char *nick)
{
    if (r->nslots == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        chat__slot *s = goc_realloc(r->slots, cap * sizeof *s);
        if (!s)
            return -1;
        r->slots = s;
        r->cap = cap;
    }
    goc_mutex_lock(&m->mu);
    if (m->nrooms == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        chat__joined *j = goc_realloc(m->rooms, cap * sizeof *j);
        if (!j) {
            goc_mutex_unlock(&m->mu);
            return -1;
        }
        m->rooms = j;
        m->cap = cap;
    }
    m->rooms[m->nrooms].room = r;
    strcpy(m->rooms[m->nrooms].nick, nick);
    m->nrooms++;
    goc_mutex_unlock(&m->mu);
    r->slots[r->nslots].m = m;
    strcpy(r->slots[r->nslots].nick, nick);
    r->nslots++;
    atomic_store(&r->nmembers, (int64_t)r->nslots);
    return 0;
}

static json_t *member_nicks(const chat_room *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->nslots; i++)
        json_array_append_new(a, json_string(r->slots[i].nick));
    return a;
}

static void do_join(chat_room *r, chat__cmd *c)
{
    chat__reply *rep = c->reply;
    ptrdiff_t i = chat__slot_of_member(r, c->m);
    bool added = false;
    if (i >= 0 && strcmp(r->slots[i].nick, c->nick) != 0) {
        rep->rc = JRPC_INVALID_PARAMS;
        rep->err = "already joined to that room with another nick: leave it first";
    } else if (i < 0 && chat__slot_of_nick(r, c->nick) >= 0) {
        rep->rc = JRPC_NICK_TAKEN;
        rep->err = "nick taken in that room";
    } else if (i < 0 && chat__slot_add(r, c->m, c->nick) != 0) {
        rep->rc = JRPC_INTERNAL_ERROR;
    } else {
        added = i < 0;
        rep->last_id = r->last_id;
        rep->members = member_nicks(r);
        if (!rep->members)
            rep->rc = JRPC_INTERNAL_ERROR;
    }
    if (added)
        chat__presence(r, c->nick, "join", c->m);
    goc_waitgroup_done(&rep->wg);
}

static void do_leave(chat_room *r, chat__cmd *c)
{
    ptrdiff_t i = chat__slot_of_member(r, c->m);
    if (i < 0) {
        c->reply->rc = JRPC_NOT_JOINED;
        c->reply->err = "not joined to that room";
        goc_waitgroup_done(&c->reply->wg);
        return;
    }
    char nick[CHAT_NICK_MAX + 1];
    strcpy(nick, r->slots[i].nick);
    chat__slot_remove(r, (size_t)i);
    goc_waitgroup_done(&c->reply->wg);
    chat__presence(r, nick, "leave", NULL);
}

/* Messages published together: under load the commands queue up, and
 * each member then gets the whole run at once (its writer sends them in
 * one write) instead of one wake-up and one write per message. */
#define PUBLISH_BATCH 32

/* Publishes msgs[0..n) to every member, in order. */
static void do_publish(chat_room *r, chat__cmd *msgs, int n)
{
    r->last_id = msgs[n - 1].id;
    atomic_fetch_add(&chat__g.st_delivered, chat__broadcast(r, msgs, n, NULL));
    for (int k = 0; k < n; k++)
        jrpc_reply_free(msgs[k].text);
}

/* Takes the commands queued behind first that form one run with it (up
 * to PUBLISH_BATCH publishes, or events); a command of another kind is
 * left in *next (*held set). Returns the run's length. */
static int gather(chat_room *r, chat__cmd *batch, chat__cmd *next, bool *held)
{
    int n = 1;
    bool open = true;
    while (n < PUBLISH_BATCH && goc_chan_try_recv(r->cmds, next, &open) && open) {
        if (next->op != batch[0].op) {
            *held = true; /* after the run, in order */
            break;
        }
        batch[n++] = *next;
    }
    return n;
}

/* One synchronous or housekeeping command. */
static void run_one(chat_room *r, chat__cmd *c)
{
    bool dist = chat__g.broker->distributed;
    switch (c->op) {
    case ROOM_JOIN:
        dist ? chat__sync_join(r, c) : do_join(r, c);
        break;
    case ROOM_LEAVE:
        dist ? chat__sync_leave(r, c) : do_leave(r, c);
        break;
    case ROOM_MEMBERS:
        if (dist) {
            chat__sync_members(r, c);
            break;
        }
        c->reply->members = member_nicks(r);
        goc_waitgroup_done(&c->reply->wg);
        break;
    case ROOM_HELD:
        c->reply->held = chat__slot_of_nick(r, c->nick) >= 0;
        goc_waitgroup_done(&c->reply->wg);
        break;
    case ROOM_TICK:
        chat__sync_tick(r, c);
        break;
    case ROOM_RECONCILE:
        r->dirty = true;
        chat__sync_reconcile(r);
        break;
    }
}

void chat__room_main(void *arg)
{
    chat_room *r = *(chat_room **)arg;
    chat__cmd c, batch[PUBLISH_BATCH];
    bool held = false; /* c is a command taken while gathering a run */
    if (chat__g.broker->distributed)
        chat__sync_open(r);
    while (held || goc_chan_recv(r->cmds, &c)) {
        held = false;
        chat__reap(r); /* members kicked by another room free their nicks first */
        if (c.op == ROOM_PUBLISH || c.op == ROOM_EVENT) {
            batch[0] = c;
            int n = gather(r, batch, &c, &held);
            if (batch[0].op == ROOM_PUBLISH)
                do_publish(r, batch, n);
            else
                chat__sync_events(r, batch, n);
        } else {
            run_one(r, &c);
        }
        chat__reap(r);
        if (r->nslots == 0)
            chat__room_retire_if_idle(r);
    }
    if (chat__g.broker->distributed)
        chat__sync_close(r);
    /* Closed: retired (this goroutine frees the room, once its closer has
     * left the registry lock), or at shutdown (chat_shutdown frees it).
     * Nothing may touch r after done. */
    goc_rwmutex_lock(&chat__g.reg_mu);
    bool retired = r->retired;
    goc_rwmutex_unlock(&chat__g.reg_mu);
    if (retired) {
        goc_chan_free(r->cmds);
        goc_free(r->slots);
        goc_free(r);
    }
    goc_waitgroup_done(&chat__g.rooms_wg);
}

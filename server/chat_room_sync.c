/* chat_room_sync.c: a room of a chat shared through Redis, as a replica.
 *
 * Redis orders each room's events (messages, joins, leaves) and each one
 * names the event before it (chat_redis.h). The room's goroutine applies
 * them in that order: an event whose predecessor is the room's head is
 * applied (pushed to this server's members, the roster updated); one at
 * or before the head is a duplicate, dropped; one further on means some
 * were missed (a push lost with a reconnection, a queue that was full):
 * the room reads what it missed from the room's streams and applies it
 * first ("catch up"). When even the streams no longer reach back that far
 * (trimmed, or Redis lost its data), the room takes Redis's state as it is
 * now ("resync"): the messages it has not delivered, from the history, and
 * joins and leaves for the difference in members.
 *
 * Joins and leaves of this server's members run their script from the
 * room's goroutine and apply their own event at once, after catching up to
 * the event before it if need be: so a joiner's reply (roster and
 * last_id) is exactly the state every later notification starts from.
 *
 * Every Redis call here has the command's deadline (or CHAT_CALL_TIMEOUT):
 * while Redis is away a join or leave answers -32006 in time. A member
 * whose connection closes leaves here even then; its nick stays in Redis
 * until the room reconciles (dirty), which the upkeep's tick, or the
 * shutdown's own cleanup, brings about.
 *
 * Invariants: see chat_internal.h (Redis). Everything here runs on the
 * room's goroutine.
 */
#include "chat_redis.h"

#include <string.h>

#include <goc/malloc.h>

#include "log.h"

/* ---- the roster ------------------------------------------------------------ */

static ptrdiff_t roster_find(const chat_room *r, const char *nick)
{
    for (size_t i = 0; i < r->nroster; i++)
        if (strcmp(r->roster[i], nick) == 0)
            return (ptrdiff_t)i;
    return -1;
}

static void roster_add(chat_room *r, const char *nick)
{
    if (roster_find(r, nick) >= 0)
        return;
    if (r->nroster == r->roster_cap) {
        size_t cap = r->roster_cap ? r->roster_cap * 2 : 8;
        char **v = goc_realloc(r->roster, cap * sizeof *v);
        if (!v)
            return; /* out of memory: the roster is short until the next resync */
        r->roster = v;
        r->roster_cap = cap;
    }
    size_t len = strlen(nick);
    char *s = goc_malloc(len + 1);
    if (!s)
        return;
    memcpy(s, nick, len + 1);
    r->roster[r->nroster++] = s;
}

static void roster_remove(chat_room *r, const char *nick)
{
    ptrdiff_t i = roster_find(r, nick);
    if (i < 0)
        return;
    goc_free(r->roster[i]);
    memmove(&r->roster[i], &r->roster[i + 1], (r->nroster - (size_t)i - 1) * sizeof *r->roster);
    r->nroster--;
}

static void roster_clear(chat_room *r)
{
    for (size_t i = 0; i < r->nroster; i++)
        goc_free(r->roster[i]);
    r->nroster = 0;
}

static json_t *roster_json(const chat_room *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->nroster; i++)
        json_array_append_new(a, json_string(r->roster[i]));
    return a;
}

void chat__sync_open(chat_room *r)
{
    chat__redis_sub_add(r->name);
}

void chat__sync_close(chat_room *r)
{
    chat__redis_sub_remove(r->name);
    roster_clear(r);
    goc_free(r->roster);
    r->roster = NULL;
    r->roster_cap = 0;
}

/* ---- applying events --------------------------------------------------------- */

/* A join or leave of nick, in order: the roster changes and this server's
 * members hear of it (a member of ours with that nick excepted: its own
 * join or leave). A leave of a nick a member of ours still has means the
 * others took this server for dead: the room reconciles. */
static void apply_presence(chat_room *r, char kind, const char *nick)
{
    ptrdiff_t mine = chat__slot_of_nick(r, nick);
    const chat_member *except = mine >= 0 ? r->slots[mine].m : NULL;
    if (kind == 'j') {
        roster_add(r, nick);
        chat__presence(r, nick, "join", except);
    } else {
        roster_remove(r, nick);
        chat__presence(r, nick, "leave", except);
        if (mine >= 0)
            r->dirty = true;
    }
}

/* Applies v[0..n) as long as they follow r->head (duplicates skipped);
 * runs of messages go out together. Returns how many were looked at: n,
 * or the index of the first that does not follow. Texts stay the
 * caller's. */
static size_t apply_chain(chat_room *r, const chat__cmd *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (chat__eid_cmp(v[i].eid, r->head) <= 0) {
            i++;
            continue;
        }
        if (chat__eid_cmp(v[i].prev, r->head) != 0)
            break;
        if (v[i].kind != 'm') {
            apply_presence(r, v[i].kind, v[i].text);
            r->head = v[i].eid;
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && v[j].kind == 'm' && chat__eid_cmp(v[j].prev, r->head) == 0) {
            r->head = v[j].eid;
            r->last_id = v[j].id;
            j++;
        }
        for (size_t k = i; k < j; k += 32) {
            int run = j - k < 32 ? (int)(j - k) : 32;
            atomic_fetch_add(&chat__g.st_delivered, chat__broadcast(r, v + k, run, NULL));
        }
        i = j;
    }
    return i;
}

/* ---- resync and catch-up ------------------------------------------------------ */

static bool in_snapshot(const chat__snapshot *s, const char *nick, bool *ours)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->nicks[i], nick) == 0) {
            if (ours)
                *ours = s->ours[i];
            return true;
        }
    }
    return false;
}

/* Delivers the messages after r->last_id up to `upto` from the history,
 * in pages. 0 or a negative JSON-RPC code (what was delivered stays). */
static int deliver_missed(chat_room *r, int64_t upto, int64_t deadline)
{
    while (r->last_id < upto) {
        int code = JRPC_INTERNAL_ERROR;
        json_t *page = chat__g.broker->history(r->name, r->last_id, upto + 1, CHAT_HISTORY_MAX,
                                               false, deadline, &code);
        if (!page)
            return code;
        size_t n = json_array_size(page);
        for (size_t i = 0; i < n; i++) {
            json_t *m = json_array_get(page, i);
            chat__cmd one = {0};
            one.text = jrpc_notification_encode("chat.message", m, &one.len);
            if (one.text)
                atomic_fetch_add(&chat__g.st_delivered, chat__broadcast(r, &one, 1, NULL));
            jrpc_reply_free(one.text);
            r->last_id = json_integer_value(json_object_get(m, "id"));
        }
        json_decref(page);
        if (n == 0)
            break; /* trimmed or gone: nothing more to give */
    }
    return 0;
}

/* Takes Redis's state as it is now: first sync of the room, or a gap the
 * streams cannot fill. 0 or a negative JSON-RPC code. */
static int resync(chat_room *r, int64_t deadline)
{
    chat__snapshot s;
    int rc = chat__redis_snapshot(r->name, deadline, &s);
    if (rc)
        return rc;
    if (r->synced) {
        atomic_fetch_add(&chat__R.resyncs, 1);
        if (s.last_id > r->last_id && (rc = deliver_missed(r, s.last_id, deadline)) != 0) {
            chat__snapshot_free(&s);
            return rc;
        }
        for (size_t i = 0; i < r->nroster;) { /* gone meanwhile */
            if (!in_snapshot(&s, r->roster[i], NULL)) {
                char nick[CHAT_NICK_MAX + 1];
                strcpy(nick, r->roster[i]);
                apply_presence(r, 'l', nick);
            } else {
                i++;
            }
        }
        for (size_t i = 0; i < s.n; i++) /* came meanwhile */
            if (roster_find(r, s.nicks[i]) < 0)
                apply_presence(r, 'j', s.nicks[i]);
    }
    roster_clear(r);
    for (size_t i = 0; i < s.n; i++)
        roster_add(r, s.nicks[i]);
    /* this server's members as Redis has them: otherwise reconcile */
    for (size_t i = 0; i < r->nslots; i++) {
        bool ours = false;
        if (!in_snapshot(&s, r->slots[i].nick, &ours) || !ours)
            r->dirty = true;
    }
    for (size_t i = 0; i < s.n; i++)
        if (s.ours[i] && chat__slot_of_nick(r, s.nicks[i]) < 0)
            r->dirty = true;
    r->head = s.head;
    r->last_id = s.last_id;
    r->synced = true;
    chat__snapshot_free(&s);
    return 0;
}

/* Applies the events after r->head, up to *until (NULL: all there are),
 * reading them from the streams. 0 or a negative JSON-RPC code. */
static int catch_up(chat_room *r, const chat__eid *until, int64_t deadline)
{
    if (!r->synced)
        return resync(r, deadline);
    for (;;) {
        if (until && chat__eid_cmp(r->head, *until) >= 0)
            return 0;
        if (goc_nanotime() >= deadline)
            return JRPC_UNAVAILABLE;
        chat__eid rhead;
        chat__cmd *v = NULL;
        size_t n = 0;
        int rc = chat__redis_events(r->name, r->head, until, deadline, &rhead, &v, &n);
        if (rc)
            return rc;
        int cmp = chat__eid_cmp(rhead, r->head);
        if (n == 0 && cmp == 0) {
            chat__events_free(v, n);
            return 0;
        }
        if (n == 0 || chat__eid_cmp(v[0].prev, r->head) != 0) {
            /* behind Redis's head with nothing to read, or the first event
             * there does not follow ours: trimmed away, or Redis lost data */
            chat__events_free(v, n);
            log_info("chat: room %s: events missed beyond the streams: taking Redis's state",
                     r->name);
            return resync(r, deadline);
        }
        size_t done = apply_chain(r, v, n);
        atomic_fetch_add(&chat__R.gaps, done);
        chat__events_free(v, n);
        if (done < n)
            return resync(r, deadline);
        if (!until && chat__eid_cmp(r->head, rhead) >= 0)
            return 0;
    }
}

/* ---- commands ------------------------------------------------------------------ */

void chat__sync_events(chat_room *r, chat__cmd *cmds, int n)
{
    for (int i = 0; i < n; i++) {
        if (!r->synced || chat__eid_cmp(cmds[i].eid, r->head) <= 0)
            continue;
        if (chat__eid_cmp(cmds[i].prev, r->head) != 0) {
            /* a gap: what is missing, this event and the rest of the run
             * are all in the streams */
            catch_up(r, NULL, goc_nanotime() + CHAT_CALL_TIMEOUT);
            continue;
        }
        i += (int)apply_chain(r, cmds + i, (size_t)(n - i)) - 1;
    }
    for (int i = 0; i < n; i++)
        goc_free(cmds[i].text);
}

void chat__sync_join(chat_room *r, chat__cmd *c)
{
    chat__reply *rep = c->reply;
    ptrdiff_t i = chat__slot_of_member(r, c->m);
    chat__eid prev, eid;
    int rc;
    if (i >= 0) { /* again: the same nick is idempotent */
        if (strcmp(r->slots[i].nick, c->nick) != 0) {
            rep->rc = JRPC_INVALID_PARAMS;
            rep->err = "already joined to that room with another nick: leave it first";
        }
        goto answer;
    }
    if (chat__slot_of_nick(r, c->nick) >= 0) {
        rep->rc = JRPC_NICK_TAKEN;
        rep->err = "nick taken in that room";
        goto answer;
    }
    if (goc_nanotime() >= c->deadline || (!r->synced && (rc = resync(r, c->deadline)) != 0)) {
        rep->rc = JRPC_UNAVAILABLE;
        goto answer;
    }
    rc = chat__redis_presence(r->name, 'j', c->nick, c->deadline, &prev, &eid);
    if (rc < 0) {
        r->dirty = true; /* the script may yet run (Redis stopped, not gone) */
        rep->rc = rc;
        goto answer;
    }
    if (rc == CHAT_PRESENCE_TAKEN) {
        rep->rc = JRPC_NICK_TAKEN;
        rep->err = "nick taken in that room (on another server)";
        goto answer;
    }
    if (rc == CHAT_PRESENCE_OK) {
        /* the events before ours first, then ours (unless a resync on
         * the way brought it already) */
        if (catch_up(r, &prev, c->deadline) != 0) {
            r->dirty = true; /* Redis has the nick: the reconcile takes it back */
            rep->rc = JRPC_UNAVAILABLE;
            goto answer;
        }
        if (chat__eid_cmp(r->head, eid) < 0) {
            apply_presence(r, 'j', c->nick);
            r->head = eid;
        }
    } /* CHAT_PRESENCE_HELD: this server's already, the roster has it */
    roster_add(r, c->nick);
    if (chat__slot_add(r, c->m, c->nick) != 0) {
        r->dirty = true;
        rep->rc = JRPC_INTERNAL_ERROR;
        goto answer;
    }
answer:
    if (!rep->rc) {
        rep->last_id = r->last_id;
        rep->members = roster_json(r);
        if (!rep->members)
            rep->rc = JRPC_INTERNAL_ERROR;
    }
    goc_waitgroup_done(&rep->wg);
}

void chat__sync_leave(chat_room *r, chat__cmd *c)
{
    chat__reply *rep = c->reply;
    ptrdiff_t i = chat__slot_of_member(r, c->m);
    if (i < 0) {
        rep->rc = JRPC_NOT_JOINED;
        rep->err = "not joined to that room";
        goc_waitgroup_done(&rep->wg);
        return;
    }
    char nick[CHAT_NICK_MAX + 1];
    strcpy(nick, r->slots[i].nick);
    chat__eid prev, eid;
    int rc = goc_nanotime() < c->deadline
                 ? chat__redis_presence(r->name, 'l', nick, c->deadline, &prev, &eid)
                 : JRPC_UNAVAILABLE;
    if (rc < 0 && !c->gone) {
        rep->rc = rc;
        goc_waitgroup_done(&rep->wg);
        return;
    }
    chat__slot_remove(r, (size_t)i);
    goc_waitgroup_done(&rep->wg);
    if (rc < 0) {
        r->dirty = true; /* Redis still has the nick as ours */
        return;
    }
    if (rc == CHAT_PRESENCE_OK) {
        if (chat__eid_cmp(prev, r->head) == 0) {
            apply_presence(r, 'l', nick);
            r->head = eid;
        } else {
            catch_up(r, &eid, goc_nanotime() + CHAT_CALL_TIMEOUT);
        }
    }
}

void chat__sync_members(chat_room *r, chat__cmd *c)
{
    c->reply->members = roster_json(r);
    goc_waitgroup_done(&c->reply->wg);
}

/* A tick: with Redis's head for the room (from the upkeep's MGET), a room
 * behind it catches up, unless its head moved since the last tick (events
 * are flowing: a missing one shows as a gap at the next, and the read
 * would only race the pushes on their way); with none (after a
 * subscription), it looks at once. */
void chat__sync_tick(chat_room *r, const chat__cmd *c)
{
    int64_t deadline = goc_nanotime() + CHAT_CALL_TIMEOUT;
    bool unknown = c->eid.ms == 0 && c->eid.seq == 0;
    bool stalled = chat__eid_cmp(r->head, r->tick_head) == 0;
    if (!r->synced || unknown || (stalled && chat__eid_cmp(c->eid, r->head) != 0))
        catch_up(r, NULL, deadline);
    if (!unknown)
        r->tick_head = r->head;
    if (r->dirty)
        chat__sync_reconcile(r);
}

/* Makes Redis hold exactly this server's members of the room as ours:
 * back in after the others took this server for dead, out after a leave
 * that could not reach Redis. A nick another server took meanwhile
 * cannot come back: its member here is disconnected. */
void chat__sync_reconcile(chat_room *r)
{
    int64_t deadline = goc_nanotime() + CHAT_CALL_TIMEOUT;
    chat__snapshot s;
    if (!r->dirty || chat__redis_snapshot(r->name, deadline, &s) != 0)
        return;
    bool ok = true;
    chat__eid prev, eid;
    for (size_t i = 0; i < r->nslots; i++) {
        bool ours = false;
        if (in_snapshot(&s, r->slots[i].nick, &ours) && ours)
            continue;
        int rc = chat__redis_presence(r->name, 'j', r->slots[i].nick, deadline, &prev, &eid);
        if (rc == CHAT_PRESENCE_TAKEN) {
            chat_member *m = r->slots[i].m;
            log_info("chat: room %s: nick %s was taken on another server meanwhile: "
                     "disconnecting its member here", r->name, r->slots[i].nick);
            if (!atomic_exchange(&m->kicked, true))
                m->sink.kick(m->sink.conn);
        }
        ok = ok && rc >= 0;
    }
    for (size_t i = 0; i < s.n; i++) {
        if (!s.ours[i] || chat__slot_of_nick(r, s.nicks[i]) >= 0)
            continue;
        ok = ok && chat__redis_presence(r->name, 'l', s.nicks[i], deadline, &prev, &eid) >= 0;
    }
    bool none_ours = true;
    for (size_t i = 0; i < s.n; i++)
        none_ours = none_ours && !s.ours[i];
    chat__snapshot_free(&s);
    if (ok)
        r->dirty = false;
    /* nothing of this server's here any more: the upkeep stops looking */
    if (ok && none_ours && r->nslots == 0)
        chat__redis_node_forget(r->name, deadline);
    catch_up(r, NULL, deadline);
}

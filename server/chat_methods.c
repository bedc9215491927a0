/* chat_methods.c: the chat's JSON-RPC methods (doc/protocol.md, "Methods") and
 * the C entry points the REST routes share with them (chat_send_as,
 * chat_history, chat_rooms_json).
 *
 * Rules decided here (doc/protocol.md, "Methods", states them):
 *  - One nick per room per member. Joining a room again with the same nick
 *    succeeds again (no presence); with another nick it is -32602.
 *  - Nicks are compared byte for byte (case matters); a message sent over
 *    HTTP may use any valid nick, joined or not.
 *  - chat.send on a persistent connection uses the nick the member joined
 *    with (a "nick" param is ignored); without a member (HTTP) "nick" is
 *    required. The rate limit (--rate) applies to members only: HTTP has no
 *    connection identity to limit.
 *  - chat.history's `before` (an integer >= 1) asks for the newest
 *    messages below it, for scrolling back.
 *  - chat.rooms lists the rooms that exist (with members, or in use by a
 *    call: an idle room retires); chat_rooms_json(true) adds the rooms
 *    found only in the database, with their message counts. With Redis,
 *    both list every room Redis knows (any server's), with its members on
 *    every server: the same answer everywhere.
 *
 * Identity (auth.h): with --auth-secret every method checks the caller's
 * token first (-32007), a nick param must be the token's sub (and may be
 * left out), and a room outside the token's rooms is refused. Without it,
 * a message sent over HTTP may not name a nick a joined member holds in
 * that room (-32002).
 *
 * Every operation that reaches the rooms or the broker holds chat__g.life
 * for reading, so chat_shutdown waits for it. Every call reaching the
 * broker has CHAT_CALL_TIMEOUT: a Redis that does not answer is -32006
 * ("unavailable") within 2 s, never a hang.
 */
#include "chat_internal.h"

#include <stdlib.h>
#include <string.h>

#include <goc/malloc.h>

#include "auth.h"

static const char *const BAD_ROOM = "invalid room: 1-64 characters of [A-Za-z0-9_-]";
static const char *const BAD_NICK = "invalid nick: 1-32 characters, no control characters";
static const char *const BAD_TEXT = "invalid text: 1-4096 bytes of UTF-8";
static const char *const BAD_SINCE = "invalid param 'since': must be an integer >= 0";
static const char *const BAD_LIMIT = "invalid param 'limit': must be an integer from 1 to 500";
static const char *const BAD_BEFORE = "invalid param 'before': must be an integer >= 1";
static const char *const UNAVAILABLE = "unavailable: the chat's store cannot be reached; retry";
static const char *const NOT_JOINED = "not joined to that room";
static const char *const STOPPED = "chat is shutting down";

/* Takes chat__g.life for reading; false (lock released) after shutdown. */
static bool live_enter(void)
{
    goc_rwmutex_rlock(&chat__g.life);
    if (chat__g.running)
        return true;
    goc_rwmutex_runlock(&chat__g.life);
    return false;
}

static void live_exit(void)
{
    goc_rwmutex_runlock(&chat__g.life);
}

/* Gets the required string param name, checked with valid. Returns 1, or
 * -1 after setting -32602 with bad as the message. */
static int param_checked(jrpc_call_t *call, json_t *params, const char *name,
                         bool (*valid)(const char *, size_t), const char *bad, const char **out,
                         size_t *len)
{
    size_t l;
    if (jrpc_param_str(call, params, name, JRPC_REQUIRED, out, &l) < 0)
        return -1;
    if (!valid(*out, l)) {
        jrpc_call_error(call, JRPC_INVALID_PARAMS, bad, NULL);
        return -1;
    }
    if (len)
        *len = l;
    return 1;
}

/* The "nick" param: required in development mode, optional with a token
 * (whose sub it must then be: auth_call_nick). NULL in *out when absent. */
static int param_nick(jrpc_call_t *call, json_t *params, const char **out)
{
    size_t l;
    unsigned flags = auth_on() ? JRPC_OPTIONAL : JRPC_REQUIRED;
    *out = NULL;
    if (jrpc_param_str(call, params, "nick", flags, out, &l) < 0)
        return -1;
    if (*out && !chat__nick_valid(*out, l)) {
        jrpc_call_error(call, JRPC_INVALID_PARAMS, BAD_NICK, NULL);
        return -1;
    }
    return 1;
}

static int fail(jrpc_call_t *call, int code, const char *msg)
{
    jrpc_call_error(call, code, msg, NULL);
    return -1;
}

/* The message for a broker's code. */
static const char *code_msg(int code, const char *internal)
{
    return code == JRPC_UNAVAILABLE ? UNAVAILABLE : internal;
}

static int64_t call_deadline(void)
{
    return goc_nanotime() + CHAT_CALL_TIMEOUT;
}

/* ---- entry points shared with REST -------------------------------------- */

json_t *chat_send_as(const char *room, const char *nick, const char *text, size_t text_len,
                     int *code, const char **msg)
{
    *code = JRPC_INVALID_PARAMS;
    if (!room || !chat__room_valid(room, strlen(room)))
        return *msg = BAD_ROOM, NULL;
    if (!nick || !chat__nick_valid(nick, strlen(nick)))
        return *msg = BAD_NICK, NULL;
    if (!text || !chat__text_valid(text, text_len))
        return *msg = BAD_TEXT, NULL;
    *code = JRPC_INTERNAL_ERROR;
    if (!live_enter())
        return *msg = STOPPED, NULL;
    json_t *m = chat__g.broker->send(room, nick, text, text_len, call_deadline(), code);
    live_exit();
    if (!m)
        *msg = code_msg(*code, "could not store the message");
    return m;
}

json_t *chat_history(const char *room, int64_t since, int64_t before, int64_t limit, int *code,
                     const char **msg)
{
    *code = JRPC_INVALID_PARAMS;
    if (!room || !chat__room_valid(room, strlen(room)))
        return *msg = BAD_ROOM, NULL;
    if (since < 0)
        return *msg = BAD_SINCE, NULL;
    if (before < 0)
        return *msg = BAD_BEFORE, NULL;
    if (limit < 1 || limit > CHAT_HISTORY_MAX)
        return *msg = BAD_LIMIT, NULL;
    *code = JRPC_INTERNAL_ERROR;
    if (!live_enter())
        return *msg = STOPPED, NULL;
    json_t *h = chat__g.broker->history(room, since, before, limit, before > 0, call_deadline(),
                                        code);
    live_exit();
    if (!h)
        *msg = code_msg(*code, "could not read the history");
    return h;
}

int chat_nick_held(const char *room, const char *nick)
{
    if (!room || !chat__room_valid(room, strlen(room)) || !nick ||
        !chat__nick_valid(nick, strlen(nick)))
        return JRPC_INVALID_PARAMS;
    if (!live_enter())
        return JRPC_INTERNAL_ERROR;
    int held;
    if (chat__g.broker->nick_held) {
        held = chat__g.broker->nick_held(room, nick, call_deadline());
    } else {
        chat_room *r = chat__room_get(room, false);
        chat__reply rep = {0};
        if (r) {
            chat__cmd c = {.op = ROOM_HELD, .nick = nick, .reply = &rep};
            chat__room_call(r, &c);
            chat__room_put(r);
        }
        held = rep.held;
    }
    live_exit();
    return held;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Turns {room: {room, members[, messages]}} into an array sorted by room. */
static json_t *sorted_values(json_t *by)
{
    size_t n = json_object_size(by), i = 0;
    const char **keys = goc_malloc((n ? n : 1) * sizeof *keys);
    json_t *out = keys ? json_array() : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(by, k, v) keys[i++] = k;
    if (out) {
        qsort(keys, n, sizeof *keys, cmp_str);
        for (i = 0; i < n; i++)
            json_array_append(out, json_object_get(by, keys[i]));
    }
    goc_free(keys);
    return out;
}

/* Adds this process's rooms to by, with their members here. */
static void add_local_room(chat_room *r, void *arg)
{
    json_t *e = json_pack("{s:s, s:I}", "room", r->name, "members",
                          (json_int_t)atomic_load(&r->nmembers));
    json_object_set_new(arg, r->name, e);
}

json_t *chat_rooms_json(bool with_message_counts, int *code)
{
    *code = JRPC_INTERNAL_ERROR;
    json_t *by = json_object();
    if (!by || !live_enter()) {
        json_decref(by);
        return NULL;
    }
    bool dist = chat__g.broker->distributed;
    if (!dist)
        chat__rooms_each(add_local_room, by);
    /* {room: {messages[, members]}} from the broker */
    json_t *known = dist || with_message_counts ? chat__g.broker->rooms(call_deadline(), code)
                                                : json_object();
    live_exit();
    if (!known) {
        json_decref(by);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(known, k, v)
    {
        json_t *e = json_object_get(by, k);
        if (!e) {
            json_int_t members = json_integer_value(json_object_get(v, "members"));
            json_object_set_new(by, k, json_pack("{s:s, s:I}", "room", k, "members", members));
        }
    }
    json_object_foreach(by, k, v)
    {
        if (with_message_counts) {
            json_t *n = json_object_get(json_object_get(known, k), "messages");
            json_object_set_new(v, "messages", n ? json_incref(n) : json_integer(0));
        }
    }
    json_decref(known);
    json_t *out = sorted_values(by);
    json_decref(by);
    return out;
}

/* ---- JSON-RPC methods -------------------------------------------------- */

static chat_member *member_of(jrpc_call_t *call)
{
    const jrpc_ctx_t *ctx = jrpc_call_ctx(call);
    return ctx && ctx->persistent ? ctx->data : NULL;
}

static int m_join(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *room, *nick;
    if (!auth_call_ok(call) ||
        param_checked(call, params, "room", chat__room_valid, BAD_ROOM, &room, NULL) < 0 ||
        param_nick(call, params, &nick) < 0 || !auth_call_nick(call, &nick) ||
        !auth_call_room(call, room))
        return -1;
    chat_member *m = member_of(call);
    if (!m)
        return fail(call, JRPC_INTERNAL_ERROR, "no chat member on this connection");
    if (!live_enter())
        return fail(call, JRPC_INTERNAL_ERROR, STOPPED);
    int64_t deadline = call_deadline();
    /* From here until the transport has queued this reply, m's pushes
     * wait (chat_member_flush): the reply is the snapshot they follow. */
    chat__member_hold(m);
    chat_room *r = chat__room_get(room, true);
    chat__reply rep = {0};
    if (r) {
        chat__cmd c = {.op = ROOM_JOIN, .m = m, .nick = nick, .deadline = deadline,
                       .reply = &rep};
        chat__room_call(r, &c);
    } else {
        rep.rc = JRPC_INTERNAL_ERROR;
    }
    chat__room_put(r);
    int code = JRPC_INTERNAL_ERROR;
    /* the last 50 messages with id <= last_id: those before the snapshot */
    json_t *hist = rep.rc ? NULL
                          : chat__g.broker->history(room, 0, rep.last_id + 1, CHAT_JOIN_HISTORY,
                                                    true, deadline, &code);
    live_exit();
    if (rep.rc || !hist) {
        /* (joined, but the history could not be read: joining again is
         * idempotent and answers in full) */
        json_decref(rep.members);
        return fail(call, rep.rc ? rep.rc : code, rep.rc ? rep.err : code_msg(code, NULL));
    }
    *result = json_pack("{s:s, s:s, s:o, s:o}", "room", room, "nick", nick, "members",
                        rep.members, "history", hist);
    return *result ? 0 : -1;
}

static int m_leave(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *room;
    if (!auth_call_ok(call) ||
        param_checked(call, params, "room", chat__room_valid, BAD_ROOM, &room, NULL) < 0)
        return -1;
    chat_member *m = member_of(call);
    if (!live_enter())
        return fail(call, JRPC_INTERNAL_ERROR, STOPPED);
    chat_room *r = m ? chat__room_get(room, false) : NULL;
    chat__reply rep = {.rc = JRPC_NOT_JOINED, .err = NOT_JOINED};
    if (r) {
        rep.rc = 0;
        chat__cmd c = {.op = ROOM_LEAVE, .m = m, .deadline = call_deadline(), .reply = &rep};
        chat__room_call(r, &c);
        chat__room_put(r);
    }
    live_exit();
    if (rep.rc)
        return fail(call, rep.rc, rep.err ? rep.err : code_msg(rep.rc, NULL));
    *result = json_true();
    return 0;
}

static int m_send(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *room, *text;
    size_t tlen;
    if (!auth_call_ok(call) ||
        param_checked(call, params, "room", chat__room_valid, BAD_ROOM, &room, NULL) < 0 ||
        param_checked(call, params, "text", chat__text_valid, BAD_TEXT, &text, &tlen) < 0 ||
        !auth_call_room(call, room))
        return -1;
    chat_member *m = member_of(call);
    if (!m) { /* HTTP: the nick comes with the message, or from the token */
        const char *nick;
        if (param_nick(call, params, &nick) < 0 || !auth_call_nick(call, &nick))
            return -1;
        int held = auth_on() ? 0 : chat_nick_held(room, nick);
        if (held > 0)
            return fail(call, JRPC_NICK_TAKEN, "that nick is taken in that room: a member holds it");
        if (held < 0)
            return fail(call, held, code_msg(held, NULL));
        int code;
        const char *msg;
        *result = chat_send_as(room, nick, text, tlen, &code, &msg);
        return *result ? 0 : fail(call, code, msg);
    }
    if (!live_enter())
        return fail(call, JRPC_INTERNAL_ERROR, STOPPED);
    char nick[CHAT_NICK_MAX + 1];
    chat_room *r = chat__room_get(room, false);
    int code = 0;
    *result = NULL;
    if (!r || atomic_load(&m->kicked) || !chat__member_nick(m, r, nick))
        code = JRPC_NOT_JOINED;
    else if (!chat__rate_take(m))
        code = JRPC_RATE_LIMITED;
    else
        *result = chat__g.broker->send(room, nick, text, tlen, call_deadline(), &code);
    chat__room_put(r);
    live_exit();
    if (code == JRPC_RATE_LIMITED) {
        atomic_fetch_add(&chat__g.st_limited, 1);
        return fail(call, code, "rate limited: slow down");
    }
    if (*result)
        return 0;
    return fail(call, code, code == JRPC_NOT_JOINED ? NOT_JOINED : code_msg(code, NULL));
}

static int m_history(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *room;
    json_int_t since = 0, before = 0, limit = CHAT_HISTORY_DEFAULT;
    int has_before;
    if (!auth_call_ok(call) ||
        param_checked(call, params, "room", chat__room_valid, BAD_ROOM, &room, NULL) < 0 ||
        !auth_call_room(call, room) ||
        jrpc_param_int(call, params, "since", JRPC_OPTIONAL, &since) < 0 ||
        (has_before = jrpc_param_int(call, params, "before", JRPC_OPTIONAL, &before)) < 0 ||
        jrpc_param_int(call, params, "limit", JRPC_OPTIONAL, &limit) < 0)
        return -1;
    if (has_before && before < 1) /* 0 means "no bound" only inside */
        return fail(call, JRPC_INVALID_PARAMS, BAD_BEFORE);
    int code;
    const char *msg;
    *result = chat_history(room, since, before, limit, &code, &msg);
    return *result ? 0 : fail(call, code, msg);
}

static int m_rooms(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    if (!auth_call_ok(call))
        return -1;
    int code;
    *result = chat_rooms_json(false, &code);
    return *result ? 0 : fail(call, code, code_msg(code, NULL));
}

static int m_members(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *room;
    if (!auth_call_ok(call) ||
        param_checked(call, params, "room", chat__room_valid, BAD_ROOM, &room, NULL) < 0)
        return -1;
    if (!live_enter())
        return fail(call, JRPC_INTERNAL_ERROR, STOPPED);
    int code = JRPC_INTERNAL_ERROR;
    if (chat__g.broker->members) { /* every server's members, from the broker */
        *result = chat__g.broker->members(room, call_deadline(), &code);
        live_exit();
        return *result ? 0 : fail(call, code, code_msg(code, NULL));
    }
    chat_room *r = chat__room_get(room, false);
    chat__reply rep = {0};
    if (r) {
        chat__cmd c = {.op = ROOM_MEMBERS, .reply = &rep};
        chat__room_call(r, &c);
        chat__room_put(r);
    } else {
        rep.members = json_array();
    }
    live_exit();
    *result = rep.members;
    return *result ? 0 : fail(call, JRPC_INTERNAL_ERROR, NULL);
}

int chat_register_methods(jrpc_t *rpc)
{
    static const struct {
        const char *name;
        jrpc_handler_fn fn;
        unsigned flags;
    } ms[] = {
        {"chat.join", m_join, JRPC_PERSISTENT}, {"chat.leave", m_leave, 0},
        {"chat.send", m_send, 0},               {"chat.history", m_history, 0},
        {"chat.rooms", m_rooms, 0},             {"chat.members", m_members, 0},
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int rc = jrpc_register(rpc, ms[i].name, ms[i].fn, NULL, ms[i].flags);
        if (rc)
            return rc;
    }
    return 0;
}

/* rest.c: the REST routes under /api (doc/protocol.md, "HTTP routes"); errors
 * are a 4xx status with {"error": "..."}.
 *
 * Identity (auth.h): with --auth-secret the messages routes are limited to
 * the token's rooms (403), a posted nick must be the token's sub (403) and
 * may be left out; without it, a post may not name a nick a member joined
 * to the room holds (409). */
#include "server.h"

#include <goc/malloc.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "chat.h"
#include "http.h"

/* JSON-RPC error codes as HTTP statuses. */
static int status_of(int code)
{
    switch (code) {
    case JRPC_INVALID_PARAMS:
    case JRPC_NOT_JOINED:
        return 400;
    case JRPC_NICK_TAKEN:
        return 409;
    case JRPC_RATE_LIMITED:
        return 429;
    case JRPC_TOO_LARGE:
        return 413;
    case JRPC_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}

/* Reads the optional integer query param name, at least min, into *out
 * (clamped to max; untouched when absent). Returns false after answering
 * 400 with bad when it is malformed or below min. */
static bool query_int(const goc_http_request_t *req, goc_http_out_t *o, const char *name,
                      const char *bad, int64_t min, int64_t max, int64_t *out, bool head)
{
    uint64_t v;
    /* goc_http_query_u64: 0 found, -ENOENT absent (the default), else bad */
    int rc = goc_http_query_u64(req->query, req->query_len, name, &v);
    if (rc < 0 && rc != -ENOENT) {
        http_error_json(o, 400, bad, req->keep_alive, head);
        return false;
    }
    if (rc == 0 && v < (uint64_t)min) {
        http_error_json(o, 400, bad, req->keep_alive, head);
        return false;
    }
    if (rc == 0)
        *out = v > (uint64_t)max ? max : (int64_t)v;
    return true;
}

static void messages_get(const goc_http_request_t *req, goc_http_out_t *o, const char *room,
                         bool head)
{
    int64_t since = 0, before = 0, limit = 100;
    if (!query_int(req, o, "since", "since must be a non-negative integer", 0, INT64_MAX, &since,
                   head) ||
        !query_int(req, o, "before", "before must be a positive integer", 1, INT64_MAX, &before,
                   head) ||
        !query_int(req, o, "limit", "limit must be a non-negative integer", 0, 1000000, &limit,
                   head))
        return;
    int code = 0;
    const char *msg = NULL;
    json_t *j = chat_history(room, since, before, limit, &code, &msg);
    if (!j)
        http_error_json(o, status_of(code), msg ? msg : "error", req->keep_alive, head);
    else
        http_json(o, 200, j, req->keep_alive, head);
}

static void messages_post(const goc_http_request_t *req, goc_http_out_t *o, const char *room,
                          const auth_session *as)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *nick = NULL, *text = NULL;
    size_t text_len = 0;
    if (!body || !json_is_object(body)) {
        http_error_json(o, 400, "body must be a JSON object {nick, text}", req->keep_alive,
                        false);
        json_decref(body);
        return;
    }
    json_t *jn = json_object_get(body, "nick"), *jt = json_object_get(body, "text");
    if ((!json_is_string(jn) && !(auth_on() && !jn)) || !json_is_string(jt)) {
        http_error_json(o, 400, "nick and text must be strings", req->keep_alive, false);
        json_decref(body);
        return;
    }
    nick = jn ? json_string_value(jn) : NULL;
    text = json_string_value(jt);
    text_len = json_string_length(jt);
    int code = 0;
    const char *msg = NULL;
    int st = auth_rest_nick(as, &nick, &msg);
    int held = st == 0 && !auth_on() && chat_room_valid(room, strlen(room)) &&
                       chat_nick_valid(nick, strlen(nick))
                   ? chat_nick_held(room, nick)
                   : 0;
    if (held > 0) {
        st = 409;
        msg = "that nick is taken in that room: a member holds it";
    } else if (held < 0) {
        st = status_of(held);
        msg = "unavailable: the chat's store cannot be reached; retry";
    }
    if (st) {
        http_error_json(o, st, msg, req->keep_alive, false);
        json_decref(body);
        return;
    }
    json_t *m = chat_send_as(room, nick, text, text_len, &code, &msg);
    json_decref(body);
    if (!m)
        http_error_json(o, status_of(code), msg ? msg : "error", req->keep_alive, false);
    else
        http_json(o, 201, m, req->keep_alive, false);
}

static void rooms_get(goc_http_out_t *o, bool ka, bool head)
{
    int code = 0;
    json_t *rooms = chat_rooms_json(true, &code);
    if (rooms)
        http_json(o, 200, rooms, ka, head);
    else
        http_error_json(o, status_of(code),
                        code == JRPC_UNAVAILABLE ? "unavailable: the chat's store cannot be "
                                                   "reached; retry"
                                                 : "could not list the rooms",
                        ka, head);
}

void rest_route(const goc_http_request_t *req, goc_http_out_t *o, const auth_session *as)
{
    bool head = req->method == GOC_HTTP_HEAD;
    bool get = req->method == GOC_HTTP_GET || head;
    bool ka = req->keep_alive;
    const char *p = req->path + 5; /* after "/api/" */
    size_t len = req->path_len - 5;
    if (len == 5 && memcmp(p, "stats", 5) == 0) {
        if (!get)
            http_error_json(o, 405, "method not allowed", ka, head);
        else
            http_json(o, 200, stats_json(), ka, head);
        return;
    }
    if (len == 5 && memcmp(p, "rooms", 5) == 0) {
        if (!get)
            http_error_json(o, 405, "method not allowed", ka, head);
        else
            rooms_get(o, ka, head);
        return;
    }
    /* rooms/{room}/messages */
    static const char suffix[] = "/messages";
    size_t sl = sizeof suffix - 1;
    if (len > 6 + sl && memcmp(p, "rooms/", 6) == 0 && memcmp(p + len - sl, suffix, sl) == 0) {
        char room[256];
        long rl = goc_http_url_decode(p + 6, len - 6 - sl, room, sizeof room, 0);
        if (rl < 0 || memchr(room, '/', (size_t)rl)) {
            http_error_json(o, 400, "invalid room", ka, head);
            return;
        }
        const char *why;
        if (chat_room_valid(room, (size_t)rl) && auth_rest_room(as, room, &why) != 0)
            http_error_json(o, 403, why, ka, head);
        else if (get)
            messages_get(req, o, room, head);
        else if (req->method == GOC_HTTP_POST)
            messages_post(req, o, room, as);
        else
            http_error_json(o, 405, "method not allowed", ka, head);
        return;
    }
    http_error_json(o, 404, "not found", ka, head);
}

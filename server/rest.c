/* rest.c: the REST routes under /api (PROTOCOL.md, "HTTP routes"); errors
 * are a 4xx status with {"error": "..."}. */
#include "server.h"

#include <goc/malloc.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    default:
        return 500;
    }
}

static void messages_get(const goc_http_request_t *req, goc_http_out_t *o, const char *room,
                         bool head)
{
    int64_t since = 0, limit = 100;
    uint64_t v;
    /* goc_http_query_u64: 0 found, -ENOENT absent (the default), else bad */
    int rc = goc_http_query_u64(req->query, req->query_len, "since", &v);
    if (rc < 0 && rc != -ENOENT) {
        http_error_json(o, 400, "since must be a non-negative integer", req->keep_alive, head);
        return;
    }
    if (rc == 0)
        since = v > INT64_MAX ? INT64_MAX : (int64_t)v;
    rc = goc_http_query_u64(req->query, req->query_len, "limit", &v);
    if (rc < 0 && rc != -ENOENT) {
        http_error_json(o, 400, "limit must be a non-negative integer", req->keep_alive, head);
        return;
    }
    if (rc == 0)
        limit = v > 1000000 ? 1000000 : (int64_t)v;
    int code = 0;
    const char *msg = NULL;
    json_t *j = chat_history(room, since, limit, &code, &msg);
    if (!j)
        http_error_json(o, status_of(code), msg ? msg : "error", req->keep_alive, head);
    else
        http_json(o, 200, j, req->keep_alive, head);
}

static void messages_post(const goc_http_request_t *req, goc_http_out_t *o, const char *room)
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
    if (!json_is_string(jn) || !json_is_string(jt)) {
        http_error_json(o, 400, "nick and text must be strings", req->keep_alive, false);
        json_decref(body);
        return;
    }
    nick = json_string_value(jn);
    text = json_string_value(jt);
    text_len = json_string_length(jt);
    int code = 0;
    const char *msg = NULL;
    json_t *m = chat_send_as(room, nick, text, text_len, &code, &msg);
    json_decref(body);
    if (!m)
        http_error_json(o, status_of(code), msg ? msg : "error", req->keep_alive, false);
    else
        http_json(o, 201, m, req->keep_alive, false);
}

void rest_route(const goc_http_request_t *req, goc_http_out_t *o)
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
            http_json(o, 200, chat_rooms_json(true), ka, head);
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
        if (get)
            messages_get(req, o, room, head);
        else if (req->method == GOC_HTTP_POST)
            messages_post(req, o, room);
        else
            http_error_json(o, 405, "method not allowed", ka, head);
        return;
    }
    http_error_json(o, 404, "not found", ka, head);
}

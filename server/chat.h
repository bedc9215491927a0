/* chat.h: the multi-user chat (doc/protocol.md, "Methods", notifications and
 * "Delivery"): rooms, members, presence, nick rules, rate limits, history.
 *
 * Design (doc/architecture.md, "One chat message, end to end"):
 *  - Each room is a goroutine owning its members, fed by a channel of
 *    commands (join, leave, publish) and selecting on them; the registry of
 *    rooms is a map under an RWMutex.
 *  - History lives in SQLite, owned by one writer goroutine that commits a
 *    batch of messages per transaction inside goc_syscall_enter_block()/
 *    goc_syscall_exit(); chat.send is answered only after its message is
 *    committed, and the message then goes to the room's goroutine, which
 *    pushes it to every member in id order.
 *  - Every member (a persistent connection: WebSocket or framed TCP) has a
 *    bounded outbox (--outbox). A push that finds it full marks the member
 *    too slow: the transport closes it (WebSocket close 1008).
 *
 * The transports own connections; the chat sees them as chat_member.
 *
 * Rules decided here (chat_methods.c, chat_room.c; doc/protocol.md states them):
 *  - chat.presence goes to the room's other members, not to the member
 *    joining or leaving; a member kicked as too slow "leave"s too.
 *  - One nick per room per member: joining again with the same nick is
 *    idempotent (no presence), with another nick -32602. Nicks compare byte
 *    for byte. A nick is 1-32 code points (so at most 128 bytes) of valid
 *    UTF-8 without C0, DEL or C1 control characters.
 *  - chat.send over HTTP (no member) needs "nick", no join, and has no rate
 *    limit; on a member's connection the joined nick is used.
 *  - chat.rooms lists the rooms that exist (a room retires once it has no
 *    member and no user); chat_rooms_json(true) adds those only in the
 *    database. */
#ifndef GOCD_CHAT_H
#define GOCD_CHAT_H

#include <goc/goc.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "jsonrpc.h"

typedef struct chat_member chat_member;

/* How the chat talks back to a connection's transport. */
typedef struct chat_sink {
    /* Queues text (a complete JSON-RPC notification, NUL-terminated, len
     * bytes; borrowed: the sink copies what it keeps, so one text serves a
     * whole room) for the connection's writer without blocking. Returns
     * false when the outbox is full (the member is then too slow: the chat
     * calls kick). Called from the room's goroutine: it must not block. */
    bool (*push)(void *conn, const char *text, size_t len);
    /* Asks the transport to close the connection because it is too slow
     * (WebSocket: close code 1008). Must not block. */
    void (*kick)(void *conn);
    void *conn;
} chat_sink;

/* How the chat starts. */
typedef struct chat_config {
    const char *db_path;   /* SQLite history (":memory:" keeps nothing); unused with redis_url */
    int64_t rate;          /* chat.send per second per member, bursts of 2x; 0: no limit */
    const char *redis_url; /* NULL: one server; else the chat is shared through Redis */
    const char *node;      /* this server's name among several (logs, figures) */
} chat_config;

/* Starts the chat: with cfg->redis_url, on the Redis broker (chat_redis.c:
 * history, ids and presence in Redis, shared by every server on that URL;
 * Redis need not be up yet); else on the in-process broker (SQLite history
 * at db_path, opened, with its directory, if need be). Returns 0, or a
 * negative errno with why in err (errlen bytes: the OS's words, SQLite's
 * such as "file is not a database", or the URL's fault: -EINVAL). */
int chat_init(const chat_config *cfg, char *err, size_t errlen);

/* Stops accepting messages, commits what is queued, and (with Redis)
 * removes this server's members from the shared presence. Waits for the
 * chat calls in flight; members still joined are not freed (call
 * chat_member_gone for each first). chat_init may follow again. */
void chat_shutdown(void);

/* Registers chat.join, chat.leave, chat.send, chat.history, chat.rooms and
 * chat.members in rpc (chat.join with JRPC_PERSISTENT). */
int chat_register_methods(jrpc_t *rpc);

/* A persistent connection becoming able to join rooms. The member is put
 * in the jrpc_ctx_t's `data` field by the transport for every call on that
 * connection. sink is copied. Returns NULL when out of memory. */
chat_member *chat_member_new(const chat_sink *sink);

/* The connection closed: leaves every room (presence "leave" to the
 * others) and frees the member once no room refers to it. Call it once no
 * call on the connection is running any more, and before chat_shutdown. */
void chat_member_gone(chat_member *m);

/* Joining is a snapshot, then a stream: from the moment a chat.join call
 * begins, the chat holds the member's notifications back (in order,
 * bounded: past CHAT_HELD_MAX the member counts as too slow), so that its
 * reply, written by the transport, comes before them. The transport calls
 * this once it has queued, in the order it writes them, the replies of the
 * calls it has handled: the held notifications then follow them. Cheap
 * when nothing is held; m may be NULL. */
void chat_member_flush(chat_member *m);

/* For REST and /metrics: [{room, members[, messages]}] sorted by room, or
 * NULL with *code set (JRPC_UNAVAILABLE, JRPC_INTERNAL_ERROR). */
json_t *chat_rooms_json(bool with_message_counts, int *code);

/* The protocol's rules (chat.c): a room is 1-64 characters of
 * [A-Za-z0-9_-], a nick 1-32 code points of UTF-8 with no control
 * character. */
bool chat_room_valid(const char *s, size_t len);
bool chat_nick_valid(const char *s, size_t len);
/* Stores a message sent over REST/HTTP (no member): the same path as
 * chat.send with a nick. Returns the stored message (new reference), or
 * NULL with *code and *msg (static text) set to the JSON-RPC error. */
json_t *chat_send_as(const char *room, const char *nick, const char *text, size_t text_len,
                     int *code, const char **msg);
/* As chat.history: messages of room with since < id (and id < before when
 * before > 0; 0: no bound), oldest first, at most limit: the first ones
 * after since, or with a before the newest such (a client scrolls back page
 * by page with before = the oldest id it holds). Returns a new array, or
 * NULL with *code and *msg (static text) set: -32602 for a bad room, since
 * or before < 0, limit outside 1..500; -32603 when the history cannot be
 * read; -32006 when the broker's store cannot be reached. */
json_t *chat_history(const char *room, int64_t since, int64_t before, int64_t limit, int *code,
                     const char **msg);
/* Whether nick is held by a member joined to room, on any server: 1 held,
 * 0 free, or a negative JSON-RPC code (JRPC_INVALID_PARAMS,
 * JRPC_UNAVAILABLE, JRPC_INTERNAL_ERROR). */
int chat_nick_held(const char *room, const char *nick);
/* False while the store the chat needs is unreachable (Redis down: within
 * 2 s; back within 5 s of its return). Always true for one server. */
bool chat_available(void);
/* This server's name (--node), "" before chat_init. */
const char *chat_node(void);

typedef struct chat_stats {
    int64_t rooms, members, messages_stored, messages_delivered, slow_kicks, rate_limited;
} chat_stats;
void chat_stats_read(chat_stats *out);

/* The broker's figures (Redis: connected, reconnects, published,
 * received, gaps filled, call latency) as a JSON object, and as
 * Prometheus text appended to b (nothing for one server). */
json_t *chat_broker_json(void);
struct buf;
void chat_broker_metrics(struct buf *b);

#endif

/* chat_redis.h: the Redis broker's parts, shared by chat_redis.c (the
 * broker: messages, history, rooms, figures), chat_redis_lua.c (its
 * scripts), chat_redis_call.c (what its calls share), chat_redis_room.c
 * (the calls of rooms and upkeep), chat_redis_sub.c (the subscription,
 * the heartbeat and the reaper) and chat_room_sync.c (rooms as replicas).
 *
 * Keys (doc/cluster.md has the whole layout). Every key of one room
 * carries the room's name as a hash tag, "goc:{ROOM}:...", so a room's
 * script touches one hash slot:
 *   goc:{R}:log      stream of messages, entry id "ID-0", fields p (the
 *                    event before it), n, t, s (nick, text, ts); trimmed
 *                    to about CHAT_REDIS_HISTORY entries
 *   goc:{R}:pres     stream of joins and leaves, entry id "L-k" (L the
 *                    room's last message id), fields p, k (j or l), n
 *   goc:{R}:head     the id of the room's last event (message or presence)
 *   goc:{R}:members  hash nick -> "INSTANCE JOIN-EVENT-ID"
 *   goc:{R}:count    messages ever stored in the room
 *   goc:{R}:ch       the room's pub/sub channel: "PREV ID KIND REST"
 * and four that are not a room's:
 *   goc:ids          the message id counter (ids grow across all rooms)
 *   goc:rooms        set of the rooms with members or messages
 *   goc:nodes        hash INSTANCE -> heartbeat expiry (Redis clock, ms)
 *   goc:node:INSTANCE:rooms  rooms INSTANCE has had members in
 * INSTANCE is "NODE#RANDOM", new at every start, so a server restarted
 * under the same --node never mistakes its old life's members for its own.
 */
#ifndef GOCD_CHAT_REDIS_H
#define GOCD_CHAT_REDIS_H

#include "chat_internal.h"
#include "redis.h"

#define CHAT_REDIS_HISTORY 10000  /* messages kept per room (about: MAXLEN ~) */
#define CHAT_REDIS_PRESENCE 1000  /* joins and leaves kept per room, for gap filling */
#define CHAT_REDIS_SYNC_BATCH 256 /* events read per catch-up call */
#define CHAT_REDIS_POOL 4         /* command connections */
#define CHAT_REDIS_HEARTBEAT (500 * GOC_MILLISECOND)
#define CHAT_REDIS_NODE_TTL (5000 * GOC_MILLISECOND) /* a silent server's members go then */
#define CHAT_REDIS_HEALTHY (1500 * GOC_MILLISECOND)  /* no success for this long: unavailable */

/* The broker's state (chat_redis.c), read by the other two files. */
typedef struct chat__redis {
    redis_client *cl;            /* the command pool */
    char instance[200];          /* NODE#RANDOM */
    _Atomic int64_t beat_ok_ns;  /* goc_nanotime() of the last successful heartbeat */
    _Atomic bool sub_up;         /* the subscription is connected and subscribed */
    _Atomic uint64_t published, received, gaps, dropped, resyncs, reconnects, reaped,
        sub_reconnects;
} chat__redis;

extern chat__redis chat__R;

/* Parses "ms-seq". false if s[0..len) is not one. */
bool chat__eid_parse(const char *s, size_t len, chat__eid *out);
/* Orders eids: <0, 0, >0. */
int chat__eid_cmp(chat__eid a, chat__eid b);
/* Writes "ms-seq" (at most 42 bytes with the NUL). Returns its length. */
int chat__eid_fmt(chat__eid e, char *out, size_t cap);

/* The JSON-RPC code for a failed call: a negative errno from the client
 * (Redis unreachable), or an error reply. Logs what is worth it. */
int chat__redis_code(int rc, const redis_reply *r, const char *what);

/* ---- calls (chat_redis_call.c) ---- */

#define CHAT_KEY_MAX (CHAT_ROOM_MAX + 32) /* bytes of a room's key */
/* "goc:{room}:suffix" into out; returns its length. */
size_t chat__room_key(char *out, size_t cap, const char *room, const char *suffix);

/* A call whose reply a function reads. */
typedef struct chat__call {
    int code;         /* the JSON-RPC code when the call failed */
    const char *what; /* what it was, for the log */
    void *data;       /* the reading function's own */
} chat__call;

/* Runs script (or, NULL, the command argv[0..argc)) with the pool and
 * deadline; fn(o, reply) reads a reply that is not an error while the
 * connection is held (returning a negative errno if the reply is not
 * what it expects). 0, or -1 with o->code set. */
int chat__redis_run(const redis_script *script, int nkeys, int argc, const char *const *argv,
                    const size_t *lens, int64_t deadline,
                    int (*fn)(chat__call *o, const redis_reply *r), chat__call *o);

/* Reading replies: a string (bulk or simple), one equal to s, an integer
 * (an integer reply or digits in a string). */
bool chat__resp_is_str(const resp_value *v);
bool chat__resp_str_eq(const resp_value *v, const char *s);
bool chat__resp_int(const resp_value *v, int64_t *out);

/* A stream entry [id, [field, value, ...]]: its fields by letter (NULL
 * when absent). */
typedef struct chat__entry {
    chat__eid eid;
    const resp_value *p, *n, *t, *s, *k;
} chat__entry;
/* Reads the entry at node i. false if it is not one. */
bool chat__entry_read(const resp_value *v, uint32_t i, chat__entry *e);
/* A message entry as chat.history gives it (a new reference, or NULL). */
json_t *chat__message_json(const char *room, const chat__entry *e);

/* One member of a members hash. */
typedef struct chat__member_rec {
    chat__eid joined;        /* its join event */
    const resp_value *nick;  /* borrowed from the reply */
    bool ours;               /* held by this instance */
} chat__member_rec;
/* The hash (HGETALL's reply at node i) in join order: an array the caller
 * frees (goc_free), *n entries; NULL when out of memory. */
chat__member_rec *chat__members_sorted(const resp_value *v, uint32_t i, size_t *n);

/* ---- the scripts (chat_redis_lua.c) ---- */

typedef struct chat__redis_scripts {
    redis_script send, presence, events, snapshot, rooms, heartbeat, reap;
} chat__redis_scripts;
extern chat__redis_scripts chat__scripts;
/* Computes their SHA-1s. */
void chat__redis_scripts_init(void);

/* ---- calls the rooms make (chat_redis_room.c) ---- */

enum { CHAT_PRESENCE_OK, CHAT_PRESENCE_TAKEN, CHAT_PRESENCE_HELD, CHAT_PRESENCE_ABSENT };
/* op 'j' (join) or 'l' (leave) of nick in room for this instance. Returns
 * CHAT_PRESENCE_OK with the event's prev and eid set; TAKEN (join: another
 * server holds the nick), HELD (join: this instance holds it already, no
 * event), ABSENT (leave: not held by this instance, no event); or a
 * negative JSON-RPC code. */
int chat__redis_presence(const char *room, char op, const char *nick, int64_t deadline,
                         chat__eid *prev, chat__eid *eid);
/* The room's events after `after`, up to `until` (NULL: the end), at most
 * CHAT_REDIS_SYNC_BATCH, in order, as ROOM_EVENT commands (*out, *n; the
 * texts and the array are the caller's: chat__events_free), and the
 * room's head. 0 or a negative JSON-RPC code. */
int chat__redis_events(const char *room, chat__eid after, const chat__eid *until,
                       int64_t deadline, chat__eid *head, chat__cmd **out, size_t *n);
void chat__events_free(chat__cmd *v, size_t n);

/* The room's state now: head, last message id, and its members in join
 * order (nicks[i] goc_malloc'd; ours[i]: held by this instance). Free
 * with chat__snapshot_free. */
typedef struct chat__snapshot {
    chat__eid head;
    int64_t last_id;
    char **nicks;
    bool *ours;
    size_t n;
} chat__snapshot;
int chat__redis_snapshot(const char *room, int64_t deadline, chat__snapshot *out);
void chat__snapshot_free(chat__snapshot *s);

/* Refreshes this instance's heartbeat. 0 (and *reaped: the others had
 * removed this instance as dead) or a negative JSON-RPC code. */
int chat__redis_heartbeat(bool registered, int64_t deadline, bool *reaped);
/* Removes the members of dead instances (target NULL) or of target, with
 * a leave event each. Returns how many, or a negative JSON-RPC code. */
int chat__redis_reap(const char *target, int64_t deadline);

/* The rooms this instance has had members in (goc:node:INSTANCE:rooms):
 * calls fn(room, arg) for each. 0 or a negative JSON-RPC code. */
int chat__redis_node_rooms(int64_t deadline, void (*fn)(const char *room, void *arg), void *arg);
/* Takes room out of that set. */
void chat__redis_node_forget(const char *room, int64_t deadline);

/* ---- the subscription and upkeep (chat_redis_sub.c) ---- */
int chat__redis_sub_start(void);
void chat__redis_sub_stop(void);
/* A room starts or stops wanting its channel. Never blocks. */
void chat__redis_sub_add(const char *room);
void chat__redis_sub_remove(const char *room);

#endif

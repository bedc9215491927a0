/* chat_internal.h: the chat's private parts, shared by chat.c (state,
 * validation, members, the registry), chat_room.c (the room goroutines),
 * chat_room_sync.c (rooms of a chat shared through Redis), chat_history.c
 * (the in-process broker: SQLite), chat_redis*.c (the Redis broker) and
 * chat_methods.c (the JSON-RPC handlers). Names use the prefix `chat__`.
 *
 * The broker (chat__broker) is where messages are stored and how they and
 * the presence reach the rooms (doc/architecture.md, growth beyond one
 * machine). The in-process broker stores in SQLite and hands each message
 * to this process's room; the room is the authority on its members. The
 * Redis broker stores, numbers and publishes in one Lua step; every server
 * subscribes to the rooms it has members in, and each room applies the
 * room's events (messages, joins, leaves) in the order Redis gave them,
 * filling any gap from Redis first (chat_room_sync.c): Redis is the
 * authority and each room a replica.
 *
 * Invariants:
 *  - A member is in a room's slot list exactly when that room is in the
 *    member's room list; both lists change together, in the room's
 *    goroutine, under the member's lock.
 *  - A room pushes messages to its members in id order, and a member's
 *    join reply is the room's state at one point of that order (members
 *    and last_id): every later event reaches the member as a notification
 *    after its reply (the member's pushes are held until the transport has
 *    queued the reply, chat_member_flush).
 *  - In-process: messages reach a room's goroutine only from the history
 *    writer, after their commit, in id order. A room's last_id is the id of
 *    the last message handed to it or, before the first one, the writer's
 *    published id at the room's creation: every message of the room with a
 *    higher id is still to be handed to it (chat.join's history reads up to
 *    last_id, the pushes carry the rest: no gap, no duplicate).
 *  - Redis: a synced room has applied exactly the room's events up to head
 *    (its roster is the room's members then, last_id its last message),
 *    and applies an event only if its prev is head; an older one is a
 *    duplicate, a newer one reveals a gap, filled before going on.
 *  - A room lives while it has members or users (holders of a pointer from
 *    chat__room_get, until their chat__room_put); the last of them to go
 *    retires it: out of the registry, its channel closed, its goroutine
 *    frees it. Members keep pointers only to rooms they are in, which
 *    cannot retire. A peer joining and leaving made-up rooms therefore
 *    leaves nothing behind in this process.
 */
#ifndef GOCD_CHAT_INTERNAL_H
#define GOCD_CHAT_INTERNAL_H

#include <stdatomic.h>

#include "chat.h"

#define CHAT_ROOM_MAX 64             /* bytes (ASCII only) */
#define CHAT_NICK_MAX_CHARS 32       /* code points */
#define CHAT_NICK_MAX 128            /* bytes: 32 code points of at most 4 bytes */
#define CHAT_TEXT_MAX 4096           /* bytes */
#define CHAT_JOIN_HISTORY 50         /* messages in chat.join's result */
#define CHAT_HISTORY_DEFAULT 100     /* chat.history's default limit */
#define CHAT_HISTORY_MAX 500         /* and its largest */
#define CHAT_ROOM_QUEUE 1024         /* commands queued for one room */
#define CHAT_HELD_MAX 1024           /* notifications held for a member during a join */
#define CHAT_CALL_TIMEOUT (1500 * GOC_MILLISECOND) /* a call's time for the broker (2 s promised) */

typedef struct chat_room chat_room;

/* One member in a room's list. */
typedef struct chat__slot {
    chat_member *m;                 /* borrowed: the member leaves before it is freed */
    char nick[CHAT_NICK_MAX + 1];   /* its nick in this room */
} chat__slot;

/* One room in a member's list. */
typedef struct chat__joined {
    chat_room *room;                /* cannot retire while this member is in it */
    char nick[CHAT_NICK_MAX + 1];
} chat__joined;

/* A notification held back during a join (chat_member_flush). */
typedef struct chat__held {
    struct chat__held *next;
    size_t len;
    char text[];
} chat__held;

struct chat_member {
    chat_sink sink;          /* copied from chat_member_new; immutable */
    goc_mutex mu;            /* guards rooms, nrooms, cap, tokens, refill_ns, holds, held */
    chat__joined *rooms;     /* the rooms joined, in join order */
    size_t nrooms, cap;
    double tokens;           /* rate limit bucket: sends allowed now (at most 2 x rate) */
    int64_t refill_ns;       /* goc_nanotime() when tokens was last refilled */
    int holds;               /* chat.join calls begun and not flushed: pushes are held */
    _Atomic bool holding;    /* holds > 0, read without the lock by pushers */
    chat__held *held, **held_tail; /* held notifications, oldest first */
    size_t nheld;
    _Atomic bool kicked;     /* a push found the outbox full: the transport closes it */
};

/* A position in a room's event order: a Redis stream entry id "ms-seq". A
 * message's is "id-0"; a join or leave after message L is "L-k", k > 0. */
typedef struct chat__eid {
    uint64_t ms, seq;
} chat__eid;

/* Commands a room's goroutine receives (by value) on its channel. */
enum {
    ROOM_JOIN,      /* m joins as nick (sync) */
    ROOM_LEAVE,     /* m leaves (sync) */
    ROOM_PUBLISH,   /* in-process: a committed message (async) */
    ROOM_MEMBERS,   /* the member nicks (sync) */
    ROOM_HELD,      /* is nick held here (sync) */
    ROOM_EVENT,     /* Redis: an event from the subscription (async) */
    ROOM_TICK,      /* Redis: check for missed events, reconcile (async) */
    ROOM_RECONCILE, /* Redis: this server's presence may be lost (async) */
};

/* Where a synchronous command gets its answer: on the caller's stack; the
 * room writes it, then calls goc_waitgroup_done(&wg) and never touches it
 * again. */
typedef struct chat__reply {
    goc_waitgroup wg;
    int rc;              /* 0 or a JSON-RPC error code (NICK_HELD: -32002 when held) */
    const char *err;     /* static message for rc, NULL: the standard one */
    int64_t last_id;     /* JOIN: the room's last_id when the member joined */
    json_t *members;     /* JOIN, MEMBERS: [nick], new reference for the caller */
    bool held;           /* HELD: the answer */
} chat__reply;

typedef struct chat__cmd {
    int op;               /* ROOM_* */
    chat_member *m;       /* JOIN, LEAVE */
    const char *nick;     /* JOIN, HELD: borrowed until the reply */
    bool gone;            /* LEAVE: the connection closed: leave here even if Redis is away */
    int64_t deadline;     /* synchronous commands (Redis): answer -32006 rather than pass it */
    int64_t id;           /* PUBLISH, EVENT 'm': the message id */
    char *text;           /* PUBLISH, EVENT 'm': the notification; EVENT 'j'/'l': the nick;
                           * owned by the room */
    size_t len;           /* its length */
    char kind;            /* EVENT: 'm' message, 'j' join, 'l' leave */
    chat__eid prev, eid;  /* EVENT: the event's predecessor and its own position;
                           * TICK: eid is Redis's head for the room, or {0, 0} unknown */
    chat__reply *reply;   /* synchronous commands */
} chat__cmd;

struct chat_room {
    char name[CHAT_ROOM_MAX + 1];
    goc_chan *cmds;           /* chat__cmd, buffered; closed by chat_shutdown */
    chat_room *next;          /* hash chain [registry lock] */
    _Atomic int64_t users;    /* pointers out from chat__room_get, not yet put */
    bool retired;             /* out of the registry [registry lock] */
    _Atomic int64_t nmembers; /* members on this server; written by the room's goroutine */
    /* Owned by the room's goroutine: */
    chat__slot *slots;        /* this server's members, in join order */
    size_t nslots, cap;
    int64_t last_id;          /* see the invariants above */
    /* Redis only, owned by the room's goroutine (chat_room_sync.c): */
    bool synced;              /* head, last_id and roster hold the room's state at head */
    bool dirty;               /* this server's presence in Redis may not match slots */
    chat__eid head;           /* the last event applied */
    chat__eid tick_head;      /* head at the last tick: moving, events flow (no check needed) */
    char **roster;            /* every member on every server, in join order (goc_malloc'd) */
    size_t nroster, roster_cap;
};

/* What a broker does (see the top of the file). Calls that reach the
 * broker take a deadline (goc_nanotime clock) and never pass it; failures
 * come back as JSON-RPC codes: JRPC_UNAVAILABLE (the broker's store cannot
 * be reached: retry), JRPC_INTERNAL_ERROR. */
typedef struct chat__broker {
    const char *name;
    bool distributed;  /* Redis: rooms are replicas (chat_room_sync.c) */
    /* Starts the broker. 0, or a negative errno with why in err. */
    int (*start)(const chat_config *cfg, char *err, size_t errlen);
    /* Stops feeding the rooms, once no call is in flight (in-process:
     * the writer commits and hands out what is queued). */
    void (*stop)(void);
    /* Frees the rest, once the room goroutines have ended (NULL: none). */
    void (*release)(void);
    /* Stores a message and numbers it, then gets it to every member of
     * its room, in id order. Returns it (new reference) or NULL, *code. */
    json_t *(*send)(const char *room, const char *nick, const char *text, size_t len,
                    int64_t deadline, int *code);
    /* Messages of room with since < id (and id < before when before > 0),
     * oldest first, at most limit; with newest, the last limit of them.
     * A new array, or NULL and *code. */
    json_t *(*history)(const char *room, int64_t since, int64_t before, int64_t limit,
                       bool newest, int64_t deadline, int *code);
    /* {room: message count} for every room the broker knows; with
     * members (Redis), {room: [members, messages]}. NULL and *code. */
    json_t *(*rooms)(int64_t deadline, int *code);
    /* Distributed only: the members of a room ([nick] in join order),
     * whether a nick is held (1/0, or a negative code). */
    json_t *(*members)(const char *room, int64_t deadline, int *code);
    int (*nick_held)(const char *room, const char *nick, int64_t deadline);
    /* Reachable now (chat_available). */
    bool (*available)(void);
    /* Figures for runtime.stats and /metrics (NULL: none). */
    json_t *(*stats_json)(void);
    void (*metrics)(struct buf *b);
} chat__broker;

extern const chat__broker chat__broker_inproc; /* chat_history.c */
extern const chat__broker chat__broker_redis;  /* chat_redis.c */

/* The chat's global state. */
typedef struct chat__state {
    int64_t rate;               /* sends per second per member, 0: no limit */
    goc_rwmutex life;           /* read-held by every operation using the broker or the
                                 * rooms; write-held by chat_shutdown to stop them */
    bool running;               /* [life] between chat_init and chat_shutdown */
    goc_rwmutex reg_mu;         /* guards the registry: buckets, nbuckets, nrooms, reg_closed */
    chat_room **buckets;        /* hash table of rooms by name, chained */
    size_t nbuckets, nrooms;
    bool reg_closed;            /* no more rooms: shutting down */
    goc_waitgroup rooms_wg;     /* one per room goroutine */
    const chat__broker *broker; /* chosen by chat_init (tests: chat__set_broker) */
    const chat__broker *forced; /* chat__set_broker's choice, used by the next chat_init */
    char node[128];             /* --node: this server's name */
    _Atomic int64_t published_id; /* in-process: highest id the writer handed to the rooms */
    _Atomic int64_t st_members, st_stored, st_delivered, st_kicks, st_limited;
} chat__state;

extern chat__state chat__g;

/* ---- chat.c ---- */
bool chat__room_valid(const char *s, size_t len);
bool chat__nick_valid(const char *s, size_t len);
bool chat__text_valid(const char *s, size_t len);
/* Returns the room called name, creating it (and its goroutine) when
 * absent and create is true; NULL when absent, shutting down, or out of
 * memory. name must be valid. */
chat_room *chat__room_get(const char *name, bool create);
/* Gives back a pointer from chat__room_get; r may retire from then on. */
void chat__room_put(chat_room *r);
/* The room's goroutine, after a command: retires r if nothing holds it (no
 * member, no user, no command queued). */
void chat__room_retire_if_idle(chat_room *r);
/* Calls fn(r, arg) for every room in the registry, under its read lock
 * (fn must not block). */
void chat__rooms_each(void (*fn)(chat_room *r, void *arg), void *arg);
/* Takes one token from m's bucket: true if the send may go. */
bool chat__rate_take(chat_member *m);
/* Copies m's nick in room into nick (CHAT_NICK_MAX + 1 bytes): false if
 * m has not joined room. */
bool chat__member_nick(chat_member *m, chat_room *room, char *nick);
/* Pushes text to m, or holds it while a join of m is under way. false: m
 * is too slow (its outbox, or its held list, is full). */
bool chat__member_push(chat_member *m, const char *text, size_t len);
/* A chat.join of m begins: its pushes are held until chat_member_flush. */
void chat__member_hold(chat_member *m);
/* Makes the chat use b from the next chat_init on (NULL: as the
 * configuration says). For tests. */
void chat__set_broker(const chat__broker *b);
/* Gives a committed message to this process's room (created if needed),
 * which pushes it to its members in id order. Takes text (free with
 * jrpc_reply_free). Returns false when shutting down or out of memory. */
bool chat__deliver_local(const char *room, int64_t id, char *text, size_t len);

/* ---- chat_room.c ---- */
/* The room goroutine's function; arg points at the chat_room pointer. */
void chat__room_main(void *arg);
/* Sends cmd to room and, for synchronous commands, waits for the answer in
 * *cmd->reply (whose wg this sets up). */
void chat__room_call(chat_room *room, chat__cmd *cmd);
/* Sends an asynchronous command without waiting for room space: false
 * (cmd not sent, its text still the caller's) when the room's queue is
 * full. */
bool chat__room_try(chat_room *room, const chat__cmd *cmd);
/* Shared with chat_room_sync.c, for the room's goroutine: */
ptrdiff_t chat__slot_of_member(const chat_room *r, const chat_member *m);
ptrdiff_t chat__slot_of_nick(const chat_room *r, const char *nick);
int chat__slot_add(chat_room *r, chat_member *m, const char *nick);
void chat__slot_remove(chat_room *r, size_t i);
/* Pushes msgs[0..n) (texts) in order to every member but except (may be
 * NULL); returns the pushes made. */
int64_t chat__broadcast(chat_room *r, const chat__cmd *msgs, int n, const chat_member *except);
/* A chat.presence notification to every member but except. */
void chat__presence(chat_room *r, const char *nick, const char *event, const chat_member *except);
/* Removes (and announces) members kicked as too slow. */
void chat__reap(chat_room *r);

/* ---- chat_room_sync.c (Redis) ---- */
void chat__sync_join(chat_room *r, chat__cmd *c);
void chat__sync_leave(chat_room *r, chat__cmd *c);
void chat__sync_members(chat_room *r, chat__cmd *c);
/* Applies the events cmds[0..n) (ROOM_EVENT), in order; owns their texts. */
void chat__sync_events(chat_room *r, chat__cmd *cmds, int n);
void chat__sync_tick(chat_room *r, const chat__cmd *c);
void chat__sync_reconcile(chat_room *r);
/* The room starts or ends (subscription; the roster's memory). */
void chat__sync_open(chat_room *r);
void chat__sync_close(chat_room *r);

/* ---- chat_history.c (in-process) ---- */
/* Opens the database and starts the writer. Returns 0, or a negative errno
 * with why in err (errlen bytes). */
int chat__history_open(const char *path, char *err, size_t errlen);
/* Drains the writer's queue, stops it, closes the database. */
void chat__history_close(void);

#endif

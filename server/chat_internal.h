/* chat_internal.h: the chat's private parts, shared by chat.c (state,
 * validation, members, the registry), chat_room.c (the room goroutines),
 * chat_history.c (the SQLite writer goroutine) and chat_methods.c (the
 * JSON-RPC handlers). Names use the prefix `chat__`.
 *
 * Invariants:
 *  - A member is in a room's slot list exactly when that room is in the
 *    member's room list; both lists change together, in the room's
 *    goroutine, under the member's lock.
 *  - Messages reach a room's goroutine only from the history writer, after
 *    their commit, in id order; the room pushes each to its members in the
 *    order received, so every member sees a room's messages in id order.
 *  - A room's last_id is the id of the last message handed to it or, before
 *    the first one, the writer's published id at the room's creation: every
 *    message of the room with a higher id is still to be handed to it, every
 *    one with a lower or equal id is committed (chat.join's history reads up
 *    to last_id, the pushes carry the rest: no gap, no duplicate).
 *  - A room lives while it has members or users (holders of a pointer from
 *    chat__room_get, until their chat__room_put); the last of them to go
 *    retires it: out of the registry, its channel closed, its goroutine
 *    frees it. Members keep pointers only to rooms they are in, which
 *    cannot retire. A peer joining and leaving made-up rooms therefore
 *    leaves nothing behind (its messages stay in the database).
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
#define CHAT_ROOM_QUEUE 256          /* commands queued for one room */

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

struct chat_member {
    chat_sink sink;          /* copied from chat_member_new; immutable */
    goc_mutex mu;            /* guards rooms, nrooms, cap, tokens, refill_ns */
    chat__joined *rooms;     /* the rooms joined, in join order */
    size_t nrooms, cap;
    double tokens;           /* rate limit bucket: sends allowed now (at most 2 x rate) */
    int64_t refill_ns;       /* goc_nanotime() when tokens was last refilled */
    _Atomic bool kicked;     /* a push found the outbox full: the transport closes it */
};

/* Commands a room's goroutine receives (by value) on its channel. */
enum { ROOM_JOIN, ROOM_LEAVE, ROOM_PUBLISH, ROOM_MEMBERS };

/* Where a synchronous command (all but PUBLISH) gets its answer: on the
 * caller's stack; the room writes it, then calls goc_waitgroup_done(&wg)
 * and never touches it again. */
typedef struct chat__reply {
    goc_waitgroup wg;
    int rc;              /* 0 or a JSON-RPC error code */
    const char *err;     /* static message for rc, NULL: the standard one */
    int64_t last_id;     /* JOIN: the room's last_id when the member joined */
    json_t *members;     /* JOIN, MEMBERS: [nick], new reference for the caller */
} chat__reply;

typedef struct chat__cmd {
    int op;               /* ROOM_* */
    chat_member *m;       /* JOIN, LEAVE */
    const char *nick;     /* JOIN: borrowed until the reply */
    int64_t id;           /* PUBLISH: the message id */
    char *text;           /* PUBLISH: the chat.message notification, owned by the room */
    size_t len;           /* its length */
    chat__reply *reply;   /* all but PUBLISH */
} chat__cmd;

struct chat_room {
    char name[CHAT_ROOM_MAX + 1];
    goc_chan *cmds;           /* chat__cmd, buffered; closed by chat_shutdown */
    chat_room *next;          /* hash chain [registry lock] */
    _Atomic int64_t users;    /* pointers out from chat__room_get, not yet put */
    bool retired;             /* out of the registry [registry lock] */
    _Atomic int64_t nmembers; /* written by the room's goroutine, read by anyone */
    /* Owned by the room's goroutine: */
    chat__slot *slots;        /* members in join order */
    size_t nslots, cap;
    int64_t last_id;          /* see the invariants above */
};

/* The chat's global state. */
typedef struct chat__state {
    int64_t rate;               /* sends per second per member, 0: no limit */
    goc_rwmutex life;           /* read-held by every operation using the writer or the
                                 * rooms; write-held by chat_shutdown to stop them */
    bool running;               /* [life] between chat_init and chat_shutdown */
    goc_rwmutex reg_mu;         /* guards the registry: buckets, nbuckets, nrooms, reg_closed */
    chat_room **buckets;        /* hash table of rooms by name, chained */
    size_t nbuckets, nrooms;
    bool reg_closed;            /* no more rooms: shutting down */
    goc_waitgroup rooms_wg;     /* one per room goroutine */
    const chat_broker *broker;  /* chat_set_broker's, else the in-process one */
    _Atomic int64_t published_id; /* highest id the writer has handed to the rooms */
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
/* Takes one token from m's bucket: true if the send may go. */
bool chat__rate_take(chat_member *m);
/* Copies m's nick in room into nick (CHAT_NICK_MAX + 1 bytes): false if
 * m has not joined room. */
bool chat__member_nick(chat_member *m, chat_room *room, char *nick);

/* ---- chat_room.c ---- */
/* The room goroutine's function; arg points at the chat_room pointer. */
void chat__room_main(void *arg);
/* Sends cmd to room and, for synchronous commands, waits for the answer in
 * *cmd->reply (whose wg this sets up). */
void chat__room_call(chat_room *room, chat__cmd *cmd);

/* ---- chat_history.c ---- */
/* Opens the database and starts the writer. Returns 0, or a negative errno
 * with why in err (errlen bytes). */
int chat__history_open(const char *path, char *err, size_t errlen);
/* Drains the writer's queue, stops it, closes the database. */
void chat__history_close(void);
/* Stores one message; returns it (new reference) with its id and ts, or
 * NULL on a database error (-32603). Blocks until committed and handed to
 * the room's goroutine. Strings are borrowed for the call. */
json_t *chat__history_store(const char *room, const char *nick, const char *text,
                            size_t text_len);
/* Messages of room with since < id (and id < before when before > 0),
 * oldest first, at most limit: the first ones after since, or with a
 * before the last ones below it. A new array, NULL on a database error. */
json_t *chat__history_read(const char *room, int64_t since, int64_t before, int64_t limit);
/* {room: message count} for every room in the database: a new object or
 * NULL on error. */
json_t *chat__history_counts(void);

#endif

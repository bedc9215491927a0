/* chat_history.c: the in-process broker (chat__broker_inproc): the chat's
 * history in SQLite, owned by one writer
 * goroutine (1 MiB stack: SQLite is stack-hungry) that receives requests on
 * a channel. Each round it takes every request queued (up to BATCH_MAX),
 * commits all the inserts in one transaction (BEGIN; INSERT...; COMMIT)
 * as a blocking C call (db_enter/db_exit: the P is handed off at once for
 * a file, whose commit waits for fsync; an in-memory database never
 * blocks, so its P is only taken if the call runs long), then, in id order,
 * hands each committed message to its room's goroutine
 * (chat__deliver_local) and answers its sender; then it runs the reads of
 * the round. Reads go through the same
 * connection, so the database has exactly one user.
 *
 * Schema: messages(id INTEGER PRIMARY KEY AUTOINCREMENT, room, nick, text,
 * ts) with an index on (room, id); journal_mode=WAL and synchronous=FULL,
 * so a message whose chat.send was answered survives kill -9.
 *
 * Invariants:
 *  - Only the writer goroutine touches H.db and the statements (between
 *    chat__history_open and chat__history_close).
 *  - Requests live on their sender's stack; the writer answers through the
 *    request's WaitGroup and never touches it after goc_waitgroup_done.
 *  - chat__g.published_id only grows, and is stored after the message with
 *    that id was handed to its room.
 */
#include "chat_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <goc/malloc.h>

#include "log.h"

#define BATCH_MAX 256
#define QUEUE_CAP 1024
#define WRITER_STACK (1u << 20)

enum { HIST_INSERT, HIST_READ, HIST_COUNTS };

typedef struct hist_req {
    int op;                         /* HIST_* */
    const char *room, *nick, *text; /* INSERT (all), READ (room): borrowed */
    size_t text_len;
    int64_t since, before, limit;   /* READ: since < id < before; before 0: no bound */
    bool newest;                    /* READ: the last `limit` of them */
    int64_t id, ts;                 /* INSERT: the id and time given (id 0: failed) */
    buf_t *out;                     /* READ: the rows go on its end, as a JSON array */
    bool ok;                        /* out: INSERT committed, READ complete */
    json_t *counts;                 /* COUNTS: new reference, NULL on failure */
    goc_waitgroup wg;               /* done once the answer is set */
} hist_req;

static struct {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback, *insert, *after, *before, *counts;
    goc_chan *reqs;     /* hist_req *; closed by chat__history_close */
    goc_waitgroup done; /* the writer goroutine */
    bool on_disk;       /* not ":memory:": commits wait for the disk */
} H;

/* Brackets a call into SQLite (see the top of the file). */
static void db_enter(void)
{
    if (H.on_disk)
        goc_syscall_enter_block();
    else
        goc_syscall_enter();
}

static void db_exit(void)
{
    goc_syscall_exit();
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the writer --------------------------------------------------------- */

/* Runs the inserts of batch in one transaction. Returns true if committed
 * (each insert's id is then set). Runs inside the syscall bracket: no
 * runtime call here. */
static bool insert_all(hist_req **b, int n, int64_t ts)
{
    bool ok = sqlite3_step(H.begin) == SQLITE_DONE;
    sqlite3_reset(H.begin);
    for (int i = 0; ok && i < n; i++) {
        if (b[i]->op != HIST_INSERT)
            continue;
        sqlite3_bind_text(H.insert, 1, b[i]->room, -1, SQLITE_STATIC);
        sqlite3_bind_text(H.insert, 2, b[i]->nick, -1, SQLITE_STATIC);
        sqlite3_bind_text(H.insert, 3, b[i]->text, (int)b[i]->text_len, SQLITE_STATIC);
        sqlite3_bind_int64(H.insert, 4, ts);
        ok = sqlite3_step(H.insert) == SQLITE_DONE;
        b[i]->id = sqlite3_last_insert_rowid(H.db);
        sqlite3_reset(H.insert);
    }
    sqlite3_clear_bindings(H.insert);
    if (ok) {
        ok = sqlite3_step(H.commit) == SQLITE_DONE;
        sqlite3_reset(H.commit);
    }
    if (!ok) {
        sqlite3_step(H.rollback);
        sqlite3_reset(H.rollback);
    }
    return ok;
}

/* Writes the committed message of q, once, as its chat.message
 * notification and hands that text to its room (whose goroutine gives the
 * one text to every member). */
static void publish(hist_req *q, int64_t ts)
{
    buf_t b = {0};
    jrpc_notification_begin(&b, "chat.message");
    chat__message_write(&b, q->id, q->room, q->nick, strlen(q->nick), q->text, q->text_len, ts);
    jrpc_notification_end(&b);
    if (b.err) {
        log_error("chat: message %lld stored but not delivered (out of memory)",
                  (long long)q->id);
        buf_free(&b);
    } else if (!chat__deliver_local(q->room, q->id, b.data, b.len)) { /* b.data is the room's */
        log_error("chat: message %lld stored but not delivered", (long long)q->id);
    }
    q->ts = ts;
    q->ok = true;
    atomic_store(&chat__g.published_id, q->id);
    atomic_fetch_add(&chat__g.st_stored, 1);
}

/* Runs a read; each step inside the syscall bracket. History rows go from
 * SQLite's columns straight into the requester's buffer as JSON; room
 * counts (rare: REST and /metrics) into a jansson object. */
static void run_read(hist_req *q)
{
    sqlite3_stmt *s = q->op == HIST_COUNTS ? H.counts : q->newest ? H.before : H.after;
    if (q->op == HIST_READ) {
        sqlite3_bind_text(s, 1, q->room, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, q->since);
        sqlite3_bind_int64(s, 3, q->before > 0 ? q->before : INT64_MAX);
        sqlite3_bind_int64(s, 4, q->limit);
        goc_json_lit(q->out, "[");
    } else {
        q->counts = json_object();
    }
    int rc;
    for (size_t rows = 0;; rows++) {
        goc_syscall_enter();
        rc = sqlite3_step(s);
        goc_syscall_exit();
        if (rc != SQLITE_ROW)
            break;
        if (q->op == HIST_COUNTS) {
            json_object_set_new(q->counts, (const char *)sqlite3_column_text(s, 0),
                                json_integer(sqlite3_column_int64(s, 1)));
            continue;
        }
        if (rows)
            goc_json_lit(q->out, ",");
        chat__message_write(q->out, sqlite3_column_int64(s, 0),
                            (const char *)sqlite3_column_text(s, 1),
                            (const char *)sqlite3_column_text(s, 2),
                            (size_t)sqlite3_column_bytes(s, 2),
                            (const char *)sqlite3_column_text(s, 3),
                            (size_t)sqlite3_column_bytes(s, 3), sqlite3_column_int64(s, 4));
    }
    if (q->op == HIST_READ)
        goc_json_lit(q->out, "]");
    if (rc != SQLITE_DONE)
        log_error("chat: history read: %s", sqlite3_errmsg(H.db));
    q->ok = rc == SQLITE_DONE && (q->op == HIST_READ ? !q->out->err : q->counts != NULL);
    goc_syscall_enter();
    sqlite3_reset(s);
    goc_syscall_exit();
    sqlite3_clear_bindings(s);
}

/* Answers a round of requests: inserts first (one transaction), then
 * reads. A request is its sender's again once done: ops are noted first. */
static void round_run(hist_req **b, int n)
{
    bool is_insert[BATCH_MAX];
    int writes = 0;
    for (int i = 0; i < n; i++)
        writes += is_insert[i] = b[i]->op == HIST_INSERT;
    if (writes) {
        int64_t ts = now_ms();
        db_enter();
        bool ok = insert_all(b, n, ts);
        db_exit();
        if (!ok)
            log_error("chat: history commit of %d messages failed: %s", writes,
                      sqlite3_errmsg(H.db));
        for (int i = 0; i < n; i++) {
            if (!is_insert[i])
                continue;
            if (ok)
                publish(b[i], ts);
            goc_waitgroup_done(&b[i]->wg);
        }
    }
    for (int i = 0; i < n; i++) {
        if (is_insert[i])
            continue;
        run_read(b[i]);
        goc_waitgroup_done(&b[i]->wg);
    }
}

static void writer_main(void *arg)
{
    (void)arg;
    hist_req *b[BATCH_MAX];
    while (goc_chan_recv(H.reqs, &b[0])) {
        int n = 1;
        bool ok = true;
        while (n < BATCH_MAX && goc_chan_try_recv(H.reqs, &b[n], &ok) && ok)
            n++;
        round_run(b, n);
    }
    goc_waitgroup_done(&H.done);
}

static void request(hist_req *q)
{
    goc_waitgroup_add(&q->wg, 1);
    goc_chan_send(H.reqs, &q);
    goc_waitgroup_wait(&q->wg);
}

static int history_store(const char *room, const char *nick, const char *text, size_t text_len,
                         int64_t deadline, int64_t *id, int64_t *ts, int *code)
{
    (void)deadline; /* a local database: no one to wait for but the disk */
    hist_req q = {.op = HIST_INSERT, .room = room, .nick = nick, .text = text,
                  .text_len = text_len};
    request(&q);
    *id = q.id;
    *ts = q.ts;
    *code = JRPC_INTERNAL_ERROR;
    return q.ok ? 0 : -1;
}

static int history_read(const char *room, int64_t since, int64_t before, int64_t limit,
                        bool newest, int64_t deadline, buf_t *out, int *code)
{
    (void)deadline;
    size_t start = out->len;
    hist_req q = {.op = HIST_READ, .room = room, .since = since, .before = before,
                  .limit = limit, .newest = newest, .out = out};
    request(&q);
    *code = JRPC_INTERNAL_ERROR;
    if (!q.ok)
        buf_truncate(out, start);
    return q.ok ? 0 : -1;
}

/* {room: {messages}} for every room in the database. */
static json_t *history_rooms(int64_t deadline, int *code)
{
    (void)deadline;
    hist_req q = {.op = HIST_COUNTS};
    request(&q);
    json_t *out = q.ok ? json_object() : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(q.counts, k, v) json_object_set_new(out, k, json_pack("{s:O}", "messages", v));
    json_decref(q.counts);
    *code = JRPC_INTERNAL_ERROR;
    return out;
}

static int history_start(const chat_config *cfg, char *err, size_t errlen)
{
    return chat__history_open(cfg->db_path ? cfg->db_path : ":memory:", err, errlen);
}

const chat__broker chat__broker_inproc = {
    .name = "in-process",
    .start = history_start,
    .stop = chat__history_close,
    .send = history_store,
    .history = history_read,
    .rooms = history_rooms,
};

/* ---- opening and closing ---------------------------------------------- */

/* mkdir -p of path's directory. Returns 0 or a negative errno. */
static int make_parent(const char *path)
{
    char dir[4096];
    size_t len = strlen(path);
    if (len >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return -errno;
            *p = c;
            if (!c)
                return 0;
        }
    }
}

/* busy_timeout first: switching to WAL takes a lock that another process
 * on the same file (a server still shutting down, a second server) may
 * hold for a moment, and without a timeout the open would fail at once. */
static const char *const schema =
    "PRAGMA busy_timeout=5000;"
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS messages("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, nick TEXT NOT NULL,"
    " text TEXT NOT NULL, ts INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS messages_room_id ON messages(room, id);";

/* SQLite allocates through the runtime's allocator (SQLITE_CONFIG_MALLOC),
 * set once per process before SQLite's first use. */
static void *sq_malloc(int n)
{
    return goc_malloc((size_t)n);
}

static void *sq_realloc(void *p, int n)
{
    return goc_realloc(p, (size_t)n);
}

static int sq_size(void *p)
{
    return (int)goc_malloc_usable_size(p);
}

static int sq_roundup(int n)
{
    return (int)goc_malloc_roundup((size_t)n);
}

static int sq_init(void *unused)
{
    (void)unused;
    return SQLITE_OK;
}

static void sq_shutdown(void *unused)
{
    (void)unused;
}

static void sqlite_use_goc_malloc(void)
{
    static const sqlite3_mem_methods methods = {
        sq_malloc, goc_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
    };
    /* SQLITE_MISUSE: SQLite was started before us (by the program), and
     * keeps the allocator it started with. */
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK)
        log_warn("SQLite was started before the chat: it keeps libc's allocator");
}

/* Opens the database and prepares everything. Runs inside the syscall
 * bracket. Returns an SQLite result code. */
static int db_open(const char *path, int64_t *max_id)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_use_goc_malloc);
    int rc = sqlite3_open_v2(path, &H.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    /* The busy timeout does not cover everything: a read that must become
     * a write while another process writes (CREATE TABLE IF NOT EXISTS on
     * a file being made) fails at once in WAL mode. The schema is
     * idempotent: try again for up to the same 5 s. */
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(H.db, schema, NULL, NULL, NULL);
        for (int tries = 0; (rc & 0xff) == SQLITE_BUSY && tries < 250; tries++) {
            usleep(20000);
            rc = sqlite3_exec(H.db, schema, NULL, NULL, NULL);
        }
    }
    struct {
        sqlite3_stmt **s;
        const char *sql;
    } st[] = {
        {&H.begin, "BEGIN IMMEDIATE"},
        {&H.commit, "COMMIT"},
        {&H.rollback, "ROLLBACK"},
        {&H.insert, "INSERT INTO messages(room, nick, text, ts) VALUES (?1, ?2, ?3, ?4)"},
        {&H.after, "SELECT id, room, nick, text, ts FROM messages"
                   " WHERE room = ?1 AND id > ?2 AND id < ?3 ORDER BY id LIMIT ?4"},
        {&H.before, "SELECT * FROM (SELECT id, room, nick, text, ts FROM messages"
                    " WHERE room = ?1 AND id > ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4)"
                    " ORDER BY id"},
        {&H.counts, "SELECT room, COUNT(*) FROM messages GROUP BY room ORDER BY room"},
    };
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof st / sizeof st[0]; i++)
        rc = sqlite3_prepare_v2(H.db, st[i].sql, -1, st[i].s, NULL);
    sqlite3_stmt *s = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(H.db, "SELECT COALESCE(MAX(id), 0) FROM messages", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        *max_id = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

static void db_close(void)
{
    sqlite3_stmt **all[] = {&H.begin, &H.commit,  &H.rollback, &H.insert,
                            &H.after, &H.before, &H.counts};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
    sqlite3_close(H.db);
    H.db = NULL;
}

/* Why the file at path cannot hold the database, in words the OS gives
 * (SQLite's own say only "unable to open database file"): 0 when it can,
 * else a negative errno. Creates the file (and its directory) if missing. */
static int check_file(const char *path)
{
    int rc = make_parent(path);
    if (rc)
        return rc;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return -EISDIR;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

int chat__history_open(const char *path, char *err, size_t errlen)
{
    H.on_disk = strcmp(path, ":memory:") != 0;
    if (H.on_disk) {
        int rc = check_file(path);
        if (rc) {
            snprintf(err, errlen, "%s", strerror(-rc));
            return rc;
        }
    }
    int64_t max_id = 0;
    db_enter();
    int rc = db_open(path, &max_id);
    db_exit();
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", H.db ? sqlite3_errmsg(H.db) : sqlite3_errstr(rc));
        db_enter();
        db_close();
        db_exit();
        return -EIO;
    }
    atomic_store(&chat__g.published_id, max_id);
    H.reqs = goc_chan_make(sizeof(hist_req *), QUEUE_CAP);
    goc_waitgroup_add(&H.done, 1);
    if (goc_go_stack(writer_main, NULL, 0, WRITER_STACK) < 0) {
        goc_waitgroup_done(&H.done);
        goc_chan_free(H.reqs);
        db_enter();
        db_close();
        db_exit();
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return -ENOMEM;
    }
    log_info("chat: history in %s, last id %lld", path, (long long)max_id);
    return 0;
}

void chat__history_close(void)
{
    goc_chan_close(H.reqs);
    goc_waitgroup_wait(&H.done);
    goc_chan_free(H.reqs);
    H.reqs = NULL;
    db_enter();
    db_close();
    db_exit();
}

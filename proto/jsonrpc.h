/* jsonrpc.h: the JSON-RPC 2.0 engine shared by every transport, with no I/O
 * of its own (doc/contributing.md, rule 7). Names use the prefix `jrpc_`; `jrpc__` is internal.
 *
 * A server builds one jrpc_t (a method table plus limits), then for every
 * incoming message (a request, a notification or a batch):
 *
 *   1. jrpc_msg_parse() parses and validates it and splits it into calls.
 *      Everything that can be answered without a handler (parse errors,
 *      invalid requests, unknown methods, -32001) is answered here.
 *   2. jrpc_call_run() runs one call's handler. Handlers may block; the
 *      calls of one message may run at the same time on different threads
 *      or goroutines, since each call writes only to itself.
 *   3. jrpc_msg_reply() assembles the replies in request order, once every
 *      call has run, and says whether there is anything to send at all.
 *
 * jrpc_handle() does the three steps in a row, synchronously.
 *
 * Rules kept here (doc/protocol.md and the JSON-RPC 2.0 specification):
 * - Invalid JSON: one -32700 error with id null. An empty text is invalid.
 * - A message that is not an object or a non-empty array, an object without
 *   "jsonrpc": "2.0", without a string "method", with "params" neither array
 *   nor object (an explicit null included), or with an id that is not a
 *   string, number or null: -32600. The reply carries the request's id when
 *   that id is itself valid, else null.
 * - A request without "id" is a notification: never answered, even when it
 *   fails. "id": null is a request and is answered with id null.
 * - An empty batch: one -32600 error (not an array). A batch answers with an
 *   array of the replies to its requests in their order; a batch of
 *   notifications only gets no reply. Each invalid entry gets its own -32600.
 * - Ids come back exactly as sent, byte for byte: the engine copies the id's
 *   raw text out of the input instead of re-encoding jansson's value, so
 *   1e3, 1.50, -0, "\u00e9" and integers beyond 64 bits all round-trip.
 * - Limits (jrpc_limits_t): nesting deeper than max_depth (the outermost
 *   array or object is depth 1; brackets inside strings do not count) is
 *   refused with one -32600 "Invalid Request" (data "nesting too deep")
 *   with id null, before jansson parses anything: the text may be valid
 *   JSON, it is the request that we refuse. A batch longer than max_batch:
 *   one -32600 with id null, no handler runs.
 *
 * Known limitations: numbers are jansson's. An id beyond int64 is fine (it
 * is echoed from the raw text, and the rest is parsed without it); a
 * message holding such an integer elsewhere is parsed again with every
 * integer as a double (its id still comes back exactly, but params lose
 * precision, and
 * jrpc_param_int() then accepts integral doubles); a number beyond the
 * double range is a -32700. Duplicate keys: the last one wins (jansson's
 * rule, applied to the raw id as well).
 *
 * Memory: the engine allocates with jansson's allocator (json_get_alloc_funcs),
 * so hooking jansson's allocator hooks the engine too. Thread safety: a jrpc_t
 * is read-only once its methods are registered (register them all before the
 * first parse); messages are independent of each other.
 */
#ifndef GOC_PROTO_JSONRPC_H
#define GOC_PROTO_JSONRPC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Error codes: the specification's, then ours (doc/protocol.md). */
enum {
    JRPC_PARSE_ERROR = -32700,
    JRPC_INVALID_REQUEST = -32600,
    JRPC_METHOD_NOT_FOUND = -32601,
    JRPC_INVALID_PARAMS = -32602,
    JRPC_INTERNAL_ERROR = -32603,
    JRPC_TOO_MANY_CONNS = -32000,   /* refused: --max-conns connections are open */
    JRPC_NEEDS_PERSISTENT = -32001, /* method needs WebSocket or framed TCP */
    JRPC_NICK_TAKEN = -32002,       /* that nick is taken in that room */
    JRPC_NOT_JOINED = -32003,       /* not joined to that room */
    JRPC_RATE_LIMITED = -32004,     /* rate limited: slow down */
    JRPC_TOO_LARGE = -32005,        /* too large */
    JRPC_UNAVAILABLE = -32006,      /* a store or broker the call needs is unreachable */
    JRPC_UNAUTHORIZED = -32007,     /* no valid token, or the token does not allow this */
};

/* Method flags for jrpc_register(). */
enum {
    JRPC_PERSISTENT = 1u << 0, /* only on persistent transports, else -32001 */
};

/* Flags for the jrpc_param_*() getters. */
enum {
    JRPC_OPTIONAL = 0,       /* absent (or null) is fine: returns 0 */
    JRPC_REQUIRED = 1u << 0, /* absent: -32602 "missing param 'NAME'" */
};

#define JRPC_DEFAULT_MAX_DEPTH 64
#define JRPC_DEFAULT_MAX_BATCH 100

typedef struct jrpc jrpc_t;           /* a method table and its limits */
typedef struct jrpc_msg jrpc_msg_t;   /* one parsed message and its replies */
typedef struct jrpc_call jrpc_call_t; /* one request or notification to run */

/* The engine's limits; a zero field takes its default. */
typedef struct jrpc_limits {
    size_t max_depth; /* deepest array/object nesting, default 64 */
    size_t max_batch; /* most entries in a batch, default 100 */
} jrpc_limits_t;

/* Where a message came from, copied into the message and readable by its
 * handlers through jrpc_call_ctx() and by the observer. The engine reads
 * only `persistent`. */
typedef struct jrpc_ctx {
    bool persistent;       /* WebSocket or framed TCP (not HTTP POST) */
    void *conn;            /* the transport's connection, opaque, borrowed */
    void *data;            /* anything else the server wants handlers to see */
    const char *transport; /* "tcp", "http", "ws" (logs; borrowed, may be NULL) */
    const char *peer;      /* the remote address (logs; borrowed, may be NULL) */
    void *auth;            /* the caller's identity as the server keeps it, borrowed */
} jrpc_ctx_t;

/* A method. Runs with params borrowed (NULL when the request had none; a
 * positional array or a named object otherwise). On success it returns 0 and
 * stores a new reference in *result (NULL means JSON null); the engine owns
 * it from then on. On failure it returns a negative value, after calling
 * jrpc_call_error() (or a jrpc_param_*() getter that failed); a failure
 * without an error set is answered -32603 "Internal error". If an error was
 * set, it is the reply whatever the return value, and *result is released. */
typedef int (*jrpc_handler_fn)(jrpc_call_t *call, json_t *params, json_t **result);

/* Creates an empty method table. limits may be NULL (all defaults).
 * Returns NULL when out of memory. Free with jrpc_free(). */
jrpc_t *jrpc_new(const jrpc_limits_t *limits);

/* Frees the table. Messages parsed with it must be freed first. */
void jrpc_free(jrpc_t *rpc);

/* Adds method `name` (copied). udata is handed to the handler through
 * jrpc_call_udata(); flags is a mix of JRPC_PERSISTENT.
 * Returns 0, -EEXIST when the name is taken, -EINVAL when name or fn is
 * NULL, -ENOMEM. */
int jrpc_register(jrpc_t *rpc, const char *name, jrpc_handler_fn fn, void *udata, unsigned flags);

/* Parses message text[0..len) (need not be NUL-terminated; the engine keeps
 * no pointer into it) received on transport ctx (copied; may be NULL for a
 * non-persistent transport with no context). On success returns 0 and
 * *out is a new message owned by the caller (free with jrpc_msg_free()),
 * whatever the text held: a text that is not valid JSON-RPC becomes a
 * message whose reply is the error. Returns -ENOMEM (*out NULL) when
 * memory runs out. */
int jrpc_msg_parse(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx,
                   jrpc_msg_t **out);

/* The number of calls whose handler must run, and the i-th of them
 * (0 <= i < count; borrowed, valid until jrpc_msg_free()). Calls are in
 * request order. */
size_t jrpc_msg_ncalls(const jrpc_msg_t *msg);
jrpc_call_t *jrpc_msg_call(jrpc_msg_t *msg, size_t i);

/* Runs call's handler and records its outcome in the call. Call it once
 * per call; calls of one message may run concurrently. */
void jrpc_call_run(jrpc_call_t *call);

/* Builds the reply once every call has run. Returns 1 with *reply a
 * NUL-terminated JSON text of *len bytes (len may be NULL) owned by the
 * caller (free with jrpc_reply_free()); 0 when nothing is to be sent
 * (notifications only; *reply NULL); -ENOMEM (*reply NULL). */
int jrpc_msg_reply(jrpc_msg_t *msg, char **reply, size_t *len);

/* Frees a message, its calls and their results. NULL is fine. */
void jrpc_msg_free(jrpc_msg_t *msg);

/* Told, once per entry of a message assembled by jrpc_msg_reply(), the
 * message's context, the method's index in the table (0 <= method <
 * jrpc_method_count(); -1 when the entry named no registered method), the
 * error code of its outcome (0 for success; notifications included) and
 * how long its handler ran (0 when none ran). For statistics and logs: an
 * observer keeps one counter per index and names it with
 * jrpc_method_name(), so the table is the one list of methods. Must not
 * block. Set it before the first message. */
typedef void (*jrpc_observer_fn)(void *ud, const jrpc_ctx_t *ctx, int method, int code,
                                 int64_t dur_ns);
void jrpc_set_observer(jrpc_t *rpc, jrpc_observer_fn fn, void *ud);

/* The methods registered, numbered in registration order, and the name of
 * method i (borrowed, valid as long as rpc; NULL when i is out of range). */
size_t jrpc_method_count(const jrpc_t *rpc);
const char *jrpc_method_name(const jrpc_t *rpc, size_t i);

/* Frees a text from jrpc_msg_reply(), jrpc_handle(),
 * jrpc_notification_encode() or jrpc_error_encode(). NULL is fine. */
void jrpc_reply_free(char *reply);

/* Parse, run every call in order on this thread, assemble: the convenience
 * for tests and simple transports. Returns what jrpc_msg_reply() returns. */
int jrpc_handle(jrpc_t *rpc, const void *text, size_t len, const jrpc_ctx_t *ctx, char **reply,
                size_t *reply_len);

/* Encodes a notification the server sends, {"jsonrpc":"2.0","method":...,
 * "params":...}; params is borrowed, NULL leaves it out. Returns a text
 * owned by the caller (free with jrpc_reply_free()) or NULL when out of
 * memory or params is not an array or object. */
char *jrpc_notification_encode(const char *method, json_t *params, size_t *len);

/* Encodes a reply for an error outside any message, with id null, such as
 * the -32005 "too large" the framed-TCP transport sends before closing.
 * message NULL gives the standard text. Returns a text owned by the caller
 * (free with jrpc_reply_free()) or NULL when out of memory. */
char *jrpc_error_encode(int code, const char *message, size_t *len);

/* --- For handlers --- */

/* The transport context, the method's udata, its name, whether the call is
 * a notification (its outcome is then dropped). All borrowed. */
const jrpc_ctx_t *jrpc_call_ctx(const jrpc_call_t *call);
void *jrpc_call_udata(const jrpc_call_t *call);
const char *jrpc_call_method(const jrpc_call_t *call);
bool jrpc_call_is_notification(const jrpc_call_t *call);

/* Sets the call's error: code, message (copied; NULL gives the standard
 * text for the code) and data (a new reference stolen by the call, even on
 * failure; NULL leaves "data" out). The first error set on a call wins;
 * later ones are dropped (and their data released). Returns code, so a
 * handler can `return jrpc_call_error(...)`. If memory runs out copying
 * the message, the reply carries the standard text for the code. */
int jrpc_call_error(jrpc_call_t *call, int code, const char *message, json_t *data);

/* jrpc_call_error() with a printf-style message and no data. */
int jrpc_call_errorf(jrpc_call_t *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Getters for named params. Each looks up `name` in params (which must be
 * an object or NULL), checks its type and stores a borrowed value in *out:
 *   returns 1   found, *out set;
 *           0   absent or null and not JRPC_REQUIRED, *out untouched;
 *     -EINVAL   after setting -32602 on the call with one of the messages
 *               "params must be an object", "missing param 'NAME'",
 *               "param 'NAME' must be a string" (an integer, a boolean,
 *               an object, an array).
 * jrpc_param_str() also gives the byte length (a JSON string may hold
 * "\u0000"); len may be NULL. Strings point into params: valid while the
 * call lives. */
int jrpc_param_str(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                   const char **out, size_t *len);
int jrpc_param_int(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                   json_int_t *out);
int jrpc_param_bool(jrpc_call_t *call, json_t *params, const char *name, unsigned flags, bool *out);
int jrpc_param_object(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                      json_t **out);
int jrpc_param_array(jrpc_call_t *call, json_t *params, const char *name, unsigned flags,
                     json_t **out);

#endif

/* jsonrpc_private.h: the engine's structures, shared by jsonrpc*.c only.
 *
 * A message is an array of entries, one per request of a batch (or one for a
 * single request, or one for an error answering the whole message). Each
 * entry is a jrpc_call_t; those with a handler to run are also listed in
 * msg->run. An entry is answered iff it is not a notification.
 *
 * Invariants:
 * - call->notification implies call->id == NULL; otherwise call->id is the
 *   raw id text to send back ("null" when the id was absent or invalid).
 * - call->method != NULL exactly for the entries in msg->run.
 * - Once call->has_error is set, err_code/err_msg/err_data never change.
 * - Every pointer a call owns is freed by jrpc_msg_free() only.
 */
#ifndef GOC_PROTO_JSONRPC_PRIVATE_H
#define GOC_PROTO_JSONRPC_PRIVATE_H

#include "jsonrpc.h"

/* One registered method. */
typedef struct jrpc__method {
    char *name;         /* owned, NUL-terminated */
    jrpc_handler_fn fn; /* the handler */
    void *udata;        /* the registrant's pointer, borrowed */
    unsigned flags;     /* JRPC_PERSISTENT */
} jrpc__method;

struct jrpc {
    jrpc__method *methods; /* owned array, n used of cap; looked up linearly */
    size_t n;              /* methods registered */
    size_t cap;            /* methods allocated */
    jrpc_limits_t limits;  /* with defaults filled in */
    jrpc_observer_fn observe; /* told the outcome of every entry, may be NULL */
    void *observe_ud;
};

struct jrpc_call {
    jrpc_msg_t *msg;            /* the message holding this call */
    const jrpc__method *method; /* the handler to run; NULL when answered at parse time */
    json_t *params;             /* borrowed from msg->root; NULL when absent */
    char *id;                   /* raw id text to echo, owned; NULL for a notification */
    bool notification;          /* no "id": never answered */
    bool ran;                   /* jrpc_call_run() finished */
    json_t *result;             /* handler's result, owned; NULL means null */
    bool has_error;             /* the reply is an error */
    int err_code;               /* its code */
    char *err_msg;              /* owned; NULL gives the standard text for err_code */
    json_t *err_data;           /* owned; NULL leaves "data" out */
    int64_t dur_ns;             /* how long the handler ran (when observed) */
};

struct jrpc_msg {
    jrpc_t *rpc;          /* the method table, borrowed */
    jrpc_ctx_t ctx;       /* the transport's context, copied */
    json_t *root;         /* the parsed text, owned; NULL after a parse error */
    bool batch;           /* the reply is an array */
    bool ints_as_real;    /* parsed with JSON_DECODE_INT_AS_REAL (integer overflow) */
    jrpc_call_t *entries; /* owned array of nentries */
    size_t nentries;      /* requests in the message (1 when not a batch) */
    jrpc_call_t **run;    /* owned array of the nrun entries with a handler */
    size_t nrun;          /* calls to run */
};

/* A piece of the message text: text[off .. off + len). */
typedef struct jrpc__span {
    size_t off; /* first byte */
    size_t len; /* bytes */
} jrpc__span;

/* Allocation through jansson's allocator (jsonrpc.c). */
void *jrpc__alloc(size_t size);
void jrpc__free(void *p);
char *jrpc__strndup(const char *s, size_t len);

/* Raw text scanning (jsonrpc_scan.c). */

/* True when brackets outside strings nest deeper than max. Works on any
 * bytes, valid JSON or not. */
bool jrpc__too_deep(const char *s, size_t len, size_t max);

/* The span of the single value in s[0..len), whitespace trimmed. */
jrpc__span jrpc__trim(const char *s, size_t len);

/* Fills spans[0..n) with the elements of the array whose text is s[a], for
 * a text jansson accepted. Returns 0, or -EINVAL when the count differs. */
int jrpc__array_items(const char *s, jrpc__span a, jrpc__span *spans, size_t n);

/* Finds the value of the last member named "id" of the object s[obj].
 * Returns 1 and sets *id, 0 when there is none, -EINVAL if the text does
 * not scan. */
int jrpc__find_id(const char *s, jrpc__span obj, jrpc__span *id);

/* Overwrites every integer top-level "id" value (of the object, or of the
 * objects of a batch) with "0" padded with spaces, keeping the length: the
 * ids are echoed from the original text, so a copy parsed this way keeps
 * an id beyond int64 from making jansson read every integer as a double. */
void jrpc__blank_integer_ids(char *s, size_t len);

/* Replies (jsonrpc_reply.c). */

/* The standard message for an error code. */
const char *jrpc__code_text(int code);

#endif

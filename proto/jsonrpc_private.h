/* jsonrpc_private.h: the engine's structures, shared by jsonrpc*.c only.
 *
 * A message is an array of entries, one per request of a batch (or one for a
 * single request, or one for an error answering the whole message). Each
 * entry is a jrpc_call_t; those with a handler to run are also listed in
 * msg->run. An entry is answered iff it is not a notification.
 *
 * The entries' values (id, params) point into the message text: the text
 * a jrpc_msg_t copied for itself (jrpc_msg_parse), or the caller's for the
 * duration of jrpc_handle_buf.
 *
 * Invariants:
 * - call->notification implies call->id.type == GOC_JSON_NONE; otherwise
 *   call->id is the raw id to send back (GOC_JSON_NONE: null, when the id
 *   was absent from an invalid request or itself invalid).
 * - call->method != NULL exactly for the entries in msg->run.
 * - Once call->has_error is set, err_code/err_msg/err_detail/err_data never
 *   change.
 * - Every pointer a call owns is freed by jrpc__call_release only.
 */
#ifndef GOC_PROTO_JSONRPC_PRIVATE_H
#define GOC_PROTO_JSONRPC_PRIVATE_H

#include "jsonrpc.h"

/* One registered method: exactly one of tree_fn and text_fn is set. */
typedef struct jrpc__method {
    char *name;              /* owned, NUL-terminated */
    size_t len;              /* strlen(name) */
    jrpc_handler_fn tree_fn; /* a tree method, or NULL */
    jrpc_text_fn text_fn;    /* a text method, or NULL */
    void *udata;             /* the registrant's pointer, borrowed */
    unsigned flags;          /* JRPC_PERSISTENT */
} jrpc__method;

struct jrpc {
    jrpc__method *methods; /* owned array, n used of cap; looked up linearly */
    size_t n;              /* methods registered */
    size_t cap;            /* methods allocated */
    jrpc_limits_t limits;  /* with defaults filled in */
    jrpc_observer_fn observe; /* told the outcome of every entry, may be NULL */
    void *observe_ud;
};

/* Bytes a call keeps inline for decoded params before it allocates. */
#define JRPC__SCRATCH 128

/* A block of decoded params beyond the inline scratch, one allocation. */
typedef struct jrpc__block {
    struct jrpc__block *next; /* the call's older blocks */
    char data[];
} jrpc__block;

struct jrpc_call {
    jrpc_msg_t *msg;            /* the message holding this call */
    const jrpc__method *method; /* the handler to run; NULL when answered at parse time */
    goc_json_value params;      /* the params' text; type NONE when absent */
    goc_json_value id;          /* the raw id to echo; type NONE: null or a notification */
    bool notification;          /* no "id": never answered */
    bool ran;                   /* jrpc_call_run() finished */
    json_t *params_tree;        /* a tree method's params, owned; NULL when absent */
    json_t *result;             /* a tree method's result, owned; NULL means null */
    buf_t text;          /* a text method's result, run apart from the reply */
    bool has_error;             /* the reply is an error */
    int err_code;               /* its code */
    const char *err_msg;        /* NULL gives the standard text for err_code */
    bool err_msg_owned;         /* err_msg was allocated for this call */
    const char *err_detail;     /* static text for "data", or NULL */
    json_t *err_data;           /* owned; NULL leaves "data" out (err_detail aside) */
    size_t scratch_used;        /* bytes of scratch handed out */
    jrpc__block *blocks;        /* decoded params that did not fit in scratch */
    int64_t dur_ns;             /* how long the handler ran (when observed) */
    char scratch[JRPC__SCRATCH]; /* decoded params, handed out from the start */
};

struct jrpc_msg {
    jrpc_t *rpc;          /* the method table, borrowed */
    jrpc_ctx_t ctx;       /* the transport's context, copied */
    const char *text;     /* the message text (see the top of the file) */
    bool batch;           /* the reply is an array */
    bool owned;           /* allocated by jrpc_msg_parse (else on a caller's stack) */
    jrpc_call_t *entries; /* nentries entries: &one, or an owned array */
    size_t nentries;      /* requests in the message (1 when not a batch) */
    jrpc_call_t **run;    /* nrun calls with a handler: &one_run, or an owned array */
    size_t nrun;          /* calls to run */
    jrpc_call_t one;      /* the entry of a message that is not a batch */
    jrpc_call_t *one_run; /* its run list */
};

/* Allocation through jansson's allocator (jsonrpc.c). */
void *jrpc__alloc(size_t size);
void jrpc__free(void *p);
char *jrpc__strndup(const char *s, size_t len);

/* Parses text into msg's entries, in one pass (jsonrpc_scan.c). msg must be
 * zeroed but for rpc, ctx and text. Whatever is wrong with the text becomes
 * the entries' errors. Returns 0 or -ENOMEM. */
int jrpc__parse(jrpc_msg_t *msg, size_t len);

/* Makes msg one entry answering the whole message with an error, id null,
 * and detail as its data (static, may be NULL). */
void jrpc__msg_whole_error(jrpc_msg_t *msg, int code, const char *detail);

/* Sets an error with static texts (a NULL message: the standard one). */
void jrpc__call_fail(jrpc_call_t *call, int code, const char *message, const char *detail);

/* Runs call's handler, the result going to out (the reply's buffer, or the
 * call's own). Returns with call->has_error set on failure. */
void jrpc__call_exec(jrpc_call_t *call, buf_t *out);

/* Frees what a call owns (not the call). */
void jrpc__call_release(jrpc_call_t *call);

/* Replies (jsonrpc_reply.c). */

/* The standard message for an error code. */
const char *jrpc__code_text(int code);

/* Writes one entry's reply object: its error, or its result (the text in
 * res[0..res_len), or call->result's tree when res is NULL). */
void jrpc__write_reply(buf_t *b, const jrpc_call_t *call, const char *res, size_t res_len);

/* Tells the observer about an entry's outcome. */
void jrpc__observe(const jrpc_msg_t *msg, const jrpc_call_t *call);

#endif

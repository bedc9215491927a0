/* resp.h: the Redis protocol (RESP2) with no I/O of its own (doc/contributing.md,
 * rule 7): a
 * parser of replies and an encoder of commands. Names use the prefix
 * `resp_`.
 *
 * resp_parse() is stateless, like picohttpparser's phr_*: it looks at the
 * bytes the caller keeps and says whether one whole reply is at their
 * start. The reply comes out as a flat array of nodes in pre-order (an
 * array's node, then its elements, each followed by its own subtree); the
 * strings point into the caller's bytes. Incomplete input costs nothing but
 * a second look: the call also says how many bytes it needs at least, so a
 * caller that waits for that many reads a large bulk string in O(n).
 *
 * Types: simple strings (+), errors (-), integers (:), bulk strings ($),
 * arrays (*); a null bulk string or null array ($-1, *-1) is RESP_NIL.
 * RESP3 types are refused (the client never sends HELLO 3).
 *
 * Invariants of a parsed reply (nodes[0..n)):
 *  - nodes[i].next is the index just past node i's subtree, so
 *    nodes[0].next == n, and an array's elements are found by starting at
 *    i + 1 and hopping along next.
 *  - Every str/len pair lies inside the bytes given to resp_parse.
 *  - Nesting never exceeds the depth limit, bulk strings and lines never
 *    exceed the size limit, arrays never announce more than the element
 *    limit: a peer cannot make the caller allocate without bound.
 */
#ifndef GOC_PROTO_RESP_H
#define GOC_PROTO_RESP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

typedef enum resp_type {
    RESP_STRING = 1, /* +OK: str, len */
    RESP_ERROR,      /* -ERR ...: str, len (the whole line after '-') */
    RESP_INTEGER,    /* :42: integer */
    RESP_BULK,       /* $3 abc: str, len (binary-safe) */
    RESP_NIL,        /* $-1 or *-1 */
    RESP_ARRAY,      /* *2 ...: integer is the element count */
} resp_type;

/* One node of a parsed reply. Borrowed strings: valid while the caller's
 * bytes stay unchanged. */
typedef struct resp_value {
    resp_type type;
    const char *str; /* STRING, ERROR, BULK: into the parsed bytes; else NULL */
    size_t len;      /* its length */
    int64_t integer; /* INTEGER: the value; ARRAY: the element count */
    uint32_t next;   /* index just past this node's subtree */
} resp_value;

/* Limits that keep a peer's reply bounded. Zero fields take the defaults. */
typedef struct resp_limits {
    size_t max_bulk;   /* longest bulk string or line (default 64 MiB) */
    uint32_t max_elems; /* most elements one array may announce (default 1 << 20) */
    int max_depth;      /* deepest nesting of arrays (default 8, at most 32) */
} resp_limits;

#define RESP_DEFAULT_MAX_BULK ((size_t)64 << 20)
#define RESP_DEFAULT_MAX_ELEMS (1u << 20)
#define RESP_DEFAULT_MAX_DEPTH 8
#define RESP_MAX_DEPTH 32

/* Looks for one whole reply at the start of buf[0..len), storing its nodes
 * in nodes[0..cap) (pre-order, see above) and their count in *nnodes.
 * lim may be NULL (defaults).
 * Returns the bytes the reply takes (> 0), or:
 *   -EAGAIN    the reply is not complete yet; *need is set to a total
 *              length the reply needs at least (> len): call again once
 *              that many bytes are there.
 *   -ENOBUFS   cap nodes are too few; *nnodes is set to a count that is
 *              needed at least (> cap): call again with that many.
 *   -EPROTO    the bytes are not RESP2 (a bad type byte, a bad length or
 *              integer, a missing CRLF after a bulk string).
 *   -EMSGSIZE  a limit of lim is exceeded.
 * Never reads past buf[len - 1]. need and nnodes are always written (need
 * 0 unless -EAGAIN). */
long resp_parse(const char *buf, size_t len, const resp_limits *lim, resp_value *nodes,
                size_t cap, size_t *nnodes, size_t *need);

/* Encodes the command argv[0..argc) (argv[i] of argvlen[i] bytes, binary
 * safe) as a RESP array of bulk strings into out[0..cap). Returns the
 * length of the encoding, which was written only if it is <= cap (so a
 * call with cap 0 measures). argc must be >= 1. */
size_t resp_encode_command(char *out, size_t cap, int argc, const char *const *argv,
                           const size_t *argvlen);

/* The element after element i of the reply (or the first element of array
 * node i with resp_first). Both return an index; the caller compares it
 * with the array's end (nodes[array].next). */
static inline uint32_t resp_first(uint32_t array)
{
    return array + 1;
}

static inline uint32_t resp_after(const resp_value *nodes, uint32_t i)
{
    return nodes[i].next;
}

#endif

/* http.h: HTTP/1.1 requests in, responses out, with no I/O (doc/contributing.md, rule 7).
 *
 * A goc_http_reader_t turns the bytes of one connection into requests, on top
 * of http-parser. Feed it whatever arrived; it stops right after each complete
 * request and says how many bytes it used, so pipelined requests come out one
 * at a time and the caller keeps the rest for the next call; a request split
 * over many reads is assembled inside the reader. The reader copies what it
 * keeps (request target, header names and values, body), so the caller may
 * reuse its read buffer at once.
 *
 * Everything is bounded: header bytes, header count and body size are limits
 * of the reader, and each overflow has its own error, which
 * goc_http_error_status() turns into the status to answer (431, 413, 400).
 *
 * The rest of the file: a response writer into a fixed or growable buffer,
 * URL decoding, query parameters, a static-file path resolver that refuses
 * every escape from its root, and the Content-Type table.
 *
 * Invariants: a request returned by the reader stays valid until the next
 * goc_http_reader_feed() or goc_http_reader_free() on that reader; all its
 * pointers point into the reader's own storage.
 */
#ifndef GOC_PROTO_HTTP_H
#define GOC_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default limits (goc_http_limits_t fields left 0 take these). */
#define GOC_HTTP_MAX_HEADER_BYTES (16 * 1024)
#define GOC_HTTP_MAX_HEADERS 64
#define GOC_HTTP_MAX_BODY (1024 * 1024)

/* The methods the server routes on; anything else is GOC_HTTP_OTHER (the
 * name is still in goc_http_request_t.method_name). */
typedef enum goc_http_method {
    GOC_HTTP_OTHER = 0,
    GOC_HTTP_GET,
    GOC_HTTP_HEAD,
    GOC_HTTP_POST,
    GOC_HTTP_PUT,
    GOC_HTTP_DELETE,
    GOC_HTTP_OPTIONS,
} goc_http_method_t;

/* One header line. Names keep the client's case; values have surrounding
 * spaces and tabs removed. Neither is NUL-terminated. */
typedef struct goc_http_header {
    const char *name;  /* field name */
    size_t name_len;   /* its length in bytes */
    const char *value; /* field value */
    size_t value_len;  /* its length in bytes */
} goc_http_header_t;

/* A complete request. Every pointer belongs to the reader (see the file's
 * invariants). target, path and query are NUL-terminated as well as sized. */
typedef struct goc_http_request {
    goc_http_method_t method;        /* the method, or GOC_HTTP_OTHER */
    const char *method_name;         /* "GET", "POST", ...; static string */
    const char *target;              /* request target as sent, e.g. "/a%20b?x=1" */
    size_t target_len;               /* its length */
    const char *path;                /* target up to '?' or '#', still %-encoded */
    size_t path_len;                 /* its length */
    const char *query;               /* after '?' up to '#', "" when absent */
    size_t query_len;                /* its length */
    int version_major;               /* 1 */
    int version_minor;               /* 0 or 1 */
    const goc_http_header_t *headers; /* header lines in arrival order */
    size_t nheaders;                 /* how many */
    const char *body;                /* body, de-chunked; "" when empty */
    size_t body_len;                 /* its length */
    bool keep_alive;                 /* false: answer, then close the connection */
    bool upgrade;                    /* Connection: upgrade + Upgrade (or CONNECT):
                                        the bytes after this request are another
                                        protocol, the reader takes no more */
} goc_http_request_t;

/* Limits of one reader; 0 in a field selects the default above. */
typedef struct goc_http_limits {
    size_t max_header_bytes; /* request line + header lines (431 beyond) */
    size_t max_headers;      /* header lines (431 beyond), at most 1024 */
    size_t max_body;         /* decoded body bytes, i.e. --max-frame (413 beyond) */
} goc_http_limits_t;

typedef struct goc_http_reader goc_http_reader_t;

/* Creates a reader. limits may be NULL (all defaults); it is copied.
 * Returns 0 and sets *out (owned by the caller, release it with
 * goc_http_reader_free), or -ENOMEM (*out untouched), or -EINVAL for
 * max_headers above 1024. */
int goc_http_reader_new(const goc_http_limits_t *limits, goc_http_reader_t **out);

/* Frees r and everything it holds; r may be NULL. */
void goc_http_reader_free(goc_http_reader_t *r);

/* Feeds data[0..len) (borrowed for the call only). Sets *consumed to the
 * number of bytes used; bytes after that were not looked at and must be fed
 * again. Returns:
 *   1        a request is complete: goc_http_reader_request() returns it, and
 *            *consumed ends right after it (pipelined data stays unconsumed);
 *   0        every byte was used and the request is not complete yet;
 *   -E2BIG   the request line and headers exceed max_header_bytes, or there
 *            are more than max_headers lines (answer 431, then close);
 *   -EMSGSIZE the body exceeds max_body, by Content-Length or while de-chunking
 *            (answer 413, then close);
 *   -EBADMSG malformed request, or bytes after a request that ended the
 *            connection (Connection: close, HTTP/1.0, upgrade) (answer 400 and
 *            close, or just close);
 *   -EPROTONOSUPPORT an HTTP version other than 1.x (answer 505, then close);
 *   -ENOMEM  out of memory (answer 500 and close).
 * After an error the reader stays failed and returns the same error. */
int goc_http_reader_feed(goc_http_reader_t *r, const char *data, size_t len, size_t *consumed);

/* The request completed by the last feed that returned 1, or NULL if that was
 * not the last result. Owned by r; valid until the next feed or free. */
const goc_http_request_t *goc_http_reader_request(const goc_http_reader_t *r);

/* True if the reader is between requests (no byte of a next request seen):
 * a connection closed now lost nothing. */
bool goc_http_reader_idle(const goc_http_reader_t *r);

/* The status line to answer a feed error with: 431, 413, 400 or 500. */
int goc_http_error_status(int err);

/* The reason phrase of a status code ("Not Found"), or "Unknown". Static. */
const char *goc_http_status_text(int status);

/* First header named name (ASCII case-insensitive) or NULL. Borrowed from
 * req. */
const goc_http_header_t *goc_http_header_find(const goc_http_request_t *req, const char *name);

/* True if the comma-separated list value[0..len) holds token (case-
 * insensitive, surrounding spaces ignored), e.g. Connection: keep-alive,
 * Upgrade. */
bool goc_http_has_token(const char *value, size_t len, const char *token);

/* --- Responses --------------------------------------------------------- */

/* A response under construction. Errors are sticky: once err is set every
 * later write is ignored, and goc_http_out_finish() reports it. */
typedef struct goc_http_out {
    char *data;   /* the bytes written so far */
    size_t len;   /* how many */
    size_t cap;   /* size of data */
    size_t max;   /* growable: largest cap allowed; fixed: == cap */
    bool fixed;   /* data is the caller's buffer and never grows */
    int err;      /* 0, -ENOBUFS (out of room), -ENOMEM or -EINVAL */
    int status;   /* the status of the last status line written, 0: none */
} goc_http_out_t;

/* Writes into the caller's buffer mem[0..cap) (still owned by the caller). */
void goc_http_out_init_fixed(goc_http_out_t *o, char *mem, size_t cap);

/* Writes into a buffer that grows through the allocator up to max bytes
 * (0: no limit). The buffer is o's: release it with goc_http_out_free. */
void goc_http_out_init(goc_http_out_t *o, size_t max);

/* Frees a growable buffer (nothing for a fixed one) and empties o. */
void goc_http_out_free(goc_http_out_t *o);

/* Clears the bytes written and any error, keeping the buffer. */
void goc_http_out_reset(goc_http_out_t *o);

/* "HTTP/1.1 <status> <reason>\r\n". */
void goc_http_out_status(goc_http_out_t *o, int status);

/* "<name>: <value>\r\n". A name that is not a token, or a CR, LF or NUL in
 * the value, sets err to -EINVAL (no header injection). */
void goc_http_out_header(goc_http_out_t *o, const char *name, const char *value);

/* Same with an unsigned number as the value (Content-Length). */
void goc_http_out_header_u64(goc_http_out_t *o, const char *name, uint64_t value);

/* The blank line ending the headers, then body[0..len) (may be NULL if 0). */
void goc_http_out_body(goc_http_out_t *o, const void *body, size_t len);

/* A whole response: status line, Content-Type (if not NULL), Content-Length
 * (for every status but 1xx, 204 and 304), Connection: keep-alive or close,
 * extra (NULL, or "Name: value\r\n" lines, e.g. "Allow: POST\r\n", copied as
 * is), the blank line and the body. With head set, the body is left out but
 * its length is still announced (an answer to HEAD). */
void goc_http_out_response(goc_http_out_t *o, int status, const char *content_type,
                           const char *extra, const void *body, size_t len, bool keep_alive,
                           bool head);

/* goc_http_out_response for a JSON text: Content-Type application/json,
 * and the body ends with a newline after the text (so a terminal shows the
 * prompt on a line of its own after curl's output). */
void goc_http_out_json(goc_http_out_t *o, int status, const char *extra, const void *json,
                       size_t len, bool keep_alive, bool head);

/* Returns the number of bytes written (o->len) or the sticky error. */
long goc_http_out_finish(const goc_http_out_t *o);

/* --- URLs and files ---------------------------------------------------- */

/* Flags of goc_http_url_decode. */
#define GOC_HTTP_DECODE_PLUS 1 /* '+' means a space (query strings) */

/* Decodes %XX escapes of in[0..len) into out (capacity cap, NUL-terminated).
 * Returns the decoded length, -EINVAL for a bad escape ('%' not followed by
 * two hex digits) or a decoded NUL byte, -ENOBUFS if out is too small.
 * in and out may be the same buffer (decoding never grows). */
long goc_http_url_decode(const char *in, size_t len, char *out, size_t cap, int flags);

/* Finds parameter name in the query string q[0..len) ("a=1&b=2"; ';' is not
 * a separator) and decodes its value into out (NUL-terminated, '+' = space).
 * Returns the value's length (0 for "name" or "name="), -ENOENT if absent,
 * -EINVAL for a bad escape, -ENOBUFS if out is too small. The first
 * occurrence wins. */
long goc_http_query_get(const char *q, size_t len, const char *name, char *out, size_t cap);

/* Parameter name as a decimal unsigned integer (e.g. since, limit): 0 and
 * *value set; -ENOENT absent; -EINVAL empty, not all digits, or above
 * UINT64_MAX. *value is untouched on error. */
int goc_http_query_u64(const char *q, size_t len, const char *name, uint64_t *value);

/* Maps the URL path p[0..len) (%-encoded, as in goc_http_request_t.path)
 * under the folder root: out gets "<root>/<relative path>", and a path that
 * ends with '/' gets "index.html" appended. Purely textual, no file system
 * access. Refused with -EACCES: a path not starting with '/', any segment
 * starting with '.' (so "..", "." and hidden files, in any encoding), a
 * backslash, a NUL, a control byte, a ':' , a '%' left after decoding
 * (double encoding), invalid UTF-8, or an empty segment ("//"). -EINVAL for
 * a bad escape, -ENOBUFS if out (capacity cap) is too small. Returns the
 * length of out on success.
 * Symbolic links inside root can still point out of it: the caller opens the
 * file with openat2(RESOLVE_BENEATH) or checks goc_http_path_within() on the
 * realpath()s. */
long goc_http_static_path(const char *root, const char *p, size_t len, char *out, size_t cap);

/* True if the canonical path file is root itself or under it ("/a/b" is
 * within "/a", "/ab" is not). Both must be absolute paths without "." or
 * ".." segments, e.g. from realpath(). */
bool goc_http_path_within(const char *root, const char *file);

/* Content-Type for a file name by its extension (case-insensitive): html,
 * js, mjs, css, json, png, svg, ico, txt, map, woff2, ...; anything else is
 * "application/octet-stream". Static string. */
const char *goc_http_content_type(const char *path, size_t len);

#endif

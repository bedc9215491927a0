/* buf.h: a growable byte buffer with a sticky error, for building output
 * (replies, frames, metrics text) piece by piece.
 *
 * Writers append; the first allocation failure is kept in `err` and every
 * later append is ignored, so a caller builds a whole text and checks
 * once. Memory comes from goc_malloc. A zero buf_t ({0}) is an empty
 * buffer ready to use; buf_free() makes it so again.
 *
 * Invariants: len <= cap; data holds cap bytes (NULL when cap == 0); when
 * cap > len, data[len] is 0, so a text built with buf_str/buf_printf is
 * NUL-terminated; err != 0 means nothing is appended any more.
 */
#ifndef GOC_PROTO_BUF_H
#define GOC_PROTO_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes written */
    size_t cap; /* bytes allocated */
    int err;    /* 0, or -ENOMEM once an append failed */
} buf_t;

/* Makes room for n more bytes (data[len..len+n) writable, plus a NUL).
 * Returns 0, or -ENOMEM (sticky). */
int buf_reserve(buf_t *b, size_t n);

/* Appends n bytes / a C string / printf output. Return 0 or -ENOMEM. */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_str(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forgets the content, keeps the memory and clears err. */
void buf_reset(buf_t *b);

/* Frees the memory: *b is an empty buffer again. */
void buf_free(buf_t *b);

#endif

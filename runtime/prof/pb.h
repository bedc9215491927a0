/* pb.h: the little protocol-buffer encoder the profiles are written with
 * (Go's runtime/pprof/protobuf.go does the same for its profile.proto),
 * and the gzip stream they are sent in.
 *
 * A goc__pb is a growing byte buffer. Fields are appended in any order:
 * protobuf readers accept a message's fields in any order, and repeated
 * fields accumulate, so a writer may emit samples first and the tables
 * they refer to last. A nested message is opened with goc__pb_open and
 * closed with goc__pb_close, which slides its bytes over to make room for
 * their length. An allocation failure is sticky: every later call does
 * nothing and err stays -ENOMEM, so a writer checks once at the end.
 */
#ifndef GOC_PROF_PB_H
#define GOC_PROF_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct goc__pb {
    uint8_t *data; /* goc__alloc'd, NULL until the first byte */
    size_t len, cap;
    int err;       /* 0, or -ENOMEM once a growth failed */
} goc__pb;

void goc__pb_free(goc__pb *b);
void goc__pb_bytes(goc__pb *b, const void *p, size_t n);
void goc__pb_varint(goc__pb *b, uint64_t v);
/* A varint field (uint64, int64 as two's complement, bool, enum); a zero
 * value is written as well (callers leave out defaults themselves). */
void goc__pb_uint(goc__pb *b, int field, uint64_t v);
void goc__pb_int(goc__pb *b, int field, int64_t v);
/* A length-delimited field: a string or bytes. */
void goc__pb_string(goc__pb *b, int field, const char *s, size_t n);
/* A packed repeated varint field (nothing when n is 0). */
void goc__pb_packed(goc__pb *b, int field, const uint64_t *v, size_t n);
void goc__pb_packed_int(goc__pb *b, int field, const int64_t *v, size_t n);
/* Opens a nested message of the given field: returns where its body
 * starts, to pass to goc__pb_close. */
size_t goc__pb_open(goc__pb *b, int field);
void goc__pb_close(goc__pb *b, size_t start);

/* Where a finished profile goes: write(arg, bytes, n) returns 0 or a
 * negative errno (the public goc_pprof_write_fn). */
typedef int (*goc__pb_write_fn)(void *arg, const void *buf, size_t len);

/* Writes data as a gzip member (RFC 1952) holding stored deflate blocks
 * (RFC 1951 3.2.4): no compression, any gzip reader takes it. Returns 0 or
 * write's first error. */
int goc__gzip_write(const void *data, size_t len, goc__pb_write_fn write, void *arg);

#endif

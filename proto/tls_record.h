/* tls_record.h: TLS 1.2 records protected with AES-GCM (RFC 5246 6.2,
 * RFC 5288), with no I/O: open takes received bytes and decrypts the first
 * record in place, seal writes one record into the caller's buffer.
 * proto/tls.c feeds them from a connection once mbedtls has done the
 * handshake.
 *
 * A record: type (1), version 3.3 (2), length (2), then the explicit nonce
 * (8: the sender's sequence number), the ciphertext and the 16-byte tag.
 * The nonce is the direction's 4-byte salt and the explicit part; the tag
 * also covers the sequence number, type, version and text length.
 */
#ifndef GOC_PROTO_TLS_RECORD_H
#define GOC_PROTO_TLS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aesgcm.h"

#define GOC_TLS_REC_HEADER 5
#define GOC_TLS_REC_OVERHEAD (GOC_TLS_REC_HEADER + 8 + 16)
#define GOC_TLS_REC_MAX_TEXT 16384

enum { GOC_TLS_REC_ALERT = 21, GOC_TLS_REC_APPDATA = 23 };

/* One direction's protection: key, salt, and the next sequence number. */
typedef struct goc_tls_dir {
    goc_aesgcm gcm;
    uint8_t salt[4];
    uint64_t seq;
} goc_tls_dir;

/* Opens the record at the start of buf[0..len): decrypts it in place and
 * returns its whole length (the bytes it takes), with *type and *text,
 * *textlen pointing into buf; 0 when len does not hold all of it yet; or
 * -EPROTO for a record that is not an alert or application data, a bad
 * version, a length out of bounds (text over 16384 bytes, or shorter than
 * nonce and tag), or a failed tag. rx->seq advances on success only. */
ssize_t goc_tls_record_open(goc_tls_dir *rx, uint8_t *buf, size_t len, uint8_t *type,
                            uint8_t **text, size_t *textlen);

/* Seals n <= GOC_TLS_REC_MAX_TEXT bytes of in as one record of type into
 * out (room for n + GOC_TLS_REC_OVERHEAD bytes; in may not overlap it).
 * Returns the record's length, or -EPROTO once the 2^64 sequence numbers
 * are spent. */
ssize_t goc_tls_record_seal(goc_tls_dir *tx, uint8_t type, const uint8_t *in, size_t n,
                            uint8_t *out);

#endif

/* utf8.h: strict UTF-8 validation (RFC 3629), shared by the WebSocket layer
 * (close 1007 on a bad text message), the static-path resolver and anyone
 * who must check text (chat messages are "1-4096 bytes of UTF-8").
 *
 * Strict means: no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no UTF-16
 * surrogates (ED A0..BF), nothing above U+10FFFF (F4 90.., F5..FF), no stray
 * continuation bytes and no sequence cut short at the end of the input.
 */
#ifndef GOC_PROTO_UTF8_H
#define GOC_PROTO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if s[0..len) is entirely valid UTF-8 (an empty input is valid).
 * s may be NULL only when len is 0. No allocation, no errors. */
bool goc_utf8_valid(const uint8_t *s, size_t len);

/* The length (2-4) of the valid multi-byte sequence at s, whose first byte
 * is 0x80 or above and which has avail bytes (avail >= 1); 0 when it is
 * invalid or cut short. For scanners that meet one sequence at a time. */
size_t goc_utf8_seq(const uint8_t *s, size_t avail);

#endif

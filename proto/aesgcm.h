/* aesgcm.h: AES-GCM (NIST SP 800-38D) with a 96-bit nonce, on the x86-64
 * AES-NI and carry-less multiply instructions: the AEAD of TLS 1.2's
 * AES-GCM suites (RFC 5288), used by tls.c for records once mbedtls has
 * finished the handshake.
 *
 * Counter mode runs four blocks at a time and GHASH folds four blocks per
 * reduction (with H, H^2, H^3, H^4), where mbedtls 2.28 encrypts and
 * multiplies one block at a time.
 *
 * goc_aesgcm_available() says whether this CPU (and build) has the
 * instructions; every other call requires it. Keys are 16 or 32 bytes
 * (AES-128, AES-256). seal and open accept in == out (in place).
 */
#ifndef GOC_PROTO_AESGCM_H
#define GOC_PROTO_AESGCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct goc_aesgcm {
    _Alignas(16) uint8_t round_keys[15][16]; /* AES key schedule */
    _Alignas(16) uint8_t hpow[4][16];        /* H^1..H^4, byte-reflected */
    int rounds;                              /* 10 or 14 */
} goc_aesgcm;

bool goc_aesgcm_available(void);

/* false when keylen is neither 16 nor 32. */
bool goc_aesgcm_init(goc_aesgcm *g, const uint8_t *key, size_t keylen);

/* Encrypts len bytes of in to out and writes the 16-byte tag. */
void goc_aesgcm_seal(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                     size_t aadlen, const uint8_t *in, uint8_t *out, size_t len,
                     uint8_t tag[16]);

/* Decrypts len bytes of in to out; true when tag matches (compared in
 * constant time). On false, out holds unauthenticated bytes: discard them. */
bool goc_aesgcm_open(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                     size_t aadlen, const uint8_t *in, uint8_t *out, size_t len,
                     const uint8_t tag[16]);

/* Overwrites the key schedule and hash key. */
void goc_aesgcm_wipe(goc_aesgcm *g);

#endif

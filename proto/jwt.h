/* jwt.h: JSON Web Tokens (RFC 7519) signed with HS256 (RFC 7518 3.2), with
 * no I/O (doc/contributing.md, rule 7): the server's proof of who a client is.
 *
 * A token is three base64url segments, header.payload.signature. One is
 * accepted when, in this order: it is at most GOC_JWT_MAX bytes of three
 * segments in strict base64url (no padding, no stray bits); the header is
 * a JSON object whose "alg" is exactly "HS256" (anything else, "none"
 * included, is refused before any signature is looked at), whose "typ",
 * if any, is "JWT", and which has no "crit"; the signature is the 32-byte
 * HMAC-SHA-256 of "header.payload" under the key, compared in constant
 * time; and only then the payload is parsed: a JSON object with no
 * duplicate member, "sub" a string the caller's rules accept (the nick),
 * "exp" a number after now, "nbf" (if any) a number not after now, and
 * "rooms" (if any) an array of strings the caller's rules accept. Other
 * claims are ignored.
 *
 * Errors (negative errno):
 *   -EINVAL      malformed: segments, base64url, JSON, a claim missing or
 *                of the wrong type, sub or a room breaking the rules;
 *   -ENOTSUP     another algorithm, another typ, or a crit header;
 *   -EBADMSG     the signature does not match;
 *   -EKEYEXPIRED exp is not after now;
 *   -EAGAIN      nbf is after now (not valid yet);
 *   -ENOMEM.
 *
 * Ownership: a goc_jwt_key holds a copy of nothing but two hash states
 * derived from the secret; claims own their rooms list until
 * goc_jwt_claims_free. Memory comes from goc_malloc.
 */
#ifndef GOC_PROTO_JWT_H
#define GOC_PROTO_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

/* Longest token accepted, in bytes. */
#define GOC_JWT_MAX 8192
/* Longest sub kept, in bytes (a nick is at most 32 code points of UTF-8). */
#define GOC_JWT_SUB_MAX 128
/* Shortest secret the server accepts (doc/protocol.md: 32 bytes). */
#define GOC_JWT_SECRET_MIN 32

/* A signing key: SHA-256 after the HMAC's inner and outer key blocks, so
 * each token hashes only its own bytes. Read-only once made: many threads
 * may verify with one key. */
typedef struct goc_jwt_key {
    mbedtls_sha256_context inner; /* after (key ^ ipad) */
    mbedtls_sha256_context outer; /* after (key ^ opad) */
} goc_jwt_key;

/* The rules a token's claims must keep; either may be NULL (no rule). */
typedef struct goc_jwt_rules {
    bool (*sub_valid)(const char *s, size_t len);  /* the nick rules */
    bool (*room_valid)(const char *s, size_t len); /* the room rules */
} goc_jwt_rules;

/* What a verified token says. */
typedef struct goc_jwt_claims {
    char sub[GOC_JWT_SUB_MAX + 1]; /* NUL-terminated */
    int64_t exp;                   /* seconds since the epoch (a fraction rounded up) */
    bool all_rooms;                /* no "rooms" claim: every room */
    size_t nrooms;                 /* names in rooms */
    char *rooms;                   /* nrooms NUL-terminated names back to back; owned */
} goc_jwt_claims;

/* Prepares key from secret[0..len) (any length; RFC 2104 hashes one over
 * 64 bytes). No errors. */
void goc_jwt_key_init(goc_jwt_key *key, const uint8_t *secret, size_t len);

/* Wipes key. */
void goc_jwt_key_free(goc_jwt_key *key);

/* Verifies token[0..len) under key at time now (seconds since the epoch)
 * and fills *out. 0, or an error above (then *out holds nothing to free).
 * rules may be NULL. */
int goc_jwt_verify(const goc_jwt_key *key, const char *token, size_t len, int64_t now,
                   const goc_jwt_rules *rules, goc_jwt_claims *out);

/* True when the claims allow room[0..len). */
bool goc_jwt_room_allowed(const goc_jwt_claims *c, const char *room, size_t len);

/* Frees what claims own (their rooms) and empties them; c may be zeroed. */
void goc_jwt_claims_free(goc_jwt_claims *c);

/* Signs payload[0..len) (JSON, not checked) under the header
 * {"alg":"HS256","typ":"JWT"} into out (cap bytes): the token's length, a
 * NUL after it, or -ENOBUFS. For tests and tools. */
long goc_jwt_sign(const goc_jwt_key *key, const char *payload, size_t len, char *out, size_t cap);

#endif

/* jwt.c: HS256 JSON Web Tokens (jwt.h).
 *
 * The order of the checks is the point: the segments and the header are
 * looked at first (an attacker's bytes, parsed only as far as finding
 * "alg"), the signature next, and the payload is parsed only once the
 * signature proved it is ours. The header decides nothing but that it says
 * HS256: a token cannot choose its algorithm (RFC 8725 2.1, 3.1).
 *
 * Invariants: nothing reads outside token[0..len); the header and then
 * the payload are decoded into one buffer of len bytes (base64 shrinks),
 * freed before returning, the signature into 33 bytes on the stack; JSON
 * nesting is bounded before jansson parses (its parser recurses, and
 * goroutine stacks are small); on any error *out owns nothing.
 */
#include "jwt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "sha256_ni.h"
#include <goc/malloc.h>

#define SIG_LEN 32     /* HMAC-SHA-256 */
#define SIG_B64_LEN 43 /* its base64url length */
#define MAX_DEPTH 4    /* object > rooms array, with room to spare */
#define BLOCK 64       /* SHA-256's block, HMAC's key pad */

/* ---- base64url (RFC 4648 section 5, no padding) ---------------------------------------- */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of one base64url character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes s[0..n) into out (room for n * 3 / 4 bytes; NULL only checks):
 * the byte count, or -1 when s is not canonical base64url (a bad character, a length of 1
 * mod 4, or set bits after the last whole byte: one token, one spelling). */
static long b64_decode(const char *s, size_t n, uint8_t *out)
{
    if (n % 4 == 1)
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out)
                out[o] = (uint8_t)(acc >> bits);
            o++;
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1;
    return (long)o;
}

/* Encodes in[0..n) into out (room for (n * 4 + 2) / 3 bytes); the length. */
static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = b64url[(acc << (6 - bits)) & 63];
    return o;
}

/* ---- HMAC-SHA-256 (RFC 2104) with the key's pads hashed once ------------------------------ */

void goc_jwt_key_init(goc_jwt_key *key, const uint8_t *secret, size_t len)
{
    uint8_t k[BLOCK] = {0}, pad[BLOCK];
    (void)goc_sha256_accelerated(); /* links the fast block function in */
    if (len > BLOCK)
        mbedtls_sha256_ret(secret, len, k, 0);
    else if (len)
        memcpy(k, secret, len);
    mbedtls_sha256_init(&key->inner);
    mbedtls_sha256_init(&key->outer);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    mbedtls_sha256_starts_ret(&key->inner, 0);
    mbedtls_sha256_update_ret(&key->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    mbedtls_sha256_starts_ret(&key->outer, 0);
    mbedtls_sha256_update_ret(&key->outer, pad, BLOCK);
    memset(k, 0, sizeof k);
    memset(pad, 0, sizeof pad);
    __asm__ volatile("" : : "r"(k), "r"(pad) : "memory"); /* keep the wipes */
}

void goc_jwt_key_free(goc_jwt_key *key)
{
    mbedtls_sha256_free(&key->inner);
    mbedtls_sha256_free(&key->outer);
}

static void hmac(const goc_jwt_key *key, const char *msg, size_t len, uint8_t mac[SIG_LEN])
{
    mbedtls_sha256_context c;
    mbedtls_sha256_clone(&c, &key->inner);
    mbedtls_sha256_update_ret(&c, (const uint8_t *)msg, len);
    mbedtls_sha256_finish_ret(&c, mac);
    mbedtls_sha256_clone(&c, &key->outer);
    mbedtls_sha256_update_ret(&c, mac, SIG_LEN);
    mbedtls_sha256_finish_ret(&c, mac);
    mbedtls_sha256_free(&c);
}

/* True when a[0..n) equals b[0..n), in time that does not depend on where
 * they differ. */
static bool equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* True when s[0..n) nests arrays and objects deeper than MAX_DEPTH (brackets
 * in strings do not count). */
static bool too_deep(const uint8_t *s, size_t n)
{
    unsigned depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > MAX_DEPTH)
                return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return false;
}

/* The JSON object in s[0..n), or NULL. */
static json_t *parse_object(const uint8_t *s, size_t n)
{
    if (too_deep(s, n))
        return NULL;
    json_t *v = json_loadb((const char *)s, n, JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* The header's verdict: 0 for HS256, -ENOTSUP, -EINVAL. */
static int check_header(const uint8_t *s, size_t n)
{
    json_t *h = parse_object(s, n);
    if (!h)
        return -EINVAL;
    json_t *alg = json_object_get(h, "alg"), *typ = json_object_get(h, "typ");
    int rc = 0;
    if (!json_is_string(alg))
        rc = -EINVAL;
    else if (strcmp(json_string_value(alg), "HS256") != 0 ||
             json_string_length(alg) != 5 || json_object_get(h, "crit"))
        rc = -ENOTSUP;
    else if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0 ||
                     json_string_length(typ) != 3))
        rc = -ENOTSUP;
    json_decref(h);
    return rc;
}

/* A NumericDate claim: 0, -ENOENT when absent, -EINVAL when not a number
 * in [0, 2^53). */
static int numeric_date(json_t *claims, const char *name, double *out)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return -ENOENT;
    if (!json_is_number(v))
        return -EINVAL;
    double d = json_number_value(v);
    if (!(d >= 0 && d < 9007199254740992.0))
        return -EINVAL;
    *out = d;
    return 0;
}

/* Copies the "rooms" claim into c (absent: all rooms). */
static int take_rooms(json_t *claims, const goc_jwt_rules *rules, goc_jwt_claims *c)
{
    json_t *rooms = json_object_get(claims, "rooms");
    if (!rooms) {
        c->all_rooms = true;
        return 0;
    }
    if (!json_is_array(rooms))
        return -EINVAL;
    size_t total = 0, i;
    json_t *r;
    json_array_foreach(rooms, i, r) {
        if (!json_is_string(r))
            return -EINVAL;
        const char *s = json_string_value(r);
        size_t n = json_string_length(r);
        if (memchr(s, 0, n) || (rules && rules->room_valid && !rules->room_valid(s, n)))
            return -EINVAL;
        total += n + 1;
    }
    if (total && !(c->rooms = goc_malloc(total)))
        return -ENOMEM;
    char *p = c->rooms;
    json_array_foreach(rooms, i, r) {
        memcpy(p, json_string_value(r), json_string_length(r) + 1);
        p += json_string_length(r) + 1;
    }
    c->nrooms = json_array_size(rooms);
    return 0;
}

/* Reads the payload's claims into c. */
static int take_claims(const uint8_t *s, size_t n, int64_t now, const goc_jwt_rules *rules,
                       goc_jwt_claims *c)
{
    json_t *claims = parse_object(s, n);
    if (!claims)
        return -EINVAL;
    json_t *sub = json_object_get(claims, "sub");
    double exp, nbf = 0;
    int rc = 0, nbf_rc;
    if (!json_is_string(sub) || json_string_length(sub) > GOC_JWT_SUB_MAX ||
        memchr(json_string_value(sub), 0, json_string_length(sub)) ||
        (rules && rules->sub_valid &&
         !rules->sub_valid(json_string_value(sub), json_string_length(sub))))
        rc = -EINVAL;
    else if (numeric_date(claims, "exp", &exp) != 0 ||
             ((nbf_rc = numeric_date(claims, "nbf", &nbf)) != 0 && nbf_rc != -ENOENT))
        rc = -EINVAL;
    else if (exp <= (double)now)
        rc = -EKEYEXPIRED;
    else if (nbf_rc == 0 && nbf > (double)now)
        rc = -EAGAIN;
    else if ((rc = take_rooms(claims, rules, c)) == 0) {
        memcpy(c->sub, json_string_value(sub), json_string_length(sub) + 1);
        c->exp = (int64_t)ceil(exp);
    }
    json_decref(claims);
    return rc;
}

/* ---- tokens ------------------------------------------------------------------------------ */

int goc_jwt_verify(const goc_jwt_key *key, const char *token, size_t len, int64_t now,
                   const goc_jwt_rules *rules, goc_jwt_claims *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > GOC_JWT_MAX)
        return -EINVAL;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return -EINVAL;
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);
    uint8_t *buf = goc_malloc(len); /* the header, then the payload */
    if (!buf)
        return -ENOMEM;
    uint8_t sig[SIG_LEN + 1], mac[SIG_LEN];
    long h = b64_decode(token, hlen, buf);
    int rc = h <= 0 ? -EINVAL : check_header(buf, (size_t)h);
    if (rc)
        goto out;
    if (slen != SIG_B64_LEN) { /* not 32 bytes */
        rc = b64_decode(dot2 + 1, slen, NULL) < 0 ? -EINVAL : -EBADMSG;
        goto out;
    }
    if (b64_decode(dot2 + 1, slen, sig) != SIG_LEN) {
        rc = -EINVAL;
        goto out;
    }
    hmac(key, token, hlen + 1 + plen, mac);
    if (!equal_ct(mac, sig, SIG_LEN)) {
        rc = -EBADMSG;
        goto out;
    }
    long p = b64_decode(dot1 + 1, plen, buf);
    rc = p <= 0 ? -EINVAL : take_claims(buf, (size_t)p, now, rules, out);
out:
    goc_free(buf);
    if (rc)
        goc_jwt_claims_free(out);
    return rc;
}

bool goc_jwt_room_allowed(const goc_jwt_claims *c, const char *room, size_t len)
{
    if (c->all_rooms)
        return true;
    const char *p = c->rooms;
    for (size_t i = 0; i < c->nrooms; i++) {
        size_t n = strlen(p);
        if (n == len && memcmp(p, room, len) == 0)
            return true;
        p += n + 1;
    }
    return false;
}

void goc_jwt_claims_free(goc_jwt_claims *c)
{
    goc_free(c->rooms);
    memset(c, 0, sizeof *c);
}

long goc_jwt_sign(const goc_jwt_key *key, const char *payload, size_t len, char *out, size_t cap)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t hlen = (sizeof header - 1 + 2) / 3 * 4, plen = (len + 2) / 3 * 4;
    if (cap < hlen + 1 + plen + 1 + SIG_B64_LEN + 1)
        return -ENOBUFS;
    size_t n = b64_encode((const uint8_t *)header, sizeof header - 1, out);
    out[n++] = '.';
    n += b64_encode((const uint8_t *)payload, len, out + n);
    uint8_t mac[SIG_LEN];
    hmac(key, out, n, mac);
    out[n++] = '.';
    n += b64_encode(mac, SIG_LEN, out + n);
    out[n] = '\0';
    return (long)n;
}

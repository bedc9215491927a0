/* fuzz_jwt.c: libFuzzer target for the token parser (proto/jwt.h).
 *
 * Input: byte 0 picks the scenario, byte 1 a bit to flip, the rest is the
 * material.
 *  - even scenario: the material is a token as a client sends it. Verified
 *    at a fixed time under a fixed key; if it is accepted, its signature
 *    segment must be exactly the base64url of mbedtls's HMAC-SHA-256 of
 *    the rest (one token, one spelling), and its claims must keep the
 *    rules (a valid sub, exp after now, allowed rooms valid).
 *  - odd scenario: the material is a payload, signed with goc_jwt_sign.
 *    Its header and signature are ours, so the verdict can only be about
 *    the payload (never -ENOTSUP or -EBADMSG); when accepted, sub and exp
 *    are what jansson reads in the payload. Then byte 1 flips one bit of
 *    the signed token, which must then be refused.
 * The fixed key is the one tests/fuzz/make_corpus.py signs its seeds with.
 *
 * Invariants: every claims struct is freed; the token is copied into a
 * buffer of its exact size (fuzz.h), so a read past it is caught.
 */
#include <errno.h>
#include <jansson.h>
#include <mbedtls/md.h>
#include <math.h>

#include "fuzz.h"
#include "jwt.h"

#define NOW 1700000000LL

static const char key_text[] = "fuzz-key-0123456789abcdef-0123456789";

static bool nick_ok(const char *s, size_t n)
{
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    return true;
}

static bool room_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            return false;
    return true;
}

static const goc_jwt_rules rules = {nick_ok, room_ok};

/* Checks what an accepted token's claims say against the rules. */
static void check_claims(const goc_jwt_claims *c)
{
    FUZZ_CHECK(nick_ok(c->sub, strlen(c->sub)));
    FUZZ_CHECK(c->exp > NOW);
    FUZZ_CHECK(c->all_rooms ? c->nrooms == 0 : (c->nrooms == 0) == (c->rooms == NULL));
    const char *p = c->rooms;
    for (size_t i = 0; i < c->nrooms; i++) {
        FUZZ_CHECK(room_ok(p, strlen(p)) && goc_jwt_room_allowed(c, p, strlen(p)));
        p += strlen(p) + 1;
    }
}

/* The base64url (no padding) of mac, 43 characters and a NUL. */
static void b64url_mac(const uint8_t mac[32], char out[44])
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    unsigned bits = 0, o = 0;
    for (int i = 0; i < 32; i++) {
        acc = (acc << 8) | mac[i];
        for (bits += 8; bits >= 6; bits -= 6)
            out[o++] = a[(acc >> (bits - 6)) & 63];
    }
    out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static void client_token(const goc_jwt_key *key, const uint8_t *data, size_t len)
{
    char *t = (char *)fuzz_dup(data, len);
    goc_jwt_claims c;
    int rc = goc_jwt_verify(key, t, len, NOW, &rules, &c);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP || rc == -EBADMSG ||
               rc == -EKEYEXPIRED || rc == -EAGAIN);
    if (rc == 0) {
        check_claims(&c);
        const char *dot = memrchr(t, '.', len);
        FUZZ_CHECK(dot != NULL && len - (size_t)(dot + 1 - t) == 43);
        uint8_t mac[32];
        char want[44];
        mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                        (const uint8_t *)key_text, sizeof key_text - 1, (const uint8_t *)t,
                        (size_t)(dot - t), mac);
        b64url_mac(mac, want);
        FUZZ_CHECK(memcmp(dot + 1, want, 43) == 0);
    }
    goc_jwt_claims_free(&c);
    free(t);
}

static void signed_payload(const goc_jwt_key *key, uint8_t flip, const uint8_t *data, size_t len)
{
    size_t cap = len * 4 / 3 + 128;
    char *t = malloc(cap);
    FUZZ_CHECK(t != NULL);
    long n = goc_jwt_sign(key, (const char *)data, len, t, cap);
    FUZZ_CHECK(n > 0 && (size_t)n < cap && t[n] == '\0');
    goc_jwt_claims c;
    int rc = goc_jwt_verify(key, t, (size_t)n, NOW, &rules, &c);
    FUZZ_CHECK(rc != -ENOTSUP && rc != -EBADMSG);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EKEYEXPIRED || rc == -EAGAIN);
    if (rc == -EINVAL && (size_t)n > GOC_JWT_MAX)
        goto out; /* too long to look at */
    if (rc == 0) {
        check_claims(&c);
        json_t *p = json_loadb((const char *)data, len, 0, NULL);
        FUZZ_CHECK(p != NULL);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(p, "sub")), c.sub) == 0);
        FUZZ_CHECK(c.exp == (int64_t)ceil(json_number_value(json_object_get(p, "exp"))));
        json_decref(p);
        goc_jwt_claims_free(&c);
        /* one bit flipped anywhere: refused */
        size_t at = ((size_t)flip * 7919u) % (size_t)n;
        t[at] ^= (char)(1u << (flip & 7));
        rc = goc_jwt_verify(key, t, (size_t)n, NOW, &rules, &c);
        FUZZ_CHECK(rc != 0);
    }
out:
    goc_jwt_claims_free(&c);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static goc_jwt_key key;
    static bool ready;
    if (!ready) {
        goc_jwt_key_init(&key, (const uint8_t *)key_text, sizeof key_text - 1);
        ready = true;
    }
    if (data[0] & 1)
        signed_payload(&key, data[1], data + 2, size - 2);
    else
        client_token(&key, data + 2, size - 2);
    return 0;
}

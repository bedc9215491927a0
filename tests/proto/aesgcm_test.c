/* aesgcm_test.c: proto/aesgcm against the GCM specification's test cases
 * (McGrew and Viega, cases 1, 2, 13 and 14) and against mbedtls's GCM on
 * random keys, nonces, AAD and texts of every length up to 300 bytes and
 * a full TLS record, in place and not; tampering with the tag, the text,
 * the AAD or the nonce is refused.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <mbedtls/gcm.h>

#include "aesgcm.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* A deterministic generator for the random cases. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint8_t rnd8(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)rng_state;
}
static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rnd8();
}

/* x86-64 machines this project runs on have AES-NI and PCLMULQDQ; elsewhere
 * the module is compiled out and tls.c keeps mbedtls's records. */
static bool have_instructions(void)
{
#if defined(__x86_64__)
    if (goc_aesgcm_available())
        return true;
    test__fail(__FILE__, __LINE__, "this x86-64 CPU lacks AES-NI or PCLMULQDQ");
    return false;
#else
    printf("# not x86-64: the AES-NI module is compiled out\n");
    return false;
#endif
}

static void test_spec_cases(void)
{
    if (!have_instructions())
        return;
    static const struct {
        size_t keylen, len;
        const char *c, *t;
    } cases[] = {
        {16, 0, "", "58e2fccefa7e3061367f1d57a4e7455a"},
        {16, 16, "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
        {32, 0, "", "530f8afbc74536b9a963b4f1c4cb738b"},
        {32, 16, "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t key[32] = {0}, nonce[12] = {0}, p[16] = {0}, c[16], t[16], want_c[16], want_t[16];
        hex(cases[i].c, want_c, cases[i].len);
        hex(cases[i].t, want_t, 16);
        goc_aesgcm g;
        CHECK(goc_aesgcm_init(&g, key, cases[i].keylen));
        goc_aesgcm_seal(&g, nonce, NULL, 0, p, c, cases[i].len, t);
        CHECK_MSG(memcmp(c, want_c, cases[i].len) == 0, "case %zu: ciphertext", i);
        CHECK_MSG(memcmp(t, want_t, 16) == 0, "case %zu: tag", i);
        CHECK(goc_aesgcm_open(&g, nonce, NULL, 0, c, c, cases[i].len, t));
        CHECK(memcmp(c, p, cases[i].len) == 0);
    }
    goc_aesgcm g;
    uint8_t key[24] = {0};
    CHECK(!goc_aesgcm_init(&g, key, sizeof key)); /* AES-192 is not a TLS suite here */
}

/* One random case of len bytes compared with mbedtls, then tampered with. */
static void compare_one(size_t keylen, size_t aadlen, size_t len, bool in_place)
{
    static uint8_t key[32], nonce[12], aad[64], p[16384 + 64], c[16384 + 64], ref[16384 + 64],
        back[16384 + 64];
    uint8_t tag[16], ref_tag[16];
    fill(key, keylen);
    fill(nonce, sizeof nonce);
    fill(aad, aadlen);
    fill(p, len);

    mbedtls_gcm_context m;
    mbedtls_gcm_init(&m);
    int rc = mbedtls_gcm_setkey(&m, MBEDTLS_CIPHER_ID_AES, key, (unsigned)keylen * 8);
    rc |= mbedtls_gcm_crypt_and_tag(&m, MBEDTLS_GCM_ENCRYPT, len, nonce, sizeof nonce, aad, aadlen,
                                    p, ref, sizeof ref_tag, ref_tag);
    mbedtls_gcm_free(&m);
    CHECK_MSG(rc == 0, "mbedtls_gcm: %d", rc);

    goc_aesgcm g;
    CHECK(goc_aesgcm_init(&g, key, keylen));
    uint8_t *out = c;
    if (in_place) {
        memcpy(c, p, len);
        goc_aesgcm_seal(&g, nonce, aad, aadlen, c, c, len, tag);
    } else {
        goc_aesgcm_seal(&g, nonce, aad, aadlen, p, out, len, tag);
    }
    CHECK_MSG(memcmp(out, ref, len) == 0, "key %zu aad %zu len %zu: ciphertext differs", keylen,
              aadlen, len);
    CHECK_MSG(memcmp(tag, ref_tag, 16) == 0, "key %zu aad %zu len %zu: tag differs", keylen,
              aadlen, len);

    uint8_t *dst = in_place ? c : back;
    if (in_place) {
        CHECK(goc_aesgcm_open(&g, nonce, aad, aadlen, c, c, len, tag));
    } else {
        CHECK(goc_aesgcm_open(&g, nonce, aad, aadlen, c, back, len, tag));
    }
    CHECK_MSG(memcmp(dst, p, len) == 0, "len %zu: decryption differs", len);

    /* tampering: re-encrypt (in place may have decrypted c) and flip bits */
    goc_aesgcm_seal(&g, nonce, aad, aadlen, p, c, len, tag);
    tag[len % 16] ^= 0x01;
    CHECK(!goc_aesgcm_open(&g, nonce, aad, aadlen, c, back, len, tag));
    tag[len % 16] ^= 0x01;
    if (len) {
        c[len / 2] ^= 0x80;
        CHECK(!goc_aesgcm_open(&g, nonce, aad, aadlen, c, back, len, tag));
        c[len / 2] ^= 0x80;
    }
    if (aadlen) {
        aad[aadlen - 1] ^= 0x04;
        CHECK(!goc_aesgcm_open(&g, nonce, aad, aadlen, c, back, len, tag));
        aad[aadlen - 1] ^= 0x04;
    }
    nonce[11] ^= 0x01;
    CHECK(!goc_aesgcm_open(&g, nonce, aad, aadlen, c, back, len, tag));
    nonce[11] ^= 0x01;
    CHECK(goc_aesgcm_open(&g, nonce, aad, aadlen, c, back, len, tag));
    goc_aesgcm_wipe(&g);
}

static void test_matches_mbedtls(void)
{
    if (!have_instructions())
        return;
    static const size_t aadlens[] = {0, 1, 13, 16, 17, 33, 64};
    for (size_t keylen = 16; keylen <= 32; keylen += 16) {
        for (size_t len = 0; len <= 300; len++) {
            size_t aadlen = aadlens[len % (sizeof aadlens / sizeof aadlens[0])];
            compare_one(keylen, aadlen, len, len % 2 == 0);
            if (atomic_load(&test__failed))
                return;
        }
        static const size_t big[] = {1000, 4096, 16383, 16384};
        for (size_t i = 0; i < sizeof big / sizeof big[0] && !atomic_load(&test__failed); i++)
            compare_one(keylen, 13, big[i], i % 2 == 0);
    }
}

static const test_case cases[] = {
    TEST_CASE(test_spec_cases),
    TEST_CASE(test_matches_mbedtls),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

/* sha256_test.c: mbedtls's SHA-256 with our block function in its place
 * (proto/sha256_ni.c): the program's definition is the one the library
 * calls, and digests are the standard's (FIPS 180-4 examples, a million
 * 'a') and a portable reference's for random messages of every length up
 * to 300 bytes, whole and fed in pieces; the same with mbedtls's own block
 * function, which ours calls where the CPU has no SHA extensions.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <dlfcn.h>
#include <mbedtls/sha256.h>

#include "sha256_ni.h"

/* ---- a portable reference (FIPS 180-4 6.2) ---------------------------------------------- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void ref_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = v[7] + (ROR(v[4], 6) ^ ROR(v[4], 11) ^ ROR(v[4], 25)) +
                      ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[i] + w[i];
        uint32_t t2 = (ROR(v[0], 2) ^ ROR(v[0], 13) ^ ROR(v[0], 22)) +
                      ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof *v);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

static void ref_sha256(const uint8_t *m, size_t n, uint8_t out[32])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t last[128] = {0};
    size_t full = n / 64 * 64, rest = n - full;
    for (size_t i = 0; i < full; i += 64)
        ref_block(h, m + i);
    memcpy(last, m + full, rest);
    last[rest] = 0x80;
    size_t tail = rest < 56 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        last[tail - 1 - i] = (uint8_t)((uint64_t)n * 8 >> (8 * i));
    ref_block(h, last);
    if (tail == 128)
        ref_block(h, last + 64);
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* ---- cases ---------------------------------------------------------------------------- */

static void hex(const uint8_t *d, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_library_calls_ours(void)
{
    void *lib = dlsym(RTLD_DEFAULT, "mbedtls_internal_sha256_process");
    CHECK(lib == (void *)mbedtls_internal_sha256_process);
#if defined(__x86_64__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    bool sha_ni = false;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0 && strstr(line, " sha_ni"))
            sha_ni = true;
    if (f)
        fclose(f);
    CHECK_EQ_INT(goc_sha256_accelerated(), sha_ni);
    printf("# SHA extensions: %s\n", sha_ni ? "yes" : "no (mbedtls's own blocks)");
#endif
}

static void test_standard_vectors(void)
{
    static const struct {
        const char *msg;
        const char *digest;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t d[32];
        char h[65];
        CHECK_EQ_INT(mbedtls_sha256_ret((const uint8_t *)v[i].msg, strlen(v[i].msg), d, 0), 0);
        hex(d, h);
        CHECK_EQ_STR(h, v[i].digest);
    }
    /* a million 'a', in pieces of 1000 */
    static uint8_t a[1000];
    memset(a, 'a', sizeof a);
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    mbedtls_sha256_starts_ret(&c, 0);
    for (int i = 0; i < 1000; i++)
        mbedtls_sha256_update_ret(&c, a, sizeof a);
    uint8_t d[32];
    char h[65];
    mbedtls_sha256_finish_ret(&c, d);
    mbedtls_sha256_free(&c);
    hex(d, h);
    CHECK_EQ_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_random_messages(void)
{
    static uint8_t m[300];
    uint32_t x = 0x12345678;
    for (size_t n = 0; n <= sizeof m; n++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            m[i] = (uint8_t)x;
        }
        uint8_t want[32], whole[32], pieces[32];
        ref_sha256(m, n, want);
        mbedtls_sha256_ret(m, n, whole, 0);
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        for (size_t i = 0; i < n; i += 7)
            mbedtls_sha256_update_ret(&c, m + i, n - i < 7 ? n - i : 7);
        mbedtls_sha256_finish_ret(&c, pieces);
        mbedtls_sha256_free(&c);
        CHECK_MSG(memcmp(whole, want, 32) == 0, "length %zu, whole", n);
        CHECK_MSG(memcmp(pieces, want, 32) == 0, "length %zu, in pieces", n);
    }
}

/* With GOC_SHA256_PORTABLE set, mbedtls's own blocks run, through ours. */
static void child_portable(void)
{
    CHECK(!goc_sha256_accelerated());
    test_standard_vectors();
    test_random_messages();
}

static void test_portable_fallback(void)
{
    static test_child r;
    static const char *const env[] = {"GOC_SHA256_PORTABLE=1", NULL};
    CHECK_EQ_INT(test_run_child("child_portable", env, &r), 0);
    CHECK_MSG(r.exited && r.status == 0, "%s", r.out);
}

static const test_case cases[] = {
    TEST_CASE(test_library_calls_ours),
    TEST_CASE(test_standard_vectors),
    TEST_CASE(test_random_messages),
    TEST_CASE(test_portable_fallback),
    TEST_CASE(child_portable),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

/* sha256_ni.c: SHA-256's block function on the CPU's SHA extensions, in
 * place of mbedtls 2.28's portable C one.
 *
 * Hashing is most of what a resumed TLS handshake costs the server (mbedtls
 * derives a 256-byte key block and two Finished values with HMAC-SHA-256:
 * about a hundred blocks), and all of what checking a token costs. mbedtls
 * 2.28 hashes a block in portable C, about 15 cycles a byte; the SHA
 * extensions (SHA-NI, on x86-64 since Goldmont and Zen) take about 2.
 *
 * mbedtls has no hook for its block function in Debian's build
 * (MBEDTLS_SHA256_PROCESS_ALT is off), but every caller inside
 * libmbedcrypto reaches mbedtls_internal_sha256_process through the
 * library's procedure linkage table, so a definition in the program that
 * links the library takes its place (ELF symbol interposition), with the
 * same contract: one 64-byte block into ctx->state. Without the
 * extensions it calls the library's own definition (dlsym RTLD_NEXT).
 * goc_sha256_accelerated tells which runs; a program pulls this file in
 * by calling it (tls.c and jwt.c do). GOC_SHA256_PORTABLE in the
 * environment keeps mbedtls's own (for its tests).
 *
 * Invariants: the result is bit for bit mbedtls's (tests/proto/sha256_test
 * checks the standard's vectors and random messages against a portable
 * reference); the choice is made once, before the first block, and never
 * changes.
 */
#include "sha256_ni.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <mbedtls/sha256.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

typedef int (*block_fn)(mbedtls_sha256_context *ctx, const unsigned char data[64]);

static block_fn portable;  /* mbedtls's own definition, when the CPU lacks SHA-NI */
static bool have_ni;       /* the CPU has SHA-NI (and SSSE3, SSE4.1) */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
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

/* One block: 16 groups of 4 rounds, each group's 4 message words made from
 * the 4 groups before it once the block's own 16 words are used. The state
 * is kept as the instructions want it: (A,B,E,F) and (C,D,G,H). */
__attribute__((target("sha,ssse3,sse4.1"))) static void ni_block(uint32_t state[8],
                                                                  const unsigned char *data)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xb1);
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1b);
    __m128i abef = _mm_alignr_epi8(dcba, hgfe, 8);
    __m128i cdgh = _mm_blend_epi16(hgfe, dcba, 0xf0);
    const __m128i abef0 = abef, cdgh0 = cdgh;
    __m128i w[4];
    for (int i = 0; i < 4; i++)
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), swap);
    for (int g = 0; g < 16; g++) {
        if (g >= 4) { /* words 4g..4g+3 from the four groups before */
            __m128i x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
            x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
            w[g & 3] = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
        }
        __m128i m = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&K[4 * g]));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0e));
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
    __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xf0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}
#endif

static void choose(void)
{
    if (getenv("GOC_SHA256_PORTABLE")) { /* tests of the fallback */
        portable = (block_fn)dlsym(RTLD_NEXT, "mbedtls_internal_sha256_process");
        return;
    }
#if defined(__x86_64__)
    unsigned a, b, c, d;
    bool sse = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1);
    have_ni = sse && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
#endif
    if (!have_ni)
        portable = (block_fn)dlsym(RTLD_NEXT, "mbedtls_internal_sha256_process");
}

/* mbedtls's own prototype (sha256.h): the interposed definition, exported
 * whatever the build's default visibility. */
__attribute__((visibility("default"))) int mbedtls_internal_sha256_process(mbedtls_sha256_context *ctx, const unsigned char data[64])
{
    pthread_once(&once, choose);
#if defined(__x86_64__)
    if (have_ni) {
        ni_block(ctx->state, data);
        return 0;
    }
#endif
    return portable ? portable(ctx, data) : -1;
}

bool goc_sha256_accelerated(void)
{
    pthread_once(&once, choose);
    return have_ni;
}

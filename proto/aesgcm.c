/* aesgcm.c: AES-GCM on AES-NI and PCLMULQDQ (aesgcm.h).
 *
 * GHASH works on byte-reflected blocks (each 16-byte block reversed with
 * PSHUFB), as in Gueron and Kounavis's "Intel Carry-Less Multiplication
 * Instruction and its Usage for Computing the GCM Mode": a 128x128-bit
 * carry-less product of reflected values is the reflected product shifted
 * right by one bit, so the 256-bit product is shifted left by one and then
 * reduced modulo x^128 + x^7 + x^2 + x + 1 in two phases of shifts. Both
 * steps are linear, so four products (X1 ^ Y)*H^4 ^ X2*H^3 ^ X3*H^2 ^ X4*H
 * are summed unreduced and reduced once.
 *
 * The functions carry target attributes instead of the whole build being
 * compiled for these instructions: goc_aesgcm_available() is the gate.
 */
#include "aesgcm.h"

#include <string.h>

#if defined(__x86_64__)

#include <immintrin.h>

#define TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))

bool goc_aesgcm_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("sse4.1");
}

/* ---- AES ---------------------------------------------------------------------------- */

/* One step of the key schedule: k's words chained by XOR, plus t (the
 * AESKEYGENASSIST word already broadcast). */
static TARGET inline __m128i key_step(__m128i k, __m128i t)
{
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, t);
}

/* AESKEYGENASSIST takes its round constant as an immediate. */
#define ROT_WORD(k, rcon) _mm_shuffle_epi32(_mm_aeskeygenassist_si128((k), (rcon)), 0xff)
#define SUB_WORD(k) _mm_shuffle_epi32(_mm_aeskeygenassist_si128((k), 0), 0xaa)

static TARGET void expand128(__m128i *rk, const uint8_t *key)
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = key_step(rk[0], ROT_WORD(rk[0], 0x01));
    rk[2] = key_step(rk[1], ROT_WORD(rk[1], 0x02));
    rk[3] = key_step(rk[2], ROT_WORD(rk[2], 0x04));
    rk[4] = key_step(rk[3], ROT_WORD(rk[3], 0x08));
    rk[5] = key_step(rk[4], ROT_WORD(rk[4], 0x10));
    rk[6] = key_step(rk[5], ROT_WORD(rk[5], 0x20));
    rk[7] = key_step(rk[6], ROT_WORD(rk[6], 0x40));
    rk[8] = key_step(rk[7], ROT_WORD(rk[7], 0x80));
    rk[9] = key_step(rk[8], ROT_WORD(rk[8], 0x1b));
    rk[10] = key_step(rk[9], ROT_WORD(rk[9], 0x36));
}

static TARGET void expand256(__m128i *rk, const uint8_t *key)
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
    rk[2] = key_step(rk[0], ROT_WORD(rk[1], 0x01));
    rk[3] = key_step(rk[1], SUB_WORD(rk[2]));
    rk[4] = key_step(rk[2], ROT_WORD(rk[3], 0x02));
    rk[5] = key_step(rk[3], SUB_WORD(rk[4]));
    rk[6] = key_step(rk[4], ROT_WORD(rk[5], 0x04));
    rk[7] = key_step(rk[5], SUB_WORD(rk[6]));
    rk[8] = key_step(rk[6], ROT_WORD(rk[7], 0x08));
    rk[9] = key_step(rk[7], SUB_WORD(rk[8]));
    rk[10] = key_step(rk[8], ROT_WORD(rk[9], 0x10));
    rk[11] = key_step(rk[9], SUB_WORD(rk[10]));
    rk[12] = key_step(rk[10], ROT_WORD(rk[11], 0x20));
    rk[13] = key_step(rk[11], SUB_WORD(rk[12]));
    rk[14] = key_step(rk[12], ROT_WORD(rk[13], 0x40));
}

static TARGET inline __m128i aes1(const goc_aesgcm *g, __m128i x)
{
    const __m128i *rk = (const __m128i *)g->round_keys;
    x = _mm_xor_si128(x, rk[0]);
    for (int i = 1; i < g->rounds; i++)
        x = _mm_aesenc_si128(x, rk[i]);
    return _mm_aesenclast_si128(x, rk[g->rounds]);
}

/* Four independent blocks: the AESENC latencies overlap. */
static TARGET inline void aes4(const goc_aesgcm *g, __m128i b[4])
{
    const __m128i *rk = (const __m128i *)g->round_keys;
    for (int j = 0; j < 4; j++)
        b[j] = _mm_xor_si128(b[j], rk[0]);
    for (int i = 1; i < g->rounds; i++) {
        __m128i k = rk[i];
        for (int j = 0; j < 4; j++)
            b[j] = _mm_aesenc_si128(b[j], k);
    }
    for (int j = 0; j < 4; j++)
        b[j] = _mm_aesenclast_si128(b[j], rk[g->rounds]);
}

/* ---- GHASH -------------------------------------------------------------------------- */

static TARGET inline __m128i reflect(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* The unreduced product of a and b added into lo, mid, hi (schoolbook:
 * mid holds the two cross terms). */
static TARGET inline void mul_add(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
    *mid = _mm_xor_si128(*mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
                                             _mm_clmulepi64_si128(a, b, 0x10)));
}

/* lo, mid, hi (a 256-bit reflected product) to the reduced 128-bit value. */
static TARGET inline __m128i reduce(__m128i lo, __m128i mid, __m128i hi)
{
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    /* shift hi:lo left by one bit */
    __m128i lo_top = _mm_srli_epi32(lo, 31);
    __m128i hi_top = _mm_srli_epi32(hi, 31);
    lo = _mm_slli_epi32(lo, 1);
    hi = _mm_slli_epi32(hi, 1);
    hi = _mm_or_si128(hi, _mm_srli_si128(lo_top, 12)); /* lo's top bit into hi */
    hi = _mm_or_si128(hi, _mm_slli_si128(hi_top, 4));
    lo = _mm_or_si128(lo, _mm_slli_si128(lo_top, 4));
    /* first phase: fold lo's words times x^127, x^126, x^121 */
    __m128i a = _mm_xor_si128(_mm_slli_epi32(lo, 31),
                              _mm_xor_si128(_mm_slli_epi32(lo, 30), _mm_slli_epi32(lo, 25)));
    __m128i spill = _mm_srli_si128(a, 4);
    lo = _mm_xor_si128(lo, _mm_slli_si128(a, 12));
    /* second phase */
    __m128i b = _mm_xor_si128(_mm_srli_epi32(lo, 1),
                              _mm_xor_si128(_mm_srli_epi32(lo, 2), _mm_srli_epi32(lo, 7)));
    b = _mm_xor_si128(b, spill);
    lo = _mm_xor_si128(lo, b);
    return _mm_xor_si128(hi, lo);
}

static TARGET inline __m128i gfmul(__m128i a, __m128i b)
{
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    mul_add(a, b, &lo, &mid, &hi);
    return reduce(lo, mid, hi);
}

/* Folds four reflected blocks into the hash state x. */
static TARGET inline __m128i ghash4(const goc_aesgcm *g, __m128i x, const __m128i c[4])
{
    const __m128i *h = (const __m128i *)g->hpow;
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    mul_add(_mm_xor_si128(x, reflect(c[0])), h[3], &lo, &mid, &hi);
    mul_add(reflect(c[1]), h[2], &lo, &mid, &hi);
    mul_add(reflect(c[2]), h[1], &lo, &mid, &hi);
    mul_add(reflect(c[3]), h[0], &lo, &mid, &hi);
    return reduce(lo, mid, hi);
}

static TARGET inline __m128i ghash1(const goc_aesgcm *g, __m128i x, __m128i c)
{
    return gfmul(_mm_xor_si128(x, reflect(c)), _mm_load_si128((const __m128i *)g->hpow[0]));
}

/* The last n < 16 bytes of a field, zero-padded. */
static TARGET inline __m128i partial(const uint8_t *p, size_t n)
{
    uint8_t pad[16] = {0};
    memcpy(pad, p, n);
    return _mm_loadu_si128((const __m128i *)pad);
}

static TARGET __m128i ghash_bytes(const goc_aesgcm *g, __m128i x, const uint8_t *p, size_t n)
{
    for (; n >= 64; p += 64, n -= 64) {
        __m128i c[4];
        for (int j = 0; j < 4; j++)
            c[j] = _mm_loadu_si128((const __m128i *)(p + 16 * j));
        x = ghash4(g, x, c);
    }
    for (; n >= 16; p += 16, n -= 16)
        x = ghash1(g, x, _mm_loadu_si128((const __m128i *)p));
    if (n)
        x = ghash1(g, x, partial(p, n));
    return x;
}

/* ---- GCM ---------------------------------------------------------------------------- */

TARGET bool goc_aesgcm_init(goc_aesgcm *g, const uint8_t *key, size_t keylen)
{
    if (keylen != 16 && keylen != 32)
        return false;
    __m128i *rk = (__m128i *)g->round_keys;
    if (keylen == 16) {
        g->rounds = 10;
        expand128(rk, key);
    } else {
        g->rounds = 14;
        expand256(rk, key);
    }
    __m128i *h = (__m128i *)g->hpow;
    h[0] = reflect(aes1(g, _mm_setzero_si128()));
    h[1] = gfmul(h[0], h[0]);
    h[2] = gfmul(h[1], h[0]);
    h[3] = gfmul(h[2], h[0]);
    return true;
}

static TARGET inline __m128i counter_block(__m128i j0, uint32_t ctr)
{
    return _mm_insert_epi32(j0, (int)__builtin_bswap32(ctr), 3);
}

/* Counter mode from block 2 on, and GHASH over the ciphertext (the
 * output when sealing, the input when opening: read before it is
 * overwritten, so in == out works). Returns the hash state. */
static TARGET __m128i ctr_hash(const goc_aesgcm *g, __m128i j0, __m128i x, const uint8_t *in,
                               uint8_t *out, size_t len, bool opening)
{
    uint32_t ctr = 2;
    for (; len >= 64; in += 64, out += 64, len -= 64, ctr += 4) {
        __m128i ks[4], c[4];
        for (int j = 0; j < 4; j++)
            ks[j] = counter_block(j0, ctr + (uint32_t)j);
        aes4(g, ks);
        for (int j = 0; j < 4; j++) {
            __m128i d = _mm_loadu_si128((const __m128i *)(in + 16 * j));
            __m128i e = _mm_xor_si128(d, ks[j]);
            c[j] = opening ? d : e;
            _mm_storeu_si128((__m128i *)(out + 16 * j), e);
        }
        x = ghash4(g, x, c);
    }
    for (; len >= 16; in += 16, out += 16, len -= 16, ctr++) {
        __m128i d = _mm_loadu_si128((const __m128i *)in);
        __m128i e = _mm_xor_si128(d, aes1(g, counter_block(j0, ctr)));
        _mm_storeu_si128((__m128i *)out, e);
        x = ghash1(g, x, opening ? d : e);
    }
    if (len) {
        uint8_t ks[16], c[16] = {0};
        _mm_storeu_si128((__m128i *)ks, aes1(g, counter_block(j0, ctr)));
        for (size_t i = 0; i < len; i++) {
            uint8_t d = in[i], e = (uint8_t)(d ^ ks[i]);
            c[i] = opening ? d : e;
            out[i] = e;
        }
        x = ghash1(g, x, _mm_loadu_si128((const __m128i *)c));
    }
    return x;
}

/* The whole computation; returns the tag. */
static TARGET __m128i gcm(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                          size_t aadlen, const uint8_t *in, uint8_t *out, size_t len,
                          bool opening)
{
    uint8_t n16[16] = {0};
    memcpy(n16, nonce, 12);
    __m128i j0 = _mm_loadu_si128((const __m128i *)n16);
    __m128i x = ghash_bytes(g, _mm_setzero_si128(), aad, aadlen);
    x = ctr_hash(g, j0, x, in, out, len, opening);
    /* the lengths block, big-endian bit counts of the AAD then the text;
     * reflected, the text's count is the low half */
    __m128i lens = _mm_set_epi64x((long long)((uint64_t)aadlen * 8), (long long)((uint64_t)len * 8));
    x = gfmul(_mm_xor_si128(x, lens), _mm_load_si128((const __m128i *)g->hpow[0]));
    return _mm_xor_si128(reflect(x), aes1(g, counter_block(j0, 1)));
}

TARGET void goc_aesgcm_seal(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                            size_t aadlen, const uint8_t *in, uint8_t *out, size_t len,
                            uint8_t tag[16])
{
    _mm_storeu_si128((__m128i *)tag, gcm(g, nonce, aad, aadlen, in, out, len, false));
}

TARGET bool goc_aesgcm_open(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                            size_t aadlen, const uint8_t *in, uint8_t *out, size_t len,
                            const uint8_t tag[16])
{
    __m128i want = gcm(g, nonce, aad, aadlen, in, out, len, true);
    __m128i diff = _mm_xor_si128(want, _mm_loadu_si128((const __m128i *)tag));
    return _mm_testz_si128(diff, diff); /* no early exit: constant time */
}

#else /* not x86-64: tls.c keeps mbedtls's records */

bool goc_aesgcm_available(void)
{
    return false;
}

bool goc_aesgcm_init(goc_aesgcm *g, const uint8_t *key, size_t keylen)
{
    (void)g, (void)key, (void)keylen;
    return false;
}

void goc_aesgcm_seal(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                     size_t aadlen, const uint8_t *in, uint8_t *out, size_t len, uint8_t tag[16])
{
    (void)g, (void)nonce, (void)aad, (void)aadlen, (void)in, (void)out, (void)len, (void)tag;
    __builtin_trap();
}

bool goc_aesgcm_open(const goc_aesgcm *g, const uint8_t nonce[12], const uint8_t *aad,
                     size_t aadlen, const uint8_t *in, uint8_t *out, size_t len,
                     const uint8_t tag[16])
{
    (void)g, (void)nonce, (void)aad, (void)aadlen, (void)in, (void)out, (void)len, (void)tag;
    return false;
}

#endif

void goc_aesgcm_wipe(goc_aesgcm *g)
{
    volatile uint8_t *p = (volatile uint8_t *)g;
    for (size_t i = 0; i < sizeof *g; i++)
        p[i] = 0;
}

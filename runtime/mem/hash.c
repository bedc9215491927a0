/* hash.c: the map's hash functions.
 *
 * A multiply-fold mixer: mix(a, b) multiplies two 64-bit words into 128
 * bits and xors the halves, so every input bit reaches every output bit in
 * one multiply (the construction wyhash and Go's memhash fallback use; the
 * constants here are the 64-bit golden ratio and splitmix64's). Integers
 * take two rounds; byte strings fold 16 bytes per round and end with the
 * length. The seed is the map's random hash0, so an attacker who does not
 * know it cannot aim keys at one bucket.
 */
#include "goc/map.h"

#include "mem.h"

#include <string.h>

#define K0 0x9e3779b97f4a7c15ull
#define K1 0xbf58476d1ce4e5b9ull
#define K2 0x94d049bb133111ebull

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t goc_hash_bytes(const void *key, size_t n, uint64_t seed)
{
    const unsigned char *p = key;
    uint64_t acc = seed ^ K0;
    size_t left = n;
    while (left > 16) {
        acc = mix(read64(p) ^ acc ^ K1, read64(p + 8) ^ K2 ^ seed);
        p += 16;
        left -= 16;
    }
    uint64_t a = 0, b = 0;
    if (left >= 8) {
        a = read64(p);
        b = read64(p + left - 8);
    } else if (left >= 4) {
        uint32_t x, y;
        memcpy(&x, p, 4);
        memcpy(&y, p + left - 4, 4);
        a = x;
        b = y;
    } else if (left > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[left / 2] << 8) | p[left - 1];
    }
    acc = mix(a ^ acc ^ K1, b ^ K2 ^ seed);
    return mix(acc ^ n, K0 ^ seed);
}

uint64_t goc_map_hash_int(const void *key, size_t keysize, uint64_t seed)
{
    switch (keysize) {
    case 1: return goc__hash_u64(*(const uint8_t *)key, seed);
    case 2: {
        uint16_t v;
        memcpy(&v, key, 2);
        return goc__hash_u64(v, seed);
    }
    case 4: {
        uint32_t v;
        memcpy(&v, key, 4);
        return goc__hash_u64(v, seed);
    }
    case 8: return goc__hash_u64(read64(key), seed);
    default: return goc_hash_bytes(key, keysize, seed);
    }
}

uint64_t goc_map_hash_bytes(const void *key, size_t keysize, uint64_t seed)
{
    return goc_hash_bytes(key, keysize, seed);
}

bool goc_map_equal_bytes(const void *a, const void *b, size_t keysize)
{
    return memcmp(a, b, keysize) == 0;
}

uint64_t goc_map_hash_str(const void *key, size_t keysize, uint64_t seed)
{
    (void)keysize;
    const char *s;
    memcpy(&s, key, sizeof s);
    return s ? goc_hash_bytes(s, strlen(s), seed) : goc__hash_u64(0, seed ^ K2);
}

bool goc_map_equal_str(const void *a, const void *b, size_t keysize)
{
    (void)keysize;
    const char *x, *y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    if (!x || !y)
        return x == y;
    return x == y || strcmp(x, y) == 0;
}

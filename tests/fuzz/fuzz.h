/* fuzz.h: what the libFuzzer targets of tests/fuzz share: cutting an input
 * into the reads a socket could deliver, and a check that stops the run.
 *
 * Every target starts with a few control bytes taken from the front of the
 * input (limits, how to cut the rest), so a single corpus file describes a
 * whole scenario and libFuzzer mutates the scenario along with the bytes.
 * The cuts come from a small generator seeded by those bytes: the same input
 * always gives the same reads, so a crash replays exactly.
 *
 * Each read is copied into a buffer of its exact size, freed after its feed,
 * so AddressSanitizer catches a parser that reads past the bytes it was
 * given, or keeps a pointer into them (libFuzzer's own buffer is sized to
 * the whole input, which would hide both).
 *
 * Invariants: fuzz_cut_next() never returns 0 while bytes remain, and never
 * more than remain; FUZZ_CHECK aborts, which libFuzzer reports as a crash
 * and saves as an artifact.
 */
#ifndef GOC_TESTS_FUZZ_H
#define GOC_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points, which every target defines (the second one
 * only where it prepares something once). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: print where, then abort (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* How to cut: 0 whole, 1 one byte at a time, 2 small reads (1..16),
 * 3 reads of 1..256 bytes. */
enum { FUZZ_CUT_WHOLE, FUZZ_CUT_BYTES, FUZZ_CUT_SMALL, FUZZ_CUT_MIXED };

/* A cutter: the mode and its generator state. */
typedef struct fuzz_cut {
    unsigned mode;  /* one of FUZZ_CUT_* */
    uint32_t state; /* xorshift32 state, never 0 */
} fuzz_cut;

/* Prepares a cutter from one control byte: two bits of mode, the rest
 * seeds the generator. */
static inline void fuzz_cut_init(fuzz_cut *c, uint8_t control)
{
    c->mode = control & 3u;
    c->state = 0x9e3779b9u ^ ((uint32_t)control * 0x01000193u);
}

/* The next pseudo-random 32-bit value (xorshift32). */
static inline uint32_t fuzz_rand(fuzz_cut *c)
{
    uint32_t x = c->state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->state = x;
    return x;
}

/* The size of the next read when `left` bytes remain (left > 0). */
static inline size_t fuzz_cut_next(fuzz_cut *c, size_t left)
{
    size_t n;
    switch (c->mode) {
    case FUZZ_CUT_WHOLE:
        n = left;
        break;
    case FUZZ_CUT_BYTES:
        n = 1;
        break;
    case FUZZ_CUT_SMALL:
        n = 1 + fuzz_rand(c) % 16;
        break;
    default:
        n = 1 + fuzz_rand(c) % 256;
        break;
    }
    return n < left ? n : left;
}

/* A copy of data[0..len) in a buffer of exactly len bytes (see the file
 * comment); the caller frees it. Aborts when out of memory. */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    FUZZ_CHECK(p != NULL);
    if (len) memcpy(p, data, len);
    return p;
}

#endif

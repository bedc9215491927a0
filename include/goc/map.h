/* goc/map.h: Go's hash map (the bucketed map of Go up to 1.23, src/runtime/map.go;
 * doc/go-rules.md 9.1-9.3).
 *
 * Keys and values are fixed-size byte blobs of any size, copied into the
 * map. A goc_map_type says how to hash and compare keys; built-in ones
 * cover integers, C strings (the key is a `const char *`, whose characters
 * are hashed and compared; the map does not own them) and raw bytes.
 *
 * Like Go's map: 8-slot buckets with an 8-bit tophash per slot and overflow
 * buckets; the table doubles when the average load would pass 6.5, or is
 * rebuilt at the same size when overflow buckets pile up, and entries move
 * to the new table a bucket or two per write (incremental evacuation); each
 * map has its own random hash seed, and each iteration starts at a random
 * bucket and slot. A map is not safe for concurrent use: a write that sees
 * another write in progress is a fatal error ("concurrent map writes"), as
 * are reads and iterations that see one. Unlike Go, large keys and values
 * are stored inline too (Go stores those over 128 bytes behind a pointer):
 * without a collector an indirect key could not be freed while an iterator
 * still reads an old table.
 *
 * Pointers to values (goc_map_get, goc_map_assign, an iterator's key and
 * val) stay valid until the next write to the map.
 *
 * Ownership: goc_map_make returns a map the caller frees with goc_map_free.
 * Running out of memory is fatal, as in Go.
 */
#ifndef GOC_MAP_H
#define GOC_MAP_H

#include "goc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_map goc_map;

/* Hash of the keysize bytes at key, mixed with the map's seed. */
typedef uint64_t (*goc_map_hash_fn)(const void *key, size_t keysize, uint64_t seed);
/* Whether the keys at a and b are equal (must agree with the hash). */
typedef bool (*goc_map_equal_fn)(const void *a, const void *b, size_t keysize);

typedef struct goc_map_type {
    size_t keysize;         /* bytes per key (> 0) */
    size_t valsize;         /* bytes per value (may be 0: a set) */
    goc_map_hash_fn hash;   /* NULL: goc_map_hash_bytes */
    goc_map_equal_fn equal; /* NULL: goc_map_equal_bytes */
} goc_map_type;

/* Built-ins. Integers of 1, 2, 4 or 8 bytes (other sizes hash as bytes). */
GOC_API uint64_t goc_map_hash_int(const void *key, size_t keysize, uint64_t seed);
GOC_API uint64_t goc_map_hash_bytes(const void *key, size_t keysize, uint64_t seed);
GOC_API bool goc_map_equal_bytes(const void *a, const void *b, size_t keysize);
/* The key is a `const char *` (keysize sizeof(char *)); NULL equals only NULL. */
GOC_API uint64_t goc_map_hash_str(const void *key, size_t keysize, uint64_t seed);
GOC_API bool goc_map_equal_str(const void *a, const void *b, size_t keysize);
/* Hashes n bytes (for user hash functions). */
GOC_API uint64_t goc_hash_bytes(const void *p, size_t n, uint64_t seed);

/* Type initialisers: GOC_MAP_INT(int64_t, double), GOC_MAP_STR(int). */
#define GOC_MAP_INT(K, V) ((goc_map_type){sizeof(K), sizeof(V), goc_map_hash_int, goc_map_equal_bytes})
#define GOC_MAP_STR(V) ((goc_map_type){sizeof(char *), sizeof(V), goc_map_hash_str, goc_map_equal_str})
#define GOC_MAP_BYTES(K, V) ((goc_map_type){sizeof(K), sizeof(V), goc_map_hash_bytes, goc_map_equal_bytes})

/* make(map[K]V, hint): a map sized for hint entries without growing.
 * *t is copied. Panics "makemap: size out of range" for an absurd hint;
 * a keysize of 0 panics "makemap: bad key size". */
GOC_API goc_map *goc_map_make(const goc_map_type *t, size_t hint);

/* Frees the map and its tables (NULL: no-op). Outstanding iterators and
 * value pointers become invalid. */
GOC_API void goc_map_free(goc_map *m);

/* len(m); 0 for NULL. */
GOC_API size_t goc_map_len(const goc_map *m);

/* The value stored under key, or NULL when absent (m may be NULL). */
GOC_API void *goc_map_get(goc_map *m, const void *key);

/* The value slot for key, inserting key with a zeroed value when absent
 * (sets *inserted if inserted is not NULL). m NULL panics "assignment to
 * entry in nil map". */
GOC_API void *goc_map_assign(goc_map *m, const void *key, bool *inserted);

/* m[key] = *val (valsize bytes). */
GOC_API void goc_map_set(goc_map *m, const void *key, const void *val);

/* delete(m, key): returns whether key was present. */
GOC_API bool goc_map_delete(goc_map *m, const void *key);

/* Iteration, in Go's order (random start). Entries added during an
 * iteration may or may not be seen; deleted ones not yet reached are not;
 * every other entry is seen exactly once.
 *     goc_map_iter it;
 *     for (goc_map_iter_init(&it, m); goc_map_iter_next(&it);) use(it.key, it.val);
 * An iteration abandoned before goc_map_iter_next returned false must be
 * ended with goc_map_iter_done (else the map keeps retired tables until it
 * is freed). */
typedef struct goc_map_iter {
    void *key; /* current entry, valid until the next write or call */
    void *val;
    /* private */
    goc_map *m_;
    unsigned char *buckets_; /* the table being walked (m's when it started) */
    unsigned char *bptr_;    /* current bucket, NULL: take the next */
    uintptr_t start_, bucket_, check_;
    uint8_t offset_, B_, i_;
    bool wrapped_, active_;
} goc_map_iter;

GOC_API void goc_map_iter_init(goc_map_iter *it, goc_map *m);
GOC_API bool goc_map_iter_next(goc_map_iter *it);
GOC_API void goc_map_iter_done(goc_map_iter *it);

/* Statistics for tests: log2 of the bucket count, overflow buckets, and
 * whether a grow is in progress. */
typedef struct goc_map_info {
    uint8_t B;
    uint32_t noverflow;
    bool growing;
    bool same_size_grow;
    uint64_t seed;
    uint32_t grows;           /* doublings so far */
    uint32_t same_size_grows; /* same-size rebuilds so far */
} goc_map_info;
GOC_API void goc_map_info_read(const goc_map *m, goc_map_info *out);

#ifdef __cplusplus
}
#endif
#endif

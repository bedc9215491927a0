/* map.c: Go's bucketed hash map (src/runtime/map.go up to Go 1.23;
 * doc/go-rules.md 9.1-9.3), written for explicit memory.
 *
 * A table is 2^B buckets. A bucket holds tophash[8], then 8 keys, then 8
 * values, then a pointer to an overflow bucket. tophash is the hash's top
 * byte (plus 5 if below 5); values 0-4 mark slots: emptyRest (this and all
 * later slots of the chain are empty), emptyOne, evacuatedX, evacuatedY
 * (moved to the same or the upper half of the new table), evacuatedEmpty.
 * The low B bits of the hash pick the bucket.
 *
 * Growth: an insert that would make count > 8 and count > 6.5 * 2^B doubles
 * the table; one that finds 2^min(B,15) overflow buckets rebuilds it at the
 * same size. The old table stays as `oldbuckets` and each later write
 * evacuates the bucket it touches plus the next not-yet-moved one
 * (nevacuate), so no single write pays for the whole move. Lookups read the
 * old bucket while it has not moved.
 *
 * Memory (what Go leaves to its collector): bucket arrays and overflow
 * buckets come from goc_malloc. A fully evacuated old table is freed at
 * once when no iterator is live; otherwise it goes on `retired` until the
 * last iterator ends, because an iterator started before the grow walks it.
 * Evacuation never clears the old buckets, so such an iterator still reads
 * their keys and looks the live entries up in the new table.
 *
 * Invariants:
 *  - count is the number of live entries; every live key is in exactly one
 *    of: an unevacuated old bucket, or the new table.
 *  - oldbuckets != NULL iff a grow is in progress; all old buckets below
 *    nevacuate are evacuated.
 *  - flags & WRITING is set only inside a write (a relaxed-atomic flag:
 *    detecting misuse, not synchronising).
 */
#include "goc/map.h"

#include "goc/malloc.h"
#include "goc/sched.h"
#include "mem.h"
#include "runtime.h"

#include <string.h>

#define BUCKET_CNT 8
#define MIN_TOPHASH 5
enum { EMPTY_REST = 0, EMPTY_ONE = 1, EVAC_X = 2, EVAC_Y = 3, EVAC_EMPTY = 4 };
enum { WRITING = 1, SAME_SIZE_GROW = 2 };
enum { KIND_GENERIC, KIND_U64, KIND_U32 };
#define NO_CHECK ((uintptr_t)1 << (8 * sizeof(uintptr_t) - 1))

#define INLINE static inline __attribute__((always_inline))

typedef unsigned char bucket; /* a bucket is bytes laid out as above */

typedef struct retired {
    struct retired *next;
    bucket *buckets;
    uint8_t B;
} retired;

struct goc_map {
    size_t count;            /* live entries */
    _Atomic uint8_t flags;   /* WRITING, SAME_SIZE_GROW */
    uint8_t B;               /* log2 of the bucket count */
    uint8_t kind;            /* KIND_*: inlined hash/equality */
    uint32_t noverflow;      /* overflow buckets made since the table was built */
    uint64_t seed;           /* hash0 */
    bucket *buckets;         /* 2^B buckets */
    bucket *oldbuckets;      /* previous table while growing, else NULL */
    uintptr_t nevacuate;     /* old buckets below this are evacuated */
    uint8_t oldB;            /* log2 of the old table's bucket count */
    uint32_t iterators;      /* live iterators */
    retired *retired;        /* old tables kept for live iterators */
    uint32_t grows, same_size_grows; /* statistics */
    size_t keysize, valsize; /* bytes per key and value */
    size_t valoff, ovfoff, bucketsize; /* bucket layout */
    goc_map_hash_fn hash;
    goc_map_equal_fn equal;
};

/* ---- layout helpers ----------------------------------------------------- */

static inline uint8_t *tophash(bucket *b)
{
    return b;
}
static inline void *bkey(const goc_map *m, bucket *b, size_t i)
{
    return b + BUCKET_CNT + i * m->keysize;
}
static inline void *bval(const goc_map *m, bucket *b, size_t i)
{
    return b + m->valoff + i * m->valsize;
}
static inline bucket *overflow(const goc_map *m, bucket *b)
{
    bucket *o;
    memcpy(&o, b + m->ovfoff, sizeof o);
    return o;
}
static inline void set_overflow(const goc_map *m, bucket *b, bucket *o)
{
    memcpy(b + m->ovfoff, &o, sizeof o);
}
static inline bucket *bucket_at(const goc_map *m, bucket *arr, uintptr_t i)
{
    return arr + i * m->bucketsize;
}
static inline bool is_empty(uint8_t t)
{
    return t <= EMPTY_ONE;
}
static inline bool evacuated(bucket *b)
{
    uint8_t h = tophash(b)[0];
    return h > EMPTY_ONE && h < MIN_TOPHASH;
}
static inline uint8_t top_of(uint64_t hash)
{
    uint8_t t = (uint8_t)(hash >> 56);
    return t < MIN_TOPHASH ? (uint8_t)(t + MIN_TOPHASH) : t;
}
static inline uintptr_t mask(uint8_t B)
{
    return ((uintptr_t)1 << B) - 1;
}

static inline uint64_t hash_key(const goc_map *m, const void *k)
{
    if (m->kind == KIND_U64) {
        uint64_t v;
        memcpy(&v, k, 8);
        return goc__hash_u64(v, m->seed);
    }
    if (m->kind == KIND_U32) {
        uint32_t v;
        memcpy(&v, k, 4);
        return goc__hash_u64(v, m->seed);
    }
    return m->hash(k, m->keysize, m->seed);
}

static inline bool key_eq(const goc_map *m, const void *a, const void *b)
{
    if (m->kind == KIND_U64)
        return memcmp(a, b, 8) == 0;
    if (m->kind == KIND_U32)
        return memcmp(a, b, 4) == 0;
    return m->equal(a, b, m->keysize);
}

/* The same with the kind known at compile time: the hot paths are
 * instantiated for KIND_U64 (8-byte keys: fixed key offsets, values at 72,
 * the hash inlined) and for KIND_GENERIC (which dispatches on m->kind). */
INLINE void *bkey_k(const goc_map *m, bucket *b, size_t i, int kind)
{
    return b + BUCKET_CNT + i * (kind == KIND_U64 ? 8 : m->keysize);
}
INLINE void *bval_k(const goc_map *m, bucket *b, size_t i, int kind)
{
    return b + (kind == KIND_U64 ? BUCKET_CNT + 8 * BUCKET_CNT : m->valoff) + i * m->valsize;
}
INLINE uint64_t hash_key_k(const goc_map *m, const void *k, int kind)
{
    if (kind == KIND_U64) {
        uint64_t v;
        memcpy(&v, k, 8);
        return goc__hash_u64(v, m->seed);
    }
    return hash_key(m, k);
}
INLINE bool key_eq_k(const goc_map *m, const void *a, const void *b, int kind)
{
    return kind == KIND_U64 ? memcmp(a, b, 8) == 0 : key_eq(m, a, b);
}
INLINE void copy_key_k(const goc_map *m, void *dst, const void *src, int kind)
{
    memcpy(dst, src, kind == KIND_U64 ? 8 : m->keysize);
}

static uint64_t rand64(void)
{
    return goc__fastrand64();
}

/* ---- misuse checks (Go's hashWriting) -------------------------------------- */

static inline void write_begin(goc_map *m)
{
    uint8_t f = atomic_load_explicit(&m->flags, memory_order_relaxed);
    if (f & WRITING)
        goc_fatal("concurrent map writes");
    atomic_store_explicit(&m->flags, f | WRITING, memory_order_relaxed);
}

static inline void write_end(goc_map *m)
{
    uint8_t f = atomic_load_explicit(&m->flags, memory_order_relaxed);
    if (!(f & WRITING))
        goc_fatal("concurrent map writes");
    atomic_store_explicit(&m->flags, f & ~WRITING, memory_order_relaxed);
}

static inline void read_check(goc_map *m, const char *what)
{
    if (atomic_load_explicit(&m->flags, memory_order_relaxed) & WRITING)
        goc_fatal(what);
}

static inline bool same_size_grow(goc_map *m)
{
    return atomic_load_explicit(&m->flags, memory_order_relaxed) & SAME_SIZE_GROW;
}

/* ---- tables ------------------------------------------------------------------- */

static bucket *new_bucket_array(goc_map *m, uint8_t B)
{
    bucket *a = goc_calloc((size_t)1 << B, m->bucketsize);
    if (!a)
        goc_fatal("out of memory");
    return a;
}

static void free_bucket_array(goc_map *m, bucket *arr, uint8_t B)
{
    for (uintptr_t i = 0; i <= mask(B); i++) {
        bucket *o = overflow(m, bucket_at(m, arr, i));
        while (o) {
            bucket *next = overflow(m, o);
            goc_free(o);
            o = next;
        }
    }
    goc_free(arr);
}

static bucket *new_overflow(goc_map *m, bucket *b)
{
    bucket *o = goc_calloc(1, m->bucketsize);
    if (!o)
        goc_fatal("out of memory");
    m->noverflow++;
    set_overflow(m, b, o);
    return o;
}

static inline bool over_load_factor(size_t count, uint8_t B)
{
    /* count > 8 && count > 6.5 * 2^B, as loadFactorNum*(2^B/loadFactorDen) */
    return count > BUCKET_CNT && count > 13 * (((size_t)1 << B) / 2);
}

static inline bool too_many_overflow(uint32_t noverflow, uint8_t B)
{
    return noverflow >= (uint32_t)1 << (B > 15 ? 15 : B);
}

static void release_old(goc_map *m)
{
    if (m->iterators == 0) {
        free_bucket_array(m, m->oldbuckets, m->oldB);
    } else {
        retired *r = goc_malloc(sizeof *r);
        if (!r)
            goc_fatal("out of memory");
        *r = (retired){m->retired, m->oldbuckets, m->oldB};
        m->retired = r;
    }
    m->oldbuckets = NULL;
}

static void free_retired(goc_map *m)
{
    while (m->retired) {
        retired *r = m->retired;
        m->retired = r->next;
        free_bucket_array(m, r->buckets, r->B);
        goc_free(r);
    }
}

goc_map *goc_map_make(const goc_map_type *t, size_t hint)
{
    if (!t || t->keysize == 0)
        goc_panic("makemap: bad key size");
    if (hint > ((size_t)1 << 40))
        goc_panic("makemap: size out of range");
    goc_map *m = goc_calloc(1, sizeof *m);
    if (!m)
        goc_fatal("out of memory");
    m->keysize = t->keysize;
    m->valsize = t->valsize;
    m->hash = t->hash ? t->hash : goc_map_hash_bytes;
    m->equal = t->equal ? t->equal : goc_map_equal_bytes;
    if (m->hash == goc_map_hash_int && m->equal == goc_map_equal_bytes)
        m->kind = t->keysize == 8 ? KIND_U64 : t->keysize == 4 ? KIND_U32 : KIND_GENERIC;
    size_t valalign = t->valsize >= 8 ? 8 : t->valsize >= 4 ? 4 : t->valsize >= 2 ? 2 : 1;
    m->valoff = (BUCKET_CNT + BUCKET_CNT * t->keysize + valalign - 1) & ~(valalign - 1);
    m->ovfoff = (m->valoff + BUCKET_CNT * t->valsize + 7) & ~(size_t)7;
    m->bucketsize = m->ovfoff + sizeof(void *);
    m->seed = rand64();
    uint8_t B = 0;
    while (over_load_factor(hint, B))
        B++;
    m->B = B;
    if (B)
        m->buckets = new_bucket_array(m, B);
    return m;
}

void goc_map_free(goc_map *m)
{
    if (!m)
        return;
    if (m->buckets)
        free_bucket_array(m, m->buckets, m->B);
    if (m->oldbuckets)
        free_bucket_array(m, m->oldbuckets, m->oldB);
    free_retired(m);
    goc_free(m);
}

size_t goc_map_len(const goc_map *m)
{
    return m ? m->count : 0;
}

void goc_map_info_read(const goc_map *m, goc_map_info *out)
{
    out->B = m->B;
    out->noverflow = m->noverflow;
    out->growing = m->oldbuckets != NULL;
    out->same_size_grow = atomic_load_explicit(&((goc_map *)m)->flags, memory_order_relaxed) & SAME_SIZE_GROW;
    out->seed = m->seed;
    out->grows = m->grows;
    out->same_size_grows = m->same_size_grows;
}

/* ---- lookup ------------------------------------------------------------------------ */

/* The slot holding key (its key and value), or NULL. */
INLINE bucket *find_k(goc_map *m, const void *key, uint64_t hash, size_t *slot, int kind)
{
    uintptr_t msk = mask(m->B);
    bucket *b = bucket_at(m, m->buckets, hash & msk);
    if (m->oldbuckets) {
        bucket *ob = bucket_at(m, m->oldbuckets, hash & mask(m->oldB));
        if (!evacuated(ob))
            b = ob;
    }
    uint8_t top = top_of(hash);
    for (; b; b = overflow(m, b))
        for (size_t i = 0; i < BUCKET_CNT; i++) {
            uint8_t t = tophash(b)[i];
            if (t != top) {
                if (t == EMPTY_REST)
                    return NULL;
                continue;
            }
            if (key_eq_k(m, key, bkey_k(m, b, i, kind), kind)) {
                *slot = i;
                return b;
            }
        }
    return NULL;
}

static bucket *find(goc_map *m, const void *key, uint64_t hash, size_t *slot)
{
    if (m->kind == KIND_U64)
        return find_k(m, key, hash, slot, KIND_U64);
    return find_k(m, key, hash, slot, KIND_GENERIC);
}

void *goc_map_get(goc_map *m, const void *key)
{
    if (!m || m->count == 0)
        return NULL;
    read_check(m, "concurrent map read and map write");
    size_t i;
    if (m->kind == KIND_U64) {
        bucket *b = find_k(m, key, hash_key_k(m, key, KIND_U64), &i, KIND_U64);
        return b ? bval_k(m, b, i, KIND_U64) : NULL;
    }
    bucket *b = find(m, key, hash_key(m, key), &i);
    return b ? bval(m, b, i) : NULL;
}

/* ---- growing ---------------------------------------------------------------------------- */

static void hash_grow(goc_map *m)
{
    uint8_t bigger = 1;
    if (!over_load_factor(m->count + 1, m->B)) {
        bigger = 0;
        atomic_fetch_or_explicit(&m->flags, SAME_SIZE_GROW, memory_order_relaxed);
    }
    if (bigger)
        m->grows++;
    else
        m->same_size_grows++;
    m->oldbuckets = m->buckets;
    m->oldB = m->B;
    m->B = (uint8_t)(m->B + bigger);
    m->buckets = new_bucket_array(m, m->B);
    m->nevacuate = 0;
    m->noverflow = 0;
}

typedef struct evac_dst {
    bucket *b;  /* current destination bucket */
    size_t i;   /* next slot in it */
} evac_dst;

INLINE void evac_put(goc_map *m, evac_dst *d, uint8_t top, bucket *src, size_t i, int kind)
{
    if (d->i == BUCKET_CNT) {
        d->b = new_overflow(m, d->b);
        d->i = 0;
    }
    tophash(d->b)[d->i] = top;
    copy_key_k(m, bkey_k(m, d->b, d->i, kind), bkey_k(m, src, i, kind), kind);
    memcpy(bval_k(m, d->b, d->i, kind), bval_k(m, src, i, kind), m->valsize);
    d->i++;
}

static bool bucket_evacuated(goc_map *m, uintptr_t i)
{
    return evacuated(bucket_at(m, m->oldbuckets, i));
}

/* Moves old bucket ob (and its overflow chain) into the new table. */
INLINE void evacuate_k(goc_map *m, uintptr_t ob, int kind)
{
    bucket *b = bucket_at(m, m->oldbuckets, ob);
    uintptr_t newbit = (uintptr_t)1 << m->oldB;
    bool same = same_size_grow(m);
    if (!evacuated(b)) {
        evac_dst xy[2] = {{bucket_at(m, m->buckets, ob), 0}, {NULL, 0}};
        if (!same)
            xy[1].b = bucket_at(m, m->buckets, ob + newbit);
        for (; b; b = overflow(m, b))
            for (size_t i = 0; i < BUCKET_CNT; i++) {
                uint8_t top = tophash(b)[i];
                if (is_empty(top)) {
                    tophash(b)[i] = EVAC_EMPTY;
                    continue;
                }
                if (top < MIN_TOPHASH)
                    goc_fatal("bad map state");
                int y = !same && (hash_key_k(m, bkey_k(m, b, i, kind), kind) & newbit) != 0;
                tophash(b)[i] = (uint8_t)(EVAC_X + y);
                evac_put(m, &xy[y], top, b, i, kind);
            }
    }
    if (ob == m->nevacuate) {
        m->nevacuate++;
        uintptr_t stop = m->nevacuate + 1024;
        if (stop > newbit)
            stop = newbit;
        while (m->nevacuate != stop && bucket_evacuated(m, m->nevacuate))
            m->nevacuate++;
        if (m->nevacuate == newbit) {
            release_old(m);
            atomic_fetch_and_explicit(&m->flags, (uint8_t)~SAME_SIZE_GROW, memory_order_relaxed);
        }
    }
}

static void evacuate(goc_map *m, uintptr_t ob)
{
    if (m->kind == KIND_U64)
        evacuate_k(m, ob, KIND_U64);
    else
        evacuate_k(m, ob, KIND_GENERIC);
}

static void grow_work(goc_map *m, uintptr_t bucket_idx)
{
    evacuate(m, bucket_idx & mask(m->oldB));
    if (m->oldbuckets)
        evacuate(m, m->nevacuate);
}

/* ---- writes --------------------------------------------------------------------------------- */

INLINE void *assign_k(goc_map *m, const void *key, bool *inserted, int kind)
{
    write_begin(m);
    uint64_t hash = hash_key_k(m, key, kind);
    if (!m->buckets)
        m->buckets = new_bucket_array(m, m->B);
    uint8_t top = top_of(hash);
    void *val = NULL;
again:;
    uintptr_t bi = hash & mask(m->B);
    if (m->oldbuckets)
        grow_work(m, bi);
    bucket *b = bucket_at(m, m->buckets, bi);
    uint8_t *ins = NULL;
    void *inskey = NULL;
    for (;;) {
        for (size_t i = 0; i < BUCKET_CNT; i++) {
            uint8_t t = tophash(b)[i];
            if (t != top) {
                if (is_empty(t) && !ins) {
                    ins = &tophash(b)[i];
                    inskey = bkey_k(m, b, i, kind);
                    val = bval_k(m, b, i, kind);
                }
                if (t == EMPTY_REST)
                    goto notfound;
                continue;
            }
            if (!key_eq_k(m, key, bkey_k(m, b, i, kind), kind))
                continue;
            val = bval_k(m, b, i, kind);
            if (inserted)
                *inserted = false;
            goto done;
        }
        bucket *o = overflow(m, b);
        if (!o)
            break;
        b = o;
    }
notfound:
    if (!m->oldbuckets && (over_load_factor(m->count + 1, m->B) || too_many_overflow(m->noverflow, m->B))) {
        hash_grow(m);
        goto again;
    }
    if (!ins) {
        bucket *o = new_overflow(m, b);
        ins = &tophash(o)[0];
        inskey = bkey_k(m, o, 0, kind);
        val = bval_k(m, o, 0, kind);
    }
    copy_key_k(m, inskey, key, kind);
    memset(val, 0, m->valsize);
    *ins = top;
    m->count++;
    if (inserted)
        *inserted = true;
done:
    write_end(m);
    return val;
}

void *goc_map_assign(goc_map *m, const void *key, bool *inserted)
{
    if (!m)
        goc_panic("assignment to entry in nil map");
    if (m->kind == KIND_U64)
        return assign_k(m, key, inserted, KIND_U64);
    return assign_k(m, key, inserted, KIND_GENERIC);
}

void goc_map_set(goc_map *m, const void *key, const void *val)
{
    void *slot = goc_map_assign(m, key, NULL);
    memcpy(slot, val, m->valsize);
}

/* After slot i of b became empty: if nothing live follows it in the chain,
 * turn the trailing emptyOne run into emptyRest (Go's mapdelete). */
static void mark_rest(goc_map *m, bucket *first, bucket *b, size_t i)
{
    if (i == BUCKET_CNT - 1) {
        bucket *o = overflow(m, b);
        if (o && tophash(o)[0] != EMPTY_REST)
            return;
    } else if (tophash(b)[i + 1] != EMPTY_REST) {
        return;
    }
    for (;;) {
        tophash(b)[i] = EMPTY_REST;
        if (i == 0) {
            if (b == first)
                return;
            bucket *c = b;
            for (b = first; overflow(m, b) != c; b = overflow(m, b)) {
            }
            i = BUCKET_CNT - 1;
        } else {
            i--;
        }
        if (tophash(b)[i] != EMPTY_ONE)
            return;
    }
}

bool goc_map_delete(goc_map *m, const void *key)
{
    if (!m || m->count == 0)
        return false;
    write_begin(m);
    uint64_t hash = hash_key(m, key);
    uintptr_t bi = hash & mask(m->B);
    if (m->oldbuckets)
        grow_work(m, bi);
    bucket *first = bucket_at(m, m->buckets, bi);
    uint8_t top = top_of(hash);
    bool found = false;
    for (bucket *b = first; b && !found; b = overflow(m, b))
        for (size_t i = 0; i < BUCKET_CNT; i++) {
            uint8_t t = tophash(b)[i];
            if (t != top) {
                if (t == EMPTY_REST)
                    goto out;
                continue;
            }
            if (!key_eq(m, key, bkey(m, b, i)))
                continue;
            memset(bkey(m, b, i), 0, m->keysize);
            memset(bval(m, b, i), 0, m->valsize);
            tophash(b)[i] = EMPTY_ONE;
            mark_rest(m, first, b, i);
            m->count--;
            if (m->count == 0)
                m->seed = rand64(); /* Go re-seeds an emptied map */
            found = true;
            break;
        }
out:
    write_end(m);
    return found;
}

/* ---- iteration ------------------------------------------------------------------------------------ */

static void iter_end(goc_map_iter *it)
{
    it->key = it->val = NULL;
    if (it->active_) {
        it->active_ = false;
        goc_map *m = it->m_;
        if (--m->iterators == 0)
            free_retired(m);
    }
}

void goc_map_iter_init(goc_map_iter *it, goc_map *m)
{
    memset(it, 0, sizeof *it);
    it->m_ = m;
    if (!m || m->count == 0)
        return;
    it->active_ = true;
    m->iterators++;
    it->B_ = m->B;
    it->buckets_ = m->buckets;
    uint64_t r = rand64();
    it->start_ = (uintptr_t)(r & mask(m->B));
    it->offset_ = (uint8_t)((r >> m->B) & (BUCKET_CNT - 1));
    it->bucket_ = it->start_;
}

bool goc_map_iter_next(goc_map_iter *it)
{
    goc_map *m = it->m_;
    if (!it->active_)
        return false;
    read_check(m, "concurrent map iteration and map write");
    uintptr_t bi = it->bucket_, check = it->check_;
    bucket *b = it->bptr_;
    size_t i = it->i_;
    for (;;) {
        if (!b) {
            if (bi == it->start_ && it->wrapped_) {
                iter_end(it);
                return false;
            }
            if (m->oldbuckets && it->B_ == m->B) {
                /* Started after the grow began: walk the old bucket while it
                 * has not moved, keeping only entries bound for bucket bi. */
                bucket *ob = bucket_at(m, m->oldbuckets, bi & mask(m->oldB));
                if (!evacuated(ob)) {
                    b = ob;
                    check = bi;
                } else {
                    b = bucket_at(m, it->buckets_, bi);
                    check = NO_CHECK;
                }
            } else {
                b = bucket_at(m, it->buckets_, bi);
                check = NO_CHECK;
            }
            bi++;
            if (bi == ((uintptr_t)1 << it->B_)) {
                bi = 0;
                it->wrapped_ = true;
            }
            i = 0;
        }
        for (; i < BUCKET_CNT; i++) {
            size_t off = (i + it->offset_) & (BUCKET_CNT - 1);
            uint8_t t = tophash(b)[off];
            if (is_empty(t) || t == EVAC_EMPTY)
                continue;
            void *k = bkey(m, b, off);
            if (check != NO_CHECK && !same_size_grow(m) && (hash_key(m, k) & mask(it->B_)) != check)
                continue;
            if (t != EVAC_X && t != EVAC_Y) {
                it->key = k;
                it->val = bval(m, b, off);
            } else {
                /* The table grew since this iteration began: the entry's
                 * live copy is elsewhere, or it was deleted. */
                size_t slot;
                bucket *lb = find(m, k, hash_key(m, k), &slot);
                if (!lb)
                    continue;
                it->key = bkey(m, lb, slot);
                it->val = bval(m, lb, slot);
            }
            it->bucket_ = bi;
            it->bptr_ = b;
            it->i_ = (uint8_t)(i + 1);
            it->check_ = check;
            return true;
        }
        b = overflow(m, b);
        i = 0;
    }
}

void goc_map_iter_done(goc_map_iter *it)
{
    iter_end(it);
}

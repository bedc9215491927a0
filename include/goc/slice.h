/* goc/slice.h: Go's slices over elements of any size.
 *
 * A slice is a header {array, len, cap} passed by value, as in Go: len
 * elements of elemsize bytes are in use at array, and cap elements fit
 * before the array must grow. Sub-slicing shares the backing array;
 * appending within cap writes into it (visible to every slice sharing it);
 * appending past cap allocates a new array with Go's growth rule since 1.18
 * (growslice in Go's src/runtime/slice.go; doc/go-rules.md 9.5): double
 * below 256 elements, then grow by about 1.25x plus 192 elements, never
 * less than needed, and round the bytes up to the allocator's size class
 * (goc_malloc_roundup), keeping whatever extra elements that gives.
 *
 * Ownership: there is no collector. goc_slice_append leaves the old array
 * alone (other slices may share it); the caller frees arrays it owns with
 * goc_slice_free once no slice uses them. goc_slice_push is the in-place
 * form for a slice that owns its array alone: it frees the old array when
 * it grows.
 *
 * Errors are Go's: out-of-range indexes and bounds panic (goc_panic) with
 * Go's messages, e.g. "runtime error: index out of range [5] with length 3";
 * a length or capacity that cannot be allocated panics "makeslice: len out
 * of range" or "growslice: cap out of range"; no memory is fatal.
 * An elemsize of 0 is allowed: such slices share one static array.
 */
#ifndef GOC_SLICE_H
#define GOC_SLICE_H

#include "goc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_slice {
    void *array; /* first element; NULL for a nil slice */
    size_t len;  /* elements in use */
    size_t cap;  /* elements that fit in the array from `array` on */
} goc_slice;

/* make([]T, len, cap): zeroed elements; cap < len panics
 * "makeslice: cap out of range". The caller owns the array. */
GOC_API goc_slice goc_slice_make(size_t elemsize, size_t len, size_t cap);

/* append(s, elems[0..n)...): the result shares s's array when it fits, else
 * owns a new one (s's array is untouched and still owned by its owner). */
GOC_API goc_slice goc_slice_append(goc_slice s, size_t elemsize, const void *elems, size_t n);

/* *s = append(*s, elems...), freeing the old array if it moves: only for a
 * slice that owns its array and shares it with no other slice. */
GOC_API void goc__slice_grow_owned(goc_slice *s, size_t elemsize, size_t n);
static inline void goc_slice_push(goc_slice *s, size_t elemsize, const void *elems, size_t n)
{
    if (__builtin_expect(s->cap - s->len < n, 0))
        goc__slice_grow_owned(s, elemsize, n);
    memcpy((char *)s->array + s->len * elemsize, elems, n * elemsize);
    s->len += n;
}

/* copy(dst, src): copies min(dst.len, src.len) elements (overlap allowed)
 * and returns that count. */
GOC_API size_t goc_slice_copy(goc_slice dst, goc_slice src, size_t elemsize);

/* s[lo:hi] and s[lo:hi:max]: share s's array. Panic with Go's "slice
 * bounds out of range" messages unless lo <= hi <= cap (<= max <= cap). */
GOC_API goc_slice goc_slice_sub(goc_slice s, size_t elemsize, size_t lo, size_t hi);
GOC_API goc_slice goc_slice_sub3(goc_slice s, size_t elemsize, size_t lo, size_t hi, size_t max);

/* &s[i], panicking "index out of range [i] with length len" unless i < len. */
GOC_NORETURN GOC_API void goc__panic_index(size_t i, size_t len);
static inline void *goc_slice_index(goc_slice s, size_t elemsize, size_t i)
{
    if (__builtin_expect(i >= s.len, 0))
        goc__panic_index(i, s.len);
    return (char *)s.array + i * elemsize;
}

/* The capacity growslice picks when a slice of cap oldcap must hold newlen
 * elements of elemsize bytes (doc/go-rules.md 9.5, rounded to a size class). */
GOC_API size_t goc_slice_next_cap(size_t oldcap, size_t newlen, size_t elemsize);

/* Frees s's array (no-op for nil and zero-size slices) and zeroes *s. */
GOC_API void goc_slice_free(goc_slice *s);

/* Typed helpers. T is the element type. */
#define GOC_SLICE_AT(s, T, i) (*(T *)goc_slice_index((s), sizeof(T), (i)))
#define GOC_SLICE_APPEND(s, T, v) ((s) = goc_slice_append((s), sizeof(T), &(T){v}, 1))
#define GOC_SLICE_PUSH(sp, T, v) goc_slice_push((sp), sizeof(T), &(T){v}, 1)

#ifdef __cplusplus
}
#endif
#endif

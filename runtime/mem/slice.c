/* slice.c: Go's slice operations (src/runtime/slice.go; doc/go-rules.md 9.5).
 *
 * growslice's rule since Go 1.18, as Go 1.19 writes it: newcap = newlen if
 * newlen > 2*oldcap; else 2*oldcap below 256; else grow newcap by
 * (newcap + 3*256)/4 until it reaches newlen (newlen on overflow). The byte
 * size is then rounded up to a size class (or whole pages above 32 KiB) and
 * the capacity becomes what fits in it. test slice_test compares the
 * capacities with a Go program's for several element sizes.
 *
 * Panic messages are formatted into a block from goc_malloc that is never
 * freed: the panic keeps pointing at it, as Go's boundsError value lives
 * on after the panic.
 */
#include "goc/slice.h"

#include "goc/malloc.h"
#include "goc/sched.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static char zerobase[8] __attribute__((aligned(16))); /* array of zero-size slices */

__attribute__((format(printf, 1, 2))) _Noreturn static void panicf(const char *fmt, ...)
{
    char *msg = goc_malloc(128);
    if (!msg)
        goc_panic("runtime error: slice bounds out of range");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, 128, fmt, ap);
    va_end(ap);
    goc_panic(msg);
}

_Noreturn void goc__panic_index(size_t i, size_t len)
{
    panicf("runtime error: index out of range [%zu] with length %zu", i, len);
}

static void *alloc_array(size_t bytes)
{
    void *p = goc_malloc(bytes);
    if (!p)
        goc_fatal("out of memory");
    return p;
}

goc_slice goc_slice_make(size_t elemsize, size_t len, size_t cap)
{
    size_t bytes;
    if (elemsize == 0) {
        if (len > cap)
            goc_panic("makeslice: cap out of range");
        return (goc_slice){zerobase, len, cap};
    }
    if (__builtin_mul_overflow(elemsize, cap, &bytes) || bytes > ((size_t)1 << 47)) {
        if (__builtin_mul_overflow(elemsize, len, &bytes) || bytes > ((size_t)1 << 47))
            goc_panic("makeslice: len out of range");
        goc_panic("makeslice: cap out of range");
    }
    if (len > cap)
        goc_panic("makeslice: cap out of range");
    void *a = goc_calloc(1, bytes ? bytes : 1);
    if (!a)
        goc_fatal("out of memory");
    return (goc_slice){a, len, cap};
}

size_t goc_slice_next_cap(size_t oldcap, size_t newlen, size_t elemsize)
{
    size_t newcap = oldcap;
    size_t doublecap = oldcap + oldcap;
    if (newlen > doublecap || doublecap < oldcap) {
        newcap = newlen;
    } else if (oldcap < 256) {
        newcap = doublecap;
    } else {
        while (newcap < newlen) {
            size_t next = newcap + (newcap + 3 * 256) / 4;
            if (next < newcap) { /* overflow: Go's newcap <= 0 */
                newcap = newlen;
                break;
            }
            newcap = next;
        }
    }
    if (elemsize == 0)
        return newcap;
    size_t bytes;
    if (__builtin_mul_overflow(newcap, elemsize, &bytes) || bytes > ((size_t)1 << 47))
        goc_panic("growslice: cap out of range");
    return goc_malloc_roundup(bytes) / elemsize;
}

goc_slice goc_slice_append(goc_slice s, size_t elemsize, const void *elems, size_t n)
{
    size_t newlen;
    if (__builtin_add_overflow(s.len, n, &newlen))
        goc_panic("growslice: len out of range");
    if (newlen > s.cap) {
        size_t cap = goc_slice_next_cap(s.cap, newlen, elemsize);
        void *a = elemsize ? alloc_array(cap * elemsize) : zerobase;
        if (s.len && elemsize)
            memcpy(a, s.array, s.len * elemsize);
        s.array = a;
        s.cap = cap;
    }
    if (n && elemsize)
        memmove((char *)s.array + s.len * elemsize, elems, n * elemsize);
    s.len = newlen;
    return s;
}

void goc__slice_grow_owned(goc_slice *s, size_t elemsize, size_t n)
{
    size_t newlen;
    if (__builtin_add_overflow(s->len, n, &newlen))
        goc_panic("growslice: len out of range");
    size_t cap = goc_slice_next_cap(s->cap, newlen, elemsize);
    if (elemsize == 0) {
        s->array = zerobase;
    } else {
        void *a = alloc_array(cap * elemsize);
        if (s->len)
            memcpy(a, s->array, s->len * elemsize);
        if (s->array != zerobase)
            goc_free(s->array);
        s->array = a;
    }
    s->cap = cap;
}

size_t goc_slice_copy(goc_slice dst, goc_slice src, size_t elemsize)
{
    size_t n = dst.len < src.len ? dst.len : src.len;
    if (n && elemsize)
        memmove(dst.array, src.array, n * elemsize);
    return n;
}

goc_slice goc_slice_sub(goc_slice s, size_t elemsize, size_t lo, size_t hi)
{
    if (hi > s.cap)
        panicf("runtime error: slice bounds out of range [:%zu] with capacity %zu", hi, s.cap);
    if (lo > hi)
        panicf("runtime error: slice bounds out of range [%zu:%zu]", lo, hi);
    return (goc_slice){s.array ? (char *)s.array + lo * elemsize : NULL, hi - lo, s.cap - lo};
}

goc_slice goc_slice_sub3(goc_slice s, size_t elemsize, size_t lo, size_t hi, size_t max)
{
    if (max > s.cap)
        panicf("runtime error: slice bounds out of range [::%zu] with capacity %zu", max, s.cap);
    if (hi > max)
        panicf("runtime error: slice bounds out of range [:%zu:%zu]", hi, max);
    if (lo > hi)
        panicf("runtime error: slice bounds out of range [%zu:%zu:]", lo, hi);
    return (goc_slice){s.array ? (char *)s.array + lo * elemsize : NULL, hi - lo, max - lo};
}

void goc_slice_free(goc_slice *s)
{
    if (s->array && s->array != zerobase)
        goc_free(s->array);
    *s = (goc_slice){NULL, 0, 0};
}

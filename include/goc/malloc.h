/* goc/malloc.h: the runtime's memory allocator.
 *
 * Go's allocator without its collector (Go's src/runtime/malloc.go and
 * sizeclasses.go; doc/go-rules.md 8): requests up to 32 KiB are rounded
 * up to one of Go's 67 size classes and served from a cache
 * private to the calling goroutine's processor (P) without a lock; larger
 * ones get whole 8 KiB pages from the page heap. Memory is freed explicitly
 * with goc_free, from any goroutine, on any P, or from a thread that is not
 * running goroutines at all (libuv's pool, foreign threads, code between
 * goc_syscall_enter and goc_syscall_exit), which takes a locked path. The
 * allocator works before goc_start too. Free pages go back to the kernel
 * (madvise) lazily, about a second after they became free unless reused
 * (a hard limit bounds what is held meanwhile), so the resident size
 * follows the live size; goc_mem_scavenge gives them back at once.
 *
 * Alignment: 8 bytes for every request; a size-class object is also aligned
 * to the largest power of two dividing its class size, up to 8 KiB; large
 * objects (> 32 KiB) are page-aligned.
 *
 * Under AddressSanitizer, free objects and the bytes past the requested
 * size are poisoned, so overflows and use-after-free are reported.
 */
#ifndef GOC_MALLOC_H
#define GOC_MALLOC_H

#include "goc/api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns size bytes (uninitialised), or NULL when the OS refuses memory or
 * size is too large (as malloc, with ENOMEM as the only error). size 0
 * gives a unique minimal object. The caller owns the block until goc_free. */
GOC_API void *goc_malloc(size_t size);

/* goc_malloc of n * size zeroed bytes; NULL on overflow or no memory. */
GOC_API void *goc_calloc(size_t n, size_t size);

/* Resizes p (NULL: goc_malloc(size)) keeping its leading bytes; may move it.
 * size 0 frees p and returns NULL. On NULL otherwise, p is unchanged and
 * still owned by the caller. */
GOC_API void *goc_realloc(void *p, size_t size);

/* Frees a block from goc_malloc, goc_calloc or goc_realloc (NULL: no-op).
 * Any thread may free any block. A pointer that is not the start of a live
 * block is a fatal error when detected (always for large blocks and for
 * foreign pointers; a double free of a small block is detected when it
 * reaches the central lists, and at once under ASan). */
GOC_API void goc_free(void *p);

/* Usable size of the live block p (>= the size asked for); the caller may
 * use all of it (under ASan this call unpoisons the slack). 0 for NULL. */
GOC_API size_t goc_malloc_usable_size(void *p);

/* Size a request of size bytes really gets: its size class, or whole pages
 * above 32 KiB (Go's roundupsize). Returns size when rounding would
 * overflow. */
GOC_API size_t goc_malloc_roundup(size_t size);

#define GOC_MEM_NUM_CLASSES 68 /* class 0 is "large"; 1..67 are Go's */

/* Per size class counters. */
typedef struct goc_mem_class_stats {
    uint32_t size;        /* object size in bytes */
    uint32_t span_pages;  /* pages per span */
    uint64_t objects;     /* live objects (mallocs - frees) */
    uint64_t mallocs;     /* cumulative */
    uint64_t frees;       /* cumulative */
} goc_mem_class_stats;

/* A snapshot of the allocator's state. Counters of different Ps are read
 * without stopping them, so a snapshot taken while others allocate is only
 * approximately consistent. */
typedef struct goc_mem_stats {
    uint64_t bytes_in_use;   /* live small objects x class size + large blocks' pages */
    uint64_t objects_in_use; /* live blocks, small and large */
    uint64_t large_objects;  /* live large blocks */
    uint64_t large_bytes;    /* their pages, in bytes */
    uint64_t spans_small;    /* spans holding small objects */
    uint64_t spans_large;    /* spans holding one large block */
    uint64_t heap_mapped;    /* address space reserved in 64 MiB arenas */
    uint64_t pages_in_use;   /* 8 KiB pages in spans */
    uint64_t pages_free;     /* free pages in the heap */
    uint64_t pages_released; /* free pages given back to the kernel */
    uint64_t madvise_calls;  /* cumulative */
    uint64_t meta_bytes;     /* the allocator's own records */
    goc_mem_class_stats classes[GOC_MEM_NUM_CLASSES]; /* [0] unused */
} goc_mem_stats;

/* Fills *out. */
GOC_API void goc_mem_stats_read(goc_mem_stats *out);

/* Gives every free page of the page heap back to the kernel now (Go's
 * debug.FreeOSMemory, without a collection: objects freed into the size
 * class caches stay there). Returns the bytes released; never fails. */
GOC_API size_t goc_mem_scavenge(void);

#ifdef __cplusplus
}
#endif
#endif

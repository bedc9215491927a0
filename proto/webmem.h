/* webmem.h: where the HTTP and WebSocket layers get their memory.
 *
 * The runtime's allocator is the one allocator of the process (STYLE 8), but
 * proto/ must not depend on the scheduler being up, so the web layers call
 * through two hooks that default to libc's realloc and free. The server sets
 * them once at start, before any reader or connection exists, to the
 * runtime's allocator.
 *
 * Invariants: the hooks are set before the first allocation and never
 * changed afterwards (memory from one allocator is never freed by another).
 * wslay allocates its own frames with libc malloc; those bytes are bounded by
 * the limits in ws.h but do not pass through these hooks.
 */
#ifndef GOC_PROTO_WEBMEM_H
#define GOC_PROTO_WEBMEM_H

#include <stddef.h>

/* realloc-like (realloc_fn(NULL, n) allocates; returns NULL when out of
 * memory) and free-like hooks. NULL for either restores libc's. Not thread
 * safe: call once, before any other function of http.h or ws.h. */
void goc_web_set_alloc(void *(*realloc_fn)(void *ptr, size_t size), void (*free_fn)(void *ptr));

/* Internal: allocate through the hooks. */
void *goc__web_realloc(void *ptr, size_t size);
void goc__web_free(void *ptr);

#endif

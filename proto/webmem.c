/* webmem.c: the allocation hooks of the web layers (see webmem.h).
 *
 * Invariants: both hooks are always non-NULL after goc_web_set_alloc; until
 * then the NULL values mean libc.
 */
#include "webmem.h"

#include <stdlib.h>

/* Set once at start (see goc_web_set_alloc); NULL means libc's. */
static void *(*web_realloc)(void *, size_t);
static void (*web_free)(void *);

void goc_web_set_alloc(void *(*realloc_fn)(void *ptr, size_t size), void (*free_fn)(void *ptr))
{
    web_realloc = realloc_fn;
    web_free = free_fn;
}

void *goc__web_realloc(void *ptr, size_t size)
{
    return web_realloc ? web_realloc(ptr, size) : realloc(ptr, size);
}

void goc__web_free(void *ptr)
{
    if (web_free)
        web_free(ptr);
    else
        free(ptr);
}

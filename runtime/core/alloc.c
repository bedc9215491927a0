/* alloc.c: core's way to the allocator (runtime.h, "the allocator").
 *
 * runtime/mem registers its calls here before main; until then, and in a
 * program that links no part of runtime/mem, core uses libc's. The table
 * is written once, before any thread but the main one exists, and only
 * read afterwards.
 */
#include "runtime.h"

#include <stdlib.h>

static void no_tick(int64_t now)
{
    (void)now;
}

static void no_start(void)
{
}

static goc__mem_hooks hooks = {malloc, calloc, realloc, free, no_tick, no_start};

void goc__mem_register(const goc__mem_hooks *h)
{
    hooks = *h;
}

void *goc__alloc(size_t n)
{
    return hooks.alloc(n);
}

void *goc__calloc(size_t n, size_t size)
{
    return hooks.calloc(n, size);
}

void *goc__realloc(void *p, size_t n)
{
    return hooks.realloc(p, n);
}

void goc__free(void *p)
{
    hooks.free(p);
}

void goc__mem_tick(int64_t now)
{
    hooks.scavenge_tick(now);
}

void goc__mem_start(void)
{
    hooks.start();
}

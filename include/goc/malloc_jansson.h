/* goc/malloc_jansson.h: makes jansson allocate through goc_malloc.
 *
 * Header-only so that libgoc itself does not depend on jansson: include it
 * where jansson is already a dependency (proto/, the server) and call
 * goc_jansson_use() once, before the first json_* call, as jansson's
 * json_set_alloc_funcs requires. goc_free accepts blocks from any thread,
 * so JSON values may move between goroutines and Ps freely.
 */
#ifndef GOC_MALLOC_JANSSON_H
#define GOC_MALLOC_JANSSON_H

#include <jansson.h>

#include "goc/malloc.h"

static inline void goc_jansson_use(void)
{
    json_set_alloc_funcs(goc_malloc, goc_free);
}

#endif

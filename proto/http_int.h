/* http_int.h: what the files of the HTTP layer share and nobody else sees.
 *
 * Invariants: nothing here allocates or keeps state.
 */
#ifndef GOC_PROTO_HTTP_INT_H
#define GOC_PROTO_HTTP_INT_H

#include <stdbool.h>

/* True for a token character of RFC 9110 (header names, methods). */
bool goc__http_tchar(unsigned char c);

#endif

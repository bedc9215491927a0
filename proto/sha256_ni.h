/* sha256_ni.h: SHA-256 blocks on the CPU's SHA extensions for mbedtls
 * (sha256_ni.c says how). Nothing to call but the question below; calling
 * it is what links the faster block function into a program.
 */
#ifndef GOC_PROTO_SHA256_NI_H
#define GOC_PROTO_SHA256_NI_H

#include <stdbool.h>

/* True when mbedtls's SHA-256 (and so its HMAC, TLS key derivation and
 * token signatures) runs on the SHA extensions; false when it runs its
 * own portable code. No errors. */
bool goc_sha256_accelerated(void);

#endif

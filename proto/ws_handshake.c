/* ws_handshake.c: the opening handshake of ws.h (RFC 6455 section 4.2).
 *
 * The request checks follow section 4.2.1 in order; the accept value is
 * base64(SHA-1(key + GUID)) with mbedtls. Nothing here allocates.
 *
 * Invariants: on any error accept is left unspecified and nothing else is
 * written; the 101 answer is only ever written for an accepted key.
 */
#include "ws.h"

#include <errno.h>
#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <string.h>
#include <strings.h>

/* The GUID every accept value is computed with (RFC 6455 section 1.3). */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int goc_ws_accept_key(const char *key, size_t len, char out[GOC_WS_ACCEPT_LEN + 1])
{
    unsigned char buf[128 + sizeof ws_guid];
    unsigned char digest[20];
    size_t olen = 0;
    if (len == 0 || len > 128)
        return -EINVAL;
    memcpy(buf, key, len);
    memcpy(buf + len, ws_guid, sizeof ws_guid - 1);
    if (mbedtls_sha1_ret(buf, len + sizeof ws_guid - 1, digest) != 0)
        return -EINVAL;
    if (mbedtls_base64_encode((unsigned char *)out, GOC_WS_ACCEPT_LEN + 1, &olen, digest,
                              sizeof digest) != 0 ||
        olen != GOC_WS_ACCEPT_LEN)
        return -EINVAL;
    out[GOC_WS_ACCEPT_LEN] = 0;
    return 0;
}

/* True if header name is present with exactly value (case-insensitive). */
static bool header_is(const goc_http_request_t *req, const char *name, const char *value)
{
    const goc_http_header_t *h = goc_http_header_find(req, name);
    return h && h->value_len == strlen(value) && strncasecmp(h->value, value, h->value_len) == 0;
}

/* True if the key is base64 that decodes to exactly 16 bytes. */
static bool key_valid(const goc_http_header_t *h)
{
    unsigned char raw[24];
    size_t olen = 0;
    if (!h || h->value_len != 24)
        return false;
    if (mbedtls_base64_decode(raw, sizeof raw, &olen, (const unsigned char *)h->value,
                              h->value_len) != 0)
        return false;
    return olen == 16;
}

/* True if the request's Origin is allowed (see goc_ws_handshake_check). */
static bool origin_allowed(const goc_http_request_t *req, const char *const *origins, size_t n)
{
    const goc_http_header_t *h = goc_http_header_find(req, "Origin");
    if (n == 0 || !h)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strlen(origins[i]) == h->value_len &&
            strncasecmp(origins[i], h->value, h->value_len) == 0)
            return true;
    return false;
}

int goc_ws_handshake_check(const goc_http_request_t *req, const char *const *origins,
                           size_t norigins, char accept[GOC_WS_ACCEPT_LEN + 1])
{
    if (req->method != GOC_HTTP_GET || req->version_major != 1 || req->version_minor < 1)
        return -EBADMSG;
    const goc_http_header_t *up = goc_http_header_find(req, "Upgrade");
    const goc_http_header_t *conn = goc_http_header_find(req, "Connection");
    if (!up || !goc_http_has_token(up->value, up->value_len, "websocket"))
        return -EBADMSG;
    if (!conn || !goc_http_has_token(conn->value, conn->value_len, "upgrade"))
        return -EBADMSG;
    const goc_http_header_t *key = goc_http_header_find(req, "Sec-WebSocket-Key");
    if (!key_valid(key))
        return -EBADMSG;
    if (!header_is(req, "Sec-WebSocket-Version", "13"))
        return -EPROTONOSUPPORT;
    if (!origin_allowed(req, origins, norigins))
        return -EACCES;
    return goc_ws_accept_key(key->value, key->value_len, accept) < 0 ? -EBADMSG : 0;
}

int goc_ws_handshake_status(int err)
{
    switch (err) {
    case -EPROTONOSUPPORT: return 426;
    case -EACCES: return 403;
    default: return 400;
    }
}

void goc_ws_handshake_response(goc_http_out_t *o, const char *accept)
{
    goc_http_out_status(o, 101);
    goc_http_out_header(o, "Upgrade", "websocket");
    goc_http_out_header(o, "Connection", "Upgrade");
    goc_http_out_header(o, "Sec-WebSocket-Accept", accept);
    goc_http_out_body(o, NULL, 0);
}

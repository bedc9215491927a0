/* tls_record.c: TLS 1.2 AES-GCM records (tls_record.h).
 *
 * The header is checked before the record is complete, so a peer announcing
 * a record that could never be valid is refused without waiting for it.
 */
#include "tls_record.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#define EXPLICIT_NONCE 8
#define TAG 16

static void put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

/* The 13 bytes every record's tag covers (RFC 5246 6.2.3.3). */
static void additional_data(uint8_t aad[13], uint64_t seq, uint8_t type, size_t len)
{
    put_be64(aad, seq);
    aad[8] = type;
    aad[9] = 3;
    aad[10] = 3;
    aad[11] = (uint8_t)(len >> 8);
    aad[12] = (uint8_t)len;
}

ssize_t goc_tls_record_open(goc_tls_dir *rx, uint8_t *buf, size_t len, uint8_t *type,
                            uint8_t **text, size_t *textlen)
{
    if (len < GOC_TLS_REC_HEADER)
        return 0;
    size_t clen = (size_t)buf[3] << 8 | buf[4];
    if ((buf[0] != GOC_TLS_REC_APPDATA && buf[0] != GOC_TLS_REC_ALERT) || buf[1] != 3 ||
        buf[2] != 3 || clen < EXPLICIT_NONCE + TAG ||
        clen > GOC_TLS_REC_MAX_TEXT + EXPLICIT_NONCE + TAG)
        return -EPROTO;
    if (len < GOC_TLS_REC_HEADER + clen)
        return 0;
    size_t n = clen - EXPLICIT_NONCE - TAG;
    uint8_t nonce[12], aad[13];
    memcpy(nonce, rx->salt, 4);
    memcpy(nonce + 4, buf + GOC_TLS_REC_HEADER, EXPLICIT_NONCE);
    additional_data(aad, rx->seq, buf[0], n);
    uint8_t *p = buf + GOC_TLS_REC_HEADER + EXPLICIT_NONCE;
    if (!goc_aesgcm_open(&rx->gcm, nonce, aad, sizeof aad, p, p, n, p + n))
        return -EPROTO;
    rx->seq++;
    *type = buf[0];
    *text = p;
    *textlen = n;
    return (ssize_t)(GOC_TLS_REC_HEADER + clen);
}

ssize_t goc_tls_record_seal(goc_tls_dir *tx, uint8_t type, const uint8_t *in, size_t n,
                            uint8_t *out)
{
    if (tx->seq == UINT64_MAX) /* never reached: 2^64 records */
        return -EPROTO;
    size_t clen = n + EXPLICIT_NONCE + TAG;
    out[0] = type;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(clen >> 8);
    out[4] = (uint8_t)clen;
    put_be64(out + GOC_TLS_REC_HEADER, tx->seq); /* the explicit nonce: unique per record */
    uint8_t nonce[12], aad[13];
    memcpy(nonce, tx->salt, 4);
    memcpy(nonce + 4, out + GOC_TLS_REC_HEADER, EXPLICIT_NONCE);
    additional_data(aad, tx->seq, type, n);
    uint8_t *p = out + GOC_TLS_REC_HEADER + EXPLICIT_NONCE;
    goc_aesgcm_seal(&tx->gcm, nonce, aad, sizeof aad, in, p, n, p + n);
    tx->seq++;
    return (ssize_t)(GOC_TLS_REC_HEADER + clen);
}

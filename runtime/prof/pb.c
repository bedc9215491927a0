/* pb.c: protocol-buffer encoding and the gzip container (pb.h).
 *
 * Wire format (protobuf's encoding guide): each field is a key, the
 * varint (field << 3 | wire type), then its value: a varint (type 0) or a
 * varint length and that many bytes (type 2: strings, nested messages,
 * packed repeated varints). Varints are little-endian base-128, the high
 * bit of each byte saying another follows.
 *
 * gzip: a 10-byte header, the deflate stream, then the CRC-32 and the
 * length of the data, both little-endian. The deflate stream is made of
 * stored blocks (at most 65535 bytes each, a byte with BFINAL and BTYPE
 * 00, then LEN and its complement): profiles are tens of kilobytes, and
 * this keeps the runtime free of a compression library. Any gzip reader,
 * `go tool pprof` among them, reads it.
 */
#include "pb.h"

#include <errno.h>
#include <string.h>

#include "runtime.h"

void goc__pb_free(goc__pb *b)
{
    goc__free(b->data);
    *b = (goc__pb){0};
}

static bool grow(goc__pb *b, size_t n)
{
    if (b->err)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *d = goc__realloc(b->data, cap);
    if (!d) {
        b->err = -ENOMEM;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void goc__pb_bytes(goc__pb *b, const void *p, size_t n)
{
    if (n == 0 || !grow(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static size_t varint_encode(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void goc__pb_varint(goc__pb *b, uint64_t v)
{
    uint8_t tmp[10];
    goc__pb_bytes(b, tmp, varint_encode(tmp, v));
}

static void key(goc__pb *b, int field, int type)
{
    goc__pb_varint(b, (uint64_t)field << 3 | (uint64_t)type);
}

void goc__pb_uint(goc__pb *b, int field, uint64_t v)
{
    key(b, field, 0);
    goc__pb_varint(b, v);
}

void goc__pb_int(goc__pb *b, int field, int64_t v)
{
    goc__pb_uint(b, field, (uint64_t)v);
}

void goc__pb_string(goc__pb *b, int field, const char *s, size_t n)
{
    key(b, field, 2);
    goc__pb_varint(b, n);
    goc__pb_bytes(b, s, n);
}

void goc__pb_packed(goc__pb *b, int field, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t at = goc__pb_open(b, field);
    for (size_t i = 0; i < n; i++)
        goc__pb_varint(b, v[i]);
    goc__pb_close(b, at);
}

void goc__pb_packed_int(goc__pb *b, int field, const int64_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t at = goc__pb_open(b, field);
    for (size_t i = 0; i < n; i++)
        goc__pb_varint(b, (uint64_t)v[i]);
    goc__pb_close(b, at);
}

size_t goc__pb_open(goc__pb *b, int field)
{
    key(b, field, 2);
    return b->len;
}

void goc__pb_close(goc__pb *b, size_t start)
{
    if (b->err)
        return;
    uint8_t tmp[10];
    size_t body = b->len - start, k = varint_encode(tmp, body);
    if (!grow(b, k))
        return;
    memmove(b->data + start + k, b->data + start, body);
    memcpy(b->data + start, tmp, k);
    b->len += k;
}

/* ---- gzip ----------------------------------------------------------------- */

/* CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320), bit by bit with
 * a nibble table: a few hundred kilobytes per profile at most. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static const uint32_t nib[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nib[crc & 15];
        crc = (crc >> 4) ^ nib[crc & 15];
    }
    return ~crc;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int goc__gzip_write(const void *data, size_t len, goc__pb_write_fn write, void *arg)
{
    /* magic, deflate, no flags, no time, no extra flags, OS unknown */
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    int rc = write(arg, header, sizeof header);
    const uint8_t *p = data;
    size_t left = len;
    do {
        size_t n = left < 65535 ? left : 65535;
        uint8_t blk[5] = {n == left ? 1 : 0, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n,
                          (uint8_t)(~n >> 8)};
        if (rc == 0)
            rc = write(arg, blk, sizeof blk);
        if (rc == 0 && n)
            rc = write(arg, p, n);
        p += n;
        left -= n;
    } while (left && rc == 0);
    uint8_t trailer[8];
    le32(trailer, crc32_update(0, data, len));
    le32(trailer + 4, (uint32_t)len);
    if (rc == 0)
        rc = write(arg, trailer, sizeof trailer);
    return rc;
}

/* frame.c: length-prefixed frames (see frame.h for the format and the
 * decoder's invariants).
 *
 * The decoder prefers zero copy: when a whole frame sits in the bytes the
 * caller just gave, it is returned in place. Only a frame cut across calls is
 * gathered, into a buffer that grows geometrically up to the announced
 * length (so a peer announcing 1 MiB and sending 10 bytes does not make us
 * allocate 1 MiB at once) and is released after a large frame, so an idle
 * connection keeps at most FRAME_KEEP_BUFFER bytes.
 */
#include <goc/malloc.h>

#include "frame.h"

#include <stdlib.h>
#include <string.h>

/* A gathering buffer larger than this is freed once its frame is consumed. */
#define FRAME_KEEP_BUFFER 65536u
/* First allocation of the gathering buffer (or the frame length if less). */
#define FRAME_FIRST_BUFFER 4096u

static size_t frame__get_len(const uint8_t *h)
{
    return (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | (size_t)h[3];
}

long frame_parse(const void *buf, size_t len, size_t max_frame, frame_t *out, bool *heartbeat)
{
    const uint8_t *p = buf;
    if (len < FRAME_HEADER_SIZE) return FRAME_NEED_MORE;
    size_t n = frame__get_len(p);
    if (n > max_frame) return -EMSGSIZE;
    if (len - FRAME_HEADER_SIZE < n) return FRAME_NEED_MORE;
    out->data = n ? p + FRAME_HEADER_SIZE : NULL;
    out->len = n;
    if (heartbeat) *heartbeat = n == 0;
    return (long)(FRAME_HEADER_SIZE + n);
}

void frame_decoder_init(frame_decoder_t *d, size_t max_frame)
{
    memset(d, 0, sizeof *d);
    d->max_frame = max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
}

void frame_decoder_free(frame_decoder_t *d)
{
    goc_free(d->buf);
    d->buf = NULL;
    d->cap = 0;
    d->have_hdr = 0;
    d->have_payload = 0;
    d->need = 0;
}

bool frame_decoder_saw_text(const frame_decoder_t *d)
{
    if (!d->failed || d->have_hdr < 2 || (d->hdr[0] != '{' && d->hdr[0] != '['))
        return false;
    uint8_t c = d->hdr[1];
    return c == '"' || c == '{' || c == '[' || c == '}' || c == ']' || c == ' ' || c == '\t' ||
           c == '\n' || c == '\r' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
           c == 'f' || c == 'n';
}

bool frame_decoder_pending(const frame_decoder_t *d)
{
    return d->have_hdr > 0 || d->have_payload > 0;
}

/* Makes room for `want` payload bytes in d->buf (want <= d->need). */
static int frame__reserve(frame_decoder_t *d, size_t want)
{
    if (want <= d->cap) return 0;
    size_t cap = d->cap ? d->cap * 2 : FRAME_FIRST_BUFFER;
    if (cap < want) cap = want;
    if (cap > d->need) cap = d->need;
    uint8_t *nb = goc_realloc(d->buf, cap);
    if (!nb) return -ENOMEM;
    d->buf = nb;
    d->cap = cap;
    return 0;
}

/* Forgets the frame just finished; the buffer stays for the caller to read. */
static void frame__reset(frame_decoder_t *d)
{
    d->have_hdr = 0;
    d->have_payload = 0;
    d->need = 0;
}

int frame_decoder_decode(frame_decoder_t *d, const void *data, size_t len, size_t *used,
                         frame_t *out)
{
    const uint8_t *p = data;
    size_t i = 0;
    *used = 0;
    if (d->failed) return -EMSGSIZE;
    if (!frame_decoder_pending(d) && d->cap > FRAME_KEEP_BUFFER) {
        /* The previous frame (already handed out) was large: let it go. */
        goc_free(d->buf);
        d->buf = NULL;
        d->cap = 0;
    }
    if (d->have_hdr == 0) {
        /* Fast path: a whole frame in the caller's bytes. */
        bool hb;
        long r = frame_parse(p, len, d->max_frame, out, &hb);
        if (r > 0) {
            *used = (size_t)r;
            return hb ? FRAME_HEARTBEAT : FRAME_PAYLOAD;
        }
    }
    while (d->have_hdr < FRAME_HEADER_SIZE && i < len)
        d->hdr[d->have_hdr++] = p[i++];
    if (d->have_hdr < FRAME_HEADER_SIZE) {
        *used = i;
        return FRAME_NEED_MORE;
    }
    d->need = frame__get_len(d->hdr);
    if (d->need > d->max_frame) {
        d->failed = true;
        *used = i;
        return -EMSGSIZE;
    }
    if (d->need == 0) {
        frame__reset(d);
        *used = i;
        out->data = NULL;
        out->len = 0;
        return FRAME_HEARTBEAT;
    }
    if (d->have_payload == 0 && len - i >= d->need) {
        /* Header came in pieces, payload whole: still no copy. */
        out->data = p + i;
        out->len = d->need;
        *used = i + d->need;
        frame__reset(d);
        return FRAME_PAYLOAD;
    }
    size_t take = d->need - d->have_payload;
    if (take > len - i) take = len - i;
    if (take == 0) {
        *used = i;
        return FRAME_NEED_MORE;
    }
    if (frame__reserve(d, d->have_payload + take) < 0) {
        *used = i;
        return -ENOMEM;
    }
    memcpy(d->buf + d->have_payload, p + i, take);
    d->have_payload += take;
    i += take;
    *used = i;
    if (d->have_payload < d->need) return FRAME_NEED_MORE;
    out->data = d->buf;
    out->len = d->need;
    frame__reset(d);
    return FRAME_PAYLOAD;
}

int frame_header_encode(uint8_t out[FRAME_HEADER_SIZE], size_t len)
{
    if (len > UINT32_MAX) return -EMSGSIZE;
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return FRAME_HEADER_SIZE;
}

long frame_encode(void *out, size_t cap, const void *payload, size_t len)
{
    if (len > UINT32_MAX) return -EMSGSIZE;
    if (cap < FRAME_HEADER_SIZE || cap - FRAME_HEADER_SIZE < len) return -ENOBUFS;
    uint8_t *o = out;
    frame_header_encode(o, len);
    if (len) memcpy(o + FRAME_HEADER_SIZE, payload, len);
    return (long)(FRAME_HEADER_SIZE + len);
}

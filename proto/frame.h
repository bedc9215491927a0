/* frame.h: the framed-TCP wire format, with no I/O of its own (doc/contributing.md, rule 7).
 *
 * A frame is a 4-byte unsigned big-endian length N, then N bytes of payload
 * (doc/protocol.md, "Framed TCP"). N = 0 is a heartbeat. Names use the prefix
 * `frame_`; `frame__` is internal.
 *
 * Two ways to read frames:
 *
 * - frame_parse() is stateless, like picohttpparser's phr_*: it looks at a
 *   buffer the caller keeps and says whether a whole frame is at its start.
 *   The payload pointer points into that buffer.
 * - frame_decoder_t is incremental: feed it bytes as they arrive, in pieces
 *   of any size. A frame found whole inside the bytes just given is returned
 *   in place (no copy); a frame split across feeds is gathered in the
 *   decoder's own buffer, which never holds more than max_frame + 4 bytes
 *   (the payload; the header sits in a 4-byte field).
 *
 * Invariants of frame_decoder_t:
 * - have_hdr < 4 while the header is incomplete; then need = N and
 *   have_payload <= need <= max_frame.
 * - cap <= max_frame, so buf never exceeds the limit (+4 header bytes).
 * - Once a frame larger than max_frame is announced, the decoder is stuck in
 *   the error state: every later call returns -EMSGSIZE.
 */
#ifndef GOC_PROTO_FRAME_H
#define GOC_PROTO_FRAME_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of the length prefix. */
#define FRAME_HEADER_SIZE 4

/* The default largest payload, as `--max-frame` (doc/protocol.md). */
#define FRAME_DEFAULT_MAX 1048576u

/* frame_parse() and frame_decoder_decode() results that are not errors. */
enum {
    FRAME_NEED_MORE = 0, /* no whole frame yet: give more bytes */
    FRAME_PAYLOAD = 1,   /* a frame with N > 0 */
    FRAME_HEARTBEAT = 2, /* a frame with N = 0: no payload, answer nothing */
};

/* A decoded frame. data points either into the bytes the caller passed to
 * the call that returned it, or into the decoder's buffer; either way it is
 * borrowed and valid until the next frame_decoder_decode() or
 * frame_decoder_free() call, and while the caller's bytes stay unchanged.
 * data is NULL for a heartbeat. */
typedef struct frame {
    const uint8_t *data; /* the payload, borrowed (see above) */
    size_t len;          /* payload bytes, 0..max_frame */
} frame_t;

/* An incremental decoder. Caller-owned storage (embed it in a connection);
 * initialise with frame_decoder_init(), release with frame_decoder_free().
 * The fields are private. */
typedef struct frame_decoder {
    size_t max_frame;    /* largest payload accepted */
    uint8_t hdr[4];      /* header bytes gathered so far */
    size_t have_hdr;     /* valid bytes in hdr, 0..4 */
    size_t need;         /* payload length N once have_hdr == 4 */
    uint8_t *buf;        /* gathered payload of a split frame; malloc'd, may be NULL */
    size_t cap;          /* bytes allocated at buf, <= max_frame */
    size_t have_payload; /* payload bytes gathered in buf */
    bool failed;         /* a frame over max_frame was announced */
} frame_decoder_t;

/* Looks for one whole frame at the start of buf[0..len).
 * Returns FRAME_HEADER_SIZE + N (bytes to consume, > 0) and sets *out to the
 * payload (pointing into buf; out->data is NULL when N = 0) when a whole
 * frame is there; FRAME_NEED_MORE (0) when the header or payload is
 * incomplete; -EMSGSIZE when the header announces N > max_frame (*out is
 * untouched). Never reads past buf[len - 1]. Sets *heartbeat (may be NULL)
 * to whether N = 0. */
long frame_parse(const void *buf, size_t len, size_t max_frame, frame_t *out, bool *heartbeat);

/* Prepares d to accept frames of at most max_frame payload bytes (which
 * must be <= UINT32_MAX). Allocates nothing. */
void frame_decoder_init(frame_decoder_t *d, size_t max_frame);

/* Releases d's buffer; d may be initialised again. Frames returned earlier
 * become invalid. */
void frame_decoder_free(frame_decoder_t *d);

/* Consumes bytes from data[0..len) until one frame is complete or the bytes
 * run out, and stores the count consumed in *used (always set).
 * Returns:
 *   FRAME_PAYLOAD    a frame is in *out; data[*used..len) is not consumed yet,
 *                    call again with it (many frames may come from one read).
 *   FRAME_HEARTBEAT  a zero-length frame; out->data NULL, out->len 0.
 *   FRAME_NEED_MORE  every byte was consumed (*used == len), no frame yet.
 *   -EMSGSIZE        a header announced more than max_frame; *used counts the
 *                    header bytes consumed. The decoder stays failed: the
 *                    server answers -32005 and closes the connection.
 *   -ENOMEM          the gathering buffer could not grow; nothing changed
 *                    for the bytes not counted in *used.
 * out->data points into data when the whole frame was inside this call's
 * bytes, else into the decoder (see frame_t for how long it stays valid).
 */
int frame_decoder_decode(frame_decoder_t *d, const void *data, size_t len, size_t *used,
                         frame_t *out);

/* After -EMSGSIZE: true when the "header" was the start of JSON text ('{'
 * or '[', then a byte JSON allows next), that is, a message sent without
 * its length prefix (someone typing JSON into netcat), so the answer can
 * say so instead of "too large". */
bool frame_decoder_saw_text(const frame_decoder_t *d);

/* True when part of a frame (some header or payload bytes) was consumed and
 * the rest has not arrived: an EOF now cuts a frame short. */
bool frame_decoder_pending(const frame_decoder_t *d);

/* Writes the 4-byte header for a payload of len bytes into out.
 * Returns FRAME_HEADER_SIZE, or -EMSGSIZE when len > UINT32_MAX. */
int frame_header_encode(uint8_t out[FRAME_HEADER_SIZE], size_t len);

/* Writes header and payload into out[0..cap). Returns the bytes written
 * (4 + len), -ENOBUFS when cap is too small, -EMSGSIZE when len > UINT32_MAX.
 * payload may be NULL when len is 0. */
long frame_encode(void *out, size_t cap, const void *payload, size_t len);

#endif

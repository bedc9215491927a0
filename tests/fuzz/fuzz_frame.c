/* fuzz_frame.c: libFuzzer target for the framed-TCP decoder (proto/frame.h).
 *
 * Input: byte 0 says how to cut the stream into reads (fuzz.h), byte 1
 * picks max_frame, the rest is the stream as a peer sends it. The stream is
 * fed to a frame_decoder_t read by read, as the framed transport does, and
 * every frame that comes out is checked against frame_parse() walking the
 * whole stream at once: same lengths, same bytes, same offsets, the same
 * -EMSGSIZE at the same frame, and at the end "pending" exactly when the
 * stream stops inside a frame. Each payload is also encoded again with
 * frame_encode() and parsed back.
 *
 * Invariants: a fresh decoder per input, freed before returning; all
 * memory is released (libFuzzer's leak check runs on every input).
 */
#include <errno.h>

#include "frame.h"
#include "fuzz.h"

/* The limits byte 1 chooses from: the server's default, degenerate ones,
 * and sizes around the decoder's first buffer (4096). */
static const size_t max_frames[] = {FRAME_DEFAULT_MAX, 0, 1, 3, 16, 255, 4096, 5000};

/* What the decoder run has established so far. */
typedef struct run {
    const uint8_t *all; /* the whole stream, for the reference parse */
    size_t len;         /* its length */
    size_t max_frame;   /* the decoder's limit */
    size_t ref_off;     /* where the reference parse stands in all */
    size_t consumed;    /* bytes the decoder consumed so far */
    bool failed;        /* the decoder returned -EMSGSIZE */
} run;

/* Encodes the payload again and parses it back. */
static void check_roundtrip(const frame_t *f)
{
    size_t n = FRAME_HEADER_SIZE + f->len;
    uint8_t *buf = malloc(n); /* exact size: ASan sees any write past it */
    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(frame_encode(buf, n - 1, f->data, f->len) == -ENOBUFS);
    FUZZ_CHECK(frame_encode(buf, n, f->data, f->len) == (long)n);
    frame_t back;
    bool hb = false;
    FUZZ_CHECK(frame_parse(buf, n, f->len, &back, &hb) == (long)n);
    FUZZ_CHECK(hb == (f->len == 0) && back.len == f->len);
    FUZZ_CHECK(f->len == 0 || memcmp(back.data, f->data, f->len) == 0);
    free(buf);
}

/* A frame came out of the decoder: the reference must find the same one. */
static void check_frame(run *r, int rc, const frame_t *f)
{
    frame_t want;
    bool hb = false;
    long n = frame_parse(r->all + r->ref_off, r->len - r->ref_off, r->max_frame, &want, &hb);
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(f->len == want.len && f->len <= r->max_frame);
    FUZZ_CHECK((rc == FRAME_HEARTBEAT) == hb && hb == (f->len == 0));
    FUZZ_CHECK(hb ? f->data == NULL : memcmp(f->data, want.data, f->len) == 0);
    r->ref_off += (size_t)n;
    FUZZ_CHECK(r->consumed == r->ref_off);
    check_roundtrip(f);
}

/* Feeds one read, taking every frame out of it. */
static void feed(run *r, frame_decoder_t *d, const uint8_t *p, size_t n)
{
    while (!r->failed) {
        size_t used = SIZE_MAX;
        frame_t f;
        int rc = frame_decoder_decode(d, p, n, &used, &f);
        FUZZ_CHECK(used <= n);
        FUZZ_CHECK(d->cap <= d->max_frame);
        p += used;
        n -= used;
        r->consumed += used;
        if (rc == -EMSGSIZE) {
            frame_t want;
            FUZZ_CHECK(frame_parse(r->all + r->ref_off, r->len - r->ref_off, r->max_frame, &want,
                                   NULL) == -EMSGSIZE);
            FUZZ_CHECK(r->consumed == r->ref_off + FRAME_HEADER_SIZE);
            r->failed = true;
            /* The error is sticky and consumes nothing more. */
            FUZZ_CHECK(frame_decoder_decode(d, p, n, &used, &f) == -EMSGSIZE && used == 0);
            return;
        }
        FUZZ_CHECK(rc == FRAME_NEED_MORE || rc == FRAME_PAYLOAD || rc == FRAME_HEARTBEAT);
        if (rc == FRAME_NEED_MORE) {
            FUZZ_CHECK(n == 0);
            return;
        }
        check_frame(r, rc, &f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    fuzz_cut cut;
    fuzz_cut_init(&cut, data[0]);
    run r = {.all = data + 2,
             .len = size - 2,
             .max_frame = max_frames[data[1] % (sizeof max_frames / sizeof max_frames[0])]};
    frame_decoder_t d;
    frame_decoder_init(&d, r.max_frame);
    for (size_t off = 0; off < r.len && !r.failed;) {
        size_t n = fuzz_cut_next(&cut, r.len - off);
        uint8_t *chunk = fuzz_dup(r.all + off, n);
        feed(&r, &d, chunk, n);
        free(chunk);
        off += n;
    }
    if (!r.failed) {
        /* Everything was consumed; what is left is an unfinished frame. */
        frame_t f;
        FUZZ_CHECK(r.consumed == r.len);
        FUZZ_CHECK(frame_parse(r.all + r.ref_off, r.len - r.ref_off, r.max_frame, &f, NULL) ==
                   FRAME_NEED_MORE);
        FUZZ_CHECK(frame_decoder_pending(&d) == (r.ref_off < r.len));
    }
    frame_decoder_free(&d);
    return 0;
}

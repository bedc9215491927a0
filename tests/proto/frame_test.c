/* frame_test.c: the framed-TCP codec (proto/frame.h). A stream of frames is
 * fed to the decoder cut in every way we can think of (each split point,
 * all at once, one byte at a time, random pieces with a fixed seed), and the
 * frames that come out must be the frames that went in, in order, with the
 * decoder never holding more than max_frame payload bytes.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "frame.h"

#define MAX_FRAMES 256

/* What came out of a decoder: the payloads, concatenated, and their sizes. */
typedef struct sink {
    uint8_t bytes[1 << 16];  /* payloads one after the other */
    size_t used;             /* bytes filled */
    size_t lens[MAX_FRAMES]; /* length of each frame, 0 = heartbeat */
    size_t n;                /* frames received */
    int err;                 /* first negative result, 0 if none */
    size_t max_cap;          /* largest gathering buffer seen */
} sink;

/* Feeds data[0..len) to d as one read, collecting every frame in s. */
static void feed(frame_decoder_t *d, sink *s, const uint8_t *data, size_t len)
{
    while (!s->err) {
        size_t used = 0;
        frame_t f;
        int r = frame_decoder_decode(d, data, len, &used, &f);
        if (d->cap > s->max_cap) s->max_cap = d->cap;
        if (used > len) {
            s->err = -1000;
            return;
        }
        data += used;
        len -= used;
        if (r < 0) {
            s->err = r;
            return;
        }
        if (r == FRAME_NEED_MORE) {
            if (len != 0) s->err = -1001; /* must have consumed everything */
            return;
        }
        if ((r == FRAME_HEARTBEAT) != (f.len == 0) || s->n == MAX_FRAMES) {
            s->err = -1002;
            return;
        }
        memcpy(s->bytes + s->used, f.data ? f.data : (const uint8_t *)"", f.len);
        s->used += f.len;
        s->lens[s->n++] = f.len;
    }
}

/* Builds a stream of frames with the given lengths; payload byte j of frame
 * k is (k * 31 + j) & 0xff. Returns the stream length. */
static size_t build(uint8_t *out, const size_t *lens, size_t n)
{
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        frame_header_encode(out + o, lens[k]);
        o += FRAME_HEADER_SIZE;
        for (size_t j = 0; j < lens[k]; j++)
            out[o++] = (uint8_t)(k * 31 + j);
    }
    return o;
}

/* 1 if s holds exactly the frames build() made from lens. */
static int matches(const sink *s, const size_t *lens, size_t n)
{
    if (s->err || s->n != n) return 0;
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        if (s->lens[k] != lens[k]) return 0;
        for (size_t j = 0; j < lens[k]; j++)
            if (s->bytes[o++] != (uint8_t)(k * 31 + j)) return 0;
    }
    return 1;
}

static void test_encode_parse(void)
{
    uint8_t buf[16];
    CHECK_EQ_INT(frame_encode(buf, sizeof buf, "hello", 5), 9);
    CHECK(memcmp(buf, "\0\0\0\5hello", 9) == 0);
    CHECK_EQ_INT(frame_encode(buf, 8, "hello", 5), -ENOBUFS);
    CHECK_EQ_INT(frame_encode(buf, 3, NULL, 0), -ENOBUFS);
    CHECK_EQ_INT(frame_encode(buf, 4, NULL, 0), 4);
    CHECK(memcmp(buf, "\0\0\0\0", 4) == 0);
    CHECK_EQ_INT(frame_header_encode(buf, 0x01020304), 4);
    CHECK(memcmp(buf, "\1\2\3\4", 4) == 0);
#if SIZE_MAX > UINT32_MAX
    CHECK_EQ_INT(frame_header_encode(buf, (size_t)UINT32_MAX + 1), -EMSGSIZE);
#endif

    frame_t f = {0};
    bool hb = true;
    frame_encode(buf, sizeof buf, "hello", 5);
    for (size_t len = 0; len < 9; len++)
        CHECK_EQ_INT(frame_parse(buf, len, 100, &f, &hb), FRAME_NEED_MORE);
    CHECK_EQ_INT(frame_parse(buf, 12, 100, &f, &hb), 9);
    CHECK(f.data == buf + 4);
    CHECK_EQ_INT(f.len, 5);
    CHECK(!hb);
    CHECK_EQ_INT(frame_parse(buf, 9, 4, &f, &hb), -EMSGSIZE);
    CHECK_EQ_INT(frame_parse("\0\0\0\0", 4, 0, &f, &hb), 4);
    CHECK(hb);
    CHECK(f.data == NULL);
    CHECK_EQ_INT(frame_parse("\xff\xff\xff\xff", 4, UINT32_MAX, &f, NULL), FRAME_NEED_MORE);
}

static const size_t mixed_lens[] = {5, 0, 1, 300, 0, 0, 17, 4, 1000, 2};
#define MIXED_N (sizeof mixed_lens / sizeof mixed_lens[0])

static void test_split_every_position(void)
{
    static uint8_t stream[4096];
    size_t total = build(stream, mixed_lens, MIXED_N);
    for (size_t cut = 0; cut <= total; cut++) {
        static sink s;
        memset(&s, 0, sizeof s);
        frame_decoder_t d;
        frame_decoder_init(&d, 1000);
        feed(&d, &s, stream, cut);
        feed(&d, &s, stream + cut, total - cut);
        CHECK_MSG(matches(&s, mixed_lens, MIXED_N), "cut at %zu: err %d, %zu frames", cut, s.err,
                  s.n);
        CHECK(!frame_decoder_pending(&d));
        CHECK(s.max_cap <= 1000);
        frame_decoder_free(&d);
    }
}

static void test_byte_at_a_time(void)
{
    static uint8_t stream[4096];
    size_t total = build(stream, mixed_lens, MIXED_N);
    static sink s;
    memset(&s, 0, sizeof s);
    frame_decoder_t d;
    frame_decoder_init(&d, 1000);
    for (size_t i = 0; i < total; i++)
        feed(&d, &s, stream + i, 1);
    CHECK(matches(&s, mixed_lens, MIXED_N));
    CHECK(!frame_decoder_pending(&d));
    frame_decoder_free(&d);
}

/* Many frames in one read come out one per call, in place (no copy). */
static void test_coalesced_zero_copy(void)
{
    static uint8_t stream[4096];
    size_t total = build(stream, mixed_lens, MIXED_N);
    frame_decoder_t d;
    frame_decoder_init(&d, 1000);
    const uint8_t *p = stream;
    size_t left = total, k = 0;
    for (;;) {
        size_t used;
        frame_t f;
        int r = frame_decoder_decode(&d, p, left, &used, &f);
        if (r == FRAME_NEED_MORE) break;
        CHECK(r == FRAME_PAYLOAD || r == FRAME_HEARTBEAT);
        CHECK(k < MIXED_N);
        CHECK_EQ_INT(f.len, mixed_lens[k]);
        CHECK_EQ_INT(used, 4 + mixed_lens[k]);
        if (f.len)
            CHECK(f.data == p + 4); /* points into our bytes */
        else
            CHECK_EQ_INT(r, FRAME_HEARTBEAT);
        p += used;
        left -= used;
        k++;
    }
    CHECK_EQ_INT(k, MIXED_N);
    CHECK_EQ_INT(left, 0);
    CHECK(d.buf == NULL); /* nothing was gathered */
    frame_decoder_free(&d);
}

static void test_heartbeat(void)
{
    frame_decoder_t d;
    frame_decoder_init(&d, 10);
    size_t used;
    frame_t f = {(const uint8_t *)"x", 9};
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0", 2, &used, &f), FRAME_NEED_MORE);
    CHECK_EQ_INT(used, 2);
    CHECK(frame_decoder_pending(&d));
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\0\0\0\0", 6, &used, &f), FRAME_HEARTBEAT);
    CHECK_EQ_INT(used, 2);
    CHECK_EQ_INT(f.len, 0);
    CHECK(f.data == NULL);
    CHECK(!frame_decoder_pending(&d));
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\0\0", 4, &used, &f), FRAME_HEARTBEAT);
    CHECK_EQ_INT(used, 4);
    frame_decoder_free(&d);
}

/* max_frame bytes pass, whether whole or gathered; max_frame + 1 fails for
 * good, after consuming only the header. */
static void test_max_and_over(void)
{
    enum { MAX = 3000 };
    static uint8_t stream[2 * (MAX + 8)];
    size_t lens[] = {MAX};
    size_t total = build(stream, lens, 1);
    for (size_t cut = 0; cut <= total; cut += 7) {
        static sink s;
        memset(&s, 0, sizeof s);
        frame_decoder_t d;
        frame_decoder_init(&d, MAX);
        feed(&d, &s, stream, cut);
        feed(&d, &s, stream + cut, total - cut);
        CHECK_MSG(matches(&s, lens, 1), "cut %zu err %d", cut, s.err);
        CHECK(s.max_cap <= MAX);
        frame_decoder_free(&d);
    }

    size_t over[] = {MAX + 1};
    total = build(stream, over, 1);
    frame_decoder_t d;
    frame_decoder_init(&d, MAX);
    size_t used;
    frame_t f;
    CHECK_EQ_INT(frame_decoder_decode(&d, stream, total, &used, &f), -EMSGSIZE);
    CHECK_EQ_INT(used, 4);
    CHECK(d.buf == NULL);
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\0\0", 4, &used, &f), -EMSGSIZE);
    CHECK_EQ_INT(used, 0);
    frame_decoder_free(&d);

    /* The header itself in pieces. */
    frame_decoder_init(&d, MAX);
    CHECK_EQ_INT(frame_decoder_decode(&d, stream, 3, &used, &f), FRAME_NEED_MORE);
    CHECK_EQ_INT(frame_decoder_decode(&d, stream + 3, 10, &used, &f), -EMSGSIZE);
    CHECK_EQ_INT(used, 1);
    frame_decoder_free(&d);

    /* Zero max: only heartbeats. */
    frame_decoder_init(&d, 0);
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\0\0\0\0\0\1x", 9, &used, &f), FRAME_HEARTBEAT);
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\0\1x", 5, &used, &f), -EMSGSIZE);
    frame_decoder_free(&d);
}

static void test_eof_inside_frame(void)
{
    frame_decoder_t d;
    frame_decoder_init(&d, 100);
    size_t used;
    frame_t f;
    CHECK(!frame_decoder_pending(&d));
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0", 1, &used, &f), FRAME_NEED_MORE);
    CHECK(frame_decoder_pending(&d)); /* EOF here: header cut short */
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\3ab", 5, &used, &f), FRAME_NEED_MORE);
    CHECK_EQ_INT(used, 5);
    CHECK(frame_decoder_pending(&d)); /* EOF here: payload cut short */
    CHECK_EQ_INT(frame_decoder_decode(&d, "c\0", 2, &used, &f), FRAME_PAYLOAD);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(f.len, 3);
    CHECK(memcmp(f.data, "abc", 3) == 0);
    CHECK(f.data == d.buf); /* gathered */
    CHECK(!frame_decoder_pending(&d));
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0", 1, &used, &f), FRAME_NEED_MORE);
    CHECK(frame_decoder_pending(&d));
    frame_decoder_free(&d);
    CHECK(!frame_decoder_pending(&d));
}

/* A large gathered frame's buffer is released once consumed; the buffer
 * grows with the bytes that arrive, not with the announced length. */
static void test_buffer_growth_and_release(void)
{
    enum { BIG = 200000 };
    frame_decoder_t d;
    frame_decoder_init(&d, BIG);
    uint8_t hdr[4];
    frame_header_encode(hdr, BIG);
    size_t used;
    frame_t f;
    CHECK_EQ_INT(frame_decoder_decode(&d, hdr, 4, &used, &f), FRAME_NEED_MORE);
    CHECK_EQ_INT(frame_decoder_decode(&d, "0123456789", 10, &used, &f), FRAME_NEED_MORE);
    CHECK(d.cap < 10000); /* not BIG yet */
    static uint8_t chunk[BIG];
    memset(chunk, 'z', sizeof chunk);
    CHECK_EQ_INT(frame_decoder_decode(&d, chunk, BIG, &used, &f), FRAME_PAYLOAD);
    CHECK_EQ_INT(used, BIG - 10);
    CHECK_EQ_INT(f.len, BIG);
    CHECK(d.cap <= BIG);
    CHECK(memcmp(f.data, "0123456789zzz", 13) == 0);
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0", 2, &used, &f), FRAME_NEED_MORE);
    CHECK(d.buf == NULL); /* the big buffer went away */
    frame_decoder_free(&d);
}

/* A small LCG so the sequence is the same on every libc. */
static uint32_t rand_next(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* Random frame sizes, random read sizes, fixed seed. */
static void test_random_fragmentation(void)
{
    uint32_t seed = 12345;
#define RAND() rand_next(&seed)
    static uint8_t stream[1 << 16];
    static size_t lens[MAX_FRAMES];
    int rounds = TEST_SCALE(2000);
    for (int round = 0; round < rounds; round++) {
        size_t n = 1 + RAND() % 40, total_payload = 0;
        for (size_t k = 0; k < n; k++) {
            lens[k] = RAND() % 4 == 0 ? 0 : RAND() % 700;
            total_payload += lens[k];
        }
        size_t total = build(stream, lens, n);
        CHECK(total == total_payload + 4 * n);
        static sink s;
        memset(&s, 0, sizeof s);
        frame_decoder_t d;
        frame_decoder_init(&d, 699);
        size_t off = 0;
        while (off < total) {
            size_t span = RAND() % 2 ? 8 : 1500;
            size_t piece = 1 + RAND() % span;
            if (piece > total - off) piece = total - off;
            feed(&d, &s, stream + off, piece);
            off += piece;
        }
        CHECK_MSG(matches(&s, lens, n), "round %d: err %d, %zu/%zu frames", round, s.err, s.n, n);
        CHECK(!frame_decoder_pending(&d));
        CHECK(s.max_cap <= 699);
        frame_decoder_free(&d);
    }
#undef RAND
}

/* JSON text sent without its length prefix fails as too large, and the
 * decoder tells it apart from a real header (whatever the read's cut). */
static void test_text_without_prefix(void)
{
    static const char *const texts[] = {"{\"jsonrpc\":\"2.0\"}", "[{\"id\":1}]", "{ }\n",
                                        "[1,2]", "{\n\"a\":1}"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        for (size_t cut = 1; cut <= 4; cut++) {
            frame_decoder_t d;
            frame_decoder_init(&d, FRAME_DEFAULT_MAX);
            size_t used, len = strlen(texts[t]);
            frame_t f;
            int rc = frame_decoder_decode(&d, texts[t], cut, &used, &f);
            if (rc == FRAME_NEED_MORE)
                rc = frame_decoder_decode(&d, texts[t] + cut, len - cut, &used, &f);
            CHECK_EQ_INT(rc, -EMSGSIZE);
            CHECK_MSG(frame_decoder_saw_text(&d), "%s cut at %zu", texts[t], cut);
            frame_decoder_free(&d);
        }
    }
    /* a real header over the limit, and one that only starts with '{' */
    frame_decoder_t d;
    frame_decoder_init(&d, 16);
    size_t used;
    frame_t f;
    CHECK_EQ_INT(frame_decoder_decode(&d, "\0\0\1\0", 4, &used, &f), -EMSGSIZE);
    CHECK(!frame_decoder_saw_text(&d));
    frame_decoder_free(&d);
    frame_decoder_init(&d, 16);
    CHECK_EQ_INT(frame_decoder_decode(&d, "{\x01\0\0", 4, &used, &f), -EMSGSIZE);
    CHECK(!frame_decoder_saw_text(&d));
    frame_decoder_free(&d);
}

static const test_case cases[] = {
    TEST_CASE(test_encode_parse),
    TEST_CASE(test_text_without_prefix),
    TEST_CASE(test_split_every_position),
    TEST_CASE(test_byte_at_a_time),
    TEST_CASE(test_coalesced_zero_copy),
    TEST_CASE(test_heartbeat),
    TEST_CASE(test_max_and_over),
    TEST_CASE(test_eof_inside_frame),
    TEST_CASE(test_buffer_growth_and_release),
    TEST_CASE(test_random_fragmentation),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

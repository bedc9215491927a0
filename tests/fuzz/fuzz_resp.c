/* fuzz_resp.c: libFuzzer target for the Redis protocol layer (proto/resp.h).
 *
 * Input: byte 0 says how to cut the stream into reads (fuzz.h), byte 1
 * picks the limits, the rest is what a Redis server (or an impostor) sends.
 * The stream is read as the Redis client reads it: bytes are appended to a
 * buffer, resp_parse looks at it whenever the hint says enough has come,
 * the node array grows when it says so, and every reply taken out is
 * checked:
 *  - against the reference, resp_parse over the whole stream at once with
 *    nodes to spare: the same lengths, the same node count, the same error;
 *  - for its shape: each array's elements, hopping along next, are exactly
 *    as many as it announced and end at its own next; every string lies
 *    inside the bytes parsed;
 *  - a reply that is an array of bulk strings (the shape of a command) is
 *    encoded again with resp_encode_command and parses back to itself.
 * A hint (need) never overshoots the reply that is really there.
 *
 * Invariants: all memory is released before returning (libFuzzer's leak
 * check runs on every input); FUZZ_CHECK aborts on a broken rule.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "resp.h"

static const resp_limits limits[] = {
    {0, 0, 0},
    {.max_bulk = 16, .max_elems = 4, .max_depth = 2},
    {.max_bulk = 1, .max_elems = 1, .max_depth = 1},
    {.max_bulk = 4096, .max_elems = 64, .max_depth = 32},
};

/* Checks the subtree at node i of v[0..n) inside buf[0..len); returns the
 * index after it. */
static uint32_t check_shape(const resp_value *v, uint32_t n, uint32_t i, const char *buf,
                            size_t len)
{
    FUZZ_CHECK(i < n && v[i].next > i && v[i].next <= n);
    if (v[i].str)
        FUZZ_CHECK(v[i].str >= buf && v[i].str + v[i].len <= buf + len);
    if (v[i].type != RESP_ARRAY) {
        FUZZ_CHECK(v[i].next == i + 1);
        return v[i].next;
    }
    uint32_t j = resp_first(i);
    for (int64_t k = 0; k < v[i].integer; k++)
        j = check_shape(v, n, j, buf, len);
    FUZZ_CHECK(j == v[i].next);
    return j;
}

/* An array of bulk strings encodes back to itself. */
static void check_command(const resp_value *v, uint32_t n)
{
    if (v[0].type != RESP_ARRAY || v[0].integer < 1 || v[0].integer > 64)
        return;
    const char *argv[64];
    size_t lens[64];
    int argc = (int)v[0].integer;
    for (int k = 0; k < argc; k++) {
        if (v[1 + k].type != RESP_BULK)
            return;
        argv[k] = v[1 + k].str;
        lens[k] = v[1 + k].len;
    }
    FUZZ_CHECK(n == (uint32_t)argc + 1);
    size_t need = resp_encode_command(NULL, 0, argc, argv, lens);
    char *out = malloc(need);
    FUZZ_CHECK(out && resp_encode_command(out, need, argc, argv, lens) == need);
    resp_value *back = malloc(n * sizeof *back);
    size_t bn, bneed;
    FUZZ_CHECK(back && resp_parse(out, need, NULL, back, n, &bn, &bneed) == (long)need);
    FUZZ_CHECK(bn == n);
    for (int k = 0; k < argc; k++)
        FUZZ_CHECK(back[1 + k].len == lens[k] && memcmp(back[1 + k].str, argv[k], lens[k]) == 0);
    free(back);
    free(out);
}

/* The client's side of the run. */
typedef struct reader {
    const resp_limits *lim;
    char *buf;          /* bytes received and not yet taken */
    size_t len, cap;
    size_t need;        /* do not look before this many bytes */
    resp_value *nodes;
    size_t ncap;
    bool failed;        /* a reply was refused: the connection would close */
    const uint8_t *all; /* the whole stream, for the reference */
    size_t all_len, ref_off;
} reader;

/* The reference parse of what follows ref_off. */
static long reference(reader *r, size_t *n)
{
    size_t rn = 0, need;
    long rc = resp_parse((const char *)r->all + r->ref_off, r->all_len - r->ref_off, r->lim,
                         NULL, 0, &rn, &need);
    if (rc == -ENOBUFS) {
        resp_value *v = malloc(rn * sizeof *v);
        FUZZ_CHECK(v);
        rc = resp_parse((const char *)r->all + r->ref_off, r->all_len - r->ref_off, r->lim, v,
                        rn, &rn, &need);
        free(v);
    }
    *n = rn;
    return rc;
}

/* Takes every whole reply out of the buffer. */
static void take(reader *r)
{
    while (!r->failed && r->len >= r->need) {
        size_t n, need;
        long rc = resp_parse(r->buf, r->len, r->lim, r->nodes, r->ncap, &n, &need);
        if (rc == -ENOBUFS) {
            FUZZ_CHECK(n > r->ncap);
            free(r->nodes);
            r->nodes = malloc(n * sizeof *r->nodes);
            FUZZ_CHECK(r->nodes);
            r->ncap = n;
            continue;
        }
        size_t ref_n;
        long ref = reference(r, &ref_n);
        if (rc == -EAGAIN) {
            FUZZ_CHECK(need > r->len);
            FUZZ_CHECK(ref < 0 || need <= (size_t)ref); /* never past the real reply */
            r->need = need;
            return;
        }
        if (rc < 0) {
            FUZZ_CHECK(rc == -EPROTO || rc == -EMSGSIZE);
            FUZZ_CHECK(ref == rc);
            r->failed = true;
            return;
        }
        FUZZ_CHECK(rc == ref && n == ref_n && (size_t)rc <= r->len);
        FUZZ_CHECK(check_shape(r->nodes, (uint32_t)n, 0, r->buf, (size_t)rc) == n);
        check_command(r->nodes, (uint32_t)n);
        memmove(r->buf, r->buf + rc, r->len - (size_t)rc);
        r->len -= (size_t)rc;
        r->ref_off += (size_t)rc;
        r->need = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_cut cut;
    fuzz_cut_init(&cut, data[0]);
    reader r = {.lim = &limits[data[1] % (sizeof limits / sizeof limits[0])],
                .all = data + 2,
                .all_len = size - 2};
    r.cap = r.all_len ? r.all_len : 1;
    r.buf = malloc(r.cap);
    r.ncap = 4;
    r.nodes = malloc(r.ncap * sizeof *r.nodes);
    FUZZ_CHECK(r.buf && r.nodes);
    for (size_t off = 0; off < r.all_len && !r.failed;) {
        size_t n = fuzz_cut_next(&cut, r.all_len - off);
        uint8_t *chunk = fuzz_dup(r.all + off, n);
        memcpy(r.buf + r.len, chunk, n);
        free(chunk);
        r.len += n;
        off += n;
        take(&r);
    }
    if (!r.failed) {
        /* what is left is the start of a reply that never finished, or
         * fewer bytes than the last hint asked for (the client has not
         * looked at them yet) */
        size_t n;
        FUZZ_CHECK(r.ref_off + r.len == r.all_len);
        FUZZ_CHECK(r.len < r.need || reference(&r, &n) == -EAGAIN);
    }
    free(r.nodes);
    free(r.buf);
    return 0;
}

/* fuzz_tls_record.c: libFuzzer target for TLS records after the handshake
 * (proto/tls_record.h), as proto/tls.c reads them from a peer.
 *
 * Input: byte 0 says how to cut the stream into reads (fuzz.h); byte 1
 * picks the scenario, byte 2 a bit to flip, the rest is material:
 *   even byte 1: the rest is the stream itself, as a peer (or an attacker
 *     without the key) sends it;
 *   odd byte 1: the rest is a list of messages (a type byte, a 2-byte
 *     length, that many bytes, cut short at the end) that are sealed with
 *     the key into the stream; when byte 2 is not 0 the stream's bit
 *     (byte 2 * 37) mod its length is flipped.
 * The stream is fed read by read to a receiver that opens records from the
 * bytes received so far, as tls.c does. Checked: open never takes more
 * than it was given, answers "need more" only while a record is
 * incomplete, and with sealed messages every record before the flipped bit
 * opens to exactly the message sealed (type and bytes), the record holding
 * the flipped bit fails (or, its length grown, waits for bytes that never
 * come), and nothing after it is opened. A forged
 * stream opens no record at all: a valid tag cannot be guessed.
 *
 * Invariants: each open sees an exact-size copy of the bytes received and
 * not yet taken (fuzz.h), so ASan catches a read past them; all memory is
 * released.
 */
#include <errno.h>

#include "fuzz.h"
#include "tls_record.h"

typedef struct msg {
    uint8_t type;
    const uint8_t *text;
    size_t len;
    size_t end; /* where its record ends in the stream */
} msg;

enum { MAX_MSGS = 64 };

static void init_dir(goc_tls_dir *d)
{
    static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    FUZZ_CHECK(goc_aesgcm_init(&d->gcm, key, sizeof key));
    memcpy(d->salt, "salt", 4);
    d->seq = 7;
}

/* Seals the messages of material into a new stream; returns its length. */
static size_t seal_all(const uint8_t *m, size_t len, msg *msgs, size_t *nmsgs, uint8_t **out)
{
    goc_tls_dir tx;
    init_dir(&tx);
    size_t cap = 0, n = 0;
    uint8_t *s = NULL;
    *nmsgs = 0;
    while (len >= 3 && *nmsgs < MAX_MSGS) {
        uint8_t type = (m[0] & 1) ? GOC_TLS_REC_ALERT : GOC_TLS_REC_APPDATA;
        size_t l = (size_t)m[1] << 8 | m[2];
        m += 3, len -= 3;
        if (l > len)
            l = len;
        if (l > GOC_TLS_REC_MAX_TEXT)
            l = GOC_TLS_REC_MAX_TEXT;
        if (n + l + GOC_TLS_REC_OVERHEAD > cap) {
            cap = 2 * (n + l + GOC_TLS_REC_OVERHEAD);
            s = realloc(s, cap);
            FUZZ_CHECK(s != NULL);
        }
        uint8_t *text = fuzz_dup(m, l); /* seal reads exactly l bytes */
        ssize_t r = goc_tls_record_seal(&tx, type, text, l, s + n);
        free(text);
        FUZZ_CHECK(r == (ssize_t)(l + GOC_TLS_REC_OVERHEAD));
        n += (size_t)r;
        msgs[*nmsgs] = (msg){type, m, l, n};
        (*nmsgs)++;
        m += l, len -= l;
    }
    FUZZ_CHECK(tx.seq == 7 + *nmsgs);
    *out = s;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    fuzz_cut cut;
    fuzz_cut_init(&cut, data[0]);
    bool sealed = data[1] & 1;
    msg msgs[MAX_MSGS];
    size_t nmsgs = 0, len, flipped = SIZE_MAX;
    uint8_t *stream;
    if (sealed) {
        len = seal_all(data + 3, size - 3, msgs, &nmsgs, &stream);
        if (data[2] && len) {
            flipped = (size_t)data[2] * 37 % len;
            stream[flipped / 8] ^= (uint8_t)(1u << (flipped % 8));
            flipped /= 8;
        }
    } else {
        len = size - 3;
        stream = fuzz_dup(data + 3, len);
    }

    goc_tls_dir rx;
    init_dir(&rx);
    size_t taken = 0, received = 0, opened = 0;
    bool failed = false;
    while (received < len && !failed) {
        received += fuzz_cut_next(&cut, len - received);
        for (;;) { /* every record the bytes received so far complete */
            size_t have = received - taken;
            uint8_t *buf = fuzz_dup(stream + taken, have);
            uint8_t type = 0, *text = NULL;
            size_t n = 0;
            ssize_t r = goc_tls_record_open(&rx, buf, have, &type, &text, &n);
            if (r == 0) {
                /* need more: an incomplete header or record */
                FUZZ_CHECK(have < GOC_TLS_REC_HEADER ||
                           have < GOC_TLS_REC_HEADER + ((size_t)buf[3] << 8 | buf[4]));
                free(buf);
                break;
            }
            if (r < 0) {
                FUZZ_CHECK(r == -EPROTO);
                failed = true;
                free(buf);
                break;
            }
            FUZZ_CHECK((size_t)r <= have && (size_t)r == n + GOC_TLS_REC_OVERHEAD);
            FUZZ_CHECK(text == buf + GOC_TLS_REC_HEADER + 8);
            FUZZ_CHECK(sealed && opened < nmsgs); /* forged records never open */
            const msg *m = &msgs[opened];
            FUZZ_CHECK(taken + (size_t)r == m->end && type == m->type && n == m->len);
            FUZZ_CHECK(n == 0 || memcmp(text, m->text, n) == 0);
            FUZZ_CHECK(flipped == SIZE_MAX || flipped >= m->end); /* not the tampered one */
            opened++;
            taken += (size_t)r;
            free(buf);
        }
    }
    FUZZ_CHECK(rx.seq == 7 + opened);
    if (sealed) {
        /* every message opened, except from the tampered record on */
        size_t want = nmsgs;
        for (size_t i = 0; flipped != SIZE_MAX && i < nmsgs; i++)
            if (flipped < msgs[i].end) {
                want = i;
                break;
            }
        FUZZ_CHECK(opened == want);
        /* the tampered record fails, or its length grew past the stream */
        FUZZ_CHECK(want == nmsgs ? !failed : failed || taken < len);
    }
    goc_aesgcm_wipe(&rx.gcm);
    free(stream);
    return 0;
}

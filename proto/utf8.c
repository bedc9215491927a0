/* utf8.c: the strict UTF-8 check of utf8.h.
 *
 * Each lead byte says how many continuation bytes follow; the decoded code
 * point is then checked against the smallest value that needs that many
 * bytes (no overlongs), the surrogate block and U+10FFFF. Runs of ASCII are
 * skipped eight bytes at a time.
 *
 * Invariants: i only moves past bytes that were checked; no read at or past
 * s + len.
 */
#include "utf8.h"

#include <string.h>

/* Smallest code point that needs 1, 2 or 3 continuation bytes. */
static const uint32_t utf8_min[4] = {0, 0x80, 0x800, 0x10000};

size_t goc_utf8_seq(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t cp;
    if (c >= 0xC0 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF7) {
        need = 3;
        cp = c & 0x07u;
    } else {
        return 0; /* a continuation byte, or F8..FF */
    }
    if (avail - 1 < need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0u) != 0x80u)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3Fu);
    }
    if (cp < utf8_min[need] || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu))
        return 0;
    return need + 1;
}

bool goc_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = goc_utf8_seq(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

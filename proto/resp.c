/* resp.c: RESP2 replies parsed in place, commands encoded (resp.h).
 *
 * The parser walks the reply once, left to right, with an explicit stack
 * of the arrays still open (no recursion: goroutine stacks are small), so
 * its cost is one pass over the bytes and its memory the caller's nodes.
 *
 * Invariants while parsing:
 *  - pos is the offset of the next value's type byte; every byte before it
 *    belongs to values already turned into nodes.
 *  - open[d] is the node index of the d-th open array and left[d] the
 *    elements it still waits for (>= 1); depth arrays are open.
 *  - n counts the nodes found, whether or not they fit in cap: only those
 *    below cap are written.
 */
#include "resp.h"

#include <stdbool.h>
#include <string.h>

/* Longest line of a length or an integer: "-9223372036854775808". */
#define NUMBER_LINE_MAX 20

/* Parses a decimal int64 (optional '-') from s[0..len). false if it is
 * empty, has another character, or overflows. */
static bool parse_int(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    size_t i = neg;
    if (i == len)
        return false;
    uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Finds the line that starts at buf[from] and ends with CRLF, at most max
 * bytes long. Returns its length (the CR is at from + length), -EAGAIN
 * when the CRLF has not arrived (*need set), -EMSGSIZE when the line is
 * longer than max, -EPROTO for a CR not followed by LF. */
static long find_line(const char *buf, size_t len, size_t from, size_t max, bool number,
                      size_t *need)
{
    size_t avail = len - from;
    size_t look = avail < max + 1 ? avail : max + 1;
    const char *cr = memchr(buf + from, '\r', look);
    if (!cr) {
        if (avail > max)
            return number ? -EPROTO : -EMSGSIZE;
        *need = len + 1;
        return -EAGAIN;
    }
    size_t at = (size_t)(cr - buf);
    if (at + 1 == len) {
        *need = len + 1;
        return -EAGAIN;
    }
    if (buf[at + 1] != '\n')
        return -EPROTO;
    return (long)(at - from);
}

long resp_parse(const char *buf, size_t len, const resp_limits *lim, resp_value *nodes,
                size_t cap, size_t *nnodes, size_t *need)
{
    size_t max_bulk = lim && lim->max_bulk ? lim->max_bulk : RESP_DEFAULT_MAX_BULK;
    uint32_t max_elems = lim && lim->max_elems ? lim->max_elems : RESP_DEFAULT_MAX_ELEMS;
    int max_depth = lim && lim->max_depth ? lim->max_depth : RESP_DEFAULT_MAX_DEPTH;
    if (max_depth > RESP_MAX_DEPTH)
        max_depth = RESP_MAX_DEPTH;
    uint32_t open[RESP_MAX_DEPTH];
    int64_t left[RESP_MAX_DEPTH];
    int depth = 0;
    size_t pos = 0, n = 0;
    *need = 0;
    *nnodes = 0;
    do {
        if (pos >= len) {
            *need = pos + 3; /* the shortest value: a type byte and CRLF */
            return -EAGAIN;
        }
        char t = buf[pos];
        bool number = t == ':' || t == '$' || t == '*';
        if (!number && t != '+' && t != '-')
            return -EPROTO;
        long ll = find_line(buf, len, pos + 1, number ? NUMBER_LINE_MAX : max_bulk, number, need);
        if (ll < 0)
            return ll;
        const char *line = buf + pos + 1;
        size_t next = pos + 1 + (size_t)ll + 2;
        if (n >= UINT32_MAX)
            return -EMSGSIZE;
        resp_value v = {.type = RESP_STRING};
        int64_t x = 0;
        if (number && !parse_int(line, (size_t)ll, &x))
            return -EPROTO;
        switch (t) {
        case '+':
        case '-':
            v.type = t == '+' ? RESP_STRING : RESP_ERROR;
            v.str = line;
            v.len = (size_t)ll;
            break;
        case ':':
            v.type = RESP_INTEGER;
            v.integer = x;
            break;
        case '$':
            if (x < -1)
                return -EPROTO;
            if (x == -1) {
                v.type = RESP_NIL;
                break;
            }
            if ((uint64_t)x > max_bulk)
                return -EMSGSIZE;
            if (len - next < (size_t)x + 2) {
                *need = next + (size_t)x + 2;
                return -EAGAIN;
            }
            if (buf[next + (size_t)x] != '\r' || buf[next + (size_t)x + 1] != '\n')
                return -EPROTO;
            v.type = RESP_BULK;
            v.str = buf + next;
            v.len = (size_t)x;
            next += (size_t)x + 2;
            break;
        default: /* '*' */
            if (x < -1)
                return -EPROTO;
            if (x > (int64_t)max_elems)
                return -EMSGSIZE;
            v.type = x == -1 ? RESP_NIL : RESP_ARRAY;
            v.integer = x == -1 ? 0 : x;
            break;
        }
        uint32_t me = (uint32_t)n++;
        v.next = (uint32_t)n;
        if (me < cap)
            nodes[me] = v;
        pos = next;
        if (v.type == RESP_ARRAY && v.integer > 0) {
            if (depth == max_depth)
                return -EMSGSIZE;
            open[depth] = me;
            left[depth] = v.integer;
            depth++;
            continue;
        }
        /* A value is complete: close every array it completes. */
        while (depth > 0 && --left[depth - 1] == 0) {
            depth--;
            if (open[depth] < cap)
                nodes[open[depth]].next = (uint32_t)n;
        }
    } while (depth > 0);
    *nnodes = n;
    if (n > cap)
        return -ENOBUFS;
    return (long)pos;
}

/* Digits of v in decimal. */
static size_t digits(size_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Writes c, the decimal v, then CRLF at out. Returns the bytes written. */
static size_t put_header(char *out, char c, size_t v)
{
    size_t d = digits(v);
    out[0] = c;
    for (size_t i = d; i > 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[d + 1] = '\r';
    out[d + 2] = '\n';
    return d + 3;
}

size_t resp_encode_command(char *out, size_t cap, int argc, const char *const *argv,
                           const size_t *argvlen)
{
    size_t total = digits((size_t)argc) + 3;
    for (int i = 0; i < argc; i++)
        total += digits(argvlen[i]) + 3 + argvlen[i] + 2;
    if (total > cap)
        return total;
    size_t o = put_header(out, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        o += put_header(out + o, '$', argvlen[i]);
        if (argvlen[i])
            memcpy(out + o, argv[i], argvlen[i]);
        o += argvlen[i];
        out[o++] = '\r';
        out[o++] = '\n';
    }
    return total;
}

/* json_scan.c: the validating scan of json.h, one pass over the bytes with
 * no allocation and no recursion.
 *
 * A value is scanned by a small state machine: `value` reads one value,
 * `after` decides what follows it (a comma, the container's closing
 * bracket, or the end when no container is open), `key` reads a member's
 * name and colon. Open containers are remembered as one bit each (object
 * or array) in a bit stack on the C stack, so a scan's frame is the same
 * size however deep the text nests, which suits goroutine stacks.
 *
 * Strings go eight bytes at a time while none of them is a quote, a
 * backslash, a control character or a byte of a multi-byte sequence; the
 * first such byte is found from the word's mask and looked at alone (an
 * escape checked, a UTF-8 sequence validated). This assumes a
 * little-endian machine (x86-64, aarch64).
 *
 * Invariants: nothing is read at or past s->end; s->p only moves past
 * bytes that were checked; on an error s->p is left inside the value that
 * failed (it says where, roughly; callers only report that it failed).
 */
#include "json.h"

#include "utf8.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether any byte of w is zero (exact as to presence). */
static inline uint64_t has_zero(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* The bytes of w (little-endian) that need a closer look inside a string,
 * '"', '\\', below 0x20, 0x80 and above, as their high bits. Exact up to
 * the first such byte (the borrows that can mark a later byte wrongly come
 * only from an earlier marked one), so its lowest bit finds that byte. */
static inline uint64_t word_special(uint64_t w)
{
    return has_zero(w ^ (ONES * '"')) | has_zero(w ^ (ONES * '\\')) |
           ((w - ONES * 0x20) & ~w & HIGHS) | (w & HIGHS);
}

static inline int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The code unit of the four hex digits at p, or -1. */
static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

/* p at a backslash inside a string: the bytes of the escape, or 0 when it
 * is invalid (RFC 8259 section 7; surrogates must pair). */
static size_t escape_len(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 2) return 0;
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u':
        break;
    default:
        return 0;
    }
    if (end - p < 6) return 0;
    int u = hex4(p + 2);
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return 0; /* not hex, or a lone low half */
    if (u < 0xD800 || u > 0xDBFF) return 6;
    /* a high surrogate: a low one must follow */
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return 0;
    int lo = hex4(p + 8);
    return lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 0;
}

/* Bytes a string cannot hold as they are: '"' ends it, '\\' starts an
 * escape, controls are refused, 0x80 and above begin a UTF-8 sequence. */
static const uint8_t str_special[256] = {
    [0 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xFF] = 1,
};

int goc_json_scan_string(goc_json_scan *s, goc_json_value *out)
{
    const unsigned char *p = (const unsigned char *)s->p + 1;
    const unsigned char *end = (const unsigned char *)s->end;
    uint8_t flags = 0;
    for (;;) {
        if (end - p >= 8) {
            uint64_t w, m;
            memcpy(&w, p, 8);
            if (!(m = word_special(w))) {
                p += 8;
                continue;
            }
            p += __builtin_ctzll(m) >> 3;
        } else {
            while (p < end && !str_special[*p])
                p++;
            if (p >= end) goto bad;
        }
        unsigned char c = *p;
        if (c == '"') break;
        size_t n;
        if (c == '\\') {
            flags = GOC_JSON_ESCAPED;
            n = escape_len(p, end);
        } else if (c < 0x20) {
            n = 0;
        } else {
            n = goc_utf8_seq(p, (size_t)(end - p));
        }
        if (n == 0) goto bad;
        p += n;
    }
    out->text = s->p;
    out->len = (size_t)((const char *)p + 1 - s->p);
    out->type = GOC_JSON_STRING;
    out->flags = flags;
    s->p = (const char *)p + 1;
    return 0;
bad:
    s->p = (const char *)p;
    return -EBADMSG;
}

/* 2^1024 - 2^970, the smallest decimal that rounds to infinity (half way
 * between DBL_MAX and 2^1024, where round-half-even goes up): a number at
 * or above it overflows a double. Its 309 digits, the first at 10^308. */
static const char overflow_digits[] =
    "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664"
    "90179775872070963302864166928879109465555478519404026306574886715058206819089020007083"
    "83676273854845817711531764475730270069855571366959622842914819860834936475292719074168"
    "444365510704342711559699508093042880177904174497792";

/* Whether digits d[0..n) (the first one not 0), read as d0.d1d2... times
 * 10^308, reach overflow_digits. */
static bool digits_overflow(const char *const *runs, const size_t *lens, int nruns)
{
    size_t k = 0;
    for (int r = 0; r < nruns; r++) {
        for (size_t i = 0; i < lens[r]; i++, k++) {
            char want = k < sizeof overflow_digits - 1 ? overflow_digits[k] : '0';
            if (runs[r][i] != want) return runs[r][i] > want;
        }
    }
    /* all given digits equal the threshold's first ones: overflow only if
     * the threshold has nothing but zeros left (it does not end in zeros) */
    return k >= sizeof overflow_digits - 1;
}

/* Whether the number whose integer digits are ip[0..ni), fraction digits
 * fp[0..nf) and decimal exponent exp rounds beyond DBL_MAX. */
static bool number_overflows(const char *ip, size_t ni, const char *fp, size_t nf, int64_t exp)
{
    const char *runs[2];
    size_t lens[2];
    int nruns;
    int64_t e10; /* the power of ten of the first significant digit */
    if (ni > 1 || ip[0] != '0') {
        e10 = (int64_t)ni - 1 + exp;
        runs[0] = ip, lens[0] = ni, runs[1] = fp, lens[1] = nf, nruns = 2;
    } else {
        size_t z = 0;
        while (z < nf && fp[z] == '0')
            z++;
        if (z == nf) return false; /* zero */
        e10 = -(int64_t)z - 1 + exp;
        runs[0] = fp + z, lens[0] = nf - z, nruns = 1;
    }
    if (e10 < 308) return false;
    if (e10 > 308) return true;
    return digits_overflow(runs, lens, nruns);
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Scans the number at s->p (a '-' or a digit). */
static int scan_number(goc_json_scan *s, goc_json_value *out)
{
    const char *p = s->p, *end = s->end;
    uint8_t flags = GOC_JSON_INTEGER;
    if (*p == '-') p++;
    const char *ip = p;
    if (p >= end || !is_digit(*p)) goto bad;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    size_t ni = (size_t)(p - ip);
    const char *fp = p;
    size_t nf = 0;
    if (p < end && *p == '.') {
        flags = 0;
        fp = ++p;
        while (p < end && is_digit(*p))
            p++;
        nf = (size_t)(p - fp);
        if (nf == 0) goto bad;
    }
    int64_t exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        flags = 0;
        p++;
        bool neg = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+')) p++;
        if (p >= end || !is_digit(*p)) goto bad;
        for (; p < end && is_digit(*p); p++)
            if (exp < 1000000000) exp = exp * 10 + (*p - '0'); /* saturates: far past any double */
        if (neg) exp = -exp;
    }
    /* Only long or exponent-bearing numbers can overflow a double. */
    if ((ni > 308 || exp > 0) && number_overflows(ip, ni, fp, nf, exp)) goto bad;
    out->text = s->p;
    out->len = (size_t)(p - s->p);
    out->type = GOC_JSON_NUMBER;
    out->flags = flags;
    s->p = p;
    return 0;
bad:
    s->p = p;
    return -EBADMSG;
}

/* Scans a literal word at s->p: true, false or null. */
static int scan_word(goc_json_scan *s, goc_json_value *out)
{
    static const struct {
        const char *w;
        size_t n;
        uint8_t type;
    } words[] = {{"true", 4, GOC_JSON_TRUE}, {"false", 5, GOC_JSON_FALSE}, {"null", 4, GOC_JSON_NULL}};
    for (size_t i = 0; i < 3; i++) {
        if (*s->p == words[i].w[0]) {
            if ((size_t)(s->end - s->p) < words[i].n || memcmp(s->p, words[i].w, words[i].n) != 0)
                return -EBADMSG;
            *out = (goc_json_value){s->p, words[i].n, words[i].type, 0};
            s->p += words[i].n;
            return 0;
        }
    }
    return -EBADMSG;
}

void goc_json_scan_init(goc_json_scan *s, const char *text, size_t len, size_t max_depth)
{
    s->p = text;
    s->end = text + len;
    s->max_depth = max_depth < 1 ? 1 : max_depth > GOC_JSON_MAX_DEPTH ? GOC_JSON_MAX_DEPTH : max_depth;
}

/* The open containers of one goc_json_scan_value call: bit i of the stack
 * is 1 when the i-th is an object. */
#define BIT_IS_OBJECT(st, i) (((st)[(i) / 64] >> ((i) % 64)) & 1u)

int goc_json_scan_value(goc_json_scan *s, size_t depth, goc_json_value *out)
{
    uint64_t stack[GOC_JSON_MAX_DEPTH / 64];
    size_t level = 0; /* containers this call opened and has not closed */
    goc_json_value inner, *v = out; /* a scalar goes to out only when it is the value */
    int c = goc_json_scan_peek(s), rc;
    const char *start = s->p;
value:
    switch (c) {
    case '{':
    case '[':
        if (depth + level + 1 > s->max_depth) return -E2BIG;
        if (c == '{')
            stack[level / 64] |= 1ull << (level % 64);
        else
            stack[level / 64] &= ~(1ull << (level % 64));
        level++;
        s->p++;
        v = &inner;
        c = goc_json_scan_peek(s);
        if (c == (BIT_IS_OBJECT(stack, level - 1) ? '}' : ']')) {
            s->p++;
            level--;
            goto after;
        }
        if (BIT_IS_OBJECT(stack, level - 1)) goto key;
        goto value;
    case '"':
        rc = goc_json_scan_string(s, v);
        break;
    case 't':
    case 'f':
    case 'n':
        rc = scan_word(s, v);
        break;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            rc = scan_number(s, v);
        else
            rc = -EBADMSG;
        break;
    }
    if (rc < 0) return rc;
    if (level == 0) return 0; /* a scalar alone, already in out */
after:
    if (level == 0) {
        *out = (goc_json_value){start, (size_t)(s->p - start),
                                start[0] == '{' ? GOC_JSON_OBJECT : GOC_JSON_ARRAY, 0};
        return 0;
    }
    c = goc_json_scan_peek(s);
    if (c == ',') {
        s->p++;
        c = goc_json_scan_peek(s);
        if (BIT_IS_OBJECT(stack, level - 1)) goto key;
        goto value;
    }
    if (c == (BIT_IS_OBJECT(stack, level - 1) ? '}' : ']')) {
        s->p++;
        level--;
        goto after;
    }
    return -EBADMSG;
key:
    if (c != '"') return -EBADMSG;
    if ((rc = goc_json_scan_string(s, &inner)) < 0) return rc;
    if (goc_json_scan_peek(s) != ':') return -EBADMSG;
    s->p++;
    c = goc_json_scan_peek(s);
    goto value;
}

int goc_json_validate(const char *text, size_t len, size_t max_depth, goc_json_value *out)
{
    goc_json_scan s;
    goc_json_value v;
    goc_json_scan_init(&s, text, len, max_depth);
    int rc = goc_json_scan_value(&s, 0, &v);
    if (rc < 0) return rc;
    if (goc_json_scan_peek(&s) != -1) return -EBADMSG;
    if (out) *out = v;
    return 0;
}

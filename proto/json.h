/* json.h: strict JSON (RFC 8259) read in place and written straight into a
 * buffer, with no tree and no I/O (doc/contributing.md, rule 7). Names use the prefix
 * `goc_json_`; `goc__json_` is internal.
 *
 * Reading has two steps. A scan validates bytes the caller keeps and cuts
 * values out of them (goc_json_value: the value's first byte, its length,
 * its type); it allocates nothing and goes over each byte once. The
 * readers then work on text a scan accepted: iterate the members of an
 * object or the elements of an array, find a member by name, decode a
 * string, convert a number. So a program reads only the values it needs,
 * and passes the others on as the text they were sent as.
 *
 * What a scan accepts is RFC 8259's grammar, exactly:
 *   - UTF-8 only, strict (no overlong forms, no surrogates, nothing above
 *     U+10FFFF, no sequence cut short);
 *   - in strings, no byte below 0x20 and only the escapes \" \\ \/ \b \f
 *     \n \r \t \uXXXX, where a \u escape of a high surrogate (D800-DBFF)
 *     must be followed by one of a low surrogate (DC00-DFFF) and a low
 *     surrogate alone is refused; \u0000 is fine, in keys too;
 *   - numbers -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: no leading
 *     zeros, no leading '+', no bare '.', nothing after a trailing '.';
 *   - no trailing commas, no comments, whitespace only of space, tab, CR
 *     and LF, one value per text;
 *   - and one rule on magnitude, a number too large for any use: one whose
 *     value rounds beyond the largest double (1e309, or 400 digits) is
 *     refused, as jansson and most parsers do. An integer beyond 64 bits is
 *     valid JSON; goc_json_int64() says -ERANGE when it is read as one.
 * Nesting is limited by the caller (max_depth, the outermost array or
 * object counting 1), at most GOC_JSON_MAX_DEPTH.
 *
 * Writing appends to a buf_t (proto/buf.h): raw bytes, literals, escaped
 * strings, integers and doubles.
 *
 * Memory: goc_malloc (buffers, and the rare copy a long number needs).
 * Thread safety: none needed; nothing is shared.
 */
#ifndef GOC_PROTO_JSON_H
#define GOC_PROTO_JSON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* The deepest nesting a scan can check (jansson's own limit). */
#define GOC_JSON_MAX_DEPTH 2048

/* A value's type, told by its first byte. */
typedef enum goc_json_type {
    GOC_JSON_NONE = 0, /* no value (an absent member) */
    GOC_JSON_NULL,
    GOC_JSON_FALSE,
    GOC_JSON_TRUE,
    GOC_JSON_NUMBER,
    GOC_JSON_STRING,
    GOC_JSON_ARRAY,
    GOC_JSON_OBJECT,
} goc_json_type;

/* goc_json_value.flags */
enum {
    GOC_JSON_ESCAPED = 1u << 0, /* a string holding a backslash: decode it */
    GOC_JSON_INTEGER = 1u << 1, /* a number with no fraction or exponent */
};

/* One value inside a text that a scan accepted. Borrowed: valid while the
 * text is. */
typedef struct goc_json_value {
    const char *text; /* its first byte: a quote, a bracket, a digit... */
    size_t len;       /* its bytes, quotes and brackets included */
    uint8_t type;     /* goc_json_type; GOC_JSON_NONE: no value */
    uint8_t flags;    /* GOC_JSON_ESCAPED, GOC_JSON_INTEGER */
} goc_json_value;

/* A scan in progress over text[0..len): where it is, and the nesting it
 * allows. Caller's storage; set it with goc_json_scan_init(). */
typedef struct goc_json_scan {
    const char *p;    /* the next byte to read */
    const char *end;  /* one past the last byte */
    size_t max_depth; /* deepest nesting allowed, outermost 1 */
} goc_json_scan;

/* --- scanning (validating) --- */

/* Prepares a scan of text[0..len) allowing max_depth levels of nesting
 * (clamped to 1..GOC_JSON_MAX_DEPTH). */
void goc_json_scan_init(goc_json_scan *s, const char *text, size_t len, size_t max_depth);

/* Skips whitespace; returns the next byte (0..255), or -1 at the end. */
static inline int goc_json_scan_peek(goc_json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
    return s->p < s->end ? (unsigned char)*s->p : -1;
}

/* Skips whitespace, then validates one value that sits inside `depth`
 * open arrays or objects, sets *out to it and moves past it.
 * Returns 0; -EBADMSG when the bytes are not a JSON value (s->p then
 * points near the problem); -E2BIG when an array or object inside it
 * nests deeper than max_depth (a check made as the scan meets it, so
 * whatever follows is not looked at). */
int goc_json_scan_value(goc_json_scan *s, size_t depth, goc_json_value *out);

/* Validates the string at s->p (which must be a quote), sets *out and
 * moves past it. 0 or -EBADMSG. */
int goc_json_scan_string(goc_json_scan *s, goc_json_value *out);

/* The whole text must be one value with only whitespace around it:
 * 0 (*out set; out may be NULL), -EBADMSG or -E2BIG. */
int goc_json_validate(const char *text, size_t len, size_t max_depth, goc_json_value *out);

/* --- reading values a scan accepted --- */

/* Walks the members of an object or the elements of an array. */
typedef struct goc_json_iter {
    const char *p;   /* the next member or element, or its comma */
    const char *end; /* the closing bracket */
} goc_json_iter;

/* Starts a walk over container v (an array or object). */
void goc_json_iter_init(goc_json_iter *it, const goc_json_value *v);

/* The next element of an array (key NULL) or member of an object (key
 * set to its name, a string value). Returns false at the end. */
bool goc_json_iter_next(goc_json_iter *it, goc_json_value *key, goc_json_value *val);

/* Finds member `name` (name_len bytes, compared with the decoded key) of
 * object obj; the last one when the name repeats, as jansson does.
 * Returns true and sets *out, or false (also when obj is no object). */
bool goc_json_object_get(const goc_json_value *obj, const char *name, size_t name_len,
                         goc_json_value *out);

/* Whether string value v decodes to s[0..n). */
bool goc_json_string_equals(const goc_json_value *v, const char *s, size_t n);

/* Decodes string value v into dst, which must hold v->len - 1 bytes (the
 * decoded text is never longer than the raw one between its quotes), and
 * NUL-terminates it. Returns the decoded length (it may hold NUL bytes). */
size_t goc_json_string_decode(const goc_json_value *v, char *dst);

/* The integer value of number v: 0 and *out set; -EINVAL if v has a
 * fraction or an exponent (1.0 and 1e3 are not integers here); -ERANGE
 * beyond int64. */
int goc_json_int64(const goc_json_value *v, int64_t *out);

/* The double nearest to number v (as strtod). */
double goc_json_double(const goc_json_value *v);

/* --- writing ---
 *
 * Into a buf_t (proto/buf.h): its error is sticky, so a writer appends a
 * whole text and checks b->err once at the end. */

/* Appends n bytes as they are (JSON already, or structure). Inline: the
 * writers' every piece goes through here. */
static inline void goc_json_raw(buf_t *b, const void *s, size_t n)
{
    if (n >= b->cap - b->len && buf_reserve(b, n) < 0) return; /* the room for a NUL too */
    if (b->err) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* Appends a string literal as it is: goc_json_lit(b, "{\"id\":"). Only
 * a literal compiles (its size is taken). */
#define goc_json_lit(b, s) goc_json_raw((b), "" s, sizeof("" s) - 1)

/* Appends s[0..n) as a JSON string, quoted and escaped as jansson does
 * (\" \\ \b \f \n \r \t, other controls as \u00XX, the rest as it is);
 * an invalid UTF-8 sequence becomes U+FFFD, so the output is always
 * valid JSON. */
void goc_json_str(buf_t *b, const char *s, size_t n);

/* Appends an integer. */
void goc_json_int(buf_t *b, int64_t v);

/* Appends a double as jansson does (%.17g, with ".0" when it would read as
 * an integer); infinities and NaN, which JSON cannot say, as null. */
void goc_json_real(buf_t *b, double v);

#endif

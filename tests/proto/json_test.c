/* json_test.c: strict JSON read in place and written into buffers
 * (proto/json.h, proto/json_tree.h).
 *
 * One case per rule of RFC 8259 that a scan enforces: each lists texts
 * that must be accepted and texts that must be refused, and every one of
 * them is also given to jansson (JSON_DECODE_ANY | JSON_ALLOW_NUL |
 * JSON_DECODE_INT_AS_REAL), which must agree, and whose tree must equal
 * ours for the accepted ones. Then the readers (walking, finding, decoding,
 * converting), the writers (against json_dumps' exact output), and the
 * tree bridge. tests/fuzz/fuzz_json holds the same agreement over random
 * input.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <float.h>
#include <math.h>

#include "json.h"
#include "json_tree.h"

/* One text, len bytes (texts may hold NUL bytes). */
typedef struct text {
    const char *s;
    size_t len;
} text;

#define T(s) {s, sizeof(s) - 1}

/* Checks that our scan gives `want` (0, -EBADMSG, -E2BIG) on t, that
 * jansson accepts exactly when we do, and that both trees are equal. */
static bool agree(text t, int want, size_t max_depth)
{
    goc_json_value v;
    int rc = goc_json_validate(t.s, t.len, max_depth, &v);
    if (rc != want) {
        test__fail(__FILE__, __LINE__, "%.*s: scan says %d, want %d", (int)t.len, t.s, rc, want);
        return false;
    }
    if (want == -E2BIG) return true; /* our limit, not the grammar's */
    json_error_t err;
    json_t *j = json_loadb(t.s, t.len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                           &err);
    bool ok = true;
    if ((j != NULL) != (rc == 0) && !(rc == 0 && json_error_code(&err) == json_error_null_byte_in_key)) {
        test__fail(__FILE__, __LINE__, "%.*s: jansson %s (%s)", (int)t.len, t.s,
                   j ? "accepts" : "refuses", j ? "" : err.text);
        ok = false;
    }
    if (j && rc == 0) {
        /* our tree keeps 64-bit integers; compare as reals like jansson */
        json_t *ours = NULL;
        buf_t b = {0};
        goc_json_tree(&v, &ours);
        goc_json_tree_write(&b, ours);
        json_t *again = json_loadb(b.data, b.len,
                                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
        if (!again || !json_equal(again, j)) {
            test__fail(__FILE__, __LINE__, "%.*s: our value %.*s differs from jansson's", (int)t.len,
                       t.s, (int)b.len, b.data);
            ok = false;
        }
        json_decref(again);
        json_decref(ours);
        buf_free(&b);
    }
    json_decref(j);
    return ok;
}

static void check_rule(const text *good, size_t ngood, const text *bad, size_t nbad)
{
    for (size_t i = 0; i < ngood; i++)
        CHECK(agree(good[i], 0, 64));
    for (size_t i = 0; i < nbad; i++)
        CHECK(agree(bad[i], -EBADMSG, 64));
}

#define RULE(good, bad) check_rule(good, sizeof good / sizeof *good, bad, sizeof bad / sizeof *bad)

/* RFC 8259 section 8.1: UTF-8, strictly (RFC 3629). */
static void test_rule_utf8(void)
{
    static const text good[] = {
        T("\"\xC3\xA9\""), T("\"\xE2\x82\xAC\""), T("\"\xF0\x9F\x98\x80\""), T("\"\xF4\x8F\xBF\xBF\""),
        T("{\"\xC3\xA9\":\"\xED\x9F\xBF\"}"), T("\"\x7F\""),
    };
    static const text bad[] = {
        T("\"\xC0\x80\""),         /* overlong NUL */
        T("\"\xC1\xBF\""),         /* overlong */
        T("\"\xE0\x80\x80\""),     /* overlong */
        T("\"\xF0\x80\x80\x80\""), /* overlong */
        T("\"\xED\xA0\x80\""),     /* a surrogate encoded */
        T("\"\xF4\x90\x80\x80\""), /* above U+10FFFF */
        T("\"\xF5\x80\x80\x80\""), T("\"\xFF\""), T("\"\x80\""), /* stray continuation */
        T("\"\xC3\""),             /* cut short before the quote */
        T("\"\xE2\x82\""), T("\"\xC3"), T("{\"\xC3\x28\":1}"), /* in a key */
        T("\xC3\xA9"),             /* outside a string */
        T("[1,\xEF\xBB\xBF 2]"),
    };
    RULE(good, bad);
}

/* Section 7: \u escapes of surrogates must pair; \u0000 is a character. */
static void test_rule_surrogates(void)
{
    static const text good[] = {
        T("\"\\uD83D\\uDE00\""), T("\"\\ud83d\\ude00\""), T("\"\\uDBFF\\uDFFF\""),
        T("\"\\u0000\""), T("\"a\\u0000b\""), T("\"\\uFFFF\""), T("\"\\uD7FF\\uE000\""),
        T("{\"\\u0000\":1}"), /* a NUL in a key: RFC 8259 allows it (jansson does not) */
    };
    static const text bad[] = {
        T("\"\\uD800\""), T("\"\\uDC00\""), T("\"\\uDFFF\""), T("\"\\uD800\\u0041\""),
        T("\"\\uD800x\""), T("\"\\uDBFF\\uDBFF\""), T("\"\\uDC00\\uD800\""), T("\"\\uD800\\\""),
        T("\"\\uD800\\n\""), T("{\"\\uDE00\":1}"),
    };
    RULE(good, bad);
}

/* Section 6: int = zero / ( digit1-9 *DIGIT ). */
static void test_rule_leading_zeros(void)
{
    static const text good[] = {T("0"), T("-0"), T("0.5"), T("0e5"), T("0E-0"), T("10"), T("-0.0"),
                                T("[0,0]")};
    static const text bad[] = {T("01"), T("-01"), T("00"), T("012.5"), T("[00]"), T("{\"a\":01}"),
                               T("0001")};
    RULE(good, bad);
}

/* Sections 4 and 5: values separated by commas, none after the last. */
static void test_rule_trailing_commas(void)
{
    static const text good[] = {T("[1,2]"), T("{\"a\":1,\"b\":2}"), T("[]"), T("{}"), T("[[],{}]")};
    static const text bad[] = {T("[1,]"), T("{\"a\":1,}"), T("[,1]"), T("[1,,2]"), T("{,}"), T("[,]"),
                               T("{\"a\":1,,\"b\":2}"), T("[1,]]"), T("[1] ,")};
    RULE(good, bad);
}

/* Section 7: characters below U+0020 must be escaped in strings. */
static void test_rule_control_chars(void)
{
    static const text good[] = {T("\"\\t\\n\\r\\b\\f\""), T("\"\\u001f\""), T("\"\x7F\""),
                                T("\" \"")};
    text bad[32];
    char raw[32][3];
    for (int c = 0; c < 32; c++) {
        raw[c][0] = '"';
        raw[c][1] = (char)c;
        raw[c][2] = '"';
        bad[c] = (text){raw[c], 3};
    }
    RULE(good, bad);
    static const text bad_key[] = {T("{\"a\tb\":1}"), T("[\"\n\"]")};
    static const text none[] = {T("1")};
    RULE(none, bad_key);
}

/* Section 6 and 9: a number must fit its use; one beyond any double is
 * refused outright (jansson's and most parsers' rule). */
static void test_rule_number_range(void)
{
    static char big_int[400], threshold[320], below[320], e308[16];
    memset(big_int, '9', 309);                 /* 10^309 - 1 */
    big_int[309] = 0;
    snprintf(threshold, sizeof threshold, "%s",
             "17976931348623158079372897140530341507993413271003782693617377898044496829276475"
             "09466490179775872070963302864166928879109465555478519404026306574886715058206819"
             "08902000708383676273854845817711531764475730270069855571366959622842914819860834"
             "936475292719074168444365510704342711559699508093042880177904174497792");
    snprintf(below, sizeof below, "%s", threshold);
    below[308] = '1'; /* one less in the last place: rounds to DBL_MAX */
    snprintf(e308, sizeof e308, "1e308");
    const text good[] = {
        T("1.7976931348623157e308"), T("-1.7976931348623157e308"), {e308, strlen(e308)},
        {below, strlen(below)}, T("1e-400"), T("0e99999999999"), T("0.0000e400"),
        T("123456789012345678901234567890"), T("-9223372036854775809"),
        T("0.00000000000000000000000000000000000000000000001e354"),
    };
    const text bad[] = {
        T("1e309"), T("-1e309"), {big_int, 309}, {threshold, strlen(threshold)},
        T("1.7976931348623159e308"), T("1e99999999999999999999"), T("10e308"), T("0.1e310"),
    };
    RULE(good, bad);
    /* beyond int64 is valid JSON, and refused when read as an integer */
    goc_json_value v;
    int64_t i;
    CHECK_EQ_INT(goc_json_validate("9223372036854775808", 19, 1, &v), 0);
    CHECK_EQ_INT(goc_json_int64(&v, &i), -ERANGE);
    CHECK_EQ_INT(goc_json_validate("-9223372036854775809", 20, 1, &v), 0);
    CHECK_EQ_INT(goc_json_int64(&v, &i), -ERANGE);
}

/* Section 6: the number grammar itself. */
static void test_rule_number_grammar(void)
{
    static const text good[] = {T("-1.5e+10"), T("1E-2"), T("12.0e0"), T("-0.0e-0")};
    static const text bad[] = {T("+1"), T(".5"), T("1."), T("1.e5"), T("1e"), T("1e+"), T("-"),
                               T("--1"), T("0x10"), T("1_000"), T("Infinity"), T("-Infinity"),
                               T("NaN"), T("1.5.2"), T("1e5e5"), T("- 1"), T("1 .5")};
    RULE(good, bad);
}

/* Section 3: the three literals, lower case, whole. */
static void test_rule_literals(void)
{
    static const text good[] = {T("true"), T("false"), T("null"), T("[true,false,null]")};
    static const text bad[] = {T("tru"), T("True"), T("nul"), T("nulll"), T("truefalse"),
                               T("undefined"), T("[t]"), T("fals")};
    RULE(good, bad);
}

/* Sections 2, 4, 5: one value, strings as keys, colons, brackets. */
static void test_rule_structure(void)
{
    static const text good[] = {T("\"\""), T("{\"\":\"\"}"), T("[[[]]]"), T("{\"a\":{\"b\":[1]}}"),
                                T("{\"a\":1,\"a\":2}") /* duplicates: allowed */};
    static const text bad[] = {T(""), T(" "), T("["), T("]"), T("{\"a\"}"), T("{\"a\":}"),
                               T("{a:1}"), T("{'a':1}"), T("[1 2]"), T("1 2"), T("[1]]"),
                               T("{\"a\":1}}"), T("/* c */1"), T("1 // c"), T("'a'"),
                               T("{\"a\" 1}"), T("{1:1}"), T("[\"a\":1]"), T("\"abc"), T("{\"a\":1"),
                               T("\0"), T("[\0]")};
    RULE(good, bad);
}

/* Where jansson and RFC 8259 part, we keep to the RFC: a key may hold
 * \u0000 (jansson: "NUL byte in object key not supported"), and a NUL byte
 * after a number or a literal is an error (jansson's lexer puts the byte
 * back and then takes its buffer for empty, so the byte vanishes). */
static void test_jansson_differences(void)
{
    static const text nul_key[] = {T("{\"\\u0000\":1}"), T("{\"a\\u0000\":{\"\\u0000\":[]}}")};
    static const text nul_byte[] = {T("1\0"), T("[1\0]"), T("[true\0]"), T("{\"a\":null\0}")};
    json_error_t err;
    for (size_t i = 0; i < sizeof nul_key / sizeof *nul_key; i++) {
        CHECK_EQ_INT(goc_json_validate(nul_key[i].s, nul_key[i].len, 8, NULL), 0);
        CHECK(!json_loadb(nul_key[i].s, nul_key[i].len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err));
        CHECK_EQ_INT(json_error_code(&err), json_error_null_byte_in_key);
    }
    for (size_t i = 0; i < sizeof nul_byte / sizeof *nul_byte; i++) {
        CHECK_EQ_INT(goc_json_validate(nul_byte[i].s, nul_byte[i].len, 8, NULL), -EBADMSG);
        json_t *j = json_loadb(nul_byte[i].s, nul_byte[i].len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        CHECK(j != NULL);
        json_decref(j);
    }
}

/* Section 2: whitespace is space, tab, LF and CR only. */
static void test_rule_whitespace(void)
{
    static const text good[] = {T(" \t\r\n1\n"), T("[ 1 , 2 ]"), T("{ \"a\" : 1 }")};
    static const text bad[] = {T("\f1"), T("\v1"), T("\xC2\xA0" "1"), T("[1,\f2]")};
    RULE(good, bad);
}

/* Section 7: the escapes, and only those. */
static void test_rule_escapes(void)
{
    static const text good[] = {T("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), T("\"\\u00e9\\u00E9\"")};
    static const text bad[] = {T("\"\\x41\""), T("\"\\a\""), T("\"\\U0041\""), T("\"\\u00G0\""),
                               T("\"\\u12\""), T("\"\\\""), T("\"\\'\""), T("\"\\0\""),
                               T("\"\\u 123\"")};
    RULE(good, bad);
}

/* Nesting is the caller's limit, checked as the scan meets it. */
static void test_depth_limit(void)
{
    char deep[300];
    for (int i = 0; i < 100; i++)
        deep[i] = '[', deep[200 - 1 - i] = ']';
    CHECK_EQ_INT(goc_json_validate(deep, 200, 100, NULL), 0);
    CHECK_EQ_INT(goc_json_validate(deep, 200, 99, NULL), -E2BIG);
    /* the limit is met before the missing closers */
    CHECK_EQ_INT(goc_json_validate(deep, 100, 99, NULL), -E2BIG);
    CHECK_EQ_INT(goc_json_validate(deep, 100, 100, NULL), -EBADMSG);
    /* brackets in strings do not count */
    CHECK_EQ_INT(goc_json_validate("[\"[[[[\"]", 8, 1, NULL), 0);
    CHECK_EQ_INT(goc_json_validate("{\"a\":{}}", 8, 1, NULL), -E2BIG);
    /* a scan inside depth already open counts those */
    goc_json_scan s;
    goc_json_value v;
    goc_json_scan_init(&s, "[1]", 3, 3);
    CHECK_EQ_INT(goc_json_scan_value(&s, 3, &v), -E2BIG);
    goc_json_scan_init(&s, "[1]", 3, 3);
    CHECK_EQ_INT(goc_json_scan_value(&s, 2, &v), 0);
    CHECK_EQ_INT(v.type, GOC_JSON_ARRAY);
    CHECK_EQ_INT(v.len, 3);
}

/* Walking, finding (the last duplicate), types and flags. */
static void test_readers(void)
{
    const char *t = " { \"a\" : [1, \"x\\\"]\", {\"b\":2}] , \"\\u0061\":-3.5e1, \"c\":true,"
                    "\"a\":null } ";
    goc_json_value doc, v, k;
    CHECK_EQ_INT(goc_json_validate(t, strlen(t), 8, &doc), 0);
    CHECK_EQ_INT(doc.type, GOC_JSON_OBJECT);
    CHECK(doc.text[0] == '{' && doc.text[doc.len - 1] == '}');
    CHECK(goc_json_object_get(&doc, "a", 1, &v)); /* the last of three: "\u0061" is "a" too */
    CHECK_EQ_INT(v.type, GOC_JSON_NULL);
    CHECK(goc_json_object_get(&doc, "c", 1, &v));
    CHECK_EQ_INT(v.type, GOC_JSON_TRUE);
    CHECK(!goc_json_object_get(&doc, "b", 1, &v));
    goc_json_iter it;
    goc_json_iter_init(&it, &doc);
    CHECK(goc_json_iter_next(&it, &k, &v));
    CHECK(goc_json_string_equals(&k, "a", 1));
    CHECK_EQ_INT(v.type, GOC_JSON_ARRAY);
    CHECK_EQ_INT(v.len, strlen("[1, \"x\\\"]\", {\"b\":2}]"));
    goc_json_iter inner;
    goc_json_value e;
    goc_json_iter_init(&inner, &v);
    CHECK(goc_json_iter_next(&inner, NULL, &e));
    CHECK(e.type == GOC_JSON_NUMBER && (e.flags & GOC_JSON_INTEGER) && e.len == 1);
    CHECK(goc_json_iter_next(&inner, NULL, &e));
    CHECK(e.type == GOC_JSON_STRING && (e.flags & GOC_JSON_ESCAPED));
    CHECK(goc_json_string_equals(&e, "x\"]", 3));
    CHECK(goc_json_iter_next(&inner, NULL, &e));
    CHECK_EQ_INT(e.type, GOC_JSON_OBJECT);
    CHECK(!goc_json_iter_next(&inner, NULL, &e));
    CHECK(goc_json_iter_next(&it, &k, &v));
    CHECK(k.flags & GOC_JSON_ESCAPED);
    CHECK(v.type == GOC_JSON_NUMBER && !(v.flags & GOC_JSON_INTEGER));
    CHECK(goc_json_double(&v) == -35.0);
    int64_t i;
    CHECK_EQ_INT(goc_json_int64(&v, &i), -EINVAL);
    CHECK(goc_json_iter_next(&it, &k, &v));
    CHECK(goc_json_iter_next(&it, &k, &v));
    CHECK(!goc_json_iter_next(&it, &k, &v));
    /* empty containers */
    CHECK_EQ_INT(goc_json_validate("[ ]", 3, 1, &doc), 0);
    goc_json_iter_init(&it, &doc);
    CHECK(!goc_json_iter_next(&it, NULL, &v));
}

static void test_decode(void)
{
    static const struct {
        const char *json, *want;
        size_t want_len;
    } cases[] = {
        {"\"plain\"", "plain", 5},
        {"\"\"", "", 0},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u00e9\\u20AC\"", "\xC3\xA9\xE2\x82\xAC", 5},
        {"\"\\uD83D\\uDE00!\"", "\xF0\x9F\x98\x80!", 5},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\xE2\x82\xAC\\n\"", "\xE2\x82\xAC\n", 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        goc_json_value v;
        char out[64];
        CHECK_EQ_INT(goc_json_validate(cases[c].json, strlen(cases[c].json), 1, &v), 0);
        size_t n = goc_json_string_decode(&v, out);
        CHECK_EQ_INT(n, cases[c].want_len);
        CHECK(memcmp(out, cases[c].want, n) == 0 && out[n] == 0);
        CHECK(goc_json_string_equals(&v, cases[c].want, cases[c].want_len));
        CHECK(!goc_json_string_equals(&v, "plainx", 6));
    }
}

static void test_int64(void)
{
    static const struct {
        const char *json;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", 0, 0},
        {"-0", 0, 0},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", -ERANGE, 0},
        {"-9223372036854775809", -ERANGE, 0},
        {"18446744073709551616", -ERANGE, 0},
        {"99999999999999999999999", -ERANGE, 0},
        {"1.0", -EINVAL, 0},
        {"1e3", -EINVAL, 0},
        {"\"1\"", -EINVAL, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        goc_json_value v;
        int64_t got = 42;
        CHECK_EQ_INT(goc_json_validate(cases[c].json, strlen(cases[c].json), 1, &v), 0);
        CHECK_EQ_INT(goc_json_int64(&v, &got), cases[c].rc);
        if (cases[c].rc == 0) CHECK(got == cases[c].want);
    }
}

/* The writers give json_dumps' exact text. */
static void test_writers_match_jansson(void)
{
    static const char *const strings[] = {
        "", "plain", "q\"b\\s/", "\b\f\n\r\t\x01\x1f\x7f", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
        "a long string without anything special in it, longer than eight bytes",
        "12345678\"12345678\n12345678",
    };
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        buf_t b = {0};
        goc_json_str(&b, strings[i], strlen(strings[i]));
        json_t *j = json_string(strings[i]);
        char *d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        CHECK_MSG(b.len == strlen(d) && memcmp(b.data, d, b.len) == 0, "%s: %.*s vs %s", strings[i],
                  (int)b.len, b.data, d);
        free(d);
        json_decref(j);
        buf_free(&b);
    }
    static const double reals[] = {0.0, -0.0, 1.0, 0.1, -2.5, 1e20, 1e-5, 1.5e300, DBL_MAX,
                                   DBL_MIN, 5e-324, 123456789.0, 1e16, 3.14159};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        buf_t b = {0};
        goc_json_real(&b, reals[i]);
        json_t *j = json_real(reals[i]);
        char *d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        CHECK_MSG(b.len == strlen(d) && memcmp(b.data, d, b.len) == 0, "%g: %.*s vs %s", reals[i],
                  (int)b.len, b.data, d);
        free(d);
        json_decref(j);
        buf_free(&b);
    }
    static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1000000007};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        buf_t b = {0};
        char want[32];
        goc_json_int(&b, ints[i]);
        snprintf(want, sizeof want, "%" PRId64, ints[i]);
        CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
        buf_free(&b);
    }
    buf_t b = {0};
    goc_json_real(&b, INFINITY);
    goc_json_real(&b, NAN);
    CHECK(b.len == 8 && memcmp(b.data, "nullnull", 8) == 0);
    buf_free(&b);
}

/* Invalid UTF-8 given to the writer still gives valid JSON. */
static void test_writer_bad_utf8(void)
{
    buf_t b = {0};
    goc_json_str(&b, "a\xFF" "b\xC3", 4);
    CHECK(b.len == 10 && memcmp(b.data, "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"", 10) == 0);
    CHECK_EQ_INT(goc_json_validate(b.data, b.len, 1, NULL), 0);
    CHECK(b.data[b.len] == 0); /* the buffer's NUL follows every piece */
    buf_free(&b);
}

/* The tree bridge: built, written, read back; keys with NUL survive. */
static void test_tree_round_trip(void)
{
    const char *t = "{\"a\":[1,-2.5,\"x\\u0000y\",true,false,null,{}],\"\\u0000k\":"
                    "123456789012345678901234567890,\"e\":\"\\u00e9\"}";
    goc_json_value v;
    json_t *tree;
    CHECK_EQ_INT(goc_json_validate(t, strlen(t), 8, &v), 0);
    CHECK_EQ_INT(goc_json_tree(&v, &tree), 0);
    CHECK(json_is_integer(json_array_get(json_object_get(tree, "a"), 0)));
    CHECK(json_is_real(json_object_getn(tree, "\0k", 2)));
    CHECK_EQ_INT(json_string_length(json_array_get(json_object_get(tree, "a"), 2)), 3);
    buf_t b = {0};
    goc_json_tree_write(&b, tree);
    static const char want[] = "{\"a\":[1,-2.5,\"x\\u0000y\",true,false,null,{}],\"\\u0000k\":"
                               "1.2345678901234568e29,\"e\":\"\xC3\xA9\"}";
    CHECK_MSG(b.len == sizeof want - 1 && memcmp(b.data, want, b.len) == 0, "%.*s", (int)b.len,
              b.data);
    buf_free(&b);
    goc_json_tree_write(&b, NULL);
    CHECK(b.len == 4 && memcmp(b.data, "null", 4) == 0);
    buf_free(&b);
    json_decref(tree);
}

/* Growth keeps what was written; a failed buffer takes nothing more. */
static void test_buffer_growth(void)
{
    buf_t b = {0};
    for (int i = 0; i < 10000; i++)
        goc_json_int(&b, i % 10);
    CHECK_EQ_INT(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        CHECK(b.data[i] == '0' + i % 10);
    buf_free(&b);
    b.err = -ENOMEM;
    goc_json_lit(&b, "x");
    goc_json_str(&b, "y", 1);
    CHECK(b.len == 0 && b.data == NULL);
}

static const test_case cases[] = {
    TEST_CASE(test_rule_utf8),          TEST_CASE(test_rule_surrogates),
    TEST_CASE(test_rule_leading_zeros), TEST_CASE(test_rule_trailing_commas),
    TEST_CASE(test_rule_control_chars), TEST_CASE(test_rule_number_range),
    TEST_CASE(test_rule_number_grammar), TEST_CASE(test_rule_literals),
    TEST_CASE(test_rule_structure),     TEST_CASE(test_rule_whitespace),
    TEST_CASE(test_rule_escapes),       TEST_CASE(test_depth_limit),
    TEST_CASE(test_readers),            TEST_CASE(test_decode),
    TEST_CASE(test_int64),              TEST_CASE(test_writers_match_jansson),
    TEST_CASE(test_writer_bad_utf8),    TEST_CASE(test_tree_round_trip),
    TEST_CASE(test_buffer_growth),      TEST_CASE(test_jansson_differences),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

/* resp_test.c: the Redis protocol layer (proto/resp.h). Replies of every
 * type, nested, as Redis sends them for the commands the chat uses, are
 * parsed whole and from every prefix (each prefix must ask for more, with
 * a hint that never overshoots); malformed and oversized replies are
 * refused with their own errors; commands encode to the exact bytes Redis
 * expects and parse back.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include "resp.h"

#define NODES 64

typedef struct parsed {
    long rc;
    size_t n, need;
    resp_value v[NODES];
} parsed;

static parsed parse(const char *s, size_t len, const resp_limits *lim)
{
    parsed p;
    memset(&p, 0, sizeof p);
    p.rc = resp_parse(s, len, lim, p.v, NODES, &p.n, &p.need);
    return p;
}

static parsed parse_str(const char *s)
{
    return parse(s, strlen(s), NULL);
}

static bool str_is(const resp_value *v, resp_type t, const char *want)
{
    return v->type == t && v->len == strlen(want) && memcmp(v->str, want, v->len) == 0;
}

static void test_scalars(void)
{
    parsed p = parse_str("+OK\r\n");
    CHECK_EQ_INT(p.rc, 5);
    CHECK_EQ_INT(p.n, 1);
    CHECK(str_is(&p.v[0], RESP_STRING, "OK"));
    CHECK_EQ_INT(p.v[0].next, 1);
    p = parse_str("-ERR unknown command 'x'\r\n");
    CHECK_EQ_INT(p.rc, 26);
    CHECK(str_is(&p.v[0], RESP_ERROR, "ERR unknown command 'x'"));
    p = parse_str(":-42\r\n");
    CHECK_EQ_INT(p.rc, 6);
    CHECK(p.v[0].type == RESP_INTEGER && p.v[0].integer == -42);
    p = parse_str(":9223372036854775807\r\n");
    CHECK(p.rc > 0 && p.v[0].integer == INT64_MAX);
    p = parse_str(":-9223372036854775808\r\n");
    CHECK(p.rc > 0 && p.v[0].integer == INT64_MIN);
    p = parse_str("$5\r\nhe\r\no\r\n"); /* binary safe: CRLF inside */
    CHECK_EQ_INT(p.rc, 11);
    CHECK(p.v[0].type == RESP_BULK && p.v[0].len == 5 && memcmp(p.v[0].str, "he\r\no", 5) == 0);
    p = parse_str("$0\r\n\r\n");
    CHECK(p.rc == 6 && p.v[0].type == RESP_BULK && p.v[0].len == 0);
    p = parse_str("$-1\r\n");
    CHECK(p.rc == 5 && p.v[0].type == RESP_NIL);
    p = parse_str("*-1\r\n");
    CHECK(p.rc == 5 && p.v[0].type == RESP_NIL);
    p = parse_str("*0\r\n");
    CHECK(p.rc == 4 && p.v[0].type == RESP_ARRAY && p.v[0].integer == 0 && p.v[0].next == 1);
    /* a binary bulk with NUL and high bytes */
    static const char bin[] = "$4\r\n\0\xff\r\x01\r\n";
    p = parse(bin, sizeof bin - 1, NULL);
    CHECK(p.rc == 10 && p.v[0].len == 4 && p.v[0].str[0] == 0 && (uint8_t)p.v[0].str[1] == 0xff);
}

/* A pub/sub push, an XRANGE reply, a script's mixed reply. */
static const char *const replies[] = {
    "*3\r\n$7\r\nmessage\r\n$10\r\ngoc:{a}:ch\r\n$5\r\nhello\r\n",
    ("*2\r\n*2\r\n$3\r\n5-0\r\n*4\r\n$1\r\nn\r\n$3\r\nbob\r\n$1\r\nt\r\n$2\r\nhi\r\n"
     "*2\r\n$3\r\n9-0\r\n*2\r\n$1\r\nn\r\n$0\r\n\r\n"),
    "*5\r\n:1\r\n$-1\r\n*0\r\n+QUEUED\r\n*2\r\n-ERR x\r\n*1\r\n*-1\r\n",
    "*3\r\n$9\r\nsubscribe\r\n$3\r\nabc\r\n:1\r\n",
};

static void test_nested(void)
{
    parsed p = parse_str(replies[1]);
    CHECK_EQ_INT(p.rc, (long)strlen(replies[1]));
    CHECK_EQ_INT(p.n, 13);
    CHECK(p.v[0].type == RESP_ARRAY && p.v[0].integer == 2 && p.v[0].next == 13);
    /* first entry: [5-0, [n bob t hi]] */
    uint32_t e1 = resp_first(0);
    CHECK(p.v[e1].type == RESP_ARRAY && p.v[e1].next == 8);
    CHECK(str_is(&p.v[e1 + 1], RESP_BULK, "5-0"));
    uint32_t fields = resp_after(p.v, e1 + 1);
    CHECK_EQ_INT(fields, 3);
    CHECK(p.v[fields].type == RESP_ARRAY && p.v[fields].integer == 4);
    CHECK(str_is(&p.v[fields + 2], RESP_BULK, "bob"));
    CHECK(str_is(&p.v[fields + 4], RESP_BULK, "hi"));
    /* second entry */
    uint32_t e2 = resp_after(p.v, e1);
    CHECK_EQ_INT(e2, 8);
    CHECK(str_is(&p.v[e2 + 1], RESP_BULK, "9-0"));
    CHECK(str_is(&p.v[e2 + 4], RESP_BULK, ""));
    CHECK_EQ_INT(resp_after(p.v, e2), p.v[0].next);

    p = parse_str(replies[2]);
    CHECK_EQ_INT(p.rc, (long)strlen(replies[2]));
    CHECK_EQ_INT(p.n, 9);
    static const resp_type types[] = {RESP_ARRAY, RESP_INTEGER, RESP_NIL,   RESP_ARRAY,
                                      RESP_STRING, RESP_ARRAY,  RESP_ERROR, RESP_ARRAY,
                                      RESP_NIL};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        CHECK_MSG(p.v[i].type == types[i], "node %zu: type %d", i, (int)p.v[i].type);
    CHECK_EQ_INT(p.v[3].next, 4); /* the empty array */
    CHECK_EQ_INT(p.v[5].next, 9);
    CHECK_EQ_INT(p.v[7].next, 9);
}

/* Every proper prefix asks for more, with a hint in (prefix, whole]; the
 * whole parses to the same nodes however it was reached. */
static void test_every_prefix(void)
{
    for (size_t r = 0; r < sizeof replies / sizeof replies[0]; r++) {
        size_t len = strlen(replies[r]);
        for (size_t k = 0; k < len; k++) {
            char *copy = malloc(k ? k : 1); /* exact size: ASan sees an over-read */
            memcpy(copy, replies[r], k);
            parsed p = parse(copy, k, NULL);
            free(copy);
            CHECK_MSG(p.rc == -EAGAIN, "reply %zu prefix %zu: rc %ld", r, k, p.rc);
            CHECK_MSG(p.need > k && p.need <= len, "reply %zu prefix %zu: need %zu of %zu", r, k,
                      p.need, len);
        }
    }
}

/* A big bulk string read the way the client reads: wait for `need` bytes,
 * then look again. Few looks, however the bytes are cut. */
static void test_need_hint(void)
{
    size_t body = 100000;
    char *s = malloc(body + 64);
    int h = snprintf(s, 64, "*2\r\n$%zu\r\n", body);
    memset(s + h, 'x', body);
    memcpy(s + h + body, "\r\n:7\r\n", 6);
    size_t total = (size_t)h + body + 6, have = 3, looks = 0;
    for (;;) {
        parsed p = parse(s, have, NULL);
        looks++;
        if (p.rc > 0) {
            CHECK_EQ_INT(p.rc, (long)total);
            CHECK(p.v[1].len == body && p.v[2].integer == 7);
            break;
        }
        CHECK_EQ_INT(p.rc, -EAGAIN);
        CHECK(p.need > have && p.need <= total);
        have = p.need;
    }
    /* the header lines byte by byte, then the body and the rest at once */
    CHECK_MSG(looks <= (size_t)h + 3, "%zu looks", looks);
    free(s);
}

static void test_two_replies(void)
{
    parsed p = parse_str("+A\r\n:1\r\n");
    CHECK_EQ_INT(p.rc, 4);
    CHECK(str_is(&p.v[0], RESP_STRING, "A"));
}

static void test_node_space(void)
{
    resp_value v[3];
    size_t n, need;
    const char *s = "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n";
    CHECK_EQ_INT(resp_parse(s, strlen(s), NULL, v, 3, &n, &need), -ENOBUFS);
    CHECK_EQ_INT(n, 5);
    resp_value w[5];
    CHECK_EQ_INT(resp_parse(s, strlen(s), NULL, w, 5, &n, &need), (long)strlen(s));
    CHECK(w[4].integer == 4 && w[0].next == 5);
    CHECK_EQ_INT(resp_parse(s, strlen(s), NULL, NULL, 0, &n, &need), -ENOBUFS);
    CHECK_EQ_INT(n, 5);
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "?x\r\n",            /* unknown type */
        "_\r\n",             /* RESP3 null: refused */
        ">2\r\n",            /* RESP3 push */
        ":12a\r\n",          /* not a number */
        ":\r\n",             /* empty number */
        ":-\r\n",            /* a sign alone */
        ":99999999999999999999\r\n", /* overflow */
        "$-2\r\n",           /* negative length */
        "*-5\r\n",
        "$3\r\nabcX\n",      /* no CRLF after the bulk */
        "$3\r\nabc\rX",
        "+OK\rX",            /* CR without LF */
        "*1\r\n!\r\n",       /* bad element */
        ":123456789012345678901234567\r\n", /* a number line too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed p = parse_str(bad[i]);
        CHECK_MSG(p.rc == -EPROTO, "case %zu (%s): rc %ld", i, bad[i], p.rc);
    }
}

static void test_limits(void)
{
    resp_limits lim = {.max_bulk = 8, .max_elems = 3, .max_depth = 2};
    CHECK_EQ_INT(parse("$9\r\n", 4, &lim).rc, -EMSGSIZE); /* said before the bytes come */
    CHECK(parse("$8\r\n12345678\r\n", 14, &lim).rc == 14);
    CHECK_EQ_INT(parse("*4\r\n", 4, &lim).rc, -EMSGSIZE);
    CHECK_EQ_INT(parse_str("*1\r\n*1\r\n*1\r\n:1\r\n").rc, 16); /* default depth */
    const char *deep = "*1\r\n*1\r\n*1\r\n:1\r\n";
    CHECK_EQ_INT(parse(deep, strlen(deep), &lim).rc, -EMSGSIZE);
    /* a line that never ends is refused once longer than max_bulk */
    CHECK_EQ_INT(parse("+0123456789", 11, &lim).rc, -EMSGSIZE);
    CHECK_EQ_INT(parse("+01234567", 9, &lim).rc, -EAGAIN);
    /* deeper than RESP_MAX_DEPTH even when asked for more */
    resp_limits big = {.max_depth = 1000};
    char s[40 * 4 + 8];
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)sprintf(s + o, "*1\r\n");
    o += (size_t)sprintf(s + o, ":1\r\n");
    CHECK_EQ_INT(parse(s, o, &big).rc, -EMSGSIZE);
}

static void test_encode(void)
{
    const char *argv[] = {"SET", "k", "a\r\nb"};
    size_t lens[] = {3, 1, 4};
    static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n";
    CHECK_EQ_INT(resp_encode_command(NULL, 0, 3, argv, lens), sizeof want - 1);
    char out[128];
    CHECK_EQ_INT(resp_encode_command(out, sizeof want - 2, 3, argv, lens), sizeof want - 1);
    CHECK_EQ_INT(resp_encode_command(out, sizeof out, 3, argv, lens), sizeof want - 1);
    CHECK(memcmp(out, want, sizeof want - 1) == 0);
    /* an empty argument, and ten of them (two-digit count) */
    const char *ten[10];
    size_t tl[10];
    for (int i = 0; i < 10; i++) {
        ten[i] = i ? "x" : "";
        tl[i] = i ? 1 : 0;
    }
    size_t n = resp_encode_command(out, sizeof out, 10, ten, tl);
    CHECK(n == 4 + 1 + 6 + 9 * 7 && memcmp(out, "*10\r\n$0\r\n\r\n$1\r\nx\r\n", 18) == 0);
    /* a command is an array of bulk strings: it parses back */
    parsed p = parse(out, n, NULL);
    CHECK_EQ_INT(p.rc, (long)n);
    CHECK(p.v[0].integer == 10 && p.v[1].len == 0 && str_is(&p.v[10], RESP_BULK, "x"));
}

static const test_case cases[] = {
    TEST_CASE(test_scalars),     TEST_CASE(test_nested),     TEST_CASE(test_every_prefix),
    TEST_CASE(test_need_hint),   TEST_CASE(test_two_replies), TEST_CASE(test_node_space),
    TEST_CASE(test_malformed),   TEST_CASE(test_limits),     TEST_CASE(test_encode),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

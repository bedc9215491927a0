/* jwt_test.c: HS256 tokens (proto/jwt.h), one rule per case. Tokens are
 * built here with mbedtls's own HMAC (mbedtls_md_hmac), so the module's
 * precomputed HMAC is checked against an independent one, and with any
 * header, so the algorithm rules can be broken one at a time. RFC 7515's
 * example A.1 checks the signature against published bytes.
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <errno.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "jwt.h"

#define NOW 1700000000LL

static const char secret[] = "0123456789abcdef0123456789abcdef-test";

/* The nick and room rules of the server, as the tests need them. */
static bool nick_ok(const char *s, size_t n)
{
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool room_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static const goc_jwt_rules rules = {nick_ok, room_ok};

/* base64url of in[0..n) into out, no padding; the length. */
static size_t b64url(const void *in, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    mbedtls_base64_encode((unsigned char *)out, cap, &len, in, n);
    while (len && out[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = '\0';
    return len;
}

/* A token with this header and payload, signed with key[0..keylen) by
 * mbedtls's HMAC-SHA-256, into out. */
static void make_with(const char *header, const char *payload, const char *key, size_t keylen,
                      char *out, size_t cap)
{
    size_t n = b64url(header, strlen(header), out, cap);
    out[n++] = '.';
    n += b64url(payload, strlen(payload), out + n, cap - n);
    unsigned char mac[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)key,
                    keylen, (const unsigned char *)out, n, mac);
    out[n++] = '.';
    b64url(mac, sizeof mac, out + n, cap - n);
}

/* Appends ".signature" to the text header.payload in out, as it stands. */
static void sign_text(char *out, size_t cap)
{
    size_t n = strlen(out);
    unsigned char mac[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)secret,
                    sizeof secret - 1, (const unsigned char *)out, n, mac);
    out[n++] = '.';
    b64url(mac, sizeof mac, out + n, cap - n);
}

static void make(const char *header, const char *payload, char *out, size_t cap)
{
    make_with(header, payload, secret, sizeof secret - 1, out, cap);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static int verify(const char *token, goc_jwt_claims *c)
{
    goc_jwt_key key;
    goc_jwt_key_init(&key, (const uint8_t *)secret, sizeof secret - 1);
    int rc = goc_jwt_verify(&key, token, strlen(token), NOW, &rules, c);
    goc_jwt_key_free(&key);
    return rc;
}

/* verify() for a token whose claims are not wanted. */
static int verdict(const char *token)
{
    goc_jwt_claims c;
    int rc = verify(token, &c);
    goc_jwt_claims_free(&c);
    return rc;
}

static void test_valid_token(void)
{
    char t[1024];
    goc_jwt_claims c;
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"iat\":1,\"x\":{\"y\":[1]}}", t, sizeof t);
    CHECK_EQ_INT(verify(t, &c), 0);
    CHECK_EQ_STR(c.sub, "alice");
    CHECK_EQ_INT(c.exp, 1700000100);
    CHECK(c.all_rooms);
    CHECK(goc_jwt_room_allowed(&c, "anything", 8));
    goc_jwt_claims_free(&c);
    /* without typ, and a fractional exp: valid until then, rounded up */
    make("{\"alg\":\"HS256\"}", "{\"sub\":\"b\\u00e9\",\"exp\":1700000000.5}", t, sizeof t);
    CHECK_EQ_INT(verify(t, &c), 0);
    CHECK_EQ_STR(c.sub, "b\xc3\xa9");
    CHECK_EQ_INT(c.exp, NOW + 1);
    goc_jwt_claims_free(&c);
}

/* Our own signer and mbedtls's HMAC agree, for keys shorter and longer than
 * a block. */
static void test_sign_matches_mbedtls(void)
{
    static const char payload[] = "{\"sub\":\"carol\",\"exp\":1800000000}";
    char ours[512], ref[512];
    const char *keys[] = {"k", secret,
                          "a key longer than sixty-four bytes, which HMAC hashes down first....."};
    for (size_t i = 0; i < 3; i++) {
        goc_jwt_key key;
        goc_jwt_key_init(&key, (const uint8_t *)keys[i], strlen(keys[i]));
        long n = goc_jwt_sign(&key, payload, strlen(payload), ours, sizeof ours);
        make_with(HS256, payload, keys[i], strlen(keys[i]), ref, sizeof ref);
        CHECK_EQ_INT(n, (long)strlen(ref));
        CHECK_EQ_STR(ours, ref);
        goc_jwt_claims c;
        CHECK_EQ_INT(goc_jwt_verify(&key, ours, (size_t)n, NOW, &rules, &c), 0);
        goc_jwt_claims_free(&c);
        CHECK_EQ_INT(goc_jwt_sign(&key, payload, strlen(payload), ours, (size_t)n), -ENOBUFS);
        goc_jwt_key_free(&key);
    }
}

/* RFC 7515 appendix A.1: the published HS256 token verifies (then fails on
 * its claims: it has no sub, and its exp is in 2011), and one changed
 * character of its signature does not. */
static void test_rfc7515_example(void)
{
    static const uint8_t k[] = {
        3,   35,  53,  75,  43,  15,  165, 188, 131, 126, 6,   101, 119, 123, 166, 143,
        90,  179, 40,  230, 240, 84,  201, 40,  169, 15,  132, 178, 210, 80,  46,  191,
        211, 251, 90,  146, 210, 6,   71,  239, 150, 138, 180, 195, 119, 98,  61,  34,
        61,  46,  33,  114, 5,   46,  79,  8,   192, 205, 154, 245, 103, 208, 128, 163};
    char t[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
               ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
               ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    goc_jwt_key key;
    goc_jwt_key_init(&key, k, sizeof k);
    goc_jwt_claims c;
    CHECK_EQ_INT(goc_jwt_verify(&key, t, strlen(t), 1300819379, NULL, &c), -EINVAL); /* no sub */
    t[strlen(t) - 2] = 'Y'; /* was X */
    CHECK_EQ_INT(goc_jwt_verify(&key, t, strlen(t), 1300819379, NULL, &c), -EBADMSG);
    goc_jwt_key_free(&key);
}

static void test_other_algorithms_refused(void)
{
    static const char payload[] = "{\"sub\":\"alice\",\"exp\":1700000100}";
    char t[1024];
    /* alg none with an empty signature, and with a valid HMAC */
    size_t n = b64url("{\"alg\":\"none\"}", 14, t, sizeof t);
    t[n++] = '.';
    n += b64url(payload, strlen(payload), t + n, sizeof t - n);
    t[n++] = '.';
    t[n] = '\0';
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    make("{\"alg\":\"none\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    make("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    /* RS256 named, an HS256 signature made with the secret (key confusion) */
    make("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    make("{\"alg\":\"hs256\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    make("{\"alg\":\"HS256\\u0000\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL); /* a NUL in a string is malformed JSON to jansson */
    make("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    make("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -ENOTSUP);
    make("{\"typ\":\"JWT\"}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make("{\"alg\":256}", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload, t, sizeof t); /* duplicate */
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make("[\"HS256\"]", payload, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
}

static void test_bad_signature(void)
{
    char t[1024];
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100}", t, sizeof t);
    size_t n = strlen(t);
    t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(verdict(t), -EBADMSG);
    /* the right token under another key */
    make_with(HS256, "{\"sub\":\"alice\",\"exp\":1700000100}", "another key, also long enough!!!",
              32, t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EBADMSG);
    /* the payload changed after signing (mallory for alice) */
    char other[1024];
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100}", t, sizeof t);
    make(HS256, "{\"sub\":\"malry\",\"exp\":1700000100}", other, sizeof other);
    char *d1 = strchr(t, '.'), *o1 = strchr(other, '.');
    memcpy(d1, o1, (size_t)(strchr(o1 + 1, '.') - o1)); /* same lengths */
    CHECK_EQ_INT(verdict(t), -EBADMSG);
}

static void test_truncated(void)
{
    char t[1024], cut[1024];
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100}", t, sizeof t);
    size_t n = strlen(t);
    const char *dot2 = strrchr(t, '.');
    for (size_t len = 0; len < n; len++) {
        memcpy(cut, t, len);
        cut[len] = '\0';
        int rc = verdict(cut);
        CHECK_MSG(rc == -EINVAL || rc == -EBADMSG, "cut at %zu: %d", len, rc);
        if (len <= (size_t)(dot2 - t)) /* no signature segment: malformed */
            CHECK_MSG(rc == -EINVAL, "cut at %zu: %d", len, rc);
    }
    CHECK_EQ_INT(verdict(""), -EINVAL);
    CHECK_EQ_INT(verdict(".."), -EINVAL);
    strcpy(cut, t);
    strcat(cut, ".");
    CHECK_EQ_INT(verdict(cut), -EINVAL); /* four segments */
}

static void test_bad_base64url(void)
{
    char t[1024], bad[1100];
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100}", t, sizeof t);
    /* standard base64's characters and padding are not base64url */
    strcpy(bad, t);
    bad[3] = '+';
    CHECK_EQ_INT(verdict(bad), -EINVAL);
    strcpy(bad, t);
    *(strchr(bad, '.') + 2) = '/'; /* the signature no longer matches: checked first */
    CHECK_EQ_INT(verdict(bad), -EBADMSG);
    *strrchr(bad, '.') = '\0';
    sign_text(bad, sizeof bad); /* signed as it is */
    CHECK_EQ_INT(verdict(bad), -EINVAL);
    snprintf(bad, sizeof bad, "%s=", t);
    CHECK_EQ_INT(verdict(bad), -EINVAL);
    /* the signature's last character with bits past the 32 bytes set: the
     * same bytes, spelled another way */
    strcpy(bad, t);
    char *last = bad + strlen(bad) - 1;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alphabet, *last) - alphabet);
    *last = alphabet[v | 1];
    if (*last != t[strlen(t) - 1])
        CHECK_EQ_INT(verdict(bad), -EINVAL);
    /* white space inside */
    snprintf(bad, sizeof bad, " %s", t);
    CHECK_EQ_INT(verdict(bad), -EINVAL);
}

static void test_payload_not_json(void)
{
    char t[1024];
    make(HS256, "sub=alice;exp=1700000100", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "[\"alice\",1700000100]", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"sub\":\"bob\"}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL); /* duplicate claims: refused, not last-wins */
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"x\":[[[[[1]]]]]}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL); /* nested too deep */
}

static void test_exp_rules(void)
{
    char t[1024];
    make(HS256, "{\"sub\":\"alice\"}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":\"1700000100\"}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":null}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":-5}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1e300}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1699999999}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EKEYEXPIRED);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000000}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EKEYEXPIRED); /* exp is the first moment it is invalid */
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000001}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), 0);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"nbf\":1700000050}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EAGAIN);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"nbf\":1700000000}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), 0);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"nbf\":true}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
}

static void test_sub_rules(void)
{
    char t[1024];
    make(HS256, "{\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"\",\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"al\\nice\",\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"al\\u0000ice\",\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"123456789012345678901234567890123\",\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"12345678901234567890123456789012\",\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), 0);
    make(HS256, "{\"sub\":42,\"exp\":1700000100}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
}

static void test_rooms_claim(void)
{
    char t[1024];
    goc_jwt_claims c;
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"rooms\":[\"lobby\",\"dev-2\"]}", t, sizeof t);
    CHECK_EQ_INT(verify(t, &c), 0);
    CHECK(!c.all_rooms);
    CHECK_EQ_INT(c.nrooms, 2);
    CHECK(goc_jwt_room_allowed(&c, "lobby", 5));
    CHECK(goc_jwt_room_allowed(&c, "dev-2", 5));
    CHECK(!goc_jwt_room_allowed(&c, "lobb", 4));
    CHECK(!goc_jwt_room_allowed(&c, "lobbyx", 6));
    CHECK(!goc_jwt_room_allowed(&c, "random", 6));
    goc_jwt_claims_free(&c);
    CHECK(c.rooms == NULL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"rooms\":[]}", t, sizeof t);
    CHECK_EQ_INT(verify(t, &c), 0);
    CHECK(!c.all_rooms && c.nrooms == 0);
    CHECK(!goc_jwt_room_allowed(&c, "lobby", 5));
    goc_jwt_claims_free(&c);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"rooms\":\"lobby\"}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"rooms\":[\"lobby\",7]}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    make(HS256, "{\"sub\":\"alice\",\"exp\":1700000100,\"rooms\":[\"no spaces\"]}", t, sizeof t);
    CHECK_EQ_INT(verdict(t), -EINVAL);
}

static void test_size_limit(void)
{
    static char payload[GOC_JWT_MAX], t[2 * GOC_JWT_MAX];
    int n = snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"exp\":1700000100,\"pad\":\"");
    memset(payload + n, 'x', 6200);
    strcpy(payload + n + 6200, "\"}");
    make(HS256, payload, t, sizeof t);
    CHECK(strlen(t) > GOC_JWT_MAX);
    CHECK_EQ_INT(verdict(t), -EINVAL);
    payload[n + 5000] = '\0';
    strcat(payload, "\"}");
    make(HS256, payload, t, sizeof t);
    CHECK(strlen(t) <= GOC_JWT_MAX);
    CHECK_EQ_INT(verdict(t), 0);
}

static const test_case cases[] = {
    TEST_CASE(test_valid_token),
    TEST_CASE(test_sign_matches_mbedtls),
    TEST_CASE(test_rfc7515_example),
    TEST_CASE(test_other_algorithms_refused),
    TEST_CASE(test_bad_signature),
    TEST_CASE(test_truncated),
    TEST_CASE(test_bad_base64url),
    TEST_CASE(test_payload_not_json),
    TEST_CASE(test_exp_rules),
    TEST_CASE(test_sub_rules),
    TEST_CASE(test_rooms_claim),
    TEST_CASE(test_size_limit),
    {0},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}

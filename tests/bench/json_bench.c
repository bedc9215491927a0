/* json_bench.c: JSON for one JSON-RPC request, read and answered, ours
 * (proto/json.h) against jansson 2.14 and jsmn 1.1 (Debian's libjsmn-dev).
 *
 * `json_bench ours|jansson|jsmn parse` prints "RESULT json_parse_small
 * <ns> ns": a 96-byte chat.send request taken apart into what a server
 * needs, the strings "jsonrpc" and "method" compared, the id and the params
 * found. Ours validates every byte (RFC 8259, UTF-8 included) in one scan
 * that cuts the four members out of the text; jansson builds its tree
 * (json_loadb), looks the members up and frees it; jsmn tokenizes in
 * strict mode (it checks neither UTF-8, nor escapes' digits, nor number
 * syntax fully) and the members are found among the tokens.
 *
 * `json_bench ours|jansson write` prints "RESULT json_write_small <ns> ns":
 * the 118-byte reply to that request written out, the result object
 * {id, room, nick, text, ts} included. Ours appends to a reused buffer;
 * jansson dumps a tree built beforehand with json_dumpb into a reused
 * buffer (its fastest way: json_dumps is the same plus an allocation).
 *
 * Each figure is the best of 5 rounds of 2 million operations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "json.h"

#define ROUNDS 5
#define OPS 2000000

static const char request[] = "{\"jsonrpc\":\"2.0\",\"id\":12345,\"method\":\"chat.send\","
                              "\"params\":{\"room\":\"lobby\",\"text\":\"hello, world\"}}";

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What every parser must find; checked after each round. */
typedef struct envelope {
    size_t id_len, params_len; /* the raw id and params text (ours, jsmn) */
    int64_t id;                /* jansson's id */
    bool ok;                   /* jsonrpc is "2.0" and method "chat.send" */
} envelope;

static void parse_ours(const char *t, size_t n, envelope *e)
{
    goc_json_scan s;
    goc_json_value k, v, jsonrpc = {0}, method = {0}, id = {0}, params = {0};
    goc_json_scan_init(&s, t, n, 64);
    e->ok = false;
    if (goc_json_scan_peek(&s) != '{') return;
    s.p++;
    for (;;) {
        if (goc_json_scan_peek(&s) != '"' || goc_json_scan_string(&s, &k) < 0) return;
        if (goc_json_scan_peek(&s) != ':') return;
        s.p++;
        if (goc_json_scan_value(&s, 1, &v) < 0) return;
        if (k.len == 4 && memcmp(k.text, "\"id\"", 4) == 0)
            id = v;
        else if (k.len == 8 && memcmp(k.text, "\"method\"", 8) == 0)
            method = v;
        else if (k.len == 8 && memcmp(k.text, "\"params\"", 8) == 0)
            params = v;
        else if (k.len == 9 && memcmp(k.text, "\"jsonrpc\"", 9) == 0)
            jsonrpc = v;
        int c = goc_json_scan_peek(&s);
        s.p++;
        if (c == '}') break;
        if (c != ',') return;
    }
    if (goc_json_scan_peek(&s) != -1) return;
    e->ok = goc_json_string_equals(&jsonrpc, "2.0", 3) &&
            goc_json_string_equals(&method, "chat.send", 9);
    e->id_len = id.len;
    e->params_len = params.len;
}

static void parse_jansson(const char *t, size_t n, envelope *e)
{
    json_t *root = json_loadb(t, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *v = json_object_get(root, "jsonrpc"), *m = json_object_get(root, "method");
    e->ok = json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0 && json_is_string(m) &&
            strcmp(json_string_value(m), "chat.send") == 0 &&
            json_is_object(json_object_get(root, "params"));
    e->id = json_integer_value(json_object_get(root, "id"));
    json_decref(root);
}

static bool tok_is(const char *t, const jsmntok_t *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == JSMN_STRING && (size_t)(k->end - k->start) == n &&
           memcmp(t + k->start, s, n) == 0;
}

static void parse_jsmn(const char *t, size_t n, envelope *e)
{
    jsmn_parser p;
    jsmntok_t tok[32];
    jsmn_init(&p);
    int nt = jsmn_parse(&p, t, n, tok, 32);
    e->ok = false;
    if (nt < 1 || tok[0].type != JSMN_OBJECT) return;
    bool v_ok = false, m_ok = false;
    /* members of the top object: key token, then the value's tokens */
    for (int i = 1, member = 0; i < nt && member < tok[0].size; member++) {
        const jsmntok_t *k = &tok[i], *v = &tok[i + 1];
        if (tok_is(t, k, "jsonrpc")) v_ok = tok_is(t, v, "2.0");
        if (tok_is(t, k, "method")) m_ok = tok_is(t, v, "chat.send");
        if (tok_is(t, k, "id")) e->id_len = (size_t)(v->end - v->start);
        if (tok_is(t, k, "params")) e->params_len = (size_t)(v->end - v->start);
        /* skip the value: every token inside ends before it does */
        int j = i + 2;
        while (j < nt && tok[j].start < v->end)
            j++;
        i = j;
    }
    e->ok = v_ok && m_ok;
}

/* The reply's values. */
static const int64_t msg_id = 123, msg_ts = 1700000000000, req_id = 12345;
static const char room[] = "lobby", nick[] = "alice", text[] = "hello, world";

static size_t write_ours(buf_t *b)
{
    b->len = 0;
    goc_json_lit(b, "{\"jsonrpc\":\"2.0\",\"result\":{\"id\":");
    goc_json_int(b, msg_id);
    goc_json_lit(b, ",\"room\":");
    goc_json_str(b, room, sizeof room - 1);
    goc_json_lit(b, ",\"nick\":");
    goc_json_str(b, nick, sizeof nick - 1);
    goc_json_lit(b, ",\"text\":");
    goc_json_str(b, text, sizeof text - 1);
    goc_json_lit(b, ",\"ts\":");
    goc_json_int(b, msg_ts);
    goc_json_lit(b, "},\"id\":");
    goc_json_int(b, req_id);
    goc_json_lit(b, "}");
    return b->len;
}

static json_t *reply_tree(void)
{
    return json_pack("{s:s, s:{s:I, s:s, s:s, s:s, s:I}, s:I}", "jsonrpc", "2.0", "result", "id",
                     (json_int_t)msg_id, "room", room, "nick", nick, "text", text, "ts",
                     (json_int_t)msg_ts, "id", (json_int_t)req_id);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "parse") != 0 && strcmp(argv[2], "write") != 0)) {
        fprintf(stderr, "usage: json_bench ours|jansson|jsmn parse|write\n");
        return 2;
    }
    const char *who = argv[1];
    bool parse = strcmp(argv[2], "parse") == 0;
    int kind = strcmp(who, "ours") == 0 ? 0 : strcmp(who, "jansson") == 0 ? 1
             : strcmp(who, "jsmn") == 0 && parse ? 2 : -1;
    if (kind < 0) {
        fprintf(stderr, "json_bench: no such side '%s' for %s\n", who, argv[2]);
        return 2;
    }
    size_t n = sizeof request - 1;
    buf_t b = {0};
    json_t *tree = reply_tree();
    char out[512];
    size_t want_len = write_ours(&b);
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        envelope e = {0};
        size_t wrote = 0;
        int64_t t0 = now_ns();
        for (int i = 0; i < OPS; i++) {
            if (!parse)
                wrote += kind == 0 ? write_ours(&b) : json_dumpb(tree, out, sizeof out, JSON_COMPACT);
            else if (kind == 0)
                parse_ours(request, n, &e);
            else if (kind == 1)
                parse_jansson(request, n, &e);
            else
                parse_jsmn(request, n, &e);
            __asm__ volatile("" ::: "memory"); /* one operation per iteration */
        }
        double ns = (double)(now_ns() - t0) / OPS;
        if (ns < best) best = ns;
        bool right = parse ? e.ok && (kind == 1 ? e.id == 12345 : e.id_len == 5 && e.params_len == 38)
                           : wrote == (size_t)OPS * want_len;
        if (!right) {
            fprintf(stderr, "json_bench: %s %s got a wrong answer\n", who, argv[2]);
            return 1;
        }
    }
    printf("RESULT json_%s_small %.3f ns\n", parse ? "parse" : "write", best);
    buf_free(&b);
    json_decref(tree);
    return 0;
}

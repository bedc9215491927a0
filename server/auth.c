/* auth.c: identity (auth.h): the key, verifying tokens, the checks method
 * handlers and REST routes make, and auth.login.
 *
 * Rules where doc/protocol.md is silent:
 *  - A request may present its token once: two Authorization headers, or
 *    a header and ?token= that differ, are refused (401) rather than one
 *    being picked.
 *  - A connection keeps the nick it logged in with: auth.login with a
 *    token for another sub fails (-32007) and the connection stays as it
 *    was; with a token for the same sub it takes that token's exp and
 *    rooms. A failed auth.login leaves a logged-in connection logged in.
 *  - With a token, chat.send over HTTP and a REST post may leave out the
 *    nick: it is the token's sub.
 *  - The same token may serve several connections at once (a browser's
 *    tabs); each is its holder. The chat's own rule still holds: one
 *    member per nick in a room (-32002 for a second join).
 */
#include "auth.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <goc/goc.h>

#include "chat.h"

/* The signing key; `on` once loaded. Set by auth_init, then read only. */
static struct {
    bool on;
    goc_jwt_key key;
    _Atomic uint64_t failures; /* auth_failures */
} A;

static const goc_jwt_rules rules = {chat_nick_valid, chat_room_valid};

/* ---- the secret ------------------------------------------------------------------ */

/* Reads at most cap bytes of path into buf: the count, or -1 (errno set). */
static ssize_t read_secret(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n = 0;
    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
        got += (size_t)n;
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : (ssize_t)got;
}

int auth_init(const char *path)
{
    if (!path)
        return 0;
    uint8_t buf[4097]; /* a key file is small: more than 4 KiB is refused */
    ssize_t n = read_secret(path, buf, sizeof buf);
    if (n < 0) {
        fprintf(stderr, "gocd: --auth-secret %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((size_t)n == sizeof buf) {
        fprintf(stderr, "gocd: --auth-secret %s: longer than 4096 bytes\n", path);
        return -1;
    }
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\n' ||
                     buf[n - 1] == '\r' || buf[n - 1] == '\v' || buf[n - 1] == '\f'))
        n--;
    if (n < GOC_JWT_SECRET_MIN) {
        fprintf(stderr, "gocd: --auth-secret %s: %zd bytes, at least %d needed\n", path, n,
                GOC_JWT_SECRET_MIN);
        return -1;
    }
    goc_jwt_key_init(&A.key, buf, (size_t)n);
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory"); /* keep the wipe */
    A.on = true;
    return 0;
}

bool auth_on(void)
{
    return A.on;
}

/* ---- sessions -------------------------------------------------------------------- */

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * GOC_SECOND + ts.tv_nsec;
}

static const char *why_of(int rc)
{
    switch (rc) {
    case -ENOTSUP: return "token refused: the algorithm must be HS256";
    case -EBADMSG: return "token refused: bad signature";
    case -EKEYEXPIRED: return "token expired";
    case -EAGAIN: return "token not valid yet";
    case -ENOMEM: return "out of memory";
    default: return "malformed token";
    }
}

int auth_verify(auth_session *s, const char *token, size_t len, const char **why)
{
    if (s->ok && s->token_len == len && memcmp(s->token, token, len) == 0) {
        if (!auth_expired(s))
            return 0; /* verified before, still valid */
        atomic_fetch_add_explicit(&A.failures, 1, memory_order_relaxed);
        *why = why_of(-EKEYEXPIRED);
        return -1;
    }
    int64_t real = realtime_ns();
    goc_jwt_claims c;
    int rc = goc_jwt_verify(&A.key, token, len, real / GOC_SECOND, &rules, &c);
    char *copy = rc ? NULL : goc_malloc(len ? len : 1);
    if (rc || !copy) {
        goc_jwt_claims_free(&c);
        atomic_fetch_add_explicit(&A.failures, 1, memory_order_relaxed);
        *why = why_of(rc ? rc : -ENOMEM);
        return -1;
    }
    memcpy(copy, token, len);
    auth_session_free(s);
    s->token = copy;
    s->token_len = len;
    s->claims = c;
    s->ok = true;
    s->expires = goc_nanotime() + (c.exp * GOC_SECOND - real);
    return 0;
}

void auth_session_free(auth_session *s)
{
    goc_jwt_claims_free(&s->claims);
    goc_free(s->token);
    *s = (auth_session){0};
}

bool auth_expired(const auth_session *s)
{
    return s->ok && goc_nanotime() >= s->expires;
}

/* True when v[0..n) starts with the scheme "Bearer " (any case). */
static bool bearer(const char *v, size_t n)
{
    return n > 7 && strncasecmp(v, "Bearer ", 7) == 0;
}

/* The token of "Authorization: Bearer TOKEN" headers into *token: 0 (NULL
 * when there is none), or -1 with *why. */
static int header_token(const goc_http_request_t *req, const char **token, size_t *len,
                        const char **why)
{
    *token = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const goc_http_header_t *h = &req->headers[i];
        if (h->name_len != 13 || strncasecmp(h->name, "Authorization", 13) != 0)
            continue;
        if (*token)
            return *why = "more than one Authorization header", -1;
        if (!bearer(h->value, h->value_len))
            return *why = "Authorization must be: Bearer TOKEN", -1;
        *token = h->value + 7;
        *len = h->value_len - 7;
        while (*len && **token == ' ')
            (*token)++, (*len)--;
    }
    return 0;
}

int auth_http(const goc_http_request_t *req, bool query, auth_session *s, const char **why)
{
    const char *token;
    size_t len = 0;
    char *q = NULL; /* ?token=, decoded */
    int rc = header_token(req, &token, &len, why);
    if (rc == 0 && query) {
        q = goc_malloc(GOC_JWT_MAX + 1);
        long n = q ? goc_http_query_get(req->query, req->query_len, "token", q, GOC_JWT_MAX + 1)
                   : -ENOMEM;
        if (n >= 0 && token && ((size_t)n != len || memcmp(q, token, len) != 0)) {
            *why = "two different tokens: in the header and in the address";
            rc = -1;
        } else if (n >= 0 && !token) {
            token = q;
            len = (size_t)n;
        } else if (n < 0 && n != -ENOENT) {
            *why = n == -ENOMEM ? "out of memory" : "malformed token";
            rc = -1;
        }
    }
    if (rc == 0 && !token) {
        *why = "a token is needed: Authorization: Bearer TOKEN";
        rc = -ENOENT;
    }
    if (rc == 0)
        rc = auth_verify(s, token, len, why) == 0 ? 0 : -EACCES; /* counts its failures */
    else
        atomic_fetch_add_explicit(&A.failures, 1, memory_order_relaxed);
    goc_free(q);
    return rc == -1 ? -EACCES : rc;
}

/* ---- checks ---------------------------------------------------------------------- */

static auth_session *session_of(jrpc_call_t *call)
{
    const jrpc_ctx_t *ctx = jrpc_call_ctx(call);
    return ctx ? ctx->auth : NULL;
}

static bool deny(jrpc_call_t *call, const char *why)
{
    jrpc_call_error(call, JRPC_UNAUTHORIZED, why, NULL);
    return false;
}

bool auth_call_ok(jrpc_call_t *call)
{
    if (!A.on)
        return true;
    auth_session *s = session_of(call);
    if (!s || !s->ok)
        return deny(call, "unauthorized: log in with auth.login {token}");
    if (auth_expired(s))
        return deny(call, "token expired");
    return true;
}

bool auth_call_nick(jrpc_call_t *call, const char **nick)
{
    if (!A.on)
        return true;
    auth_session *s = session_of(call);
    if (!s || !s->ok)
        return deny(call, "unauthorized");
    if (!*nick)
        *nick = s->claims.sub;
    else if (strcmp(*nick, s->claims.sub) != 0)
        return deny(call, "unauthorized: the token is for another nick");
    return true;
}

bool auth_call_room(jrpc_call_t *call, const char *room)
{
    if (!A.on)
        return true;
    auth_session *s = session_of(call);
    if (!s || !s->ok)
        return deny(call, "unauthorized");
    if (!goc_jwt_room_allowed(&s->claims, room, strlen(room)))
        return deny(call, "unauthorized: the token does not allow that room");
    return true;
}

int auth_rest_nick(const auth_session *s, const char **nick, const char **why)
{
    if (!A.on)
        return 0;
    if (!*nick)
        *nick = s->claims.sub;
    else if (strcmp(*nick, s->claims.sub) != 0)
        return *why = "the token is for another nick", 403;
    return 0;
}

int auth_rest_room(const auth_session *s, const char *room, const char **why)
{
    if (A.on && !goc_jwt_room_allowed(&s->claims, room, strlen(room)))
        return *why = "the token does not allow that room", 403;
    return 0;
}

/* ---- auth.login ------------------------------------------------------------------ */

static int m_login(jrpc_call_t *call, json_t *params, json_t **result)
{
    const char *token;
    size_t len;
    if (jrpc_param_str(call, params, "token", JRPC_REQUIRED, &token, &len) < 0)
        return -1;
    auth_session *s = session_of(call);
    if (!s)
        return jrpc_call_error(call, JRPC_INTERNAL_ERROR, "no session on this connection", NULL);
    auth_session fresh = {0};
    const char *why;
    if (auth_verify(&fresh, token, len, &why) != 0)
        return jrpc_call_error(call, JRPC_UNAUTHORIZED, why, NULL);
    if (s->ok && strcmp(fresh.claims.sub, s->claims.sub) != 0) {
        auth_session_free(&fresh);
        return jrpc_call_error(call, JRPC_UNAUTHORIZED,
                               "a connection keeps the nick it logged in with", NULL);
    }
    auth_session_free(s);
    *s = fresh;
    *result = json_pack("{s:s, s:I}", "nick", s->claims.sub, "exp", (json_int_t)s->claims.exp);
    return *result ? 0 : -1;
}

uint64_t auth_failures(void)
{
    return atomic_load_explicit(&A.failures, memory_order_relaxed);
}

int auth_register(jrpc_t *rpc)
{
    return A.on ? jrpc_register(rpc, "auth.login", m_login, NULL, JRPC_PERSISTENT) : 0;
}

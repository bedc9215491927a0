/* auth.h: identity (doc/protocol.md, "Identity (--auth-secret)"): the --auth-secret key,
 * the tokens clients present, and what a caller may do with its token.
 *
 * Without --auth-secret (development mode) every check here passes and
 * auth.login does not exist. With it, a token (proto/jwt.h, HS256 under
 * the key) decides who a caller is: HTTP requests carry one each
 * (Authorization: Bearer), a WebSocket presents one at the upgrade (the
 * header or ?token=), and a framed-TCP connection logs in with auth.login.
 * A persistent connection's identity lasts until its token's exp (a new
 * auth.login extends it); its transport closes it then.
 *
 * Method handlers reach the caller's identity through jrpc_ctx_t.auth (an
 * auth_session, NULL when the transport has none): auth_call_ok gates a
 * call, auth_call_nick and auth_call_room check what it names.
 *
 * Invariants: the key is set once, before any connection, and only read
 * afterwards. An auth_session belongs to one connection (or one HTTP
 * request) and is read and written only by the goroutine that reads that
 * connection's messages.
 */
#ifndef GOCD_AUTH_H
#define GOCD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "jsonrpc.h"
#include "jwt.h"

/* Who a connection (or an HTTP request) is. Zero: nobody yet. */
typedef struct auth_session {
    bool ok;               /* a valid token was presented */
    goc_jwt_claims claims; /* its claims: sub (the nick), exp, rooms; owned */
    int64_t expires;       /* goc_nanotime() when exp passes */
    char *token;           /* the token itself (goc_malloc), to know it again */
    size_t token_len;      /* its length */
} auth_session;

/* Loads the secret from path (NULL: development mode): its bytes, trailing
 * white space removed, at least GOC_JWT_SECRET_MIN of them. 0, or -1 after
 * printing a one-line reason to stderr (the server exits 2). */
int auth_init(const char *path);

/* True with --auth-secret. */
bool auth_on(void);

/* Verifies token[0..len) into s, replacing what s held only on success
 * (a persistent connection keeps its identity when a later login fails):
 * 0, or -1 with *why a static sentence ("token expired", ...). The very
 * token s already holds, not expired, is not verified again (an HTTP
 * keep-alive connection presents the same one with every request). */
int auth_verify(auth_session *s, const char *token, size_t len, const char **why);

/* Frees what s owns and empties it. */
void auth_session_free(auth_session *s);

/* True when s holds an identity whose exp has passed. */
bool auth_expired(const auth_session *s);

/* The token of an HTTP request: "Authorization: Bearer TOKEN", or (with
 * query set, for GET /ws) ?token=TOKEN; verified into s. 0; -ENOENT when
 * none was presented; -EACCES for a bad one, or more than one that
 * differ; *why says which. */
int auth_http(const goc_http_request_t *req, bool query, auth_session *s, const char **why);

/* ---- for method handlers --------------------------------------------------------- */

/* The gate of every method but echo and auth.login: true when the call may
 * go on (development mode, or an identity that has not expired); else sets
 * -32007 on call and returns false. */
bool auth_call_ok(jrpc_call_t *call);

/* The nick a call acts as: *nick (the "nick" param, may be NULL when
 * absent) must be the token's sub, and becomes it when NULL. True, or
 * false with -32007 set. Development mode: true, *nick unchanged. */
bool auth_call_nick(jrpc_call_t *call, const char **nick);

/* True when the caller's token allows room (its rooms claim); else sets
 * -32007 and returns false. */
bool auth_call_room(jrpc_call_t *call, const char *room);

/* The same two checks for REST: 0 when allowed, else the HTTP status (403)
 * with *why. */
int auth_rest_nick(const auth_session *s, const char **nick, const char **why);
int auth_rest_room(const auth_session *s, const char *room, const char **why);

/* Tokens refused so far (a bad, expired or missing token where one is
 * needed; failed auth.login calls). */
uint64_t auth_failures(void);

/* Registers auth.login (persistent transports only) when auth_on(). 0 or a
 * negative errno. */
int auth_register(jrpc_t *rpc);

#endif

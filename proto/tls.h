/* tls.h: TLS over a goroutine-blocking connection (mbedtls 2.28).
 *
 * The handshake, reads and writes are plain sequential calls: when mbedtls
 * needs bytes the calling goroutine parks in goc_conn_read, never a thread.
 * One goroutine may read while another writes (the WebSocket reader and
 * writer do): the session's state is guarded by a goroutine mutex that is
 * never held while waiting for the peer's bytes, so a blocked reader does
 * not stop a writer.
 *
 * Versions and suites: TLS 1.2 only (mbedtls 2.28 has TLS 1.3 only as a
 * compile-time experiment, off in Debian's build), ECDHE key exchange with
 * AEAD ciphers (AES-GCM, ChaCha20-Poly1305) and no renegotiation: forward
 * secrecy and no CBC, RC4, 3DES or static RSA. mbedtls runs the handshake;
 * AES-GCM records after it are our own (proto/aesgcm.h) where the CPU has
 * AES-NI.
 *
 * Errors are negative errno values, as goc/net.h's: the connection's own
 * (-ETIMEDOUT, -ECONNRESET, -ECANCELED, ...), -EPROTO for a TLS failure
 * (bad record, failed handshake, certificate rejected), -ENOMEM.
 *
 * Resumption (a reconnecting client skips the public-key work): a server
 * configuration issues session tickets (RFC 5077, mbedtls's ticket module:
 * the session sealed with AES-256-GCM under a key of the server's, which
 * a new one replaces every lifetime seconds and which opens tickets for
 * twice that) and keeps a cache of sessions by id for clients without
 * tickets. A client configuration can keep its last session and offer it.
 *
 * Ownership: a goc_tls_config is shared by every session made from it and
 * must outlive them. A goc_tls borrows its goc_conn: goc_tls_free frees the
 * session, the caller still closes the connection.
 */
#ifndef GOC_PROTO_TLS_H
#define GOC_PROTO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <goc/net.h>

typedef struct goc_tls_config goc_tls_config;
typedef struct goc_tls goc_tls;

/* Resumption defaults of a server configuration: tickets live 12 hours
 * (the key that seals them is replaced as often); 1024 cached sessions. */
#define GOC_TLS_TICKET_LIFETIME (12 * 3600)
#define GOC_TLS_CACHE_ENTRIES 1024

/* A server configuration from PEM files: the certificate chain (leaf
 * first) and its private key, with resumption on (the defaults above). 0,
 * or -ENOENT/-EINVAL/-ENOMEM with a one-line reason in err. */
int goc_tls_server_config(const char *cert_path, const char *key_path, goc_tls_config **out,
                          char *err, size_t errlen);

/* A client configuration. ca_path: PEM file of trusted certificates, the
 * server's name checked against them; NULL: no verification (benchmarks and
 * tests of the server only). 0, or a negative errno with err filled. */
int goc_tls_client_config(const char *ca_path, goc_tls_config **out, char *err, size_t errlen);

/* Records after the handshake are sealed by proto/aesgcm when the suite is
 * AES-GCM and the CPU has AES-NI (the default), else by mbedtls; false
 * keeps mbedtls's always (interoperability tests, comparisons). Sessions
 * made afterwards follow it. */
void goc_tls_config_own_records(goc_tls_config *cfg, bool on);

void goc_tls_config_free(goc_tls_config *cfg);

/* Server: resumption with tickets that live lifetime seconds and a cache
 * of entries sessions (0: tickets only); lifetime 0 turns both off. Any
 * tickets and cached sessions from before are forgotten. Call before the
 * configuration's first session. 0, -EINVAL (a client configuration,
 * entries < 0) or -ENOMEM. */
int goc_tls_config_resumption(goc_tls_config *cfg, uint32_t lifetime, int entries);

/* Server: replaces the active ticket key by a new one (the one it replaces
 * still opens tickets; the one before that no longer does), if the
 * active key is at least half a lifetime old or force is set: the
 * server's rotation timer calls it every lifetime, so a key never seals
 * for longer whether or not handshakes come. 1 rotated, 0 not due,
 * -EINVAL (no resumption), -EIO. Safe beside running handshakes. */
int goc_tls_config_rotate_tickets(goc_tls_config *cfg, bool force);

/* Client: keep the last session made with cfg and offer it on the next
 * goc_tls_connect (whatever the host: one server per configuration), by
 * its ticket when tickets is set (asking servers for tickets), else by
 * its id; on false forgets it and asks for no tickets. */
void goc_tls_config_client_resume(goc_tls_config *cfg, bool on, bool tickets);

/* Runs the server side of a handshake on c, which must finish before
 * deadline (goc_nanotime clock; 0: none). 0 and *out, or a negative errno;
 * on failure c is untouched apart from the bytes exchanged, and its
 * deadlines are cleared either way. */
int goc_tls_accept(goc_tls_config *cfg, goc_conn *c, int64_t deadline, goc_tls **out);

/* The client side: hostname is sent as SNI and, with a CA, verified
 * against the certificate's DNS names (mbedtls 2.28 does not match IP
 * address entries: verify "localhost", not "127.0.0.1"). */
int goc_tls_connect(goc_tls_config *cfg, goc_conn *c, const char *hostname, int64_t deadline,
                    goc_tls **out);

/* Reads up to len plaintext bytes: the count (> 0), 0 once the peer closed
 * (close_notify or end of stream), or a negative errno. One reader at a
 * time. */
ssize_t goc_tls_read(goc_tls *t, void *buf, size_t len);

/* True when a read would return without waiting for the socket:
 * decrypted bytes mbedtls holds, received ciphertext not yet taken, or the
 * end of the stream already met. The reader's own question (one reader at
 * a time). */
bool goc_tls_pending(goc_tls *t);

/* Writes all len bytes: len, or a negative errno. Writers are serialized. */
ssize_t goc_tls_write(goc_tls *t, const void *buf, size_t len);

/* Half-close: sends close_notify (the peer reads end of stream); reading
 * goes on. 0 or a negative errno. */
int goc_tls_close_write(goc_tls *t);

/* Sends close_notify unless sent already (best effort, it never waits long: the connection's
 * write deadline applies) and frees t. Not the connection. */
void goc_tls_free(goc_tls *t);

/* The negotiated version ("TLSv1.2") and suite
 * ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"), for logs and benchmarks. */
const char *goc_tls_version(const goc_tls *t);
const char *goc_tls_suite(const goc_tls *t);

/* True when the handshake resumed an earlier session (a ticket or the
 * cache) instead of a full one. */
bool goc_tls_resumed(const goc_tls *t);

/* True when this session's records are our own AES-GCM ones. */
bool goc_tls_own_records(const goc_tls *t);

#endif

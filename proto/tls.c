/* tls.c: TLS sessions over goroutine-blocking connections (tls.h).
 *
 * mbedtls never touches the socket while the session lock is held and a
 * peer's bytes are awaited: its receive callback serves only what the
 * session's ciphertext buffer holds and otherwise answers WANT_READ; the
 * reading goroutine then drops the lock, parks in goc_conn_read to refill
 * the buffer, and calls mbedtls again. The send callback writes through
 * goc_conn_write under the lock (writers queue behind a slow peer, readers
 * only while they decrypt).
 *
 * A full handshake costs milliseconds of public-key arithmetic with no
 * yield point in it, so each step that does some (heavy_step) runs as a
 * blocking C call (goc_syscall_enter): sysmon hands the P to another M if
 * the step runs long, and the goroutines queued behind it go on. The other
 * steps, and all of a resumed handshake, take microseconds and run as
 * they are. During the handshake the send callback only collects bytes (a
 * step must not touch the runtime); they are written when the handshake
 * waits for the peer or ends, so a flight of messages (ServerHello to
 * ServerHelloDone; ServerHello, ChangeCipherSpec and Finished when
 * resuming) leaves in one write.
 *
 * Records after the handshake: when the suite is AES-GCM and the CPU has
 * AES-NI and PCLMULQDQ, mbedtls only runs the handshake and the session
 * seals and opens application records itself (proto/tls_record.c on
 * proto/aesgcm.c), with the key block mbedtls exports while deriving keys
 * and the sequence numbers it has reached. mbedtls 2.28 encrypts and
 * hashes GCM one block at a time and has no vectorized ChaCha20, and its
 * record layer cost a third of the server's CPU in framed_echo_tls. The
 * reader then needs no lock at all: it owns the receive state (the input
 * buffer, the receiving direction) and writers own the sending one under
 * mu.
 *
 * What a handshake costs beyond mbedtls's arithmetic is cut where mbedtls
 * 2.28 lets it be: the generator's comb table of P-256 is built once and
 * lent to each handshake's ECDH group (lend_table), P-256 is the curve
 * taken first, sessions are reset and kept for the next connection
 * instead of freed (session_take: mbedtls allocates, zeroes and wipes 33
 * KB of record buffers per session), and SHA-256, most of a resumed
 * handshake, runs on the SHA extensions (sha256_ni.c). Resumption uses
 * mbedtls's ticket module and session cache; their keys and entries are
 * under their own mutexes.
 *
 * Invariants: in[in_off..in_len) are received bytes not consumed yet (by
 * mbedtls, or with own records: the record being read starts at in_off,
 * its plaintext is in[plain_off..plain_off + plain_len) once opened); only
 * the session's one reader (or the handshake) consumes or refills them.
 * The DRBG is shared by every session and locks itself (mbedtls is built
 * with MBEDTLS_THREADING_PTHREAD); it is seeded once, on first use. A
 * handshake's ECDH group holds p256_g's table only during the step that
 * lent it (g_lent), never when mbedtls could free the group. A pooled
 * session is reset (no keys, wiped buffers) and belongs to no connection.
 *
 * Memory: the session and its buffers come from goc_malloc (a handshake
 * step inside goc_syscall_enter allocates from the shared no-P cache).
 * mbedtls's own memory (its contexts, its two 16 KiB record buffers, the
 * parsed certificates) comes from libc's calloc: Debian builds mbedtls
 * 2.28 without MBEDTLS_PLATFORM_MEMORY, so it has no allocator hook.
 */
#include "tls.h"

#include "sha256_ni.h"
#include "tls_record.h"

#include <goc/goc.h>

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_internal.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/threading.h>
#include <mbedtls/x509_crt.h>

/* Ciphertext read ahead: one full TLS record (16 KiB plus overhead) in one
 * read when the peer sends that much. */
#define TLS_INBUF (16384 + 512)

/* Sessions a configuration keeps for reuse (session_take): mbedtls
 * allocates, zeroes and on freeing wipes 33 KB of record buffers per
 * session, a tenth of a resumed handshake's cost. */
#define TLS_POOL 32

struct goc_tls_config {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt chain;  /* server: own chain; client: trusted CAs */
    mbedtls_pk_context key;  /* server only */
    bool verify;             /* client: check the server's certificate */
    bool own_records;        /* seal AES-GCM records ourselves (see the top) */
    /* Server: resumption (tls.h). The ticket keys and the cache lock
     * themselves (their mutexes: MBEDTLS_THREADING_PTHREAD). */
    mbedtls_ssl_ticket_context tickets; /* session tickets, RFC 5077 */
    mbedtls_ssl_cache_context cache;    /* sessions by id, RFC 5246 7.4.1.2 */
    uint32_t lifetime;       /* tickets' and cache entries' seconds; 0: no resumption */
    /* Client: the last session, offered to the next connect. */
    pthread_mutex_t saved_mu; /* guards saved (a short copy, no yield point) */
    mbedtls_ssl_session saved;
    bool have_saved;          /* saved holds a session */
    bool client_resume;       /* keep and offer it (goc_tls_config_client_resume) */
    /* Sessions over, reset for the next connection (session_take): their
     * mbedtls context keeps its two record buffers. */
    pthread_mutex_t pool_mu;  /* guards pool and pooled (a push or pop, no yield point) */
    goc_tls *pool;            /* linked by next */
    int pooled;               /* how many; at most TLS_POOL */
};

/* The record state once the session seals its own records. */
typedef struct own_records {
    goc_tls_dir rx; /* reader only */
    goc_tls_dir tx; /* under mu */
} own_records;

struct goc_tls {
    mbedtls_ssl_context ssl; /* guarded by mu once the handshake is done */
    goc_tls_config *cfg;     /* the configuration it was set up with */
    goc_tls *next;           /* in cfg's pool */
    goc_mutex mu;            /* one mbedtls call at a time */
    goc_conn *conn;          /* borrowed */
    int write_err;           /* the send callback's last error (under mu) */
    bool reading;            /* the reader is inside mbedtls (under mu) */
    bool closed_write;       /* close_notify sent (under mu) */
    bool read_over;          /* the reader met the end or an error ... */
    ssize_t read_end;        /* ... and later reads return this (reader only) */
    bool handshaking;        /* bio_send collects into hs_out */
    bool resumed;            /* the handshake resumed a session */
    bool g_lent;             /* the handshake's ECDH group holds p256_g's table */
    unsigned char *hs_out;   /* handshake bytes to write (goc_malloc) */
    size_t hs_len, hs_cap;
    own_records *own;        /* NULL: mbedtls's records */
    size_t plain_off, plain_len; /* own: the opened record's text (reader) */
    size_t rec_len;          /* own: that record's length in in[] */
    unsigned char *out;      /* own: one sealed record (under mu) */
    size_t out_cap;
    size_t in_off, in_len;   /* see the invariants */
    unsigned char in[TLS_INBUF];
};

/* ---- the shared random generator -------------------------------------------------- */

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static pthread_once_t drbg_once = PTHREAD_ONCE_INIT;
static int drbg_status = -1;

static void drbg_seed(void)
{
    static const unsigned char pers[] = "goc-tls";
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    drbg_status = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers,
                                        sizeof pers - 1);
}

/* ---- the generator's table for P-256 ---------------------------------------------------- */

/* mbedtls 2.28 multiplies the curve's generator by the comb method with a
 * table of precomputed points that it keeps in the group, and the group
 * of a handshake's ECDHE is loaded afresh for every handshake, so each one
 * rebuilt the table (192 doublings on P-256) before its one
 * multiplication by the generator (mbedtls issue 4303). p256_g is built
 * once; the handshake's group borrows its table while it makes its key
 * (lend_table, from the random generator that the key generation calls
 * first) and gives it back when the step is over (return_table), before
 * mbedtls could free the group. The table is only read by a
 * multiplication, so any number of handshakes share it. The server's own
 * key has a group of its own that keeps its table once made
 * (warm_key_table). */
static mbedtls_ecp_group p256_g;
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
static bool p256_ready;

static void p256_build(void)
{
    mbedtls_ecp_point r;
    mbedtls_mpi one;
    mbedtls_ecp_group_init(&p256_g);
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&one);
    p256_ready = mbedtls_ecp_group_load(&p256_g, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
                 mbedtls_mpi_lset(&one, 1) == 0 &&
                 mbedtls_ecp_mul(&p256_g, &r, &one, &p256_g.G, mbedtls_ctr_drbg_random, &drbg) == 0 &&
                 p256_g.T != NULL;
    mbedtls_ecp_point_free(&r);
    mbedtls_mpi_free(&one);
}

static goc_tls *deriving(void);

/* Lends p256_g's table to the ECDH group of the handshake step under way,
 * when that step makes our ECDHE key on P-256 (server: ServerKeyExchange;
 * client: ClientKeyExchange) and its group has no table yet. */
static void lend_table(goc_tls *t)
{
    mbedtls_ssl_handshake_params *hs = t->ssl.handshake;
    int keygen = t->ssl.conf->endpoint == MBEDTLS_SSL_IS_SERVER ? MBEDTLS_SSL_SERVER_KEY_EXCHANGE
                                                                 : MBEDTLS_SSL_CLIENT_KEY_EXCHANGE;
    if (!hs || t->g_lent || t->ssl.state != keygen || !p256_ready)
        return;
    mbedtls_ecp_group *grp = &hs->ecdh_ctx.grp;
    if (grp->id != MBEDTLS_ECP_DP_SECP256R1 || grp->T != NULL)
        return;
    grp->T = p256_g.T;
    grp->T_size = p256_g.T_size;
    t->g_lent = true;
}

/* Takes the lent table back out of the handshake's group. */
static void return_table(goc_tls *t)
{
    if (!t->g_lent)
        return;
    mbedtls_ecp_group *grp = &t->ssl.handshake->ecdh_ctx.grp;
    grp->T = NULL;
    grp->T_size = 0;
    t->g_lent = false;
}

/* The random generator of every session and of the ticket keys; see
 * lend_table for what it does besides. */
static int tls_random(void *p, unsigned char *out, size_t len)
{
    goc_tls *t = deriving();
    if (t)
        lend_table(t);
    return mbedtls_ctr_drbg_random(p, out, len);
}

/* Computes the generator's table in the server key's own group once, so
 * that concurrent first handshakes do not race to store it there. */
static void warm_key_table(mbedtls_pk_context *key)
{
    if (mbedtls_pk_get_type(key) != MBEDTLS_PK_ECKEY)
        return;
    mbedtls_ecp_group *grp = &mbedtls_pk_ec(*key)->grp;
    mbedtls_ecp_point r;
    mbedtls_mpi one;
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&one);
    if (mbedtls_mpi_lset(&one, 1) == 0)
        (void)mbedtls_ecp_mul(grp, &r, &one, &grp->G, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ecp_point_free(&r);
    mbedtls_mpi_free(&one);
}

/* Key-exchange curves in the server's order: P-256 first (mbedtls's
 * fastest, with NIST reduction and the generator's table above), where
 * mbedtls's own order takes the largest a client offers (P-384 from a
 * browser offering X25519, P-256 and P-384, at twice the cost); no curve
 * below 256 bits, no Brainpool or secp256k1. */
static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_SECP521R1,
    MBEDTLS_ECP_DP_NONE,
};

/* ECDHE with AEAD ciphers only, in the server's order of preference
 * (mbedtls chooses by its own list). With AES-NI, AES-GCM first: our own
 * records run it four blocks at a time. Without, ChaCha20-Poly1305 first:
 * mbedtls 2.28 runs GCM one block at a time, slower than its ChaCha20 (the
 * framed_echo_tls benchmark). All are AEADs of at least 128-bit strength. */
static const int suites_aesni[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};
static const int suites_portable[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

/* The session whose handshake step runs on this thread: mbedtls's
 * key-export callback carries only the configuration's pointer. A step
 * runs start to end on one thread (a blocking C call, no yield point),
 * but the handshaking goroutine moves between threads at the yield points
 * between steps, so the slot is read and written only inside these two
 * calls: a compiler treats a thread-local's address as a constant and may
 * compute it once, on an earlier thread (the README's "What is safe across
 * a yield point"; clang did so here, even through a call returning the
 * address). */
static _Thread_local goc_tls *deriving_session;

__attribute__((noinline)) static goc_tls *deriving(void)
{
    __asm__ volatile("" ::: "memory");
    return deriving_session;
}

__attribute__((noinline)) static void set_deriving(goc_tls *t)
{
    __asm__ volatile("" ::: "memory");
    deriving_session = t;
}

/* mbedtls's key export (p: the configuration): for an AES-GCM key block
 * (no MAC keys, 4-byte implicit nonces; RFC 5246 6.3's order: client key,
 * server key, client nonce, server nonce) the session's own record state
 * is made from it here, so the raw keys are never kept; own_records_check
 * adds the sequence numbers once the handshake is over. */
static int export_keys(void *p, const unsigned char *ms, const unsigned char *kb, size_t maclen,
                       size_t keylen, size_t ivlen, const unsigned char client_random[32],
                       const unsigned char server_random[32], mbedtls_tls_prf_types prf)
{
    (void)ms, (void)client_random, (void)server_random, (void)prf;
    const goc_tls_config *cfg = p;
    goc_tls *t = deriving();
    if (!t || t->own || !cfg->own_records || maclen != 0 || ivlen != 4 ||
        (keylen != 16 && keylen != 32))
        return 0;
    own_records *o = goc_malloc(sizeof *o);
    if (!o)
        return 0; /* mbedtls's records still work */
    const uint8_t *client_key = kb, *server_key = kb + keylen;
    const uint8_t *client_iv = kb + 2 * keylen, *server_iv = client_iv + 4;
    bool server = t->ssl.conf->endpoint == MBEDTLS_SSL_IS_SERVER;
    goc_aesgcm_init(&o->rx.gcm, server ? client_key : server_key, keylen);
    goc_aesgcm_init(&o->tx.gcm, server ? server_key : client_key, keylen);
    memcpy(o->rx.salt, server ? client_iv : server_iv, 4);
    memcpy(o->tx.salt, server ? server_iv : client_iv, 4);
    t->own = o;
    return 0;
}

static void describe(int rc, const char *what, const char *path, char *err, size_t errlen)
{
    char why[128];
    mbedtls_strerror(rc, why, sizeof why);
    if (err && errlen)
        snprintf(err, errlen, "%s %s: %s", what, path ? path : "", why);
}

/* mbedtls reads certificate files through its key loader, so either
 * module's I/O error means the file could not be read. */
static bool file_error(int rc)
{
    return rc == MBEDTLS_ERR_PK_FILE_IO_ERROR || rc == MBEDTLS_ERR_X509_FILE_IO_ERROR;
}

static int config_new(int endpoint, goc_tls_config **out, char *err, size_t errlen)
{
    pthread_once(&drbg_once, drbg_seed);
    if (drbg_status != 0) {
        describe(drbg_status, "seeding the random generator", NULL, err, errlen);
        return -EIO;
    }
    goc_tls_config *cfg = goc_calloc(1, sizeof *cfg);
    if (!cfg)
        return -ENOMEM;
    mbedtls_ssl_config_init(&cfg->conf);
    mbedtls_x509_crt_init(&cfg->chain);
    mbedtls_pk_init(&cfg->key);
    mbedtls_ssl_ticket_init(&cfg->tickets);
    mbedtls_ssl_cache_init(&cfg->cache);
    pthread_mutex_init(&cfg->saved_mu, NULL);
    pthread_mutex_init(&cfg->pool_mu, NULL);
    mbedtls_ssl_session_init(&cfg->saved);
    int rc = mbedtls_ssl_config_defaults(&cfg->conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc) {
        describe(rc, "TLS defaults", NULL, err, errlen);
        goc_tls_config_free(cfg);
        return -ENOMEM;
    }
    pthread_once(&p256_once, p256_build);
    (void)goc_sha256_accelerated(); /* links the fast block function in (sha256_ni.c) */
    mbedtls_ssl_conf_rng(&cfg->conf, tls_random, &drbg);
    mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    cfg->own_records = goc_aesgcm_available();
    mbedtls_ssl_conf_ciphersuites(&cfg->conf, cfg->own_records ? suites_aesni : suites_portable);
    mbedtls_ssl_conf_curves(&cfg->conf, curves);
    mbedtls_ssl_conf_export_keys_ext_cb(&cfg->conf, export_keys, cfg);
    mbedtls_ssl_conf_renegotiation(&cfg->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    *out = cfg;
    return 0;
}

int goc_tls_server_config(const char *cert_path, const char *key_path, goc_tls_config **out,
                          char *err, size_t errlen)
{
    goc_tls_config *cfg;
    int rc = config_new(MBEDTLS_SSL_IS_SERVER, &cfg, err, errlen);
    if (rc)
        return rc;
    if ((rc = mbedtls_x509_crt_parse_file(&cfg->chain, cert_path)) != 0) {
        describe(rc, "certificate", cert_path, err, errlen);
    } else if ((rc = mbedtls_pk_parse_keyfile(&cfg->key, key_path, NULL)) != 0) {
        describe(rc, "private key", key_path, err, errlen);
    } else if ((rc = mbedtls_pk_check_pair(&cfg->chain.pk, &cfg->key)) != 0) {
        describe(rc, "private key", key_path, err, errlen);
    } else if ((rc = mbedtls_ssl_conf_own_cert(&cfg->conf, &cfg->chain, &cfg->key)) != 0) {
        describe(rc, "certificate", cert_path, err, errlen);
    }
    if (rc) {
        goc_tls_config_free(cfg);
        return file_error(rc) ? -ENOENT : -EINVAL;
    }
    warm_key_table(&cfg->key);
    if ((rc = goc_tls_config_resumption(cfg, GOC_TLS_TICKET_LIFETIME, GOC_TLS_CACHE_ENTRIES)) != 0) {
        snprintf(err, errlen, "session tickets: %s", strerror(-rc));
        goc_tls_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int goc_tls_config_resumption(goc_tls_config *cfg, uint32_t lifetime, int entries)
{
    if (cfg->conf.endpoint != MBEDTLS_SSL_IS_SERVER || entries < 0)
        return -EINVAL;
    if (cfg->lifetime) { /* set up before: start again */
        mbedtls_ssl_ticket_free(&cfg->tickets);
        mbedtls_ssl_cache_free(&cfg->cache);
        mbedtls_ssl_ticket_init(&cfg->tickets);
        mbedtls_ssl_cache_init(&cfg->cache);
    }
    cfg->lifetime = lifetime;
    if (lifetime == 0) {
        mbedtls_ssl_conf_session_tickets_cb(&cfg->conf, NULL, NULL, NULL);
        mbedtls_ssl_conf_session_cache(&cfg->conf, NULL, NULL, NULL);
        return 0;
    }
    /* AES-256-GCM keys, the active one replaced every lifetime seconds
     * (the previous one still opens tickets for as long again) */
    if (mbedtls_ssl_ticket_setup(&cfg->tickets, tls_random, &drbg, MBEDTLS_CIPHER_AES_256_GCM,
                                 lifetime) != 0) {
        cfg->lifetime = 0;
        return -ENOMEM;
    }
    mbedtls_ssl_conf_session_tickets_cb(&cfg->conf, mbedtls_ssl_ticket_write,
                                        mbedtls_ssl_ticket_parse, &cfg->tickets);
    mbedtls_ssl_cache_set_timeout(&cfg->cache, (int)(lifetime > INT_MAX ? INT_MAX : lifetime));
    mbedtls_ssl_cache_set_max_entries(&cfg->cache, entries);
    if (entries)
        mbedtls_ssl_conf_session_cache(&cfg->conf, &cfg->cache, mbedtls_ssl_cache_get,
                                       mbedtls_ssl_cache_set);
    else
        mbedtls_ssl_conf_session_cache(&cfg->conf, NULL, NULL, NULL);
    return 0;
}

int goc_tls_config_rotate_tickets(goc_tls_config *cfg, bool force)
{
    if (!cfg->lifetime)
        return -EINVAL;
    mbedtls_ssl_ticket_context *tk = &cfg->tickets;
    unsigned char name[4], key[32];
    if (mbedtls_mutex_lock(&tk->mutex) != 0)
        return -EIO;
    uint32_t now = (uint32_t)time(NULL), born = tk->keys[tk->active].generation_time;
    int rc = 0;
    if (force || now < born || now - born >= cfg->lifetime / 2) {
        /* what mbedtls does when the active key is a lifetime old: the
         * older key makes way for a new active one */
        uint8_t next = (uint8_t)(1 - tk->active);
        mbedtls_ssl_ticket_key *k = &tk->keys[next];
        if (mbedtls_ctr_drbg_random(&drbg, name, sizeof name) != 0 ||
            mbedtls_ctr_drbg_random(&drbg, key, sizeof key) != 0 ||
            mbedtls_cipher_setkey(&k->ctx, key, 256, MBEDTLS_ENCRYPT) != 0) {
            rc = -EIO;
        } else {
            memcpy(k->name, name, sizeof name);
            k->generation_time = now;
            tk->active = next;
            rc = 1;
        }
    }
    mbedtls_platform_zeroize(key, sizeof key);
    mbedtls_mutex_unlock(&tk->mutex);
    return rc;
}

void goc_tls_config_client_resume(goc_tls_config *cfg, bool on, bool tickets)
{
    pthread_mutex_lock(&cfg->saved_mu);
    mbedtls_ssl_conf_session_tickets(&cfg->conf, on && tickets ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
                                                               : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    cfg->client_resume = on;
    if (!on && cfg->have_saved) {
        mbedtls_ssl_session_free(&cfg->saved);
        mbedtls_ssl_session_init(&cfg->saved);
        cfg->have_saved = false;
    }
    pthread_mutex_unlock(&cfg->saved_mu);
}

int goc_tls_client_config(const char *ca_path, goc_tls_config **out, char *err, size_t errlen)
{
    goc_tls_config *cfg;
    int rc = config_new(MBEDTLS_SSL_IS_CLIENT, &cfg, err, errlen);
    if (rc)
        return rc;
    if (ca_path) {
        if ((rc = mbedtls_x509_crt_parse_file(&cfg->chain, ca_path)) != 0) {
            describe(rc, "CA file", ca_path, err, errlen);
            goc_tls_config_free(cfg);
            return file_error(rc) ? -ENOENT : -EINVAL;
        }
        mbedtls_ssl_conf_ca_chain(&cfg->conf, &cfg->chain, NULL);
        mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        cfg->verify = true;
    } else {
        mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    *out = cfg;
    return 0;
}

void goc_tls_config_own_records(goc_tls_config *cfg, bool on)
{
    cfg->own_records = on && goc_aesgcm_available();
}

void goc_tls_config_free(goc_tls_config *cfg)
{
    if (!cfg)
        return;
    mbedtls_ssl_config_free(&cfg->conf);
    mbedtls_x509_crt_free(&cfg->chain);
    mbedtls_pk_free(&cfg->key);
    mbedtls_ssl_ticket_free(&cfg->tickets);
    mbedtls_ssl_cache_free(&cfg->cache);
    mbedtls_ssl_session_free(&cfg->saved);
    pthread_mutex_destroy(&cfg->saved_mu);
    for (goc_tls *t = cfg->pool, *next; t; t = next) {
        next = t->next;
        mbedtls_ssl_free(&t->ssl);
        goc_free(t);
    }
    pthread_mutex_destroy(&cfg->pool_mu);
    goc_free(cfg);
}

/* ---- the callbacks ------------------------------------------------------------------ */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    goc_tls *t = ctx;
    if (t->handshaking) { /* collected; written after the step */
        if (t->hs_len + len > t->hs_cap) {
            size_t cap = t->hs_cap ? t->hs_cap : 4096;
            while (cap < t->hs_len + len)
                cap *= 2;
            unsigned char *p = goc_realloc(t->hs_out, cap);
            if (!p)
                return MBEDTLS_ERR_SSL_ALLOC_FAILED;
            t->hs_out = p;
            t->hs_cap = cap;
        }
        memcpy(t->hs_out + t->hs_len, buf, len);
        t->hs_len += len;
        return (int)len;
    }
    ssize_t n = goc_conn_write(t->conn, buf, len);
    if (n < 0) {
        t->write_err = (int)n;
        return MBEDTLS_ERR_NET_SEND_FAILED;
    }
    return (int)n; /* records are far below INT_MAX */
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    goc_tls *t = ctx;
    size_t have = t->in_len - t->in_off;
    if (!t->reading || have == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > have)
        len = have;
    memcpy(buf, t->in + t->in_off, len);
    t->in_off += len;
    return (int)len;
}

/* Refills the ciphertext buffer from the socket (the reader, without the
 * lock), waiting for bytes or not (-EAGAIN). The count, 0 at end of
 * stream, or a negative errno. */
static ssize_t refill(goc_tls *t, bool wait)
{
    if (t->in_off == t->in_len)
        t->in_off = t->in_len = 0;
    if (t->in_len == sizeof t->in) { /* mbedtls asks in pieces; never full */
        memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
        t->in_len -= t->in_off;
        t->in_off = 0;
    }
    void *end = t->in + t->in_len;
    size_t room = sizeof t->in - t->in_len;
    ssize_t n = wait ? goc_conn_read(t->conn, end, room) : goc_conn_read_nowait(t->conn, end, room);
    if (n > 0)
        t->in_len += (size_t)n;
    return n;
}

/* ---- sessions ----------------------------------------------------------------------- */

/* Writes what the handshake steps collected. 0 or a negative errno. */
static int handshake_flush(goc_tls *t)
{
    ssize_t n = t->hs_len ? goc_conn_write(t->conn, t->hs_out, t->hs_len) : 0;
    t->hs_len = 0;
    return n < 0 ? (int)n : 0;
}

/* True for the handshake states whose step does public-key work: the
 * certificate chain and the key exchange, both ends (mbedtls numbers the
 * states the same for both). */
static bool heavy_step(int state)
{
    return state == MBEDTLS_SSL_SERVER_CERTIFICATE || state == MBEDTLS_SSL_SERVER_KEY_EXCHANGE ||
           state == MBEDTLS_SSL_CLIENT_KEY_EXCHANGE || state == MBEDTLS_SSL_CERTIFICATE_VERIFY;
}

/* One step of the handshake, as a blocking C call when it is heavy. */
static int handshake_step(goc_tls *t)
{
    bool heavy = heavy_step(t->ssl.state);
    if (heavy)
        goc_syscall_enter(); /* compute only: see the top of the file */
    set_deriving(t);
    if (t->ssl.handshake) /* freed by the last step */
        t->resumed = t->ssl.handshake->resume;
    int rc = mbedtls_ssl_handshake_step(&t->ssl);
    return_table(t);
    set_deriving(NULL);
    if (heavy)
        goc_syscall_exit();
    return rc;
}

static int handshake(goc_tls *t, int64_t deadline)
{
    goc_conn_set_read_deadline(t->conn, deadline);
    goc_conn_set_write_deadline(t->conn, deadline);
    t->reading = true;
    t->handshaking = true;
    int err = 0;
    for (;;) {
        int rc = handshake_step(t);
        bool over = rc == 0 && t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER;
        if (rc == 0 && !over)
            continue; /* more to say before waiting: collect it */
        if ((err = handshake_flush(t)) != 0 || over)
            break;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
            ssize_t n = refill(t, true);
            if (n > 0)
                continue;
            err = n == 0 ? -ECONNRESET : (int)n;
        } else if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            continue;
        } else {
            err = -EPROTO;
        }
        break;
    }
    t->handshaking = false;
    goc_free(t->hs_out);
    t->hs_out = NULL;
    t->hs_cap = 0;
    t->reading = false;
    goc_conn_set_read_deadline(t->conn, 0);
    goc_conn_set_write_deadline(t->conn, 0);
    return err;
}

/* ---- own records ------------------------------------------------------------------- */

static void own_records_free(goc_tls *t)
{
    if (t->own) {
        goc_aesgcm_wipe(&t->own->rx.gcm);
        goc_aesgcm_wipe(&t->own->tx.gcm);
        goc_free(t->own);
        t->own = NULL;
    }
    goc_free(t->out);
    t->out = NULL;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

/* After a handshake: the session keeps the records export_keys prepared
 * if mbedtls holds no record data of its own (it reads exactly one record
 * at a time from bio_recv, so whatever the peer sent after its Finished is
 * still in in[]), with the sequence numbers where mbedtls left them. */
static void own_records_check(goc_tls *t)
{
    if (!t->own)
        return;
    if (mbedtls_ssl_check_pending(&t->ssl) || mbedtls_ssl_get_bytes_avail(&t->ssl)) {
        own_records_free(t); /* mbedtls's records go on */
        return;
    }
    t->own->rx.seq = get_be64(t->ssl.in_ctr);
    t->own->tx.seq = get_be64(t->ssl.cur_out_ctr);
}

/* Seals one record of type with n <= GOC_TLS_REC_MAX_TEXT bytes and
 * writes it (under mu). 0 or a negative errno. */
static int own_send(goc_tls *t, uint8_t type, const uint8_t *p, size_t n)
{
    if (t->write_err)
        return t->write_err;
    if (t->out_cap < n + GOC_TLS_REC_OVERHEAD) {
        size_t cap = n + GOC_TLS_REC_OVERHEAD < 1024 ? 1024 : n + GOC_TLS_REC_OVERHEAD;
        unsigned char *b = goc_realloc(t->out, cap);
        if (!b)
            return -ENOMEM;
        t->out = b;
        t->out_cap = cap;
    }
    ssize_t len = goc_tls_record_seal(&t->own->tx, type, p, n, t->out);
    if (len < 0)
        return t->write_err = (int)len;
    ssize_t w = goc_conn_write(t->conn, t->out, (size_t)len);
    if (w < 0)
        return t->write_err = (int)w;
    return 0;
}

/* Opens the record at in_off when it is all there: 1 with plain_* set
 * (plain_len 0 when the record carried no data: it is consumed), 0 when
 * more bytes are needed, 2 for the peer's close_notify, or -EPROTO (a bad
 * record, a fatal alert). */
static int own_open(goc_tls *t)
{
    uint8_t type, *text;
    size_t n;
    ssize_t len = goc_tls_record_open(&t->own->rx, t->in + t->in_off, t->in_len - t->in_off,
                                      &type, &text, &n);
    if (len <= 0)
        return (int)len;
    t->rec_len = (size_t)len;
    t->plain_off = (size_t)(text - t->in);
    t->plain_len = 0;
    if (type == GOC_TLS_REC_ALERT) {
        if (n != 2 || text[0] == 2)
            return -EPROTO; /* a fatal alert */
        if (text[1] == 0)
            return 2;       /* close_notify */
    } else {
        t->plain_len = n;
    }
    if (t->plain_len == 0) /* nothing to read: a warning alert, an empty record */
        t->in_off += t->rec_len;
    return 1;
}

/* refill for own records: the record at in_off must fit whole, so the
 * buffer is compacted when it could not (no plaintext is pending here). */
static ssize_t own_refill(goc_tls *t, bool wait)
{
    if (t->in_off && sizeof t->in - t->in_off < GOC_TLS_REC_OVERHEAD + GOC_TLS_REC_MAX_TEXT) {
        memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
        t->in_len -= t->in_off;
        t->in_off = 0;
    }
    return refill(t, wait);
}

static ssize_t own_read(goc_tls *t, unsigned char *p, size_t len)
{
    size_t got = 0;
    bool refilled = false; /* as in goc_tls_read */
    for (;;) {
        if (t->plain_len) {
            size_t n = len - got < t->plain_len ? len - got : t->plain_len;
            memcpy(p + got, t->in + t->plain_off, n);
            got += n;
            t->plain_off += n;
            if ((t->plain_len -= n) == 0)
                t->in_off += t->rec_len;
            if (got == len)
                return (ssize_t)got;
        }
        int rc = own_open(t);
        if (rc == 1)
            continue;
        if (rc != 0) {
            t->read_over = true;
            t->read_end = rc == 2 ? 0 : rc;
            return got > 0 ? (ssize_t)got : t->read_end;
        }
        if (got > 0) {
            if (!refilled) {
                refilled = true;
                if (own_refill(t, false) > 0)
                    continue;
            }
            return (ssize_t)got;
        }
        ssize_t n = own_refill(t, true);
        refilled = true;
        if (n <= 0)
            return n;
    }
}

/* Client: offers the session kept from the last connect, if any. */
static void client_offer(goc_tls_config *cfg, goc_tls *t)
{
    if (cfg->conf.endpoint != MBEDTLS_SSL_IS_CLIENT)
        return;
    pthread_mutex_lock(&cfg->saved_mu);
    if (cfg->client_resume && cfg->have_saved)
        (void)mbedtls_ssl_set_session(&t->ssl, &cfg->saved); /* a copy; a failure: full */
    pthread_mutex_unlock(&cfg->saved_mu);
}

/* Client: keeps the session just made for the next connect. */
static void client_keep(goc_tls_config *cfg, goc_tls *t)
{
    if (cfg->conf.endpoint != MBEDTLS_SSL_IS_CLIENT)
        return;
    pthread_mutex_lock(&cfg->saved_mu);
    if (cfg->client_resume) {
        mbedtls_ssl_session_free(&cfg->saved);
        mbedtls_ssl_session_init(&cfg->saved);
        cfg->have_saved = mbedtls_ssl_get_session(&t->ssl, &cfg->saved) == 0;
    }
    pthread_mutex_unlock(&cfg->saved_mu);
}

/* A session set up with cfg: one from its pool, else a new one. Its
 * fields but ssl, cfg and in[] are zero. NULL when out of memory. */
static goc_tls *session_take(goc_tls_config *cfg)
{
    pthread_mutex_lock(&cfg->pool_mu);
    goc_tls *t = cfg->pool;
    if (t) {
        cfg->pool = t->next;
        cfg->pooled--;
    }
    pthread_mutex_unlock(&cfg->pool_mu);
    if (!t) {
        if (!(t = goc_malloc(sizeof *t)))
            return NULL;
        mbedtls_ssl_init(&t->ssl);
        if (mbedtls_ssl_setup(&t->ssl, &cfg->conf) != 0) {
            mbedtls_ssl_free(&t->ssl);
            goc_free(t);
            return NULL;
        }
        t->cfg = cfg;
    }
    /* and mu unlocked: a zero goc_mutex is GOC_MUTEX_INIT */
    memset((char *)t + offsetof(goc_tls, next), 0, offsetof(goc_tls, in) - offsetof(goc_tls, next));
    return t;
}

/* Gives a session back: reset (its keys and buffers wiped) into its
 * configuration's pool, or freed when the pool is full. */
static void session_release(goc_tls *t)
{
    own_records_free(t);
    goc_tls_config *cfg = t->cfg;
    if (mbedtls_ssl_session_reset(&t->ssl) == 0) {
        pthread_mutex_lock(&cfg->pool_mu);
        bool kept = cfg->pooled < TLS_POOL;
        if (kept) {
            t->next = cfg->pool;
            cfg->pool = t;
            cfg->pooled++;
        }
        pthread_mutex_unlock(&cfg->pool_mu);
        if (kept)
            return;
    }
    mbedtls_ssl_free(&t->ssl);
    goc_free(t);
}

static int session(goc_tls_config *cfg, goc_conn *c, const char *hostname, int64_t deadline,
                   goc_tls **out)
{
    goc_tls *t = session_take(cfg);
    if (!t)
        return -ENOMEM;
    t->conn = c;
    if (hostname && mbedtls_ssl_set_hostname(&t->ssl, hostname) != 0) {
        session_release(t);
        return -ENOMEM;
    }
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    client_offer(cfg, t);
    int rc = handshake(t, deadline);
    if (rc != 0) {
        session_release(t);
        return rc;
    }
    client_keep(cfg, t);
    own_records_check(t);
    *out = t;
    return 0;
}

int goc_tls_accept(goc_tls_config *cfg, goc_conn *c, int64_t deadline, goc_tls **out)
{
    return session(cfg, c, NULL, deadline, out);
}

int goc_tls_connect(goc_tls_config *cfg, goc_conn *c, const char *hostname, int64_t deadline,
                    goc_tls **out)
{
    return session(cfg, c, hostname, deadline, out);
}

ssize_t goc_tls_read(goc_tls *t, void *buf, size_t len)
{
    if (len > INT_MAX)
        len = INT_MAX;
    unsigned char *p = buf;
    size_t got = 0;
    bool refilled = false; /* this call has read the socket */
    if (t->read_over)
        return t->read_end;
    if (t->own)
        return own_read(t, p, len);
    for (;;) {
        goc_mutex_lock(&t->mu);
        t->reading = true;
        int rc = mbedtls_ssl_read(&t->ssl, p + got, len - got);
        t->reading = false;
        goc_mutex_unlock(&t->mu);
        if (rc > 0) {
            got += (size_t)rc;
            if (got == len)
                return (ssize_t)got;
            if (t->in_len > t->in_off)
                continue; /* the next record's bytes are here */
        }
        if (rc > 0 || (rc == MBEDTLS_ERR_SSL_WANT_READ && got > 0)) {
            /* Like a socket read, take what has already arrived (a peer
             * that pipelines gets its answers in fewer, larger writes),
             * never waiting once there is data. Bytes read ahead by an
             * earlier call served this one: what the socket holds since
             * is taken too. */
            if (!refilled) {
                refilled = true;
                if (refill(t, false) > 0)
                    continue;
            }
            return (ssize_t)got;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
            ssize_t n = refill(t, true);
            refilled = true;
            if (n <= 0)
                return n; /* end of stream without close_notify reads as 0 too */
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        t->read_over = true;
        t->read_end = rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
                              rc == MBEDTLS_ERR_SSL_CONN_EOF
                          ? 0
                          : -EPROTO;
        return got > 0 ? (ssize_t)got : t->read_end; /* data first, then the end */
    }
}

bool goc_tls_pending(goc_tls *t)
{
    if (t->read_over) /* the end (or an error) is there to read */
        return true;
    if (t->own)
        return t->plain_len > 0 || t->in_len > t->in_off;
    goc_mutex_lock(&t->mu);
    bool some = mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 || t->in_len > t->in_off;
    goc_mutex_unlock(&t->mu);
    return some;
}

ssize_t goc_tls_write(goc_tls *t, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t done = 0;
    int err = 0;
    goc_mutex_lock(&t->mu);
    if (t->own) {
        for (size_t chunk; done < len && !err; done += chunk) {
            chunk = len - done < GOC_TLS_REC_MAX_TEXT ? len - done : GOC_TLS_REC_MAX_TEXT;
            err = own_send(t, GOC_TLS_REC_APPDATA, p + done, chunk);
        }
    } else {
        while (done < len) {
            size_t chunk = len - done < INT_MAX ? len - done : INT_MAX;
            int rc = mbedtls_ssl_write(&t->ssl, p + done, chunk);
            if (rc > 0) {
                done += (size_t)rc;
            } else if (rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
                err = t->write_err ? t->write_err : -EPROTO;
                break;
            }
        }
    }
    goc_mutex_unlock(&t->mu);
    return err ? err : (ssize_t)len;
}

int goc_tls_close_write(goc_tls *t)
{
    int rc = 0;
    goc_mutex_lock(&t->mu);
    if (!t->closed_write && !t->write_err) {
        t->closed_write = true;
        static const uint8_t close_notify[2] = {1, 0}; /* warning, close_notify */
        if (t->own)
            rc = own_send(t, GOC_TLS_REC_ALERT, close_notify, sizeof close_notify);
        else if (mbedtls_ssl_close_notify(&t->ssl) != 0)
            rc = t->write_err ? t->write_err : -EPROTO;
    }
    goc_mutex_unlock(&t->mu);
    return rc;
}

void goc_tls_free(goc_tls *t)
{
    if (!t)
        return;
    goc_tls_close_write(t);
    session_release(t);
}

const char *goc_tls_version(const goc_tls *t)
{
    return mbedtls_ssl_get_version(&t->ssl);
}

bool goc_tls_resumed(const goc_tls *t)
{
    return t->resumed;
}

bool goc_tls_own_records(const goc_tls *t)
{
    return t->own != NULL;
}

const char *goc_tls_suite(const goc_tls *t)
{
    return mbedtls_ssl_get_ciphersuite(&t->ssl);
}

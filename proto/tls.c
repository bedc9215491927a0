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
 * A handshake costs milliseconds of public-key arithmetic with no yield
 * point in it, so each handshake step runs as a blocking C call
 * (goc_syscall_enter): sysmon hands the P to another M if the step runs
 * long, and the goroutines queued behind it go on. During the handshake the
 * send callback only collects bytes (a step must not touch the runtime),
 * and they are written between steps.
 *
 * Invariants: in[in_off..in_len) are received bytes mbedtls has not taken
 * yet; only the session's one reader (or the handshake) consumes or refills
 * them. The DRBG is shared by every session and locks itself (mbedtls is
 * built with MBEDTLS_THREADING_PTHREAD); it is seeded once, on first use.
 */
#include "tls.h"

#include <goc/goc.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

/* Ciphertext read ahead: one full TLS record (16 KiB plus overhead) in one
 * read when the peer sends that much. */
#define TLS_INBUF (16384 + 512)

struct goc_tls_config {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt chain;  /* server: own chain; client: trusted CAs */
    mbedtls_pk_context key;  /* server only */
    bool verify;             /* client: check the server's certificate */
};

struct goc_tls {
    mbedtls_ssl_context ssl; /* guarded by mu once the handshake is done */
    goc_mutex mu;            /* one mbedtls call at a time */
    goc_conn *conn;          /* borrowed */
    int write_err;           /* the send callback's last error (under mu) */
    bool reading;            /* the reader is inside mbedtls (under mu) */
    bool closed_write;       /* close_notify sent (under mu) */
    bool read_over;          /* the reader met the end or an error ... */
    ssize_t read_end;        /* ... and later reads return this (reader only) */
    bool handshaking;        /* bio_send collects into hs_out */
    unsigned char *hs_out;   /* handshake bytes to write, malloc'd */
    size_t hs_len, hs_cap;
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

/* ECDHE with AEAD ciphers only, in the server's order of preference
 * (mbedtls chooses by its own list). ChaCha20-Poly1305 first: mbedtls 2.28
 * runs GCM one block at a time, and measured ChaCha20 faster here (the
 * framed_echo_tls benchmark); both are 256-bit-strength AEADs. */
static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

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
    goc_tls_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return -ENOMEM;
    mbedtls_ssl_config_init(&cfg->conf);
    mbedtls_x509_crt_init(&cfg->chain);
    mbedtls_pk_init(&cfg->key);
    int rc = mbedtls_ssl_config_defaults(&cfg->conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc) {
        describe(rc, "TLS defaults", NULL, err, errlen);
        goc_tls_config_free(cfg);
        return -ENOMEM;
    }
    mbedtls_ssl_conf_rng(&cfg->conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&cfg->conf, suites);
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
    *out = cfg;
    return 0;
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

void goc_tls_config_free(goc_tls_config *cfg)
{
    if (!cfg)
        return;
    mbedtls_ssl_config_free(&cfg->conf);
    mbedtls_x509_crt_free(&cfg->chain);
    mbedtls_pk_free(&cfg->key);
    free(cfg);
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
            unsigned char *p = realloc(t->hs_out, cap);
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

/* Writes what the last handshake step collected. 0 or a negative errno. */
static int handshake_flush(goc_tls *t)
{
    ssize_t n = t->hs_len ? goc_conn_write(t->conn, t->hs_out, t->hs_len) : 0;
    t->hs_len = 0;
    return n < 0 ? (int)n : 0;
}

static int handshake(goc_tls *t, int64_t deadline)
{
    goc_conn_set_read_deadline(t->conn, deadline);
    goc_conn_set_write_deadline(t->conn, deadline);
    t->reading = true;
    t->handshaking = true;
    int err = 0;
    for (;;) {
        goc_syscall_enter(); /* compute only: see the top of the file */
        int rc = mbedtls_ssl_handshake_step(&t->ssl);
        goc_syscall_exit();
        if ((err = handshake_flush(t)) != 0)
            break;
        if (rc == 0 && t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER)
            break;
        if (rc == 0)
            continue;
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
    free(t->hs_out);
    t->hs_out = NULL;
    t->hs_cap = 0;
    t->reading = false;
    goc_conn_set_read_deadline(t->conn, 0);
    goc_conn_set_write_deadline(t->conn, 0);
    return err;
}

static int session(goc_tls_config *cfg, goc_conn *c, const char *hostname, int64_t deadline,
                   goc_tls **out)
{
    goc_tls *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    memset(t, 0, offsetof(goc_tls, in));
    t->conn = c; /* and mu unlocked: a zero goc_mutex is GOC_MUTEX_INIT */
    mbedtls_ssl_init(&t->ssl);
    int rc = mbedtls_ssl_setup(&t->ssl, &cfg->conf);
    if (rc == 0 && hostname)
        rc = mbedtls_ssl_set_hostname(&t->ssl, hostname);
    if (rc) {
        mbedtls_ssl_free(&t->ssl);
        free(t);
        return -ENOMEM;
    }
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    if ((rc = handshake(t, deadline)) != 0) {
        mbedtls_ssl_free(&t->ssl);
        free(t);
        return rc;
    }
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
    goc_mutex_unlock(&t->mu);
    return err ? err : (ssize_t)len;
}

int goc_tls_close_write(goc_tls *t)
{
    int rc = 0;
    goc_mutex_lock(&t->mu);
    if (!t->closed_write && !t->write_err) {
        t->closed_write = true;
        if (mbedtls_ssl_close_notify(&t->ssl) != 0)
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
    mbedtls_ssl_free(&t->ssl);
    free(t);
}

const char *goc_tls_version(const goc_tls *t)
{
    return mbedtls_ssl_get_version(&t->ssl);
}

const char *goc_tls_suite(const goc_tls *t)
{
    return mbedtls_ssl_get_ciphersuite(&t->ssl);
}

/* tls_test.c: TLS sessions over goroutine-blocking connections
 * (proto/tls.h), both ends in this process: echo with a verified
 * certificate, full duplex with a reader and a writer goroutine on each
 * session (a reader waiting for bytes must not stop the writer), a wrong
 * server name refused, the handshake deadline, a read taking every record
 * already there, close_notify as end of stream, our own AES-GCM records
 * against mbedtls's in both directions, forged, oversized, short and
 * handshake records after the handshake refused, the configuration
 * errors, and resumption: by ticket and by session id, across ticket key
 * rotations, tickets past their lifetime, and concurrent full handshakes
 * sharing the generator's table.
 *
 * The certificate comes from scripts/gen-cert, made by the build into the
 * folder named by GOC_TEST_CERT_DIR (cert.pem, key.pem).
 */
#define TEST_IMPLEMENTATION
#include "test.h"

#include <goc/goc.h>

#include <errno.h>

#include "tls.h"

static char cert_path[512], key_path[512];
static goc_tls_config *server_cfg, *client_cfg;

static int load_configs(void)
{
    const char *dir = getenv("GOC_TEST_CERT_DIR");
    if (!dir)
        return -1;
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
    char err[256];
    if (goc_tls_server_config(cert_path, key_path, &server_cfg, err, sizeof err) != 0 ||
        goc_tls_client_config(cert_path, &client_cfg, err, sizeof err) != 0) {
        printf("# %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- one server connection per test --------------------------------------------- */

typedef enum { SERVE_ECHO, SERVE_DUPLEX, SERVE_SEND_CLOSE, SERVE_EXPECT_FAIL, SERVE_READ_ONCE } serve_mode;

#define DUPLEX_BYTES (1 << 20)

typedef struct server {
    goc_listener *l;
    char addr[64];
    serve_mode mode;
    int64_t deadline_ns;   /* handshake deadline from accept, 0: none */
    goc_tls_config *cfg;   /* the server's configuration (default server_cfg) */
    int accept_rc;         /* goc_tls_accept's result */
    bool resumed;          /* the server resumed the session */
    bool own_records;      /* the session sealed its own records */
    ssize_t read_rc;       /* SERVE_READ_ONCE: what one read returned */
    uint64_t received_sum; /* SERVE_DUPLEX: checksum of what the client sent */
    goc_chan *done;        /* closed when the connection is over */
} server;

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 31 + (i >> 11));
}

typedef struct duplex_side {
    goc_tls *t;
    uint64_t sum;          /* reader: checksum of the bytes read */
    size_t got;            /* reader: byte count */
    goc_waitgroup *wg;
} duplex_side;

static void duplex_writer(void *arg)
{
    duplex_side *d = *(duplex_side **)arg;
    uint8_t buf[7000]; /* not a record size: writes straddle records */
    for (size_t off = 0; off < DUPLEX_BYTES;) {
        size_t n = DUPLEX_BYTES - off < sizeof buf ? DUPLEX_BYTES - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        if (goc_tls_write(d->t, buf, n) != (ssize_t)n)
            break;
        off += n;
    }
    goc_waitgroup_done(d->wg);
}

static void duplex_reader(void *arg)
{
    duplex_side *d = *(duplex_side **)arg;
    uint8_t buf[5000];
    while (d->got < DUPLEX_BYTES) {
        ssize_t n = goc_tls_read(d->t, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            d->sum += (uint64_t)buf[i] * (d->got + (size_t)i + 1);
        d->got += (size_t)n;
    }
    goc_waitgroup_done(d->wg);
}

/* Both directions at once, each by its own goroutine. Returns the
 * checksum of what was read. */
static uint64_t run_duplex(goc_tls *t, size_t *got)
{
    goc_waitgroup wg = {0};
    duplex_side d = {.t = t, .wg = &wg};
    duplex_side *dp = &d;
    goc_waitgroup_add(&wg, 2);
    goc_go(duplex_writer, &dp, sizeof dp);
    goc_go(duplex_reader, &dp, sizeof dp);
    goc_waitgroup_wait(&wg);
    *got = d.got;
    return d.sum;
}

static uint64_t expected_sum(void)
{
    uint64_t s = 0;
    for (size_t i = 0; i < DUPLEX_BYTES; i++)
        s += (uint64_t)pattern(i) * (i + 1);
    return s;
}

static void serve_one(void *arg)
{
    server *s = *(server **)arg;
    goc_conn *c;
    if (goc_accept(s->l, &c) == 0) {
        goc_tls *t = NULL;
        int64_t deadline = s->deadline_ns ? goc_nanotime() + s->deadline_ns : 0;
        s->accept_rc = goc_tls_accept(s->cfg, c, deadline, &t);
        s->own_records = t && goc_tls_own_records(t);
        s->resumed = t && goc_tls_resumed(t);
        if (t && s->mode == SERVE_READ_ONCE) {
            char buf[256];
            s->read_rc = goc_tls_read(t, buf, sizeof buf);
        } else if (t && s->mode == SERVE_ECHO) {
            char buf[4096];
            ssize_t n;
            while ((n = goc_tls_read(t, buf, sizeof buf)) > 0)
                if (goc_tls_write(t, buf, (size_t)n) < 0)
                    break;
        } else if (t && s->mode == SERVE_DUPLEX) {
            size_t got;
            s->received_sum = run_duplex(t, &got);
        } else if (t && s->mode == SERVE_SEND_CLOSE) {
            goc_tls_write(t, "last", 4); /* three records */
            goc_tls_write(t, " wor", 4);
            goc_tls_write(t, "ds", 2);
        }
        goc_tls_free(t);
        goc_conn_close(c);
    }
    goc_chan_close(s->done);
}

static int server_start(server *s, serve_mode mode, int64_t deadline_ns)
{
    memset(s, 0, sizeof *s);
    int rc = goc_listen_tcp("127.0.0.1:0", 16, &s->l);
    if (rc)
        return rc;
    goc_listener_addr(s->l, s->addr, sizeof s->addr);
    s->mode = mode;
    s->cfg = server_cfg;
    s->deadline_ns = deadline_ns;
    s->done = goc_chan_make(0, 0);
    server *sp = s;
    goc_go(serve_one, &sp, sizeof sp);
    return 0;
}

static void server_wait(server *s)
{
    goc_chan_recv(s->done, NULL);
    goc_chan_free(s->done);
    goc_listener_close(s->l);
}

static int client_with(goc_tls_config *cfg, const server *s, const char *name, goc_conn **c,
                       goc_tls **t)
{
    int rc = goc_dial_tcp(s->addr, 5000000000LL, c);
    if (rc)
        return rc;
    rc = goc_tls_connect(cfg, *c, name, goc_nanotime() + 5000000000LL, t);
    if (rc) {
        goc_conn_close(*c);
        *c = NULL;
    }
    return rc;
}

static int client(const server *s, const char *name, goc_conn **c, goc_tls **t)
{
    return client_with(client_cfg, s, name, c, t);
}

/* ---- cases ---------------------------------------------------------------------- */

static void test_echo_with_verified_certificate(void)
{
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_ECHO, 0), 0);
    goc_conn *c;
    goc_tls *t;
    CHECK_EQ_INT(client(&s, "localhost", &c, &t), 0);
    CHECK_EQ_STR(goc_tls_version(t), "TLSv1.2");
    CHECK_STR_CONTAINS(goc_tls_suite(t), "ECDHE-ECDSA");
#if defined(__x86_64__) /* AES-NI: AES-GCM first, records sealed by proto/aesgcm */
    CHECK_STR_CONTAINS(goc_tls_suite(t), "AES-128-GCM");
    CHECK(goc_tls_own_records(t));
#else
    CHECK_STR_CONTAINS(goc_tls_suite(t), "CHACHA20-POLY1305");
#endif
    for (int i = 0; i < 3; i++) {
        char msg[32], back[32];
        int n = snprintf(msg, sizeof msg, "message %d", i);
        CHECK_EQ_INT(goc_tls_write(t, msg, (size_t)n), n);
        size_t got = 0;
        while (got < (size_t)n) {
            ssize_t r = goc_tls_read(t, back + got, sizeof back - got);
            CHECK(r > 0);
            got += (size_t)r;
        }
        CHECK(memcmp(msg, back, (size_t)n) == 0);
    }
    goc_tls_free(t);
    goc_conn_close(c);
    server_wait(&s);
    CHECK_EQ_INT(s.accept_rc, 0);
#if defined(__x86_64__)
    CHECK(s.own_records);
#endif
}

static void test_full_duplex_reader_and_writer(void)
{
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_DUPLEX, 0), 0);
    goc_conn *c;
    goc_tls *t;
    CHECK_EQ_INT(client(&s, "localhost", &c, &t), 0);
    size_t got;
    uint64_t sum = run_duplex(t, &got);
    goc_tls_free(t);
    goc_conn_close(c);
    server_wait(&s);
    CHECK_EQ_UINT(got, DUPLEX_BYTES);
    CHECK_EQ_UINT(sum, expected_sum());
    CHECK_EQ_UINT(s.received_sum, expected_sum());
}

static void test_wrong_server_name_refused(void)
{
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_EXPECT_FAIL, 0), 0);
    goc_conn *c;
    goc_tls *t;
    CHECK_EQ_INT(client(&s, "example.com", &c, &t), -EPROTO);
    server_wait(&s);
    CHECK(s.accept_rc < 0);
}

static void test_handshake_deadline(void)
{
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_EXPECT_FAIL, 100 * 1000000LL), 0);
    goc_conn *c;
    CHECK_EQ_INT(goc_dial_tcp(s.addr, 0, &c), 0); /* and never says hello */
    int64_t t0 = goc_nanotime();
    server_wait(&s);
    int64_t took = goc_nanotime() - t0;
    CHECK_EQ_INT(s.accept_rc, -ETIMEDOUT);
    CHECK_MSG(took >= 80 * 1000000LL && took < 3000 * 1000000LL, "took %lld ns",
              (long long)took);
    goc_conn_close(c);
}

static void test_close_notify_reads_as_end(void)
{
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_SEND_CLOSE, 0), 0);
    goc_conn *c;
    goc_tls *t;
    CHECK_EQ_INT(client(&s, "localhost", &c, &t), 0);
    server_wait(&s); /* all three records and the close_notify have been sent */
    goc_sleep(20 * 1000000);
    char buf[64];
    /* one read takes every record already there, like a socket read */
    CHECK_EQ_INT(goc_tls_read(t, buf, sizeof buf), 10);
    CHECK(memcmp(buf, "last words", 10) == 0);
    CHECK(goc_tls_pending(t)); /* the end came with them: no wait for the socket */
    CHECK_EQ_INT(goc_tls_read(t, buf, sizeof buf), 0); /* then the end, and it stays */
    CHECK_EQ_INT(goc_tls_read(t, buf, sizeof buf), 0);
    goc_tls_free(t);
    goc_conn_close(c);
}

/* Our records against mbedtls's, each way: a megabyte both ways at once,
 * then records and close_notify read as the end. */
static void mixed(bool server_own, bool client_own)
{
    goc_tls_config_own_records(server_cfg, server_own);
    goc_tls_config_own_records(client_cfg, client_own);
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_DUPLEX, 0), 0);
    goc_conn *c;
    goc_tls *t;
    CHECK_EQ_INT(client(&s, "localhost", &c, &t), 0);
    CHECK_STR_CONTAINS(goc_tls_suite(t), "AES-128-GCM");
    CHECK(goc_tls_own_records(t) == client_own);
    size_t got;
    uint64_t sum = run_duplex(t, &got);
    goc_tls_free(t);
    goc_conn_close(c);
    server_wait(&s);
    CHECK(s.own_records == server_own);
    CHECK_EQ_UINT(got, DUPLEX_BYTES);
    CHECK_EQ_UINT(sum, expected_sum());
    CHECK_EQ_UINT(s.received_sum, expected_sum());

    CHECK_EQ_INT(server_start(&s, SERVE_SEND_CLOSE, 0), 0);
    CHECK_EQ_INT(client(&s, "localhost", &c, &t), 0);
    server_wait(&s);
    char buf[64];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf && (r = goc_tls_read(t, buf + n, sizeof buf - n)) > 0)
        n += (size_t)r;
    CHECK_EQ_UINT(n, 10);
    CHECK(memcmp(buf, "last words", 10) == 0);
    CHECK_EQ_INT(goc_tls_read(t, buf, sizeof buf), 0);
    goc_tls_free(t);
    goc_conn_close(c);
}

static void test_own_records_interoperate_with_mbedtls(void)
{
#if defined(__x86_64__)
    mixed(true, false);
    mixed(false, true);
    goc_tls_config_own_records(server_cfg, true);
    goc_tls_config_own_records(client_cfg, true);
#else
    printf("# not x86-64: every session uses mbedtls's records\n");
#endif
}

/* After a good handshake the client sends one raw record; the server's
 * read fails with -EPROTO and nothing else happens. */
static void bad_record(const uint8_t *rec, size_t len)
{
    server s;
    CHECK_EQ_INT(server_start(&s, SERVE_READ_ONCE, 0), 0);
    goc_conn *c;
    goc_tls *t;
    CHECK_EQ_INT(client(&s, "localhost", &c, &t), 0);
    CHECK_EQ_INT(goc_conn_write(c, rec, len), (ssize_t)len);
    server_wait(&s);
    CHECK_EQ_INT(s.read_rc, -EPROTO);
    goc_tls_free(t);
    goc_conn_close(c);
}

static void test_bad_records_refused(void)
{
    uint8_t rec[64];
    memset(rec, 0x5a, sizeof rec);
    rec[0] = 23, rec[1] = 3, rec[2] = 3, rec[3] = 0, rec[4] = 59; /* forged: the tag fails */
    bad_record(rec, sizeof rec);
    rec[3] = 0x48, rec[4] = 0x21; /* 18465 bytes: over 16384 + 2048 */
    bad_record(rec, sizeof rec);
    rec[0] = 22, rec[3] = 0, rec[4] = 59; /* a handshake record: no renegotiation */
    bad_record(rec, sizeof rec);
    rec[0] = 23, rec[4] = 10; /* shorter than a nonce and a tag */
    bad_record(rec, 15);
}

/* One echo connection to a fresh server on scfg from ccfg: 1 when both
 * ends resumed, 0 when neither did, -1 on anything else (a failure, ends
 * that disagree, an echo that does not come back). */
static int resume_round(goc_tls_config *scfg, goc_tls_config *ccfg)
{
    server s;
    if (server_start(&s, SERVE_ECHO, 0) != 0)
        return -1;
    s.cfg = scfg;
    goc_conn *c;
    goc_tls *t;
    int rc = client_with(ccfg, &s, "localhost", &c, &t);
    bool client_resumed = false, echoed = false;
    if (rc == 0) {
        client_resumed = goc_tls_resumed(t);
        char back[8];
        echoed = goc_tls_write(t, "resume", 6) == 6 && goc_tls_read(t, back, sizeof back) == 6 &&
                 memcmp(back, "resume", 6) == 0;
        goc_tls_free(t);
        goc_conn_close(c);
    }
    server_wait(&s);
    if (rc != 0 || s.accept_rc != 0 || !echoed || s.resumed != client_resumed) {
        printf("# resume round: connect %d accept %d echoed %d resumed %d/%d\n", rc, s.accept_rc,
               echoed, client_resumed, s.resumed);
        return -1;
    }
    return client_resumed;
}

static goc_tls_config *resuming_client(bool tickets)
{
    goc_tls_config *cfg;
    char err[256];
    if (goc_tls_client_config(cert_path, &cfg, err, sizeof err) != 0)
        return NULL;
    goc_tls_config_client_resume(cfg, true, tickets);
    return cfg;
}

static void test_resumption_by_ticket_and_by_id(void)
{
    for (int tickets = 1; tickets >= 0; tickets--) {
        goc_tls_config *cc = resuming_client(tickets);
        CHECK(cc != NULL);
        CHECK_EQ_INT(resume_round(server_cfg, cc), 0); /* the first is full */
        CHECK_EQ_INT(resume_round(server_cfg, cc), 1);
        CHECK_EQ_INT(resume_round(server_cfg, cc), 1);
        goc_tls_config_client_resume(cc, false, false); /* forgets it */
        CHECK_EQ_INT(resume_round(server_cfg, cc), 0);
        goc_tls_config_free(cc);
    }
    /* the plain client keeps nothing */
    CHECK_EQ_INT(resume_round(server_cfg, client_cfg), 0);
    CHECK_EQ_INT(resume_round(server_cfg, client_cfg), 0);
}

static void test_ticket_key_rotation(void)
{
    goc_tls_config *cc = resuming_client(true);
    CHECK(cc != NULL);
    CHECK_EQ_INT(resume_round(server_cfg, cc), 0); /* a ticket under key A */
    CHECK_EQ_INT(goc_tls_config_rotate_tickets(server_cfg, false), 0); /* A is new: not due */
    CHECK_EQ_INT(goc_tls_config_rotate_tickets(server_cfg, true), 1); /* B seals, A opens */
    CHECK_EQ_INT(resume_round(server_cfg, cc), 1);
    CHECK_EQ_INT(goc_tls_config_rotate_tickets(server_cfg, true), 1); /* C seals, B opens */
    CHECK_EQ_INT(resume_round(server_cfg, cc), 0); /* A's ticket: full, a new one under C */
    CHECK_EQ_INT(resume_round(server_cfg, cc), 1);
    goc_tls_config_free(cc);
    CHECK_EQ_INT(goc_tls_config_rotate_tickets(client_cfg, true), -EINVAL);
}

static void test_ticket_lifetime_and_off(void)
{
    goc_tls_config *sc, *cc = resuming_client(true);
    char err[256];
    CHECK(cc != NULL);
    CHECK_EQ_INT(goc_tls_server_config(cert_path, key_path, &sc, err, sizeof err), 0);
    CHECK_EQ_INT(goc_tls_config_resumption(sc, 1, 4), 0);
    CHECK_EQ_INT(resume_round(sc, cc), 0);
    CHECK_EQ_INT(resume_round(sc, cc), 1);
    goc_sleep(2100 * 1000000LL); /* the session is now more than a lifetime old */
    CHECK_EQ_INT(resume_round(sc, cc), 0);
    CHECK_EQ_INT(resume_round(sc, cc), 1);
    /* resumption off: every handshake is full, by ticket or by id */
    CHECK_EQ_INT(goc_tls_config_resumption(sc, 0, 0), 0);
    CHECK_EQ_INT(resume_round(sc, cc), 0);
    CHECK_EQ_INT(resume_round(sc, cc), 0);
    goc_tls_config_client_resume(cc, true, false);
    CHECK_EQ_INT(resume_round(sc, cc), 0);
    CHECK_EQ_INT(resume_round(sc, cc), 0);
    CHECK_EQ_INT(goc_tls_config_resumption(cc, 10, 1), -EINVAL);
    goc_tls_config_free(sc);
    goc_tls_config_free(cc);
}

/* Full handshakes at once, on both Ps: each borrows the generator's table
 * (a wrong table would fail the Finished check) and gives it back. */
typedef struct hs_job {
    server *s;
    atomic_int *ok;
    goc_waitgroup *wg;
} hs_job;

static void handshake_job(void *arg)
{
    hs_job *j = arg;
    goc_conn *c;
    goc_tls *t;
    if (client(j->s, "localhost", &c, &t) == 0) {
        char back[4];
        if (goc_tls_write(t, "hs", 2) == 2 && goc_tls_read(t, back, sizeof back) == 2)
            atomic_fetch_add(j->ok, 1);
        goc_tls_free(t);
        goc_conn_close(c);
    }
    goc_waitgroup_done(j->wg);
}

static goc_waitgroup echo_conns; /* test_concurrent_full_handshakes' server side */

static void echo_conn(void *arg)
{
    goc_conn *c = *(goc_conn **)arg;
    goc_tls *t;
    if (goc_tls_accept(server_cfg, c, goc_nanotime() + 10000000000LL, &t) == 0) {
        char buf[16];
        ssize_t n;
        while ((n = goc_tls_read(t, buf, sizeof buf)) > 0 && goc_tls_write(t, buf, (size_t)n) == n)
            ;
        goc_tls_free(t);
    }
    goc_conn_close(c);
    goc_waitgroup_done(&echo_conns);
}

static void accept_loop(void *arg)
{
    goc_listener *l = *(goc_listener **)arg;
    goc_conn *c;
    while (goc_accept(l, &c) == 0) {
        goc_waitgroup_add(&echo_conns, 1);
        goc_go(echo_conn, &c, sizeof c);
    }
    goc_waitgroup_done(&echo_conns);
}

static void test_concurrent_full_handshakes(void)
{
    enum { N = 12 };
    server s;
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(goc_listen_tcp("127.0.0.1:0", 64, &s.l), 0);
    goc_listener_addr(s.l, s.addr, sizeof s.addr);
    goc_waitgroup_add(&echo_conns, 1); /* the accept loop */
    goc_go(accept_loop, &s.l, sizeof s.l);
    int served[2];
    for (int round = 0; round < 2; round++) {
        atomic_int ok = 0;
        goc_waitgroup wg = {0};
        goc_waitgroup_add(&wg, N);
        hs_job j = {&s, &ok, &wg};
        for (int i = 0; i < N; i++)
            goc_go(handshake_job, &j, sizeof j);
        goc_waitgroup_wait(&wg);
        served[round] = atomic_load(&ok);
    }
    goc_listener_shutdown(s.l);
    goc_waitgroup_wait(&echo_conns); /* the sessions end before their configuration */
    goc_listener_close(s.l);
    CHECK_EQ_INT(served[0], N);
    CHECK_EQ_INT(served[1], N);
}

static void test_config_errors(void)
{
    goc_tls_config *cfg = NULL;
    char err[256] = "";
    CHECK_EQ_INT(goc_tls_server_config("/nonexistent/cert.pem", key_path, &cfg, err, sizeof err),
                 -ENOENT);
    CHECK_STR_CONTAINS(err, "/nonexistent/cert.pem");
    /* a certificate where the key should be, and the reverse */
    CHECK_EQ_INT(goc_tls_server_config(cert_path, cert_path, &cfg, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(goc_tls_server_config(key_path, key_path, &cfg, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(goc_tls_client_config("/nonexistent/ca.pem", &cfg, err, sizeof err), -ENOENT);
    CHECK(cfg == NULL);
}

static const test_case cases[] = {
    TEST_CASE(test_echo_with_verified_certificate),
    TEST_CASE(test_full_duplex_reader_and_writer),
    TEST_CASE(test_wrong_server_name_refused),
    TEST_CASE(test_handshake_deadline),
    TEST_CASE(test_close_notify_reads_as_end),
    TEST_CASE(test_own_records_interoperate_with_mbedtls),
    TEST_CASE(test_bad_records_refused),
    TEST_CASE(test_config_errors),
    TEST_CASE(test_resumption_by_ticket_and_by_id),
    TEST_CASE(test_ticket_key_rotation),
    TEST_CASE(test_ticket_lifetime_and_off),
    TEST_CASE(test_concurrent_full_handshakes),
    {0},
};

GOC_MAIN(argc, argv)
{
    if (load_configs() != 0) {
        printf("not ok 1 - the test certificate (GOC_TEST_CERT_DIR) could not be loaded\n1..1\n");
        return 1;
    }
    int rc = test_main(argc, argv, cases);
    goc_tls_config_free(server_cfg);
    goc_tls_config_free(client_cfg);
    return rc;
}

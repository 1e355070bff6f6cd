/* check_tls: the TLS transport between two in-memory endpoints (OpenSSL BIO pairs with small
 * buffers, bytes moved one to a few at a time: partial records, blocked writes), refusals
 * (wrong CA, host name, no client certificate, plain or garbage bytes, a corrupted record), and
 * the ssl_dist_optfile reader against malformed and hostile input. Certificates come from
 * scripts/gen-test-certs.sh, run into a temporary directory. */
#include "dist/tls.h"
#include "dist/transport.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char certs[256];

static void path(char *out, const char *name)
{
    snprintf(out, CN_TLS_PATH_MAX, "%s/%s", certs, name);
}

/* Both roles with `cert` (NULL: none) and CA `ca`. */
static cn_tls_conf conf(const char *cert, const char *ca)
{
    cn_tls_conf c;
    cn_tls_conf_defaults(&c);
    cn_tls_side *s[2] = {&c.server, &c.client};
    for (int i = 0; i < 2; i++) {
        char n[64];
        if (cert) {
            snprintf(n, sizeof n, "%s.pem", cert);
            path(s[i]->certfile, n);
            snprintf(n, sizeof n, "%s.key", cert);
            path(s[i]->keyfile, n);
        }
        snprintf(n, sizeof n, "%s.pem", ca);
        path(s[i]->cacertfile, n);
    }
    return c;
}

static cn_tls *tls(const char *cert, const char *ca)
{
    cn_tls_conf c = conf(cert, ca);
    char err[400];
    cn_tls *t = cn_tls_new(&c, err, sizeof err);
    ck_assert_msg(t != NULL, "cn_tls_new: %s", err);
    return t;
}

/* One endpoint: its transport reads and writes the inner end of a BIO pair; the test moves
 * bytes between the outer ends. */
typedef struct end {
    cn_tp *tp;
    BIO *ext;
} end;

static end endpoint(cn_tls *t, int role, const char *host, size_t bufsz)
{
    BIO *in = NULL, *ext = NULL;
    ck_assert(BIO_new_bio_pair(&in, bufsz, &ext, bufsz) == 1);
    end e = {cn_tp_tls_new_bio(t, role, host, in, in), ext};
    ck_assert(e.tp != NULL);
    return e;
}

static void end_free(end *e)
{
    cn_tp_free(e->tp);
    BIO_free(e->ext);
}

/* Move at most `chunk` bytes written by `from` to `to`; returns how many. */
static size_t pump(end *from, end *to, size_t chunk)
{
    uint8_t b[4096];
    size_t room = BIO_ctrl_get_write_guarantee(to->ext);
    size_t n = chunk < room ? chunk : room;
    n = n < sizeof b ? n : sizeof b;
    if (n == 0)
        return 0;
    int r = BIO_read(from->ext, b, (int)n);
    if (r <= 0)
        return 0;
    ck_assert_int_eq(BIO_write(to->ext, b, r), r);
    return (size_t)r;
}

/* Run both handshakes to the end, moving `chunk` bytes at a time. Returns 1 when both are
 * ready, or -1 when one failed (its err set), -2 when neither progressed. */
static int handshake(end *c, end *s, size_t chunk)
{
    for (int i = 0; i < 200000; i++) {
        int rc = cn_tp_handshake(c->tp), rs = cn_tp_handshake(s->tp);
        if (rc < 0 || rs < 0)
            return -1;
        if (rc == 1 && rs == 1)
            return 1;
        size_t moved = pump(c, s, chunk) + pump(s, c, chunk);
        if (moved == 0 && rc == 0 && rs == 0 && i > 10)
            return -2;
    }
    return -2;
}

/* Send n bytes from -> to through the transports (three iovecs per write), moving `chunk`
 * bytes per step, reading at most `rcap` per read. Returns the number of writes that found
 * the transport blocked (CN_TP_AGAIN). */
static int transfer(end *from, end *to, const uint8_t *data, size_t n, size_t chunk, size_t rcap)
{
    uint8_t *got = malloc(n + 1);
    size_t sent = 0, recv = 0;
    int agains = 0;
    for (long i = 0; recv < n; i++) {
        ck_assert_msg(i < 50L * 1000 * 1000, "no progress (sent %zu, received %zu)", sent, recv);
        if (sent < n) {
            size_t rest = n - sent, a = rest / 3, b = rest / 3;
            struct iovec iov[3] = {{(void *)(data + sent), a},
                                   {(void *)(data + sent + a), b},
                                   {(void *)(data + sent + a + b), rest - a - b}};
            ssize_t w = cn_tp_writev(from->tp, iov, 3);
            if (w == CN_TP_AGAIN) {
                agains++;
                ck_assert(cn_tp_wants_out(from->tp, 1));
                ck_assert_int_gt(from->tp->staged, 0);
            } else {
                ck_assert_msg(w > 0, "writev: %zd (%s)", w, from->tp->err);
                sent += (size_t)w;
            }
        } else {
            int f = cn_tp_flush(from->tp);
            ck_assert_msg(f == 0 || f == CN_TP_AGAIN, "flush: %d (%s)", f, from->tp->err);
        }
        pump(from, to, chunk);
        pump(to, from, chunk);
        size_t want = n - recv < rcap ? n - recv : rcap;
        /* every other read through cn_tp_readv into two buffers, filled in turn */
        struct iovec riov[2] = {{got + recv, want / 3}, {got + recv + want / 3, want - want / 3}};
        ssize_t r = (i & 1) && want >= 3 ? cn_tp_readv(to->tp, riov, 2)
                                         : cn_tp_read(to->tp, got + recv, want);
        if (r > 0)
            recv += (size_t)r;
        else
            ck_assert_msg(r == CN_TP_AGAIN, "read: %zd (%s)", r, to->tp->err);
        uint8_t scratch[64];
        ssize_t back = cn_tp_read(from->tp, scratch, sizeof scratch);
        ck_assert_msg(back == CN_TP_AGAIN, "unexpected bytes back: %zd", back);
    }
    ck_assert_int_eq(memcmp(got, data, n), 0);
    ck_assert_int_eq(cn_tp_flush(from->tp), 0);
    ck_assert_int_eq(from->tp->staged, 0);
    free(got);
    return agains;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 9));
    return p;
}

/* ---- the transport ------------------------------------------------------------------- */

static void round_trip(size_t chunk, size_t bufsz, size_t n, size_t rcap, int expect_blocked)
{
    cn_tls *t = tls("node", "ca");
    end c = endpoint(t, CN_TP_CLIENT, "localhost", bufsz);
    end s = endpoint(t, CN_TP_SERVER, NULL, bufsz);
    ck_assert_int_eq(handshake(&c, &s, chunk), 1);
    char d[128];
    cn_tp_describe(c.tp, d, sizeof d);
    ck_assert_msg(strncmp(d, "TLSv1.3 ", 8) == 0, "negotiated %s", d);
    ck_assert_int_eq(c.tp->ops->hs_lenbytes, 4);
    uint8_t *a = pattern(n, 1), *b = pattern(n, 2);
    int blocked = transfer(&c, &s, a, n, chunk, rcap);
    blocked += transfer(&s, &c, b, n, chunk, rcap);
    if (expect_blocked)
        ck_assert_msg(blocked > 0, "the small buffers never blocked a write");
    free(a);
    free(b);
    end_free(&c);
    end_free(&s);
    cn_tls_free(t);
}

START_TEST(byte_at_a_time)
{
    round_trip(1, 17 * 1024, 40000, 64 * 1024, 0);
}
END_TEST

START_TEST(few_bytes_small_buffers)
{
    /* 3 bytes per move, 512-byte pipes: records always split, writes block */
    round_trip(3, 512, 300000, 64 * 1024, 1);
}
END_TEST

START_TEST(odd_chunks_small_reads)
{
    round_trip(1000, 4096, 1 << 20, 100, 1);
}
END_TEST

START_TEST(large_chunks)
{
    round_trip(4096, 64 * 1024, 4 << 20, 256 * 1024, 0);
}
END_TEST

START_TEST(tls12_only)
{
    cn_tls_conf cf = conf("node", "ca");
    cf.client.max_version = TLS1_2_VERSION;
    char err[400];
    cn_tls *t = cn_tls_new(&cf, err, sizeof err);
    ck_assert_msg(t, "%s", err);
    end c = endpoint(t, CN_TP_CLIENT, "localhost", 4096);
    end s = endpoint(t, CN_TP_SERVER, NULL, 4096);
    ck_assert_int_eq(handshake(&c, &s, 7), 1);
    char d[128];
    cn_tp_describe(s.tp, d, sizeof d);
    ck_assert_msg(strstr(d, "TLSv1.2 ECDHE-") && (strstr(d, "GCM") || strstr(d, "CHACHA20")),
                  "negotiated %s", d);
    uint8_t *a = pattern(100000, 3);
    transfer(&c, &s, a, 100000, 5, 1000);
    free(a);
    end_free(&c);
    end_free(&s);
    cn_tls_free(t);
}
END_TEST

/* Bytes already pulled off the "socket" are reported, so the caller reads on without an event. */
START_TEST(buffered_bytes_reported)
{
    cn_tls *t = tls("node", "ca");
    end c = endpoint(t, CN_TP_CLIENT, "localhost", 64 * 1024);
    end s = endpoint(t, CN_TP_SERVER, NULL, 64 * 1024);
    ck_assert_int_eq(handshake(&c, &s, 4096), 1);
    uint8_t *a = pattern(3000, 4), got[3000];
    struct iovec iov = {a, 3000};
    ck_assert_int_eq(cn_tp_writev(c.tp, &iov, 1), 3000);
    while (pump(&c, &s, 4096) > 0)
        ;
    ck_assert_int_eq(cn_tp_read(s.tp, got, 10), 10);
    ck_assert(cn_tp_buffered_in(s.tp));
    size_t have = 10;
    while (cn_tp_buffered_in(s.tp)) {
        ssize_t r = cn_tp_read(s.tp, got + have, sizeof got - have);
        ck_assert_int_gt(r, 0);
        have += (size_t)r;
    }
    ck_assert_uint_eq(have, 3000);
    ck_assert_int_eq(memcmp(got, a, 3000), 0);
    ck_assert_int_eq(cn_tp_read(s.tp, got, sizeof got), CN_TP_AGAIN);
    free(a);
    end_free(&c);
    end_free(&s);
    cn_tls_free(t);
}
END_TEST

START_TEST(clean_close_and_mid_record_eof)
{
    cn_tls *t = tls("node", "ca");
    end c = endpoint(t, CN_TP_CLIENT, "localhost", 8192);
    end s = endpoint(t, CN_TP_SERVER, NULL, 8192);
    ck_assert_int_eq(handshake(&c, &s, 100), 1);
    /* half a record, then the stream ends */
    uint8_t *a = pattern(2000, 5), got[2000];
    struct iovec iov = {a, 2000};
    ck_assert_int_eq(cn_tp_writev(c.tp, &iov, 1), 2000);
    uint8_t b[4096];
    int n = BIO_read(c.ext, b, sizeof b);
    ck_assert_int_gt(n, 100);
    ck_assert_int_eq(BIO_write(s.ext, b, n / 2), n / 2);
    ck_assert_int_eq(cn_tp_read(s.tp, got, sizeof got), CN_TP_AGAIN);
    BIO_shutdown_wr(s.ext);
    ck_assert_int_eq(cn_tp_read(s.tp, got, sizeof got), CN_TP_ERROR);
    ck_assert_msg(strstr(s.tp->err, "closed"), "err: %s", s.tp->err);
    free(a);
    end_free(&c);
    end_free(&s);
    cn_tls_free(t);
}
END_TEST

START_TEST(corrupted_record)
{
    cn_tls *t = tls("node", "ca");
    end c = endpoint(t, CN_TP_CLIENT, "localhost", 8192);
    end s = endpoint(t, CN_TP_SERVER, NULL, 8192);
    ck_assert_int_eq(handshake(&c, &s, 100), 1);
    uint8_t msg[300] = {1, 2, 3}, got[300];
    struct iovec iov = {msg, sizeof msg};
    ck_assert_int_eq(cn_tp_writev(c.tp, &iov, 1), (ssize_t)sizeof msg);
    uint8_t b[4096];
    int n = BIO_read(c.ext, b, sizeof b);
    ck_assert_int_gt(n, 300);
    b[n - 5] ^= 0x40; /* inside the authentication tag */
    ck_assert_int_eq(BIO_write(s.ext, b, n), n);
    ck_assert_int_eq(cn_tp_read(s.tp, got, sizeof got), CN_TP_ERROR);
    ck_assert(s.tp->err[0]);
    end_free(&c);
    end_free(&s);
    cn_tls_free(t);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------ */

/* Handshake a client with `ct` against a server with `st`; returns the failing side's err. */
static void refused(cn_tls *ct, cn_tls *st, const char *host, int client_fails, const char *want)
{
    end c = endpoint(ct, CN_TP_CLIENT, host, 8192);
    end s = endpoint(st, CN_TP_SERVER, NULL, 8192);
    int r = handshake(&c, &s, 50);
    /* TLS 1.3: the client may finish before the server refuses its certificate; the refusal
     * then arrives as an alert on its first read. */
    if (r == 1 || (r == -1 && !client_fails && c.tp->ready)) {
        pump(&s, &c, 100000);
        uint8_t b[16];
        ck_assert_int_eq(cn_tp_read(c.tp, b, sizeof b), CN_TP_ERROR);
    } else {
        ck_assert_int_eq(r, -1);
    }
    const char *err = client_fails ? c.tp->err : s.tp->err;
    ck_assert_msg(strstr(err, want), "expected '%s' in '%s'", want, err);
    end_free(&c);
    end_free(&s);
}

START_TEST(wrong_ca_refused)
{
    cn_tls *good = tls("node", "ca"), *other = tls("other", "ca");
    /* the server's certificate is from another CA: the client refuses it */
    refused(good, other, "localhost", 1,
            "certificate verify failed (unable to get local issuer certificate)");
    /* the client's: the server refuses it */
    refused(other, good, "localhost", 0,
            "certificate verify failed (unable to get local issuer certificate)");
    cn_tls_free(good);
    cn_tls_free(other);
}
END_TEST

START_TEST(expired_refused)
{
    cn_tls *good = tls("node", "ca"), *old = tls("expired", "ca");
    refused(good, old, "localhost", 1, "certificate has expired");
    refused(old, good, "localhost", 0, "certificate has expired");
    cn_tls_free(good);
    cn_tls_free(old);
}
END_TEST

START_TEST(host_name_checked)
{
    cn_tls *good = tls("node", "ca");
    refused(good, good, "some-other-host", 1, "hostname mismatch");
    /* and the right name, or an IP address in the certificate, passes */
    end c = endpoint(good, CN_TP_CLIENT, "127.0.0.1", 8192);
    end s = endpoint(good, CN_TP_SERVER, NULL, 8192);
    ck_assert_int_eq(handshake(&c, &s, 50), 1);
    end_free(&c);
    end_free(&s);
    cn_tls_free(good);
}
END_TEST

/* With the client host check on, the server asks its transport whether the client's
 * certificate names the host of the node name the client announces; off by default. */
START_TEST(client_host_checked_when_asked)
{
    cn_tls_conf cf = conf("node", "ca");
    cf.server.check_host = 1;
    char err[400];
    cn_tls *strict = cn_tls_new(&cf, err, sizeof err), *lax = tls("node", "ca");
    ck_assert_msg(strict, "%s", err);
    cn_tls *servers[2] = {strict, lax};
    for (int k = 0; k < 2; k++) {
        end c = endpoint(lax, CN_TP_CLIENT, "localhost", 8192);
        end s = endpoint(servers[k], CN_TP_SERVER, NULL, 8192);
        ck_assert_int_eq(handshake(&c, &s, 100), 1);
        ck_assert_int_eq(cn_tp_check_peer_host(s.tp, "localhost"), 0);
        ck_assert_int_eq(cn_tp_check_peer_host(s.tp, "127.0.0.1"), 0);
        int r = cn_tp_check_peer_host(s.tp, "elsewhere");
        if (k == 0) {
            ck_assert_int_eq(r, -1);
            ck_assert_msg(strstr(s.tp->err, "does not name the host elsewhere"), "%s", s.tp->err);
        } else {
            ck_assert_int_eq(r, 0);
        }
        end_free(&c);
        end_free(&s);
    }
    cn_tp *tcp = cn_tp_tcp_new(-1, CN_TP_SERVER);
    ck_assert_int_eq(cn_tp_check_peer_host(tcp, "elsewhere"), 0);
    cn_tp_free(tcp);
    cn_tls_free(strict);
    cn_tls_free(lax);
}
END_TEST

START_TEST(no_client_certificate_refused)
{
    cn_tls *good = tls("node", "ca");
    cn_tls_conf c = conf("node", "ca");
    c.client.certfile[0] = c.client.keyfile[0] = 0; /* a client without a certificate */
    char err[400];
    cn_tls *anon = cn_tls_new(&c, err, sizeof err);
    ck_assert_msg(anon, "%s", err);
    refused(anon, good, "localhost", 0, "peer did not return a certificate");
    cn_tls_free(good);
    cn_tls_free(anon);
}
END_TEST

/* What a TLS server makes of bytes that are not TLS: a refusal that says so, never a hang. */
static void server_fed(const void *bytes, size_t n, const char *want)
{
    cn_tls *t = tls("node", "ca");
    end s = endpoint(t, CN_TP_SERVER, NULL, 8192);
    ck_assert_int_eq(BIO_write(s.ext, bytes, (int)n), (int)n);
    int r = cn_tp_handshake(s.tp);
    if (r == 0) { /* wants more: the input ends here */
        BIO_shutdown_wr(s.ext);
        r = cn_tp_handshake(s.tp);
    }
    ck_assert_int_eq(r, -1);
    ck_assert_msg(strstr(s.tp->err, want), "expected '%s' in '%s'", want, s.tp->err);
    end_free(&s);
    cn_tls_free(t);
}

START_TEST(plain_distribution_bytes_refused)
{
    /* a plain send_name: 2-byte length, 'N', flags, creation, name */
    uint8_t m[64] = {0, 21, 'N', 0, 0, 0, 0x0d, 0x07, 0xdf, 0x7f, 0xbd, 0, 0, 0, 1, 0, 6};
    memcpy(m + 17, "a@host", 6);
    server_fed(m, 23, "does not speak TLS");
    server_fed("GET / HTTP/1.1\r\n\r\n", 18, "does not speak TLS");
}
END_TEST

START_TEST(garbage_refused)
{
    srand(7);
    for (int k = 0; k < 200; k++) {
        uint8_t g[600];
        size_t n = 1 + (size_t)rand() % sizeof g;
        for (size_t i = 0; i < n; i++)
            g[i] = (uint8_t)rand();
        if (k % 2)
            g[0] = 0x16, g[1] = 0x03; /* looks like a handshake record */
        server_fed(g, n, "");
    }
    /* a truncated ClientHello, then the peer goes */
    server_fed("\x16\x03\x01\x00\x80\x01\x00\x00\x7c\x03\x03", 11, "closed");
}
END_TEST

START_TEST(bad_settings_refused_at_start)
{
    char err[400];
    cn_tls_conf c = conf("node", "ca");
    snprintf(c.server.certfile, sizeof c.server.certfile, "%s/missing.pem", certs);
    ck_assert(cn_tls_new(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "missing.pem"), "%s", err);

    c = conf("node", "ca");
    path(c.client.keyfile, "other.key");
    ck_assert(cn_tls_new(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "does not match"), "%s", err);

    c = conf("node", "ca");
    c.client.cacertfile[0] = 0;
    ck_assert(cn_tls_new(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "needs a CA"), "%s", err);

    c = conf(NULL, "ca");
    ck_assert(cn_tls_new(&c, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "needs a certificate"), "%s", err);

    c = conf("node", "ca");
    path(c.server.cacertfile, "node.key"); /* not certificates */
    ck_assert(cn_tls_new(&c, err, sizeof err) == NULL);
}
END_TEST

/* ---- the optfile reader ------------------------------------------------------------- */

static const char good_file[] =
    "%% as erl -ssl_dist_optfile takes it\n"
    "[{server, [{certfile, \"/etc/n/cert.pem\"}, {keyfile, \"/etc/n/key.pem\"},\n"
    "           {cacertfile, \"/etc/n/ca.pem\"}, {verify, verify_peer},\n"
    "           {fail_if_no_peer_cert, true}, {secure_renegotiate, true},\n"
    "           {versions, ['tlsv1.3']}, {depth, 3}]},\n"
    " {client, [{certfile, <<\"/etc/n/c\\\"q.pem\">>}, {cacertfile, \"/etc/n/ca.pem\"},\n"
    "           {verify, verify_peer}, {server_name_indication, disable},\n"
    "           {verify_fun, {fun mymod:check/3, #{allowed => [a, b], n => -1}}},\n"
    "           {customize_hostname_check, [{match_fun, x}]}, {ciphers, [1.5e3]}]}].\n";

START_TEST(optfile_good)
{
    cn_tls_conf c;
    cn_tls_conf_defaults(&c);
    char ig[256], err[256];
    ck_assert_msg(
        cn_tls_conf_parse(good_file, strlen(good_file), &c, ig, sizeof ig, err, sizeof err) == 0,
        "%s", err);
    ck_assert_str_eq(c.server.certfile, "/etc/n/cert.pem");
    ck_assert_str_eq(c.server.keyfile, "/etc/n/key.pem");
    ck_assert_str_eq(c.server.cacertfile, "/etc/n/ca.pem");
    ck_assert_int_eq(c.server.verify, 1);
    ck_assert_int_eq(c.server.fail_if_no_peer_cert, 1);
    ck_assert_int_eq(c.server.min_version, TLS1_3_VERSION);
    ck_assert_int_eq(c.server.depth, 3);
    ck_assert_str_eq(c.client.certfile, "/etc/n/c\"q.pem");
    ck_assert_str_eq(c.client.keyfile, "");
    ck_assert_int_eq(c.client.check_host, 0);
    ck_assert_int_eq(c.client.min_version, TLS1_2_VERSION);
    ck_assert_str_eq(ig, "verify_fun, customize_hostname_check, ciphers");
}
END_TEST

static int parse(const char *text, char *err, size_t el)
{
    cn_tls_conf c;
    cn_tls_conf_defaults(&c);
    char ig[128];
    return cn_tls_conf_parse(text, strlen(text), &c, ig, sizeof ig, err, el);
}

START_TEST(optfile_malformed)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"", "end of file"},
        {"[{server, [{certfile, \"a\"}]}", "expected ',' or ']'"},
        {"[{server, [{certfile, \"a}]}].", "unterminated string"},
        {"[{server, [{certfile, 'a}]}].", "unterminated quoted atom"},
        {"{server, []}.", "must hold a list"},
        {"[{server, []}]. extra", "text after the term"},
        {"[{sever, []}].", "{server, Options} or {client, Options}"},
        {"[{server, []}, {client}].", "{server, Options} or {client, Options}"},
        {"[{server, {certfile, \"a\"}}].", "must be a list"},
        {"[{server, [certfile]}].", "{Name, Value} pair"},
        {"[{server, [{certfile, a}]}].", "certfile must be a string"},
        {"[{server, [{certfile, \"\"}]}].", "certfile must be 1 to"},
        {"[{server, [{verify, maybe}]}].", "verify_peer or verify_none"},
        {"[{server, [{fail_if_no_peer_cert, 1}]}].", "true or false"},
        {"[{server, [{depth, 1000}]}].", "depth must be"},
        {"[{server, [{depth, 99999999999999999999999}]}].", "bad number"},
        {"[{server, [{versions, ['tlsv1.1']}]}].", "only 'tlsv1.2' and 'tlsv1.3'"},
        {"[{server, [{versions, []}]}].", "non-empty list"},
        {"[{server, [{certfile, File}]}].", "variables are not allowed"},
        {"[{server, [{certfile, \"a\"} | T]}].", "improper lists"},
        {"[{server, [{x, #r{}}]}].", "records are not supported"},
        {"[{server, [{x, <<1,2>>}]}].", "only <<\"text\">> binaries"},
        {"[{server, [{x, fun foo/1}]}].", "fun Module:Function/Arity"},
        {"[{server, [{x, #{a => }}]}].", "unexpected character"},
        {"[{server, [{x, #{a, b}}]}].", "expected '=>'"},
        {"[{server, [{x, -}]}].", "bad number"},
        {"[{server, [{certfile, \"a\\0b\"}]}].", "NUL"},
        {"[{server, [{x, $a}]}].", "unexpected character '$'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        ck_assert_msg(parse(cases[i].text, err, sizeof err) == -1, "accepted: %s", cases[i].text);
        ck_assert_msg(strstr(err, cases[i].err), "for %s: expected '%s' in '%s'", cases[i].text,
                      cases[i].err, err);
    }
}
END_TEST

START_TEST(optfile_bounds)
{
    char err[256];
    /* nesting */
    char deep[400];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k] = 0;
    ck_assert_int_eq(parse(deep, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "nested deeper"), "%s", err);
    /* a path longer than the limit */
    char *longp = malloc(3000);
    k = (size_t)snprintf(longp, 3000, "[{server, [{certfile, \"");
    memset(longp + k, 'x', 2000);
    snprintf(longp + k + 2000, 100, "\"}]}].");
    ck_assert_int_eq(parse(longp, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "certfile must be 1 to"), "%s", err);
    free(longp);
    /* too many terms */
    size_t big = 5000 * 2 + 10;
    char *many = malloc(big);
    k = 0;
    many[k++] = '[';
    for (int i = 0; i < 5000; i++) {
        many[k++] = 'a';
        many[k++] = ',';
    }
    many[k - 1] = ']';
    many[k] = 0;
    ck_assert_int_eq(parse(many, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "too many terms"), "%s", err);
    free(many);
    /* the size limit */
    size_t huge = (size_t)70 * 1024;
    char *h = malloc(huge + 1);
    memset(h, ' ', huge);
    h[0] = '[';
    h[huge - 1] = ']';
    h[huge] = 0;
    ck_assert_int_eq(parse(h, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "larger than"), "%s", err);
    free(h);
    /* a missing file */
    cn_tls_conf c;
    cn_tls_conf_defaults(&c);
    ck_assert_int_eq(cn_tls_conf_load("/nonexistent/opt.conf", &c, NULL, 0, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/nonexistent/opt.conf"), "%s", err);
}
END_TEST

/* Every prefix and thousands of mutations of a good file: a result, never a crash (run under
 * ASan with make SAN=1). The text is copied to an exact-size buffer so that a read past the
 * end is caught. */
START_TEST(optfile_truncated_and_mutated)
{
    size_t n = strlen(good_file);
    char err[256], ig[64];
    for (size_t len = 0; len <= n; len++) {
        char *t = malloc(len ? len : 1);
        memcpy(t, good_file, len);
        cn_tls_conf c;
        cn_tls_conf_defaults(&c);
        int r = cn_tls_conf_parse(t, len, &c, ig, sizeof ig, err, sizeof err);
        ck_assert(r == 0 || r == -1);
        if (len < n - 2)
            ck_assert_msg(r == -1, "a %zu-byte prefix was accepted", len);
        free(t);
    }
    srand(11);
    static const char alphabet[] = "[]{}(),.'\"\\<>#=%|-0123456789azAZ_ \n\t\x01\xff";
    for (int k = 0; k < 20000; k++) {
        char *t = malloc(n);
        memcpy(t, good_file, n);
        int edits = 1 + rand() % 4;
        for (int e = 0; e < edits; e++)
            t[rand() % n] = alphabet[rand() % (sizeof alphabet - 1)];
        cn_tls_conf c;
        cn_tls_conf_defaults(&c);
        int r = cn_tls_conf_parse(t, n, &c, ig, sizeof ig, err, sizeof err);
        ck_assert(r == 0 || r == -1);
        free(t);
    }
}
END_TEST

int main(void)
{
    char tmpl[] = "/tmp/check_tls.XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    snprintf(certs, sizeof certs, "%s", tmpl);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash scripts/gen-test-certs.sh %s >/dev/null", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "check_tls: '%s' failed (run from the repository root)\n", cmd);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("transport");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, byte_at_a_time);
    tcase_add_test(tc, few_bytes_small_buffers);
    tcase_add_test(tc, odd_chunks_small_reads);
    tcase_add_test(tc, large_chunks);
    tcase_add_test(tc, tls12_only);
    tcase_add_test(tc, buffered_bytes_reported);
    tcase_add_test(tc, clean_close_and_mid_record_eof);
    tcase_add_test(tc, corrupted_record);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("refusals");
    tcase_set_timeout(tr, 120);
    tcase_add_test(tr, wrong_ca_refused);
    tcase_add_test(tr, expired_refused);
    tcase_add_test(tr, host_name_checked);
    tcase_add_test(tr, client_host_checked_when_asked);
    tcase_add_test(tr, no_client_certificate_refused);
    tcase_add_test(tr, plain_distribution_bytes_refused);
    tcase_add_test(tr, garbage_refused);
    tcase_add_test(tr, bad_settings_refused_at_start);
    suite_add_tcase(s, tr);
    TCase *to = tcase_create("optfile");
    tcase_set_timeout(to, 120);
    tcase_add_test(to, optfile_good);
    tcase_add_test(to, optfile_malformed);
    tcase_add_test(to, optfile_bounds);
    tcase_add_test(to, optfile_truncated_and_mutated);
    suite_add_tcase(s, to);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    if (system(cmd) != 0)
        fprintf(stderr, "check_tls: could not remove %s\n", certs);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

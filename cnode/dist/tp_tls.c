/* The TLS transport (OpenSSL) and the node's TLS contexts: TLS 1.2 to 1.3, forward-secret AEAD
 * ciphers only, peer certificates verified against the configured CA by default. */
#include "dist/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes taken from the caller per write: four full TLS records. */
#define STAGE_CAP ((size_t)64 * 1024)

/* TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (TLS 1.3's are all
 * AEAD and forward-secret already). */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

struct cn_tls {
    SSL_CTX *server, *client;
    int check_host;        /* client: the server's certificate names the host dialled */
    int check_client_host; /* server: the client's names the host of its node name */
    char server_name[256];
};

typedef struct tp_tls {
    cn_tp tp;
    SSL *ssl;
    uint8_t *stage; /* bytes taken by writev, not yet accepted by SSL_write */
    size_t stage_off, stage_len;
    int failed; /* a fatal error happened: no close_notify (OpenSSL forbids SSL_shutdown) */
    int check_client_host;
} tp_tls;

/* ---- errors --------------------------------------------------------------------------- */

/* The first queued OpenSSL error as text ("certificate verify failed"), or "". */
static unsigned long first_error(char *out, size_t cap)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(out, cap, "%s", r);
    else if (e)
        ERR_error_string_n(e, out, cap);
    else
        out[0] = 0;
    return e;
}

/* Why an operation failed, as one clause for the log, with a hint where the cause is
 * usually on the other side. */
static void describe_failure(tp_tls *t, int sslerr, int during_hs)
{
    cn_tp *tp = &t->tp;
    t->failed = 1;
    char r[120];
    unsigned long e = first_error(r, sizeof r);
    int reason = e ? ERR_GET_REASON(e) : 0;
    if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN ||
        (sslerr == SSL_ERROR_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        int syserr = errno;
        if (sslerr == SSL_ERROR_SYSCALL && !e && syserr && syserr != EAGAIN)
            snprintf(tp->err, sizeof tp->err, "%s%s", strerror(syserr),
                     during_hs ? " during the TLS handshake" : "");
        else
            snprintf(tp->err, sizeof tp->err, "the peer closed the connection%s",
                     during_hs ? " during the TLS handshake (does it run -proto_dist inet_tls, "
                                 "and accept our certificate?)"
                               : "");
    } else if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(t->ssl);
        snprintf(tp->err, sizeof tp->err, "%s (%s)", r, X509_verify_cert_error_string(v));
    } else if (reason >= SSL_AD_REASON_OFFSET) {
        snprintf(tp->err, sizeof tp->err, "%s (the peer refused the session%s)", r,
                 tp->role == CN_TP_CLIENT ? " or our certificate" : "");
    } else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_UNKNOWN_PROTOCOL ||
               reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_HTTP_REQUEST ||
               reason == SSL_R_RECORD_LENGTH_MISMATCH) {
        snprintf(tp->err, sizeof tp->err,
                 "%s (the peer does not speak TLS: is it using plain TCP distribution?)", r);
    } else {
        snprintf(tp->err, sizeof tp->err, "%s", r[0] ? r : "TLS error");
    }
    ERR_clear_error();
}

static int want_of(int sslerr)
{
    return sslerr == SSL_ERROR_WANT_WRITE ? CN_TP_WANT_WRITE : CN_TP_WANT_READ;
}

static int is_want(int sslerr)
{
    return sslerr == SSL_ERROR_WANT_READ || sslerr == SSL_ERROR_WANT_WRITE;
}

/* ---- the transport -------------------------------------------------------------------- */

static int tls_handshake(cn_tp *tp)
{
    tp_tls *t = (tp_tls *)tp;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        tp->ready = 1;
        tp->hs_want = 0;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (is_want(e)) {
        tp->hs_want = want_of(e);
        return 0;
    }
    describe_failure(t, e, 1);
    return -1;
}

static ssize_t tls_read(cn_tp *tp, void *buf, size_t cap)
{
    tp_tls *t = (tp_tls *)tp;
    size_t got = 0;
    tp->r_want = 0;
    while (got < cap) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read_ex(t->ssl, (uint8_t *)buf + got, cap - got, &n);
        if (r == 1) {
            got += n;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (is_want(e)) {
            tp->r_want = want_of(e);
            return got ? (ssize_t)got : CN_TP_AGAIN;
        }
        if (got)
            return (ssize_t)got; /* the error comes back on the next call */
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0; /* close_notify */
        describe_failure(t, e, 0);
        return CN_TP_ERROR;
    }
    return (ssize_t)got;
}

/* Hand the staged bytes to SSL_write. After a WANT_*, OpenSSL needs the very same bytes
 * again, which the stage guarantees whatever the caller does meanwhile. */
static int stage_flush(tp_tls *t)
{
    cn_tp *tp = &t->tp;
    while (t->stage_off < t->stage_len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_write_ex(t->ssl, t->stage + t->stage_off, t->stage_len - t->stage_off, &n);
        if (r == 1) {
            t->stage_off += n;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (is_want(e)) {
            tp->w_want = want_of(e);
            tp->staged = (int)(t->stage_len - t->stage_off);
            return CN_TP_AGAIN;
        }
        describe_failure(t, e, 0);
        return CN_TP_ERROR;
    }
    t->stage_off = t->stage_len = 0;
    tp->staged = 0;
    tp->w_want = 0;
    return 0;
}

static int tls_flush(cn_tp *tp)
{
    return stage_flush((tp_tls *)tp);
}

static ssize_t tls_writev(cn_tp *tp, const struct iovec *iov, int n)
{
    tp_tls *t = (tp_tls *)tp;
    int f = stage_flush(t);
    if (f < 0)
        return f;
    if (!t->stage && !(t->stage = malloc(STAGE_CAP))) {
        snprintf(tp->err, sizeof tp->err, "out of memory");
        return CN_TP_ERROR;
    }
    size_t took = 0;
    for (int i = 0; i < n && took < STAGE_CAP; i++) {
        size_t k = iov[i].iov_len < STAGE_CAP - took ? iov[i].iov_len : STAGE_CAP - took;
        memcpy(t->stage + took, iov[i].iov_base, k);
        took += k;
    }
    t->stage_len = took;
    if (stage_flush(t) == CN_TP_ERROR)
        return CN_TP_ERROR;
    return (ssize_t)took; /* taken, even if part still waits in the stage */
}

static int tls_buffered_in(const cn_tp *tp)
{
    return SSL_has_pending(((const tp_tls *)tp)->ssl);
}

static void tls_describe(const cn_tp *tp, char *out, size_t cap)
{
    const tp_tls *t = (const tp_tls *)tp;
    snprintf(out, cap, "%s %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
}

static void tls_free(cn_tp *tp)
{
    tp_tls *t = (tp_tls *)tp;
    if (tp->ready && !t->failed) {
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* a close_notify if the socket takes it; no waiting */
    }
    ERR_clear_error();
    SSL_free(t->ssl);
    if (tp->fd >= 0)
        close(tp->fd);
    free(t->stage);
    free(t);
}

static int is_ip(const char *host);

static int tls_check_peer_host(cn_tp *tp, const char *host)
{
    tp_tls *t = (tp_tls *)tp;
    if (!t->check_client_host)
        return 0;
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    int ok = 0;
    if (cert && is_ip(host))
        ok = X509_check_ip_asc(cert, host, 0) == 1;
    else if (cert)
        ok = X509_check_host(cert, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
    if (!ok)
        snprintf(tp->err, sizeof tp->err, "%s %.100s",
                 cert ? "its certificate does not name the host" : "it has no certificate for",
                 host);
    return ok ? 0 : -1;
}

static const cn_tp_ops tls_ops = {
    .name = "TLS",
    .hs_lenbytes = 4, /* inet_tls_dist frames the handshake with {packet, 4} */
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .flush = tls_flush,
    .buffered_in = tls_buffered_in,
    .describe = tls_describe,
    .check_peer_host = tls_check_peer_host,
    .free = tls_free,
};

static int is_ip(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

static tp_tls *tls_new(cn_tls *ctx, int fd, int role, const char *peer_host)
{
    tp_tls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tp.ops = &tls_ops;
    t->tp.fd = fd;
    t->tp.role = role;
    t->ssl = SSL_new(role == CN_TP_SERVER ? ctx->server : ctx->client);
    if (!t->ssl) {
        free(t);
        return NULL;
    }
    if (role == CN_TP_SERVER) {
        SSL_set_accept_state(t->ssl);
        t->check_client_host = ctx->check_client_host;
        return t;
    }
    SSL_set_connect_state(t->ssl);
    const char *name = ctx->server_name[0] ? ctx->server_name : peer_host;
    if (name && name[0]) {
        if (!is_ip(name))
            SSL_set_tlsext_host_name(t->ssl, name); /* SNI, as inet_tls_dist sends */
        if (ctx->check_host) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
            X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (is_ip(name))
                X509_VERIFY_PARAM_set1_ip_asc(vp, name);
            else
                X509_VERIFY_PARAM_set1_host(vp, name, 0);
        }
    }
    return t;
}

cn_tp *cn_tp_tls_new(cn_tls *ctx, int fd, int role, const char *peer_host)
{
    tp_tls *t = tls_new(ctx, fd, role, peer_host);
    if (!t || !SSL_set_fd(t->ssl, fd)) {
        if (t)
            tls_free(&t->tp); /* closes fd */
        else
            close(fd);
        return NULL;
    }
    return &t->tp;
}

cn_tp *cn_tp_tls_new_bio(cn_tls *ctx, int role, const char *peer_host, struct bio_st *rbio,
                         struct bio_st *wbio)
{
    tp_tls *t = tls_new(ctx, -1, role, peer_host);
    if (!t) {
        BIO_free(rbio);
        if (wbio != rbio)
            BIO_free(wbio);
        return NULL;
    }
    SSL_set_bio(t->ssl, rbio, wbio);
    return &t->tp;
}

/* ---- contexts --------------------------------------------------------------------------- */

static int ctx_fail(char *err, size_t el, const char *what, const char *file)
{
    char r[200];
    first_error(r, sizeof r);
    if (file)
        snprintf(err, el, "%s %s: %s", what, file, r[0] ? r : "failed");
    else
        snprintf(err, el, "%s: %s", what, r[0] ? r : "failed");
    ERR_clear_error();
    return -1;
}

static int password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u;
    if (!pw)
        return -1;
    int n = (int)strlen(pw);
    if (n >= size)
        return -1;
    memcpy(buf, pw, (size_t)n);
    return n;
}

static SSL_CTX *make_ctx(const cn_tls_side *s, int server, char *err, size_t el)
{
    const char *role = server ? "server" : "client";
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        ctx_fail(err, el, "cannot create a TLS context", NULL);
        return NULL;
    }
    int min = s->min_version ? s->min_version : TLS1_2_VERSION;
    int max = s->max_version ? s->max_version : TLS1_3_VERSION;
    if (min < TLS1_2_VERSION)
        min = TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS)) {
        ctx_fail(err, el, "cannot set the TLS 1.2 ciphers", NULL);
        goto fail;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); /* fewer read calls; SSL_has_pending tells what is left */
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0); /* no resumption: nothing to send after the handshake */
    if (s->password[0]) {
        SSL_CTX_set_default_passwd_cb(ctx, password_cb);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)s->password);
    }
    if (s->certfile[0]) {
        const char *key = s->keyfile[0] ? s->keyfile : s->certfile;
        char what[64];
        snprintf(what, sizeof what, "%s certfile", role);
        if (SSL_CTX_use_certificate_chain_file(ctx, s->certfile) != 1) {
            ctx_fail(err, el, what, s->certfile);
            goto fail;
        }
        snprintf(what, sizeof what, "%s keyfile", role);
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
                snprintf(err, el, "the %s key %s does not match the certificate %s", role, key,
                         s->certfile);
                ERR_clear_error();
            } else {
                ctx_fail(err, el, what, key);
            }
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ctx_fail(err, el, "the key does not match the certificate", s->certfile);
            goto fail;
        }
    } else if (server) {
        snprintf(err, el,
                 "TLS distribution needs a certificate and key for the server role "
                 "(--tls-certfile/--tls-keyfile or {server, [{certfile, ...}]})");
        goto fail;
    }
    /* The password is needed only while loading the key. */
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (s->cacertfile[0]) {
        if (SSL_CTX_load_verify_locations(ctx, s->cacertfile, NULL) != 1) {
            char what[64];
            snprintf(what, sizeof what, "%s cacertfile", role);
            ctx_fail(err, el, what, s->cacertfile);
            goto fail;
        }
    } else if (s->verify) {
        snprintf(err, el,
                 "verifying %s certificates needs a CA: --tls-cacertfile or {%s, [{cacertfile, "
                 "...}]} (or verify_none, which we do not recommend)",
                 server ? "client" : "server", role);
        goto fail;
    }
    int mode = SSL_VERIFY_NONE;
    if (s->verify)
        mode = SSL_VERIFY_PEER |
               (server && s->fail_if_no_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx, mode, NULL);
    if (s->depth >= 0)
        SSL_CTX_set_verify_depth(ctx, s->depth);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

cn_tls *cn_tls_new(const cn_tls_conf *c, char *err, size_t errlen)
{
    cn_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->server = make_ctx(&c->server, 1, err, errlen);
    if (t->server)
        t->client = make_ctx(&c->client, 0, err, errlen);
    if (!t->server || !t->client) {
        cn_tls_free(t);
        return NULL;
    }
    t->check_host = c->client.verify && c->client.check_host;
    t->check_client_host = c->server.verify && c->server.check_host;
    snprintf(t->server_name, sizeof t->server_name, "%s", c->client.server_name);
    return t;
}

void cn_tls_free(cn_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    free(t);
}

/* The plain TCP transport, and the dispatch of the cn_tp_* calls to a transport's ops. */
#include "dist/transport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tp_tcp {
    cn_tp tp;
    int first; /* nothing read yet: the first bytes tell a TLS peer apart */
} tp_tcp;

static int tcp_handshake(cn_tp *tp)
{
    tp->ready = 1;
    return 1;
}

/* A distribution handshake message is never 5 KiB long, so a stream starting like a TLS
 * handshake (0x16) or alert (0x15) record is a TLS peer: say so now instead of waiting for
 * the handshake timeout. */
static int looks_like_tls(const uint8_t *p, size_t n)
{
    return n >= 2 && (p[0] == 0x16 || p[0] == 0x15) && p[1] == 0x03;
}

static ssize_t tcp_read(cn_tp *tp, void *buf, size_t cap)
{
    tp_tcp *t = (tp_tcp *)tp;
    tp->r_want = 0;
    for (;;) {
        ssize_t n = read(tp->fd, buf, cap);
        if (n > 0) {
            if (t->first && looks_like_tls(buf, (size_t)n)) {
                snprintf(tp->err, sizeof tp->err,
                         "the peer speaks TLS (does it run -proto_dist inet_tls? this node "
                         "uses plain TCP distribution)");
                return CN_TP_ERROR;
            }
            t->first = 0;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            tp->r_want = CN_TP_WANT_READ;
            return CN_TP_AGAIN;
        }
        snprintf(tp->err, sizeof tp->err, "%s", strerror(errno));
        return CN_TP_ERROR;
    }
}

/* readv or writev until it is not interrupted: bytes, or CN_TP_AGAIN with what it waits for
 * noted in r_want / w_want, or CN_TP_ERROR. */
static ssize_t vec_io(cn_tp *tp, const struct iovec *iov, int n, int is_write)
{
    int *want = is_write ? &tp->w_want : &tp->r_want;
    *want = 0;
    for (;;) {
        ssize_t k = is_write ? writev(tp->fd, iov, n) : readv(tp->fd, iov, n);
        if (k >= 0)
            return k;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = is_write ? CN_TP_WANT_WRITE : CN_TP_WANT_READ;
            return CN_TP_AGAIN;
        }
        snprintf(tp->err, sizeof tp->err, "%s", strerror(errno));
        return CN_TP_ERROR;
    }
}

static ssize_t tcp_readv(cn_tp *tp, const struct iovec *iov, int n)
{
    if (n == 1 || ((tp_tcp *)tp)->first)
        return tcp_read(tp, iov[0].iov_base, iov[0].iov_len);
    return vec_io(tp, iov, n, 0);
}

static ssize_t tcp_writev(cn_tp *tp, const struct iovec *iov, int n)
{
    return vec_io(tp, iov, n, 1);
}

static int tcp_flush(cn_tp *tp)
{
    (void)tp;
    return 0;
}

static int tcp_buffered_in(const cn_tp *tp)
{
    (void)tp;
    return 0;
}

static void tcp_describe(const cn_tp *tp, char *out, size_t cap)
{
    (void)tp;
    snprintf(out, cap, "TCP");
}

static int tcp_check_peer_host(cn_tp *tp, const char *host)
{
    (void)tp;
    (void)host;
    return 0; /* nothing to check it against */
}

static void tcp_free(cn_tp *tp)
{
    if (tp->fd >= 0)
        close(tp->fd);
    free(tp);
}

static const cn_tp_ops tcp_ops = {
    .name = "TCP",
    .hs_lenbytes = 2,
    .handshake = tcp_handshake,
    .read = tcp_read,
    .readv = tcp_readv,
    .writev = tcp_writev,
    .flush = tcp_flush,
    .buffered_in = tcp_buffered_in,
    .describe = tcp_describe,
    .check_peer_host = tcp_check_peer_host,
    .free = tcp_free,
};

cn_tp *cn_tp_tcp_new(int fd, int role)
{
    tp_tcp *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tp.ops = &tcp_ops;
    t->tp.fd = fd;
    t->tp.role = role;
    t->tp.ready = 1;
    t->first = 1;
    return &t->tp;
}

/* ---- dispatch ----------------------------------------------------------------------- */

int cn_tp_handshake(cn_tp *tp)
{
    return tp->ready ? 1 : tp->ops->handshake(tp);
}

ssize_t cn_tp_read(cn_tp *tp, void *buf, size_t cap)
{
    return tp->ops->read(tp, buf, cap);
}

ssize_t cn_tp_readv(cn_tp *tp, const struct iovec *iov, int n)
{
    if (tp->ops->readv)
        return tp->ops->readv(tp, iov, n);
    ssize_t got = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len == 0)
            continue;
        ssize_t k = tp->ops->read(tp, iov[i].iov_base, iov[i].iov_len);
        if (k <= 0)
            return got ? got : k; /* an end or error comes back on the next call */
        got += k;
        if ((size_t)k < iov[i].iov_len)
            break;
    }
    return got;
}

ssize_t cn_tp_writev(cn_tp *tp, const struct iovec *iov, int n)
{
    return tp->ops->writev(tp, iov, n);
}

int cn_tp_flush(cn_tp *tp)
{
    return tp->ops->flush(tp);
}

int cn_tp_buffered_in(const cn_tp *tp)
{
    return tp->ops->buffered_in(tp);
}

int cn_tp_wants_out(const cn_tp *tp, int have)
{
    if (!tp->ready)
        return (tp->hs_want & CN_TP_WANT_WRITE) != 0;
    if (tp->r_want & CN_TP_WANT_WRITE)
        return 1;
    /* A write that waits for the peer's bytes (TLS) is retried on the next read event. */
    return (have || tp->staged) && tp->w_want != CN_TP_WANT_READ;
}

void cn_tp_describe(const cn_tp *tp, char *out, size_t cap)
{
    tp->ops->describe(tp, out, cap);
}

int cn_tp_check_peer_host(cn_tp *tp, const char *host)
{
    return tp->ops->check_peer_host(tp, host);
}

void cn_tp_free(cn_tp *tp)
{
    if (tp)
        tp->ops->free(tp);
}

/* conn_read: reading a connection: the I/O loop's callback, the transport's handshake,
 * frames to the handshake or to control messages, and receive moderation. */
#include "dist/conn_int.h"

#include "dist/ctrl.h"
#include "dist/frame.h"
#include "dist/rx.h"
#include "dist/rxmod.h"
#include "dist/transport.h"
#include "loop.h"
#include "node.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/uio.h>

/* Hand one decoded frame's outcome on: d as cn_rx_frame returns it. -1 when the connection
 * was closed. */
static int conn_deliver(cn_conn *c, int d, cn_dist_msg *m, char *err, size_t errlen)
{
    if (d < 0) {
        cn_ctrl_flush(); /* what came before the bad frame is delivered, in order */
        cn_warn("bad frame from %s: %s", c->peer, err);
        conn_close(c, "protocol error");
        return -1;
    }
    if (d == 1 && cn_ctrl_dispatch(c->node, m, err, errlen) < 0) {
        cn_warn("bad control message from %s: %s", c->peer, err);
        conn_close(c, "protocol error");
        return -1;
    }
    return c->fd >= 0 ? 0 : -1;
}

/* Returns the number of messages handed on: frames with a payload (receive moderation
 * counts them). */
static unsigned conn_read(cn_conn *c)
{
    unsigned msgs = 0;
    /* Bytes the transport already pulled off the socket bring no readiness event: drain
     * them even past the round limit (a TLS transport buffers at most one read). */
    for (int rounds = 0; c->fd >= 0 && (rounds < 16 || cn_tp_buffered_in(c->tp)); rounds++) {
        size_t cap, left = 0;
        uint8_t *space = cn_framer_space(&c->fr, &cap);
        if (!space) {
            conn_close(c, "out of memory");
            return msgs;
        }
        /* While a continuation fragment's body is read straight into its message, the framer
         * gets only what fits the next continuation's length and header, so that its body
         * can go the same way. */
        uint8_t *direct = c->rx ? cn_rx_direct_space(c->rx, &left) : NULL;
        /* Otherwise a read that ends a large frame (a start fragment), or the first one
         * between two fragments, stops early in the next frame, so that a continuation's
         * body can go directly too. */
        size_t limit = c->rx && !direct ? cn_framer_read_limit(&c->fr, 4 + CN_RX_CONT_HDR,
                                                               cn_rx_pending_seqs(c->rx) > 0)
                                        : 0;
        if (limit && limit < cap)
            cap = limit;
        struct iovec iov[2] = {{space, cap}};
        if (direct) {
            iov[0] = (struct iovec){direct, left};
            iov[1] = (struct iovec){space, cap < 4 + CN_RX_CONT_HDR ? cap : 4 + CN_RX_CONT_HDR};
        }
        ssize_t n = cn_tp_readv(c->tp, iov, direct ? 2 : 1);
        if (n == 0) {
            conn_close(c, "closed by peer");
            return msgs;
        }
        if (n < 0) {
            if (n != CN_TP_AGAIN) {
                char why[sizeof c->tp->err];
                snprintf(why, sizeof why, "%s", c->tp->err); /* conn_close frees tp */
                if (c->state != C_UP) /* e.g. a TLS 1.3 peer refusing our certificate */
                    cn_warn("%s handshake with %s failed: %s", c->tp->ops->name,
                            c->peer[0] ? c->peer : c->addr, why);
                conn_close(c, why);
            }
            return msgs;
        }
        c->bytes_in += (uint64_t)n;
        c->last_read_ms = cn_now_ms();
        if (c->state == C_UP)
            conn_ack_owed(c, cn_now_ns());
        cn_dist_msg m;
        char err[256] = "";
        size_t to_framer = (size_t)n;
        if (direct) {
            size_t k = to_framer < left ? to_framer : left;
            to_framer -= k;
            int d = cn_rx_direct_commit(c->rx, k, &m, err, sizeof err);
            msgs += d == 1 && m.payload != NULL;
            if (conn_deliver(c, d, &m, err, sizeof err) < 0)
                return msgs;
        }
        cn_framer_commit(&c->fr, to_framer);
        const uint8_t *frame;
        size_t flen;
        int r = 0;
        while (c->fd >= 0 && (r = cn_framer_next(&c->fr, &frame, &flen)) == 1) {
            if (c->state == C_HANDSHAKE) {
                conn_hs_frame(c, frame, flen);
                continue;
            }
            if (flen == 0)
                continue; /* tick */
            int d = cn_rx_frame(c->rx, frame, flen, &m, err, sizeof err);
            msgs += d == 1 && m.payload != NULL;
            if (conn_deliver(c, d, &m, err, sizeof err) < 0)
                return msgs;
        }
        cn_ctrl_flush(); /* deliver this read's messages, a run per process */
        if (c->fd >= 0 && r < 0 && c->state == C_HANDSHAKE) {
            cn_warn("handshake message from %s larger than %d bytes",
                    c->peer[0] ? c->peer : c->addr, HS_FRAME_MAX);
            conn_close(c, "oversized handshake message");
            return msgs;
        }
        if (c->fd >= 0 && r < 0) {
            cn_warn("frame from %s larger than the limit (%zu bytes)", c->peer,
                    cn_node.max_message);
            conn_close(c, "oversized frame");
            return msgs;
        }
        if (c->fd >= 0 && c->state == C_UP) {
            const uint8_t *body;
            size_t have;
            if (cn_framer_partial(&c->fr, &body, &have, &flen) == 1) {
                int d = cn_rx_direct_begin(c->rx, body, have, flen, err, sizeof err);
                if (d == 1)
                    cn_framer_skip_partial(&c->fr);
                else if (d < 0 && conn_deliver(c, d, &m, err, sizeof err) < 0)
                    return msgs;
            }
        }
        size_t asked = direct ? iov[0].iov_len + iov[1].iov_len : cap;
        if (c->fd < 0 || ((size_t)n < asked && !cn_tp_buffered_in(c->tp)))
            break;
    }
    return msgs;
}

/* The transport's own handshake (TLS) runs before the distribution handshake; a refusal is
 * logged as a warning, with the peer's name when we dialled it, else its address. */
static int transport_step(cn_conn *c)
{
    int r = cn_tp_handshake(c->tp);
    if (r > 0) {
        char d[128];
        cn_tp_describe(c->tp, d, sizeof d);
        cn_debug("%s session with %s established (%s)", c->tp->ops->name,
                 c->peer[0] ? c->peer : c->addr, d);
        return 1;
    }
    if (r < 0) {
        char why[400];
        snprintf(why, sizeof why, "%s handshake failed: %s", c->tp->ops->name, c->tp->err);
        cn_warn("%s handshake with %s failed: %s", c->tp->ops->name, c->peer[0] ? c->peer : c->addr,
                c->tp->err);
        conn_close(c, why);
    }
    return r;
}

/* After a read: while the peer streams, the next read waits for a nap (rxmod.h); the
 * socket's EPOLLIN is off meanwhile (conn_arm) and the loop calls back with CN_EV_DUE. */
static void moderate(cn_conn *c, unsigned msgs, int due)
{
    atomic_fetch_add_explicit(&c->reads, 1, memory_order_relaxed);
    if (due)
        atomic_fetch_add_explicit(&c->coalesced, 1, memory_order_relaxed);
    uint64_t now = cn_now_ns();
    uint64_t nap = c->state == C_UP ? cn_rxmod_after(&c->mod, msgs, now) : 0;
    if (nap / 1000 > atomic_load_explicit(&c->longest_nap_us, memory_order_relaxed))
        atomic_store_explicit(&c->longest_nap_us, (uint32_t)(nap / 1000), memory_order_relaxed);
    if (nap && cn_loop_defer(&c->ev, now + nap) < 0)
        c->mod.napping = 0;
    else if (!nap)
        cn_loop_undefer(&c->ev);
}

void conn_events(void *ctx, uint32_t events)
{
    cn_conn *c = ctx;
    if (c->state == C_CLOSED || c->fd < 0)
        return;
    if (!c->tp->ready) {
        int r = transport_step(c);
        if (r < 0)
            return;
        if (r == 0) {
            conn_arm(c);
            return;
        }
        events |= EPOLLIN; /* bytes that came with the end of its handshake may be buffered */
    }
    /* A read that stopped to write (TLS post-handshake messages) goes on when writable. Frames
     * the messages read now answer (spawn replies, ...) are written together afterwards. */
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR | CN_EV_DUE)) ||
        (c->tp->r_want & CN_TP_WANT_WRITE)) {
        cn_conn_hint_more(1);
        unsigned msgs = conn_read(c);
        cn_conn_hint_more(0);
        if (c->fd < 0)
            return;
        moderate(c, msgs, (events & CN_EV_DUE) != 0);
    }
    if (c->fd < 0)
        return;
    conn_write_queued(c); /* arms the socket for what moderate chose */
}

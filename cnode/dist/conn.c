#include "dist/conn_int.h"

#include "dist/ctrl.h"
#include "dist/flags.h"
#include "dist/frame.h"
#include "dist/handshake.h"
#include "dist/otx.h"
#include "dist/rx.h"
#include "dist/rxmod.h"
#include "dist/tls.h"
#include "dist/transport.h"
#include "loop.h"
#include "node.h"
#include "proc/ident.h"
#include "proc/nodemon.h"
#include "proc/proc.h"
#include "util/buf.h"
#include "util/log.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Largest distribution handshake message accepted (what 2-byte TCP framing allows). */
#define HS_FRAME_MAX 65535

/* The table maps a node index to its current connection (pending or up). */
static cn_conn *table[CN_MAX_NODES];
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;
static cn_conn *all;                         /* I/O thread only */
static uint64_t io_closed_in, io_closed_out; /* (tlock) bytes of closed connections */

/* Set while this thread has more work queued behind what it does now (cn_conn_hint_more, and
 * the I/O thread while it dispatches what it read): its frames then wait for one write. */
static _Thread_local int more_coming;

void cn_conn_hint_more(int more)
{
    more_coming = more;
}

static void oframe_free(cn_oframe *f)
{
    free(f->ctl);
    if (!f->pl_borrowed)
        free(f->pl);
    free(f->pl_base);
    free(f);
}

static void frames_free(cn_oframe *f)
{
    while (f) {
        cn_oframe *n = f->next;
        oframe_free(f);
        f = n;
    }
}

static _Thread_local uint32_t busy_node; /* cn_conn_take_busy */

static void wake_senders(cn_conn *c)
{
    pthread_mutex_lock(&c->blk);
    pthread_cond_broadcast(&c->unbusy);
    pthread_mutex_unlock(&c->blk);
}

/* Frames worth n bytes left the queue (written, or moved to another connection). The
 * waiters' count is read after the queue (both sequentially consistent), and they count
 * themselves before reading it: one side always sees the other. */
static void unqueue(cn_conn *c, size_t n)
{
    if (n == 0)
        return;
    size_t q = atomic_fetch_sub(&c->queued, n) - n;
    if (q < CN_CONN_BUSY / 2 && atomic_load(&c->nwait) > 0)
        wake_senders(c);
}

static void conn_ref(cn_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void conn_release(cn_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    cn_framer_free(&c->fr);
    if (c->rx)
        cn_rx_free(c->rx);
    cn_otx_free(c->otx);
    cn_buf_free(&c->hsout);
    frames_free(c->ohead);
    frames_free(c->whead);
    pthread_mutex_destroy(&c->olock);
    pthread_mutex_destroy(&c->wlock);
    pthread_mutex_destroy(&c->blk);
    pthread_cond_destroy(&c->unbusy);
    free(c);
}

static void release_post(void *arg)
{
    conn_release(arg);
}

cn_conn *conn_new(int role)
{
    cn_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = -1;
    c->role = role;
    c->state = role == CN_HS_INITIATOR ? C_DIALING : C_HANDSHAKE;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->olock, NULL);
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->blk, NULL);
    pthread_cond_init(&c->unbusy, NULL);
    cn_buf_init(&c->hsout, 1 << 16);
    cn_framer_init(&c->fr, 2, cn_node.max_message + 64);
    c->created_ms = c->last_read_ms = c->last_write_ms = cn_now_ms();
    c->ev.fn = conn_events;
    c->ev.ctx = c;
    return c;
}

void conn_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int has_output(const cn_conn *c)
{
    return c->hsout.len > 0 || c->whead != NULL;
}

static void arm(cn_conn *c)
{
    if (c->fd < 0)
        return;
    uint32_t want =
        (c->mod.napping ? 0 : EPOLLIN) | (cn_tp_wants_out(c->tp, has_output(c)) ? EPOLLOUT : 0);
    if (want == c->armed)
        return;
    c->armed = want;
    cn_loop_mod(&c->ev, want);
}

/* ---- the table ---------------------------------------------------------------------- */

uint64_t cn_conn_flags(uint32_t node)
{
    uint64_t f = 0;
    pthread_mutex_lock(&tlock);
    cn_conn *c = node < CN_MAX_NODES ? table[node] : NULL;
    if (c && c->state == C_UP)
        f = c->flags;
    pthread_mutex_unlock(&tlock);
    return f;
}

int cn_conn_is_up(uint32_t node)
{
    return cn_conn_flags(node) != 0;
}

size_t cn_conn_list(uint32_t *nodes, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&tlock);
    for (uint32_t i = 1; i < CN_MAX_NODES && n < cap; i++)
        if (table[i] && table[i]->state == C_UP)
            nodes[n++] = i;
    pthread_mutex_unlock(&tlock);
    return n;
}

size_t cn_conn_list_kind(uint32_t *nodes, size_t cap, int kinds)
{
    size_t n = 0;
    pthread_mutex_lock(&tlock);
    for (uint32_t i = 1; i < CN_MAX_NODES && n < cap; i++) {
        cn_conn *c = table[i];
        if (!c || c->state != C_UP)
            continue;
        int kind = (c->flags & DFLAG_PUBLISHED) ? CN_CONN_VISIBLE : CN_CONN_HIDDEN;
        if (kinds & kind)
            nodes[n++] = i;
    }
    pthread_mutex_unlock(&tlock);
    return n;
}

size_t cn_conn_stats(cn_conn_stat *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&tlock);
    for (uint32_t i = 1; i < CN_MAX_NODES && n < cap; i++) {
        cn_conn *c = table[i];
        if (!c || c->state != C_UP)
            continue;
        out[n++] = (cn_conn_stat){.node = i,
                                  .flags = c->flags,
                                  .bytes_in = atomic_load(&c->bytes_in),
                                  .bytes_out = atomic_load(&c->bytes_out),
                                  .reads = atomic_load(&c->reads),
                                  .coalesced_reads = atomic_load(&c->coalesced),
                                  .outgoing = c->role == CN_HS_INITIATOR};
    }
    pthread_mutex_unlock(&tlock);
    return n;
}

void cn_conn_io_totals(uint64_t *in, uint64_t *out)
{
    pthread_mutex_lock(&tlock);
    uint64_t i = io_closed_in, o = io_closed_out;
    for (uint32_t k = 1; k < CN_MAX_NODES; k++) {
        cn_conn *c = table[k];
        if (c && !c->io_counted) {
            i += atomic_load(&c->bytes_in);
            o += atomic_load(&c->bytes_out);
        }
    }
    pthread_mutex_unlock(&tlock);
    *in = i;
    *out = o;
}

static void table_remove(cn_conn *c)
{
    pthread_mutex_lock(&tlock);
    if (c->has_node && table[c->node] == c) {
        table[c->node] = NULL;
        pthread_mutex_unlock(&tlock);
        conn_release(c);
        return;
    }
    pthread_mutex_unlock(&tlock);
}

/* ---- writing ------------------------------------------------------------------------ */

/* Move frames queued by other threads to the write queue, adding the frame prefix now
 * that the format is known (wlock held: otx's cache follows wire order). */
static void take_outbox(cn_conn *c)
{
    pthread_mutex_lock(&c->olock);
    cn_oframe *f = c->ohead;
    c->ohead = c->otail = NULL;
    c->flush_posted = 0;
    pthread_mutex_unlock(&c->olock);
    if (f && !c->otx)
        c->otx = cn_otx_new(0); /* NULL when out of memory: frames then go uncached */
    while (f) {
        cn_oframe *next = f->next, *last;
        cn_oframe *first = cn_otx_frame(c->otx, c->flags, f, &last); /* in wire order */
        if (c->wtail)
            c->wtail->next = first;
        else
            c->whead = first;
        c->wtail = last;
        f = next;
    }
}

/* Write as much as the transport takes: handshake bytes, then frames (gathered), then what
 * the transport still holds. Returns -1 on a write error (the transport's err says why).
 * Once the connection is up, only with wlock held. */
static int conn_write(cn_conn *c)
{
    if (c->fd < 0 || !c->tp->ready)
        return 0; /* the transport's own handshake comes first */
    while (c->hsout.len > 0) {
        struct iovec one = {.iov_base = c->hsout.data, .iov_len = c->hsout.len};
        ssize_t n = cn_tp_writev(c->tp, &one, 1);
        if (n < 0)
            return n == CN_TP_AGAIN ? 0 : -1;
        cn_buf_consume(&c->hsout, (size_t)n);
        c->bytes_out += (uint64_t)n;
        c->last_write_ms = cn_now_ms();
    }
    while (c->whead) {
        struct iovec iov[256];
        int niov = 0;
        size_t skip = c->woff;
        for (cn_oframe *f = c->whead; f && niov < 252; f = f->next) {
            const void *seg[4] = {f->pre, f->ctl, &f->mid, f->pl};
            size_t len[4] = {(size_t)f->npre, f->ctl_len, f->mid ? 1u : 0u, f->pl_len};
            for (int i = 0; i < 4; i++) {
                if (len[i] == 0)
                    continue;
                if (skip >= len[i]) {
                    skip -= len[i];
                    continue;
                }
                iov[niov].iov_base = (char *)seg[i] + skip;
                iov[niov].iov_len = len[i] - skip;
                skip = 0;
                niov++;
            }
        }
        ssize_t n = cn_tp_writev(c->tp, iov, niov);
        if (n < 0)
            return n == CN_TP_AGAIN ? 0 : -1;
        c->bytes_out += (uint64_t)n;
        c->last_write_ms = cn_now_ms();
        size_t done = c->woff + (size_t)n;
        while (c->whead) {
            cn_oframe *f = c->whead;
            size_t flen = (size_t)f->npre + f->ctl_len + (f->mid ? 1 : 0) + f->pl_len;
            if (done < flen)
                break;
            done -= flen;
            c->whead = f->next;
            if (!c->whead)
                c->wtail = NULL;
            unqueue(c, f->acct);
            oframe_free(f);
        }
        c->woff = done;
    }
    return cn_tp_flush(c->tp) == CN_TP_ERROR ? -1 : 0;
}

static void write_failed(cn_conn *c)
{
    char why[300];
    snprintf(why, sizeof why, "write failed: %s", c->tp ? c->tp->err : "?");
    conn_close(c, why);
}

/* I/O thread: take what is queued and write it, arming EPOLLOUT for what the socket did
 * not take. */
static void write_queued(cn_conn *c)
{
    pthread_mutex_lock(&c->wlock);
    if (c->state == C_UP)
        take_outbox(c);
    int r = conn_write(c);
    if (r == 0)
        arm(c);
    pthread_mutex_unlock(&c->wlock);
    if (r < 0)
        write_failed(c);
}

static void flush_post(void *arg)
{
    cn_conn *c = arg;
    if (c->state == C_UP)
        write_queued(c);
    conn_release(c);
}

/* Any thread, with frames just queued on an up connection: write them now unless the
 * socket is busy (another writer, or bytes waiting for EPOLLOUT). Returns 1 when all of it
 * went out, 0 when the I/O thread must finish (or report an error). Saves the I/O thread's
 * wakeup and a thread handoff per message. */
static int write_direct(cn_conn *c)
{
    if (pthread_mutex_trylock(&c->wlock) != 0)
        return 0;
    int done = 0;
    if (c->direct && c->fd >= 0 && !c->whead) {
        take_outbox(c);
        done = conn_write(c) == 0 && !c->whead;
    }
    pthread_mutex_unlock(&c->wlock);
    return done;
}

int cn_conn_enqueue(uint32_t node, cn_oframe *f, int dial_ok)
{
    if (node == 0 || node >= CN_MAX_NODES) {
        oframe_free(f);
        return -1;
    }
    int dial = 0;
    pthread_mutex_lock(&tlock);
    cn_conn *c = table[node];
    if (!c && (!dial_ok || cn_loop_stopping())) { /* no new connections while stopping */
        pthread_mutex_unlock(&tlock);
        oframe_free(f);
        return -1;
    }
    if (!c) {
        c = conn_new(CN_HS_INITIATOR);
        if (!c) {
            pthread_mutex_unlock(&tlock);
            oframe_free(f);
            return -1;
        }
        c->node = node;
        c->has_node = 1;
        snprintf(c->peer, sizeof c->peer, "%s", cn_node_name(node));
        table[node] = c; /* the table's reference */
        dial = 1;
    }
    conn_ref(c);
    pthread_mutex_unlock(&tlock);

    int post = 0, dropped = 0;
    f->next = NULL;
    size_t len = f->ctl_len + f->pl_len; /* f may be written and freed once queued */
    f->acct = len;
    pthread_mutex_lock(&c->olock);
    if (c->state == C_CLOSED) {
        dropped = 1;
        busy_node = 0;
    } else {
        if (c->otail)
            c->otail->next = f;
        else
            c->ohead = f;
        c->otail = f;
        busy_node = atomic_fetch_add(&c->queued, len) + len > CN_CONN_BUSY ? node : 0;
        if (c->state == C_UP && !c->flush_posted) {
            c->flush_posted = 1;
            post = 1;
        }
    }
    pthread_mutex_unlock(&c->olock);
    if (dropped)
        oframe_free(f);
    if (dial) {
        conn_ref(c);
        cn_loop_post(conn_dial_post, c);
    }
    if (post && !more_coming && write_direct(c))
        post = 0;
    if (post)
        cn_loop_post(flush_post, c); /* passes our reference on */
    else
        conn_release(c);
    return dropped ? -1 : 0;
}

uint32_t cn_conn_take_busy(void)
{
    uint32_t n = busy_node;
    busy_node = 0;
    return n;
}

/* Over half the busy limit and not closed (conn_close wakes the waiters after C_CLOSED). */
static int still_busy(cn_conn *c)
{
    return c->state != C_CLOSED && atomic_load(&c->queued) >= CN_CONN_BUSY / 2;
}

int cn_conn_wait_unbusy(uint32_t node, int timeout_ms)
{
    if (node == 0 || node >= CN_MAX_NODES)
        return 0;
    pthread_mutex_lock(&tlock);
    cn_conn *c = table[node];
    if (c)
        conn_ref(c);
    pthread_mutex_unlock(&tlock);
    if (!c)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int busy;
    pthread_mutex_lock(&c->blk);
    atomic_fetch_add(&c->nwait, 1);
    /* woken by unqueue or the close */
    while ((busy = still_busy(c) && !cn_loop_stopping()) &&
           pthread_cond_timedwait(&c->unbusy, &c->blk, &until) == 0) {
    }
    busy = busy && still_busy(c);
    atomic_fetch_sub(&c->nwait, 1);
    pthread_mutex_unlock(&c->blk);
    conn_release(c);
    return busy;
}

/* ---- connection life ---------------------------------------------------------------- */

/* Other threads read the state under olock (cn_conn_enqueue): change it under olock too. */
void conn_set_state(cn_conn *c, int state)
{
    pthread_mutex_lock(&c->olock);
    c->state = state;
    pthread_mutex_unlock(&c->olock);
}

static void conn_up(cn_conn *c)
{
    c->flags = c->hs.flags; /* before the state: readers of C_UP then see the flags */
    conn_set_state(c, C_UP);
    cn_framer_set_lenbytes(&c->fr, 4);
    cn_framer_set_max(&c->fr, cn_node.max_message + 64);
    c->rx = cn_rx_new(c->flags, cn_node.max_message);
    char fl[512], tp[128];
    cn_flags_describe(c->flags, fl, sizeof fl);
    cn_tp_describe(c->tp, tp, sizeof tp);
    cn_info("connection up: %s (%s, %s, %s, flags %s)", c->peer,
            c->role == CN_HS_INITIATOR ? "outgoing" : "incoming",
            (c->flags & DFLAG_PUBLISHED) ? "visible" : "hidden", tp, fl);
    pthread_mutex_lock(&c->wlock);
    take_outbox(c);
    c->direct = strcmp(c->tp->ops->name, "TCP") == 0;
    pthread_mutex_unlock(&c->wlock);
    cn_nodemon_event(c->node, 1, (c->flags & DFLAG_PUBLISHED) != 0);
}

/* Stop watching the socket and close it; the entry itself may live on (C_NOKWAIT). */
static void close_socket(cn_conn *c)
{
    if (c->fd < 0)
        return;
    cn_loop_del(&c->ev);
    pthread_mutex_lock(&c->wlock); /* not while a direct writer uses the socket */
    c->direct = 0;
    cn_tp_free(c->tp); /* closes the socket */
    c->tp = NULL;
    c->fd = -1;
    pthread_mutex_unlock(&c->wlock);
}

void conn_close(cn_conn *c, const char *why)
{
    if (c->state == C_CLOSED)
        return;
    int was = c->state;
    pthread_mutex_lock(&tlock); /* its bytes stay in erlang:statistics(io) */
    io_closed_in += atomic_load(&c->bytes_in);
    io_closed_out += atomic_load(&c->bytes_out);
    c->io_counted = 1;
    pthread_mutex_unlock(&tlock);
    pthread_mutex_lock(&c->olock);
    c->state = C_CLOSED;
    cn_oframe *drop = c->ohead;
    c->ohead = c->otail = NULL;
    pthread_mutex_unlock(&c->olock);
    frames_free(drop);
    wake_senders(c); /* what they sent is dropped: nothing left to wait for */
    if (was == C_UP)
        cn_info("connection down: %s (%s)", c->peer, why);
    else if (c->peer[0])
        cn_info("connection attempt %s %s failed: %s", c->role == CN_HS_INITIATOR ? "to" : "from",
                c->peer, why);
    else
        cn_info("incoming connection closed during handshake: %s (from %s)", why, c->addr);
    close_socket(c);
    if (c->in_all) {
        for (cn_conn **pp = &all; *pp; pp = &(*pp)->all_next)
            if (*pp == c) {
                *pp = c->all_next;
                break;
            }
        c->in_all = 0;
        cn_loop_post(release_post, c); /* the I/O reference, after this event batch */
    }
    int owned = c->has_node;
    table_remove(c);
    /* Processes linked to or monitoring the node learn it is gone: after a connection
     * drops, and also when a connection we made for them could not be set up. */
    if (was == C_UP) {
        cn_proc_nodedown(c->node);
        cn_nodemon_event(c->node, 0, (c->flags & DFLAG_PUBLISHED) != 0);
    } else if (owned && c->role == CN_HS_INITIATOR && !cn_loop_stopping()) {
        pthread_mutex_lock(&tlock);
        int none = table[c->node] == NULL;
        pthread_mutex_unlock(&tlock);
        if (none)
            cn_proc_nodedown(c->node);
    }
}

/* The transport for a new connection's socket (which it then owns). */
cn_tp *conn_transport_open(int fd, int role, const char *peer_node)
{
    if (cn_node.tls) {
        const char *at = peer_node ? strchr(peer_node, '@') : NULL;
        return cn_tp_tls_new(cn_node.tls, fd, role, at ? at + 1 : NULL);
    }
    cn_tp *tp = cn_tp_tcp_new(fd, role);
    if (!tp)
        close(fd);
    return tp;
}

void conn_start_io(cn_conn *c, cn_tp *tp)
{
    c->tp = tp;
    c->fd = tp->fd;
    c->ev.fd = tp->fd;
    cn_framer_set_lenbytes(&c->fr, tp->ops->hs_lenbytes);
    /* Handshake messages are small; a 4-byte prefix (TLS) must not let a peer that has not
     * shown the cookie make us wait for, and buffer, up to the message size limit. */
    cn_framer_set_max(&c->fr, HS_FRAME_MAX);
    conn_ref(c); /* the I/O reference */
    c->all_next = all;
    all = c;
    c->in_all = 1;
    c->armed = EPOLLIN;
    cn_loop_add(&c->ev, EPOLLIN);
}

/* Move the frames queued on `from` (a superseded attempt) to the front of c's queue. */
static void take_frames(cn_conn *c, cn_conn *from)
{
    pthread_mutex_lock(&from->olock);
    cn_oframe *q = from->ohead, *qt = from->otail;
    from->ohead = from->otail = NULL;
    pthread_mutex_unlock(&from->olock);
    if (!q)
        return;
    size_t moved = 0;
    for (cn_oframe *f = q; f; f = f->next)
        moved += f->acct;
    pthread_mutex_lock(&c->olock);
    qt->next = c->ohead;
    c->ohead = q;
    if (!c->otail)
        c->otail = qt;
    atomic_fetch_add(&c->queued, moved);
    pthread_mutex_unlock(&c->olock);
    unqueue(from, moved);
}

/* Acceptor: choose the status for a peer (PROTOCOL.md §2.5). */
const char *conn_decide(void *ctx, const char *peer_name, uint64_t peer_flags)
{
    (void)peer_flags;
    cn_conn *c = ctx;
    snprintf(c->peer, sizeof c->peer, "%s", peer_name);
    /* The transport may tie the peer's identity to the host it claims (TLS certificates). */
    const char *at = strchr(peer_name, '@');
    if (cn_tp_check_peer_host(c->tp, at ? at + 1 : peer_name) < 0) {
        cn_warn("connection from %s (%s) refused: %s", peer_name, c->addr, c->tp->err);
        return "not_allowed";
    }
    /* A name we have never seen is not added to the node table before the peer proves
     * it has the cookie: otherwise anyone could fill the table with made-up names. Such a
     * peer cannot be one we are dialling or connected to, so "ok" is the answer. */
    long idx = cn_node_lookup(peer_name);
    if (idx == 0)
        return "not_allowed"; /* our own name */
    if (idx < 0) {
        c->name_pending = 1;
        return "ok";
    }
    const char *status = "ok";
    cn_conn *old = NULL;
    pthread_mutex_lock(&tlock);
    cn_conn *cur = table[idx];
    if (!cur) {
        table[idx] = c;
        conn_ref(c);
    } else if (cur->state == C_UP) {
        status = "alive"; /* replaced once this handshake completes */
    } else if (cur->role == CN_HS_INITIATOR) {
        if (strcmp(cn_node.name, peer_name) > 0) {
            status = "nok"; /* our own attempt wins */
        } else {
            status = "ok_simultaneous";
            old = cur; /* hand its queued frames over, then drop it */
            table[idx] = c;
            conn_ref(c);
        }
    } else {
        status = "nok"; /* another incoming attempt from the same name is in progress */
    }
    pthread_mutex_unlock(&tlock);
    c->node = (uint32_t)idx;
    c->has_node = 1;
    if (old) {
        take_frames(c, old);
        old->has_node = 0; /* it no longer owns the table slot */
        conn_close(old, "simultaneous connect: the peer's attempt won");
        conn_release(old); /* the table's reference it held */
    }
    return status;
}

/* After an `alive` handshake completes, the old connection goes. */
static void replace_old(cn_conn *c)
{
    pthread_mutex_lock(&tlock);
    cn_conn *cur = table[c->node];
    int swap = cur != c;
    if (swap) {
        table[c->node] = c;
        conn_ref(c);
    }
    pthread_mutex_unlock(&tlock);
    if (swap && cur) {
        cur->has_node = 0;
        conn_close(cur, "replaced by a new connection from the same node");
        conn_release(cur);
    }
}

/* An accepted peer with a new name finished the handshake: give it its table slot. If an
 * attempt of ours to that name started meanwhile, this connection takes over its frames. */
static int adopt_name(cn_conn *c)
{
    long idx = cn_node_intern(c->hs.peer_name, strlen(c->hs.peer_name));
    if (idx <= 0) {
        conn_close(c, "the node name table is full");
        return -1;
    }
    cn_conn *old = NULL;
    pthread_mutex_lock(&tlock);
    cn_conn *cur = table[idx];
    if (cur && cur->state == C_UP) {
        pthread_mutex_unlock(&tlock);
        conn_close(c, "a connection from this node is already up");
        return -1;
    }
    old = cur;
    table[idx] = c;
    conn_ref(c);
    pthread_mutex_unlock(&tlock);
    c->node = (uint32_t)idx;
    c->has_node = 1;
    c->name_pending = 0;
    if (old) {
        take_frames(c, old);
        old->has_node = 0;
        conn_close(old, "the peer's own connection took over");
        conn_release(old);
    }
    return 0;
}

static void handle_hs_frame(cn_conn *c, const uint8_t *p, size_t len)
{
    int r = cn_hs_input(&c->hs, p, len, &c->hsout);
    if (r == CN_HS_CONTINUE)
        return;
    if (r == CN_HS_FAIL) {
        if (c->role == CN_HS_INITIATOR && strcmp(c->hs.status, "nok") == 0) {
            cn_debug("%s answered nok: its own connection attempt wins", c->peer);
            close_socket(c);
            conn_set_state(c, C_NOKWAIT);
            c->created_ms = cn_now_ms();
            return;
        }
        if (strstr(c->hs.err, "cookie"))
            cn_warn("handshake with %s refused: %s", c->peer[0] ? c->peer : "?", c->hs.err);
        conn_write(c); /* a final status message, if any (best effort) */
        conn_close(c, c->hs.err);
        return;
    }
    if (c->name_pending && adopt_name(c) < 0)
        return;
    if (c->role == CN_HS_ACCEPTOR && strcmp(c->hs.status, "alive") == 0)
        replace_old(c);
    conn_up(c);
}

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
                handle_hs_frame(c, frame, flen);
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
 * socket's EPOLLIN is off meanwhile (arm) and the loop calls back with CN_EV_DUE. */
static void moderate(cn_conn *c, unsigned msgs, int due)
{
    atomic_fetch_add_explicit(&c->reads, 1, memory_order_relaxed);
    if (due)
        atomic_fetch_add_explicit(&c->coalesced, 1, memory_order_relaxed);
    uint64_t now = cn_now_ns();
    uint64_t nap = c->state == C_UP ? cn_rxmod_after(&c->mod, msgs, now) : 0;
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
            arm(c);
            return;
        }
        events |= EPOLLIN; /* bytes that came with the end of its handshake may be buffered */
    }
    /* A read that stopped to write (TLS post-handshake messages) goes on when writable. Frames
     * the messages read now answer (spawn replies, ...) are written together afterwards. */
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR | CN_EV_DUE)) ||
        (c->tp->r_want & CN_TP_WANT_WRITE)) {
        more_coming = 1;
        unsigned msgs = conn_read(c);
        more_coming = 0;
        if (c->fd < 0)
            return;
        moderate(c, msgs, (events & CN_EV_DUE) != 0);
    }
    if (c->fd < 0)
        return;
    write_queued(c); /* arms the socket for what moderate chose */
}

/* ---- on request: dialling, disconnecting (any thread) ------------------------------- */

static void disconnect_post(void *arg)
{
    conn_close(arg, "disconnected on request");
    conn_release(arg);
}

int cn_conn_disconnect(uint32_t node)
{
    pthread_mutex_lock(&tlock);
    cn_conn *c = node && node < CN_MAX_NODES ? table[node] : NULL;
    if (c)
        conn_ref(c);
    pthread_mutex_unlock(&tlock);
    if (c && cn_loop_post(disconnect_post, c) < 0) {
        conn_release(c);
        return -1;
    }
    return c ? 0 : -1;
}

void cn_conn_dial(uint32_t node)
{
    /* An empty frame list still creates and dials the connection: queue nothing. */
    pthread_mutex_lock(&tlock);
    int exists = node < CN_MAX_NODES && table[node] != NULL;
    pthread_mutex_unlock(&tlock);
    if (exists || node == 0)
        return;
    cn_conn *c = conn_new(CN_HS_INITIATOR);
    if (!c)
        return;
    c->node = node;
    c->has_node = 1;
    snprintf(c->peer, sizeof c->peer, "%s", cn_node_name(node));
    pthread_mutex_lock(&tlock);
    if (table[node]) {
        pthread_mutex_unlock(&tlock);
        conn_release(c);
        return;
    }
    table[node] = c;
    pthread_mutex_unlock(&tlock);
    conn_ref(c);
    if (cn_loop_in_io())
        conn_dial_post(c);
    else if (cn_loop_post(conn_dial_post, c) < 0) /* a process (cn_monitor_node) */
        conn_release(c);
}

/* ---- timers ------------------------------------------------------------------------- */

static cn_oframe *tick_frame(void)
{
    cn_oframe *f = calloc(1, sizeof *f);
    if (f)
        f->npre = 4; /* four zero bytes: an empty frame */
    return f;
}

void cn_conn_timers(uint64_t now)
{
    uint64_t tick = (uint64_t)cn_node.ticktime_ms / 4;
    uint64_t dead = (uint64_t)cn_node.ticktime_ms + tick;
    cn_conn *next;
    for (cn_conn *c = all; c; c = next) {
        next = c->all_next;
        if (c->state == C_HANDSHAKE || c->state == C_NOKWAIT) {
            if (now - c->created_ms <= (uint64_t)cn_node.handshake_timeout_ms)
                continue;
            if (c->state == C_NOKWAIT) {
                conn_close(c, "the peer's own attempt never came");
            } else if (c->tp && !c->tp->ready) {
                char why[160];
                snprintf(why, sizeof why,
                         "%s handshake timeout (does the peer use the same distribution "
                         "transport?)",
                         c->tp->ops->name);
                cn_warn("%s handshake with %s timed out", c->tp->ops->name,
                        c->peer[0] ? c->peer : c->addr);
                conn_close(c, why);
            } else {
                conn_close(c, "handshake timeout");
            }
            continue;
        }
        if (c->state != C_UP)
            continue;
        if (now - c->last_read_ms > dead) {
            conn_close(c, "tick timeout: nothing received within net_ticktime");
            continue;
        }
        pthread_mutex_lock(&c->wlock);
        int r = 0;
        if (now - c->last_write_ms >= tick && !c->whead) {
            cn_oframe *f = tick_frame();
            if (f) {
                c->whead = c->wtail = f;
                r = conn_write(c);
                if (r == 0)
                    arm(c);
            }
        }
        pthread_mutex_unlock(&c->wlock);
        if (r < 0)
            write_failed(c);
    }
}

void cn_conn_close_all(void)
{
    /* Flush what is queued (bounded wait), then close: peers see a clean nodedown. */
    uint64_t until = cn_now_ms() + 1000;
    for (cn_conn *c = all; c; c = c->all_next) {
        if (c->state != C_UP)
            continue;
        pthread_mutex_lock(&c->wlock);
        take_outbox(c);
        int more = c->whead || c->tp->staged;
        while (more && cn_now_ms() < until) {
            if (conn_write(c) < 0)
                break;
            more = c->whead || c->tp->staged;
            if (more) {
                pthread_mutex_unlock(&c->wlock);
                struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
                poll(&pf, 1, 50);
                pthread_mutex_lock(&c->wlock);
            }
        }
        pthread_mutex_unlock(&c->wlock);
    }
    while (all)
        conn_close(all, "node shutting down");
    conn_listen_close();
}

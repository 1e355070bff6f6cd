#include "dist/conn_int.h"

#include "dist/flags.h"
#include "dist/frame.h"
#include "dist/handshake.h"
#include "dist/otx.h"
#include "dist/rx.h"
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

/* The table maps a node index to its current connection (pending or up). */
cn_conn *conn_table[CN_MAX_NODES];
pthread_mutex_t conn_tlock = PTHREAD_MUTEX_INITIALIZER;
static cn_conn *all;                         /* I/O thread only */
static uint64_t io_closed_in, io_closed_out; /* (conn_tlock) bytes of closed connections */

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

static void trains_free(conn_train *t)
{
    while (t) {
        conn_train *n = t->next;
        frames_free(t->frags); /* the last fragment frees the payload buffer */
        frames_free(t->held);
        free(t);
        t = n;
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
void conn_unqueue(cn_conn *c, size_t n)
{
    if (n == 0)
        return;
    size_t q = atomic_fetch_sub(&c->queued, n) - n;
    if (q < CN_CONN_BUSY / 2 && atomic_load(&c->nwait) > 0)
        wake_senders(c);
}

void conn_ref(cn_conn *c)
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
    trains_free(c->trains);
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
    return c->hsout.len > 0 || c->whead != NULL || c->trains != NULL;
}

void conn_arm(cn_conn *c)
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
    pthread_mutex_lock(&conn_tlock);
    cn_conn *c = node < CN_MAX_NODES ? conn_table[node] : NULL;
    if (c && c->state == C_UP)
        f = c->flags;
    pthread_mutex_unlock(&conn_tlock);
    return f;
}

int cn_conn_is_up(uint32_t node)
{
    return cn_conn_flags(node) != 0;
}

size_t cn_conn_list(uint32_t *nodes, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&conn_tlock);
    for (uint32_t i = 1; i < CN_MAX_NODES && n < cap; i++)
        if (conn_table[i] && conn_table[i]->state == C_UP)
            nodes[n++] = i;
    pthread_mutex_unlock(&conn_tlock);
    return n;
}

size_t cn_conn_list_kind(uint32_t *nodes, size_t cap, int kinds)
{
    size_t n = 0;
    pthread_mutex_lock(&conn_tlock);
    for (uint32_t i = 1; i < CN_MAX_NODES && n < cap; i++) {
        cn_conn *c = conn_table[i];
        if (!c || c->state != C_UP)
            continue;
        int kind = (c->flags & DFLAG_PUBLISHED) ? CN_CONN_VISIBLE : CN_CONN_HIDDEN;
        if (kinds & kind)
            nodes[n++] = i;
    }
    pthread_mutex_unlock(&conn_tlock);
    return n;
}

size_t cn_conn_stats(cn_conn_stat *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&conn_tlock);
    for (uint32_t i = 1; i < CN_MAX_NODES && n < cap; i++) {
        cn_conn *c = conn_table[i];
        if (!c || c->state != C_UP)
            continue;
        out[n++] = (cn_conn_stat){.node = i,
                                  .flags = c->flags,
                                  .bytes_in = atomic_load(&c->bytes_in),
                                  .bytes_out = atomic_load(&c->bytes_out),
                                  .reads = atomic_load(&c->reads),
                                  .coalesced_reads = atomic_load(&c->coalesced),
                                  .quick_acks = atomic_load(&c->quick_acks),
                                  .longest_nap_us = atomic_load(&c->longest_nap_us),
                                  .outgoing = c->role == CN_HS_INITIATOR};
    }
    pthread_mutex_unlock(&conn_tlock);
    return n;
}

void cn_conn_io_totals(uint64_t *in, uint64_t *out)
{
    pthread_mutex_lock(&conn_tlock);
    uint64_t i = io_closed_in, o = io_closed_out;
    for (uint32_t k = 1; k < CN_MAX_NODES; k++) {
        cn_conn *c = conn_table[k];
        if (c && !c->io_counted) {
            i += atomic_load(&c->bytes_in);
            o += atomic_load(&c->bytes_out);
        }
    }
    pthread_mutex_unlock(&conn_tlock);
    *in = i;
    *out = o;
}

static void table_remove(cn_conn *c)
{
    pthread_mutex_lock(&conn_tlock);
    if (c->has_node && conn_table[c->node] == c) {
        conn_table[c->node] = NULL;
        pthread_mutex_unlock(&conn_tlock);
        conn_release(c);
        return;
    }
    pthread_mutex_unlock(&conn_tlock);
}

/* ---- writing ------------------------------------------------------------------------ */

/* Trains (wlock): a large message from a process goes out as fragments, fed to the write
 * queue a few at a time (conn_write) so that other senders' frames get in between, as on the
 * BEAM. Frames its sender queues meanwhile wait in the train (held) until its last fragment
 * has joined the write queue: a process's frames keep their order. */
#define FEED_WINDOW ((size_t)256 * 1024) /* unwritten bytes on whead before feeding more */
/* Bytes one conn_write writes while trains wait: then it returns (EPOLLOUT armed), so that
 * the I/O thread also reads (the requests whose answers should get in between) meanwhile. */
#define WRITE_TURN ((size_t)1 << 20)

static size_t frame_bytes(const cn_oframe *f)
{
    return (size_t)f->npre + f->ctl_len + (f->mid ? 1 : 0) + f->pl_len;
}

/* Append the frames first..last (linked) to the write queue. */
static void wq_push(cn_conn *c, cn_oframe *first, cn_oframe *last)
{
    for (cn_oframe *f = first;; f = f->next) {
        c->wbytes += frame_bytes(f);
        if (f == last)
            break;
    }
    last->next = NULL;
    if (c->wtail)
        c->wtail->next = first;
    else
        c->whead = first;
    c->wtail = last;
}

static void train_append(cn_conn *c, conn_train *t)
{
    t->next = NULL;
    if (c->trains_tail)
        c->trains_tail->next = t;
    else
        c->trains = t;
    c->trains_tail = t;
}

/* One raw frame in outbox order: held behind its sender's train, or through otx (which
 * must see frames in wire order) onto the write queue, its fragments beyond the first
 * becoming a train. Frames without a sender go whole: nothing would keep their order. */
static void route(cn_conn *c, cn_oframe *f)
{
    conn_train *t = NULL;
    if (f->sender)
        for (t = c->trains; t && t->sender != f->sender; t = t->next) {
        }
    f->next = NULL;
    if (t) {
        if (t->held_tail)
            t->held_tail->next = f;
        else
            t->held = f;
        t->held_tail = f;
        return;
    }
    size_t acct = f->acct;
    uint64_t sender = f->sender;
    cn_oframe *last, *first = cn_otx_frame(c->otx, c->flags, f, &last);
    if (first == last || !sender || !(t = calloc(1, sizeof *t))) {
        wq_push(c, first, last);
        return;
    }
    t->sender = sender;
    t->frags = first->next;
    t->frags_tail = last;
    train_append(c, t);
    /* Only the first fragment still counts in the queue: the rest no longer makes the
     * connection busy for other senders (the sender's next frames, held, do count). */
    size_t keep = first->ctl_len + first->pl_len;
    keep = keep < acct ? keep : acct;
    for (cn_oframe *g = t->frags; g; g = g->next)
        g->acct = 0;
    first->acct = keep;
    wq_push(c, first, first);
    conn_unqueue(c, acct - keep);
}

/* Move fragments from the trains to the write queue, one per train in turn, while little of
 * the write queue is left unwritten. A finished train's held frames then take their turn. */
static void feed(cn_conn *c)
{
    while (c->trains && c->wbytes - c->woff < FEED_WINDOW) {
        conn_train *t = c->trains;
        c->trains = t->next;
        if (!c->trains)
            c->trains_tail = NULL;
        cn_oframe *g = t->frags;
        t->frags = g->next;
        wq_push(c, g, g);
        if (t->frags) {
            train_append(c, t);
            continue;
        }
        cn_oframe *h = t->held;
        free(t);
        while (h) {
            cn_oframe *n = h->next;
            route(c, h);
            h = n;
        }
    }
}

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
        cn_oframe *next = f->next;
        route(c, f);
        f = next;
    }
}

/* Write as much as the transport takes (at most WRITE_TURN while trains wait): handshake
 * bytes, then frames (gathered, fed from the trains), then what the transport still holds. Returns
 * -1 on a write error (the transport's err says why). Once the connection is up, only with wlock
 * held. */
int conn_write(cn_conn *c)
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
    size_t turn = 0;
    feed(c);
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
        conn_ack_paid(c);
        c->bytes_out += (uint64_t)n;
        c->last_write_ms = cn_now_ms();
        size_t done = c->woff + (size_t)n;
        while (c->whead) {
            cn_oframe *f = c->whead;
            size_t flen = frame_bytes(f);
            if (done < flen)
                break;
            done -= flen;
            c->wbytes -= flen;
            c->whead = f->next;
            if (!c->whead)
                c->wtail = NULL;
            conn_unqueue(c, f->acct);
            oframe_free(f);
        }
        c->woff = done;
        /* While a train goes out, frames other processes queue meanwhile join in now,
         * not after it (the I/O thread may be waiting for this lock to take them). */
        if (c->trains && c->state == C_UP)
            take_outbox(c);
        feed(c);
        turn += (size_t)n;
        if (c->trains && turn >= WRITE_TURN)
            break;
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
void conn_write_queued(cn_conn *c)
{
    pthread_mutex_lock(&c->wlock);
    if (c->state == C_UP)
        take_outbox(c);
    int r = conn_write(c);
    if (r == 0)
        conn_arm(c);
    pthread_mutex_unlock(&c->wlock);
    if (r < 0)
        write_failed(c);
}

static void flush_post(void *arg)
{
    cn_conn *c = arg;
    if (c->state == C_UP)
        conn_write_queued(c);
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
    if (c->direct && c->fd >= 0 && !c->whead && !c->trains) {
        take_outbox(c);
        done = conn_write(c) == 0 && !c->whead && !c->trains;
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
    pthread_mutex_lock(&conn_tlock);
    cn_conn *c = conn_table[node];
    if (!c && (!dial_ok || cn_loop_stopping())) { /* no new connections while stopping */
        pthread_mutex_unlock(&conn_tlock);
        oframe_free(f);
        return -1;
    }
    if (!c) {
        c = conn_new(CN_HS_INITIATOR);
        if (!c) {
            pthread_mutex_unlock(&conn_tlock);
            oframe_free(f);
            return -1;
        }
        c->node = node;
        c->has_node = 1;
        snprintf(c->peer, sizeof c->peer, "%s", cn_node_name(node));
        conn_table[node] = c; /* the table's reference */
        dial = 1;
    }
    conn_ref(c);
    pthread_mutex_unlock(&conn_tlock);

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
    pthread_mutex_lock(&conn_tlock);
    cn_conn *c = conn_table[node];
    if (c)
        conn_ref(c);
    pthread_mutex_unlock(&conn_tlock);
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
    /* woken by conn_unqueue or the close */
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

void conn_up(cn_conn *c)
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
void conn_close_socket(cn_conn *c)
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
    pthread_mutex_lock(&conn_tlock); /* its bytes stay in erlang:statistics(io) */
    io_closed_in += atomic_load(&c->bytes_in);
    io_closed_out += atomic_load(&c->bytes_out);
    c->io_counted = 1;
    pthread_mutex_unlock(&conn_tlock);
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
    conn_close_socket(c);
    if (c->in_all) {
        for (cn_conn **pp = &all; *pp; pp = &(*pp)->all_next)
            if (*pp == c) {
                *pp = c->all_next;
                break;
            }
        c->in_all = 0;
        conn_ack_paid(c);              /* owes nothing once closed */
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
        pthread_mutex_lock(&conn_tlock);
        int none = conn_table[c->node] == NULL;
        pthread_mutex_unlock(&conn_tlock);
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

/* ---- on request: dialling, disconnecting (any thread) ------------------------------- */

static void disconnect_post(void *arg)
{
    conn_close(arg, "disconnected on request");
    conn_release(arg);
}

int cn_conn_pending(uint32_t node)
{
    pthread_mutex_lock(&conn_tlock);
    int r = node && node < CN_MAX_NODES && conn_table[node] != NULL;
    pthread_mutex_unlock(&conn_tlock);
    return r;
}

int cn_conn_disconnect(uint32_t node)
{
    pthread_mutex_lock(&conn_tlock);
    cn_conn *c = node && node < CN_MAX_NODES ? conn_table[node] : NULL;
    if (c)
        conn_ref(c);
    pthread_mutex_unlock(&conn_tlock);
    if (c && cn_loop_post(disconnect_post, c) < 0) {
        conn_release(c);
        return -1;
    }
    return c ? 0 : -1;
}

void cn_conn_dial(uint32_t node)
{
    /* An empty frame list still creates and dials the connection: queue nothing. */
    pthread_mutex_lock(&conn_tlock);
    int exists = node < CN_MAX_NODES && conn_table[node] != NULL;
    pthread_mutex_unlock(&conn_tlock);
    if (exists || node == 0)
        return;
    cn_conn *c = conn_new(CN_HS_INITIATOR);
    if (!c)
        return;
    c->node = node;
    c->has_node = 1;
    snprintf(c->peer, sizeof c->peer, "%s", cn_node_name(node));
    pthread_mutex_lock(&conn_tlock);
    if (conn_table[node]) {
        pthread_mutex_unlock(&conn_tlock);
        conn_release(c);
        return;
    }
    conn_table[node] = c;
    pthread_mutex_unlock(&conn_tlock);
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

cn_conn *conn_first(void)
{
    return all;
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
        if (now - c->last_write_ms >= tick && !c->whead && !c->trains) {
            cn_oframe *f = tick_frame();
            if (f) {
                wq_push(c, f, f);
                r = conn_write(c);
                if (r == 0)
                    conn_arm(c);
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
        int more = c->whead || c->trains || c->tp->staged;
        while (more && cn_now_ms() < until) {
            if (conn_write(c) < 0)
                break;
            more = c->whead || c->trains || c->tp->staged;
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

/* conn_int: what conn.c, conn_hs.c, conn_read.c, conn_dial.c and conn_accept.c share (the
 * connection struct, its states, the table, the helpers); included by nothing else. */
#ifndef CN_CONN_INT_H
#define CN_CONN_INT_H

#include "dist/ackmod.h"
#include "dist/conn.h"
#include "dist/frame.h"
#include "dist/handshake.h"
#include "dist/otx.h"
#include "dist/rx.h"
#include "dist/rxmod.h"
#include "dist/transport.h"
#include "loop.h"
#include "proc/ident.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* A large message's fragments not yet on the write queue, and the frames its sender queued
 * after it (raw: they pass otx only when they join the write queue, in wire order). */
typedef struct conn_train {
    struct conn_train *next;
    uint64_t sender;
    cn_oframe *frags, *frags_tail;
    cn_oframe *held, *held_tail;
} conn_train;

/* C_NOKWAIT: our attempt got `nok`; the peer's own attempt is about to arrive and take over
 * this entry's queued frames (PROTOCOL.md §2.5), so the entry stays in the table a while. */
enum { C_DIALING, C_HANDSHAKE, C_NOKWAIT, C_UP, C_CLOSED };

struct cn_conn {
    cn_ev ev;
    int fd;           /* the socket, owned by tp; -1 once closed */
    cn_tp *tp;        /* TCP or TLS: nothing above read/write/close knows which */
    atomic_int state; /* written under olock, read anywhere; flags are set before C_UP */
    int role;
    uint32_t node;
    int has_node;
    atomic_int refs;
    cn_hs hs;
    cn_framer fr;
    cn_rx *rx;
    cn_otx *otx; /* send side: atom cache, fragments (I/O thread) */
    uint64_t flags;
    cn_buf hsout;
    /* Frames queued by any thread; moved to the write queue by the I/O thread. */
    pthread_mutex_t olock;
    cn_oframe *ohead, *otail;
    int flush_posted;
    /* The write side (wlock): the write queue, the send-side state in otx, the socket's
     * writes and last_write_ms. The I/O thread holds it to write; a thread that queues a
     * frame while the write queue is empty takes it to write the frame itself (direct). */
    pthread_mutex_t wlock;
    cn_oframe *whead, *wtail;
    size_t woff;
    size_t wbytes;                    /* bytes of the frames on whead (woff of them written) */
    conn_train *trains, *trains_tail; /* fed to whead round-robin (conn_write) */
    int direct; /* up on a transport any thread may write (TCP): not TLS, whose SSL object
                   the I/O thread also reads through without this lock */
    uint64_t last_write_ms;
    uint32_t armed; /* the epoll events asked for (I/O thread only) */
    cn_rxmod mod;   /* receive moderation (I/O thread only) */
    uint64_t created_ms, last_read_ms;
    _Atomic uint64_t bytes_in, bytes_out; /* written by the I/O thread, read by introspection */
    _Atomic uint64_t reads, coalesced;    /* read turns, and those that waited for a nap */
    _Atomic uint32_t longest_nap_us;      /* the longest nap moderation chose */
    _Atomic uint64_t ack_owed;            /* the first read since the last write (ns; conn_ack.c) */
    cn_ackmod ackmod;                     /* (I/O thread only) */
    _Atomic uint64_t quick_acks;          /* ACKs it sent */
    /* Back-pressure: bytes queued and not yet written (the frames' acct); senders waiting
     * for it to drain sleep on `unbusy` (blk), counted in nwait. */
    _Atomic size_t queued;
    atomic_int nwait;
    pthread_mutex_t blk;
    pthread_cond_t unbusy;
    int io_counted; /* (conn_tlock) its bytes moved to io_closed_in/out when it closed */
    char peer[1024];
    char addr[64];            /* accepted: the peer's address, for logs before its name is known */
    struct cn_conn *all_next; /* list of connections the I/O thread watches */
    int in_all;
    int name_pending; /* accepted: the peer's name is interned once the handshake is done */
};

/* Largest distribution handshake message accepted (what 2-byte TCP framing allows). */
#define HS_FRAME_MAX 65535

/* conn.c: a connection's life, shared with the other conn*.c files. */
extern cn_conn *conn_table[CN_MAX_NODES]; /* node index -> its connection (conn_tlock) */
extern pthread_mutex_t conn_tlock;
cn_conn *conn_new(int role); /* one reference, the caller's */
void conn_ref(cn_conn *c);
void conn_release(cn_conn *c);
void conn_set_state(cn_conn *c, int state); /* under olock */
void conn_set_nonblock(int fd);
cn_tp *conn_transport_open(int fd, int role, const char *peer_node); /* NULL: fd closed */
void conn_start_io(cn_conn *c, cn_tp *tp); /* the I/O thread watches c (its own reference) */
void conn_up(cn_conn *c);                  /* the handshake succeeded */
void conn_close_socket(cn_conn *c);        /* the entry may live on (C_NOKWAIT) */
void conn_close(cn_conn *c, const char *why);
void conn_arm(cn_conn *c);               /* ask epoll for what c now waits for */
void conn_unqueue(cn_conn *c, size_t n); /* n queued bytes left c's queue */
int conn_write(cn_conn *c);              /* -1: write error; wlock held once up */
void conn_write_queued(cn_conn *c);      /* I/O thread */

cn_conn *conn_first(void); /* the connections the I/O thread watches (all_next) */

/* conn_ack.c: a read owes the peer an ACK until something is written (I/O thread), and a
 * write pays it (wlock held); cn_conn_ack_sweep sends those owed too long in ack mode. */
void conn_ack_owed(cn_conn *c, uint64_t now_ns);
void conn_ack_paid(cn_conn *c);

/* conn_hs.c: the acceptor's handshake callback (cn_hs.decide; ctx is the connection). */
const char *conn_decide(void *ctx, const char *peer_name, uint64_t peer_flags);
/* One handshake message in; its outcome (up, refused, nok) applied to c. */
void conn_hs_frame(cn_conn *c, const uint8_t *p, size_t len);

/* conn_read.c: the I/O loop's callback for a connection's socket. */
void conn_events(void *ctx, uint32_t events);

/* conn_dial.c: dial c's peer on a dialler thread (I/O thread; takes the caller's reference). */
void conn_dial_post(void *arg);
/* conn_accept.c: stop listening (at shutdown). */
void conn_listen_close(void);

#endif

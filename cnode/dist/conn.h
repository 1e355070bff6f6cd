/* conn: one distribution connection (handshake, framing, ticks, write queue) and the table
 * of connections by peer name. Owned by the I/O thread; other threads only queue frames. */
#ifndef CN_CONN_H
#define CN_CONN_H

#include <stddef.h>
#include <stdint.h>

typedef struct cn_conn cn_conn;

/* An outgoing frame: control term and optional payload, both without version byte, both
 * malloc'd and owned by the frame. The frame format prefix is added at write time.
 * pl_head > 0: the last pl_head bytes of ctl are the start of the payload term (a reply's
 * `{Tag,` built next to the control term so that the reply body is sent as it is); ctl then
 * has one spare byte of capacity, for the 131 that 'p' frames put before the payload. */
typedef struct cn_oframe {
    struct cn_oframe *next;
    char *ctl;
    size_t ctl_len;
    size_t pl_head;
    char *pl;
    size_t pl_len;
    /* Fragments (dist/otx.c) point into one payload buffer: they do not free pl, and the
     * last of them frees pl_base, the buffer. NULL/0 for every other frame. */
    char *pl_base;
    uint8_t pl_borrowed;
    uint8_t pre[8]; /* length + format prefix, filled by the writer */
    uint8_t mid;    /* 131 before the payload in 'p' frames */
    int npre;
    size_t acct; /* bytes it counts in its connection's queue (cn_conn_enqueue) */
    /* The local process it is sent for (a key derived from its pid), 0 for none: the
     * fragments of large messages from different senders interleave on the wire, while
     * each sender's frames stay in the order it sent them (conn.c, trains). */
    uint64_t sender;
} cn_oframe;

/* Queue a frame for a node; if no connection exists, dial it (dial=1) or drop the frame.
 * Takes ownership of f. Returns 0, or -1 when the frame was dropped. */
int cn_conn_enqueue(uint32_t node, cn_oframe *f, int dial);

/* Back-pressure, as the BEAM's busy distribution port: a connection with more than
 * CN_CONN_BUSY bytes queued (not yet taken by the socket) is busy until it is back under
 * half of that. cn_conn_take_busy returns the node of a busy connection this thread queued
 * a frame on since the last call (0 if none) and forgets it; cn_conn_wait_unbusy blocks
 * until that connection is no longer busy or is gone (returns 0), or for at most
 * timeout_ms (returns 1: still busy). */
#define CN_CONN_BUSY ((size_t)1 << 20)
uint32_t cn_conn_take_busy(void);
int cn_conn_wait_unbusy(uint32_t node, int timeout_ms);
/* From the calling thread on: more = 1 says more work is queued behind what it does now, so
 * frames it queues are left to the I/O thread, which gathers many into one write; 0 (the
 * default) lets it write a frame itself when the connection is idle. */
void cn_conn_hint_more(int more);
/* Negotiated flags of the connection to node, or 0 if not up. */
uint64_t cn_conn_flags(uint32_t node);
/* Is a connection to node up? */
int cn_conn_is_up(uint32_t node);
/* Is there a connection to node, up or still being set up (dial, handshake)? */
int cn_conn_pending(uint32_t node);
/* Close the connection to node, if any (erlang:disconnect_node). 0, or -1 if none. */
int cn_conn_disconnect(uint32_t node);

/* Called by the I/O loop. */
int cn_conn_listen(uint16_t port, uint16_t *bound_port, char *err, size_t errlen);
void cn_conn_dial(uint32_t node); /* start an outgoing connection (any thread) */
void cn_conn_timers(uint64_t now_ms);
/* The loop's soft deadline (cn_loop_set_soft): ACK what a peer in ack mode sent and was not
 * answered (conn_ack.c, ackmod.h). */
void cn_conn_ack_sweep(uint64_t now_ns);
void cn_conn_close_all(void);

/* Number of up connections and their names (for logs / introspection). */
size_t cn_conn_list(uint32_t *nodes, size_t cap);

/* Kinds of up connection, for erlang:nodes/1: visible when both sides publish themselves
 * (DFLAG_PUBLISHED negotiated), else hidden. */
enum { CN_CONN_VISIBLE = 1, CN_CONN_HIDDEN = 2 };
/* Up connections of the kinds in the mask `kinds`: their node indexes, at most cap. */
size_t cn_conn_list_kind(uint32_t *nodes, size_t cap, int kinds);

/* One up connection as introspection (cnode:info/0) sees it. */
typedef struct cn_conn_stat {
    uint32_t node;
    uint64_t flags; /* negotiated */
    uint64_t bytes_in, bytes_out;
    uint64_t reads, coalesced_reads; /* read turns; those after a nap (receive moderation) */
    uint64_t quick_acks;             /* ACKs sent at once in ack mode (conn_ack.c) */
    uint32_t longest_nap_us;         /* the longest nap receive moderation chose */
    int outgoing;
} cn_conn_stat;
/* The up connections, at most cap; returns how many were written. */
size_t cn_conn_stats(cn_conn_stat *out, size_t cap);
/* Bytes read and written by every connection the node table has held since the start
 * (closed ones included), for erlang:statistics(io). */
void cn_conn_io_totals(uint64_t *in, uint64_t *out);

#endif

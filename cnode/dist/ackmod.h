/* ackmod: when to acknowledge what a peer sent and we did not answer, instead of leaving it
 * to the kernel's delayed ACK (pure logic; conn_ack.c does the rest). */
#ifndef CN_ACKMOD_H
#define CN_ACKMOD_H

#include <stdint.h>

/* Our kernel delays the ACK of data we do not answer by 40 ms or more while a connection
 * goes back and forth. A peer whose TCP holds its small writes until the last one is
 * acknowledged (Nagle: `-kernel dist_nodelay false`) stops for that long each time: it sends
 * again 40-300 ms after our last read, which found nothing to answer. CN_ACKMOD_STALLS such
 * gaps within CN_ACKMOD_WINDOW_NS put the connection in ack mode for CN_ACKMOD_MODE_NS: a
 * read left unanswered for CN_ACKMOD_OWED_NS is then acknowledged at once, and each such
 * ACK extends the mode. Outside the mode nothing is done: waiting with a deadline costs a
 * timer, about 3 us per call for a peer that calls one call at a time. */
#define CN_ACKMOD_OWED_NS 50000u          /* 50 us: costs a pure ACK at most */
#define CN_ACKMOD_STALL_MIN_NS 30000000u  /* 30 ms */
#define CN_ACKMOD_STALL_MAX_NS 400000000u /* 400 ms */
#define CN_ACKMOD_STALLS 3
#define CN_ACKMOD_WINDOW_NS 2000000000u /* 2 s */
#define CN_ACKMOD_MODE_NS 10000000000u  /* 10 s */

typedef struct cn_ackmod {
    uint64_t last_read; /* when the last read was (ns, 0: none yet) */
    uint64_t window;    /* when the stalls being counted began */
    unsigned stalls;
    uint64_t mode_until; /* ack mode until then (ns) */
} cn_ackmod;

/* A read at `now`; unanswered: the reads before it were not answered (nothing was written
 * since the first of them). Returns whether the connection is in ack mode. */
int cn_ackmod_read(cn_ackmod *m, uint64_t now, int unanswered);
/* An ACK was sent for a read left unanswered CN_ACKMOD_OWED_NS: the mode goes on. */
void cn_ackmod_acked(cn_ackmod *m, uint64_t now);
int cn_ackmod_on(const cn_ackmod *m, uint64_t now);

#endif

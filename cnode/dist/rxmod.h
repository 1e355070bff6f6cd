/* rxmod: receive moderation — while a peer streams messages, read its connection once every
 * nap instead of on every arrival, so that a read takes many messages (pure logic). */
#ifndef CN_RXMOD_H
#define CN_RXMOD_H

#include <stdint.h>

/* A connection reads on readiness. Once CN_RXMOD_ENTER reads in a row have come each within
 * a nap of the one before and brought CN_RXMOD_ENTER messages or more (frames with a
 * payload: sends, not monitors or ticks), its next read waits for the nap
 * (cn_rxmod_set_nap). It goes on napping while each read after a nap brings at least
 * CN_RXMOD_STAY messages, and every CN_RXMOD_JUDGE naps bring them at CN_RXMOD_KEEP_PCT % or
 * more of the message rate of the reads on readiness before: napping must not slow the peer
 * down. With many callers it does not (their calls pile up for one read); with a few
 * calling back to back it does, and the connection reads on readiness again. Naps that did
 * not pay are tried again only after a back-off, doubled each time up to
 * CN_RXMOD_BACKOFF_MAX_NS: a caller making one call at a time waits for a nap at most once
 * per back-off. */
#define CN_RXMOD_ENTER 4
#define CN_RXMOD_STAY 3
#define CN_RXMOD_JUDGE 8
#define CN_RXMOD_KEEP_PCT 90
#define CN_RXMOD_EARLY 2                   /* the first naps of a try must bring */
#define CN_RXMOD_EARLY_PCT 60              /* this much of the pace already */
#define CN_RXMOD_BACKOFF_MIN_NS 1000000u   /* 1 ms */
#define CN_RXMOD_BACKOFF_MAX_NS 100000000u /* 100 ms */

typedef struct cn_rxmod {
    int napping;
    unsigned streak;            /* reads in a row, each within a nap of the one before */
    uint64_t last;              /* when the last read was (ns, 0: none yet) */
    uint64_t since, msgs;       /* the streak's first read, and messages after it */
    uint64_t free_dt, free_n;   /* the pace on readiness: free_n messages per free_dt ns */
    int judged;                 /* the naps have kept the pace once already */
    unsigned naps;              /* naps since the pace was last judged, */
    uint64_t nap_n, nap_dt;     /* their messages and time */
    uint64_t next_try, backoff; /* no nap before next_try (ns) */
} cn_rxmod;

/* The nap in microseconds for every connection (--rx-coalesce-us; 0 turns moderation off). */
void cn_rxmod_set_nap(uint32_t us);
uint32_t cn_rxmod_nap(void);

/* A read at `now` (monotonic ns) brought `msgs` messages: returns how long to wait before
 * the next read (ns), 0 to read when bytes arrive. */
uint64_t cn_rxmod_after(cn_rxmod *m, unsigned msgs, uint64_t now);

#endif

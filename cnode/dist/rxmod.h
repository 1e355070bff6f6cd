/* rxmod: receive moderation — while a peer streams messages, read its connection once every
 * nap instead of on every arrival, so that a read takes many messages (pure logic). */
#ifndef CN_RXMOD_H
#define CN_RXMOD_H

#include <stdint.h>

/* A connection reads on readiness, and measures the pace of messages (frames with a payload:
 * sends, not monitors or ticks) its reads bring. Once it has measured for CN_RXMOD_MEASURE_NS
 * over CN_RXMOD_ENTER reads or more, without a quiet gap (CN_RXMOD_QUIET_NS and a nap), and
 * seen CN_RXMOD_ENTER messages or more, it tries napping: its next read waits for the nap
 * (cn_rxmod_set_nap), and so on. Napping must not slow the peer down. It goes on while each
 * read after a nap brings CN_RXMOD_STAY messages or more, and the naps keep
 * CN_RXMOD_EARLY_PCT % of the pace measured before over their first CN_RXMOD_EARLY_NS (the
 * peer settles into the new rhythm), then CN_RXMOD_KEEP_PCT % over every CN_RXMOD_JUDGE_NS.
 * With many callers they do (their calls pile up for one read); with a few calling back to
 * back they do not, and the connection reads on readiness again. A try that did not pay is
 * repeated only after a back-off, doubled each time up to CN_RXMOD_BACKOFF_MAX_NS: a caller
 * making one call at a time waits for a nap at most once per back-off. A try that pays ends
 * after CN_RXMOD_BACKOFF_MAX_NS all the same, so that the pace on readiness is measured
 * again. A try starts with the nap set by cn_rxmod_set_nap and doubles it at each judgement,
 * up to CN_RXMOD_NAP_MAX_NS, while the longer nap keeps CN_RXMOD_STEP_PCT % of the pace the
 * shorter one kept: a stream of casts does not wait for us, so longer naps only save reads,
 * while callers wait for their answers, and each doubling that slows them is taken back for
 * the rest of the try. The next try starts with the nap a paid try ended with, and after a
 * doubling was taken back the next CN_RXMOD_HOLD_TRIES tries keep it without doubling. */
#define CN_RXMOD_ENTER 4
#define CN_RXMOD_STAY 3
#define CN_RXMOD_MEASURE_NS 1000000u /* 1 ms */
#define CN_RXMOD_QUIET_NS 1000000u   /* 1 ms */
#define CN_RXMOD_EARLY_NS 1000000u   /* 1 ms */
#define CN_RXMOD_EARLY_PCT 60
#define CN_RXMOD_JUDGE_NS 5000000u /* 5 ms */
#define CN_RXMOD_KEEP_PCT 90
#define CN_RXMOD_BACKOFF_MIN_NS 1000000u   /* 1 ms */
#define CN_RXMOD_BACKOFF_MAX_NS 100000000u /* 100 ms */
#define CN_RXMOD_NAP_MAX_NS 600000u        /* below CN_RXMOD_QUIET_NS */
#define CN_RXMOD_STEP_PCT 95
#define CN_RXMOD_HOLD_TRIES 8

typedef struct cn_rxmod {
    int napping;
    unsigned streak;            /* reads since the pace is measured */
    uint64_t last;              /* when the last read was (ns, 0: none yet) */
    uint64_t since, msgs;       /* the pace on readiness: msgs since `since` */
    uint64_t free_dt, free_n;   /* what it was when the try began */
    uint64_t tried;             /* when the try began */
    int judged;                 /* the naps have kept the pace once already */
    uint64_t nap_n, nap_dt;     /* messages and time of the naps since the last judgement */
    uint64_t next_try, backoff; /* no try before next_try (ns) */
    uint64_t cur;               /* this try's nap (ns) */
    uint64_t lvl_n, lvl_dt;     /* the pace at the nap before the last doubling (0: none) */
    int capped;                 /* a doubling cost pace: this try's nap stays */
    uint64_t resume;            /* the nap the next try starts with (0: cn_rxmod_nap's) */
    unsigned hold;              /* tries left that keep their first nap */
} cn_rxmod;

/* The nap in microseconds for every connection (--rx-coalesce-us; 0 turns moderation off). */
void cn_rxmod_set_nap(uint32_t us);
uint32_t cn_rxmod_nap(void);

/* A read at `now` (monotonic ns) brought `msgs` messages: returns how long to wait before
 * the next read (ns), 0 to read when bytes arrive. */
uint64_t cn_rxmod_after(cn_rxmod *m, unsigned msgs, uint64_t now);

#endif

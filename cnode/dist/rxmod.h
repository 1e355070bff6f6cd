/* rxmod: receive moderation — while a peer streams messages, read its connection once every
 * nap instead of on every arrival, so that a read takes many messages (pure logic). */
#ifndef CN_RXMOD_H
#define CN_RXMOD_H

#include <stdint.h>

/* A connection reads on readiness until CN_RXMOD_ENTER reads in a row each bring two
 * messages or more (frames with a payload: sends, not monitors or ticks): the peer sends
 * faster than one message per round trip. Its reads then wait for the nap
 * (cn_rxmod_set_nap) and go on doing so while each brings at least CN_RXMOD_STAY messages;
 * one with fewer ends it, and the connection reads on readiness again. A caller making one
 * call at a time never waits: each of its reads brings one request at most. */
#define CN_RXMOD_ENTER 4
#define CN_RXMOD_STAY 4

typedef struct cn_rxmod {
    unsigned streak; /* reads in a row with two messages or more */
    int napping;
} cn_rxmod;

/* The nap in microseconds for every connection (--rx-coalesce-us; 0 turns moderation off). */
void cn_rxmod_set_nap(uint32_t us);
uint32_t cn_rxmod_nap(void);

/* A read brought `msgs` messages: returns how long to wait before the next read (ns), 0 to
 * read when bytes arrive. */
uint64_t cn_rxmod_after(cn_rxmod *m, unsigned msgs);

#endif

#include "dist/rxmod.h"

#include <stdatomic.h>

/* Reading on every arrival costs the sender too: on loopback (and with a fast peer) each of
 * its small writes then runs our socket's receive path and wakes us inside its own write
 * call. Waiting a little lets its writes pile up for one read. */
static _Atomic uint32_t nap_us = 150;

void cn_rxmod_set_nap(uint32_t us)
{
    atomic_store(&nap_us, us);
}

uint32_t cn_rxmod_nap(void)
{
    return atomic_load(&nap_us);
}

uint64_t cn_rxmod_after(cn_rxmod *m, unsigned msgs)
{
    uint64_t nap = (uint64_t)cn_rxmod_nap() * 1000u;
    if (nap == 0 || (m->napping && msgs < CN_RXMOD_STAY)) {
        m->napping = 0;
        m->streak = 0;
        return 0;
    }
    if (m->napping)
        return nap;
    m->streak = msgs >= 2 ? m->streak + 1 : 0;
    if (m->streak < CN_RXMOD_ENTER)
        return 0;
    m->napping = 1;
    return nap;
}

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

/* Stop napping; the next try waits for the back-off, which doubles. */
static uint64_t leave(cn_rxmod *m, uint64_t now)
{
    if (m->backoff < CN_RXMOD_BACKOFF_MIN_NS)
        m->backoff = CN_RXMOD_BACKOFF_MIN_NS;
    m->next_try = now + m->backoff;
    m->backoff =
        m->backoff * 2 > CN_RXMOD_BACKOFF_MAX_NS ? CN_RXMOD_BACKOFF_MAX_NS : m->backoff * 2;
    m->napping = 0;
    m->streak = 0;
    m->resume = 0;
    m->hold = 0;
    return 0;
}

/* Naps pay when they keep the peer's pace: msgs / dt >= pct % of free_n / free_dt
 * (products: the pace is measured over 100 ms at most, naps are judged over 6 s at most). */
static int keeps_pace(const cn_rxmod *m, uint64_t msgs, uint64_t dt, unsigned pct)
{
    return msgs * m->free_dt * 100u >= (uint64_t)pct * m->free_n * dt;
}

/* msgs / dt >= pct % of n / ndt */
static int pace_ge(uint64_t msgs, uint64_t dt, uint64_t n, uint64_t ndt, unsigned pct)
{
    return msgs * ndt * 100u >= (uint64_t)pct * n * dt;
}

/* Back to the shorter nap, for this try and the next few. */
static void take_back(cn_rxmod *m)
{
    m->cur /= 2;
    m->capped = 1;
    m->hold = CN_RXMOD_HOLD_TRIES;
}

/* A judgement the naps passed (they kept the free pace): double the nap while that keeps the
 * pace of the shorter one, else go back to it for the rest of the try. */
static void step(cn_rxmod *m)
{
    if (m->capped)
        return;
    if (m->lvl_dt && !pace_ge(m->nap_n, m->nap_dt, m->lvl_n, m->lvl_dt, CN_RXMOD_STEP_PCT)) {
        take_back(m);
        return;
    }
    if (m->cur * 2 > CN_RXMOD_NAP_MAX_NS) {
        m->capped = 1; /* as long as it gets */
        return;
    }
    m->lvl_n = m->nap_n;
    m->lvl_dt = m->nap_dt;
    m->cur *= 2;
}

uint64_t cn_rxmod_after(cn_rxmod *m, unsigned msgs, uint64_t now)
{
    uint64_t nap = (uint64_t)cn_rxmod_nap() * 1000u;
    uint64_t dt = m->last && now > m->last ? now - m->last : 0;
    if (dt > 1000000000u)
        dt = 1000000000u; /* a stalled loop: keeps the products below in range */
    m->last = now;
    if (nap == 0) {
        m->napping = 0;
        m->streak = 0;
        return 0;
    }
    if (m->napping) {
        if (msgs < CN_RXMOD_STAY)
            return leave(m, now);
        /* Judged over a span of time, not a number of naps: a peer on a busy machine is
         * late now and then, on readiness as in naps. */
        m->nap_n += msgs;
        m->nap_dt += dt;
        if (!m->judged && m->nap_dt >= CN_RXMOD_EARLY_NS &&
            !keeps_pace(m, m->nap_n, m->nap_dt, CN_RXMOD_EARLY_PCT))
            return leave(m, now);
        if (m->nap_dt < CN_RXMOD_JUDGE_NS)
            return m->cur;
        if (!keeps_pace(m, m->nap_n, m->nap_dt, CN_RXMOD_KEEP_PCT)) {
            if (m->cur <= nap)
                return leave(m, now);
            take_back(m); /* the doubling before cost it */
        } else {
            m->judged = 1;
            m->backoff = CN_RXMOD_BACKOFF_MIN_NS;
            step(m);
        }
        m->nap_n = m->nap_dt = 0;
        if (now - m->tried >= CN_RXMOD_BACKOFF_MAX_NS) { /* paid: measure the pace again */
            uint64_t cur = m->cur;
            unsigned hold = m->hold;
            leave(m, now);
            m->resume = cur;
            m->hold = hold;
            return 0;
        }
        return m->cur;
    }
    /* The first read after a quiet gap (or after napping) only starts the measurement: the
     * time before it says nothing of the peer's pace. */
    if (m->streak == 0 || dt == 0 || (dt > nap && dt > CN_RXMOD_QUIET_NS) ||
        now - m->since > CN_RXMOD_BACKOFF_MAX_NS) {
        m->streak = 1;
        m->since = now;
        m->msgs = 0;
        return 0;
    }
    m->streak++;
    if (m->msgs == 0 && msgs == 0)
        m->since = now; /* the pace is measured from the read before the first message */
    m->msgs += msgs;
    if (m->streak <= CN_RXMOD_ENTER || m->msgs < CN_RXMOD_ENTER ||
        now - m->since < CN_RXMOD_MEASURE_NS || now < m->next_try)
        return 0;
    m->free_dt = now - m->since;
    m->free_n = m->msgs;
    m->tried = now;
    m->nap_n = m->nap_dt = 0;
    m->judged = 0;
    m->napping = 1;
    m->cur = m->resume > nap && m->resume <= CN_RXMOD_NAP_MAX_NS ? m->resume : nap;
    m->lvl_n = m->lvl_dt = 0;
    m->capped = m->hold > 0;
    if (m->hold)
        m->hold--;
    return m->cur;
}

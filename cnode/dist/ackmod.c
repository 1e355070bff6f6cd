#include "dist/ackmod.h"

int cn_ackmod_on(const cn_ackmod *m, uint64_t now)
{
    return now < m->mode_until;
}

int cn_ackmod_read(cn_ackmod *m, uint64_t now, int unanswered)
{
    uint64_t gap = m->last_read && now > m->last_read ? now - m->last_read : 0;
    m->last_read = now;
    if (unanswered && gap >= CN_ACKMOD_STALL_MIN_NS && gap <= CN_ACKMOD_STALL_MAX_NS) {
        if (m->stalls == 0 || now - m->window > CN_ACKMOD_WINDOW_NS) {
            m->window = now;
            m->stalls = 0;
        }
        if (++m->stalls >= CN_ACKMOD_STALLS) {
            m->mode_until = now + CN_ACKMOD_MODE_NS;
            m->stalls = 0;
        }
    }
    return cn_ackmod_on(m, now);
}

void cn_ackmod_acked(cn_ackmod *m, uint64_t now)
{
    m->mode_until = now + CN_ACKMOD_MODE_NS;
}

/* conn_ack: acknowledging at once what a peer waits on (ackmod.h says when). A connection owes
 * an ACK from its first read after a write until the next write; in ack mode, an ACK owed
 * for CN_ACKMOD_OWED_NS is sent (TCP_QUICKACK) when the loop's soft deadline comes. */
#include "dist/conn_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static atomic_int owing; /* connections with ack_owed set */

void conn_ack_owed(cn_conn *c, uint64_t now)
{
    uint64_t since = atomic_load_explicit(&c->ack_owed, memory_order_relaxed);
    int on = cn_ackmod_read(&c->ackmod, now, since != 0);
    if (since == 0) { /* only this thread sets it; writers only clear it */
        atomic_store(&c->ack_owed, now);
        atomic_fetch_add(&owing, 1);
        since = now;
    }
    /* also when already owed: the mode may have begun with this read */
    if (on)
        cn_loop_soft_due(since + CN_ACKMOD_OWED_NS);
}

void conn_ack_paid(cn_conn *c)
{
    if (atomic_load_explicit(&c->ack_owed, memory_order_relaxed) == 0 ||
        atomic_exchange(&c->ack_owed, 0) == 0)
        return;
    /* the last one owing: no wait needs to end early any more */
    if (atomic_fetch_sub(&owing, 1) == 1)
        cn_loop_soft_clear();
}

void cn_conn_ack_sweep(uint64_t now)
{
    uint64_t next = 0;
    for (cn_conn *c = conn_first(); c; c = c->all_next) {
        uint64_t since = atomic_load(&c->ack_owed);
        if (since == 0 || !cn_ackmod_on(&c->ackmod, now))
            continue;
        if (now - since < CN_ACKMOD_OWED_NS) {
            if (next == 0 || since + CN_ACKMOD_OWED_NS < next)
                next = since + CN_ACKMOD_OWED_NS;
            continue;
        }
        pthread_mutex_lock(&c->wlock); /* the socket closes under it */
        if (c->fd >= 0 && atomic_load(&c->state) == C_UP) {
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        pthread_mutex_unlock(&c->wlock);
        conn_ack_paid(c);
        cn_ackmod_acked(&c->ackmod, now);
        atomic_fetch_add_explicit(&c->quick_acks, 1, memory_order_relaxed);
    }
    if (next)
        cn_loop_soft_due(next);
}

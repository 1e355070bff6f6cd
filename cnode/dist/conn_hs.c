/* conn_hs: a connection's distribution handshake outcome: the acceptor's answer (the node
 * table's say), taking over a superseded attempt's frames, and bringing the connection up. */
#include "dist/conn_int.h"

#include "dist/handshake.h"
#include "dist/transport.h"
#include "loop.h"
#include "node.h"
#include "proc/ident.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Move the frames queued on `from` (a superseded attempt) to the front of c's queue. */
static void take_frames(cn_conn *c, cn_conn *from)
{
    pthread_mutex_lock(&from->olock);
    cn_oframe *q = from->ohead, *qt = from->otail;
    from->ohead = from->otail = NULL;
    pthread_mutex_unlock(&from->olock);
    if (!q)
        return;
    size_t moved = 0;
    for (cn_oframe *f = q; f; f = f->next)
        moved += f->acct;
    pthread_mutex_lock(&c->olock);
    qt->next = c->ohead;
    c->ohead = q;
    if (!c->otail)
        c->otail = qt;
    atomic_fetch_add(&c->queued, moved);
    pthread_mutex_unlock(&c->olock);
    conn_unqueue(from, moved);
}

/* Acceptor: choose the status for a peer (PROTOCOL.md §2.5). */
const char *conn_decide(void *ctx, const char *peer_name, uint64_t peer_flags)
{
    (void)peer_flags;
    cn_conn *c = ctx;
    snprintf(c->peer, sizeof c->peer, "%s", peer_name);
    /* The transport may tie the peer's identity to the host it claims (TLS certificates). */
    const char *at = strchr(peer_name, '@');
    if (cn_tp_check_peer_host(c->tp, at ? at + 1 : peer_name) < 0) {
        cn_warn("connection from %s (%s) refused: %s", peer_name, c->addr, c->tp->err);
        return "not_allowed";
    }
    /* A name we have never seen is not added to the node table before the peer proves
     * it has the cookie: otherwise anyone could fill the table with made-up names. Such a
     * peer cannot be one we are dialling or connected to, so "ok" is the answer. */
    long idx = cn_node_lookup(peer_name);
    if (idx == 0)
        return "not_allowed"; /* our own name */
    if (idx < 0) {
        c->name_pending = 1;
        return "ok";
    }
    const char *status = "ok";
    cn_conn *old = NULL;
    pthread_mutex_lock(&conn_tlock);
    cn_conn *cur = conn_table[idx];
    if (!cur) {
        conn_table[idx] = c;
        conn_ref(c);
    } else if (cur->state == C_UP) {
        status = "alive"; /* replaced once this handshake completes */
    } else if (cur->role == CN_HS_INITIATOR) {
        if (strcmp(cn_node.name, peer_name) > 0) {
            status = "nok"; /* our own attempt wins */
        } else {
            status = "ok_simultaneous";
            old = cur; /* hand its queued frames over, then drop it */
            conn_table[idx] = c;
            conn_ref(c);
        }
    } else {
        status = "nok"; /* another incoming attempt from the same name is in progress */
    }
    pthread_mutex_unlock(&conn_tlock);
    c->node = (uint32_t)idx;
    c->has_node = 1;
    if (old) {
        take_frames(c, old);
        old->has_node = 0; /* it no longer owns the table slot */
        conn_close(old, "simultaneous connect: the peer's attempt won");
        conn_release(old); /* the table's reference it held */
    }
    return status;
}

/* After an `alive` handshake completes, the old connection goes. */
static void replace_old(cn_conn *c)
{
    pthread_mutex_lock(&conn_tlock);
    cn_conn *cur = conn_table[c->node];
    int swap = cur != c;
    if (swap) {
        conn_table[c->node] = c;
        conn_ref(c);
    }
    pthread_mutex_unlock(&conn_tlock);
    if (swap && cur) {
        cur->has_node = 0;
        conn_close(cur, "replaced by a new connection from the same node");
        conn_release(cur);
    }
}

/* An accepted peer with a new name finished the handshake: give it its table slot. If an
 * attempt of ours to that name started meanwhile, this connection takes over its frames. */
static int adopt_name(cn_conn *c)
{
    long idx = cn_node_intern(c->hs.peer_name, strlen(c->hs.peer_name));
    if (idx <= 0) {
        conn_close(c, "the node name table is full");
        return -1;
    }
    cn_conn *old = NULL;
    pthread_mutex_lock(&conn_tlock);
    cn_conn *cur = conn_table[idx];
    if (cur && cur->state == C_UP) {
        pthread_mutex_unlock(&conn_tlock);
        conn_close(c, "a connection from this node is already up");
        return -1;
    }
    old = cur;
    conn_table[idx] = c;
    conn_ref(c);
    pthread_mutex_unlock(&conn_tlock);
    c->node = (uint32_t)idx;
    c->has_node = 1;
    c->name_pending = 0;
    if (old) {
        take_frames(c, old);
        old->has_node = 0;
        conn_close(old, "the peer's own connection took over");
        conn_release(old);
    }
    return 0;
}

void conn_hs_frame(cn_conn *c, const uint8_t *p, size_t len)
{
    int r = cn_hs_input(&c->hs, p, len, &c->hsout);
    if (r == CN_HS_CONTINUE)
        return;
    if (r == CN_HS_FAIL) {
        if (c->role == CN_HS_INITIATOR && strcmp(c->hs.status, "nok") == 0) {
            cn_debug("%s answered nok: its own connection attempt wins", c->peer);
            conn_close_socket(c);
            conn_set_state(c, C_NOKWAIT);
            c->created_ms = cn_now_ms();
            return;
        }
        if (strstr(c->hs.err, "cookie"))
            cn_warn("handshake with %s refused: %s", c->peer[0] ? c->peer : "?", c->hs.err);
        conn_write(c); /* a final status message, if any (best effort) */
        conn_close(c, c->hs.err);
        return;
    }
    if (c->name_pending && adopt_name(c) < 0)
        return;
    if (c->role == CN_HS_ACCEPTOR && strcmp(c->hs.status, "alive") == 0)
        replace_old(c);
    conn_up(c);
}

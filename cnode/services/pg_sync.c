/* pg_sync: a scope's membership and its exchange with peer scopes (OTP pg's protocol):
 * local joins and leaves, discover / sync / join / leave, DOWNs and node up/down. */
#include "services/pg_int.h"

#include "dist/conn.h"
#include "node.h"
#include "proc/ident.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PEERS 4096

static void broadcast(scope *s, const ei_x_buff *msg)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && s->peers[i].synced_to)
            cn_send(s->self, &s->peers[i].pid, msg->buff, msg->index);
}

static void send_discover(scope *s, const cn_pid *to, const char *node)
{
    ei_x_buff x;
    if (ei_x_new(&x) < 0)
        return;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "discover");
    cn_encode_pid(&x, &s->me);
    if (to)
        cn_send(s->self, to, x.buff, x.index);
    else
        cn_send_name(s->self, s->e->name, node, x.buff, x.index);
    ei_x_free(&x);
}

static void send_sync(scope *s, peer_ent *p)
{
    ei_x_buff x;
    if (ei_x_new(&x) < 0)
        return;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "$gen_cast");
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "sync");
    cn_encode_pid(&x, &s->me);
    cn_pg_encode_sync(&x, &s->e->t, CN_PG_LOCAL); /* the only writer reads without a lock */
    cn_send(s->self, &p->pid, x.buff, x.index);
    ei_x_free(&x);
    p->synced_to = 1;
}

static peer_ent *peer_find(scope *s, const cn_pid *pid)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && cn_pid_eq(&s->peers[i].pid, pid))
            return &s->peers[i];
    return NULL;
}

static uint32_t origin_of(scope *s, peer_ent *p)
{
    return (uint32_t)(p - s->peers) + 1;
}

/* A new peer scope: monitored, so that its members go when it or its node goes. */
static peer_ent *peer_add(scope *s, const cn_pid *pid)
{
    if (pid->node == 0)
        return NULL; /* a scope is the only one of its name on its node */
    size_t slot = s->npeers;
    for (size_t i = 0; i < s->npeers; i++)
        if (!s->peers[i].used) {
            slot = i;
            break;
        }
    if (slot == s->npeers) {
        if (pg_grow((void **)&s->peers, &s->peercap, s->npeers + 1, sizeof *s->peers, MAX_PEERS) <
            0)
            return NULL;
        s->npeers++;
    }
    peer_ent *p = &s->peers[slot];
    memset(p, 0, sizeof *p);
    p->pid = *pid;
    p->used = 1;
    cn_monitor(s->self, pid, &p->mref);
    return p;
}

static void peer_drop(scope *s, peer_ent *p)
{
    pthread_rwlock_wrlock(&s->e->lock);
    cn_pg_table_drop_origin(&s->e->t, origin_of(s, p));
    pthread_rwlock_unlock(&s->e->lock);
    p->used = 0;
}

static local_ent *local_find(scope *s, const cn_pid *pid)
{
    for (size_t i = 0; i < s->nloc; i++)
        if (cn_pid_eq(&s->loc[i].pid, pid))
            return &s->loc[i];
    return NULL;
}

static int local_add(scope *s, const cn_pid *pid)
{
    local_ent *l = local_find(s, pid);
    if (!l) {
        if (pg_grow((void **)&s->loc, &s->loccap, s->nloc + 1, sizeof *s->loc, CN_PG_MAX_MEMBERS) <
            0)
            return -1;
        l = &s->loc[s->nloc++];
        l->pid = *pid;
        l->count = 0;
        cn_monitor(s->self, pid, &l->mref);
    }
    l->count++;
    return 0;
}

static void local_remove(scope *s, local_ent *l)
{
    *l = s->loc[--s->nloc];
}

/* Decode a pid or a list of pids into a fresh array (node: the index every pid must have).
 * Returns the count (*single set when it was a bare pid), or -1. */
static long parse_pids(const char *buf, int *idx, long node, cn_pid **out, int *single)
{
    int type, size;
    *out = NULL;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    *single = type == ERL_PID_EXT || type == ERL_NEW_PID_EXT;
    return cn_pg_parse_pids(buf, idx, out, node);
}

static void encode_pids(ei_x_buff *x, const cn_pid *p, long n, int single)
{
    if (single && n == 1) {
        cn_encode_pid(x, p);
        return;
    }
    if (n > 0)
        ei_x_encode_list_header(x, n);
    for (long i = 0; i < n; i++)
        cn_encode_pid(x, &p[i]);
    ei_x_encode_empty_list(x);
}

/* Group and PidOrPids of join_local / leave_local: the canonical group appended to key, the
 * pids in a fresh *p (the caller frees it). Returns their count, or -1 with the error reply
 * set (badarg: a group we cannot take; nolocal: not local pids). */
static long member_args(const char *buf, int *idx, ei_x_buff *key, cn_pid **p, int *single,
                        ei_x_buff *reply)
{
    *p = NULL;
    if (cn_pg_canon(buf, idx, key) < 0) {
        pg_error_reply(reply, "badarg");
        return -1;
    }
    long n = parse_pids(buf, idx, 0, p, single);
    if (n < 0)
        pg_error_reply(reply, "nolocal"); /* pg:join/leave check this before calling */
    return n;
}

/* {join_local, Group, PidOrPids}: local pids only (pg:join checks that before calling). */
int pg_call_join(scope *s, const char *buf, int *idx, ei_x_buff *reply)
{
    ei_x_buff key;
    cn_pid *p = NULL;
    int single, rc = CN_REPLY;
    if (ei_x_new(&key) < 0)
        return CN_REPLY;
    long n = member_args(buf, idx, &key, &p, &single, reply);
    if (n < 0)
        goto out;
    pthread_rwlock_wrlock(&s->e->lock);
    int ok = cn_pg_table_join(&s->e->t, key.buff, key.index, CN_PG_LOCAL, p, (size_t)n);
    pthread_rwlock_unlock(&s->e->lock);
    if (ok < 0) {
        pg_error_reply(reply, "system_limit");
        goto out;
    }
    for (long i = 0; i < n; i++)
        local_add(s, &p[i]);
    ei_x_buff m;
    if (n > 0 && ei_x_new(&m) == 0) {
        ei_x_encode_tuple_header(&m, 4);
        ei_x_encode_atom(&m, "join");
        cn_encode_pid(&m, &s->me);
        ei_x_append_buf(&m, key.buff, key.index);
        encode_pids(&m, p, n, single);
        broadcast(s, &m);
        ei_x_free(&m);
    }
    ei_x_encode_atom(reply, "ok");
out:
    free(p);
    ei_x_free(&key);
    return rc;
}

/* {leave_local, Group, PidOrPids} -> ok | not_joined. */
int pg_call_leave(scope *s, const char *buf, int *idx, ei_x_buff *reply)
{
    ei_x_buff key;
    cn_pid *p = NULL;
    int single;
    if (ei_x_new(&key) < 0)
        return CN_REPLY;
    long n = member_args(buf, idx, &key, &p, &single, reply), k = 0;
    if (n < 0)
        goto out;
    pthread_rwlock_wrlock(&s->e->lock);
    for (long i = 0; i < n; i++) /* keep those that were members, in place */
        if (cn_pg_table_leave(&s->e->t, key.buff, key.index, CN_PG_LOCAL, &p[i], 1))
            p[k++] = p[i];
    pthread_rwlock_unlock(&s->e->lock);
    if (k == 0) {
        ei_x_encode_atom(reply, "not_joined");
        goto out;
    }
    for (long i = 0; i < k; i++) {
        local_ent *l = local_find(s, &p[i]);
        if (l && --l->count == 0) {
            cn_demonitor(s->self, &l->mref);
            local_remove(s, l);
        }
    }
    ei_x_buff m;
    if (ei_x_new(&m) == 0) {
        ei_x_encode_tuple_header(&m, 4);
        ei_x_encode_atom(&m, "leave");
        cn_encode_pid(&m, &s->me);
        encode_pids(&m, p, k, single);
        ei_x_encode_list_header(&m, 1);
        ei_x_append_buf(&m, key.buff, key.index);
        ei_x_encode_empty_list(&m);
        broadcast(s, &m);
        ei_x_free(&m);
    }
    ei_x_encode_atom(reply, "ok");
out:
    free(p);
    ei_x_free(&key);
    return CN_REPLY;
}

/* {sync, Peer, Groups}: the peer's full local membership replaces what we had from it. */
int pg_scope_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    scope *s = state;
    s->self = self;
    int arity;
    cn_pid peer;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 3 ||
        !pg_atom_is(buf, idx, "sync") || cn_decode_pid(buf, idx, &peer) < 0)
        return CN_NOREPLY;
    peer_ent *p = peer_find(s, &peer);
    int fresh = !p;
    if (!p && !(p = peer_add(s, &peer)))
        return CN_NOREPLY;
    pthread_rwlock_wrlock(&s->e->lock);
    int rc = cn_pg_table_sync(&s->e->t, origin_of(s, p), peer.node, buf, idx);
    pthread_rwlock_unlock(&s->e->lock);
    if (rc < 0)
        cn_warn("pg %s: refused a malformed or oversized sync from %s", s->e->name,
                cn_node_name(peer.node));
    /* A peer we learnt of from its sync gets ours at once: joins and leaves we broadcast
     * later then always follow a sync, so it never sees a leave for a group it lacks. */
    if (fresh || !p->synced_to)
        send_sync(s, p);
    return CN_NOREPLY;
}

void pg_info_discover(scope *s, const char *buf, int *idx)
{
    cn_pid peer;
    if (cn_decode_pid(buf, idx, &peer) < 0 || peer.node == 0)
        return;
    peer_ent *p = peer_find(s, &peer);
    if (p) {
        send_sync(s, p);
        return;
    }
    if (!(p = peer_add(s, &peer)))
        return;
    send_sync(s, p);
    send_discover(s, &peer, NULL);
}

void pg_info_join(scope *s, const char *buf, int *idx)
{
    cn_pid peer, *pids = NULL;
    ei_x_buff key;
    int single;
    if (cn_decode_pid(buf, idx, &peer) < 0 || ei_x_new(&key) < 0)
        return;
    peer_ent *p = peer_find(s, &peer); /* from a peer that never synced: ignored, as OTP */
    long n;
    if (p && cn_pg_canon(buf, idx, &key) == 0 &&
        (n = parse_pids(buf, idx, (long)peer.node, &pids, &single)) >= 0) {
        pthread_rwlock_wrlock(&s->e->lock);
        cn_pg_table_join(&s->e->t, key.buff, key.index, origin_of(s, p), pids, (size_t)n);
        pthread_rwlock_unlock(&s->e->lock);
    }
    free(pids);
    ei_x_free(&key);
}

void pg_info_leave(scope *s, const char *buf, int *idx)
{
    cn_pid peer, *pids = NULL;
    int single, left = 0, type, size, r;
    if (cn_decode_pid(buf, idx, &peer) < 0)
        return;
    peer_ent *p = peer_find(s, &peer);
    long n;
    if (!p || (n = parse_pids(buf, idx, (long)peer.node, &pids, &single)) < 0 ||
        ei_get_type(buf, idx, &type, &size) < 0) {
        free(pids);
        return;
    }
    ei_x_buff key;
    if (ei_x_new(&key) == 0) {
        pthread_rwlock_wrlock(&s->e->lock);
        if (type == ERL_STRING_EXT) { /* [1, 2]: groups that are small integers */
            for (int i = 0; i < size; i++) {
                key.index = 0;
                ei_x_encode_long(&key, (unsigned char)buf[*idx + 3 + i]);
                cn_pg_table_leave(&s->e->t, key.buff, key.index, origin_of(s, p), pids, (size_t)n);
            }
        } else {
            while ((r = cn_pg_list_next(buf, idx, &left)) == 1) {
                key.index = 0;
                if (cn_pg_canon(buf, idx, &key) < 0)
                    break;
                cn_pg_table_leave(&s->e->t, key.buff, key.index, origin_of(s, p), pids, (size_t)n);
            }
        }
        pthread_rwlock_unlock(&s->e->lock);
        ei_x_free(&key);
    }
    free(pids);
}

void pg_info_down(scope *s, const char *buf, int *idx)
{
    cn_ref ref;
    cn_pid pid;
    if (cn_decode_ref(buf, idx, &ref) < 0 || !pg_atom_is(buf, idx, "process") ||
        cn_decode_pid(buf, idx, &pid) < 0)
        return;
    for (size_t i = 0; i < s->nloc; i++)
        if (cn_ref_eq(&s->loc[i].mref, &ref)) { /* a member died: it leaves every group */
            ei_x_buff m;
            if (ei_x_new(&m) < 0)
                return;
            ei_x_encode_tuple_header(&m, 4);
            ei_x_encode_atom(&m, "leave");
            cn_encode_pid(&m, &s->me);
            cn_encode_pid(&m, &pid);
            pthread_rwlock_wrlock(&s->e->lock);
            size_t k = cn_pg_table_drop_pid(&s->e->t, &pid, &m);
            pthread_rwlock_unlock(&s->e->lock);
            if (k > 0)
                broadcast(s, &m);
            ei_x_free(&m);
            local_remove(s, &s->loc[i]);
            return;
        }
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && cn_ref_eq(&s->peers[i].mref, &ref)) {
            peer_drop(s, &s->peers[i]);
            return;
        }
    watcher *w = pg_watcher_find(s, &ref);
    if (w)
        pg_watcher_remove(s, w);
}

/* Connected nodes to discover: visible ones, and hidden ones too when we are hidden (a
 * BEAM scope never discovers a hidden node: it must hear from us, PROTOCOL.md §8.3). */
static int node_kinds(void)
{
    return cn_node.hidden ? CN_CONN_VISIBLE | CN_CONN_HIDDEN : CN_CONN_VISIBLE;
}

/* Tell a node we exist, once per connection, as OTP's pg does at start and on every nodeup:
 * a scope that starts after the nodeup (so the peer's own discover found no one here) still
 * meets the peer's members. Nodes that run no such scope drop it, as for any unknown name. */
static void discover_node(scope *s, uint32_t node)
{
    for (size_t i = 0; i < s->ntold; i++)
        if (s->told[i] == node)
            return;
    if (pg_grow((void **)&s->told, &s->toldcap, s->ntold + 1, sizeof *s->told, MAX_PEERS) == 0)
        s->told[s->ntold++] = node;
    send_discover(s, NULL, cn_node_name(node));
}

void pg_discover_connected(scope *s)
{
    uint32_t nodes[1024];
    size_t k = cn_conn_list_kind(nodes, 1024, node_kinds());
    for (size_t i = 0; i < k; i++)
        discover_node(s, nodes[i]);
}

void pg_on_nodeup(scope *s, const char *node)
{
    long n = cn_node_intern(node, strlen(node));
    if (n > 0)
        discover_node(s, (uint32_t)n);
}

void pg_on_nodedown(scope *s, const char *node)
{
    long n = cn_node_intern(node, strlen(node));
    if (n <= 0)
        return;
    for (size_t i = 0; i < s->ntold; i++)
        if (s->told[i] == (uint32_t)n) {
            s->told[i] = s->told[--s->ntold];
            break;
        }
    /* the peer scope's DOWN (noconnection) says the same; whichever comes first acts. A
     * {nodedown, N} some peer sent by name while N is connected is no reason to drop N. */
    if (cn_conn_is_up((uint32_t)n))
        return;
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && s->peers[i].pid.node == (uint32_t)n)
            peer_drop(s, &s->peers[i]);
}

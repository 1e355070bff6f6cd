/* global: the global_name_server of this node, a full participant in :global's protocol
 * version 8 (PROTOCOL.md §7.2): the connect handshake with every visible node (init_connect,
 * init_connect_ack, cancel_connect), the lock table (set_lock/del_lock calls), the name
 * exchange after both partitions are locked (exchange, resolved), meshing (new_nodes,
 * in_sync) and prevent-overlapping-partitions (lost_connection, remove_connection).
 * The server never waits: the blocking lock calls of a connect run in the locker process
 * (global_locker.c), and those of name registration in the registering process. This file
 * holds the server's state and dispatch; the connect-time sync is in global_sync.c, the loss
 * of a node in global_down.c. */
#include "services/global_int.h"

#include "dist/conn.h"
#include "proc/ident.h"
#include "services/keeper.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* State read by other processes (locker, API, rpc functions) is under gl_mx. */
pthread_mutex_t gl_mx = PTHREAD_MUTEX_INITIALIZER;
static gt_locks locks;
gt_names gl_names;
gnode gl_nodes[MAX_NODES];
int gl_nnodes;
static int global_lock_down;
static cn_pid server_pid, locker_pid;
static int started;
/* Server only. */
long long gl_xcreation;
static unsigned long turn; /* bumped for every message the server handles */
/* A restarted server resumes on its first message (its own), once its name is registered. */
#define RESUME_TAG "$global_resume"
static int resume_pending;
static void resume(cn_proc *self);

/* ---- small helpers ------------------------------------------------------------------- */

int gl_node_cmp(const char *a, const char *b)
{
    return strcmp(a, b);
}

static const char *me(void)
{
    return cn_node_self_name();
}

/* An entry that holds nothing and was not used in this turn (names handed out in this turn
 * stay valid) may take a new node: the table stays bounded however many nodes come and go. */
static gnode *reusable(void)
{
    for (int i = 0; i < gl_nnodes; i++) {
        gnode *g = &gl_nodes[i];
        long n = cn_node_lookup(g->name);
        if (g->touched != turn && !g->known && !g->pending && !g->removing && !g->synced &&
            !g->node_mon && !g->resolver && !g->has_my_tag && !g->has_his_tag && !g->pre_connect &&
            !g->wait_lock && !g->save_ops && !g->lock_id && (n <= 0 || !cn_conn_is_up((uint32_t)n)))
            return g;
    }
    return NULL;
}

gnode *gl_node_get(const char *name, int create)
{
    if (!strchr(name, '@'))
        return NULL; /* not a node name */
    for (int i = 0; i < gl_nnodes; i++)
        if (strcmp(gl_nodes[i].name, name) == 0) {
            gl_nodes[i].touched = turn;
            return &gl_nodes[i];
        }
    if (!create || strcmp(name, me()) == 0)
        return NULL;
    char *n = strdup(name);
    gnode *g = !n ? NULL : gl_nnodes < MAX_NODES ? &gl_nodes[gl_nnodes] : reusable();
    if (!g) {
        free(n);
        cn_warn("global: node table full, %s not tracked", name);
        return NULL;
    }
    pthread_mutex_lock(&gl_mx);
    if (g == &gl_nodes[gl_nnodes])
        gl_nnodes++;
    else
        free(g->name);
    memset(g, 0, sizeof *g);
    g->name = n;
    g->touched = turn;
    pthread_mutex_unlock(&gl_mx);
    return g;
}

void gl_reset_node_state(gnode *g)
{
    g->wait_lock = 0;
    gm_list_clear(&g->exch);
    g->save_ops = 0;
    gm_list_clear(&g->ops);
    gm_list_clear(&g->hres);
    gm_list_clear(&g->hknown);
    g->pre_connect = 0;
    g->prot_vsn = 0;
    g->has_my_tag = g->has_his_tag = 0;
    free(g->lock_id);
    g->lock_id = NULL;
    g->lock_id_len = 0;
}

/* Send to global_name_server on node: as a cast ({'$gen_cast', Msg}) or plain; with
 * noconnect, only over a connection that is up (OTP's "volatile" sends). */
void gl_gns_send(cn_proc *self, const char *node, const ei_x_buff *msg, int cast, int noconnect)
{
    if (noconnect) {
        long n = cn_node_lookup(node);
        if (n <= 0 || !cn_conn_is_up((uint32_t)n))
            return;
    }
    if (!cast) {
        cn_send_name(self, GL_SERVER, node, msg->buff, msg->index);
        return;
    }
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "$gen_cast");
    ei_x_append_buf(&x, msg->buff, msg->index);
    cn_send_name(self, GL_SERVER, node, x.buff, x.index);
    ei_x_free(&x);
}

void gl_to_locker(cn_proc *self, ei_x_buff *x)
{
    cn_send(self, &locker_pid, x->buff, x->index);
}

/* ---- the name table, with its monitors -------------------------------------------------- */

static void delete_name(cn_proc *self, const char *name, int len)
{
    cn_ref ref;
    pthread_mutex_lock(&gl_mx);
    int had = gt_names_remove(&gl_names, name, len, NULL, &ref);
    pthread_mutex_unlock(&gl_mx);
    if (had)
        cn_demonitor(self, &ref);
}

/* Does the `global` lock still belong to the registration (from_pid) or the sync (lock_req:
 * the requester id of the session's lock)? OTP's lock_still_set. */
static int lock_still_set(const cn_pid *from_pid, const char *lock_req, int lock_req_len)
{
    static const char global_atom[] = {119, 6, 'g', 'l', 'o', 'b', 'a', 'l'};
    int r;
    pthread_mutex_lock(&gl_mx);
    gt_lock *l = gt_locks_find(&locks, global_atom, sizeof global_atom);
    if (!l)
        r = !global_lock_down;
    else if (from_pid)
        r = gt_locks_holds(&locks, global_atom, sizeof global_atom, from_pid);
    else
        r = lock_req && l->req_len == lock_req_len &&
            memcmp(l->req, lock_req, (size_t)lock_req_len) == 0;
    pthread_mutex_unlock(&gl_mx);
    return r;
}

static void ins_name(cn_proc *self, const char *name, int len, const cn_pid *pid,
                     const char *method, int mlen, const cn_pid *from_pid, const char *lock_req,
                     int lock_req_len)
{
    delete_name(self, name, len);
    cn_ref ref;
    if (cn_monitor(self, pid, &ref) < 0) {
        cn_warn("global: cannot monitor a registered pid; name not inserted");
        return;
    }
    pthread_mutex_lock(&gl_mx);
    int rc = gt_names_insert(&gl_names, name, len, pid, method, mlen, &ref);
    pthread_mutex_unlock(&gl_mx);
    if (rc < 0) {
        cn_demonitor(self, &ref);
        cn_warn("global: name table full or name too large; name not inserted");
        return;
    }
    if (!lock_still_set(from_pid, lock_req, lock_req_len))
        delete_name(self, name, len);
}

/* The requester id inside a {global, ReqId} lock id. */
static int lock_req_of(const char *id, int len, const char **req, int *req_len)
{
    int i = 0, ar;
    if (!id || ei_decode_tuple_header(id, &i, &ar) < 0 || ar != 2 || ei_skip_term(id, &i) < 0)
        return -1;
    *req = id + i;
    *req_len = len - i;
    return 0;
}

/* Apply {insert, {Name, Pid, Method}} and {delete, Name} operations (inserts first, as OTP).
 * lock_id: the session's lock id ({global, ReqId}) from the node that sent them. */
void gl_do_ops(cn_proc *self, const gm_list *ops, const char *lock_id, int lock_id_len)
{
    const char *req = NULL;
    int req_len = 0;
    lock_req_of(lock_id, lock_id_len, &req, &req_len);
    for (int pass = 0; pass < 2; pass++) {
        int idx = 0;
        for (int k = 0; k < ops->n; k++) {
            int start = idx, kind, nl, ml;
            const char *nm, *meth;
            cn_pid pid;
            if (ei_skip_term(ops->b, &idx) < 0)
                return;
            if (gm_op(ops->b, start, &kind, &nm, &nl, &pid, &meth, &ml) < 0) {
                cn_warn("global: malformed name operation ignored");
                continue;
            }
            if (kind == GM_INSERT && pass == 0)
                ins_name(self, nm, nl, &pid, meth, ml, NULL, req, req_len);
            else if (kind == GM_DELETE && pass == 1)
                delete_name(self, nm, nl);
        }
    }
}

/* ---- the server process ---------------------------------------------------------------- */

/* {init_connect, {Vsn, HisTag, ...}, Node, {locker, _, _, HisTheLocker}} */
static void on_init_connect(cn_proc *self, const char *buf, int *idx, int ar)
{
    gm_init_connect m;
    if (gm_read_init_connect(buf, idx, ar, &m) < 0) {
        cn_warn("global: malformed init_connect ignored");
        return;
    }
    if (m.his_vsn < 5) {
        cn_warn("global: %s speaks protocol version %ld, below 5: ignored", m.node, m.his_vsn);
        return;
    }
    gnode *g = gl_node_get(m.node, 1);
    if (!g)
        return;
    int vsn = m.his_vsn > GL_VSN ? GL_VSN : (int)m.his_vsn;
    gl_init_connect(self, g, vsn, (int)m.his_vsn, m.his_tag, &m.locker);
}

static int decode_tag(const char *buf, int *idx, long long *tag)
{
    return ei_decode_longlong(buf, idx, tag);
}

static int my_tag_is(gnode *g, long long tag)
{
    return g && g->has_my_tag && g->my_tag == tag;
}

/* gen_server:call(global_name_server, get_known | get_synced): the node names, as a list. */
static void encode_nodes(ei_x_buff *reply, int synced)
{
    int n = 0;
    for (int i = 0; i < gl_nnodes; i++)
        n += synced ? gl_nodes[i].synced : gl_nodes[i].known;
    if (n) {
        ei_x_encode_list_header(reply, n);
        for (int i = 0; i < gl_nnodes; i++)
            if (synced ? gl_nodes[i].synced : gl_nodes[i].known)
                ei_x_encode_atom(reply, gl_nodes[i].name);
    }
    ei_x_encode_empty_list(reply);
}
static int gl_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    turn++;
    (void)state;
    int ar;
    char tag[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    int start = *idx;
    if (ei_decode_tuple_header(buf, idx, &ar) < 0 || ar < 1 || ei_decode_atom(buf, idx, tag) < 0)
        goto bad;
    if (!strcmp(tag, "init_connect")) {
        on_init_connect(self, buf, idx, ar);
    } else if (!strcmp(tag, "lock_is_set") && ar == 4) { /* from our locker */
        long long t;
        const char *lid;
        int ll;
        if (ei_decode_atom(buf, idx, node) < 0 || decode_tag(buf, idx, &t) < 0 ||
            gm_span(buf, idx, &lid, &ll) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 0);
        if (my_tag_is(g, t))
            gl_lock_is_set(self, g, lid, ll);
        else if (g)
            gl_cancel_locker(self, g, 1, t);
    } else if (!strcmp(tag, "exchange")) {
        long long t;
        gm_list his;
        if (gm_read_exchange(buf, idx, ar, node, &his, &t) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 0);
        if (my_tag_is(g, t))
            gl_exchange(self, g, &his);
        else if (g)
            gl_cancel_locker(self, g, 1, t);
        gm_list_clear(&his);
    } else if (!strcmp(tag, "exchange_ops") && ar == 5) { /* from our resolver */
        long long t;
        gm_list ops, res;
        if (ei_decode_atom(buf, idx, node) < 0 || ei_decode_longlong(buf, idx, &t) < 0 ||
            gm_list_take(buf, idx, &ops) < 0)
            goto bad;
        if (gm_list_take(buf, idx, &res) < 0) {
            gm_list_clear(&ops);
            goto bad;
        }
        gnode *g = gl_node_get(node, 0);
        if (my_tag_is(g, t)) {
            gl_exchange_ops(self, g, &ops, &res);
        } else if (g) {
            gl_cancel_locker(self, g, 1, t);
        }
        gm_list_clear(&ops);
        gm_list_clear(&res);
    } else if (!strcmp(tag, "resolved")) {
        long long t;
        gm_list hres, hknown;
        if (gm_read_resolved(buf, idx, ar, node, &hres, &hknown, &t) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 0);
        if (my_tag_is(g, t)) {
            gm_list_clear(&g->hres);
            gm_list_clear(&g->hknown);
            g->hres = hres;
            g->hknown = hknown;
            if (g->save_ops == SO_OPS)
                gl_resolved(self, g);
            else
                g->save_ops = SO_RESOLVED;
        } else {
            gm_list_clear(&hres);
            gm_list_clear(&hknown);
            if (g)
                gl_cancel_locker(self, g, 1, t);
        }
    } else if (!strcmp(tag, "new_nodes")) {
        gm_list ops, nn;
        const char *lid;
        int lid_len;
        if (gm_read_new_nodes(buf, idx, ar, node, &ops, &nn, &lid, &lid_len) < 0)
            goto bad;
        char *added[MAX_NODES];
        int na = gl_add_to_known(&nn, added, MAX_NODES);
        gl_sync_others(self, added, na);
        gl_do_ops(self, &ops, lid, lid_len);
        gl_locker_add_known(self, added, na);
        gm_list_clear(&ops);
        gm_list_clear(&nn);
    } else if (!strcmp(tag, "in_sync") && ar == 3) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 1);
        if (!g)
            return CN_NOREPLY;
        g->synced = 1;
        g->pending = 0;
        gl_cancel_locker(self, g, g->has_my_tag, g->my_tag);
        gl_reset_node_state(g);
    } else if (!strcmp(tag, "lock_set") && (ar == 5 || ar == 4)) {
        cn_pid p;
        int b;
        long long t = 0;
        if (cn_decode_pid(buf, idx, &p) < 0 || ei_decode_boolean(buf, idx, &b) < 0 ||
            ei_skip_term(buf, idx) < 0 || (ar == 5 && decode_tag(buf, idx, &t) < 0))
            goto bad;
        const char *pn = cn_node_name(p.node);
        gnode *g = pn ? gl_node_get(pn, 0) : NULL;
        if (ar == 4 || my_tag_is(g, t)) {
            ei_x_buff x;
            ei_x_new(&x);
            ei_x_append_buf(&x, buf + start, *idx - start);
            gl_to_locker(self, &x);
            ei_x_free(&x);
        }
    } else if (!strcmp(tag, "async_del_name") || !strcmp(tag, "async_del_lock")) {
        /* old protocol: the DOWN of our monitor does the work */
    } else {
        goto bad;
    }
    return CN_NOREPLY;
bad:
    cn_warn("global: unexpected or malformed cast ignored");
    return CN_NOREPLY;
}

/* {set_lock, {ResourceId, ReqId}} and {del_lock, ...}: the lock table, for pid. */
static int set_lock(cn_proc *self, const char *id, int len, const cn_pid *pid)
{
    const char *res, *req;
    int rl, ql;
    if (gm_lock_id(id, len, &res, &rl, &req, &ql) < 0)
        return -1;
    pthread_mutex_lock(&gl_mx);
    int can = gt_locks_can_set(&locks, res, rl, req, ql);
    int holds = can && gt_locks_holds(&locks, res, rl, pid);
    pthread_mutex_unlock(&gl_mx);
    if (!can)
        return 0;
    if (holds)
        return 1;
    cn_ref ref;
    if (cn_monitor(self, pid, &ref) < 0)
        return 0;
    pthread_mutex_lock(&gl_mx);
    int rc = gt_locks_add(&locks, res, rl, req, ql, pid, &ref);
    pthread_mutex_unlock(&gl_mx);
    if (rc < 0) {
        cn_demonitor(self, &ref);
        cn_warn("global: lock table full: set_lock refused");
        return 0;
    }
    return 1;
}

static void del_lock(cn_proc *self, const char *id, int len, const cn_pid *pid)
{
    int gone;
    const char *res, *req;
    int rl, ql;
    cn_ref ref;
    if (gm_lock_id(id, len, &res, &rl, &req, &ql) < 0)
        return;
    pthread_mutex_lock(&gl_mx);
    int had = gt_locks_del(&locks, res, rl, req, ql, pid, &ref, &gone);
    if (had && gone && gt_is_global_atom(res, rl))
        global_lock_down = 0;
    pthread_mutex_unlock(&gl_mx);
    if (had)
        cn_demonitor(self, &ref);
}

static int gl_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                   ei_x_buff *reply)
{
    turn++;
    (void)state;
    int ar;
    char tag[MAXATOMLEN_UTF8];
    const char *a, *m;
    int al, ml;
    cn_pid pid;
    int t = *idx;
    if (ei_decode_atom(buf, &t, tag) == 0) {
        if (!strcmp(tag, "get_known") || !strcmp(tag, "get_synced")) {
            encode_nodes(reply, tag[4] == 's');
            return CN_REPLY;
        }
        if (!strcmp(tag, "get_protocol_version")) {
            ei_x_encode_long(reply, GL_VSN);
            return CN_REPLY;
        }
        goto bad;
    }
    if (ei_decode_tuple_header(buf, idx, &ar) < 0 || ar < 2 || ei_decode_atom(buf, idx, tag) < 0)
        goto bad;
    if (!strcmp(tag, "set_lock") && ar == 2) {
        if (gm_span(buf, idx, &a, &al) < 0)
            goto bad;
        int r = set_lock(self, a, al, &from->pid);
        if (r < 0)
            goto bad;
        ei_x_encode_boolean(reply, r);
        return CN_REPLY;
    }
    if (!strcmp(tag, "del_lock") && ar == 2) {
        if (gm_span(buf, idx, &a, &al) < 0)
            goto bad;
        del_lock(self, a, al, &from->pid);
        ei_x_encode_boolean(reply, 1);
        return CN_REPLY;
    }
    if ((!strcmp(tag, "register") && ar == 4) || (!strcmp(tag, "register_ext") && ar == 5)) {
        if (gm_span(buf, idx, &a, &al) < 0 || cn_decode_pid(buf, idx, &pid) < 0 ||
            gm_span(buf, idx, &m, &ml) < 0)
            goto bad;
        ins_name(self, a, al, &pid, m, ml, &from->pid, NULL, 0);
        ei_x_encode_atom(reply, "yes");
        return CN_REPLY;
    }
    if (!strcmp(tag, "unregister") && ar == 2) {
        if (gm_span(buf, idx, &a, &al) < 0)
            goto bad;
        delete_name(self, a, al);
        ei_x_encode_atom(reply, "ok");
        return CN_REPLY;
    }
bad:
    cn_warn("global: unexpected or malformed call ignored");
    return CN_NOREPLY; /* as global_name_server: no answer */
}

static int gl_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    turn++;
    (void)state;
    int ar;
    char tag[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8], node2[MAXATOMLEN_UTF8];
    int start = *idx;
    if (ei_decode_tuple_header(buf, idx, &ar) < 0 || ar < 1 || ei_decode_atom(buf, idx, tag) < 0)
        goto bad;
    if (ar == 1 && !strcmp(tag, RESUME_TAG) && resume_pending) {
        resume_pending = 0;
        resume(self);
    } else if (ar < 2) {
        goto bad;
    } else if (!strcmp(tag, "nodeup") && ar == 2) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 1);
        if (g)
            gl_handle_nodeup(self, g);
    } else if (!strcmp(tag, "nodedown") && ar == 2) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 0);
        if (g)
            g->node_mon = 0; /* a monitor_node fires once */
        /* the same drop may be reported twice (monitor_node and monitor_nodes) */
        if (g && (g->known || g->pending || g->resolver || g->has_my_tag))
            gl_handle_nodedown(self, g, ND_DISCONNECTED);
    } else if (!strcmp(tag, "DOWN") && ar == 5) {
        cn_ref ref;
        int ended;
        if (cn_decode_ref(buf, idx, &ref) < 0)
            goto bad;
        pthread_mutex_lock(&gl_mx);
        if (gt_locks_drop_ref(&locks, &ref, &ended) && ended)
            global_lock_down = 1;
        gt_name *e = gt_names_find_ref(&gl_names, &ref);
        if (e)
            gt_names_remove(&gl_names, e->name, e->name_len, NULL, NULL);
        pthread_mutex_unlock(&gl_mx);
    } else if (!strcmp(tag, "init_connect_ack") && ar == 4) {
        long long his_my, his_his;
        if (ei_decode_atom(buf, idx, node) < 0 || decode_tag(buf, idx, &his_my) < 0 ||
            decode_tag(buf, idx, &his_his) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 1);
        if (!g)
            return CN_NOREPLY;
        if (!(my_tag_is(g, his_my) && g->has_his_tag && g->his_tag == his_his)) {
            cn_info("global: connect with %s out of sync: restarting it", node);
            gl_send_cancel_connect_message(self, node, his_his);
            gl_restart_connect(self, g, g->has_my_tag, g->my_tag);
        }
    } else if (!strcmp(tag, "cancel_connect") && ar == 3) {
        long long t;
        if (ei_decode_atom(buf, idx, node) < 0 || decode_tag(buf, idx, &t) < 0)
            goto bad;
        gnode *g = gl_node_get(node, 0);
        if (my_tag_is(g, t)) {
            gl_cancel_locker(self, g, 1, t);
            gl_reset_node_state(g);
            g->pending = 0;
            gl_restart_connect(self, g, 1, t);
        }
    } else if (!strcmp(tag, "lost_connection") && ar == 5) {
        long long xcre, opid;
        if (ei_decode_atom(buf, idx, node) < 0 || ei_decode_longlong(buf, idx, &xcre) < 0 ||
            ei_decode_longlong(buf, idx, &opid) < 0 || ei_decode_atom(buf, idx, node2) < 0)
            goto bad;
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_append_buf(&x, buf + start, *idx - start);
        gl_lost_connection(self, node, xcre, opid, node2, &x);
        ei_x_free(&x);
    } else if (!strcmp(tag, "remove_connection") && ar == 2) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gl_remove_connection(self, node);
    } else {
        goto bad;
    }
    return CN_NOREPLY;
bad:
    cn_warn("global: unexpected or malformed message ignored");
    return CN_NOREPLY;
}

/* A fresh server taking over from one that exited (the keeper started it again). The tables
 * outlived the old process (they are this file's), so the node stays in sync with the cluster
 * (a BEAM peer would not sync again without a new connection); what died with it are its
 * monitors (of registered pids, lock holders, nodes), its locker, and the messages sent to it
 * meanwhile: the monitors are taken again (a pid that died meanwhile gives DOWN at once), the
 * fresh locker learns the known nodes, connect sessions under way start over, and nodes that
 * came or went meanwhile are taken as nodeup / nodedown now. */
static void resume(cn_proc *self)
{
    turn++;
    for (int i = 0; i < gl_names.n; i++) { /* only this process writes the tables */
        cn_ref r;
        if (cn_monitor(self, &gl_names.v[i].pid, &r) < 0)
            continue;
        pthread_mutex_lock(&gl_mx);
        gl_names.v[i].ref = r;
        pthread_mutex_unlock(&gl_mx);
    }
    for (int i = 0; i < locks.n; i++)
        for (int k = 0; k < locks.v[i].nh; k++) {
            cn_ref r;
            if (cn_monitor(self, &locks.v[i].h[k].pid, &r) < 0)
                continue;
            pthread_mutex_lock(&gl_mx);
            locks.v[i].h[k].ref = r;
            pthread_mutex_unlock(&gl_mx);
        }
    int nknown;
    char **known = gl_known_nodes(&nknown);
    gl_locker_add_known(self, known, nknown);
    gl_strv_free(known, nknown);
    int nn = gl_nnodes;
    for (int i = 0; i < nn; i++) {
        gnode *g = &gl_nodes[i];
        long n = cn_node_lookup(g->name);
        int up = n > 0 && cn_conn_is_up((uint32_t)n);
        g->node_mon = 0;
        if (!up) {
            if (g->known || g->pending || g->resolver || g->has_my_tag)
                gl_handle_nodedown(self, g, ND_DISCONNECTED);
        } else if (!g->known && (g->pending || g->resolver || g->has_my_tag || g->has_his_tag ||
                                 g->pre_connect || g->wait_lock || g->save_ops || g->lock_id)) {
            long long t = g->has_my_tag ? g->my_tag : 0;
            gl_restart_connect(self, g, g->has_my_tag, t);
            if (!g->resolver)
                gl_handle_nodeup(self, g);
        }
    }
    uint32_t up[MAX_NODES];
    size_t n = cn_conn_list_kind(up, MAX_NODES, CN_CONN_VISIBLE);
    for (size_t i = 0; i < n; i++) {
        const char *name = cn_node_name(up[i]);
        gnode *g = name ? gl_node_get(name, 1) : NULL;
        if (g && !g->known && !g->resolver)
            gl_handle_nodeup(self, g);
    }
    cn_warn("global: %s restarted with %d names and %d known nodes kept", GL_SERVER, gl_names.n,
            nknown);
}

static int gl_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)buf;
    (void)idx;
    *state = NULL;
    server_pid = cn_self(self);
    if (cn_monitor_nodes(self, 1, CN_NODES_VISIBLE) < 0)
        return -1;
    /* the locker is linked, as OTP's: when either goes, so does the other, and both start
     * again together */
    cn_pid lk;
    if (gl_locker_start(&lk) < 0)
        return -1;
    locker_pid = lk;
    cn_link(self, &lk);
    if (started) { /* after init: messages to the name are dropped until it is registered */
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_tuple_header(&x, 1);
        ei_x_encode_atom(&x, RESUME_TAG);
        resume_pending = 1;
        if (cn_send(self, &server_pid, x.buff, x.index) < 0)
            resume_pending = 0;
        ei_x_free(&x);
    }
    return 0;
}

static const cn_worker global_server = {
    .module = "global",
    .init = gl_init,
    .handle_call = gl_call,
    .handle_cast = gl_cast,
    .handle_info = gl_info,
};

static int keep_start(const char *name, void *arg)
{
    (void)arg;
    return cn_spawn_worker(&global_server, NULL, 0, name, NULL);
}

int cn_global_start(void)
{
    if (started)
        return 0;
    gl_xcreation =
        ((long long)time(NULL) << 16) ^ (long long)getpid() ^ (long long)cn_ident_creation();
    if (gl_xcreation < 0)
        gl_xcreation = -gl_xcreation;
    if (cn_spawn_worker(&global_server, NULL, 0, GL_SERVER, NULL) < 0) {
        cn_warn("global: cannot start %s", GL_SERVER);
        return -1;
    }
    started = 1;
    if (cn_keep(GL_SERVER, keep_start, NULL, NULL) < 0)
        cn_warn("global: %s will not be restarted if it exits", GL_SERVER);
    return cn_global_exports();
}

/* ---- shared state, for the locker and the API ------------------------------------------ */

int gl_can_set_lock(const char *id, int len)
{
    const char *res, *req;
    int rl, ql;
    if (gm_lock_id(id, len, &res, &rl, &req, &ql) < 0)
        return 0;
    pthread_mutex_lock(&gl_mx);
    int r = gt_locks_can_set(&locks, res, rl, req, ql);
    pthread_mutex_unlock(&gl_mx);
    return r;
}

int gl_global_lock_is_set(void)
{
    static const char global_atom[] = {119, 6, 'g', 'l', 'o', 'b', 'a', 'l'};
    pthread_mutex_lock(&gl_mx);
    int r = gt_locks_find(&locks, global_atom, sizeof global_atom) != NULL;
    pthread_mutex_unlock(&gl_mx);
    return r;
}

char **gl_known_nodes(int *n)
{
    pthread_mutex_lock(&gl_mx);
    int k = 0;
    char **v = calloc((size_t)gl_nnodes + 1, sizeof *v);
    for (int i = 0; v && i < gl_nnodes; i++)
        if (gl_nodes[i].known && (v[k] = strdup(gl_nodes[i].name)) != NULL)
            k++;
    pthread_mutex_unlock(&gl_mx);
    *n = k;
    return v;
}

void gl_strv_free(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int gl_where(const char *name, int len, cn_pid *out)
{
    pthread_mutex_lock(&gl_mx);
    gt_name *e = gt_names_find(&gl_names, name, len);
    if (e)
        *out = e->pid;
    pthread_mutex_unlock(&gl_mx);
    return e ? 0 : -1;
}

void gl_registered_names(ei_x_buff *x)
{
    pthread_mutex_lock(&gl_mx);
    if (gl_names.n)
        ei_x_encode_list_header(x, gl_names.n);
    for (int i = 0; i < gl_names.n; i++)
        ei_x_append_buf(x, gl_names.v[i].name, gl_names.v[i].name_len);
    pthread_mutex_unlock(&gl_mx);
    ei_x_encode_empty_list(x);
}

int gl_pid_has_name(const cn_pid *pid)
{
    pthread_mutex_lock(&gl_mx);
    int r = gt_names_find_pid(&gl_names, pid) != NULL;
    pthread_mutex_unlock(&gl_mx);
    return r;
}

int gl_name_of(const cn_pid *pid, ei_x_buff *name, ei_x_buff *method)
{
    pthread_mutex_lock(&gl_mx);
    gt_name *e = gt_names_find_pid(&gl_names, pid);
    if (e) {
        ei_x_append_buf(name, e->name, e->name_len);
        ei_x_append_buf(method, e->method, e->method_len);
    }
    pthread_mutex_unlock(&gl_mx);
    return e ? 0 : -1;
}

cn_pid gl_server_pid(void)
{
    return server_pid;
}
cn_pid gl_locker_pid(void)
{
    return locker_pid;
}

int gl_synced_with_visible(void)
{
    uint32_t up[MAX_NODES];
    size_t n = cn_conn_list_kind(up, MAX_NODES, CN_CONN_VISIBLE);
    int all = 1;
    pthread_mutex_lock(&gl_mx);
    for (size_t i = 0; i < n && all; i++) {
        const char *name = cn_node_name(up[i]);
        int found = 0;
        for (int k = 0; name && k < gl_nnodes && !found; k++)
            found = gl_nodes[k].known && strcmp(gl_nodes[k].name, name) == 0;
        all = found;
    }
    pthread_mutex_unlock(&gl_mx);
    return all;
}

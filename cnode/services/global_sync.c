/* global_sync: the connect-time synchronisation of global_name_server (PROTOCOL.md §7.2): the
 * connect session with each node and its locker messages, the name exchange once both
 * partitions are locked, `resolved`, and meshing with the other partition. */
#include "services/global_int.h"

#include "dist/conn.h"
#include "dist/reconnect.h"
#include "proc/ident.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* Server only. */
static long long tag_counter = -576460752303423488LL; /* as unique_integer: negative, rising */

static const char *me(void)
{
    return cn_node_self_name();
}

static int node_vsn(const char *name)
{
    if (strcmp(name, me()) == 0)
        return GL_VSN;
    gnode *g = gl_node_get(name, 0);
    if (g && g->known)
        return g->vsn;
    if (g && g->pending)
        return g->pending_vsn;
    return 0;
}

/* [{Node, Vsn}] of the known nodes (OTP's mk_known_list for version 7+). */
static void encode_known(ei_x_buff *x)
{
    int n = 0;
    for (int i = 0; i < gl_nnodes; i++)
        n += gl_nodes[i].known;
    if (n) {
        ei_x_encode_list_header(x, n);
        for (int i = 0; i < gl_nnodes; i++)
            if (gl_nodes[i].known) {
                ei_x_encode_tuple_header(x, 2);
                ei_x_encode_atom(x, gl_nodes[i].name);
                ei_x_encode_long(x, gl_nodes[i].vsn);
            }
    }
    ei_x_encode_empty_list(x);
}

/* ---- locker messages and sessions --------------------------------------------------------- */

/* {cancel, Node, Tag | undefined, no_fun | {Msg, [Nodes]}}: the locker drops the session's
 * lock; before, it casts Msg (new_nodes) to Nodes, so that they hear of the newcomers while
 * the lock still stands. */
static void send_cancel_to_locker(cn_proc *self, gnode *g, int has_tag, long long tag,
                                  const ei_x_buff *fun_msg, char **fun_nodes, int nfun)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "cancel");
    ei_x_encode_atom(&x, g->name);
    if (has_tag)
        ei_x_encode_longlong(&x, tag);
    else
        ei_x_encode_atom(&x, "undefined");
    if (fun_msg) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_append_buf(&x, fun_msg->buff, fun_msg->index);
        if (nfun) {
            ei_x_encode_list_header(&x, nfun);
            for (int i = 0; i < nfun; i++)
                ei_x_encode_atom(&x, fun_nodes[i]);
        }
        ei_x_encode_empty_list(&x);
    } else {
        ei_x_encode_atom(&x, "no_fun");
    }
    gl_to_locker(self, &x);
    ei_x_free(&x);
}

void gl_send_cancel_connect_message(cn_proc *self, const char *node, long long his_tag)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "cancel_connect");
    ei_x_encode_atom(&x, me());
    ei_x_encode_longlong(&x, his_tag);
    gl_gns_send(self, node, &x, 0, 1);
    ei_x_free(&x);
}

static void cancel_locker_fun(cn_proc *self, gnode *g, int has_tag, long long tag,
                              const ei_x_buff *fun_msg, char **fun_nodes, int nfun)
{
    send_cancel_to_locker(self, g, has_tag, tag, fun_msg, fun_nodes, nfun);
    /* tell the peer when a connect under way is dropped */
    if (g->pending && g->pending_vsn >= GL_VSN && has_tag && g->has_my_tag && g->my_tag == tag &&
        g->has_his_tag)
        gl_send_cancel_connect_message(self, g->name, g->his_tag);
    if (g->resolver && has_tag && g->resolver_tag == tag)
        g->resolver = 0;
}

void gl_cancel_locker(cn_proc *self, gnode *g, int has_tag, long long tag)
{
    cancel_locker_fun(self, g, has_tag, tag, NULL, NULL, 0);
}

/* A visible node came up: open a connect session (OTP's handle_nodeup). */
void gl_handle_nodeup(cn_proc *self, gnode *g)
{
    if (g->known || g->resolver)
        return;
    g->my_tag = ++tag_counter;
    g->has_my_tag = 1;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "init_connect");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_long(&x, GL_VSN);
    ei_x_encode_longlong(&x, g->my_tag);
    ei_x_encode_atom(&x, me());
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "locker");
    ei_x_encode_atom(&x, "no_longer_a_pid");
    ei_x_encode_empty_list(&x);
    cn_pid locker = gl_locker_pid();
    cn_encode_pid(&x, &locker);
    gl_gns_send(self, g->name, &x, 1, 0);
    ei_x_free(&x);
    g->resolver = 1;
    g->resolver_tag = g->my_tag;
    cn_debug("global: connect session with %s, tag %lld", g->name, g->my_tag);
    if (g->pre_connect) { /* its init_connect came first: take it now */
        g->pre_connect = 0;
        cn_pid l = g->pre_locker;
        gl_init_connect(self, g, g->pre_vsn, g->pre_his_vsn, g->pre_tag, &l);
    }
}

void gl_restart_connect(cn_proc *self, gnode *g, int has_tag, long long tag)
{
    gl_cancel_locker(self, g, has_tag, tag);
    gl_reset_node_state(g);
    g->pending = 0;
    if (has_tag)
        gl_handle_nodeup(self, g);
}

void gl_init_connect(cn_proc *self, gnode *g, int vsn, int his_vsn, long long his_tag,
                     const cn_pid *his_locker)
{
    if (g->pending) { /* a second attempt while one is under way: cancel both, start over */
        gl_send_cancel_connect_message(self, g->name, his_tag);
        gl_restart_connect(self, g, g->has_my_tag, g->my_tag);
    }
    g->prot_vsn = vsn;
    g->his_tag = his_tag;
    g->has_his_tag = 1;
    if (!g->resolver) {
        g->pre_connect = 1;
        g->pre_vsn = vsn;
        g->pre_his_vsn = his_vsn;
        g->pre_tag = his_tag;
        g->pre_locker = *his_locker;
        return;
    }
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "his_the_locker");
    cn_encode_pid(&x, his_locker);
    ei_x_encode_long(&x, vsn);
    ei_x_encode_longlong(&x, his_tag);
    ei_x_encode_longlong(&x, g->my_tag);
    gl_to_locker(self, &x);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "init_connect_ack");
    ei_x_encode_atom(&x, me());
    ei_x_encode_longlong(&x, his_tag);
    ei_x_encode_longlong(&x, g->my_tag);
    gl_gns_send(self, g->name, &x, 0, 1);
    ei_x_free(&x);
    g->pending = 1;
    g->pending_vsn = his_vsn;
}

/* Add nodes (a list of Node or {Node, Vsn}) to the known set; the added names go to added. */
int gl_add_to_known(const gm_list *l, char **added, int cap)
{
    int n = 0, idx = 0;
    for (int k = 0; k < l->n; k++) {
        char a[MAXATOMLEN_UTF8];
        long v;
        int start = idx;
        if (ei_skip_term(l->b, &idx) < 0)
            break;
        if (gm_node(l->b, start, a, &v) < 0 || strcmp(a, me()) == 0)
            continue;
        gnode *g = gl_node_get(a, 1);
        if (!g)
            continue;
        if (!g->known) {
            pthread_mutex_lock(&gl_mx);
            g->known = 1;
            g->vsn = (int)v;
            pthread_mutex_unlock(&gl_mx);
            cn_reconnect_watch_meshed(g->name); /* with --reconnect-meshed */
            if (n < cap)
                added[n++] = g->name;
        } else if (g->vsn == 0 && v > 0) {
            g->vsn = (int)v;
        }
    }
    return n;
}

/* The names in a list of Node or {Node, Vsn} (pointers into the node table), at most cap. */
static int node_names(const gm_list *l, char **out, int cap)
{
    int n = 0, idx = 0;
    for (int k = 0; k < l->n && n < cap; k++) {
        char a[MAXATOMLEN_UTF8];
        long v;
        int start = idx;
        if (ei_skip_term(l->b, &idx) < 0)
            break;
        if (gm_node(l->b, start, a, &v) < 0 || strcmp(a, me()) == 0)
            continue;
        gnode *g = gl_node_get(a, 1);
        if (g)
            out[n++] = g->name;
    }
    return n;
}

void gl_locker_add_known(cn_proc *self, char **added, int n)
{
    if (!n)
        return;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "add_to_known");
    ei_x_encode_list_header(&x, n);
    for (int i = 0; i < n; i++)
        ei_x_encode_atom(&x, added[i]);
    ei_x_encode_empty_list(&x);
    gl_to_locker(self, &x);
    ei_x_free(&x);
}

/* Tell each node we are in sync with it (connecting if needed: this is what meshes). */
void gl_sync_others(cn_proc *self, char **ns, int n)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "in_sync");
    ei_x_encode_atom(&x, me());
    ei_x_encode_boolean(&x, 1);
    for (int i = 0; i < n; i++) {
        /* a node we cannot reach must leave the known set again (OTP's extra_nodedown):
         * monitor_node reports the failed connect as a nodedown */
        long ni = cn_node_lookup(ns[i]);
        gnode *g = gl_node_get(ns[i], 0);
        if (g && !g->node_mon && (ni <= 0 || !cn_conn_is_up((uint32_t)ni)) &&
            cn_monitor_node(self, ns[i], 1) == 0)
            g->node_mon = 1;
        gl_gns_send(self, ns[i], &x, 1, 0);
    }
    ei_x_free(&x);
}

/* ---- exchange and resolved ---------------------------------------------------------------- */

static void encode_insert(ei_x_buff *x, const char *name, int nl, const cn_pid *pid,
                          const char *meth, int ml)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "insert");
    ei_x_encode_tuple_header(x, 3);
    ei_x_append_buf(x, name, nl);
    cn_encode_pid(x, pid);
    ei_x_append_buf(x, meth, ml);
}

/* Our resolution is done: send `resolved`, then finish if his came first. */
void gl_exchange_ops(cn_proc *self, gnode *g, gm_list *ops, gm_list *res)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 7);
    ei_x_encode_atom(&x, "resolved");
    ei_x_encode_atom(&x, me());
    gm_list_encode(&x, res);
    encode_known(&x);
    ei_x_encode_atom(&x, "unused");
    ei_x_encode_empty_list(&x);
    ei_x_encode_longlong(&x, g->his_tag);
    gl_gns_send(self, g->name, &x, 1, 0);
    ei_x_free(&x);
    gm_list_clear(res);
    int his_first = g->save_ops == SO_RESOLVED;
    gm_list_clear(&g->ops);
    g->ops = *ops;
    memset(ops, 0, sizeof *ops);
    if (his_first)
        gl_resolved(self, g);
    else
        g->save_ops = SO_OPS;
}

/* His names against ours (OTP's exchange_names): new names are inserted; a clash is ours to
 * resolve when our node name is the smaller, by the method of our entry. */
static void resolve_names(cn_proc *self, gnode *g, const gm_list *his)
{
    gm_list ops = {0}, res = {0}, remote = {0};
    int idx = 0;
    ei_x_buff x;
    ei_x_new(&x);
    for (int k = 0; k < his->n; k++) {
        int start = idx, nl, ml;
        const char *nm, *meth;
        cn_pid pid;
        if (ei_skip_term(his->b, &idx) < 0)
            break;
        if (gm_name_entry(his->b, start, &nm, &nl, &pid, &meth, &ml) < 0) {
            cn_warn("global: malformed name in exchange from %s ignored", g->name);
            continue;
        }
        pthread_mutex_lock(&gl_mx);
        gt_name *e = gt_names_find(&gl_names, nm, nl);
        cn_pid pid2 = e ? e->pid : pid;
        char *meth2 = NULL;
        int ml2 = 0;
        if (e && !cn_pid_eq(&e->pid, &pid) && (meth2 = malloc((size_t)e->method_len)) != NULL) {
            memcpy(meth2, e->method, (size_t)e->method_len);
            ml2 = e->method_len;
        }
        pthread_mutex_unlock(&gl_mx);
        x.index = 0;
        if (!e) {
            encode_insert(&x, nm, nl, &pid, meth, ml);
            gm_list_append(&ops, x.buff, x.index, 1);
        } else if (meth2 && gl_node_cmp(me(), g->name) < 0 &&
                   (gl_method_is_standard(meth2, ml2) || pid2.node == 0)) {
            ei_x_buff r;
            ei_x_new(&r);
            gl_resolve_local(self, meth2, ml2, nm, nl, &pid, &pid2, &r);
            gl_clash_decided(nm, nl, &pid, meth, ml, &pid2, meth2, ml2, r.buff, &ops, &res);
            ei_x_free(&r);
        } else if (meth2 && gl_node_cmp(me(), g->name) < 0) {
            /* another method: it runs on node(Pid2), from a resolver process */
            ei_x_encode_tuple_header(&x, 5);
            ei_x_append_buf(&x, nm, nl);
            cn_encode_pid(&x, &pid);
            ei_x_append_buf(&x, meth, ml);
            cn_encode_pid(&x, &pid2);
            ei_x_append_buf(&x, meth2, ml2);
            gm_list_append(&remote, x.buff, x.index, 1);
        }
        free(meth2);
    }
    if (remote.n) {
        x.index = 0;
        ei_x_encode_list_header(&x, 6);
        cn_pid server = gl_server_pid();
        cn_encode_pid(&x, &server);
        ei_x_encode_atom(&x, g->name);
        ei_x_encode_longlong(&x, g->my_tag);
        gm_list_encode(&x, &ops);
        gm_list_encode(&x, &res);
        gm_list_encode(&x, &remote);
        ei_x_encode_empty_list(&x);
        gm_list_clear(&remote);
        if (gl_resolver_start(x.buff, x.index) == 0) { /* it casts exchange_ops */
            gm_list_clear(&ops);
            gm_list_clear(&res);
            ei_x_free(&x);
            return;
        }
        cn_warn("global: cannot start a resolver; conflicting names left to the other side");
    }
    ei_x_free(&x);
    gl_exchange_ops(self, g, &ops, &res);
}

void gl_exchange(cn_proc *self, gnode *g, gm_list *his)
{
    if (g->wait_lock == WL_LOCK_IS_SET) {
        g->wait_lock = 0;
        resolve_names(self, g, his);
        gm_list_clear(his);
    } else {
        gm_list_clear(&g->exch);
        g->exch = *his;
        memset(his, 0, sizeof *his);
        g->wait_lock = WL_EXCHANGE;
    }
}

/* Both partitions are locked: send our names, then resolve if his names came first. */
void gl_lock_is_set(cn_proc *self, gnode *g, const char *lock_id, int lid_len)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "exchange");
    ei_x_encode_atom(&x, me());
    pthread_mutex_lock(&gl_mx);
    if (gl_names.n)
        ei_x_encode_list_header(&x, gl_names.n);
    for (int i = 0; i < gl_names.n; i++) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_append_buf(&x, gl_names.v[i].name, gl_names.v[i].name_len);
        cn_encode_pid(&x, &gl_names.v[i].pid);
        ei_x_append_buf(&x, gl_names.v[i].method, gl_names.v[i].method_len);
    }
    pthread_mutex_unlock(&gl_mx);
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_longlong(&x, g->his_tag);
    gl_gns_send(self, g->name, &x, 1, 0);
    ei_x_free(&x);
    free(g->lock_id);
    g->lock_id = malloc((size_t)lid_len);
    g->lock_id_len = g->lock_id ? lid_len : 0;
    if (g->lock_id)
        memcpy(g->lock_id, lock_id, (size_t)lid_len);
    if (g->wait_lock == WL_EXCHANGE) {
        gm_list his = g->exch;
        memset(&g->exch, 0, sizeof g->exch);
        g->wait_lock = 0;
        resolve_names(self, g, &his);
        gm_list_clear(&his);
    } else {
        g->wait_lock = WL_LOCK_IS_SET;
    }
}

static void cancel_resolved_locker(cn_proc *self, gnode *g, const ei_x_buff *fun_msg,
                                   char **fun_nodes, int nfun)
{
    g->pending = 0; /* so that no cancel_connect goes out */
    cancel_locker_fun(self, g, g->has_my_tag, g->my_tag, fun_msg, fun_nodes, nfun);
    gl_reset_node_state(g);
}

/* Both resolutions are in (OTP's resolved/5): apply them, mesh with his partition and tell
 * ours about it (new_nodes, sent by the locker before it lets go of the lock). */
void gl_resolved(cn_proc *self, gnode *g)
{
    gm_list ops = g->ops, hknown = g->hknown;
    memset(&g->ops, 0, sizeof g->ops);
    memset(&g->hknown, 0, sizeof g->hknown);
    gm_list_append(&ops, g->hres.b, g->hres.len, g->hres.n);
    gm_list_clear(&g->hres);
    g->save_ops = 0;
    int prot_vsn = g->prot_vsn ? g->prot_vsn : GL_VSN;
    char *lock_id = g->lock_id;
    int lid_len = g->lock_id_len;
    g->lock_id = NULL;
    g->lock_id_len = 0;

    /* new nodes: [{Node, Vsn} | HisKnown] */
    ei_x_buff nn;
    ei_x_new(&nn);
    ei_x_encode_list_header(&nn, 1 + hknown.n);
    ei_x_encode_tuple_header(&nn, 2);
    ei_x_encode_atom(&nn, g->name);
    ei_x_encode_long(&nn, node_vsn(g->name));
    int idx = 0;
    for (int k = 0; k < hknown.n; k++) {
        char a[MAXATOMLEN_UTF8];
        long v;
        int start = idx;
        if (ei_skip_term(hknown.b, &idx) < 0 || gm_node(hknown.b, start, a, &v) < 0) {
            ei_x_encode_atom(&nn, "nonode@nohost"); /* keep the count right; never added */
            continue;
        }
        ei_x_encode_tuple_header(&nn, 2);
        ei_x_encode_atom(&nn, a);
        ei_x_encode_long(&nn, v ? v : node_vsn(a));
    }
    ei_x_encode_empty_list(&nn);
    gm_list newnodes;
    int ni = 0;
    gm_list_take(nn.buff, &ni, &newnodes);

    char *his_nodes[MAX_NODES];
    int nh = node_names(&hknown, his_nodes, MAX_NODES);
    gl_sync_others(self, his_nodes, nh);
    gl_do_ops(self, &ops, lock_id, lid_len);
    for (int i = 0; i < nh; i++) {
        gnode *o = gl_node_get(his_nodes[i], 0);
        if (o && o != g)
            cancel_resolved_locker(self, o, NULL, NULL, 0);
    }

    /* {new_nodes, Me, Ops, [], NewNodes, [{vsn, V}, {lock, LockId}]} to the nodes we knew */
    ei_x_buff m;
    ei_x_new(&m);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "$gen_cast");
    ei_x_encode_tuple_header(&m, 6);
    ei_x_encode_atom(&m, "new_nodes");
    ei_x_encode_atom(&m, me());
    gm_list_encode(&m, &ops);
    ei_x_encode_empty_list(&m);
    ei_x_append_buf(&m, nn.buff, nn.index);
    ei_x_encode_list_header(&m, 2);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "vsn");
    ei_x_encode_long(&m, prot_vsn);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "lock");
    if (lock_id)
        ei_x_append_buf(&m, lock_id, lid_len);
    else
        ei_x_encode_atom(&m, "undefined");
    ei_x_encode_empty_list(&m);
    char *targets[MAX_NODES];
    int nt = 0;
    for (int i = 0; i < gl_nnodes; i++)
        if (gl_nodes[i].known && &gl_nodes[i] != g)
            targets[nt++] = gl_nodes[i].name;
    cancel_resolved_locker(self, g, &m, targets, nt);
    ei_x_free(&m);

    char *added[MAX_NODES];
    int na = gl_add_to_known(&newnodes, added, MAX_NODES);
    gl_locker_add_known(self, added, na);
    g->synced = 1;
    cn_info("global: in sync with %s (%d names applied, %d nodes added)", g->name, ops.n, na);
    gm_list_clear(&newnodes);
    gm_list_clear(&ops);
    gm_list_clear(&hknown);
    ei_x_free(&nn);
    free(lock_id);
}

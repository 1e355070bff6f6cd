/* global: the global_name_server of this node, a full participant in :global's protocol
 * version 8 (PROTOCOL.md §7.2): the connect handshake with every visible node (init_connect,
 * init_connect_ack, cancel_connect), the lock table (set_lock/del_lock calls), the name
 * exchange after both partitions are locked (exchange, resolved), meshing (new_nodes,
 * in_sync) and prevent-overlapping-partitions (lost_connection, remove_connection).
 * The server never waits: the blocking lock calls of a connect run in the locker process
 * (global_locker.c), and those of name registration in the registering process. */
#include "services/global.h"

#include "dist/conn.h"
#include "dist/reconnect.h"
#include "proc/ident.h"
#include "services/global_msg.h"
#include "services/global_tables.h"
#include "util/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES 1024
#define LOST_INFO 256

/* What the server keeps per node (OTP keeps it in `known` and the process dictionary). */
typedef struct gnode {
    char *name;
    int known, vsn;           /* in the known set, with its protocol version */
    int pending, pending_vsn; /* a connect is under way */
    int removing;             /* POP asked it to go: its nodedown is not a loss */
    int synced;
    int node_mon;          /* a monitor_node of ours is armed (see sync_others) */
    unsigned long touched; /* the server turn that last used the entry */
    int has_my_tag, has_his_tag;
    long long my_tag, his_tag; /* the sync session's tags */
    int resolver;              /* a connect session is open (OTP: a resolver exists) */
    long long resolver_tag;
    int prot_vsn;
    int pre_connect; /* an init_connect that came before our nodeup */
    int pre_vsn, pre_his_vsn;
    long long pre_tag;
    cn_pid pre_locker;
    int wait_lock; /* 0, WL_LOCK_IS_SET, WL_EXCHANGE (his names in exch) */
    gm_list exch;
    int save_ops; /* 0, SO_OPS (ours in ops), SO_RESOLVED (his in hres/hknown) */
    gm_list ops, hres, hknown;
    char *lock_id; /* {global, [LockerA, LockerB]} of the session */
    int lock_id_len;
} gnode;

enum { WL_LOCK_IS_SET = 1, WL_EXCHANGE = 2 };
enum { SO_OPS = 1, SO_RESOLVED = 2 };
enum { ND_DISCONNECTED, ND_REMOVE, ND_IGNORE };

typedef struct lost_info {
    char *a, *b;
    long long xcre, opid;
} lost_info;

/* State read by other processes (locker, API, rpc functions) is under mx. */
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static gt_locks locks;
static gt_names names;
static gnode nodes[MAX_NODES];
static int nnodes;
static int global_lock_down;
static cn_pid server_pid, locker_pid;
static int started;
/* Server only. */
static long long tag_counter = -576460752303423488LL; /* as unique_integer: negative, rising */
static long long xcreation, op_counter;
static lost_info lost[LOST_INFO];
static int lost_next;
static unsigned long turn; /* bumped for every message the server handles */

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
    for (int i = 0; i < nnodes; i++) {
        gnode *g = &nodes[i];
        long n = cn_node_lookup(g->name);
        if (g->touched != turn && !g->known && !g->pending && !g->removing && !g->synced &&
            !g->node_mon && !g->resolver && !g->has_my_tag && !g->has_his_tag && !g->pre_connect &&
            !g->wait_lock && !g->save_ops && !g->lock_id && (n <= 0 || !cn_conn_is_up((uint32_t)n)))
            return g;
    }
    return NULL;
}

static gnode *node_get(const char *name, int create)
{
    if (!strchr(name, '@'))
        return NULL; /* not a node name */
    for (int i = 0; i < nnodes; i++)
        if (strcmp(nodes[i].name, name) == 0) {
            nodes[i].touched = turn;
            return &nodes[i];
        }
    if (!create || strcmp(name, me()) == 0)
        return NULL;
    char *n = strdup(name);
    gnode *g = !n ? NULL : nnodes < MAX_NODES ? &nodes[nnodes] : reusable();
    if (!g) {
        free(n);
        cn_warn("global: node table full, %s not tracked", name);
        return NULL;
    }
    pthread_mutex_lock(&mx);
    if (g == &nodes[nnodes])
        nnodes++;
    else
        free(g->name);
    memset(g, 0, sizeof *g);
    g->name = n;
    g->touched = turn;
    pthread_mutex_unlock(&mx);
    return g;
}

static void reset_node_state(gnode *g)
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

static int node_vsn(const char *name)
{
    if (strcmp(name, me()) == 0)
        return GL_VSN;
    gnode *g = node_get(name, 0);
    if (g && g->known)
        return g->vsn;
    if (g && g->pending)
        return g->pending_vsn;
    return 0;
}

/* Send to global_name_server on node: as a cast ({'$gen_cast', Msg}) or plain; with
 * noconnect, only over a connection that is up (OTP's "volatile" sends). */
static void gns_send(cn_proc *self, const char *node, const ei_x_buff *msg, int cast, int noconnect)
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

static void to_locker(cn_proc *self, ei_x_buff *x)
{
    cn_send(self, &locker_pid, x->buff, x->index);
}

/* [{Node, Vsn}] of the known nodes (OTP's mk_known_list for version 7+). */
static void encode_known(ei_x_buff *x)
{
    int n = 0;
    for (int i = 0; i < nnodes; i++)
        n += nodes[i].known;
    if (n) {
        ei_x_encode_list_header(x, n);
        for (int i = 0; i < nnodes; i++)
            if (nodes[i].known) {
                ei_x_encode_tuple_header(x, 2);
                ei_x_encode_atom(x, nodes[i].name);
                ei_x_encode_long(x, nodes[i].vsn);
            }
    }
    ei_x_encode_empty_list(x);
}

/* ---- the name table, with its monitors -------------------------------------------------- */

static void delete_name(cn_proc *self, const char *name, int len)
{
    cn_ref ref;
    pthread_mutex_lock(&mx);
    int had = gt_names_remove(&names, name, len, NULL, &ref);
    pthread_mutex_unlock(&mx);
    if (had)
        cn_demonitor(self, &ref);
}

/* Does the `global` lock still belong to the registration (from_pid) or the sync (lock_req:
 * the requester id of the session's lock)? OTP's lock_still_set. */
static int lock_still_set(const cn_pid *from_pid, const char *lock_req, int lock_req_len)
{
    static const char global_atom[] = {119, 6, 'g', 'l', 'o', 'b', 'a', 'l'};
    int r;
    pthread_mutex_lock(&mx);
    gt_lock *l = gt_locks_find(&locks, global_atom, sizeof global_atom);
    if (!l)
        r = !global_lock_down;
    else if (from_pid)
        r = gt_locks_holds(&locks, global_atom, sizeof global_atom, from_pid);
    else
        r = lock_req && l->req_len == lock_req_len &&
            memcmp(l->req, lock_req, (size_t)lock_req_len) == 0;
    pthread_mutex_unlock(&mx);
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
    pthread_mutex_lock(&mx);
    int rc = gt_names_insert(&names, name, len, pid, method, mlen, &ref);
    pthread_mutex_unlock(&mx);
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
static void do_ops(cn_proc *self, const gm_list *ops, const char *lock_id, int lock_id_len)
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
    to_locker(self, &x);
    ei_x_free(&x);
}

static void send_cancel_connect_message(cn_proc *self, const char *node, long long his_tag)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "cancel_connect");
    ei_x_encode_atom(&x, me());
    ei_x_encode_longlong(&x, his_tag);
    gns_send(self, node, &x, 0, 1);
    ei_x_free(&x);
}

static void cancel_locker_fun(cn_proc *self, gnode *g, int has_tag, long long tag,
                              const ei_x_buff *fun_msg, char **fun_nodes, int nfun)
{
    send_cancel_to_locker(self, g, has_tag, tag, fun_msg, fun_nodes, nfun);
    /* tell the peer when a connect under way is dropped */
    if (g->pending && g->pending_vsn >= GL_VSN && has_tag && g->has_my_tag && g->my_tag == tag &&
        g->has_his_tag)
        send_cancel_connect_message(self, g->name, g->his_tag);
    if (g->resolver && has_tag && g->resolver_tag == tag)
        g->resolver = 0;
}

static void cancel_locker(cn_proc *self, gnode *g, int has_tag, long long tag)
{
    cancel_locker_fun(self, g, has_tag, tag, NULL, NULL, 0);
}

static void init_connect(cn_proc *self, gnode *g, int vsn, int his_vsn, long long his_tag,
                         const cn_pid *his_locker);

/* A visible node came up: open a connect session (OTP's handle_nodeup). */
static void handle_nodeup(cn_proc *self, gnode *g)
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
    cn_encode_pid(&x, &locker_pid);
    gns_send(self, g->name, &x, 1, 0);
    ei_x_free(&x);
    g->resolver = 1;
    g->resolver_tag = g->my_tag;
    cn_debug("global: connect session with %s, tag %lld", g->name, g->my_tag);
    if (g->pre_connect) { /* its init_connect came first: take it now */
        g->pre_connect = 0;
        cn_pid l = g->pre_locker;
        init_connect(self, g, g->pre_vsn, g->pre_his_vsn, g->pre_tag, &l);
    }
}

static void restart_connect(cn_proc *self, gnode *g, int has_tag, long long tag)
{
    cancel_locker(self, g, has_tag, tag);
    reset_node_state(g);
    g->pending = 0;
    if (has_tag)
        handle_nodeup(self, g);
}

static void init_connect(cn_proc *self, gnode *g, int vsn, int his_vsn, long long his_tag,
                         const cn_pid *his_locker)
{
    if (g->pending) { /* a second attempt while one is under way: cancel both, start over */
        send_cancel_connect_message(self, g->name, his_tag);
        restart_connect(self, g, g->has_my_tag, g->my_tag);
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
    to_locker(self, &x);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "init_connect_ack");
    ei_x_encode_atom(&x, me());
    ei_x_encode_longlong(&x, his_tag);
    ei_x_encode_longlong(&x, g->my_tag);
    gns_send(self, g->name, &x, 0, 1);
    ei_x_free(&x);
    g->pending = 1;
    g->pending_vsn = his_vsn;
}

/* Add nodes (a list of Node or {Node, Vsn}) to the known set; the added names go to added. */
static int add_to_known(const gm_list *l, char **added, int cap)
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
        gnode *g = node_get(a, 1);
        if (!g)
            continue;
        if (!g->known) {
            pthread_mutex_lock(&mx);
            g->known = 1;
            g->vsn = (int)v;
            pthread_mutex_unlock(&mx);
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
        gnode *g = node_get(a, 1);
        if (g)
            out[n++] = g->name;
    }
    return n;
}

static void locker_add_known(cn_proc *self, char **added, int n)
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
    to_locker(self, &x);
    ei_x_free(&x);
}

/* Tell each node we are in sync with it (connecting if needed: this is what meshes). */
static void sync_others(cn_proc *self, char **ns, int n)
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
        gnode *g = node_get(ns[i], 0);
        if (g && !g->node_mon && (ni <= 0 || !cn_conn_is_up((uint32_t)ni)) &&
            cn_monitor_node(self, ns[i], 1) == 0)
            g->node_mon = 1;
        gns_send(self, ns[i], &x, 1, 0);
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

static void resolved(cn_proc *self, gnode *g);

/* Our resolution is done: send `resolved`, then finish if his came first. */
static void exchange_ops(cn_proc *self, gnode *g, gm_list *ops, gm_list *res)
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
    gns_send(self, g->name, &x, 1, 0);
    ei_x_free(&x);
    gm_list_clear(res);
    int his_first = g->save_ops == SO_RESOLVED;
    gm_list_clear(&g->ops);
    g->ops = *ops;
    memset(ops, 0, sizeof *ops);
    if (his_first)
        resolved(self, g);
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
        pthread_mutex_lock(&mx);
        gt_name *e = gt_names_find(&names, nm, nl);
        cn_pid pid2 = e ? e->pid : pid;
        char *meth2 = NULL;
        int ml2 = 0;
        if (e && !cn_pid_eq(&e->pid, &pid) && (meth2 = malloc((size_t)e->method_len)) != NULL) {
            memcpy(meth2, e->method, (size_t)e->method_len);
            ml2 = e->method_len;
        }
        pthread_mutex_unlock(&mx);
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
        cn_encode_pid(&x, &server_pid);
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
    exchange_ops(self, g, &ops, &res);
}

static void exchange(cn_proc *self, gnode *g, gm_list *his)
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
static void lock_is_set(cn_proc *self, gnode *g, const char *lock_id, int lid_len)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "exchange");
    ei_x_encode_atom(&x, me());
    pthread_mutex_lock(&mx);
    if (names.n)
        ei_x_encode_list_header(&x, names.n);
    for (int i = 0; i < names.n; i++) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_append_buf(&x, names.v[i].name, names.v[i].name_len);
        cn_encode_pid(&x, &names.v[i].pid);
        ei_x_append_buf(&x, names.v[i].method, names.v[i].method_len);
    }
    pthread_mutex_unlock(&mx);
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_longlong(&x, g->his_tag);
    gns_send(self, g->name, &x, 1, 0);
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
    reset_node_state(g);
}

/* Both resolutions are in (OTP's resolved/5): apply them, mesh with his partition and tell
 * ours about it (new_nodes, sent by the locker before it lets go of the lock). */
static void resolved(cn_proc *self, gnode *g)
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
    sync_others(self, his_nodes, nh);
    do_ops(self, &ops, lock_id, lid_len);
    for (int i = 0; i < nh; i++) {
        gnode *o = node_get(his_nodes[i], 0);
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
    for (int i = 0; i < nnodes; i++)
        if (nodes[i].known && &nodes[i] != g)
            targets[nt++] = nodes[i].name;
    cancel_resolved_locker(self, g, &m, targets, nt);
    ei_x_free(&m);

    char *added[MAX_NODES];
    int na = add_to_known(&newnodes, added, MAX_NODES);
    locker_add_known(self, added, na);
    g->synced = 1;
    cn_info("global: in sync with %s (%d names applied, %d nodes added)", g->name, ops.n, na);
    gm_list_clear(&newnodes);
    gm_list_clear(&ops);
    gm_list_clear(&hknown);
    ei_x_free(&nn);
    free(lock_id);
}

/* ---- node down and prevent-overlapping-partitions ------------------------------------------ */

/* Tell every node we know (and those connecting) that we lost node `lost`. */
static void inform_connection_loss(cn_proc *self, const char *lost)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "lost_connection");
    ei_x_encode_atom(&x, me());
    ei_x_encode_longlong(&x, xcreation);
    ei_x_encode_longlong(&x, ++op_counter);
    ei_x_encode_atom(&x, lost);
    for (int i = 0; i < nnodes; i++)
        if ((nodes[i].known && nodes[i].vsn >= 7) ||
            (nodes[i].pending && nodes[i].pending_vsn >= 7))
            if (strcmp(nodes[i].name, lost) != 0)
                gns_send(self, nodes[i].name, &x, 0, 1);
    ei_x_free(&x);
}

static void handle_nodedown(cn_proc *self, gnode *g, int what)
{
    cancel_locker(self, g, g->has_my_tag, g->my_tag);
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "remove_from_known");
    ei_x_encode_atom(&x, g->name);
    to_locker(self, &x);
    ei_x_free(&x);
    reset_node_state(g);
    if (what == ND_REMOVE) {
        g->removing = 1;
        cn_reconnect_unwatch_meshed(g->name); /* POP took it out: it stays out, as in OTP */
    }
    else if (what == ND_IGNORE)
        g->removing = 0;
    else if (g->removing)
        g->removing = 0;
    else
        inform_connection_loss(self, g->name);
    pthread_mutex_lock(&mx);
    g->pending = 0;
    g->known = 0;
    g->synced = 0;
    pthread_mutex_unlock(&mx);
}

static lost_info *lost_find(const char *a, const char *b)
{
    for (int i = 0; i < LOST_INFO; i++)
        if (lost[i].a && strcmp(lost[i].a, a) == 0 && strcmp(lost[i].b, b) == 0)
            return &lost[i];
    return NULL;
}

static void lost_connection(cn_proc *self, const char *a, long long xcre, long long opid,
                            const char *b, const ei_x_buff *msg)
{
    lost_info *li = lost_find(a, b);
    if (li && li->xcre == xcre && opid <= li->opid)
        return; /* seen */
    /* pass it on, so that every node hears of it even if a drops meanwhile */
    for (int i = 0; i < nnodes; i++)
        if ((nodes[i].known && nodes[i].vsn >= 7) ||
            (nodes[i].pending && nodes[i].pending_vsn >= 7))
            if (strcmp(nodes[i].name, a) != 0)
                gns_send(self, nodes[i].name, msg, 0, 1);
    if (!li) {
        li = &lost[lost_next];
        lost_next = (lost_next + 1) % LOST_INFO;
        free(li->a);
        free(li->b);
        li->a = strdup(a);
        li->b = strdup(b);
        if (!li->a || !li->b) {
            free(li->a);
            free(li->b);
            li->a = li->b = NULL;
        }
    }
    if (li->a) {
        li->xcre = xcre;
        li->opid = opid;
    }
    const char *rm = strcmp(b, me()) == 0 ? a : b;
    gnode *g = node_get(rm, 0);
    if (!g || !(g->known || g->pending))
        return;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "remove_connection");
    ei_x_encode_atom(&x, me());
    gns_send(self, rm, &x, 0, 1);
    ei_x_free(&x);
    cn_warn("global: asked %s to disconnect from us, to prevent overlapping partitions", rm);
    handle_nodedown(self, g, ND_REMOVE);
}

static void remove_connection(cn_proc *self, const char *node)
{
    gnode *g = node_get(node, 0);
    if (!g || !(g->known || g->pending))
        return;
    long n = cn_node_lookup(node);
    if (n > 0)
        cn_conn_disconnect((uint32_t)n);
    handle_nodedown(self, g, ND_REMOVE);
    cn_warn("global: disconnected %s to prevent overlapping partitions", node);
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
    gnode *g = node_get(m.node, 1);
    if (!g)
        return;
    int vsn = m.his_vsn > GL_VSN ? GL_VSN : (int)m.his_vsn;
    init_connect(self, g, vsn, (int)m.his_vsn, m.his_tag, &m.locker);
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
    for (int i = 0; i < nnodes; i++)
        n += synced ? nodes[i].synced : nodes[i].known;
    if (n) {
        ei_x_encode_list_header(reply, n);
        for (int i = 0; i < nnodes; i++)
            if (synced ? nodes[i].synced : nodes[i].known)
                ei_x_encode_atom(reply, nodes[i].name);
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
        gnode *g = node_get(node, 0);
        if (my_tag_is(g, t))
            lock_is_set(self, g, lid, ll);
        else if (g)
            cancel_locker(self, g, 1, t);
    } else if (!strcmp(tag, "exchange")) {
        long long t;
        gm_list his;
        if (gm_read_exchange(buf, idx, ar, node, &his, &t) < 0)
            goto bad;
        gnode *g = node_get(node, 0);
        if (my_tag_is(g, t))
            exchange(self, g, &his);
        else if (g)
            cancel_locker(self, g, 1, t);
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
        gnode *g = node_get(node, 0);
        if (my_tag_is(g, t)) {
            exchange_ops(self, g, &ops, &res);
        } else if (g) {
            cancel_locker(self, g, 1, t);
        }
        gm_list_clear(&ops);
        gm_list_clear(&res);
    } else if (!strcmp(tag, "resolved")) {
        long long t;
        gm_list hres, hknown;
        if (gm_read_resolved(buf, idx, ar, node, &hres, &hknown, &t) < 0)
            goto bad;
        gnode *g = node_get(node, 0);
        if (my_tag_is(g, t)) {
            gm_list_clear(&g->hres);
            gm_list_clear(&g->hknown);
            g->hres = hres;
            g->hknown = hknown;
            if (g->save_ops == SO_OPS)
                resolved(self, g);
            else
                g->save_ops = SO_RESOLVED;
        } else {
            gm_list_clear(&hres);
            gm_list_clear(&hknown);
            if (g)
                cancel_locker(self, g, 1, t);
        }
    } else if (!strcmp(tag, "new_nodes")) {
        gm_list ops, nn;
        const char *lid;
        int lid_len;
        if (gm_read_new_nodes(buf, idx, ar, node, &ops, &nn, &lid, &lid_len) < 0)
            goto bad;
        char *added[MAX_NODES];
        int na = add_to_known(&nn, added, MAX_NODES);
        sync_others(self, added, na);
        do_ops(self, &ops, lid, lid_len);
        locker_add_known(self, added, na);
        gm_list_clear(&ops);
        gm_list_clear(&nn);
    } else if (!strcmp(tag, "in_sync") && ar == 3) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gnode *g = node_get(node, 1);
        if (!g)
            return CN_NOREPLY;
        g->synced = 1;
        g->pending = 0;
        cancel_locker(self, g, g->has_my_tag, g->my_tag);
        reset_node_state(g);
    } else if (!strcmp(tag, "lock_set") && (ar == 5 || ar == 4)) {
        cn_pid p;
        int b;
        long long t = 0;
        if (cn_decode_pid(buf, idx, &p) < 0 || ei_decode_boolean(buf, idx, &b) < 0 ||
            ei_skip_term(buf, idx) < 0 || (ar == 5 && decode_tag(buf, idx, &t) < 0))
            goto bad;
        const char *pn = cn_node_name(p.node);
        gnode *g = pn ? node_get(pn, 0) : NULL;
        if (ar == 4 || my_tag_is(g, t)) {
            ei_x_buff x;
            ei_x_new(&x);
            ei_x_append_buf(&x, buf + start, *idx - start);
            to_locker(self, &x);
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
    pthread_mutex_lock(&mx);
    int can = gt_locks_can_set(&locks, res, rl, req, ql);
    int holds = can && gt_locks_holds(&locks, res, rl, pid);
    pthread_mutex_unlock(&mx);
    if (!can)
        return 0;
    if (holds)
        return 1;
    cn_ref ref;
    if (cn_monitor(self, pid, &ref) < 0)
        return 0;
    pthread_mutex_lock(&mx);
    int rc = gt_locks_add(&locks, res, rl, req, ql, pid, &ref);
    pthread_mutex_unlock(&mx);
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
    pthread_mutex_lock(&mx);
    int had = gt_locks_del(&locks, res, rl, req, ql, pid, &ref, &gone);
    if (had && gone && gt_is_global_atom(res, rl))
        global_lock_down = 0;
    pthread_mutex_unlock(&mx);
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
    if (ei_decode_tuple_header(buf, idx, &ar) < 0 || ar < 2 || ei_decode_atom(buf, idx, tag) < 0)
        goto bad;
    if (!strcmp(tag, "nodeup") && ar == 2) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gnode *g = node_get(node, 1);
        if (g)
            handle_nodeup(self, g);
    } else if (!strcmp(tag, "nodedown") && ar == 2) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        gnode *g = node_get(node, 0);
        if (g)
            g->node_mon = 0; /* a monitor_node fires once */
        /* the same drop may be reported twice (monitor_node and monitor_nodes) */
        if (g && (g->known || g->pending || g->resolver || g->has_my_tag))
            handle_nodedown(self, g, ND_DISCONNECTED);
    } else if (!strcmp(tag, "DOWN") && ar == 5) {
        cn_ref ref;
        int ended;
        if (cn_decode_ref(buf, idx, &ref) < 0)
            goto bad;
        pthread_mutex_lock(&mx);
        if (gt_locks_drop_ref(&locks, &ref, &ended) && ended)
            global_lock_down = 1;
        gt_name *e = gt_names_find_ref(&names, &ref);
        if (e)
            gt_names_remove(&names, e->name, e->name_len, NULL, NULL);
        pthread_mutex_unlock(&mx);
    } else if (!strcmp(tag, "init_connect_ack") && ar == 4) {
        long long his_my, his_his;
        if (ei_decode_atom(buf, idx, node) < 0 || decode_tag(buf, idx, &his_my) < 0 ||
            decode_tag(buf, idx, &his_his) < 0)
            goto bad;
        gnode *g = node_get(node, 1);
        if (!g)
            return CN_NOREPLY;
        if (!(my_tag_is(g, his_my) && g->has_his_tag && g->his_tag == his_his)) {
            cn_info("global: connect with %s out of sync: restarting it", node);
            send_cancel_connect_message(self, node, his_his);
            restart_connect(self, g, g->has_my_tag, g->my_tag);
        }
    } else if (!strcmp(tag, "cancel_connect") && ar == 3) {
        long long t;
        if (ei_decode_atom(buf, idx, node) < 0 || decode_tag(buf, idx, &t) < 0)
            goto bad;
        gnode *g = node_get(node, 0);
        if (my_tag_is(g, t)) {
            cancel_locker(self, g, 1, t);
            reset_node_state(g);
            g->pending = 0;
            restart_connect(self, g, 1, t);
        }
    } else if (!strcmp(tag, "lost_connection") && ar == 5) {
        long long xcre, opid;
        if (ei_decode_atom(buf, idx, node) < 0 || ei_decode_longlong(buf, idx, &xcre) < 0 ||
            ei_decode_longlong(buf, idx, &opid) < 0 || ei_decode_atom(buf, idx, node2) < 0)
            goto bad;
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_append_buf(&x, buf + start, *idx - start);
        lost_connection(self, node, xcre, opid, node2, &x);
        ei_x_free(&x);
    } else if (!strcmp(tag, "remove_connection") && ar == 2) {
        if (ei_decode_atom(buf, idx, node) < 0)
            goto bad;
        remove_connection(self, node);
    } else {
        goto bad;
    }
    return CN_NOREPLY;
bad:
    cn_warn("global: unexpected or malformed message ignored");
    return CN_NOREPLY;
}

static int gl_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)buf;
    (void)idx;
    *state = NULL;
    return cn_monitor_nodes(self, 1, CN_NODES_VISIBLE);
}

static const cn_worker global_server = {
    .module = "global",
    .init = gl_init,
    .handle_call = gl_call,
    .handle_cast = gl_cast,
    .handle_info = gl_info,
};

int cn_global_start(void)
{
    if (started)
        return 0;
    xcreation =
        ((long long)time(NULL) << 16) ^ (long long)getpid() ^ (long long)cn_ident_creation();
    if (xcreation < 0)
        xcreation = -xcreation;
    if (gl_locker_start(&locker_pid) < 0)
        return -1;
    if (cn_spawn_worker(&global_server, NULL, 0, GL_SERVER, &server_pid) < 0) {
        cn_warn("global: cannot start %s", GL_SERVER);
        return -1;
    }
    started = 1;
    return cn_global_exports();
}

/* ---- shared state, for the locker and the API ------------------------------------------ */

int gl_can_set_lock(const char *id, int len)
{
    const char *res, *req;
    int rl, ql;
    if (gm_lock_id(id, len, &res, &rl, &req, &ql) < 0)
        return 0;
    pthread_mutex_lock(&mx);
    int r = gt_locks_can_set(&locks, res, rl, req, ql);
    pthread_mutex_unlock(&mx);
    return r;
}

int gl_global_lock_is_set(void)
{
    static const char global_atom[] = {119, 6, 'g', 'l', 'o', 'b', 'a', 'l'};
    pthread_mutex_lock(&mx);
    int r = gt_locks_find(&locks, global_atom, sizeof global_atom) != NULL;
    pthread_mutex_unlock(&mx);
    return r;
}

char **gl_known_nodes(int *n)
{
    pthread_mutex_lock(&mx);
    int k = 0;
    char **v = calloc((size_t)nnodes + 1, sizeof *v);
    for (int i = 0; v && i < nnodes; i++)
        if (nodes[i].known && (v[k] = strdup(nodes[i].name)) != NULL)
            k++;
    pthread_mutex_unlock(&mx);
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
    pthread_mutex_lock(&mx);
    gt_name *e = gt_names_find(&names, name, len);
    if (e)
        *out = e->pid;
    pthread_mutex_unlock(&mx);
    return e ? 0 : -1;
}

void gl_registered_names(ei_x_buff *x)
{
    pthread_mutex_lock(&mx);
    if (names.n)
        ei_x_encode_list_header(x, names.n);
    for (int i = 0; i < names.n; i++)
        ei_x_append_buf(x, names.v[i].name, names.v[i].name_len);
    pthread_mutex_unlock(&mx);
    ei_x_encode_empty_list(x);
}

int gl_pid_has_name(const cn_pid *pid)
{
    pthread_mutex_lock(&mx);
    int r = gt_names_find_pid(&names, pid) != NULL;
    pthread_mutex_unlock(&mx);
    return r;
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
    pthread_mutex_lock(&mx);
    for (size_t i = 0; i < n && all; i++) {
        const char *name = cn_node_name(up[i]);
        int found = 0;
        for (int k = 0; name && k < nnodes && !found; k++)
            found = nodes[k].known && strcmp(nodes[k].name, name) == 0;
        all = found;
    }
    pthread_mutex_unlock(&mx);
    return all;
}

/* global_locker: the locker of global_name_server (OTP's the_locker). For each connect
 * session it locks our partition ({global, [LockerA, LockerB]} on every node we know, the
 * boss first) and tells the peer's locker through the servers (lock_set); when both sides
 * hold the lock it tells the server (lock_is_set) and keeps the lock until the server
 * cancels the session. It makes blocking calls, so it is a process of its own: the server
 * never waits. Messages that belong to another session while one is open wait in a queue. */
#include "services/global.h"

#include "services/global_tables.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HIMS 1024
#define MAX_DEFER 1024

typedef struct him {
    char *node;
    cn_pid locker;
    int vsn;
    long long my_tag, his_tag;
} him;

typedef struct deferred {
    struct deferred *next;
    char *b;
    int len;
} deferred;

enum { L_IDLE, L_WAIT_HIS, L_HOLDING };

typedef struct locker {
    char **known;
    int nknown;
    him hims[MAX_HIMS];
    int nhims;
    int mode, just_synced;
    /* the open session */
    char *s_node;
    long long s_tag;
    char *lock_id;
    int lock_id_len;
    char **s_known; /* nodes locked, to unlock */
    int ns_known;
    deferred *dq, **dq_tail;
    int ndq;
} locker;

static const char *me(void)
{
    return cn_node_self_name();
}

static int strv_has(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

static void strv_add(char ***v, int *n, const char *s)
{
    if (strv_has(*v, *n, s))
        return;
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv)
        return;
    *v = nv;
    if ((nv[*n] = strdup(s)) != NULL)
        (*n)++;
}

static void strv_del(char **v, int *n, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(v[i], s) == 0) {
            free(v[i]);
            v[i] = v[--*n];
            return;
        }
}

static void strv_clear(char ***v, int *n)
{
    gl_strv_free(*v, *n);
    *v = NULL;
    *n = 0;
}

static const char *the_boss(locker *l)
{
    const char *b = me();
    for (int i = 0; i < l->nknown; i++)
        if (gl_node_cmp(l->known[i], b) > 0)
            b = l->known[i];
    return b;
}

/* {global, lists:sort([Self, His])} */
static void make_lock_id(cn_proc *self, const cn_pid *his, ei_x_buff *x)
{
    cn_pid mine = cn_self(self);
    const cn_pid *a = &mine, *b = his;
    if (gt_pid_cmp(a, b) > 0) {
        a = his;
        b = &mine;
    }
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "global");
    ei_x_encode_list_header(x, 2);
    cn_encode_pid(x, a);
    cn_encode_pid(x, b);
    ei_x_encode_empty_list(x);
}

/* OTP's lock_nodes_safely: the boss first, then us (and the peer's node, extra), then the
 * rest of what we know. */
static int lock_nodes_safely(cn_proc *self, locker *l, const char *id, int len, const char *extra)
{
    const char *boss = the_boss(l);
    if (strcmp(boss, me()) != 0 && !gl_can_set_lock(id, len))
        return 0;
    char *first[1] = {(char *)boss};
    if (!gl_set_lock_on_nodes(self, id, len, first, 1))
        return 0;
    char *second[2];
    int n2 = 0;
    if (strcmp(me(), boss) != 0)
        second[n2++] = (char *)me();
    if (extra && strcmp(extra, boss) != 0)
        second[n2++] = (char *)extra;
    if (!gl_set_lock_on_nodes(self, id, len, second, n2)) {
        gl_del_lock_on_nodes(self, id, len, first, 1);
        return 0;
    }
    char **rest = calloc((size_t)l->nknown + 1, sizeof *rest);
    int nr = 0;
    for (int i = 0; rest && i < l->nknown; i++)
        if (strcmp(l->known[i], boss) != 0)
            rest[nr++] = l->known[i];
    int ok = rest && gl_set_lock_on_nodes(self, id, len, rest, nr);
    free(rest);
    if (!ok) {
        gl_del_lock_on_nodes(self, id, len, first, 1);
        gl_del_lock_on_nodes(self, id, len, second, n2);
        return 0;
    }
    return 1;
}

/* The boss last (OTP's delete_global_lock). */
static void delete_global_lock(cn_proc *self, const char *id, int len, char **ns, int n)
{
    const char *boss = me();
    for (int i = 0; i < n; i++)
        if (gl_node_cmp(ns[i], boss) > 0)
            boss = ns[i];
    char **rest = calloc((size_t)n + 1, sizeof *rest);
    int nr = 0;
    int boss_in = 0;
    for (int i = 0; rest && i < n; i++) {
        if (strcmp(ns[i], boss) == 0)
            boss_in = 1;
        else
            rest[nr++] = ns[i];
    }
    if (rest)
        gl_del_lock_on_nodes(self, id, len, rest, nr);
    free(rest);
    if (boss_in) {
        char *b[1] = {(char *)boss};
        gl_del_lock_on_nodes(self, id, len, b, 1);
    }
}

static void send_lock_set(cn_proc *self, locker *l, int is_set, const cn_pid *his_locker, int vsn,
                          long long his_tag)
{
    ei_x_buff m;
    ei_x_new(&m);
    int cast = vsn >= 6;
    if (cast) {
        ei_x_encode_tuple_header(&m, 2);
        ei_x_encode_atom(&m, "$gen_cast");
    }
    ei_x_encode_tuple_header(&m, vsn < 8 ? 4 : 5);
    ei_x_encode_atom(&m, "lock_set");
    cn_pid mine = cn_self(self);
    cn_encode_pid(&m, &mine);
    ei_x_encode_boolean(&m, is_set);
    if (l->nknown) {
        ei_x_encode_list_header(&m, l->nknown);
        for (int i = 0; i < l->nknown; i++)
            ei_x_encode_atom(&m, l->known[i]);
    }
    ei_x_encode_empty_list(&m);
    if (vsn >= 8)
        ei_x_encode_longlong(&m, his_tag);
    if (cast)
        cn_send_name(self, GL_SERVER, cn_node_name(his_locker->node), m.buff, m.index);
    else
        cn_send(self, his_locker, m.buff, m.index);
    ei_x_free(&m);
}

static void tell_lock_is_set(cn_proc *self, const char *node, long long tag, const char *id,
                             int len)
{
    ei_x_buff m;
    ei_x_new(&m);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "$gen_cast");
    ei_x_encode_tuple_header(&m, 4);
    ei_x_encode_atom(&m, "lock_is_set");
    ei_x_encode_atom(&m, node);
    ei_x_encode_longlong(&m, tag);
    ei_x_append_buf(&m, id, len);
    cn_pid srv = gl_server_pid();
    cn_send(self, &srv, m.buff, m.index);
    ei_x_free(&m);
}

static him *find_him(locker *l, const char *node)
{
    for (int i = 0; i < l->nhims; i++)
        if (strcmp(l->hims[i].node, node) == 0)
            return &l->hims[i];
    return NULL;
}

static void remove_him(locker *l, const char *node, long long tag)
{
    for (int i = 0; i < l->nhims; i++)
        if (strcmp(l->hims[i].node, node) == 0 && l->hims[i].my_tag == tag) {
            free(l->hims[i].node);
            l->hims[i] = l->hims[--l->nhims];
            return;
        }
}

static void session_open(locker *l, int mode, const char *node, long long tag, const char *id,
                         int len, char **ns, int n)
{
    l->mode = mode;
    free(l->s_node);
    l->s_node = strdup(node);
    l->s_tag = tag;
    free(l->lock_id);
    l->lock_id = malloc((size_t)len);
    if (l->lock_id)
        memcpy(l->lock_id, id, (size_t)len);
    l->lock_id_len = l->lock_id ? len : 0;
    strv_clear(&l->s_known, &l->ns_known);
    for (int i = 0; i < n; i++)
        strv_add(&l->s_known, &l->ns_known, ns[i]);
}

static void session_close(cn_proc *self, locker *l)
{
    if (l->lock_id)
        delete_global_lock(self, l->lock_id, l->lock_id_len, l->s_known, l->ns_known);
    free(l->s_node);
    l->s_node = NULL;
    free(l->lock_id);
    l->lock_id = NULL;
    strv_clear(&l->s_known, &l->ns_known);
    l->mode = L_IDLE;
}

/* The locked nodes: us, the extra node, and the known ones. */
static char **locked_set(locker *l, const char *extra, int *n)
{
    char **v = NULL;
    *n = 0;
    strv_add(&v, n, me());
    if (extra)
        strv_add(&v, n, extra);
    for (int i = 0; i < l->nknown; i++)
        strv_add(&v, n, l->known[i]);
    return v;
}

/* The timer fired with nothing locked here: try to lock for one peer (OTP's select_node). */
static void select_node(cn_proc *self, locker *l)
{
    for (int i = 0; i < l->nhims;) /* peers already known need no lock */
        if (strv_has(l->known, l->nknown, l->hims[i].node)) {
            free(l->hims[i].node);
            l->hims[i] = l->hims[--l->nhims];
        } else {
            i++;
        }
    if (!l->nhims)
        return;
    him h = l->hims[rand() % l->nhims];
    char *node = strdup(h.node);
    if (!node)
        return;
    ei_x_buff id;
    ei_x_new(&id);
    make_lock_id(self, &h.locker, &id);
    if (lock_nodes_safely(self, l, id.buff, id.index, node)) {
        int n;
        char **ns = locked_set(l, node, &n);
        send_lock_set(self, l, 1, &h.locker, h.vsn, h.his_tag);
        session_open(l, L_WAIT_HIS, node, h.my_tag, id.buff, id.index, ns, n);
        gl_strv_free(ns, n);
    }
    ei_x_free(&id);
    free(node);
}

/* {lock_set, P, Bool, HisKnown[, MyTag]} */
static void on_lock_set(cn_proc *self, locker *l, const char *buf, int idx, int ar)
{
    cn_pid p;
    int set;
    long long tag = 0;
    if (cn_decode_pid(buf, &idx, &p) < 0 || ei_decode_boolean(buf, &idx, &set) < 0 ||
        ei_skip_term(buf, &idx) < 0 || (ar == 5 && ei_decode_longlong(buf, &idx, &tag) < 0))
        return;
    const char *node = cn_node_name(p.node);
    if (!node)
        return;
    if (l->mode == L_WAIT_HIS && strcmp(node, l->s_node) == 0) {
        if (ar == 5 && tag != l->s_tag)
            return; /* an old session's */
        if (set) {
            tell_lock_is_set(self, node, l->s_tag, l->lock_id, l->lock_id_len);
            remove_him(l, node, l->s_tag);
            l->mode = L_HOLDING;
        } else {
            session_close(self, l);
        }
        return;
    }
    if (!set)
        return;
    him *h = find_him(l, node);
    if (!h || (ar == 5 && h->my_tag != tag)) {
        send_lock_set(self, l, 0, &p, 5, 0);
        return;
    }
    him hh = *h;
    ei_x_buff id;
    ei_x_new(&id);
    make_lock_id(self, &p, &id);
    int ok = lock_nodes_safely(self, l, id.buff, id.index, NULL);
    send_lock_set(self, l, ok, &p, hh.vsn, hh.his_tag);
    if (ok) {
        int n;
        char **ns = locked_set(l, NULL, &n);
        tell_lock_is_set(self, node, hh.my_tag, id.buff, id.index);
        session_open(l, L_HOLDING, node, hh.my_tag, id.buff, id.index, ns, n);
        gl_strv_free(ns, n);
    }
    ei_x_free(&id);
}

/* {cancel, Node, Tag | undefined, no_fun | {Msg, Nodes}} */
static void on_cancel(cn_proc *self, locker *l, const char *buf, int idx)
{
    char node[MAXATOMLEN_UTF8];
    long long tag;
    if (ei_decode_atom(buf, &idx, node) < 0)
        return;
    if (ei_decode_longlong(buf, &idx, &tag) < 0)
        return; /* undefined: may be an old nodedown's; never cancel on it */
    if (l->mode != L_IDLE && strcmp(node, l->s_node) == 0 && tag == l->s_tag) {
        int ar, n;
        if (ei_decode_tuple_header(buf, &idx, &ar) == 0 && ar == 2) {
            int ms = idx;
            if (ei_skip_term(buf, &idx) == 0 && ei_decode_list_header(buf, &idx, &n) == 0) {
                int ml = idx - ms; /* the list header follows the message */
                int t = ms;
                ei_skip_term(buf, &t);
                ml = t - ms;
                for (int i = 0; i < n; i++) {
                    char to[MAXATOMLEN_UTF8];
                    if (ei_decode_atom(buf, &idx, to) < 0)
                        break;
                    cn_send_name(self, GL_SERVER, to, buf + ms, ml);
                }
            }
        }
        int was_holding = l->mode == L_HOLDING;
        session_close(self, l);
        if (was_holding)
            l->just_synced = 1;
    }
    remove_him(l, node, tag);
}

static void handle(cn_proc *self, locker *l, const char *buf, int idx);

static void replay(cn_proc *self, locker *l)
{
    while (l->mode == L_IDLE && l->dq) {
        deferred *d = l->dq;
        l->dq = d->next;
        if (!l->dq)
            l->dq_tail = &l->dq;
        l->ndq--;
        handle(self, l, d->b, 0);
        free(d->b);
        free(d);
    }
}

static void defer(locker *l, const char *buf, int idx)
{
    int end = idx;
    deferred *d;
    if (l->ndq >= MAX_DEFER || ei_skip_term(buf, &end) < 0 || !(d = calloc(1, sizeof *d)))
        return;
    d->len = end - idx;
    d->b = malloc((size_t)d->len);
    if (!d->b) {
        free(d);
        return;
    }
    memcpy(d->b, buf + idx, (size_t)d->len);
    *l->dq_tail = d;
    l->dq_tail = &d->next;
    l->ndq++;
}

static void handle(cn_proc *self, locker *l, const char *buf, int idx)
{
    int ar, start = idx;
    char tag[MAXATOMLEN_UTF8];
    if (ei_decode_atom(buf, &idx, tag) == 0) {
        if (!strcmp(tag, "timeout") && l->mode == L_IDLE && !gl_global_lock_is_set())
            select_node(self, l);
        return;
    }
    if (ei_decode_tuple_header(buf, &idx, &ar) < 0 || ar < 2 || ei_decode_atom(buf, &idx, tag) < 0)
        return;
    if (!strcmp(tag, "his_the_locker") && ar == 5) {
        him h = {0};
        long v;
        if (cn_decode_pid(buf, &idx, &h.locker) < 0 || ei_decode_long(buf, &idx, &v) < 0 ||
            ei_decode_longlong(buf, &idx, &h.his_tag) < 0 ||
            ei_decode_longlong(buf, &idx, &h.my_tag) < 0 || v < 5 || l->nhims >= MAX_HIMS)
            return;
        const char *n = cn_node_name(h.locker.node);
        if (!n || !(h.node = strdup(n)))
            return;
        h.vsn = (int)v;
        l->hims[l->nhims++] = h;
    } else if (!strcmp(tag, "cancel") && ar == 4) {
        on_cancel(self, l, buf, idx);
    } else if (!strcmp(tag, "lock_set") && (ar == 4 || ar == 5)) {
        cn_pid p;
        int t = idx;
        const char *node;
        if (l->mode == L_HOLDING ||
            (l->mode == L_WAIT_HIS && cn_decode_pid(buf, &t, &p) == 0 &&
             (node = cn_node_name(p.node)) && strcmp(node, l->s_node) != 0)) {
            defer(l, buf, start);
            return;
        }
        on_lock_set(self, l, buf, idx, ar);
    } else if (!strcmp(tag, "add_to_known")) {
        int n;
        if (ei_decode_list_header(buf, &idx, &n) < 0)
            return;
        for (int i = 0; i < n; i++) {
            char a[MAXATOMLEN_UTF8];
            if (ei_decode_atom(buf, &idx, a) < 0)
                return;
            strv_add(&l->known, &l->nknown, a);
        }
    } else if (!strcmp(tag, "remove_from_known")) {
        char a[MAXATOMLEN_UTF8];
        if (ei_decode_atom(buf, &idx, a) == 0)
            strv_del(l->known, &l->nknown, a);
    }
}

static int lk_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    locker *l = state;
    handle(self, l, buf, *idx);
    replay(self, l);
    if (l->mode == L_IDLE && l->nhims) {
        int t = l->just_synced ? 1 : l->nknown == 0 ? 200 : 1000 + 100 * l->nknown;
        if (t > 3000)
            t = 3000;
        l->just_synced = 0;
        cn_set_timeout(self, t);
    }
    return CN_NOREPLY;
}

static int lk_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    (void)buf;
    (void)idx;
    locker *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->dq_tail = &l->dq;
    *state = l;
    return 0;
}

static void lk_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    locker *l = state;
    strv_clear(&l->known, &l->nknown);
    strv_clear(&l->s_known, &l->ns_known);
    for (int i = 0; i < l->nhims; i++)
        free(l->hims[i].node);
    while (l->dq) {
        deferred *d = l->dq;
        l->dq = d->next;
        free(d->b);
        free(d);
    }
    free(l->s_node);
    free(l->lock_id);
    free(l);
}

static const cn_worker global_locker = {
    .module = "global_locker",
    .init = lk_init,
    .handle_info = lk_info,
    .terminate = lk_terminate,
};

int gl_locker_start(cn_pid *out)
{
    return cn_spawn_worker(&global_locker, NULL, 0, NULL, out);
}

/* global_api: :global for C code and over rpc. Registration runs in the caller's process as
 * OTP's registrar does: lock {global, Caller} on every known node (the boss first, with
 * random back-off), ask every server to register, let go. Lookups read the local table.
 * Also the lock multi-calls the locker uses, and the rpc exports (global:whereis_name/1, ...,
 * and resolve_it/4, which a BEAM node runs here when a clash involves our pid). */
#include "services/global.h"

#include "util/log.h"

#include <stdlib.h>
#include <string.h>

static const char *me(void)
{
    return cn_node_self_name();
}

/* gen_server:call to global_name_server on node; 0 with the reply, else failure. */
static int gcall(cn_proc *self, const char *node, const ei_x_buff *req, ei_x_buff *reply)
{
    int local = strcmp(node, me()) == 0;
    return cn_call_name(self, GL_SERVER, local ? NULL : node, req->buff, req->index,
                        GL_CALL_TIMEOUT, reply);
}

static void lock_req(ei_x_buff *x, const char *op, const char *id, int len)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, op);
    ei_x_append_buf(x, id, len);
}

void gl_del_lock_on_nodes(cn_proc *self, const char *id, int len, char **nodes, int n)
{
    ei_x_buff req;
    ei_x_new(&req);
    lock_req(&req, "del_lock", id, len);
    for (int i = 0; i < n; i++) {
        ei_x_buff r;
        ei_x_new(&r);
        gcall(self, nodes[i], &req, &r);
        ei_x_free(&r);
    }
    ei_x_free(&req);
}

int gl_set_lock_on_nodes(cn_proc *self, const char *id, int len, char **nodes, int n)
{
    if (n == 0)
        return 1;
    if (n > 1) /* probe our own table first, as OTP's local_lock_check */
        for (int i = 0; i < n; i++)
            if (strcmp(nodes[i], me()) == 0 && !gl_can_set_lock(id, len))
                return 0;
    ei_x_buff req;
    ei_x_new(&req);
    lock_req(&req, "set_lock", id, len);
    char **granted = calloc((size_t)n, sizeof *granted);
    int ng = 0, ok = granted != NULL;
    for (int i = 0; ok && i < n; i++) {
        ei_x_buff r;
        ei_x_new(&r);
        int b = 1, ri = 0;
        if (gcall(self, nodes[i], &req, &r) == 0) {
            if (ei_decode_boolean(r.buff, &ri, &b) < 0)
                b = 0;
            if (b)
                granted[ng++] = nodes[i];
            else
                ok = 0;
        } /* no answer: a bad node, as in gen_server:multi_call */
        ei_x_free(&r);
    }
    ei_x_free(&req);
    if (!ok && granted)
        gl_del_lock_on_nodes(self, id, len, granted, ng);
    free(granted);
    return ok;
}

/* ---- registration ----------------------------------------------------------------------- */

static void random_sleep(cn_proc *self, int times)
{
    int tmax = times > 5 ? 8000 : ((1 << times) * 1000) / 8;
    cn_sleep(self, 1 + rand() % tmax);
}

static int strv_eq_set(char **a, int na, char **b, int nb)
{
    for (int i = 0; i < nb; i++) {
        int found = 0;
        for (int j = 0; j < na && !found; j++)
            found = strcmp(a[j], b[i]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* Lock {global, Self} on every known node and us (OTP's set_lock_known). Returns the nodes
 * locked (with us), or NULL after about a minute of failures. */
static char **lock_known(cn_proc *self, const ei_x_buff *id, int *n)
{
    for (int times = 0; times < 40; times++) {
        int nk;
        char **known = gl_known_nodes(&nk);
        if (!known)
            return NULL;
        char **all = calloc((size_t)nk + 1, sizeof *all);
        if (!all) {
            gl_strv_free(known, nk);
            return NULL;
        }
        all[0] = strdup(me());
        for (int i = 0; i < nk; i++)
            all[i + 1] = known[i];
        free(known);
        int na = all[0] ? nk + 1 : 0;
        char *boss = all[0];
        for (int i = 0; i < na; i++)
            if (gl_node_cmp(all[i], boss) > 0)
                boss = all[i];
        char *b[1] = {boss};
        if (na && gl_set_lock_on_nodes(self, id->buff, id->index, b, 1)) {
            if (gl_set_lock_on_nodes(self, id->buff, id->index, all, na)) {
                int nk2;
                char **k2 = gl_known_nodes(&nk2);
                int same = k2 && strv_eq_set(all, na, k2, nk2);
                gl_strv_free(k2, nk2);
                if (same) {
                    *n = na;
                    return all;
                }
                gl_del_lock_on_nodes(self, id->buff, id->index, all, na);
            } else {
                gl_del_lock_on_nodes(self, id->buff, id->index, b, 1);
            }
        }
        gl_strv_free(all, na);
        random_sleep(self, times + 1);
    }
    return NULL;
}

/* The lock id {global, Self} of the calling process, in a fresh buffer (caller frees). */
static void global_lock_id(cn_proc *self, ei_x_buff *id)
{
    ei_x_new(id);
    ei_x_encode_tuple_header(id, 2);
    ei_x_encode_atom(id, "global");
    cn_pid mine = cn_self(self);
    cn_encode_pid(id, &mine);
}

static void unlock_known(cn_proc *self, const ei_x_buff *id, char **all, int n)
{
    int bi = 0;
    for (int i = 1; i < n; i++)
        if (gl_node_cmp(all[i], all[bi]) > 0)
            bi = i;
    char *boss = all[bi];
    all[bi] = all[n - 1];
    gl_del_lock_on_nodes(self, id->buff, id->index, all, n - 1);
    gl_del_lock_on_nodes(self, id->buff, id->index, &boss, 1);
    all[n - 1] = boss;
    gl_strv_free(all, n);
}

static void multi_call(cn_proc *self, char **nodes, int n, const ei_x_buff *req)
{
    for (int i = 0; i < n; i++) {
        ei_x_buff r;
        ei_x_new(&r);
        gcall(self, nodes[i], req, &r);
        ei_x_free(&r);
    }
}

static const char random_exit_method[] = {(char)ERL_EXPORT_EXT,
                                          119,
                                          6,
                                          'g',
                                          'l',
                                          'o',
                                          'b',
                                          'a',
                                          'l',
                                          119,
                                          16,
                                          'r',
                                          'a',
                                          'n',
                                          'd',
                                          'o',
                                          'm',
                                          '_',
                                          'e',
                                          'x',
                                          'i',
                                          't',
                                          '_',
                                          'n',
                                          'a',
                                          'm',
                                          'e',
                                          97,
                                          3};

/* Register an encoded name. 1: yes, 0: no (taken, or the pid has a name), -1: no lock. */
static int register_term(cn_proc *self, const char *name, int nlen, const cn_pid *pid,
                         const char *method, int mlen)
{
    ei_x_buff id;
    global_lock_id(self, &id);
    int n, r = -1;
    char **all = lock_known(self, &id, &n);
    if (all) {
        cn_pid cur;
        r = 0;
        if (gl_where(name, nlen, &cur) < 0 && !gl_pid_has_name(pid)) {
            ei_x_buff req;
            ei_x_new(&req);
            ei_x_encode_tuple_header(&req, 4);
            ei_x_encode_atom(&req, "register");
            ei_x_append_buf(&req, name, nlen);
            cn_encode_pid(&req, pid);
            ei_x_append_buf(&req, method, mlen);
            multi_call(self, all, n, &req);
            ei_x_free(&req);
            r = 1;
        }
        unlock_known(self, &id, all, n);
    }
    ei_x_free(&id);
    return r;
}

static int unregister_term(cn_proc *self, const char *name, int nlen)
{
    cn_pid cur;
    if (gl_where(name, nlen, &cur) < 0)
        return 0;
    ei_x_buff id;
    global_lock_id(self, &id);
    int n, r = -1;
    char **all = lock_known(self, &id, &n);
    if (all) {
        ei_x_buff req;
        ei_x_new(&req);
        ei_x_encode_tuple_header(&req, 2);
        ei_x_encode_atom(&req, "unregister");
        ei_x_append_buf(&req, name, nlen);
        multi_call(self, all, n, &req);
        ei_x_free(&req);
        unlock_known(self, &id, all, n);
        r = 0;
    }
    ei_x_free(&id);
    return r;
}

int cn_global_move_name(cn_proc *self, const cn_pid *from, const cn_pid *to)
{
    ei_x_buff name, method, id;
    ei_x_new(&name);
    ei_x_new(&method);
    if (gl_name_of(from, &name, &method) < 0) {
        ei_x_free(&name);
        ei_x_free(&method);
        return 0;
    }
    global_lock_id(self, &id);
    int n, r = -1;
    char **all = lock_known(self, &id, &n);
    if (all) { /* as global:re_register_name/3: a register over the name replaces it */
        cn_pid cur;
        r = 0;
        if (gl_where(name.buff, name.index, &cur) == 0 && cn_pid_eq(&cur, from)) {
            ei_x_buff req;
            ei_x_new(&req);
            ei_x_encode_tuple_header(&req, 4);
            ei_x_encode_atom(&req, "register");
            ei_x_append_buf(&req, name.buff, name.index);
            cn_encode_pid(&req, to);
            ei_x_append_buf(&req, method.buff, method.index);
            multi_call(self, all, n, &req);
            ei_x_free(&req);
            r = 1;
        }
        unlock_known(self, &id, all, n);
    }
    ei_x_free(&id);
    ei_x_free(&name);
    ei_x_free(&method);
    return r;
}

static void atom_term(ei_x_buff *x, const char *name)
{
    ei_x_encode_atom(x, name);
}

int cn_global_register_name(cn_proc *self, const char *name, const cn_pid *pid)
{
    ei_x_buff n;
    ei_x_new(&n);
    atom_term(&n, name);
    int r = register_term(self, n.buff, n.index, pid, random_exit_method,
                          (int)sizeof random_exit_method);
    ei_x_free(&n);
    return r == 1 ? 0 : -1;
}

int cn_global_unregister_name(cn_proc *self, const char *name)
{
    ei_x_buff n;
    ei_x_new(&n);
    atom_term(&n, name);
    int r = unregister_term(self, n.buff, n.index);
    ei_x_free(&n);
    return r;
}

int cn_global_whereis_name(const char *name, cn_pid *out)
{
    ei_x_buff n;
    ei_x_new(&n);
    atom_term(&n, name);
    int r = gl_where(n.buff, n.index, out);
    ei_x_free(&n);
    return r;
}

int cn_global_send(cn_proc *self, const char *name, const char *msg, int len)
{
    cn_pid to;
    if (cn_global_whereis_name(name, &to) < 0)
        return -1;
    return cn_send(self, &to, msg, len);
}

/* ---- rpc exports: global:Function on this node --------------------------------------- */

static int arg_span(const char *buf, int *idx, const char **s, int *n)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    *s = buf + start;
    *n = *idx - start;
    return 0;
}

static int badarg(ei_x_buff *out)
{
    ei_x_encode_atom(out, "badarg");
    return CN_RPC_ERROR;
}

static int x_whereis_name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    const char *n;
    int nl;
    cn_pid pid;
    if (arg_span(buf, idx, &n, &nl) < 0)
        return badarg(out);
    if (gl_where(n, nl, &pid) == 0)
        cn_encode_pid(out, &pid);
    else
        ei_x_encode_atom(out, "undefined");
    return CN_RPC_RETURN;
}

static int x_registered_names(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    gl_registered_names(out);
    return CN_RPC_RETURN;
}

static int x_register_name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    const char *n, *m = random_exit_method;
    int nl, ml = (int)sizeof random_exit_method;
    cn_pid pid;
    if (arg_span(buf, idx, &n, &nl) < 0 || cn_decode_pid(buf, idx, &pid) < 0 ||
        (arity == 3 && arg_span(buf, idx, &m, &ml) < 0))
        return badarg(out);
    int r = register_term(self, n, nl, &pid, m, ml);
    if (r < 0) {
        ei_x_encode_atom(out, "global_lock_timeout");
        return CN_RPC_EXIT;
    }
    ei_x_encode_atom(out, r ? "yes" : "no");
    return CN_RPC_RETURN;
}

static int x_unregister_name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    const char *n;
    int nl;
    if (arg_span(buf, idx, &n, &nl) < 0)
        return badarg(out);
    unregister_term(self, n, nl);
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

static int x_send(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    const char *n, *m;
    int nl, ml;
    cn_pid pid;
    if (arg_span(buf, idx, &n, &nl) < 0 || arg_span(buf, idx, &m, &ml) < 0)
        return badarg(out);
    if (gl_where(n, nl, &pid) < 0) {
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "badarg");
        ei_x_encode_tuple_header(out, 2);
        ei_x_append_buf(out, n, nl);
        ei_x_append_buf(out, m, ml);
        return CN_RPC_EXIT;
    }
    cn_send(self, &pid, m, ml);
    cn_encode_pid(out, &pid);
    return CN_RPC_RETURN;
}

/* resolve_it(Method, Name, Pid1, Pid2) and the three methods themselves. */
static int x_resolve_it(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    const char *m, *n;
    int ml, nl;
    cn_pid p1, p2;
    if (arg_span(buf, idx, &m, &ml) < 0 || arg_span(buf, idx, &n, &nl) < 0 ||
        cn_decode_pid(buf, idx, &p1) < 0 || cn_decode_pid(buf, idx, &p2) < 0)
        return badarg(out);
    gl_resolve_local(self, m, ml, n, nl, &p1, &p2, out);
    return CN_RPC_RETURN;
}

static int method3(cn_proc *self, const char *buf, int *idx, ei_x_buff *out, const char *fun)
{
    const char *n;
    int nl;
    cn_pid p1, p2;
    if (arg_span(buf, idx, &n, &nl) < 0 || cn_decode_pid(buf, idx, &p1) < 0 ||
        cn_decode_pid(buf, idx, &p2) < 0)
        return badarg(out);
    gl_run_method(self, fun, n, nl, &p1, &p2, out);
    return CN_RPC_RETURN;
}

static int x_random_exit_name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    return method3(self, buf, idx, out, "random_exit_name");
}

static int x_random_notify_name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    return method3(self, buf, idx, out, "random_notify_name");
}

static int x_notify_all_name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    return method3(self, buf, idx, out, "notify_all_name");
}

/* sync(): wait (up to a minute) until every visible node is known to us. */
static int x_sync(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)buf;
    (void)idx;
    (void)arity;
    for (int i = 0; i < 1200; i++) {
        if (gl_synced_with_visible()) {
            ei_x_encode_atom(out, "ok");
            return CN_RPC_RETURN;
        }
        if (cn_sleep(self, 50) < 0)
            break;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "error");
    ei_x_encode_atom(out, "timeout");
    return CN_RPC_RETURN;
}

int cn_global_exports(void)
{
    struct {
        const char *f;
        int arity;
        cn_rpc_fn fn;
    } t[] = {
        {"whereis_name", 1, x_whereis_name},
        {"registered_names", 0, x_registered_names},
        {"sync", 0, x_sync},
        {"register_name", 2, x_register_name},
        {"register_name", 3, x_register_name},
        {"unregister_name", 1, x_unregister_name},
        {"send", 2, x_send},
        {"resolve_it", 4, x_resolve_it},
        {"random_exit_name", 3, x_random_exit_name},
        {"random_notify_name", 3, x_random_notify_name},
        {"notify_all_name", 3, x_notify_all_name},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (cn_export("global", t[i].f, t[i].arity, t[i].fn) < 0)
            return -1;
    return 0;
}

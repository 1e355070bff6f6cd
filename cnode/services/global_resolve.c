/* global_resolve: name clashes (OTP's exchange_names). The three standard methods of module
 * global run here in C whatever node the pids are on (they only send exit signals and
 * messages); another method (a closure) runs where OTP runs it, on the node of our entry's
 * pid, by rpc of global:resolve_it/4 from a resolver process, so the server never waits. */
#include "services/global.h"

#include "services/global_msg.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

static void conflict_msg(ei_x_buff *x, const char *name, int nlen, const cn_pid *other)
{
    ei_x_encode_tuple_header(x, other ? 3 : 2);
    ei_x_encode_atom(x, "global_name_conflict");
    ei_x_append_buf(x, name, nlen);
    if (other)
        cn_encode_pid(x, other);
}

/* random_exit_name, random_notify_name, notify_all_name: what OTP's do, from C. */
void gl_run_method(cn_proc *self, const char *fun, const char *name, int nlen, const cn_pid *p1,
                   const cn_pid *p2, ei_x_buff *out)
{
    const char *n1 = cn_node_name(p1->node), *n2 = cn_node_name(p2->node);
    int first_smaller = n1 && n2 && gl_node_cmp(n1, n2) < 0;
    const cn_pid *min = first_smaller ? p1 : p2, *max = first_smaller ? p2 : p1;
    ei_x_buff m;
    ei_x_new(&m);
    if (!strcmp(fun, "random_exit_name")) {
        cn_info("global: name conflict, terminating the loser");
        ei_x_encode_atom(&m, "kill");
        cn_exit(self, max, m.buff, m.index);
        cn_encode_pid(out, min);
    } else if (!strcmp(fun, "random_notify_name")) {
        conflict_msg(&m, name, nlen, NULL);
        cn_send(self, max, m.buff, m.index);
        cn_encode_pid(out, min);
    } else { /* notify_all_name */
        conflict_msg(&m, name, nlen, p2);
        cn_send(self, p1, m.buff, m.index);
        m.index = 0;
        conflict_msg(&m, name, nlen, p1);
        cn_send(self, p2, m.buff, m.index);
        ei_x_encode_atom(out, "none");
    }
    ei_x_free(&m);
}

void gl_resolve_local(cn_proc *self, const char *method, int mlen, const char *name, int nlen,
                      const cn_pid *p1, const cn_pid *p2, ei_x_buff *out)
{
    char mod[MAXATOMLEN_UTF8], fun[MAXATOMLEN_UTF8];
    long arity;
    int i = 1;
    if (mlen > 1 && (unsigned char)method[0] == ERL_EXPORT_EXT &&
        ei_decode_atom(method, &i, mod) == 0 && ei_decode_atom(method, &i, fun) == 0 &&
        ei_decode_long(method, &i, &arity) == 0 && arity == 3 && !strcmp(mod, "global") &&
        (!strcmp(fun, "random_exit_name") || !strcmp(fun, "random_notify_name") ||
         !strcmp(fun, "notify_all_name"))) {
        gl_run_method(self, fun, name, nlen, p1, p2, out);
        return;
    }
    /* a closure or another function: C cannot run it; as a crashed method in OTP, the name
     * is then unregistered on every node */
    cn_info("global: name conflict with a resolve method C cannot run: name unregistered");
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "EXIT");
    ei_x_encode_atom(out, "c_node_cannot_run_method");
}

int gl_method_is_standard(const char *method, int mlen)
{
    char mod[MAXATOMLEN_UTF8], fun[MAXATOMLEN_UTF8];
    long arity;
    int i = 1;
    return mlen > 1 && (unsigned char)method[0] == ERL_EXPORT_EXT &&
           ei_decode_atom(method, &i, mod) == 0 && ei_decode_atom(method, &i, fun) == 0 &&
           ei_decode_long(method, &i, &arity) == 0 && arity == 3 && !strcmp(mod, "global") &&
           (!strcmp(fun, "random_exit_name") || !strcmp(fun, "random_notify_name") ||
            !strcmp(fun, "notify_all_name"));
}

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

void gl_clash_decided(const char *nm, int nl, const cn_pid *pid, const char *meth, int ml,
                      const cn_pid *pid2, const char *meth2, int ml2, const char *result,
                      gm_list *ops, gm_list *res)
{
    ei_x_buff x;
    ei_x_new(&x);
    cn_pid won;
    int ri = 0, is_pid = result && cn_decode_pid(result, &ri, &won) == 0;
    if (!result || (is_pid && cn_pid_eq(&won, pid))) { /* no result: as OTP's badrpc */
        encode_insert(&x, nm, nl, pid, meth, ml);
        gm_list_append(ops, x.buff, x.index, 1);
    } else if (is_pid && cn_pid_eq(&won, pid2)) {
        encode_insert(&x, nm, nl, pid2, meth2, ml2);
        gm_list_append(res, x.buff, x.index, 1);
    } else { /* none, or anything else: the name goes everywhere */
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "delete");
        ei_x_append_buf(&x, nm, nl);
        gm_list_append(ops, x.buff, x.index, 1);
        gm_list_append(res, x.buff, x.index, 1);
    }
    ei_x_free(&x);
}

/* ---- the resolver process ------------------------------------------------------------- */

/* Args: [Server, Node, Tag, Ops, Res, [{Name, Pid, Method, Pid2, Method2}]]. It resolves each
 * clash by rpc on node(Pid2), then casts {exchange_ops, Node, Tag, Ops, Res} to the server
 * and ends. */
static int rs_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    char *copy = malloc((size_t)(*idx - start));
    if (!copy)
        return -1;
    memcpy(copy, buf + start, (size_t)(*idx - start));
    *state = copy;
    ei_x_buff go;
    ei_x_new(&go);
    ei_x_encode_atom(&go, "go");
    cn_pid me = cn_self(self);
    cn_send(self, &me, go.buff, go.index);
    ei_x_free(&go);
    return 0;
}

static int rs_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)buf;
    (void)idx;
    const char *a = state;
    int i = 0, n;
    cn_pid server;
    char node[MAXATOMLEN_UTF8];
    long long tag;
    gm_list ops = {0}, res = {0}, clashes = {0};
    if (ei_decode_list_header(a, &i, &n) < 0 || n != 6 || cn_decode_pid(a, &i, &server) < 0 ||
        ei_decode_atom(a, &i, node) < 0 || ei_decode_longlong(a, &i, &tag) < 0 ||
        gm_list_take(a, &i, &ops) < 0 || gm_list_take(a, &i, &res) < 0 ||
        gm_list_take(a, &i, &clashes) < 0)
        goto out;
    int c = 0;
    for (int k = 0; k < clashes.n; k++) {
        int s = c, ar, nl, ml, ml2;
        const char *nm, *meth, *meth2;
        cn_pid pid, pid2;
        if (ei_skip_term(clashes.b, &c) < 0)
            break;
        if (ei_decode_tuple_header(clashes.b, &s, &ar) < 0 || ar != 5 ||
            gm_span(clashes.b, &s, &nm, &nl) < 0 || cn_decode_pid(clashes.b, &s, &pid) < 0 ||
            gm_span(clashes.b, &s, &meth, &ml) < 0 || cn_decode_pid(clashes.b, &s, &pid2) < 0 ||
            gm_span(clashes.b, &s, &meth2, &ml2) < 0)
            continue;
        ei_x_buff args, r;
        ei_x_new(&args);
        ei_x_new(&r);
        ei_x_encode_list_header(&args, 4);
        ei_x_append_buf(&args, meth2, ml2);
        ei_x_append_buf(&args, nm, nl);
        cn_encode_pid(&args, &pid);
        cn_encode_pid(&args, &pid2);
        ei_x_encode_empty_list(&args);
        int cls = 0;
        const char *on = cn_node_name(pid2.node);
        int rc = on ? cn_rpc_call(self, on, "global", "resolve_it", args.buff, args.index,
                                  GL_CALL_TIMEOUT, &r, &cls)
                    : -1;
        int ok = rc == 0 && cls == CN_RPC_RETURN;
        if (!ok)
            cn_info("global: resolve method for a name conflict could not run on %s",
                    on ? on : "?");
        gl_clash_decided(nm, nl, &pid, meth, ml, &pid2, meth2, ml2, ok ? r.buff : NULL, &ops, &res);
        ei_x_free(&args);
        ei_x_free(&r);
    }
    ei_x_buff m;
    ei_x_new(&m);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "$gen_cast");
    ei_x_encode_tuple_header(&m, 5);
    ei_x_encode_atom(&m, "exchange_ops");
    ei_x_encode_atom(&m, node);
    ei_x_encode_longlong(&m, tag);
    gm_list_encode(&m, &ops);
    gm_list_encode(&m, &res);
    cn_send(self, &server, m.buff, m.index);
    ei_x_free(&m);
out:
    gm_list_clear(&ops);
    gm_list_clear(&res);
    gm_list_clear(&clashes);
    return CN_STOP;
}

static void rs_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    free(state);
}

static const cn_worker resolver = {
    .module = "global_resolver",
    .init = rs_init,
    .handle_info = rs_info,
    .terminate = rs_terminate,
};

int gl_resolver_start(const char *args, int len)
{
    cn_spawn_opts o = {0};
    cn_pid pid;
    return cn_spawn_ex(&resolver, args, len, &o, &pid);
}

#include "services/rpc.h"

#include "proc/proc.h"
#include "services/exports.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

typedef struct rpc {
    int is_call;
    int len;
    char args[]; /* the spawn request's argument list, without version byte */
} rpc;

/* A list argument may arrive as STRING_EXT (all small integers); the C function always
 * sees the elements one after another, so turn it into a plain list of integers. */
static int args_of(const char *buf, int *idx, ei_x_buff *out, int *arity)
{
    int type, size;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    if (type == ERL_STRING_EXT) {
        char *s = malloc((size_t)size + 1);
        if (!s || ei_decode_string(buf, idx, s) < 0) {
            free(s);
            return -1;
        }
        for (int i = 0; i < size; i++)
            ei_x_encode_long(out, (unsigned char)s[i]);
        free(s);
        *arity = size;
        return 0;
    }
    if (ei_decode_list_header(buf, idx, arity) < 0)
        return -1;
    for (int i = 0; i < *arity; i++) {
        int start = *idx;
        if (ei_skip_term(buf, idx) < 0)
            return -1;
        ei_x_append_buf(out, buf + start, *idx - start);
    }
    if (*arity > 0) { /* the tail must be [] */
        int t = *idx;
        if (ei_get_type(buf, &t, &type, &size) < 0 || type != ERL_NIL_EXT)
            return -1;
        ei_skip_term(buf, idx);
    }
    return 0;
}

static void undef_stack(ei_x_buff *x, const char *m, const char *f, const char *args, int len)
{
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, m);
    ei_x_encode_atom(x, f);
    ei_x_append_buf(x, args, len); /* the argument list itself, as the BEAM reports it */
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
}

static void fn_stack(ei_x_buff *x, const char *m, const char *f, int arity)
{
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, m);
    ei_x_encode_atom(x, f);
    ei_x_encode_long(x, arity);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
}

/* Run M:F(A) and set the process's exit reason to erpc's report (PROTOCOL.md §6.4). */
static int rpc_start(cn_proc *p)
{
    rpc *r = p->beh;
    const char *buf = r->args;
    int idx = 0, n, res_start = 0, res_len = 0, arity = 0;
    char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
    ei_x_buff args, out, reason;
    ei_x_new(&args);
    ei_x_new(&out);
    ei_x_new(&reason);
    int ok = ei_decode_list_header(buf, &idx, &n) == 0 && n == (r->is_call ? 4 : 3);
    if (ok && r->is_call) {
        res_start = idx;
        ok = ei_skip_term(buf, &idx) == 0;
        res_len = idx - res_start;
    }
    int a_start = 0, a_len = 0;
    if (ok) {
        ok = ei_decode_atom(buf, &idx, m) == 0 && ei_decode_atom(buf, &idx, f) == 0;
        a_start = idx;
        ok = ok && args_of(buf, &idx, &args, &arity) == 0;
        a_len = idx - a_start;
    }
    if (!ok) {
        cn_warn("rpc: malformed erpc request");
        cn_set_stop_reason(p, "\x77\x06" "badarg", 8);
        goto done;
    }
    cn_rpc_fn fn = cn_export_lookup(m, f, arity);
    int cls;
    if (!fn) {
        cls = CN_RPC_ERROR;
        ei_x_encode_atom(&out, "undef");
    } else {
        int ai = 0;
        cls = fn(p, args.buff, &ai, arity, &out);
        if (cls < CN_RPC_RETURN || cls > CN_RPC_EXIT || out.index == 0) {
            cn_warn("rpc: %s:%s/%d returned nothing usable", m, f, arity);
            out.index = 0;
            cls = CN_RPC_ERROR;
            ei_x_encode_atom(&out, "badarg");
        }
    }
    if (!r->is_call) {
        if (cls != CN_RPC_RETURN)
            cn_warn("rpc: cast of %s:%s/%d raised an exception", m, f, arity);
        goto done; /* exits normal: nobody waits for a cast */
    }
    static const char *const classes[] = {"return", "error", "throw", "exit"};
    ei_x_encode_tuple_header(&reason, cls == CN_RPC_ERROR ? 4 : 3);
    ei_x_append_buf(&reason, buf + res_start, res_len);
    ei_x_encode_atom(&reason, classes[cls]);
    ei_x_append_buf(&reason, out.buff, out.index);
    if (cls == CN_RPC_ERROR) {
        if (fn)
            fn_stack(&reason, m, f, arity);
        else
            undef_stack(&reason, m, f, buf + a_start, a_len);
    }
    cn_set_stop_reason(p, reason.buff, reason.index);
done:
    ei_x_free(&args);
    ei_x_free(&out);
    ei_x_free(&reason);
    return CN_STOP;
}

static int rpc_message(cn_proc *p, const cn_msg *m)
{
    (void)p;
    (void)m;
    return 0; /* an rpc process only runs its function */
}

static void rpc_terminate(cn_proc *p, const char *reason, int len)
{
    (void)reason;
    (void)len;
    free(p->beh);
    p->beh = NULL;
}

static const cn_proc_ops rpc_ops = {"erpc", rpc_message, rpc_terminate, rpc_start};

int cn_rpc_spawn(const char *fun, const char *args, int args_len, const cn_pid *link,
                 const cn_pid *monitor_by, const cn_ref *monitor_ref, const cn_pid *group_leader,
                 cn_pid *pid_out, const char **why)
{
    int is_call = strcmp(fun, "execute_call") == 0;
    if (!is_call && strcmp(fun, "execute_cast") != 0) {
        *why = "badarg";
        return -1;
    }
    rpc *r = malloc(sizeof *r + (size_t)args_len);
    if (!r) {
        *why = "system_limit";
        return -1;
    }
    r->is_call = is_call;
    r->len = args_len;
    memcpy(r->args, args, (size_t)args_len);
    cn_proc *p = cn_proc_create(&rpc_ops, r);
    if (!p) {
        free(r);
        *why = "system_limit";
        return -1;
    }
    p->group_leader = group_leader ? *group_leader : p->pid;
    if (link)
        cn_proc_add_link(p, link);
    if (monitor_by)
        cn_proc_add_monitored_by(p, monitor_by, monitor_ref);
    *pid_out = p->pid;
    cn_proc_release(p);
    return 0;
}

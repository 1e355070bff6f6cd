/* rpc: runs exported C functions for callers elsewhere, each call in a process of its own:
 * erpc's spawn requests (execute_call/4, execute_cast/3) and the requests of the rex server. */
#include "services/rpc.h"

#include "code/table.h"
#include "proc/plist.h"
#include "proc/proc.h"
#include "services/exports.h"
#include "services/handoff.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* SPAWN: spawn(M, F, A) of an exported function, which ends the process as on a BEAM node */
enum { ERPC_CALL, ERPC_CAST, REX_CALL, REX_CAST, SPAWN };

/* Exit reasons, encoded (SMALL_ATOM_UTF8_EXT). */
static const char BADARG[] = {119, 6, 'b', 'a', 'd', 'a', 'r', 'g'};
static const char KILL[] = {119, 4, 'k', 'i', 'l', 'l'};

typedef struct rpc {
    int kind;
    int replied;   /* REX_CALL: the answer went out */
    cn_from *from; /* REX_CALL: the gen_server caller; NULL: the legacy form */
    cn_pid caller; /* legacy form: {rex, Result} goes to this pid */
    cn_pid out_gl; /* send_stdout_to_caller: the group leader that forwards output */
    int has_out_gl;
    int len;
    char args[]; /* erpc: [ResRef, M, F, A] or [M, F, A]; rex: [M, F, A] (no version byte) */
} rpc;

/* How a function ended: CN_RPC_* and the value or reason; errors also have a stack. */
typedef struct outcome {
    int cls;
    ei_x_buff val, stack;
} outcome;

/* A list argument may arrive as STRING_EXT (all small integers); the C function always
 * sees the elements one after another, so turn it into a plain list of integers. */
int cn_rpc_args_of(const char *buf, int *idx, ei_x_buff *out, int *arity)
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

/* [{M, F, Args, []}]: undef names the arguments themselves, as the BEAM reports it. */
static void undef_stack(ei_x_buff *x, const char *m, const char *f, const char *args, int len)
{
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, m);
    ei_x_encode_atom(x, f);
    ei_x_append_buf(x, args, len);
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

/* Run M:F(A) in process p; buf+*idx holds M, F and A one after another. Returns -1 if they
 * are not two atoms and a proper list (nothing ran), else 0 and the outcome (initialised
 * here; the caller frees it). */
static int run_export(cn_proc *p, const char *buf, int *idx, outcome *o)
{
    char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
    int arity = 0, a_start, a_len;
    ei_x_buff args;
    if (ei_decode_atom(buf, idx, m) < 0 || ei_decode_atom(buf, idx, f) < 0)
        return -1;
    ei_x_new(&args);
    a_start = *idx;
    if (cn_rpc_args_of(buf, idx, &args, &arity) < 0) {
        ei_x_free(&args);
        return -1;
    }
    a_len = *idx - a_start;
    ei_x_new(&o->val);
    ei_x_new(&o->stack);
    cn_code_ver *ver; /* loaded code stays mapped until the function has returned */
    cn_rpc_fn fn = cn_export_acquire(m, f, arity, &ver);
    if (!fn && arity == 1 && !strcmp(f, "cnode_import") && cn_handoff_importable(m)) {
        o->cls = cn_handoff_import(p, m, args.buff, args.index, &o->val); /* handoff.h */
    } else if (!fn && arity <= 1 && !strcmp(f, "module_info") && cn_module_known(m)) {
        if ((o->cls = cn_module_info(m, args.buff, arity, &o->val)) == CN_RPC_ERROR)
            fn_stack(&o->stack, m, f, arity);
    } else if (!fn) {
        o->cls = CN_RPC_ERROR;
        ei_x_encode_atom(&o->val, "undef");
        undef_stack(&o->stack, m, f, buf + a_start, a_len);
    } else {
        int ai = 0;
        o->cls = fn(p, args.buff, &ai, arity, &o->val);
        if (o->cls < CN_RPC_RETURN || o->cls > CN_RPC_EXIT || o->val.index == 0) {
            cn_warn("rpc: %s:%s/%d returned nothing usable", m, f, arity);
            o->val.index = 0;
            o->cls = CN_RPC_ERROR;
            ei_x_encode_atom(&o->val, "badarg");
        }
        if (o->cls == CN_RPC_ERROR || o->cls == CN_RPC_THROW)
            fn_stack(&o->stack, m, f, arity);
        cn_code_release(ver);
    }
    ei_x_free(&args);
    return 0;
}

static void outcome_free(outcome *o)
{
    ei_x_free(&o->val);
    ei_x_free(&o->stack);
}

/* erpc's exit report (PROTOCOL.md §6.4): {Res, return|throw|exit, V} or {Res, error, E, Stack}. */
static void erpc_report(const outcome *o, const char *res, int res_len, ei_x_buff *x)
{
    static const char *const classes[] = {"return", "error", "throw", "exit"};
    ei_x_encode_tuple_header(x, o->cls == CN_RPC_ERROR ? 4 : 3);
    ei_x_append_buf(x, res, res_len);
    ei_x_encode_atom(x, classes[o->cls]);
    ei_x_append_buf(x, o->val.buff, o->val.index);
    if (o->cls == CN_RPC_ERROR)
        ei_x_append_buf(x, o->stack.buff, o->stack.index);
}

/* {badrpc, {'EXIT', R}}: how rpc shows an exit, or an error {E, Stack}. */
static void badrpc_exit(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "badrpc");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "EXIT");
}

/* What rpc:call/block_call return on a BEAM node (rpc:execute_call in kernel's rpc.erl). */
static void rex_result(const outcome *o, ei_x_buff *x)
{
    if (o->cls == CN_RPC_RETURN || o->cls == CN_RPC_THROW) {
        ei_x_append_buf(x, o->val.buff, o->val.index);
        return;
    }
    badrpc_exit(x);
    if (o->cls == CN_RPC_ERROR) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_append_buf(x, o->val.buff, o->val.index);
        ei_x_append_buf(x, o->stack.buff, o->stack.index);
    } else {
        ei_x_append_buf(x, o->val.buff, o->val.index);
    }
}

static void rex_answer(cn_proc *p, rpc *r, const char *res, int len)
{
    r->replied = 1;
    if (r->from) {
        cn_reply(p, r->from, res, len);
        return;
    }
    ei_x_buff x; /* the legacy form: {rex, Result} */
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "rex");
    ei_x_append_buf(&x, res, len);
    cn_send(p, &r->caller, x.buff, x.index);
    ei_x_free(&x);
}

/* How a process that ran spawn(M, F, A) ends (nothing: normal), as a BEAM process whose
 * function returned, called exit(R) (R), raised error E ({E, Stack}) or threw T
 * ({{nocatch, T}, Stack}). */
static void spawn_exit_reason(const outcome *o, ei_x_buff *x)
{
    switch (o->cls) {
    case CN_RPC_EXIT:
        ei_x_append_buf(x, o->val.buff, o->val.index);
        break;
    case CN_RPC_ERROR:
    case CN_RPC_THROW:
        ei_x_encode_tuple_header(x, 2);
        if (o->cls == CN_RPC_THROW) {
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "nocatch");
        }
        ei_x_append_buf(x, o->val.buff, o->val.index);
        ei_x_append_buf(x, o->stack.buff, o->stack.index);
        break;
    default:
        break;
    }
}

/* The caller may have given up (erpc timeout: DEMONITOR) while the function ran: then it
 * gets no exit report. */
static void drop_demonitored(cn_proc *p)
{
    pthread_mutex_lock(&p->lock);
    for (cn_msg *m = p->mq_head; m; m = m->next) {
        if (m->kind != CN_SIG_DEMONITOR)
            continue;
        cn_mon *mon = cn_mon_take(p, CN_PL_MONITORED_BY, &m->ref);
        if (mon) {
            free(mon->name);
            free(mon);
        }
    }
    pthread_mutex_unlock(&p->lock);
}

/* The process's one turn: run the function, report, and stop. */
static int rpc_start(cn_proc *p)
{
    rpc *r = p->beh;
    const char *buf = r->args;
    int idx = 0, n, res_start = 0, res_len = 0;
    int want = r->kind == ERPC_CALL ? 4 : 3; /* [ResRef, M, F, A] or [M, F, A] */
    outcome o;
    int ok = ei_decode_list_header(buf, &idx, &n) == 0 && n == want;
    if (ok && r->kind == ERPC_CALL) {
        res_start = idx;
        ok = ei_skip_term(buf, &idx) == 0;
        res_len = idx - res_start;
    }
    if (!ok || run_export(p, buf, &idx, &o) < 0) {
        cn_warn("rpc: malformed request");
        if (r->kind == REX_CALL) {
            ei_x_buff x;
            ei_x_new(&x);
            badrpc_exit(&x);
            ei_x_encode_atom(&x, "badarg");
            rex_answer(p, r, x.buff, x.index);
            ei_x_free(&x);
        }
        cn_set_stop_reason(p, BADARG, sizeof BADARG);
        return CN_STOP;
    }
    if (cn_proc_being_killed(p)) { /* it must die of the signal, not report a result */
        outcome_free(&o);
        return 0; /* the queued exit signal ends the process, with its own reason */
    }
    ei_x_buff x;
    ei_x_new(&x);
    switch (r->kind) {
    case ERPC_CALL:
        erpc_report(&o, buf + res_start, res_len, &x);
        drop_demonitored(p);
        cn_set_stop_reason(p, x.buff, x.index);
        break;
    case REX_CALL:
        rex_result(&o, &x);
        rex_answer(p, r, x.buff, x.index);
        break;
    case SPAWN:
        spawn_exit_reason(&o, &x);
        if (x.index > 0)
            cn_set_stop_reason(p, x.buff, x.index);
        break;
    default: /* casts: nobody waits, the process ends normally */
        if (o.cls != CN_RPC_RETURN)
            cn_debug("rpc: a cast raised an exception");
        break;
    }
    ei_x_free(&x);
    outcome_free(&o);
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
    rpc *r = p->beh;
    if (r->kind == REX_CALL && !r->replied) { /* killed: as rex answers when its worker dies */
        ei_x_buff x;
        ei_x_new(&x);
        badrpc_exit(&x);
        ei_x_append_buf(&x, reason, len);
        rex_answer(p, r, x.buff, x.index);
        ei_x_free(&x);
    }
    if (r->has_out_gl)
        cn_sig_send_exit(&p->pid, &r->out_gl, KILL, sizeof KILL, 0);
    cn_from_free(r->from);
    free(r);
    p->beh = NULL;
}

static const cn_proc_ops rpc_ops = {"erpc", rpc_message, rpc_terminate, rpc_start};

static rpc *rpc_new(int kind, const char *args, int args_len)
{
    rpc *r = calloc(1, sizeof *r + (size_t)args_len);
    if (!r)
        return NULL;
    r->kind = kind;
    r->len = args_len;
    memcpy(r->args, args, (size_t)args_len);
    return r;
}

/* A process for r (which it owns from here, NULL: none could be made), linked and monitored
 * as a spawn request asks. 0, or -1 and *why. */
static int spawn_rpc(rpc *r, const cn_pid *link, const cn_pid *monitor_by,
                     const cn_ref *monitor_ref, const cn_pid *group_leader, cn_pid *pid_out,
                     const char **why)
{
    cn_proc *p = r ? cn_proc_create(&rpc_ops, r) : NULL;
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

int cn_rpc_spawn(const char *fun, const char *args, int args_len, const cn_pid *link,
                 const cn_pid *monitor_by, const cn_ref *monitor_ref, const cn_pid *group_leader,
                 cn_pid *pid_out, const char **why)
{
    int is_call = strcmp(fun, "execute_call") == 0;
    if (!is_call && strcmp(fun, "execute_cast") != 0) {
        *why = "badarg";
        return -1;
    }
    rpc *r = rpc_new(is_call ? ERPC_CALL : ERPC_CAST, args, args_len);
    return spawn_rpc(r, link, monitor_by, monitor_ref, group_leader, pid_out, why);
}

/* ---- rex: send_stdout_to_caller ----------------------------------------------------- */

/* A group leader that hands output to a caller as {rex_stdout, Data}, as rex does for the
 * legacy C-node form with group leader send_stdout_to_caller. */
static int out_gl_message(cn_proc *p, const cn_msg *m)
{
    const cn_pid *caller = p->beh;
    const char *b = m->data;
    int idx = 0, version, arity, type, size;
    char a[MAXATOMLEN_UTF8];
    cn_pid from;
    if (ei_decode_version(b, &idx, &version) < 0 || ei_decode_tuple_header(b, &idx, &arity) < 0 ||
        arity != 4 || ei_decode_atom(b, &idx, a) < 0 || strcmp(a, "io_request") != 0 ||
        cn_decode_pid(b, &idx, &from) < 0)
        return 0; /* not an I/O request: ignored */
    int as = idx;
    if (ei_skip_term(b, &idx) < 0)
        return 0;
    int as_len = idx - as, ok = 0;
    long bin_len = 0;
    /* {put_chars, Encoding, Binary}: what cn_io_put_chars sends */
    if (ei_decode_tuple_header(b, &idx, &arity) == 0 && arity == 3 &&
        ei_decode_atom(b, &idx, a) == 0 && strcmp(a, "put_chars") == 0 &&
        ei_skip_term(b, &idx) == 0 && ei_get_type(b, &idx, &type, &size) == 0 &&
        type == ERL_BINARY_EXT) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "rex_stdout");
        int bs = idx;
        if (ei_decode_binary(b, &idx, NULL, &bin_len) == 0) {
            ei_x_append_buf(&x, b + bs, idx - bs);
            cn_send(p, caller, x.buff, x.index);
            ok = 1;
        }
        ei_x_free(&x);
    }
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "io_reply");
    ei_x_append_buf(&x, b + as, as_len);
    if (ok) {
        ei_x_encode_atom(&x, "ok");
    } else {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "error");
        ei_x_encode_atom(&x, "enotsup");
    }
    cn_send(p, &from, x.buff, x.index);
    ei_x_free(&x);
    return 0;
}

static void out_gl_terminate(cn_proc *p, const char *reason, int len)
{
    (void)reason;
    (void)len;
    free(p->beh);
    p->beh = NULL;
}

static const cn_proc_ops out_gl_ops = {"rex_stdout", out_gl_message, out_gl_terminate, NULL};

static int out_gl_start(const cn_pid *caller, cn_pid *pid_out)
{
    cn_pid *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = *caller;
    cn_proc *p = cn_proc_create(&out_gl_ops, c);
    if (!p) {
        free(c);
        return -1;
    }
    p->group_leader = p->pid;
    *pid_out = p->pid;
    cn_proc_release(p);
    return 0;
}

int cn_rpc_spawn_rex(const char *mfa, int mfa_len, const cn_from *from, const cn_pid *legacy,
                     const cn_pid *gl, const cn_pid *stdout_to)
{
    ei_x_buff a;
    ei_x_new(&a);
    ei_x_encode_list_header(&a, 3);
    ei_x_append_buf(&a, mfa, mfa_len);
    ei_x_encode_empty_list(&a);
    rpc *r = rpc_new(from || legacy ? REX_CALL : REX_CAST, a.buff, a.index);
    ei_x_free(&a);
    if (!r || (from && !(r->from = cn_from_dup(from)))) {
        free(r);
        return -1;
    }
    if (legacy)
        r->caller = *legacy;
    if (stdout_to) {
        if (out_gl_start(stdout_to, &r->out_gl) < 0) {
            cn_from_free(r->from);
            free(r);
            return -1;
        }
        r->has_out_gl = 1;
    }
    cn_proc *p = cn_proc_create(&rpc_ops, r);
    if (!p) {
        if (r->has_out_gl)
            cn_sig_send_exit(&r->out_gl, &r->out_gl, KILL, sizeof KILL, 0);
        cn_from_free(r->from);
        free(r);
        return -1;
    }
    p->group_leader = r->has_out_gl ? r->out_gl : gl ? *gl : p->pid;
    cn_pid pid = p->pid;
    cn_proc_release(p);
    return cn_spawn_go(&pid);
}

int cn_rpc_spawn_export(const char *mod, const char *fun, const char *args, int args_len,
                        const cn_pid *link, const cn_pid *monitor_by, const cn_ref *monitor_ref,
                        const cn_pid *group_leader, cn_pid *pid_out, const char **why)
{
    ei_x_buff scratch;
    int idx = 0, arity = 0;
    ei_x_new(&scratch);
    int ok = cn_rpc_args_of(args, &idx, &scratch, &arity) == 0 && idx == args_len;
    ei_x_free(&scratch);
    if (!ok || !cn_export_lookup(mod, fun, arity))
        return 1; /* not a function we have: the caller's process exits with undef */
    ei_x_buff a;  /* [M, F, A], as rex's requests */
    ei_x_new(&a);
    ei_x_encode_list_header(&a, 3);
    ei_x_encode_atom(&a, mod);
    ei_x_encode_atom(&a, fun);
    ei_x_append_buf(&a, args, args_len);
    ei_x_encode_empty_list(&a);
    rpc *r = rpc_new(SPAWN, a.buff, a.index);
    ei_x_free(&a);
    return spawn_rpc(r, link, monitor_by, monitor_ref, group_leader, pid_out, why);
}

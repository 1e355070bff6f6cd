/* bifs: the process and node BIFs that tools call on a node over rpc (is_process_alive,
 * exit/2, send/2, register/2, halt, os:getpid, function_exported, self, make_ref,
 * unique_integer, ...), with the BEAM's
 * answers and its badarg for what it refuses. Each runs in the rpc's own process. */
#include "proc/ident.h"
#include "proc/proc.h"
#include "services/bif_args.h"
#include "services/exports.h"
#include "services/introspect.h"
#include "services/services.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The term at buf+*idx: its start and length; *idx moves past it. */
static int term_span(const char *buf, int *idx, const char **t, int *len)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    *t = buf + start;
    *len = *idx - start;
    return 0;
}

/* A pid of this node's incarnation (not an earlier node's of the same name). */
static int is_local(const cn_pid *pid)
{
    return pid->node == 0 && pid->creation == cn_ident_creation();
}

static int is_process_alive_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    cn_pid pid;
    if (cn_decode_pid(buf, idx, &pid) < 0 || pid.node != 0)
        return cn_ix_badarg(out); /* as on the BEAM: only local pids */
    cn_proc *p = is_local(&pid) ? cn_proc_get(&pid) : NULL;
    ei_x_encode_boolean(out, p != NULL);
    if (p)
        cn_proc_release(p);
    return CN_RPC_RETURN;
}

/* garbage_collect/1: there is no heap to collect; true for a live local process. */
static int garbage_collect_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    return is_process_alive_1(self, buf, idx, arity, out);
}

static int true_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    ei_x_encode_atom(out, "true");
    return CN_RPC_RETURN;
}

/* exit(Pid, Reason): the signal comes from the rpc's process, as it does on the BEAM. */
static int exit_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    cn_pid pid;
    const char *reason;
    int len;
    if (cn_decode_pid(buf, idx, &pid) < 0 || term_span(buf, idx, &reason, &len) < 0)
        return cn_ix_badarg(out);
    cn_exit(self, &pid, reason, len);
    ei_x_encode_atom(out, "true");
    return CN_RPC_RETURN;
}

/* send(Dest, Msg): Dest a pid, a registered name here, or {Name, Node}; returns Msg. */
static int send_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    int type, size, i = *idx, ar;
    char name[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    cn_pid pid;
    const char *msg;
    int len;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return cn_ix_badarg(out);
    if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
        if (cn_decode_pid(buf, &i, &pid) < 0 || term_span(buf, &i, &msg, &len) < 0)
            return cn_ix_badarg(out);
        cn_send(self, &pid, msg, len);
    } else if (cn_is_atom_type(type)) {
        if (ei_decode_atom(buf, &i, name) < 0 || term_span(buf, &i, &msg, &len) < 0 ||
            cn_whereis(name, &pid) < 0)
            return cn_ix_badarg(out); /* an unregistered name: badarg, as on the BEAM */
        cn_send(self, &pid, msg, len);
    } else if (ei_decode_tuple_header(buf, &i, &ar) == 0 && ar == 2 &&
               ei_decode_atom(buf, &i, name) == 0 && ei_decode_atom(buf, &i, node) == 0 &&
               term_span(buf, &i, &msg, &len) == 0) {
        cn_send_name(self, name, node, msg, len); /* a name not there: dropped, as on the BEAM */
    } else {
        return cn_ix_badarg(out);
    }
    *idx = i;
    ei_x_append_buf(out, msg, len);
    return CN_RPC_RETURN;
}

/* register(Name, Pid): a live local process without a name, a free name other than
 * `undefined`; anything else is badarg. */
static int register_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char name[MAXATOMLEN_UTF8];
    cn_pid pid;
    if (ei_decode_atom(buf, idx, name) < 0 || cn_decode_pid(buf, idx, &pid) < 0 ||
        !strcmp(name, "undefined") || !is_local(&pid) || cn_register(name, &pid) < 0)
        return cn_ix_badarg(out); /* dead, already named, or the name is taken */
    ei_x_encode_atom(out, "true");
    return CN_RPC_RETURN;
}

static int unregister_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char name[MAXATOMLEN_UTF8];
    if (ei_decode_atom(buf, idx, name) < 0 || cn_unregister(name) < 0)
        return cn_ix_badarg(out);
    ei_x_encode_atom(out, "true");
    return CN_RPC_RETURN;
}

static int getpid_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    char s[24];
    snprintf(s, sizeof s, "%ld", (long)getpid());
    ei_x_encode_string(out, s);
    return CN_RPC_RETURN;
}

/* function_exported(M, F, A): what this node runs for an rpc of M:F/A. */
static int function_exported_3(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
    long a;
    if (ei_decode_atom(buf, idx, m) < 0 || ei_decode_atom(buf, idx, f) < 0 ||
        ei_decode_long(buf, idx, &a) < 0 || a < 0 || a > 255)
        return cn_ix_badarg(out);
    ei_x_encode_boolean(out, cn_export_lookup(m, f, (int)a) != NULL ||
                                 (!strcmp(f, "module_info") && a <= 1 && cn_module_known(m)));
    return CN_RPC_RETURN;
}

/* halt() / halt(Status): end the node at once, without a clean shutdown (that is
 * init:stop/0): peers see the connections close. Status: 0..255, or a string (a slogan the
 * BEAM would put in a crash dump: logged here) for status 1. */
static int halt_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    long status = 0;
    char slogan[256];
    if (arity == 1) {
        int type, size, i = *idx;
        if (ei_get_type(buf, &i, &type, &size) < 0)
            return cn_ix_badarg(out);
        if (type == ERL_STRING_EXT && size < (int)sizeof slogan &&
            ei_decode_string(buf, &i, slogan) == 0) {
            cn_error("erlang:halt/1 called over rpc: \"%s\"", slogan);
            status = 1;
        } else if (ei_decode_long(buf, &i, &status) < 0 || status < 0 || status > 255) {
            return cn_ix_badarg(out);
        }
    }
    cn_info("erlang:halt called over rpc: exiting with status %ld", status);
    fflush(NULL);
    _exit((int)status);
}

/* ---- erlang:self/0, make_ref/0, unique_integer/0,1 ----------------------------------- */

static int self_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    cn_pid me = cn_self(self);
    cn_encode_pid(out, &me);
    return CN_RPC_RETURN;
}

static int make_ref_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    cn_ref r = cn_make_ref();
    cn_encode_ref(out, &r);
    return CN_RPC_RETURN;
}

/* One counter for the node: every value is unique, positive and larger than those handed
 * out before, so it meets what any combination of options asks. */
static atomic_llong unique_counter;

static int unique_integer_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    if (arity == 1) { /* a proper list of positive and monotonic */
        int type, size, n, i = *idx;
        char a[MAXATOMLEN_UTF8];
        if (ei_get_type(buf, &i, &type, &size) < 0 ||
            (type != ERL_NIL_EXT && type != ERL_LIST_EXT) || ei_decode_list_header(buf, &i, &n) < 0)
            return cn_ix_badarg(out);
        for (int k = 0; k < n; k++)
            if (cn_atom_arg(buf, &i, a) < 0 || (strcmp(a, "positive") && strcmp(a, "monotonic")))
                return cn_ix_badarg(out);
        if (n > 0 && (ei_get_type(buf, &i, &type, &size) < 0 || type != ERL_NIL_EXT))
            return cn_ix_badarg(out);
        *idx = i;
    }
    ei_x_encode_longlong(out, atomic_fetch_add(&unique_counter, 1) + 1);
    return CN_RPC_RETURN;
}

int cn_bifs_start(void)
{
    int r = 0;
    r |= cn_export("erlang", "is_process_alive", 1, is_process_alive_1);
    r |= cn_export("erlang", "garbage_collect", 0, true_0);
    r |= cn_export("erlang", "garbage_collect", 1, garbage_collect_1);
    r |= cn_export("erlang", "is_alive", 0, true_0);
    r |= cn_export("erlang", "exit", 2, exit_2);
    r |= cn_export("erlang", "send", 2, send_2);
    r |= cn_export("erlang", "register", 2, register_2);
    r |= cn_export("erlang", "unregister", 1, unregister_1);
    r |= cn_export("erlang", "function_exported", 3, function_exported_3);
    r |= cn_export("erlang", "halt", 0, halt_n);
    r |= cn_export("erlang", "halt", 1, halt_n);
    r |= cn_export("os", "getpid", 0, getpid_0);
    r |= cn_export("erlang", "self", 0, self_0);
    r |= cn_export("erlang", "make_ref", 0, make_ref_0);
    r |= cn_export("erlang", "unique_integer", 0, unique_integer_n);
    r |= cn_export("erlang", "unique_integer", 1, unique_integer_n);
    return r < 0 ? -1 : 0;
}

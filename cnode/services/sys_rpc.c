/* sys_rpc: the sys module's client functions over rpc, as tools call them on the node that
 * runs a process (observer's process window asks sys:get_status this way): get_state/1,2,
 * get_status/1,2, suspend/1,2, resume/1,2. Each sends {system, From, Req} from the rpc's
 * process and waits, exiting {Reason, {sys, F, Args}} as sys does when the call fails. */
#include "proc/proc.h"
#include "services/introspect.h"

#include <string.h>

#define SYS_DEFAULT_TIMEOUT 5000

/* Name: a pid or a locally registered name. */
static int resolve(const char *buf, int *idx, cn_pid *to)
{
    char name[MAXATOMLEN_UTF8];
    int i = *idx;
    if (cn_decode_pid(buf, &i, to) == 0) {
        *idx = i;
        return 0;
    }
    i = *idx;
    if (ei_decode_atom(buf, &i, name) < 0)
        return -1;
    *idx = i;
    return cn_whereis_name(name, to) == 0 ? 0 : 1;
}

/* Timeout: a non-negative integer (ms) or infinity (-1). */
static int timeout_arg(const char *buf, int *idx, int *ms)
{
    char a[MAXATOMLEN_UTF8];
    long v;
    int i = *idx;
    if (ei_decode_long(buf, &i, &v) == 0 && v >= 0 && v <= 0x7fffffff) {
        *ms = (int)v;
    } else if (i = *idx, ei_decode_atom(buf, &i, a) == 0 && !strcmp(a, "infinity")) {
        *ms = -1;
    } else {
        return -1;
    }
    *idx = i;
    return 0;
}

/* exit({Reason, {sys, F, Args}}): Reason's encoding in reason, Args the call's arguments. */
static int sys_exit(ei_x_buff *out, const char *reason, int rlen, const char *f, const char *args,
                    int alen, int arity)
{
    ei_x_encode_tuple_header(out, 2);
    ei_x_append_buf(out, reason, rlen);
    ei_x_encode_tuple_header(out, 3);
    ei_x_encode_atom(out, "sys");
    ei_x_encode_atom(out, f);
    ei_x_encode_list_header(out, arity);
    ei_x_append_buf(out, args, alen);
    ei_x_encode_empty_list(out);
    return CN_RPC_EXIT;
}

/* sys:F(Name[, Timeout]): the request is the atom F. */
static int sys_call(cn_proc *self, const char *f, const char *buf, int *idx, int arity,
                    ei_x_buff *out)
{
    int start = *idx, ms = SYS_DEFAULT_TIMEOUT;
    cn_pid to;
    int r = resolve(buf, idx, &to);
    if (r < 0 || (arity == 2 && timeout_arg(buf, idx, &ms) < 0))
        return cn_ix_badarg(out);
    ei_x_buff why, reply, rq;
    ei_x_new(&why);
    if (r > 0) { /* no process by that name: gen:call's noproc */
        ei_x_encode_atom(&why, "noproc");
        r = sys_exit(out, why.buff, why.index, f, buf + start, *idx - start, arity);
        ei_x_free(&why);
        return r;
    }
    ei_x_new(&reply);
    ei_x_new(&rq);
    ei_x_encode_atom(&rq, f);
    int c = cn_call_system(self, &to, rq.buff, rq.index, ms, &reply);
    if (c == 0) {
        ei_x_append_buf(out, reply.buff, reply.index);
        r = CN_RPC_RETURN;
    } else {
        if (c == -1)
            ei_x_encode_atom(&why, "timeout");
        else if (reply.index > 0)
            ei_x_append_buf(&why, reply.buff, reply.index); /* the process's exit reason */
        else
            ei_x_encode_atom(&why, "noproc");
        r = sys_exit(out, why.buff, why.index, f, buf + start, *idx - start, arity);
    }
    ei_x_free(&why);
    ei_x_free(&reply);
    ei_x_free(&rq);
    return r;
}

static int get_state_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    return sys_call(self, "get_state", buf, idx, arity, out);
}

static int get_status_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    return sys_call(self, "get_status", buf, idx, arity, out);
}

static int suspend_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    return sys_call(self, "suspend", buf, idx, arity, out);
}

static int resume_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    return sys_call(self, "resume", buf, idx, arity, out);
}

int cn_sys_rpc_start(void)
{
    int r = 0;
    for (int a = 1; a <= 2; a++) {
        r |= cn_export("sys", "get_state", a, get_state_n);
        r |= cn_export("sys", "get_status", a, get_status_n);
        r |= cn_export("sys", "suspend", a, suspend_n);
        r |= cn_export("sys", "resume", a, resume_n);
    }
    return r < 0 ? -1 : 0;
}

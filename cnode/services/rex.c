/* rex: the rpc server every node registers as `rex` (PROTOCOL.md §6.3), for what still goes
 * there: rpc:block_call, gen_server calls and casts of {call|cast, M, F, A, GL}, the legacy
 * C-node form {Pid, {call, ...}}, sbcast/send, and features_request. Functions run in
 * processes of their own (services/rpc.c), so rex itself never waits. */
#include "services/keeper.h"
#include "services/rpc.h"
#include "services/services.h"
#include "util/log.h"

#include <string.h>

enum { GL_NONE, GL_PID, GL_STDOUT };

/* M, F, A of a {Tag, M, F, A, GL} request at buf+*idx (past Tag): their span, and what to do
 * with output: GL_PID (a group leader pid), GL_STDOUT (send it to *pid as {rex_stdout, Data}:
 * GL {send_stdout_to_caller, Pid}, or the atom send_stdout_to_caller in the legacy form),
 * GL_NONE (user, or anything else). */
static int mfa_gl(const char *buf, int *idx, const char **mfa, int *mfa_len, cn_pid *pid, int *gl,
                  const cn_pid *legacy)
{
    int start = *idx, arity;
    char a[MAXATOMLEN_UTF8];
    for (int i = 0; i < 3; i++)
        if (ei_skip_term(buf, idx) < 0)
            return -1;
    *mfa = buf + start;
    *mfa_len = *idx - start;
    *gl = GL_NONE;
    int t = *idx, stdout_tuple = 0, stdout_atom = 0;
    if (cn_decode_pid(buf, &t, pid) == 0) {
        *gl = GL_PID;
        return ei_skip_term(buf, idx);
    }
    t = *idx;
    if (ei_decode_tuple_header(buf, &t, &arity) == 0 && arity == 2)
        stdout_tuple = ei_decode_atom(buf, &t, a) == 0 && strcmp(a, "send_stdout_to_caller") == 0 &&
                       cn_decode_pid(buf, &t, pid) == 0;
    t = *idx;
    if (legacy && ei_decode_atom(buf, &t, a) == 0)
        stdout_atom = strcmp(a, "send_stdout_to_caller") == 0;
    if (stdout_atom)
        *pid = *legacy;
    if (stdout_tuple || stdout_atom)
        *gl = GL_STDOUT;
    return ei_skip_term(buf, idx);
}

/* Tag of a 5-tuple {Tag, M, F, A, GL}, or "" when it is not one. */
static void request_tag(const char *buf, int *idx, char *tag)
{
    int arity, t = *idx;
    tag[0] = 0;
    if (ei_decode_tuple_header(buf, &t, &arity) == 0 && arity == 5 &&
        ei_decode_atom(buf, &t, tag) == 0)
        *idx = t;
}

static void spawn_failed(cn_proc *self, const cn_from *from, const cn_pid *legacy)
{
    ei_x_buff x;
    ei_x_new(&x);
    if (legacy) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "rex");
    }
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "badrpc");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "EXIT");
    ei_x_encode_atom(&x, "system_limit");
    if (legacy)
        cn_send(self, legacy, x.buff, x.index);
    else
        cn_reply(self, from, x.buff, x.index);
    ei_x_free(&x);
}

/* {call|block_call, M, F, A, GL} from a gen_server caller, or {call, ...} in the legacy form. */
static void start_call(cn_proc *self, const char *buf, int *idx, const cn_from *from,
                       const cn_pid *legacy)
{
    const char *mfa;
    int mfa_len, gl;
    cn_pid pid;
    if (mfa_gl(buf, idx, &mfa, &mfa_len, &pid, &gl, legacy) < 0)
        return;
    if (cn_rpc_spawn_rex(mfa, mfa_len, from, legacy, gl == GL_PID ? &pid : NULL,
                         gl == GL_STDOUT ? &pid : NULL) < 0)
        spawn_failed(self, from, legacy);
}

static int rex_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                    ei_x_buff *reply)
{
    (void)state;
    (void)reply;
    char tag[MAXATOMLEN_UTF8];
    request_tag(buf, idx, tag);
    if (strcmp(tag, "call") == 0 || strcmp(tag, "block_call") == 0)
        start_call(self, buf, idx, from, NULL);
    else
        cn_debug("rex: call ignored"); /* as rex does: the caller times out */
    return CN_NOREPLY;
}

static int rex_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)self;
    (void)state;
    char tag[MAXATOMLEN_UTF8];
    const char *mfa;
    int mfa_len, gl;
    cn_pid pid;
    request_tag(buf, idx, tag);
    if (strcmp(tag, "cast") == 0 && mfa_gl(buf, idx, &mfa, &mfa_len, &pid, &gl, NULL) == 0)
        cn_rpc_spawn_rex(mfa, mfa_len, NULL, NULL, gl == GL_PID ? &pid : NULL,
                         gl == GL_STDOUT ? &pid : NULL);
    return CN_NOREPLY;
}

/* {rex, Node, Reply}: the answer of sbcast and of a failed send. */
static void node_reply(cn_proc *self, const cn_pid *to, const char *missing)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "rex");
    ei_x_encode_atom(&x, cn_node_self_name());
    if (missing) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "nonexisting_name");
        ei_x_encode_atom(&x, missing);
    } else {
        ei_x_encode_atom(&x, cn_node_self_name());
    }
    cn_send(self, to, x.buff, x.index);
    ei_x_free(&x);
}

/* {sbcast, Name, Msg}: Msg to Name; {send, Name, Msg}: {From, Msg} to Name. */
static void name_send(cn_proc *self, const cn_pid *from, const char *buf, int *idx, int sbcast)
{
    char name[MAXATOMLEN_UTF8];
    int start;
    if (ei_decode_atom(buf, idx, name) < 0)
        return;
    start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return;
    ei_x_buff x;
    ei_x_new(&x);
    if (!sbcast) {
        ei_x_encode_tuple_header(&x, 2);
        cn_encode_pid(&x, from);
    }
    ei_x_append_buf(&x, buf + start, *idx - start);
    int r = cn_send_name(self, name, NULL, x.buff, x.index);
    ei_x_free(&x);
    if (r < 0 || sbcast)
        node_reply(self, from, r < 0 ? name : NULL);
}

static int rex_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)state;
    int arity, n;
    char a[MAXATOMLEN_UTF8];
    cn_pid from;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 2 ||
        cn_decode_pid(buf, idx, &from) < 0)
        return CN_NOREPLY;
    int t = *idx;
    if (ei_decode_atom(buf, &t, a) == 0 && strcmp(a, "features_request") == 0) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "features_reply");
        ei_x_encode_atom(&x, cn_node_self_name());
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_atom(&x, "erpc");
        ei_x_encode_empty_list(&x);
        cn_send(self, &from, x.buff, x.index);
        ei_x_free(&x);
        return CN_NOREPLY;
    }
    char tag[MAXATOMLEN_UTF8];
    t = *idx;
    request_tag(buf, &t, tag);
    if (strcmp(tag, "call") == 0) { /* "special for hidden C nodes": {rex, Result} back */
        start_call(self, buf, &t, NULL, &from);
        return CN_NOREPLY;
    }
    t = *idx;
    if (ei_decode_tuple_header(buf, &t, &n) == 0 && n == 3 && ei_decode_atom(buf, &t, a) == 0 &&
        (strcmp(a, "sbcast") == 0 || strcmp(a, "send") == 0))
        name_send(self, &from, buf, &t, a[1] == 'b');
    return CN_NOREPLY;
}

static const cn_worker rex = {
    .module = "rpc",
    .handle_call = rex_call,
    .handle_cast = rex_cast,
    .handle_info = rex_info,
};

int cn_rex_start(void)
{
    if (cn_keep_worker(&rex, "rex") < 0) {
        cn_warn("rex: cannot start");
        return -1;
    }
    return 0;
}

/* handoff: state handoff between nodes. cnode:handoff(Pid, Node) moves a worker (the gen
 * adapter does the moving, proc/gen.c); Module:cnode_import(State), which every worker module
 * with import_state answers here, starts the worker on the receiving side. */
#include "services/handoff.h"

#include "proc/gen.h"
#include "services/exports.h"

#include <string.h>

static int error_atom(ei_x_buff *out, const char *why)
{
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "error");
    ei_x_encode_atom(out, why);
    return CN_RPC_RETURN;
}

int cn_handoff_importable(const char *module)
{
    const cn_worker *w = cn_worker_builtin_lookup(module);
    /* loaded code is bound at spawn: whether it imports is known only then */
    return w ? w->import_state != NULL : cn_worker_lookup(module) != NULL;
}

int cn_handoff_import(cn_proc *self, const char *module, const char *state, int len,
                      ei_x_buff *out)
{
    (void)self;
    const cn_worker *w = cn_worker_lookup(module);
    cn_spawn_opts o = {.import = 1};
    cn_pid pid;
    if (!w || cn_spawn_ex(w, state, len, &o, &pid) < 0)
        return error_atom(out, "import_failed");
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    cn_encode_pid(out, &pid);
    return CN_RPC_RETURN;
}

/* cnode:handoff(Pid | Name, Node) -> {ok, NewPid} | {error, Reason}. */
static int handoff_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    char name[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    cn_pid pid;
    int i = *idx;
    if (cn_decode_pid(buf, &i, &pid) < 0) {
        i = *idx;
        if (ei_decode_atom(buf, &i, name) < 0) {
            ei_x_encode_atom(out, "badarg");
            return CN_RPC_ERROR;
        }
        if (cn_whereis_name(name, &pid) < 0)
            return error_atom(out, "noproc");
    }
    if (pid.node != 0 || ei_decode_atom(buf, &i, node) < 0) {
        ei_x_encode_atom(out, "badarg");
        return CN_RPC_ERROR;
    }
    ei_x_buff req;
    ei_x_new(&req);
    ei_x_encode_tuple_header(&req, 2);
    ei_x_encode_atom(&req, "$cnode_handoff");
    ei_x_encode_atom(&req, node);
    ei_x_buff reply;
    ei_x_new(&reply);
    /* the import's own timeout (gen.c) is shorter: this one only catches a stuck worker */
    int r = cn_call(self, &pid, req.buff, req.index, 30000, &reply);
    if (r == 0)
        ei_x_append_buf(out, reply.buff, reply.index);
    else
        error_atom(out, r == -1 ? "timeout" : "noproc");
    ei_x_free(&req);
    ei_x_free(&reply);
    return CN_RPC_RETURN;
}

int cn_handoff_start(void)
{
    return cn_export("cnode", "handoff", 2, handoff_2);
}

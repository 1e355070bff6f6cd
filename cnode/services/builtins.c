/* builtins: the functions a node answers over rpc whoever wrote the workers: who it is,
 * whom it knows, what it exports. Each is an ordinary export (cn_export). */
#include "code/code_rpc.h"
#include "dist/conn.h"
#include "proc/ident.h"
#include "services/exports.h"
#include "services/handoff.h"
#include "services/introspect.h"
#include "services/services.h"

#include <string.h>

static int node_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    ei_x_encode_atom(out, cn_node_name(0));
    return CN_RPC_RETURN;
}

static void encode_nodes(ei_x_buff *out)
{
    uint32_t nodes[1024];
    size_t n = cn_conn_list_kind(nodes, 1024, CN_CONN_VISIBLE); /* nodes() = nodes(visible) */
    for (size_t i = 0; i < n; i++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_atom(out, cn_node_name(nodes[i]));
    }
    ei_x_encode_empty_list(out);
}

static int nodes_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    encode_nodes(out);
    return CN_RPC_RETURN;
}

static int exports_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    cn_export_list(out);
    return CN_RPC_RETURN;
}

int cn_builtins_start(void)
{
    int r = 0;
    r |= cn_export("erlang", "node", 0, node_0);
    r |= cn_export("erlang", "nodes", 0, nodes_0);
    r |= cn_export("cnode", "exports", 0, exports_0);
    r |= cn_code_rpc_start();   /* code:load_binary/3 and friends (code/code_rpc.c) */
    r |= cn_introspect_start(); /* processes, process_info, memory, ... (introspect*.c) */
    r |= cn_handoff_start();    /* cnode:handoff/2 (handoff.c) */
    r |= cn_bifs_start();       /* is_process_alive, exit/2, send/2, halt, ... (bifs.c) */
    r |= cn_sys_rpc_start();    /* sys:get_state, get_status, ... (sys_rpc.c) */
    return r < 0 ? -1 : 0;
}

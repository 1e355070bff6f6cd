/* handoff: state handoff between nodes. cnode:handoff(Pid, Node) moves a worker (the gen
 * adapter does the moving, proc/gen.c); Module:cnode_import(State), which every worker module
 * with import_state answers here, starts the worker on the receiving side. */
#include "services/handoff.h"

#include "loop.h"
#include "proc/gen.h"
#include "services/exports.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_atom(ei_x_buff *out, const char *why)
{
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "error");
    ei_x_encode_atom(out, why);
    return CN_RPC_RETURN;
}

/* The worker's answer to {'$cnode_handoff', Node}: {ok, NewPid} moves its :global name, if it
 * has one, to NewPid (the old pid forwards meanwhile). Returns 1 for {ok, _}, else 0. */
static int after_handoff(cn_proc *self, const cn_pid *old, const ei_x_buff *reply)
{
    int k = 0, arity;
    char a[MAXATOMLEN_UTF8];
    cn_pid to;
    if (ei_decode_tuple_header(reply->buff, &k, &arity) < 0 || arity != 2 ||
        ei_decode_atom(reply->buff, &k, a) < 0 || strcmp(a, "ok") != 0 ||
        cn_decode_pid(reply->buff, &k, &to) < 0)
        return 0;
    if (cn_global_move_name(self, old, &to) < 0)
        cn_warn("handoff: the :global name of the old process could not be moved");
    return 1;
}

int cn_handoff_importable(const char *module)
{
    const cn_worker *w = cn_worker_builtin_lookup(module);
    /* loaded code is bound at spawn: whether it imports is known only then */
    return w ? w->import_state != NULL : cn_worker_lookup(module) != NULL;
}

int cn_handoff_import(cn_proc *self, const char *module, const char *state, int len, ei_x_buff *out)
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
    if (r == 0) {
        after_handoff(self, &pid, &reply);
        ei_x_append_buf(out, reply.buff, reply.index);
    } else
        error_atom(out, r == -1 ? "timeout" : "noproc");
    ei_x_free(&req);
    ei_x_free(&reply);
    return CN_RPC_RETURN;
}

/* ---- --drain-to ------------------------------------------------------------------------ */

#define DRAIN_MAX 65536      /* workers handed off at most; the rest stop with the node */
#define DRAIN_TOTAL_MS 60000 /* the whole drain; then the node stops anyway */

static char drain_node[256]; /* set once, before the drain process starts */

typedef struct drain {
    char node[256];
    cn_pid *pids;
    size_t n;
} drain;

static void collect(cn_proc *p, void *arg)
{
    drain *d = arg;
    if (d->n < DRAIN_MAX && cn_gen_movable(p))
        d->pids[d->n++] = p->pid;
}

static int drain_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)buf;
    (void)idx;
    drain *d = *state = calloc(1, sizeof *d);
    if (!d || !(d->pids = malloc(DRAIN_MAX * sizeof *d->pids))) {
        cn_loop_stop();
        return -1;
    }
    snprintf(d->node, sizeof d->node, "%s", drain_node);
    cn_proc_foreach(collect, d);
    size_t moved = 0;
    uint64_t until = cn_now_ms() + DRAIN_TOTAL_MS;
    ei_x_buff req;
    ei_x_new(&req);
    ei_x_encode_tuple_header(&req, 2);
    ei_x_encode_atom(&req, "$cnode_handoff");
    ei_x_encode_atom(&req, d->node);
    for (size_t i = 0; i < d->n && cn_now_ms() < until; i++) {
        ei_x_buff reply;
        ei_x_new(&reply);
        if (cn_call(self, &d->pids[i], req.buff, req.index, 20000, &reply) == 0 &&
            after_handoff(self, &d->pids[i], &reply))
            moved++;
        ei_x_free(&reply);
    }
    ei_x_free(&req);
    cn_info("drained %zu of %zu workers to %s", moved, d->n, d->node);
    /* the old pids forward what is still sent to them until their grace ends (and they end
     * {shutdown, {handoff, New}}): only then is the node gone */
    if (moved > 0)
        cn_sleep(self, CN_HANDOFF_GRACE_MS + 200);
    cn_loop_stop();
    return 0;
}

static void drain_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    drain *d = state;
    if (d)
        free(d->pids);
    free(d);
}

static const cn_worker drain_worker = {
    .module = "cnode_drain", .init = drain_init, .terminate = drain_terminate};

int cn_handoff_drain(const char *node)
{
    snprintf(drain_node, sizeof drain_node, "%s", node);
    cn_info("draining: handing workers off to %s before stopping", node);
    cn_spawn_opts o = {.async_init = 1};
    cn_pid pid;
    return cn_spawn_ex(&drain_worker, NULL, 0, &o, &pid);
}

int cn_handoff_start(void)
{
    return cn_export("cnode", "handoff", 2, handoff_2);
}

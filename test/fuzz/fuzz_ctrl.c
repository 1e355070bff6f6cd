/* fuzz_ctrl: hostile control messages from a peer, through rx (frames.h) and the control
 * dispatcher into a running node: a registered gen_server-like process ("echo") and a
 * process trapping exits ("trap") receive what the peer sends, link, monitor, exit, spawn
 * requests included (of echo:start, an exported function here, one runs it in a new
 * process). The node must refuse or route each message without crashing; what
 * goes back to the peer finds no connection and is dropped. */
#include "dist/ctrl.h"
#include "loop.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "services/rpc.h"
#include "util/log.h"

#include "frames.h"

#include <ei.h>

static uint32_t peer;

static int w_init(cn_proc *self, const char *buf, int *index, void **state)
{
    (void)self, (void)buf, (void)index;
    *state = malloc(16); /* something for terminate to free, so leaks show */
    return *state ? 0 : -1;
}

static int trap_init(cn_proc *self, const char *buf, int *index, void **state)
{
    self->trap_exit = 1;
    return w_init(self, buf, index, state);
}

/* No reply: a reply to the peer's process would dial the peer, and with no event loop running
 * here the dial never ends, so the replying process would wait on back-pressure for good. */
static int w_call(cn_proc *self, void *state, const char *buf, int *index, const cn_from *from,
                  ei_x_buff *reply)
{
    (void)self, (void)state, (void)from, (void)reply;
    (void)ei_skip_term(buf, index);
    return CN_NOREPLY;
}

static int w_cast(cn_proc *self, void *state, const char *buf, int *index)
{
    (void)self, (void)state, (void)buf, (void)index;
    return CN_NOREPLY;
}

static void w_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self, (void)reason, (void)len;
    free(state);
}

static const cn_worker plain = {.module = "fz",
                                .init = w_init,
                                .handle_call = w_call,
                                .handle_cast = w_cast,
                                .handle_info = w_cast,
                                .terminate = w_terminate};
static const cn_worker trapping = {.module = "fz",
                                   .init = trap_init,
                                   .handle_call = w_call,
                                   .handle_cast = w_cast,
                                   .handle_info = w_cast,
                                   .terminate = w_terminate};

/* echo:start/N, exported: a spawn request of it runs it in a new process (the spawn
 * fallback), whatever arguments the peer sends. */
static int fz_export(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    for (int i = 0; i < arity; i++)
        if (ei_skip_term(buf, idx) < 0)
            break;
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

/* The two processes, started again when a message killed them. */
static void ensure(const cn_worker *w, const char *name)
{
    cn_pid pid;
    if (cn_whereis(name, &pid) != 0)
        (void)cn_spawn_worker(w, NULL, 0, name, &pid);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    cn_log_level = -1;
    ei_init();
    cn_ident_init("t@host", 1234);
    if (cn_loop_init() != 0 || cn_ptab_init(256) != 0 || cn_sched_start(1) != 0)
        abort();
    long n = cn_node_intern("peer@host", 9);
    if (n <= 0)
        abort();
    peer = (uint32_t)n;
    cn_spawn_fallback_register(cn_rpc_spawn_export);
    if (cn_export("echo", "start", -1, fz_export) != 0)
        abort();
    return 0;
}

static void dispatch(cn_dist_msg *m)
{
    char err[256];
    (void)cn_ctrl_dispatch(peer, m, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    /* now and then the peer's connection drops, as it would: the links and monitors its
     * processes hold go (and a long run stays bounded) */
    static unsigned runs;
    if (++runs % 4096 == 0)
        cn_proc_nodedown(peer);
    ensure(&plain, "echo");
    ensure(&trapping, "trap");
    fuzz_frames(data, n, dispatch);
    cn_ctrl_flush(); /* as the connection does after each read */
    return 0;
}

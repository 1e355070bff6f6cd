/* ctrl: decode a received control message and route it to local processes, answering
 * on the wire where the protocol needs an answer (noproc monitors, unlink acks). */
#ifndef CN_CTRL_H
#define CN_CTRL_H

#include "cnode.h"
#include "dist/rx.h"

#include <stddef.h>
#include <stdint.h>

/* Consumes m (ownership of its storage may move to a mailbox). Returns 0, or -1 when the
 * message is malformed (reason in err); unknown operations are logged and dropped. */
int cn_ctrl_dispatch(uint32_t peer, cn_dist_msg *m, char *err, size_t errlen);
/* Deliver what the dispatches so far on this thread collected (call after each read's
 * frames, and before anything that reports the connection down). */
void cn_ctrl_flush(void);

/* A service that runs the spawn requests of a module itself (erpc). Same contract as
 * cn_rpc_spawn: start the process held, return 0 and its pid, or -1 with an error atom. */
typedef int (*cn_spawn_hook)(const char *fun, const char *args, int args_len, const cn_pid *link,
                             const cn_pid *monitor_by, const cn_ref *monitor_ref,
                             const cn_pid *group_leader, cn_pid *pid_out, const char **why);
int cn_spawn_hook_register(const char *mod, cn_spawn_hook fn);
cn_spawn_hook cn_spawn_hook_lookup(const char *mod);

/* The service that runs spawn requests of mod:fun that no worker module starts (exported
 * functions, services/rpc.c): returns 1 when mod:fun/arity is not its to run (the process
 * then exits with undef), else as cn_spawn_hook. args: the argument list, encoded. */
typedef int (*cn_spawn_fallback)(const char *mod, const char *fun, const char *args, int args_len,
                                 const cn_pid *link, const cn_pid *monitor_by,
                                 const cn_ref *monitor_ref, const cn_pid *group_leader,
                                 cn_pid *pid_out, const char **why);
void cn_spawn_fallback_register(cn_spawn_fallback fn);

/* A process gave up waiting for the SPAWN_REPLY of its request req (cn_rpc_call timed out):
 * when the reply comes, it is dropped and the new process's monitor taken down. */
void cn_spawn_abandon(const cn_ref *req, const cn_pid *caller);

#endif

/* rpc: the server side of erpc (and so of rpc, which OTP 25+ builds on erpc): a spawn request
 * of erpc:execute_call/4 or execute_cast/3 runs an exported C function in a new process. */
#ifndef CN_RPC_H
#define CN_RPC_H

#include "cnode.h"

/* Start (held: cn_spawn_go runs it) the process for a spawn request of erpc:Fun with the
 * encoded argument list args. Returns 0 and the pid, or -1 with an error atom in *why. */
int cn_rpc_spawn(const char *fun, const char *args, int args_len, const cn_pid *link,
                 const cn_pid *monitor_by, const cn_ref *monitor_ref, const cn_pid *group_leader,
                 cn_pid *pid_out, const char **why);

#endif

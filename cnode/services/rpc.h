/* rpc: the server side of erpc (and so of rpc, which OTP 25+ builds on erpc): a spawn request
 * of erpc:execute_call/4 or execute_cast/3 runs an exported C function in a new process; rex's
 * requests run the same way (rex.c). */
#ifndef CN_RPC_H
#define CN_RPC_H

#include "cnode.h"

/* Start (held: cn_spawn_go runs it) the process for a spawn request of erpc:Fun with the
 * encoded argument list args. Returns 0 and the pid, or -1 with an error atom in *why. */
int cn_rpc_spawn(const char *fun, const char *args, int args_len, const cn_pid *link,
                 const cn_pid *monitor_by, const cn_ref *monitor_ref, const cn_pid *group_leader,
                 cn_pid *pid_out, const char **why);

/* spawn(Mod, Fun, Args) of an exported function (dist/ctrl.h's fallback): start (held) a
 * process that runs it and ends as on a BEAM node: normal when it returns, R for exit(R),
 * {E, Stack} for an error, {{nocatch, T}, Stack} for a throw. Returns 1 when Mod:Fun/arity
 * is not exported, else as cn_rpc_spawn. */
int cn_rpc_spawn_export(const char *mod, const char *fun, const char *args, int args_len,
                        const cn_pid *link, const cn_pid *monitor_by, const cn_ref *monitor_ref,
                        const cn_pid *group_leader, cn_pid *pid_out, const char **why);

/* For rex: start a process that runs M:F(A) (mfa: the terms M, F and A one after another,
 * encoded without version byte) and answers as rex's workers do: the value, a thrown term,
 * {badrpc, {'EXIT', R}} or {badrpc, {'EXIT', {E, Stack}}} (also when the process is killed)
 * as a gen_server reply to from, or as {rex, Result} to legacy; with neither, a cast. gl: the
 * group leader (NULL: none); stdout_to: send output there as {rex_stdout, Data} instead.
 * Returns 0, or -1 when no process could be started. */
int cn_rpc_spawn_rex(const char *mfa, int mfa_len, const cn_from *from, const cn_pid *legacy,
                     const cn_pid *gl, const cn_pid *stdout_to);

/* The argument list A at buf+*idx as a cn_rpc_fn gets it: its elements one after another
 * (a STRING_EXT as its small integers) appended to out, their count in *arity. 0, or -1 if
 * A is not a proper list. */
int cn_rpc_args_of(const char *buf, int *idx, ei_x_buff *out, int *arity);

#endif

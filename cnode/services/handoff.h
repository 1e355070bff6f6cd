/* handoff: state handoff between nodes: cnode:handoff/2, and Module:cnode_import(State),
 * which starts a worker of this node from a state another node (or this one) exported. */
#ifndef CN_HANDOFF_H
#define CN_HANDOFF_H

#include "cnode.h"

/* Export cnode:handoff/2 (called by cn_builtins_start). Returns 0 or -1. */
int cn_handoff_start(void);
/* Does Module:cnode_import/1 exist here (a worker module with import_state)? */
int cn_handoff_importable(const char *module);
/* Module:cnode_import(State) (rpc, from run_export): state is the term, without version
 * byte. Appends {ok, Pid} or {error, import_failed}; returns CN_RPC_RETURN. */
/* --drain-to: in a process of its own, hand every movable worker (cn_gen_movable) off to
 * node, one after another, then stop the event loop. Returns 0, or -1 if it cannot start. */
int cn_handoff_drain(const char *node);
int cn_handoff_import(cn_proc *self, const char *module, const char *state, int len,
                      ei_x_buff *out);

#endif

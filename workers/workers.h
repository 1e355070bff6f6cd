/* workers: the worker modules built into cnoded; each file is a short example of the
 * public worker API (cnode.h). */
#ifndef CN_WORKERS_H
#define CN_WORKERS_H

#include "cnode.h"

extern const cn_worker cn_echo_worker;
extern const cn_worker cn_kv_worker;
extern const cn_worker cn_probe_worker;
extern const cn_worker cn_extractor_worker;

/* The example RPC functions :demo.add/2, fail/1, throw/1, exit/1, sleep/1, print/1 and echo/N
 * (demo_rpc.c). Returns 0, or -1 if a name was taken. */
int cn_demo_rpc_register(void);

/* :extractor.extract/1, the extractor worker's scan without a worker (extractor.c). */
int cn_extractor_rpc_register(void);

/* Register every built-in worker module (for Node.spawn and cnode_sup) and the demo exports
 * (builtin.c). */
void cn_workers_register_builtin(void);

#endif

/* workers: the worker modules built into cnoded; each file is a short example of the
 * public worker API (cnode.h). */
#ifndef CN_WORKERS_H
#define CN_WORKERS_H

#include "cnode.h"

extern const cn_worker cn_echo_worker;
extern const cn_worker cn_kv_worker;
extern const cn_worker cn_probe_worker;

/* Register every built-in worker module (for Node.spawn and cnode_sup). */
void cn_workers_register_builtin(void);

#endif

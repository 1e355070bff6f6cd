/* builtin: what cnoded offers besides the core services: the built-in worker modules and the
 * example RPC functions, registered before the node starts. */
#include "workers.h"

void cn_workers_register_builtin(void)
{
    cn_worker_register(&cn_echo_worker);
    cn_worker_register(&cn_kv_worker);
    cn_worker_register(&cn_probe_worker);
    cn_worker_register(&cn_extractor_worker);
    cn_demo_rpc_register();
    cn_extractor_rpc_register();
}

/* services: start the node's OTP services, in order (see services.h). */
#include "services/services.h"

#include "dist/ctrl.h"
#include "services/global.h"
#include "services/introspect.h"
#include "services/keeper.h"
#include "services/pg.h"
#include "services/rpc.h"

int cn_services_start(void)
{
    cn_spawn_fallback_register(cn_rpc_spawn_export);
    if (cn_keeper_start() < 0 || cn_spawn_hook_register("erpc", cn_rpc_spawn) < 0 ||
        cn_builtins_start() < 0 || cn_net_kernel_start() < 0 || cn_rex_start() < 0 ||
        cn_supervisor_start() < 0 || cn_pg_service_start() < 0 || cn_global_start() < 0 ||
        cn_observer_start() < 0 || cn_bifs_node_start() < 0 || cn_bifs_app_start() < 0 ||
        cn_bifs_host_start() < 0)
        return -1;
    return 0;
}

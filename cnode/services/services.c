/* services: start the node's OTP services, in order (see services.h). */
#include "services/services.h"

int cn_services_start(void)
{
    if (cn_net_kernel_start() < 0 || cn_supervisor_start() < 0)
        return -1;
    return 0;
}

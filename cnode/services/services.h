/* services: the OTP services a node must answer, started with the node
 * (net_kernel now; rex/erpc, global, pg, code later). */
#ifndef CN_SERVICES_H
#define CN_SERVICES_H

int cn_services_start(void);

#endif

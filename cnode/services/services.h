/* services: the OTP services a node must answer, started with the node: net_kernel and the
 * cnode_sup supervisor, erpc, rex and the built-in rpc functions (global, pg, code later). */
#ifndef CN_SERVICES_H
#define CN_SERVICES_H

/* Start every service (called by cn_node_start once the schedulers run). */
int cn_services_start(void);

/* The functions every node answers over rpc: erlang:node/0 and friends, cnode:exports/0,
 * code:load_binary/3 (builtins.c). */
int cn_builtins_start(void);

/* net_kernel:connect_node/1, net_adm:ping/1, disconnect_node/1, the clocks, os:type/0 ...
 * over rpc (bifs_node.c). */
int cn_bifs_node_start(void);
/* application:which_applications/0 and friends over rpc (bifs_app.c). */
int cn_bifs_app_start(void);
/* os:getenv/0,1,2, init:get_arguments/0 and friends, net_adm:names/0,1 over rpc
 * (bifs_host.c). */
int cn_bifs_host_start(void);

/* net_kernel, registered as `net_kernel` (net_kernel.c). */
int cn_net_kernel_start(void);

/* rex, registered as `rex`: rpc:block_call, the legacy C-node rpc form, sbcast,
 * features_request (rex.c; the functions run as in rpc.c). */
int cn_rex_start(void);

/* cnode_sup, registered as `cnode_sup`, and the keeper that starts a fresh one whenever it
 * exits (supervisor.c). Worker modules named by static children must be registered first. */
int cn_supervisor_start(void);

/* A child that cnode_sup starts (as a permanent worker, with args []) each time it starts,
 * registered under name unless name is NULL. Call before cn_node_start; the strings must
 * live as long as the node. Returns 0, or -1 when the table is full. */
int cn_supervisor_static_child(const char *module, const char *name);

#endif

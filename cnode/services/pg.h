/* pg: :pg scopes on this node (PROTOCOL.md §8) — a scope process per scope name, speaking
 * OTP pg's protocol with the same-named scopes of other nodes, and pg's functions over rpc. */
#ifndef CN_PG_H
#define CN_PG_H

#include "cnode.h"

/* Export the pg module's functions (pg:join/3 ... over rpc) and start the default scope
 * `pg`. Called once by cn_services_start. */
int cn_pg_service_start(void);

/* Start scope unless it runs, and keep it: when its process exits while the node runs, the
 * keeper starts a fresh, empty one, which meets its peers again by discover (pg.c). */
int cn_pg_keep(const char *scope);

/* Inside the service (pg_api.c for pg_rpc.c): */
/* The scope's pid; when it does not run, start it (create) or fail. 0, or -1. */
int cn_pg_scope_pid(const char *scope, int create, cn_pid *out);
/* Append the members of group (any encoding of it) in scope as a list: 0, or -1 for a
 * malformed group. A scope that does not run has no members. */
int cn_pg_encode_group_members(const char *scope, const char *group, int len, int local_only,
                               ei_x_buff *out);
/* Export pg's functions (pg_rpc.c). */
int cn_pg_rpc_start(void);

#endif

/* pg: :pg scopes on this node (PROTOCOL.md §8) — a scope process per scope name, speaking
 * OTP pg's protocol with the same-named scopes of other nodes, and pg's functions over rpc. */
#ifndef CN_PG_H
#define CN_PG_H

/* Export the pg module's functions (pg:join/3 ... over rpc) and start the default scope
 * `pg`. Called once by cn_services_start. */
int cn_pg_service_start(void);

#endif

/* global: the node's :global participant (PROTOCOL.md §7.2): global_name_server (global.c,
 * _sync.c, _down.c), its locker, clash resolution (_resolve.c), C API and rpc (_api.c). */
#ifndef CN_GLOBAL_H
#define CN_GLOBAL_H

#include "cnode.h"

#define GL_VSN 8
#define GL_SERVER "global_name_server"
/* Bound of one set_lock/del_lock/register call to another node's server (ms). */
#define GL_CALL_TIMEOUT 15000

/* Start the server and its locker, registered as global_name_server (once). */
int cn_global_start(void);
/* Register the rpc exports (global:whereis_name/1, ...). */
int cn_global_exports(void);

/* ---- state shared with the locker and the API (each call takes the state lock) -------- */

/* Could Id ({ResourceId, RequesterId}, encoded) be set on this node now? 1/0. */
int gl_can_set_lock(const char *id, int len);
/* Is the resource `global` locked on this node? */
int gl_global_lock_is_set(void);
/* The nodes the server knows (a malloc'd array of malloc'd names; free with gl_strv_free). */
char **gl_known_nodes(int *n);
void gl_strv_free(char **v, int n);
/* whereis_name: the pid registered as the encoded name, 0; or -1. */
int gl_where(const char *name, int len, cn_pid *out);
/* Append the list of registered names. */
void gl_registered_names(ei_x_buff *x);
/* Is pid registered under some name? */
int gl_pid_has_name(const cn_pid *pid);
/* The name pid is registered under and its method (encoded, appended to name and method):
 * 0, or -1 if it has none. */
int gl_name_of(const cn_pid *pid, ei_x_buff *name, ei_x_buff *method);
/* Is every visible node we are connected to in the known set (global:sync/0's condition)? */
int gl_synced_with_visible(void);
cn_pid gl_server_pid(void);
cn_pid gl_locker_pid(void);

/* multi_call of {set_lock, Id} to the servers on nodes (NULL entry: this node). Nodes that
 * do not answer count as agreeing (as gen_server:multi_call's bad nodes). On any `false` the
 * locks granted are taken back and 0 is returned; else 1. */
int gl_set_lock_on_nodes(cn_proc *self, const char *id, int len, char **nodes, int n);
void gl_del_lock_on_nodes(cn_proc *self, const char *id, int len, char **nodes, int n);
/* Erlang order of two node names (atoms): <0, 0, >0. */
int gl_node_cmp(const char *a, const char *b);

/* The locker process's ops (global_locker.c). */
int gl_locker_start(cn_pid *out);

/* Is the method term one of global's three standard resolve functions (EXPORT_EXT)? */
int gl_method_is_standard(const char *method, int mlen);
/* What OTP's random_exit_name/random_notify_name/notify_all_name do, from C. */
void gl_run_method(cn_proc *self, const char *fun, const char *name, int nlen, const cn_pid *p1,
                   const cn_pid *p2, ei_x_buff *out);
struct gm_list;
/* A clash decided: result (the method's value; NULL when it could not run) gives an insert
 * op for us (ops), for the other side (res), or a delete for both (OTP's exchange_names). */
void gl_clash_decided(const char *nm, int nl, const cn_pid *pid, const char *meth, int ml,
                      const cn_pid *pid2, const char *meth2, int ml2, const char *result,
                      struct gm_list *ops, struct gm_list *res);
/* Start a resolver process (global_resolve.c) with its encoded argument list. */
int gl_resolver_start(const char *args, int len);

/* Run a resolve method on this node: the method term (EXPORT_EXT of global:random_exit_name/3,
 * random_notify_name/3 or notify_all_name/3) on Name, Pid1, Pid2. Appends the result (a pid,
 * or `none`, or {'EXIT', ...} for a method C cannot run). */
void gl_resolve_local(cn_proc *self, const char *method, int mlen, const char *name, int nlen,
                      const cn_pid *p1, const cn_pid *p2, ei_x_buff *out);

#endif

/* global_int: private to the global*.c files: the state of global_name_server that the
 * server (global.c), its connect-time sync (global_sync.c) and node loss (global_down.c) share. */
#ifndef CN_GLOBAL_INT_H
#define CN_GLOBAL_INT_H

#include "services/global.h"
#include "services/global_msg.h"
#include "services/global_tables.h"

#include <pthread.h>

#define MAX_NODES 1024

/* What the server keeps per node (OTP keeps it in `known` and the process dictionary). */
typedef struct gnode {
    char *name;
    int known, vsn;           /* in the known set, with its protocol version */
    int pending, pending_vsn; /* a connect is under way */
    int removing;             /* POP asked it to go: its nodedown is not a loss */
    int synced;
    int node_mon;          /* a monitor_node of ours is armed (see gl_sync_others) */
    unsigned long touched; /* the server turn that last used the entry */
    int has_my_tag, has_his_tag;
    long long my_tag, his_tag; /* the sync session's tags */
    int resolver;              /* a connect session is open (OTP: a resolver exists) */
    long long resolver_tag;
    int prot_vsn;
    int pre_connect; /* an init_connect that came before our nodeup */
    int pre_vsn, pre_his_vsn;
    long long pre_tag;
    cn_pid pre_locker;
    int wait_lock; /* 0, WL_LOCK_IS_SET, WL_EXCHANGE (his names in exch) */
    gm_list exch;
    int save_ops; /* 0, SO_OPS (ours in ops), SO_RESOLVED (his in hres/hknown) */
    gm_list ops, hres, hknown;
    char *lock_id; /* {global, [LockerA, LockerB]} of the session */
    int lock_id_len;
} gnode;

enum { WL_LOCK_IS_SET = 1, WL_EXCHANGE = 2 };
enum { SO_OPS = 1, SO_RESOLVED = 2 };
enum { ND_DISCONNECTED, ND_REMOVE, ND_IGNORE };

/* State read by other processes (locker, API, rpc functions) is under gl_mx (global.c). */
extern pthread_mutex_t gl_mx;
extern gt_names gl_names;
extern gnode gl_nodes[MAX_NODES];
extern int gl_nnodes;
extern long long gl_xcreation; /* server only */

/* global.c: the node table, sends, the name table. */
gnode *gl_node_get(const char *name, int create);
void gl_reset_node_state(gnode *g);
void gl_gns_send(cn_proc *self, const char *node, const ei_x_buff *msg, int cast, int noconnect);
void gl_to_locker(cn_proc *self, ei_x_buff *x);
void gl_do_ops(cn_proc *self, const gm_list *ops, const char *lock_id, int lock_id_len);

/* global_sync.c: connect sessions, exchange, resolved, meshing. */
void gl_cancel_locker(cn_proc *self, gnode *g, int has_tag, long long tag);
void gl_send_cancel_connect_message(cn_proc *self, const char *node, long long his_tag);
void gl_handle_nodeup(cn_proc *self, gnode *g);
void gl_restart_connect(cn_proc *self, gnode *g, int has_tag, long long tag);
void gl_init_connect(cn_proc *self, gnode *g, int vsn, int his_vsn, long long his_tag,
                     const cn_pid *his_locker);
int gl_add_to_known(const gm_list *l, char **added, int cap);
void gl_locker_add_known(cn_proc *self, char **added, int n);
void gl_sync_others(cn_proc *self, char **ns, int n);
void gl_lock_is_set(cn_proc *self, gnode *g, const char *lock_id, int lid_len);
void gl_exchange(cn_proc *self, gnode *g, gm_list *his);
void gl_exchange_ops(cn_proc *self, gnode *g, gm_list *ops, gm_list *res);
void gl_resolved(cn_proc *self, gnode *g);

/* global_down.c: nodedown (what: ND_*) and prevent-overlapping-partitions. */
void gl_handle_nodedown(cn_proc *self, gnode *g, int what);
void gl_lost_connection(cn_proc *self, const char *a, long long xcre, long long opid, const char *b,
                        const ei_x_buff *msg);
void gl_remove_connection(cn_proc *self, const char *node);

#endif

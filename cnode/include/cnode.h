/* cnode.h: the one public header of libcnode, for worker authors and embedding programs.
 * A node hosts processes; a worker is a GenServer-shaped callback table; terms are ei buffers. */
#ifndef CNODE_H
#define CNODE_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- identities --------------------------------------------------------------------- */

/* A process identifier. `node` is an index into the node's table of node names
 * (0 is this node); compare pids with cn_pid_eq. */
typedef struct cn_pid {
    uint32_t node;
    uint32_t id;
    uint32_t serial;
    uint32_t creation;
} cn_pid;

/* A reference (also used as an alias). Up to 5 words, as OTP 26+. */
typedef struct cn_ref {
    uint32_t node;
    uint32_t creation;
    uint32_t len;
    uint32_t n[5];
} cn_ref;

int cn_pid_eq(const cn_pid *a, const cn_pid *b);
int cn_ref_eq(const cn_ref *a, const cn_ref *b);
/* The full name ("name@host") of a node index, or NULL. */
const char *cn_node_name(uint32_t node);

/* ei codecs for pids and refs (ei's own structs are 1 KiB each; ours are small). */
int cn_decode_pid(const char *buf, int *index, cn_pid *out);
int cn_encode_pid(ei_x_buff *x, const cn_pid *pid);
int cn_decode_ref(const char *buf, int *index, cn_ref *out);
int cn_encode_ref(ei_x_buff *x, const cn_ref *ref);

/* ---- processes ---------------------------------------------------------------------- */

typedef struct cn_proc cn_proc; /* a running process, seen from its own callbacks */

/* Who sent a call, and the tag to answer with. Copy it with cn_from_dup to reply later. */
typedef struct cn_from {
    cn_pid pid;
    char *tag; /* the caller's tag term, encoded without version byte */
    int tag_len;
} cn_from;

enum {
    CN_NOREPLY = 0, /* continue; for handle_call: reply later with cn_reply */
    CN_REPLY = 1,   /* handle_call only: send `reply` to the caller */
    CN_STOP = 2, /* stop the process; the reason is set with cn_set_stop_reason (default normal) */
    /* handle_call only: reply with the bytes the callback consumed, buf[*index on entry ..
     * *index on return), as they are (an echo): a large request is sent back uncopied. */
    CN_REPLY_INPUT = 3
};

/* A worker module: GenServer-shaped callbacks. Every callback gets a term at buf+*index
 * (ei_decode_* from there); replies and state exports are encoded without version byte. */
typedef struct cn_worker {
    const char *module; /* the Erlang-visible module name, e.g. "echo" */
    /* args: the Erlang list given to start the worker. Return 0 and set *state, or -1. */
    int (*init)(cn_proc *self, const char *buf, int *index, void **state);
    int (*handle_call)(cn_proc *self, void *state, const char *buf, int *index, const cn_from *from,
                       ei_x_buff *reply);
    int (*handle_cast)(cn_proc *self, void *state, const char *buf, int *index);
    int (*handle_info)(cn_proc *self, void *state, const char *buf, int *index);
    /* reason: encoded without version byte. Frees the state. */
    void (*terminate)(cn_proc *self, void *state, const char *reason, int reason_len);
    /* Optional: the state as an Erlang term (for :sys.get_state and handoff). */
    int (*export_state)(void *state, ei_x_buff *out);
    /* Optional: build a state from a term that export_state produced (state handoff). */
    int (*import_state)(cn_proc *self, const char *buf, int *index, void **state);
    /* Optional: move a state to this version of the module; every load runs it in each
     * running worker (old_vsn: the previous version's vsn as a charlist, which may be this
     * very version on a reload; extra: [] or the upgrade's argument). Return 0 or -1. */
    int (*code_change)(cn_proc *self, void **state, const char *old_vsn, int old_len,
                       const char *extra, int extra_len);
} cn_worker;

/* Start a worker process (args: an encoded list without version byte, or NULL for []).
 * init runs on the calling thread before the pid is returned. If name is not NULL it is
 * registered under it. Returns 0 and the pid, or -1 (init failed, name taken, limit). */
int cn_spawn_worker(const cn_worker *w, const char *args, int args_len, const char *name,
                    cn_pid *pid_out);

/* Options for cn_spawn_ex. */
typedef struct cn_spawn_opts {
    const char *name;         /* register under this name */
    const cn_pid *link;       /* link the new process to this pid */
    const cn_pid *monitor_by; /* this pid monitors the new process, with monitor_ref */
    const cn_ref *monitor_ref;
    int async_init;             /* 1: init runs in the process's first turn (a failing init makes it
                                   exit with the reason {init_failed, Module}) */
    const cn_pid *group_leader; /* default: the new process itself */
    int hold_start;             /* with async_init: do not run yet; cn_spawn_go starts it (lets the
                                   spawner answer first, so its reply precedes any exit signal) */
    /* On a failed synchronous init: the exit reason, encoded (caller frees with free()). */
    char **init_error;
    int *init_error_len;
    /* 1: args is a state that export_state made (here or on another node): the worker starts
     * with import_state instead of init (state handoff); without import_state it fails. */
    int import;
} cn_spawn_opts;
int cn_spawn_ex(const cn_worker *w, const char *args, int args_len, const cn_spawn_opts *o,
                cn_pid *pid_out);

int cn_spawn_go(const cn_pid *pid);

/* Worker modules by Erlang module name, so that Node.spawn(node, Mod, F, Args) and the
 * cnode_sup supervisor can start them. Returns 0, or -1 if the name is taken. */
int cn_worker_register(const cn_worker *w);
const cn_worker *cn_worker_lookup(const char *module);

cn_pid cn_self(const cn_proc *self);
/* Send an encoded term (without version byte) to a pid, local or remote. */
int cn_send(cn_proc *self, const cn_pid *to, const char *msg, int len);
/* Send to a registered name on a node (node NULL or this node: local). Connects if needed. */
int cn_send_name(cn_proc *self, const char *name, const char *node, const char *msg, int len);
/* Answer a call (also a deferred one). */
int cn_reply(cn_proc *self, const cn_from *from, const char *reply, int len);
cn_from *cn_from_dup(const cn_from *from);
void cn_from_free(cn_from *from);
/* Links, monitors, exits (BEAM semantics; signals to remote pids cross the wire). */
int cn_link(cn_proc *self, const cn_pid *pid);
int cn_unlink(cn_proc *self, const cn_pid *pid);
/* Monitor a pid; the DOWN arrives in handle_info as {'DOWN', Ref, process, Pid, Reason}. */
int cn_monitor(cn_proc *self, const cn_pid *pid, cn_ref *ref_out);
int cn_demonitor(cn_proc *self, const cn_ref *ref);
/* exit/2: send an exit signal with reason (encoded without version byte). */
int cn_exit(cn_proc *self, const cn_pid *pid, const char *reason, int len);
/* With trap_exit on, exit signals arrive in handle_info as {'EXIT', From, Reason}. */
void cn_trap_exit(cn_proc *self, int on);
int cn_register_name(cn_proc *self, const char *name);
int cn_unregister_name(const char *name);
/* monitor_node/2: with on, {nodedown, Node} arrives in handle_info when the connection to
 * node goes (at once if it cannot be made); off cancels. */
int cn_monitor_node(cn_proc *self, const char *node, int on);
/* net_kernel:monitor_nodes/2: with on, handle_info gets {nodeup, Node} and {nodedown, Node}
 * for every connection of the kinds asked (CN_NODES_VISIBLE, CN_NODES_HIDDEN); with
 * CN_NODES_INFO, {nodeup, Node, [{node_type, visible|hidden}]} (nodedown alike). Each call
 * with on adds one subscription, each with off removes one with the same kinds. */
enum { CN_NODES_VISIBLE = 1, CN_NODES_HIDDEN = 2, CN_NODES_INFO = 4 };
int cn_monitor_nodes(cn_proc *self, int on, int kinds);
/* The {:noreply, state, timeout} of a GenServer: unless a message arrives within ms,
 * handle_info gets the atom `timeout`. Any message cancels it; ms < 0 cancels it. */
void cn_set_timeout(cn_proc *self, int ms);
/* erlang:send_after to this process: msg (encoded without version byte) arrives in ms. */
int cn_send_after_self(cn_proc *self, unsigned ms, const char *msg, int len);
int cn_whereis_name(const char *name, cn_pid *out);
/* The group leader the process was started with (spawn requests carry the caller's). */
cn_pid cn_group_leader(const cn_proc *self);

/* Call a gen_server (local or remote pid) and wait up to timeout_ms (-1: forever) for the
 * reply, which is appended to reply (encoded without version byte). Blocks this scheduler
 * thread; other messages stay queued in order. Returns 0, -1 on timeout, -2 if the server
 * is not there or died (reason appended to reply). */
int cn_call(cn_proc *self, const cn_pid *server, const char *req, int len, int timeout_ms,
            ei_x_buff *reply);
/* The same to a registered name on a node (node NULL: local). */
int cn_call_name(cn_proc *self, const char *name, const char *node, const char *req, int len,
                 int timeout_ms, ei_x_buff *reply);

/* Set the reason a process stops with (encoded term without version byte). */
void cn_set_stop_reason(cn_proc *self, const char *reason, int len);
/* A fresh reference of this node. */
cn_ref cn_make_ref(void);

/* ---- connections from a process (net_kernel:connect_node, disconnect_node) ---------- */

/* net_kernel:connect_node/1: 1 once a connection to node is up (at once if it already is, or
 * node is this node), 0 if it cannot be made (no such node, refused, wrong cookie, not a node
 * name, handshake timeout). Blocks only this process, for at most about three handshake
 * timeouts; messages stay queued (a nodedown of node already queued, from an earlier
 * connection, also ends the wait: 0 unless the connection is up by then). */
int cn_connect_node(cn_proc *self, const char *node);
/* erlang:disconnect_node/1: close the connection to node; 1 when there was one (it is gone
 * when this returns; peers see nodedown, links and monitors get noconnection), else 0. */
int cn_disconnect_node(cn_proc *self, const char *node);

/* ---- RPC: C functions callable as Module:Function/Arity ------------------------------- */

/* How an RPC function ends: a return value, or one of Erlang's three exception classes. */
enum { CN_RPC_RETURN = 0, CN_RPC_ERROR = 1, CN_RPC_THROW = 2, CN_RPC_EXIT = 3 };

/* An exported function. It runs in a process of its own (self), on a scheduler. Its
 * arguments are the `arity` terms at buf+*index (decode them in order). It appends the
 * return value, or the exception's reason, to out (without version byte) and returns one
 * of CN_RPC_*. Errors get the stack [{Module, Function, Arity, []}]. */
typedef int (*cn_rpc_fn)(cn_proc *self, const char *buf, int *index, int arity, ei_x_buff *out);

/* Export fn as module:function/arity (arity -1: any arity). Returns 0, or -1 if taken. */
int cn_export(const char *module, const char *function, int arity, cn_rpc_fn fn);
/* Print through the group leader of the process (for RPC functions: the caller's, so the text
 * appears in the caller's shell). utf8 text; waits for the io_reply up to 5 s. */
int cn_io_put_chars(cn_proc *self, const char *text, int len);
/* Sleep ms milliseconds in a process (an RPC function's or a worker's): the scheduler thread
 * waits, and another joins if that would leave too few, so the node goes on serving. Messages
 * stay queued. Returns 0, or -1 at once when an exit signal is ending the process. */
int cn_sleep(cn_proc *self, int ms);

/* erpc:call(Node, M, F, A, Timeout) from C: run m:f(args...) on node (a BEAM node, another
 * C node, or this one) in a process of its own there, monitored, with this process's group
 * leader. args: the argument list, encoded without version byte (NULL: []). Waits up to
 * timeout_ms (-1: forever); other messages stay queued. Returns 0 with *cls and the term
 * appended to result:
 *   CN_RPC_RETURN  the value              CN_RPC_THROW  the thrown term
 *   CN_RPC_EXIT    the exit reason, or {signal, R} if the process ended without a report
 *   CN_RPC_ERROR   the error reason (the remote stack is not kept), or {erpc, R} when the
 *                  call could not be made: {erpc, noconnection}, {erpc, notsup}, ...
 * -1 on timeout (the remote process is no longer monitored; its result is dropped when it
 * comes), -2 if this process is being killed meanwhile, -3 on bad arguments. */
int cn_rpc_call(cn_proc *self, const char *node, const char *m, const char *f, const char *args,
                int args_len, int timeout_ms, ei_x_buff *result, int *cls);

/* ---- native modules: hot code loading (README "Hot code loading") --------------------- */

/* The ABI a loadable module is built against; cnoded refuses modules of another. */
#define CN_ABI_VERSION 1

/* An RPC function of a loadable module, exported as <module>:function/arity. */
typedef struct cn_export_def {
    const char *function;
    int arity; /* -1: any arity */
    cn_rpc_fn fn;
} cn_export_def;

/* What a loadable module offers. A shared object exports the function
 * `const cn_module_def *cnode_module_v1(void)` returning it (CN_MODULE_DEFINE does that).
 * The strings and tables must live as long as the object is loaded. */
typedef struct cn_module_def {
    int abi_version;         /* CN_ABI_VERSION */
    const char *name;        /* the Erlang module name it is loaded as */
    const char *vsn;         /* its version, e.g. "2"; given to code_change as the old vsn */
    const cn_worker *worker; /* optional: its worker (worker->module == name) */
    const cn_export_def *exports;
    int nexports;
} cn_module_def;

#define CN_MODULE_ENTRY "cnode_module_v1"
#define CN_MODULE_DEFINE(def)                                                                      \
    const cn_module_def *cnode_module_v1(void);                                                    \
    const cn_module_def *cnode_module_v1(void)                                                     \
    {                                                                                              \
        return &(def);                                                                             \
    }

/* Code signing (Ed25519): trust the public key in a file written by `cnoded keygen`, or every
 * *.pub file in a directory. Returns 0, or -1 with a message in err. */
int cn_code_trust_key_file(const char *path, char *err, size_t errlen);
int cn_code_trust_dir(const char *dir, char *err, size_t errlen);
/* Accept unsigned shared objects too (each load logs a warning). */
void cn_code_allow_unsigned(int on);
/* ---- :pg process groups (PROTOCOL.md §8) ---------------------------------------------- */

/* Scopes are named as in OTP's pg (an atom; "pg" is the default scope and starts with the
 * node). A scope exchanges memberships with the scopes of the same name on every connected
 * node, BEAM or C. Groups are any term, encoded without version byte; a term is the same
 * group whatever encoding it arrives in. Members are local pids; a pid joined twice counts
 * twice; a member that exits leaves all its groups. */

/* Start scope unless it runs (pg:start/1): 0, or -1. */
int cn_pg_start(const char *scope);
/* pg:join/3 for one local pid (self's or another's), starting the scope if needed: 0 or -1.
 * Waits for the scope process, as a call. */
int cn_pg_join(cn_proc *self, const char *scope, const char *group, int len, const cn_pid *pid);
/* pg:leave/3: 0, 1 if pid was not in the group, -1 on error (no such scope). */
int cn_pg_leave(cn_proc *self, const char *scope, const char *group, int len, const cn_pid *pid);
/* pg:get_members/2 and get_local_members/2 (any thread, no process needed): writes at most
 * cap pids, newest first, and returns how many members there are (0 if the scope does not
 * run), or -1 for a malformed group term. */
long cn_pg_get_members(const char *scope, const char *group, int len, cn_pid *out, size_t cap);
long cn_pg_get_local_members(const char *scope, const char *group, int len, cn_pid *out,
                             size_t cap);
/* pg:which_groups/1 (local_only: which_local_groups/1): appends the list of groups. 0/-1. */
int cn_pg_which_groups(const char *scope, int local_only, ei_x_buff *out);
/* pg:monitor/2 (group given) or pg:monitor_scope/1 (group NULL): from now on self gets
 * {Ref, join | leave, Group, [Pid]} in handle_info for every change of the group (of any
 * group). The current members ([Pid], or #{Group => [Pid]} for a scope) are appended to
 * current unless it is NULL. 0, or -1 (no such scope). */
int cn_pg_monitor(cn_proc *self, const char *scope, const char *group, int len, cn_ref *ref_out,
                  ei_x_buff *current);
int cn_pg_demonitor(cn_proc *self, const char *scope, const cn_ref *ref); /* 0, or -1 */
/* ---- :global: cluster-wide names (the node takes part in :global, PROTOCOL.md §7.2) ----- */

/* global:register_name(name, pid) for an atom name: locks {global, self} on every known node,
 * registers everywhere, lets go (blocks the caller meanwhile). 0 (yes), or -1 (the name is
 * taken, the pid already has a name, or the lock could not be had). */
int cn_global_register_name(cn_proc *self, const char *name, const cn_pid *pid);
/* global:unregister_name/1. 0, or -1 if the lock could not be had. */
int cn_global_unregister_name(cn_proc *self, const char *name);
/* The :global name from holds (if any) moves to `to`, as global:re_register_name/2 does it
 * (one lock, everywhere): 1 if it moved, 0 if from has no name, -1 if the lock failed. */
int cn_global_move_name(cn_proc *self, const cn_pid *from, const cn_pid *to);
/* global:whereis_name/1 from this node's table: 0 and the pid, or -1 (undefined). */
int cn_global_whereis_name(const char *name, cn_pid *out);
/* global:send/2: msg (encoded without version byte) to the pid of name; -1 if undefined. */
int cn_global_send(cn_proc *self, const char *name, const char *msg, int len);

/* ---- the node ----------------------------------------------------------------------- */

typedef struct cn_config {
    const char *name; /* "alive" (short names: host added) or "alive@host" */
    int longnames;    /* 1: --name, 0: --sname */
    const char *cookie;
    int hidden;
    uint16_t port;      /* listen port, 0 = any */
    uint16_t epmd_port; /* 0 = ERL_EPMD_PORT or 4369 */
    int no_epmd_start;
    int net_ticktime; /* seconds, default 60 */
    int handshake_timeout_ms;
    int schedulers;     /* 0 = one per CPU the process may run on */
    size_t max_message; /* largest message accepted, bytes */
    const char **connect;
    int nconnect;
    /* TLS distribution (as -proto_dist inet_tls): on when proto_dist is "inet_tls". The
     * optfile (ssl_dist_optfile format) is read first; the files given here then apply to both
     * roles. Peer certificates are verified against the CA unless the optfile says otherwise. */
    const char *proto_dist; /* NULL or "inet_tcp": plain TCP; "inet_tls" */
    const char *tls_optfile;
    const char *tls_certfile, *tls_keyfile, *tls_cacertfile;
    int tls_no_host_check; /* do not require a dialled node's certificate to name its host */
    /* :pg and node life: scopes started at boot besides `pg`; the largest redial back-off
     * for --connect peers and cn_reconnect_watch'ed ones, ms (default 10000, 0: no redial) */
    const char **pg_scopes;
    int npg_scopes;
    int reconnect_max_ms;
    int reconnect_meshed;      /* also redial the peers :global meshes us with */
    int tls_check_client_host; /* require a connecting node's certificate to name its host */
    /* Receive moderation: while a peer streams messages, read its connection every this many
     * microseconds instead of on every arrival (default 150; 0: always on arrival). */
    int rx_coalesce_us;
    /* 1: do not offer DFLAG_FRAGMENTS, so large messages travel whole both ways: the BEAM
     * peer writes and reassembles no 64 KiB fragments (round trips 1.4-1.5x faster on
     * loopback with CUBIC, mixed with BBR: README "Performance"), but a large message holds
     * up the connection's other messages until it is through. */
    int no_fragments;
    /* On SIGTERM or init:stop, first hand every worker that exports and imports its state off
     * to this node (cnode:handoff/2), then stop. NULL: stop at once. */
    const char *drain_to;
} cn_config;

void cn_config_defaults(cn_config *c);
/* Start the node: register with epmd, listen, start the scheduler threads.
 * Returns 0, or -1 with a message in err (exit code hint in *code: 1 name taken). */
int cn_node_start(const cn_config *c, char *err, size_t errlen, int *code);
/* Run until stopped (SIGTERM/SIGINT or cn_node_stop); then shut down cleanly. */
int cn_node_run(void);
void cn_node_stop(void);
/* This node's full name. */
const char *cn_node_self_name(void);

/* ---- The command line, as init:get_arguments/0 reports it over rpc (init_args.c) ------- */

/* Note one option the program was started with, in order: its name without the dashes
 * ("sname") and its value (NULL for a flag). Reported under erl's name for the same setting
 * (net-ticktime as -kernel net_ticktime N), others under their own; a cookie never. The
 * strings are copied. Returns 0, or -1 (more than 256, or no memory). */
int cn_note_argument(const char *name, const char *value);

#ifdef __cplusplus
}
#endif
#endif

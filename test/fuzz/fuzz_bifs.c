/* fuzz_bifs: the functions the node runs over rpc, on arguments a remote caller chose. The
 * node's tables are set up once as cnoded's are (identity, process table, schedulers, the
 * services with every export registered); then per input: a selector byte picks one
 * Module:Function of the table below, the rest is one term, the argument list, which must
 * pass the bounded term scanner as every received term does, is turned into the args buffer
 * by rpc.c's own cn_rpc_args_of, and the function runs in a process of its own, on that
 * process's first turn, as rpc.c runs it. What it returns must be one well-formed term and a
 * class CN_RPC_RETURN..CN_RPC_EXIT; ASan/LSan/UBSan and libFuzzer's timeout do the rest.
 *
 * Left out, and why:
 *   erlang:halt/0,1, init:stop/0           stop the node (the harness's process);
 *   net_kernel:connect_node/1, net_adm:ping/1   dial other nodes (no network here);
 *   net_adm:names/0,1                      ask an epmd; names/1 resolves and dials any host
 *                                          (its line parser is check_appbifs's);
 *   sys:get_state/get_status/suspend/resume     wait on another process's mailbox with a
 *                                          caller's timeout (up to infinity);
 *   code:load_binary/3, cnode:load/1, cnode:upgrade/1,2   the loader (fuzz_mod covers it);
 *   cnode:handoff/2                        hands a process's state to another node;
 *   observer_backend:etop_collect/1, fetch_stats/2   loop, sending, until told to stop;
 *   pg:start/1, pg:join/3 and pg:leave/3    start scope processes for any atom (pg:join/2
 *                                          and leave/2 use the default scope, kept);
 *   global:resolve_it/4, random_*_name/3, notify_all_name/3   exit or message the pids
 *                                          they are given (global:whereis_name, register_name,
 *                                          send ... are kept: with no other node, their locks
 *                                          are local);
 *   demo:*                                 not registered by the node itself.
 * Kept only against harmless targets (else the input is skipped): erlang:exit/2 and send/2
 * (the target must not be another live local process, nor on another node: exits would kill
 * the services, sends to other nodes would dial them), register/2 and global:register_name/2,3
 * (the pid likewise), unregister/1 (not a name of another live process),
 * observer_backend:procs_info/1 (the collector must be local). */
#include "code/table.h"
#include "dist/term.h"
#include "loop.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "services/exports.h"
#include "services/rpc.h"
#include "services/services.h"
#include "util/log.h"

#include <ei.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { ANY = -1, PINFO = -2 }; /* any arity; module_info/0,1 (rpc.c's fallback) */
enum { T_NONE, T_FIRST_TARGET, T_SECOND_PID, T_FIRST_NAME, T_FIRST_LOCAL_PID, T_DEFAULT_SCOPE };

static const struct fn_ent {
    const char *m, *f;
    int a;     /* the arity the input must give, ANY or PINFO */
    int guard; /* T_*: what the arguments must not point at */
} fns[] = {
    {"erlang", "process_info", 1, T_NONE},
    {"erlang", "process_info", 2, T_NONE},
    {"erlang", "memory", 0, T_NONE},
    {"erlang", "memory", 1, T_NONE},
    {"erlang", "system_info", 1, T_NONE},
    {"erlang", "statistics", 1, T_NONE},
    {"erlang", "nodes", 0, T_NONE},
    {"erlang", "nodes", 1, T_NONE},
    {"erlang", "node", 0, T_NONE},
    {"erlang", "node", 1, T_NONE},
    {"erlang", "processes", 0, T_NONE},
    {"erlang", "registered", 0, T_NONE},
    {"erlang", "whereis", 1, T_NONE},
    {"erlang", "is_process_alive", 1, T_NONE},
    {"erlang", "garbage_collect", 0, T_NONE},
    {"erlang", "garbage_collect", 1, T_NONE},
    {"erlang", "is_alive", 0, T_NONE},
    {"erlang", "function_exported", 3, T_NONE},
    {"erlang", "exit", 2, T_FIRST_TARGET},
    {"erlang", "send", 2, T_FIRST_TARGET},
    {"erlang", "register", 2, T_SECOND_PID},
    {"erlang", "unregister", 1, T_FIRST_NAME},
    {"erlang", "disconnect_node", 1, T_NONE},
    {"erlang", "system_time", 0, T_NONE},
    {"erlang", "system_time", 1, T_NONE},
    {"erlang", "monotonic_time", 0, T_NONE},
    {"erlang", "monotonic_time", 1, T_NONE},
    {"erlang", "time_offset", 0, T_NONE},
    {"erlang", "time_offset", 1, T_NONE},
    {"erlang", "convert_time_unit", 3, T_NONE},
    {"erlang", "timestamp", 0, T_NONE},
    {"erlang", "localtime", 0, T_NONE},
    {"erlang", "universaltime", 0, T_NONE},
    {"erlang", "date", 0, T_NONE},
    {"erlang", "time", 0, T_NONE},
    {"os", "system_time", 0, T_NONE},
    {"os", "system_time", 1, T_NONE},
    {"os", "perf_counter", 0, T_NONE},
    {"os", "perf_counter", 1, T_NONE},
    {"os", "timestamp", 0, T_NONE},
    {"os", "type", 0, T_NONE},
    {"os", "version", 0, T_NONE},
    {"os", "getpid", 0, T_NONE},
    {"net_kernel", "get_net_ticktime", 0, T_NONE},
    {"net_kernel", "nodename", 0, T_NONE},
    {"net_kernel", "disconnect", 1, T_NONE},
    {"proc_lib", "translate_initial_call", 1, T_NONE},
    {"observer_backend", "vsn", 0, T_NONE},
    {"observer_backend", "sys_info", 0, T_NONE},
    {"observer_backend", "procs_info", 1, T_FIRST_LOCAL_PID},
    {"observer_backend", "get_port_list", 0, T_NONE},
    {"observer_backend", "get_socket_list", 0, T_NONE},
    {"observer_backend", "socket_info", 0, T_NONE},
    {"observer_backend", "get_table_list", 2, T_NONE},
    {"appmon_info", "start_link2", 3, T_NONE},
    {"code", "which", 1, T_NONE},
    {"code", "is_loaded", 1, T_NONE},
    {"code", "ensure_loaded", 1, T_NONE},
    {"code", "all_loaded", 0, T_NONE},
    {"code", "purge", 1, T_NONE},
    {"code", "soft_purge", 1, T_NONE},
    {"code", "delete", 1, T_NONE},
    {"cnode", "info", 0, T_NONE},
    {"cnode", "exports", 0, T_NONE},
    {"cnode", "modules", 0, T_NONE},
    {"pg", "join", ANY, T_DEFAULT_SCOPE},
    {"pg", "leave", ANY, T_DEFAULT_SCOPE},
    {"pg", "get_members", ANY, T_NONE},
    {"pg", "get_local_members", ANY, T_NONE},
    {"pg", "which_groups", ANY, T_NONE},
    {"pg", "which_local_groups", ANY, T_NONE},
    {"pg", "monitor", ANY, T_NONE},
    {"pg", "monitor_scope", ANY, T_NONE},
    {"pg", "demonitor", ANY, T_NONE},
    {"erlang", "module_info", PINFO, T_NONE},
    {"code", "module_info", PINFO, T_NONE},
    {"cnode", "module_info", PINFO, T_NONE},
    {"pg", "module_info", PINFO, T_NONE},
    {"observer_backend", "module_info", PINFO, T_NONE},
    {"nosuch", "module_info", PINFO, T_NONE},
    {"global", "whereis_name", 1, T_NONE},
    {"global", "registered_names", 0, T_NONE},
    {"global", "sync", 0, T_NONE},
    {"global", "register_name", 2, T_SECOND_PID},
    {"global", "register_name", 3, T_SECOND_PID},
    {"global", "unregister_name", 1, T_NONE},
    {"global", "send", 2, T_NONE},
    {"application", "which_applications", 0, T_NONE},
    {"application", "which_applications", 1, T_NONE},
    {"application", "loaded_applications", 0, T_NONE},
    {"application", "get_application", 0, T_NONE},
    {"application", "get_application", 1, T_NONE},
    {"application", "get_env", 1, T_NONE},
    {"application", "get_env", 2, T_NONE},
    {"application", "get_env", 3, T_NONE},
    {"application", "get_all_env", 0, T_NONE},
    {"application", "get_all_env", 1, T_NONE},
    {"application", "get_key", 1, T_NONE},
    {"application", "get_key", 2, T_NONE},
    {"application", "get_all_key", 0, T_NONE},
    {"application", "get_all_key", 1, T_NONE},
    {"os", "getenv", 0, T_NONE},
    {"os", "getenv", 1, T_NONE},
    {"os", "getenv", 2, T_NONE},
    {"init", "get_arguments", 0, T_NONE},
    {"init", "get_argument", 1, T_NONE},
    {"init", "get_plain_arguments", 0, T_NONE},
    {"erlang", "self", 0, T_NONE},
    {"erlang", "make_ref", 0, T_NONE},
    {"erlang", "unique_integer", 0, T_NONE},
    {"erlang", "unique_integer", 1, T_NONE},
};
#define NFNS (sizeof fns / sizeof fns[0])

/* Does the term at buf+idx name a live local process other than `self`, or a process on
 * another node (a pid, or {Name, Node})? Such targets are outside the harness. */
static int outside(const char *buf, int idx, const cn_pid *self, int names)
{
    int type, size;
    if (ei_get_type(buf, &idx, &type, &size) < 0)
        return 1;
    if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
        cn_pid p;
        if (cn_decode_pid(buf, &idx, &p) < 0)
            return 1;
        if (p.node != 0)
            return 1;
        cn_proc *q = cn_proc_get(&p);
        int other = q && !cn_pid_eq(&q->pid, self);
        if (q)
            cn_proc_release(q);
        return other;
    }
    if (names && (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
                  type == ERL_SMALL_ATOM_UTF8_EXT)) {
        char a[MAXATOMLEN_UTF8];
        cn_pid p;
        if (ei_decode_atom(buf, &idx, a) < 0)
            return 1;
        return cn_whereis(a, &p) == 0 && !cn_pid_eq(&p, self);
    }
    return type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT; /* {Name, Node} */
}

/* May this call run here? args: the elements one after another. */
static int allowed(const struct fn_ent *e, const char *args, int arity, const cn_pid *self)
{
    int idx = 0;
    switch (e->guard) {
    case T_FIRST_TARGET:
        return !outside(args, 0, self, 1);
    case T_SECOND_PID:
        return ei_skip_term(args, &idx) == 0 && !outside(args, idx, self, 0);
    case T_FIRST_NAME:
        return !outside(args, 0, self, 1);
    case T_FIRST_LOCAL_PID: {
        cn_pid p;
        return cn_decode_pid(args, &idx, &p) < 0 || p.node == 0;
    }
    case T_DEFAULT_SCOPE:
        return arity != 3;
    default:
        return 1;
    }
}

/* One call, run on its process's first turn; the fuzzing thread waits for it. */
typedef struct call {
    const struct fn_ent *e;
    const char *args;
    int args_len, arity;
    int ran, cls;
    ei_x_buff out;
    pthread_mutex_t lock;
    pthread_cond_t done;
} call;

static void finish(call *c)
{
    pthread_mutex_lock(&c->lock);
    c->ran = 1;
    pthread_cond_signal(&c->done);
    pthread_mutex_unlock(&c->lock);
}

static int call_start(cn_proc *p)
{
    call *c = p->beh;
    const struct fn_ent *e = c->e;
    if (!allowed(e, c->args, c->arity, &p->pid)) {
        c->cls = -1; /* skipped */
        finish(c);
        return CN_STOP;
    }
    if (e->a == PINFO) {
        c->cls = cn_module_known(e->m) ? cn_module_info(e->m, c->args, c->arity, &c->out) : -1;
    } else {
        cn_code_ver *ver;
        cn_rpc_fn fn = cn_export_acquire(e->m, e->f, c->arity, &ver);
        int ai = 0;
        c->cls = fn ? fn(p, c->args, &ai, c->arity, &c->out) : -1;
        if (fn)
            cn_code_release(ver);
    }
    finish(c);
    return CN_STOP;
}

static int call_message(cn_proc *p, const cn_msg *m)
{
    (void)p, (void)m;
    return 0;
}

static void call_terminate(cn_proc *p, const char *reason, int len)
{
    (void)reason, (void)len;
    p->beh = NULL;
}

static const cn_proc_ops call_ops = {"erpc", call_message, call_terminate, call_start};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    cn_log_level = -1;
    ei_init();
    cn_ident_init("t@host", 1234);
    if (cn_loop_init() != 0 || cn_ptab_init(1024) != 0 || cn_sched_start(2) != 0 ||
        cn_services_start() != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 2)
        return 0;
    long len = cn_term_scan(data + 1, n - 1, NULL, NULL, NULL);
    if (len <= 0)
        return 0; /* rx would have refused it */
    const struct fn_ent *e = &fns[data[0] % NFNS];
    char *b = malloc((size_t)len); /* exact size: reads past the term show */
    memcpy(b, data + 1, (size_t)len);
    ei_x_buff args;
    int idx = 0, arity = 0;
    ei_x_new(&args);
    if (cn_rpc_args_of(b, &idx, &args, &arity) < 0 || idx != len || (e->a >= 0 && arity != e->a) ||
        (e->a == PINFO && arity > 1)) {
        ei_x_free(&args);
        free(b);
        return 0; /* not a proper list, or not this function's arity: undef, nothing runs */
    }
    char *a = malloc((size_t)args.index + 1); /* exact size again (+1: malloc(0)) */
    memcpy(a, args.buff, (size_t)args.index);
    call c = {.e = e, .args = a, .args_len = args.index, .arity = arity};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.done, NULL);
    ei_x_new(&c.out);
    cn_proc *p = cn_proc_create(&call_ops, &c);
    if (!p)
        abort(); /* the table filled: something left processes behind */
    cn_pid pid = p->pid;
    cn_proc_release(p);
    cn_spawn_go(&pid);
    pthread_mutex_lock(&c.lock);
    while (!c.ran)
        pthread_cond_wait(&c.done, &c.lock);
    pthread_mutex_unlock(&c.lock);
    /* the process ends after its turn; wait for that, so its exit is done before `c` goes */
    for (;;) {
        cn_proc *q = cn_proc_get(&pid);
        if (!q)
            break;
        cn_proc_release(q);
        sched_yield();
    }
    if (c.cls != -1) {
        if (c.cls < CN_RPC_RETURN || c.cls > CN_RPC_EXIT)
            abort(); /* not a class */
        int i = 0;
        if (c.out.index == 0 || ei_skip_term(c.out.buff, &i) < 0 || i != c.out.index)
            abort(); /* not exactly one term */
    }
    ei_x_free(&c.out);
    pthread_cond_destroy(&c.done);
    pthread_mutex_destroy(&c.lock);
    ei_x_free(&args);
    free(a);
    free(b);
    return 0;
}

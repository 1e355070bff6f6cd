/* probe: a worker that does, on request, what a C worker can do to other processes, and
 * reports what it receives. It shows the public API in use and lets tests observe C-side
 * semantics. Start it with args [ReporterPid]: every info message it gets is forwarded
 * there as {:probe, Self, Msg}. Calls:
 *   {:monitor, Pid} -> Ref     {:demonitor, Ref} -> :ok    {:link, Pid} / {:unlink, Pid} -> :ok
 *   {:trap_exit, Bool} -> :ok  {:exit, Pid, Reason} -> :ok {:send, Pid, Msg} -> :ok
 *   {:send, Name, Node, Msg} -> :ok                        {:stop, Reason} -> stops
 *   {:flood, Pid, Count, Size} -> :ok (Count messages {:flood, I, <<Size bytes>>} to Pid)
 *   {:call, Name, Node, Req, Timeout} -> {:ok, Reply} | {:error, :timeout | {:down, R}}
 *   {:timeout, Ms} -> :ok (then, unless a message comes first, the info `:timeout`)
 *   {:monitor_node, Node, Bool} -> :ok (then {:nodedown, Node} when it goes)
 *   {:monitor_nodes, Bool, Kind} -> :ok   Kind: :visible ({nodeup, N} / {nodedown, N}),
 *                                  :all (hidden too, {nodeup, N, [{node_type, T}]} form)
 *   {:rpc, Node, M, F, Args, Timeout} -> {:ok, V} | {:throw, T} | {:exit, R} | {:error, E}
 *                                        | {:error, :timeout}           (cn_rpc_call)
 *   :pg (cn_pg_*; the probe itself is the member, Scope an atom, Group any term):
 *   {:pg_join, Scope, Group} / {:pg_leave, Scope, Group} -> :ok | :not_joined | :error
 *   {:pg_members, Scope, Group} / {:pg_local_members, Scope, Group} -> [Pid]
 *   {:pg_which_groups, Scope} -> [Group]
 *   {:pg_monitor, Scope, Group} -> {Ref, [Pid]}  {:pg_monitor_scope, Scope} -> {Ref, %{}}
 *     (then {Ref, :join | :leave, Group, [Pid]} is forwarded)   {:pg_demonitor, Scope, Ref}
 *   {:global_register, Name} -> :yes | :no    (registers the probe itself, cn_global_register_name)
 *   {:global_unregister, Name} -> :ok | :error        {:global_whereis, Name} -> Pid | :undefined
 *   {:global_send, Name, Msg} -> :ok | :undefined     (cn_global_send)
 */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

typedef struct probe {
    cn_pid reporter;
    int has_reporter;
} probe;

static int probe_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    probe *p = calloc(1, sizeof *p);
    int n;
    if (!p)
        return -1;
    if (ei_decode_list_header(buf, idx, &n) == 0 && n >= 1 &&
        cn_decode_pid(buf, idx, &p->reporter) == 0)
        p->has_reporter = 1;
    *state = p;
    return 0;
}

static int span(const char *buf, int *idx, const char **s, int *n)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    *s = buf + start;
    *n = *idx - start;
    return 0;
}

/* {:flood, Pid, Count, Size}: Count messages {:flood, I, <<Size bytes>>} to Pid, sent one
 * after the other from this call (a sender faster than the receiving node). */
static int flood(cn_proc *self, const cn_pid *to, long count, long size)
{
    char *body = calloc(1, (size_t)size + 1);
    if (!body)
        return -1;
    for (long i = 1; i <= count; i++) {
        ei_x_buff m;
        ei_x_new(&m);
        ei_x_encode_tuple_header(&m, 3);
        ei_x_encode_atom(&m, "flood");
        ei_x_encode_long(&m, i);
        ei_x_encode_binary(&m, body, size);
        cn_send(self, to, m.buff, m.index);
        ei_x_free(&m);
    }
    free(body);
    return 0;
}

/* The :pg ops (see the top): 1 if op was one of them (reply written), else 0. */
static int probe_pg(cn_proc *self, const char *op, const char *buf, int *idx, ei_x_buff *reply)
{
    char scope[MAXATOMLEN_UTF8];
    const char *g;
    int glen;
    if (strncmp(op, "pg_", 3) != 0 || ei_decode_atom(buf, idx, scope) < 0)
        return 0;
    cn_pid me = cn_self(self);
    cn_ref ref;
    if (!strcmp(op, "pg_which_groups"))
        return cn_pg_which_groups(scope, 0, reply) == 0;
    if (!strcmp(op, "pg_monitor_scope") || !strcmp(op, "pg_demonitor")) {
        if (op[3] == 'd')
            return cn_decode_ref(buf, idx, &ref) == 0 &&
                   ei_x_encode_atom(reply,
                                    cn_pg_demonitor(self, scope, &ref) == 0 ? "ok" : "false") == 0;
        ei_x_buff cur;
        ei_x_new(&cur);
        int ok = cn_pg_monitor(self, scope, NULL, 0, &ref, &cur) == 0;
        if (ok) {
            ei_x_encode_tuple_header(reply, 2);
            cn_encode_ref(reply, &ref);
            ei_x_append_buf(reply, cur.buff, cur.index);
        }
        ei_x_free(&cur);
        return ok;
    }
    if (span(buf, idx, &g, &glen) < 0)
        return 0;
    if (!strcmp(op, "pg_join") || !strcmp(op, "pg_leave")) {
        int r = op[3] == 'j' ? cn_pg_join(self, scope, g, glen, &me)
                             : cn_pg_leave(self, scope, g, glen, &me);
        ei_x_encode_atom(reply, r == 0 ? "ok" : r == 1 ? "not_joined" : "error");
        return 1;
    }
    if (!strcmp(op, "pg_members") || !strcmp(op, "pg_local_members")) {
        cn_pid pids[4096];
        long n = op[3] == 'l' ? cn_pg_get_local_members(scope, g, glen, pids, 4096)
                              : cn_pg_get_members(scope, g, glen, pids, 4096);
        for (long i = 0; i < n && i < 4096; i++) {
            ei_x_encode_list_header(reply, 1);
            cn_encode_pid(reply, &pids[i]);
        }
        ei_x_encode_empty_list(reply);
        return n >= 0;
    }
    if (!strcmp(op, "pg_monitor")) {
        ei_x_buff cur;
        ei_x_new(&cur);
        int ok = cn_pg_monitor(self, scope, g, glen, &ref, &cur) == 0;
        if (ok) {
            ei_x_encode_tuple_header(reply, 2);
            cn_encode_ref(reply, &ref);
            ei_x_append_buf(reply, cur.buff, cur.index);
        }
        ei_x_free(&cur);
        return ok;
    }
    return 0;
}

static int probe_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                      ei_x_buff *reply)
{
    (void)state;
    (void)from;
    char op[MAXATOMLEN_UTF8], name[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    int arity, n;
    const char *t;
    cn_pid pid;
    cn_ref ref;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || ei_decode_atom(buf, idx, op) < 0)
        goto badarg;
    if (!strcmp(op, "monitor") && cn_decode_pid(buf, idx, &pid) == 0) {
        cn_monitor(self, &pid, &ref);
        cn_encode_ref(reply, &ref);
    } else if (!strcmp(op, "demonitor") && cn_decode_ref(buf, idx, &ref) == 0) {
        cn_demonitor(self, &ref);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "link") && cn_decode_pid(buf, idx, &pid) == 0) {
        cn_link(self, &pid);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "unlink") && cn_decode_pid(buf, idx, &pid) == 0) {
        cn_unlink(self, &pid);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "trap_exit") && ei_decode_boolean(buf, idx, &n) == 0) {
        cn_trap_exit(self, n);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "exit") && cn_decode_pid(buf, idx, &pid) == 0 &&
               span(buf, idx, &t, &n) == 0) {
        cn_exit(self, &pid, t, n);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "send") && arity == 3 && cn_decode_pid(buf, idx, &pid) == 0 &&
               span(buf, idx, &t, &n) == 0) {
        cn_send(self, &pid, t, n);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "flood") && arity == 4 && cn_decode_pid(buf, idx, &pid) == 0) {
        long count, size;
        if (ei_decode_long(buf, idx, &count) < 0 || ei_decode_long(buf, idx, &size) < 0 ||
            count < 0 || size < 0 || size > (64L << 20))
            goto badarg;
        if (flood(self, &pid, count, size) < 0)
            goto badarg;
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "send") && arity == 4 && ei_decode_atom(buf, idx, name) == 0 &&
               ei_decode_atom(buf, idx, node) == 0 && span(buf, idx, &t, &n) == 0) {
        cn_send_name(self, name, node, t, n);
        ei_x_encode_atom(reply, "ok");
    } else if (!strcmp(op, "call") && arity == 5 && ei_decode_atom(buf, idx, name) == 0 &&
               ei_decode_atom(buf, idx, node) == 0 && span(buf, idx, &t, &n) == 0) {
        long tmo;
        if (ei_decode_long(buf, idx, &tmo) < 0)
            goto badarg;
        ei_x_buff r;
        ei_x_new(&r);
        int rc = cn_call_name(self, name, node, t, n, (int)tmo, &r);
        ei_x_encode_tuple_header(reply, 2);
        if (rc == 0) {
            ei_x_encode_atom(reply, "ok");
            ei_x_append_buf(reply, r.buff, r.index);
        } else if (rc == -1) {
            ei_x_encode_atom(reply, "error");
            ei_x_encode_atom(reply, "timeout");
        } else {
            ei_x_encode_atom(reply, "error");
            ei_x_encode_tuple_header(reply, 2);
            ei_x_encode_atom(reply, "down");
            ei_x_append_buf(reply, r.buff, r.index);
        }
        ei_x_free(&r);
    } else if (!strcmp(op, "timeout") && arity == 2) {
        long ms;
        if (ei_decode_long(buf, idx, &ms) < 0)
            goto badarg;
        ei_x_encode_atom(reply, "ok");
        cn_reply(self, from, reply->buff, reply->index);
        cn_set_timeout(self, (int)ms); /* after the reply: the reply is not a message to us */
        return CN_NOREPLY;
    } else if (!strcmp(op, "monitor_node") && arity == 3 && ei_decode_atom(buf, idx, node) == 0 &&
               ei_decode_boolean(buf, idx, &n) == 0) {
        ei_x_encode_atom(reply, cn_monitor_node(self, node, n) == 0 ? "ok" : "error");
    } else if (!strcmp(op, "monitor_nodes") && arity == 3 && ei_decode_boolean(buf, idx, &n) == 0 &&
               ei_decode_atom(buf, idx, name) == 0 &&
               (!strcmp(name, "visible") || !strcmp(name, "all"))) {
        int kinds = !strcmp(name, "all") ? CN_NODES_VISIBLE | CN_NODES_HIDDEN | CN_NODES_INFO
                                         : CN_NODES_VISIBLE;
        ei_x_encode_atom(reply, cn_monitor_nodes(self, n, kinds) == 0 ? "ok" : "error");
    } else if (!strcmp(op, "rpc") && arity == 6) {
        char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8], inf[MAXATOMLEN_UTF8];
        long tmo = -1;
        if (ei_decode_atom(buf, idx, node) < 0 || ei_decode_atom(buf, idx, m) < 0 ||
            ei_decode_atom(buf, idx, f) < 0 || span(buf, idx, &t, &n) < 0 ||
            (ei_decode_long(buf, idx, &tmo) < 0 &&
             (ei_decode_atom(buf, idx, inf) < 0 || strcmp(inf, "infinity") != 0)))
            goto badarg;
        static const char *const classes[] = {"ok", "error", "throw", "exit"};
        ei_x_buff r;
        ei_x_new(&r);
        int cls = 0, rc = cn_rpc_call(self, node, m, f, t, n, (int)tmo, &r, &cls);
        if (rc == -3) {
            ei_x_free(&r);
            goto badarg;
        }
        ei_x_encode_tuple_header(reply, 2);
        ei_x_encode_atom(reply, rc == 0 ? classes[cls] : "error");
        if (rc == 0)
            ei_x_append_buf(reply, r.buff, r.index);
        else
            ei_x_encode_atom(reply, rc == -1 ? "timeout" : "killed");
        ei_x_free(&r);
    } else if (!strncmp(op, "pg_", 3)) {
        if (!probe_pg(self, op, buf, idx, reply))
            goto badarg;
    } else if (!strcmp(op, "global_register") && arity == 2 &&
               ei_decode_atom(buf, idx, name) == 0) {
        pid = cn_self(self);
        ei_x_encode_atom(reply, cn_global_register_name(self, name, &pid) == 0 ? "yes" : "no");
    } else if (!strcmp(op, "global_unregister") && arity == 2 &&
               ei_decode_atom(buf, idx, name) == 0) {
        ei_x_encode_atom(reply, cn_global_unregister_name(self, name) == 0 ? "ok" : "error");
    } else if (!strcmp(op, "global_whereis") && arity == 2 && ei_decode_atom(buf, idx, name) == 0) {
        if (cn_global_whereis_name(name, &pid) == 0)
            cn_encode_pid(reply, &pid);
        else
            ei_x_encode_atom(reply, "undefined");
    } else if (!strcmp(op, "global_send") && arity == 3 && ei_decode_atom(buf, idx, name) == 0 &&
               span(buf, idx, &t, &n) == 0) {
        ei_x_encode_atom(reply, cn_global_send(self, name, t, n) == 0 ? "ok" : "undefined");
    } else if (!strcmp(op, "stop") && span(buf, idx, &t, &n) == 0) {
        cn_set_stop_reason(self, t, n);
        ei_x_encode_atom(reply, "ok");
        cn_reply(self, from, reply->buff, reply->index);
        return CN_STOP;
    } else {
        goto badarg;
    }
    return CN_REPLY;
badarg:
    reply->index = 0;
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_encode_atom(reply, "badarg");
    return CN_REPLY;
}

static int probe_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    probe *p = state;
    if (!p->has_reporter)
        return CN_NOREPLY;
    const char *t;
    int n;
    if (span(buf, idx, &t, &n) < 0)
        return CN_NOREPLY;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "probe");
    cn_pid me = cn_self(self);
    cn_encode_pid(&x, &me);
    ei_x_append_buf(&x, t, n);
    cn_send(self, &p->reporter, x.buff, x.index);
    ei_x_free(&x);
    return CN_NOREPLY;
}

static void probe_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    free(state);
}

const cn_worker cn_probe_worker = {
    .module = "probe",
    .init = probe_init,
    .handle_call = probe_call,
    .handle_info = probe_info,
    .terminate = probe_terminate,
};

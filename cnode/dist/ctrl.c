#include "dist/ctrl.h"

#include "dist/cdec.h"
#include "dist/ctrl_ops.h"
#include "dist/out.h"
#include "proc/gen.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctl {
    const char *buf;
    int idx;
    int arity;
    long op;
    uint32_t peer;
    char *err;
    size_t errlen;
} ctl;

static int bad(ctl *c, const char *what)
{
    snprintf(c->err, c->errlen, "control message %ld: %s", c->op, what);
    return -1;
}

static int get_pid(ctl *c, cn_pid *p)
{
    return cn_decode_pid(c->buf, &c->idx, p);
}

/* The sender of a link, unlink, exit or monitor signal is a process of the peer, as the BEAM
 * requires: a peer speaks only for its own processes, and what such a signal leaves behind
 * (a link, a monitor) goes when the peer's connection does. 1: the pid is not the peer's. */
static int get_peer_pid(ctl *c, cn_pid *p, int *foreign)
{
    if (get_pid(c, p) < 0)
        return -1;
    *foreign = p->node != c->peer;
    return 0;
}

static int get_long(ctl *c, unsigned long long *v)
{
    return ei_decode_ulonglong(c->buf, &c->idx, v);
}

static int skip(ctl *c)
{
    return ei_skip_term(c->buf, &c->idx);
}

/* The rest of the control term, from idx, copied as a reason (without version byte). */
static int get_term_span(ctl *c, const char **start, int *len)
{
    int s = c->idx;
    if (skip(c) < 0)
        return -1;
    *start = c->buf + s;
    *len = c->idx - s;
    return 0;
}

_Static_assert(sizeof(cn_msg) <= CN_RX_ROOM, "a message record fits rx's room before it");

/* Hand the payload (with version byte) to a local process as a message. */
static cn_msg *payload_msg(cn_dist_msg *m, int kind)
{
    cn_msg *msg = cn_msg_adopt(kind, m->storage, m->room, (char *)m->payload, m->payload_len);
    if (msg)
        m->storage = NULL;
    return msg;
}

/* The payload used as an exit reason: without version byte. */
static cn_msg *payload_reason(cn_dist_msg *m, int kind)
{
    if (!m->payload || m->payload_len < 2)
        return NULL;
    cn_msg *msg =
        cn_msg_adopt(kind, m->storage, m->room, (char *)m->payload + 1, m->payload_len - 1);
    if (msg)
        m->storage = NULL;
    return msg;
}

static int is_local(const cn_pid *p)
{
    return p->node == 0;
}

/* What one read's control messages deliver, run by run (cn_ctrl_flush): a stream of casts
 * or calls to one process takes its mailbox lock and wakes it once per run, not per message.
 * Per thread: a connection's frames are dispatched on the thread that read them. */
static _Thread_local cn_batch batch;

static void deliver(const cn_pid *to, cn_msg *m)
{
    cn_batch_add(&batch, to, m);
}

void cn_ctrl_flush(void)
{
    cn_batch_flush(&batch);
}

/* The name the current run was resolved from: the next message or monitor for that name in
 * the same run goes to the same process without a registry lookup (the run is delivered as
 * one, so the name is resolved once per run instead of once per message). */
static _Thread_local struct {
    char name[MAXATOMLEN_UTF8];
    uint64_t run;
} run_name;

static int resolve_name(const char *name, cn_pid *to)
{
    if (batch.n > 0 && run_name.run == batch.flushes && strcmp(run_name.name, name) == 0) {
        *to = batch.to;
        return 0;
    }
    return cn_whereis(name, to);
}

/* Deliver msg to the process registered as name, and remember the name for this run. */
static void deliver_to_name(const char *name, cn_msg *msg)
{
    cn_pid to;
    if (resolve_name(name, &to) < 0) {
        cn_debug("message to unregistered name '%s' dropped", name);
        cn_msg_free(msg);
        return;
    }
    deliver(&to, msg);
    if (strlen(name) < sizeof run_name.name) { /* batch.to is `to` now */
        strcpy(run_name.name, name);
        run_name.run = batch.flushes;
    }
}

/* SEND, SEND_SENDER, REG_SEND once decoded: the payload goes to the process. */
static void send_act(cn_dist_msg *m, const cn_pid *from, int has_from, const char *name,
                     const cn_pid *to)
{
    cn_msg *msg = payload_msg(m, CN_MSG);
    if (!msg)
        return;
    if (has_from)
        msg->from = *from;
    msg->has_from = has_from;
    if (name)
        deliver_to_name(name, msg);
    else if (is_local(to))
        deliver(to, msg);
    else
        cn_msg_free(msg);
}

static int do_send(ctl *c, cn_dist_msg *m, int has_from, int by_name)
{
    cn_pid from = {0};
    char name[MAXATOMLEN_UTF8];
    cn_pid to;
    if (has_from) {
        if (get_pid(c, &from) < 0)
            return bad(c, "bad sender pid");
    } else if (skip(c) < 0) {
        return bad(c, "bad unused field");
    }
    if (by_name) {
        if (skip(c) < 0 || ei_decode_atom(c->buf, &c->idx, name) < 0)
            return bad(c, "bad registered name");
    } else if (get_pid(c, &to) < 0) {
        return bad(c, "bad destination pid");
    }
    if (!m->payload)
        return bad(c, "missing message");
    send_act(m, &from, has_from, by_name ? name : NULL, &to);
    return 0;
}

static int do_alias_send(ctl *c, cn_dist_msg *m)
{
    cn_pid from;
    cn_ref alias;
    if (get_pid(c, &from) < 0 || cn_decode_ref(c->buf, &c->idx, &alias) < 0)
        return bad(c, "bad alias send");
    if (!m->payload)
        return bad(c, "missing message");
    /* Aliases of C processes are not handed out yet: a message to an unknown alias is
     * dropped, as on the BEAM. */
    cn_debug("message to inactive alias dropped");
    return 0;
}

/* LINK, UNLINK(_ID)(_ACK), EXIT, EXIT2 and the payload forms: signals to a local pid. */
static int do_signal(ctl *c, cn_dist_msg *m, int kind, int with_id, int reason_in_ctl,
                     int reason_in_payload, int has_token)
{
    unsigned long long id = 0;
    cn_pid from, to;
    int foreign;
    if (with_id && get_long(c, &id) < 0)
        return bad(c, "bad unlink id");
    if (get_peer_pid(c, &from, &foreign) < 0 || get_pid(c, &to) < 0)
        return bad(c, "bad pid");
    if (foreign)
        return bad(c, "the sender is not a process of the peer");
    if (has_token && skip(c) < 0)
        return bad(c, "bad trace token");
    cn_msg *msg;
    if (reason_in_ctl) {
        const char *r;
        int rl;
        if (get_term_span(c, &r, &rl) < 0)
            return bad(c, "bad reason");
        msg = cn_msg_new(kind, r, (size_t)rl);
    } else if (reason_in_payload) {
        msg = payload_reason(m, kind);
        if (!msg)
            return bad(c, "missing reason");
    } else {
        msg = cn_msg_new(kind, NULL, 0);
    }
    if (!msg)
        return 0;
    msg->from = from;
    msg->has_from = 1;
    msg->id = id;
    if (is_local(&to))
        deliver(&to, msg);
    else
        cn_msg_free(msg);
    return 0;
}

/* MONITOR_P / DEMONITOR_P once decoded (target: the registered name, or else the pid). */
static void monitor_act(const cn_pid *from, const char *name, const cn_pid *to_pid,
                        const cn_ref *ref, int demonitor)
{
    cn_pid to = *to_pid;
    if (name && resolve_name(name, &to) < 0) {
        if (!demonitor) /* nothing there: DOWN noproc at once (PROTOCOL.md §4.4) */
            cn_out_down(NULL, name, from, ref, "\x77\x06noproc", 8);
        return;
    }
    if (!is_local(&to))
        return;
    cn_msg *msg = cn_msg_new(demonitor ? CN_SIG_DEMONITOR : CN_SIG_MONITOR, name,
                             name ? strlen(name) + 1 : 0);
    if (!msg)
        return;
    msg->from = *from;
    msg->has_from = 1;
    msg->ref = *ref;
    msg->name_mon = name != NULL;
    deliver(&to, msg);
}

static int do_monitor(ctl *c, int demonitor)
{
    cn_pid from, to = {0};
    cn_ref ref;
    char name[MAXATOMLEN_UTF8];
    int by_name = 0, type, size, foreign;
    if (get_peer_pid(c, &from, &foreign) < 0)
        return bad(c, "bad watcher pid");
    if (foreign)
        return bad(c, "the watcher is not a process of the peer");
    if (ei_get_type(c->buf, &c->idx, &type, &size) < 0)
        return bad(c, "bad target");
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        if (ei_decode_atom(c->buf, &c->idx, name) < 0)
            return bad(c, "bad target name");
        by_name = 1;
    } else if (get_pid(c, &to) < 0) {
        return bad(c, "bad target pid");
    }
    if (cn_decode_ref(c->buf, &c->idx, &ref) < 0)
        return bad(c, "bad reference");
    monitor_act(&from, by_name ? name : NULL, &to, &ref, demonitor);
    return 0;
}

/* A process of ours monitored a remote process that has now gone. */
static int do_monitor_exit(ctl *c, cn_dist_msg *m, int payload)
{
    cn_pid from = {0}, to;
    cn_ref ref;
    int type, size, by_name = 0;
    if (ei_get_type(c->buf, &c->idx, &type, &size) < 0)
        return bad(c, "bad monitored process");
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        by_name = 1;
        if (skip(c) < 0)
            return bad(c, "bad monitored name");
    } else if (get_pid(c, &from) < 0) {
        return bad(c, "bad monitored pid");
    }
    if (get_pid(c, &to) < 0 || cn_decode_ref(c->buf, &c->idx, &ref) < 0)
        return bad(c, "bad watcher or reference");
    cn_msg *msg;
    if (payload) {
        msg = payload_reason(m, CN_SIG_DOWN);
        if (!msg)
            return bad(c, "missing reason");
    } else {
        const char *r;
        int rl;
        if (get_term_span(c, &r, &rl) < 0)
            return bad(c, "bad reason");
        msg = cn_msg_new(CN_SIG_DOWN, r, (size_t)rl);
    }
    if (!msg)
        return 0;
    msg->from = from;
    msg->has_from = !by_name;
    msg->name_mon = by_name;
    msg->ref = ref;
    if (is_local(&to))
        deliver(&to, msg);
    else
        cn_msg_free(msg);
    return 0;
}

static int do_group_leader(ctl *c)
{
    cn_pid gl, to;
    if (get_pid(c, &gl) < 0 || get_pid(c, &to) < 0)
        return bad(c, "bad pid");
    cn_msg *msg = cn_msg_new(CN_SIG_GROUP_LEADER, NULL, 0);
    if (!msg)
        return 0;
    msg->from = gl;
    msg->has_from = 1;
    if (is_local(&to))
        deliver(&to, msg);
    else
        cn_msg_free(msg);
    return 0;
}

/* Modules whose spawn requests a service handles (registered by the services layer, so that
 * this layer never calls up into it). */
#define MAX_HOOKS 8
static struct {
    char mod[64];
    cn_spawn_hook fn;
} hooks[MAX_HOOKS];
static int nhooks;

int cn_spawn_hook_register(const char *mod, cn_spawn_hook fn)
{
    if (nhooks >= MAX_HOOKS || strlen(mod) >= sizeof hooks[0].mod)
        return -1;
    strcpy(hooks[nhooks].mod, mod);
    hooks[nhooks].fn = fn; /* registered at start, before any connection: no lock needed */
    nhooks++;
    return 0;
}

static cn_spawn_fallback fallback;

void cn_spawn_fallback_register(cn_spawn_fallback fn)
{
    fallback = fn; /* registered at start, before any connection */
}

cn_spawn_hook cn_spawn_hook_lookup(const char *mod)
{
    for (int i = 0; i < nhooks; i++)
        if (strcmp(hooks[i].mod, mod) == 0)
            return hooks[i].fn;
    return NULL;
}

/* A process that cannot start exits at once with this reason, as a BEAM process whose
 * module is missing exits with undef: the spawner still gets a pid and its link/monitor. */
static int failing_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    int n, start;
    (void)state;
    if (ei_decode_list_header(buf, idx, &n) < 0 || n < 1)
        return -1;
    start = *idx;
    if (ei_skip_term(buf, idx) == 0)
        cn_set_stop_reason(self, buf + start, *idx - start);
    return -1;
}

static const cn_worker failing = {.module = "undefined", .init = failing_init};

/* [{undef, [{M, F, Args, []}]}]: the argument list of the failing worker. */
static void undef_args(ei_x_buff *x, const char *mod, const char *fun, const uint8_t *args,
                       size_t args_len)
{
    ei_x_new(x);
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "undef");
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, mod);
    ei_x_encode_atom(x, fun);
    if (args_len > 1)
        ei_x_append_buf(x, (const char *)args + 1, (int)args_len - 1);
    else
        ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
}

/* SPAWN_REQUEST {29, ReqId, From, GroupLeader, {M, F, A}, Opts} + Args (PROTOCOL.md §4.5):
 * start a worker of module M with Args (F: start or start_link), or run the exported
 * function M:F(Args) in a new process; always answer with SPAWN_REPLY. */
static int do_spawn(ctl *c, cn_dist_msg *m)
{
    cn_ref req;
    cn_pid from, gl;
    char mod[MAXATOMLEN_UTF8], fun[MAXATOMLEN_UTF8];
    long arity;
    int n, link = 0, monitor = 0;
    if (cn_decode_ref(c->buf, &c->idx, &req) < 0 || get_pid(c, &from) < 0 || get_pid(c, &gl) < 0 ||
        ei_decode_tuple_header(c->buf, &c->idx, &n) < 0 || n != 3 ||
        ei_decode_atom(c->buf, &c->idx, mod) < 0 || ei_decode_atom(c->buf, &c->idx, fun) < 0 ||
        ei_decode_long(c->buf, &c->idx, &arity) < 0 ||
        ei_decode_list_header(c->buf, &c->idx, &n) < 0)
        return bad(c, "bad spawn request");
    for (int i = 0; i < n; i++) {
        char opt[MAXATOMLEN_UTF8];
        int probe = c->idx;
        if (ei_decode_atom(c->buf, &probe, opt) == 0) {
            link |= strcmp(opt, "link") == 0;
            monitor |= strcmp(opt, "monitor") == 0;
        }
        if (skip(c) < 0) /* other options ({priority, P}, ...) do not apply here */
            return bad(c, "bad spawn option");
    }
    if (!m->payload)
        return bad(c, "spawn request without arguments");
    cn_spawn_hook hook = cn_spawn_hook_lookup(mod);
    const cn_worker *w = hook ? NULL : cn_worker_lookup(mod);
    if (w && !cn_worker_entry_fun(fun))
        w = NULL; /* kv:nosuch is undef, as a missing function of a loaded BEAM module */
    if (hook || (!w && fallback)) {
        /* hook: e.g. erpc, rpc and erpc calls (PROTOCOL.md §6.4); fallback: an exported
         * function run in a process of its own. Both are served by services/. */
        cn_pid pid;
        const char *why = "badarg";
        const char *a = (const char *)m->payload + 1;
        int alen = (int)m->payload_len - 1, r;
        if (hook)
            r = hook(fun, a, alen, link ? &from : NULL, monitor ? &from : NULL, &req, &gl, &pid,
                     &why);
        else
            r = fallback(mod, fun, a, alen, link ? &from : NULL, monitor ? &from : NULL, &req, &gl,
                         &pid, &why);
        if (r < 0) {
            cn_out_spawn_reply(&req, &from, 0, NULL, why);
            return 0;
        }
        if (r == 0) {
            cn_out_spawn_reply(&req, &from, (link ? 1 : 0) | (monitor ? 2 : 0), &pid, NULL);
            cn_spawn_go(&pid);
            return 0;
        }
    }
    ei_x_buff undef;
    const char *args = (const char *)m->payload + 1;
    int args_len = (int)m->payload_len - 1;
    if (!w) {
        undef_args(&undef, mod, fun, m->payload, m->payload_len);
        args = undef.buff;
        args_len = undef.index;
        w = &failing;
    }
    cn_spawn_opts o = {.link = link ? &from : NULL,
                       .monitor_by = monitor ? &from : NULL,
                       .monitor_ref = &req,
                       .group_leader = &gl,
                       .async_init = 1,
                       .hold_start = 1};
    cn_pid pid;
    int r = cn_spawn_ex(w, args, args_len, &o, &pid);
    if (w == &failing)
        ei_x_free(&undef);
    if (r < 0) {
        cn_out_spawn_reply(&req, &from, 0, NULL, "system_limit");
        return 0;
    }
    cn_out_spawn_reply(&req, &from, (link ? 1 : 0) | (monitor ? 2 : 0), &pid, NULL);
    cn_spawn_go(&pid);
    return 0;
}

/* Spawn requests of ours (cn_rpc_call) whose caller stopped waiting before the reply came:
 * when it comes, the monitor the new process set up for the caller is taken down instead
 * (what a BEAM node does for an abandoned request). A ring: the oldest are forgotten. */
#define MAX_ABANDONED 1024
static struct {
    cn_ref req;
    cn_pid caller;
} abandoned[MAX_ABANDONED];
static int n_abandoned, abandoned_next;
static pthread_mutex_t ab_lock = PTHREAD_MUTEX_INITIALIZER;

void cn_spawn_abandon(const cn_ref *req, const cn_pid *caller)
{
    pthread_mutex_lock(&ab_lock);
    abandoned[abandoned_next].req = *req;
    abandoned[abandoned_next].caller = *caller;
    abandoned_next = (abandoned_next + 1) % MAX_ABANDONED;
    if (n_abandoned < MAX_ABANDONED)
        n_abandoned++;
    pthread_mutex_unlock(&ab_lock);
}

/* Is req abandoned? Then forget it. Called with ab_lock held. */
static int take_abandoned(const cn_ref *req)
{
    for (int i = 0; i < n_abandoned; i++)
        if (cn_ref_eq(&abandoned[i].req, req)) {
            abandoned[i].req.len = 0; /* matches no reference again */
            return 1;
        }
    return 0;
}

/* SPAWN_REPLY {31, ReqId, To, Flags, Result}: the answer to a spawn request of To's
 * (cn_rpc_call); it arrives in To's mailbox as {spawn_reply, ReqId, Flags, Result}. */
static int do_spawn_reply(ctl *c)
{
    cn_ref req;
    cn_pid to, pid;
    unsigned long long flags;
    int type, size, is_pid = 0;
    if (cn_decode_ref(c->buf, &c->idx, &req) < 0 || get_pid(c, &to) < 0 ||
        get_long(c, &flags) < 0 || ei_get_type(c->buf, &c->idx, &type, &size) < 0)
        return bad(c, "bad spawn reply");
    int r0 = c->idx;
    if (type == ERL_NEW_PID_EXT || type == ERL_PID_EXT) {
        if (get_pid(c, &pid) < 0)
            return bad(c, "bad spawned pid");
        is_pid = 1;
    } else if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
               type == ERL_SMALL_ATOM_UTF8_EXT) {
        if (skip(c) < 0)
            return bad(c, "bad spawn error");
    } else {
        return bad(c, "spawn reply result is neither a pid nor an atom");
    }
    int watched = is_pid && (flags & 2);
    if (!is_local(&to)) {
        cn_debug("spawn reply for a process of another node dropped");
        return 0;
    }
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "spawn_reply");
    cn_encode_ref(&x, &req);
    ei_x_encode_ulonglong(&x, flags);
    ei_x_append_buf(&x, c->buf + r0, c->idx - r0);
    cn_msg *msg = cn_msg_new(CN_MSG, x.buff, (size_t)x.index);
    ei_x_free(&x);
    int delivered = 0;
    /* Under ab_lock: a caller that gives up either sees this message in its mailbox or has
     * marked the request before we look. */
    pthread_mutex_lock(&ab_lock);
    if (msg && !take_abandoned(&req)) {
        cn_proc *p = cn_proc_get(&to);
        delivered = p && cn_proc_deliver(p, msg) == 0;
        if (p)
            cn_proc_release(p);
    }
    pthread_mutex_unlock(&ab_lock);
    if (!delivered) {
        cn_msg_free(msg);
        if (watched) /* nobody waits for that process's exit any more */
            cn_out_demonitor(&to, &pid, pid.node, NULL, &req);
    }
    return 0;
}

/* The control tuple's arity per operation (PROTOCOL.md §4.1); ei decoders do not know
 * where the control term ends, so a short tuple must be refused before decoding. */
static int arity_ok(long op, int arity)
{
    static const signed char want[] = {
        [OP_LINK] = 3,
        [OP_SEND] = 3,
        [OP_EXIT] = 4,
        [OP_UNLINK] = 3,
        [OP_REG_SEND] = 4,
        [OP_GROUP_LEADER] = 3,
        [OP_EXIT2] = 4,
        [OP_SEND_TT] = 4,
        [OP_EXIT_TT] = 5,
        [OP_REG_SEND_TT] = 5,
        [OP_EXIT2_TT] = 5,
        [OP_MONITOR_P] = 4,
        [OP_DEMONITOR_P] = 4,
        [OP_MONITOR_P_EXIT] = 5,
        [OP_SEND_SENDER] = 3,
        [OP_SEND_SENDER_TT] = 4,
        [OP_PAYLOAD_EXIT] = 3,
        [OP_PAYLOAD_EXIT_TT] = 4,
        [OP_PAYLOAD_EXIT2] = 3,
        [OP_PAYLOAD_EXIT2_TT] = 4,
        [OP_PAYLOAD_MONITOR_P_EXIT] = 4,
        [OP_SPAWN_REQUEST] = 6,
        [OP_SPAWN_REQUEST_TT] = 7,
        [OP_SPAWN_REPLY] = 5,
        [OP_SPAWN_REPLY_TT] = 6,
        [OP_ALIAS_SEND] = 3,
        [OP_ALIAS_SEND_TT] = 4,
        [OP_UNLINK_ID] = 4,
        [OP_UNLINK_ID_ACK] = 4,
    };
    if (op < 0 || op >= (long)sizeof want || want[op] == 0)
        return 1; /* unknown: dropped later, nothing is decoded */
    return arity == want[op];
}

static int dispatch(ctl *c, cn_dist_msg *m)
{
    if (!arity_ok(c->op, c->arity))
        return bad(c, "wrong number of elements");
    if (c->op == OP_SPAWN_REQUEST || c->op == OP_SPAWN_REQUEST_TT || c->op == OP_SPAWN_REPLY ||
        c->op == OP_SPAWN_REPLY_TT)
        cn_ctrl_flush(); /* these deliver or start processes themselves: keep the order */
    switch (c->op) {
    case OP_SEND:
    case OP_SEND_TT:
        return do_send(c, m, 0, 0);
    case OP_SEND_SENDER:
    case OP_SEND_SENDER_TT:
        return do_send(c, m, 1, 0);
    case OP_REG_SEND:
    case OP_REG_SEND_TT:
        return do_send(c, m, 1, 1);
    case OP_ALIAS_SEND:
    case OP_ALIAS_SEND_TT:
        return do_alias_send(c, m);
    case OP_LINK:
        return do_signal(c, m, CN_SIG_LINK, 0, 0, 0, 0);
    case OP_UNLINK:
        return do_signal(c, m, CN_SIG_UNLINK, 0, 0, 0, 0);
    case OP_UNLINK_ID:
        return do_signal(c, m, CN_SIG_UNLINK, 1, 0, 0, 0);
    case OP_UNLINK_ID_ACK:
        return do_signal(c, m, CN_SIG_UNLINK_ACK, 1, 0, 0, 0);
    case OP_EXIT:
        return do_signal(c, m, CN_SIG_EXIT, 0, 1, 0, 0);
    case OP_EXIT_TT:
        return do_signal(c, m, CN_SIG_EXIT, 0, 1, 0, 1);
    case OP_EXIT2:
        return do_signal(c, m, CN_SIG_EXIT2, 0, 1, 0, 0);
    case OP_EXIT2_TT:
        return do_signal(c, m, CN_SIG_EXIT2, 0, 1, 0, 1);
    case OP_PAYLOAD_EXIT:
        return do_signal(c, m, CN_SIG_EXIT, 0, 0, 1, 0);
    case OP_PAYLOAD_EXIT_TT:
        return do_signal(c, m, CN_SIG_EXIT, 0, 0, 1, 1);
    case OP_PAYLOAD_EXIT2:
        return do_signal(c, m, CN_SIG_EXIT2, 0, 0, 1, 0);
    case OP_PAYLOAD_EXIT2_TT:
        return do_signal(c, m, CN_SIG_EXIT2, 0, 0, 1, 1);
    case OP_MONITOR_P:
        return do_monitor(c, 0);
    case OP_DEMONITOR_P:
        return do_monitor(c, 1);
    case OP_MONITOR_P_EXIT:
        return do_monitor_exit(c, m, 0);
    case OP_PAYLOAD_MONITOR_P_EXIT:
        return do_monitor_exit(c, m, 1);
    case OP_GROUP_LEADER:
        return do_group_leader(c);
    case OP_SPAWN_REQUEST:
    case OP_SPAWN_REQUEST_TT:
        return do_spawn(c, m);
    case OP_SPAWN_REPLY:
    case OP_SPAWN_REPLY_TT:
        return do_spawn_reply(c);
    default:
        cn_warn("control message %ld from %s not supported here; dropped", c->op,
                cn_node_name(c->peer));
        return 0;
    }
}

/* The common operations, decoded by cdec; 0 if the general path must handle it (it also
 * words the errors). */
static int fast(uint32_t peer, cn_dist_msg *m)
{
    cn_cdec d;
    if (!cn_cdec_parse(m->ctl, m->ctl_len, &d))
        return 0;
    switch (d.op) {
    case OP_SEND:
    case OP_SEND_SENDER:
    case OP_REG_SEND:
        if (!m->payload)
            return 0;
        send_act(m, &d.from, d.op != OP_SEND, d.by_name ? d.name : NULL, &d.to);
        return 1;
    case OP_ALIAS_SEND:
        if (!m->payload)
            return 0;
        cn_debug("message to inactive alias dropped"); /* as do_alias_send */
        return 1;
    case OP_MONITOR_P:
    case OP_DEMONITOR_P:
        if (d.from.node != peer)
            return 0; /* refused by do_monitor */
        monitor_act(&d.from, d.by_name ? d.name : NULL, &d.to, &d.ref, d.op == OP_DEMONITOR_P);
        return 1;
    default:
        return 0;
    }
}

int cn_ctrl_dispatch(uint32_t peer, cn_dist_msg *m, char *err, size_t errlen)
{
    if (fast(peer, m)) {
        cn_dist_msg_free(m);
        return 0;
    }
    ctl c = {.buf = (const char *)m->ctl, .idx = 0, .peer = peer, .err = err, .errlen = errlen};
    int version, r = -1;
    if (ei_decode_version(c.buf, &c.idx, &version) < 0 ||
        ei_decode_tuple_header(c.buf, &c.idx, &c.arity) < 0 || c.arity < 1 ||
        ei_decode_long(c.buf, &c.idx, &c.op) < 0) {
        snprintf(err, errlen, "control message is not a tuple starting with an operation");
    } else {
        r = dispatch(&c, m);
    }
    cn_dist_msg_free(m);
    if (r < 0)
        cn_ctrl_flush(); /* the connection closes next: what came before is delivered first */
    return r;
}

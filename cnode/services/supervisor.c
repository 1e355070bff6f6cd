/* supervisor: cnode_sup, a one_for_one supervisor of C workers that answers Elixir's
 * DynamicSupervisor calls (start_child, terminate_child, which_children, count_children, as
 * both OTP 25/Elixir 1.14 and OTP 27/Elixir 1.18 send them); the node's keeper starts a
 * fresh cnode_sup whenever one exits (keeper.c, asked by sup_keeper.c; the child table is in
 * sup_children.c).
 *
 * Semantics follow Elixir's DynamicSupervisor: children are restarted by their restart type
 * (permanent always, transient after an abnormal exit, temporary never) within the restart
 * intensity (max_restarts in max_seconds, default 3 in 5); past it the supervisor shuts every
 * child down and exits with reason shutdown. On a BEAM node that would take the application
 * down; here the keeper logs it and starts a fresh, empty cnode_sup (with the --child children)
 * under the same name. terminate_child sends exit(shutdown), waits for the EXIT up to the
 * child's shutdown time (a timer message, never a sleep), then kills, and answers only when
 * the child is gone (a deferred reply).
 *
 * A process in this file never blocks: child inits run synchronously on its turn, as every
 * cn_spawn_ex does; waits are timer messages. */
#include "services/services.h"

#include "cnode.h"
#include "loop.h"
#include "services/restart.h"
#include "services/sup_int.h"
#include "services/sup_spec.h"
#include "services/timer.h"
#include "util/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char A_SHUTDOWN[] = "\x77\x08shutdown";
static const char A_KILL[] = "\x77\x04kill";
#define ATOM_LEN(a) ((int)sizeof(a) - 1)

/* ---- small helpers ------------------------------------------------------------------ */

static int reason_atom_is(const char *reason, int len, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    int idx = 0;
    return ei_decode_atom(reason, &idx, a) == 0 && idx == len && strcmp(a, want) == 0;
}

/* normal, shutdown or {shutdown, _}: exits after which a transient child stays down. */
static int normal_exit(const char *reason, int len)
{
    if (reason_atom_is(reason, len, "normal") || reason_atom_is(reason, len, "shutdown"))
        return 1;
    int idx = 0, arity;
    char a[MAXATOMLEN_UTF8];
    return ei_decode_tuple_header(reason, &idx, &arity) == 0 && arity == 2 &&
           ei_decode_atom(reason, &idx, a) == 0 && strcmp(a, "shutdown") == 0;
}

/* {shutdown, {handoff, NewPid}}: the child was handed off (cnode:handoff/2) and lives on as
 * NewPid, perhaps on another node; restarting it here would make a second, empty one. */
static int handed_off(const char *reason)
{
    int idx = 0, arity;
    char a[MAXATOMLEN_UTF8];
    return ei_decode_tuple_header(reason, &idx, &arity) == 0 && arity == 2 &&
           ei_decode_atom(reason, &idx, a) == 0 && strcmp(a, "shutdown") == 0 &&
           ei_decode_tuple_header(reason, &idx, &arity) == 0 && arity == 2 &&
           ei_decode_atom(reason, &idx, a) == 0 && strcmp(a, "handoff") == 0;
}

static void encode_error(ei_x_buff *reply, const char *atom)
{
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_encode_atom(reply, atom);
}

/* Our own message {TAG, Op, Key} to self, now or after ms. */
static void send_self(cn_proc *self, const char *op, uint64_t key, long ms)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, TAG);
    ei_x_encode_atom(&x, op);
    ei_x_encode_ulonglong(&x, key);
    cn_pid me = cn_self(self);
    int r = ms > 0 ? cn_send_after(&me, (unsigned)ms, x.buff, x.index)
                   : cn_send(self, &me, x.buff, x.index);
    if (r < 0)
        cn_error("cnode_sup: cannot send itself %s (out of memory?)", op);
    ei_x_free(&x);
}

char *sup_pid_str(const cn_pid *p, char *buf, size_t n)
{
    snprintf(buf, n, "<0.%u.%u>", p->id, p->serial);
    return buf;
}

/* ---- starting children -------------------------------------------------------------- */

/* Start (or restart) c's process, linked to us. On a failed init *err gets the exit reason
 * (malloc'd, or NULL when the spawn failed for another reason). */
static int spawn_child(cn_proc *self, sup *s, child *c, char **err, int *err_len)
{
    cn_pid me = cn_self(self), pid;
    cn_spawn_opts o = {.link = &me, .name = c->name, .init_error = err, .init_error_len = err_len};
    *err = NULL;
    *err_len = 0;
    if (cn_spawn_ex(c->sp.w, c->sp.args, c->sp.args_len, &o, &pid) < 0)
        return -1;
    /* Our half of the link: cn_spawn_ex links the child to us; linking back is a no-op if
     * that half is already there, and gives us {'EXIT', Pid, noproc} if the child is already
     * gone, so no exit goes unseen. */
    cn_link(self, &pid);
    c->pid = pid;
    c->has_pid = 1;
    if (sup_hash_add(s, c) < 0) {
        cn_error("cnode_sup: out of memory; killing the new child <0.%u.%u>", pid.id, pid.serial);
        c->has_pid = 0;
        cn_unlink(self, &pid); /* its EXIT must not read as a stranger's */
        cn_exit(self, &pid, A_KILL, ATOM_LEN(A_KILL));
        return -1;
    }
    return 0;
}

/* The reason a start failed with, when init gave none: a name that is taken reads as
 * {already_started, Pid}, as gen_server says it; anything else is a resource limit. */
static void start_error(const child *c, const char *err, int err_len, ei_x_buff *x)
{
    cn_pid other;
    if (err) {
        ei_x_append_buf(x, err, err_len);
    } else if (c->name && cn_whereis_name(c->name, &other) == 0) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "already_started");
        cn_encode_pid(x, &other);
    } else {
        ei_x_encode_atom(x, "system_limit");
    }
}
/* ---- shutting children down ----------------------------------------------------------- */

/* Send c its exit (shutdown, or kill for brutal_kill) and, with a finite shutdown time, a
 * timer to kill it if it is still there then. It stops counting as our child now. */
static void terminate_start(cn_proc *self, sup *s, child *c)
{
    if (!c->has_pid || c->terminating)
        return;
    c->terminating = 1;
    s->nterminating++;
    if (c->sp.shutdown == SHUTDOWN_BRUTAL) {
        cn_exit(self, &c->pid, A_KILL, ATOM_LEN(A_KILL));
        return;
    }
    cn_exit(self, &c->pid, A_SHUTDOWN, ATOM_LEN(A_SHUTDOWN));
    if (c->sp.shutdown != SHUTDOWN_INFINITY)
        send_self(self, "kill", c->key, c->sp.shutdown > 0 ? c->sp.shutdown : 0);
}

/* Once stopping and childless: exit with the stop reason. */
static int maybe_stop(cn_proc *self, sup *s)
{
    if (!s->stopping || s->nchildren > 0)
        return CN_NOREPLY;
    cn_set_stop_reason(self, s->stop_reason, s->stop_reason_len);
    return CN_STOP;
}

/* Shut every child down, then exit with reason (as a supervisor's terminate does). */
static int begin_shutdown(cn_proc *self, sup *s, const char *reason, int len)
{
    if (!s->stopping) {
        s->stopping = 1;
        s->stop_reason = sup_dup_bytes(reason, len);
        s->stop_reason_len = s->stop_reason ? len : 0;
        if (!s->stop_reason) { /* out of memory: the reason is at least shutdown */
            s->stop_reason = sup_dup_bytes(A_SHUTDOWN, ATOM_LEN(A_SHUTDOWN));
            s->stop_reason_len = s->stop_reason ? ATOM_LEN(A_SHUTDOWN) : 0;
        }
    }
    for (child *c = s->head, *nx; c; c = nx) {
        nx = c->next;
        if (!c->has_pid)
            sup_child_remove(self, s, c); /* a restart that was to be retried */
        else
            terminate_start(self, s, c);
    }
    return maybe_stop(self, s);
}

/* ---- restarts ----------------------------------------------------------------------- */

static int restart_child(cn_proc *self, sup *s, child *c)
{
    char p[48];
    int ok = cn_restarts_add(&s->restarts, cn_now_ms());
    if (ok != 1) {
        cn_error("cnode_sup: *** reached the maximum restart intensity (%d restarts in %d s) "
                 "restarting %s (%s): shutting down all %ld children and exiting (shutdown)",
                 s->max_restarts, s->max_seconds, sup_pid_str(&c->pid, p, sizeof p),
                 c->sp.w->module, s->nchildren - s->nterminating - 1);
        sup_child_remove(self, s, c);
        return begin_shutdown(self, s, A_SHUTDOWN, ATOM_LEN(A_SHUTDOWN));
    }
    char *err;
    int err_len;
    cn_pid old = c->pid;
    if (spawn_child(self, s, c, &err, &err_len) == 0) {
        char q[48];
        cn_info("cnode_sup: restarted %s child %s as %s", c->sp.w->module,
                sup_pid_str(&old, p, sizeof p), sup_pid_str(&c->pid, q, sizeof q));
        return CN_NOREPLY;
    }
    char *why = err ? cn_log_term(err, err_len) : strdup("no process");
    cn_error("cnode_sup: restarting a %s child failed (%s); trying again", c->sp.w->module,
             why ? why : "?");
    free(why);
    free(err);
    send_self(self, "retry", c->key, 0); /* each try counts against the intensity */
    return CN_NOREPLY;
}

/* {'EXIT', Pid, Reason}: a child exited (or a linked process that is not one of ours). */
static int on_exit_msg(cn_proc *self, sup *s, const cn_pid *from, const char *reason, int rlen)
{
    char p[48];
    child *c = sup_find_child(s, from);
    if (!c) {
        /* Not a child: our parent or another linked process. As for a process that does
         * not trap exits, a normal exit is nothing; anything else takes us down (after our
         * children). */
        if (reason_atom_is(reason, rlen, "normal"))
            return CN_NOREPLY;
        char *why = cn_log_term(reason, rlen);
        cn_warn("cnode_sup: linked process %s exited (%s): shutting down",
                sup_pid_str(from, p, sizeof p), why ? why : "?");
        free(why);
        return begin_shutdown(self, s, reason, rlen);
    }
    sup_hash_del(s, c);
    if (c->terminating || s->stopping || cn_loop_stopping()) {
        sup_child_remove(self, s, c);
        return maybe_stop(self, s);
    }
    int normal = normal_exit(reason, rlen);
    int again = !handed_off(reason) &&
                (c->sp.restart == R_PERMANENT || (c->sp.restart == R_TRANSIENT && !normal));
    if (!normal) {
        char *why = cn_log_term(reason, rlen);
        cn_warn("cnode_sup: child %s (%s) exited: %s%s", sup_pid_str(from, p, sizeof p),
                c->sp.w->module, why ? why : "?", again ? "; restarting" : "");
        free(why);
    }
    if (!again) {
        sup_child_remove(self, s, c);
        return CN_NOREPLY;
    }
    return restart_child(self, s, c);
}

/* ---- calls -------------------------------------------------------------------------- */

static void reply_error_term(ei_x_buff *reply, const char *err, int len)
{
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_append_buf(reply, err, len);
}

static int do_start_child(cn_proc *self, sup *s, const char *buf, int *idx, ei_x_buff *reply)
{
    sup_spec sp;
    ei_x_buff err;
    ei_x_new(&err);
    if (sup_spec_parse(buf, idx, &sp, &err) < 0) {
        reply_error_term(reply, err.buff, err.index);
        ei_x_free(&err);
        return CN_REPLY;
    }
    ei_x_free(&err);
    if (s->max_children >= 0 && s->nchildren - s->nterminating >= s->max_children) {
        sup_spec_free(&sp);
        encode_error(reply, "max_children");
        return CN_REPLY;
    }
    child *c = sup_child_new(s, &sp, NULL);
    if (!c) {
        sup_spec_free(&sp);
        encode_error(reply, "enomem");
        return CN_REPLY;
    }
    char *ie;
    int ie_len;
    if (spawn_child(self, s, c, &ie, &ie_len) < 0) {
        ei_x_encode_tuple_header(reply, 2);
        ei_x_encode_atom(reply, "error");
        start_error(c, ie, ie_len, reply);
        free(ie);
        sup_spec_free(&c->sp);
        free(c);
        return CN_REPLY;
    }
    sup_list_add(s, c);
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "ok");
    cn_encode_pid(reply, &c->pid);
    return CN_REPLY;
}

/* {terminate_child, Pid}: answered when the child is gone (or at once: not_found). */
static int do_terminate_child(cn_proc *self, sup *s, const char *buf, int *idx, const cn_from *from,
                              ei_x_buff *reply)
{
    cn_pid pid;
    child *c = NULL;
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) == 0 &&
        (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) && cn_decode_pid(buf, &i, &pid) == 0)
        c = sup_find_child(s, &pid);
    if (!c || c->terminating) {
        encode_error(reply, "not_found");
        return CN_REPLY;
    }
    c->waiter = cn_from_dup(from);
    if (!c->waiter) {
        encode_error(reply, "enomem");
        return CN_REPLY;
    }
    terminate_start(self, s, c);
    return CN_NOREPLY;
}

static void encode_which_children(const sup *s, ei_x_buff *reply)
{
    long n = s->nchildren - s->nterminating;
    if (n > 0)
        ei_x_encode_list_header(reply, n);
    for (child *c = s->head; c; c = c->next) {
        if (c->terminating)
            continue;
        ei_x_encode_tuple_header(reply, 4);
        ei_x_encode_atom(reply, "undefined");
        if (c->has_pid)
            cn_encode_pid(reply, &c->pid);
        else
            ei_x_encode_atom(reply, "restarting");
        ei_x_encode_atom(reply, c->sp.supervisor ? "supervisor" : "worker");
        ei_x_append_buf(reply, c->sp.modules, c->sp.modules_len);
    }
    ei_x_encode_empty_list(reply);
}

/* [specs: N, active: N, supervisors: N, workers: N], as DynamicSupervisor answers (the
 * callers turn it into a map). */
static void encode_count_children(const sup *s, ei_x_buff *reply)
{
    long specs = 0, active = 0, sups = 0, workers = 0;
    for (child *c = s->head; c; c = c->next) {
        if (c->terminating)
            continue;
        specs++;
        active += c->has_pid;
        sups += c->sp.supervisor;
        workers += !c->sp.supervisor;
    }
    const char *keys[] = {"specs", "active", "supervisors", "workers"};
    long vals[] = {specs, active, sups, workers};
    ei_x_encode_list_header(reply, 4);
    for (int k = 0; k < 4; k++) {
        ei_x_encode_tuple_header(reply, 2);
        ei_x_encode_atom(reply, keys[k]);
        ei_x_encode_long(reply, vals[k]);
    }
    ei_x_encode_empty_list(reply);
}

static int sup_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                    ei_x_buff *reply)
{
    sup *s = state;
    char a[MAXATOMLEN_UTF8];
    int i = *idx, arity;
    if (s->stopping) /* a supervisor in its terminate answers nothing: callers see it exit */
        return CN_NOREPLY;
    if (sup_get_atom(buf, &i, a) == 0) {
        if (!strcmp(a, "which_children")) {
            encode_which_children(s, reply);
            return CN_REPLY;
        }
        if (!strcmp(a, "count_children")) {
            encode_count_children(s, reply);
            return CN_REPLY;
        }
    } else if (ei_decode_tuple_header(buf, &i, &arity) == 0 && arity == 2 &&
               sup_get_atom(buf, &i, a) == 0) {
        if (!strcmp(a, "start_child"))
            return do_start_child(self, s, buf, &i, reply);
        if (!strcmp(a, "terminate_child"))
            return do_terminate_child(self, s, buf, &i, from, reply);
    }
    /* restart_child, delete_child, get_childspec, ...: not for a dynamic supervisor */
    encode_error(reply, "not_supported");
    return CN_REPLY;
}

/* ---- messages ----------------------------------------------------------------------- */

static int sup_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    sup *s = state;
    char a[MAXATOMLEN_UTF8];
    int arity, i = *idx;
    if (ei_decode_tuple_header(buf, &i, &arity) < 0 || sup_get_atom(buf, &i, a) < 0)
        return CN_NOREPLY;
    if (arity == 3 && !strcmp(a, "EXIT")) {
        cn_pid from;
        int r0, rlen;
        if (cn_decode_pid(buf, &i, &from) < 0 || sup_span(buf, &i, &r0, &rlen) < 0)
            return CN_NOREPLY;
        return on_exit_msg(self, s, &from, buf + r0, rlen);
    }
    unsigned long long key;
    if (arity == 3 && !strcmp(a, TAG) && sup_get_atom(buf, &i, a) == 0 &&
        ei_decode_ulonglong(buf, &i, &key) == 0) {
        child *c = sup_find_key(s, key);
        if (!c)
            return CN_NOREPLY;
        if (!strcmp(a, "kill") && c->terminating && c->has_pid) {
            char p[48];
            cn_warn("cnode_sup: child %s (%s) did not stop within %ld ms of shutdown; killing",
                    sup_pid_str(&c->pid, p, sizeof p), c->sp.w->module, c->sp.shutdown);
            cn_exit(self, &c->pid, A_KILL, ATOM_LEN(A_KILL));
        } else if (!strcmp(a, "retry") && !c->has_pid && !c->terminating && !s->stopping) {
            return restart_child(self, s, c);
        }
    }
    return CN_NOREPLY; /* anything else: ignored, as DynamicSupervisor logs and drops it */
}

static void sup_free(cn_proc *self, sup *s)
{
    char p[48];
    while (s->head) {
        child *c = s->head;
        if (c->has_pid && !c->terminating) {
            /* we exit with children still there (a start that failed after init, the node
             * stopping): they go with us, as through the link */
            cn_debug("cnode_sup: stopping child %s", sup_pid_str(&c->pid, p, sizeof p));
            cn_exit(self, &c->pid, A_SHUTDOWN, ATOM_LEN(A_SHUTDOWN));
        }
        s->head = c->next;
        cn_from_free(c->waiter); /* the caller sees us exit instead */
        sup_spec_free(&c->sp);
        free(c);
    }
    free(s->tab);
    free(s->stop_reason);
    cn_restarts_free(&s->restarts);
    free(s);
}

static void sup_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)reason;
    (void)len;
    sup_free(self, state);
}

static int sup_export(void *state, ei_x_buff *out)
{
    sup *s = state;
    ei_x_encode_map_header(out, 5);
    ei_x_encode_atom(out, "strategy");
    ei_x_encode_atom(out, "one_for_one");
    ei_x_encode_atom(out, "max_restarts");
    ei_x_encode_long(out, s->max_restarts);
    ei_x_encode_atom(out, "max_seconds");
    ei_x_encode_long(out, s->max_seconds);
    ei_x_encode_atom(out, "max_children");
    if (s->max_children < 0)
        ei_x_encode_atom(out, "infinity");
    else
        ei_x_encode_long(out, s->max_children);
    ei_x_encode_atom(out, "children");
    ei_x_encode_long(out, s->nchildren - s->nterminating);
    return 0;
}

/* ---- init --------------------------------------------------------------------------- */

#define MAX_STATIC 256
static struct {
    const char *module, *name;
} statics[MAX_STATIC];
static int nstatics;

int cn_supervisor_static_child(const char *module, const char *name)
{
    if (nstatics >= MAX_STATIC)
        return -1;
    statics[nstatics].module = module;
    statics[nstatics].name = name;
    nstatics++;
    return 0;
}

static sup *sup_new(int max_restarts, int max_seconds, long max_children)
{
    sup *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->max_restarts = max_restarts;
    s->max_seconds = max_seconds;
    s->max_children = max_children;
    if (cn_restarts_init(&s->restarts, max_restarts, (uint64_t)max_seconds * 1000) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Start the static children (--child): permanent workers with args []. One that does not
 * start is logged and left out. */
static void start_statics(cn_proc *self, sup *s)
{
    static const char nil[] = {(char)ERL_NIL_EXT};
    char p[48];
    for (int k = 0; k < nstatics; k++) {
        const cn_worker *w = cn_worker_lookup(statics[k].module);
        if (!w) {
            cn_error("cnode_sup: --child %s: no such worker module", statics[k].module);
            continue;
        }
        ei_x_buff mods;
        ei_x_new(&mods);
        ei_x_encode_list_header(&mods, 1);
        ei_x_encode_atom(&mods, w->module);
        ei_x_encode_empty_list(&mods);
        sup_spec sp = {.w = w,
                       .args = sup_dup_bytes(nil, 1),
                       .args_len = 1,
                       .modules = sup_dup_bytes(mods.buff, mods.index),
                       .modules_len = mods.index,
                       .restart = R_PERMANENT,
                       .shutdown = DEFAULT_SHUTDOWN};
        ei_x_free(&mods);
        child *c = sp.args && sp.modules ? sup_child_new(s, &sp, statics[k].name) : NULL;
        if (!c) {
            sup_spec_free(&sp);
            cn_error("cnode_sup: --child %s: out of memory", statics[k].module);
            continue;
        }
        char *ie;
        int ie_len;
        if (spawn_child(self, s, c, &ie, &ie_len) < 0) {
            ei_x_buff x;
            ei_x_new(&x);
            start_error(c, ie, ie_len, &x);
            char *why = cn_log_term(x.buff, x.index);
            cn_error("cnode_sup: --child %s%s%s did not start: %s", statics[k].module,
                     c->name ? ":" : "", c->name ? c->name : "", why ? why : "?");
            free(why);
            ei_x_free(&x);
            free(ie);
            sup_spec_free(&c->sp);
            free(c);
            continue;
        }
        sup_list_add(s, c);
        cn_info("cnode_sup: started %s%s%s as %s", statics[k].module, c->name ? ":" : "",
                c->name ? c->name : "", sup_pid_str(&c->pid, p, sizeof p));
    }
}

/* The registered cnode_sup: default intensity, no child limit, the static children. */
static int top_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)buf;
    (void)idx;
    sup *s = sup_new(3, 5, -1);
    if (!s)
        return -1;
    cn_trap_exit(self, 1);
    start_statics(self, s);
    *state = s;
    return 0;
}

/* init failure with reason {supervisor_data, {Tag, Value}}, as DynamicSupervisor.init. */
static int bad_option(cn_proc *self, const char *tag, const char *buf, int at)
{
    int i = at, s0, n;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "supervisor_data");
    if (at >= 0 && sup_span(buf, &i, &s0, &n) == 0)
        sup_encode_tagged(&x, tag, buf, s0, n);
    else
        ei_x_encode_atom(&x, tag);
    cn_set_stop_reason(self, x.buff, x.index);
    ei_x_free(&x);
    return -1;
}

/* A cnode_sup started as a child or spawned: args [] or [Opts], Opts a keyword list of
 * strategy (one_for_one), max_restarts, max_seconds, max_children (others are ignored, as
 * DynamicSupervisor.init ignores them). */
static int nested_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    long max_restarts = 3, max_seconds = 5, max_children = -1;
    int n, i = *idx;
    if (ei_decode_list_header(buf, &i, &n) < 0 || n > 1)
        return bad_option(self, "invalid_options", buf, *idx);
    int nopts = 0;
    if (n == 1) {
        int t, sz, at = i;
        if (ei_get_type(buf, &i, &t, &sz) < 0)
            return -1;
        if (t != ERL_NIL_EXT && (t != ERL_LIST_EXT || ei_decode_list_header(buf, &i, &nopts) < 0))
            return bad_option(self, "invalid_options", buf, at);
        if (t == ERL_NIL_EXT)
            ei_skip_term(buf, &i);
    }
    for (int k = 0; k < nopts; k++) {
        char key[MAXATOMLEN_UTF8], a[MAXATOMLEN_UTF8];
        int arity, at;
        long v;
        if (ei_decode_tuple_header(buf, &i, &arity) < 0 || arity != 2 ||
            sup_get_atom(buf, &i, key) < 0)
            return bad_option(self, "invalid_options", buf, *idx);
        at = i;
        int is_atom = sup_get_atom(buf, &i, a) == 0;
        int is_int = !is_atom && ei_decode_long(buf, &i, &v) == 0;
        if (!is_atom && !is_int && ei_skip_term(buf, &i) < 0)
            return -1;
        if (!strcmp(key, "strategy")) {
            if (!is_atom || strcmp(a, "one_for_one") != 0)
                return bad_option(self, "invalid_strategy", buf, at);
        } else if (!strcmp(key, "max_restarts")) {
            if (!is_int || v < 0 || v > 1000000)
                return bad_option(self, "invalid_intensity", buf, at);
            max_restarts = v;
        } else if (!strcmp(key, "max_seconds")) {
            if (!is_int || v <= 0 || v > 86400 * 365)
                return bad_option(self, "invalid_period", buf, at);
            max_seconds = v;
        } else if (!strcmp(key, "max_children")) {
            if (is_atom && !strcmp(a, "infinity"))
                max_children = -1;
            else if (is_int && v >= 0)
                max_children = v;
            else
                return bad_option(self, "invalid_max_children", buf, at);
        }
    }
    sup *s = sup_new((int)max_restarts, (int)max_seconds, max_children);
    if (!s)
        return -1;
    cn_trap_exit(self, 1);
    *state = s;
    return 0;
}

/* The module started by the keeper (registered as cnode_sup, not in the module table). */
const cn_worker sup_top_worker = {
    .module = SUP_NAME,
    .init = top_init,
    .handle_call = sup_call,
    .handle_info = sup_info,
    .terminate = sup_terminate,
    .export_state = sup_export,
};

/* cnode_sup as a worker module: DynamicSupervisor.start_child(..., %{start: {:cnode_sup,
 * :start_link, [opts]}, type: :supervisor}) nests one. */
const cn_worker sup_nested_worker = {
    .module = SUP_NAME,
    .init = nested_init,
    .handle_call = sup_call,
    .handle_info = sup_info,
    .terminate = sup_terminate,
    .export_state = sup_export,
};

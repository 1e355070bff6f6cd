/* gen: the gen_server adapter. It turns '$gen_call', '$gen_cast', system messages and
 * everything else into a worker's callbacks, and starts worker processes. */
#include "proc/gen.h"

#include "code/table.h"
#include "dist/out.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "services/timer.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

typedef struct deferred {
    struct deferred *next;
    cn_msg *m;
} deferred;

typedef struct gen {
    const cn_worker *w;
    cn_code_user code; /* the version of loaded code w belongs to (none for built-in code) */
    void *state;
    int started;
    char *args; /* async init: the argument list, until the first turn */
    int args_len;
    int suspended;               /* :sys.suspend: only system messages are handled */
    deferred *held, **held_tail; /* messages that arrived while suspended, in order */
    cn_pid parent;
    unsigned long timeout_gen; /* bumped by every message: a pending timeout is stale */
    int timeout_armed;
    int import;     /* started from a handed-off state (import_state, not init) */
    int forwarding; /* handed off: messages go on to forward_to until the grace ends */
    cn_pid forward_to;
} gen;

/* Is the atom at buf+idx `want` (ASCII)? Then step over it. Compared in place: every
 * message is tested against a few of these, and ASCII reads the same in all four atom
 * encodings (no ei decode into a buffer). */
static int atom_eq(const char *buf, int *idx, const char *want)
{
    const unsigned char *q = (const unsigned char *)buf + *idx;
    size_t len, hdr, wl = strlen(want);
    switch (q[0]) {
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_EXT:
        len = q[1];
        hdr = 2;
        break;
    case ERL_ATOM_UTF8_EXT:
    case ERL_ATOM_EXT:
        len = (size_t)q[1] << 8 | q[2];
        hdr = 3;
        break;
    default:
        return 0;
    }
    if (len != wl || memcmp(q + hdr, want, wl) != 0)
        return 0;
    *idx += (int)(hdr + len);
    return 1;
}

/* From = {Pid, Tag}: keep the tag's bytes to echo them unchanged (PROTOCOL.md §6.2). */
static int decode_from(const char *buf, int *idx, cn_from *from)
{
    int arity, start;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 2 ||
        cn_decode_pid(buf, idx, &from->pid) < 0)
        return -1;
    start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    from->tag = (char *)buf + start;
    from->tag_len = *idx - start;
    return 0;
}

static void upgrade(cn_proc *p, gen *g, const char *buf, int idx, const cn_from *from);
static int upgrade_request(const char *buf, int *idx);
static int handoff_request(const char *buf, int *idx);
static int timeout_msg(gen *g, const char *buf);
static void handoff(cn_proc *p, gen *g, const char *buf, int idx, const cn_from *from);

static int do_call(cn_proc *p, gen *g, const char *buf, int *idx)
{
    cn_from from;
    if (decode_from(buf, idx, &from) < 0)
        return CN_NOREPLY;
    if (upgrade_request(buf, idx)) {
        upgrade(p, g, buf, *idx, &from);
        return CN_NOREPLY;
    }
    if (handoff_request(buf, idx)) {
        handoff(p, g, buf, *idx, &from);
        return CN_NOREPLY;
    }
    if (!g->w->handle_call)
        return CN_NOREPLY;
    ei_x_buff reply;
    ei_x_new(&reply);
    int start = *idx;
    int r = g->w->handle_call(p, g->state, buf, idx, &from, &reply);
    if (r == CN_REPLY_INPUT) {
        ei_x_free(&reply);
        if (!p->doomed && *idx >= start)
            cn_reply_input(p, &from, buf + start, *idx - start); /* buf may be gone now */
        return CN_NOREPLY;
    }
    if (r == CN_REPLY && !p->doomed)
        cn_reply_take(p, &from, &reply); /* reply's buffer goes to the frame as it is */
    ei_x_free(&reply);
    return r == CN_STOP ? CN_STOP : CN_NOREPLY;
}

static void encode_state(gen *g, ei_x_buff *x)
{
    if (!g->w->export_state || g->w->export_state(g->state, x) < 0)
        ei_x_encode_atom(x, "opaque_c_state"); /* the worker does not export its state */
}

static void charlist(ei_x_buff *x, const char *s)
{
    ei_x_encode_string(x, s);
}

/* {status, Pid, {module, Mod}, [PDict, SysState, Parent, Debug, Misc]} as gen_server's
 * format_status gives it, so that iex prints it the same (PROTOCOL.md §6.5). */
static void get_status(cn_proc *p, gen *g, ei_x_buff *x)
{
    char header[1200];
    if (p->regname)
        snprintf(header, sizeof header, "Status for generic server %s", p->regname);
    else
        snprintf(header, sizeof header, "Status for generic server <0.%u.%u>", p->pid.id,
                 p->pid.serial);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, "status");
    cn_encode_pid(x, &p->pid);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "module");
    ei_x_encode_atom(x, "gen_server");
    ei_x_encode_list_header(x, 5);
    ei_x_encode_list_header(x, 1); /* process dictionary: where the worker code lives */
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "$initial_call");
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, g->w->module);
    ei_x_encode_atom(x, "init");
    ei_x_encode_long(x, 1);
    ei_x_encode_empty_list(x);
    ei_x_encode_atom(x, g->suspended ? "suspended" : "running");
    cn_encode_pid(x, &g->parent);
    ei_x_encode_empty_list(x); /* debug */
    ei_x_encode_list_header(x, 3);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "header");
    charlist(x, header);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "data");
    ei_x_encode_list_header(x, 3);
    ei_x_encode_tuple_header(x, 2);
    charlist(x, "Status");
    ei_x_encode_atom(x, g->suspended ? "suspended" : "running");
    ei_x_encode_tuple_header(x, 2);
    charlist(x, "Parent");
    cn_encode_pid(x, &g->parent);
    ei_x_encode_tuple_header(x, 2);
    charlist(x, "Logged events");
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "data");
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 2);
    charlist(x, "State");
    encode_state(g, x);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
}

static int gen_message(cn_proc *p, const cn_msg *m);

/* {change_code, Module, OldVsn, Extra} (sys:change_code/4, release_handler's way): move the
 * process to the current version of its loaded module through the new code's code_change,
 * which gets the old version's state. Without a code_change the state is kept as it is (the
 * default of Elixir's `use GenServer`). If it fails, the process stays on the old code. */
static void move_code(cn_proc *p, gen *g, const char *vsn, int vsn_len, const char *extra,
                      int extra_len, ei_x_buff *x)
{
    cn_code_ver *to;
    const cn_worker *nw;
    int r = cn_code_newer(&g->code, &to, &nw);
    if (r == 0) { /* already current, or built-in code: nothing to move */
        ei_x_encode_atom(x, "ok");
        return;
    }
    if (r < 0) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "error");
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "not_loaded");
        ei_x_encode_atom(x, g->w->module);
        return;
    }
    void *state = g->state;
    if (nw->code_change && nw->code_change(p, &state, vsn, vsn_len, extra, extra_len) < 0) {
        cn_code_release(to);
        cn_warn("worker %s: code_change to vsn %s failed; it keeps the old code", nw->module,
                cn_code_vsn(to));
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "error");
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "code_change_failed");
        ei_x_encode_atom(x, nw->module);
        return;
    }
    g->state = state;
    g->w = nw;
    cn_code_move(&g->code, to); /* may unload the old version: its code is not used again */
    ei_x_encode_atom(x, "ok");
}

static void change_code(cn_proc *p, gen *g, const char *buf, int *idx, ei_x_buff *x)
{
    int vsn, vsn_end, extra, extra_end;
    vsn = vsn_end = extra = extra_end = *idx;
    if (ei_skip_term(buf, &vsn) < 0 || (vsn_end = vsn, ei_skip_term(buf, &vsn_end) < 0) ||
        (extra = extra_end = vsn_end, ei_skip_term(buf, &extra_end) < 0)) {
        ei_x_encode_tuple_header(x, 2); /* Module ignored, as gen_server does */
        ei_x_encode_atom(x, "error");
        ei_x_encode_atom(x, "badarg");
        return;
    }
    move_code(p, g, buf + vsn, vsn_end - vsn, buf + extra, extra_end - extra, x);
}

/* Request {'$cnode_code_change', Extra} (cnode:upgrade/1,2 calls every worker still on old
 * code with it): change_code with the old version's own vsn (a charlist), whether suspended
 * or not. Returns 1 if buf+idx is that request (idx then at Extra), else 0. */
static int upgrade_request(const char *buf, int *idx)
{
    int i = *idx, arity;
    if (ei_decode_tuple_header(buf, &i, &arity) < 0 || arity != 2 ||
        !atom_eq(buf, &i, "$cnode_code_change"))
        return 0;
    *idx = i;
    return 1;
}

/* from NULL: the message a load sends to every worker left on the old code (no answer). */
static void upgrade(cn_proc *p, gen *g, const char *buf, int idx, const cn_from *from)
{
    int end = idx;
    ei_x_buff vsn, x;
    ei_x_new(&vsn);
    ei_x_new(&x);
    ei_x_encode_string(&vsn, cn_code_vsn(g->code.ver));
    if (ei_skip_term(buf, &end) == 0) {
        move_code(p, g, vsn.buff, vsn.index, buf + idx, end - idx, &x);
        if (from)
            cn_reply(p, from, x.buff, x.index);
    }
    ei_x_free(&vsn);
    ei_x_free(&x);
}

/* The plain message {'$cnode_code_change', Extra}: a load asks a worker of the module to move
 * to the new code (README "Hot code loading"). Held while suspended, as release_handler
 * moves suspended workers itself. Returns 1 if buf is it (and handled). */
static int is_load_upgrade(const char *buf, int *idx)
{
    int version;
    *idx = 0;
    return ei_decode_version(buf, idx, &version) == 0 && upgrade_request(buf, idx);
}

static int load_upgrade(cn_proc *p, gen *g, const char *buf)
{
    int idx;
    if (!g->code.ver || !is_load_upgrade(buf, &idx))
        return 0;
    if (!g->forwarding) /* a worker handed off moved as a whole; its successor is not ours */
        upgrade(p, g, buf, idx, NULL);
    return 1;
}

/* Is this message the upgrade or the handoff request, served even while suspended? */
static int is_upgrade_call(const char *buf)
{
    int idx = 0, version, arity;
    cn_from from;
    if (ei_decode_version(buf, &idx, &version) < 0 ||
        ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
        !atom_eq(buf, &idx, "$gen_call") || decode_from(buf, &idx, &from) < 0)
        return 0;
    int at = idx;
    return upgrade_request(buf, &idx) || handoff_request(buf, &at);
}

/* ---- state handoff (README "State handoff") ------------------------------------------ */

#define HANDOFF_TIMEOUT_MS 15000

/* Request {'$cnode_handoff', Node} (cnode:handoff/2). Returns 1 if buf+idx is it (idx then
 * at Node), else 0. */
static int handoff_request(const char *buf, int *idx)
{
    int i = *idx, arity;
    if (ei_decode_tuple_header(buf, &i, &arity) < 0 || arity != 2 ||
        !atom_eq(buf, &i, "$cnode_handoff"))
        return 0;
    *idx = i;
    return 1;
}

static void reply_error(cn_proc *p, const cn_from *from, const char *why, const ei_x_buff *detail)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "error");
    if (detail) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, why);
        ei_x_append_buf(&x, detail->buff, detail->index);
    } else {
        ei_x_encode_atom(&x, why);
    }
    cn_reply(p, from, x.buff, x.index);
    ei_x_free(&x);
}

/* Move this worker to node: its exported state goes to Module:cnode_import(State) there (any
 * C node answers that for its worker modules; a BEAM node, for a module that defines it),
 * which answers {ok, Pid}. From then on this process forwards everything it gets to Pid (a
 * call keeps its caller, so the answer comes from Pid), held messages first; after the grace
 * it exits {shutdown, {handoff, Pid}}. On failure nothing changes. */
static void handoff(cn_proc *p, gen *g, const char *buf, int idx, const cn_from *from)
{
    char node[MAXATOMLEN_UTF8];
    if (ei_decode_atom(buf, &idx, node) < 0 || !g->w->export_state) {
        reply_error(p, from, g->w->export_state ? "badarg" : "no_export_state", NULL);
        return;
    }
    ei_x_buff args, res;
    ei_x_new(&args);
    ei_x_new(&res);
    ei_x_encode_list_header(&args, 1);
    encode_state(g, &args);
    ei_x_encode_empty_list(&args);
    int cls = -1, arity, i = 0;
    cn_pid to;
    int r = cn_rpc_call(p, node, g->w->module, "cnode_import", args.buff, args.index,
                        HANDOFF_TIMEOUT_MS, &res, &cls);
    if (r < 0 || cls != CN_RPC_RETURN || ei_decode_tuple_header(res.buff, &i, &arity) < 0 ||
        arity != 2 || !atom_eq(res.buff, &i, "ok") || cn_decode_pid(res.buff, &i, &to) < 0) {
        reply_error(p, from, "import_failed", r < 0 ? NULL : &res);
    } else {
        g->forwarding = 1;
        g->forward_to = to;
        for (deferred *d = g->held, *n; d; d = n) { /* in the order they came */
            int at;
            n = d->next;
            if (!is_load_upgrade(d->m->data, &at)) /* a request for us, not the successor */
                cn_send(p, &to, d->m->data + 1, (int)d->m->len - 1);
            cn_msg_free(d->m);
            free(d);
        }
        g->held = NULL;
        g->held_tail = &g->held;
        g->suspended = 0;
        ei_x_buff done;
        ei_x_new(&done);
        ei_x_encode_atom(&done, "$cnode_handoff_done");
        cn_send_after_self(p, CN_HANDOFF_GRACE_MS, done.buff, done.index);
        ei_x_free(&done);
        cn_info("worker %s handed off to %s", g->w->module, node);
        cn_reply(p, from, res.buff, res.index);
    }
    ei_x_free(&args);
    ei_x_free(&res);
}

/* A handed-off process: the grace is over (CN_STOP), or the message goes on. */
static int forward(cn_proc *p, gen *g, const cn_msg *m)
{
    int idx = 1;
    if (atom_eq(m->data, &idx, "$cnode_handoff_done")) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "shutdown");
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "handoff");
        cn_encode_pid(&x, &g->forward_to);
        cn_set_stop_reason(p, x.buff, x.index);
        ei_x_free(&x);
        return CN_STOP;
    }
    if (timeout_msg(g, m->data) < 0) /* our own timeouts stay here */
        cn_send(p, &g->forward_to, m->data + 1, (int)m->len - 1);
    return CN_NOREPLY;
}

static int resume(cn_proc *p, gen *g)
{
    g->suspended = 0;
    deferred *d = g->held;
    g->held = NULL;
    g->held_tail = &g->held;
    int r = CN_NOREPLY;
    while (d) {
        deferred *n = d->next;
        if (r != CN_STOP && !g->suspended)
            r = gen_message(p, d->m);
        else if (r != CN_STOP) { /* suspended again by a held message: keep the rest */
            *g->held_tail = d;
            g->held_tail = &d->next;
            d->next = NULL;
            d = n;
            continue;
        }
        cn_msg_free(d->m);
        free(d);
        d = n;
    }
    return r;
}

/* OTP 26+ callers of sys:get_state expect {ok, State}; OTP 25 callers the bare state, and
 * the connection flags are the same for both. What differs is the caller's alias: OTP 26+
 * makes 5-word references (PROTOCOL.md §11), OTP 25 makes 3-word ones. */
static int caller_is_otp26(const cn_from *from)
{
    int idx = 0, n;
    char a[MAXATOMLEN_UTF8];
    cn_ref ref;
    if (ei_decode_list_header(from->tag, &idx, &n) == 0 && n == 1 &&
        ei_decode_atom(from->tag, &idx, a) == 0 && strcmp(a, "alias") == 0 &&
        cn_decode_ref(from->tag, &idx, &ref) == 0)
        return ref.len >= 4;
    idx = 0;
    return cn_decode_ref(from->tag, &idx, &ref) == 0 && ref.len >= 4;
}

/* {system, From, Req}: the sys protocol (PROTOCOL.md §6.5). */
static int do_system(cn_proc *p, gen *g, const char *buf, int *idx)
{
    cn_from from;
    if (decode_from(buf, idx, &from) < 0)
        return CN_NOREPLY;
    int req = *idx, end = *idx, arity, stop = 0, after_resume = 0;
    ei_skip_term(buf, &end);
    ei_x_buff x;
    ei_x_new(&x);
    if (atom_eq(buf, idx, "get_state")) {
        if (caller_is_otp26(&from)) {
            ei_x_encode_tuple_header(&x, 2);
            ei_x_encode_atom(&x, "ok");
        }
        encode_state(g, &x);
    } else if (atom_eq(buf, idx, "get_status")) {
        get_status(p, g, &x);
    } else if (atom_eq(buf, idx, "suspend")) {
        g->suspended = 1;
        ei_x_encode_atom(&x, "ok");
    } else if (atom_eq(buf, idx, "resume")) {
        after_resume = 1;
        ei_x_encode_atom(&x, "ok");
    } else if (ei_decode_tuple_header(buf, idx, &arity) == 0 && arity >= 1) {
        if (atom_eq(buf, idx, "replace_state")) {
            /* The request carries a BEAM fun, which C cannot run: fail as gen_server does
             * when the fun fails, so sys:replace_state raises instead of hanging. */
            ei_x_encode_tuple_header(&x, 2);
            ei_x_encode_atom(&x, "error");
            ei_x_encode_tuple_header(&x, 3);
            ei_x_encode_atom(&x, "callback_failed");
            ei_x_encode_tuple_header(&x, 2);
            ei_x_encode_atom(&x, g->w->module);
            ei_x_encode_atom(&x, "system_replace_state");
            ei_x_encode_tuple_header(&x, 2);
            ei_x_encode_atom(&x, "error");
            ei_x_encode_atom(&x, "c_process_cannot_run_a_beam_fun");
        } else if (arity == 4 && g->suspended && atom_eq(buf, idx, "change_code")) {
            change_code(p, g, buf, idx, &x); /* only while suspended, as sys does */
        } else if (atom_eq(buf, idx, "terminate") && arity == 2) {
            int r0 = *idx, r1 = *idx;
            ei_skip_term(buf, &r1);
            cn_set_stop_reason(p, buf + r0, r1 - r0);
            ei_x_encode_atom(&x, "ok");
            stop = 1;
        } else if (atom_eq(buf, idx, "debug")) {
            ei_x_encode_atom(&x, "ok");
        } else {
            goto unknown;
        }
    } else {
    unknown:
        ei_x_free(&x);
        ei_x_new(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "error");
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "unknown_system_msg");
        ei_x_append_buf(&x, buf + req, end - req);
    }
    cn_reply(p, &from, x.buff, x.index);
    ei_x_free(&x);
    if (stop)
        return CN_STOP;
    return after_resume ? resume(p, g) : CN_NOREPLY;
}

static int is_system(const char *buf)
{
    int idx = 0, version, arity;
    return ei_decode_version(buf, &idx, &version) == 0 &&
           ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 3 &&
           atom_eq(buf, &idx, "system");
}

/* {'$cn_timeout', Gen}: our own timeout message; 1 = it fires now, 0 = stale, -1 = not it. */
static int timeout_msg(gen *g, const char *buf)
{
    int idx = 0, version, arity;
    unsigned long n;
    if (ei_decode_version(buf, &idx, &version) < 0 ||
        ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
        !atom_eq(buf, &idx, "$cn_timeout") || ei_decode_ulong(buf, &idx, &n) < 0)
        return -1;
    return g->timeout_armed && n == g->timeout_gen;
}

static int gen_message(cn_proc *p, const cn_msg *m)
{
    gen *g = p->beh;
    const char *buf = m->data;
    int idx = 0, version, arity, r = CN_NOREPLY;
    if (g->code.ver && !g->suspended && load_upgrade(p, g, buf))
        return CN_NOREPLY;
    if (g->forwarding)
        return forward(p, g, m);
    int t = timeout_msg(g, buf);
    if (t == 0)
        return CN_NOREPLY;
    g->timeout_gen++; /* any message cancels a pending timeout */
    g->timeout_armed = 0;
    if (t == 1) {
        const char timeout_atom[] = {(char)131, 119, 7, 't', 'i', 'm', 'e', 'o', 'u', 't'};
        int i = 1;
        return g->w->handle_info ? g->w->handle_info(p, g->state, timeout_atom, &i) : CN_NOREPLY;
    }
    if (g->suspended && !is_system(buf) && !is_upgrade_call(buf)) {
        deferred *d = malloc(sizeof *d);
        cn_msg *copy = cn_msg_new(CN_MSG, m->data, m->len);
        if (d && copy) {
            copy->from = m->from;
            copy->has_from = m->has_from;
            d->m = copy;
            d->next = NULL;
            *g->held_tail = d;
            g->held_tail = &d->next;
        } else {
            free(d);
            cn_msg_free(copy);
        }
        return CN_NOREPLY;
    }
    if (ei_decode_version(buf, &idx, &version) < 0)
        return CN_NOREPLY;
    int body = idx;
    if (ei_decode_tuple_header(buf, &idx, &arity) == 0) {
        if (arity == 3 && atom_eq(buf, &idx, "$gen_call"))
            return do_call(p, g, buf, &idx);
        if (arity == 2 && atom_eq(buf, &idx, "$gen_cast"))
            return g->w->handle_cast ? g->w->handle_cast(p, g->state, buf, &idx) : CN_NOREPLY;
        if (arity == 3 && atom_eq(buf, &idx, "system"))
            return do_system(p, g, buf, &idx);
    }
    idx = body;
    if (g->w->handle_info)
        r = g->w->handle_info(p, g->state, buf, &idx);
    return r == CN_STOP ? CN_STOP : CN_NOREPLY;
}

static void gen_free(gen *g)
{
    for (deferred *d = g->held, *n; d; d = n) {
        n = d->next;
        cn_msg_free(d->m);
        free(d);
    }
    free(g->args);
    cn_code_unbind(&g->code); /* last: the worker's code may go with it */
    free(g);
}

static void gen_terminate(cn_proc *p, const char *reason, int len)
{
    gen *g = p->beh;
    if (g->started && g->w->terminate)
        g->w->terminate(p, g->state, reason, len);
    gen_free(g);
    p->beh = NULL;
}

static void init_failed_reason(cn_proc *p, const cn_worker *w)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "init_failed");
    ei_x_encode_atom(&x, w->module);
    if (!p->stop_reason) /* init may have set a reason of its own */
        cn_set_stop_reason(p, x.buff, x.index);
    ei_x_free(&x);
}

static int run_init(cn_proc *p, gen *g, const char *args)
{
    const char nil[] = {ERL_NIL_EXT};
    int idx = 0;
    const char *at = args ? args : nil;
    int r = 0;
    if (g->import) /* a handed-off state: a worker that cannot import fails to start */
        r = g->w->import_state ? g->w->import_state(p, at, &idx, &g->state) : -1;
    else if (g->w->init)
        r = g->w->init(p, at, &idx, &g->state);
    if (r < 0) {
        init_failed_reason(p, g->w);
        return -1;
    }
    g->started = 1;
    return 0;
}

static int gen_start(cn_proc *p)
{
    gen *g = p->beh;
    int r = run_init(p, g, g->args);
    free(g->args);
    g->args = NULL;
    return r < 0 ? CN_STOP : 0;
}

static const cn_proc_ops gen_ops = {"gen_server", gen_message, gen_terminate, gen_start};

int cn_spawn_ex(const cn_worker *w, const char *args, int args_len, const cn_spawn_opts *o,
                cn_pid *pid_out)
{
    gen *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->w = w;
    g->held_tail = &g->held;
    g->import = o->import;
    if (o->link)
        g->parent = *o->link;
    cn_proc *p = cn_proc_create(&gen_ops, g);
    if (!p) {
        free(g);
        return -1;
    }
    cn_proc_hold(p); /* its name or its init can make it known before we are done here */
    p->group_leader = o->group_leader ? *o->group_leader : p->pid;
    /* A loaded module's worker runs the version current now, and holds it. */
    if (!(g->w = w = cn_code_bind(w, &g->code, &p->pid))) {
        gen_free(g);
        p->beh = NULL;
        cn_proc_discard(p);
        return -1;
    }
    if (!o->link)
        g->parent = p->pid;
    if (!o->async_init && run_init(p, g, args) < 0) {
        cn_warn("worker %s: init failed", w->module);
        if (o->init_error && p->stop_reason) {
            *o->init_error = p->stop_reason;
            *o->init_error_len = p->stop_reason_len;
            p->stop_reason = NULL;
        }
        gen_free(g);
        p->beh = NULL;
        cn_proc_discard(p);
        return -1;
    }
    if (o->name && cn_register(o->name, &p->pid) < 0) {
        cn_warn("worker %s: name '%s' is taken", w->module, o->name);
        if (g->started && w->terminate)
            w->terminate(p, g->state, "\x77\x06normal", 8);
        gen_free(g);
        p->beh = NULL;
        cn_proc_discard(p);
        return -1;
    }
    if (o->link) {
        cn_proc_add_link(p, o->link);
        if (o->link->node == 0) { /* a local spawner: its half of the link arrives as a
                                     signal, ahead of anything the child can send */
            cn_msg *m = cn_msg_new(CN_SIG_LINK, NULL, 0);
            if (m) {
                m->from = p->pid;
                m->has_from = 1;
                cn_deliver_local(o->link, m);
            }
        }
    }
    if (o->monitor_by)
        cn_proc_add_monitored_by(p, o->monitor_by, o->monitor_ref);
    if (pid_out)
        *pid_out = p->pid;
    if (o->async_init) {
        if (args && args_len > 0) {
            g->args = malloc((size_t)args_len);
            if (g->args) {
                memcpy(g->args, args, (size_t)args_len);
                g->args_len = args_len;
            }
        }
        if (!o->hold_start)
            cn_spawn_go(&p->pid);
    }
    cn_proc_ready(p);
    cn_proc_release(p);
    return 0;
}

int cn_gen_describe(const cn_proc *p, const char **module, int *suspended, size_t *held,
                    size_t *bytes)
{
    if (p->ops != &gen_ops || !p->beh)
        return -1;
    const gen *g = p->beh;
    size_t n = 0, b = sizeof *g + (size_t)g->args_len;
    for (const deferred *d = g->held; d; d = d->next) {
        n++;
        b += sizeof *d + sizeof *d->m + d->m->len;
    }
    *module = g->w->module;
    *suspended = g->suspended;
    *held = n;
    *bytes = b;
    return 0;
}

int cn_gen_movable(const cn_proc *p)
{
    if (p->ops != &gen_ops || !p->beh)
        return 0;
    const gen *g = p->beh;
    return g->started && !g->forwarding && g->w->export_state && g->w->import_state;
}

void cn_gen_held_foreach(const cn_proc *p, void (*fn)(const cn_msg *m, void *arg), void *arg)
{
    if (p->ops != &gen_ops || !p->beh)
        return;
    for (const deferred *d = ((const gen *)p->beh)->held; d; d = d->next)
        fn(d->m, arg);
}

int cn_spawn_go(const cn_pid *pid)
{
    cn_msg *m = cn_msg_new(CN_SIG_START, NULL, 0);
    if (!m)
        return -1;
    cn_deliver_local(pid, m);
    return 0;
}

int cn_spawn_worker(const cn_worker *w, const char *args, int args_len, const char *name,
                    cn_pid *pid_out)
{
    cn_spawn_opts o = {.name = name};
    return cn_spawn_ex(w, args, args_len, &o, pid_out);
}

/* ---- worker modules by name --------------------------------------------------------- */

#define MAX_MODULES 1024
static const cn_worker *modules[MAX_MODULES];
static int nmodules;
static pthread_mutex_t mlock = PTHREAD_MUTEX_INITIALIZER;

int cn_worker_register(const cn_worker *w)
{
    int r = -1;
    pthread_mutex_lock(&mlock);
    int i;
    for (i = 0; i < nmodules && strcmp(modules[i]->module, w->module) != 0; i++) {
    }
    if (i == nmodules && nmodules < MAX_MODULES) {
        modules[nmodules++] = w;
        r = 0;
    }
    pthread_mutex_unlock(&mlock);
    return r;
}

const cn_worker *cn_worker_builtin_lookup(const char *module)
{
    const cn_worker *w = NULL;
    pthread_mutex_lock(&mlock);
    for (int i = 0; i < nmodules && !w; i++)
        if (strcmp(modules[i]->module, module) == 0)
            w = modules[i];
    pthread_mutex_unlock(&mlock);
    return w;
}

const cn_worker *cn_worker_lookup(const char *module)
{
    const cn_worker *w = cn_worker_builtin_lookup(module);
    return w ? w : cn_code_worker_stub(module); /* loaded code: a stand-in (code/table.h) */
}

int cn_worker_entry_fun(const char *fun)
{
    return !strcmp(fun, "start") || !strcmp(fun, "start_link");
}

size_t cn_worker_list(const char **out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&mlock);
    for (int i = 0; i < nmodules && n < cap; i++)
        out[n++] = modules[i]->module; /* cn_worker structs live as long as the node */
    pthread_mutex_unlock(&mlock);
    return n + cn_code_worker_names(out + n, cap - n);
}

void cn_set_timeout(cn_proc *self, int ms)
{
    gen *g = self->beh;
    g->timeout_gen++;
    g->timeout_armed = ms >= 0;
    if (ms < 0)
        return;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "$cn_timeout");
    ei_x_encode_ulong(&x, g->timeout_gen);
    cn_send_after(&self->pid, (unsigned)ms, x.buff, x.index);
    ei_x_free(&x);
}

int cn_send_after_self(cn_proc *self, unsigned ms, const char *msg, int len)
{
    return cn_send_after(&self->pid, ms, msg, len);
}

/* api_rpc: cn_rpc_call, erpc:call to another node (or this one) over spawn_request, waiting
 * for the spawn reply and the DOWN of the process it started by selective receive. */
#include "dist/ctrl.h"
#include "dist/out.h"
#include "proc/api_int.h"
#include "proc/ident.h"
#include "proc/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- rpc to another node: erpc:call over spawn_request (PROTOCOL.md §4.5, §6.4) ------- */

/* What a process calling erpc:execute_call waits for. */
typedef struct rpc_wait {
    cn_ref req; /* the spawn request's id, also the monitor's reference */
    cn_pid pid; /* the process running the call, once known */
    int have_pid;
    int stand_in; /* we have no group leader: answer pid's I/O requests ourselves */
} rpc_wait;

static int is_atom(const char *buf, int *idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    return ei_decode_atom(buf, idx, a) == 0 && strcmp(a, want) == 0;
}

/* The SPAWN_REPLY of our request (dist/ctrl.c makes it the message {spawn_reply, ReqId,
 * Flags, Result}): 1; the DOWN of the process it started: 2; an I/O request of that
 * process when we stand in for a group leader: 3. */
static int rpc_match(const cn_msg *m, void *ctx)
{
    const rpc_wait *w = ctx;
    if (m->kind == CN_SIG_DOWN)
        return cn_ref_eq(&m->ref, &w->req) ? 2 : 0;
    if (m->kind != CN_MSG)
        return 0;
    int idx = 0, version, arity, type, size;
    cn_ref r;
    cn_pid from;
    if (ei_decode_version(m->data, &idx, &version) < 0 ||
        ei_decode_tuple_header(m->data, &idx, &arity) < 0 || arity != 4)
        return 0;
    int t = idx;
    if (w->stand_in && w->have_pid && is_atom(m->data, &t, "io_request") &&
        cn_decode_pid(m->data, &t, &from) == 0 && cn_pid_eq(&from, &w->pid))
        return 3;
    if (!is_atom(m->data, &idx, "spawn_reply"))
        return 0;
    t = idx;
    if (ei_get_type(m->data, &t, &type, &size) < 0 ||
        (type != ERL_NEWER_REFERENCE_EXT && type != ERL_NEW_REFERENCE_EXT))
        return 0;
    return cn_decode_ref(m->data, &idx, &r) == 0 && cn_ref_eq(&r, &w->req) ? 1 : 0;
}

/* {io_request, From, ReplyAs, Request} to a process with no group leader, from the process
 * it called: text goes to cnoded's standard output, as a BEAM node's goes to its console,
 * and the answer to From (without one, From would wait for ever). Requests other than
 * put_chars of a binary or a latin-1 string get {error, request}. */
static void stand_in_io(cn_proc *self, const cn_msg *m)
{
    const char *b = m->data;
    int idx = 0, version, arity, type, size, ok = 0;
    cn_pid from;
    ei_decode_version(b, &idx, &version);
    ei_decode_tuple_header(b, &idx, &arity);
    ei_skip_term(b, &idx);
    if (cn_decode_pid(b, &idx, &from) < 0)
        return;
    int as = idx;
    if (ei_skip_term(b, &idx) < 0)
        return;
    int as_end = idx;
    if (ei_decode_tuple_header(b, &idx, &arity) == 0 && arity == 3 &&
        is_atom(b, &idx, "put_chars") && ei_skip_term(b, &idx) == 0 &&
        ei_get_type(b, &idx, &type, &size) == 0 &&
        (type == ERL_BINARY_EXT || type == ERL_STRING_EXT || type == ERL_NIL_EXT)) {
        char *text = malloc((size_t)size + 1);
        long len = size;
        if (text && type == ERL_BINARY_EXT)
            ok = ei_decode_binary(b, &idx, text, &len) == 0;
        else if (text)
            ok = ei_decode_string(b, &idx, text) == 0;
        if (ok) {
            fwrite(text, 1, (size_t)len, stdout);
            fflush(stdout);
        }
        free(text);
    }
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "io_reply");
    ei_x_append_buf(&x, b + as, as_end - as);
    if (ok) {
        ei_x_encode_atom(&x, "ok");
    } else {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "error");
        ei_x_encode_atom(&x, "request");
    }
    cn_send(self, &from, x.buff, x.index);
    ei_x_free(&x);
}

/* {spawn_reply, ReqId, Flags, Result}: 1 and the pid, or 0 and the error atom in why. */
static int spawn_result(const cn_msg *m, cn_pid *pid, char *why)
{
    int idx = 0, version, arity;
    long flags;
    cn_ref r;
    if (ei_decode_version(m->data, &idx, &version) < 0 ||
        ei_decode_tuple_header(m->data, &idx, &arity) < 0 || ei_skip_term(m->data, &idx) < 0 ||
        cn_decode_ref(m->data, &idx, &r) < 0 || ei_decode_long(m->data, &idx, &flags) < 0) {
        strcpy(why, "badarg");
        return 0;
    }
    if (cn_decode_pid(m->data, &idx, pid) == 0)
        return 1;
    if (ei_decode_atom(m->data, &idx, why) < 0)
        strcpy(why, "badarg");
    return 0;
}

static void rpc_erpc_error(ei_x_buff *result, int *cls, const char *why)
{
    ei_x_encode_tuple_header(result, 2);
    ei_x_encode_atom(result, "erpc");
    ei_x_encode_atom(result, why);
    *cls = CN_RPC_ERROR;
}

/* The exit reason of the process erpc:execute_call/4 ran in, as erpc:call reads it. */
static void rpc_outcome(const cn_msg *m, const cn_ref *res, ei_x_buff *result, int *cls)
{
    const char *r = m->data;
    int idx = 0, arity, v;
    char a[MAXATOMLEN_UTF8];
    cn_ref got;
    if (ei_decode_tuple_header(r, &idx, &arity) == 0 && (arity == 3 || arity == 4) &&
        cn_decode_ref(r, &idx, &got) == 0 && cn_ref_eq(&got, res) &&
        ei_decode_atom(r, &idx, a) == 0 && (v = idx, ei_skip_term(r, &idx) == 0)) {
        int c = -1;
        if (arity == 3 && !strcmp(a, "return"))
            c = CN_RPC_RETURN;
        else if (arity == 3 && !strcmp(a, "throw"))
            c = CN_RPC_THROW;
        else if (arity == 3 && !strcmp(a, "exit"))
            c = CN_RPC_EXIT;
        else if (!strcmp(a, "error")) /* {Res, error, E, Stack}, or {Res, error, {erpc, R}} */
            c = CN_RPC_ERROR;
        if (c >= 0) {
            ei_x_append_buf(result, r + v, idx - v);
            *cls = c;
            return;
        }
    }
    if (cn_reason_is(r, m->len, "noconnection")) {
        rpc_erpc_error(result, cls, "noconnection");
        return;
    }
    ei_x_encode_tuple_header(result, 2); /* ended without a report, e.g. killed */
    ei_x_encode_atom(result, "signal");
    ei_x_append_buf(result, r, (int)m->len);
    *cls = CN_RPC_EXIT;
}

struct late {
    const cn_pid *self;
    const cn_ref *req;
};

/* A spawn_reply swept up after giving up: its process is monitored on our behalf. */
static void late_spawn_reply(cn_msg *m, void *arg)
{
    struct late *l = arg;
    cn_pid pid;
    char why[MAXATOMLEN_UTF8];
    if (m->kind == CN_MSG && spawn_result(m, &pid, why) && pid.node != 0)
        cn_out_demonitor(l->self, &pid, pid.node, NULL, l->req);
}

/* Stop waiting (timeout, or we are being killed): take down the monitor, or have
 * dist/ctrl.c do it when the spawn reply comes, and drop what already arrived. */
static void rpc_give_up(cn_proc *self, rpc_wait *w)
{
    if (w->have_pid && w->pid.node != 0) {
        cn_out_demonitor(&self->pid, &w->pid, w->pid.node, NULL, &w->req);
    } else if (w->have_pid) {
        cn_msg *d = cn_msg_new(CN_SIG_DEMONITOR, NULL, 0);
        if (d) {
            d->from = self->pid;
            d->has_from = 1;
            d->ref = w->req;
            cn_deliver_local(&w->pid, d);
        }
    } else {
        cn_spawn_abandon(&w->req, &self->pid);
    }
    w->stand_in = 0;
    struct late l = {&self->pid, &w->req};
    api_sweep(self, rpc_match, w, w->have_pid ? NULL : late_spawn_reply, &l);
}

static int atom_ok(const char *a)
{
    return a && a[0] && strlen(a) < MAXATOMLEN_UTF8;
}

int cn_rpc_call(cn_proc *self, const char *node, const char *m, const char *f, const char *args,
                int args_len, int timeout_ms, ei_x_buff *result, int *cls)
{
    const char nil[] = {ERL_NIL_EXT};
    if (!args) {
        args = nil;
        args_len = 1;
    }
    int idx = 0, type, size;
    if (!node || !atom_ok(m) || !atom_ok(f) || args_len <= 0 ||
        ei_get_type(args, &idx, &type, &size) < 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT && type != ERL_STRING_EXT) ||
        ei_skip_term(args, &idx) < 0 || idx != args_len)
        return -3;
    long n = cn_node_intern(node, strlen(node));
    if (n < 0)
        return -3;
    cn_ref res = cn_make_ref();
    cn_pid gl = self->group_leader;
    rpc_wait w = {.req = cn_make_ref(), .stand_in = cn_pid_eq(&gl, &self->pid)};
    int code = 0, rc = 0;
    ei_x_buff pl; /* erpc:execute_call(ResRef, M, F, A) */
    ei_x_new(&pl);
    ei_x_encode_list_header(&pl, 4);
    cn_encode_ref(&pl, &res);
    if (ei_x_encode_atom_as(&pl, m, ERLANG_UTF8, ERLANG_UTF8) < 0 ||
        ei_x_encode_atom_as(&pl, f, ERLANG_UTF8, ERLANG_UTF8) < 0) {
        ei_x_free(&pl); /* more than 255 characters, or not UTF-8 */
        return -3;
    }
    ei_x_append_buf(&pl, args, args_len);
    ei_x_encode_empty_list(&pl);
    if (n == 0) { /* this node: the erpc service runs it, no spawn reply comes */
        cn_spawn_hook hook = cn_spawn_hook_lookup("erpc");
        const char *why = "notsup";
        if (!hook || hook("execute_call", pl.buff, pl.index, NULL, &self->pid, &w.req, &gl, &w.pid,
                          &why) < 0) {
            ei_x_free(&pl);
            rpc_erpc_error(result, cls, why);
            return 0;
        }
        w.have_pid = 1;
        cn_spawn_go(&w.pid);
    } else if (cn_out_spawn_request(&w.req, &self->pid, &gl, (uint32_t)n, "erpc", "execute_call", 4,
                                    1, pl.buff, pl.index) < 0) {
        ei_x_free(&pl);
        rpc_erpc_error(result, cls, "noconnection");
        return 0;
    }
    ei_x_free(&pl);
    struct timespec ts;
    const struct timespec *until = api_deadline(timeout_ms, &ts);
    for (;;) {
        cn_msg *found;
        int r = api_wait_for(self, rpc_match, &w, (uint32_t)n, until, &found, &code);
        if (r == W_NODEDOWN) {
            rpc_erpc_error(result, cls, "noconnection");
            break;
        }
        if (r == W_TIMEOUT || r == W_KILLED) {
            if (r == W_KILLED)
                self->doomed = 1;
            rpc_give_up(self, &w);
            rc = r == W_TIMEOUT ? -1 : -2;
            break;
        }
        if (code == 3) { /* output of the process we called */
            stand_in_io(self, found);
            cn_msg_free(found);
            continue;
        }
        if (code == 1) { /* the spawn reply: go on waiting for the DOWN, or fail */
            char why[MAXATOMLEN_UTF8];
            int ok = spawn_result(found, &w.pid, why);
            cn_msg_free(found);
            if (ok) {
                w.have_pid = 1;
                continue;
            }
            rpc_erpc_error(result, cls, why);
            break;
        }
        rpc_outcome(found, &res, result, cls);
        cn_msg_free(found);
        break;
    }
    return rc;
}

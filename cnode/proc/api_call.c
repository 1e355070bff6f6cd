/* api_call: calls from a process to a server (cn_call, cn_call_name: gen_server:call) and to
 * its group leader (cn_io_put_chars: an io_request), waiting for the reply by selective receive. */
#include "dist/out.h"
#include "proc/api_int.h"
#include "proc/ident.h"
#include "proc/plist.h"
#include "proc/proc.h"

#include <stdlib.h>
#include <string.h>

/* ---- calling a gen_server ----------------------------------------------------------- */

/* Is m the reply {Ref, _} to our call, or the DOWN of the server's monitor? 1 reply,
 * 2 down, 0 neither. */
static int call_match(const cn_msg *m, const cn_ref *ref, int *reply_at)
{
    if (m->kind == CN_SIG_DOWN)
        return cn_ref_eq(&m->ref, ref) ? 2 : 0;
    if (m->kind != CN_MSG)
        return 0;
    int idx = 0, version, arity;
    cn_ref r;
    char a[MAXATOMLEN_UTF8];
    if (ei_decode_version(m->data, &idx, &version) < 0 ||
        ei_decode_tuple_header(m->data, &idx, &arity) < 0 || arity < 2 || arity > 3)
        return 0;
    /* {io_reply, Ref, Reply} answers an io_request the same way {Ref, Reply} answers a call */
    if (arity == 3 && (ei_decode_atom(m->data, &idx, a) < 0 || strcmp(a, "io_reply") != 0))
        return 0;
    int t = idx, type, size;
    if (ei_get_type(m->data, &t, &type, &size) < 0 ||
        (type != ERL_NEWER_REFERENCE_EXT && type != ERL_NEW_REFERENCE_EXT))
        return 0;
    if (cn_decode_ref(m->data, &idx, &r) < 0 || !cn_ref_eq(&r, ref))
        return 0;
    *reply_at = idx;
    return 1;
}

static void drop_mon(cn_proc *self, const cn_ref *ref)
{
    cn_mon *mon = cn_mon_take(self, CN_PL_MONITORS, ref);
    if (mon) {
        free(mon->name);
        free(mon);
    }
}

struct call_ctx {
    const cn_ref *ref;
    int at;
};

static int call_match_cb(const cn_msg *m, void *ctx)
{
    struct call_ctx *c = ctx;
    return call_match(m, c->ref, &c->at);
}

/* Wait for the reply to the call monitored by ref (selective receive on our mailbox). */
static int call_wait(cn_proc *self, const cn_ref *r, uint32_t node, int timeout_ms,
                     ei_x_buff *reply)
{
    cn_ref ref = *r;
    struct call_ctx cc = {.ref = &ref};
    struct timespec ts;
    cn_msg *found;
    int kind = 0;
    int w =
        api_wait_for(self, call_match_cb, &cc, node, api_deadline(timeout_ms, &ts), &found, &kind);
    if (w == W_KILLED) {
        self->doomed = 1;
        cn_demonitor(self, &ref);
        ei_x_encode_atom(reply, "killed");
        return -2;
    }
    if (w == W_NODEDOWN) {
        drop_mon(self, &ref);
        ei_x_encode_atom(reply, "noconnection");
        return -2;
    }
    if (w == W_MATCH && kind == 2) { /* the server is gone: the monitor already fired */
        drop_mon(self, &ref);
        ei_x_append_buf(reply, found->data, (int)found->len);
        cn_msg_free(found);
        return -2;
    }
    cn_demonitor(self, &ref);
    if (!found)
        return -1;
    int end = cc.at;
    ei_skip_term(found->data, &end);
    ei_x_append_buf(reply, found->data + cc.at, end - cc.at);
    cn_msg_free(found);
    return 0;
}

/* {Tag, {Self, Ref}, Req}: '$gen_call' for gen_server:call, system for the sys protocol. */
static void call_request(cn_proc *self, const char *tag, const cn_ref *ref, const char *req,
                         int len, ei_x_buff *x)
{
    ei_x_new(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, tag);
    ei_x_encode_tuple_header(x, 2);
    cn_encode_pid(x, &self->pid);
    cn_encode_ref(x, ref);
    ei_x_append_buf(x, req, len);
}

static int call_tagged(cn_proc *self, const char *tag, const cn_pid *server, const char *req,
                       int len, int timeout_ms, ei_x_buff *reply)
{
    cn_ref ref;
    if (cn_monitor(self, server, &ref) < 0)
        return -1;
    ei_x_buff x;
    call_request(self, tag, &ref, req, len, &x);
    cn_send(self, server, x.buff, x.index);
    ei_x_free(&x);
    return call_wait(self, &ref, server->node, timeout_ms, reply);
}

int cn_call(cn_proc *self, const cn_pid *server, const char *req, int len, int timeout_ms,
            ei_x_buff *reply)
{
    return call_tagged(self, "$gen_call", server, req, len, timeout_ms, reply);
}

int cn_call_system(cn_proc *self, const cn_pid *to, const char *req, int len, int timeout_ms,
                   ei_x_buff *reply)
{
    return call_tagged(self, "system", to, req, len, timeout_ms, reply);
}

int cn_call_name(cn_proc *self, const char *name, const char *node, const char *req, int len,
                 int timeout_ms, ei_x_buff *reply)
{
    cn_pid to;
    long n = node ? cn_node_intern(node, strlen(node)) : 0;
    if (n < 0)
        return -2;
    if (n == 0) {
        if (cn_whereis(name, &to) < 0) {
            ei_x_encode_atom(reply, "noproc");
            return -2;
        }
        return cn_call(self, &to, req, len, timeout_ms, reply);
    }
    /* A remote name: monitor by name and send with REG_SEND. */
    cn_mon *mon = calloc(1, sizeof *mon);
    if (!mon)
        return -1;
    cn_ref ref = cn_make_ref();
    mon->pid = (cn_pid){.node = (uint32_t)n};
    mon->ref = ref;
    mon->name = strdup(name);
    cn_mon_push(self, CN_PL_MONITORS, mon);
    cn_out_monitor(&self->pid, NULL, (uint32_t)n, name, &ref);
    ei_x_buff x;
    call_request(self, "$gen_call", &ref, req, len, &x);
    cn_out_reg_send(&self->pid, (uint32_t)n, name, x.buff, x.index);
    ei_x_free(&x);
    return call_wait(self, &ref, (uint32_t)n, timeout_ms, reply);
}

int cn_io_put_chars(cn_proc *self, const char *text, int len)
{
    cn_pid gl = self->group_leader;
    if (cn_pid_eq(&gl, &self->pid))
        return -1; /* no group leader to print through */
    cn_ref ref;
    if (cn_monitor(self, &gl, &ref) < 0)
        return -1;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "io_request");
    cn_encode_pid(&x, &self->pid);
    cn_encode_ref(&x, &ref);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "put_chars");
    ei_x_encode_atom(&x, "unicode");
    ei_x_encode_binary(&x, text, len);
    cn_send(self, &gl, x.buff, x.index);
    ei_x_free(&x);
    ei_x_buff reply;
    ei_x_new(&reply);
    int r = call_wait(self, &ref, gl.node, 5000, &reply);
    ei_x_free(&reply);
    return r == 0 ? 0 : -1;
}

#include "dist/out.h"

#include "dist/conn.h"
#include "dist/flags.h"
#include "proc/ident.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* Encoding happens here, on the sender's thread. Forms are chosen from the connection's
 * flags when it is up; before that, the forms every peer must accept (PROTOCOL.md §3.5). */

/* The key that keeps one local process's frames in order on a connection (cn_oframe's
 * sender): nonzero for a process, 0 for none. Two pids sharing a key only share a train. */
static uint64_t key(const cn_pid *p)
{
    return p ? (1ull << 63) | ((uint64_t)(p->serial & 0x7fffffff) << 32) | p->id : 0;
}

/* dial: messages and new links/monitors connect on demand, as on the BEAM; exit and
 * down signals for a node that is gone are dropped instead. */
static int frame_out_d(uint32_t node, ei_x_buff *ctl, const char *pl, int pl_len, int dial,
                       uint64_t sender)
{
    cn_oframe *f = calloc(1, sizeof *f);
    if (!f) {
        ei_x_free(ctl);
        return -1;
    }
    f->sender = sender;
    f->ctl = ctl->buff; /* ownership moves to the frame */
    f->ctl_len = (size_t)ctl->index;
    if (pl) {
        f->pl = malloc(pl_len ? (size_t)pl_len : 1);
        if (!f->pl) {
            free(f->ctl);
            free(f);
            return -1;
        }
        memcpy(f->pl, pl, (size_t)pl_len);
        f->pl_len = (size_t)pl_len;
    }
    return cn_conn_enqueue(node, f, dial);
}

/* The same, taking over msg's buffer as the payload instead of copying it (replies and
 * messages the sender built itself: a large payload is not copied once more). head (may be
 * NULL) is the payload's first head_len bytes, put after the control term (cn_oframe). */
static int frame_out_slice(uint32_t node, ei_x_buff *ctl, const char *head, int head_len, char *pl,
                           size_t pl_len, void *owner, uint64_t sender)
{
    cn_oframe *f = calloc(1, sizeof *f);
    if (f && head_len > 0) {
        ei_x_append_buf(ctl, head, head_len);
        ei_x_append_buf(ctl, "", 1); /* the spare byte, for 'p' frames */
        ctl->index--;
        f->pl_head = (size_t)head_len;
    }
    if (!f || !ctl->buff) {
        free(f);
        ei_x_free(ctl);
        free(owner ? owner : pl);
        return -1;
    }
    f->sender = sender;
    f->ctl = ctl->buff;
    f->ctl_len = (size_t)ctl->index;
    f->pl = pl;
    f->pl_len = pl_len;
    if (owner) { /* pl lies inside owner, which the frame frees */
        f->pl_borrowed = 1;
        f->pl_base = owner;
    }
    return cn_conn_enqueue(node, f, 1);
}

static int frame_out_take(uint32_t node, ei_x_buff *ctl, const char *head, int head_len,
                          ei_x_buff *msg, uint64_t sender)
{
    char *pl = msg->buff;
    size_t len = (size_t)msg->index;
    msg->buff = NULL;
    msg->index = msg->buffsz = 0;
    return frame_out_slice(node, ctl, head, head_len, pl, len, NULL, sender);
}

static int frame_out(uint32_t node, ei_x_buff *ctl, const char *pl, int pl_len, uint64_t sender)
{
    return frame_out_d(node, ctl, pl, pl_len, 1, sender);
}

static int signal_out(uint32_t node, ei_x_buff *ctl, const char *pl, int pl_len, uint64_t sender)
{
    return frame_out_d(node, ctl, pl, pl_len, 0, sender);
}

static void ctl_begin(ei_x_buff *x, int arity, long op)
{
    ei_x_new(x);
    ei_x_encode_tuple_header(x, arity);
    ei_x_encode_long(x, op);
}

static void enc_atom(ei_x_buff *x, const char *a)
{
    ei_x_encode_atom_len_as(x, a, (int)strlen(a), ERLANG_UTF8, ERLANG_UTF8);
}

static void send_ctl(ei_x_buff *x, const cn_pid *from, const cn_pid *to)
{
    if (from && (cn_conn_flags(to->node) & DFLAG_SEND_SENDER)) {
        ctl_begin(x, 3, 22);
        cn_encode_pid(x, from);
    } else {
        ctl_begin(x, 3, 2);
        enc_atom(x, "");
    }
    cn_encode_pid(x, to);
}

int cn_out_send(const cn_pid *from, const cn_pid *to, const char *msg, int len)
{
    ei_x_buff x;
    send_ctl(&x, from, to);
    return frame_out(to->node, &x, msg, len, key(from));
}

int cn_out_send_take(const cn_pid *from, const cn_pid *to, ei_x_buff *msg)
{
    return cn_out_send_head_take(from, to, NULL, 0, msg);
}

int cn_out_send_head_take(const cn_pid *from, const cn_pid *to, const char *head, int head_len,
                          ei_x_buff *msg)
{
    ei_x_buff x;
    send_ctl(&x, from, to);
    return frame_out_take(to->node, &x, head, head_len, msg, key(from));
}

int cn_out_reg_send(const cn_pid *from, uint32_t node, const char *name, const char *msg, int len)
{
    ei_x_buff x;
    ctl_begin(&x, 4, 6);
    cn_encode_pid(&x, from);
    enc_atom(&x, "");
    enc_atom(&x, name);
    return frame_out(node, &x, msg, len, key(from));
}

static void alias_ctl(ei_x_buff *x, const cn_pid *from, const cn_ref *alias)
{
    ctl_begin(x, 3, 33);
    cn_encode_pid(x, from);
    cn_encode_ref(x, alias);
}

int cn_out_alias_send(const cn_pid *from, const cn_ref *alias, const char *msg, int len)
{
    ei_x_buff x;
    alias_ctl(&x, from, alias);
    return frame_out(alias->node, &x, msg, len, key(from));
}

int cn_out_alias_send_take(const cn_pid *from, const cn_ref *alias, ei_x_buff *msg)
{
    return cn_out_alias_send_head_take(from, alias, NULL, 0, msg);
}

int cn_out_alias_send_head_take(const cn_pid *from, const cn_ref *alias, const char *head,
                                int head_len, ei_x_buff *msg)
{
    ei_x_buff x;
    alias_ctl(&x, from, alias);
    return frame_out_take(alias->node, &x, head, head_len, msg, key(from));
}

int cn_out_send_head_slice(const cn_pid *from, const cn_pid *to, const char *head, int head_len,
                           char *data, size_t len, void *owner)
{
    ei_x_buff x;
    send_ctl(&x, from, to);
    return frame_out_slice(to->node, &x, head, head_len, data, len, owner, key(from));
}

int cn_out_alias_send_head_slice(const cn_pid *from, const cn_ref *alias, const char *head,
                                 int head_len, char *data, size_t len, void *owner)
{
    ei_x_buff x;
    alias_ctl(&x, from, alias);
    return frame_out_slice(alias->node, &x, head, head_len, data, len, owner, key(from));
}

static int pid_pair(long op, const cn_pid *from, const cn_pid *to)
{
    ei_x_buff x;
    ctl_begin(&x, 3, op);
    cn_encode_pid(&x, from);
    cn_encode_pid(&x, to);
    return frame_out(to->node, &x, NULL, 0, key(from));
}

int cn_out_link(const cn_pid *from, const cn_pid *to)
{
    return pid_pair(1, from, to);
}

static int unlink_op(long op, const cn_pid *from, const cn_pid *to, uint64_t id)
{
    ei_x_buff x;
    ctl_begin(&x, 4, op);
    ei_x_encode_ulonglong(&x, id);
    cn_encode_pid(&x, from);
    cn_encode_pid(&x, to);
    return frame_out(to->node, &x, NULL, 0, key(from));
}

int cn_out_unlink_id(const cn_pid *from, const cn_pid *to, uint64_t id)
{
    if (!(cn_conn_flags(to->node) & DFLAG_UNLINK_ID))
        return pid_pair(4, from, to); /* old link protocol (OTP 23/24 peers) */
    return unlink_op(35, from, to, id);
}

int cn_out_unlink_id_ack(const cn_pid *from, const cn_pid *to, uint64_t id)
{
    ei_x_buff x;
    ctl_begin(&x, 4, 36);
    ei_x_encode_ulonglong(&x, id);
    cn_encode_pid(&x, from);
    cn_encode_pid(&x, to);
    return signal_out(to->node, &x, NULL, 0, key(from));
}

int cn_out_exit(const cn_pid *from, const cn_pid *to, const char *reason, int len, int exit2)
{
    ei_x_buff x;
    if (cn_conn_flags(to->node) & DFLAG_EXIT_PAYLOAD) {
        ctl_begin(&x, 3, exit2 ? 26 : 24);
        cn_encode_pid(&x, from);
        cn_encode_pid(&x, to);
        return signal_out(to->node, &x, reason, len, key(from));
    }
    ctl_begin(&x, 4, exit2 ? 8 : 3);
    cn_encode_pid(&x, from);
    cn_encode_pid(&x, to);
    ei_x_append_buf(&x, reason, len);
    return signal_out(to->node, &x, NULL, 0, key(from));
}

static int monitor_op(long op, const cn_pid *from, const cn_pid *to, uint32_t node,
                      const char *name, const cn_ref *ref)
{
    ei_x_buff x;
    ctl_begin(&x, 4, op);
    cn_encode_pid(&x, from);
    if (name)
        enc_atom(&x, name);
    else
        cn_encode_pid(&x, to);
    cn_encode_ref(&x, ref);
    return frame_out(name ? node : to->node, &x, NULL, 0, key(from));
}

int cn_out_monitor(const cn_pid *from, const cn_pid *to, uint32_t node, const char *name,
                   const cn_ref *ref)
{
    return monitor_op(19, from, to, node, name, ref);
}

int cn_out_demonitor(const cn_pid *from, const cn_pid *to, uint32_t node, const char *name,
                     const cn_ref *ref)
{
    return monitor_op(20, from, to, node, name, ref);
}

int cn_out_down(const cn_pid *from, const char *name, const cn_pid *to, const cn_ref *ref,
                const char *reason, int len)
{
    ei_x_buff x;
    int payload = (cn_conn_flags(to->node) & DFLAG_EXIT_PAYLOAD) != 0;
    ctl_begin(&x, payload ? 4 : 5, payload ? 28 : 21);
    if (name)
        enc_atom(&x, name);
    else
        cn_encode_pid(&x, from);
    cn_encode_pid(&x, to);
    cn_encode_ref(&x, ref);
    if (payload)
        return signal_out(to->node, &x, reason, len, key(from));
    ei_x_append_buf(&x, reason, len);
    return signal_out(to->node, &x, NULL, 0, key(from));
}

int cn_out_spawn_reply(const cn_ref *req, const cn_pid *to, int flags, const cn_pid *pid,
                       const char *error)
{
    ei_x_buff x;
    ctl_begin(&x, 5, 31);
    cn_encode_ref(&x, req);
    cn_encode_pid(&x, to);
    ei_x_encode_long(&x, flags);
    if (pid)
        cn_encode_pid(&x, pid);
    else
        enc_atom(&x, error);
    return signal_out(to->node, &x, NULL, 0, key(pid)); /* sent for the new process */
}

int cn_out_spawn_request(const cn_ref *req, const cn_pid *from, const cn_pid *gl, uint32_t node,
                         const char *mod, const char *fun, int arity, int monitor, const char *args,
                         int args_len)
{
    ei_x_buff x;
    ctl_begin(&x, 6, 29);
    cn_encode_ref(&x, req);
    cn_encode_pid(&x, from);
    cn_encode_pid(&x, gl);
    ei_x_encode_tuple_header(&x, 3);
    enc_atom(&x, mod);
    enc_atom(&x, fun);
    ei_x_encode_long(&x, arity);
    if (monitor) {
        ei_x_encode_list_header(&x, 1);
        enc_atom(&x, "monitor");
    }
    ei_x_encode_empty_list(&x);
    return frame_out(node, &x, args, args_len, key(from));
}

/* api: the process calls of the public header (send, reply, self, stop reason). */
#include "dist/out.h"
#include "proc/ident.h"
#include "proc/proc.h"

#include <stdlib.h>
#include <string.h>

cn_pid cn_self(const cn_proc *self) { return self->pid; }

static cn_msg *local_msg(const cn_proc *self, const char *msg, int len)
{
    cn_msg *m = cn_msg_new(CN_MSG, NULL, (size_t)len + 1);
    if (!m)
        return NULL;
    m->data[0] = (char)131;
    memcpy(m->data + 1, msg, (size_t)len);
    if (self) {
        m->from = self->pid;
        m->has_from = 1;
    }
    return m;
}

int cn_send(cn_proc *self, const cn_pid *to, const char *msg, int len)
{
    if (to->node != 0)
        return cn_out_send(self ? &self->pid : NULL, to, msg, len);
    cn_msg *m = local_msg(self, msg, len);
    if (!m)
        return -1;
    cn_deliver_local(to, m);
    return 0;
}

int cn_send_name(cn_proc *self, const char *name, const char *node, const char *msg, int len)
{
    long n = 0;
    if (node && (n = cn_node_intern(node, strlen(node))) < 0)
        return -1;
    if (n != 0) {
        if (!self)
            return -1; /* REG_SEND needs a sender pid */
        return cn_out_reg_send(&self->pid, (uint32_t)n, name, msg, len);
    }
    cn_pid to;
    if (cn_whereis(name, &to) < 0)
        return -1;
    return cn_send(self, &to, msg, len);
}

/* A tag [alias | Ref] names an alias of the caller: reply to it, so that a reply arriving
 * after the caller gave up is dropped by the caller's node (PROTOCOL.md §6.2). */
static int alias_of(const cn_from *from, cn_ref *alias)
{
    int idx = 0, arity;
    char a[MAXATOMLEN_UTF8];
    if (ei_decode_list_header(from->tag, &idx, &arity) < 0 || arity != 1 ||
        ei_decode_atom(from->tag, &idx, a) < 0 || strcmp(a, "alias") != 0)
        return 0;
    return cn_decode_ref(from->tag, &idx, alias) == 0 && idx == from->tag_len;
}

int cn_reply(cn_proc *self, const cn_from *from, const char *reply, int len)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_append_buf(&x, from->tag, from->tag_len);
    ei_x_append_buf(&x, reply, len);
    cn_ref alias;
    int r;
    if (from->pid.node != 0 && self && alias_of(from, &alias) && alias.node == from->pid.node)
        r = cn_out_alias_send(&self->pid, &alias, x.buff, x.index);
    else
        r = cn_send(self, &from->pid, x.buff, x.index);
    ei_x_free(&x);
    return r;
}

cn_from *cn_from_dup(const cn_from *from)
{
    cn_from *f = malloc(sizeof *f + (size_t)from->tag_len);
    if (!f)
        return NULL;
    f->pid = from->pid;
    f->tag = (char *)(f + 1);
    f->tag_len = from->tag_len;
    memcpy(f->tag, from->tag, (size_t)from->tag_len);
    return f;
}

void cn_from_free(cn_from *from) { free(from); }

void cn_set_stop_reason(cn_proc *self, const char *reason, int len)
{
    char *r = malloc((size_t)len);
    if (!r)
        return;
    memcpy(r, reason, (size_t)len);
    free(self->stop_reason);
    self->stop_reason = r;
    self->stop_reason_len = len;
}

/* api: the process calls of the public header (send, reply, self, stop reason, links, monitors,
 * exits, names, node monitors). Calls to servers are in api_call.c, rpc in api_rpc.c. */
#include "dist/conn.h"
#include "dist/flags.h"
#include "dist/out.h"
#include "loop.h"
#include "proc/ident.h"
#include "proc/nodemon.h"
#include "proc/plist.h"
#include "proc/proc.h"
#include "proc/sched.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

cn_pid cn_self(const cn_proc *self)
{
    return self->pid;
}

/* A send that left its connection busy (over CN_CONN_BUSY bytes queued) makes the sending
 * process wait until the connection drains or goes, as the BEAM suspends a process on a
 * busy distribution port: a process streaming to a slow node cannot queue without bound.
 * Never on the event loop, which must write the queue out. A process killed meanwhile
 * stops waiting (it exits once its callback returns) and its remote sends until then are
 * dropped (doomed), as they would never have happened on the BEAM. Returns r. */
static int throttled(cn_proc *self, int r)
{
    uint32_t node = cn_conn_take_busy();
    if (!node || !self || cn_loop_in_io())
        return r;
    cn_sched_block_begin();
    while (cn_conn_wait_unbusy(node, 100)) {
        if (cn_proc_being_killed(self)) {
            self->doomed = 1;
            break;
        }
    }
    cn_sched_block_end();
    return r;
}

static int doomed(const cn_proc *self)
{
    return self && self->doomed;
}

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
        return doomed(self) ? -1
                            : throttled(self, cn_out_send(self ? &self->pid : NULL, to, msg, len));
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
        if (!self || self->doomed)
            return -1; /* REG_SEND needs a sender pid */
        return throttled(self, cn_out_reg_send(&self->pid, (uint32_t)n, name, msg, len));
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
    if (from->pid.node != 0 && doomed(self))
        return -1;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_append_buf(&x, from->tag, from->tag_len);
    ei_x_append_buf(&x, reply, len);
    cn_ref alias;
    int r;
    if (from->pid.node != 0 && self && alias_of(from, &alias) && alias.node == from->pid.node)
        r = cn_out_alias_send_take(&self->pid, &alias, &x);
    else if (from->pid.node != 0)
        r = cn_out_send_take(self ? &self->pid : NULL, &from->pid, &x);
    else
        r = cn_send(self, &from->pid, x.buff, x.index); /* a local caller */
    ei_x_free(&x);
    return from->pid.node != 0 ? throttled(self, r) : r;
}

int cn_reply_take(cn_proc *self, const cn_from *from, ei_x_buff *reply)
{
    if (from->pid.node != 0 && doomed(self))
        return -1;
    cn_ref alias;
    if (from->pid.node == 0 || !self || from->tag_len <= 0 || from->tag_len > 1024)
        return cn_reply(self, from, reply->buff, reply->index);
    char head[2 + 1024];
    head[0] = 104; /* SMALL_TUPLE_EXT, arity 2: {Tag, Reply} */
    head[1] = 2;
    memcpy(head + 2, from->tag, (size_t)from->tag_len);
    if (alias_of(from, &alias) && alias.node == from->pid.node)
        return throttled(
            self, cn_out_alias_send_head_take(&self->pid, &alias, head, 2 + from->tag_len, reply));
    return throttled(self,
                     cn_out_send_head_take(&self->pid, &from->pid, head, 2 + from->tag_len, reply));
}

int cn_reply_input(cn_proc *self, const cn_from *from, const char *reply, int len)
{
    if (from->pid.node != 0 && doomed(self))
        return -1;
    cn_msg *m = cn_proc_current(self);
    /* A record kept in its message's storage (small messages) cannot give the storage away:
     * small replies are copied. */
    if (from->pid.node == 0 || !m || !m->storage || m->storage == (void *)m || from->tag_len <= 0 ||
        from->tag_len > 1024 || len < 0 || reply < m->data ||
        (size_t)len > m->len - (size_t)(reply - m->data))
        return cn_reply(self, from, reply, len);
    /* from->tag may point into the message: build the head before giving the buffer away. */
    char head[2 + 1024];
    head[0] = 104; /* SMALL_TUPLE_EXT, arity 2: {Tag, Reply} */
    head[1] = 2;
    memcpy(head + 2, from->tag, (size_t)from->tag_len);
    cn_ref alias;
    int to_alias = alias_of(from, &alias) && alias.node == from->pid.node;
    cn_pid to = from->pid;
    void *owner = m->storage;
    m->storage = NULL; /* the frame frees it now */
    if (to_alias)
        return throttled(self,
                         cn_out_alias_send_head_slice(&self->pid, &alias, head, 2 + from->tag_len,
                                                      (char *)reply, (size_t)len, owner));
    return throttled(self, cn_out_send_head_slice(&self->pid, &to, head, 2 + from->tag_len,
                                                  (char *)reply, (size_t)len, owner));
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

void cn_from_free(cn_from *from)
{
    free(from);
}

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

/* ---- links, monitors, exits --------------------------------------------------------- */

int cn_link(cn_proc *self, const cn_pid *pid)
{
    cn_linkent *l = cn_link_find(self, pid);
    if (l && l->unlink_id == 0)
        return 0;
    if (l)
        l->unlink_id = 0; /* re-link while our unlink is pending: active again */
    else if (cn_proc_add_link(self, pid) < 0)
        return -1;
    if (pid->node != 0)
        return cn_out_link(&self->pid, pid);
    cn_msg *m = cn_msg_new(CN_SIG_LINK, NULL, 0);
    if (!m)
        return -1;
    m->from = self->pid;
    m->has_from = 1;
    cn_deliver_local(pid, m);
    return 0;
}

int cn_unlink(cn_proc *self, const cn_pid *pid)
{
    cn_linkent *l = cn_link_find(self, pid);
    if (!l || l->unlink_id != 0)
        return 0;
    uint64_t id = ((uint64_t)randombytes_random() << 32 | randombytes_random()) | 1;
    if (pid->node != 0) {
        if (!(cn_conn_flags(pid->node) & DFLAG_UNLINK_ID)) {
            cn_link_unlink(self, l); /* old protocol: no ack will come */
            free(l);
        } else {
            l->unlink_id = id;
        }
        return cn_out_unlink_id(&self->pid, pid, id);
    }
    l->unlink_id = id;
    cn_msg *m = cn_msg_new(CN_SIG_UNLINK, NULL, 0);
    if (!m)
        return -1;
    m->from = self->pid;
    m->has_from = 1;
    m->id = id;
    cn_deliver_local(pid, m);
    return 0;
}

int cn_monitor(cn_proc *self, const cn_pid *pid, cn_ref *ref_out)
{
    cn_mon *mon = calloc(1, sizeof *mon);
    if (!mon)
        return -1;
    mon->pid = *pid;
    mon->ref = cn_make_ref();
    cn_mon_push(self, CN_PL_MONITORS, mon);
    if (ref_out)
        *ref_out = mon->ref;
    if (pid->node != 0)
        return cn_out_monitor(&self->pid, pid, pid->node, NULL, &mon->ref);
    cn_msg *m = cn_msg_new(CN_SIG_MONITOR, NULL, 0);
    if (!m)
        return -1;
    m->from = self->pid;
    m->has_from = 1;
    m->ref = mon->ref;
    cn_deliver_local(pid, m);
    return 0;
}

int cn_demonitor(cn_proc *self, const cn_ref *ref)
{
    cn_mon *mon = cn_mon_take(self, CN_PL_MONITORS, ref);
    if (!mon)
        return 0;
    if (mon->pid.node != 0) {
        cn_out_demonitor(&self->pid, &mon->pid, mon->pid.node, mon->name, ref);
    } else {
        cn_msg *m = cn_msg_new(CN_SIG_DEMONITOR, NULL, 0);
        if (m) {
            m->from = self->pid;
            m->has_from = 1;
            m->ref = *ref;
            cn_deliver_local(&mon->pid, m);
        }
    }
    free(mon->name);
    free(mon);
    return 0;
}

int cn_exit(cn_proc *self, const cn_pid *pid, const char *reason, int len)
{
    cn_sig_send_exit(&self->pid, pid, reason, len, 0);
    return 0;
}

void cn_trap_exit(cn_proc *self, int on)
{
    self->trap_exit = on != 0;
}

int cn_register_name(cn_proc *self, const char *name)
{
    return cn_register(name, &self->pid);
}

int cn_unregister_name(const char *name)
{
    return cn_unregister(name);
}

int cn_monitor_node(cn_proc *self, const char *node, int on)
{
    long n = cn_node_intern(node, strlen(node));
    if (n < 0)
        return -1;
    if (n == 0)
        return 0; /* this node never goes down while the process runs */
    if (!on) {
        for (int i = 0; i < self->n_node_mons; i++)
            if (self->node_mons[i] == (uint32_t)n) {
                self->node_mons[i] = self->node_mons[--self->n_node_mons];
                break;
            }
        return 0;
    }
    if (self->n_node_mons >= 4096)
        return -1;
    uint32_t *m = realloc(self->node_mons, (size_t)(self->n_node_mons + 1) * sizeof *m);
    if (!m)
        return -1;
    self->node_mons = m;
    m[self->n_node_mons++] = (uint32_t)n;
    if (!cn_conn_is_up((uint32_t)n))
        cn_conn_dial((uint32_t)n); /* a failed attempt reports nodedown */
    return 0;
}

int cn_monitor_nodes(cn_proc *self, int on, int kinds)
{
    return cn_nodemon_subscribe(&self->pid, on, kinds);
}

int cn_whereis_name(const char *name, cn_pid *out)
{
    return cn_whereis(name, out);
}

cn_pid cn_group_leader(const cn_proc *self)
{
    return self->group_leader;
}

/* api: the process calls of the public header (send, reply, self, stop reason). */
#include "dist/conn.h"
#include "dist/flags.h"
#include "dist/out.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <time.h>
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

/* ---- links, monitors, exits --------------------------------------------------------- */

int cn_link(cn_proc *self, const cn_pid *pid)
{
    cn_linkent **lp = cn_proc_find_link(self, pid);
    if (*lp && (*lp)->unlink_id == 0)
        return 0;
    if (*lp)
        (*lp)->unlink_id = 0; /* re-link while our unlink is pending: active again */
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
    cn_linkent **lp = cn_proc_find_link(self, pid);
    if (!*lp || (*lp)->unlink_id != 0)
        return 0;
    uint64_t id = ((uint64_t)randombytes_random() << 32 | randombytes_random()) | 1;
    if (pid->node != 0) {
        if (!(cn_conn_flags(pid->node) & DFLAG_UNLINK_ID)) {
            cn_linkent *l = *lp; /* old protocol: no ack will come */
            *lp = l->next;
            free(l);
        } else {
            (*lp)->unlink_id = id;
        }
        return cn_out_unlink_id(&self->pid, pid, id);
    }
    (*lp)->unlink_id = id;
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
    mon->next = self->monitors;
    self->monitors = mon;
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
    cn_mon **mp = cn_proc_find_mon(&self->monitors, ref);
    if (!*mp)
        return 0;
    cn_mon *mon = *mp;
    *mp = mon->next;
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

void cn_trap_exit(cn_proc *self, int on) { self->trap_exit = on != 0; }

int cn_register_name(cn_proc *self, const char *name) { return cn_register(name, &self->pid); }

int cn_unregister_name(const char *name) { return cn_unregister(name); }

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

int cn_whereis_name(const char *name, cn_pid *out) { return cn_whereis(name, out); }

cn_pid cn_group_leader(const cn_proc *self) { return self->group_leader; }

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

/* Wait for the reply to the call monitored by ref (selective receive on our mailbox). */
static int call_wait(cn_proc *self, const cn_ref *r, uint32_t node, int timeout_ms,
                     ei_x_buff *reply)
{
    cn_ref ref = *r;
    pthread_cond_t cond;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    cn_msg *found = NULL;
    int kind = 0, at = 0;
    cn_sched_block_begin();
    pthread_mutex_lock(&self->lock);
    self->waiter = &cond;
    for (;;) {
        cn_msg *prev = NULL;
        for (cn_msg *m = self->mq_head; m; prev = m, m = m->next) {
            if (cn_proc_fatal_signal(self, m)) {
                kind = 4; /* we are being killed: stop waiting; the signal stays queued */
                break;
            }
            if (node != 0 && m->kind == CN_SIG_NODEDOWN && m->node == node) {
                kind = 3; /* the server's node is gone; the signal stays for the rest */
                break;
            }
            if ((kind = call_match(m, &ref, &at)) != 0) {
                if (prev)
                    prev->next = m->next;
                else
                    self->mq_head = m->next;
                if (self->mq_tail == m)
                    self->mq_tail = prev;
                self->mq_len--;
                found = m;
                break;
            }
        }
        if (found || kind == 3 || kind == 4)
            break;
        int w = timeout_ms < 0 ? pthread_cond_wait(&cond, &self->lock)
                               : pthread_cond_timedwait(&cond, &self->lock, &until);
        if (w == ETIMEDOUT)
            break;
    }
    self->waiter = NULL;
    pthread_mutex_unlock(&self->lock);
    cn_sched_block_end();
    pthread_cond_destroy(&cond);

    if (kind == 4) {
        self->doomed = 1;
        cn_demonitor(self, &ref);
        ei_x_encode_atom(reply, "killed");
        return -2;
    }
    if (kind == 3) {
        cn_mon **mp = cn_proc_find_mon(&self->monitors, &ref);
        if (*mp) {
            cn_mon *mon = *mp;
            *mp = mon->next;
            free(mon->name);
            free(mon);
        }
        ei_x_encode_atom(reply, "noconnection");
        return -2;
    }
    if (kind == 2) { /* the server is gone: the monitor already fired */
        cn_mon **mp = cn_proc_find_mon(&self->monitors, &ref);
        if (*mp) {
            cn_mon *mon = *mp;
            *mp = mon->next;
            free(mon->name);
            free(mon);
        }
        ei_x_append_buf(reply, found->data, (int)found->len);
        cn_msg_free(found);
        return -2;
    }
    cn_demonitor(self, &ref);
    if (!found)
        return -1;
    int end = at;
    ei_skip_term(found->data, &end);
    ei_x_append_buf(reply, found->data + at, end - at);
    cn_msg_free(found);
    return 0;
}

static void call_request(cn_proc *self, const cn_ref *ref, const char *req, int len,
                         ei_x_buff *x)
{
    ei_x_new(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "$gen_call");
    ei_x_encode_tuple_header(x, 2);
    cn_encode_pid(x, &self->pid);
    cn_encode_ref(x, ref);
    ei_x_append_buf(x, req, len);
}

int cn_call(cn_proc *self, const cn_pid *server, const char *req, int len, int timeout_ms,
            ei_x_buff *reply)
{
    cn_ref ref;
    if (cn_monitor(self, server, &ref) < 0)
        return -1;
    ei_x_buff x;
    call_request(self, &ref, req, len, &x);
    cn_send(self, server, x.buff, x.index);
    ei_x_free(&x);
    return call_wait(self, &ref, server->node, timeout_ms, reply);
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
    mon->next = self->monitors;
    self->monitors = mon;
    cn_out_monitor(&self->pid, NULL, (uint32_t)n, name, &ref);
    ei_x_buff x;
    call_request(self, &ref, req, len, &x);
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

/* api: the process calls of the public header (send, reply, self, stop reason). */
#include "dist/conn.h"
#include "dist/ctrl.h"
#include "dist/flags.h"
#include "dist/out.h"
#include "loop.h"
#include "proc/ident.h"
#include "proc/nodemon.h"
#include "proc/proc.h"
#include "proc/sched.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- selective receive -------------------------------------------------------------- */

/* A matcher: 0 if m is not what the waiter wants, else a code > 0 of its own. */
typedef int (*wait_match)(const cn_msg *m, void *ctx);

enum { W_TIMEOUT = 0, W_MATCH = 1, W_NODEDOWN = 3, W_KILLED = 4 };

/* The absolute CLOCK_MONOTONIC time timeout_ms from now in *until; NULL for -1 (forever). */
static const struct timespec *deadline(int timeout_ms, struct timespec *until)
{
    if (timeout_ms < 0)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, until);
    until->tv_sec += timeout_ms / 1000;
    until->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until->tv_nsec >= 1000000000L) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000L;
    }
    return until;
}

static void unqueue(cn_proc *self, cn_msg *prev, cn_msg *m)
{
    if (prev)
        prev->next = m->next;
    else
        self->mq_head = m->next;
    if (self->mq_tail == m)
        self->mq_tail = prev;
    self->mq_len--;
}

/* Wait on our own mailbox (other entries stay queued, in order) until an entry matches
 * (W_MATCH: it is taken out and returned in *found, the matcher's code in *code), a fatal
 * exit signal is queued (W_KILLED) or NODEDOWN of node (node != 0) is (W_NODEDOWN; both
 * stay queued for the runtime), or until passes (W_TIMEOUT; NULL: never). Blocks this
 * scheduler thread; another joins if that would leave too few. */
static int wait_for(cn_proc *self, wait_match match, void *ctx, uint32_t node,
                    const struct timespec *until, cn_msg **found, int *code)
{
    pthread_cond_t cond;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
    int r = W_TIMEOUT;
    *found = NULL;
    cn_sched_block_begin();
    pthread_mutex_lock(&self->lock);
    self->waiter = &cond;
    for (;;) {
        cn_msg *prev = NULL;
        for (cn_msg *m = self->mq_head; m; prev = m, m = m->next) {
            if (cn_proc_fatal_signal(self, m)) {
                r = W_KILLED; /* we are being killed: stop waiting */
                break;
            }
            if (node != 0 && m->kind == CN_SIG_NODEDOWN && m->node == node) {
                r = W_NODEDOWN;
                break;
            }
            int c = match ? match(m, ctx) : 0;
            if (c != 0) {
                unqueue(self, prev, m);
                *found = m;
                *code = c;
                r = W_MATCH;
                break;
            }
        }
        if (r != W_TIMEOUT)
            break;
        int w = until ? pthread_cond_timedwait(&cond, &self->lock, until)
                      : pthread_cond_wait(&cond, &self->lock);
        if (w == ETIMEDOUT)
            break;
    }
    self->waiter = NULL;
    pthread_mutex_unlock(&self->lock);
    cn_sched_block_end();
    pthread_cond_destroy(&cond);
    return r;
}

/* Take every entry that matches out of our mailbox; fn sees each (it frees nothing). */
static void sweep(cn_proc *self, wait_match match, void *ctx, void (*fn)(cn_msg *m, void *arg),
                  void *arg)
{
    cn_msg *got = NULL, **tail = &got;
    pthread_mutex_lock(&self->lock);
    for (cn_msg *m = self->mq_head, *prev = NULL, *next; m; m = next) {
        next = m->next;
        if (match(m, ctx)) {
            unqueue(self, prev, m);
            m->next = NULL;
            *tail = m;
            tail = &m->next;
        } else {
            prev = m;
        }
    }
    pthread_mutex_unlock(&self->lock);
    while (got) {
        cn_msg *n = got->next;
        if (fn)
            fn(got, arg);
        cn_msg_free(got);
        got = n;
    }
}

static void drop_mon(cn_proc *self, const cn_ref *ref)
{
    cn_mon **mp = cn_proc_find_mon(&self->monitors, ref);
    if (*mp) {
        cn_mon *mon = *mp;
        *mp = mon->next;
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
    int w = wait_for(self, call_match_cb, &cc, node, deadline(timeout_ms, &ts), &found, &kind);
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

static void call_request(cn_proc *self, const cn_ref *ref, const char *req, int len, ei_x_buff *x)
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

int cn_sleep(cn_proc *self, int ms)
{
    struct timespec ts;
    cn_msg *found;
    int code;
    if (ms < 0)
        ms = 0;
    if (wait_for(self, NULL, NULL, 0, deadline(ms, &ts), &found, &code) == W_KILLED) {
        self->doomed = 1;
        return -1;
    }
    return 0;
}

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
    sweep(self, rpc_match, w, w->have_pid ? NULL : late_spawn_reply, &l);
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
    const struct timespec *until = deadline(timeout_ms, &ts);
    for (;;) {
        cn_msg *found;
        int r = wait_for(self, rpc_match, &w, (uint32_t)n, until, &found, &code);
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

#include "proc/proc.h"

#include "proc/plist.h"

#include "dist/conn.h"
#include "dist/out.h"
#include "proc/ident.h"
#include "proc/sched.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* ---- messages ----------------------------------------------------------------------- */

cn_msg *cn_msg_new(int kind, const void *data, size_t len)
{
    cn_msg *m = calloc(1, sizeof *m + len);
    if (!m)
        return NULL;
    m->kind = kind;
    m->data = (char *)(m + 1);
    m->len = len;
    if (len && data)
        memcpy(m->data, data, len);
    return m;
}

cn_msg *cn_msg_adopt(int kind, void *storage, size_t room, char *data, size_t len)
{
    cn_msg *m;
    if (storage && room >= sizeof *m) { /* malloc'd storage: aligned for a cn_msg */
        m = storage;
        memset(m, 0, sizeof *m);
    } else if (!(m = calloc(1, sizeof *m))) {
        return NULL;
    }
    m->kind = kind;
    m->storage = storage;
    m->data = data;
    m->len = len;
    return m;
}

void cn_msg_free(cn_msg *m)
{
    if (!m)
        return;
    if (m->storage != (void *)m)
        free(m->storage);
    free(m);
}

/* ---- the process table -------------------------------------------------------------- */

/* A pid's id is its slot; the serial counts reuses of the slot, so a stale pid never
 * reaches a newer process. */
static cn_proc **slots;
static uint32_t *serials;
static uint32_t *freelist;
static size_t nslots, nfree, nlive;
static pthread_mutex_t ptlock = PTHREAD_MUTEX_INITIALIZER;

int cn_ptab_init(size_t max_procs)
{
    slots = calloc(max_procs, sizeof *slots);
    serials = calloc(max_procs, sizeof *serials);
    freelist = malloc(max_procs * sizeof *freelist);
    if (!slots || !serials || !freelist)
        return -1;
    nslots = max_procs;
    /* Slot 0 is never used: <0.0.0> looks like init on the BEAM. Low ids are handed out
     * first, so pids fit the old 15-bit id format for as long as possible. */
    for (size_t i = 0; i + 1 < max_procs; i++)
        freelist[i] = (uint32_t)(max_procs - 1 - i);
    nfree = max_procs - 1;
    return 0;
}

cn_proc *cn_proc_create(const cn_proc_ops *ops, void *beh)
{
    cn_proc *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->ops = ops;
    p->beh = beh;
    atomic_init(&p->refs, 2); /* the table's and the creator's */
    pthread_mutex_lock(&ptlock);
    if (nfree == 0) {
        pthread_mutex_unlock(&ptlock);
        pthread_mutex_destroy(&p->lock);
        free(p);
        cn_warn("process limit reached (%zu)", nslots - 1);
        return NULL;
    }
    uint32_t slot = freelist[--nfree];
    serials[slot] = (serials[slot] + 1) & 0x1fff;
    p->pid =
        (cn_pid){.node = 0, .id = slot, .serial = serials[slot], .creation = cn_ident_creation()};
    slots[slot] = p;
    nlive++;
    pthread_mutex_unlock(&ptlock);
    return p;
}

cn_proc *cn_proc_get(const cn_pid *pid)
{
    if (pid->node != 0 || pid->id >= nslots || pid->creation != cn_ident_creation())
        return NULL;
    pthread_mutex_lock(&ptlock);
    cn_proc *p = slots[pid->id];
    if (p && (p->pid.serial != pid->serial || p->dead))
        p = NULL;
    if (p)
        atomic_fetch_add(&p->refs, 1);
    pthread_mutex_unlock(&ptlock);
    return p;
}

void cn_proc_release(cn_proc *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    cn_msg *m = p->mq_head;
    while (m) {
        cn_msg *n = m->next;
        cn_msg_free(m);
        m = n;
    }
    pthread_mutex_destroy(&p->lock);
    free(p->regname);
    free(p->stop_reason);
    free(p->node_mons);
    free(p);
}

static void table_remove(cn_proc *p)
{
    pthread_mutex_lock(&ptlock);
    if (slots[p->pid.id] == p) {
        slots[p->pid.id] = NULL;
        freelist[nfree++] = p->pid.id;
        nlive--;
    }
    pthread_mutex_unlock(&ptlock);
    cn_proc_release(p);
}

void cn_proc_hold(cn_proc *p)
{
    pthread_mutex_lock(&p->lock);
    p->sched = CN_S_RUNNING; /* deliveries queue but do not schedule */
    pthread_mutex_unlock(&p->lock);
}

void cn_proc_ready(cn_proc *p)
{
    pthread_mutex_lock(&p->lock);
    int schedule = !p->dead && p->mq_head != NULL;
    p->sched = schedule ? CN_S_QUEUED : CN_S_IDLE;
    pthread_mutex_unlock(&p->lock);
    if (schedule) {
        atomic_fetch_add(&p->refs, 1); /* the run queue's reference */
        cn_sched_enqueue(p);
    }
}

void cn_proc_discard(cn_proc *p)
{
    pthread_mutex_lock(&p->lock);
    p->dead = 1;
    pthread_mutex_unlock(&p->lock);
    table_remove(p);
    cn_proc_release(p);
}

size_t cn_proc_count(void)
{
    pthread_mutex_lock(&ptlock);
    size_t n = nlive;
    pthread_mutex_unlock(&ptlock);
    return n;
}

size_t cn_proc_limit(void)
{
    return nslots > 0 ? nslots - 1 : 0;
} /* slot 0 is never used */

void cn_proc_foreach(void (*fn)(cn_proc *p, void *arg), void *arg)
{
    /* Collect references under the lock, call outside it. */
    pthread_mutex_lock(&ptlock);
    size_t n = 0, cap = nlive;
    cn_proc **list = malloc((cap ? cap : 1) * sizeof *list);
    for (size_t i = 1; list && i < nslots && n < cap; i++)
        if (slots[i] && !slots[i]->dead) {
            atomic_fetch_add(&slots[i]->refs, 1);
            list[n++] = slots[i];
        }
    pthread_mutex_unlock(&ptlock);
    for (size_t i = 0; i < n; i++) {
        fn(list[i], arg);
        cn_proc_release(list[i]);
    }
    free(list);
}

/* Mailbox entries taken by processes that have ended (erlang:statistics(reductions)). */
static _Atomic uint64_t handled_by_ended;

static void add_handled(cn_proc *p, void *arg)
{
    pthread_mutex_lock(&p->lock);
    if (!p->dead)
        *(uint64_t *)arg += atomic_load_explicit(&p->handled, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
}

uint64_t cn_proc_handled_total(void)
{
    uint64_t live = 0;
    cn_proc_foreach(add_handled, &live);
    return atomic_load(&handled_by_ended) + live;
}

/* ---- delivery ----------------------------------------------------------------------- */

/* Append the list head..tail (n entries) to p's mailbox and schedule p once. */
static int deliver_list(cn_proc *p, cn_msg *head, cn_msg *tail, uint32_t n)
{
    int schedule = 0;
    tail->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->dead) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    if (p->mq_tail)
        p->mq_tail->next = head;
    else
        p->mq_head = head;
    p->mq_tail = tail;
    p->mq_len += n;
    if (p->waiter)
        pthread_cond_signal(p->waiter);
    if (p->sched == CN_S_IDLE) {
        p->sched = CN_S_QUEUED;
        schedule = 1;
    }
    pthread_mutex_unlock(&p->lock);
    if (schedule) {
        atomic_fetch_add(&p->refs, 1); /* the run queue's reference */
        cn_sched_enqueue(p);
    }
    return 0;
}

int cn_proc_deliver(cn_proc *p, cn_msg *m)
{
    return deliver_list(p, m, m, 1);
}

static const char NOPROC[] = "\x77\x06noproc";
#define NOPROC_LEN 8

/* A signal reached a process that does not exist: answer as the BEAM does. */
static void dead_target(const cn_pid *to, cn_msg *m)
{
    switch (m->kind) {
    case CN_SIG_MONITOR:
        cn_sig_send_down(to, m->name_mon ? m->data : NULL, &m->from, &m->ref, NOPROC, NOPROC_LEN);
        break;
    case CN_SIG_LINK:
        cn_sig_send_exit(to, &m->from, NOPROC, NOPROC_LEN, 1);
        break;
    case CN_SIG_UNLINK:
        if (m->id)
            cn_sig_send_unlink_ack(to, &m->from, m->id);
        break;
    default:
        break;
    }
    cn_msg_free(m);
}

void cn_deliver_local(const cn_pid *to, cn_msg *m)
{
    cn_proc *p = cn_proc_get(to);
    if (p && cn_proc_deliver(p, m) == 0) {
        cn_proc_release(p);
        return;
    }
    if (p)
        cn_proc_release(p);
    dead_target(to, m);
}

void cn_batch_flush(cn_batch *b)
{
    if (b->n == 0)
        return;
    cn_msg *m = b->head;
    if (b->p && deliver_list(b->p, b->head, b->tail, b->n) == 0)
        m = NULL;
    while (m) { /* the process is gone: answer each signal as for a single delivery */
        cn_msg *next = m->next;
        dead_target(&b->to, m);
        m = next;
    }
    if (b->p)
        cn_proc_release(b->p);
    b->p = NULL;
    b->head = b->tail = NULL;
    b->n = 0;
    b->flushes++;
}

void cn_batch_add(cn_batch *b, const cn_pid *to, cn_msg *m)
{
    if (b->n > 0 && (b->n >= CN_BATCH_MAX || !cn_pid_eq(&b->to, to)))
        cn_batch_flush(b);
    m->next = NULL;
    if (b->n == 0) {
        b->to = *to;
        b->p = cn_proc_get(to);
        b->head = m;
    } else {
        b->tail->next = m;
    }
    b->tail = m;
    b->n++;
}

/* ---- signals out -------------------------------------------------------------------- */

void cn_sig_send_exit(const cn_pid *from, const cn_pid *to, const char *reason, int len, int link)
{
    if (to->node != 0) {
        cn_out_exit(from, to, reason, len, !link);
        return;
    }
    cn_msg *m = cn_msg_new(link ? CN_SIG_EXIT : CN_SIG_EXIT2, reason, (size_t)len);
    if (!m)
        return;
    m->from = *from;
    m->has_from = 1;
    cn_deliver_local(to, m);
}

void cn_sig_send_down(const cn_pid *from, const char *name, const cn_pid *to, const cn_ref *ref,
                      const char *reason, int len)
{
    if (to->node != 0) {
        cn_out_down(from, name, to, ref, reason, len);
        return;
    }
    cn_msg *m = cn_msg_new(CN_SIG_DOWN, reason, (size_t)len);
    if (!m)
        return;
    m->from = *from;
    m->has_from = 1;
    m->ref = *ref;
    cn_deliver_local(to, m);
}

void cn_sig_send_unlink_ack(const cn_pid *from, const cn_pid *to, uint64_t id)
{
    if (to->node != 0) {
        cn_out_unlink_id_ack(from, to, id);
        return;
    }
    cn_msg *m = cn_msg_new(CN_SIG_UNLINK_ACK, NULL, 0);
    if (!m)
        return;
    m->from = *from;
    m->has_from = 1;
    m->id = id;
    cn_deliver_local(to, m);
}

/* ---- exits -------------------------------------------------------------------------- */

int cn_reason_is(const char *reason, size_t len, const char *atom)
{
    char a[MAXATOMLEN_UTF8];
    int idx = 0;
    return len > 0 && ei_decode_atom(reason, &idx, a) == 0 && (size_t)idx == len &&
           strcmp(a, atom) == 0;
}

/* Does a later entry (from `later` on) undo the monitor or link m: a demonitor of its ref,
 * an unlink from its sender? Looks that far ahead only, so that a process dying with a long
 * queue of them does not take quadratic time (a signal sent for one taken back further on
 * meets no monitor or link at its target, which drops it). */
#define TAKEN_BACK_SCAN 1024

static int taken_back(const cn_msg *m, const cn_msg *later)
{
    for (int k = 0; later && k < TAKEN_BACK_SCAN; later = later->next, k++)
        if (cn_pid_eq(&later->from, &m->from) &&
            ((m->kind == CN_SIG_MONITOR && later->kind == CN_SIG_DEMONITOR &&
              cn_ref_eq(&later->ref, &m->ref)) ||
             (m->kind == CN_SIG_LINK && later->kind == CN_SIG_UNLINK)))
            return 1;
    return 0;
}

static void proc_exit(cn_proc *p, const char *reason, int len)
{
    /* Unlike the BEAM, terminate also runs for `killed`: it is where a C worker frees its
     * state, and nothing else would. */
    if (p->ops->terminate)
        p->ops->terminate(p, reason, len);
    pthread_mutex_lock(&p->lock);
    p->dead = 1;
    /* under the lock that cn_proc_handled_total reads it with: counted once, live or dead */
    atomic_fetch_add_explicit(&handled_by_ended, atomic_load(&p->handled), memory_order_relaxed);
    cn_msg *rest = p->mq_head;
    p->mq_head = p->mq_tail = NULL;
    pthread_mutex_unlock(&p->lock);
    if (p->regname)
        cn_unregister_pid(p->regname, &p->pid);
    for (cn_linkent *l = p->links, *n; l; l = n) {
        n = l->next;
        if (l->unlink_id == 0)
            cn_sig_send_exit(&p->pid, &l->pid, reason, len, 1);
        free(l);
    }
    for (cn_mon *m = p->monitored_by, *n; m; m = n) {
        n = m->next;
        cn_sig_send_down(&p->pid, m->name, &m->pid, &m->ref, reason, len);
        free(m->name);
        free(m);
    }
    for (cn_mon *m = p->monitors, *n; m; m = n) {
        n = m->next;
        if (m->pid.node != 0)
            cn_out_demonitor(&p->pid, &m->pid, m->pid.node, m->name, &m->ref);
        free(m->name);
        free(m);
    }
    p->links = NULL;
    p->monitors = p->monitored_by = NULL;
    cn_plist_free(p);
    /* A monitor or link still queued arrived while the process lived (behind a long callback
     * or rpc function): it took effect then, as on the BEAM, so it gets the exit reason, not
     * noproc; unless its sender took it back later in the queue (then nothing is owed). */
    while (rest) {
        cn_msg *n = rest->next;
        if ((rest->kind == CN_SIG_MONITOR || rest->kind == CN_SIG_LINK) && taken_back(rest, n)) {
            cn_msg_free(rest);
        } else if (rest->kind == CN_SIG_MONITOR) {
            cn_sig_send_down(&p->pid, rest->name_mon ? rest->data : NULL, &rest->from, &rest->ref,
                             reason, len);
            cn_msg_free(rest);
        } else if (rest->kind == CN_SIG_LINK) {
            cn_sig_send_exit(&p->pid, &rest->from, reason, len, 1);
            cn_msg_free(rest);
        } else {
            dead_target(&p->pid, rest);
        }
        rest = n;
    }
    cn_debug("process <%u.%u> exited", p->pid.id, p->pid.serial);
    table_remove(p);
}

int cn_proc_add_link(cn_proc *p, const cn_pid *pid)
{
    cn_linkent *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->pid = *pid;
    cn_link_push(p, l);
    return 0;
}

int cn_proc_add_monitored_by(cn_proc *p, const cn_pid *watcher, const cn_ref *ref)
{
    cn_mon *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->pid = *watcher;
    m->ref = *ref;
    cn_mon_push(p, CN_PL_MONITORED_BY, m);
    return 0;
}

int cn_proc_fatal_signal(const cn_proc *p, const cn_msg *m)
{
    if (m->kind == CN_SIG_EXIT2)
        return cn_reason_is(m->data, m->len, "kill") ||
               (!p->trap_exit && !cn_reason_is(m->data, m->len, "normal"));
    if (m->kind == CN_SIG_EXIT && !p->trap_exit && !cn_reason_is(m->data, m->len, "normal")) {
        /* the process's own turn: a search may build the list's index */
        const cn_linkent *l = cn_link_find((cn_proc *)p, &m->from);
        return l && l->unlink_id == 0;
    }
    return m->kind == CN_SIG_SHUTDOWN;
}

int cn_proc_being_killed(cn_proc *p)
{
    int r = p->doomed;
    pthread_mutex_lock(&p->lock);
    for (cn_msg *m = p->mq_head; m && !r; m = m->next)
        r = cn_proc_fatal_signal(p, m);
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* ---- signals in --------------------------------------------------------------------- */

static void drop_link(cn_proc *p, cn_linkent *l)
{
    cn_link_unlink(p, l);
    free(l);
}

static void free_mon(cn_mon *m)
{
    free(m->name);
    free(m);
}

/* Deliver a runtime-made message (built with a version byte) to the process itself. */
static int self_message(cn_proc *p, ei_x_buff *x)
{
    cn_msg m = {.kind = CN_MSG, .data = x->buff, .len = (size_t)x->index};
    int r = p->ops->message(p, &m);
    ei_x_free(x);
    return r;
}

/* Returns 1 if the process must die with `reason`. */
static int exit_signal(cn_proc *p, const cn_pid *from, const char *reason, size_t len, int linked)
{
    if (!linked && cn_reason_is(reason, len, "kill"))
        return 1;
    if (p->trap_exit) {
        ei_x_buff x;
        ei_x_new_with_version(&x);
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "EXIT");
        cn_encode_pid(&x, from);
        ei_x_append_buf(&x, reason, (int)len);
        if (self_message(p, &x) == CN_STOP)
            return -1;
        return 0;
    }
    return !cn_reason_is(reason, len, "normal");
}

static int down_message(cn_proc *p, const cn_msg *m, const cn_mon *mon)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "DOWN");
    cn_encode_ref(&x, &m->ref);
    ei_x_encode_atom(&x, "process");
    if (mon->name) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, mon->name);
        ei_x_encode_atom(&x, cn_node_name(mon->pid.node));
    } else {
        cn_encode_pid(&x, &mon->pid);
    }
    ei_x_append_buf(&x, m->data, (int)m->len);
    return self_message(p, &x);
}

static const char NOCONNECTION[] = "\x77\x0cnoconnection";
#define NOCONNECTION_LEN 14

/* Returns 1 to stop with the reason in *reason, 0 to go on. */
static int nodedown(cn_proc *p, uint32_t node, const char **reason, int *rlen)
{
    for (int i = 0; i < p->n_node_mons;) {
        if (p->node_mons[i] != node) {
            i++;
            continue;
        }
        p->node_mons[i] = p->node_mons[--p->n_node_mons];
        ei_x_buff x;
        ei_x_new_with_version(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "nodedown");
        ei_x_encode_atom(&x, cn_node_name(node));
        if (self_message(p, &x) == CN_STOP)
            return -1;
    }
    for (cn_mon *m = p->monitored_by, *next; m; m = next) {
        next = m->next;
        if (m->pid.node == node) {
            cn_mon_unlink(p, CN_PL_MONITORED_BY, m);
            free_mon(m);
        }
    }
    for (cn_mon *mon = p->monitors, *next; mon; mon = next) {
        next = mon->next;
        if (mon->pid.node != node)
            continue;
        cn_mon_unlink(p, CN_PL_MONITORS, mon);
        cn_msg m = {.kind = CN_SIG_DOWN,
                    .ref = mon->ref,
                    .data = (char *)NOCONNECTION,
                    .len = NOCONNECTION_LEN};
        int r = down_message(p, &m, mon);
        free_mon(mon);
        if (r == CN_STOP)
            return -1;
    }
    for (cn_linkent *l = p->links, *next; l; l = next) {
        next = l->next;
        if (l->pid.node != node)
            continue;
        int active = l->unlink_id == 0;
        cn_pid from = l->pid;
        drop_link(p, l);
        if (!active)
            continue;
        int r = exit_signal(p, &from, NOCONNECTION, NOCONNECTION_LEN, 1);
        if (r) {
            *reason = NOCONNECTION;
            *rlen = NOCONNECTION_LEN;
            return r;
        }
    }
    return 0;
}

/* Handle one mailbox entry. Returns 0 to go on, 1 to die with (reason, len), -1 to die
 * with the process's own stop reason. */
static int handle(cn_proc *p, cn_msg *m, const char **reason, int *rlen)
{
    cn_linkent *l;
    cn_mon *mon;
    switch (m->kind) {
    case CN_MSG:
        return p->ops->message(p, m) == CN_STOP ? -1 : 0;
    case CN_SIG_LINK:
        if (!cn_link_find(p, &m->from))
            cn_proc_add_link(p, &m->from);
        return 0;
    case CN_SIG_UNLINK:
        l = cn_link_find(p, &m->from);
        if (l && l->unlink_id == 0)
            drop_link(p, l);
        if (m->id)
            cn_sig_send_unlink_ack(&p->pid, &m->from, m->id);
        return 0;
    case CN_SIG_UNLINK_ACK:
        l = cn_link_find(p, &m->from);
        if (l && l->unlink_id == m->id)
            drop_link(p, l);
        return 0;
    case CN_SIG_EXIT:
        l = cn_link_find(p, &m->from);
        if (!l || l->unlink_id != 0)
            return 0;
        drop_link(p, l);
        *reason = m->data;
        *rlen = (int)m->len;
        return exit_signal(p, &m->from, m->data, m->len, 1);
    case CN_SIG_EXIT2: {
        int r = exit_signal(p, &m->from, m->data, m->len, 0);
        /* exit(Pid, kill) is untrappable and reported as killed; a process that merely
         * exits with reason kill passes kill on to its links (as on the BEAM). */
        int killed = r == 1 && cn_reason_is(m->data, m->len, "kill");
        *reason = killed ? "\x77\x06killed" : m->data;
        *rlen = killed ? 8 : (int)m->len;
        return r;
    }
    case CN_SIG_MONITOR:
        mon = calloc(1, sizeof *mon);
        if (mon) {
            mon->pid = m->from;
            mon->ref = m->ref;
            mon->name = m->name_mon ? strdup(m->data) : NULL;
            cn_mon_push(p, CN_PL_MONITORED_BY, mon);
        }
        return 0;
    case CN_SIG_DEMONITOR:
        mon = cn_mon_take(p, CN_PL_MONITORED_BY, &m->ref);
        if (mon)
            free_mon(mon);
        return 0;
    case CN_SIG_DOWN: {
        mon = cn_mon_take(p, CN_PL_MONITORS, &m->ref);
        if (!mon)
            return 0;
        int r = down_message(p, m, mon);
        free_mon(mon);
        return r == CN_STOP ? -1 : 0;
    }
    case CN_SIG_NODEDOWN:
        return nodedown(p, m->node, reason, rlen);
    case CN_SIG_GROUP_LEADER:
        p->group_leader = m->from;
        return 0;
    case CN_SIG_START:
        return p->ops->start && p->ops->start(p) == CN_STOP ? -1 : 0;
    case CN_SIG_SHUTDOWN:
        *reason = "\x77\x08shutdown";
        *rlen = 10;
        return 1;
    default:
        return 0;
    }
}

static _Thread_local const cn_proc *cur_proc;
static _Thread_local cn_msg *cur_msg;

cn_msg *cn_proc_current(const cn_proc *p)
{
    return p && p == cur_proc ? cur_msg : NULL;
}

int cn_proc_run(cn_proc *p, int budget)
{
    for (int i = 0; i < budget; i++) {
        pthread_mutex_lock(&p->lock);
        cn_msg *m = p->mq_head;
        if (m) {
            p->mq_head = m->next;
            if (!p->mq_head)
                p->mq_tail = NULL;
            p->mq_len--;
        }
        int more = p->mq_head != NULL;
        pthread_mutex_unlock(&p->lock);
        if (!m)
            return 0;
        cn_proc_count_handled(p);
        cn_conn_hint_more(more); /* replies to a burst of calls: let the I/O thread batch */
        const char *reason = NULL;
        int rlen = 0;
        cur_proc = p;
        cur_msg = m;
        int r = handle(p, m, &reason, &rlen);
        cur_proc = NULL;
        cur_msg = NULL;
        cn_conn_hint_more(0);
        if (r != 0) {
            if (r < 0) {
                reason = p->stop_reason ? p->stop_reason : "\x77\x06normal";
                rlen = p->stop_reason ? p->stop_reason_len : 8;
            }
            proc_exit(p, reason, rlen);
            cn_msg_free(m);
            return 0;
        }
        cn_msg_free(m);
        cn_sched_checkpoint();
    }
    pthread_mutex_lock(&p->lock);
    int more = p->mq_head != NULL;
    pthread_mutex_unlock(&p->lock);
    return more;
}

/* ---- node-wide events --------------------------------------------------------------- */

static void post_nodedown(cn_proc *p, void *arg)
{
    cn_msg *m = cn_msg_new(CN_SIG_NODEDOWN, NULL, 0);
    if (!m)
        return;
    m->node = *(uint32_t *)arg;
    if (cn_proc_deliver(p, m) < 0)
        cn_msg_free(m);
}

void cn_proc_nodedown(uint32_t node)
{
    cn_proc_foreach(post_nodedown, &node);
}

static void post_shutdown(cn_proc *p, void *arg)
{
    (void)arg;
    cn_msg *m = cn_msg_new(CN_SIG_SHUTDOWN, NULL, 0);
    if (!m)
        return;
    if (cn_proc_deliver(p, m) < 0)
        cn_msg_free(m);
}

void cn_proc_shutdown_all(void)
{
    cn_proc_foreach(post_shutdown, NULL);
}

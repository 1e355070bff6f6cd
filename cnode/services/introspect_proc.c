/* introspect_proc: erlang:process_info/1,2 for this node's processes.
 *
 * Links, monitors, group leader and trap_exit are touched only by the process's own turns, so
 * they are read while it holds still: its mailbox lock held, and it idle, queued, or blocked in
 * cn_call (which waits under that lock). As the BEAM's process_info signal, the request waits
 * for that as long as it takes (a long callback answers when it returns), unless a signal that
 * ends the asker arrives or the node stops; the asker holds still meanwhile (and lets another
 * scheduler thread run), so two processes asking about each other cannot lock each other out.
 * (A spawner adds a new process's first links before it ever runs, outside this lock.)
 *
 * For what C processes lack, recognisable answers rather than zeros:
 *   current_function  {gen_server, loop, 7} for an idle worker, {gen, do_call, 4} for one
 *                     blocked in cn_call, {erpc, execute_call, 4} for an rpc (casts too);
 *   initial_call      {WorkerModule, init, 1} for workers (the C module, not proc_lib:init_p/5:
 *                     there is no process dictionary to translate it through), else as above;
 *   reductions        the mailbox entries (messages and signals) it has taken;
 *   dictionary        [{'$initial_call', {WorkerModule, init, 1}}] for workers (what
 *                     proc_lib:translate_initial_call reads), else []; heap_size,
 *                     total_heap_size, stack_size: 0 (not counted); binary,
 *                     sequential_trace_token []; catchlevel, trace 0; last_calls false;
 *   memory            an estimate: the process record, the adapter's data, mailbox entries,
 *                     links and monitors (a worker's own state is not included). */
#include "services/introspect.h"

#include "loop.h"
#include "proc/gen.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    /* the items of process_info/1, in the BEAM's order */
    I_REGISTERED_NAME,
    I_CURRENT_FUNCTION,
    I_INITIAL_CALL,
    I_STATUS,
    I_MESSAGE_QUEUE_LEN,
    I_LINKS,
    I_DICTIONARY,
    I_TRAP_EXIT,
    I_ERROR_HANDLER,
    I_PRIORITY,
    I_GROUP_LEADER,
    I_TOTAL_HEAP_SIZE,
    I_HEAP_SIZE,
    I_STACK_SIZE,
    I_REDUCTIONS,
    I_GARBAGE_COLLECTION,
    I_SUSPENDING,
    /* more for process_info/2 */
    I_MONITORS,
    I_MONITORED_BY,
    I_MEMORY,
    I_CURRENT_STACKTRACE,
    I_MESSAGES,
    I_MESSAGE_QUEUE_DATA,
    I_CURRENT_LOCATION,
    I_BINARY,
    I_CATCHLEVEL,
    I_LAST_CALLS,
    I_SEQ_TRACE_TOKEN,
    I_TRACE,
    I_COUNT
};
#define N_DEFAULT (I_SUSPENDING + 1)

static const char *const item_names[I_COUNT] = {
    "registered_name",
    "current_function",
    "initial_call",
    "status",
    "message_queue_len",
    "links",
    "dictionary",
    "trap_exit",
    "error_handler",
    "priority",
    "group_leader",
    "total_heap_size",
    "heap_size",
    "stack_size",
    "reductions",
    "garbage_collection",
    "suspending",
    "monitors",
    "monitored_by",
    "memory",
    "current_stacktrace",
    "messages",
    "message_queue_data",
    "current_location",
    "binary",
    "catchlevel",
    "last_calls",
    "sequential_trace_token",
    "trace",
};

/* What process_info reads, gathered while the process holds still. */
typedef struct view {
    cn_proc *p;
    int self;        /* the asking process itself */
    char name[1024]; /* registered name, if has_name */
    int has_name;
    const char *module; /* gen_server processes: the worker module; else NULL */
    int suspended;
    size_t held, beh_bytes;
} view;

/* ---- waiting until the process holds still ------------------------------------------- */

static int still(const cn_proc *p)
{
    return p->sched != CN_S_RUNNING || p->waiter != NULL;
}

/* Wait a moment as a process blocked in cn_call does (readable by others meanwhile).
 * Returns -1 if a signal that ends `self` arrived or the node is stopping. */
static int pause_self(cn_proc *self, pthread_cond_t *cond)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int fatal = 0;
    pthread_mutex_lock(&self->lock);
    for (const cn_msg *m = self->mq_head; m && !fatal; m = m->next)
        fatal = cn_proc_fatal_signal(self, m);
    if (!fatal) {
        self->waiter = cond;
        pthread_cond_timedwait(cond, &self->lock, &until); /* a delivery or 1 ms */
        self->waiter = NULL;
    }
    pthread_mutex_unlock(&self->lock);
    return fatal || cn_loop_stopping() ? -1 : 0;
}

/* Returns 1 with p->lock held and p still; 0 if p is dead; -1 if self must give up, or if
 * p did not hold still within `tries` pauses of a millisecond (tries < 0: no bound). */
static int hold_still(cn_proc *self, cn_proc *p, int tries)
{
    pthread_mutex_lock(&p->lock);
    if (p->dead) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    if (p == self || still(p))
        return 1;
    pthread_mutex_unlock(&p->lock);
    if (tries == 0 || !self)
        return -1; /* not to wait (or no process to wait as) */
    pthread_cond_t cond;
    cn_cond_init_monotonic(&cond);
    cn_sched_block_begin(); /* another scheduler takes over the queue meanwhile */
    int r;
    for (int n = 0;; n++) {
        if ((tries >= 0 && n >= tries) || pause_self(self, &cond) < 0) {
            r = -1;
            break;
        }
        pthread_mutex_lock(&p->lock);
        if (p->dead) {
            pthread_mutex_unlock(&p->lock);
            r = 0;
            break;
        }
        if (still(p)) {
            r = 1;
            break;
        }
        pthread_mutex_unlock(&p->lock);
    }
    cn_sched_block_end();
    pthread_cond_destroy(&cond);
    return r;
}

/* ---- the items ------------------------------------------------------------------------ */

/* Where the process is, as {M, F, A}: see the top of the file. */
static void where(const view *v, const char **m, const char **f, long *a)
{
    *m = v->p->ops->module;
    *f = "loop";
    *a = 0;
    if (v->module && v->p->waiter && !v->self) {
        *m = "gen";
        *f = "do_call";
        *a = 4;
    } else if (v->module) {
        *m = "gen_server";
        *a = 7;
    } else if (!strcmp(v->p->ops->module, "erpc")) {
        *f = "execute_call";
        *a = 4;
    }
}

static void encode_mfa(ei_x_buff *x, int size, const char *m, const char *f, long a)
{
    ei_x_encode_tuple_header(x, size);
    ei_x_encode_atom(x, m);
    ei_x_encode_atom(x, f);
    ei_x_encode_long(x, a);
    if (size == 4)
        ei_x_encode_empty_list(x); /* no source location */
}

static const char *status(const view *v)
{
    if (v->self)
        return "running";
    if (v->suspended)
        return "suspended";
    return v->p->sched == CN_S_QUEUED && !v->p->waiter ? "runnable" : "waiting";
}

static uint64_t memory(const view *v)
{
    const cn_proc *p = v->p;
    uint64_t b = sizeof *p + (v->module ? v->beh_bytes : 64) + (uint64_t)p->stop_reason_len +
                 (uint64_t)p->n_node_mons * sizeof *p->node_mons;
    if (v->has_name)
        b += strlen(v->name) + 1;
    for (const cn_msg *m = p->mq_head; m; m = m->next)
        b += sizeof *m + m->len;
    for (const cn_linkent *l = p->links; l; l = l->next)
        b += sizeof *l;
    const cn_mon *lists[2] = {p->monitors, p->monitored_by};
    for (int i = 0; i < 2; i++)
        for (const cn_mon *m = lists[i]; m; m = m->next)
            b += sizeof *m + (m->name ? strlen(m->name) + 1 : 0);
    return b;
}

/* A queued message (with its version byte) as a list element. */
static void append_message(const cn_msg *m, void *arg)
{
    ei_x_append_buf(arg, m->data + 1, (int)m->len - 1);
}

/* The value of one item (p->lock held, p still). */
static void encode_value(const view *v, int item, ei_x_buff *x)
{
    const cn_proc *p = v->p;
    unsigned long n = 0;
    switch (item) {
    case I_REGISTERED_NAME:
        if (v->has_name)
            ei_x_encode_atom(x, v->name);
        else
            ei_x_encode_empty_list(x);
        break;
    case I_CURRENT_LOCATION: {
        const char *m, *f;
        long a;
        where(v, &m, &f, &a);
        encode_mfa(x, 4, m, f, a);
        break;
    }
    case I_CURRENT_FUNCTION:
    case I_CURRENT_STACKTRACE: {
        const char *m, *f;
        long a;
        where(v, &m, &f, &a);
        if (item == I_CURRENT_STACKTRACE)
            ei_x_encode_list_header(x, 1);
        encode_mfa(x, item == I_CURRENT_STACKTRACE ? 4 : 3, m, f, a);
        if (item == I_CURRENT_STACKTRACE)
            ei_x_encode_empty_list(x);
        break;
    }
    case I_INITIAL_CALL:
        if (v->module)
            encode_mfa(x, 3, v->module, "init", 1);
        else if (!strcmp(p->ops->module, "erpc"))
            encode_mfa(x, 3, "erpc", "execute_call", 4);
        else
            encode_mfa(x, 3, p->ops->module, "start", 0);
        break;
    case I_STATUS:
        ei_x_encode_atom(x, status(v));
        break;
    case I_MESSAGE_QUEUE_LEN: /* messages only: signals are not queued messages */
        for (const cn_msg *m = p->mq_head; m; m = m->next)
            n += m->kind == CN_MSG;
        ei_x_encode_ulong(x, n + v->held);
        break;
    case I_MESSAGES: /* those held back while suspended come first, as they will run first */
        for (const cn_msg *m = p->mq_head; m; m = m->next)
            n += m->kind == CN_MSG;
        if (n + v->held > 0)
            ei_x_encode_list_header(x, (long)(n + v->held));
        cn_gen_held_foreach(p, append_message, x);
        for (const cn_msg *m = p->mq_head; m; m = m->next)
            if (m->kind == CN_MSG)
                append_message(m, x);
        ei_x_encode_empty_list(x);
        break;
    case I_MESSAGE_QUEUE_DATA: /* messages live in their own buffers, never in a heap */
        ei_x_encode_atom(x, "off_heap");
        break;
    case I_LINKS:
        for (const cn_linkent *l = p->links; l; l = l->next)
            if (l->unlink_id == 0) { /* an unlink in progress is already no link */
                ei_x_encode_list_header(x, 1);
                cn_encode_pid(x, &l->pid);
            }
        ei_x_encode_empty_list(x);
        break;
    case I_MONITORS:
        for (const cn_mon *m = p->monitors; m; m = m->next) {
            ei_x_encode_list_header(x, 1);
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "process");
            if (m->name) {
                ei_x_encode_tuple_header(x, 2);
                ei_x_encode_atom(x, m->name);
                ei_x_encode_atom(x, cn_node_name(m->pid.node));
            } else {
                cn_encode_pid(x, &m->pid);
            }
        }
        ei_x_encode_empty_list(x);
        break;
    case I_MONITORED_BY:
        for (const cn_mon *m = p->monitored_by; m; m = m->next) {
            ei_x_encode_list_header(x, 1);
            cn_encode_pid(x, &m->pid);
        }
        ei_x_encode_empty_list(x);
        break;
    case I_MEMORY:
        ei_x_encode_ulong(x, memory(v));
        break;
    case I_TRAP_EXIT:
        ei_x_encode_boolean(x, p->trap_exit);
        break;
    case I_ERROR_HANDLER:
        ei_x_encode_atom(x, "error_handler");
        break;
    case I_PRIORITY:
        ei_x_encode_atom(x, "normal");
        break;
    case I_GROUP_LEADER:
        cn_encode_pid(x, &p->group_leader);
        break;
    case I_REDUCTIONS: /* mailbox entries taken: the work a C process does comes in those */
        ei_x_encode_ulong(x, atomic_load_explicit(&p->handled, memory_order_relaxed));
        break;
    case I_LAST_CALLS: /* no call tracing */
        ei_x_encode_atom(x, "false");
        break;
    case I_DICTIONARY: /* a worker's, as :sys.get_status shows it: where its code lives */
        if (v->module) {
            ei_x_encode_list_header(x, 1);
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "$initial_call");
            encode_mfa(x, 3, v->module, "init", 1);
        }
        ei_x_encode_empty_list(x);
        break;
    case I_GARBAGE_COLLECTION:
    case I_SUSPENDING:
    case I_BINARY: /* no reference-counted binaries: large payloads are owned by messages */
    case I_SEQ_TRACE_TOKEN:
        ei_x_encode_empty_list(x);
        break;
    default: /* heap sizes, stack size; catch level and trace flags: none */
        ei_x_encode_long(x, 0);
        break;
    }
}

static void encode_item(const view *v, int item, ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, item_names[item]);
    encode_value(v, item, x);
}

/* ---- the summary etop and observer list ------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int cn_ix_proc_summary(cn_proc *self, cn_proc *p, cn_ix_summary *s)
{
    view v = {.p = p, .self = p == self};
    v.has_name = cn_proc_regname(p, v.name, sizeof v.name) == 0;
    /* a few milliseconds at most: a snapshot of every process must not wait for a long one */
    int h = hold_still(self, p, 3);
    if (h == 0)
        return -1;
    if (h < 0) { /* running a callback right now: what the mailbox lock shows */
        pthread_mutex_lock(&p->lock);
        if (p->dead) {
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
    } else if (cn_gen_describe(p, &v.module, &v.suspended, &v.held, &v.beh_bytes) < 0) {
        v.module = NULL;
    }
    s->has_name = v.has_name;
    if (v.has_name)
        copy_str(s->name, sizeof s->name, v.name);
    const char *m, *f;
    long a;
    if (h > 0) {
        where(&v, &m, &f, &a);
    } else { /* in a callback of its module */
        m = p->ops->module;
        f = "handle_msg";
        a = 1;
    }
    copy_str(s->cur_m, sizeof s->cur_m, m);
    copy_str(s->cur_f, sizeof s->cur_f, f);
    s->cur_a = a;
    if (v.module) {
        m = v.module, f = "init", a = 1;
    } else if (!strcmp(p->ops->module, "erpc")) {
        m = "erpc", f = "execute_call", a = 4;
    } else {
        m = p->ops->module, f = "start", a = 0;
    }
    copy_str(s->init_m, sizeof s->init_m, m);
    copy_str(s->init_f, sizeof s->init_f, f);
    s->init_a = a;
    s->mq = v.held;
    s->memory = h > 0 ? memory(&v) : sizeof *p;
    for (const cn_msg *e = p->mq_head; e; e = e->next) {
        s->mq += e->kind == CN_MSG;
        if (h < 0)
            s->memory += sizeof *e + e->len;
    }
    s->reductions = atomic_load_explicit(&p->handled, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---- process_info/1,2 ----------------------------------------------------------------- */

typedef struct items {
    int *v;
    int n, cap;
} items;

static int add_item(const char *atom, void *arg)
{
    items *it = arg;
    int k = 0;
    while (k < I_COUNT && strcmp(item_names[k], atom) != 0)
        k++;
    if (k == I_COUNT)
        return -1;
    if (it->n == it->cap) {
        int cap = it->cap ? it->cap * 2 : 16;
        int *nv = realloc(it->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        it->v = nv;
        it->cap = cap;
    }
    it->v[it->n++] = k;
    return 0;
}

/* One local pid of this incarnation; anything else is badarg (as for a remote pid: a pid of
 * an earlier node of the same name is not local either). */
static int decode_local_pid(const char *buf, int *idx, cn_pid *pid)
{
    if (cn_decode_pid(buf, idx, pid) < 0)
        return -1;
    return pid->node == 0 && pid->creation == cn_ident_creation() ? 0 : -1;
}

/* process_info(Pid) when all_items, else process_info(Pid, Item | [Item]). */
static int info(cn_proc *self, const cn_pid *pid, const items *it, int bare, int all_items,
                ei_x_buff *out)
{
    cn_proc *p = cn_proc_get(pid);
    if (!p) {
        ei_x_encode_atom(out, "undefined");
        return CN_RPC_RETURN;
    }
    view v = {.p = p, .self = p == self};
    v.has_name = cn_proc_regname(p, v.name, sizeof v.name) == 0;
    int h = hold_still(self, p, -1);
    if (h <= 0) {
        cn_proc_release(p);
        if (h == 0) {
            ei_x_encode_atom(out, "undefined");
            return CN_RPC_RETURN;
        }
        ei_x_encode_atom(out, "killed"); /* we are ending; nobody reads this */
        return CN_RPC_EXIT;
    }
    if (cn_gen_describe(p, &v.module, &v.suspended, &v.held, &v.beh_bytes) < 0)
        v.module = NULL;
    if (bare) {
        if (it->v[0] == I_REGISTERED_NAME && !v.has_name)
            ei_x_encode_empty_list(out); /* the BEAM's answer for "no name" */
        else
            encode_item(&v, it->v[0], out);
    } else if (all_items) {
        for (int k = v.has_name ? 0 : 1; k < N_DEFAULT; k++) {
            ei_x_encode_list_header(out, 1);
            encode_item(&v, k, out);
        }
        ei_x_encode_empty_list(out);
    } else {
        for (int k = 0; k < it->n; k++) {
            ei_x_encode_list_header(out, 1);
            encode_item(&v, it->v[k], out);
        }
        ei_x_encode_empty_list(out);
    }
    pthread_mutex_unlock(&p->lock);
    cn_proc_release(p);
    return CN_RPC_RETURN;
}

static int process_info_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    cn_pid pid;
    if (decode_local_pid(buf, idx, &pid) < 0)
        return cn_ix_badarg(out);
    items it = {0};
    return info(self, &pid, &it, 0, 1, out);
}

static int process_info_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    cn_pid pid;
    items it = {0};
    int is_list;
    /* items are checked first: a bad item is badarg even for a dead process */
    if (decode_local_pid(buf, idx, &pid) < 0 ||
        cn_ix_atoms(buf, idx, &is_list, add_item, &it) < 0) {
        free(it.v);
        return cn_ix_badarg(out);
    }
    int r = info(self, &pid, &it, !is_list, 0, out);
    free(it.v);
    return r;
}

int cn_ix_links(cn_proc *self, const cn_pid *pid, cn_pid *out, size_t cap, size_t *n)
{
    *n = 0;
    cn_proc *p = cn_proc_get(pid);
    if (!p)
        return -1;
    int h = hold_still(self, p, -1);
    if (h > 0) {
        for (const cn_linkent *l = p->links; l; l = l->next)
            if (l->unlink_id == 0) {
                if (*n >= cap) {
                    h = -1;
                    break;
                }
                out[(*n)++] = l->pid;
            }
        pthread_mutex_unlock(&p->lock);
    }
    cn_proc_release(p);
    return h > 0 ? 0 : -1;
}

int cn_introspect_proc_start(void)
{
    int r = 0;
    r |= cn_export("erlang", "process_info", 1, process_info_1);
    r |= cn_export("erlang", "process_info", 2, process_info_2);
    return r < 0 ? -1 : 0;
}

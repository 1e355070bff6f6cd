/* check_proc: unit tests for the process runtime (process table, registered names,
 * mailboxes, the gen_server adapter, links, monitors, node-down and shutdown).
 *
 * A recording test worker writes everything it receives (init, calls, casts, infos,
 * terminate, state dumps) into a log guarded by a mutex + condvar, so that tests wait
 * (bounded) for what they expect. Casts double as commands that the worker carries out on
 * its own turn (link, unlink, monitor, demonitor, stop, state dump), poking the process
 * record through proc.h the way the runtime's own link/monitor calls do. */
#include "loop.h"
#include "proc/ident.h"
#include "proc/plist.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "util/log.h"

#include "check_terms.h"
#include "recorder.h"

#include <check.h>
#include <ei.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"

#define WAIT_MS 2000
#define CREATION 1234u

/* ---- the log ------------------------------------------------------------------------ */

enum { E_INIT = 1, E_CALL, E_CAST, E_INFO, E_TERM, E_STATE };

static atomic_int live_states; /* worker states allocated by init, not yet freed */

static int wait_n_entries(const cn_pid *who, int kind, size_t n, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    for (;;) {
        if (count_entries(who, kind) >= n)
            return 1;
        pthread_mutex_lock(&log_lock);
        int r = pthread_cond_timedwait(&log_cond, &log_lock, &ts);
        pthread_mutex_unlock(&log_lock);
        if (r != 0)
            return count_entries(who, kind) >= n;
    }
}

static int wait_live_states(int n, int ms)
{
    for (int t = 0; t < ms; t += 2) {
        if (atomic_load(&live_states) == n)
            return 1;
        sleep_ms(2);
    }
    return atomic_load(&live_states) == n;
}

/* terminate runs before the process is marked dead: poll for the latter. */
static int wait_dead(const cn_pid *pid)
{
    for (int t = 0; t < WAIT_MS; t += 2) {
        if (!alive(pid))
            return 1;
        sleep_ms(2);
    }
    return !alive(pid);
}

/* ---- term building ------------------------------------------------------------------ */

/* An atom as a reason (no version byte); buf must hold 3 + strlen bytes. */
static int atom_bytes(char *buf, const char *a)
{
    size_t n = strlen(a);
    buf[0] = (char)ERL_SMALL_ATOM_UTF8_EXT;
    buf[1] = (char)n;
    memcpy(buf + 2, a, n);
    return (int)n + 2;
}

/* ---- the recording worker ----------------------------------------------------------- */

typedef struct wstate {
    int magic;
} wstate;

static int w_init(cn_proc *self, const char *buf, int *index, void **state)
{
    (void)buf;
    (void)index;
    wstate *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->magic = 42;
    *state = s;
    atomic_fetch_add(&live_states, 1);
    log_add(&self->pid, E_INIT, NULL, 0);
    return 0;
}

static int trap_init(cn_proc *self, const char *buf, int *index, void **state)
{
    int r = w_init(self, buf, index, state);
    self->trap_exit = 1; /* no public API yet: the record is ours during init */
    return r;
}

static int fail_init(cn_proc *self, const char *buf, int *index, void **state)
{
    (void)self;
    (void)buf;
    (void)index;
    (void)state;
    return -1;
}

static int term_end(const char *buf, int start)
{
    int end = start;
    WCHECK(ei_skip_term(buf, &end) == 0);
    return end;
}

static int w_call(cn_proc *self, void *state, const char *buf, int *index, const cn_from *from,
                  ei_x_buff *reply)
{
    (void)from;
    WCHECK(((wstate *)state)->magic == 42);
    int start = *index, end = term_end(buf, start);
    log_add(&self->pid, E_CALL, buf + start, end - start);
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "reply");
    ei_x_append_buf(reply, buf + start, end - start);
    return CN_REPLY;
}

/* The link record's type, whatever proc.h calls it. */
typedef __typeof__(*((cn_proc *)0)->links) link_rec;

static link_rec *find_link(cn_proc *self, const cn_pid *pid)
{
    return cn_link_find(self, pid);
}

static void sig_to(cn_proc *self, const cn_pid *to, int kind, const cn_ref *ref, uint64_t id)
{
    if (to->node != 0)
        return; /* remote: only the local half is set up (no connection in these tests) */
    cn_msg *m = cn_msg_new(kind, NULL, 0);
    m->from = self->pid;
    m->has_from = 1;
    if (ref)
        m->ref = *ref;
    m->id = id;
    cn_deliver_local(to, m);
}

static void dump_state(cn_proc *self, long tag)
{
    long active = 0, pending = 0, mons = 0, monby = 0;
    for (link_rec *l = self->links; l; l = l->next)
        if (l->unlink_id)
            pending++;
        else
            active++;
    for (cn_mon *m = self->monitors; m; m = m->next)
        mons++;
    for (cn_mon *m = self->monitored_by; m; m = m->next)
        monby++;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 6);
    ei_x_encode_long(&x, tag);
    ei_x_encode_long(&x, active);
    ei_x_encode_long(&x, pending);
    ei_x_encode_long(&x, mons);
    ei_x_encode_long(&x, monby);
    ei_x_encode_long(&x, self->trap_exit);
    log_add(&self->pid, E_STATE, x.buff, x.index);
    ei_x_free(&x);
}

/* Casts are commands: {stop, Reason}, {link, Pid}, {unlink, Pid, Id}, {monitor, Pid, Ref},
 * {demonitor, Ref}, {state, Tag}, {exit, Pid, Reason}, {send, Pid, Term}; anything else is
 * only logged. */
static int w_cast(cn_proc *self, void *state, const char *buf, int *index)
{
    WCHECK(((wstate *)state)->magic == 42);
    int start = *index, end = term_end(buf, start);
    log_add(&self->pid, E_CAST, buf + start, end - start);
    int idx = start, arity;
    char cmd[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity < 2 ||
        ei_decode_atom(buf, &idx, cmd) < 0)
        return CN_NOREPLY;
    cn_pid pid;
    cn_ref ref;
    if (strcmp(cmd, "stop") == 0) {
        int s = idx;
        cn_set_stop_reason(self, buf + s, term_end(buf, s) - s);
        return CN_STOP;
    }
    if (strcmp(cmd, "link") == 0) {
        WCHECK(cn_decode_pid(buf, &idx, &pid) == 0);
        link_rec *l = find_link(self, &pid);
        if (!l) {
            l = calloc(1, sizeof *l);
            l->pid = pid;
            cn_link_push(self, l);
        } else if (l->unlink_id == 0) {
            return CN_NOREPLY; /* already linked */
        }
        l->unlink_id = 0;
        sig_to(self, &pid, CN_SIG_LINK, NULL, 0);
        return CN_NOREPLY;
    }
    if (strcmp(cmd, "unlink") == 0) {
        unsigned long long id;
        WCHECK(cn_decode_pid(buf, &idx, &pid) == 0);
        WCHECK(ei_decode_ulonglong(buf, &idx, &id) == 0);
        link_rec *l = find_link(self, &pid);
        if (l && l->unlink_id == 0) {
            l->unlink_id = id;
            sig_to(self, &pid, CN_SIG_UNLINK, NULL, id);
        }
        return CN_NOREPLY;
    }
    if (strcmp(cmd, "monitor") == 0) {
        WCHECK(cn_decode_pid(buf, &idx, &pid) == 0);
        WCHECK(cn_decode_ref(buf, &idx, &ref) == 0);
        cn_mon *m = calloc(1, sizeof *m);
        m->pid = pid;
        m->ref = ref;
        cn_mon_push(self, CN_PL_MONITORS, m);
        sig_to(self, &pid, CN_SIG_MONITOR, &ref, 0);
        return CN_NOREPLY;
    }
    if (strcmp(cmd, "demonitor") == 0) {
        WCHECK(cn_decode_ref(buf, &idx, &ref) == 0);
        cn_mon *m = cn_mon_take(self, CN_PL_MONITORS, &ref);
        if (m) {
            sig_to(self, &m->pid, CN_SIG_DEMONITOR, &ref, 0);
            free(m->name);
            free(m);
        }
        return CN_NOREPLY;
    }
    if (strcmp(cmd, "state") == 0) {
        long tag;
        WCHECK(ei_decode_long(buf, &idx, &tag) == 0);
        dump_state(self, tag);
        return CN_NOREPLY;
    }
    if (strcmp(cmd, "exit") == 0) {
        WCHECK(cn_decode_pid(buf, &idx, &pid) == 0);
        int s = idx;
        cn_sig_send_exit(&self->pid, &pid, buf + s, term_end(buf, s) - s, 0);
        return CN_NOREPLY;
    }
    if (strcmp(cmd, "send") == 0) {
        WCHECK(cn_decode_pid(buf, &idx, &pid) == 0);
        int s = idx;
        cn_send(self, &pid, buf + s, term_end(buf, s) - s);
        return CN_NOREPLY;
    }
    return CN_NOREPLY;
}

static int w_info(cn_proc *self, void *state, const char *buf, int *index)
{
    WCHECK(((wstate *)state)->magic == 42);
    int start = *index, end = term_end(buf, start);
    log_add(&self->pid, E_INFO, buf + start, end - start);
    return CN_NOREPLY;
}

static void w_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    log_add(&self->pid, E_TERM, reason, len);
    if (state) {
        WCHECK(((wstate *)state)->magic == 42);
        free(state);
        atomic_fetch_sub(&live_states, 1);
    }
}

#define WORKER(name, initf)                                                                        \
    {                                                                                              \
        .module = name, .init = initf, .handle_call = w_call, .handle_cast = w_cast,               \
        .handle_info = w_info, .terminate = w_terminate                                            \
    }
static const cn_worker rec_worker = WORKER("rec", w_init);
static const cn_worker trap_worker = WORKER("trap", trap_init);
static const cn_worker failing_worker = WORKER("failing", fail_init);

static cn_pid spawn(const cn_worker *w, const char *name)
{
    cn_pid pid;
    ck_assert_int_eq(cn_spawn_worker(w, NULL, 0, name, &pid), 0);
    ck_assert_uint_eq(pid.node, 0);
    return pid;
}

/* ---- driving workers ---------------------------------------------------------------- */

/* Send {'$gen_cast', Term} (term bytes without version byte). */
static void cast_raw(const cn_pid *to, const char *term, int len)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 2);
    x_atom(&x, "$gen_cast");
    ck_assert_int_eq(ei_x_append_buf(&x, term, len), 0);
    ck_assert_int_eq(cn_send(NULL, to, x.buff, x.index), 0);
    ei_x_free(&x);
}

static void cast_x(const cn_pid *to, ei_x_buff *term)
{
    cast_raw(to, term->buff, term->index);
    ei_x_free(term);
}

static void cast_stop(const cn_pid *to, const char *reason)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 2);
    x_atom(&x, "stop");
    x_atom(&x, reason);
    cast_x(to, &x);
}

static void cast_pid_cmd(const cn_pid *to, const char *cmd, const cn_pid *pid)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 2);
    x_atom(&x, cmd);
    x_pid(&x, pid);
    cast_x(to, &x);
}

static void cast_unlink(const cn_pid *to, const cn_pid *pid, unsigned long long id)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 3);
    x_atom(&x, "unlink");
    x_pid(&x, pid);
    ck_assert_int_eq(ei_x_encode_ulonglong(&x, id), 0);
    cast_x(to, &x);
}

static void cast_monitor(const cn_pid *to, const cn_pid *target, const cn_ref *ref)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 3);
    x_atom(&x, "monitor");
    x_pid(&x, target);
    x_ref(&x, ref);
    cast_x(to, &x);
}

static void cast_demonitor(const cn_pid *to, const cn_ref *ref)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 2);
    x_atom(&x, "demonitor");
    x_ref(&x, ref);
    cast_x(to, &x);
}

typedef struct pstate {
    long active, pending, monitors, monitored_by, trap;
} pstate;

/* Ask the process for a dump of its link/monitor records (taken on its own turn). */
static int get_state(const cn_pid *pid, pstate *st)
{
    static atomic_long next_tag = 1;
    long tag = atomic_fetch_add(&next_tag, 1);
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 2);
    x_atom(&x, "state");
    x_long(&x, tag);
    cast_x(pid, &x);
    struct timespec ts;
    deadline_in(&ts, WAIT_MS);
    pthread_mutex_lock(&log_lock);
    int found = 0;
    for (;;) {
        for (size_t i = 0; i < log_n && !found; i++) {
            entry *e = &log_e[i];
            if (e->kind != E_STATE || !cn_pid_eq(&e->who, pid))
                continue;
            int idx = 0, arity;
            long t;
            if (ei_decode_tuple_header(e->data, &idx, &arity) < 0 ||
                ei_decode_long(e->data, &idx, &t) < 0 || t != tag)
                continue;
            ei_decode_long(e->data, &idx, &st->active);
            ei_decode_long(e->data, &idx, &st->pending);
            ei_decode_long(e->data, &idx, &st->monitors);
            ei_decode_long(e->data, &idx, &st->monitored_by);
            ei_decode_long(e->data, &idx, &st->trap);
            found = 1;
        }
        if (found || pthread_cond_timedwait(&log_cond, &log_lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&log_lock);
    return found ? 0 : -1;
}

/* Poll the state until pred holds (bounded). */
static int wait_state(const cn_pid *pid, pstate *st, int (*pred)(const pstate *, long), long arg)
{
    for (int t = 0; t < WAIT_MS; t += 5) {
        if (get_state(pid, st) < 0)
            return 0;
        if (pred(st, arg))
            return 1;
        sleep_ms(5);
    }
    return 0;
}
static int links_are(const pstate *s, long n)
{
    return s->active + s->pending == n;
}
static int active_is(const pstate *s, long n)
{
    return s->active == n;
}
static int monitored_by_is(const pstate *s, long n)
{
    return s->monitored_by == n;
}
static int monitors_is(const pstate *s, long n)
{
    return s->monitors == n;
}

/* Round trip with a process: once this returns, everything delivered to it before was
 * handled. */
static void sync_with(const cn_pid *pid)
{
    pstate st;
    ck_assert_msg(get_state(pid, &st) == 0, "no answer from <%u.%u>", pid->id, pid->serial);
}

/* A signal from `from` delivered as the control dispatcher would. */
static void deliver_sig(const cn_pid *to, int kind, const cn_pid *from, const char *reason,
                        int rlen, const cn_ref *ref, uint64_t id)
{
    cn_msg *m = cn_msg_new(kind, reason, reason ? (size_t)rlen : 0);
    ck_assert_ptr_nonnull(m);
    m->from = *from;
    m->has_from = 1;
    if (ref)
        m->ref = *ref;
    m->id = id;
    cn_deliver_local(to, m);
}

static void deliver_atom_sig(const cn_pid *to, int kind, const cn_pid *from, const char *reason)
{
    char r[260];
    int n = atom_bytes(r, reason);
    deliver_sig(to, kind, from, r, n, NULL, 0);
}

/* Expected {'EXIT', From, Reason} / {'DOWN', Ref, process, Pid, Reason} terms. */
static void exit_term(ei_x_buff *x, const cn_pid *from, const char *reason)
{
    x_new(x);
    x_tuple(x, 3);
    x_atom(x, "EXIT");
    x_pid(x, from);
    x_atom(x, reason);
}

static void down_term(ei_x_buff *x, const cn_ref *ref, const cn_pid *pid, const char *reason)
{
    x_new(x);
    x_tuple(x, 5);
    x_atom(x, "DOWN");
    x_ref(x, ref);
    x_atom(x, "process");
    x_pid(x, pid);
    x_atom(x, reason);
}

static void atom_term(ei_x_buff *x, const char *a)
{
    x_new(x);
    x_atom(x, a);
}

static int wait_term(const cn_pid *who, const char *reason)
{
    ei_x_buff x;
    atom_term(&x, reason);
    int r = wait_entry(who, E_TERM, &x, WAIT_MS);
    ei_x_free(&x);
    return r;
}

static int wait_info(const cn_pid *who, ei_x_buff *want)
{
    int r = wait_entry(who, E_INFO, want, WAIT_MS);
    ei_x_free(want);
    return r;
}

/* A pid that was live once and is now dead. */
static cn_pid dead_pid(void)
{
    size_t base = cn_proc_count();
    cn_pid d = spawn(&rec_worker, NULL);
    cast_stop(&d, "normal");
    ck_assert(wait_count(base, WAIT_MS));
    return d;
}

static cn_pid remote_pid(const char *node, uint32_t id)
{
    long n = cn_node_intern(node, strlen(node));
    ck_assert_int_gt(n, 0);
    return (cn_pid){.node = (uint32_t)n, .id = id, .serial = 1, .creation = 99};
}

/* ---- fixture ------------------------------------------------------------------------ */

static int started;
static int live_base;

static void setup(void)
{
    if (!started) { /* once per process: each forked test, or once with CK_FORK=no */
        cn_log_level = CN_LOG_ERROR;
        ei_init();
        cn_ident_init("t@host", CREATION);
        ck_assert_int_eq(cn_loop_init(), 0);
        ck_assert_int_eq(cn_ptab_init(1024), 0);
        ck_assert_int_eq(cn_sched_start(2), 0);
        started = 1;
    }
    ck_assert(wait_count(0, WAIT_MS));
    live_base = atomic_load(&live_states);
    atomic_store(&worker_errors, 0);
}

static void teardown(void)
{
    cn_proc_shutdown_all();
    int gone = wait_count(0, 5000);
    cn_loop_drain();
    log_clear();
    ck_assert_msg(gone, "%zu processes left after shutdown", cn_proc_count());
    ck_assert_int_eq(atomic_load(&worker_errors), 0);
}

/* ---- process table ------------------------------------------------------------------ */

static int noop_message(cn_proc *p, const cn_msg *m)
{
    (void)p;
    (void)m;
    return 0;
}
static const cn_proc_ops noop_ops = {.module = "noop", .message = noop_message};

START_TEST(pid_allocation)
{
    cn_proc *a = cn_proc_create(&noop_ops, NULL);
    cn_proc *b = cn_proc_create(&noop_ops, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    cn_pid pa = a->pid, pb = b->pid;
    ck_assert_uint_eq(pa.node, 0);
    ck_assert_uint_eq(pa.creation, CREATION);
    ck_assert_uint_ne(pa.id, 0); /* <0.0.0> is never handed out */
    ck_assert_uint_ne(pa.id, pb.id);
    ck_assert_uint_eq(cn_proc_count(), 2);

    cn_proc *g = cn_proc_get(&pa);
    ck_assert_ptr_eq(g, a);
    cn_proc_release(g);

    /* Reuse of a's slot: same id, a new serial; the old pid reaches nothing. */
    cn_proc_discard(a);
    ck_assert_ptr_null(cn_proc_get(&pa));
    ck_assert_uint_eq(cn_proc_count(), 1);
    cn_proc *c = cn_proc_create(&noop_ops, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->pid.id, pa.id);
    ck_assert_uint_ne(c->pid.serial, pa.serial);
    ck_assert_ptr_null(cn_proc_get(&pa));
    g = cn_proc_get(&c->pid);
    ck_assert_ptr_eq(g, c);
    cn_proc_release(g);

    /* Lookups that must fail: other creation, other node, out-of-range id. */
    cn_pid q = c->pid;
    q.creation++;
    ck_assert_ptr_null(cn_proc_get(&q));
    q = c->pid;
    q.node = 1;
    ck_assert_ptr_null(cn_proc_get(&q));
    q = c->pid;
    q.id = 1u << 30;
    ck_assert_ptr_null(cn_proc_get(&q));

    /* Ids stay unique among live processes. */
    enum { N = 200 };
    cn_proc *many[N];
    for (int i = 0; i < N; i++) {
        many[i] = cn_proc_create(&noop_ops, NULL);
        ck_assert_ptr_nonnull(many[i]);
        ck_assert_uint_ne(many[i]->pid.id, 0);
        ck_assert_uint_ne(many[i]->pid.id, b->pid.id);
        ck_assert_uint_ne(many[i]->pid.id, c->pid.id);
        for (int j = 0; j < i; j++)
            ck_assert_uint_ne(many[i]->pid.id, many[j]->pid.id);
    }
    for (int i = 0; i < N; i++)
        cn_proc_discard(many[i]);
    cn_proc_discard(b);
    cn_proc_discard(c);
    ck_assert_uint_eq(cn_proc_count(), 0);
}
END_TEST

START_TEST(process_limit)
{
    /* The table was made with 1024 slots; slot 0 is never used. */
    cn_proc **ps = calloc(1024, sizeof *ps);
    size_t n = 0;
    while (n < 1024 && (ps[n] = cn_proc_create(&noop_ops, NULL)) != NULL)
        n++;
    ck_assert_uint_eq(n, 1023);
    ck_assert_uint_eq(cn_proc_count(), 1023);
    ck_assert_ptr_null(cn_proc_create(&noop_ops, NULL));
    /* A worker cannot start either, and its init's state is not leaked. */
    cn_pid w;
    ck_assert_int_eq(cn_spawn_worker(&rec_worker, NULL, 0, NULL, &w), -1);
    ck_assert_int_eq(atomic_load(&live_states), live_base);
    /* One slot back: one more process. */
    cn_proc_discard(ps[--n]);
    ps[n] = cn_proc_create(&noop_ops, NULL);
    ck_assert_ptr_nonnull(ps[n]);
    n++;
    for (size_t i = 0; i < n; i++)
        cn_proc_discard(ps[i]);
    free(ps);
    ck_assert_uint_eq(cn_proc_count(), 0);
}
END_TEST

START_TEST(spawn_failures)
{
    cn_pid p;
    ck_assert_int_eq(cn_spawn_worker(&failing_worker, NULL, 0, NULL, &p), -1);
    ck_assert_uint_eq(cn_proc_count(), 0);
    cn_pid a = spawn(&rec_worker, "taken");
    /* A taken name: the new worker's state is given back through terminate. */
    ck_assert_int_eq(cn_spawn_worker(&rec_worker, NULL, 0, "taken", &p), -1);
    ck_assert_uint_eq(cn_proc_count(), 1);
    ck_assert_int_eq(atomic_load(&live_states), live_base + 1);
    cn_pid w;
    ck_assert_int_eq(cn_whereis("taken", &w), 0);
    ck_assert(cn_pid_eq(&w, &a));
}
END_TEST

/* ---- registered names --------------------------------------------------------------- */

START_TEST(register_whereis)
{
    cn_pid a = spawn(&rec_worker, NULL), b = spawn(&rec_worker, NULL), w;
    ck_assert_int_eq(cn_whereis("foo", &w), -1);
    ck_assert_int_eq(cn_register("foo", &a), 0);
    ck_assert_int_eq(cn_whereis("foo", &w), 0);
    ck_assert(cn_pid_eq(&w, &a));
    ck_assert_int_eq(cn_register("foo", &b), -1); /* name taken */
    ck_assert_int_eq(cn_register("bar", &a), -1); /* a already has a name */
    ck_assert_int_eq(cn_register("", &b), -1);
    cn_pid r = remote_pid("peer@host", 5);
    ck_assert_int_eq(cn_register("baz", &r), -1);
    ck_assert_int_eq(cn_register("bar", &b), 0);
    ck_assert_int_eq(cn_whereis("bar", &w), 0);
    ck_assert(cn_pid_eq(&w, &b));

    /* A name goes away with its process. */
    size_t base = cn_proc_count();
    cast_stop(&a, "normal");
    ck_assert(wait_count(base - 1, WAIT_MS));
    ck_assert_int_eq(cn_whereis("foo", &w), -1);
    ck_assert_int_eq(cn_register("foo", &a), -1); /* dead pid */
    ck_assert_int_eq(cn_whereis("foo", &w), -1);

    /* Spawned with a name. */
    cn_pid c = spawn(&rec_worker, "named");
    ck_assert_int_eq(cn_whereis("named", &w), 0);
    ck_assert(cn_pid_eq(&w, &c));

    ck_assert_int_eq(cn_unregister("bar"), 0);
    ck_assert_int_eq(cn_unregister("bar"), -1);
    ck_assert_int_eq(cn_whereis("bar", &w), -1);
}
END_TEST

/* BEAM: after unregister(foo), the process may register another name, and its exit does not
 * touch whoever holds `foo` by then. */
START_TEST(unregister_then_reuse)
{
    cn_pid a = spawn(&rec_worker, NULL), b = spawn(&rec_worker, NULL), w;
    ck_assert_int_eq(cn_register("foo", &a), 0);
    ck_assert_int_eq(cn_unregister("foo"), 0);
    ck_assert_int_eq(cn_register("foo", &b), 0);
    ck_assert_msg(cn_register("other", &a) == 0,
                  "a process that unregistered its name cannot register another one");
    size_t base = cn_proc_count();
    cast_stop(&a, "normal");
    ck_assert(wait_count(base - 1, WAIT_MS));
    ck_assert_msg(cn_whereis("foo", &w) == 0 && cn_pid_eq(&w, &b),
                  "the exit of the old owner of 'foo' unregistered its new owner");
}
END_TEST

/* ---- mailboxes ---------------------------------------------------------------------- */

enum { SENDERS = 4, PER_SENDER = 1500 };

typedef struct sender_arg {
    cn_pid to;
    int who;
} sender_arg;

static void *sender_main(void *arg)
{
    sender_arg *a = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "seq");
        ei_x_encode_long(&x, a->who);
        ei_x_encode_long(&x, i);
        cn_send(NULL, &a->to, x.buff, x.index);
        ei_x_free(&x);
    }
    return NULL;
}

START_TEST(mailbox_order)
{
    cn_pid w = spawn(&rec_worker, NULL);
    pthread_t th[SENDERS];
    sender_arg args[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        args[i] = (sender_arg){.to = w, .who = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, sender_main, &args[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_msg(wait_n_entries(&w, E_INFO, SENDERS * PER_SENDER, 20000), "got %zu of %d",
                  count_entries(&w, E_INFO), SENDERS * PER_SENDER);
    long next[SENDERS] = {0};
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_n; i++) {
        entry *e = &log_e[i];
        if (e->kind != E_INFO || !cn_pid_eq(&e->who, &w))
            continue;
        int idx = 0, arity;
        long who, seq;
        char a[MAXATOMLEN_UTF8];
        ck_assert_int_eq(ei_decode_tuple_header(e->data, &idx, &arity), 0);
        ck_assert_int_eq(ei_decode_atom(e->data, &idx, a), 0);
        ck_assert_int_eq(ei_decode_long(e->data, &idx, &who), 0);
        ck_assert_int_eq(ei_decode_long(e->data, &idx, &seq), 0);
        ck_assert(who >= 0 && who < SENDERS);
        ck_assert_int_eq(seq, next[who]);
        next[who]++;
    }
    pthread_mutex_unlock(&log_lock);
    for (int i = 0; i < SENDERS; i++)
        ck_assert_int_eq(next[i], PER_SENDER);
    ck_assert_uint_eq(count_entries(&w, E_INFO), SENDERS * PER_SENDER);
}
END_TEST

/* Messages to a dead or unknown pid vanish. */
START_TEST(send_to_dead)
{
    cn_pid d = dead_pid();
    ei_x_buff x;
    atom_term(&x, "hello");
    ck_assert_int_eq(cn_send(NULL, &d, x.buff, x.index), 0);
    ei_x_free(&x);
    ck_assert_uint_eq(count_entries(&d, E_INFO), 0);
}
END_TEST

/* ---- gen_server --------------------------------------------------------------------- */

static void gen_call(const cn_pid *server, const cn_pid *caller, const ei_x_buff *tag,
                     const char *req)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 3);
    x_atom(&x, "$gen_call");
    x_tuple(&x, 2);
    x_pid(&x, caller);
    ck_assert_int_eq(ei_x_append_buf(&x, tag->buff, tag->index), 0);
    x_atom(&x, req);
    ck_assert_int_eq(cn_send(NULL, server, x.buff, x.index), 0);
    ei_x_free(&x);
}

START_TEST(gen_server_call_cast_info)
{
    cn_pid s = spawn(&rec_worker, NULL), c = spawn(&rec_worker, NULL);
    ck_assert(wait_entry(&s, E_INIT, NULL, 0));
    cn_ref ref = cn_make_ref();

    /* $gen_call with a plain reference tag: {Tag, Reply} comes back to the caller. */
    ei_x_buff tag, want;
    x_new(&tag);
    x_ref(&tag, &ref);
    gen_call(&s, &c, &tag, "hello");
    atom_term(&want, "hello");
    ck_assert(wait_entry(&s, E_CALL, &want, WAIT_MS));
    ei_x_free(&want);
    x_new(&want);
    x_tuple(&want, 2);
    x_ref(&want, &ref);
    x_tuple(&want, 2);
    x_atom(&want, "reply");
    x_atom(&want, "hello");
    ck_assert(wait_info(&c, &want));
    ei_x_free(&tag);

    /* The OTP 24+ tag [alias | Ref] is echoed unchanged (a local caller gets it by pid). */
    x_new(&tag);
    ck_assert_int_eq(ei_x_encode_list_header(&tag, 1), 0);
    x_atom(&tag, "alias");
    x_ref(&tag, &ref);
    gen_call(&s, &c, &tag, "again");
    x_new(&want);
    x_tuple(&want, 2);
    ck_assert_int_eq(ei_x_append_buf(&want, tag.buff, tag.index), 0);
    x_tuple(&want, 2);
    x_atom(&want, "reply");
    x_atom(&want, "again");
    ck_assert(wait_info(&c, &want));
    ei_x_free(&tag);

    /* $gen_cast */
    ei_x_buff m;
    atom_term(&m, "ping");
    cast_raw(&s, m.buff, m.index);
    ck_assert(wait_entry(&s, E_CAST, &m, WAIT_MS));
    ei_x_free(&m);

    /* Anything else is info, including tuples that only look like gen messages. */
    atom_term(&m, "plain");
    ck_assert_int_eq(cn_send(NULL, &s, m.buff, m.index), 0);
    ck_assert(wait_entry(&s, E_INFO, &m, WAIT_MS));
    ei_x_free(&m);
    x_new(&m);
    x_tuple(&m, 2);
    x_atom(&m, "$gen_call");
    x_atom(&m, "x");
    ck_assert_int_eq(cn_send(NULL, &s, m.buff, m.index), 0);
    ck_assert(wait_entry(&s, E_INFO, &m, WAIT_MS));
    ei_x_free(&m);

    /* A system message the worker cannot answer: {error, {unknown_system_msg, Req}}. */
    x_new(&m);
    x_tuple(&m, 3);
    x_atom(&m, "system");
    x_tuple(&m, 2);
    x_pid(&m, &c);
    x_ref(&m, &ref);
    x_atom(&m, "frobnicate");
    ck_assert_int_eq(cn_send(NULL, &s, m.buff, m.index), 0);
    ei_x_free(&m);
    x_new(&want);
    x_tuple(&want, 2);
    x_ref(&want, &ref);
    x_tuple(&want, 2);
    x_atom(&want, "error");
    x_tuple(&want, 2);
    x_atom(&want, "unknown_system_msg");
    x_atom(&want, "frobnicate");
    ck_assert(wait_info(&c, &want));

    ck_assert_uint_eq(count_entries(&s, E_CALL), 2);
}
END_TEST

START_TEST(stop_reason_and_terminate)
{
    size_t base = cn_proc_count();
    cn_pid s = spawn(&rec_worker, NULL);
    ck_assert_int_eq(atomic_load(&live_states), live_base + 1);
    cast_stop(&s, "goodbye");
    ck_assert(wait_term(&s, "goodbye"));
    ck_assert(wait_count(base, WAIT_MS));
    ck_assert(wait_live_states(live_base, WAIT_MS));
    ck_assert(!alive(&s));
}
END_TEST

/* ---- links -------------------------------------------------------------------------- */

START_TEST(link_exit2_normal_then_kill)
{
    cn_pid w = spawn(&rec_worker, NULL), r = spawn(&trap_worker, NULL);
    pstate st;
    cast_pid_cmd(&r, "link", &w);
    ck_assert(wait_state(&w, &st, active_is, 1));

    /* exit(W, normal) from another process: ignored by a process not trapping exits. */
    deliver_atom_sig(&w, CN_SIG_EXIT2, &r, "normal");
    sync_with(&w);
    ck_assert(alive(&w));
    ck_assert_uint_eq(count_entries(&w, E_TERM), 0);

    /* exit(W, kill): dies with `killed`, and the link partner hears `killed`. */
    deliver_atom_sig(&w, CN_SIG_EXIT2, &r, "kill");
    ei_x_buff want;
    exit_term(&want, &w, "killed");
    ck_assert(wait_info(&r, &want));
    ck_assert(!alive(&w));
    ck_assert(alive(&r));
}
END_TEST

/* A process killed with exit(Pid, kill) skips terminate on the BEAM, but in C the worker's
 * terminate is what frees its state: it must not leak. */
START_TEST(killed_worker_state_freed)
{
    size_t base = cn_proc_count();
    cn_pid w = spawn(&rec_worker, NULL), k = remote_pid("peer@host", 3);
    ck_assert_int_eq(atomic_load(&live_states), live_base + 1);
    deliver_atom_sig(&w, CN_SIG_EXIT2, &k, "kill");
    ck_assert(wait_count(base, WAIT_MS));
    ck_assert_msg(wait_live_states(live_base, WAIT_MS),
                  "state of a killed worker never freed (%d live, %d expected)",
                  atomic_load(&live_states), live_base);
}
END_TEST

START_TEST(linked_dies_with_partner)
{
    cn_pid a = spawn(&rec_worker, NULL), b = spawn(&rec_worker, NULL);
    cn_pid c = spawn(&rec_worker, NULL), d = spawn(&rec_worker, NULL);
    pstate st;
    cast_pid_cmd(&a, "link", &b);
    cast_pid_cmd(&c, "link", &d);
    ck_assert(wait_state(&b, &st, active_is, 1));
    ck_assert(wait_state(&d, &st, active_is, 1));

    /* A normal exit does not take the partner along. */
    cast_stop(&b, "normal");
    ck_assert(wait_term(&b, "normal"));
    ck_assert(wait_state(&a, &st, links_are, 0)); /* the EXIT removed the link */
    ck_assert(alive(&a));
    ck_assert_uint_eq(count_entries(&a, E_TERM), 0);

    /* An abnormal one does, with the same reason. */
    cast_stop(&d, "boom");
    ck_assert(wait_term(&d, "boom"));
    ck_assert(wait_term(&c, "boom"));
    ck_assert(wait_dead(&c));
}
END_TEST

START_TEST(trap_exit_messages)
{
    cn_pid t = spawn(&trap_worker, NULL), b = spawn(&rec_worker, NULL);
    pstate st;
    ck_assert_int_eq(get_state(&t, &st), 0);
    ck_assert_int_eq(st.trap, 1);
    cast_pid_cmd(&t, "link", &b);
    ck_assert(wait_state(&b, &st, active_is, 1));
    cast_stop(&b, "boom");
    ei_x_buff want;
    exit_term(&want, &b, "boom");
    ck_assert(wait_info(&t, &want));
    ck_assert(wait_state(&t, &st, links_are, 0));
    ck_assert(alive(&t));

    /* exit/2 while trapping: a message, also for `normal`. */
    cn_pid x = remote_pid("peer@host", 11);
    deliver_atom_sig(&t, CN_SIG_EXIT2, &x, "normal");
    exit_term(&want, &x, "normal");
    ck_assert(wait_info(&t, &want));
    deliver_atom_sig(&t, CN_SIG_EXIT2, &x, "other");
    exit_term(&want, &x, "other");
    ck_assert(wait_info(&t, &want));

    /* A link exit with reason kill is an ordinary, trappable reason. */
    deliver_sig(&t, CN_SIG_LINK, &x, NULL, 0, NULL, 0);
    ck_assert(wait_state(&t, &st, active_is, 1));
    deliver_atom_sig(&t, CN_SIG_EXIT, &x, "kill");
    exit_term(&want, &x, "kill");
    ck_assert(wait_info(&t, &want));
    ck_assert(alive(&t));

    /* An EXIT without a link is ignored, even when trapping. */
    size_t infos = count_entries(&t, E_INFO);
    deliver_atom_sig(&t, CN_SIG_EXIT, &x, "stray");
    sync_with(&t);
    ck_assert_uint_eq(count_entries(&t, E_INFO), infos);

    /* exit(T, kill) cannot be trapped. */
    deliver_atom_sig(&t, CN_SIG_EXIT2, &x, "kill");
    ck_assert(wait_count(0, WAIT_MS));
    ck_assert(!alive(&t));
}
END_TEST

START_TEST(unlink_id_ack)
{
    cn_pid r = spawn(&rec_worker, NULL), w = spawn(&rec_worker, NULL);
    pstate st;
    cast_pid_cmd(&r, "link", &w);
    ck_assert(wait_state(&w, &st, active_is, 1));
    ck_assert(wait_state(&r, &st, active_is, 1));

    /* r unlinks with id 42: its entry stays pending until w's UNLINK_ACK(42) comes back. */
    cast_unlink(&r, &w, 42);
    ck_assert_msg(wait_state(&r, &st, links_are, 0), "r never got the UNLINK_ACK (%ld/%ld)",
                  st.active, st.pending);
    ck_assert(wait_state(&w, &st, links_are, 0));

    /* Unlinked: w dying abnormally leaves r alone (the count drops once w's exit signals,
     * if any, are out). */
    size_t base = cn_proc_count();
    cast_stop(&w, "boom");
    ck_assert(wait_count(base - 1, WAIT_MS));
    sync_with(&r);
    ck_assert(alive(&r));
    ck_assert_uint_eq(count_entries(&r, E_TERM), 0);
}
END_TEST

/* The UNLINK_ID table of PROTOCOL.md §4.3, driven by a (pretend) remote peer process. */
START_TEST(unlink_pending_rules)
{
    cn_pid r = spawn(&rec_worker, NULL), x = remote_pid("peer@host", 21);
    pstate st;
    cast_pid_cmd(&r, "link", &x); /* remote: local half only */
    ck_assert(wait_state(&r, &st, active_is, 1));
    cast_unlink(&r, &x, 42);
    ck_assert(wait_state(&r, &st, links_are, 1));
    ck_assert_int_eq(st.pending, 1);

    /* Pending: an exit over the link is ignored, a LINK is ignored, a wrong ack too. */
    deliver_atom_sig(&r, CN_SIG_EXIT, &x, "boom");
    deliver_sig(&r, CN_SIG_LINK, &x, NULL, 0, NULL, 0);
    deliver_sig(&r, CN_SIG_UNLINK_ACK, &x, NULL, 0, NULL, 41);
    ck_assert_int_eq(get_state(&r, &st), 0);
    ck_assert(alive(&r));
    ck_assert_int_eq(st.active, 0);
    ck_assert_int_eq(st.pending, 1);

    /* The right ack removes it. */
    deliver_sig(&r, CN_SIG_UNLINK_ACK, &x, NULL, 0, NULL, 42);
    ck_assert(wait_state(&r, &st, links_are, 0));

    /* A peer's UNLINK_ID on an active link removes it (and is acked to the peer). */
    deliver_sig(&r, CN_SIG_LINK, &x, NULL, 0, NULL, 0);
    ck_assert(wait_state(&r, &st, active_is, 1));
    deliver_sig(&r, CN_SIG_UNLINK, &x, NULL, 0, NULL, 7);
    ck_assert(wait_state(&r, &st, links_are, 0));
    deliver_atom_sig(&r, CN_SIG_EXIT, &x, "boom");
    sync_with(&r);
    ck_assert(alive(&r));
}
END_TEST

START_TEST(link_to_dead_pid)
{
    cn_pid t = spawn(&trap_worker, NULL), d = dead_pid();
    pstate st;
    cast_pid_cmd(&t, "link", &d);
    ei_x_buff want;
    exit_term(&want, &d, "noproc");
    ck_assert(wait_info(&t, &want));
    ck_assert(wait_state(&t, &st, links_are, 0));
}
END_TEST

/* ---- monitors ----------------------------------------------------------------------- */

START_TEST(monitor_down)
{
    cn_pid w = spawn(&rec_worker, NULL), t = spawn(&rec_worker, NULL);
    cn_ref ref = cn_make_ref();
    pstate st;
    cast_monitor(&w, &t, &ref);
    ck_assert(wait_state(&t, &st, monitored_by_is, 1));
    cast_stop(&t, "boom");
    ei_x_buff want;
    down_term(&want, &ref, &t, "boom");
    ck_assert(wait_info(&w, &want));
    ck_assert(wait_state(&w, &st, monitors_is, 0));
    ck_assert(alive(&w)); /* a monitor is not a link */
}
END_TEST

START_TEST(monitor_dead_pid)
{
    cn_pid w = spawn(&rec_worker, NULL), d = dead_pid();
    cn_ref ref = cn_make_ref();
    pstate st;
    cast_monitor(&w, &d, &ref);
    ei_x_buff want;
    down_term(&want, &ref, &d, "noproc");
    ck_assert(wait_info(&w, &want));
    ck_assert(wait_state(&w, &st, monitors_is, 0));
}
END_TEST

START_TEST(demonitor)
{
    size_t base = cn_proc_count();
    cn_pid w = spawn(&rec_worker, NULL), t = spawn(&rec_worker, NULL);
    cn_ref r1 = cn_make_ref(), r2 = cn_make_ref();
    pstate st;
    cast_monitor(&w, &t, &r1);
    cast_monitor(&w, &t, &r2);
    ck_assert(wait_state(&t, &st, monitored_by_is, 2));
    cast_demonitor(&w, &r1);
    ck_assert(wait_state(&t, &st, monitored_by_is, 1));
    cast_stop(&t, "boom");
    ck_assert(wait_count(base + 1, WAIT_MS));
    ei_x_buff want;
    down_term(&want, &r2, &t, "boom");
    ck_assert(wait_info(&w, &want));
    sync_with(&w);
    ck_assert_uint_eq(count_entries(&w, E_INFO), 1); /* nothing for r1 */
}
END_TEST

/* Keep an idle process from running (its deliveries queue) until cn_proc_ready. */
static cn_proc *hold_idle(const cn_pid *pid)
{
    cn_proc *p = cn_proc_get(pid);
    ck_assert_ptr_nonnull(p);
    for (int t = 0; t < WAIT_MS; t += 2) {
        pthread_mutex_lock(&p->lock);
        if (p->sched == CN_S_IDLE) {
            p->sched = CN_S_RUNNING;
            pthread_mutex_unlock(&p->lock);
            return p;
        }
        pthread_mutex_unlock(&p->lock);
        sleep_ms(2);
    }
    ck_abort_msg("process never idle");
    return NULL;
}

static int wait_queued(cn_proc *p, uint32_t n)
{
    for (int t = 0; t < WAIT_MS; t += 2) {
        pthread_mutex_lock(&p->lock);
        uint32_t q = p->mq_len;
        pthread_mutex_unlock(&p->lock);
        if (q >= n)
            return 1;
        sleep_ms(2);
    }
    return 0;
}

/* A monitor still queued when the process dies arrived while it lived: the DOWN carries the
 * exit reason (as on the BEAM), not noproc; one taken back in the same queue owes nothing. */
START_TEST(queued_monitor_at_exit)
{
    cn_pid w = spawn(&rec_worker, NULL), t = spawn(&rec_worker, NULL), x = dead_pid();
    cn_ref r1 = cn_make_ref(), r2 = cn_make_ref();
    sync_with(&t);
    cn_proc *p = hold_idle(&t);
    deliver_atom_sig(&t, CN_SIG_EXIT2, &x, "kill");
    cast_monitor(&w, &t, &r1);
    cast_monitor(&w, &t, &r2);
    cast_demonitor(&w, &r2);
    ck_assert(wait_queued(p, 4)); /* kill, monitor, monitor, demonitor */
    cn_proc_ready(p);
    cn_proc_release(p);
    ei_x_buff want;
    down_term(&want, &r1, &t, "killed");
    ck_assert(wait_info(&w, &want));
    sync_with(&w);
    ck_assert_uint_eq(count_entries(&w, E_INFO), 1); /* nothing for r2 */
}
END_TEST

/* ---- node down ---------------------------------------------------------------------- */

START_TEST(nodedown)
{
    cn_pid x = remote_pid("peer@host", 31), y = remote_pid("peer@host", 32);
    cn_pid z = remote_pid("peer@host", 33), o = remote_pid("other@host", 34);
    cn_pid p = spawn(&rec_worker, NULL), p2 = spawn(&trap_worker, NULL);
    cn_pid p3 = spawn(&rec_worker, NULL), p4 = spawn(&rec_worker, NULL);
    cn_ref ry = cn_make_ref();
    cn_ref rz = {.node = z.node, .creation = 99, .len = 3, .n = {1, 2, 3}};
    pstate st;

    deliver_sig(&p, CN_SIG_LINK, &x, NULL, 0, NULL, 0);
    deliver_sig(&p2, CN_SIG_LINK, &x, NULL, 0, NULL, 0);
    deliver_sig(&p2, CN_SIG_LINK, &o, NULL, 0, NULL, 0);
    cast_monitor(&p3, &y, &ry);
    deliver_sig(&p4, CN_SIG_MONITOR, &z, NULL, 0, &rz, 0);
    ck_assert(wait_state(&p, &st, active_is, 1));
    ck_assert(wait_state(&p2, &st, active_is, 2));
    ck_assert(wait_state(&p3, &st, monitors_is, 1));
    ck_assert(wait_state(&p4, &st, monitored_by_is, 1));

    cn_proc_nodedown(x.node);

    /* Linked, not trapping: exits with noconnection. */
    ck_assert(wait_term(&p, "noconnection"));
    /* Linked, trapping: a message; the link to the other node stays. */
    ei_x_buff want;
    exit_term(&want, &x, "noconnection");
    ck_assert(wait_info(&p2, &want));
    ck_assert(wait_state(&p2, &st, active_is, 1));
    /* Monitoring: DOWN noconnection. */
    down_term(&want, &ry, &y, "noconnection");
    ck_assert(wait_info(&p3, &want));
    ck_assert(wait_state(&p3, &st, monitors_is, 0));
    /* Monitored from there: forgotten. */
    ck_assert(wait_state(&p4, &st, monitored_by_is, 0));
    ck_assert(alive(&p2));
    ck_assert(alive(&p3));
    ck_assert(alive(&p4));
    ck_assert(wait_dead(&p));
}
END_TEST

/* ---- shutdown ----------------------------------------------------------------------- */

START_TEST(shutdown_all)
{
    enum { N = 6 };
    cn_pid ps[N];
    for (int i = 0; i < N; i++)
        ps[i] = spawn(i % 2 ? &trap_worker : &rec_worker, NULL);
    cast_pid_cmd(&ps[0], "link", &ps[1]);
    ck_assert(wait_state(&ps[1], &(pstate){0}, active_is, 1));
    ck_assert_uint_eq(cn_proc_count(), N);
    ck_assert_int_eq(atomic_load(&live_states), live_base + N);
    cn_proc_shutdown_all();
    ck_assert(wait_count(0, 5000));
    for (int i = 0; i < N; i++)
        ck_assert_msg(wait_term(&ps[i], "shutdown"), "process %d: no terminate(shutdown)", i);
    ck_assert_int_eq(atomic_load(&live_states), live_base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pid_allocation);
    tcase_add_test(tc, process_limit);
    tcase_add_test(tc, spawn_failures);
    tcase_add_test(tc, register_whereis);
    tcase_add_test(tc, unregister_then_reuse);
    tcase_add_test(tc, mailbox_order);
    tcase_add_test(tc, send_to_dead);
    tcase_add_test(tc, gen_server_call_cast_info);
    tcase_add_test(tc, stop_reason_and_terminate);
    tcase_add_test(tc, link_exit2_normal_then_kill);
    tcase_add_test(tc, killed_worker_state_freed);
    tcase_add_test(tc, linked_dies_with_partner);
    tcase_add_test(tc, trap_exit_messages);
    tcase_add_test(tc, unlink_id_ack);
    tcase_add_test(tc, unlink_pending_rules);
    tcase_add_test(tc, link_to_dead_pid);
    tcase_add_test(tc, monitor_down);
    tcase_add_test(tc, monitor_dead_pid);
    tcase_add_test(tc, demonitor);
    tcase_add_test(tc, queued_monitor_at_exit);
    tcase_add_test(tc, nodedown);
    tcase_add_test(tc, shutdown_all);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

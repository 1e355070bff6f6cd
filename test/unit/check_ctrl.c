/* check_ctrl: unit tests for the control-message dispatcher (cn_ctrl_dispatch): received
 * control messages, built by hand as cn_dist_msg (one allocation; ctl and payload each with
 * a 131 version byte), routed to local processes; malformed ones refused with a reason.
 *
 * A recording test worker logs what it receives (infos, terminate, state dumps) under a
 * mutex + condvar, so tests wait (bounded) for what they expect. Sends that go back to the
 * peer (DOWN, acks, exits) find no connection and are dropped. */
#include "dist/ctrl.h"
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

enum { E_INFO = 1, E_TERM, E_STATE };

/* Wait for an entry (want == NULL: any of that kind); want is freed. */
static int wait_logged(const cn_pid *who, int kind, ei_x_buff *want)
{
    int r = wait_entry(who, kind, want, WAIT_MS);
    if (want)
        ei_x_free(want);
    return r;
}

/* ---- term building ------------------------------------------------------------------ */

static void atom_term(ei_x_buff *x, const char *a)
{
    x_new(x);
    x_atom(x, a);
}

/* ---- the recording worker ----------------------------------------------------------- */

typedef __typeof__(*((cn_proc *)0)->links) link_rec; /* whatever proc.h calls it */

static int w_init(cn_proc *self, const char *buf, int *index, void **state)
{
    (void)self;
    (void)buf;
    (void)index;
    *state = malloc(16); /* something for terminate to free, so leaks show */
    return *state ? 0 : -1;
}

static int trap_init(cn_proc *self, const char *buf, int *index, void **state)
{
    self->trap_exit = 1;
    return w_init(self, buf, index, state);
}

static int term_end(const char *buf, int start)
{
    int end = start;
    WCHECK(ei_skip_term(buf, &end) == 0);
    return end;
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
    cn_encode_pid(&x, &self->group_leader);
    log_add(&self->pid, E_STATE, x.buff, x.index);
    ei_x_free(&x);
}

/* Casts are commands run on the worker's own turn: {state, Tag}; {unlink, Pid, Id} (marks
 * the link pending, as cn_unlink would before sending UNLINK_ID); {monitor, Pid, Ref}
 * (records a monitor of a remote process, as if MONITOR_P had gone out). */
static int w_cast(cn_proc *self, void *state, const char *buf, int *index)
{
    (void)state;
    int idx = *index, arity;
    char cmd[MAXATOMLEN_UTF8];
    cn_pid pid;
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity < 2 ||
        ei_decode_atom(buf, &idx, cmd) < 0)
        return CN_NOREPLY;
    if (strcmp(cmd, "state") == 0) {
        long tag;
        WCHECK(ei_decode_long(buf, &idx, &tag) == 0);
        dump_state(self, tag);
    } else if (strcmp(cmd, "unlink") == 0) {
        unsigned long long id;
        WCHECK(cn_decode_pid(buf, &idx, &pid) == 0);
        WCHECK(ei_decode_ulonglong(buf, &idx, &id) == 0);
        for (link_rec *l = self->links; l; l = l->next)
            if (cn_pid_eq(&l->pid, &pid) && l->unlink_id == 0)
                l->unlink_id = id;
    } else if (strcmp(cmd, "monitor") == 0) {
        cn_mon *m = calloc(1, sizeof *m);
        WCHECK(cn_decode_pid(buf, &idx, &m->pid) == 0);
        WCHECK(cn_decode_ref(buf, &idx, &m->ref) == 0);
        cn_mon_push(self, CN_PL_MONITORS, m);
    }
    return CN_NOREPLY;
}

static int w_info(cn_proc *self, void *state, const char *buf, int *index)
{
    (void)state;
    int start = *index;
    log_add(&self->pid, E_INFO, buf + start, term_end(buf, start) - start);
    return CN_NOREPLY;
}

static void w_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    log_add(&self->pid, E_TERM, reason, len);
    free(state);
}

static const cn_worker rec_worker = {.module = "rec",
                                     .init = w_init,
                                     .handle_cast = w_cast,
                                     .handle_info = w_info,
                                     .terminate = w_terminate};
static const cn_worker trap_worker = {.module = "trap",
                                      .init = trap_init,
                                      .handle_cast = w_cast,
                                      .handle_info = w_info,
                                      .terminate = w_terminate};

static cn_pid spawn(const cn_worker *w, const char *name)
{
    cn_pid pid;
    ck_assert_int_eq(cn_spawn_worker(w, NULL, 0, name, &pid), 0);
    return pid;
}

static void cast_x(const cn_pid *to, ei_x_buff *term)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 2);
    x_atom(&x, "$gen_cast");
    ck_assert_int_eq(ei_x_append_buf(&x, term->buff, term->index), 0);
    ck_assert_int_eq(cn_send(NULL, to, x.buff, x.index), 0);
    ei_x_free(&x);
    ei_x_free(term);
}

typedef struct pstate {
    long active, pending, monitors, monitored_by;
    cn_pid group_leader;
} pstate;

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
    int found = 0;
    pthread_mutex_lock(&log_lock);
    for (;;) {
        for (size_t i = 0; i < log_n && !found; i++) {
            entry *e = &log_e[i];
            int idx = 0, arity;
            long t;
            if (e->kind != E_STATE || !cn_pid_eq(&e->who, pid) ||
                ei_decode_tuple_header(e->data, &idx, &arity) < 0 ||
                ei_decode_long(e->data, &idx, &t) < 0 || t != tag)
                continue;
            ei_decode_long(e->data, &idx, &st->active);
            ei_decode_long(e->data, &idx, &st->pending);
            ei_decode_long(e->data, &idx, &st->monitors);
            ei_decode_long(e->data, &idx, &st->monitored_by);
            cn_decode_pid(e->data, &idx, &st->group_leader);
            found = 1;
        }
        if (found || pthread_cond_timedwait(&log_cond, &log_lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&log_lock);
    return found ? 0 : -1;
}

static void sync_with(const cn_pid *pid)
{
    pstate st;
    ck_assert_int_eq(get_state(pid, &st), 0);
}

/* ---- control messages --------------------------------------------------------------- */

static char err[256];
static uint32_t peer;
static cn_pid X, Y; /* processes on the peer */

/* A received message as rx hands it over: one allocation, ctl (and payload) each with a
 * version byte; `trailing` bytes follow ctl inside the storage without being part of it. */
static cn_dist_msg mk_full(const ei_x_buff *ctl, const ei_x_buff *payload, const char *trailing,
                           int tlen)
{
    size_t cl = 1 + (size_t)ctl->index;
    size_t pl = payload ? 1 + (size_t)payload->index : 0;
    cn_dist_msg m = {0};
    /* as rx: room for the receiver's record in front (not with the hostile trailing bytes,
     * which also covers messages without room) */
    m.room = tlen ? 0 : CN_RX_ROOM;
    m.storage = malloc(m.room + cl + (size_t)tlen + pl);
    ck_assert_ptr_nonnull(m.storage);
    m.ctl = m.storage + m.room;
    m.ctl[0] = 131;
    memcpy(m.ctl + 1, ctl->buff, (size_t)ctl->index);
    m.ctl_len = cl;
    if (tlen)
        memcpy(m.ctl + cl, trailing, (size_t)tlen);
    if (payload) {
        m.payload = m.ctl + cl + tlen;
        m.payload[0] = 131;
        memcpy(m.payload + 1, payload->buff, (size_t)payload->index);
        m.payload_len = pl;
    }
    return m;
}

/* Dispatch ctl (+ payload); both ei_x buffers are freed. */
static int dispatch(ei_x_buff *ctl, ei_x_buff *payload)
{
    cn_dist_msg m = mk_full(ctl, payload, NULL, 0);
    ei_x_free(ctl);
    if (payload)
        ei_x_free(payload);
    err[0] = '\0';
    int r = cn_ctrl_dispatch(peer, &m, err, sizeof err);
    cn_ctrl_flush(); /* as the connection does after each read */
    return r;
}

static int dispatch_raw(const char *ctl, size_t len)
{
    cn_dist_msg m = {0};
    m.storage = malloc(len);
    memcpy(m.storage, ctl, len);
    m.ctl = m.storage;
    m.ctl_len = len;
    err[0] = '\0';
    int r = cn_ctrl_dispatch(peer, &m, err, sizeof err);
    cn_ctrl_flush();
    return r;
}

static void ctl_begin(ei_x_buff *x, int arity, long op)
{
    x_new(x);
    x_tuple(x, arity);
    x_long(x, op);
}

static int send_pid_pair(long op, const cn_pid *from, const cn_pid *to)
{
    ei_x_buff c;
    ctl_begin(&c, 3, op);
    x_pid(&c, from);
    x_pid(&c, to);
    return dispatch(&c, NULL);
}

static int send_exit(long op, const cn_pid *from, const cn_pid *to, const char *reason)
{
    ei_x_buff c;
    ctl_begin(&c, 4, op);
    x_pid(&c, from);
    x_pid(&c, to);
    x_atom(&c, reason);
    return dispatch(&c, NULL);
}

static int send_payload_exit(long op, const cn_pid *from, const cn_pid *to, const char *reason)
{
    ei_x_buff c, p;
    ctl_begin(&c, 3, op);
    x_pid(&c, from);
    x_pid(&c, to);
    atom_term(&p, reason);
    return dispatch(&c, &p);
}

static int send_unlink_id(long op, unsigned long long id, const cn_pid *from, const cn_pid *to)
{
    ei_x_buff c;
    ctl_begin(&c, 4, op);
    ck_assert_int_eq(ei_x_encode_ulonglong(&c, id), 0);
    x_pid(&c, from);
    x_pid(&c, to);
    return dispatch(&c, NULL);
}

static int wait_term(const cn_pid *who, const char *reason)
{
    ei_x_buff x;
    atom_term(&x, reason);
    return wait_logged(who, E_TERM, &x);
}

static int wait_info_atom(const cn_pid *who, const char *a)
{
    ei_x_buff x;
    atom_term(&x, a);
    return wait_logged(who, E_INFO, &x);
}

static int wait_exit_msg(const cn_pid *who, const cn_pid *from, const char *reason)
{
    ei_x_buff x;
    x_new(&x);
    x_tuple(&x, 3);
    x_atom(&x, "EXIT");
    x_pid(&x, from);
    x_atom(&x, reason);
    return wait_logged(who, E_INFO, &x);
}

static int wait_links(const cn_pid *pid, long active, long pending)
{
    pstate st = {0};
    for (int t = 0; t < WAIT_MS; t += 5) {
        if (get_state(pid, &st) < 0)
            return 0;
        if (st.active == active && st.pending == pending)
            return 1;
        sleep_ms(5);
    }
    return 0;
}

static int wait_monitored_by(const cn_pid *pid, long n)
{
    pstate st = {0};
    for (int t = 0; t < WAIT_MS; t += 5) {
        if (get_state(pid, &st) < 0)
            return 0;
        if (st.monitored_by == n)
            return 1;
        sleep_ms(5);
    }
    return 0;
}

/* ---- fixture ------------------------------------------------------------------------ */

static int started;

static void setup(void)
{
    if (!started) { /* once per process: each forked test, or once with CK_FORK=no */
        cn_log_level = CN_LOG_ERROR;
        ei_init();
        cn_ident_init("t@host", CREATION);
        ck_assert_int_eq(cn_loop_init(), 0);
        ck_assert_int_eq(cn_ptab_init(1024), 0);
        ck_assert_int_eq(cn_sched_start(2), 0);
        long n = cn_node_intern("peer@host", 9);
        ck_assert_int_gt(n, 0);
        peer = (uint32_t)n;
        X = (cn_pid){.node = peer, .id = 50, .serial = 0, .creation = 7};
        Y = (cn_pid){.node = peer, .id = 51, .serial = 0, .creation = 7};
        started = 1;
    }
    ck_assert(wait_count(0, WAIT_MS));
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

/* ---- sends -------------------------------------------------------------------------- */

START_TEST(send_forms)
{
    cn_pid w = spawn(&rec_worker, NULL), n = spawn(&rec_worker, "named");
    ei_x_buff c, p;

    /* SEND {2, '', To} */
    ctl_begin(&c, 3, 2);
    x_atom(&c, "");
    x_pid(&c, &w);
    atom_term(&p, "m_send");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_info_atom(&w, "m_send"));

    /* SEND_TT {12, '', To, Token} */
    ctl_begin(&c, 4, 12);
    x_atom(&c, "");
    x_pid(&c, &w);
    x_atom(&c, "token");
    atom_term(&p, "m_send_tt");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_info_atom(&w, "m_send_tt"));

    /* SEND_SENDER {22, From, To} */
    ctl_begin(&c, 3, 22);
    x_pid(&c, &X);
    x_pid(&c, &w);
    atom_term(&p, "m_send_sender");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_info_atom(&w, "m_send_sender"));

    /* SEND_SENDER_TT {23, From, To, Token} */
    ctl_begin(&c, 4, 23);
    x_pid(&c, &X);
    x_pid(&c, &w);
    x_atom(&c, "token");
    atom_term(&p, "m_send_sender_tt");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_info_atom(&w, "m_send_sender_tt"));

    /* REG_SEND {6, From, '', Name} */
    ctl_begin(&c, 4, 6);
    x_pid(&c, &X);
    x_atom(&c, "");
    x_atom(&c, "named");
    atom_term(&p, "m_reg_send");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_info_atom(&n, "m_reg_send"));

    /* REG_SEND_TT {16, From, '', Name, Token} */
    ctl_begin(&c, 5, 16);
    x_pid(&c, &X);
    x_atom(&c, "");
    x_atom(&c, "named");
    x_atom(&c, "token");
    atom_term(&p, "m_reg_send_tt");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_info_atom(&n, "m_reg_send_tt"));

    /* A bigger message arrives intact. */
    x_new(&p);
    ck_assert_int_eq(ei_x_encode_list_header(&p, 1000), 0);
    for (int i = 0; i < 1000; i++)
        x_long(&p, i * 1000);
    ck_assert_int_eq(ei_x_encode_empty_list(&p), 0);
    ei_x_buff want;
    x_new(&want);
    ck_assert_int_eq(ei_x_append_buf(&want, p.buff, p.index), 0);
    ctl_begin(&c, 3, 2);
    x_atom(&c, "");
    x_pid(&c, &w);
    ck_assert_int_eq(dispatch(&c, &p), 0);
    ck_assert(wait_logged(&w, E_INFO, &want));

    ck_assert_uint_eq(count_entries(&w, E_INFO), 5);
    ck_assert_uint_eq(count_entries(&n, E_INFO), 2);
}
END_TEST

/* Sends to nobody are dropped without an error (PROTOCOL.md §4.2). */
START_TEST(send_to_nobody)
{
    ei_x_buff c, p;
    ctl_begin(&c, 4, 6);
    x_pid(&c, &X);
    x_atom(&c, "");
    x_atom(&c, "nobody_here");
    atom_term(&p, "lost");
    ck_assert_int_eq(dispatch(&c, &p), 0);

    /* A dead local pid. */
    cn_pid d = spawn(&rec_worker, NULL);
    cn_proc_shutdown_all();
    ck_assert(wait_count(0, WAIT_MS));
    ctl_begin(&c, 3, 2);
    x_atom(&c, "");
    x_pid(&c, &d);
    atom_term(&p, "lost");
    ck_assert_int_eq(dispatch(&c, &p), 0);

    /* A pid of this node with another creation (an older incarnation). */
    cn_pid w = spawn(&rec_worker, NULL), old = w;
    old.creation = CREATION - 1;
    ctl_begin(&c, 3, 2);
    x_atom(&c, "");
    x_pid(&c, &old);
    atom_term(&p, "lost");
    ck_assert_int_eq(dispatch(&c, &p), 0);

    /* A pid of another node (not ours to deliver). */
    ctl_begin(&c, 3, 22);
    x_pid(&c, &X);
    x_pid(&c, &Y);
    atom_term(&p, "lost");
    ck_assert_int_eq(dispatch(&c, &p), 0);
    sync_with(&w);
    ck_assert_uint_eq(count_entries(&w, E_INFO), 0);
}
END_TEST

START_TEST(unknown_ops_dropped)
{
    ei_x_buff c;
    ctl_begin(&c, 3, 99);
    x_pid(&c, &X);
    x_atom(&c, "x");
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    ctl_begin(&c, 1, 5); /* NODE_LINK, ancient */
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    /* ALIAS_SEND to an alias nobody has: dropped. */
    cn_ref alias = cn_make_ref();
    ei_x_buff p;
    ctl_begin(&c, 3, 33);
    x_pid(&c, &X);
    x_ref(&c, &alias);
    atom_term(&p, "lost");
    ck_assert_int_eq(dispatch(&c, &p), 0);
}
END_TEST

/* ---- malformed ---------------------------------------------------------------------- */

#define ASSERT_BAD(expr)                                                                           \
    do {                                                                                           \
        ck_assert_int_eq((expr), -1);                                                              \
        ck_assert_msg(err[0] != '\0', "no reason given for a refused control message");            \
    } while (0)

START_TEST(malformed)
{
    cn_pid w = spawn(&rec_worker, NULL);
    ei_x_buff c, p;

    /* Not a tuple; the empty tuple; an op that is not an integer. */
    atom_term(&c, "hello");
    ASSERT_BAD(dispatch(&c, NULL));
    x_new(&c);
    x_tuple(&c, 0);
    ASSERT_BAD(dispatch(&c, NULL));
    x_new(&c);
    x_tuple(&c, 3);
    x_atom(&c, "link");
    x_pid(&c, &X);
    x_pid(&c, &w);
    ASSERT_BAD(dispatch(&c, NULL));
    /* No version byte. */
    ASSERT_BAD(dispatch_raw("\x68\x01\x61\x01", 4));

    /* A bad pid field. */
    ctl_begin(&c, 3, 1);
    x_long(&c, 123);
    x_pid(&c, &w);
    ASSERT_BAD(dispatch(&c, NULL));
    ctl_begin(&c, 3, 22);
    x_pid(&c, &X);
    x_atom(&c, "not_a_pid");
    atom_term(&p, "m");
    ASSERT_BAD(dispatch(&c, &p));

    /* SEND without its payload. */
    ctl_begin(&c, 3, 2);
    x_atom(&c, "");
    x_pid(&c, &w);
    ASSERT_BAD(dispatch(&c, NULL));
    ctl_begin(&c, 4, 6);
    x_pid(&c, &X);
    x_atom(&c, "");
    x_atom(&c, "somebody");
    ASSERT_BAD(dispatch(&c, NULL));

    /* REG_SEND with a name that is not an atom. */
    ctl_begin(&c, 4, 6);
    x_pid(&c, &X);
    x_atom(&c, "");
    x_long(&c, 7);
    atom_term(&p, "m");
    ASSERT_BAD(dispatch(&c, &p));

    /* PAYLOAD_EXIT without the reason payload, or with an empty one. */
    ctl_begin(&c, 3, 24);
    x_pid(&c, &X);
    x_pid(&c, &w);
    ASSERT_BAD(dispatch(&c, NULL));
    ctl_begin(&c, 3, 24);
    x_pid(&c, &X);
    x_pid(&c, &w);
    x_new(&p); /* payload = the version byte alone */
    ASSERT_BAD(dispatch(&c, &p));

    /* UNLINK_ID whose id is not an integer; MONITOR_P whose ref is not a ref. */
    ctl_begin(&c, 4, 35);
    x_atom(&c, "id");
    x_pid(&c, &X);
    x_pid(&c, &w);
    ASSERT_BAD(dispatch(&c, NULL));
    ctl_begin(&c, 4, 19);
    x_pid(&c, &X);
    x_pid(&c, &w);
    x_long(&c, 1);
    ASSERT_BAD(dispatch(&c, NULL));

    /* A control term cut short (ei decoding fails): the bytes after the cut are zero, which
     * no term starts with. */
    ctl_begin(&c, 3, 2);
    x_atom(&c, "");
    x_pid(&c, &w);
    int cut = 4; /* 131, 'h', 3, 'a', 2 | ... */
    char *buf = calloc(1, (size_t)c.index + 1);
    buf[0] = (char)131;
    memcpy(buf + 1, c.buff, (size_t)cut);
    ei_x_free(&c);
    cn_dist_msg m = {.storage = (uint8_t *)buf, .ctl = (uint8_t *)buf, .ctl_len = (size_t)cut + 1};
    err[0] = '\0';
    ASSERT_BAD(cn_ctrl_dispatch(peer, &m, err, sizeof err));

    sync_with(&w);
    ck_assert(alive(&w));
    ck_assert_uint_eq(count_entries(&w, E_INFO), 0);
}
END_TEST

/* EXIT {3, From, To} without its reason, in an allocation that ends with the control term
 * (as rx hands over a frame without payload): refused, and nothing read past the end
 * (ASan reports a heap overflow otherwise). */
START_TEST(exit_missing_reason)
{
    cn_pid w = spawn(&rec_worker, NULL);
    ei_x_buff c;
    ctl_begin(&c, 3, 3);
    x_pid(&c, &X);
    x_pid(&c, &w);
    ASSERT_BAD(dispatch(&c, NULL));
    ctl_begin(&c, 4, 13); /* EXIT_TT without reason */
    x_pid(&c, &X);
    x_pid(&c, &w);
    x_atom(&c, "token");
    ASSERT_BAD(dispatch(&c, NULL));
    ck_assert(alive(&w));
}
END_TEST

/* The same for every operation: a tuple shorter than the operation's must be refused from
 * its arity, never by decoding whatever follows the control term. Here the bytes after the
 * control term would decode as the missing element, so a dispatcher that reads past the
 * tuple accepts them (and, for EXIT, kills a linked process). */
START_TEST(short_tuples_refused)
{
    cn_pid w = spawn(&rec_worker, NULL);
    ck_assert_int_eq(send_pid_pair(1, &X, &w), 0); /* LINK */
    ck_assert(wait_links(&w, 1, 0));

    ei_x_buff tail_pid, tail_atom, tail_ref;
    x_new(&tail_pid);
    x_pid(&tail_pid, &w);
    x_new(&tail_atom);
    x_atom(&tail_atom, "boom");
    cn_ref ref = {.node = peer, .creation = 7, .len = 3, .n = {1, 2, 3}};
    x_new(&tail_ref);
    x_ref(&tail_ref, &ref);

    struct {
        const char *what;
        long op;
        int arity; /* of the short tuple */
        ei_x_buff *tail;
    } cases[] = {
        {"LINK {1, From}", 1, 2, &tail_pid},
        {"EXIT {3, From, To}", 3, 3, &tail_atom},
        {"EXIT2 {8, From, To}", 8, 3, &tail_atom},
        {"UNLINK_ID {35, Id, From}", 35, 3, &tail_pid},
        {"MONITOR_P {19, From, To}", 19, 3, &tail_ref},
        {"GROUP_LEADER {7, From}", 7, 2, &tail_pid},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ei_x_buff c;
        ctl_begin(&c, cases[i].arity, cases[i].op);
        if (cases[i].op == 35)
            ck_assert_int_eq(ei_x_encode_ulonglong(&c, 9), 0);
        x_pid(&c, &X);
        if (cases[i].arity == 3 && cases[i].op != 35)
            x_pid(&c, &w);
        cn_dist_msg m = mk_full(&c, NULL, cases[i].tail->buff, cases[i].tail->index);
        ei_x_free(&c);
        err[0] = '\0';
        int r = cn_ctrl_dispatch(peer, &m, err, sizeof err);
        ck_assert_msg(r == -1, "%s accepted (read past the control term)", cases[i].what);
    }
    ei_x_free(&tail_pid);
    ei_x_free(&tail_atom);
    ei_x_free(&tail_ref);
    sync_with(&w);
    ck_assert(alive(&w));
}
END_TEST

/* ---- links and exits ---------------------------------------------------------------- */

/* SPAWN_REQUEST {29, ReqId, From, GL, {M, F, A}, Opts} + Args: every malformed shape is
 * refused with a reason, and nothing is started. */
START_TEST(spawn_request_malformed)
{
    cn_ref req = {.node = peer, .creation = 7, .len = 3, .n = {4, 5, 6}};
    size_t before = cn_proc_count();
    for (int i = 0; i < 6; i++) {
        ei_x_buff c, a;
        ctl_begin(&c, 6, 29);
        if (i == 0)
            x_atom(&c, "not_a_ref");
        else
            x_ref(&c, &req);
        x_pid(&c, &X);
        x_pid(&c, &X);
        if (i == 1) { /* {M, F} instead of {M, F, A} */
            x_tuple(&c, 2);
            x_atom(&c, "kv");
            x_atom(&c, "start");
        } else {
            x_tuple(&c, 3);
            x_atom(&c, "kv");
            if (i == 2)
                x_long(&c, 1); /* F not an atom */
            else
                x_atom(&c, "start");
            x_long(&c, 0);
        }
        if (i == 3)
            x_atom(&c, "monitor"); /* options not a list */
        else
            ck_assert_int_eq(ei_x_encode_empty_list(&c), 0);
        x_new(&a);
        ck_assert_int_eq(ei_x_encode_empty_list(&a), 0);
        int r;
        if (i == 4) { /* no argument list */
            ei_x_free(&a);
            r = dispatch(&c, NULL);
        } else if (i == 5) { /* a control tuple one element short */
            ei_x_free(&c);
            ctl_begin(&c, 5, 29);
            x_ref(&c, &req);
            x_pid(&c, &X);
            x_pid(&c, &X);
            x_tuple(&c, 3);
            x_atom(&c, "kv");
            x_atom(&c, "start");
            x_long(&c, 0);
            r = dispatch(&c, &a);
        } else {
            r = dispatch(&c, &a);
        }
        ck_assert_msg(r == -1, "malformed spawn request %d accepted", i);
        ck_assert_msg(err[0] != '\0', "no reason for malformed spawn request %d", i);
    }
    ck_assert_uint_eq(cn_proc_count(), before);
}
END_TEST

START_TEST(link_then_exit)
{
    cn_pid a = spawn(&rec_worker, NULL), b = spawn(&rec_worker, NULL);
    cn_pid c = spawn(&rec_worker, NULL), d = spawn(&rec_worker, NULL);
    ck_assert_int_eq(send_pid_pair(1, &X, &a), 0);
    ck_assert_int_eq(send_pid_pair(1, &X, &b), 0);
    ck_assert_int_eq(send_pid_pair(1, &X, &c), 0);
    ck_assert(wait_links(&a, 1, 0));
    ck_assert(wait_links(&b, 1, 0));
    ck_assert(wait_links(&c, 1, 0));
    ck_assert_int_eq(send_pid_pair(1, &X, &a), 0); /* a second LINK: still one link */
    ck_assert(wait_links(&a, 1, 0));

    /* EXIT normal over a link: ignored, the link is gone. */
    ck_assert_int_eq(send_exit(3, &X, &a, "normal"), 0);
    ck_assert(wait_links(&a, 0, 0));
    ck_assert(alive(&a));
    /* EXIT without a link: ignored. */
    ck_assert_int_eq(send_exit(3, &X, &d, "boom"), 0);
    sync_with(&d);
    ck_assert(alive(&d));

    /* EXIT, PAYLOAD_EXIT, EXIT_TT with an abnormal reason: the linked process dies with it. */
    ck_assert_int_eq(send_exit(3, &X, &a, "late"), 0); /* link already gone */
    ck_assert_int_eq(send_payload_exit(24, &X, &b, "boom_payload"), 0);
    ei_x_buff e;
    ctl_begin(&e, 5, 13);
    x_pid(&e, &X);
    x_pid(&e, &c);
    x_atom(&e, "token");
    x_atom(&e, "boom_tt");
    ck_assert_int_eq(dispatch(&e, NULL), 0);
    ck_assert(wait_term(&b, "boom_payload"));
    ck_assert(wait_term(&c, "boom_tt"));
    sync_with(&a);
    ck_assert(alive(&a));
    ck_assert(alive(&d));
}
END_TEST

START_TEST(link_exit_trapped)
{
    cn_pid t = spawn(&trap_worker, NULL);
    ck_assert_int_eq(send_pid_pair(1, &X, &t), 0);
    ck_assert(wait_links(&t, 1, 0));
    ck_assert_int_eq(send_exit(3, &X, &t, "boom"), 0);
    ck_assert(wait_exit_msg(&t, &X, "boom"));
    ck_assert(wait_links(&t, 0, 0));

    /* PAYLOAD_EXIT2 / EXIT2 (exit/2) to a trapping process: messages. */
    ck_assert_int_eq(send_payload_exit(26, &Y, &t, "x2_payload"), 0);
    ck_assert(wait_exit_msg(&t, &Y, "x2_payload"));
    ck_assert_int_eq(send_exit(8, &Y, &t, "normal"), 0);
    ck_assert(wait_exit_msg(&t, &Y, "normal"));
    ck_assert(alive(&t));
}
END_TEST

START_TEST(exit2_forms)
{
    cn_pid a = spawn(&rec_worker, NULL), b = spawn(&rec_worker, NULL);
    /* exit(A, normal): ignored when not trapping. */
    ck_assert_int_eq(send_exit(8, &X, &a, "normal"), 0);
    ck_assert_int_eq(send_payload_exit(26, &X, &a, "normal"), 0);
    sync_with(&a);
    ck_assert(alive(&a));
    /* Any other reason kills, link or not. */
    ck_assert_int_eq(send_exit(8, &X, &a, "bye"), 0);
    ck_assert(wait_term(&a, "bye"));
    ei_x_buff c;
    ctl_begin(&c, 5, 18); /* EXIT2_TT */
    x_pid(&c, &X);
    x_pid(&c, &b);
    x_atom(&c, "token");
    x_atom(&c, "bye_tt");
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    ck_assert(wait_term(&b, "bye_tt"));
}
END_TEST

START_TEST(unlink_forms)
{
    cn_pid a = spawn(&rec_worker, NULL), b = spawn(&rec_worker, NULL);
    cn_pid c = spawn(&rec_worker, NULL);
    ck_assert_int_eq(send_pid_pair(1, &X, &a), 0);
    ck_assert_int_eq(send_pid_pair(1, &X, &b), 0);
    ck_assert_int_eq(send_pid_pair(1, &X, &c), 0);
    ck_assert(wait_links(&a, 1, 0));
    ck_assert(wait_links(&b, 1, 0));
    ck_assert(wait_links(&c, 1, 0));

    /* UNLINK_ID from the peer: the link goes (the ack goes back to the peer: dropped here,
     * no connection). A later EXIT finds no link. */
    ck_assert_int_eq(send_unlink_id(35, 77, &X, &a), 0);
    ck_assert(wait_links(&a, 0, 0));
    ck_assert_int_eq(send_exit(3, &X, &a, "boom"), 0);
    sync_with(&a);
    ck_assert(alive(&a));

    /* Old UNLINK {4, From, To}. */
    ck_assert_int_eq(send_pid_pair(4, &X, &b), 0);
    ck_assert(wait_links(&b, 0, 0));

    /* UNLINK_ID_ACK for our own pending unlink: only the matching id removes it; while it
     * is pending, exits over the link are ignored. */
    ei_x_buff u;
    x_new(&u);
    x_tuple(&u, 3);
    x_atom(&u, "unlink");
    x_pid(&u, &X);
    ck_assert_int_eq(ei_x_encode_ulonglong(&u, 5), 0);
    cast_x(&c, &u);
    ck_assert(wait_links(&c, 0, 1));
    ck_assert_int_eq(send_exit(3, &X, &c, "boom"), 0);
    ck_assert_int_eq(send_unlink_id(36, 4, &X, &c), 0);
    ck_assert(wait_links(&c, 0, 1));
    ck_assert(alive(&c));
    ck_assert_int_eq(send_unlink_id(36, 5, &X, &c), 0);
    ck_assert(wait_links(&c, 0, 0));

    /* An UNLINK_ID with a 64-bit id, to a process that has no link: acked, harmless. */
    ck_assert_int_eq(send_unlink_id(35, 0xfedcba9876543210ull, &X, &c), 0);
    /* ... and to a dead pid. */
    cn_pid gone = a;
    gone.serial ^= 1;
    ck_assert_int_eq(send_unlink_id(35, 1, &X, &gone), 0);
    sync_with(&c);
    ck_assert(alive(&c));
}
END_TEST

START_TEST(link_to_dead_pid)
{
    cn_pid gone = spawn(&rec_worker, NULL);
    cn_proc_shutdown_all();
    ck_assert(wait_count(0, WAIT_MS));
    /* The runtime answers with an exit noproc to the peer (dropped: no connection). */
    ck_assert_int_eq(send_pid_pair(1, &X, &gone), 0);
    ck_assert_int_eq(send_exit(3, &X, &gone, "boom"), 0);
}
END_TEST

START_TEST(group_leader)
{
    cn_pid w = spawn(&rec_worker, NULL);
    ck_assert_int_eq(send_pid_pair(7, &X, &w), 0);
    pstate st;
    for (int t = 0; t < WAIT_MS; t += 5) {
        ck_assert_int_eq(get_state(&w, &st), 0);
        if (cn_pid_eq(&st.group_leader, &X))
            break;
        sleep_ms(5);
    }
    ck_assert(cn_pid_eq(&st.group_leader, &X));
}
END_TEST

/* ---- monitors ----------------------------------------------------------------------- */

static int send_monitor(long op, const cn_pid *from, const cn_pid *to, const char *name,
                        const cn_ref *ref)
{
    ei_x_buff c;
    ctl_begin(&c, 4, op);
    x_pid(&c, from);
    if (name)
        x_atom(&c, name);
    else
        x_pid(&c, to);
    x_ref(&c, ref);
    return dispatch(&c, NULL);
}

START_TEST(monitor_by_name_then_exit)
{
    cn_pid w = spawn(&rec_worker, "watched");
    cn_ref r1 = {.node = peer, .creation = 7, .len = 3, .n = {11, 0, 0}};
    cn_ref r2 = {.node = peer, .creation = 7, .len = 3, .n = {12, 0, 0}};
    ck_assert_int_eq(send_monitor(19, &X, NULL, "watched", &r1), 0);
    ck_assert_int_eq(send_monitor(19, &Y, &w, NULL, &r2), 0);
    ck_assert(wait_monitored_by(&w, 2));
    /* The target exits: the DOWNs go to the remote watchers (no connection: dropped). */
    cn_proc_shutdown_all();
    ck_assert(wait_term(&w, "shutdown"));
    ck_assert(wait_count(0, WAIT_MS));
    cn_pid x;
    ck_assert_int_eq(cn_whereis("watched", &x), -1);
}
END_TEST

START_TEST(monitor_nobody)
{
    cn_ref r = {.node = peer, .creation = 7, .len = 3, .n = {13, 0, 0}};
    /* No such name: DOWN noproc at once (to the peer: dropped). */
    ck_assert_int_eq(send_monitor(19, &X, NULL, "nobody", &r), 0);
    ck_assert_int_eq(send_monitor(20, &X, NULL, "nobody", &r), 0);
    /* A dead pid. */
    cn_pid gone = spawn(&rec_worker, NULL);
    cn_proc_shutdown_all();
    ck_assert(wait_count(0, WAIT_MS));
    ck_assert_int_eq(send_monitor(19, &X, &gone, NULL, &r), 0);
    ck_assert_int_eq(send_monitor(20, &X, &gone, NULL, &r), 0);
}
END_TEST

START_TEST(demonitor)
{
    cn_pid w = spawn(&rec_worker, "dm");
    cn_ref r1 = {.node = peer, .creation = 7, .len = 3, .n = {21, 0, 0}};
    cn_ref r2 = {.node = peer, .creation = 7, .len = 3, .n = {22, 0, 0}};
    ck_assert_int_eq(send_monitor(19, &X, &w, NULL, &r1), 0);
    ck_assert_int_eq(send_monitor(19, &X, NULL, "dm", &r2), 0);
    ck_assert(wait_monitored_by(&w, 2));
    ck_assert_int_eq(send_monitor(20, &X, &w, NULL, &r1), 0);
    ck_assert(wait_monitored_by(&w, 1));
    ck_assert_int_eq(send_monitor(20, &X, NULL, "dm", &r2), 0);
    ck_assert(wait_monitored_by(&w, 0));
}
END_TEST

/* Links, unlinks, exits and monitors whose sender is a process of another node than the
 * peer's are refused (the BEAM's invalid_message): none is applied, and the connection
 * closes. Messages may name any sender. */
START_TEST(signals_from_other_nodes_refused)
{
    cn_pid w = spawn(&rec_worker, "other"), t = spawn(&trap_worker, NULL);
    long n = cn_node_intern("third@host", 10);
    ck_assert_int_gt(n, 0);
    cn_pid Z = {.node = (uint32_t)n, .id = 60, .serial = 0, .creation = 9};
    cn_ref r = {.node = peer, .creation = 7, .len = 3, .n = {31, 0, 0}};
    ck_assert_int_eq(send_pid_pair(1, &Z, &w), -1); /* LINK */
    ck_assert_ptr_nonnull(strstr(err, "not a process of the peer"));
    ck_assert_int_eq(send_exit(3, &Z, &t, "boom"), -1);       /* EXIT */
    ck_assert_int_eq(send_exit(8, &Z, &t, "kill"), -1);       /* EXIT2 */
    ck_assert_int_eq(send_payload_exit(24, &Z, &t, "x"), -1); /* PAYLOAD_EXIT */
    ck_assert_int_eq(send_monitor(19, &Z, &w, NULL, &r), -1);
    ck_assert_ptr_nonnull(strstr(err, "watcher is not a process of the peer"));
    ck_assert_int_eq(send_monitor(19, &Z, NULL, "other", &r), -1);
    ck_assert_int_eq(send_monitor(20, &Z, NULL, "other", &r), -1);
    /* the same from the peer's own process are applied */
    ck_assert_int_eq(send_monitor(19, &X, NULL, "other", &r), 0);
    ck_assert(wait_monitored_by(&w, 1));
    ck_assert(wait_links(&w, 0, 0));
    sync_with(&t);
    ck_assert(alive(&t));
    /* a message may come from anyone's process */
    ck_assert_int_eq(send_pid_pair(22, &Z, &w), -1); /* SEND_SENDER without a payload... */
    ck_assert_ptr_null(strstr(err, "not a process of the peer")); /* ...refused for that */
}
END_TEST

/* MONITOR_P_EXIT / PAYLOAD_MONITOR_P_EXIT: a remote process one of ours monitors is gone. */
START_TEST(monitor_exit_in)
{
    cn_pid w = spawn(&rec_worker, NULL);
    cn_ref r1 = cn_make_ref(), r2 = cn_make_ref();
    ei_x_buff c, p;
    x_new(&c);
    x_tuple(&c, 3);
    x_atom(&c, "monitor");
    x_pid(&c, &X);
    x_ref(&c, &r1);
    cast_x(&w, &c);
    x_new(&c);
    x_tuple(&c, 3);
    x_atom(&c, "monitor");
    x_pid(&c, &Y);
    x_ref(&c, &r2);
    cast_x(&w, &c);
    sync_with(&w);

    ctl_begin(&c, 5, 21);
    x_pid(&c, &X);
    x_pid(&c, &w);
    x_ref(&c, &r1);
    x_atom(&c, "gone1");
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    ctl_begin(&c, 4, 28);
    x_pid(&c, &Y);
    x_pid(&c, &w);
    x_ref(&c, &r2);
    atom_term(&p, "gone2");
    ck_assert_int_eq(dispatch(&c, &p), 0);

    ei_x_buff want;
    x_new(&want);
    x_tuple(&want, 5);
    x_atom(&want, "DOWN");
    x_ref(&want, &r1);
    x_atom(&want, "process");
    x_pid(&want, &X);
    x_atom(&want, "gone1");
    ck_assert(wait_logged(&w, E_INFO, &want));
    x_new(&want);
    x_tuple(&want, 5);
    x_atom(&want, "DOWN");
    x_ref(&want, &r2);
    x_atom(&want, "process");
    x_pid(&want, &Y);
    x_atom(&want, "gone2");
    ck_assert(wait_logged(&w, E_INFO, &want));

    /* A second DOWN for the same ref (or an unknown one) is ignored. */
    ctl_begin(&c, 5, 21);
    x_pid(&c, &X);
    x_pid(&c, &w);
    x_ref(&c, &r1);
    x_atom(&c, "again");
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    sync_with(&w);
    ck_assert_uint_eq(count_entries(&w, E_INFO), 2);
}
END_TEST

/* SPAWN_REPLY(_TT): the answer to a spawn request of ours arrives as the message {spawn_reply,
 * ReqId, Flags, Result}; for a request its caller gave up (cn_spawn_abandon), nothing does. */
START_TEST(spawn_reply_in)
{
    cn_pid w = spawn(&rec_worker, NULL);
    cn_ref r1 = cn_make_ref(), r2 = cn_make_ref(), r3 = cn_make_ref();
    ei_x_buff c, want;
    ctl_begin(&c, 5, 31);
    x_ref(&c, &r1);
    x_pid(&c, &w);
    x_long(&c, 2);
    x_pid(&c, &X);
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    x_new(&want);
    x_tuple(&want, 4);
    x_atom(&want, "spawn_reply");
    x_ref(&want, &r1);
    x_long(&want, 2);
    x_pid(&want, &X);
    ck_assert(wait_logged(&w, E_INFO, &want));

    ctl_begin(&c, 6, 32); /* with a trace token, and an error */
    x_ref(&c, &r2);
    x_pid(&c, &w);
    x_long(&c, 0);
    x_atom(&c, "system_limit");
    x_atom(&c, "token");
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    x_new(&want);
    x_tuple(&want, 4);
    x_atom(&want, "spawn_reply");
    x_ref(&want, &r2);
    x_long(&want, 0);
    x_atom(&want, "system_limit");
    ck_assert(wait_logged(&w, E_INFO, &want));

    cn_spawn_abandon(&r3, &w);
    ctl_begin(&c, 5, 31);
    x_ref(&c, &r3);
    x_pid(&c, &w);
    x_long(&c, 2);
    x_pid(&c, &Y);
    ck_assert_int_eq(dispatch(&c, NULL), 0);
    sync_with(&w);
    ck_assert_uint_eq(count_entries(&w, E_INFO), 2);

    ctl_begin(&c, 5, 31); /* a result that is neither a pid nor an atom */
    x_ref(&c, &r1);
    x_pid(&c, &w);
    x_long(&c, 2);
    x_long(&c, 7);
    ASSERT_BAD(dispatch(&c, NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctrl");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, send_forms);
    tcase_add_test(tc, send_to_nobody);
    tcase_add_test(tc, unknown_ops_dropped);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, exit_missing_reason);
    tcase_add_test(tc, short_tuples_refused);
    tcase_add_test(tc, link_then_exit);
    tcase_add_test(tc, link_exit_trapped);
    tcase_add_test(tc, exit2_forms);
    tcase_add_test(tc, unlink_forms);
    tcase_add_test(tc, link_to_dead_pid);
    tcase_add_test(tc, group_leader);
    tcase_add_test(tc, monitor_by_name_then_exit);
    tcase_add_test(tc, monitor_nobody);
    tcase_add_test(tc, demonitor);
    tcase_add_test(tc, monitor_exit_in);
    tcase_add_test(tc, signals_from_other_nodes_refused);
    tcase_add_test(tc, spawn_reply_in);
    tcase_add_test(tc, spawn_request_malformed);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

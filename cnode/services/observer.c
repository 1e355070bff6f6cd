/* observer: the observer_backend functions that observer and etop run on the node they look
 * into (over rpc, or spawned there), answered from cnoded's own tables:
 *   vsn/0, sys_info/0             observer's System tab (the same figures as system_info/1,
 *                                 memory/0 and statistics/1 give);
 *   etop_collect/1, procs_info/1  etop and observer's process list: every process's name or
 *                                 initial call, memory, reductions (mailbox entries taken),
 *                                 current function and queue length, sent to the collector;
 *   fetch_stats/2                 the load charts: {stats, 1, ...} every interval until any
 *                                 message or exit signal arrives (it traps exits, as OTP's);
 *   get_port_list/0, get_socket_list/0, socket_info/0, get_table_list/2: the node has no ports,
 *                                 socket-module sockets or ETS tables, so lists are empty;
 *   appmon_info (observer_appmon.c): the Applications tab, with no applications.
 * Bad arguments fail as the BEAM's would (badarg, timeout_value, function_clause): the caller
 * gets {badrpc, ...} or an exit, and the node goes on. */
#include "dist/conn.h"
#include "loop.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "services/observer_enc.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int vsn_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)buf, (void)idx, (void)arity;
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    ei_x_encode_string(out, "cnode-" CN_VERSION);
    return CN_RPC_RETURN;
}

/* ---- sys_info/0 ----------------------------------------------------------------------- */

/* {Kind, [{size | carriers_size, Now, Now, Now}]} with one figure for current, max, max ever. */
static void sized(ei_x_buff *out, const char *tag, uint64_t v)
{
    ei_x_encode_tuple_header(out, 4);
    ei_x_encode_atom(out, tag);
    for (int k = 0; k < 3; k++)
        ei_x_encode_ulonglong(out, v);
}

static void carrier(ei_x_buff *out, const char *kind, uint64_t blocks, uint64_t carriers)
{
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, kind);
    ei_x_encode_list_header(out, 2);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "blocks");
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "malloc");
    ei_x_encode_list_header(out, 1);
    sized(out, "size", blocks);
    ei_x_encode_empty_list(out);
    ei_x_encode_empty_list(out);
    sized(out, "carriers_size", carriers);
    ei_x_encode_empty_list(out);
}

/* The node allocates with malloc, not the BEAM's allocators: one allocator, `malloc`, in the
 * shape of system_info({allocator_sizes, _}) (OTP 23+): what is in use in its arenas (blocks)
 * against the arenas' size (carriers), and its mmapped chunks, which are both (glibc's
 * mallinfo2; when it knows nothing, as under a sanitizer's allocator, erlang:memory(total) in
 * use). The Memory Allocators tab shows it; an empty list would make it divide 0/0. */
static void alloc_info(ei_x_buff *out)
{
    struct mallinfo2 mi = mallinfo2();
    uint64_t arena = mi.arena, used = mi.uordblks;
    if (arena == 0 && mi.hblkhd == 0) /* another allocator (a sanitizer's): all of memory */
        arena = used = cn_ix_memory_total();
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "malloc");
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 3);
    ei_x_encode_atom(out, "instance");
    ei_x_encode_long(out, 0);
    carrier(out, "mbcs", used, arena);
    carrier(out, "sbcs", mi.hblkhd, mi.hblkhd);
    ei_x_encode_empty_list(out);
    ei_x_encode_empty_list(out);
    ei_x_encode_empty_list(out);
}

static void sys_value(const char *key, ei_x_buff *out)
{
    uint64_t in, o;
    if (!strcmp(key, "uptime")) {
        ei_x_encode_ulonglong(out, cn_ix_uptime_ms());
    } else if (!strcmp(key, "run_queue")) {
        ei_x_encode_ulong(out, cn_ix_run_queue());
    } else if (!strcmp(key, "io_input") || !strcmp(key, "io_output")) {
        cn_conn_io_totals(&in, &o);
        ei_x_encode_ulonglong(out, key[3] == 'i' ? in : o);
    } else if (!strcmp(key, "schedulers_available")) {
        ei_x_encode_long(out, cn_sched_count()); /* multi-scheduling is never blocked */
    } else if (!strcmp(key, "wordsize_internal") || !strcmp(key, "wordsize_external")) {
        ei_x_encode_long(out, (long)sizeof(void *));
    } else if (!strcmp(key, "alloc_info")) {
        alloc_info(out);
    } else if (!strcmp(key, "atom_limit") || !strcmp(key, "port_limit") ||
               !strcmp(key, "ets_limit")) {
        /* none of these tables exists: observer shows "Not available" (a 0 limit would
         * make it divide by zero) */
        ei_x_encode_atom(out, "undefined");
    } else if (cn_ix_system_info(key, out) < 0) {
        ei_x_encode_atom(out, "undefined");
    }
}

static int sys_info_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)buf, (void)idx, (void)arity;
    for (int k = 0; k < cn_obs_n_sys_keys; k++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, cn_obs_sys_keys[k]);
        sys_value(cn_obs_sys_keys[k], out);
    }
    cn_ix_memory_list(out, NULL, 0); /* its tail: erlang:memory() */
    return CN_RPC_RETURN;
}

/* ---- etop_collect/1, procs_info/1 ---------------------------------------------------- */

#define CHUNK 10000 /* records per procs_info message, as OTP's */

typedef struct collect {
    cn_proc *self;
    const cn_pid *to; /* procs_info: send each chunk of CHUNK records; NULL: keep them all */
    ei_x_buff recs;   /* the records (list elements) not sent yet */
    long n;           /* how many */
} collect;

static void send_chunk(collect *c)
{
    ei_x_buff m;
    ei_x_new_with_version(&m);
    ei_x_encode_tuple_header(&m, 3);
    ei_x_encode_atom(&m, "procs_info");
    cn_pid me = cn_self(c->self);
    cn_encode_pid(&m, &me);
    if (c->n > 0)
        ei_x_encode_list_header(&m, c->n);
    ei_x_append_buf(&m, c->recs.buff, c->recs.index);
    ei_x_encode_empty_list(&m);
    cn_send(c->self, c->to, m.buff + 1, m.index - 1);
    ei_x_free(&m);
    c->recs.index = 0;
    c->n = 0;
}

static void collect_one(cn_proc *p, void *arg)
{
    collect *c = arg;
    cn_ix_summary s;
    if (p == c->self || cn_ix_proc_summary(c->self, p, &s) < 0)
        return; /* itself, as OTP's collector leaves itself out; or gone meanwhile */
    cn_obs_encode_proc(&c->recs, &p->pid, &s);
    if (++c->n == CHUNK && c->to)
        send_chunk(c);
}

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

/* Sends {self(), #etop_info{}} to the collector, as OTP's etop_collect/1. */
static int etop_collect_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    cn_pid to;
    if (cn_obs_decode_pid(buf, idx, &to) < 0)
        return cn_ix_badarg(out); /* Collector ! _ with a non-pid */
    collect c = {.self = self};
    ei_x_new(&c.recs);
    cn_proc_foreach(collect_one, &c);
    ei_x_buff m;
    ei_x_new_with_version(&m);
    ei_x_encode_tuple_header(&m, 2);
    cn_pid me = cn_self(self);
    cn_encode_pid(&m, &me);
    ei_x_encode_tuple_header(&m, 9);
    ei_x_encode_atom(&m, "etop_info");
    cn_obs_encode_now(&m, now_us());
    ei_x_encode_long(&m, c.n);
    ei_x_encode_atom(&m, "undefined"); /* wall_clock: etop uses runtime's scheduler times */
    cn_ix_sched_wall_time(&m);
    ei_x_encode_ulong(&m, cn_ix_run_queue());
    ei_x_encode_empty_list(&m); /* alloc_areas */
    cn_ix_memory_list(&m, cn_obs_etop_mem_keys, cn_obs_n_etop_mem_keys);
    if (c.n > 0)
        ei_x_encode_list_header(&m, c.n);
    ei_x_append_buf(&m, c.recs.buff, c.recs.index);
    ei_x_encode_empty_list(&m);
    ei_x_free(&c.recs);
    cn_send(self, &to, m.buff + 1, m.index - 1);
    ei_x_free(&m);
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

/* Sends {procs_info, self(), [#etop_proc_info{}]} per CHUNK processes, then ends (normal),
 * which tells observer's table holder that the list is complete. */
static int procs_info_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    cn_pid to;
    if (cn_obs_decode_pid(buf, idx, &to) < 0)
        return cn_ix_badarg(out);
    collect c = {.self = self, .to = &to};
    ei_x_new(&c.recs);
    cn_proc_foreach(collect_one, &c);
    send_chunk(&c); /* the rest, possibly none: OTP's sends a last list too */
    ei_x_free(&c.recs);
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

/* ---- fetch_stats/2 -------------------------------------------------------------------- */

/* Anything that would end OTP's receive: a message, or an exit signal (trapped, so it would
 * be one), a lost connection (its links break), or the node stopping. */
static int told_to_stop(cn_proc *self)
{
    int stop = 0;
    pthread_mutex_lock(&self->lock);
    for (const cn_msg *m = self->mq_head; m && !stop; m = m->next)
        stop = m->kind == CN_MSG || m->kind == CN_SIG_EXIT || m->kind == CN_SIG_EXIT2 ||
               m->kind == CN_SIG_NODEDOWN || m->kind == CN_SIG_SHUTDOWN;
    pthread_mutex_unlock(&self->lock);
    return stop || cn_loop_stopping();
}

static int fetch_stats_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    cn_pid parent;
    unsigned long ms;
    int i = *idx;
    if (ei_skip_term(buf, &i) < 0 || cn_obs_decode_timeout(buf, &i, &ms) < 0) {
        ei_x_encode_atom(out, "timeout_value"); /* `after Time` with a bad Time */
        return CN_RPC_ERROR;
    }
    if (cn_obs_decode_pid(buf, idx, &parent) < 0)
        return cn_ix_badarg(out);
    *idx = i;
    cn_trap_exit(self, 1);
    for (;;) {
        for (unsigned long left = ms;;) { /* in slices, so a stop is seen within 100 ms */
            if (told_to_stop(self)) {
                ei_x_encode_atom(out, "ok");
                return CN_RPC_RETURN;
            }
            if (left == 0)
                break;
            unsigned long slice = left < 100 ? left : 100;
            if (cn_sleep(self, (int)slice) < 0) {
                ei_x_encode_atom(out, "killed"); /* an untrappable kill ends us anyway */
                return CN_RPC_EXIT;
            }
            left -= slice;
        }
        ei_x_buff m;
        uint64_t in, o;
        cn_conn_io_totals(&in, &o);
        ei_x_new_with_version(&m);
        ei_x_encode_tuple_header(&m, 5);
        ei_x_encode_atom(&m, "stats");
        ei_x_encode_long(&m, 1);
        cn_ix_sched_wall_time(&m);
        ei_x_encode_tuple_header(&m, 2); /* statistics(io) */
        ei_x_encode_tuple_header(&m, 2);
        ei_x_encode_atom(&m, "input");
        ei_x_encode_ulonglong(&m, in);
        ei_x_encode_tuple_header(&m, 2);
        ei_x_encode_atom(&m, "output");
        ei_x_encode_ulonglong(&m, o);
        cn_ix_memory_list(&m, NULL, 0);
        cn_send(self, &parent, m.buff + 1, m.index - 1);
        ei_x_free(&m);
        if (ms == 0 && cn_sleep(self, 1) < 0) { /* never a busy loop */
            ei_x_encode_atom(out, "killed");
            return CN_RPC_EXIT;
        }
    }
}

/* ---- ports, sockets, tables: none ----------------------------------------------------- */

static int empty_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)buf, (void)idx, (void)arity;
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

static void counter(ei_x_buff *out, const char *name, long v)
{
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, name);
    ei_x_encode_long(out, v);
}

static int socket_info_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)buf, (void)idx, (void)arity;
    static const char *const zero[] = {"num_dinet",   "num_dinet6",   "num_dlocal",  "num_pip",
                                       "num_psctp",   "num_ptcp",     "num_pudp",    "num_sockets",
                                       "num_tdgrams", "num_tseqpkgs", "num_tstreams"};
    long iov = sysconf(_SC_IOV_MAX);
    counter(out, "iov_max", iov > 0 ? iov : 1024);
    counter(out, "num_monitors", 0);
    counter(out, "num_cnt_bits", 64);
    for (size_t k = 0; k < sizeof zero / sizeof zero[0]; k++)
        counter(out, zero[k], 0);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* get_table_list(ets | mnesia, Opts): no ETS tables; no mnesia (OTP's throws this). */
static int get_table_list_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)arity;
    char type[MAXATOMLEN_UTF8], text[MAXATOMLEN_UTF8 + 64];
    int i = *idx, t, size;
    if (ei_decode_atom(buf, &i, type) < 0 || ei_get_type(buf, &i, &t, &size) < 0 ||
        (t != ERL_LIST_EXT && t != ERL_NIL_EXT && t != ERL_STRING_EXT) ||
        (strcmp(type, "ets") && strcmp(type, "mnesia"))) {
        ei_x_encode_atom(out, "function_clause");
        return CN_RPC_ERROR;
    }
    ei_skip_term(buf, &i);
    *idx = i;
    if (!strcmp(type, "ets")) {
        ei_x_encode_empty_list(out);
        return CN_RPC_RETURN;
    }
    snprintf(text, sizeof text, "Mnesia is not running on: %s", cn_node_name(0));
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "error");
    ei_x_encode_string(out, text);
    return CN_RPC_THROW;
}

/* The MFA a worker's dictionary gives ({Module, init, 1}, as for a GenServer), or 0 when pid
 * is not a live worker here. */
static int worker_initial_call(cn_proc *self, const cn_pid *pid, cn_ix_summary *s)
{
    cn_proc *p = cn_proc_get(pid);
    int ok =
        p && cn_ix_proc_summary(self, p, s) == 0 && !strcmp(s->init_f, "init") && s->init_a == 1;
    if (p)
        cn_proc_release(p);
    return ok;
}

/* proc_lib:translate_initial_call(Pid | ProcInfo | {X, Y, Z}): for a worker, the
 * '$initial_call' of its dictionary, {Module, init, 1}; for any other process (none keeps
 * one) {proc_lib, init_p, 5}, as OTP answers. Observer's process window asks it first, and
 * for a worker then shows its state through sys:get_status. */
static int translate_initial_call_1(cn_proc *self, const char *buf, int *idx, int arity,
                                    ei_x_buff *out)
{
    (void)arity;
    int i = *idx, type, size, ok, is_pid = 0;
    long v;
    cn_pid pid;
    cn_ix_summary s;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        ok = 0;
    else if (type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) /* {X, Y, Z} */
        ok = ei_decode_tuple_header(buf, &i, &size) == 0 && size == 3 &&
             ei_decode_long(buf, &i, &v) == 0 && ei_decode_long(buf, &i, &v) == 0 &&
             ei_decode_long(buf, &i, &v) == 0;
    else if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT)
        ok = is_pid = cn_decode_pid(buf, &i, &pid) == 0;
    else
        ok = (type == ERL_LIST_EXT || type == ERL_NIL_EXT || type == ERL_STRING_EXT) &&
             ei_skip_term(buf, &i) == 0;
    if (!ok) {
        ei_x_encode_atom(out, "function_clause");
        return CN_RPC_ERROR;
    }
    *idx = i;
    ei_x_encode_tuple_header(out, 3);
    if (is_pid && worker_initial_call(self, &pid, &s)) {
        ei_x_encode_atom(out, s.init_m);
        ei_x_encode_atom(out, "init");
        ei_x_encode_long(out, 1);
    } else {
        ei_x_encode_atom(out, "proc_lib");
        ei_x_encode_atom(out, "init_p");
        ei_x_encode_long(out, 5);
    }
    return CN_RPC_RETURN;
}

int cn_observer_start(void)
{
    int r = 0;
    r |= cn_export("observer_backend", "vsn", 0, vsn_0);
    r |= cn_export("observer_backend", "sys_info", 0, sys_info_0);
    r |= cn_export("observer_backend", "etop_collect", 1, etop_collect_1);
    r |= cn_export("observer_backend", "procs_info", 1, procs_info_1);
    r |= cn_export("observer_backend", "fetch_stats", 2, fetch_stats_2);
    r |= cn_export("observer_backend", "get_port_list", 0, empty_0);
    r |= cn_export("observer_backend", "get_socket_list", 0, empty_0);
    r |= cn_export("observer_backend", "socket_info", 0, socket_info_0);
    r |= cn_export("observer_backend", "get_table_list", 2, get_table_list_2);
    r |= cn_export("proc_lib", "translate_initial_call", 1, translate_initial_call_1);
    r |= cn_observer_appmon_start();
    return r < 0 ? -1 : 0;
}

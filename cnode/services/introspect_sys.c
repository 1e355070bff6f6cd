/* introspect_sys: erlang:memory/0,1, erlang:system_info/1 and erlang:statistics/1.
 *
 * memory: `total` is measured (resident set size from /proc/self/statm; where /proc is
 * missing, as in a chroot, the peak RSS from getrusage). `code` is measured too: the size of
 * the program's text, from the linker's symbols. `processes` (= `processes_used`) and `binary`
 * are estimates counted over the process table: process records, an allowance for behaviour
 * data, mailbox entries; message payloads over 64 bytes count as `binary`, as the BEAM keeps
 * large binaries off the process heaps. A worker's own state is in `system` (total less
 * processes), with everything else the node allocates. There is no atom table and no ETS:
 * `atom`, `atom_used` and `ets` are 0.
 *
 * statistics: wall_clock, runtime (process CPU time) and io (bytes over every connection,
 * closed ones included) are measured; run_queue counts processes waiting for a scheduler;
 * scheduler_wall_time shares the node's CPU time between the schedulers (see below);
 * reductions and exact_reductions count the mailbox entries processes have taken (as
 * process_info's reductions do), ended processes included; context_switches and
 * garbage_collection are 0 (not counted). */
#include "services/introspect.h"

#include "dist/conn.h"
#include "node.h"
#include "proc/proc.h"
#include "proc/sched.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* GNU ld: the bounds of the program's text. */
extern const char __executable_start[], etext[];

/* ---- memory/0,1 ----------------------------------------------------------------------- */

enum {
    M_TOTAL,
    M_PROCESSES,
    M_PROCESSES_USED,
    M_SYSTEM,
    M_ATOM,
    M_ATOM_USED,
    M_BINARY,
    M_CODE,
    M_ETS,
    M_COUNT
};
static const char *const mem_names[M_COUNT] = {
    "total", "processes", "processes_used", "system", "atom", "atom_used", "binary", "code", "ets"};

typedef struct sums {
    uint64_t heap, binary;
} sums;

static void add_proc(cn_proc *p, void *arg)
{
    sums *s = arg;
    cn_ix_proc_mem(p, &s->heap, &s->binary);
}

static uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        int n = fscanf(f, "%lu %lu", &size, &resident);
        fclose(f);
        if (n == 2 && page > 0 && resident > 0)
            return (uint64_t)resident * (uint64_t)page;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0)
        return (uint64_t)ru.ru_maxrss * 1024; /* kilobytes on Linux */
    return 0;
}

static void measure(uint64_t v[M_COUNT])
{
    sums s = {0, 0};
    cn_proc_foreach(add_proc, &s);
    memset(v, 0, M_COUNT * sizeof v[0]);
    v[M_CODE] = (uint64_t)(etext - __executable_start);
    v[M_PROCESSES] = v[M_PROCESSES_USED] = s.heap;
    v[M_BINARY] = s.binary;
    uint64_t floor = s.heap + s.binary + v[M_CODE];
    uint64_t rss = rss_bytes();
    v[M_TOTAL] = rss > floor ? rss : floor; /* total = processes + system, as on the BEAM */
    v[M_SYSTEM] = v[M_TOTAL] - v[M_PROCESSES];
}

uint64_t cn_ix_memory_total(void)
{
    uint64_t v[M_COUNT];
    measure(v);
    return v[M_TOTAL];
}

void cn_ix_memory_list(ei_x_buff *out, const char *const *keys, int n)
{
    uint64_t v[M_COUNT];
    measure(v);
    for (int i = 0; i < (keys ? n : M_COUNT); i++) {
        int k = 0;
        if (!keys)
            k = i;
        else
            while (k < M_COUNT && strcmp(mem_names[k], keys[i]) != 0)
                k++;
        if (k == M_COUNT)
            continue;
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, mem_names[k]);
        ei_x_encode_ulonglong(out, v[k]);
    }
    ei_x_encode_empty_list(out);
}

static int memory_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    cn_ix_memory_list(out, NULL, 0);
    return CN_RPC_RETURN;
}

typedef struct mem_req {
    int *keys;
    int n, cap;
} mem_req;

static int add_mem_key(const char *atom, void *arg)
{
    mem_req *r = arg;
    int k = 0;
    while (k < M_COUNT && strcmp(mem_names[k], atom) != 0)
        k++;
    if (k == M_COUNT)
        return -1;
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        int *nk = realloc(r->keys, (size_t)cap * sizeof *nk);
        if (!nk)
            return -1;
        r->keys = nk;
        r->cap = cap;
    }
    r->keys[r->n++] = k;
    return 0;
}

static int memory_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    mem_req r = {0};
    int is_list;
    if (cn_ix_atoms(buf, idx, &is_list, add_mem_key, &r) < 0) {
        free(r.keys);
        return cn_ix_badarg(out);
    }
    uint64_t v[M_COUNT];
    measure(v);
    if (!is_list) {
        ei_x_encode_ulonglong(out, v[r.keys[0]]);
    } else {
        for (int k = 0; k < r.n; k++) { /* in the order asked, repeats included */
            ei_x_encode_list_header(out, 1);
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, mem_names[r.keys[k]]);
            ei_x_encode_ulonglong(out, v[r.keys[k]]);
        }
        ei_x_encode_empty_list(out);
    }
    free(r.keys);
    return CN_RPC_RETURN;
}

/* ---- system_info/1 -------------------------------------------------------------------- */

static void long_or_unknown(ei_x_buff *out, long n)
{
    if (n > 0)
        ei_x_encode_long(out, n);
    else
        ei_x_encode_atom(out, "unknown");
}

/* Where this binary runs, as the BEAM's "Compiled for" string (from the compiler's target). */
#if defined(__x86_64__)
#define CN_ARCH "x86_64-pc"
#elif defined(__aarch64__)
#define CN_ARCH "aarch64-unknown"
#elif defined(__i386__)
#define CN_ARCH "i686-pc"
#else
#define CN_ARCH "unknown-unknown"
#endif
#if defined(__linux__) && defined(__GLIBC__)
#define CN_OS "linux-gnu"
#elif defined(__linux__)
#define CN_OS "linux"
#else
#define CN_OS "unknown"
#endif

/* otp_release is our own identity, not an OTP release we are not: "cnode-0.1.0". The node
 * has no atom table, ports or ETS: their counts are 0; no atom table also means no limit on
 * atoms (infinity), and no port or ETS table can ever hold one (limit 0). */
int cn_ix_system_info(const char *key, ei_x_buff *out)
{
    char text[256];
    if (!strcmp(key, "otp_release")) {
        ei_x_encode_string(out, "cnode-" CN_VERSION);
    } else if (!strcmp(key, "version")) {
        ei_x_encode_string(out, CN_VERSION);
    } else if (!strcmp(key, "system_version")) {
        snprintf(text, sizeof text,
                 "cnode %s [C node, Erlang distribution protocol 6, OTP 25-27 peers] "
                 "[%d-bit] [smp:%d:%d]\n",
                 CN_VERSION, (int)sizeof(void *) * 8, cn_sched_count(), cn_sched_count());
        ei_x_encode_string(out, text);
    } else if (!strcmp(key, "system_architecture")) {
        ei_x_encode_string(out, CN_ARCH "-" CN_OS);
    } else if (!strcmp(key, "machine")) {
        ei_x_encode_string(out, "cnode");
    } else if (!strcmp(key, "schedulers") || !strcmp(key, "schedulers_online")) {
        ei_x_encode_long(out, cn_sched_count());
    } else if (!strcmp(key, "dirty_cpu_schedulers") ||
               !strcmp(key, "dirty_cpu_schedulers_online") || !strcmp(key, "dirty_io_schedulers") ||
               !strcmp(key, "thread_pool_size") || !strcmp(key, "atom_count") ||
               !strcmp(key, "port_count") || !strcmp(key, "port_limit") ||
               !strcmp(key, "ets_count") || !strcmp(key, "ets_limit")) {
        ei_x_encode_long(out, 0);
    } else if (!strcmp(key, "atom_limit")) {
        ei_x_encode_atom(out, "infinity");
    } else if (!strcmp(key, "multi_scheduling")) {
        ei_x_encode_atom(out, "enabled");
    } else if (!strcmp(key, "kernel_poll") || !strcmp(key, "smp_support") ||
               !strcmp(key, "threads")) {
        ei_x_encode_atom(out, "true"); /* epoll, and scheduler threads */
    } else if (!strcmp(key, "dist_buf_busy_limit")) {
        ei_x_encode_ulong(out, (unsigned long)CN_CONN_BUSY);
    } else if (!strcmp(key, "process_count")) {
        ei_x_encode_ulong(out, (unsigned long)cn_proc_count());
    } else if (!strcmp(key, "process_limit")) {
        ei_x_encode_ulong(out, (unsigned long)cn_proc_limit());
    } else if (!strcmp(key, "wordsize")) {
        ei_x_encode_long(out, (long)sizeof(void *));
    } else if (!strcmp(key, "logical_processors")) {
        long_or_unknown(out, sysconf(_SC_NPROCESSORS_CONF));
    } else if (!strcmp(key, "logical_processors_online")) {
        long_or_unknown(out, sysconf(_SC_NPROCESSORS_ONLN));
    } else if (!strcmp(key, "logical_processors_available")) {
        long_or_unknown(out, cn_cpus_available());
    } else if (!strcmp(key, "creation")) {
        ei_x_encode_ulong(out, cn_node.creation);
    } else {
        return cn_ix_time_info(key, out); /* the clocks' keys (bifs_node.c) */
    }
    return 0;
}

static int system_info_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char key[MAXATOMLEN_UTF8], sub[MAXATOMLEN_UTF8];
    int n;
    if (ei_decode_tuple_header(buf, idx, &n) == 0) { /* {wordsize, internal | external} */
        if (n != 2 || ei_decode_atom(buf, idx, key) < 0 || ei_decode_atom(buf, idx, sub) < 0 ||
            strcmp(key, "wordsize") != 0 || (strcmp(sub, "internal") && strcmp(sub, "external")))
            return cn_ix_badarg(out);
        ei_x_encode_long(out, (long)sizeof(void *));
        return CN_RPC_RETURN;
    }
    if (ei_decode_atom(buf, idx, key) < 0 || cn_ix_system_info(key, out) < 0)
        return cn_ix_badarg(out);
    return CN_RPC_RETURN;
}

/* ---- statistics/1 --------------------------------------------------------------------- */

static void count_queued(cn_proc *p, void *arg)
{
    pthread_mutex_lock(&p->lock);
    *(unsigned long *)arg += p->sched == CN_S_QUEUED;
    pthread_mutex_unlock(&p->lock);
}

unsigned long cn_ix_run_queue(void)
{
    unsigned long n = 0;
    cn_proc_foreach(count_queued, &n);
    return n;
}

static uint64_t cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t cpu_ms(void)
{
    return cpu_us() / 1000;
}

/* [{Id, Active, Total}] for each scheduler (microseconds). Scheduler threads take turns at
 * polling and running processes, so per-thread times would say little: the node's CPU time
 * is shared evenly between them (their sum is the node's use), against the wall time since
 * the node started. Never more active than total, so a load chart stays within 100%. */
void cn_ix_sched_wall_time(ei_x_buff *out)
{
    int n = cn_sched_count();
    uint64_t total = cn_ix_uptime_ms() * 1000 + 1, active = n > 0 ? cpu_us() / (uint64_t)n : 0;
    if (active > total)
        active = total;
    for (int i = 1; i <= n; i++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 3);
        ei_x_encode_long(out, i);
        ei_x_encode_ulonglong(out, active);
        ei_x_encode_ulonglong(out, total);
    }
    ei_x_encode_empty_list(out);
}

/* for the "since last call" halves, one per key as on the BEAM */
static _Atomic uint64_t last_wall, last_cpu, last_reds, last_exact_reds;

static void total_and_since(ei_x_buff *out, uint64_t total, _Atomic uint64_t *last)
{
    uint64_t prev = atomic_exchange(last, total);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_ulonglong(out, total);
    ei_x_encode_ulonglong(out, total > prev ? total - prev : 0);
}

static void zeros(ei_x_buff *out, int n)
{
    ei_x_encode_tuple_header(out, n);
    for (int i = 0; i < n; i++)
        ei_x_encode_long(out, 0);
}

static int statistics_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char key[MAXATOMLEN_UTF8];
    if (ei_decode_atom(buf, idx, key) < 0)
        return cn_ix_badarg(out);
    if (!strcmp(key, "run_queue") || !strcmp(key, "total_run_queue_lengths") ||
        !strcmp(key, "total_run_queue_lengths_all")) {
        ei_x_encode_ulong(out, cn_ix_run_queue());
    } else if (!strcmp(key, "wall_clock")) {
        total_and_since(out, cn_ix_uptime_ms(), &last_wall);
    } else if (!strcmp(key, "runtime")) {
        total_and_since(out, cpu_ms(), &last_cpu);
    } else if (!strcmp(key, "reductions")) {
        total_and_since(out, cn_proc_handled_total(), &last_reds);
    } else if (!strcmp(key, "exact_reductions")) {
        total_and_since(out, cn_proc_handled_total(), &last_exact_reds);
    } else if (!strcmp(key, "context_switches")) {
        zeros(out, 2);
    } else if (!strcmp(key, "scheduler_wall_time") || !strcmp(key, "scheduler_wall_time_all")) {
        cn_ix_sched_wall_time(out); /* always measured: no system_flag to turn it on */
    } else if (!strcmp(key, "garbage_collection")) {
        zeros(out, 3);
    } else if (!strcmp(key, "io")) {
        uint64_t in, o;
        cn_conn_io_totals(&in, &o);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "input");
        ei_x_encode_ulonglong(out, in);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "output");
        ei_x_encode_ulonglong(out, o);
    } else {
        return cn_ix_badarg(out);
    }
    return CN_RPC_RETURN;
}

int cn_introspect_sys_start(void)
{
    int r = 0;
    r |= cn_export("erlang", "memory", 0, memory_0);
    r |= cn_export("erlang", "memory", 1, memory_1);
    r |= cn_export("erlang", "system_info", 1, system_info_1);
    r |= cn_export("erlang", "statistics", 1, statistics_1);
    return r < 0 ? -1 : 0;
}

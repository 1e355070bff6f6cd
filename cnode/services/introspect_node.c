/* introspect_node: erlang:nodes/1, init:stop/0 and cnode:info/0, the node as a whole.
 *
 * nodes/1 follows the BEAM: visible | hidden | connected | this | known, or a list of them
 * (their union, each node once, in the order not-connected known nodes, visible, hidden,
 * this). `known` nodes are every node name this node has met (names are never forgotten
 * here, where the BEAM collects unreferenced ones), this node and the connected ones.
 *
 * init:stop/0 answers ok at once, as on the BEAM, and stops the node from another thread
 * once the rpc process that answered has ended (its reply queued on the connection, which
 * shutdown flushes), so the caller gets its ok before the nodedown. */
#include "services/introspect.h"

#include "code/table.h"
#include "dist/conn.h"
#include "dist/flags.h"
#include "node.h"
#include "proc/gen.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "services/exports.h"
#include "util/log.h"

#include <ctype.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- nodes/1 -------------------------------------------------------------------------- */

enum { T_THIS = 1, T_VISIBLE = 2, T_HIDDEN = 4, T_KNOWN = 8 };

static int add_type(const char *a, void *arg)
{
    int *mask = arg;
    if (!strcmp(a, "this"))
        *mask |= T_THIS;
    else if (!strcmp(a, "visible"))
        *mask |= T_VISIBLE;
    else if (!strcmp(a, "hidden"))
        *mask |= T_HIDDEN;
    else if (!strcmp(a, "connected"))
        *mask |= T_VISIBLE | T_HIDDEN;
    else if (!strcmp(a, "known"))
        *mask |= T_KNOWN | T_THIS | T_VISIBLE | T_HIDDEN;
    else
        return -1;
    return 0;
}

/* The up connections of the kinds given (malloc'd; *n of them), or NULL. */
static uint32_t *conns_of(int kinds, size_t *n)
{
    for (size_t cap = 64;; cap *= 4) {
        uint32_t *v = malloc(cap * sizeof *v);
        if (!v)
            return NULL;
        *n = cn_conn_list_kind(v, cap, kinds);
        if (*n < cap || cap >= CN_MAX_NODES)
            return v;
        free(v);
    }
}

static void encode_nodes(ei_x_buff *out, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_atom(out, cn_node_name(v[i]));
    }
}

static int nodes_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    int mask = 0, is_list;
    if (cn_ix_atoms(buf, idx, &is_list, add_type, &mask) < 0)
        return cn_ix_badarg(out);
    if (mask & T_KNOWN) {
        const char *name;
        for (uint32_t i = 1; i < CN_MAX_NODES && (name = cn_node_name(i)) != NULL; i++)
            if (!cn_conn_is_up(i)) {
                ei_x_encode_list_header(out, 1);
                ei_x_encode_atom(out, name);
            }
    }
    int kinds[2] = {T_VISIBLE, T_HIDDEN};
    int conn_kinds[2] = {CN_CONN_VISIBLE, CN_CONN_HIDDEN};
    for (int k = 0; k < 2; k++) {
        if (!(mask & kinds[k]))
            continue;
        size_t n = 0;
        uint32_t *v = conns_of(conn_kinds[k], &n);
        if (v)
            encode_nodes(out, v, n);
        free(v);
    }
    if (mask & T_THIS) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_atom(out, cn_node_name(0));
    }
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* ---- init:stop/0 ---------------------------------------------------------------------- */

static atomic_int stop_requested;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait (at most 2 s) for the answering process to end, give the event loop a moment to
 * write its reply, then stop the node. */
static void *stopper(void *arg)
{
    cn_pid *pid = arg;
    for (int i = 0; i < 400; i++) {
        cn_proc *p = cn_proc_get(pid);
        if (!p)
            break;
        cn_proc_release(p);
        sleep_ms(5);
    }
    free(pid);
    sleep_ms(50);
    cn_node_stop();
    return NULL;
}

static int init_stop_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)buf;
    (void)idx;
    (void)arity;
    if (!atomic_exchange(&stop_requested, 1)) {
        cn_info("init:stop/0 called over rpc: stopping the node");
        cn_pid *pid = malloc(sizeof *pid);
        pthread_t t;
        pthread_attr_t attr;
        int started = 0;
        if (pid && pthread_attr_init(&attr) == 0) {
            *pid = cn_self(self);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            started = pthread_create(&t, &attr, stopper, pid) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!started) {
            free(pid);
            cn_node_stop(); /* shutdown still flushes the reply, only less surely first */
        }
    }
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

/* ---- cnode:info/0 --------------------------------------------------------------------- */

/* The negotiated flags as atoms: published, extended_references, ... */
static void encode_flags(ei_x_buff *out, uint64_t flags)
{
    char names[1024], atom[256];
    cn_flags_describe(flags, names, sizeof names);
    for (char *s = names; *s;) {
        size_t n = strcspn(s, ",");
        if (n > 0 && n < sizeof atom) {
            for (size_t i = 0; i < n; i++)
                atom[i] = (char)tolower((unsigned char)s[i]);
            atom[n] = '\0';
            ei_x_encode_list_header(out, 1);
            ei_x_encode_atom(out, atom);
        }
        s += n;
        if (*s == ',')
            s++;
    }
    ei_x_encode_empty_list(out);
}

static void encode_connections(ei_x_buff *out)
{
    cn_conn_stat *v = NULL;
    size_t n = 0;
    for (size_t cap = 16;; cap *= 4) {
        v = malloc(cap * sizeof *v);
        if (!v)
            break;
        n = cn_conn_stats(v, cap);
        if (n < cap || cap >= CN_MAX_NODES)
            break;
        free(v);
    }
    for (size_t i = 0; v && i < n; i++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_map_header(out, 10);
        ei_x_encode_atom(out, "node");
        ei_x_encode_atom(out, cn_node_name(v[i].node));
        ei_x_encode_atom(out, "type");
        ei_x_encode_atom(out, (v[i].flags & DFLAG_PUBLISHED) ? "visible" : "hidden");
        ei_x_encode_atom(out, "direction");
        ei_x_encode_atom(out, v[i].outgoing ? "outgoing" : "incoming");
        ei_x_encode_atom(out, "flags");
        encode_flags(out, v[i].flags);
        ei_x_encode_atom(out, "bytes_in");
        ei_x_encode_ulonglong(out, v[i].bytes_in);
        ei_x_encode_atom(out, "bytes_out");
        ei_x_encode_ulonglong(out, v[i].bytes_out);
        ei_x_encode_atom(out, "reads");
        ei_x_encode_ulonglong(out, v[i].reads);
        ei_x_encode_atom(out, "coalesced_reads");
        ei_x_encode_ulonglong(out, v[i].coalesced_reads);
        ei_x_encode_atom(out, "quick_acks");
        ei_x_encode_ulonglong(out, v[i].quick_acks);
        ei_x_encode_atom(out, "longest_nap_us");
        ei_x_encode_ulong(out, v[i].longest_nap_us);
    }
    free(v);
    ei_x_encode_empty_list(out);
}

/* How many functions are exported (the length of cnode:exports/0's list). */
static long export_count(void)
{
    ei_x_buff x;
    ei_x_new(&x);
    cn_export_list(&x);
    long n = 0;
    int i = 0, arity, type, size;
    while (ei_get_type(x.buff, &i, &type, &size) == 0 && type == ERL_LIST_EXT &&
           ei_decode_list_header(x.buff, &i, &arity) == 0 && arity == 1 &&
           ei_skip_term(x.buff, &i) == 0)
        n++;
    ei_x_free(&x);
    return n;
}

/* ASan and TSan replace the allocator (glibc's statistics then say 0) and report their own
 * (the sanitizers' common interface; not every compiler ships its header). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CN_SANITIZER_HEAP 1
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static unsigned long long heap_in_use(void)
{
#ifdef CN_SANITIZER_HEAP
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return (unsigned long long)(mi.uordblks + mi.hblkhd);
#endif
}

static void module_name(const char *module, const char *file, const char *vsn, int has_old,
                        int users, void *arg)
{
    (void)file;
    (void)vsn;
    (void)has_old;
    (void)users;
    ei_x_encode_list_header(arg, 1);
    ei_x_encode_atom(arg, module);
}

static int info_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    ei_x_encode_map_header(out, 13);
    ei_x_encode_atom(out, "version");
    ei_x_encode_binary(out, CN_VERSION, (long)strlen(CN_VERSION));
    ei_x_encode_atom(out, "node");
    ei_x_encode_atom(out, cn_node_name(0));
    ei_x_encode_atom(out, "creation");
    ei_x_encode_ulong(out, cn_node.creation);
    ei_x_encode_atom(out, "hidden");
    ei_x_encode_boolean(out, cn_node.hidden);
    ei_x_encode_atom(out, "uptime_ms");
    ei_x_encode_ulonglong(out, cn_ix_uptime_ms());
    ei_x_encode_atom(out, "schedulers");
    ei_x_encode_long(out, cn_sched_count());
    /* Threads now: schedulers + 1 (the poller), more while processes block in calls. */
    ei_x_encode_atom(out, "scheduler_threads");
    ei_x_encode_long(out, cn_sched_threads());
    ei_x_encode_atom(out, "process_count");
    ei_x_encode_ulong(out, (unsigned long)cn_proc_count());
    ei_x_encode_atom(out, "exports");
    ei_x_encode_long(out, export_count());
    ei_x_encode_atom(out, "workers"); /* worker modules Node.spawn and cnode_sup can start */
    const char *mods[1024];
    size_t nm = cn_worker_list(mods, sizeof mods / sizeof mods[0]);
    for (size_t i = 0; i < nm; i++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_atom(out, mods[i]);
    }
    ei_x_encode_empty_list(out);
    ei_x_encode_atom(out, "modules"); /* loaded native modules (details: cnode:modules/0) */
    cn_code_foreach(module_name, out);
    ei_x_encode_empty_list(out);
    /* Bytes allocated and not freed: unlike the RSS (memory total), it falls when memory is
     * freed, so a leak shows as a value that keeps rising under a steady load. */
    ei_x_encode_atom(out, "heap_in_use");
    ei_x_encode_ulonglong(out, heap_in_use());
    ei_x_encode_atom(out, "connections");
    encode_connections(out);
    return CN_RPC_RETURN;
}

int cn_introspect_node_start(void)
{
    int r = 0;
    r |= cn_export("erlang", "nodes", 1, nodes_1);
    r |= cn_export("init", "stop", 0, init_stop_0);
    r |= cn_export("cnode", "info", 0, info_0);
    return r < 0 ? -1 : 0;
}

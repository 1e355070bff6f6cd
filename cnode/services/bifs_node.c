/* bifs_node: the node and time functions that operators and cluster scripts call on every
 * node over rpc: net_kernel:connect_node/1, net_adm:ping/1, disconnect_node/1,
 * get_net_ticktime/0, nodename/0; erlang and os clocks (system_time, monotonic_time,
 * time_offset, convert_time_unit, timestamp, localtime, ...), os:type/0, os:version/0 and
 * erlang:node/1. Each answers as a BEAM node does, with its errors for bad arguments; each
 * runs in the rpc's own process, so a connect blocks nothing else.
 *
 * Time: the native unit (and perf_counter's) is the nanosecond, as clock_gettime gives it;
 * system time is CLOCK_REALTIME and monotonic time CLOCK_MONOTONIC, so the time offset is
 * their difference when asked (it follows the OS clock, as in the BEAM's multi_time_warp
 * mode). Times and units may be bignums, as on the BEAM, up to 2048 bits (badarg beyond). */
#include "node.h"
#include "services/bif_args.h"
#include "services/exports.h"
#include "services/introspect.h"
#include "services/observer_enc.h"
#include "services/services.h"
#include "util/timeunit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

/* ---- connections --------------------------------------------------------------------- */

/* net_kernel:connect_node(Node): true | false; not an atom: function_clause, as its guard. */
static int connect_node_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    char node[MAXATOMLEN_UTF8];
    if (cn_atom_arg(buf, idx, node) < 0)
        return cn_rpc_error(out, "function_clause");
    ei_x_encode_boolean(out, cn_connect_node(self, node));
    return CN_RPC_RETURN;
}

/* How long ping waits for the peer's net_kernel once connected: the BEAM waits for ever,
 * but a peer that stops answering is found dead by the tick timeout anyway. */
static int ping_timeout_ms(void)
{
    return cn_node.ticktime_ms + cn_node.ticktime_ms / 4 + 1000;
}

/* net_adm:ping(Node): connect, then ask the peer's net_kernel {is_auth, node()}; pong when
 * it says yes, else pang (and the connection is dropped, as net_adm does). */
static int ping_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    char node[MAXATOMLEN_UTF8];
    if (cn_atom_arg(buf, idx, node) < 0)
        return cn_rpc_error(out, "function_clause");
    if (!strcmp(node, cn_node_name(0))) {
        ei_x_encode_atom(out, "pong");
        return CN_RPC_RETURN;
    }
    int ok = 0;
    if (cn_connect_node(self, node)) {
        ei_x_buff req, reply;
        ei_x_new(&req);
        ei_x_new(&reply);
        ei_x_encode_tuple_header(&req, 2);
        ei_x_encode_atom(&req, "is_auth");
        ei_x_encode_atom(&req, cn_node_name(0));
        char yes[MAXATOMLEN_UTF8];
        int ri = 0;
        ok = cn_call_name(self, "net_kernel", node, req.buff, req.index, ping_timeout_ms(),
                          &reply) == 0 &&
             ei_decode_atom(reply.buff, &ri, yes) == 0 && !strcmp(yes, "yes");
        ei_x_free(&req);
        ei_x_free(&reply);
        if (!ok)
            cn_disconnect_node(self, node);
    }
    ei_x_encode_atom(out, ok ? "pong" : "pang");
    return CN_RPC_RETURN;
}

/* erlang:disconnect_node(Node) and net_kernel:disconnect(Node): true if it was connected,
 * false if not, or Node is this node, or not an atom at all (as on the BEAM, no badarg). */
static int disconnect_node_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    char node[MAXATOMLEN_UTF8];
    int type, size, i = *idx;
    int ok = cn_atom_arg(buf, idx, node) == 0 && cn_disconnect_node(self, node);
    if (i == *idx && ei_get_type(buf, &i, &type, &size) == 0 && ei_skip_term(buf, &i) == 0)
        *idx = i; /* not an atom: skipped */
    ei_x_encode_boolean(out, ok);
    return CN_RPC_RETURN;
}

static int get_net_ticktime_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    ei_x_encode_long(out, cn_node.ticktime_ms / 1000);
    return CN_RPC_RETURN;
}

static int nodename_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    ei_x_encode_atom(out, cn_node_name(0));
    return CN_RPC_RETURN;
}

/* erlang:node(Arg): the node a pid, reference or port belongs to; anything else badarg. */
static int node_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    int type, size, i = *idx;
    cn_pid pid;
    cn_ref ref;
    erlang_port port;
    const char *name = NULL;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return cn_ix_badarg(out);
    if ((type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) && cn_decode_pid(buf, &i, &pid) == 0)
        name = cn_node_name(pid.node);
    else if ((type == ERL_NEW_REFERENCE_EXT || type == ERL_NEWER_REFERENCE_EXT ||
              type == ERL_REFERENCE_EXT) &&
             cn_decode_ref(buf, &i, &ref) == 0)
        name = cn_node_name(ref.node);
    else if ((type == ERL_PORT_EXT || type == ERL_NEW_PORT_EXT || type == ERL_V4_PORT_EXT) &&
             ei_decode_port(buf, &i, &port) == 0)
        name = port.node;
    if (!name)
        return cn_ix_badarg(out);
    *idx = i;
    ei_x_encode_atom(out, name);
    return CN_RPC_RETURN;
}

/* ---- clocks -------------------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The value (in native units) in the unit asked for: arity 0 native, 1 the argument. */
static int in_unit(const char *buf, int *idx, int arity, int64_t native, ei_x_buff *out)
{
    cn_tint t, from, to, v;
    cn_tint_set(&from, CN_NATIVE_PPS);
    to = from;
    if (arity == 1 && cn_time_unit_decode(buf, idx, &to) < 0)
        return cn_ix_badarg(out);
    cn_tint_set(&t, native);
    cn_time_convert(&t, &from, &to, &v);
    cn_time_encode_int(out, &v);
    return CN_RPC_RETURN;
}

/* erlang:system_time/0,1 and os:system_time/0,1: the OS's wall clock. */
static int system_time_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    return in_unit(buf, idx, arity, clock_ns(CLOCK_REALTIME), out);
}

/* erlang:monotonic_time/0,1, os:perf_counter/0,1. */
static int monotonic_time_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    return in_unit(buf, idx, arity, clock_ns(CLOCK_MONOTONIC), out);
}

/* erlang:time_offset/0,1: system time less monotonic time, so that monotonic_time() +
 * time_offset() is system_time(). */
static int time_offset_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    int64_t mono = clock_ns(CLOCK_MONOTONIC), sys = clock_ns(CLOCK_REALTIME);
    return in_unit(buf, idx, arity, sys - mono, out);
}

/* erlang:convert_time_unit(Time, FromUnit, ToUnit). */
static int convert_time_unit_3(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    cn_tint t, from, to, v;
    int i = *idx;
    if (cn_time_int_decode(buf, &i, &t) < 0 || cn_time_unit_decode(buf, &i, &from) < 0 ||
        cn_time_unit_decode(buf, &i, &to) < 0)
        return cn_ix_badarg(out);
    *idx = i;
    cn_time_convert(&t, &from, &to, &v);
    cn_time_encode_int(out, &v);
    return CN_RPC_RETURN;
}

/* os:timestamp/0, erlang:timestamp/0: {MegaSecs, Secs, MicroSecs} of the wall clock. */
static int timestamp_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cn_obs_encode_now(out, (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
    return CN_RPC_RETURN;
}

enum { T_DATE = 1, T_TIME = 2 };

/* {Y, M, D} and/or {H, Mi, S} of now, local (the node's TZ) or universal. */
static void encode_now(ei_x_buff *out, int local, int parts)
{
    time_t now = time(NULL);
    struct tm tm;
    if (local)
        localtime_r(&now, &tm);
    else
        gmtime_r(&now, &tm);
    if (parts == (T_DATE | T_TIME))
        ei_x_encode_tuple_header(out, 2);
    if (parts & T_DATE) {
        ei_x_encode_tuple_header(out, 3);
        ei_x_encode_long(out, tm.tm_year + 1900);
        ei_x_encode_long(out, tm.tm_mon + 1);
        ei_x_encode_long(out, tm.tm_mday);
    }
    if (parts & T_TIME) {
        ei_x_encode_tuple_header(out, 3);
        ei_x_encode_long(out, tm.tm_hour);
        ei_x_encode_long(out, tm.tm_min);
        ei_x_encode_long(out, tm.tm_sec > 59 ? 59 : tm.tm_sec); /* a leap second */
    }
}

static int localtime_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    encode_now(out, 1, T_DATE | T_TIME);
    return CN_RPC_RETURN;
}

static int universaltime_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    encode_now(out, 0, T_DATE | T_TIME);
    return CN_RPC_RETURN;
}

static int date_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    encode_now(out, 1, T_DATE);
    return CN_RPC_RETURN;
}

static int time_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    encode_now(out, 1, T_TIME);
    return CN_RPC_RETURN;
}

/* system_info/1 about the clocks, saying what the functions above do: the OS clocks read
 * as they are (multi_time_warp, a volatile offset), in nanoseconds. */
static void time_source(ei_x_buff *out, clockid_t id, const char *name, int mono)
{
    struct timespec res;
    long long per_sec = 1000000000;
    if (clock_getres(id, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0)
        per_sec = 1000000000LL / res.tv_nsec;
    /* OTP 26+ also says used_resolution, which older readers of the list skip */
    ei_x_encode_list_header(out, mono ? 7 : 5);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "function");
    ei_x_encode_atom(out, "clock_gettime");
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "clock_id");
    ei_x_encode_atom(out, name);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "resolution");
    ei_x_encode_longlong(out, per_sec);
    if (mono) {
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "used_resolution");
        ei_x_encode_longlong(out, per_sec);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "extended");
        ei_x_encode_atom(out, "no");
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "parallel");
    ei_x_encode_atom(out, "yes");
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "time");
    ei_x_encode_longlong(out, clock_ns(id));
    ei_x_encode_empty_list(out);
}

int cn_ix_time_info(const char *key, ei_x_buff *out)
{
    if (!strcmp(key, "time_warp_mode"))
        ei_x_encode_atom(out, "multi_time_warp");
    else if (!strcmp(key, "time_offset"))
        ei_x_encode_atom(out, "volatile");
    else if (!strcmp(key, "time_correction"))
        ei_x_encode_atom(out, "true"); /* CLOCK_MONOTONIC is slewed by NTP with the OS clock */
    else if (!strcmp(key, "os_monotonic_time_source"))
        time_source(out, CLOCK_MONOTONIC, "CLOCK_MONOTONIC", 1);
    else if (!strcmp(key, "os_system_time_source"))
        time_source(out, CLOCK_REALTIME, "CLOCK_REALTIME", 0);
    else if (!strcmp(key, "start_time")) /* monotonic time when the node started, to the ms */
        ei_x_encode_longlong(out, clock_ns(CLOCK_MONOTONIC) - (int64_t)cn_ix_uptime_ms() * 1000000);
    else if (!strcmp(key, "end_time"))
        ei_x_encode_longlong(out, INT64_MAX);
    else
        return -1;
    return 0;
}

/* ---- the OS -------------------------------------------------------------------------- */

/* os:type/0: {unix, Sysname} with the kernel's name in lower case, as the BEAM gives it. */
static int os_type_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    struct utsname u;
    char name[sizeof u.sysname] = "unknown";
    if (uname(&u) == 0) {
        size_t i = 0;
        for (; u.sysname[i] && i + 1 < sizeof name; i++) {
            char ch = u.sysname[i];
            name[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        name[i] = '\0';
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "unix");
    ei_x_encode_atom(out, name);
    return CN_RPC_RETURN;
}

/* os:version/0: {Major, Minor, Release} from the kernel release ("6.18.44-x" → {6,18,44});
 * a missing part is 0. */
static int os_version_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    struct utsname u;
    long v[3] = {0, 0, 0};
    if (uname(&u) == 0) {
        const char *p = u.release;
        for (int k = 0; k < 3 && *p >= '0' && *p <= '9'; k++) {
            char *end;
            long n = strtol(p, &end, 10);
            v[k] = n < 0 || n > 0x7ffffff ? 0 : n;
            p = end;
            if (*p != '.')
                break;
            p++;
        }
    }
    ei_x_encode_tuple_header(out, 3);
    for (int k = 0; k < 3; k++)
        ei_x_encode_long(out, v[k]);
    return CN_RPC_RETURN;
}

int cn_bifs_node_start(void)
{
    static const cn_export_row t[] = {
        {"net_kernel", "connect_node", 1, connect_node_1},
        {"net_kernel", "disconnect", 1, disconnect_node_1},
        {"net_kernel", "get_net_ticktime", 0, get_net_ticktime_0},
        {"net_kernel", "nodename", 0, nodename_0},
        {"net_adm", "ping", 1, ping_1},
        {"erlang", "disconnect_node", 1, disconnect_node_1},
        {"erlang", "node", 1, node_1},
        {"erlang", "system_time", 0, system_time_n},
        {"erlang", "system_time", 1, system_time_n},
        {"erlang", "monotonic_time", 0, monotonic_time_n},
        {"erlang", "monotonic_time", 1, monotonic_time_n},
        {"erlang", "time_offset", 0, time_offset_n},
        {"erlang", "time_offset", 1, time_offset_n},
        {"erlang", "convert_time_unit", 3, convert_time_unit_3},
        {"erlang", "timestamp", 0, timestamp_0},
        {"erlang", "localtime", 0, localtime_0},
        {"erlang", "universaltime", 0, universaltime_0},
        {"erlang", "date", 0, date_0},
        {"erlang", "time", 0, time_0},
        {"os", "system_time", 0, system_time_n},
        {"os", "system_time", 1, system_time_n},
        {"os", "perf_counter", 0, monotonic_time_n},
        {"os", "perf_counter", 1, monotonic_time_n},
        {"os", "timestamp", 0, timestamp_0},
        {"os", "type", 0, os_type_0},
        {"os", "version", 0, os_version_0},
    };
    return cn_export_rows(t, sizeof t / sizeof t[0]);
}

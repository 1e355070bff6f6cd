/* observer_enc: etop's records, timestamps and the argument readers of observer.c. */
#include "services/observer_enc.h"

#include <string.h>

const char *const cn_obs_sys_keys[] = {
    "uptime",
    "run_queue",
    "io_input",
    "io_output",
    "logical_processors",
    "logical_processors_online",
    "logical_processors_available",
    "schedulers",
    "schedulers_online",
    "schedulers_available",
    "otp_release",
    "version",
    "system_architecture",
    "kernel_poll",
    "smp_support",
    "threads",
    "thread_pool_size",
    "wordsize_internal",
    "wordsize_external",
    "alloc_info",
    "process_count",
    "atom_limit",
    "atom_count",
    "process_limit",
    "process_count",
    "port_limit",
    "port_count",
    "ets_limit",
    "ets_count",
    "dist_buf_busy_limit",
};
const int cn_obs_n_sys_keys = (int)(sizeof cn_obs_sys_keys / sizeof cn_obs_sys_keys[0]);

const char *const cn_obs_etop_mem_keys[] = {"total", "processes", "ets", "atom", "code", "binary"};
const int cn_obs_n_etop_mem_keys =
    (int)(sizeof cn_obs_etop_mem_keys / sizeof cn_obs_etop_mem_keys[0]);

static void encode_mfa(ei_x_buff *x, const char *m, const char *f, long a)
{
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, m);
    ei_x_encode_atom(x, f);
    ei_x_encode_long(x, a);
}

void cn_obs_encode_proc(ei_x_buff *x, const cn_pid *pid, const cn_ix_summary *s)
{
    ei_x_encode_tuple_header(x, 8);
    ei_x_encode_atom(x, "etop_proc_info");
    cn_encode_pid(x, pid);
    ei_x_encode_ulonglong(x, s->memory);
    ei_x_encode_ulonglong(x, s->reductions);
    if (s->has_name)
        ei_x_encode_atom(x, s->name);
    else
        encode_mfa(x, s->init_m, s->init_f, s->init_a);
    ei_x_encode_long(x, 0); /* runtime: etop fills it in (or '-') */
    encode_mfa(x, s->cur_m, s->cur_f, s->cur_a);
    ei_x_encode_ulong(x, s->mq);
}

void cn_obs_encode_now(ei_x_buff *x, uint64_t us)
{
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_ulonglong(x, us / 1000000000000ull);
    ei_x_encode_ulonglong(x, us / 1000000 % 1000000);
    ei_x_encode_ulonglong(x, us % 1000000);
}

int cn_obs_decode_timeout(const char *buf, int *idx, unsigned long *ms)
{
    int i = *idx, type, size;
    long long v;
    if (ei_get_type(buf, &i, &type, &size) < 0 ||
        (type != ERL_SMALL_INTEGER_EXT && type != ERL_INTEGER_EXT && type != ERL_SMALL_BIG_EXT))
        return -1;
    if (ei_decode_longlong(buf, &i, &v) < 0 || v < 0 || v > 4294967295LL)
        return -1; /* negative, or a bignum past `after`'s range */
    *ms = (unsigned long)v;
    *idx = i;
    return 0;
}

int cn_obs_decode_pid(const char *buf, int *idx, cn_pid *pid)
{
    int i = *idx, type, size;
    if (ei_get_type(buf, &i, &type, &size) < 0 || (type != ERL_PID_EXT && type != ERL_NEW_PID_EXT))
        return -1;
    if (cn_decode_pid(buf, &i, pid) < 0)
        return -1;
    *idx = i;
    return 0;
}

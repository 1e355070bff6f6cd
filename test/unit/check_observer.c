/* check_observer: unit tests for what observer_backend's callers get from the node (services/
 * observer_enc and observer): etop's records and timestamps as the BEAM encodes them, the
 * readers of timeouts and pids on hostile terms, sys_info/0's keys, and the exported functions'
 * refusals of bad arguments (badarg, timeout_value, function_clause), which must never crash. */
#include "proc/ident.h"
#include "proc/proc.h"
#include "services/exports.h"
#include "services/introspect.h"
#include "services/observer_enc.h"

#include <check.h>
#include <ei.h>
#include <string.h>

#include "check_main.h"

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    ei_init();
    cn_ident_init("obs@localhost", 77);
    ck_assert_int_eq(cn_ptab_init(64), 0);
    ck_assert_int_eq(cn_introspect_start(), 0);
    ck_assert_int_eq(cn_observer_start(), 0);
}

/* ---- timeouts and pids ------------------------------------------------------------------- */

typedef void (*enc_fn)(ei_x_buff *x);
static void e_neg(ei_x_buff *x)
{
    ei_x_encode_long(x, -1);
}
static void e_big(ei_x_buff *x)
{
    ei_x_encode_longlong(x, 4294967296LL);
}
static void e_huge(ei_x_buff *x)
{
    ei_x_encode_ulonglong(x, 18446744073709551615ULL);
}
static void e_float(ei_x_buff *x)
{
    ei_x_encode_double(x, 1.5);
}
static void e_atom(ei_x_buff *x)
{
    ei_x_encode_atom(x, "infinity");
}
static void e_list(ei_x_buff *x)
{
    ei_x_encode_string(x, "100");
}
static void e_tuple(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 1);
    ei_x_encode_long(x, 5);
}
static void e_nil(ei_x_buff *x)
{
    ei_x_encode_empty_list(x);
}
static void e_bin(ei_x_buff *x)
{
    ei_x_encode_binary(x, "ab", 2);
}
static void e_ref(ei_x_buff *x)
{
    cn_ref r = {.node = 0, .creation = 77, .len = 3, .n = {1, 2, 3}};
    cn_encode_ref(x, &r);
}

START_TEST(timeouts_in_range_only)
{
    setup();
    const long long good[] = {0, 1, 100, 4294967295LL};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_longlong(&x, good[k]);
        int idx = 0;
        unsigned long ms = 7;
        ck_assert_int_eq(cn_obs_decode_timeout(x.buff, &idx, &ms), 0);
        ck_assert_uint_eq(ms, (unsigned long)good[k]);
        ck_assert_int_eq(idx, x.index);
        ei_x_free(&x);
    }
    const enc_fn bad[] = {e_neg,  e_big,   e_huge, e_float, e_atom,
                          e_list, e_tuple, e_nil,  e_bin,   e_ref};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ei_x_buff x;
        ei_x_new(&x);
        bad[k](&x);
        int idx = 0;
        unsigned long ms = 7;
        ck_assert_msg(cn_obs_decode_timeout(x.buff, &idx, &ms) < 0, "bad timeout %zu taken", k);
        ck_assert_int_eq(idx, 0);
        ck_assert_uint_eq(ms, 7);
        ei_x_free(&x);
    }
}
END_TEST

START_TEST(pids_only)
{
    setup();
    ei_x_buff x;
    ei_x_new(&x);
    cn_pid p = {.node = 0, .id = 42, .serial = 3, .creation = 77}, q;
    cn_encode_pid(&x, &p);
    int idx = 0;
    ck_assert_int_eq(cn_obs_decode_pid(x.buff, &idx, &q), 0);
    ck_assert(cn_pid_eq(&p, &q));
    ck_assert_int_eq(idx, x.index);
    ei_x_free(&x);
    const enc_fn bad[] = {e_neg, e_atom, e_list, e_tuple, e_nil, e_bin, e_ref, e_float};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ei_x_new(&x);
        bad[k](&x);
        idx = 0;
        ck_assert_msg(cn_obs_decode_pid(x.buff, &idx, &q) < 0, "not a pid %zu taken", k);
        ck_assert_int_eq(idx, 0);
        ei_x_free(&x);
    }
}
END_TEST

/* ---- records and timestamps ---------------------------------------------------------------- */

static void expect_atom(const char *b, int *i, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    ck_assert_int_eq(ei_decode_atom(b, i, a), 0);
    ck_assert_str_eq(a, want);
}

static void expect_mfa(const char *b, int *i, const char *m, const char *f, long a)
{
    int n;
    long v;
    ck_assert_int_eq(ei_decode_tuple_header(b, i, &n), 0);
    ck_assert_int_eq(n, 3);
    expect_atom(b, i, m);
    expect_atom(b, i, f);
    ck_assert_int_eq(ei_decode_long(b, i, &v), 0);
    ck_assert_int_eq(v, a);
}

START_TEST(etop_proc_info_record)
{
    setup();
    cn_ix_summary s = {.has_name = 1, .memory = 1234, .reductions = 5000000000ULL, .mq = 9};
    strcpy(s.name, "echo");
    strcpy(s.init_m, "echo_mod");
    strcpy(s.init_f, "init");
    s.init_a = 1;
    strcpy(s.cur_m, "gen_server");
    strcpy(s.cur_f, "loop");
    s.cur_a = 7;
    cn_pid pid = {.node = 0, .id = 8, .serial = 1, .creation = 77}, got;
    for (int named = 1; named >= 0; named--) {
        s.has_name = named;
        ei_x_buff x;
        ei_x_new(&x);
        cn_obs_encode_proc(&x, &pid, &s);
        int i = 0, n;
        unsigned long long u;
        long v;
        ck_assert_int_eq(ei_decode_tuple_header(x.buff, &i, &n), 0);
        ck_assert_int_eq(n, 8); /* etop_proc_info + 7 fields */
        expect_atom(x.buff, &i, "etop_proc_info");
        ck_assert_int_eq(cn_decode_pid(x.buff, &i, &got), 0);
        ck_assert(cn_pid_eq(&got, &pid));
        ck_assert_int_eq(ei_decode_ulonglong(x.buff, &i, &u), 0);
        ck_assert_uint_eq(u, 1234);
        ck_assert_int_eq(ei_decode_ulonglong(x.buff, &i, &u), 0);
        ck_assert_uint_eq(u, 5000000000ULL); /* past 32 bits: a bignum, still exact */
        if (named)
            expect_atom(x.buff, &i, "echo");
        else
            expect_mfa(x.buff, &i, "echo_mod", "init", 1);
        ck_assert_int_eq(ei_decode_long(x.buff, &i, &v), 0); /* runtime */
        ck_assert_int_eq(v, 0);
        expect_mfa(x.buff, &i, "gen_server", "loop", 7);
        ck_assert_int_eq(ei_decode_long(x.buff, &i, &v), 0);
        ck_assert_int_eq(v, 9);
        ck_assert_int_eq(i, x.index);
        ei_x_free(&x);
    }
}
END_TEST

START_TEST(timestamps)
{
    ei_x_buff x;
    ei_x_new(&x);
    cn_obs_encode_now(&x, 1700000001123456ULL);
    int i = 0, n;
    long a, b, c;
    ck_assert_int_eq(ei_decode_tuple_header(x.buff, &i, &n), 0);
    ck_assert_int_eq(n, 3);
    ck_assert(ei_decode_long(x.buff, &i, &a) == 0 && ei_decode_long(x.buff, &i, &b) == 0 &&
              ei_decode_long(x.buff, &i, &c) == 0);
    ck_assert_int_eq(a, 1700);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(c, 123456);
    ei_x_free(&x);
}
END_TEST

/* ---- the exported functions ---------------------------------------------------------------- */

/* Run observer_backend:fun with the arguments args encodes (self NULL: only paths that refuse,
 * or need no process). Returns the class; the result is left in out. */
static int run(const char *fun, int arity, enc_fn args, ei_x_buff *out)
{
    cn_rpc_fn fn = cn_export_lookup("observer_backend", fun, arity);
    ck_assert_msg(fn != NULL, "observer_backend:%s/%d not exported", fun, arity);
    ei_x_buff a;
    ei_x_new(&a);
    if (args)
        args(&a);
    int idx = 0;
    ei_x_new(out);
    int cls = fn(NULL, a.buff, &idx, arity, out);
    ei_x_free(&a);
    return cls;
}

static void expect_error(const char *fun, int arity, enc_fn args, const char *reason)
{
    ei_x_buff out;
    ck_assert_int_eq(run(fun, arity, args, &out), CN_RPC_ERROR);
    int i = 0;
    expect_atom(out.buff, &i, reason);
    ei_x_free(&out);
}

static void a_atom(ei_x_buff *x)
{
    ei_x_encode_atom(x, "nopid");
}
static void a_pid(ei_x_buff *x)
{
    cn_pid p = {.node = 0, .id = 1, .serial = 0, .creation = 77};
    cn_encode_pid(x, &p);
}
static void a_pid_neg(ei_x_buff *x)
{
    a_pid(x), e_neg(x);
}
static void a_pid_atom(ei_x_buff *x)
{
    a_pid(x), e_atom(x);
}
static void a_pid_huge(ei_x_buff *x)
{
    a_pid(x), e_huge(x);
}
static void a_pid_float(ei_x_buff *x)
{
    a_pid(x), e_float(x);
}
static void a_atom_ten(ei_x_buff *x)
{
    a_atom(x), ei_x_encode_long(x, 10);
}
static void a_tab_dets(ei_x_buff *x)
{
    ei_x_encode_atom(x, "dets"), e_nil(x);
}
static void a_tab_notlist(ei_x_buff *x)
{
    ei_x_encode_atom(x, "ets"), e_atom(x);
}
static void a_tab_int(ei_x_buff *x)
{
    ei_x_encode_long(x, 3), e_nil(x);
}
static void a_tab_ets(ei_x_buff *x)
{
    ei_x_encode_atom(x, "ets"), e_nil(x);
}
static void a_tab_mnesia(ei_x_buff *x)
{
    ei_x_encode_atom(x, "mnesia"), e_list(x);
}

START_TEST(bad_arguments_refused)
{
    setup();
    expect_error("etop_collect", 1, a_atom, "badarg");
    expect_error("etop_collect", 1, e_ref, "badarg");
    expect_error("procs_info", 1, e_list, "badarg");
    expect_error("procs_info", 1, e_tuple, "badarg");
    expect_error("fetch_stats", 2, a_pid_neg, "timeout_value");
    expect_error("fetch_stats", 2, a_pid_atom, "timeout_value");
    expect_error("fetch_stats", 2, a_pid_huge, "timeout_value");
    expect_error("fetch_stats", 2, a_pid_float, "timeout_value");
    expect_error("fetch_stats", 2, a_atom_ten, "badarg");
    expect_error("get_table_list", 2, a_tab_dets, "function_clause");
    expect_error("get_table_list", 2, a_tab_notlist, "function_clause");
    expect_error("get_table_list", 2, a_tab_int, "function_clause");

    ei_x_buff out;
    ck_assert_int_eq(run("get_table_list", 2, a_tab_ets, &out), CN_RPC_RETURN);
    int i = 0, n, t;
    ck_assert(ei_get_type(out.buff, &i, &t, &n) == 0 && t == ERL_NIL_EXT);
    ei_x_free(&out);
    ck_assert_int_eq(run("get_table_list", 2, a_tab_mnesia, &out), CN_RPC_THROW);
    i = 0;
    ck_assert_int_eq(ei_decode_tuple_header(out.buff, &i, &n), 0);
    expect_atom(out.buff, &i, "error");
    ei_x_free(&out);
}
END_TEST

START_TEST(sys_info_keys_and_values)
{
    setup();
    static const char *const want[] = {"uptime",
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
                                       "total",
                                       "processes",
                                       "processes_used",
                                       "system",
                                       "atom",
                                       "atom_used",
                                       "binary",
                                       "code",
                                       "ets"};
    ei_x_buff out;
    ck_assert_int_eq(run("sys_info", 0, NULL, &out), CN_RPC_RETURN);
    int i = 0, n, ar, t, sz;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        ck_assert_int_eq(ei_decode_list_header(out.buff, &i, &n), 0);
        ck_assert_int_eq(n, 1);
        ck_assert_int_eq(ei_decode_tuple_header(out.buff, &i, &ar), 0);
        ck_assert_int_eq(ar, 2);
        expect_atom(out.buff, &i, want[k]);
        if (!strcmp(want[k], "process_limit")) {
            long v;
            ck_assert_int_eq(ei_decode_long(out.buff, &i, &v), 0);
            ck_assert_int_eq(v, (long)cn_proc_limit()); /* what the table holds */
            ck_assert_int_gt(v, 0);
        } else if (!strcmp(want[k], "atom_limit") || !strcmp(want[k], "port_limit") ||
                   !strcmp(want[k], "ets_limit")) {
            expect_atom(out.buff, &i, "undefined"); /* observer would divide by a 0 limit */
        } else {
            ck_assert(ei_get_type(out.buff, &i, &t, &sz) == 0);
            ck_assert_msg(
                !(t == ERL_ATOM_EXT || t == ERL_SMALL_ATOM_UTF8_EXT || t == ERL_ATOM_UTF8_EXT) ||
                    strcmp(want[k], "kernel_poll") == 0 || strcmp(want[k], "smp_support") == 0 ||
                    strcmp(want[k], "threads") == 0,
                "%s has no value", want[k]);
            ck_assert_int_eq(ei_skip_term(out.buff, &i), 0);
        }
    }
    ck_assert(ei_get_type(out.buff, &i, &t, &sz) == 0 && t == ERL_NIL_EXT);
    ei_skip_term(out.buff, &i);
    ck_assert_int_eq(i, out.index);
    ei_x_free(&out);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("observer");
    TCase *tc = tcase_create("observer");
    tcase_add_test(tc, timeouts_in_range_only);
    tcase_add_test(tc, pids_only);
    tcase_add_test(tc, etop_proc_info_record);
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, bad_arguments_refused);
    tcase_add_test(tc, sys_info_keys_and_values);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

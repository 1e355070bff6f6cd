/* check_module_info: Module:module_info/0,1 (services/module_info.c) and the sys functions'
 * argument readers (services/sys_rpc.c) on good and hostile arguments: the right keys and
 * exports, badarg for anything else, never a crash. */
#include "proc/ident.h"
#include "proc/proc.h"
#include "services/exports.h"
#include "services/introspect.h"

#include <check.h>
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static int fn_two(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)buf, (void)idx, (void)arity;
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    ei_init();
    cn_ident_init("mi@localhost", 5);
    ck_assert_int_eq(cn_ptab_init(64), 0);
    ck_assert_int_eq(cn_export("mimod", "two", 2, fn_two), 0);
    ck_assert_int_eq(cn_export("mimod", "any", -1, fn_two), 0);
    ck_assert_int_eq(cn_sys_rpc_start(), 0);
}

/* module_info(Key) with the key's encoding built by enc; returns the class, out holds the term. */
static int info1(void (*enc)(ei_x_buff *), ei_x_buff *out)
{
    ei_x_buff a;
    ei_x_new(&a);
    enc(&a);
    ei_x_new(out);
    int cls = cn_module_info("mimod", a.buff, 1, out);
    ei_x_free(&a);
    return cls;
}

/* Lists built one element at a time print as nested cons cells. */
#define EXPORTS "[{two, 2} | [{module_info, 0} | [{module_info, 1}]]]"

/* Is x's term, printed by ei, the text want? */
static int term_eq(const ei_x_buff *x, const char *want)
{
    char *got = NULL;
    int i = 0;
    int ok = ei_s_print_term(&got, x->buff, &i) >= 0 && i == x->index && !strcmp(got, want);
    if (!ok)
        fprintf(stderr, "got %s, want %s\n", got ? got : "(nothing)", want);
    free(got);
    return ok;
}

static void k_exports(ei_x_buff *x)
{
    ei_x_encode_atom(x, "exports");
}
static void k_module(ei_x_buff *x)
{
    ei_x_encode_atom(x, "module");
}
static void k_attributes(ei_x_buff *x)
{
    ei_x_encode_atom(x, "attributes");
}
static void k_md5(ei_x_buff *x)
{
    ei_x_encode_atom(x, "md5");
}
static void k_string(ei_x_buff *x)
{
    ei_x_encode_string(x, "exports");
}
static void k_tuple(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 1);
    ei_x_encode_atom(x, "exports");
}
static void k_int(ei_x_buff *x)
{
    ei_x_encode_long(x, 7);
}

START_TEST(known_modules)
{
    setup();
    ck_assert(cn_module_known("mimod"));
    ck_assert(!cn_module_known("nosuch"));
    ck_assert(!cn_module_known(""));
    ck_assert_uint_eq(cn_export_module_fns("mimod", NULL), 2);
    ck_assert_uint_eq(cn_export_module_fns("nosuch", NULL), 0);
}
END_TEST

START_TEST(keys)
{
    setup();
    ei_x_buff out;
    ck_assert_int_eq(info1(k_module, &out), CN_RPC_RETURN);
    ck_assert(term_eq(&out, "mimod"));
    ei_x_free(&out);
    /* fixed-arity functions and the two module_info: the any-arity one has no arity to name */
    ck_assert_int_eq(info1(k_exports, &out), CN_RPC_RETURN);
    ck_assert(term_eq(&out, EXPORTS));
    ei_x_free(&out);
    ck_assert_int_eq(info1(k_attributes, &out), CN_RPC_RETURN);
    ck_assert(term_eq(&out, "[]"));
    ei_x_free(&out);
    ei_x_new(&out);
    ck_assert_int_eq(cn_module_info("mimod", NULL, 0, &out), CN_RPC_RETURN);
    ck_assert(term_eq(&out, "[{module, mimod} | [{exports, " EXPORTS "} | [{attributes, []} | "
                            "[{compile, []}]]]]"));
    ei_x_free(&out);
}
END_TEST

START_TEST(bad_keys)
{
    setup();
    void (*bad[])(ei_x_buff *) = {k_md5, k_string, k_tuple, k_int};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ei_x_buff out;
        ck_assert_int_eq(info1(bad[i], &out), CN_RPC_ERROR);
        ck_assert(term_eq(&out, "badarg")); /* nothing half-written before it */
        ei_x_free(&out);
    }
}
END_TEST

/* sys:F(Args) through the export table, from no process (the readers refuse before any
 * message is sent); the class and the reason. */
static int sys_call(const char *f, int arity, void (*enc)(ei_x_buff *), ei_x_buff *out)
{
    cn_rpc_fn fn = cn_export_lookup("sys", f, arity);
    ck_assert_ptr_nonnull(fn);
    ei_x_buff a;
    ei_x_new(&a);
    enc(&a);
    ei_x_new(out);
    int i = 0, cls = fn(NULL, a.buff, &i, arity, out);
    ei_x_free(&a);
    return cls;
}

static void a_int_timeout(ei_x_buff *x)
{
    ei_x_encode_long(x, 1);
    ei_x_encode_long(x, 100);
}
static void a_neg_timeout(ei_x_buff *x)
{
    cn_pid p = {.node = 0, .id = 1, .serial = 0, .creation = 5};
    cn_encode_pid(x, &p);
    ei_x_encode_long(x, -5);
}
static void a_big_timeout(ei_x_buff *x)
{
    cn_pid p = {.node = 0, .id = 1, .serial = 0, .creation = 5};
    cn_encode_pid(x, &p);
    ei_x_encode_ulonglong(x, 18446744073709551615ULL);
}
static void a_atom_timeout(ei_x_buff *x)
{
    ei_x_encode_atom(x, "echo");
    ei_x_encode_atom(x, "soon");
}
static void a_float(ei_x_buff *x)
{
    ei_x_encode_double(x, 1.0);
    ei_x_encode_long(x, 100);
}
static void a_nil(ei_x_buff *x)
{
    ei_x_encode_empty_list(x);
    ei_x_encode_long(x, 100);
}

START_TEST(sys_bad_arguments)
{
    setup();
    void (*bad[])(ei_x_buff *) = {a_int_timeout,  a_neg_timeout, a_big_timeout,
                                  a_atom_timeout, a_float,       a_nil};
    const char *fs[] = {"get_state", "get_status", "suspend", "resume"};
    for (size_t f = 0; f < 4; f++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ei_x_buff out;
            ck_assert_int_eq(sys_call(fs[f], 2, bad[i], &out), CN_RPC_ERROR);
            ck_assert(term_eq(&out, "badarg"));
            ei_x_free(&out);
        }
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("module_info");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, known_modules);
    tcase_add_test(tc, keys);
    tcase_add_test(tc, bad_keys);
    tcase_add_test(tc, sys_bad_arguments);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

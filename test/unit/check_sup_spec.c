/* check_sup_spec: unit tests for cnode_sup's child-spec parser (services/sup_spec): the tuple
 * forms (5 and 6 elements) and the map form with OTP's defaults, and malformed or hostile specs,
 * each refused with the error start_child answers, leaving *idx where it was. */
#include "dist/term.h"
#include "services/sup_spec.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static int dummy_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    (void)buf;
    (void)idx;
    *state = NULL;
    return 0;
}

static const cn_worker test_worker = {.module = "w_test", .init = dummy_init};

static void setup(void)
{
    cn_worker_register(&test_worker); /* -1 on the second test: already there */
}

/* The term at buf[0, len) as ei prints it (malloc'd). */
static char *printed(const char *buf, int len)
{
    char *s = NULL;
    int idx = 0;
    ck_assert_int_ge(ei_s_print_term(&s, buf, &idx), 0);
    ck_assert_int_eq(idx, len);
    return s;
}

/* Parse the spec in x (its whole length must be consumed on success). Returns what
 * sup_spec_parse returns; the error, printed, goes to *err_out (malloc'd) on failure. */
static int parse(const ei_x_buff *x, sup_spec *sp, char **err_out)
{
    ei_x_buff err;
    ei_x_new(&err);
    int idx = 0;
    int r = sup_spec_parse(x->buff, &idx, sp, &err);
    if (r == 0) {
        ck_assert_int_eq(idx, x->index);
        ck_assert_int_eq(err.index, 0);
        *err_out = NULL;
    } else {
        ck_assert_int_eq(r, -1);
        ck_assert_int_eq(idx, 0); /* a refused spec is not consumed */
        *err_out = printed(err.buff, err.index);
    }
    ei_x_free(&err);
    return r;
}

/* Parse a spec given in ei_x_format syntax and expect a refusal with the printed error want. */
static void refused(const char *fmt, const char *want)
{
    ei_x_buff x;
    ei_x_new(&x);
    ck_assert_int_eq(ei_x_format_wo_ver(&x, fmt), 0);
    sup_spec sp;
    char *err;
    ck_assert_msg(parse(&x, &sp, &err) == -1, "accepted: %s", fmt);
    ck_assert_msg(strcmp(err, want) == 0, "%s: got %s, want %s", fmt, err, want);
    free(err);
    ei_x_free(&x);
}

static void expect_encoded(const char *buf, int len, const char *want)
{
    char *s = printed(buf, len);
    ck_assert_str_eq(s, want);
    free(s);
}

START_TEST(five_tuple_all_given)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_format_wo_ver(&x, "{{w_test, start_link, [1, -2, foo]}, transient, 250, worker, [w_test, "
                           "other]}");
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    ck_assert_ptr_eq(sp.w, &test_worker);
    ck_assert_int_eq(sp.restart, R_TRANSIENT);
    ck_assert_int_eq(sp.shutdown, 250);
    ck_assert_int_eq(sp.supervisor, 0);
    expect_encoded(sp.args, sp.args_len, "[1, -2, foo]");
    expect_encoded(sp.modules, sp.modules_len, "[w_test, other]");
    sup_spec_free(&sp);
    ck_assert_ptr_null(sp.args);
    ck_assert_ptr_null(sp.modules);
    ei_x_free(&x);
}
END_TEST

START_TEST(six_tuple_with_id)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_format_wo_ver(&x,
                       "{{some, id}, {w_test, start_link, []}, temporary, brutal_kill, supervisor, "
                       "dynamic}");
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    ck_assert_ptr_eq(sp.w, &test_worker);
    ck_assert_int_eq(sp.restart, R_TEMPORARY);
    ck_assert_int_eq(sp.shutdown, SHUTDOWN_BRUTAL);
    ck_assert_int_eq(sp.supervisor, 1);
    expect_encoded(sp.args, sp.args_len, "[]");
    expect_encoded(sp.modules, sp.modules_len, "dynamic");
    sup_spec_free(&sp);
    ei_x_free(&x);
}
END_TEST

START_TEST(shutdown_values)
{
    struct {
        const char *term;
        long want;
    } ok[] = {
        {"{{w_test, start_link, []}, permanent, 0, worker, []}", 0},
        {"{{w_test, start_link, []}, permanent, infinity, worker, []}", SHUTDOWN_INFINITY},
        {"{{w_test, start_link, []}, permanent, brutal_kill, supervisor, []}", SHUTDOWN_BRUTAL},
        {"{{w_test, start_link, []}, permanent, 4294967295, worker, []}", 0xffffffffL},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        ei_x_buff x;
        ei_x_new(&x);
        ck_assert_int_eq(ei_x_format_wo_ver(&x, ok[k].term), 0);
        sup_spec sp;
        char *err;
        ck_assert_msg(parse(&x, &sp, &err) == 0, "refused %s: %s", ok[k].term, err);
        ck_assert_int_eq(sp.shutdown, ok[k].want);
        expect_encoded(sp.modules, sp.modules_len, "[]");
        sup_spec_free(&sp);
        ei_x_free(&x);
    }
}
END_TEST

/* A string argument list ("ab", STRING_EXT on the wire) becomes the list of its bytes. */
START_TEST(string_args_become_a_list)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_format_wo_ver(&x, "{{w_test, start_link, \"ab\"}, permanent, 5000, worker, [w_test]}");
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    int idx = 0, type, size;
    ck_assert_int_eq(ei_get_type(sp.args, &idx, &type, &size), 0);
    ck_assert_int_eq(type, ERL_LIST_EXT);
    expect_encoded(sp.args, sp.args_len, "[97, 98]");
    sup_spec_free(&sp);
    ei_x_free(&x);
}
END_TEST

/* A map: missing keys default (permanent, 5000 for a worker, infinity for a supervisor,
 * modules [M]); unknown keys and non-atom keys are ignored. */
START_TEST(map_defaults)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_map_header(&x, 3);
    ei_x_encode_atom(&x, "id");
    ei_x_encode_atom(&x, "anything");
    ei_x_encode_binary(&x, "restart", 7); /* not an atom key: ignored */
    ei_x_encode_atom(&x, "bogus");
    ei_x_encode_atom(&x, "start");
    ei_x_format_wo_ver(&x, "{w_test, start_link, [x]}");
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    ck_assert_ptr_eq(sp.w, &test_worker);
    ck_assert_int_eq(sp.restart, R_PERMANENT);
    ck_assert_int_eq(sp.shutdown, DEFAULT_SHUTDOWN);
    ck_assert_int_eq(sp.supervisor, 0);
    expect_encoded(sp.args, sp.args_len, "[x]");
    expect_encoded(sp.modules, sp.modules_len, "[w_test]");
    sup_spec_free(&sp);
    ei_x_free(&x);

    ei_x_new(&x);
    ei_x_encode_map_header(&x, 3);
    ei_x_encode_atom(&x, "type");
    ei_x_encode_atom(&x, "supervisor");
    ei_x_encode_atom(&x, "start");
    ei_x_format_wo_ver(&x, "{w_test, start_link, []}");
    ei_x_encode_atom(&x, "restart");
    ei_x_encode_atom(&x, "transient");
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    ck_assert_int_eq(sp.restart, R_TRANSIENT);
    ck_assert_int_eq(sp.shutdown, SHUTDOWN_INFINITY);
    ck_assert_int_eq(sp.supervisor, 1);
    sup_spec_free(&sp);
    ei_x_free(&x);
}
END_TEST

START_TEST(map_refusals)
{
    ei_x_buff x;
    sup_spec sp;
    char *err;

    ei_x_new(&x); /* no start: the bare atom, there is no term to show */
    ei_x_encode_map_header(&x, 1);
    ei_x_encode_atom(&x, "id");
    ei_x_encode_atom(&x, "a");
    ck_assert_int_eq(parse(&x, &sp, &err), -1);
    ck_assert_str_eq(err, "invalid_mfa");
    free(err);
    ei_x_free(&x);

    ei_x_new(&x);
    ei_x_encode_map_header(&x, 2);
    ei_x_encode_atom(&x, "start");
    ei_x_format_wo_ver(&x, "{w_test, start_link, []}");
    ei_x_encode_atom(&x, "shutdown");
    ei_x_encode_long(&x, -5);
    ck_assert_int_eq(parse(&x, &sp, &err), -1);
    ck_assert_str_eq(err, "{invalid_shutdown, -5}");
    free(err);
    ei_x_free(&x);

    ei_x_new(&x);
    ei_x_encode_map_header(&x, 0);
    ck_assert_int_eq(parse(&x, &sp, &err), -1);
    ck_assert_str_eq(err, "invalid_mfa");
    free(err);
    ei_x_free(&x);
}
END_TEST

START_TEST(unknown_module_is_undef)
{
    refused("{{no_such_mod, start_link, [1]}, permanent, 5000, worker, [no_such_mod]}",
            "{undef, [{no_such_mod, start_link, [1], []}]}");
}
END_TEST

START_TEST(unknown_function_of_a_worker_module_is_undef)
{
    refused("{{w_test, nosuch, [1]}, permanent, 5000, worker, [w_test]}",
            "{undef, [{w_test, nosuch, [1], []}]}");
    refused("{{w_test, init, []}, permanent, 5000, worker, [w_test]}",
            "{undef, [{w_test, init, [], []}]}");
}
END_TEST

START_TEST(wrong_shapes)
{
    refused("foo", "{invalid_child_spec, foo}");
    refused("[]", "{invalid_child_spec, []}");
    refused("{}", "{invalid_child_spec, {}}");
    refused("{{w_test, start_link, []}, permanent, 5000, worker}",
            "{invalid_child_spec, {{w_test, start_link, []}, permanent, 5000, worker}}");
    refused(
        "{a, {w_test, start_link, []}, permanent, 5000, worker, [], extra}",
        "{invalid_child_spec, {a, {w_test, start_link, []}, permanent, 5000, worker, [], extra}}");
}
END_TEST

START_TEST(bad_mfa)
{
    refused("{{w_test, f}, permanent, 5000, worker, []}", "{invalid_mfa, {w_test, f}}");
    refused("{{w_test, start_link, [], x}, permanent, 5000, worker, []}",
            "{invalid_mfa, {w_test, start_link, [], x}}");
    refused("{w_test, permanent, 5000, worker, []}", "{invalid_mfa, w_test}");
    refused("{{\"w_test\", f, []}, permanent, 5000, worker, []}",
            "{invalid_mfa, {\"w_test\", f, []}}");
    refused("{{w_test, 1, []}, permanent, 5000, worker, []}", "{invalid_mfa, {w_test, 1, []}}");
    refused("{{w_test, start_link, x}, permanent, 5000, worker, []}",
            "{invalid_mfa, {w_test, start_link, x}}");
    refused("{{w_test, start_link, 3}, permanent, 5000, worker, []}",
            "{invalid_mfa, {w_test, start_link, 3}}");
    refused("{{w_test, start_link, {1}}, permanent, 5000, worker, []}",
            "{invalid_mfa, {w_test, start_link, {1}}}");
}
END_TEST

/* {w_test, start_link, [1 | 2]}: ei_x_format cannot write an improper list, so build it by hand. */
START_TEST(improper_args_list)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "w_test");
    ei_x_encode_atom(&x, "start_link");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 2); /* the tail */
    ei_x_format_wo_ver(&x, "permanent");
    ei_x_format_wo_ver(&x, "5000");
    ei_x_format_wo_ver(&x, "worker");
    ei_x_format_wo_ver(&x, "[]");
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), -1);
    ck_assert_str_eq(err, "{invalid_mfa, {w_test, start_link, [1 | 2]}}");
    free(err);
    ei_x_free(&x);
}
END_TEST

START_TEST(bad_restart_shutdown_type)
{
    refused("{{w_test, start_link, []}, forever, 5000, worker, []}",
            "{invalid_restart_type, forever}");
    refused("{{w_test, start_link, []}, 1, 5000, worker, []}", "{invalid_restart_type, 1}");
    refused("{{w_test, start_link, []}, \"permanent\", 5000, worker, []}",
            "{invalid_restart_type, \"permanent\"}");
    refused("{{w_test, start_link, []}, permanent, -1, worker, []}", "{invalid_shutdown, -1}");
    refused("{{w_test, start_link, []}, permanent, 4294967296, worker, []}",
            "{invalid_shutdown, 4294967296}");
    refused("{{w_test, start_link, []}, permanent, 1.5, worker, []}",
            "{invalid_shutdown, 1.500000}");
    refused("{{w_test, start_link, []}, permanent, never, worker, []}",
            "{invalid_shutdown, never}");
    refused("{{w_test, start_link, []}, permanent, 5000, thread, []}",
            "{invalid_child_type, thread}");
    refused("{{w_test, start_link, []}, permanent, 5000, {worker}, []}",
            "{invalid_child_type, {worker}}");
    /* the first bad part is the one named */
    refused("{{w_test, start_link, []}, forever, -1, thread, 7}",
            "{invalid_restart_type, forever}");
}
END_TEST

START_TEST(bad_modules)
{
    refused("{{w_test, start_link, []}, permanent, 5000, worker, w_test}",
            "{invalid_modules, w_test}");
    refused("{{w_test, start_link, []}, permanent, 5000, worker, [1]}", "{invalid_modules, [1]}");
    refused("{{w_test, start_link, []}, permanent, 5000, worker, [a, \"b\"]}",
            "{invalid_modules, [a, \"b\"]}");
    refused("{{w_test, start_link, []}, permanent, 5000, worker, {a}}", "{invalid_modules, {a}}");

    ei_x_buff x; /* [a | b]: built by hand, ei_x_format writes no improper list */
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_format_wo_ver(&x, "{w_test, start_link, []}");
    ei_x_format_wo_ver(&x, "permanent");
    ei_x_format_wo_ver(&x, "5000");
    ei_x_format_wo_ver(&x, "worker");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_atom(&x, "a");
    ei_x_encode_atom(&x, "b");
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), -1);
    ck_assert_str_eq(err, "{invalid_modules, [a | b]}");
    free(err);
    ei_x_free(&x);
}
END_TEST

/* Big but well-formed: a 60000-byte string as the argument list, 10000 modules, deep nesting
 * in an argument. Accepted and copied whole. */
START_TEST(oversized_parts)
{
    enum { N = 60000, M = 10000, DEPTH = 900 };
    char *s = malloc(N + 1);
    memset(s, 'z', N);
    s[N] = 0;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "w_test");
    ei_x_encode_atom(&x, "start_link");
    ei_x_encode_string(&x, s);
    ei_x_encode_atom(&x, "permanent");
    ei_x_encode_long(&x, 1);
    ei_x_encode_atom(&x, "worker");
    ei_x_encode_list_header(&x, M);
    for (int k = 0; k < M; k++)
        ei_x_encode_atom(&x, "m");
    ei_x_encode_empty_list(&x);
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    int idx = 0, n;
    ck_assert_int_eq(ei_decode_list_header(sp.args, &idx, &n), 0);
    ck_assert_int_eq(n, N);
    long v;
    ck_assert_int_eq(ei_decode_long(sp.args, &idx, &v), 0);
    ck_assert_int_eq(v, 'z');
    idx = 0;
    ck_assert_int_eq(ei_decode_list_header(sp.modules, &idx, &n), 0);
    ck_assert_int_eq(n, M);
    ck_assert_int_eq(ei_skip_term(sp.modules, &(int){0}), 0);
    sup_spec_free(&sp);
    ei_x_free(&x);
    free(s);

    ei_x_new(&x); /* args [[[...[]...]]] */
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "w_test");
    ei_x_encode_atom(&x, "start_link");
    for (int k = 0; k < DEPTH; k++)
        ei_x_encode_list_header(&x, 1);
    ei_x_encode_empty_list(&x);
    for (int k = 0; k < DEPTH; k++)
        ei_x_encode_empty_list(&x);
    ei_x_format_wo_ver(&x, "permanent");
    ei_x_format_wo_ver(&x, "5000");
    ei_x_format_wo_ver(&x, "worker");
    ei_x_format_wo_ver(&x, "[]");
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    idx = 0;
    ck_assert_int_eq(ei_skip_term(sp.args, &idx), 0);
    ck_assert_int_eq(idx, sp.args_len);
    sup_spec_free(&sp);
    ei_x_free(&x);
}
END_TEST

/* ei decoders take no length, so the parser relies on what reaches a process being one whole
 * term: every message is scanned (cn_term_scan) on receipt. Every proper prefix of a good
 * spec is refused there; the whole spec scans and parses. */
START_TEST(truncated_specs_never_reach_the_parser)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_format_wo_ver(&x, "{{w_test, start_link, [1, \"ab\", {x}]}, transient, 250, worker, "
                           "[w_test]}");
    for (int len = 0; len < x.index; len++) {
        uint8_t *cut = malloc(len ? (size_t)len : 1);
        memcpy(cut, x.buff, (size_t)len);
        ck_assert_msg(cn_term_scan(cut, (size_t)len, NULL, NULL, NULL) < 0, "prefix %d scans", len);
        free(cut);
    }
    ck_assert_int_eq(cn_term_scan((const uint8_t *)x.buff, (size_t)x.index, NULL, NULL, NULL),
                     x.index);
    sup_spec sp;
    char *err;
    ck_assert_int_eq(parse(&x, &sp, &err), 0);
    sup_spec_free(&sp);
    ei_x_free(&x);
}
END_TEST

START_TEST(helpers)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_format_wo_ver(&x, "{abc, [1, 2]}");
    char a[MAXATOMLEN_UTF8];
    int idx = 0, arity, s0, n;
    ck_assert_int_eq(sup_get_atom(x.buff, &idx, a), -1); /* a tuple: idx stays */
    ck_assert_int_eq(idx, 0);
    ck_assert_int_eq(ei_decode_tuple_header(x.buff, &idx, &arity), 0);
    ck_assert_int_eq(sup_get_atom(x.buff, &idx, a), 0);
    ck_assert_str_eq(a, "abc");
    ck_assert_int_eq(sup_span(x.buff, &idx, &s0, &n), 0);
    ck_assert_int_eq(idx, x.index);
    ck_assert_int_eq(s0 + n, x.index);
    ei_x_buff y;
    ei_x_new(&y);
    sup_encode_tagged(&y, "tag", x.buff, s0, n);
    expect_encoded(y.buff, y.index, "{tag, [1, 2]}");
    char *d = sup_dup_bytes(x.buff, x.index);
    ck_assert_mem_eq(d, x.buff, (size_t)x.index);
    free(d);
    d = sup_dup_bytes(NULL, 0);
    ck_assert_ptr_nonnull(d);
    free(d);
    ei_x_free(&y);
    ei_x_free(&x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sup_spec");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, five_tuple_all_given);
    tcase_add_test(tc, six_tuple_with_id);
    tcase_add_test(tc, shutdown_values);
    tcase_add_test(tc, string_args_become_a_list);
    tcase_add_test(tc, map_defaults);
    tcase_add_test(tc, map_refusals);
    tcase_add_test(tc, unknown_module_is_undef);
    tcase_add_test(tc, unknown_function_of_a_worker_module_is_undef);
    tcase_add_test(tc, wrong_shapes);
    tcase_add_test(tc, bad_mfa);
    tcase_add_test(tc, improper_args_list);
    tcase_add_test(tc, bad_restart_shutdown_type);
    tcase_add_test(tc, bad_modules);
    tcase_add_test(tc, oversized_parts);
    tcase_add_test(tc, truncated_specs_never_reach_the_parser);
    tcase_add_test(tc, helpers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

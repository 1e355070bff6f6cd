/* check_code_table: unit tests for the module table (code/table): current and old versions,
 * exports switching at load, worker stand-ins resolving to the current version, holds by
 * processes and in-flight calls, soft/hard purge, delete, and that a version is unloaded
 * exactly once, only when nothing holds it; refusals of bad descriptors and built-in names. */
#include "code/table.h"

#include "cnode.h"
#include "proc/gen.h"
#include "services/exports.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static int unloaded[8]; /* unload calls per fake handle */

static void fake_unload(void *h)
{
    unloaded[(intptr_t)h]++;
}

static int fn1(cn_proc *s, const char *b, int *i, int a, ei_x_buff *o)
{
    (void)s, (void)b, (void)i, (void)a, (void)o;
    return 1;
}
static int fn2(cn_proc *s, const char *b, int *i, int a, ei_x_buff *o)
{
    (void)s, (void)b, (void)i, (void)a, (void)o;
    return 2;
}

static const cn_worker w1 = {.module = "tmod"}, w2 = {.module = "tmod"};
static const cn_export_def ex1[] = {{"f", 0, fn1}}, ex2[] = {{"f", 0, fn2}, {"g", -1, fn2}};
static const cn_module_def d1 = {CN_ABI_VERSION, "tmod", "1", &w1, ex1, 1};
static const cn_module_def d2 = {CN_ABI_VERSION, "tmod", "2", &w2, ex2, 2};

static cn_pid pid_n(uint32_t id)
{
    return (cn_pid){.node = 0, .id = id, .serial = 0, .creation = 1};
}

static void install_ok(const cn_module_def *d, const char *file, intptr_t h)
{
    const char *why = NULL;
    ck_assert_msg(cn_code_install(d, file, (void *)h, fake_unload, &why) == 0, "install: %s",
                  why ? why : "?");
}

START_TEST(versions_holds_and_purges)
{
    memset(unloaded, 0, sizeof unloaded);
    install_ok(&d1, "t1.cnm", 1);
    char file[64];
    ck_assert(cn_code_loaded("tmod", file, sizeof file));
    ck_assert_str_eq(file, "t1.cnm");

    /* the worker is reached through a stand-in that resolves at spawn time */
    const cn_worker *stub = cn_worker_lookup("tmod");
    ck_assert_ptr_nonnull(stub);
    ck_assert_ptr_ne(stub, &w1);
    ck_assert_str_eq(stub->module, "tmod");
    cn_code_user u1, u2;
    cn_pid p1 = pid_n(1), p2 = pid_n(2);
    ck_assert_ptr_eq(cn_code_bind(stub, &u1, &p1), &w1);
    cn_code_ver *v;
    ck_assert_ptr_eq(cn_export_acquire("tmod", "f", 0, &v), fn1);
    ck_assert_ptr_nonnull(v);
    cn_code_release(v);
    ck_assert_ptr_null(cn_export_acquire("tmod", "g", 3, &v));
    ck_assert_ptr_null(v);

    /* v2 becomes current: new spawns and calls get it; u1 stays on v1 */
    install_ok(&d2, "t2.cnm", 2);
    ck_assert_ptr_eq(cn_worker_lookup("tmod"), stub); /* the stand-in never changes */
    ck_assert_ptr_eq(cn_code_bind(stub, &u2, &p2), &w2);
    ck_assert_ptr_eq(cn_export_acquire("tmod", "f", 0, &v), fn2);
    cn_code_release(v);
    ck_assert_ptr_eq(cn_export_acquire("tmod", "g", 3, &v), fn2);
    cn_code_release(v);
    ck_assert(cn_code_loaded("tmod", file, sizeof file));
    ck_assert_str_eq(file, "t2.cnm");

    /* a third version needs the old one purged first */
    const char *why = NULL;
    ck_assert_int_eq(cn_code_install(&d1, "t3", (void *)3, fake_unload, &why), -1);
    ck_assert_str_eq(why, "not_purged");

    /* soft purge refuses while u1 runs v1 */
    cn_pid *kill;
    size_t nkill;
    ck_assert_int_eq(cn_code_purge("tmod", 1, &kill, &nkill), -1);
    ck_assert_int_eq(unloaded[1], 0);

    /* code_change: u1 moves to v2, and v1 is then free */
    cn_code_ver *to;
    const cn_worker *nw;
    ck_assert_int_eq(cn_code_newer(&u2, &to, &nw), 0); /* already current */
    ck_assert_int_eq(cn_code_newer(&u1, &to, &nw), 1);
    ck_assert_ptr_eq(nw, &w2);
    ck_assert_str_eq(cn_code_vsn(to), "2");
    cn_code_move(&u1, to);
    ck_assert_int_eq(unloaded[1], 0); /* still old code in the table */
    ck_assert_int_eq(cn_code_purge("tmod", 1, &kill, &nkill), 1);
    ck_assert_int_eq(unloaded[1], 1);
    ck_assert_int_eq(cn_code_pending_unload("tmod"), 0);
    ck_assert_int_eq(cn_code_purge("tmod", 0, &kill, &nkill), 0); /* nothing old now */

    /* delete: not loaded any more, nothing new starts, the running ones go on */
    ck_assert_int_eq(cn_code_delete("tmod"), 1);
    ck_assert_int_eq(cn_code_delete("tmod"), 0);
    ck_assert(!cn_code_loaded("tmod", NULL, 0));
    ck_assert_ptr_null(cn_worker_lookup("tmod"));
    ck_assert_ptr_null(cn_export_acquire("tmod", "f", 0, &v));
    cn_code_user u3;
    ck_assert_ptr_null(cn_code_bind(stub, &u3, &p1)); /* a supervisor's kept stand-in */
    ck_assert_int_eq(cn_code_newer(&u1, &to, &nw), -1);

    /* hard purge names whom to kill; unload waits for the last of them */
    ck_assert_int_eq(cn_code_purge("tmod", 0, &kill, &nkill), 1);
    ck_assert_uint_eq(nkill, 2);
    ck_assert(cn_pid_eq(&kill[0], &p2) || cn_pid_eq(&kill[1], &p2));
    ck_assert(cn_pid_eq(&kill[0], &p1) || cn_pid_eq(&kill[1], &p1));
    free(kill);
    ck_assert_int_eq(cn_code_pending_unload("tmod"), 1);
    cn_code_unbind(&u1);
    ck_assert_int_eq(unloaded[2], 0);
    cn_code_unbind(&u2);
    ck_assert_int_eq(unloaded[2], 1);
    cn_code_unbind(&u2); /* twice is harmless */
    ck_assert_int_eq(unloaded[2], 1);
    ck_assert_int_eq(cn_code_pending_unload("tmod"), 0);
}
END_TEST

START_TEST(call_in_flight_keeps_code)
{
    memset(unloaded, 0, sizeof unloaded);
    install_ok(&d1, "a", 4);
    cn_code_ver *v;
    ck_assert_ptr_eq(cn_export_acquire("tmod", "f", 0, &v), fn1); /* a call runs in v1 */
    install_ok(&d2, "b", 5);
    cn_pid *kill;
    size_t nkill;
    ck_assert_int_eq(cn_code_purge("tmod", 1, &kill, &nkill), -1); /* soft: in use */
    ck_assert_int_eq(cn_code_purge("tmod", 0, &kill, &nkill), 1);  /* hard: detached */
    ck_assert_uint_eq(nkill, 0); /* calls are not killed, they end by themselves */
    ck_assert_int_eq(unloaded[4], 0);
    cn_code_release(v); /* the call returns */
    ck_assert_int_eq(unloaded[4], 1);
    /* clean up: v2 old, purged, unloaded */
    ck_assert_int_eq(cn_code_delete("tmod"), 1);
    ck_assert_int_eq(cn_code_purge("tmod", 1, &kill, &nkill), 1);
    ck_assert_int_eq(unloaded[5], 1);
}
END_TEST

/* Loaded code that spawns its own worker by its table (not through the stand-in) holds the
 * version that table belongs to, current or old. */
START_TEST(direct_worker_pointer_holds_its_version)
{
    memset(unloaded, 0, sizeof unloaded);
    static const cn_worker plain = {.module = "plain"};
    cn_code_user ub, u1, u2;
    cn_pid p = pid_n(9);
    ck_assert_ptr_eq(cn_code_bind(&plain, &ub, &p), &plain); /* nothing loaded: as is */
    ck_assert_ptr_null(ub.ver);
    install_ok(&d1, "a", 6);
    ck_assert_ptr_eq(cn_code_bind(&plain, &ub, &p), &plain); /* not loaded code: as is */
    ck_assert_ptr_null(ub.ver);
    ck_assert_ptr_eq(cn_code_bind(&w1, &u1, &p), &w1);
    ck_assert_ptr_nonnull(u1.ver);
    install_ok(&d2, "b", 7);
    cn_pid *kill;
    size_t nkill;
    ck_assert_int_eq(cn_code_purge("tmod", 1, &kill, &nkill), -1);
    ck_assert_ptr_eq(cn_code_bind(&w2, &u2, &p), &w2);
    cn_code_unbind(&u1);
    ck_assert_int_eq(cn_code_purge("tmod", 1, &kill, &nkill), 1);
    ck_assert_int_eq(unloaded[6], 1);
    ck_assert_int_eq(cn_code_delete("tmod"), 1);
    ck_assert_int_eq(cn_code_purge("tmod", 0, &kill, &nkill), 1);
    ck_assert_uint_eq(nkill, 1);
    free(kill);
    ck_assert_int_eq(unloaded[7], 0);
    cn_code_unbind(&u2);
    ck_assert_int_eq(unloaded[7], 1);
}
END_TEST

static int dummy(cn_proc *s, const char *b, int *i, int a, ei_x_buff *o)
{
    (void)s, (void)b, (void)i, (void)a, (void)o;
    return 0;
}

START_TEST(bad_descriptors_and_builtin_names)
{
    const char *why;
    static const cn_worker other = {.module = "someone_else"}, builtin = {.module = "bw"};
    static const cn_export_def null_fn[] = {{"f", 0, NULL}}, bad_arity[] = {{"f", 300, dummy}};
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    struct {
        cn_module_def d;
        const char *why;
    } cases[] = {
        {{CN_ABI_VERSION + 1, "x", "1", NULL, NULL, 0}, "abi_version"},
        {{CN_ABI_VERSION, "", "1", NULL, NULL, 0}, "bad_module_name"},
        {{CN_ABI_VERSION, NULL, "1", NULL, NULL, 0}, "bad_module_name"},
        {{CN_ABI_VERSION, long_name, "1", NULL, NULL, 0}, "bad_module_name"},
        {{CN_ABI_VERSION, "x", "1", &other, NULL, 0}, "bad_worker_name"},
        {{CN_ABI_VERSION, "x", "1", NULL, null_fn, 1}, "bad_exports"},
        {{CN_ABI_VERSION, "x", "1", NULL, bad_arity, 1}, "bad_exports"},
        {{CN_ABI_VERSION, "x", "1", NULL, NULL, -1}, "bad_exports"},
        {{CN_ABI_VERSION, "x", "1", NULL, NULL, 3}, "bad_exports"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why = NULL;
        ck_assert_int_eq(cn_code_install(&cases[i].d, "f", NULL, NULL, &why), -1);
        ck_assert_str_eq(why, cases[i].why);
    }
    ck_assert(!cn_code_loaded("x", NULL, 0));

    /* built-in code cannot be replaced */
    ck_assert_int_eq(cn_worker_register(&builtin), 0);
    ck_assert_int_eq(cn_export("bx", "f", 0, dummy), 0);
    cn_module_def bw = {CN_ABI_VERSION, "bw", "1", NULL, NULL, 0};
    cn_module_def bx = {CN_ABI_VERSION, "bx", "1", NULL, NULL, 0};
    ck_assert_int_eq(cn_code_install(&bw, "f", NULL, NULL, &why), -1);
    ck_assert_str_eq(why, "sticky_directory");
    ck_assert_int_eq(cn_code_install(&bx, "f", NULL, NULL, &why), -1);
    ck_assert_str_eq(why, "sticky_directory");
    ck_assert_ptr_eq(cn_export_lookup("bx", "f", 0), dummy); /* untouched */

    /* a module without a worker: no stand-in to spawn */
    cn_module_def nw = {CN_ABI_VERSION, "noworker", "1", NULL, NULL, 0};
    ck_assert_int_eq(cn_code_install(&nw, "f", NULL, NULL, &why), 0);
    ck_assert_ptr_null(cn_worker_lookup("noworker"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("code_table");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, versions_holds_and_purges);
    tcase_add_test(tc, call_in_flight_keeps_code);
    tcase_add_test(tc, bad_descriptors_and_builtin_names);
    tcase_add_test(tc, direct_worker_pointer_holds_its_version);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

/* check_global_tables: unit tests for the :global lock and name tables (services/
 * global_tables): set/del semantics as global_name_server's, holders dropped by monitor ref,
 * bounds and hostile sizes, names by term bytes, and Erlang's pid order. */
#include "proc/ident.h"
#include "services/global_tables.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

/* An encoded term (no version byte), in a static buffer per slot. */
static char enc[8][256];
static int enc_len[8];

static const char *atom(int slot, const char *a)
{
    int i = 0;
    ei_encode_atom(enc[slot], &i, a);
    enc_len[slot] = i;
    return enc[slot];
}

static cn_pid pid(uint32_t node, uint32_t id, uint32_t serial)
{
    return (cn_pid){.node = node, .id = id, .serial = serial, .creation = 1};
}

static cn_ref ref(uint32_t n)
{
    return (cn_ref){.node = 0, .creation = 1, .len = 3, .n = {n, 0, 0}};
}

static void setup(void)
{
    cn_ident_init("me@host", 1);
}

START_TEST(lock_set_same_requester_other_requester)
{
    gt_locks t = {0};
    const char *res = atom(0, "res"), *r1 = atom(1, "req1"), *r2 = atom(2, "req2");
    int rl = enc_len[0], l1 = enc_len[1], l2 = enc_len[2];
    cn_pid a = pid(0, 10, 0), b = pid(0, 11, 0);
    cn_ref ra = ref(1), rb = ref(2);
    ck_assert_int_eq(gt_locks_can_set(&t, res, rl, r1, l1), 1);
    ck_assert_int_eq(gt_locks_add(&t, res, rl, r1, l1, &a, &ra), 0);
    /* same requester id from another pid: granted too (both partitions' lockers) */
    ck_assert_int_eq(gt_locks_can_set(&t, res, rl, r1, l1), 1);
    ck_assert_int_eq(gt_locks_add(&t, res, rl, r1, l1, &b, &rb), 0);
    /* another requester: refused, and add refuses too */
    ck_assert_int_eq(gt_locks_can_set(&t, res, rl, r2, l2), 0);
    ck_assert_int_eq(gt_locks_add(&t, res, rl, r2, l2, &a, &ra), -1);
    ck_assert_int_eq(gt_locks_holds(&t, res, rl, &a), 1);
    /* del_lock with the wrong requester leaves it */
    cn_ref out;
    int gone;
    ck_assert_int_eq(gt_locks_del(&t, res, rl, r2, l2, &a, &out, &gone), 0);
    ck_assert_int_eq(gt_locks_del(&t, res, rl, r1, l1, &a, &out, &gone), 1);
    ck_assert(cn_ref_eq(&out, &ra));
    ck_assert_int_eq(gone, 0);
    ck_assert_int_eq(gt_locks_can_set(&t, res, rl, r2, l2), 0);
    ck_assert_int_eq(gt_locks_del(&t, res, rl, r1, l1, &b, &out, &gone), 1);
    ck_assert_int_eq(gone, 1);
    ck_assert_int_eq(gt_locks_can_set(&t, res, rl, r2, l2), 1);
    ck_assert_int_eq(t.n, 0);
    gt_locks_free(&t);
}
END_TEST

START_TEST(lock_holder_down_releases_and_flags_global)
{
    gt_locks t = {0};
    const char *g = atom(0, "global"), *res = atom(1, "other"), *req = atom(2, "r");
    cn_pid a = pid(0, 10, 0);
    cn_ref ra = ref(7), rb = ref(8);
    ck_assert_int_eq(gt_locks_add(&t, g, enc_len[0], req, enc_len[2], &a, &ra), 0);
    ck_assert_int_eq(gt_locks_add(&t, res, enc_len[1], req, enc_len[2], &a, &rb), 0);
    int ended;
    cn_ref unknown = ref(99);
    ck_assert_int_eq(gt_locks_drop_ref(&t, &unknown, &ended), 0);
    ck_assert_int_eq(ended, 0);
    ck_assert_int_eq(gt_locks_drop_ref(&t, &rb, &ended), 1);
    ck_assert_int_eq(ended, 0); /* `other` ended, not `global` */
    ck_assert_int_eq(gt_locks_drop_ref(&t, &ra, &ended), 1);
    ck_assert_int_eq(ended, 1);
    ck_assert_int_eq(t.n, 0);
    ck_assert(gt_is_global_atom(g, enc_len[0]));
    ck_assert(!gt_is_global_atom(res, enc_len[1]));
    ck_assert(!gt_is_global_atom(g, enc_len[0] - 1)); /* truncated */
    gt_locks_free(&t);
}
END_TEST

START_TEST(lock_bounds_and_hostile_sizes)
{
    gt_locks t = {0};
    const char *req = atom(0, "r");
    cn_pid a = pid(0, 1, 0);
    cn_ref r = ref(1);
    /* an oversized or empty resource term is refused, nothing stored */
    char *big = calloc(1, GT_MAX_TERM + 1);
    ck_assert_int_eq(gt_locks_add(&t, big, GT_MAX_TERM + 1, req, enc_len[0], &a, &r), -1);
    ck_assert_int_eq(gt_locks_add(&t, big, 0, req, enc_len[0], &a, &r), -1);
    ck_assert_int_eq(t.n, 0);
    free(big);
    /* at most GT_MAX_HOLDERS holders of one lock */
    const char *res = atom(1, "res");
    for (int i = 0; i < GT_MAX_HOLDERS; i++) {
        cn_pid p = pid(0, (uint32_t)i, 0);
        ck_assert_int_eq(gt_locks_add(&t, res, enc_len[1], req, enc_len[0], &p, &r), 0);
    }
    cn_pid extra = pid(0, 99999, 0);
    ck_assert_int_eq(gt_locks_add(&t, res, enc_len[1], req, enc_len[0], &extra, &r), -1);
    ck_assert_int_eq(t.n, 1);
    /* at most GT_MAX_LOCKS resources */
    char rb[32];
    for (int i = 1; i < GT_MAX_LOCKS; i++) {
        int n = 0;
        ei_encode_long(rb, &n, i);
        ck_assert_int_eq(gt_locks_add(&t, rb, n, req, enc_len[0], &a, &r), 0);
    }
    int n = 0;
    ei_encode_long(rb, &n, -1);
    ck_assert_int_eq(gt_locks_add(&t, rb, n, req, enc_len[0], &a, &r), -1);
    ck_assert_int_eq(t.n, GT_MAX_LOCKS);
    gt_locks_free(&t);
}
END_TEST

START_TEST(names_insert_find_remove)
{
    gt_names t = {0};
    const char *x = atom(0, "x"), *y = atom(1, "y"), *m = atom(2, "method");
    cn_pid a = pid(0, 5, 0), b = pid(0, 6, 0);
    cn_ref ra = ref(1), rb = ref(2);
    ck_assert_int_eq(gt_names_insert(&t, x, enc_len[0], &a, m, enc_len[2], &ra), 0);
    ck_assert_int_eq(gt_names_insert(&t, x, enc_len[0], &b, m, enc_len[2], &rb), -1); /* taken */
    ck_assert_int_eq(gt_names_insert(&t, y, enc_len[1], &b, m, enc_len[2], &rb), 0);
    ck_assert(cn_pid_eq(&gt_names_find(&t, x, enc_len[0])->pid, &a));
    ck_assert(gt_names_find_ref(&t, &rb) == gt_names_find(&t, y, enc_len[1]));
    ck_assert(gt_names_find_pid(&t, &b) != NULL);
    /* a prefix of a name's bytes is another term */
    ck_assert(gt_names_find(&t, x, enc_len[0] - 1) == NULL);
    cn_pid p;
    cn_ref r;
    ck_assert_int_eq(gt_names_remove(&t, x, enc_len[0], &p, &r), 1);
    ck_assert(cn_pid_eq(&p, &a) && cn_ref_eq(&r, &ra));
    ck_assert_int_eq(gt_names_remove(&t, x, enc_len[0], &p, &r), 0);
    ck_assert_int_eq(t.n, 1);
    /* the method is kept as opaque bytes, even when it is not a term we understand */
    const char junk[] = {113, 1, 2, 3};
    ck_assert_int_eq(gt_names_insert(&t, x, enc_len[0], &a, junk, sizeof junk, &ra), 0);
    ck_assert_int_eq(memcmp(gt_names_find(&t, x, enc_len[0])->method, junk, sizeof junk), 0);
    /* oversized names refused */
    char *big = calloc(1, GT_MAX_TERM + 1);
    ck_assert_int_eq(gt_names_insert(&t, big, GT_MAX_TERM + 1, &a, m, enc_len[2], &ra), -1);
    free(big);
    gt_names_free(&t);
    ck_assert_int_eq(t.n, 0);
}
END_TEST

START_TEST(pid_order_is_erlangs)
{
    /* serial, then number, then node name, then creation (checked against erts) */
    long na = cn_node_intern("a@h", 3), nb = cn_node_intern("b@h", 3);
    ck_assert(na > 0 && nb > 0);
    cn_pid p1 = pid((uint32_t)nb, 3, 0), p2 = pid((uint32_t)na, 5, 0), p3 = pid((uint32_t)nb, 3, 1),
           p4 = pid((uint32_t)na, 3, 0);
    ck_assert_int_lt(gt_pid_cmp(&p1, &p2), 0); /* number before node */
    ck_assert_int_gt(gt_pid_cmp(&p3, &p2), 0); /* serial before number */
    ck_assert_int_lt(gt_pid_cmp(&p4, &p1), 0); /* same number and serial: node name */
    cn_pid p5 = p4;
    p5.creation = 2;
    ck_assert_int_lt(gt_pid_cmp(&p4, &p5), 0);
    ck_assert_int_eq(gt_pid_cmp(&p4, &p4), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("global_tables");
    TCase *tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, lock_set_same_requester_other_requester);
    tcase_add_test(tc, lock_holder_down_releases_and_flags_global);
    tcase_add_test(tc, lock_bounds_and_hostile_sizes);
    tcase_add_test(tc, names_insert_find_remove);
    tcase_add_test(tc, pid_order_is_erlangs);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

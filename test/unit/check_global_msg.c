/* check_global_msg: unit tests for the readers of :global's messages (services/global_msg):
 * well-formed messages as OTP 25/27 send them, and malformed, improper, oversized and hostile
 * ones, which are refused whole (and leave nothing allocated). */
#include "proc/ident.h"
#include "services/global_msg.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static void setup(void)
{
    cn_ident_init("me@host", 1);
}

static cn_pid a_pid(void)
{
    long n = cn_node_intern("a@host", 6);
    return (cn_pid){.node = (uint32_t)n, .id = 7, .serial = 0, .creation = 3};
}

/* The body of a cast after its tag: the test encodes {Tag, ...} and the reader starts past
 * the tag, as the server does. */
static int past_tag(const ei_x_buff *x, int *ar)
{
    int idx = 0;
    char a[MAXATOMLEN_UTF8];
    ck_assert_int_eq(ei_decode_tuple_header(x->buff, &idx, ar), 0);
    ck_assert_int_eq(ei_decode_atom(x->buff, &idx, a), 0);
    return idx;
}

static void encode_init_connect(ei_x_buff *x, int vsn_arity, int locker_ok)
{
    cn_pid p = a_pid();
    ei_x_new(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, "init_connect");
    ei_x_encode_tuple_header(x, vsn_arity);
    ei_x_encode_long(x, 8);
    ei_x_encode_longlong(x, -576460752303423000LL);
    for (int i = 2; i < vsn_arity; i++)
        ei_x_encode_atom(x, "future");
    ei_x_encode_atom(x, "a@host");
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, "locker");
    ei_x_encode_atom(x, "no_longer_a_pid");
    ei_x_encode_empty_list(x);
    if (locker_ok)
        cn_encode_pid(x, &p);
    else
        ei_x_encode_atom(x, "notapid");
}

START_TEST(init_connect_good_future_and_bad)
{
    ei_x_buff x;
    gm_init_connect m;
    int ar, idx;
    encode_init_connect(&x, 2, 1);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_init_connect(x.buff, &idx, ar, &m), 0);
    ck_assert_str_eq(m.node, "a@host");
    ck_assert_int_eq(m.his_vsn, 8);
    ck_assert(m.his_tag == -576460752303423000LL);
    cn_pid p = a_pid();
    ck_assert(cn_pid_eq(&m.locker, &p));
    /* a longer version tuple (a future version) is read */
    ei_x_free(&x);
    encode_init_connect(&x, 4, 1);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_init_connect(x.buff, &idx, ar, &m), 0);
    /* no pid for the locker: refused */
    ei_x_free(&x);
    encode_init_connect(&x, 2, 0);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_init_connect(x.buff, &idx, ar, &m), -1);
    /* (a message reaches the server only as a complete term: dist/term.c validated its
     * bounds, so the readers see wrong shapes, never truncated bytes) */
    ei_x_free(&x);
    encode_init_connect(&x, 2, 1);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_init_connect(x.buff, &idx, 3, &m), -1); /* wrong arity */
    ei_x_free(&x);
}
END_TEST

START_TEST(exchange_names_and_refusals)
{
    ei_x_buff x;
    gm_list l;
    char node[MAXATOMLEN_UTF8];
    long long tag;
    cn_pid p = a_pid();
    int ar, idx;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "exchange");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_list_header(&x, 2);
    for (int i = 0; i < 2; i++) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, i ? "n2" : "n1");
        cn_encode_pid(&x, &p);
        ei_x_encode_atom(&x, "method");
    }
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_longlong(&x, -5);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_exchange(x.buff, &idx, ar, node, &l, &tag), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert(tag == -5);
    const char *nm, *meth;
    int nl, ml;
    cn_pid got;
    int at = gm_list_at(&l, 1);
    ck_assert_int_ge(at, 0);
    ck_assert_int_eq(gm_name_entry(l.b, at, &nm, &nl, &got, &meth, &ml), 0);
    ck_assert(cn_pid_eq(&got, &p));
    ck_assert_int_eq(gm_list_at(&l, 2), -1);
    gm_list_clear(&l);
    ei_x_free(&x);

    /* names not a list; an improper list; a string; wrong arity */
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "exchange");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_atom(&x, "notalist");
    ei_x_encode_empty_list(&x);
    ei_x_encode_long(&x, 1);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_exchange(x.buff, &idx, ar, node, &l, &tag), -1);
    ck_assert_ptr_null(l.b);
    ei_x_free(&x);

    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "exchange");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 2); /* tail: [1 | 2] */
    ei_x_encode_empty_list(&x);
    ei_x_encode_long(&x, 1);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_exchange(x.buff, &idx, ar, node, &l, &tag), -1);
    ck_assert_ptr_null(l.b);
    ei_x_free(&x);

    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "exchange");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_string(&x, "abc");
    ei_x_encode_empty_list(&x);
    ei_x_encode_long(&x, 1);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_exchange(x.buff, &idx, ar, node, &l, &tag), -1);
    ck_assert_int_eq(gm_read_exchange(x.buff, &idx, 4, node, &l, &tag), -1);
    ei_x_free(&x);
}
END_TEST

START_TEST(list_length_bound)
{
    /* a list header claiming more elements than the bound is refused before any walk */
    char b[16];
    int i = 0;
    b[i++] = ERL_LIST_EXT;
    unsigned n = GM_MAX_LIST + 1;
    b[i++] = (char)(n >> 24);
    b[i++] = (char)(n >> 16);
    b[i++] = (char)(n >> 8);
    b[i++] = (char)n;
    b[i++] = ERL_NIL_EXT;
    gm_list l;
    int idx = 0;
    ck_assert_int_eq(gm_list_take(b, &idx, &l), -1);
    ck_assert_ptr_null(l.b);
    /* a header claiming 1000 elements with one present: refused (the walk runs out) */
    i = 0;
    b[i++] = ERL_LIST_EXT;
    b[i++] = 0;
    b[i++] = 0;
    b[i++] = 3;
    b[i++] = (char)0xE8;
    b[i++] = ERL_SMALL_INTEGER_EXT;
    b[i++] = 1;
    memset(b + i, 0, sizeof b - (size_t)i);
    idx = 0;
    ck_assert_int_eq(gm_list_take(b, &idx, &l), -1);
}
END_TEST

START_TEST(ops_insert_delete_and_junk)
{
    ei_x_buff x;
    cn_pid p = a_pid();
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "insert");
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "n");
    cn_encode_pid(&x, &p);
    ei_x_encode_atom(&x, "m");
    int kind, nl, ml;
    const char *nm, *meth;
    cn_pid got;
    ck_assert_int_eq(gm_op(x.buff, 0, &kind, &nm, &nl, &got, &meth, &ml), 0);
    ck_assert_int_eq(kind, GM_INSERT);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "delete");
    ei_x_encode_atom(&x, "n");
    ck_assert_int_eq(gm_op(x.buff, 0, &kind, &nm, &nl, &got, &meth, &ml), 0);
    ck_assert_int_eq(kind, GM_DELETE);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "insert");
    ei_x_encode_atom(&x, "bad"); /* not {Name, Pid, Method} */
    ck_assert_int_eq(gm_op(x.buff, 0, &kind, &nm, &nl, &got, &meth, &ml), -1);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_atom(&x, "delete");
    ck_assert_int_eq(gm_op(x.buff, 0, &kind, &nm, &nl, &got, &meth, &ml), -1);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "upsert");
    ei_x_encode_atom(&x, "n");
    ck_assert_int_eq(gm_op(x.buff, 0, &kind, &nm, &nl, &got, &meth, &ml), -1);
    ei_x_free(&x);
}
END_TEST

START_TEST(lock_ids)
{
    ei_x_buff x;
    const char *res, *req;
    int rl, ql;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "global");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_atom(&x, "x");
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(gm_lock_id(x.buff, x.index, &res, &rl, &req, &ql), 0);
    ck_assert_int_eq(rl, 8);
    /* trailing bytes, a short tuple, a truncated one: refused */
    ck_assert_int_eq(gm_lock_id(x.buff, x.index + 1, &res, &rl, &req, &ql), -1);
    ck_assert_int_eq(gm_lock_id(x.buff, x.index - 1, &res, &rl, &req, &ql), -1);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_atom(&x, "global");
    ck_assert_int_eq(gm_lock_id(x.buff, x.index, &res, &rl, &req, &ql), -1);
    x.index = 0;
    ei_x_encode_atom(&x, "bad");
    ck_assert_int_eq(gm_lock_id(x.buff, x.index, &res, &rl, &req, &ql), -1);
    ei_x_free(&x);
}
END_TEST

START_TEST(resolved_and_new_nodes)
{
    ei_x_buff x;
    gm_list ops, known;
    char node[MAXATOMLEN_UTF8];
    long long tag;
    int ar, idx;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 7);
    ei_x_encode_atom(&x, "resolved");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_empty_list(&x);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "b@host");
    ei_x_encode_long(&x, 8);
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "unused");
    ei_x_encode_empty_list(&x);
    ei_x_encode_longlong(&x, 42);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_resolved(x.buff, &idx, ar, node, &ops, &known, &tag), 0);
    ck_assert_int_eq(known.n, 1);
    char nm[MAXATOMLEN_UTF8];
    long v;
    ck_assert_int_eq(gm_node(known.b, 0, nm, &v), 0);
    ck_assert_str_eq(nm, "b@host");
    ck_assert_int_eq(v, 8);
    gm_list_clear(&ops);
    gm_list_clear(&known);
    /* a bad tag after good lists: refused, nothing kept */
    x.index = 0;
    ei_x_encode_tuple_header(&x, 7);
    ei_x_encode_atom(&x, "resolved");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "unused");
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "notatag");
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_resolved(x.buff, &idx, ar, node, &ops, &known, &tag), -1);
    ck_assert_ptr_null(ops.b);
    ck_assert_ptr_null(known.b);

    /* new_nodes: the lock id is found in ExtraInfo; other ExtraInfo shapes give none */
    gm_list nn;
    const char *lid;
    int lidl;
    x.index = 0;
    ei_x_encode_tuple_header(&x, 6);
    ei_x_encode_atom(&x, "new_nodes");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_atom(&x, "c@host");
    ei_x_encode_empty_list(&x);
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "vsn");
    ei_x_encode_long(&x, 8);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "lock");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "global");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_new_nodes(x.buff, &idx, ar, node, &ops, &nn, &lid, &lidl), 0);
    ck_assert_ptr_nonnull(lid);
    const char *res, *req;
    int rl, ql;
    ck_assert_int_eq(gm_lock_id(lid, lidl, &res, &rl, &req, &ql), 0);
    ck_assert_int_eq(nn.n, 1);
    gm_list_clear(&ops);
    gm_list_clear(&nn);
    x.index = 0;
    ei_x_encode_tuple_header(&x, 6);
    ei_x_encode_atom(&x, "new_nodes");
    ei_x_encode_atom(&x, "a@host");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "x");
    idx = past_tag(&x, &ar);
    ck_assert_int_eq(gm_read_new_nodes(x.buff, &idx, ar, node, &ops, &nn, &lid, &lidl), 0);
    ck_assert_ptr_null(lid);
    ei_x_free(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("global_msg");
    TCase *tc = tcase_create("readers");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, init_connect_good_future_and_bad);
    tcase_add_test(tc, exchange_names_and_refusals);
    tcase_add_test(tc, list_length_bound);
    tcase_add_test(tc, ops_insert_delete_and_junk);
    tcase_add_test(tc, lock_ids);
    tcase_add_test(tc, resolved_and_new_nodes);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

/* check_pg_table: unit tests for the :pg membership table and peer payload parsers
 * (services/pg_table): canonical group names (one term, many encodings), joins and leaves with
 * duplicates, peer drops, member deaths, sync replacement and notifications, and hostile or
 * malformed sync/join/leave payloads, which must be refused without a change or a crash. */
#include "proc/ident.h"
#include "services/pg_table.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static uint32_t peer_node;

static void setup(void)
{
    static int done;
    if (!done) {
        cn_ident_init("t@host", 7);
        done = 1;
    }
    peer_node = (uint32_t)cn_node_intern("peer@host", 9);
}

static cn_pid pid_of(uint32_t node, uint32_t id)
{
    return (cn_pid){node, id, 0, 7};
}

/* Canonical bytes of an encoded term; returns the length (-1 on refusal). */
static int canon_of(const char *buf, int len, char *out)
{
    ei_x_buff x;
    ei_x_new(&x);
    int i = 0, rc = cn_pg_canon(buf, &i, &x);
    if (rc == 0 && i != len)
        rc = -1;
    if (rc == 0)
        memcpy(out, x.buff, (size_t)x.index);
    int n = rc == 0 ? x.index : -1;
    ei_x_free(&x);
    return n;
}

static void assert_same_group(const char *a, int alen, const char *b, int blen)
{
    char ca[256], cb[256];
    int na = canon_of(a, alen, ca), nb = canon_of(b, blen, cb);
    ck_assert_int_gt(na, 0);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(ca, cb, (size_t)na) == 0);
}

START_TEST(canon_atoms_integers_floats)
{
    /* 'ab' as ATOM_EXT (latin-1) and SMALL_ATOM_UTF8_EXT */
    const char a1[] = {ERL_ATOM_EXT, 0, 2, 'a', 'b'};
    const char a2[] = {ERL_SMALL_ATOM_UTF8_EXT, 2, 'a', 'b'};
    const char a3[] = {ERL_ATOM_UTF8_EXT, 0, 2, 'a', 'b'};
    assert_same_group(a1, sizeof a1, a2, sizeof a2);
    assert_same_group(a1, sizeof a1, a3, sizeof a3);
    /* 5 as SMALL_INTEGER, INTEGER and SMALL_BIG */
    const char i1[] = {ERL_SMALL_INTEGER_EXT, 5};
    const char i2[] = {ERL_INTEGER_EXT, 0, 0, 0, 5};
    const char i3[] = {ERL_SMALL_BIG_EXT, 1, 0, 5};
    const char i4[] = {ERL_LARGE_BIG_EXT, 0, 0, 0, 2, 0, 5, 0}; /* high zero digit */
    assert_same_group(i1, sizeof i1, i2, sizeof i2);
    assert_same_group(i1, sizeof i1, i3, sizeof i3);
    assert_same_group(i1, sizeof i1, i4, sizeof i4);
    /* a 72-bit integer: big forms with and without padding agree */
    const char b1[] = {ERL_SMALL_BIG_EXT, 9, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const char b2[] = {ERL_LARGE_BIG_EXT, 0, 0, 0, 10, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0};
    assert_same_group(b1, sizeof b1, b2, sizeof b2);
    /* 1.5 as the old 31-byte FLOAT_EXT and NEW_FLOAT_EXT */
    char f1[32] = {ERL_FLOAT_EXT};
    snprintf(f1 + 1, 31, "%.20e", 1.5);
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_double(&x, 1.5);
    assert_same_group(f1, 32, x.buff, x.index);
    /* but 1 and 1.0 are different groups, as in an ETS set */
    char c1[64], c2[64];
    x.index = 0;
    ei_x_encode_double(&x, 1.0);
    const char one[] = {ERL_SMALL_INTEGER_EXT, 1};
    int n1 = canon_of(one, 2, c1), n2 = canon_of(x.buff, x.index, c2);
    ck_assert(n1 != n2 || memcmp(c1, c2, (size_t)n1) != 0);
    ei_x_free(&x);
}
END_TEST

START_TEST(canon_lists_strings_maps)
{
    /* [1, 2] as STRING_EXT, as one LIST_EXT, and as [1 | [2]] */
    const char s1[] = {ERL_STRING_EXT, 0, 2, 1, 2};
    const char s2[] = {ERL_LIST_EXT,          0, 0,          0, 2, ERL_SMALL_INTEGER_EXT, 1,
                       ERL_SMALL_INTEGER_EXT, 2, ERL_NIL_EXT};
    const char s3[] = {ERL_LIST_EXT, 0, 0, 0, 1, ERL_SMALL_INTEGER_EXT, 1,
                       ERL_LIST_EXT, 0, 0, 0, 1, ERL_SMALL_INTEGER_EXT, 2,
                       ERL_NIL_EXT};
    const char s4[] = {ERL_LIST_EXT, 0, 0, 0, 1, ERL_SMALL_INTEGER_EXT, 1, ERL_STRING_EXT, 0, 1, 2};
    assert_same_group(s1, sizeof s1, s2, sizeof s2);
    assert_same_group(s1, sizeof s1, s3, sizeof s3);
    assert_same_group(s1, sizeof s1, s4, sizeof s4);
    /* #{a => 1, b => 2} in both key orders */
    ei_x_buff m1, m2;
    ei_x_new(&m1);
    ei_x_new(&m2);
    ei_x_encode_map_header(&m1, 2);
    ei_x_encode_atom(&m1, "a");
    ei_x_encode_long(&m1, 1);
    ei_x_encode_atom(&m1, "b");
    ei_x_encode_long(&m1, 2);
    ei_x_encode_map_header(&m2, 2);
    ei_x_encode_atom(&m2, "b");
    ei_x_encode_long(&m2, 2);
    ei_x_encode_atom(&m2, "a");
    ei_x_encode_long(&m2, 1);
    assert_same_group(m1.buff, m1.index, m2.buff, m2.index);
    /* an improper list keeps its tail */
    const char imp[] = {ERL_LIST_EXT,          0, 0, 0, 1, ERL_SMALL_INTEGER_EXT, 1,
                        ERL_SMALL_INTEGER_EXT, 2};
    char out[64];
    ck_assert_int_gt(canon_of(imp, sizeof imp, out), 0);
    ei_x_free(&m1);
    ei_x_free(&m2);
}
END_TEST

/* A LIST_EXT of length 0 is its tail alone (the BEAM decodes it so): the canonical form is
 * the tail's, one term, never `[]` followed by the tail. */
START_TEST(canon_empty_list_ext_is_its_tail)
{
    const char atom[] = {ERL_SMALL_ATOM_UTF8_EXT, 2, 'a', 'b'};
    const char l0_atom[] = {ERL_LIST_EXT, 0, 0, 0, 0, ERL_ATOM_EXT, 0, 2, 'a', 'b'};
    assert_same_group(atom, sizeof atom, l0_atom, sizeof l0_atom);
    const char str[] = {ERL_STRING_EXT, 0, 2, 1, 2};
    const char l0_str[] = {ERL_LIST_EXT, 0, 0, 0, 0, ERL_STRING_EXT, 0, 2, 1, 2};
    assert_same_group(str, sizeof str, l0_str, sizeof l0_str);
    /* {[] ++ ab, 1}: the tuple still holds exactly two terms */
    const char t1[] = {ERL_SMALL_TUPLE_EXT,   2, ERL_SMALL_ATOM_UTF8_EXT, 2, 'a', 'b',
                       ERL_SMALL_INTEGER_EXT, 1};
    const char t2[] = {
        ERL_SMALL_TUPLE_EXT,   2, ERL_LIST_EXT, 0, 0, 0, 0, ERL_ATOM_EXT, 0, 2, 'a', 'b',
        ERL_SMALL_INTEGER_EXT, 1};
    assert_same_group(t1, sizeof t1, t2, sizeof t2);
}
END_TEST

START_TEST(canon_refuses_hostile_terms)
{
    char out[64];
    const char bad_tag[] = {(char)200, 1, 2, 3};
    ck_assert_int_eq(canon_of(bad_tag, sizeof bad_tag, out), -1);
    /* nesting deeper than CN_PG_MAX_DEPTH */
    ei_x_buff x;
    ei_x_new(&x);
    for (int i = 0; i < CN_PG_MAX_DEPTH + 5; i++)
        ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_atom(&x, "deep");
    ei_x_buff o;
    ei_x_new(&o);
    int i = 0;
    ck_assert_int_eq(cn_pg_canon(x.buff, &i, &o), -1);
    /* larger than CN_PG_MAX_GROUP_BYTES */
    x.index = 0;
    char *big = calloc(1, CN_PG_MAX_GROUP_BYTES + 10);
    ei_x_encode_binary(&x, big, CN_PG_MAX_GROUP_BYTES + 10);
    i = 0;
    o.index = 0;
    ck_assert_int_eq(cn_pg_canon(x.buff, &i, &o), -1);
    /* a map claiming more pairs than bytes allow */
    const char huge_map[] = {ERL_MAP_EXT, 0x7f, (char)0xff, (char)0xff, (char)0xff};
    ck_assert_int_eq(canon_of(huge_map, sizeof huge_map, out), -1);
    free(big);
    ei_x_free(&x);
    ei_x_free(&o);
}
END_TEST

/* ---- the table ---------------------------------------------------------------------- */

typedef struct note {
    int join;
    size_t n;
} note;
static note notes[64];
static int nnotes;
static void record(void *ctx, const cn_pg_group *g, int join, const cn_pid *p, size_t n)
{
    (void)ctx;
    (void)g;
    (void)p;
    if (nnotes < 64)
        notes[nnotes++] = (note){join, n};
}

static int key(const char *atom, char *out)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_atom(&x, atom);
    int n = canon_of(x.buff, x.index, out);
    ei_x_free(&x);
    return n;
}

static size_t members(cn_pg_table *t, const char *atom, int local, cn_pid *out)
{
    char k[64];
    int n = key(atom, k);
    cn_pg_group *g = cn_pg_table_find(t, k, n);
    return g ? cn_pg_group_members(g, local, out, 16) : 0;
}

START_TEST(join_leave_duplicates_and_deaths)
{
    cn_pg_table t;
    cn_pg_table_init(&t);
    t.notify = record;
    nnotes = 0;
    char g[64], h[64];
    int gl = key("g", g), hl = key("h", h);
    cn_pid a = pid_of(0, 1), b = pid_of(0, 2), r = pid_of(peer_node, 9);
    cn_pid out[16];
    ck_assert_int_eq(cn_pg_table_join(&t, g, gl, CN_PG_LOCAL, &a, 1), 0);
    ck_assert_int_eq(cn_pg_table_join(&t, g, gl, CN_PG_LOCAL, &a, 1), 0); /* twice counts twice */
    ck_assert_int_eq(cn_pg_table_join(&t, g, gl, CN_PG_LOCAL, &b, 1), 0);
    ck_assert_int_eq(cn_pg_table_join(&t, g, gl, 1, &r, 1), 0);
    ck_assert_int_eq(cn_pg_table_join(&t, h, hl, CN_PG_LOCAL, &a, 1), 0);
    ck_assert_uint_eq(members(&t, "g", 0, out), 4);
    ck_assert(cn_pid_eq(&out[0], &r)); /* newest first */
    ck_assert_uint_eq(members(&t, "g", 1, out), 3);
    ck_assert_int_eq(nnotes, 5);
    /* one leave removes one membership */
    ck_assert_uint_eq(cn_pg_table_leave(&t, g, gl, CN_PG_LOCAL, &a, 1), 1);
    ck_assert_uint_eq(members(&t, "g", 0, out), 3);
    /* a leave by the wrong origin changes nothing */
    ck_assert_uint_eq(cn_pg_table_leave(&t, g, gl, 1, &a, 1), 0);
    /* a death removes every membership of the pid and lists its groups */
    ei_x_buff gone;
    ei_x_new(&gone);
    ck_assert_uint_eq(cn_pg_table_drop_pid(&t, &a, &gone), 2);
    ck_assert_uint_eq(members(&t, "g", 1, out), 1);
    ck_assert(cn_pg_table_find(&t, h, hl) == NULL); /* empty groups go */
    int i = 0, left = 0, k = 0;
    while (cn_pg_list_next(gone.buff, &i, &left) == 1) {
        ck_assert_int_eq(ei_skip_term(gone.buff, &i), 0);
        k++;
    }
    ck_assert_int_eq(k, 2);
    ei_x_free(&gone);
    /* a peer going drops only its members */
    cn_pg_table_drop_origin(&t, 1);
    ck_assert_uint_eq(members(&t, "g", 0, out), 1);
    ck_assert(cn_pid_eq(&out[0], &b));
    ck_assert_uint_eq(t.total, 1);
    cn_pg_table_clear(&t);
    ck_assert_uint_eq(t.total, 0);
}
END_TEST

/* [{Group, [Pid]}] built with ei. */
static void sync_payload(ei_x_buff *x, const char *group, const cn_pid *p, int n)
{
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, group);
    if (n)
        ei_x_encode_list_header(x, n);
    for (int i = 0; i < n; i++)
        cn_encode_pid(x, &p[i]);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
}

static int sync(cn_pg_table *t, ei_x_buff *x)
{
    int i = 0;
    return cn_pg_table_sync(t, 1, peer_node, x->buff, &i);
}

START_TEST(sync_replaces_and_notifies_changes_only)
{
    cn_pg_table t;
    cn_pg_table_init(&t);
    t.notify = record;
    cn_pid r1 = pid_of(peer_node, 1), r2 = pid_of(peer_node, 2), out[16];
    cn_pid two[2] = {r1, r2};
    ei_x_buff x;
    ei_x_new(&x);
    sync_payload(&x, "g", two, 2);
    nnotes = 0;
    ck_assert_int_eq(sync(&t, &x), 0);
    ck_assert_uint_eq(members(&t, "g", 0, out), 2);
    ck_assert_int_eq(nnotes, 1);
    /* the same sync again: no change, no notification */
    nnotes = 0;
    cn_pid swapped[2] = {r2, r1};
    x.index = 0;
    sync_payload(&x, "g", swapped, 2);
    ck_assert_int_eq(sync(&t, &x), 0);
    ck_assert_int_eq(nnotes, 0);
    /* a sync listing another group: g loses the peer's members */
    x.index = 0;
    sync_payload(&x, "other", &r1, 1);
    ck_assert_int_eq(sync(&t, &x), 0);
    ck_assert_uint_eq(members(&t, "g", 0, out), 0);
    ck_assert_uint_eq(members(&t, "other", 0, out), 1);
    /* an empty sync empties the peer's share */
    x.index = 0;
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(sync(&t, &x), 0);
    ck_assert_uint_eq(t.total, 0);
    ei_x_free(&x);
    cn_pg_table_clear(&t);
}
END_TEST

START_TEST(sync_refuses_malformed_payloads_unchanged)
{
    cn_pg_table t;
    cn_pg_table_init(&t);
    cn_pid r1 = pid_of(peer_node, 1), mine = pid_of(0, 3), out[16];
    ei_x_buff x;
    ei_x_new(&x);
    sync_payload(&x, "keep", &r1, 1);
    ck_assert_int_eq(sync(&t, &x), 0);

    /* not a list */
    x.index = 0;
    ei_x_encode_atom(&x, "junk");
    ck_assert_int_eq(sync(&t, &x), -1);
    /* an element that is not a 2-tuple */
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "g");
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "extra");
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(sync(&t, &x), -1);
    /* members that are not pids */
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "g");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_atom(&x, "not_a_pid");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(sync(&t, &x), -1);
    /* a pid of another node than the peer's (here: ours) */
    x.index = 0;
    sync_payload(&x, "g", &mine, 1);
    ck_assert_int_eq(sync(&t, &x), -1);
    /* an improper list of groups; an improper member list */
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "g");
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "tail");
    ck_assert_int_eq(sync(&t, &x), -1);
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "g");
    ei_x_encode_list_header(&x, 1);
    cn_encode_pid(&x, &r1);
    cn_encode_pid(&x, &r1); /* tail is a pid */
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(sync(&t, &x), -1);
    /* a good group followed by a bad one: nothing of it is applied */
    x.index = 0;
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "new");
    ei_x_encode_list_header(&x, 1);
    cn_encode_pid(&x, &r1);
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "bad");
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(sync(&t, &x), -1);

    ck_assert_uint_eq(members(&t, "keep", 0, out), 1);
    ck_assert_uint_eq(members(&t, "new", 0, out), 0);
    ck_assert_uint_eq(t.total, 1);
    ei_x_free(&x);
    cn_pg_table_clear(&t);
}
END_TEST

START_TEST(parse_pids_shapes_and_limits)
{
    cn_pid r1 = pid_of(peer_node, 1), *out;
    ei_x_buff x;
    ei_x_new(&x);
    int i;
    cn_encode_pid(&x, &r1);
    i = 0;
    ck_assert_int_eq(cn_pg_parse_pids(x.buff, &i, &out, peer_node), 1);
    free(out);
    i = 0;
    ck_assert_int_eq(cn_pg_parse_pids(x.buff, &i, &out, 0), -1); /* wrong node */
    ck_assert(out == NULL);
    /* [] and a chunked list [P | [P]] */
    x.index = 0;
    ei_x_encode_empty_list(&x);
    i = 0;
    ck_assert_int_eq(cn_pg_parse_pids(x.buff, &i, &out, -1), 0);
    free(out);
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    cn_encode_pid(&x, &r1);
    ei_x_encode_list_header(&x, 1);
    cn_encode_pid(&x, &r1);
    ei_x_encode_empty_list(&x);
    i = 0;
    ck_assert_int_eq(cn_pg_parse_pids(x.buff, &i, &out, -1), 2);
    ck_assert_int_eq(i, x.index);
    free(out);
    /* a binary, a tuple: refused */
    x.index = 0;
    ei_x_encode_binary(&x, "ab", 2);
    i = 0;
    ck_assert_int_eq(cn_pg_parse_pids(x.buff, &i, &out, -1), -1);
    /* more than CN_PG_MAX_PIDS */
    x.index = 0;
    ei_x_encode_list_header(&x, CN_PG_MAX_PIDS + 1);
    for (int k = 0; k < CN_PG_MAX_PIDS + 1; k++)
        cn_encode_pid(&x, &r1);
    ei_x_encode_empty_list(&x);
    i = 0;
    ck_assert_int_eq(cn_pg_parse_pids(x.buff, &i, &out, -1), -1);
    ck_assert(out == NULL);
    ei_x_free(&x);
}
END_TEST

START_TEST(limits_on_memberships)
{
    cn_pg_table t;
    cn_pg_table_init(&t);
    char g[64];
    int gl = key("g", g);
    cn_pid a = pid_of(0, 1);
    ck_assert_int_eq(cn_pg_table_join(&t, g, gl, CN_PG_LOCAL, &a, CN_PG_MAX_MEMBERS + 1), -1);
    ck_assert_int_eq(cn_pg_table_join(&t, NULL, 0, CN_PG_LOCAL, &a, 1), -1); /* no group */
    ck_assert_uint_eq(t.total, 0);
    ck_assert_uint_eq(t.ngroups, 0);
    /* many groups: the hash grows and every one is found */
    for (int k = 0; k < 1000; k++) {
        char name[32], kb[64];
        snprintf(name, sizeof name, "g%d", k);
        int kl = key(name, kb);
        ck_assert_int_eq(cn_pg_table_join(&t, kb, kl, CN_PG_LOCAL, &a, 1), 0);
    }
    for (int k = 0; k < 1000; k++) {
        char name[32];
        cn_pid out[16];
        snprintf(name, sizeof name, "g%d", k);
        ck_assert_uint_eq(members(&t, name, 0, out), 1);
    }
    ck_assert_uint_eq(cn_pg_table_drop_pid(&t, &a, NULL), 1000);
    ck_assert_uint_eq(t.ngroups, 0);
    cn_pg_table_clear(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pg_table");
    TCase *tc = tcase_create("pg_table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60); /* the 64Ki-pid limit case is slow under sanitizers */
    tcase_add_test(tc, canon_atoms_integers_floats);
    tcase_add_test(tc, canon_lists_strings_maps);
    tcase_add_test(tc, canon_empty_list_ext_is_its_tail);
    tcase_add_test(tc, canon_refuses_hostile_terms);
    tcase_add_test(tc, join_leave_duplicates_and_deaths);
    tcase_add_test(tc, sync_replaces_and_notifies_changes_only);
    tcase_add_test(tc, sync_refuses_malformed_payloads_unchanged);
    tcase_add_test(tc, parse_pids_shapes_and_limits);
    tcase_add_test(tc, limits_on_memberships);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

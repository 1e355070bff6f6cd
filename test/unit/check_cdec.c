/* check_cdec: unit tests for the direct decoder of common control messages (cn_cdec_parse):
 * it must agree with the ei decoding for the encodings it takes, and refuse (return 0, so
 * that the general path handles it) everything else: other encodings, truncated, trailing
 * and hostile bytes, without reading outside the term (each input has its own exact-size
 * allocation, so a sanitizer build catches any overread). */
#include "dist/cdec.h"
#include "proc/ident.h"

#include <check.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static uint32_t peer;
static cn_pid P, Q;
static cn_ref R;

static void setup(void)
{
    static int done;
    if (done)
        return;
    ei_init();
    cn_ident_init("t@host", 1234);
    peer = (uint32_t)cn_node_intern("peer@host", 9);
    P = (cn_pid){.node = peer, .id = 0x12345, .serial = 0xfffffff0u, .creation = 0xdeadbeefu};
    Q = (cn_pid){.node = 0, .id = 7, .serial = 1, .creation = 1234};
    R = (cn_ref){.node = peer, .creation = 77, .len = 3, .n = {0x3ffff, 0xffffffffu, 5}};
    done = 1;
}

/* {Op, ...} with a 131 in front, as rx hands control terms over. */
static void ctl(ei_x_buff *x, int arity, long op)
{
    ck_assert_int_eq(ei_x_new_with_version(x), 0);
    ck_assert_int_eq(ei_x_encode_tuple_header(x, arity), 0);
    ck_assert_int_eq(ei_x_encode_long(x, op), 0);
}

static void atom(ei_x_buff *x, const char *a)
{
    ck_assert_int_eq(ei_x_encode_atom_len_as(x, a, (int)strlen(a), ERLANG_UTF8, ERLANG_UTF8), 0);
}

/* Parse a copy of buf[0..len) in an allocation of exactly len bytes. */
static int parse(const void *buf, size_t len, cn_cdec *d)
{
    uint8_t *c = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, buf, len);
    int r = cn_cdec_parse(c, len, d);
    free(c);
    return r;
}

/* Every proper prefix is refused; so is the term with a byte more. */
static void refuses_cuts(const ei_x_buff *x)
{
    cn_cdec d;
    for (int n = 0; n < x->index; n++)
        ck_assert_msg(parse(x->buff, (size_t)n, &d) == 0, "prefix of %d/%d bytes taken", n,
                      x->index);
    char *more = malloc((size_t)x->index + 1);
    memcpy(more, x->buff, (size_t)x->index);
    more[x->index] = 'j';
    ck_assert_int_eq(parse(more, (size_t)x->index + 1, &d), 0);
    free(more);
}

/* What ei and the general path read from the same bytes. */
static void agrees_pid(const ei_x_buff *x, int at_elem, const cn_pid *got)
{
    int idx = 0, v, ar;
    ck_assert_int_eq(ei_decode_version(x->buff, &idx, &v), 0);
    ck_assert_int_eq(ei_decode_tuple_header(x->buff, &idx, &ar), 0);
    for (int i = 0; i < at_elem; i++)
        ck_assert_int_eq(ei_skip_term(x->buff, &idx), 0);
    cn_pid want;
    ck_assert_int_eq(cn_decode_pid(x->buff, &idx, &want), 0);
    ck_assert(cn_pid_eq(&want, got));
}

START_TEST(send_sender)
{
    ei_x_buff x;
    ctl(&x, 3, 22);
    cn_encode_pid(&x, &P);
    cn_encode_pid(&x, &Q);
    cn_cdec d;
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
    ck_assert_int_eq(d.op, 22);
    ck_assert(cn_pid_eq(&d.from, &P));
    ck_assert(cn_pid_eq(&d.to, &Q));
    ck_assert_int_eq(d.by_name, 0);
    agrees_pid(&x, 1, &d.from);
    agrees_pid(&x, 2, &d.to);
    refuses_cuts(&x);
    ei_x_free(&x);
}
END_TEST

START_TEST(send_and_reg_send)
{
    ei_x_buff x;
    ctl(&x, 3, 2); /* {2, '', To} */
    atom(&x, "");
    cn_encode_pid(&x, &Q);
    cn_cdec d;
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
    ck_assert(cn_pid_eq(&d.to, &Q));
    refuses_cuts(&x);
    ei_x_free(&x);

    ctl(&x, 4, 6); /* {6, From, '', echo} */
    cn_encode_pid(&x, &P);
    atom(&x, "");
    atom(&x, "echo");
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
    ck_assert_int_eq(d.op, 6);
    ck_assert(cn_pid_eq(&d.from, &P));
    ck_assert_int_eq(d.by_name, 1);
    ck_assert_str_eq(d.name, "echo");
    refuses_cuts(&x);
    ei_x_free(&x);

    /* Latin-1 atom forms (100, 115) with ASCII text are the same name. */
    const uint8_t head[] = {131, 104, 4, 97, 6};
    ctl(&x, 4, 6);
    x.index = 0;
    ei_x_append_buf(&x, (const char *)head, sizeof head);
    cn_encode_pid(&x, &P);
    const uint8_t rest[] = {100, 0, 0, 115, 2, 'k', 'v'};
    ei_x_append_buf(&x, (const char *)rest, sizeof rest);
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
    ck_assert_str_eq(d.name, "kv");
    ei_x_free(&x);
}
END_TEST

START_TEST(monitors_and_alias)
{
    ei_x_buff x;
    cn_cdec d;
    for (int op = 19; op <= 20; op++) {
        ctl(&x, 4, op); /* by name */
        cn_encode_pid(&x, &P);
        atom(&x, "echo");
        cn_encode_ref(&x, &R);
        ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
        ck_assert_int_eq(d.op, op);
        ck_assert_int_eq(d.by_name, 1);
        ck_assert_str_eq(d.name, "echo");
        ck_assert(cn_ref_eq(&d.ref, &R));
        int idx = 0, v, ar;
        cn_ref want;
        ei_decode_version(x.buff, &idx, &v);
        ei_decode_tuple_header(x.buff, &idx, &ar);
        for (int i = 0; i < 3; i++)
            ei_skip_term(x.buff, &idx);
        ck_assert_int_eq(cn_decode_ref(x.buff, &idx, &want), 0);
        ck_assert(cn_ref_eq(&d.ref, &want));
        refuses_cuts(&x);
        ei_x_free(&x);

        ctl(&x, 4, op); /* by pid */
        cn_encode_pid(&x, &P);
        cn_encode_pid(&x, &Q);
        cn_encode_ref(&x, &R);
        ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
        ck_assert_int_eq(d.by_name, 0);
        ck_assert(cn_pid_eq(&d.to, &Q));
        refuses_cuts(&x);
        ei_x_free(&x);
    }
    ctl(&x, 3, 33);
    cn_encode_pid(&x, &P);
    cn_encode_ref(&x, &R);
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 1);
    ck_assert(cn_ref_eq(&d.ref, &R));
    refuses_cuts(&x);
    ei_x_free(&x);
}
END_TEST

/* Forms left to the general path: it decodes them, or refuses them with a reason. */
START_TEST(other_forms_left_alone)
{
    ei_x_buff x;
    cn_cdec d;
    ctl(&x, 4, 22); /* wrong arity */
    cn_encode_pid(&x, &P);
    cn_encode_pid(&x, &Q);
    cn_encode_pid(&x, &Q);
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 0);
    ei_x_free(&x);

    ctl(&x, 3, 1); /* LINK: not one of ours */
    cn_encode_pid(&x, &P);
    cn_encode_pid(&x, &Q);
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 0);
    ei_x_free(&x);

    ctl(&x, 4, 6); /* a name that is not ASCII, an empty name, a name that is not an atom */
    cn_encode_pid(&x, &P);
    atom(&x, "");
    atom(&x, "\xc3\xa9");
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 0);
    ei_x_free(&x);
    ctl(&x, 4, 6);
    cn_encode_pid(&x, &P);
    atom(&x, "");
    atom(&x, "");
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 0);
    ei_x_free(&x);
    ctl(&x, 4, 6);
    cn_encode_pid(&x, &P);
    atom(&x, "");
    ei_x_encode_long(&x, 5);
    ck_assert_int_eq(parse(x.buff, (size_t)x.index, &d), 0);
    ei_x_free(&x);

    /* an old PID_EXT (103) sender */
    const uint8_t old[] = {131, 104, 3,   97,  22, 103, 119, 1, 'a', 0, 0, 0, 1, 0, 0, 0,
                           0,   1,   103, 119, 1,  'a', 0,   0, 0,   1, 0, 0, 0, 0, 1};
    ck_assert_int_eq(parse(old, sizeof old, &d), 0);
    /* not a version-prefixed small tuple with a small integer first */
    const uint8_t notup[] = {131, 105, 0, 0, 0, 3, 97, 22};
    ck_assert_int_eq(parse(notup, sizeof notup, &d), 0);
    const uint8_t big_op[] = {131, 104, 3, 98, 0, 0, 0, 22};
    ck_assert_int_eq(parse(big_op, sizeof big_op, &d), 0);
}
END_TEST

/* Hostile lengths inside otherwise plausible terms. */
START_TEST(hostile_lengths)
{
    cn_cdec d;
    /* a pid whose node atom claims 255 bytes that are not there */
    const uint8_t a[] = {131, 104, 3, 97, 22, 88, 119, 255, 'x'};
    ck_assert_int_eq(parse(a, sizeof a, &d), 0);
    /* ATOM_UTF8_EXT of 65535 bytes */
    const uint8_t b[] = {131, 104, 3, 97, 22, 88, 118, 255, 255, 'x'};
    ck_assert_int_eq(parse(b, sizeof b, &d), 0);
    /* an atom with a NUL byte */
    const uint8_t c[] = {131, 104, 3, 97, 22,  88, 119, 2, 'a', 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
                         0,   0,   1, 88, 119, 1,  'a', 0, 0,   0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_int_eq(parse(c, sizeof c, &d), 0);
    /* references of 0 and 6 words, and of 65535 words */
    uint8_t r[64] = {131, 104, 3, 97, 33, 88, 119, 1, 'a', 0, 0,   0, 1, 0, 0, 0,
                     0,   0,   0, 0,  1,  90, 0,   0, 119, 1, 'a', 0, 0, 0, 1};
    size_t rl = 31;
    ck_assert_int_eq(parse(r, rl, &d), 0);
    r[23] = 6;
    memset(r + rl, 0, 24);
    ck_assert_int_eq(parse(r, rl + 24, &d), 0);
    r[22] = 255;
    r[23] = 255;
    ck_assert_int_eq(parse(r, sizeof r, &d), 0);
    r[22] = 0;
    r[23] = 1; /* one word: accepted once it is all there */
    ck_assert_int_eq(parse(r, rl + 4, &d), 1);
    ck_assert_int_eq(d.ref.len, 1);
}
END_TEST

/* Random byte changes in valid terms: no crash, no overread; what is taken ends exactly. */
START_TEST(mutations)
{
    ei_x_buff x;
    ctl(&x, 4, 19);
    cn_encode_pid(&x, &P);
    atom(&x, "echo");
    cn_encode_ref(&x, &R);
    uint8_t *b = malloc((size_t)x.index);
    unsigned seed = 12345;
    for (int k = 0; k < 20000; k++) {
        memcpy(b, x.buff, (size_t)x.index);
        int flips = 1 + k % 3;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            b[(seed >> 8) % (unsigned)x.index] = (uint8_t)(seed >> 20);
        }
        size_t len = (size_t)x.index - (k % 5 == 0 ? (seed >> 4) % 8 : 0);
        cn_cdec d;
        int r = parse(b, len, &d);
        if (r)
            ck_assert(d.by_name ? strlen(d.name) > 0 : 1);
    }
    free(b);
    ei_x_free(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cdec");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, send_sender);
    tcase_add_test(tc, send_and_reg_send);
    tcase_add_test(tc, monitors_and_alias);
    tcase_add_test(tc, other_forms_left_alone);
    tcase_add_test(tc, hostile_lengths);
    tcase_add_test(tc, mutations);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

/* check_terms: building terms in unit tests with ei, each step asserted (x_new, x_tuple,
 * x_atom, x_long, x_pid, x_ref); shared by the tests that hand-build control messages. */
#ifndef CN_CHECK_TERMS_H
#define CN_CHECK_TERMS_H

#include "cnode.h"

#include <check.h>
#include <ei.h>
#include <string.h>

static inline void x_new(ei_x_buff *x)
{
    ck_assert_int_eq(ei_x_new(x), 0);
}
static inline void x_tuple(ei_x_buff *x, int n)
{
    ck_assert_int_eq(ei_x_encode_tuple_header(x, n), 0);
}
static inline void x_atom(ei_x_buff *x, const char *a)
{
    ck_assert_int_eq(ei_x_encode_atom_len_as(x, a, (int)strlen(a), ERLANG_UTF8, ERLANG_UTF8), 0);
}
static inline void x_long(ei_x_buff *x, long v)
{
    ck_assert_int_eq(ei_x_encode_long(x, v), 0);
}
static inline void x_pid(ei_x_buff *x, const cn_pid *p)
{
    ck_assert_int_eq(cn_encode_pid(x, p), 0);
}
static inline void x_ref(ei_x_buff *x, const cn_ref *r)
{
    ck_assert_int_eq(cn_encode_ref(x, r), 0);
}

#endif

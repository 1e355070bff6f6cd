/* check_timeunit: the time unit reader behind erlang:system_time/1, convert_time_unit/3 and
 * friends (every unit the BEAM takes, badarg for the rest, hostile terms refused without
 * moving the index), the BEAM's floor rounding, and integers past 64 bits encoded as bignums. */
#include "util/timeunit.h"

#include <check.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

/* Decode the unit at the start of x (after the version byte); -1 on refusal, where the index
 * must not have moved. */
static int unit_of(ei_x_buff *x, uint64_t *pps)
{
    /* an exact-size copy, so a sanitizer build catches any read past the term */
    char *b = malloc((size_t)x->index);
    memcpy(b, x->buff, (size_t)x->index);
    int idx = 1, r = cn_time_unit_decode(b, &idx, pps);
    if (r < 0)
        ck_assert_int_eq(idx, 1);
    else
        ck_assert_int_eq(idx, x->index);
    free(b);
    ei_x_free(x);
    return r;
}

static ei_x_buff fresh(void)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    return x;
}

static int atom_unit(const char *a, uint64_t *pps)
{
    ei_x_buff x = fresh();
    ei_x_encode_atom(&x, a);
    return unit_of(&x, pps);
}

START_TEST(named_units)
{
    static const struct {
        const char *a;
        uint64_t pps;
    } ok[] = {{"native", CN_NATIVE_PPS},
              {"perf_counter", CN_NATIVE_PPS},
              {"second", 1},
              {"millisecond", 1000},
              {"microsecond", 1000000},
              {"nanosecond", 1000000000},
              {"seconds", 1},
              {"milli_seconds", 1000},
              {"micro_seconds", 1000000},
              {"nano_seconds", 1000000000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t p = 0;
        ck_assert_int_eq(atom_unit(ok[i].a, &p), 0);
        ck_assert_uint_eq(p, ok[i].pps);
    }
    uint64_t p;
    static const char *bad[] = {"foo",     "Second",         "seconds ",  "",    "milli_second",
                                "nanosec", "native\xc3\xa9", "undefined", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(atom_unit(bad[i], &p), -1);
    char longest[256];
    memset(longest, 's', 255);
    longest[255] = '\0';
    ck_assert_int_eq(atom_unit(longest, &p), -1);
}
END_TEST

START_TEST(integer_units)
{
    uint64_t p;
    const long long good[] = {
        1, 7, 255, 256, 1000, 0x7fffffffLL, 0x80000000LL, 1LL << 40, 0x7fffffffffffffffLL};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ei_x_buff x = fresh();
        ei_x_encode_longlong(&x, good[i]);
        ck_assert_int_eq(unit_of(&x, &p), 0);
        ck_assert_uint_eq(p, (uint64_t)good[i]);
    }
    ei_x_buff x = fresh();
    ei_x_encode_ulonglong(&x, UINT64_MAX);
    ck_assert_int_eq(unit_of(&x, &p), 0);
    ck_assert_uint_eq(p, UINT64_MAX);
    /* zero and negative units are badarg, as on the BEAM */
    const long long bad[] = {0, -1, -1000, -(1LL << 40), (long long)INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x = fresh();
        ei_x_encode_longlong(&x, bad[i]);
        ck_assert_int_eq(unit_of(&x, &p), -1);
    }
}
END_TEST

START_TEST(other_terms_refused)
{
    uint64_t p;
    ei_x_buff x = fresh();
    ei_x_encode_double(&x, 1.0);
    ck_assert_int_eq(unit_of(&x, &p), -1);
    x = fresh();
    ei_x_encode_string(&x, "second");
    ck_assert_int_eq(unit_of(&x, &p), -1);
    x = fresh();
    ei_x_encode_binary(&x, "second", 6);
    ck_assert_int_eq(unit_of(&x, &p), -1);
    x = fresh();
    ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_atom(&x, "second");
    ck_assert_int_eq(unit_of(&x, &p), -1);
    x = fresh();
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(unit_of(&x, &p), -1);
    /* 2^64: a 9-byte bignum, more than this reader takes */
    const char big9[] = {(char)131, (char)ERL_SMALL_BIG_EXT, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    x = fresh();
    x.index = 0;
    ei_x_append_buf(&x, big9, sizeof big9);
    ck_assert_int_eq(unit_of(&x, &p), -1);
    /* a bignum of zero bytes, a negative bignum, a huge LARGE_BIG_EXT header */
    const char big0[] = {(char)131, (char)ERL_SMALL_BIG_EXT, 0, 0};
    x = fresh();
    x.index = 0;
    ei_x_append_buf(&x, big0, sizeof big0);
    ck_assert_int_eq(unit_of(&x, &p), -1);
    const char neg[] = {(char)131, (char)ERL_SMALL_BIG_EXT, 1, 1, 5};
    x = fresh();
    x.index = 0;
    ei_x_append_buf(&x, neg, sizeof neg);
    ck_assert_int_eq(unit_of(&x, &p), -1);
    const char large[] = {
        (char)131, (char)ERL_LARGE_BIG_EXT, 0x7f, (char)0xff, (char)0xff, (char)0xff, 0};
    x = fresh();
    x.index = 0;
    ei_x_append_buf(&x, large, sizeof large);
    ck_assert_int_eq(unit_of(&x, &p), -1);
}
END_TEST

START_TEST(conversions_floor)
{
    ck_assert(cn_time_convert(1999, 1000, 1) == 1);
    ck_assert(cn_time_convert(-1, 1000, 1) == -1); /* floor, not truncation */
    ck_assert(cn_time_convert(-1999, 1000000000, 1000000) == -2);
    ck_assert(cn_time_convert(-2000, 1000, 1) == -2);
    ck_assert(cn_time_convert(0, 7, 3) == 0);
    ck_assert(cn_time_convert(1, 1, 1000000000) == 1000000000);
    ck_assert(cn_time_convert(10, 3, 7) == 23);
    ck_assert(cn_time_convert(-10, 3, 7) == -24);
    /* extremes stay exact in 128 bits */
    __int128 big = cn_time_convert(INT64_MAX, 1, UINT64_MAX);
    ck_assert(big == (__int128)INT64_MAX * (__int128)UINT64_MAX);
    __int128 low = cn_time_convert(INT64_MIN, 1, UINT64_MAX);
    ck_assert(low == (__int128)INT64_MIN * (__int128)UINT64_MAX);
    ck_assert(cn_time_convert(INT64_MIN, UINT64_MAX, 1) == -1);
    ck_assert(cn_time_convert(INT64_MAX, UINT64_MAX, 1) == 0);
}
END_TEST

START_TEST(encoding)
{
    ei_x_buff x;
    long long v;
    const __int128 small[] = {
        0, 1, -1, 255, 256, -256, INT32_MAX, (__int128)INT32_MAX + 1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        ei_x_new(&x);
        ck_assert_int_eq(cn_time_encode_int(&x, small[i]), 0);
        int idx = 0;
        ck_assert_int_eq(ei_decode_longlong(x.buff, &idx, &v), 0);
        ck_assert(v == (long long)small[i]);
        ck_assert_int_eq(idx, x.index);
        ei_x_free(&x);
    }
    /* 2^64 and -(2^64 + 2): SMALL_BIG_EXT, little-endian magnitude and a sign byte */
    ei_x_new(&x);
    cn_time_encode_int(&x, (__int128)1 << 64);
    const char p64[] = {(char)ERL_SMALL_BIG_EXT, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_int_eq(x.index, (int)sizeof p64);
    ck_assert(memcmp(x.buff, p64, sizeof p64) == 0);
    int idx = 0;
    ck_assert_int_eq(ei_skip_term(x.buff, &idx), 0);
    ck_assert_int_eq(idx, x.index);
    ei_x_free(&x);
    ei_x_new(&x);
    cn_time_encode_int(&x, -(((__int128)1 << 64) + 2));
    const char n64[] = {(char)ERL_SMALL_BIG_EXT, 9, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_int_eq(x.index, (int)sizeof n64);
    ck_assert(memcmp(x.buff, n64, sizeof n64) == 0);
    ei_x_free(&x);
    /* the largest magnitude a conversion can give: 16 bytes */
    ei_x_new(&x);
    cn_time_encode_int(&x, (__int128)INT64_MIN * (__int128)UINT64_MAX);
    ck_assert_int_eq((unsigned char)x.buff[1], 16);
    ck_assert_int_eq(x.buff[2], 1);
    ei_x_free(&x);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("timeunit");
    TCase *tc = tcase_create("timeunit");
    tcase_add_test(tc, named_units);
    tcase_add_test(tc, integer_units);
    tcase_add_test(tc, other_terms_refused);
    tcase_add_test(tc, conversions_floor);
    tcase_add_test(tc, encoding);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

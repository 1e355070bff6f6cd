/* check_timeunit: the time unit reader behind erlang:system_time/1, convert_time_unit/3 and
 * friends (every unit the BEAM takes, badarg for the rest, hostile terms refused without
 * moving the index), the BEAM's floor rounding (against 128-bit arithmetic, and bignum cases
 * whose terms and answers the BEAM made: term_to_binary of the arguments and of its result),
 * and integers past 64 bits encoded as bignums. */
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
    cn_tint v;
    int idx = 1, r = cn_time_unit_decode(b, &idx, &v);
    if (r == 0) {
        ck_assert(!v.neg && v.n >= 1 && v.n <= 3);
        *pps = v.d[0] | (v.n >= 2 ? (uint64_t)v.d[1] << 32 : 0);
        if (v.n == 3) /* 2^64 and more: tell the caller by a value no test expects */
            *pps = 0;
    }
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
    /* 2^64: a 9-byte bignum, a unit as good as any (the BEAM takes it) */
    const char big9[] = {(char)131, (char)ERL_SMALL_BIG_EXT, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    x = fresh();
    x.index = 0;
    ei_x_append_buf(&x, big9, sizeof big9);
    ck_assert_int_eq(unit_of(&x, &p), 0);
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

static void set_u64(cn_tint *v, uint64_t m)
{
    v->neg = 0;
    v->d[0] = (uint32_t)m;
    v->d[1] = (uint32_t)(m >> 32);
    v->n = m >> 32 ? 2 : m ? 1 : 0;
}

/* floor(t * to / from) through cn_tint, for values that fit 64 bits. */
static __int128 conv64(int64_t t, uint64_t from, uint64_t to)
{
    cn_tint T, F, U, R;
    cn_tint_set(&T, t);
    set_u64(&F, from);
    set_u64(&U, to);
    cn_time_convert(&T, &F, &U, &R);
    ck_assert(R.n <= 4);
    unsigned __int128 m = 0;
    for (int i = R.n - 1; i >= 0; i--)
        m = (m << 32) | R.d[i];
    return R.neg ? -(__int128)m : (__int128)m;
}

/* The same in 128-bit arithmetic. */
static __int128 ref128(int64_t t, uint64_t from, uint64_t to)
{
    __int128 n = (__int128)t * (__int128)to, d = (__int128)from, q = n / d;
    if (n % d != 0 && n < 0)
        q--;
    return q;
}

START_TEST(conversions_floor)
{
    ck_assert(conv64(1999, 1000, 1) == 1);
    ck_assert(conv64(-1, 1000, 1) == -1); /* floor, not truncation */
    ck_assert(conv64(-1999, 1000000000, 1000000) == -2);
    ck_assert(conv64(-2000, 1000, 1) == -2);
    ck_assert(conv64(0, 7, 3) == 0);
    ck_assert(conv64(1, 1, 1000000000) == 1000000000);
    ck_assert(conv64(10, 3, 7) == 23);
    ck_assert(conv64(-10, 3, 7) == -24);
    ck_assert(conv64(INT64_MAX, 1, UINT64_MAX) == (__int128)INT64_MAX * (__int128)UINT64_MAX);
    ck_assert(conv64(INT64_MIN, 1, UINT64_MAX) == (__int128)INT64_MIN * (__int128)UINT64_MAX);
    ck_assert(conv64(INT64_MIN, UINT64_MAX, 1) == -1);
    ck_assert(conv64(INT64_MAX, UINT64_MAX, 1) == 0);
    /* and many more against 128-bit arithmetic */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        int64_t t = (int64_t)seed >> (seed % 63);
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t from = (seed >> (seed % 64)) | 1;
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t to = (seed >> (seed % 64)) | 1;
        ck_assert(conv64(t, from, to) == ref128(t, from, to));
    }
}
END_TEST

/* erlang:convert_time_unit(T, From, To) on bignums: {term_to_binary([T, From, To]),
 * term_to_binary(Result)} as the BEAM gave them. */
static const struct {
    unsigned char args[160], result[80];
} beam_cases[] = {
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x6e, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x64, 0x00, 0x0a, 0x6e, 0x61, 0x6e, 0x6f, 0x73,
      0x65, 0x63, 0x6f, 0x6e, 0x64, 0x64, 0x00, 0x06, 0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64, 0x6a},
     {0x83, 0x6e, 0x09, 0x00, 0x98, 0xcb, 0x52, 0x5a, 0x9b, 0xa0, 0x2f, 0xb8, 0x44}},
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x6e, 0x0d, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x61, 0x03, 0x61, 0x07, 0x6a},
     {0x83, 0x6e, 0x0d, 0x01, 0x58, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
      0x55, 0x25}},
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x62, 0x00, 0x00, 0x30, 0x39, 0x61, 0x01, 0x6e, 0x1a,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6a},
     {0x83, 0x6e, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x39, 0x30}},
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x6e, 0x26, 0x01, 0xf9, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0x0f, 0x6e, 0x1a, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6e, 0x20, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x6a},
     {0x83, 0x6e, 0x2c, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe4, 0xff,
      0xff, 0xff, 0xff, 0xff, 0x4f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f}},
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x62, 0xff, 0xff, 0xff, 0xff, 0x6e, 0x09,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x61, 0x01, 0x6a},
     {0x83, 0x62, 0xff, 0xff, 0xff, 0xff}},
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x6e, 0x09, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6e, 0x09, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x61, 0x01, 0x6a},
     {0x83, 0x61, 0x01}},
    {{0x83, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x6e, 0x08, 0x01, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x61, 0x01, 0x6e, 0x09, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6a},
     {0x83, 0x6e, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80}},
};

START_TEST(bignum_conversions_as_the_beam)
{
    for (size_t k = 0; k < sizeof beam_cases / sizeof beam_cases[0]; k++) {
        const char *a = (const char *)beam_cases[k].args;
        int idx = 1, n;
        ck_assert_int_eq(ei_decode_list_header(a, &idx, &n), 0);
        ck_assert_int_eq(n, 3);
        cn_tint t, from, to, r;
        ck_assert_int_eq(cn_time_int_decode(a, &idx, &t), 0);
        ck_assert_int_eq(cn_time_unit_decode(a, &idx, &from), 0);
        ck_assert_int_eq(cn_time_unit_decode(a, &idx, &to), 0);
        cn_time_convert(&t, &from, &to, &r);
        ei_x_buff x;
        ei_x_new_with_version(&x);
        ck_assert_int_eq(cn_time_encode_int(&x, &r), 0);
        const char *want = (const char *)beam_cases[k].result;
        int wi = 0, wlen;
        ck_assert_int_eq(ei_skip_term(want + 1, &wi), 0);
        wlen = wi + 1;
        ck_assert_msg(x.index == wlen && memcmp(x.buff, want, (size_t)wlen) == 0, "case %zu", k);
        /* and it reads back as the same integer */
        cn_tint back;
        idx = 1;
        ck_assert_int_eq(cn_time_int_decode(x.buff, &idx, &back), 0);
        ck_assert_int_eq(idx, x.index);
        ck_assert_int_eq(back.neg, r.neg);
        ck_assert_int_eq(back.n, r.n);
        ck_assert(memcmp(back.d, r.d, (size_t)r.n * 4) == 0);
        ei_x_free(&x);
    }
}
END_TEST

START_TEST(oversized_integers_refused)
{
    /* 256 bytes of magnitude are taken, 257 are not (LARGE_BIG_EXT) */
    for (int size = 255; size <= 258; size++) {
        unsigned char b[1 + 6 + 258];
        b[0] = 131;
        int h = 1;
        if (size < 256) {
            b[h++] = ERL_SMALL_BIG_EXT;
            b[h++] = (unsigned char)size;
        } else {
            b[h++] = ERL_LARGE_BIG_EXT;
            b[h++] = 0;
            b[h++] = 0;
            b[h++] = (unsigned char)(size >> 8);
            b[h++] = (unsigned char)size;
        }
        b[h++] = 0;
        memset(b + h, 0xff, (size_t)size);
        cn_tint v;
        int idx = 1;
        int r = cn_time_int_decode((const char *)b, &idx, &v);
        if (size <= CN_TINT_BYTES) {
            ck_assert_int_eq(r, 0);
            ck_assert_int_eq(idx, h + size);
            /* the largest product and its quotient stay in bounds */
            cn_tint one, q;
            cn_tint_set(&one, 1);
            cn_time_convert(&v, &one, &v, &q);
            ck_assert_int_eq(q.n, 2 * ((size + 3) / 4));
            ei_x_buff x;
            ei_x_new(&x);
            ck_assert_int_eq(cn_time_encode_int(&x, &q), 0);
            ck_assert_int_eq((unsigned char)x.buff[0], ERL_LARGE_BIG_EXT);
            ei_x_free(&x);
        } else {
            ck_assert_int_eq(r, -1);
            ck_assert_int_eq(idx, 1);
        }
    }
}
END_TEST

START_TEST(encoding)
{
    ei_x_buff x;
    long long v;
    const int64_t small[] = {
        0, 1, -1, 255, 256, -256, INT32_MAX, (int64_t)INT32_MAX + 1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        cn_tint t;
        cn_tint_set(&t, small[i]);
        ei_x_new(&x);
        ck_assert_int_eq(cn_time_encode_int(&x, &t), 0);
        int idx = 0;
        ck_assert_int_eq(ei_decode_longlong(x.buff, &idx, &v), 0);
        ck_assert(v == (long long)small[i]);
        ck_assert_int_eq(idx, x.index);
        ei_x_free(&x);
    }
    /* 2^64 and -(2^64 + 2): SMALL_BIG_EXT, little-endian magnitude and a sign byte */
    cn_tint t = {0, 3, {0, 0, 1}};
    ei_x_new(&x);
    cn_time_encode_int(&x, &t);
    const char p64[] = {(char)ERL_SMALL_BIG_EXT, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_int_eq(x.index, (int)sizeof p64);
    ck_assert(memcmp(x.buff, p64, sizeof p64) == 0);
    ei_x_free(&x);
    t = (cn_tint){1, 3, {2, 0, 1}};
    ei_x_new(&x);
    cn_time_encode_int(&x, &t);
    const char n64[] = {(char)ERL_SMALL_BIG_EXT, 9, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_int_eq(x.index, (int)sizeof n64);
    ck_assert(memcmp(x.buff, n64, sizeof n64) == 0);
    ei_x_free(&x);
    /* 2^63 is a bignum, -2^63 is not */
    t = (cn_tint){0, 2, {0, 0x80000000u}};
    ei_x_new(&x);
    cn_time_encode_int(&x, &t);
    ck_assert_int_eq((unsigned char)x.buff[0], ERL_SMALL_BIG_EXT);
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
    tcase_add_test(tc, bignum_conversions_as_the_beam);
    tcase_add_test(tc, oversized_integers_refused);
    tcase_add_test(tc, encoding);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

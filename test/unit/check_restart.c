/* check_restart: unit tests for the supervisor restart-intensity window (services/restart):
 * window edges, exactly max restarts, period expiry, max 0, ring growth and wrap-around. */
#include "services/restart.h"

#include <check.h>
#include <stdlib.h>

#include "check_main.h"

START_TEST(bad_parameters)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, -1, 5000), -1);
    ck_assert_int_eq(cn_restarts_init(&r, 3, 0), -1);
    ck_assert_int_eq(cn_restarts_init(&r, 0, 1), 0);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(exactly_max_then_one_more)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 3, 5000), 0);
    ck_assert_int_eq(cn_restarts_add(&r, 1000), 1);
    ck_assert_int_eq(cn_restarts_add(&r, 1000), 1); /* same instant counts twice */
    ck_assert_int_eq(cn_restarts_add(&r, 1001), 1);
    ck_assert_int_eq(cn_restarts_count(&r, 1001), 3);
    ck_assert_int_eq(cn_restarts_add(&r, 1002), 0); /* the fourth within 5 s */
    cn_restarts_free(&r);
}
END_TEST

START_TEST(window_edge_is_inclusive)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 1, 5000), 0);
    ck_assert_int_eq(cn_restarts_add(&r, 10000), 1);
    /* exactly period later the first still counts (now <= then + period) */
    ck_assert_int_eq(cn_restarts_add(&r, 15000), 0);
    cn_restarts_free(&r);

    ck_assert_int_eq(cn_restarts_init(&r, 1, 5000), 0);
    ck_assert_int_eq(cn_restarts_add(&r, 10000), 1);
    /* one millisecond after the window it has expired */
    ck_assert_int_eq(cn_restarts_add(&r, 15001), 1);
    ck_assert_int_eq(cn_restarts_count(&r, 15001), 1);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(period_expiry)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 3, 5000), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cn_restarts_add(&r, 1000 + (uint64_t)i), 1);
    ck_assert_int_eq(cn_restarts_count(&r, 6000), 3);
    ck_assert_int_eq(cn_restarts_count(&r, 6001), 2);
    ck_assert_int_eq(cn_restarts_count(&r, 6002), 1);
    ck_assert_int_eq(cn_restarts_count(&r, 6003), 0);
    /* a quiet period gives the full budget again */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cn_restarts_add(&r, 20000), 1);
    ck_assert_int_eq(cn_restarts_add(&r, 20000), 0);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(sliding_window)
{
    /* one restart every 2 s with max 2 in 5 s: at most 3 fall in any window, so every third
     * restart (t, t+2, t+4) exceeds; one every 3 s never does */
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 2, 5000), 0);
    ck_assert_int_eq(cn_restarts_add(&r, 0), 1);
    ck_assert_int_eq(cn_restarts_add(&r, 2000), 1);
    ck_assert_int_eq(cn_restarts_add(&r, 4000), 0);
    cn_restarts_free(&r);

    ck_assert_int_eq(cn_restarts_init(&r, 1, 5000), 0);
    for (uint64_t t = 0; t < 600000; t += 5001)
        ck_assert_int_eq(cn_restarts_add(&r, t), 1);
    cn_restarts_free(&r);

    ck_assert_int_eq(cn_restarts_init(&r, 2, 5000), 0);
    for (uint64_t t = 0; t < 600000; t += 3000)
        ck_assert_int_eq(cn_restarts_add(&r, t), 1);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(max_zero)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 0, 5000), 0);
    ck_assert_int_eq(cn_restarts_add(&r, 0), 0);
    ck_assert_int_eq(cn_restarts_add(&r, 1000000), 0);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(large_max_grows_and_wraps)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 1000, 1000), 0);
    /* 1000 restarts in the same millisecond are allowed, the 1001st is not */
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(cn_restarts_add(&r, 50), 1);
    ck_assert_int_eq(cn_restarts_add(&r, 50), 0);
    ck_assert_int_le(r.cap, 1001);
    /* after the window the full ring empties; one per ms fills it again, wrapping */
    for (uint64_t t = 2000; t < 3000; t++)
        ck_assert_int_eq(cn_restarts_add(&r, t), 1);
    ck_assert_int_eq(cn_restarts_add(&r, 3000), 0); /* 2000..3000: 1001 in the window */
    ck_assert_int_eq(cn_restarts_count(&r, 3001), 1000);
    ck_assert_int_eq(cn_restarts_add(&r, 3001), 0);
    ck_assert_int_le(r.cap, 1001);
    ck_assert_int_eq(cn_restarts_count(&r, 5000), 0);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(ring_wraps_keep_order)
{
    /* steady state: the ring is full and wraps many times; expiry still drops oldest first */
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, 4, 100), 0);
    uint64_t t = 0;
    for (int i = 0; i < 10000; i++, t += 26)
        ck_assert_int_eq(cn_restarts_add(&r, t), 1); /* t-78, t-52, t-26, t: 4 per window */
    t -= 26;
    ck_assert_int_eq(cn_restarts_count(&r, t), 4);
    ck_assert_int_eq(cn_restarts_count(&r, t + 22), 4);
    ck_assert_int_eq(cn_restarts_count(&r, t + 23), 3);
    ck_assert_int_eq(cn_restarts_count(&r, t + 100), 1);
    ck_assert_int_eq(cn_restarts_count(&r, t + 101), 0);
    cn_restarts_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("restart");
    TCase *tc = tcase_create("intensity");
    tcase_add_test(tc, bad_parameters);
    tcase_add_test(tc, exactly_max_then_one_more);
    tcase_add_test(tc, window_edge_is_inclusive);
    tcase_add_test(tc, period_expiry);
    tcase_add_test(tc, sliding_window);
    tcase_add_test(tc, max_zero);
    tcase_add_test(tc, large_max_grows_and_wraps);
    tcase_add_test(tc, ring_wraps_keep_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

/* check_keeper: unit tests for the keeper's restart decision (services/keeper): the default
 * policy (kernel_safe_sup's 4 in 3600 s) gives up on the fifth exit within the hour and allows
 * it after; a policy with retry_ms retries instead of giving up (cnode_sup's); only starts
 * count, so refusals never hold the window shut. */
#include "services/keeper.h"

#include <check.h>
#include <stdlib.h>

#include "check_main.h"

START_TEST(default_is_kernel_safe_sup)
{
    ck_assert_int_eq(cn_keep_default.max, 4);
    ck_assert_uint_eq(cn_keep_default.period_ms, 3600u * 1000u);
    ck_assert_uint_eq(cn_keep_default.retry_ms, 0);
}
END_TEST

START_TEST(fifth_exit_within_the_hour_gives_up)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, cn_keep_default.max, cn_keep_default.period_ms), 0);
    uint64_t t = 1000;
    for (int i = 0; i < 4; i++, t += 600 * 1000)
        ck_assert_int_eq(cn_keep_decide(&r, &cn_keep_default, t), CN_KEEP_START);
    /* the first start was at 1000; t is 2 400 000 + 1000 ms later: still inside the hour */
    ck_assert_int_eq(cn_keep_decide(&r, &cn_keep_default, t), CN_KEEP_GIVE_UP);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(spread_over_hours_never_gives_up)
{
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, cn_keep_default.max, cn_keep_default.period_ms), 0);
    /* one exit every 15 min + 1 ms: at most 4 fall in any window of 3600 s */
    for (uint64_t i = 0, t = 0; i < 100; i++, t += 900 * 1000 + 1)
        ck_assert_int_eq(cn_keep_decide(&r, &cn_keep_default, t), CN_KEEP_START);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(retry_policy_retries)
{
    const cn_keep_policy p = {.max = 3, .period_ms = 5000, .retry_ms = 1000};
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, p.max, p.period_ms), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cn_keep_decide(&r, &p, 100), CN_KEEP_START);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 100), CN_KEEP_RETRY);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 1100), CN_KEEP_RETRY);
    /* once the window has moved past the burst, starts are allowed again */
    ck_assert_int_eq(cn_keep_decide(&r, &p, 5101), CN_KEEP_START);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(refusals_do_not_count)
{
    /* were refusals counted, the refusal at 500 would keep the start at 1001 inside the window */
    const cn_keep_policy p = {.max = 1, .period_ms = 1000, .retry_ms = 0};
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, p.max, p.period_ms), 0);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 0), CN_KEEP_START);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 500), CN_KEEP_GIVE_UP);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 1000), CN_KEEP_GIVE_UP); /* edge: still inside */
    ck_assert_int_eq(cn_keep_decide(&r, &p, 1001), CN_KEEP_START);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(retries_every_second_let_the_window_pass)
{
    /* cnode_sup's policy flapping: a refusal every second must not hold the window shut */
    const cn_keep_policy p = {.max = 3, .period_ms = 5000, .retry_ms = 1000};
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, p.max, p.period_ms), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cn_keep_decide(&r, &p, 0), CN_KEEP_START);
    for (uint64_t t = 1000; t <= 5000; t += 1000)
        ck_assert_int_eq(cn_keep_decide(&r, &p, t), CN_KEEP_RETRY);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 6000), CN_KEEP_START);
    cn_restarts_free(&r);
}
END_TEST

START_TEST(zero_max_never_starts)
{
    const cn_keep_policy p = {.max = 0, .period_ms = 1000, .retry_ms = 0};
    cn_restarts r;
    ck_assert_int_eq(cn_restarts_init(&r, p.max, p.period_ms), 0);
    ck_assert_int_eq(cn_keep_decide(&r, &p, 0), CN_KEEP_GIVE_UP);
    cn_restarts_free(&r);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("keeper");
    TCase *tc = tcase_create("decide");
    tcase_add_test(tc, default_is_kernel_safe_sup);
    tcase_add_test(tc, fifth_exit_within_the_hour_gives_up);
    tcase_add_test(tc, spread_over_hours_never_gives_up);
    tcase_add_test(tc, retry_policy_retries);
    tcase_add_test(tc, refusals_do_not_count);
    tcase_add_test(tc, retries_every_second_let_the_window_pass);
    tcase_add_test(tc, zero_max_never_starts);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

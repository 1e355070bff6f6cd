/* check_reconnect: unit tests for the redial back-off (dist/reconnect): the schedule doubles
 * from the first delay to the maximum and stays there, jitter stays within +-20%, and the
 * watch list refuses bad names and a disabled redial. */
#include "dist/reconnect.h"
#include "proc/ident.h"

#include <check.h>
#include <stdlib.h>

#include "check_main.h"

START_TEST(schedule_doubles_to_the_max)
{
    uint32_t d = 0, seen[16];
    for (int i = 0; i < 16; i++)
        seen[i] = d = cn_backoff_next(d, 10000);
    ck_assert_uint_eq(seen[0], CN_RECONNECT_FIRST_MS);
    ck_assert_uint_eq(seen[1], 400);
    ck_assert_uint_eq(seen[2], 800);
    ck_assert_uint_eq(seen[5], 6400);
    ck_assert_uint_eq(seen[6], 10000); /* capped, not 12800 */
    ck_assert_uint_eq(seen[15], 10000);
    /* a maximum below the first delay wins */
    ck_assert_uint_eq(cn_backoff_next(0, 50), 50);
    ck_assert_uint_eq(cn_backoff_next(50, 50), 50);
    /* no overflow near the top of the range */
    ck_assert_uint_eq(cn_backoff_next(0x90000000u, 0xffffffffu), 0xffffffffu);
}
END_TEST

START_TEST(jitter_within_twenty_percent)
{
    for (int i = 0; i < 1000; i++) {
        double j = i / 1000.0;
        uint32_t v = cn_backoff_jitter(1000, j);
        ck_assert_uint_ge(v, 800);
        ck_assert_uint_le(v, 1200);
    }
    ck_assert_uint_eq(cn_backoff_jitter(1000, 0.0), 800);
    ck_assert_uint_eq(cn_backoff_jitter(1000, -3), 1000); /* out of range: the middle */
    ck_assert_uint_eq(cn_backoff_jitter(1, 0.0), 1);      /* never 0 for a positive delay */
    ck_assert_uint_eq(cn_backoff_jitter(0, 0.5), 0);
}
END_TEST

START_TEST(watch_list)
{
    cn_ident_init("t@host", 1);
    cn_reconnect_set_max(1000);
    ck_assert_int_eq(cn_reconnect_watch("nohost"), -1);
    ck_assert_int_eq(cn_reconnect_watch(NULL), -1);
    ck_assert_int_eq(cn_reconnect_watch("t@host"), -1); /* ourselves */
    ck_assert_int_eq(cn_reconnect_watch("a@host"), 0);
    ck_assert_int_eq(cn_reconnect_watch("a@host"), 0); /* twice is one watch */
    ck_assert(cn_reconnect_watched("a@host"));
    cn_reconnect_unwatch("a@host");
    ck_assert(!cn_reconnect_watched("a@host"));
    /* meshed peers: only with the option; POP's unwatch ends only a meshed watch */
    ck_assert_int_eq(cn_reconnect_watch_meshed("m@host"), 0);
    ck_assert(!cn_reconnect_watched("m@host")); /* option off: nothing */
    cn_reconnect_set_meshed(1);
    ck_assert_int_eq(cn_reconnect_watch_meshed("m@host"), 0);
    ck_assert(cn_reconnect_watched("m@host"));
    cn_reconnect_unwatch_meshed("m@host");
    ck_assert(!cn_reconnect_watched("m@host"));
    ck_assert_int_eq(cn_reconnect_watch("c@host"), 0); /* as --connect */
    ck_assert_int_eq(cn_reconnect_watch_meshed("c@host"), 0);
    cn_reconnect_unwatch_meshed("c@host");
    ck_assert(cn_reconnect_watched("c@host")); /* an explicit watch stays */
    ck_assert_int_eq(cn_reconnect_watch_meshed("d@host"), 0);
    ck_assert_int_eq(cn_reconnect_watch("d@host"), 0); /* made explicit */
    cn_reconnect_unwatch_meshed("d@host");
    ck_assert(cn_reconnect_watched("d@host"));
    cn_reconnect_set_meshed(0);
    cn_reconnect_set_max(0); /* redialling disabled */
    ck_assert_int_eq(cn_reconnect_watch("b@host"), -1);
    ck_assert(!cn_reconnect_watched("b@host"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("reconnect");
    TCase *tc = tcase_create("backoff");
    tcase_add_test(tc, schedule_doubles_to_the_max);
    tcase_add_test(tc, jitter_within_twenty_percent);
    tcase_add_test(tc, watch_list);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

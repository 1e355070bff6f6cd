/* check_ackmod: unit tests for ack mode (dist/ackmod: when a peer that waits for our ACKs is
 * recognised, and that one that does not never is) and the event loop's soft deadline it
 * runs on (loop.c: a blocking wait ends by it, its function runs once, clearing cancels). */
#include "dist/ackmod.h"
#include "loop.h"

#include <check.h>

#include "check_main.h"

#define MS 1000000u
#define US 1000u

/* Reads `gap` ns apart, unanswered or not; returns whether the last one was in ack mode. */
static uint64_t now_ns = 5000u * MS;

static int reads(cn_ackmod *m, int n, uint64_t gap, int unanswered)
{
    int on = 0;
    for (int i = 0; i < n; i++) {
        now_ns += gap;
        on = cn_ackmod_read(m, now_ns, unanswered);
    }
    return on;
}

/* A peer waiting for the delayed ACK after each unanswered read: 40 ms gaps. */
START_TEST(stalls_after_unanswered_reads_turn_it_on)
{
    cn_ackmod m = {0};
    ck_assert(!reads(&m, 1, MS, 0));
    ck_assert(!reads(&m, 1, 40 * MS, 1)); /* one stall: could be anything */
    ck_assert(!reads(&m, 1, 40 * MS, 1));
    ck_assert(reads(&m, 1, 40 * MS, 1)); /* the third within the window */
    /* it lasts CN_ACKMOD_MODE_NS without stalls, then ends */
    ck_assert(cn_ackmod_on(&m, now_ns + CN_ACKMOD_MODE_NS - 1));
    ck_assert(!cn_ackmod_on(&m, now_ns + CN_ACKMOD_MODE_NS));
    /* an ACK sent in the mode extends it */
    cn_ackmod_acked(&m, now_ns + CN_ACKMOD_MODE_NS - MS);
    ck_assert(cn_ackmod_on(&m, now_ns + 2 * CN_ACKMOD_MODE_NS - 2 * MS));
}
END_TEST

/* A peer calling back to back, its demonitor read alone now and then: never. */
START_TEST(a_busy_peer_never_turns_it_on)
{
    cn_ackmod m = {0};
    for (int i = 0; i < 100000; i++)
        ck_assert(!reads(&m, 1, 30 * US, i & 1));
}
END_TEST

/* Gaps that are not stalls: after an answered read (an idle client whose last call was
 * answered), longer than a delayed ACK (idle), or too far apart. */
START_TEST(idle_gaps_do_not)
{
    cn_ackmod m = {0};
    ck_assert(!reads(&m, 10, 40 * MS, 0));
    ck_assert(!reads(&m, 10, 2000 * MS, 1));
    ck_assert(!reads(&m, 10, CN_ACKMOD_STALL_MAX_NS + 1, 1));
    ck_assert(!reads(&m, 10, CN_ACKMOD_STALL_MIN_NS - 1, 1));
    /* two stalls, then a quiet second, then two more: never three within the window */
    for (int i = 0; i < 5; i++) {
        ck_assert(!reads(&m, 2, 40 * MS, 1));
        ck_assert(!reads(&m, 1, CN_ACKMOD_WINDOW_NS, 0));
    }
}
END_TEST

/* ---- the loop's soft deadline -------------------------------------------------------- */

static int fired;
static uint64_t fired_at;
static void on_soft(uint64_t now)
{
    fired++;
    fired_at = now;
}

/* One blocking wait and its handling; returns how long the wait took (ns). */
static uint64_t wait_once(void)
{
    uint64_t t0 = cn_now_ns();
    cn_loop_batch b;
    cn_loop_wait(&b, 1);
    cn_loop_handle(&b);
    return cn_now_ns() - t0;
}

START_TEST(soft_deadline)
{
    ck_assert_int_eq(cn_loop_init(), 0);
    cn_loop_set_soft(on_soft);
    /* a blocking wait with nothing else to wake it ends by the deadline; fn runs once */
    uint64_t due = cn_now_ns() + 2 * MS;
    cn_loop_soft_due(due);
    cn_loop_soft_due(due + 50 * MS); /* the earliest is kept */
    while (fired == 0)
        wait_once();
    ck_assert_int_eq(fired, 1);
    ck_assert_uint_ge(fired_at, due);
    /* the later one was dropped with it: a kick ends the next wait, and nothing fires */
    cn_loop_kick();
    wait_once();
    ck_assert_int_eq(fired, 1);
    /* cleared: never fires */
    cn_loop_soft_due(cn_now_ns() + 1 * MS);
    cn_loop_soft_clear();
    cn_loop_kick();
    wait_once();
    ck_assert_int_eq(fired, 1);
    /* fn may set the next one */
    cn_loop_soft_due(cn_now_ns() + 500 * US);
    while (fired == 1)
        wait_once();
    ck_assert_int_eq(fired, 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ackmod");
    TCase *tc = tcase_create("mode");
    tcase_add_test(tc, stalls_after_unanswered_reads_turn_it_on);
    tcase_add_test(tc, a_busy_peer_never_turns_it_on);
    tcase_add_test(tc, idle_gaps_do_not);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("loop");
    tcase_add_test(tl, soft_deadline);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

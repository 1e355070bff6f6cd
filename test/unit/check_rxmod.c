/* check_rxmod: unit tests for receive moderation (dist/rxmod) and the event loop's deferred
 * calls it runs on (loop.c): when a connection starts and stops napping, that a caller making
 * one call at a time never waits, and that a deferred call fires once, moves, and is
 * cancelled by cn_loop_undefer and cn_loop_del. */
#include "dist/rxmod.h"
#include "loop.h"

#include <check.h>
#include <stdlib.h>
#include <unistd.h>

#include "check_main.h"

#define US 1000u
#define NAP_NS (150u * US)

/* n reads of `msgs` messages each: the last answer. */
static uint64_t feed(cn_rxmod *m, int n, unsigned msgs)
{
    uint64_t r = 0;
    for (int i = 0; i < n; i++)
        r = cn_rxmod_after(m, msgs);
    return r;
}

START_TEST(a_stream_enters_and_leaves)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    /* a few casts per read: the fourth such read in a row starts the nap */
    ck_assert_uint_eq(feed(&m, CN_RXMOD_ENTER - 1, 3), 0);
    ck_assert(!m.napping);
    ck_assert_uint_eq(feed(&m, 1, 2), NAP_NS);
    ck_assert(m.napping);
    /* while each read after a nap brings enough, it naps again */
    ck_assert_uint_eq(feed(&m, 10, 40), NAP_NS);
    ck_assert_uint_eq(feed(&m, 1, CN_RXMOD_STAY), NAP_NS);
    /* a read after a nap with fewer: the stream is over, read on arrival again */
    ck_assert_uint_eq(feed(&m, 1, CN_RXMOD_STAY - 1), 0);
    ck_assert(!m.napping);
    ck_assert_uint_eq(m.streak, 0);
    /* and it takes a full streak again to come back */
    ck_assert_uint_eq(feed(&m, CN_RXMOD_ENTER - 1, 50), 0);
    ck_assert_uint_eq(feed(&m, 1, 50), NAP_NS);
}
END_TEST

START_TEST(one_call_at_a_time_never_waits)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    /* each read brings one request at most (monitors and demonitors carry no payload) */
    for (int i = 0; i < 10000; i++) {
        ck_assert_uint_eq(cn_rxmod_after(&m, 1), 0);
        ck_assert_uint_eq(cn_rxmod_after(&m, 0), 0);
    }
    /* busy reads now and then do not add up across quiet ones */
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_eq(feed(&m, CN_RXMOD_ENTER - 1, 5), 0);
        ck_assert_uint_eq(feed(&m, 1, 1), 0);
    }
    ck_assert(!m.napping);
}
END_TEST

START_TEST(nap_zero_turns_it_off)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    ck_assert_uint_eq(feed(&m, CN_RXMOD_ENTER, 50), NAP_NS);
    cn_rxmod_set_nap(0);
    ck_assert_uint_eq(cn_rxmod_nap(), 0);
    ck_assert_uint_eq(feed(&m, 100, 50), 0); /* also ends a nap under way */
    ck_assert(!m.napping);
    cn_rxmod_set_nap(150);
}
END_TEST

/* ---- the loop's deferred calls ------------------------------------------------------- */

static int calls[4];
static uint32_t last_events;
static cn_ev *redefer; /* a callback that defers another event */

static void on_due(void *ctx, uint32_t events)
{
    calls[(intptr_t)ctx]++;
    last_events = events;
    if (redefer) {
        cn_ev *e = redefer;
        redefer = NULL;
        cn_loop_defer(e, cn_now_ns());
    }
}

/* Poll the loop until `ms` have passed. */
static void spin(int ms)
{
    uint64_t until = cn_now_ms() + (uint64_t)ms;
    while (cn_now_ms() < until) {
        cn_loop_batch b;
        cn_loop_wait(&b, 0);
        cn_loop_handle(&b);
        usleep(200);
    }
}

START_TEST(deferred_calls)
{
    ck_assert_int_eq(cn_loop_init(), 0);
    cn_ev a = {.fd = -1, .fn = on_due, .ctx = (void *)0};
    cn_ev b = {.fd = -1, .fn = on_due, .ctx = (void *)1};
    cn_ev c = {.fd = -1, .fn = on_due, .ctx = (void *)2};

    /* one call, once, with CN_EV_DUE */
    ck_assert_int_eq(cn_loop_defer(&a, cn_now_ns() + 300 * US), 0);
    spin(20);
    ck_assert_int_eq(calls[0], 1);
    ck_assert_uint_eq(last_events, CN_EV_DUE);
    ck_assert_uint_eq(a.due, 0);

    /* deferring again moves the time: not due at the first */
    ck_assert_int_eq(cn_loop_defer(&b, cn_now_ns() + 200 * US), 0);
    ck_assert_int_eq(cn_loop_defer(&b, cn_now_ns() + 60000 * US), 0);
    spin(20);
    ck_assert_int_eq(calls[1], 0);
    /* cancelled: never */
    cn_loop_undefer(&b);
    cn_loop_undefer(&b); /* twice is harmless */
    /* an earlier one after a later one: both, the earlier still on time */
    ck_assert_int_eq(cn_loop_defer(&b, cn_now_ns() + 50000 * US), 0);
    ck_assert_int_eq(cn_loop_defer(&c, cn_now_ns() + 500 * US), 0);
    spin(20);
    ck_assert_int_eq(calls[2], 1);
    ck_assert_int_eq(calls[1], 0);
    cn_loop_undefer(&b);

    /* a callback may defer another one: it runs in the same pass (already due) */
    redefer = &c;
    ck_assert_int_eq(cn_loop_defer(&a, cn_now_ns()), 0);
    spin(20);
    ck_assert_int_eq(calls[0], 2);
    ck_assert_int_eq(calls[2], 2);

    /* deleting an event cancels its deferred call */
    ck_assert_int_eq(cn_loop_defer(&b, cn_now_ns() + 300 * US), 0);
    cn_loop_del(&b);
    spin(20);
    ck_assert_int_eq(calls[1], 0);

    /* a time in the past: at once */
    ck_assert_int_eq(cn_loop_defer(&a, 1), 0);
    spin(5);
    ck_assert_int_eq(calls[0], 3);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rxmod");
    TCase *tc = tcase_create("moderation");
    tcase_add_test(tc, a_stream_enters_and_leaves);
    tcase_add_test(tc, one_call_at_a_time_never_waits);
    tcase_add_test(tc, nap_zero_turns_it_off);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("loop");
    tcase_add_test(tl, deferred_calls);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

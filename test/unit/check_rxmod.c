/* check_rxmod: unit tests for receive moderation (dist/rxmod) and the event loop's deferred
 * calls it runs on (loop.c): when a connection starts and stops napping, that a nap which
 * slows the peer down ends and is tried ever more rarely (a caller making one call at a time
 * almost never waits), that naps grow while the peer keeps its pace and shrink back when
 * that slows it, and that a deferred call fires once, moves, and is cancelled by
 * cn_loop_undefer and cn_loop_del. */
#include "dist/rxmod.h"
#include "loop.h"

#include <check.h>
#include <stdlib.h>
#include <unistd.h>

#include "check_main.h"

#define US 1000u
#define NAP_NS (150u * US)

/* A connection's reads on a made-up clock: n reads of `msgs` messages each, `gap_us` apart
 * (after a nap, the nap is the gap: what the read brings decides). Returns the last answer. */
static uint64_t clock_ns = 1000000000u;

static uint64_t feed(cn_rxmod *m, int n, unsigned msgs, unsigned gap_us)
{
    uint64_t r = 0;
    for (int i = 0; i < n; i++) {
        clock_ns += gap_us * US;
        r = cn_rxmod_after(m, msgs, clock_ns);
    }
    return r;
}

/* Reads of `msgs` messages `gap_us` apart until one starts a nap: how many it took. */
static int until_nap(cn_rxmod *m, unsigned msgs, unsigned gap_us)
{
    int n = 1;
    while (feed(m, 1, msgs, gap_us) == 0)
        n++;
    ck_assert(m->napping);
    return n;
}

/* Naps of `msgs` messages until the try ends: how many naps it lasted. */
static int naps_until_leave(cn_rxmod *m, unsigned msgs)
{
    int n = 1;
    while (feed(m, 1, msgs, 150) != 0)
        n++;
    ck_assert(!m->napping);
    return n;
}

#define MEASURE_US (CN_RXMOD_MEASURE_NS / US)

/* A peer that answers each nap with what it managed to send meanwhile: per_nap(nap_us).
 * Naps on from the nap `first` (what started the try) for `ms` of the made-up clock or
 * until the try ends; returns the last answer (0: it ended). */
static uint64_t nap_on(cn_rxmod *m, uint64_t first, unsigned (*per_nap)(uint64_t nap_us), int ms)
{
    uint64_t nap = first, t0 = clock_ns;
    while (nap && clock_ns - t0 < (uint64_t)ms * 1000000u) {
        clock_ns += nap;
        nap = cn_rxmod_after(m, per_nap(nap / US), clock_ns);
    }
    return nap;
}

/* Casts at 400 k/s: the sender never waits for us, whatever the nap. */
static unsigned casts(uint64_t nap_us)
{
    return (unsigned)(nap_us * 2 / 5);
}

/* 64 callers at 53 k/s, however long the nap: 64 calls fit in any nap up to 1.2 ms. */
static unsigned callers64(uint64_t nap_us)
{
    return (unsigned)(nap_us * 53 / 1000);
}

/* 16 callers at 50 k/s: a nap holds back at most 16 calls, one per caller. */
static unsigned callers16(uint64_t nap_us)
{
    unsigned n = (unsigned)(nap_us * 50 / 1000);
    return n < 16 ? n : 16;
}

/* 64 callers: a request every 20 us read on arrival (50 k/s), 8 in a nap (53 k/s). */
START_TEST(many_callers_nap_and_stop_when_the_stream_ends)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    /* the pace is measured for CN_RXMOD_MEASURE_NS first (the first read only starts it) */
    ck_assert_int_eq(until_nap(&m, 1, 20), MEASURE_US / 20 + 1);
    ck_assert_uint_eq(m.free_n, MEASURE_US / 20);
    /* while the naps keep the pace, it naps on, ever longer */
    ck_assert_uint_eq(nap_on(&m, NAP_NS, callers64, 50), CN_RXMOD_NAP_MAX_NS);
    /* fewer than CN_RXMOD_STAY: the stream is over, read on arrival again */
    ck_assert_uint_eq(feed(&m, 1, CN_RXMOD_STAY - 1, 600), 0);
    ck_assert(!m.napping);
    /* and it takes a measurement (and the back-off, 1 ms) to come back */
    ck_assert_int_eq(until_nap(&m, 1, 20), MEASURE_US / 20 + 1);
}
END_TEST

/* A stream of casts: many messages a read, and as many in a nap. */
START_TEST(a_stream_of_casts_naps)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    until_nap(&m, 3, 10); /* 300 k/s */
    /* 400 k/s: the nap doubles at each judgement up to the longest */
    ck_assert_uint_eq(nap_on(&m, NAP_NS, casts, CN_RXMOD_JUDGE_NS / 1000000u + 1), 2 * NAP_NS);
    ck_assert_uint_eq(nap_on(&m, 2 * NAP_NS, casts, CN_RXMOD_JUDGE_NS / 1000000u + 1), 4 * NAP_NS);
    ck_assert_uint_eq(nap_on(&m, 4 * NAP_NS, casts, 80), CN_RXMOD_NAP_MAX_NS);
    /* the try ends after CN_RXMOD_BACKOFF_MAX_NS, and the next one starts where it was */
    ck_assert_uint_eq(nap_on(&m, CN_RXMOD_NAP_MAX_NS, casts, 20), 0);
    ck_assert(!m.napping);
    until_nap(&m, 3, 10);
    ck_assert_uint_eq(m.cur, CN_RXMOD_NAP_MAX_NS);
}
END_TEST

/* 16 callers: 300 us holds them all back once (as many calls, at the same pace), 600 us
 * twice (half the pace): the nap goes back to 300 us for the rest of the try, which pays,
 * and for the next CN_RXMOD_HOLD_TRIES tries. */
START_TEST(a_longer_nap_that_slows_callers_is_taken_back)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    until_nap(&m, 1, 20); /* 50 k/s on readiness */
    uint64_t left = nap_on(&m, NAP_NS, callers16, 30);
    ck_assert_uint_eq(left, 2 * NAP_NS);
    ck_assert(m.capped);
    ck_assert_uint_eq(nap_on(&m, left, callers16, 50), 2 * NAP_NS);
    ck_assert(m.napping);
    /* the next tries, after the pace on readiness is measured again, start at 300 us and
     * stay there; then one tries 600 us again */
    for (int i = 0; i < CN_RXMOD_HOLD_TRIES; i++) {
        ck_assert_uint_eq(nap_on(&m, m.cur, callers16, 200), 0);
        until_nap(&m, 1, 20);
        ck_assert_uint_eq(m.cur, 2 * NAP_NS);
        ck_assert(m.capped);
    }
    ck_assert_uint_eq(nap_on(&m, m.cur, callers16, 200), 0);
    until_nap(&m, 1, 20);
    ck_assert(!m.capped);
    ck_assert_uint_eq(nap_on(&m, m.cur, callers16, 2 * CN_RXMOD_JUDGE_NS / 1000000u + 1),
                      2 * NAP_NS);
    ck_assert(m.capped);
    /* one that fails (a slower peer) starts at the base nap again */
    ck_assert_uint_eq(feed(&m, 1, 1, 300), 0);
    until_nap(&m, 1, 20);
    ck_assert_uint_eq(m.cur, NAP_NS);
}
END_TEST

/* Four callers back to back: a request every 20 us on arrival (50 k/s), but at most four in
 * a nap (27 k/s): the try ends after CN_RXMOD_EARLY_NS, and is made ever more rarely. */
START_TEST(a_nap_that_slows_the_peer_ends_and_backs_off)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    int tries = 0;
    uint64_t t0 = clock_ns;
    while (clock_ns - t0 < 4000000000u) { /* 4 s */
        until_nap(&m, 1, 20);
        tries++;
        int naps = naps_until_leave(&m, 4);
        ck_assert_int_eq(naps, (int)(CN_RXMOD_EARLY_NS / NAP_NS) + 1);
    }
    /* 1 + 2 + ... + 64 ms between the first tries, then 100 ms */
    ck_assert_int_ge(tries, 30);
    ck_assert_int_le(tries, 8 + 4000 / (int)(CN_RXMOD_BACKOFF_MAX_NS / 1000000u) + 1);
    ck_assert_uint_eq(m.backoff, CN_RXMOD_BACKOFF_MAX_NS);
    /* a try that pays resets the back-off (and doubles the nap) */
    until_nap(&m, 1, 20);
    ck_assert_uint_eq(feed(&m, CN_RXMOD_JUDGE_NS / NAP_NS + 1, 12, 150), 2 * NAP_NS);
    ck_assert_uint_eq(m.backoff, CN_RXMOD_BACKOFF_MIN_NS);
}
END_TEST

/* The first naps after reading on readiness bring fewer messages while the peer settles:
 * 64 callers at 50 k/s bring 5 in the first naps and 10 later (67 k/s). */
static unsigned per_nap_now; /* messages per 150 us: the peer's pace, changed by the test */

static unsigned paced(uint64_t nap_us)
{
    return (unsigned)(nap_us * per_nap_now / 150);
}

START_TEST(the_pace_is_judged_over_spans_of_time)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    until_nap(&m, 1, 20);
    ck_assert_uint_eq(feed(&m, 8, 5, 150), NAP_NS); /* 33 k/s: 67% */
    per_nap_now = 10;
    uint64_t nap = nap_on(&m, NAP_NS, paced, 15);
    ck_assert_uint_ge(nap, NAP_NS);
    /* the peer slows down to 7 a nap (47 k/s, 93%): still paying */
    per_nap_now = 7;
    nap = nap_on(&m, nap, paced, 15);
    ck_assert_uint_ge(nap, NAP_NS);
    /* to 6 (40 k/s, 80%): the next judgements take the doublings back and end it; the early
     * one applied only once */
    per_nap_now = 6;
    uint64_t t0 = clock_ns;
    ck_assert_uint_eq(nap_on(&m, nap, paced, 3 * CN_RXMOD_JUDGE_NS / 1000000u + 2), 0);
    ck_assert_uint_gt(clock_ns - t0, CN_RXMOD_EARLY_NS + NAP_NS);
    ck_assert(!m.napping);
}
END_TEST

/* A try that pays still ends after CN_RXMOD_BACKOFF_MAX_NS: the pace on readiness is measured
 * again (the peer may have fewer callers now), and a new try follows within milliseconds. */
START_TEST(a_try_that_pays_is_measured_again)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    until_nap(&m, 1, 20);
    per_nap_now = 10;
    uint64_t t0 = clock_ns;
    ck_assert_uint_eq(nap_on(&m, NAP_NS, paced, 1000), 0);
    ck_assert_uint_ge(clock_ns - t0, CN_RXMOD_BACKOFF_MAX_NS);
    ck_assert_uint_le(clock_ns - t0,
                      CN_RXMOD_BACKOFF_MAX_NS + CN_RXMOD_JUDGE_NS + CN_RXMOD_NAP_MAX_NS);
    ck_assert_int_eq(until_nap(&m, 1, 20), MEASURE_US / 20 + 1);
}
END_TEST

START_TEST(one_call_at_a_time_rarely_waits)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    /* each read brings one request at most (monitors and demonitors carry no payload): a
     * nap brings one too, so it ends at once */
    int naps = 0;
    for (int i = 0; i < 40000; i++) { /* 60 us per call: 2.4 s */
        if (feed(&m, 1, 1, 30) == 0 && feed(&m, 1, 0, 30) == 0)
            continue;
        naps++;
        ck_assert_uint_eq(feed(&m, 1, 1, 150), 0);
    }
    ck_assert_int_le(naps, 8 + 24 + 1);
    ck_assert(!m.napping);
    /* callers that start after a quiet 50 ms are measured at their own pace */
    cn_rxmod q = {0};
    feed(&q, 2, 1, 50000);
    until_nap(&q, 1, 20);
    ck_assert_uint_le(q.free_dt, CN_RXMOD_MEASURE_NS + 20 * US);
    /* nor after a long run of reads without messages (monitors only) */
    cn_rxmod r = {0};
    ck_assert_uint_eq(feed(&r, 300000, 0, 100), 0);
    until_nap(&r, 1, 20);
    ck_assert_uint_le(r.free_dt, CN_RXMOD_MEASURE_NS + 20 * US);
    ck_assert_uint_ge(r.free_n, MEASURE_US / 20);
    /* a peer sending one message a nap or less: a try now and then, ended by its first nap */
    cn_rxmod w = {0};
    int tries = 0;
    for (int i = 0; i < 10000; i++) /* 2 s */
        if (feed(&w, 1, 1, 200)) {
            tries++;
            ck_assert_uint_eq(feed(&w, 1, 1, 150), 0);
        }
    ck_assert_int_le(tries, 8 + 20 + 1);
}
END_TEST

START_TEST(nap_zero_turns_it_off)
{
    cn_rxmod_set_nap(150);
    cn_rxmod m = {0};
    until_nap(&m, 50, 10);
    cn_rxmod_set_nap(0);
    ck_assert_uint_eq(cn_rxmod_nap(), 0);
    ck_assert_uint_eq(feed(&m, 100, 50, 10), 0); /* also ends a nap under way */
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
    tcase_add_test(tc, many_callers_nap_and_stop_when_the_stream_ends);
    tcase_add_test(tc, a_stream_of_casts_naps);
    tcase_add_test(tc, a_longer_nap_that_slows_callers_is_taken_back);
    tcase_add_test(tc, a_nap_that_slows_the_peer_ends_and_backs_off);
    tcase_add_test(tc, the_pace_is_judged_over_spans_of_time);
    tcase_add_test(tc, a_try_that_pays_is_measured_again);
    tcase_add_test(tc, one_call_at_a_time_rarely_waits);
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

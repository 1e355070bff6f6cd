/* check_sched: unit tests for the scheduler threads: threads added while processes block
 * (cn_sleep) retire once they have not been needed for the retire delay, also under a steady
 * trickle of work, never below the configured count, and come back for the next burst;
 * cn_sched_stop joins every thread, retired ones included.
 *
 * The scheduler runs without the event loop here (no main thread serving it), with a short
 * retire delay so that a test takes a second or two. */
#include "loop.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "util/log.h"

#include <cnode.h>

#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check_main.h"

#define NBASE 2
#define BURST 24
#define RETIRE_MS 150

static atomic_int sleeping, finished, release_all;

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Threads of this process, as the kernel counts them (/proc/self/status). */
static int os_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* Waits (bounded, about 5 s at most) in cn_sleep, which blocks its scheduler thread, until
 * released. */
static int sleeper_message(cn_proc *p, const cn_msg *m)
{
    (void)m;
    atomic_fetch_add(&sleeping, 1);
    for (int i = 0; i < 500 && !atomic_load(&release_all); i++)
        cn_sleep(p, 10);
    atomic_fetch_sub(&sleeping, 1);
    atomic_fetch_add(&finished, 1);
    return 0;
}
static const cn_proc_ops sleeper_ops = {.module = "sleeper", .message = sleeper_message};

static atomic_int counted;
static int counter_message(cn_proc *p, const cn_msg *m)
{
    (void)p;
    (void)m;
    atomic_fetch_add(&counted, 1);
    return 0;
}
static const cn_proc_ops counter_ops = {.module = "counter", .message = counter_message};

static void send_to_new(void)
{
    static const char empty_list[] = {(char)131, 106};
    cn_proc *p = cn_proc_create(&sleeper_ops, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(cn_proc_deliver(p, cn_msg_new(CN_MSG, empty_list, sizeof empty_list)), 0);
    cn_proc_release(p);
}

static int wait_until(int (*cond)(int), int arg, int ms)
{
    for (int t = 0; t < ms; t += 5) {
        if (cond(arg))
            return 1;
        nap_ms(5);
    }
    return cond(arg);
}
static int sleeping_at_least(int n)
{
    return atomic_load(&sleeping) >= n;
}
static int finished_at_least(int n)
{
    return atomic_load(&finished) >= n;
}
static int threads_at_most(int n)
{
    return cn_sched_threads() <= n;
}
static int os_threads_at_most(int n)
{
    return os_threads() <= n;
}

/* BURST processes blocked at once: each needs a thread of its own, and gets it. */
static void burst(void)
{
    atomic_store(&release_all, 0);
    int done0 = atomic_load(&finished);
    for (int i = 0; i < BURST; i++)
        send_to_new();
    ck_assert_msg(wait_until(sleeping_at_least, BURST, 5000), "%d of %d processes blocked",
                  atomic_load(&sleeping), BURST);
    ck_assert_int_ge(cn_sched_threads(), NBASE + BURST);
    atomic_store(&release_all, 1);
    ck_assert(wait_until(finished_at_least, done0 + BURST, 5000));
}

static void setup(void)
{
    cn_log_level = CN_LOG_ERROR;
    ei_init();
    cn_ident_init("t@host", 1234u);
    ck_assert_int_eq(cn_loop_init(), 0);
    ck_assert_int_eq(cn_ptab_init(1024), 0);
    ck_assert_int_eq(cn_sched_start(NBASE), 0);
    cn_sched_set_retire_ms(RETIRE_MS);
}

START_TEST(extra_threads_retire_when_idle)
{
    int os0 = os_threads();
    ck_assert_int_eq(cn_sched_threads(), NBASE);
    burst();
    ck_assert_int_ge(os_threads(), os0 + BURST);
    /* Back to the configured count once idle, and the kernel's count with it. */
    ck_assert_msg(wait_until(threads_at_most, NBASE, 5000), "%d threads after the burst",
                  cn_sched_threads());
    ck_assert_msg(wait_until(os_threads_at_most, os0, 5000), "%d OS threads, %d before",
                  os_threads(), os0);
    /* Never fewer: idle for many retire delays, the base threads stay. Meanwhile they join
     * the last thread that retired: no cn_sched_stop here, and TSan sees no thread leak. */
    nap_ms(4 * RETIRE_MS);
    ck_assert_int_eq(cn_sched_threads(), NBASE);
    ck_assert_int_eq(os_threads(), os0);
}
END_TEST

START_TEST(a_second_burst_gets_its_threads_again)
{
    burst();
    ck_assert(wait_until(threads_at_most, NBASE, 5000));
    burst(); /* the slots the first burst's threads left are taken again */
    ck_assert(wait_until(threads_at_most, NBASE, 5000));
    /* The node's remaining threads still run processes. */
    int done0 = atomic_load(&finished);
    send_to_new();
    ck_assert(wait_until(finished_at_least, done0 + 1, 5000));
    cn_sched_stop(1000);
}
END_TEST

START_TEST(extra_threads_retire_under_a_steady_trickle)
{
    /* A message every 2 ms wakes an idle thread each time, in turn: every thread runs
     * something now and then, and the extra ones must retire all the same. */
    burst();
    cn_proc *p = cn_proc_create(&counter_ops, NULL);
    ck_assert_ptr_nonnull(p);
    static const char empty_list[] = {(char)131, 106};
    int t = 0;
    for (; t < 5000 && cn_sched_threads() > NBASE; t += 2) {
        ck_assert_int_eq(cn_proc_deliver(p, cn_msg_new(CN_MSG, empty_list, sizeof empty_list)), 0);
        nap_ms(2);
    }
    ck_assert_msg(cn_sched_threads() == NBASE, "%d threads after 5 s of trickle",
                  cn_sched_threads());
    ck_assert_int_gt(atomic_load(&counted), 0);
    cn_proc_release(p);
    cn_sched_stop(1000);
}
END_TEST

START_TEST(stop_joins_retired_and_live_threads)
{
    int os0 = os_threads();
    burst();
    ck_assert(wait_until(threads_at_most, NBASE + BURST / 2, 5000)); /* some retired */
    cn_sched_stop(1000);
    /* Every scheduler thread is gone: joined, so ASan/TSan see no leak. */
    ck_assert_int_eq(cn_sched_threads(), 0);
    ck_assert_int_le(os_threads(), os0 - NBASE);
}
END_TEST

START_TEST(busy_threads_do_not_retire)
{
    /* Blocked processes hold their threads however long they block: only idle ones go. */
    atomic_store(&release_all, 0);
    int done0 = atomic_load(&finished);
    for (int i = 0; i < 4; i++)
        send_to_new();
    ck_assert(wait_until(sleeping_at_least, 4, 5000));
    nap_ms(4 * RETIRE_MS);
    ck_assert_int_eq(atomic_load(&sleeping), 4);
    ck_assert_int_ge(cn_sched_threads(), NBASE + 4);
    atomic_store(&release_all, 1);
    ck_assert(wait_until(finished_at_least, done0 + 4, 5000));
    ck_assert(wait_until(threads_at_most, NBASE, 5000));
    cn_sched_stop(1000);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("sched");
    TCase *tc = tcase_create("retire");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, extra_threads_retire_when_idle);
    tcase_add_test(tc, a_second_burst_gets_its_threads_again);
    tcase_add_test(tc, busy_threads_do_not_retire);
    tcase_add_test(tc, extra_threads_retire_under_a_steady_trickle);
    tcase_add_test(tc, stop_joins_retired_and_live_threads);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

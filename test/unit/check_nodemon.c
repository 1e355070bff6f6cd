/* check_nodemon: unit tests for the monitor_nodes subscriber list (proc/nodemon): processes
 * that subscribed and then ended do not use up the list for the living. */
#include "proc/ident.h"
#include "proc/nodemon.h"
#include "proc/proc.h"

#include <check.h>
#include <stdlib.h>

#include "check_main.h"

static int noop_message(cn_proc *p, const cn_msg *m)
{
    (void)p;
    (void)m;
    return 0;
}
static const cn_proc_ops noop_ops = {.module = "noop", .message = noop_message};

static void setup(void)
{
    static int done;
    if (!done) {
        cn_ident_init("t@host", 7);
        ck_assert_int_eq(cn_ptab_init(1024), 0);
        done = 1;
    }
}

/* Short-lived subscribers (a process that calls monitor_nodes and exits, with no node
 * event in between) leave entries behind; they must not make later subscriptions fail. */
START_TEST(dead_subscribers_do_not_fill_the_list)
{
    for (int i = 0; i < 10000; i++) {
        cn_proc *p = cn_proc_create(&noop_ops, NULL);
        ck_assert_ptr_nonnull(p);
        cn_pid pid = p->pid;
        ck_assert_msg(cn_nodemon_subscribe(&pid, 1, CN_NODES_VISIBLE) == 0,
                      "subscription %d refused", i);
        cn_proc_discard(p);
    }
    cn_proc *p = cn_proc_create(&noop_ops, NULL);
    cn_pid pid = p->pid;
    ck_assert_int_eq(cn_nodemon_subscribe(&pid, 1, CN_NODES_VISIBLE), 0);
    ck_assert_int_eq(cn_nodemon_subscribe(&pid, 0, CN_NODES_VISIBLE), 0);
    cn_proc_discard(p);
    /* bad arguments are still refused */
    cn_pid remote = {1, 1, 0, 7};
    ck_assert_int_eq(cn_nodemon_subscribe(&remote, 1, CN_NODES_VISIBLE), -1);
    ck_assert_int_eq(cn_nodemon_subscribe(&pid, 1, 0), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nodemon");
    TCase *tc = tcase_create("nodemon");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dead_subscribers_do_not_fill_the_list);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

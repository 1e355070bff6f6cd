/* check_plist: unit tests for a process's link and monitor lists (proc/plist): searches and
 * unlinks agree with a plain model through thousands of random operations, before and after
 * the index is built, and the index appears past a long walk and shrinks when emptied. */
#include "proc/plist.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static cn_ref ref_n(uint32_t i)
{
    return (cn_ref){.node = i % 3, .creation = 7, .len = 3, .n = {i, i * 2654435761u, 9}};
}

static cn_pid pid_n(uint32_t i)
{
    return (cn_pid){.node = i % 5, .id = i, .serial = i >> 15, .creation = 1};
}

/* The list from head, checked in both directions; returns its length. */
static size_t mon_list_len(cn_mon *head)
{
    size_t n = 0;
    for (cn_mon *m = head, *prev = NULL; m; prev = m, m = m->next, n++)
        ck_assert_ptr_eq(m->prev, prev);
    return n;
}

static size_t link_list_len(cn_linkent *head)
{
    size_t n = 0;
    for (cn_linkent *l = head, *prev = NULL; l; prev = l, l = l->next, n++)
        ck_assert_ptr_eq(l->prev, prev);
    return n;
}

/* Random pushes, finds (present and absent), takes and unlinks on one monitor list, against
 * an array of what should be in it. */
static void mon_model_run(int which, int ops, uint32_t span, unsigned seed)
{
    cn_proc *p = calloc(1, sizeof *p);
    cn_mon **model = calloc(span, sizeof *model); /* model[i]: the entry with ref_n(i) */
    size_t in = 0;
    srand(seed);
    for (int op = 0; op < ops; op++) {
        uint32_t i = (uint32_t)rand() % span;
        cn_ref r = ref_n(i);
        int what = rand() % 4;
        if (what <= 1 && !model[i]) {
            cn_mon *m = calloc(1, sizeof *m);
            m->ref = r;
            cn_mon_push(p, which, m);
            model[i] = m;
            in++;
        } else if (what == 2) {
            ck_assert_ptr_eq(cn_mon_find(p, which, &r), model[i]);
        } else if (model[i]) {
            cn_mon *m = model[i];
            if (rand() % 2)
                ck_assert_ptr_eq(cn_mon_take(p, which, &r), m);
            else
                cn_mon_unlink(p, which, m); /* by pointer, as a nodedown sweep does */
            ck_assert_ptr_null(cn_mon_find(p, which, &r));
            free(m);
            model[i] = NULL;
            in--;
        }
    }
    cn_mon *head = which == CN_PL_MONITORS ? p->monitors : p->monitored_by;
    ck_assert_uint_eq(mon_list_len(head), in);
    for (uint32_t i = 0; i < span; i++) {
        cn_ref r = ref_n(i);
        ck_assert_ptr_eq(cn_mon_find(p, which, &r), model[i]);
    }
    for (uint32_t i = 0; i < span; i++)
        free(model[i]);
    cn_plist_free(p);
    free(model);
    free(p);
}

START_TEST(monitors_agree_with_a_model)
{
    /* span 12: lists too short to index; 5000: indexed, grown, shrunk, rebuilt */
    mon_model_run(CN_PL_MONITORS, 20000, 12, 1);
    mon_model_run(CN_PL_MONITORED_BY, 20000, 12, 2);
    mon_model_run(CN_PL_MONITORS, 200000, 5000, 3);
    mon_model_run(CN_PL_MONITORED_BY, 200000, 5000, 4);
}
END_TEST

START_TEST(links_agree_with_a_model)
{
    for (unsigned seed = 1; seed <= 2; seed++) {
        cn_proc *p = calloc(1, sizeof *p);
        enum { SPAN = 3000 };
        cn_linkent **model = calloc(SPAN, sizeof *model);
        size_t in = 0;
        srand(seed);
        for (int op = 0; op < 100000; op++) {
            uint32_t i = (uint32_t)rand() % SPAN;
            cn_pid pid = pid_n(i);
            int what = rand() % 3;
            if (what == 0 && !model[i]) {
                cn_linkent *l = calloc(1, sizeof *l);
                l->pid = pid;
                cn_link_push(p, l);
                model[i] = l;
                in++;
            } else if (what == 1) {
                ck_assert_ptr_eq(cn_link_find(p, &pid), model[i]);
            } else if (model[i]) {
                cn_link_unlink(p, model[i]);
                ck_assert_ptr_null(cn_link_find(p, &pid));
                free(model[i]);
                model[i] = NULL;
                in--;
            }
        }
        ck_assert_uint_eq(link_list_len(p->links), in);
        ck_assert_uint_gt(cn_plist_index_cap(p, CN_PL_LINKS), 0);
        for (uint32_t i = 0; i < SPAN; i++) {
            cn_pid pid = pid_n(i);
            ck_assert_ptr_eq(cn_link_find(p, &pid), model[i]);
        }
        for (uint32_t i = 0; i < SPAN; i++)
            free(model[i]);
        cn_plist_free(p);
        free(model);
        free(p);
    }
}
END_TEST

/* The index is built by a search that walks far, whether or not it finds what it looks for,
 * and only for that list; emptied, it shrinks back. */
START_TEST(index_built_by_a_long_walk_and_shrunk)
{
    cn_proc *p = calloc(1, sizeof *p);
    enum { N = 20000 };
    cn_mon **ms = calloc(N, sizeof *ms);
    for (uint32_t i = 0; i < 10; i++) {
        ms[i] = calloc(1, sizeof *ms[i]);
        ms[i]->ref = ref_n(i);
        cn_mon_push(p, CN_PL_MONITORED_BY, ms[i]);
    }
    cn_ref absent = ref_n(N + 1);
    ck_assert_ptr_null(cn_mon_find(p, CN_PL_MONITORED_BY, &absent));
    ck_assert_uint_eq(cn_plist_index_cap(p, CN_PL_MONITORED_BY), 0); /* short: walked */
    for (uint32_t i = 10; i < N; i++) {
        ms[i] = calloc(1, sizeof *ms[i]);
        ms[i]->ref = ref_n(i);
        cn_mon_push(p, CN_PL_MONITORED_BY, ms[i]);
    }
    ck_assert_uint_eq(cn_plist_index_cap(p, CN_PL_MONITORED_BY), 0); /* pushes never walk */
    cn_ref oldest = ref_n(0);
    ck_assert_ptr_eq(cn_mon_find(p, CN_PL_MONITORED_BY, &oldest), ms[0]); /* a hit, far in */
    unsigned cap = cn_plist_index_cap(p, CN_PL_MONITORED_BY);
    ck_assert_uint_ge(cap, 2 * N);
    ck_assert_uint_eq(cn_plist_index_cap(p, CN_PL_MONITORS), 0);
    ck_assert_uint_eq(cn_plist_index_cap(p, CN_PL_LINKS), 0);
    /* oldest first: each one the last of the list, the case a walk makes quadratic */
    for (uint32_t i = 0; i < N - 5; i++) {
        cn_ref r = ref_n(i);
        ck_assert_ptr_eq(cn_mon_take(p, CN_PL_MONITORED_BY, &r), ms[i]);
        free(ms[i]);
    }
    ck_assert_uint_lt(cn_plist_index_cap(p, CN_PL_MONITORED_BY), cap / 16);
    ck_assert_uint_eq(mon_list_len(p->monitored_by), 5);
    for (uint32_t i = N - 5; i < N; i++) {
        cn_ref r = ref_n(i);
        ck_assert_ptr_eq(cn_mon_take(p, CN_PL_MONITORED_BY, &r), ms[i]);
        free(ms[i]);
    }
    ck_assert_ptr_null(p->monitored_by);
    cn_plist_free(p);
    ck_assert_ptr_null(p->pidx);
    free(ms);
    free(p);
}
END_TEST

/* Two monitors with the same ref (a peer may send that): each is found until taken, and
 * taking both leaves nothing behind. */
START_TEST(duplicate_refs)
{
    cn_proc *p = calloc(1, sizeof *p);
    cn_mon *ms[40];
    for (int i = 0; i < 40; i++) {
        ms[i] = calloc(1, sizeof *ms[i]);
        ms[i]->ref = ref_n(i < 2 ? 0 : (uint32_t)i); /* 0 and 1 share a ref */
        cn_mon_push(p, CN_PL_MONITORS, ms[i]);
    }
    cn_ref r = ref_n(0);
    cn_mon *a = cn_mon_take(p, CN_PL_MONITORS, &r), *b = cn_mon_take(p, CN_PL_MONITORS, &r);
    ck_assert(a && b && a != b);
    ck_assert((a == ms[0] && b == ms[1]) || (a == ms[1] && b == ms[0]));
    ck_assert_ptr_null(cn_mon_find(p, CN_PL_MONITORS, &r));
    ck_assert_uint_eq(mon_list_len(p->monitors), 38);
    for (int i = 0; i < 40; i++)
        free(ms[i]); /* the rest are still listed: free them the way an exiting process does */
    p->monitors = NULL;
    cn_plist_free(p);
    free(p);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("plist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, monitors_agree_with_a_model);
    tcase_add_test(tc, links_agree_with_a_model);
    tcase_add_test(tc, index_built_by_a_long_walk_and_shrunk);
    tcase_add_test(tc, duplicate_refs);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

/* check_main: the one main() every Check unit-test binary has — run a suite, exit non-zero
 * when a test failed. Include it last and write `int main(void) { return cn_check_run(s()); }`. */
#ifndef CN_CHECK_MAIN_H
#define CN_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int cn_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif

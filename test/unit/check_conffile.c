/* check_conffile: unit tests for the --config file reader (util/conffile): options, values,
 * comments and line numbers come out as written; oversized, malformed and binary input is a
 * one-line refusal naming file and line. */
#include "util/conffile.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"

static cn_conf parse_ok(const char *text)
{
    cn_conf c;
    char err[256] = "";
    int r = cn_conf_parse(text, strlen(text), "t.conf", &c, err, sizeof err);
    ck_assert_msg(r == 0, "refused: %s", err);
    return c;
}

/* The refusal for text (len bytes), which must name t.conf. */
static const char *parse_err(const char *text, size_t len)
{
    static char err[256];
    cn_conf c;
    err[0] = 0;
    ck_assert_int_eq(cn_conf_parse(text, len, "t.conf", &c, err, sizeof err), -1);
    ck_assert_ptr_null(c.e);
    ck_assert_ptr_null(c.text);
    ck_assert_msg(!strncmp(err, "t.conf", 6), "error does not name the file: %s", err);
    ck_assert_msg(!strchr(err, '\n'), "error is not one line: %s", err);
    return err;
}

START_TEST(options_values_and_lines)
{
    cn_conf c = parse_ok("# a comment\n"
                         "\n"
                         "sname c1\n"
                         "  cookie   secret with spaces  \r\n"
                         "hidden\n"
                         "\t# indented comment\n"
                         "epmd-port=4370\n"
                         "schedulers = 4\n"
                         "cookie #not-a-comment\n"
                         "log-level debug"); /* no final newline */
    ck_assert_int_eq(c.n, 7);
    ck_assert_str_eq(c.e[0].name, "sname");
    ck_assert_str_eq(c.e[0].value, "c1");
    ck_assert_int_eq(c.e[0].line, 3);
    ck_assert_str_eq(c.e[1].name, "cookie");
    ck_assert_str_eq(c.e[1].value, "secret with spaces");
    ck_assert_int_eq(c.e[1].line, 4);
    ck_assert_str_eq(c.e[2].name, "hidden");
    ck_assert_ptr_null(c.e[2].value);
    ck_assert_int_eq(c.e[2].line, 5);
    ck_assert_str_eq(c.e[3].name, "epmd-port");
    ck_assert_str_eq(c.e[3].value, "4370");
    ck_assert_int_eq(c.e[3].line, 7);
    ck_assert_str_eq(c.e[4].value, "4");
    ck_assert_str_eq(c.e[5].value, "#not-a-comment"); /* only whole lines are comments */
    ck_assert_str_eq(c.e[6].name, "log-level");
    ck_assert_str_eq(c.e[6].value, "debug");
    ck_assert_int_eq(c.e[6].line, 10);
    cn_conf_free(&c);

    c = parse_ok("");
    ck_assert_int_eq(c.n, 0);
    cn_conf_free(&c);
    c = parse_ok("\n\n# only comments\n   \n");
    ck_assert_int_eq(c.n, 0);
    cn_conf_free(&c);
    c = parse_ok("port =\n"); /* '=' and nothing after: no value (the parser says it needs one) */
    ck_assert_int_eq(c.n, 1);
    ck_assert_ptr_null(c.e[0].value);
    cn_conf_free(&c);
}
END_TEST

START_TEST(malformed_lines_name_file_and_line)
{
    const char *e = parse_err("sname c1\n--cookie x\n", 20);
    ck_assert_msg(strstr(e, "t.conf:2:") && strstr(e, "dashes"), "%s", e);
    e = parse_err("sname c1\n\n= x\n", 14);
    ck_assert_msg(strstr(e, "t.conf:3:") != NULL, "%s", e);
    e = parse_err("sn@me c1\n", 9);
    ck_assert_msg(strstr(e, "t.conf:1:") != NULL, "%s", e);
    e = parse_err("sname c1\ncookie a\0b\n", 19);
    ck_assert_msg(strstr(e, "t.conf:2:") && strstr(e, "NUL"), "%s", e);
}
END_TEST

START_TEST(line_and_file_bounds)
{
    /* a line of exactly CN_CONF_MAX_LINE bytes is read; one byte more is refused */
    char *big = malloc(CN_CONF_MAX_FILE + 2);
    memset(big, 'x', CN_CONF_MAX_LINE);
    memcpy(big, "cookie ", 7);
    big[CN_CONF_MAX_LINE] = '\n';
    cn_conf c;
    char err[256];
    ck_assert_int_eq(cn_conf_parse(big, CN_CONF_MAX_LINE + 1, "t.conf", &c, err, sizeof err), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(strlen(c.e[0].value), CN_CONF_MAX_LINE - 7);
    cn_conf_free(&c);
    memset(big, 'x', CN_CONF_MAX_LINE + 1);
    big[CN_CONF_MAX_LINE + 1] = '\n';
    const char *e = parse_err(big, CN_CONF_MAX_LINE + 2);
    ck_assert_msg(strstr(e, "t.conf:1:") && strstr(e, "4096"), "%s", e);

    /* the whole file: 64 KiB of comment lines is fine, one byte more is refused */
    for (size_t i = 0; i < CN_CONF_MAX_FILE + 1; i++)
        big[i] = i % 64 == 63 ? '\n' : '#';
    ck_assert_int_eq(cn_conf_parse(big, CN_CONF_MAX_FILE, "t.conf", &c, err, sizeof err), 0);
    ck_assert_int_eq(c.n, 0);
    cn_conf_free(&c);
    e = parse_err(big, CN_CONF_MAX_FILE + 1);
    ck_assert_msg(strstr(e, "larger") != NULL, "%s", e);

    /* the same through the file reader */
    char path[] = "/tmp/check_conffileXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, big, CN_CONF_MAX_FILE), CN_CONF_MAX_FILE);
    ck_assert_int_eq(cn_conf_read(path, &c, err, sizeof err), 0);
    cn_conf_free(&c);
    ck_assert_int_eq(write(fd, "#", 1), 1);
    close(fd);
    ck_assert_int_eq(cn_conf_read(path, &c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, path) && strstr(err, "larger"), "%s", err);
    unlink(path);
    ck_assert_int_eq(cn_conf_read(path, &c, err, sizeof err), -1); /* gone */
    ck_assert_msg(strstr(err, path) && strstr(err, "No such file"), "%s", err);
    ck_assert_int_eq(cn_conf_read("/tmp", &c, err, sizeof err), -1); /* a directory */
    free(big);
}
END_TEST

START_TEST(reads_a_file)
{
    char path[] = "/tmp/check_conffileXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "sname c1\ncookie secret\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cn_conf c;
    char err[256];
    ck_assert_int_eq(cn_conf_read(path, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.n, 2);
    ck_assert_str_eq(c.e[1].value, "secret");
    cn_conf_free(&c);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conffile");
    TCase *tc = tcase_create("conffile");
    tcase_add_test(tc, options_values_and_lines);
    tcase_add_test(tc, malformed_lines_name_file_and_line);
    tcase_add_test(tc, line_and_file_bounds);
    tcase_add_test(tc, reads_a_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(suite());
}

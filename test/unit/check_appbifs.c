/* check_appbifs: the pure pieces behind bifs_app.c's rpc answers: cnoded's options as erl's
 * init arguments (erl's names, the cookie never), OS text as the BEAM decodes it (UTF-8 when
 * well-formed, else bytes), charlists, and the lines of an epmd NAMES reply read as erl_epmd
 * reads them (hostile lines refused). */
#include "cnode.h"
#include "epmd_client/epmd.h"
#include "services/bif_args.h"
#include "services/init_args.h"
#include "util/utf8.h"

#include <check.h>
#include <ei.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static void assert_arg(const char *name, const char *value, const char *flag, int n, ...)
{
    cn_erl_arg a;
    ck_assert_int_eq(cn_erl_arg_of(name, value, &a), 1);
    ck_assert_str_eq(a.flag, flag);
    ck_assert_int_eq(a.n, n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(a.v[i], va_arg(ap, const char *));
    va_end(ap);
}

START_TEST(erl_names)
{
    assert_arg("sname", "c1", "sname", 1, "c1");
    assert_arg("name", "c1@h.example", "name", 1, "c1@h.example");
    assert_arg("hidden", NULL, "hidden", 0);
    assert_arg("port", "4370", "kernel", 4, "inet_dist_listen_min", "4370", "inet_dist_listen_max",
               "4370");
    assert_arg("epmd-port", "4400", "epmd_port", 1, "4400");
    assert_arg("no-epmd-start", NULL, "start_epmd", 1, "false");
    assert_arg("net-ticktime", "20", "kernel", 2, "net_ticktime", "20");
    assert_arg("proto-dist", "inet_tls", "proto_dist", 1, "inet_tls");
    assert_arg("ssl-dist-optfile", "/x.conf", "ssl_dist_optfile", 1, "/x.conf");
    assert_arg("tls-certfile", "/c.pem", "ssl_dist_opt", 4, "server_certfile", "/c.pem",
               "client_certfile", "/c.pem");
}
END_TEST

START_TEST(setuptime_in_seconds)
{
    assert_arg("handshake-timeout", "7000", "kernel", 2, "net_setuptime", "7");
    assert_arg("handshake-timeout", "1500", "kernel", 2, "net_setuptime", "1.5");
    assert_arg("handshake-timeout", "100", "kernel", 2, "net_setuptime", "0.1");
    assert_arg("handshake-timeout", "1234", "kernel", 2, "net_setuptime", "1.234");
    /* not a number (the CLI refuses it before): passed on as given */
    assert_arg("handshake-timeout", "soon", "kernel", 2, "net_setuptime", "soon");
}
END_TEST

START_TEST(own_names_and_refusals)
{
    assert_arg("reconnect-max-ms", "5000", "reconnect_max_ms", 1, "5000");
    assert_arg("allow-unsigned", NULL, "allow_unsigned", 0);
    assert_arg("child", "kv:store", "child", 1, "kv:store");
    cn_erl_arg a;
    ck_assert_int_eq(cn_erl_arg_of("cookie", "secret", &a), 0);
    ck_assert_int_eq(cn_erl_arg_of("setcookie", "secret", &a), 0);
    ck_assert_int_eq(cn_erl_arg_of("sname", NULL, &a), 0); /* a value option without value */
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(cn_erl_arg_of(longname, "v", &a), 0);
}
END_TEST

typedef struct seen {
    char flags[16][64];
    int n;
} seen;

static void collect(const cn_erl_arg *a, void *arg)
{
    seen *s = arg;
    if (s->n < 16)
        strcpy(s->flags[s->n++], a->flag);
    for (int i = 0; i < a->n; i++)
        ck_assert_msg(strcmp(a->v[i], "topsecret") != 0, "the cookie was reported");
}

START_TEST(noted_in_order_without_cookie)
{
    ck_assert_int_eq(cn_note_argument("sname", "c1"), 0);
    ck_assert_int_eq(cn_note_argument("cookie", "topsecret"), 0);
    ck_assert_int_eq(cn_note_argument("hidden", NULL), 0);
    ck_assert_int_eq(cn_note_argument("", "x"), -1);
    seen s = {.n = 0};
    cn_init_args_each(collect, &s);
    int k = 0;
    ck_assert_str_eq(s.flags[k++], "progname");
    if (getenv("HOME"))
        ck_assert_str_eq(s.flags[k++], "home");
    ck_assert_str_eq(s.flags[k++], "sname");
    ck_assert_str_eq(s.flags[k++], "hidden");
    ck_assert_int_eq(s.n, k);
    /* bounded: 256 in all, then refused */
    int ok = 0;
    for (int i = 0; i < 300; i++)
        ok += cn_note_argument("x", "y") == 0;
    ck_assert_int_eq(ok, 256 - 3);
}
END_TEST

static size_t chars(const char *s, unsigned *cp)
{
    return cn_os_text_chars(s, strlen(s), cp, strlen(s));
}

START_TEST(os_text)
{
    unsigned cp[16];
    ck_assert_uint_eq(chars("h\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80", cp), 4);
    ck_assert_uint_eq(cp[0], 'h');
    ck_assert_uint_eq(cp[1], 0xe9);
    ck_assert_uint_eq(cp[2], 0x2713);
    ck_assert_uint_eq(cp[3], 0x1f600);
    /* not UTF-8: every byte as it is, also the well-formed ones before */
    const char *bad[] = {"\xc3\xa9\xff",     "a\xc0\xaf",  "\xed\xa0\x80",
                         "\xf4\x90\x80\x80", "ab\xe2\x9c", "\x80"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        size_t n = chars(bad[k], cp);
        ck_assert_uint_eq(n, strlen(bad[k]));
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(cp[i], (unsigned char)bad[k][i]);
    }
    ck_assert_uint_eq(cn_os_text_chars("", 0, cp, 0), 0);
}
END_TEST

static void assert_decodes(ei_x_buff *x, const unsigned *cp, size_t n)
{
    int idx = 0, type, size, version;
    ck_assert_int_eq(ei_decode_version(x->buff, &idx, &version), 0);
    ck_assert_int_eq(ei_get_type(x->buff, &idx, &type, &size), 0);
    if (n == 0) {
        ck_assert_int_eq(type, ERL_NIL_EXT);
    } else if (type == ERL_STRING_EXT) {
        char s[64];
        ck_assert_int_eq(ei_decode_string(x->buff, &idx, s), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq((unsigned char)s[i], cp[i]);
    } else {
        int arity;
        ck_assert_int_eq(ei_decode_list_header(x->buff, &idx, &arity), 0);
        ck_assert_int_eq(arity, (int)n);
        for (size_t i = 0; i < n; i++) {
            unsigned long v;
            ck_assert_int_eq(ei_decode_ulong(x->buff, &idx, &v), 0);
            ck_assert_uint_eq(v, cp[i]);
        }
    }
}

START_TEST(charlists)
{
    unsigned latin[] = {'a', 0xff, 0}, wide[] = {'a', 0x2713};
    struct {
        const unsigned *cp;
        size_t n;
        int type;
    } cases[] = {{latin, 3, ERL_STRING_EXT}, {wide, 2, ERL_LIST_EXT}, {latin, 0, ERL_NIL_EXT}};
    for (size_t k = 0; k < 3; k++) {
        ei_x_buff x;
        ei_x_new_with_version(&x);
        cn_encode_chars(&x, cases[k].cp, cases[k].n);
        int idx = 1, type, size;
        ei_get_type(x.buff, &idx, &type, &size);
        ck_assert_int_eq(type, cases[k].type);
        assert_decodes(&x, cases[k].cp, cases[k].n);
        ei_x_free(&x);
    }
}
END_TEST

static int line(const char *l, char *name, long long *port)
{
    const char *n;
    size_t nl;
    int r = cn_epmd_parse_names_line(l, strlen(l), &n, &nl, port);
    if (r == 0) {
        memcpy(name, n, nl);
        name[nl] = '\0';
    }
    return r;
}

START_TEST(names_lines)
{
    char name[300];
    long long port;
    ck_assert_int_eq(line("name c1 at port 40123", name, &port), 0);
    ck_assert_str_eq(name, "c1");
    ck_assert_int_eq(port, 40123);
    ck_assert_int_eq(line("name  at port 7", name, &port), 0); /* an empty name, as erl_epmd */
    ck_assert_str_eq(name, "");
    ck_assert_int_eq(line("name x at port -5", name, &port), 0);
    ck_assert_int_eq(port, -5);
    ck_assert_int_eq(line("name x at port +5", name, &port), 0);
    ck_assert_int_eq(port, 5);
    const char *refused[] = {"",
                             "name",
                             "name x",
                             "name x at port",
                             "name x at port ",
                             "name x at port 12a",
                             "name x at port 1 ",
                             "name x y at port 1",
                             "Name x at port 1",
                             "name x at  port 1",
                             "name x at port 1234567890123456789",
                             "name x at port -"};
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
        ck_assert_msg(line(refused[k], name, &port) < 0, "took '%s'", refused[k]);
    const char *n;
    size_t nl;
    ck_assert_int_eq(cn_epmd_parse_names_line(NULL, 0, &n, &nl, &port), -1);
    /* the length bounds the read, not a terminator */
    ck_assert_int_eq(cn_epmd_parse_names_line("name c1 at port 40123", 18, &n, &nl, &port), 0);
    ck_assert_int_eq(port, 40);
    ck_assert_int_eq(cn_epmd_parse_names_line("name c1 at port 40123", 15, &n, &nl, &port), -1);
}
END_TEST

/* Code points at each UTF-8 length's edges, and a charlist of them as a charlist argument
 * (os:getenv's names, net_adm:names' hosts; code:load_file's names use the same encoder). */
START_TEST(utf8_edges)
{
    static const struct {
        unsigned long c;
        const char *u8;
    } v[] = {{0x41, "A"},
             {0x7f, "\x7f"},
             {0x80, "\xc2\x80"},
             {0x7ff, "\xdf\xbf"},
             {0x800, "\xe0\xa0\x80"},
             {0xffff, "\xef\xbf\xbf"},
             {0x10000, "\xf0\x90\x80\x80"},
             {0x10ffff, "\xf4\x8f\xbf\xbf"}};
    ei_x_buff arg, u8;
    ei_x_new(&arg);
    ei_x_encode_list_header(&arg, (long)(sizeof v / sizeof v[0]));
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        char b[4];
        int n = cn_utf8_put(v[k].c, b);
        ck_assert_int_eq(n, (int)strlen(v[k].u8));
        ck_assert(memcmp(b, v[k].u8, (size_t)n) == 0);
        ei_x_encode_long(&arg, (long)v[k].c);
    }
    ei_x_encode_empty_list(&arg);
    ei_x_new(&u8);
    int idx = 0;
    ck_assert_int_eq(cn_utf8_arg(arg.buff, &idx, &u8), 0);
    ck_assert_int_eq(idx, arg.index);
    ck_assert_int_eq(u8.index, 1 + 1 + 2 + 2 + 3 + 3 + 4 + 4);
    ck_assert(memcmp(u8.buff + u8.index - 4, "\xf4\x8f\xbf\xbf", 4) == 0);
    ei_x_free(&u8);
    ei_x_free(&arg);
    /* a surrogate, past 0x10FFFF, an improper tail: refused, idx unchanged */
    const long bad[] = {0xd800, 0x110000, -1};
    for (size_t k = 0; k < 3; k++) {
        ei_x_new(&arg);
        ei_x_encode_list_header(&arg, 1);
        ei_x_encode_long(&arg, bad[k]);
        ei_x_encode_empty_list(&arg);
        ei_x_new(&u8);
        idx = 0;
        ck_assert_int_eq(cn_utf8_arg(arg.buff, &idx, &u8), -1);
        ck_assert_int_eq(idx, 0);
        ei_x_free(&u8);
        ei_x_free(&arg);
    }
    ei_x_new(&arg);
    ei_x_encode_list_header(&arg, 1);
    ei_x_encode_long(&arg, 'a');
    ei_x_encode_long(&arg, 'b'); /* [$a | $b] */
    ei_x_new(&u8);
    idx = 0;
    ck_assert_int_eq(cn_utf8_arg(arg.buff, &idx, &u8), -1);
    ei_x_free(&u8);
    ei_x_free(&arg);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("appbifs");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, erl_names);
    tcase_add_test(tc, setuptime_in_seconds);
    tcase_add_test(tc, own_names_and_refusals);
    tcase_add_test(tc, noted_in_order_without_cookie);
    tcase_add_test(tc, os_text);
    tcase_add_test(tc, charlists);
    tcase_add_test(tc, utf8_edges);
    tcase_add_test(tc, names_lines);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

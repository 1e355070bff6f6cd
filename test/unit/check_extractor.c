/* check_extractor: unit tests for the extractor's scanner (workers/extract_scan): each kind,
 * precedence and overlaps, word boundaries, UTF-8 around entities, and hostile input (empty,
 * megabytes of digits, '@', capitalised words, invalid UTF-8, NUL bytes) in linear time. */
#include "workers/extract_scan.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"

static const char *const kind_names[EX_NKINDS] = {"url", "email", "money", "date", "phone", "name"};

typedef struct out {
    char text[4096];
    size_t used;
    long count[EX_NKINDS];
    long total;
    size_t last_end; /* matches come in order and never overlap */
    long bad;        /* matches that did not */
    const unsigned char *doc;
} out;

/* No ck_assert here: Check records every assertion it passes (a write in fork mode), and
 * hostile documents give hundreds of thousands of matches. run_n asserts on `bad` instead. */
static int collect(void *ctx, int kind, size_t start, size_t len)
{
    out *o = ctx;
    int k = kind < 0 || kind >= EX_NKINDS ? 0 : kind;
    if (k != kind || len == 0 || start < o->last_end)
        o->bad++;
    o->last_end = start + len;
    o->count[k]++;
    o->total++;
    if (o->used + len + 16 < sizeof o->text) {
        o->used += (size_t)snprintf(o->text + o->used, sizeof o->text - o->used,
                                    "%s%s=", o->used ? "|" : "", kind_names[k]);
        memcpy(o->text + o->used, o->doc + start, len);
        o->used += len;
        o->text[o->used] = 0;
    }
    return 0;
}

static out run_n(const void *doc, size_t len)
{
    out o = {.doc = doc};
    ck_assert_int_eq(ex_scan(doc, len, collect, &o), 0);
    ck_assert_int_eq(o.bad, 0);
    ck_assert_uint_le(o.last_end, len);
    return o;
}

/* The entities of a C string, as "kind=text|kind=text". */
static const char *scan(const char *doc)
{
    static out o;
    o = run_n(doc, strlen(doc));
    return o.text;
}

START_TEST(urls)
{
    ck_assert_str_eq(scan("see https://example.com/a?b=1&c=2."),
                     "url=https://example.com/a?b=1&c=2");
    ck_assert_str_eq(scan("(http://x.org/path)"), "url=http://x.org/path");
    ck_assert_str_eq(scan("\"http://x.org/\"!?"), "url=http://x.org/");
    ck_assert_str_eq(scan("<http://a.b/c>"), "url=http://a.b/c");
    ck_assert_str_eq(scan("http://"), "");
    ck_assert_str_eq(scan("http://..."), "");
    ck_assert_str_eq(scan("ftp://x.org HTTP://x.org"), "");
    ck_assert_str_eq(scan("xhttp://a.b"), ""); /* not at a word start */
    ck_assert_str_eq(scan("a http://a.b\tb"), "url=http://a.b");
}
END_TEST

START_TEST(emails)
{
    ck_assert_str_eq(scan("mail jo.smith+tag@mail.example.co.uk, now"),
                     "email=jo.smith+tag@mail.example.co.uk");
    ck_assert_str_eq(scan("end a@b.io."), "email=a@b.io");
    ck_assert_str_eq(scan("a@b.c"), "");       /* tld of one letter */
    ck_assert_str_eq(scan("a@b.c0m"), "");     /* tld with a digit */
    ck_assert_str_eq(scan("a@localhost"), ""); /* one label */
    ck_assert_str_eq(scan("a@b..com"), "");
    ck_assert_str_eq(scan("a@b.com_x"), ""); /* ends inside a word */
    ck_assert_str_eq(scan("@b.com"), "");
    ck_assert_str_eq(scan("..a@b.com"), "email=a@b.com");
    ck_assert_str_eq(scan("x!y@b.com"), "email=y@b.com"); /* '!' ends the word x */
    ck_assert_str_eq(scan("a@b.com-"), "email=a@b.com");
    char local[80];
    memset(local, 'a', 64);
    strcpy(local + 64, "@b.com");
    ck_assert_uint_eq(run_n(local, strlen(local)).count[EX_EMAIL], 1);
    memset(local, 'a', 65);
    strcpy(local + 65, "@b.com");
    ck_assert_uint_eq(run_n(local, strlen(local)).count[EX_EMAIL], 0); /* local part > 64 */
    /* a domain of 253 bytes, then 254 */
    char dom[300] = "a@";
    memset(dom + 2, 'b', 249);
    strcpy(dom + 251, ".com");
    ck_assert_uint_eq(run_n(dom, strlen(dom)).count[EX_EMAIL], 1);
    memset(dom + 2, 'b', 250);
    strcpy(dom + 252, ".com");
    ck_assert_uint_eq(run_n(dom, strlen(dom)).count[EX_EMAIL], 0);
}
END_TEST

START_TEST(money)
{
    ck_assert_str_eq(scan("pay $1,234.56 now"), "money=$1,234.56");
    ck_assert_str_eq(scan("\xE2\x82\xAC"
                          "5 and \xC2\xA3"
                          "12.5"),
                     "money=\xE2\x82\xAC"
                     "5|money=\xC2\xA3"
                     "12.5");
    ck_assert_str_eq(scan("1234.50 USD, 7 EUR and 9 GBP"),
                     "money=1234.50 USD|money=7 EUR|money=9 GBP");
    ck_assert_str_eq(scan("5 USDX"), "");
    ck_assert_str_eq(scan("5  USD"), "");
    ck_assert_str_eq(scan("$5m"), "");
    ck_assert_str_eq(scan("US$5"), "");
    ck_assert_str_eq(scan("$1,2345"), "money=$1"); /* not a group: four digits */
    ck_assert_str_eq(scan("$1,234,5"), "money=$1,234");
    ck_assert_str_eq(scan("$5."), "money=$5");
    ck_assert_str_eq(scan("$ 5"), "");
    /* 32 bytes of amount, then 33 */
    ck_assert_str_eq(scan("$12345678901234567890123456789012"),
                     "money=$12345678901234567890123456789012");
    ck_assert_str_eq(scan("$123456789012345678901234567890123"), "");
}
END_TEST

START_TEST(dates)
{
    ck_assert_str_eq(scan("on 2024-03-12."), "date=2024-03-12");
    ck_assert_str_eq(scan("12/3/2024 1.12.2024 31-12-1999"),
                     "date=12/3/2024|date=1.12.2024|date=31-12-1999");
    ck_assert_str_eq(scan("12 March 2024; March 12, 2024"),
                     "date=12 March 2024|date=March 12, 2024");
    ck_assert_str_eq(scan("On March 12, 2024"), "date=March 12, 2024");
    ck_assert_str_eq(scan("2024-3-12"), ""); /* and not a phone: 7 digits */
    ck_assert_str_eq(scan("32/1/2024"), "");
    ck_assert_str_eq(scan("12/3-2024"), "");
    ck_assert_str_eq(scan("12 Marc 2024"), "");
    ck_assert_str_eq(scan("12 march 2024"), "");
    ck_assert_str_eq(scan("March 12 2024"), "");
    ck_assert_str_eq(scan("2024-03-12x"), "");
    ck_assert_str_eq(scan("0/0/2024"), "");
    /* an impossible ISO date is still eight digits: a phone */
    ck_assert_str_eq(scan("2024-13-45"), "phone=2024-13-45");
}
END_TEST

START_TEST(phones)
{
    ck_assert_str_eq(scan("call +44 20 7946 0958."), "phone=+44 20 7946 0958");
    ck_assert_str_eq(scan("(555) 123-4567, or 555.123.4567"),
                     "phone=(555) 123-4567|phone=555.123.4567");
    ck_assert_str_eq(scan("1234567"), ""); /* 7 digits */
    ck_assert_str_eq(scan("12345678"), "phone=12345678");
    ck_assert_str_eq(scan("123456789012345"), "phone=123456789012345");
    ck_assert_str_eq(scan("1234567890123456"), ""); /* 16 digits */
    ck_assert_str_eq(scan("1234 - - 5678"), "");    /* three separators in a row end the run */
    ck_assert_str_eq(scan("12345678abc"), "");
    ck_assert_str_eq(scan("+ 12345678"), "phone=12345678");
    ck_assert_str_eq(scan("x+12345678"), "phone=12345678"); /* the '+' is in x's word */
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(scan("met Ada Lovelace and Charles Babbage"),
                     "name=Ada Lovelace|name=Charles Babbage");
    ck_assert_str_eq(scan("Ann Lee's dog"), "name=Ann Lee");
    ck_assert_str_eq(scan("Alan Mathison Turing."), "name=Alan Mathison Turing");
    ck_assert_str_eq(scan("Alan"), "");
    ck_assert_str_eq(scan("Alan  Turing"), ""); /* two spaces */
    ck_assert_str_eq(scan("NASA Ames"), "");
    ck_assert_str_eq(scan("McDonald Farm"), "");
    ck_assert_str_eq(scan("A Team"), "");
    ck_assert_str_eq(scan("Dr. John Smith"), "name=John Smith");
    ck_assert_str_eq(scan("May Smith"), ""); /* a month is no name word */
    ck_assert_str_eq(scan("Alan Turing\nGrace Hopper"), "name=Alan Turing|name=Grace Hopper");
}
END_TEST

START_TEST(precedence_and_overlaps)
{
    /* url before email: the address is part of the url */
    ck_assert_str_eq(scan("http://a.b/x@y.com"), "url=http://a.b/x@y.com");
    /* email before name */
    ck_assert_str_eq(scan("John.Smith@Example.com"), "email=John.Smith@Example.com");
    /* money before phone */
    ck_assert_str_eq(scan("12345678.90 USD"), "money=12345678.90 USD");
    /* date before phone */
    ck_assert_str_eq(scan("2024-03-12 12.03.2024"), "date=2024-03-12|date=12.03.2024");
    /* the scan goes on after a match: no entity inside another */
    ck_assert_str_eq(scan("Grace Hopper Grace Hopper"), "name=Grace Hopper Grace Hopper");
    ck_assert_str_eq(scan("mail a@b.com, call 555 123 4567, pay $10 on 1/2/2024 to Ann Lee"),
                     "email=a@b.com|phone=555 123 4567|money=$10|date=1/2/2024|name=Ann Lee");
    /* every occurrence */
    out o = run_n("a@b.co a@b.co a@b.co", 20);
    ck_assert_int_eq(o.count[EX_EMAIL], 3);
}
END_TEST

START_TEST(utf8_around)
{
    ck_assert_str_eq(scan("caf\xC3\xA9 a@b.com \xE2\x80\x94 Ann Lee \xF0\x9F\x98\x80"),
                     "email=a@b.com|name=Ann Lee");
    /* a non-ASCII byte is a word byte: no match starts right after one */
    ck_assert_str_eq(scan("\xC3\xA9"
                          "a@b.com \xC3\xA9"
                          "12345678"),
                     "");
    ck_assert_str_eq(scan("Zo\xC3\xAB Smith Ann Lee"), "name=Smith Ann Lee");
    ck_assert_str_eq(scan("\xC2\xA3"
                          "5\xE2\x82\xAC"
                          "6"),
                     ""); /* £5 ends inside a word */
}
END_TEST

/* Time one scan of doc (seconds, CPU). */
static double timed(const unsigned char *doc, size_t len, out *o)
{
    clock_t t0 = clock();
    *o = run_n(doc, len);
    return (double)(clock() - t0) / CLOCKS_PER_SEC;
}

/* A document of len bytes repeating pattern. */
static unsigned char *repeat(const char *pattern, size_t len)
{
    unsigned char *d = malloc(len);
    size_t p = strlen(pattern);
    for (size_t i = 0; i < len; i++)
        d[i] = (unsigned char)pattern[i % p];
    return d;
}

/* Hostile input finishes, and 4 MiB takes well under 8 times what 512 KiB takes (a quadratic
 * scan would take 64 times as long). Returns the 4 MiB scan's output. */
static out linear(const char *pattern)
{
    size_t small = 512 << 10, big = 4 << 20;
    unsigned char *a = repeat(pattern, small), *b = repeat(pattern, big);
    out oa, ob;
    double ta = timed(a, small, &oa), tb = timed(b, big, &ob);
    free(a);
    free(b);
    /* generous for a loaded machine and sanitizers; a floor for too-fast-to-measure runs */
    ck_assert_msg(tb < 24 * ta + 0.05, "pattern \"%s\": %.3f s for 512 KiB, %.3f s for 4 MiB",
                  pattern, ta, tb);
    return ob;
}

START_TEST(hostile)
{
    out o = run_n("", 0);
    ck_assert_int_eq(o.total, 0);
    o = run_n(NULL, 0);
    ck_assert_int_eq(o.total, 0);
    ck_assert_int_eq(linear("1").total, 0); /* one 4 MiB number: no phone (over 15 digits) */
    ck_assert_int_eq(linear("@").total, 0);
    /* a number starts at every other byte: only the last 15 digits are a phone */
    ck_assert_int_eq(linear("1.").count[EX_PHONE], 1);
    ck_assert_int_eq(linear("1 ").total, 1);
    ck_assert_int_eq(linear("a.").total, 0); /* an e-mail local part start at every other byte */
    ck_assert_int_eq(linear("a@").total, 0);
    ck_assert_int_eq(linear(",123").total, 0);
    ck_assert_int_eq(linear("$").total, 0);
    ck_assert_int_eq(linear("http://").total, 1); /* one url, the whole document */
    ck_assert_int_eq(linear("Abc ").total, 1);    /* one name, the whole document */
    ck_assert_int_eq(linear("Abc May ").total, 0);
    ck_assert_int_eq(linear("A").total, 0);
    out m = linear("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ");
    ck_assert_int_eq(m.total, 1);
    ck_assert_int_eq(linear("12345678 ").total, 1); /* past 15 digits but at the end */
    ck_assert_int_eq(linear("12345678 x ").count[EX_PHONE], (4 << 20) / 11);
    ck_assert_int_eq(linear("$5 ").count[EX_MONEY], (4 << 20) / 3 + ((4 << 20) % 3 == 2));
    ck_assert_int_eq(linear("\xC3\xA9").total, 0);
    ck_assert_int_eq(linear("\xFF\xFE\x80").total, 0); /* invalid UTF-8 */

    /* NUL bytes are bytes: they end a url and separate words */
    static const char nul[] = "a@b.com\0http://x.y\0z\0Ann Lee\0"
                              "12345678";
    o = run_n(nul, sizeof nul - 1);
    ck_assert_int_eq(o.total, 4);
    ck_assert_int_eq(o.count[EX_EMAIL], 1);
    ck_assert_int_eq(o.count[EX_URL], 1);
    ck_assert_int_eq(o.count[EX_NAME], 1);
    ck_assert_int_eq(o.count[EX_PHONE], 1);

    /* random bytes: no crash, matches in order (checked by collect) */
    srand(7);
    unsigned char *r = malloc(1 << 20);
    for (int i = 0; i < 1 << 20; i++)
        r[i] = (unsigned char)(rand() % 4 ? "aZ1 .@$+(-/:,"[rand() % 13] : rand());
    run_n(r, 1 << 20);
    free(r);
}
END_TEST

static int stop_at_two(void *ctx, int kind, size_t start, size_t len)
{
    (void)kind;
    (void)start;
    (void)len;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

START_TEST(callback_stops)
{
    int n = 0;
    const char *d = "a@b.co a@b.co a@b.co";
    ck_assert_int_eq(ex_scan((const unsigned char *)d, strlen(d), stop_at_two, &n), 42);
    ck_assert_int_eq(n, 2);
}
END_TEST

static Suite *s(void)
{
    Suite *su = suite_create("extractor");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, urls);
    tcase_add_test(tc, emails);
    tcase_add_test(tc, money);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, phones);
    tcase_add_test(tc, names);
    tcase_add_test(tc, precedence_and_overlaps);
    tcase_add_test(tc, utf8_around);
    tcase_add_test(tc, hostile);
    tcase_add_test(tc, callback_stops);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return cn_check_run(s());
}

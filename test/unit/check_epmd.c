/* check_epmd: unit tests for epmd_client: the pure message layer, the socket layer against an
 * in-process fake epmd, and a private real epmd started on a free port. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "epmd_client/epmd.h"
#include "util/log.h"

#include "check_main.h"

/* ---------- helpers ---------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port that was free a moment ago (bind port 0, note it, close). */
static uint16_t free_port(void)
{
    uint16_t port;
    close(listen_any(&port));
    return port;
}

/* Build a PORT2_RESP ok reply; returns its length. */
static size_t port2_ok(uint8_t *b, uint16_t port, const char *name, const char *extra)
{
    size_t nl = strlen(name), el = strlen(extra), i = 0;
    uint8_t head[] = {119, 0, (uint8_t)(port >> 8), (uint8_t)port, 77, 0, 0, 6,
                      0,   5, (uint8_t)(nl >> 8),   (uint8_t)nl};
    memcpy(b, head, sizeof head);
    i = sizeof head;
    memcpy(b + i, name, nl);
    i += nl;
    b[i++] = (uint8_t)(el >> 8);
    b[i++] = (uint8_t)el;
    memcpy(b + i, extra, el);
    return i + el;
}

/* ---------- pure layer ---------- */

START_TEST(alive2_request_bytes)
{
    uint8_t b[300];
    static const uint8_t want[] = {0, 18, 120, 0x1f, 0x90, 77,  0,   0,   6, 0,
                                   5, 0,  5,   'c',  'n',  'o', 'd', 'e', 0, 0};
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof b, 8080, "cnode"), (int)sizeof want);
    ck_assert_mem_eq(b, want, sizeof want);
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof want, 8080, "cnode"), (int)sizeof want);
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof want - 1, 8080, "cnode"), -1);

    char name[257];
    memset(name, 'a', 256);
    name[256] = '\0';
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof b, 1, name), -1);
    name[255] = '\0';
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof b, 1, name), 15 + 255);
    ck_assert_int_eq(b[0] * 256 + b[1], 13 + 255);
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof b, 1, ""), -1);
    ck_assert_int_eq(cn_epmd_build_alive2(b, sizeof b, 1, NULL), -1);
}
END_TEST

START_TEST(alive2_responses)
{
    int result = -1;
    uint32_t cr = 0;
    static const uint8_t x[] = {118, 0, 0x12, 0x34, 0x56, 0x78, 0xAA};
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(cn_epmd_parse_alive2_resp(x, i, &result, &cr), 0);
    ck_assert_int_eq(cn_epmd_parse_alive2_resp(x, sizeof x, &result, &cr), 6);
    ck_assert_int_eq(result, 0);
    ck_assert_uint_eq(cr, 0x12345678);

    static const uint8_t old[] = {121, 0, 0, 3};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(cn_epmd_parse_alive2_resp(old, i, &result, &cr), 0);
    ck_assert_int_eq(cn_epmd_parse_alive2_resp(old, 4, &result, &cr), 4);
    ck_assert_int_eq(result, 0);
    ck_assert_uint_eq(cr, 3);

    static const uint8_t taken[] = {118, 1, 0, 0, 0, 99}; /* as observed from a real epmd */
    ck_assert_int_eq(cn_epmd_parse_alive2_resp(taken, 6, &result, &cr), 6);
    ck_assert_int_eq(result, 1);

    static const uint8_t bad[] = {119, 0, 0, 0, 0, 0};
    ck_assert_int_eq(cn_epmd_parse_alive2_resp(bad, 1, &result, &cr), -1);
    ck_assert_int_eq(cn_epmd_parse_alive2_resp(bad, 6, &result, &cr), -1);
}
END_TEST

START_TEST(port_please_and_names_requests)
{
    uint8_t b[300];
    static const uint8_t want[] = {0, 4, 122, 'f', 'o', 'o'};
    ck_assert_int_eq(cn_epmd_build_port_please(b, sizeof b, "foo"), 6);
    ck_assert_mem_eq(b, want, 6);
    ck_assert_int_eq(cn_epmd_build_port_please(b, 5, "foo"), -1);
    ck_assert_int_eq(cn_epmd_build_port_please(b, sizeof b, ""), -1);

    static const uint8_t names[] = {0, 1, 110};
    ck_assert_int_eq(cn_epmd_build_names(b, sizeof b), 3);
    ck_assert_mem_eq(b, names, 3);
    ck_assert_int_eq(cn_epmd_build_names(b, 2), -1);
}
END_TEST

START_TEST(port2_ok_and_truncated)
{
    uint8_t b[512];
    size_t n = port2_ok(b, 0xBEEF, "other", "xyz");
    cn_epmd_port_info info;
    memset(&info, 0xEE, sizeof info);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(cn_epmd_parse_port2_resp(b, i, &info), 0);
        ck_assert_uint_eq(info.port, 0xEEEE); /* untouched until complete */
    }
    b[n] = 0x55; /* trailing byte is not consumed */
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n + 1, &info), (int)n);
    ck_assert_uint_eq(info.port, 0xBEEF);
    ck_assert_uint_eq(info.node_type, 77);
    ck_assert_uint_eq(info.protocol, 0);
    ck_assert_uint_eq(info.highest, 6);
    ck_assert_uint_eq(info.lowest, 5);
    ck_assert_str_eq(info.name, "other");

    n = port2_ok(b, 1, "n", ""); /* no extra */
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), (int)n);
    ck_assert_str_eq(info.name, "n");
}
END_TEST

START_TEST(port2_errors)
{
    cn_epmd_port_info info;
    static const uint8_t notreg[] = {119, 1};
    ck_assert_int_eq(cn_epmd_parse_port2_resp(notreg, 1, &info), 0);
    ck_assert_int_eq(cn_epmd_parse_port2_resp(notreg, 2, &info), -2);
    static const uint8_t wrong[] = {118, 0};
    ck_assert_int_eq(cn_epmd_parse_port2_resp(wrong, 2, &info), -1);

    uint8_t b[2048];
    /* A name length that overruns the data is "need more" while plausible ... */
    size_t n = port2_ok(b, 1, "abc", "");
    b[10] = 0;
    b[11] = 200;
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), 0);
    /* ... and malformed as soon as it exceeds 255, even before the bytes arrive. */
    b[10] = 1;
    b[11] = 0;
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, 12, &info), -1);
    b[10] = 0;
    b[11] = 0; /* empty name */
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), -1);

    char big[257];
    memset(big, 'a', 256);
    big[256] = '\0';
    n = port2_ok(b, 1, big, "");
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), -1);
    big[255] = '\0';
    n = port2_ok(b, 1, big, "");
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), (int)n);
    ck_assert_uint_eq(strlen(info.name), 255);

    n = port2_ok(b, 1, "abc", "");
    b[13] = 0; /* embedded NUL in the name */
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), -1);

    n = port2_ok(b, 1, "abc", "");
    b[15] = 0xFF; /* Extra length 65535: beyond any real epmd reply */
    b[16] = 0xFF;
    ck_assert_int_eq(cn_epmd_parse_port2_resp(b, n, &info), -1);
}
END_TEST

START_TEST(default_port)
{
    cn_log_level = CN_LOG_ERROR; /* the invalid values below are warned about; keep output clean */
    unsetenv("ERL_EPMD_PORT");
    ck_assert_uint_eq(cn_epmd_default_port(0), 4369);
    ck_assert_uint_eq(cn_epmd_default_port(1234), 1234);
    setenv("ERL_EPMD_PORT", "4400", 1);
    ck_assert_uint_eq(cn_epmd_default_port(0), 4400);
    ck_assert_uint_eq(cn_epmd_default_port(5), 5);
    static const char *const bad[] = {"0", "65536", "-1", "+12", " 12", "12x", "", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("ERL_EPMD_PORT", bad[i], 1);
        ck_assert_uint_eq(cn_epmd_default_port(0), 4369);
    }
    setenv("ERL_EPMD_PORT", "65535", 1);
    ck_assert_uint_eq(cn_epmd_default_port(0), 65535);
    unsetenv("ERL_EPMD_PORT");
}
END_TEST

/* ---------- in-process fake epmd ---------- */

enum fake_mode { FAKE_REPLY, FAKE_CLOSE, FAKE_SILENT };

typedef struct {
    int lfd;
    uint16_t port;
    enum fake_mode mode;
    const uint8_t *resp;
    size_t resp_len;
    int close_after;  /* close right after replying (port_please, names) */
    uint8_t req[512]; /* the request as received */
    size_t req_len;
    int saw_eof; /* the client closed its end */
    int write_failed;
    pthread_t th;
} fake_epmd;

/* Read exactly n bytes within 5 s; 0 or -1. */
static int read_n(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) <= 0)
            return -1;
        ssize_t k = read(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void *fake_main(void *arg)
{
    fake_epmd *f = arg;
    struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) <= 0)
        return NULL;
    int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return NULL;
    if (f->mode == FAKE_CLOSE) {
        close(c);
        return NULL;
    }
    if (read_n(c, f->req, 2) == 0) {
        size_t len = (size_t)(f->req[0] << 8 | f->req[1]);
        if (len <= sizeof f->req - 2 && read_n(c, f->req + 2, len) == 0)
            f->req_len = 2 + len;
    }
    if (f->mode == FAKE_REPLY) {
        /* Two writes with a pause, so the client has to reassemble the reply. */
        size_t half = f->resp_len / 2;
        if (write(c, f->resp, half) != (ssize_t)half)
            f->write_failed = 1;
        sleep_ms(30);
        if (write(c, f->resp + half, f->resp_len - half) != (ssize_t)(f->resp_len - half))
            f->write_failed = 1;
    }
    if (!f->close_after || f->mode == FAKE_SILENT) {
        uint8_t b[64];
        pfd.fd = c;
        while (poll(&pfd, 1, 5000) > 0) {
            ssize_t k = read(c, b, sizeof b);
            if (k <= 0) {
                f->saw_eof = k == 0;
                break;
            }
        }
    }
    close(c);
    return NULL;
}

static void fake_start(fake_epmd *f, enum fake_mode mode, const uint8_t *resp, size_t len,
                       int close_after)
{
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->resp = resp;
    f->resp_len = len;
    f->close_after = close_after;
    f->lfd = listen_any(&f->port);
    ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(fake_epmd *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
    ck_assert_int_eq(f->write_failed, 0);
}

START_TEST(fake_register_ok)
{
    static const uint8_t resp[] = {118, 0, 0x12, 0x34, 0x56, 0x78};
    fake_epmd f;
    fake_start(&f, FAKE_REPLY, resp, sizeof resp, 0);
    char err[256] = "";
    uint32_t cr = 0;
    int fd = cn_epmd_register(NULL, f.port, "cnode", 8080, &cr, 2000, err, sizeof err);
    ck_assert_msg(fd >= 0, "register failed: %d %s", fd, err);
    ck_assert_uint_eq(cr, 0x12345678);
    uint8_t want[64];
    int wl = cn_epmd_build_alive2(want, sizeof want, 8080, "cnode");
    ck_assert_uint_eq(f.req_len, (size_t)wl);
    ck_assert_mem_eq(f.req, want, (size_t)wl);
    /* The registration connection stays open: nothing to read, no hangup. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 100), 0);
    close(fd);
    fake_stop(&f);
    ck_assert_int_eq(f.saw_eof, 1);
}
END_TEST

START_TEST(fake_register_old_resp_and_localhost)
{
    static const uint8_t resp[] = {121, 0, 0, 3};
    fake_epmd f;
    fake_start(&f, FAKE_REPLY, resp, sizeof resp, 0);
    char err[256] = "";
    uint32_t cr = 0;
    int fd = cn_epmd_register("localhost", f.port, "x", 1, &cr, 2000, err, sizeof err);
    ck_assert_msg(fd >= 0, "register failed: %d %s", fd, err);
    ck_assert_uint_eq(cr, 3);
    close(fd);
    fake_stop(&f);
}
END_TEST

START_TEST(fake_register_taken_and_bad)
{
    static const uint8_t taken[] = {118, 1, 0, 0, 0, 99};
    fake_epmd f;
    fake_start(&f, FAKE_REPLY, taken, sizeof taken, 0);
    char err[256] = "";
    uint32_t cr = 7;
    int r = cn_epmd_register(NULL, f.port, "cnode", 1, &cr, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR_TAKEN);
    ck_assert_ptr_nonnull(strstr(err, "already registered"));
    ck_assert_uint_eq(cr, 7);
    fake_stop(&f);
    ck_assert_int_eq(f.saw_eof, 1); /* we closed our end */

    static const uint8_t junk[] = {'H', 'T', 'T', 'P', '/', '1'};
    fake_start(&f, FAKE_REPLY, junk, sizeof junk, 1);
    r = cn_epmd_register(NULL, f.port, "cnode", 1, &cr, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR);
    ck_assert_ptr_nonnull(strstr(err, "unknown reply"));
    fake_stop(&f);
}
END_TEST

START_TEST(fake_closes_immediately)
{
    fake_epmd f;
    char err[256] = "";
    uint32_t cr;
    fake_start(&f, FAKE_CLOSE, NULL, 0, 1);
    int r = cn_epmd_register(NULL, f.port, "cnode", 1, &cr, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR);
    ck_assert_str_ne(err, "");
    fake_stop(&f);

    cn_epmd_port_info info;
    err[0] = '\0';
    fake_start(&f, FAKE_CLOSE, NULL, 0, 1);
    r = cn_epmd_port_please(NULL, f.port, "cnode", &info, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR);
    ck_assert_str_ne(err, "");
    fake_stop(&f);

    char names[64];
    fake_start(&f, FAKE_CLOSE, NULL, 0, 1);
    r = cn_epmd_names(NULL, f.port, names, sizeof names, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR);
    fake_stop(&f);
}
END_TEST

START_TEST(fake_never_answers)
{
    fake_epmd f;
    char err[256] = "";
    uint32_t cr;
    fake_start(&f, FAKE_SILENT, NULL, 0, 0);
    int64_t t0 = now_ms();
    int r = cn_epmd_register(NULL, f.port, "cnode", 1, &cr, 300, err, sizeof err);
    int64_t dt = now_ms() - t0;
    ck_assert_int_eq(r, CN_EPMD_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(err, "timed out"));
    ck_assert_int_ge(dt, 290);
    ck_assert_int_lt(dt, 2000);
    fake_stop(&f);
    ck_assert_int_eq(f.saw_eof, 1);

    cn_epmd_port_info info;
    fake_start(&f, FAKE_SILENT, NULL, 0, 0);
    r = cn_epmd_port_please(NULL, f.port, "cnode", &info, 200, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR_TIMEOUT);
    fake_stop(&f);
}
END_TEST

START_TEST(fake_port_please)
{
    uint8_t resp[512];
    size_t n = port2_ok(resp, 0x1234, "other", "extra!");
    fake_epmd f;
    fake_start(&f, FAKE_REPLY, resp, n, 1);
    char err[256] = "";
    cn_epmd_port_info info;
    int r = cn_epmd_port_please("127.0.0.1", f.port, "other", &info, 2000, err, sizeof err);
    ck_assert_msg(r == 0, "port_please failed: %d %s", r, err);
    ck_assert_uint_eq(info.port, 0x1234);
    ck_assert_str_eq(info.name, "other");
    ck_assert_uint_eq(info.highest, 6);
    static const uint8_t want[] = {0, 6, 122, 'o', 't', 'h', 'e', 'r'};
    ck_assert_uint_eq(f.req_len, sizeof want);
    ck_assert_mem_eq(f.req, want, sizeof want);
    fake_stop(&f);

    static const uint8_t notreg[] = {119, 1};
    fake_start(&f, FAKE_REPLY, notreg, sizeof notreg, 1);
    r = cn_epmd_port_please(NULL, f.port, "ghost", &info, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR_NONAME);
    ck_assert_ptr_nonnull(strstr(err, "ghost"));
    fake_stop(&f);

    /* A reply cut short by epmd closing is an error, not a hang. */
    fake_start(&f, FAKE_REPLY, resp, n - 1, 1);
    r = cn_epmd_port_please(NULL, f.port, "other", &info, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR);
    ck_assert_ptr_nonnull(strstr(err, "closed"));
    fake_stop(&f);
}
END_TEST

START_TEST(fake_names)
{
    static const char text[] = "name foo at port 1234\nname bar at port 5678\n";
    uint8_t resp[128] = {0, 0, 0x11, 0x11};
    memcpy(resp + 4, text, sizeof text - 1);
    size_t n = 4 + sizeof text - 1;
    fake_epmd f;
    char out[128], err[256] = "";
    fake_start(&f, FAKE_REPLY, resp, n, 1);
    int r = cn_epmd_names(NULL, f.port, out, sizeof out, 2000, err, sizeof err);
    ck_assert_msg(r == (int)strlen(text), "names: %d %s", r, err);
    ck_assert_str_eq(out, text);
    static const uint8_t want[] = {0, 1, 110};
    ck_assert_mem_eq(f.req, want, 3);
    fake_stop(&f);

    fake_start(&f, FAKE_REPLY, resp, n, 1);
    r = cn_epmd_names(NULL, f.port, out, 10, 2000, err, sizeof err);
    ck_assert_int_eq(r, 9);
    ck_assert_str_eq(out, "name foo ");
    fake_stop(&f);

    fake_start(&f, FAKE_REPLY, resp, 3, 1); /* closes inside the 4-byte port */
    r = cn_epmd_names(NULL, f.port, out, sizeof out, 2000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR);
    fake_stop(&f);
}
END_TEST

START_TEST(no_epmd_and_bad_args)
{
    uint16_t port = free_port();
    char err[256] = "", out[16];
    uint32_t cr;
    cn_epmd_port_info info;
    ck_assert_int_eq(cn_epmd_register(NULL, port, "a", 1, &cr, 1000, err, sizeof err),
                     CN_EPMD_ERR_NOEPMD);
    ck_assert_ptr_nonnull(strstr(err, "no epmd"));
    ck_assert_int_eq(cn_epmd_port_please(NULL, port, "a", &info, 1000, err, sizeof err),
                     CN_EPMD_ERR_NOEPMD);
    ck_assert_int_eq(cn_epmd_names(NULL, port, out, sizeof out, 1000, err, sizeof err),
                     CN_EPMD_ERR_NOEPMD);
    /* Invalid names fail before any connection; a NULL err buffer is allowed. */
    ck_assert_int_eq(cn_epmd_register(NULL, port, "", 1, &cr, 1000, err, sizeof err), CN_EPMD_ERR);
    ck_assert_ptr_nonnull(strstr(err, "invalid"));
    ck_assert_int_eq(cn_epmd_port_please(NULL, port, NULL, &info, 1000, NULL, 0), CN_EPMD_ERR);
    ck_assert_int_eq(cn_epmd_names(NULL, port, out, 0, 1000, NULL, 0), CN_EPMD_ERR);
}
END_TEST

/* ---------- real epmd ---------- */

/* Chosen and started in the parent (unchecked fixture) so teardown can stop it even if the
 * forked test dies half-way. */
static uint16_t real_port;
static int real_ok;
static char real_err[256];

/* KILL_REQ; epmd replies "OK" and exits, or "NO" while names are still registered. */
static int epmd_kill(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static const uint8_t req[] = {0, 1, 'k'};
    uint8_t resp[2] = {0};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
             write(fd, req, sizeof req) == (ssize_t)sizeof req && read_n(fd, resp, 2) == 0 &&
             resp[0] == 'O' && resp[1] == 'K';
    if (fd >= 0)
        close(fd);
    return ok ? 0 : -1;
}

/* Pid of the live `epmd ... -port N` daemon, found by its command line, or -1. */
static pid_t find_daemon(uint16_t port)
{
    char want[16];
    int wl = snprintf(want, sizeof want, "-port%c%u", '\0', port) + 1;
    pid_t found = -1;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && found < 0 && (e = readdir(d))) {
        char path[300], cmd[256];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        cmd[n] = '\0'; /* strstr below sees argv[0] only */
        if (n > 5 && strstr(cmd, "epmd") && memmem(cmd, n, want, (size_t)wl))
            found = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return found;
}

/* The hex mask on the "<field>:" line of /proc/<pid>/status. */
static unsigned long long proc_mask(pid_t pid, const char *field)
{
    char path[64], line[256];
    unsigned long long v = ~0ULL;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)) && line[strlen(field)] == ':')
            v = strtoull(line + strlen(field) + 1, NULL, 16);
    if (f)
        fclose(f);
    return v;
}

static void real_setup(void)
{
    real_port = free_port();
    /* Start it the way cnoded would: SIGTERM blocked (signalfd) and SIGUSR1 ignored. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    void (*prev)(int) = signal(SIGUSR1, SIG_IGN);
    real_ok = cn_epmd_start_daemon(real_port, 5000, real_err, sizeof real_err) == 0;
    signal(SIGUSR1, prev);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void real_teardown(void)
{
    if (!real_ok)
        return;
    char out[64];
    int64_t end = now_ms() + 3000;
    /* Retry: the test's registration socket may close just after our first KILL_REQ. */
    while (epmd_kill(real_port) < 0 && now_ms() < end)
        sleep_ms(50);
    while (cn_epmd_names(NULL, real_port, out, sizeof out, 500, NULL, 0) != CN_EPMD_ERR_NOEPMD &&
           now_ms() < end)
        sleep_ms(20);
    pid_t pid = find_daemon(real_port);
    if (pid > 0) {
        fprintf(stderr, "check_epmd: epmd on port %u ignored KILL_REQ; killing %d\n", real_port,
                (int)pid);
        kill(pid, SIGKILL);
    }
}

START_TEST(real_epmd)
{
    ck_assert_msg(real_ok, "cn_epmd_start_daemon: %s", real_err);
    /* The daemon must not inherit our blocked/ignored signals. */
    pid_t pid = find_daemon(real_port);
    ck_assert_int_gt(pid, 0);
    ck_assert_uint_eq(proc_mask(pid, "SigBlk") & (1ULL << (SIGTERM - 1)), 0);
    ck_assert_uint_eq(proc_mask(pid, "SigIgn") & (1ULL << (SIGUSR1 - 1)), 0);
    char err[256] = "", names[4096], alive[32], line[96];
    snprintf(alive, sizeof alive, "cnt%ld", (long)getpid());
    uint32_t cr = 0;
    int fd = cn_epmd_register(NULL, real_port, alive, 45678, &cr, 3000, err, sizeof err);
    ck_assert_msg(fd >= 0, "register: %d %s", fd, err);
    ck_assert_uint_ne(cr, 0);

    cn_epmd_port_info info;
    int r = cn_epmd_port_please("localhost", real_port, alive, &info, 3000, err, sizeof err);
    ck_assert_msg(r == 0, "port_please: %d %s", r, err);
    ck_assert_uint_eq(info.port, 45678);
    ck_assert_uint_eq(info.node_type, 77);
    ck_assert_uint_eq(info.highest, 6);
    ck_assert_uint_eq(info.lowest, 5);
    ck_assert_str_eq(info.name, alive);

    snprintf(line, sizeof line, "name %s at port 45678\n", alive);
    r = cn_epmd_names(NULL, real_port, names, sizeof names, 3000, err, sizeof err);
    ck_assert_msg(r >= 0, "names: %d %s", r, err);
    ck_assert_msg(strstr(names, line), "names lacks %s: %s", alive, names);

    uint32_t cr2;
    r = cn_epmd_register(NULL, real_port, alive, 45679, &cr2, 3000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR_TAKEN);
    r = cn_epmd_port_please(NULL, real_port, "nosuchname", &info, 3000, err, sizeof err);
    ck_assert_int_eq(r, CN_EPMD_ERR_NONAME);
    /* Starting again while it runs is fine: the new epmd finds the port taken and leaves. */
    ck_assert_int_eq(cn_epmd_start_daemon(real_port, 5000, err, sizeof err), 0);

    close(fd);
    int64_t end = now_ms() + 2000;
    do {
        r = cn_epmd_names(NULL, real_port, names, sizeof names, 1000, err, sizeof err);
        ck_assert_int_ge(r, 0);
        if (!strstr(names, line))
            break;
        sleep_ms(20);
    } while (now_ms() < end);
    ck_assert_msg(!strstr(names, line), "%s still registered after close", alive);
}
END_TEST

static Suite *epmd_suite(void)
{
    Suite *s = suite_create("epmd");
    TCase *pure = tcase_create("messages");
    tcase_add_test(pure, alive2_request_bytes);
    tcase_add_test(pure, alive2_responses);
    tcase_add_test(pure, port_please_and_names_requests);
    tcase_add_test(pure, port2_ok_and_truncated);
    tcase_add_test(pure, port2_errors);
    tcase_add_test(pure, default_port);
    suite_add_tcase(s, pure);

    TCase *fake = tcase_create("fake_epmd");
    tcase_set_timeout(fake, 20);
    tcase_add_test(fake, fake_register_ok);
    tcase_add_test(fake, fake_register_old_resp_and_localhost);
    tcase_add_test(fake, fake_register_taken_and_bad);
    tcase_add_test(fake, fake_closes_immediately);
    tcase_add_test(fake, fake_never_answers);
    tcase_add_test(fake, fake_port_please);
    tcase_add_test(fake, fake_names);
    tcase_add_test(fake, no_epmd_and_bad_args);
    suite_add_tcase(s, fake);

    TCase *real = tcase_create("real_epmd");
    tcase_set_timeout(real, 30);
    tcase_add_unchecked_fixture(real, real_setup, real_teardown);
    tcase_add_test(real, real_epmd);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    return cn_check_run(epmd_suite());
}

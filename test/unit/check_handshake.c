/* check_handshake: unit tests for the digest and the socket-free handshake state machine,
 * driving an initiator and an acceptor (or hand-built peer messages) against each other. */
#include "dist/digest.h"
#include "dist/flags.h"
#include "dist/handshake.h"
#include "util/buf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

#define COOKIE "secret"
#define INAME "a@host"
#define ANAME "b@host"
#define ICRE 0x11223344u
#define ACRE 0x55667788u
#define MAXLOG 16

/* ---- helpers ---- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static size_t prefix_len(const uint8_t *p, int lenbytes)
{
    return lenbytes == 2 ? cn_get16(p) : cn_get32(p);
}

/* Take one length-prefixed message from b into dst; 1 if there was one. */
static int pop(cn_buf *b, int lenbytes, uint8_t *dst, size_t cap, size_t *len)
{
    if (b->len == 0)
        return 0;
    ck_assert_uint_ge(b->len, (size_t)lenbytes);
    size_t n = prefix_len(b->data, lenbytes);
    ck_assert_uint_ge(b->len, lenbytes + n);
    ck_assert_uint_le(n, cap);
    memcpy(dst, b->data + lenbytes, n);
    *len = n;
    cn_buf_consume(b, (size_t)lenbytes + n);
    return 1;
}

typedef size_t (*mut_fn)(uint8_t *m, size_t len, size_t cap, const void *arg);

/* An initiator and an acceptor wired to each other, with an optional change to one message. */
typedef struct {
    cn_hs i, a;
    cn_buf oi, oa; /* what i sends to a, what a sends to i */
    int ri, ra;    /* last result of each side */
    int lenbytes;
    int n;              /* messages delivered */
    int log_to[MAXLOG]; /* role that received message k */
    uint8_t log_tag[MAXLOG];
    size_t log_len[MAXLOG];
    /* the change: message number mut_idx, or (mut_idx < 0) the first one tagged mut_tag going
     * to role mut_to */
    mut_fn mut;
    const void *mut_arg;
    int mut_idx, mut_to;
    uint8_t mut_tag;
    int mut_done, mut_rc;
} pair_t;

static void pair_init(pair_t *p, int lenbytes, uint64_t iflags, uint64_t aflags)
{
    memset(p, 0, sizeof *p);
    p->lenbytes = lenbytes;
    p->mut_idx = -1;
    cn_buf_init(&p->oi, 0);
    cn_buf_init(&p->oa, 0);
    const char *iname = (iflags & DFLAG_NAME_ME) ? "host" : INAME;
    cn_hs_init(&p->i, CN_HS_INITIATOR, lenbytes, iname, ICRE, iflags, COOKIE);
    cn_hs_init(&p->a, CN_HS_ACCEPTOR, lenbytes, ANAME, ACRE, aflags, COOKIE);
    cn_hs_set_expect(&p->i, ANAME);
}

static void pair_start(pair_t *p)
{
    p->ri = cn_hs_start(&p->i, &p->oi);
    p->ra = cn_hs_start(&p->a, &p->oa);
    ck_assert_int_eq(p->ri, CN_HS_CONTINUE);
    ck_assert_int_eq(p->ra, CN_HS_CONTINUE);
}

static void pair_free(pair_t *p)
{
    cn_buf_free(&p->oi);
    cn_buf_free(&p->oa);
}

/* Deliver messages until neither side has anything for a side still running. */
static void pair_run(pair_t *p)
{
    uint8_t m[1024];
    size_t len;
    for (;;) {
        cn_hs *dst;
        cn_buf *src, *dout;
        int *rc;
        if (p->oi.len && p->ra == CN_HS_CONTINUE) {
            src = &p->oi, dst = &p->a, dout = &p->oa, rc = &p->ra;
        } else if (p->oa.len && p->ri == CN_HS_CONTINUE) {
            src = &p->oa, dst = &p->i, dout = &p->oi, rc = &p->ri;
        } else {
            break;
        }
        ck_assert(pop(src, p->lenbytes, m, 512, &len));
        int k = p->n++;
        ck_assert_int_lt(k, MAXLOG);
        p->log_to[k] = dst->role;
        p->log_tag[k] = len ? m[0] : 0;
        p->log_len[k] = len;
        int hit = 0;
        if (p->mut && !p->mut_done) {
            if (p->mut_idx >= 0)
                hit = p->mut_idx == k;
            else
                hit = len && m[0] == p->mut_tag && dst->role == p->mut_to;
        }
        if (hit)
            len = p->mut(m, len, sizeof m, p->mut_arg);
        *rc = cn_hs_input(dst, m, len, dout);
        if (hit) {
            p->mut_done = 1;
            p->mut_rc = *rc;
        }
    }
}

static size_t m_drop(uint8_t *m, size_t len, size_t cap, const void *arg)
{
    (void)m;
    (void)cap;
    size_t d = *(const size_t *)arg;
    return d >= len ? 0 : len - d;
}

static size_t m_append(uint8_t *m, size_t len, size_t cap, const void *arg)
{
    const char *s = arg;
    size_t n = strlen(s);
    ck_assert_uint_le(len + n, cap);
    memcpy(m + len, s, n);
    return len + n;
}

static size_t m_flip_last(uint8_t *m, size_t len, size_t cap, const void *arg)
{
    (void)cap;
    (void)arg;
    m[len - 1] ^= 0x01;
    return len;
}

/* Queue-less feeding of a hand-built message; out collects the replies. */
static int feed(cn_hs *hs, const void *msg, size_t len, cn_buf *out)
{
    return cn_hs_input(hs, msg, len, out);
}

/* An acceptor's challenge, parsed from its output (after the status). */
static uint32_t take_challenge(cn_buf *out, int lenbytes, char *status, size_t scap)
{
    uint8_t m[512];
    size_t len;
    ck_assert(pop(out, lenbytes, m, sizeof m, &len));
    ck_assert_int_eq(m[0], 's');
    ck_assert_uint_lt(len - 1, scap);
    memcpy(status, m + 1, len - 1);
    status[len - 1] = '\0';
    ck_assert(pop(out, lenbytes, m, sizeof m, &len));
    ck_assert_int_eq(m[0], 'N');
    ck_assert_uint_eq(len, 19 + strlen(ANAME));
    ck_assert_int_eq(cn_get16(m + 17), strlen(ANAME));
    ck_assert(memcmp(m + 19, ANAME, strlen(ANAME)) == 0);
    ck_assert_uint_eq(cn_get32(m + 13), ACRE);
    return cn_get32(m + 9);
}

static size_t build_name(uint8_t *m, uint64_t flags, uint32_t creation, const char *name)
{
    size_t n = strlen(name);
    m[0] = 'N';
    cn_set64(m + 1, flags);
    cn_set32(m + 9, creation);
    cn_set16(m + 13, (uint16_t)n);
    memcpy(m + 15, name, n);
    return 15 + n;
}

static size_t build_old_name(uint8_t *m, uint32_t flags, const char *name)
{
    size_t n = strlen(name);
    m[0] = 'n';
    cn_set16(m + 1, 5);
    cn_set32(m + 3, flags);
    memcpy(m + 7, name, n);
    return 7 + n;
}

static size_t build_reply(uint8_t *m, uint32_t mine, uint32_t theirs, const char *cookie)
{
    m[0] = 'r';
    cn_set32(m + 1, mine);
    cn_digest(m + 5, theirs, cookie);
    return 21;
}

/* An initiator that has sent its name, waiting for the status. */
static void initiator_waiting(cn_hs *hs, cn_buf *out, uint64_t flags)
{
    const char *name = (flags & DFLAG_NAME_ME) ? "host" : INAME;
    cn_hs_init(hs, CN_HS_INITIATOR, 2, name, ICRE, flags, COOKIE);
    cn_hs_set_expect(hs, ANAME);
    ck_assert_int_eq(cn_hs_start(hs, out), CN_HS_CONTINUE);
    cn_buf_reset(out);
}

static size_t build_challenge(uint8_t *m, uint64_t flags, uint32_t ch, const char *name)
{
    size_t n = strlen(name);
    m[0] = 'N';
    cn_set64(m + 1, flags);
    cn_set32(m + 9, ch);
    cn_set32(m + 13, ACRE);
    cn_set16(m + 17, (uint16_t)n);
    memcpy(m + 19, name, n);
    return 19 + n;
}

/* ---- decide ---- */

typedef struct {
    const char *ret;
    int calls;
    char name[256];
    uint64_t flags;
} decide_t;

static const char *decide(void *ctx, const char *peer_name, uint64_t peer_flags)
{
    decide_t *d = ctx;
    d->calls++;
    snprintf(d->name, sizeof d->name, "%s", peer_name);
    d->flags = peer_flags;
    return d->ret;
}

/* ---- digest ---- */

START_TEST(test_digest_vectors)
{
    /* expected values from `printf 'secret<N>' | openssl md5` */
    static const struct {
        uint32_t ch;
        const char *md5;
    } v[] = {
        {12345, "d4047d3e56e6d6d63f7d16b85cd2fa88"},
        {0, "175ec77a7f63082590987d0d8b051aff"},
        {4294967295u, "5dfd181e69aa587cc812eb333e6536b6"},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        uint8_t d[16];
        char h[33];
        cn_digest(d, v[k].ch, "secret");
        hex(d, 16, h);
        ck_assert_str_eq(h, v[k].md5);
    }
    /* an empty cookie digests the decimal text alone */
    uint8_t d[16];
    char h[33];
    cn_digest(d, 0, "");
    hex(d, 16, h);
    ck_assert_str_eq(h, "cfcd208495d565ef66e7dff9f98764da"); /* printf '0' | openssl md5 */
}
END_TEST

START_TEST(test_digest_equal)
{
    uint8_t a[16], b[16];
    cn_digest(a, 42, COOKIE);
    cn_digest(b, 42, COOKIE);
    ck_assert_int_eq(cn_digest_equal(a, b), 1);
    for (int k = 0; k < 16; k++) {
        memcpy(b, a, 16);
        b[k] ^= 0x80;
        ck_assert_int_eq(cn_digest_equal(a, b), 0);
    }
    cn_digest(b, 43, COOKIE);
    ck_assert_int_eq(cn_digest_equal(a, b), 0);
    cn_digest(b, 42, "other");
    ck_assert_int_eq(cn_digest_equal(a, b), 0);
}
END_TEST

START_TEST(test_challenge_random)
{
    uint32_t first = cn_challenge_new();
    int differs = 0;
    for (int k = 0; k < 8; k++)
        differs |= cn_challenge_new() != first;
    ck_assert(differs);
}
END_TEST

/* ---- full handshakes ---- */

START_TEST(test_full_handshake)
{
    int lb = _i ? 4 : 2;
    pair_t p;
    pair_init(&p, lb, cn_flags_ours(0), cn_flags_ours(0));
    pair_start(&p);
    /* the first message on the wire: prefix, 'N', flags, creation, name */
    ck_assert_uint_eq(p.oi.len, (size_t)lb + 15 + strlen(INAME));
    ck_assert_uint_eq(prefix_len(p.oi.data, lb), 15 + strlen(INAME));
    const uint8_t *m = p.oi.data + lb;
    ck_assert_int_eq(m[0], 'N');
    ck_assert(cn_get64(m + 1) == cn_flags_ours(0));
    ck_assert_uint_eq(cn_get32(m + 9), ICRE);
    ck_assert_uint_eq(cn_get16(m + 13), strlen(INAME));
    ck_assert(memcmp(m + 15, INAME, strlen(INAME)) == 0);

    pair_run(&p);
    ck_assert_msg(p.ri == CN_HS_DONE, "initiator: %s", p.i.err);
    ck_assert_msg(p.ra == CN_HS_DONE, "acceptor: %s", p.a.err);
    ck_assert_int_eq(p.n, 5);
    const char tags[] = "NsNra";
    const int to[] = {CN_HS_ACCEPTOR, CN_HS_INITIATOR, CN_HS_INITIATOR, CN_HS_ACCEPTOR,
                      CN_HS_INITIATOR};
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(p.log_tag[k], tags[k]);
        ck_assert_int_eq(p.log_to[k], to[k]);
    }
    ck_assert_uint_eq(p.log_len[3], 21);
    ck_assert_uint_eq(p.log_len[4], 17);
    ck_assert_str_eq(p.i.peer_name, ANAME);
    ck_assert_str_eq(p.a.peer_name, INAME);
    ck_assert_uint_eq(p.i.peer_creation, ACRE);
    ck_assert_uint_eq(p.a.peer_creation, ICRE);
    ck_assert(p.i.flags == cn_flags_ours(0));
    ck_assert(p.a.flags == cn_flags_ours(0));
    ck_assert(p.i.flags & DFLAG_PUBLISHED);
    ck_assert_str_eq(p.i.status, "ok");
    ck_assert_str_eq(p.a.status, "ok");
    ck_assert_uint_eq(p.i.peer_challenge, p.a.my_challenge);
    ck_assert_uint_eq(p.a.peer_challenge, p.i.my_challenge);
    ck_assert_uint_eq(p.oi.len, 0);
    ck_assert_uint_eq(p.oa.len, 0);
    /* nothing more is accepted */
    uint8_t junk[] = {'a', 0};
    ck_assert_int_eq(cn_hs_input(&p.i, junk, sizeof junk, &p.oi), CN_HS_FAIL);
    ck_assert_int_eq(cn_hs_input(&p.a, junk, sizeof junk, &p.oa), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(p.a.err, "after it completed"));
    pair_free(&p);
}
END_TEST

START_TEST(test_published_negotiation)
{
    const int hid[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    for (int k = 0; k < 4; k++) {
        pair_t p;
        pair_init(&p, 2, cn_flags_ours(hid[k][0]), cn_flags_ours(hid[k][1]));
        pair_start(&p);
        pair_run(&p);
        ck_assert_int_eq(p.ri, CN_HS_DONE);
        ck_assert_int_eq(p.ra, CN_HS_DONE);
        int both = !hid[k][0] && !hid[k][1];
        ck_assert_int_eq(!!(p.i.flags & DFLAG_PUBLISHED), both);
        ck_assert_int_eq(!!(p.a.flags & DFLAG_PUBLISHED), both);
        ck_assert(p.i.flags == p.a.flags);
        ck_assert_int_eq(!!(p.a.peer_flags & DFLAG_PUBLISHED), !hid[k][0]);
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_wrong_cookie)
{
    pair_t p;
    pair_init(&p, 2, cn_flags_ours(0), cn_flags_ours(0));
    cn_hs_init(&p.a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), "not-the-cookie");
    pair_start(&p);
    pair_run(&p);
    ck_assert_int_eq(p.ra, CN_HS_FAIL);
    ck_assert_int_eq(p.ri, CN_HS_CONTINUE); /* still waiting for an 'a' that never comes */
    ck_assert_int_eq(p.n, 4);
    ck_assert_uint_eq(p.oa.len, 0); /* no 'a' */
    ck_assert_msg(strstr(p.a.err, "invalid challenge reply from " INAME " (wrong cookie?)"), "%s",
                  p.a.err);
    pair_free(&p);
}
END_TEST

START_TEST(test_tampered_ack)
{
    pair_t p;
    pair_init(&p, 2, cn_flags_ours(0), cn_flags_ours(0));
    p.mut = m_flip_last;
    p.mut_to = CN_HS_INITIATOR;
    p.mut_tag = 'a';
    pair_start(&p);
    pair_run(&p);
    ck_assert(p.mut_done);
    ck_assert_int_eq(p.ra, CN_HS_DONE);
    ck_assert_int_eq(p.ri, CN_HS_FAIL);
    ck_assert_msg(strstr(p.i.err, "invalid challenge ack (wrong cookie?)"), "%s", p.i.err);
    pair_free(&p);
}
END_TEST

START_TEST(test_tampered_reply)
{
    pair_t p;
    pair_init(&p, 2, cn_flags_ours(0), cn_flags_ours(0));
    p.mut = m_flip_last;
    p.mut_to = CN_HS_ACCEPTOR;
    p.mut_tag = 'r';
    pair_start(&p);
    pair_run(&p);
    ck_assert_int_eq(p.ra, CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(p.a.err, "wrong cookie"));
    ck_assert_uint_eq(p.oa.len, 0);
    pair_free(&p);
}
END_TEST

/* ---- old 'n' name + 'c' complement (OTP 23/24 initiator, built by hand) ---- */

START_TEST(test_old_name_complement)
{
    cn_hs a;
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    /* OTP 24: the low word of its flags (no digest shorthand), HANDSHAKE_23 set */
    uint64_t theirs = DFLAG_MANDATORY_25 | DFLAG_PUBLISHED | DFLAG_DIST_MONITOR | DFLAG_UNLINK_ID |
                      DFLAG_SPAWN | DFLAG_V4_NC | DFLAG_ALIAS;
    uint8_t m[512];
    size_t len = build_old_name(m, (uint32_t)theirs, "old@host");
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_CONTINUE);
    ck_assert_int_eq(a.old_name, 1);
    ck_assert_str_eq(a.peer_name, "old@host");
    ck_assert(!(a.peer_flags & DFLAG_V4_NC)); /* not known yet */
    char status[32];
    uint32_t ch = take_challenge(&out, 2, status, sizeof status);
    ck_assert_str_eq(status, "ok");
    ck_assert_uint_eq(out.len, 0);

    /* 'r' before 'c' is out of order */
    cn_hs early = a;
    cn_buf junk;
    cn_buf_init(&junk, 0);
    len = build_reply(m, 777, ch, COOKIE);
    ck_assert_int_eq(feed(&early, m, len, &junk), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(early.err, "complement"));
    cn_buf_free(&junk);

    m[0] = 'c';
    cn_set32(m + 1, (uint32_t)(theirs >> 32));
    cn_set32(m + 5, 0xCAFEu);
    ck_assert_int_eq(feed(&a, m, 9, &out), CN_HS_CONTINUE);
    ck_assert_uint_eq(a.peer_creation, 0xCAFEu);
    ck_assert(a.peer_flags == theirs);
    ck_assert(a.flags == (cn_flags_ours(0) & theirs));
    ck_assert(a.flags & DFLAG_V4_NC);
    ck_assert(a.flags & DFLAG_ALIAS);

    len = build_reply(m, 777, ch, COOKIE);
    ck_assert_msg(feed(&a, m, len, &out) == CN_HS_DONE, "%s", a.err);
    ck_assert(pop(&out, 2, m, sizeof m, &len));
    ck_assert_uint_eq(len, 17);
    ck_assert_int_eq(m[0], 'a');
    uint8_t want[16];
    cn_digest(want, 777, COOKIE);
    ck_assert(memcmp(m + 1, want, 16) == 0);
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_old_name_bad)
{
    uint8_t m[512];
    size_t len;
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs a;
    char status[32];

    /* no HANDSHAKE_23: a pure version 5 peer */
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_old_name(m, (uint32_t)(DFLAG_MANDATORY_25 & ~DFLAG_HANDSHAKE_23), "old@host");
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "HANDSHAKE_23"));
    ck_assert(pop(&out, 2, m, sizeof m, &len));
    ck_assert(len == 12 && memcmp(m, "snot_allowed", 12) == 0);

    /* low word missing a mandatory flag */
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_old_name(m, (uint32_t)(DFLAG_MANDATORY_25 & ~DFLAG_MAP_TAG), "old@host");
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "MAP_TAG"));
    cn_buf_reset(&out);

    /* every truncation of the fixed part */
    len = build_old_name(m, (uint32_t)DFLAG_MANDATORY_25, "old@host");
    for (size_t k = 0; k <= 7; k++) {
        cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
        ck_assert_int_eq(feed(&a, m, k, &out), CN_HS_FAIL);
    }
    ck_assert_uint_eq(out.len, 0);

    /* an over-long name */
    char big[301];
    memset(big, 'x', 300);
    big[300] = '\0';
    big[3] = '@';
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_old_name(m, (uint32_t)DFLAG_MANDATORY_25, big);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "255"));

    /* complement: every wrong length, and a wrong tag */
    for (size_t k = 0; k < 12; k++) {
        if (k == 9)
            continue;
        cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
        len = build_old_name(m, (uint32_t)DFLAG_MANDATORY_25, "old@host");
        ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_CONTINUE);
        take_challenge(&out, 2, status, sizeof status);
        memset(m, 0, sizeof m);
        m[0] = 'c';
        ck_assert_int_eq(feed(&a, m, k, &out), CN_HS_FAIL);
    }
    cn_buf_free(&out);
}
END_TEST

/* ---- decide ---- */

static void run_decided(pair_t *p, decide_t *d)
{
    pair_init(p, 2, cn_flags_ours(0), cn_flags_ours(0));
    p->a.decide = decide;
    p->a.ctx = d;
    pair_start(p);
    pair_run(p);
}

START_TEST(test_decide_nok)
{
    decide_t d = {.ret = "nok"};
    pair_t p;
    run_decided(&p, &d);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_str_eq(d.name, INAME);
    ck_assert(d.flags == cn_flags_ours(0));
    ck_assert_int_eq(p.ra, CN_HS_FAIL);
    ck_assert_str_eq(p.a.status, "nok");
    ck_assert_int_eq(p.ri, CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(p.i.err, "nok"));
    ck_assert_int_eq(p.n, 2); /* 'N', 's' — no challenge */
    pair_free(&p);
}
END_TEST

START_TEST(test_decide_not_allowed)
{
    decide_t d = {.ret = "not_allowed"};
    pair_t p;
    run_decided(&p, &d);
    ck_assert_int_eq(p.ra, CN_HS_FAIL);
    ck_assert_str_eq(p.a.status, "not_allowed");
    ck_assert_int_eq(p.ri, CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(p.i.err, "not_allowed"));
    ck_assert_int_eq(p.n, 2);
    pair_free(&p);
}
END_TEST

START_TEST(test_decide_unknown)
{
    const char *rets[] = {"bogus", NULL};
    for (int k = 0; k < 2; k++) {
        decide_t d = {.ret = rets[k]};
        pair_t p;
        run_decided(&p, &d);
        ck_assert_int_eq(p.ra, CN_HS_FAIL);
        ck_assert_str_eq(p.a.status, "not_allowed");
        ck_assert_int_eq(p.ri, CN_HS_FAIL);
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_decide_ok_simultaneous)
{
    decide_t d = {.ret = "ok_simultaneous"};
    pair_t p;
    run_decided(&p, &d);
    ck_assert_int_eq(p.ra, CN_HS_DONE);
    ck_assert_int_eq(p.ri, CN_HS_DONE);
    ck_assert_str_eq(p.a.status, "ok_simultaneous");
    ck_assert_str_eq(p.i.status, "ok_simultaneous");
    pair_free(&p);
}
END_TEST

START_TEST(test_decide_alive_true)
{
    decide_t d = {.ret = "alive"};
    pair_t p;
    run_decided(&p, &d);
    ck_assert_msg(p.ra == CN_HS_DONE, "%s", p.a.err);
    ck_assert_msg(p.ri == CN_HS_DONE, "%s", p.i.err);
    ck_assert_str_eq(p.a.status, "alive");
    ck_assert_str_eq(p.i.status, "alive");
    /* N, s alive, s true, N, r, a */
    ck_assert_int_eq(p.n, 6);
    ck_assert_int_eq(p.log_tag[2], 's');
    ck_assert_int_eq(p.log_to[2], CN_HS_ACCEPTOR);
    ck_assert_uint_eq(p.log_len[2], 5);
    pair_free(&p);
}
END_TEST

START_TEST(test_decide_alive_false)
{
    const char *replies[] = {"sfalse", "smaybe", "s", "strue!", "xtrue"};
    for (size_t k = 0; k < sizeof replies / sizeof replies[0]; k++) {
        decide_t d = {.ret = "alive"};
        cn_hs a;
        cn_buf out;
        cn_buf_init(&out, 0);
        cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
        a.decide = decide;
        a.ctx = &d;
        uint8_t m[512];
        size_t len = build_name(m, cn_flags_ours(0), ICRE, INAME);
        ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_CONTINUE);
        ck_assert(pop(&out, 2, m, sizeof m, &len));
        ck_assert(len == 6 && memcmp(m, "salive", 6) == 0);
        ck_assert_uint_eq(out.len, 0);
        ck_assert_int_eq(feed(&a, replies[k], strlen(replies[k]), &out), CN_HS_FAIL);
        ck_assert_uint_eq(out.len, 0);
        if (k == 0)
            ck_assert_ptr_nonnull(strstr(a.err, "'false'"));
        cn_buf_free(&out);
    }
}
END_TEST

/* ---- NAME_ME ---- */

START_TEST(test_name_me)
{
    pair_t p;
    uint64_t iflags = cn_flags_ours(1) | DFLAG_NAME_ME;
    pair_init(&p, 2, iflags, cn_flags_ours(0));
    decide_t d = {.ret = "ok"};
    p.a.decide = decide;
    p.a.ctx = &d;
    pair_start(&p);
    /* the request carries only the host and creation 0 */
    const uint8_t *m = p.oi.data + 2;
    ck_assert_uint_eq(cn_get32(m + 9), 0);
    ck_assert_uint_eq(cn_get16(m + 13), 4);
    ck_assert(memcmp(m + 15, "host", 4) == 0);
    pair_run(&p);
    ck_assert_msg(p.ra == CN_HS_DONE, "%s", p.a.err);
    ck_assert_msg(p.ri == CN_HS_DONE, "%s", p.i.err);
    ck_assert_str_eq(p.a.status, "named");
    ck_assert_str_eq(p.i.status, "named");
    /* <base36>@host */
    const char *at = strchr(p.a.peer_name, '@');
    ck_assert_ptr_nonnull(at);
    ck_assert_str_eq(at, "@host");
    ck_assert(at > p.a.peer_name && at - p.a.peer_name <= 13);
    for (const char *c = p.a.peer_name; c < at; c++)
        ck_assert((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z'));
    ck_assert_str_eq(d.name, p.a.peer_name);
    ck_assert_uint_gt(p.a.peer_creation, 3);
    ck_assert_str_eq(p.i.my_name, p.a.peer_name);
    ck_assert_uint_eq(p.i.my_creation, p.a.peer_creation);
    ck_assert(!(p.i.flags & DFLAG_PUBLISHED));
    pair_free(&p);
}
END_TEST

static size_t build_named(uint8_t *m, const char *name, uint32_t creation)
{
    size_t n = strlen(name);
    memcpy(m, "snamed:", 7);
    cn_set16(m + 7, (uint16_t)n);
    memcpy(m + 9, name, n);
    cn_set32(m + 9 + n, creation);
    return 13 + n;
}

START_TEST(test_name_me_initiator)
{
    cn_hs i;
    cn_buf out;
    cn_buf_init(&out, 0);
    uint8_t m[512];
    size_t len;
    uint64_t nm = cn_flags_ours(1) | DFLAG_NAME_ME;

    /* adopts the name; trailing bytes after the creation are ignored */
    initiator_waiting(&i, &out, nm);
    len = build_named(m, "XYZ@host", 1234);
    m[len++] = 0xEE;
    ck_assert_msg(feed(&i, m, len, &out) == CN_HS_CONTINUE, "%s", i.err);
    ck_assert_str_eq(i.my_name, "XYZ@host");
    ck_assert_uint_eq(i.my_creation, 1234);
    /* and then finishes normally */
    len = build_challenge(m, cn_flags_ours(0), 99, ANAME);
    ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_CONTINUE);
    ck_assert(pop(&out, 2, m, sizeof m, &len));
    ck_assert_int_eq(m[0], 'r');
    uint8_t want[16];
    cn_digest(want, 99, COOKIE);
    ck_assert(memcmp(m + 5, want, 16) == 0);
    uint8_t ack[17] = {'a'};
    cn_digest(ack + 1, cn_get32(m + 1), COOKIE);
    ck_assert_int_eq(feed(&i, ack, 17, &out), CN_HS_DONE);

    /* a name on another host */
    initiator_waiting(&i, &out, nm);
    len = build_named(m, "XYZ@elsewhere", 1234);
    ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_FAIL);
    /* not of the form name@host */
    initiator_waiting(&i, &out, nm);
    len = build_named(m, "host", 1234);
    ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_FAIL);
    /* oversized length field */
    initiator_waiting(&i, &out, nm);
    len = build_named(m, "XYZ@host", 1234);
    cn_set16(m + 7, 0xFFFF);
    ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(i.err, "truncated"));
    /* every truncation */
    len = build_named(m, "XYZ@host", 1234);
    for (size_t k = 0; k < len; k++) {
        initiator_waiting(&i, &out, nm);
        ck_assert_int_eq(feed(&i, m, k, &out), CN_HS_FAIL);
    }
    /* plain ok when we asked for a name */
    initiator_waiting(&i, &out, nm);
    ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_FAIL);
    /* named: when we did not ask */
    initiator_waiting(&i, &out, cn_flags_ours(0));
    len = build_named(m, "XYZ@host", 1234);
    ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(i.err, "did not ask"));
    ck_assert_uint_eq(out.len, 0);
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_name_me_acceptor_bad)
{
    uint8_t m[512];
    size_t len;
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs a;
    uint64_t nm = cn_flags_ours(1) | DFLAG_NAME_ME;

    /* a NAME_ME request must carry a bare host */
    const char *bad[] = {"x@host", "", "@"};
    for (size_t k = 0; k < 3; k++) {
        cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
        len = build_name(m, nm, 0, bad[k]);
        ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
        ck_assert_uint_eq(out.len, 0);
    }
    /* "alive" makes no sense for a fresh name: refused */
    decide_t d = {.ret = "alive"};
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    a.decide = decide;
    a.ctx = &d;
    len = build_name(m, nm, 0, "host");
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_str_eq(a.status, "not_allowed");
    /* a host so long that no name fits */
    char host[256];
    memset(host, 'h', 250);
    host[250] = '\0';
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_name(m, nm, 0, host);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_str_eq(a.status, "not_allowed");
    cn_buf_free(&out);
}
END_TEST

/* ---- mandatory flags ---- */

START_TEST(test_missing_flags_initiator)
{
    pair_t p;
    uint64_t iflags = cn_flags_ours(0) & ~(DFLAG_BIG_CREATION | DFLAG_MANDATORY_25_DIGEST);
    decide_t d = {.ret = "ok"};
    pair_init(&p, 2, iflags, cn_flags_ours(0));
    p.a.decide = decide;
    p.a.ctx = &d;
    pair_start(&p);
    pair_run(&p);
    ck_assert_int_eq(p.ra, CN_HS_FAIL);
    ck_assert_str_eq(p.a.status, "not_allowed");
    ck_assert_msg(strstr(p.a.err, "[BIG_CREATION]"), "%s", p.a.err);
    ck_assert_ptr_nonnull(strstr(p.a.err, INAME));
    ck_assert_int_eq(d.calls, 0);
    ck_assert_int_eq(p.ri, CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(p.i.err, "not_allowed"));
    pair_free(&p);
}
END_TEST

START_TEST(test_missing_flags_acceptor)
{
    pair_t p;
    uint64_t aflags =
        cn_flags_ours(0) & ~(DFLAG_MAP_TAG | DFLAG_UTF8_ATOMS | DFLAG_MANDATORY_25_DIGEST);
    pair_init(&p, 2, cn_flags_ours(0), aflags);
    pair_start(&p);
    pair_run(&p);
    ck_assert_int_eq(p.ri, CN_HS_FAIL);
    ck_assert_msg(strstr(p.i.err, "[UTF8_ATOMS,MAP_TAG]"), "%s", p.i.err);
    ck_assert_ptr_nonnull(strstr(p.i.err, "aborted"));
    ck_assert_int_eq(p.n, 3); /* no 'r' */
    ck_assert_uint_eq(p.oi.len, 0);
    ck_assert_int_eq(p.ra, CN_HS_CONTINUE);
    pair_free(&p);
}
END_TEST

START_TEST(test_digest_flag_alone)
{
    uint64_t minimal =
        DFLAG_MANDATORY_25_DIGEST | DFLAG_PUBLISHED | DFLAG_UNLINK_ID | DFLAG_V4_NC | DFLAG_SPAWN;
    for (int side = 0; side < 2; side++) {
        pair_t p;
        pair_init(&p, 2, side ? cn_flags_ours(0) : minimal, side ? minimal : cn_flags_ours(0));
        pair_start(&p);
        pair_run(&p);
        ck_assert_msg(p.ri == CN_HS_DONE, "%s", p.i.err);
        ck_assert_msg(p.ra == CN_HS_DONE, "%s", p.a.err);
        cn_hs *saw = side ? &p.i : &p.a;
        ck_assert(saw->peer_flags == (minimal | DFLAG_MANDATORY_25));
        ck_assert(saw->flags == (cn_flags_ours(0) & (minimal | DFLAG_MANDATORY_25)));
        ck_assert((saw->flags & DFLAG_MANDATORY_25) == DFLAG_MANDATORY_25);
        ck_assert(p.i.flags == p.a.flags);
        pair_free(&p);
    }
}
END_TEST

/* ---- hostile input ---- */

typedef void (*setup_fn)(pair_t *p);

static void setup_plain(pair_t *p)
{
    pair_init(p, 2, cn_flags_ours(0), cn_flags_ours(0));
}
static void setup_tls(pair_t *p)
{
    pair_init(p, 4, cn_flags_ours(0), cn_flags_ours(0));
}

static decide_t alive_decider = {.ret = "alive"};
static void setup_alive(pair_t *p)
{
    setup_plain(p);
    p->a.decide = decide;
    p->a.ctx = &alive_decider;
}

static void setup_name_me(pair_t *p)
{
    pair_init(p, 2, cn_flags_ours(1) | DFLAG_NAME_ME, cn_flags_ours(0));
}

/* Cut every message of a handshake by 1..len bytes: the receiver must fail, never crash. */
static void truncate_everything(setup_fn setup)
{
    pair_t clean;
    setup(&clean);
    pair_start(&clean);
    pair_run(&clean);
    ck_assert_int_eq(clean.ri, CN_HS_DONE);
    ck_assert_int_eq(clean.ra, CN_HS_DONE);
    pair_free(&clean);
    for (int k = 0; k < clean.n; k++) {
        for (size_t drop = 1; drop <= clean.log_len[k]; drop++) {
            pair_t p;
            setup(&p);
            p.mut = m_drop;
            p.mut_arg = &drop;
            p.mut_idx = k;
            pair_start(&p);
            pair_run(&p);
            ck_assert(p.mut_done);
            ck_assert_msg(p.mut_rc == CN_HS_FAIL, "message %d ('%c') cut by %zu bytes: rc %d", k,
                          clean.log_tag[k], drop, p.mut_rc);
            cn_hs *victim = clean.log_to[k] == CN_HS_INITIATOR ? &p.i : &p.a;
            ck_assert(victim->err[0] != '\0');
            pair_free(&p);
        }
    }
}

START_TEST(test_truncations)
{
    truncate_everything(setup_plain);
    truncate_everything(setup_tls);
    truncate_everything(setup_alive);
    truncate_everything(setup_name_me);
}
END_TEST

START_TEST(test_trailing_bytes)
{
    /* after the name in 'N' (both directions): ignored */
    const int to[2] = {CN_HS_ACCEPTOR, CN_HS_INITIATOR};
    for (int k = 0; k < 2; k++) {
        pair_t p;
        setup_plain(&p);
        p.mut = m_append;
        p.mut_arg = "\x01\x02garbage";
        p.mut_to = to[k];
        p.mut_tag = 'N';
        pair_start(&p);
        pair_run(&p);
        ck_assert(p.mut_done);
        ck_assert_msg(p.ri == CN_HS_DONE, "%s", p.i.err);
        ck_assert_msg(p.ra == CN_HS_DONE, "%s", p.a.err);
        ck_assert_str_eq(p.a.peer_name, INAME);
        pair_free(&p);
    }
    /* after 'r' and 'a': refused */
    const uint8_t tags[2] = {'r', 'a'};
    for (int k = 0; k < 2; k++) {
        pair_t p;
        setup_plain(&p);
        p.mut = m_append;
        p.mut_arg = "x";
        p.mut_to = tags[k] == 'r' ? CN_HS_ACCEPTOR : CN_HS_INITIATOR;
        p.mut_tag = tags[k];
        pair_start(&p);
        pair_run(&p);
        ck_assert(p.mut_done);
        ck_assert_int_eq(p.mut_rc, CN_HS_FAIL);
        cn_hs *victim = tags[k] == 'r' ? &p.a : &p.i;
        ck_assert_msg(strstr(victim->err, tags[k] == 'r' ? "expected 21" : "expected 17"), "%s",
                      victim->err);
        pair_free(&p);
    }
    /* after a status: refused */
    pair_t p;
    setup_plain(&p);
    p.mut = m_append;
    p.mut_arg = " ";
    p.mut_to = CN_HS_INITIATOR;
    p.mut_tag = 's';
    pair_start(&p);
    pair_run(&p);
    ck_assert_int_eq(p.mut_rc, CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(p.i.err, "unknown handshake status 'ok '"));
    pair_free(&p);
}
END_TEST

START_TEST(test_expected_name_mismatch)
{
    pair_t p;
    setup_plain(&p);
    cn_hs_set_expect(&p.i, "b@other");
    pair_start(&p);
    pair_run(&p);
    ck_assert_int_eq(p.ri, CN_HS_FAIL);
    ck_assert_msg(strstr(p.i.err, "peer answered as b@host, expected b@other"), "%s", p.i.err);
    ck_assert_int_eq(p.n, 3);
    ck_assert_uint_eq(p.oi.len, 0);
    pair_free(&p);

    /* a name that is a prefix, or longer */
    const char *names[] = {"b@hos", "b@hostt", "B@host", ""};
    for (size_t k = 0; k < 4; k++) {
        cn_hs i;
        cn_buf out;
        cn_buf_init(&out, 0);
        initiator_waiting(&i, &out, cn_flags_ours(0));
        ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_CONTINUE);
        uint8_t m[512];
        size_t len = build_challenge(m, cn_flags_ours(0), 1, names[k]);
        ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_FAIL);
        ck_assert_uint_eq(out.len, 0);
        cn_buf_free(&out);
    }
}
END_TEST

START_TEST(test_oversize_lengths)
{
    uint8_t m[1024];
    size_t len;
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs a, i;

    /* name length field far beyond the message */
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_name(m, cn_flags_ours(0), ICRE, INAME);
    cn_set16(m + 13, 0xFFFF);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "truncated"));

    /* a 300-byte name, all present */
    char big[301];
    memset(big, 'x', 300);
    big[300] = '\0';
    big[10] = '@';
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_name(m, cn_flags_ours(0), ICRE, big);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "255"));
    /* exactly 255 is fine */
    big[255] = '\0';
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_name(m, cn_flags_ours(0), ICRE, big);
    ck_assert_msg(feed(&a, m, len, &out) == CN_HS_CONTINUE, "%s", a.err);
    ck_assert_uint_eq(strlen(a.peer_name), 255);
    cn_buf_reset(&out);

    /* challenge with an oversized name length */
    initiator_waiting(&i, &out, cn_flags_ours(0));
    ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_CONTINUE);
    len = build_challenge(m, cn_flags_ours(0), 1, ANAME);
    cn_set16(m + 17, 0xFFFF);
    ck_assert_int_eq(feed(&i, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(i.err, "truncated"));
    ck_assert_uint_eq(out.len, 0);
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_invalid_names)
{
    const char *bad[] = {"nohost@",   "@host",      "a@b@c",         "plain", "a b@host",
                         "a\tb@host", "a@ho\x7fst", "\xc3\xa9@host", ""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cn_hs a;
        cn_buf out;
        cn_buf_init(&out, 0);
        cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
        uint8_t m[512];
        size_t len = build_name(m, cn_flags_ours(0), ICRE, bad[k]);
        ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
        ck_assert_uint_eq(out.len, 0);
        ck_assert_ptr_nonnull(strstr(a.err, "invalid node name"));
        cn_buf_free(&out);
    }
    /* a NUL inside the name is refused too */
    cn_hs a;
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    uint8_t m[64];
    size_t len = build_name(m, cn_flags_ours(0), ICRE, "a@hostX");
    m[15 + 3] = 0;
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "'a@h?stX'"));
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_unknown_tags)
{
    cn_buf out;
    cn_buf_init(&out, 0);
    uint8_t m[512];
    size_t len;

    /* acceptor expecting a name */
    for (int t = 0; t < 256; t++) {
        if (t == 'N' || t == 'n')
            continue;
        cn_hs a;
        cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
        len = build_name(m, cn_flags_ours(0), ICRE, INAME);
        m[0] = (uint8_t)t;
        ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
        ck_assert_ptr_nonnull(strstr(a.err, "expected a name message"));
    }
    ck_assert_uint_eq(out.len, 0);

    /* initiator expecting a status, a challenge, an ack */
    cn_hs i;
    initiator_waiting(&i, &out, cn_flags_ours(0));
    ck_assert_int_eq(feed(&i, "Zok", 3, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(i.err, "'Z'"));
    initiator_waiting(&i, &out, cn_flags_ours(0));
    ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_CONTINUE);
    ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_FAIL);
    initiator_waiting(&i, &out, cn_flags_ours(0));
    ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_CONTINUE);
    /* an old 'n' challenge is refused (v6 only) */
    memset(m, 0, sizeof m);
    m[0] = 'n';
    ck_assert_int_eq(feed(&i, m, 30, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(i.err, "version 5"));

    /* acceptor expecting 'r' gets 'N' again */
    cn_hs a;
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    len = build_name(m, cn_flags_ours(0), ICRE, INAME);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_CONTINUE);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "challenge reply"));
    /* an acceptor never takes a 'c' without an old name */
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_CONTINUE);
    memset(m, 0, 9);
    m[0] = 'c';
    ck_assert_int_eq(feed(&a, m, 9, &out), CN_HS_FAIL);
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_empty_and_after_fail)
{
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs a;
    uint8_t m[512];
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    ck_assert_int_eq(feed(&a, "", 0, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "empty"));
    /* after a failure: still failing, first reason kept */
    size_t len = build_name(m, cn_flags_ours(0), ICRE, INAME);
    ck_assert_int_eq(feed(&a, m, len, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(a.err, "empty"));
    ck_assert_uint_eq(out.len, 0);
    cn_hs_init(&a, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    ck_assert_int_eq(cn_hs_input(&a, NULL, 5, &out), CN_HS_FAIL);
    /* initiator fed before it started */
    cn_hs i;
    cn_hs_init(&i, CN_HS_INITIATOR, 2, INAME, ICRE, cn_flags_ours(0), COOKIE);
    cn_hs_set_expect(&i, ANAME);
    ck_assert_int_eq(feed(&i, "sok", 3, &out), CN_HS_FAIL);
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_setup_errors)
{
    cn_buf out;
    cn_buf_init(&out, 0);
    cn_hs h;
    char big[300];
    memset(big, 'c', 299);
    big[299] = '\0';

    cn_hs_init(&h, CN_HS_INITIATOR, 2, INAME, ICRE, cn_flags_ours(0), COOKIE);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL); /* no expected name */
    ck_assert_ptr_nonnull(strstr(h.err, "no node to dial"));

    cn_hs_init(&h, CN_HS_INITIATOR, 3, INAME, ICRE, cn_flags_ours(0), COOKIE);
    cn_hs_set_expect(&h, ANAME);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL);

    cn_hs_init(&h, CN_HS_INITIATOR, 2, INAME, ICRE, cn_flags_ours(0), big);
    cn_hs_set_expect(&h, ANAME);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(h.err, "cookie"));

    cn_hs_init(&h, CN_HS_INITIATOR, 2, big, ICRE, cn_flags_ours(0), COOKIE);
    cn_hs_set_expect(&h, ANAME);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL);

    cn_hs_init(&h, CN_HS_INITIATOR, 2, INAME, ICRE, cn_flags_ours(0), COOKIE);
    cn_hs_set_expect(&h, "nohost");
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL);

    cn_hs_init(&h, CN_HS_ACCEPTOR, 2, "nohost", ICRE, cn_flags_ours(0), COOKIE);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL);
    ck_assert_int_eq(feed(&h, "x", 1, &out), CN_HS_FAIL);

    cn_hs_init(&h, CN_HS_INITIATOR, 2, INAME, ICRE, cn_flags_ours(0), COOKIE);
    cn_hs_set_expect(&h, ANAME);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_CONTINUE);
    ck_assert_int_eq(cn_hs_start(&h, &out), CN_HS_FAIL); /* twice */
    ck_assert_uint_eq(out.len, 2 + 15 + strlen(INAME));

    /* an output buffer that cannot take the message */
    cn_buf tiny;
    cn_buf_init(&tiny, 8);
    cn_hs_init(&h, CN_HS_INITIATOR, 2, INAME, ICRE, cn_flags_ours(0), COOKIE);
    cn_hs_set_expect(&h, ANAME);
    ck_assert_int_eq(cn_hs_start(&h, &tiny), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(h.err, "buffer"));
    ck_assert_uint_eq(tiny.len, 0);
    cn_hs_init(&h, CN_HS_ACCEPTOR, 2, ANAME, ACRE, cn_flags_ours(0), COOKIE);
    uint8_t m[512];
    size_t len = build_name(m, cn_flags_ours(0), ICRE, INAME);
    ck_assert_int_eq(feed(&h, m, len, &tiny), CN_HS_FAIL);
    ck_assert_ptr_nonnull(strstr(h.err, "buffer"));
    cn_buf_free(&tiny);
    cn_buf_free(&out);
}
END_TEST

static Suite *handshake_suite(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("digest");
    tcase_add_test(tc, test_digest_vectors);
    tcase_add_test(tc, test_digest_equal);
    tcase_add_test(tc, test_challenge_random);
    suite_add_tcase(s, tc);

    tc = tcase_create("flow");
    tcase_add_loop_test(tc, test_full_handshake, 0, 2);
    tcase_add_test(tc, test_published_negotiation);
    tcase_add_test(tc, test_wrong_cookie);
    tcase_add_test(tc, test_tampered_ack);
    tcase_add_test(tc, test_tampered_reply);
    tcase_add_test(tc, test_old_name_complement);
    tcase_add_test(tc, test_old_name_bad);
    tcase_add_test(tc, test_decide_nok);
    tcase_add_test(tc, test_decide_not_allowed);
    tcase_add_test(tc, test_decide_unknown);
    tcase_add_test(tc, test_decide_ok_simultaneous);
    tcase_add_test(tc, test_decide_alive_true);
    tcase_add_test(tc, test_decide_alive_false);
    tcase_add_test(tc, test_name_me);
    tcase_add_test(tc, test_name_me_initiator);
    tcase_add_test(tc, test_name_me_acceptor_bad);
    tcase_add_test(tc, test_missing_flags_initiator);
    tcase_add_test(tc, test_missing_flags_acceptor);
    tcase_add_test(tc, test_digest_flag_alone);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_truncations);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_expected_name_mismatch);
    tcase_add_test(tc, test_oversize_lengths);
    tcase_add_test(tc, test_invalid_names);
    tcase_add_test(tc, test_unknown_tags);
    tcase_add_test(tc, test_empty_and_after_fail);
    tcase_add_test(tc, test_setup_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_check_run(handshake_suite());
}

/* check_rx: unit tests for the receive decoder ('p' frames, 131,68 headers with the atom
 * cache, fragment reassembly, and hostile frames that must fail cleanly). */
#include "dist/flags.h"
#include "dist/rx.h"
#include "util/buf.h"

#include <check.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"

#define HDR_FLAGS (DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS)
#define MAXMSG ((size_t)1 << 20)

static char err[256];

/* A header reference: new (with text) or old, at (seg, idx). */
typedef struct href {
    int isnew;
    int seg;
    int idx;
    const char *text;
} href;

static void put(ei_x_buff *x, const void *p, size_t n)
{
    ei_x_append_buf(x, p, (int)n);
}
static void put8(ei_x_buff *x, uint8_t v)
{
    put(x, &v, 1);
}
static void put64(ei_x_buff *x, uint64_t v)
{
    uint8_t t[8];
    cn_set64(t, v);
    put(x, t, 8);
}

static void put_header(ei_x_buff *x, const href *r, int n, int long_atoms)
{
    put8(x, (uint8_t)n);
    if (n == 0)
        return;
    uint8_t fl[128] = {0};
    for (int i = 0; i < n; i++)
        fl[i / 2] |= (uint8_t)(((r[i].isnew ? 8 : 0) | r[i].seg) << ((i & 1) * 4));
    if (long_atoms)
        fl[n / 2] |= (uint8_t)(1 << ((n & 1) * 4));
    put(x, fl, (size_t)n / 2 + 1);
    for (int i = 0; i < n; i++) {
        put8(x, (uint8_t)r[i].idx);
        if (!r[i].isnew)
            continue;
        size_t len = strlen(r[i].text);
        if (long_atoms) {
            uint8_t t[2];
            cn_set16(t, (uint16_t)len);
            put(x, t, 2);
        } else {
            put8(x, (uint8_t)len);
        }
        put(x, r[i].text, len);
    }
}

static void ref(ei_x_buff *x, int i)
{
    put8(x, 82);
    put8(x, (uint8_t)i);
}
static void atom(ei_x_buff *x, const char *a)
{
    ck_assert_int_eq(ei_x_encode_atom_len_as(x, a, (int)strlen(a), ERLANG_UTF8, ERLANG_UTF8), 0);
}
static void pid_on(ei_x_buff *x, const char *node)
{
    erlang_pid p = {.num = 5, .serial = 0, .creation = 77};
    strcpy(p.node, node);
    ck_assert_int_eq(ei_x_encode_pid(x, &p), 0);
}

static void frame_start(ei_x_buff *x, int type)
{
    ei_x_new(x);
    put8(x, 131);
    put8(x, (uint8_t)type);
}

static int rx_x(cn_rx *rx, ei_x_buff *x, size_t len, cn_dist_msg *m)
{
    return cn_rx_frame(rx, (const uint8_t *)x->buff, len, m, err, sizeof err);
}
static int rx_all(cn_rx *rx, ei_x_buff *x, cn_dist_msg *m)
{
    return rx_x(rx, x, (size_t)x->index, m);
}

/* m's control (or payload) equals 131 followed by expected. */
static void expect_term(const uint8_t *got, size_t got_len, const ei_x_buff *want)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got_len, (size_t)want->index + 1);
    ck_assert_int_eq(got[0], 131);
    ck_assert_mem_eq(got + 1, want->buff, (size_t)want->index);
    int idx = 0, v;
    ck_assert_int_eq(ei_decode_version((const char *)got, &idx, &v), 0);
    ck_assert_int_eq(ei_skip_term((const char *)got, &idx), 0);
    ck_assert_int_eq(idx, (int)got_len);
}

/* Control {6, Pid, '', Name} and payload {hello, [1,2,3]} with plain atoms. */
static void plain_ctl(ei_x_buff *c, const char *node, const char *name)
{
    ei_x_new(c);
    ei_x_encode_tuple_header(c, 4);
    ei_x_encode_long(c, 6);
    pid_on(c, node);
    atom(c, "");
    atom(c, name);
}
/* {6, Pid@node, A1, A2}: what ref_ctl becomes */
static void want_ctl(ei_x_buff *c, const char *node, const char *a1, const char *a2)
{
    ei_x_new(c);
    ei_x_encode_tuple_header(c, 4);
    ei_x_encode_long(c, 6);
    pid_on(c, node);
    atom(c, a1);
    atom(c, a2);
}
static void plain_payload(ei_x_buff *p)
{
    ei_x_new(p);
    ei_x_encode_tuple_header(p, 2);
    atom(p, "hello");
    ei_x_encode_list_header(p, 3);
    for (int i = 1; i <= 3; i++)
        ei_x_encode_long(p, i);
    ei_x_encode_empty_list(p);
}

START_TEST(pass_through)
{
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25, MAXMSG);
    ei_x_buff c, p, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    plain_payload(&p);
    ei_x_new(&f);
    put8(&f, 112);
    put8(&f, 131);
    put(&f, c.buff, (size_t)c.index);
    size_t ctl_end = (size_t)f.index;
    put8(&f, 131);
    put(&f, p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    expect_term(m.ctl, m.ctl_len, &c);
    expect_term(m.payload, m.payload_len, &p);
    ck_assert_ptr_eq(m.storage + m.room, m.ctl); /* one allocation, room for a record first */
    ck_assert_uint_eq(m.room, CN_RX_ROOM);
    cn_dist_msg_free(&m);
    ck_assert_ptr_null(m.storage);
    /* control only */
    ck_assert_int_eq(rx_x(rx, &f, ctl_end, &m), 1);
    expect_term(m.ctl, m.ctl_len, &c);
    ck_assert_ptr_null(m.payload);
    ck_assert_uint_eq(m.payload_len, 0);
    cn_dist_msg_free(&m);
    /* every other truncation fails */
    for (size_t k = 1; k < (size_t)f.index; k++) {
        if (k == ctl_end)
            continue;
        ck_assert_int_eq(rx_x(rx, &f, k, &m), -1);
        ck_assert_ptr_null(m.storage);
    }
    /* a tick is nothing */
    ck_assert_int_eq(rx_x(rx, &f, 0, &m), 0);
    /* trailing garbage, missing 131 before the payload, a header frame */
    put8(&f, 106);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_str_eq(err, "1 bytes after the payload term");
    f.buff[ctl_end] = 97;
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    f.buff[ctl_end] = (char)131;
    f.buff[0] = (char)131;
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_msg(strstr(err, "expected 112") != NULL, "%s", err);
    f.buff[0] = 112;
    f.buff[1] = 68;
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    /* cache refs are not allowed in 'p' frames */
    ei_x_new(&f);
    put(&f, "\x70\x83\x52\x00", 4);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_rx_free(rx);
}
END_TEST

START_TEST(header_no_refs)
{
    uint64_t modes[] = {HDR_FLAGS, DFLAG_FRAGMENTS, DFLAG_DIST_HDR_ATOM_CACHE};
    for (int mode = 0; mode < 3; mode++) {
        cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | modes[mode], MAXMSG);
        ei_x_buff c, p, f;
        cn_dist_msg m;
        plain_ctl(&c, "a@b", "srv");
        plain_payload(&p);
        frame_start(&f, 68);
        put8(&f, 0);
        put(&f, c.buff, (size_t)c.index);
        size_t ctl_end = (size_t)f.index;
        put(&f, p.buff, (size_t)p.index);
        ck_assert_int_eq(rx_all(rx, &f, &m), 1);
        expect_term(m.ctl, m.ctl_len, &c);
        expect_term(m.payload, m.payload_len, &p);
        cn_dist_msg_free(&m);
        ck_assert_int_eq(rx_x(rx, &f, ctl_end, &m), 1);
        expect_term(m.ctl, m.ctl_len, &c);
        ck_assert_ptr_null(m.payload);
        cn_dist_msg_free(&m);
        /* a 'p' frame on a header connection */
        f.buff[0] = 112;
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        f.buff[0] = (char)131;
        f.buff[1] = 71;
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        /* a 131 before the control term is not allowed after a header */
        ei_x_free(&f);
        frame_start(&f, 68);
        put8(&f, 0);
        put8(&f, 131);
        put(&f, c.buff, (size_t)c.index);
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        ei_x_free(&f);
        ei_x_free(&c);
        ei_x_free(&p);
        cn_rx_free(rx);
    }
}
END_TEST

/* Control {6, Pid@ref0, ref1, ref2} and payload {ref3, ref2, [ref0]} in ref form. */
static void ref_ctl(ei_x_buff *c)
{
    ei_x_new(c);
    ei_x_encode_tuple_header(c, 4);
    ei_x_encode_long(c, 6);
    put8(c, 88);
    ref(c, 0);
    put(c, "\0\0\0\5\0\0\0\0\0\0\0\x4d", 12);
    ref(c, 1);
    ref(c, 2);
}
static void ref_payload(ei_x_buff *p)
{
    ei_x_new(p);
    ei_x_encode_tuple_header(p, 3);
    ref(p, 3);
    ref(p, 2);
    ei_x_encode_list_header(p, 1);
    ref(p, 0);
    ei_x_encode_empty_list(p);
}
static void want_payload(ei_x_buff *p, const char *a3, const char *a2, const char *a0)
{
    ei_x_new(p);
    ei_x_encode_tuple_header(p, 3);
    atom(p, a3);
    atom(p, a2);
    ei_x_encode_list_header(p, 1);
    atom(p, a0);
    ei_x_encode_empty_list(p);
}

START_TEST(cache_new_then_old)
{
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    ei_x_buff c, p, f, wc, wp;
    cn_dist_msg m;
    href r1[4] = {
        {1, 0, 5, "node@host"}, {1, 3, 200, ""}, {1, 7, 255, "λ_name"}, {1, 0, 6, "hello"}};
    ref_ctl(&c);
    ref_payload(&p);
    frame_start(&f, 68);
    put_header(&f, r1, 4, 0);
    put(&f, c.buff, (size_t)c.index);
    put(&f, p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    plain_ctl(&wc, "node@host", "λ_name");
    want_payload(&wp, "hello", "λ_name", "node@host");
    expect_term(m.ctl, m.ctl_len, &wc);
    expect_term(m.payload, m.payload_len, &wp);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    ei_x_free(&wp);

    /* Same slots as old refs, in another order, plus a new one; the cache persists. */
    href r2[4] = {{0, 0, 5, NULL}, {0, 3, 200, NULL}, {0, 7, 255, NULL}, {1, 2, 9, "x"}};
    frame_start(&f, 68);
    put_header(&f, r2, 4, 0);
    put(&f, c.buff, (size_t)c.index);
    put(&f, p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    want_payload(&wp, "x", "λ_name", "node@host");
    expect_term(m.ctl, m.ctl_len, &wc);
    expect_term(m.payload, m.payload_len, &wp);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    ei_x_free(&wp);

    /* Overwrite slot (0,5) and use it as an old ref in the same frame (after the new one),
     * with an old ref to its previous value first: each sees the right text. */
    href r3[4] = {{0, 0, 5, NULL}, {1, 0, 5, "other@host"}, {0, 0, 5, NULL}, {0, 2, 9, NULL}};
    frame_start(&f, 68);
    put_header(&f, r3, 4, 0);
    put(&f, c.buff, (size_t)c.index);
    put(&f, p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    ei_x_free(&wc);
    want_ctl(&wc, "node@host", "other@host", "other@host");
    want_payload(&wp, "x", "other@host", "node@host");
    expect_term(m.ctl, m.ctl_len, &wc);
    expect_term(m.payload, m.payload_len, &wp);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    ei_x_free(&wp);

    /* Later frames see the overwrite. */
    href r4[4] = {{0, 0, 5, NULL}, {0, 0, 5, NULL}, {0, 0, 5, NULL}, {0, 0, 5, NULL}};
    frame_start(&f, 68);
    put_header(&f, r4, 4, 0);
    put(&f, c.buff, (size_t)c.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    ei_x_free(&wc);
    want_ctl(&wc, "other@host", "other@host", "other@host");
    expect_term(m.ctl, m.ctl_len, &wc);
    ck_assert_ptr_null(m.payload);
    cn_dist_msg_free(&m);
    ei_x_free(&f);

    ei_x_free(&wc);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_rx_free(rx);
}
END_TEST

static char long_text[301]; /* 150 x 'é': 300 bytes, 150 characters */

START_TEST(long_atoms)
{
    for (int i = 0; i < 150; i++)
        memcpy(long_text + 2 * i, "\xC3\xA9", 2);
    /* odd and even reference counts put the LongAtoms bit in a high or a low nibble */
    for (int nrefs = 3; nrefs <= 4; nrefs++) {
        cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
        ei_x_buff c, p, f, wc, wp;
        cn_dist_msg m;
        href r[4] = {{1, 1, 1, "n@h"}, {1, 1, 2, ""}, {1, 1, 3, long_text}, {1, 1, 4, "zz"}};
        ref_ctl(&c);
        ei_x_new(&p);
        ei_x_encode_tuple_header(&p, 2);
        ref(&p, 2);
        ref(&p, nrefs - 1);
        frame_start(&f, 68);
        put_header(&f, r, nrefs, 1);
        put(&f, c.buff, (size_t)c.index);
        put(&f, p.buff, (size_t)p.index);
        ck_assert_int_eq(rx_all(rx, &f, &m), 1);
        plain_ctl(&wc, "n@h", long_text);
        ei_x_new(&wp);
        ei_x_encode_tuple_header(&wp, 2);
        atom(&wp, long_text);
        atom(&wp, r[nrefs - 1].text);
        expect_term(m.ctl, m.ctl_len, &wc);
        expect_term(m.payload, m.payload_len, &wp);
        ck_assert_int_eq(m.ctl[1 + 2 + 2 + (1 + 2 + 3 + 12) + 2], 118); /* ATOM_UTF8_EXT */
        cn_dist_msg_free(&m);
        /* without the LongAtoms bit the same bytes do not parse */
        f.buff[2 + 1 + nrefs / 2] ^= (char)(1 << ((nrefs & 1) * 4));
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        ei_x_free(&f);
        ei_x_free(&wc);
        ei_x_free(&wp);
        ei_x_free(&c);
        ei_x_free(&p);
        cn_rx_free(rx);
    }
}
END_TEST

/* Frames with refs are rewritten in one pass when their worst case fits a scratch buffer,
 * else scanned then rewritten: both give the same message, and refuse the same bad frames.
 * Payload: a list of k refs to a 255-byte atom (k = 8: one pass; k = 200: the other). */
START_TEST(refs_both_paths)
{
    static char a255[256];
    memset(a255, 'q', 255);
    href r[2] = {{1, 0, 1, "node@host"}, {1, 0, 2, a255}};
    int ks[] = {8, 200};
    for (int t = 0; t < 2; t++) {
        cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
        int k = ks[t];
        ei_x_buff c, f, wc, wp;
        cn_dist_msg m;
        ei_x_new(&c); /* {6, Pid@node, '', R1} with the node and the name as refs */
        put(&c, "\x68\x04\x61\x06\x58", 5);
        ref(&c, 0);
        put(&c, "\0\0\0\5\0\0\0\0\0\0\0\x4d", 12);
        atom(&c, "");
        ref(&c, 1);
        frame_start(&f, 68);
        put_header(&f, r, 2, 0);
        put(&f, c.buff, (size_t)c.index);
        put8(&f, 108);
        uint8_t n4[4];
        cn_set32(n4, (uint32_t)k);
        put(&f, n4, 4);
        for (int i = 0; i < k; i++)
            ref(&f, 1);
        put8(&f, 106);
        ck_assert_int_eq(rx_all(rx, &f, &m), 1);
        want_ctl(&wc, "node@host", "", a255);
        expect_term(m.ctl, m.ctl_len, &wc);
        ei_x_new(&wp);
        ei_x_encode_list_header(&wp, k);
        for (int i = 0; i < k; i++)
            atom(&wp, a255);
        ei_x_encode_empty_list(&wp);
        expect_term(m.payload, m.payload_len, &wp);
        cn_dist_msg_free(&m);
        /* a byte after the payload; the payload cut short; a ref the header lacks */
        put8(&f, 106);
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        ck_assert_ptr_null(m.storage);
        ck_assert_int_eq(rx_x(rx, &f, (size_t)f.index - 2, &m), -1);
        ck_assert_ptr_null(m.storage);
        f.buff[f.index - 3] = 2;
        ck_assert_int_eq(rx_x(rx, &f, (size_t)f.index - 1, &m), -1);
        ck_assert_ptr_null(m.storage);
        ei_x_free(&c);
        ei_x_free(&f);
        ei_x_free(&wc);
        ei_x_free(&wp);
        cn_rx_free(rx);
    }
}
END_TEST

START_TEST(bad_refs)
{
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    ei_x_buff c, f;
    cn_dist_msg m;
    ref_ctl(&c); /* uses refs 0..2 */
    /* only 2 refs in the header: index 2 is out of range */
    href r2[2] = {{1, 0, 1, "a@b"}, {1, 0, 2, "x"}};
    frame_start(&f, 68);
    put_header(&f, r2, 2, 0);
    put(&f, c.buff, (size_t)c.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_str_eq(err, "malformed control term: bad or truncated item at byte 21 (tag 82)");
    ei_x_free(&f);
    /* the failed frame's new entries were not stored */
    href old[3] = {{0, 0, 1, NULL}, {0, 0, 1, NULL}, {0, 0, 1, NULL}};
    frame_start(&f, 68);
    put_header(&f, old, 3, 0);
    put(&f, c.buff, (size_t)c.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_msg(strstr(err, "empty slot 0/1") != NULL, "%s", err);
    ei_x_free(&f);
    /* atom text: invalid UTF-8, over 1020 bytes, 256 characters */
    char bad[1100];
    const char *texts[3] = {"\xC3", NULL, NULL};
    memset(bad, 'a', sizeof bad - 1);
    bad[sizeof bad - 1] = 0;
    char b256[257];
    memset(b256, 'b', 256);
    b256[256] = 0;
    texts[1] = bad;
    texts[2] = b256;
    for (int i = 0; i < 3; i++) {
        href r[3] = {{1, 0, 1, texts[i]}, {1, 0, 2, "x"}, {1, 0, 3, "y"}};
        frame_start(&f, 68);
        put_header(&f, r, 3, 1);
        put(&f, c.buff, (size_t)c.index);
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        ei_x_free(&f);
    }
    /* a frame with nothing after the header */
    frame_start(&f, 68);
    put_header(&f, r2, 2, 0);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    ei_x_free(&c);
    cn_rx_free(rx);
}
END_TEST

START_TEST(header_truncation)
{
    ei_x_buff c, p, f;
    cn_dist_msg m;
    href r[4] = {
        {1, 0, 5, "node@host"}, {1, 3, 200, ""}, {1, 7, 255, "λ_name"}, {1, 0, 6, "hello"}};
    ref_ctl(&c);
    ref_payload(&p);
    for (int type = 68; type <= 69; type++) {
        frame_start(&f, type);
        if (type == 69) {
            put64(&f, 1234);
            put64(&f, 1);
        }
        put_header(&f, r, 4, type == 69);
        put(&f, c.buff, (size_t)c.index);
        size_t ctl_end = (size_t)f.index;
        put(&f, p.buff, (size_t)p.index);
        for (size_t k = 1; k <= (size_t)f.index; k++) {
            cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
            uint8_t *t = malloc(k); /* exact size: ASan sees any overread */
            memcpy(t, f.buff, k);
            int rc = cn_rx_frame(rx, t, k, &m, err, sizeof err);
            int want = (k == ctl_end || k == (size_t)f.index) ? 1 : -1;
            ck_assert_msg(rc == want, "type %d cut at %zu: %d (%s)", type, k, rc, err);
            if (rc < 0)
                ck_assert(err[0] != 0);
            cn_dist_msg_free(&m);
            free(t);
            cn_rx_free(rx);
        }
        ei_x_free(&f);
    }
    /* continuation header truncated */
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    frame_start(&f, 70);
    put64(&f, 1);
    put64(&f, 1);
    for (size_t k = 1; k < (size_t)f.index; k++)
        ck_assert_int_eq(rx_x(rx, &f, k, &m), -1);
    ei_x_free(&f);
    cn_rx_free(rx);
    ei_x_free(&c);
    ei_x_free(&p);
}
END_TEST

/* First fragment: header + control + payload[0..first); returns frame in f. */
static void frag_first(ei_x_buff *f, uint64_t seq, uint64_t fid, const href *r, int nrefs,
                       const ei_x_buff *c, const uint8_t *pl, size_t first)
{
    frame_start(f, 69);
    put64(f, seq);
    put64(f, fid);
    put_header(f, r, nrefs, 0);
    put(f, c->buff, (size_t)c->index);
    if (first)
        put(f, pl, first);
}
static void frag_next(ei_x_buff *f, uint64_t seq, uint64_t fid, const uint8_t *pl, size_t n)
{
    frame_start(f, 70);
    put64(f, seq);
    put64(f, fid);
    if (n)
        put(f, pl, n);
}

static int send_frags_direct(cn_rx *rx, uint64_t seq, int nfrag, const href *r, int nrefs,
                             const ei_x_buff *c, const ei_x_buff *p, size_t have, size_t piece,
                             cn_dist_msg *m);

/* Send payload p of sequence seq in nfrag fragments (cut points spread evenly), returns
 * the rx result of the last one. */
static int send_frags(cn_rx *rx, uint64_t seq, int nfrag, const href *r, int nrefs,
                      const ei_x_buff *c, const ei_x_buff *p, cn_dist_msg *m)
{
    return send_frags_direct(rx, seq, nfrag, r, nrefs, c, p, 0, 0, m);
}

START_TEST(fragments_in_order)
{
    href r[4] = {
        {1, 0, 5, "node@host"}, {1, 3, 200, ""}, {1, 7, 255, "λ_name"}, {1, 0, 6, "hello"}};
    ei_x_buff c, p, wc, wp;
    cn_dist_msg m;
    ref_ctl(&c);
    ref_payload(&p);
    plain_ctl(&wc, "node@host", "λ_name");
    want_payload(&wp, "hello", "λ_name", "node@host");
    /* every fragment count from 1 to one byte per fragment (cuts inside cache refs too) */
    for (int nfrag = 1; nfrag <= p.index; nfrag++) {
        cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
        ck_assert_int_eq(send_frags(rx, 42, nfrag, r, 4, &c, &p, &m), 1);
        expect_term(m.ctl, m.ctl_len, &wc);
        expect_term(m.payload, m.payload_len, &wp);
        cn_dist_msg_free(&m);
        ck_assert_int_eq(cn_rx_pending_seqs(rx), 0);
        /* the start fragment's new entries went to the cache */
        href old[4] = {{0, 0, 5, NULL}, {0, 3, 200, NULL}, {0, 7, 255, NULL}, {0, 0, 6, NULL}};
        ck_assert_int_eq(send_frags(rx, 42, 2, old, 4, &c, &p, &m), 1);
        expect_term(m.payload, m.payload_len, &wp);
        cn_dist_msg_free(&m);
        cn_rx_free(rx);
    }
    ei_x_free(&c);
    ei_x_free(&p);
    ei_x_free(&wc);
    ei_x_free(&wp);
}
END_TEST

START_TEST(fragments_keep_their_refs)
{
    /* The cache slot used by a sequence is overwritten by another frame meanwhile. */
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    href r[4] = {
        {1, 0, 5, "node@host"}, {1, 3, 200, ""}, {1, 7, 255, "λ_name"}, {1, 0, 6, "hello"}};
    ei_x_buff c, p, f, wp;
    cn_dist_msg m;
    ref_ctl(&c);
    ref_payload(&p);
    frag_first(&f, 9, 2, r, 4, &c, (const uint8_t *)p.buff, 3);
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    href o[4] = {{1, 0, 5, "zzz@host"}, {1, 3, 200, "q"}, {1, 7, 255, "q"}, {1, 0, 6, "q"}};
    frame_start(&f, 68);
    put_header(&f, o, 4, 0);
    put(&f, c.buff, (size_t)c.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    frag_next(&f, 9, 1, (const uint8_t *)p.buff + 3, (size_t)p.index - 3);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    want_payload(&wp, "hello", "λ_name", "node@host");
    expect_term(m.payload, m.payload_len, &wp);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    ei_x_free(&wp);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_rx_free(rx);
}
END_TEST

START_TEST(fragments_interleaved)
{
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    ei_x_buff c, pa, pb, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    ei_x_new(&pa);
    ei_x_encode_binary(&pa, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 30);
    ei_x_new(&pb);
    ei_x_encode_string(&pb, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    const uint8_t *a = (const uint8_t *)pa.buff, *b = (const uint8_t *)pb.buff;
    /* A: 3 fragments (seq 1), B: 2 fragments (seq 2): A3 B2 A2 B1 A1 */
    frag_first(&f, 1, 3, NULL, 0, &c, a, 10);
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    frag_first(&f, 2, 2, NULL, 0, &c, b, 0); /* no payload bytes in the first fragment */
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    ck_assert_int_eq(cn_rx_pending_seqs(rx), 2);
    frag_next(&f, 1, 2, a + 10, 10);
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    frag_next(&f, 2, 1, b, (size_t)pb.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    expect_term(m.ctl, m.ctl_len, &c);
    expect_term(m.payload, m.payload_len, &pb);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    frag_next(&f, 1, 1, a + 20, (size_t)pa.index - 20);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    expect_term(m.ctl, m.ctl_len, &c);
    expect_term(m.payload, m.payload_len, &pa);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    ck_assert_int_eq(cn_rx_pending_seqs(rx), 0);
    /* a sequence id can be reused once finished */
    ck_assert_int_eq(send_frags(rx, 1, 3, NULL, 0, &c, &pa, &m), 1);
    cn_dist_msg_free(&m);
    ei_x_free(&c);
    ei_x_free(&pa);
    ei_x_free(&pb);
    cn_rx_free(rx);
}
END_TEST

START_TEST(fragment_single)
{
    /* A 69 with FragmentId 1 is a whole message, payload optional. */
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    ei_x_buff c, p, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    plain_payload(&p);
    frag_first(&f, 5, 1, NULL, 0, &c, (const uint8_t *)p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    expect_term(m.ctl, m.ctl_len, &c);
    expect_term(m.payload, m.payload_len, &p);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    frag_first(&f, 5, 1, NULL, 0, &c, NULL, 0);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    ck_assert_ptr_null(m.payload);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    ck_assert_int_eq(cn_rx_pending_seqs(rx), 0);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_rx_free(rx);
}
END_TEST

static cn_rx *rx_with_seq(uint64_t seq, uint64_t fid, const ei_x_buff *c, size_t max)
{
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, max);
    ei_x_buff f;
    cn_dist_msg m;
    frag_first(&f, seq, fid, NULL, 0, c, (const uint8_t *)"\x6d\0\0\0\x10", 5);
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    return rx;
}

START_TEST(fragment_errors)
{
    ei_x_buff c, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    static const uint8_t bytes[64] = {0};

    /* continuation of an unknown sequence */
    cn_rx *rx = rx_with_seq(1, 3, &c, MAXMSG);
    frag_next(&f, 2, 2, bytes, 4);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_msg(strstr(err, "unknown sequence") != NULL, "%s", err);
    ei_x_free(&f);
    cn_rx_free(rx);

    /* wrong next FragmentId: skipped, repeated, 0 */
    uint64_t wrong[] = {1, 3, 4, 0};
    for (int i = 0; i < 4; i++) {
        rx = rx_with_seq(1, 3, &c, MAXMSG);
        frag_next(&f, 1, wrong[i], bytes, 4);
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        ei_x_free(&f);
        cn_rx_free(rx);
    }

    /* FragmentId 0 in a start */
    rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    frag_first(&f, 1, 0, NULL, 0, &c, bytes, 0);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    cn_rx_free(rx);

    /* duplicate start of an active sequence (also as a single fragment) */
    for (uint64_t fid = 1; fid <= 2; fid++) {
        rx = rx_with_seq(7, 3, &c, MAXMSG);
        frag_first(&f, 7, fid, NULL, 0, &c, bytes, 0);
        ck_assert_int_eq(rx_all(rx, &f, &m), -1);
        ck_assert_msg(strstr(err, "active sequence") != NULL, "%s", err);
        ei_x_free(&f);
        cn_rx_free(rx);
    }

    /* too many sequences */
    rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    for (int i = 0; i < CN_RX_MAX_SEQS; i++) {
        frag_first(&f, (uint64_t)i, 2, NULL, 0, &c, bytes, 0);
        ck_assert_int_eq(rx_all(rx, &f, &m), 0);
        ei_x_free(&f);
    }
    frag_first(&f, 1000, 2, NULL, 0, &c, bytes, 0);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_msg(strstr(err, "in progress") != NULL, "%s", err);
    ei_x_free(&f);
    /* a single-fragment message still fits while the table is full */
    frag_first(&f, 1000, 1, NULL, 0, &c, NULL, 0);
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    cn_rx_free(rx); /* frees the 64 open sequences */

    /* reassembly over max_message */
    rx = rx_with_seq(1, 100, &c, 200);
    int rc = 0;
    for (uint64_t fid = 99; fid > 0 && rc == 0; fid--) {
        frag_next(&f, 1, fid, bytes, 40);
        rc = rx_all(rx, &f, &m);
        ei_x_free(&f);
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, "larger than 200") != NULL, "%s", err);
    cn_rx_free(rx);

    /* the payload does not scan once complete */
    rx = rx_with_seq(1, 2, &c, MAXMSG);
    frag_next(&f, 1, 1, bytes, 3); /* binary of 16 bytes, only 3 there */
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    cn_rx_free(rx);

    /* a first fragment whose control term is cut */
    rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    frame_start(&f, 69);
    put64(&f, 1);
    put64(&f, 2);
    put8(&f, 0);
    put(&f, c.buff, (size_t)c.index - 1);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    cn_rx_free(rx);
    ei_x_free(&c);
}
END_TEST

/* Give frame f to rx the way conn_read does for a continuation: its first `have` bytes to
 * cn_rx_direct_begin, then (if taken) the rest written in pieces of `piece` bytes at
 * cn_rx_direct_space; a frame not taken goes to cn_rx_frame. Returns the rx result. */
static int rx_direct(cn_rx *rx, const ei_x_buff *f, size_t have, size_t piece, cn_dist_msg *m)
{
    const uint8_t *b = (const uint8_t *)f->buff;
    size_t flen = (size_t)f->index;
    if (have >= flen)
        have = flen - 1;
    memset(m, 0, sizeof *m);
    int rc = cn_rx_direct_begin(rx, b, have, flen, err, sizeof err);
    if (rc <= 0)
        return rc < 0 ? rc : cn_rx_frame(rx, b, flen, m, err, sizeof err);
    ck_assert(cn_rx_direct_pending(rx));
    size_t at = have;
    while (at < flen) {
        size_t left;
        uint8_t *dst = cn_rx_direct_space(rx, &left);
        ck_assert_ptr_nonnull(dst);
        ck_assert_uint_eq(left, flen - at);
        size_t k = piece && piece < left ? piece : left;
        memcpy(dst, b + at, k);
        at += k;
        rc = cn_rx_direct_commit(rx, k, m, err, sizeof err);
        if (at < flen)
            ck_assert_int_eq(rc, 0);
    }
    ck_assert(!cn_rx_direct_pending(rx));
    return rc;
}

/* send_frags with every continuation read directly (rx_direct: have bytes with the header,
 * the rest in pieces), or through the framer like the start fragment when have is 0. */
static int send_frags_direct(cn_rx *rx, uint64_t seq, int nfrag, const href *r, int nrefs,
                             const ei_x_buff *c, const ei_x_buff *p, size_t have, size_t piece,
                             cn_dist_msg *m)
{
    size_t n = (size_t)p->index, at = 0;
    const uint8_t *pl = (const uint8_t *)p->buff;
    int rc = -1;
    for (int i = 0; i < nfrag; i++) {
        size_t end = n * (size_t)(i + 1) / (size_t)nfrag;
        ei_x_buff f;
        if (i == 0)
            frag_first(&f, seq, (uint64_t)nfrag, r, nrefs, c, pl, end);
        else
            frag_next(&f, seq, (uint64_t)(nfrag - i), pl + at, end - at);
        rc = i == 0 || have == 0 ? rx_all(rx, &f, m) : rx_direct(rx, &f, have, piece, m);
        ei_x_free(&f);
        if (i < nfrag - 1)
            ck_assert_int_eq(rc, 0);
        at = end;
    }
    return rc;
}

START_TEST(direct_reads)
{
    href r[4] = {
        {1, 0, 5, "node@host"}, {1, 3, 200, ""}, {1, 7, 255, "λ_name"}, {1, 0, 6, "hello"}};
    ei_x_buff c, p, wc, wp;
    cn_dist_msg m;
    ref_ctl(&c);
    ref_payload(&p);
    plain_ctl(&wc, "node@host", "λ_name");
    want_payload(&wp, "hello", "λ_name", "node@host");
    /* every fragment count; the header alone, or more, given first; the rest in pieces of
     * 1, 3 bytes or at once. Cache refs in the payload are cut across fragments too. */
    static const size_t haves[] = {CN_RX_CONT_HDR, CN_RX_CONT_HDR + 1, CN_RX_CONT_HDR + 5};
    for (int nfrag = 2; nfrag <= p.index; nfrag++)
        for (size_t h = 0; h < sizeof haves / sizeof haves[0]; h++)
            for (size_t piece = 0; piece <= 3; piece += 1 + (piece == 1)) {
                cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
                ck_assert_int_eq(
                    send_frags_direct(rx, 42, nfrag, r, 4, &c, &p, haves[h], piece, &m), 1);
                expect_term(m.ctl, m.ctl_len, &wc);
                expect_term(m.payload, m.payload_len, &wp);
                cn_dist_msg_free(&m);
                ck_assert_int_eq(cn_rx_pending_seqs(rx), 0);
                /* plain frames work as before afterwards */
                href old[4] = {
                    {0, 0, 5, NULL}, {0, 3, 200, NULL}, {0, 7, 255, NULL}, {0, 0, 6, NULL}};
                ck_assert_int_eq(send_frags(rx, 42, 3, old, 4, &c, &p, &m), 1);
                expect_term(m.payload, m.payload_len, &wp);
                cn_dist_msg_free(&m);
                cn_rx_free(rx);
            }
    ei_x_free(&c);
    ei_x_free(&p);
    ei_x_free(&wc);
    ei_x_free(&wp);
}
END_TEST

START_TEST(direct_not_taken)
{
    ei_x_buff c, p, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    plain_payload(&p);
    const uint8_t *pl = (const uint8_t *)p.buff;
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    /* a start fragment, a whole message: not continuations */
    frag_first(&f, 3, 2, NULL, 0, &c, pl, 4);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f.buff, (size_t)f.index - 1,
                                        (size_t)f.index, err, sizeof err),
                     0);
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    frame_start(&f, 68);
    put8(&f, 0);
    put(&f, c.buff, (size_t)c.index);
    ck_assert_int_eq(
        cn_rx_direct_begin(rx, (const uint8_t *)f.buff, 30, (size_t)f.index, err, sizeof err), 0);
    ei_x_free(&f);
    /* a continuation whose header is not all there yet, or that is already complete */
    frag_next(&f, 3, 1, pl + 4, (size_t)p.index - 4);
    const uint8_t *b = (const uint8_t *)f.buff;
    for (size_t have = 0; have < CN_RX_CONT_HDR; have++)
        ck_assert_int_eq(cn_rx_direct_begin(rx, b, have, (size_t)f.index, err, sizeof err), 0);
    ck_assert_int_eq(cn_rx_direct_begin(rx, b, (size_t)f.index, (size_t)f.index, err, sizeof err),
                     0);
    ck_assert(!cn_rx_direct_pending(rx));
    size_t left = 99;
    ck_assert_ptr_null(cn_rx_direct_space(rx, &left));
    ck_assert_uint_eq(left, 0);
    ck_assert_int_eq(cn_rx_direct_commit(rx, 0, &m, err, sizeof err), 0);
    ck_assert_int_eq(cn_rx_direct_commit(rx, 1, &m, err, sizeof err), -1);
    /* none of that changed the sequence: the continuation completes it */
    ck_assert_int_eq(rx_all(rx, &f, &m), 1);
    expect_term(m.payload, m.payload_len, &p);
    cn_dist_msg_free(&m);
    ei_x_free(&f);
    cn_rx_free(rx);
    /* without distribution headers ('p' frames) nothing is taken */
    rx = cn_rx_new(0, MAXMSG);
    frag_next(&f, 3, 1, pl, (size_t)p.index);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f.buff, CN_RX_CONT_HDR,
                                        (size_t)f.index, err, sizeof err),
                     0);
    ei_x_free(&f);
    cn_rx_free(rx);
    ei_x_free(&c);
    ei_x_free(&p);
}
END_TEST

START_TEST(direct_errors)
{
    ei_x_buff c, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    static const uint8_t bytes[256] = {0};

    /* unknown sequence; wrong FragmentIds (skipped, repeated, 0) */
    cn_rx *rx = rx_with_seq(1, 3, &c, MAXMSG);
    frag_next(&f, 2, 2, bytes, 40);
    ck_assert_int_eq(rx_direct(rx, &f, CN_RX_CONT_HDR, 0, &m), -1);
    ck_assert_msg(strstr(err, "unknown sequence") != NULL, "%s", err);
    ck_assert(!cn_rx_direct_pending(rx));
    ei_x_free(&f);
    cn_rx_free(rx);
    uint64_t wrong[] = {1, 3, 4, 0};
    for (int i = 0; i < 4; i++) {
        rx = rx_with_seq(1, 3, &c, MAXMSG);
        frag_next(&f, 1, wrong[i], bytes, 40);
        ck_assert_int_eq(rx_direct(rx, &f, CN_RX_CONT_HDR + 3, 0, &m), -1);
        ck_assert(err[0] != 0);
        ei_x_free(&f);
        cn_rx_free(rx);
    }

    /* a continuation announced longer than max_message allows is refused from its header,
     * before any of its body is read; so is one that takes the message past it */
    rx = rx_with_seq(1, 3, &c, 200);
    frag_next(&f, 1, 2, bytes, 0);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f.buff, CN_RX_CONT_HDR,
                                        CN_RX_CONT_HDR + 1000, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "larger than 200") != NULL, "%s", err);
    ck_assert(!cn_rx_direct_pending(rx));
    ei_x_free(&f);
    frag_next(&f, 1, 2, bytes, 100);
    ck_assert_int_eq(rx_direct(rx, &f, CN_RX_CONT_HDR, 7, &m), 0);
    ei_x_free(&f);
    frag_next(&f, 1, 1, bytes, 100);
    ck_assert_int_eq(rx_direct(rx, &f, CN_RX_CONT_HDR, 7, &m), -1);
    ck_assert_msg(strstr(err, "larger than 200") != NULL, "%s", err);
    ei_x_free(&f);
    cn_rx_free(rx);

    /* while a body is being read: no second one, no other frame; the body still completes */
    rx = rx_with_seq(1, 3, &c, MAXMSG);
    ei_x_buff f2;
    frag_next(&f, 1, 2, bytes, 40);
    frag_next(&f2, 1, 2, bytes, 40);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f.buff, CN_RX_CONT_HDR + 2,
                                        (size_t)f.index, err, sizeof err),
                     1);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f2.buff, CN_RX_CONT_HDR,
                                        (size_t)f2.index, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "already") != NULL, "%s", err);
    ck_assert_int_eq(rx_all(rx, &f2, &m), -1);
    ck_assert_msg(strstr(err, "middle") != NULL, "%s", err);
    ck_assert_int_eq(rx_x(rx, &f2, 0, &m), -1); /* not even a tick */
    size_t left;
    uint8_t *dst = cn_rx_direct_space(rx, &left);
    ck_assert_uint_eq(left, (size_t)f.index - CN_RX_CONT_HDR - 2);
    memcpy(dst, f.buff + CN_RX_CONT_HDR + 2, left);
    ck_assert_int_eq(cn_rx_direct_commit(rx, left, &m, err, sizeof err), 0);
    ck_assert_int_eq(cn_rx_pending_seqs(rx), 1);
    ei_x_free(&f);
    ei_x_free(&f2);
    /* the payload does not scan once complete: binary of 16 bytes, 3 there */
    frag_next(&f, 1, 1, bytes, 3);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f.buff, CN_RX_CONT_HDR,
                                        (size_t)f.index, err, sizeof err),
                     1);
    dst = cn_rx_direct_space(rx, &left);
    memcpy(dst, f.buff + CN_RX_CONT_HDR, left);
    ck_assert_int_eq(cn_rx_direct_commit(rx, left + 5, &m, err, sizeof err), -1);
    ck_assert(!cn_rx_direct_pending(rx));
    ei_x_free(&f);
    cn_rx_free(rx);

    /* abandoned halfway: a body half read when the connection goes (nothing leaks, ASan) */
    rx = rx_with_seq(1, 3, &c, MAXMSG);
    frag_next(&f, 1, 2, bytes, 200);
    ck_assert_int_eq(cn_rx_direct_begin(rx, (const uint8_t *)f.buff, CN_RX_CONT_HDR,
                                        (size_t)f.index, err, sizeof err),
                     1);
    dst = cn_rx_direct_space(rx, &left);
    memcpy(dst, bytes, 100);
    ck_assert_int_eq(cn_rx_direct_commit(rx, 100, &m, err, sizeof err), 0);
    ck_assert(cn_rx_direct_pending(rx));
    cn_rx_free(rx);
    ei_x_free(&f);
    ei_x_free(&c);
}
END_TEST

START_TEST(direct_abandoned_sequence)
{
    /* A sequence left halfway (its sender gone quiet) does not stop other messages, direct
     * or not, and goes with the rx. */
    ei_x_buff c, pa, pb, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    ei_x_new(&pa);
    ei_x_new(&pb);
    uint8_t blob[3000];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 7);
    ei_x_encode_binary(&pa, blob, sizeof blob);
    ei_x_encode_binary(&pb, blob + 1, sizeof blob - 1);
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, MAXMSG);
    const uint8_t *a = (const uint8_t *)pa.buff;
    frag_first(&f, 10, 5, NULL, 0, &c, a, 100);
    ck_assert_int_eq(rx_all(rx, &f, &m), 0);
    ei_x_free(&f);
    frag_next(&f, 10, 4, a + 100, 1000);
    ck_assert_int_eq(rx_direct(rx, &f, CN_RX_CONT_HDR, 0, &m), 0);
    ei_x_free(&f);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(send_frags_direct(rx, 11, 4, NULL, 0, &c, &pb, CN_RX_CONT_HDR + 1, 0, &m),
                         1);
        expect_term(m.payload, m.payload_len, &pb);
        cn_dist_msg_free(&m);
    }
    ck_assert_int_eq(cn_rx_pending_seqs(rx), 1);
    cn_rx_free(rx);
    ei_x_free(&c);
    ei_x_free(&pa);
    ei_x_free(&pb);
}
END_TEST
START_TEST(max_message)
{
    ei_x_buff c, p, f;
    cn_dist_msg m;
    plain_ctl(&c, "a@b", "srv");
    ei_x_new(&p);
    char blob[300] = {0};
    ei_x_encode_binary(&p, blob, sizeof blob);
    /* single frames: 'p' and header */
    cn_rx *rx = cn_rx_new(0, 300);
    ei_x_new(&f);
    put(&f, "\x70\x83", 2);
    put(&f, c.buff, (size_t)c.index);
    put8(&f, 131);
    put(&f, p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    cn_rx_free(rx);
    rx = cn_rx_new(HDR_FLAGS, 300);
    frame_start(&f, 68);
    put8(&f, 0);
    put(&f, c.buff, (size_t)c.index);
    put(&f, p.buff, (size_t)p.index);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ei_x_free(&f);
    cn_rx_free(rx);
    /* cache-ref expansion is bounded too: 100 refs to a 255-byte atom */
    char a255[256];
    memset(a255, 'a', 255);
    a255[255] = 0;
    href r[1] = {{1, 0, 0, a255}};
    rx = cn_rx_new(HDR_FLAGS, 4096);
    frame_start(&f, 68);
    put_header(&f, r, 1, 0);
    put(&f, c.buff, (size_t)c.index);
    ei_x_encode_list_header(&f, 100);
    for (int i = 0; i < 100; i++)
        ref(&f, 0);
    ei_x_encode_empty_list(&f);
    ck_assert_int_lt(f.index, 4096);
    ck_assert_int_eq(rx_all(rx, &f, &m), -1);
    ck_assert_msg(strstr(err, "larger than") != NULL, "%s", err);
    ei_x_free(&f);
    cn_rx_free(rx);
    ei_x_free(&c);
    ei_x_free(&p);
}
END_TEST

START_TEST(big_message)
{
    /* 64 MiB of payload in 1024 fragments of 64 KiB, with a cache ref in the control. */
    const size_t total = (size_t)64 << 20, chunk = (size_t)64 << 10;
    const size_t nfrag = total / chunk;
    uint8_t *pl = malloc(total);
    pl[0] = 109;
    cn_set32(pl + 1, (uint32_t)(total - 5));
    for (size_t i = 5; i < total; i++)
        pl[i] = (uint8_t)(i * 31 + (i >> 12));
    href r[3] = {{1, 0, 1, "big@host"}, {1, 0, 2, ""}, {1, 0, 3, "sink"}};
    ei_x_buff c, wc;
    ref_ctl(&c);
    plain_ctl(&wc, "big@host", "sink");
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | HDR_FLAGS, total + 4096);
    cn_dist_msg m;
    clock_t t0 = clock();
    int rc = -1;
    for (size_t i = 0; i < nfrag; i++) {
        ei_x_buff f;
        if (i == 0)
            frag_first(&f, 77, nfrag, r, 3, &c, pl, chunk);
        else
            frag_next(&f, 77, nfrag - i, pl + i * chunk, chunk);
        rc = rx_all(rx, &f, &m);
        ei_x_free(&f);
        if (i + 1 < nfrag)
            ck_assert_int_eq(rc, 0);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ck_assert_int_eq(rc, 1);
    expect_term(m.ctl, m.ctl_len, &wc);
    ck_assert_uint_eq(m.payload_len, total + 1);
    ck_assert_int_eq(m.payload[0], 131);
    ck_assert(memcmp(m.payload + 1, pl, total) == 0);
    cn_dist_msg_free(&m);
    ck_assert_msg(secs < 10, "reassembly took %.2f s", secs);
    cn_rx_free(rx);
    ei_x_free(&c);
    ei_x_free(&wc);
    free(pl);
}
END_TEST

int main(void)
{
    ei_init();
    Suite *s = suite_create("rx");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pass_through);
    tcase_add_test(tc, header_no_refs);
    tcase_add_test(tc, cache_new_then_old);
    tcase_add_test(tc, long_atoms);
    tcase_add_test(tc, refs_both_paths);
    tcase_add_test(tc, bad_refs);
    tcase_add_test(tc, header_truncation);
    tcase_add_test(tc, fragments_in_order);
    tcase_add_test(tc, fragments_keep_their_refs);
    tcase_add_test(tc, fragments_interleaved);
    tcase_add_test(tc, fragment_single);
    tcase_add_test(tc, fragment_errors);
    tcase_add_test(tc, direct_reads);
    tcase_add_test(tc, direct_not_taken);
    tcase_add_test(tc, direct_errors);
    tcase_add_test(tc, direct_abandoned_sequence);
    tcase_add_test(tc, max_message);
    tcase_add_test(tc, big_message);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

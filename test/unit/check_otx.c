/* check_otx: unit tests for the send side of a connection (dist/otx.c): frame prefixes, the
 * atom cache (checked against our own receive decoder, which keeps the peer's copy of the
 * cache), fragmentation, and terms the rewriter does not understand. */
#include "dist/flags.h"
#include "dist/otx.h"
#include "dist/rx.h"
#include "util/buf.h"

#include <check.h>
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

#define CACHE (DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS)

static char err[256];

static void atom(ei_x_buff *x, const char *a)
{
    ck_assert_int_eq(ei_x_encode_atom_len_as(x, a, (int)strlen(a), ERLANG_UTF8, ERLANG_UTF8), 0);
}

static void pid_on(ei_x_buff *x, const char *node, unsigned num)
{
    erlang_pid p = {.num = num, .serial = 0, .creation = 77};
    strcpy(p.node, node);
    ck_assert_int_eq(ei_x_encode_pid(x, &p), 0);
}

/* {22, From@a, To@b}: a SEND_SENDER control term. */
static void send_ctl(ei_x_buff *x, const char *a, const char *b)
{
    ei_x_new(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_long(x, 22);
    pid_on(x, a, 1);
    pid_on(x, b, 2);
}

/* A queued frame as out.c makes it: copies of ctl (plus head, the payload's first bytes) and
 * of the rest of the payload (pl NULL: none). */
static cn_oframe *mkframe(const ei_x_buff *ctl, const char *head, size_t head_len, const char *pl,
                          size_t pl_len, int has_pl)
{
    cn_oframe *f = calloc(1, sizeof *f);
    f->ctl = malloc((size_t)ctl->index + head_len + 1); /* + the spare byte */
    memcpy(f->ctl, ctl->buff, (size_t)ctl->index);
    if (head_len)
        memcpy(f->ctl + ctl->index, head, head_len);
    f->ctl_len = (size_t)ctl->index + head_len;
    f->pl_head = head_len;
    if (has_pl) {
        f->pl = malloc(pl_len ? pl_len : 1);
        if (pl_len)
            memcpy(f->pl, pl, pl_len);
        f->pl_len = pl_len;
    }
    return f;
}

/* As conn.c frees frames. */
static void frames_free(cn_oframe *f)
{
    while (f) {
        cn_oframe *n = f->next;
        free(f->ctl);
        if (!f->pl_borrowed)
            free(f->pl);
        free(f->pl_base);
        free(f);
        f = n;
    }
}

/* The bytes of one wire frame after its 4-byte length, checking the length. */
static uint8_t *body_of(const cn_oframe *f, size_t *len)
{
    size_t n = (size_t)f->npre - 4 + f->ctl_len + (f->mid ? 1 : 0) + f->pl_len;
    ck_assert_int_ge(f->npre, 4);
    ck_assert_uint_eq(cn_get32(f->pre), n);
    uint8_t *b = malloc(n ? n : 1), *o = b;
    memcpy(o, f->pre + 4, (size_t)f->npre - 4);
    o += f->npre - 4;
    memcpy(o, f->ctl, f->ctl_len);
    o += f->ctl_len;
    if (f->mid)
        *o++ = f->mid;
    if (f->pl_len)
        memcpy(o, f->pl, f->pl_len);
    *len = n;
    return b;
}

/* Feed every frame of the list to rx; the last must complete a message, the others not.
 * Returns the number of frames. */
static int deliver(cn_rx *rx, const cn_oframe *first, cn_dist_msg *m)
{
    int n = 0;
    for (const cn_oframe *f = first; f; f = f->next, n++) {
        size_t len;
        uint8_t *b = body_of(f, &len);
        int r = cn_rx_frame(rx, b, len, m, err, sizeof err);
        free(b);
        ck_assert_msg(r == (f->next ? 0 : 1), "frame %d: rx says %d (%s)", n, r, err);
    }
    return n;
}

static void expect(const uint8_t *got, size_t got_len, const char *want, size_t want_len)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got_len, want_len + 1);
    ck_assert_int_eq(got[0], 131);
    ck_assert_mem_eq(got + 1, want, want_len);
}

/* What rx should give back for the control term when it is not ctl itself (a cached
 * Latin-1 atom comes back in UTF-8 form). */
static const ei_x_buff *want_ctl;

/* Send (ctl, head+pl) through otx under flags and check rx gives back exactly those terms.
 * Returns the wire size of the frames. */
static size_t roundtrip(cn_otx *t, cn_rx *rx, uint64_t flags, const ei_x_buff *ctl,
                        const ei_x_buff *pl, size_t head_len, int *nframes)
{
    const char *head = pl ? pl->buff : NULL;
    cn_oframe *f = mkframe(ctl, head, pl ? head_len : 0, pl ? pl->buff + head_len : NULL,
                           pl ? (size_t)pl->index - head_len : 0, pl != NULL);
    cn_oframe *last = NULL;
    cn_oframe *first = cn_otx_frame(t, flags, f, &last);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(last->next);
    size_t wire = 0;
    for (cn_oframe *g = first; g; g = g->next)
        wire += 4 + ((size_t)cn_get32(g->pre));
    cn_dist_msg m;
    int n = deliver(rx, first, &m);
    if (nframes)
        *nframes = n;
    const ei_x_buff *w = want_ctl ? want_ctl : ctl;
    expect(m.ctl, m.ctl_len, w->buff, (size_t)w->index);
    if (pl)
        expect(m.payload, m.payload_len, pl->buff, (size_t)pl->index);
    else
        ck_assert_ptr_null(m.payload);
    cn_dist_msg_free(&m);
    frames_free(first);
    return wire;
}

/* A reply payload {[alias | Ref], Body}; *head_len: the bytes before Body. */
static void reply_pl(ei_x_buff *x, const char *node, const char *body, int *head_len)
{
    ei_x_new(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_list_header(x, 1);
    atom(x, "alias");
    erlang_ref r = {.len = 3, .n = {1, 2, 3}, .creation = 9};
    strcpy(r.node, node);
    ei_x_encode_ref(x, &r);
    *head_len = x->index;
    ei_x_encode_binary(x, body, (long)strlen(body));
}

START_TEST(p_frames)
{
    /* neither flag: 112, 131, Ctl, 131, Payload; a payload head moves behind its own 131 */
    cn_rx *rx = cn_rx_new(0, 0);
    cn_otx *t = cn_otx_new(0);
    ei_x_buff c, p;
    send_ctl(&c, "a@h", "b@h");
    int hl;
    reply_pl(&p, "b@h", "hello", &hl);
    roundtrip(t, rx, 0, &c, &p, 0, NULL);
    roundtrip(t, rx, 0, &c, &p, (size_t)hl, NULL);
    roundtrip(t, rx, 0, &c, &p, (size_t)p.index, NULL); /* the whole payload in the head */
    roundtrip(t, rx, 0, &c, NULL, 0, NULL);
    ck_assert_uint_eq(cn_otx_cached_bytes(t), 0); /* no cache in 'p' frames */
    /* and with no otx at all (out of memory when the connection came up) */
    roundtrip(NULL, rx, 0, &c, &p, (size_t)hl, NULL);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

START_TEST(plain_header_without_cache_flag)
{
    cn_rx *rx = cn_rx_new(DFLAG_FRAGMENTS, 0);
    cn_otx *t = cn_otx_new(0);
    ei_x_buff c, p;
    send_ctl(&c, "a@h", "b@h");
    int hl;
    reply_pl(&p, "b@h", "x", &hl);
    cn_oframe *f = mkframe(&c, p.buff, (size_t)hl, p.buff + hl, (size_t)(p.index - hl), 1), *last;
    cn_oframe *g = cn_otx_frame(t, DFLAG_FRAGMENTS, f, &last);
    ck_assert_ptr_eq(g, last);
    ck_assert_int_eq(g->npre, 7);
    ck_assert_mem_eq(g->pre + 4, "\x83\x44\x00", 3);
    frames_free(g);
    roundtrip(t, rx, DFLAG_FRAGMENTS, &c, &p, (size_t)hl, NULL);
    ck_assert_uint_eq(cn_otx_cached_bytes(t), 0);
    roundtrip(NULL, rx, CACHE, &c, &p, (size_t)hl, NULL); /* no otx: 131,68,0 */
    ei_x_free(&c);
    ei_x_free(&p);
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

START_TEST(cache_entries_persist)
{
    cn_rx *rx = cn_rx_new(CACHE, 0);
    cn_otx *t = cn_otx_new(0);
    ei_x_buff c, p;
    send_ctl(&c, "cnode_with_a_long_name@somehost", "driver_with_a_long_name@somehost");
    int hl;
    reply_pl(&p, "driver_with_a_long_name@somehost", "body", &hl);
    size_t plain = 4 + 3 + (size_t)c.index + (size_t)p.index;
    size_t first = roundtrip(t, rx, CACHE, &c, &p, (size_t)hl, NULL);
    size_t second = roundtrip(t, rx, CACHE, &c, &p, (size_t)hl, NULL);
    /* the first frame names the atoms once (the driver's node is in 3 places), the next ones
     * only refer to them */
    ck_assert_uint_lt(first, plain);
    ck_assert_uint_lt(second + 60, first);
    ck_assert_uint_eq(roundtrip(t, rx, CACHE, &c, &p, (size_t)hl, NULL), second);
    ck_assert_uint_eq(cn_otx_cached_bytes(t), strlen("cnode_with_a_long_name@somehost") +
                                                  strlen("driver_with_a_long_name@somehost") +
                                                  strlen("alias"));
    /* a control message alone, and a payload that is all head */
    roundtrip(t, rx, CACHE, &c, NULL, 0, NULL);
    roundtrip(t, rx, CACHE, &c, &p, (size_t)p.index, NULL);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

START_TEST(many_atoms_and_collisions)
{
    /* 6000 distinct atoms over 2048 slots, 300 per frame (more than the 255 references a
     * frame may carry): slots are overwritten and shared within frames; the receiver's
     * copy of the cache must agree with ours at every frame */
    cn_rx *rx = cn_rx_new(CACHE, 0);
    cn_otx *t = cn_otx_new(0);
    for (int round = 0; round < 2; round++)
        for (int base = 0; base < 6000; base += 300) {
            ei_x_buff c;
            ei_x_new(&c);
            ei_x_encode_tuple_header(&c, 2);
            ei_x_encode_long(&c, 22);
            ei_x_encode_list_header(&c, 600);
            for (int i = 0; i < 600; i++) { /* each atom twice: one reference serves both */
                char a[32];
                snprintf(a, sizeof a, "atom_%d", base + i / 2);
                atom(&c, a);
            }
            ei_x_encode_empty_list(&c);
            roundtrip(t, rx, CACHE, &c, NULL, 0, NULL);
            ei_x_free(&c);
        }
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

START_TEST(atoms_that_stay_plain)
{
    cn_rx *rx = cn_rx_new(CACHE, 0);
    cn_otx *t = cn_otx_new(0);
    ei_x_buff c;
    ei_x_new(&c);
    ei_x_encode_tuple_header(&c, 5);
    char longa[600] = "";
    for (int i = 0; i < 200; i++)
        strcat(longa, "\xc3\xa9"); /* 200 x e-acute: 400 bytes, more than a header's 255 */
    atom(&c, longa);
    atom(&c, "");
    ei_x_append_buf(&c, "\x73\x06latin\xe9", 8); /* SMALL_ATOM_EXT, Latin-1 (ei writes UTF-8) */
    ei_x_append_buf(&c,
                    "\x73\x05"
                    "ascii",
                    7); /* SMALL_ATOM_EXT, ASCII: cached */
    atom(&c, "ok");
    ei_x_buff w; /* the same, 'ascii' as the receiver writes a cached atom */
    ei_x_new(&w);
    ei_x_append_buf(&w, c.buff, c.index);
    memcpy(w.buff + w.index - 4 - 7,
           "\x77\x05"
           "ascii",
           7);
    want_ctl = &w;
    roundtrip(t, rx, CACHE, &c, NULL, 0, NULL);
    roundtrip(t, rx, CACHE, &c, NULL, 0, NULL);
    want_ctl = NULL;
    ei_x_free(&w);
    /* cached: '', ascii, ok; not the long one nor the non-ASCII Latin-1 one */
    ck_assert_uint_eq(cn_otx_cached_bytes(t), 0 + 5 + 2);
    ei_x_free(&c);
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

START_TEST(terms_not_understood_pass_as_they_are)
{
    cn_rx *rx = cn_rx_new(CACHE, 0);
    cn_otx *t = cn_otx_new(0);
    ei_x_buff c;
    /* every kind of term the rewriter walks, then one it does not (a bit binary), then atoms
     * after it: those stay plain */
    ei_x_new(&c);
    ei_x_encode_tuple_header(&c, 14);
    atom(&c, "first");
    ei_x_encode_long(&c, 7);
    ei_x_encode_long(&c, 100000);
    ei_x_encode_longlong(&c, 1LL << 62);
    ei_x_encode_double(&c, 2.5);
    ei_x_encode_string(&c, "chars");
    ei_x_encode_binary(&c, "\x77\x02hi", 4); /* bytes that look like an atom */
    ei_x_encode_map_header(&c, 1);
    atom(&c, "k");
    ei_x_encode_list_header(&c, 1);
    atom(&c, "v");
    ei_x_encode_empty_list(&c);
    erlang_ref r = {.len = 5, .n = {1, 2, 3, 4, 5}, .creation = 3};
    strcpy(r.node, "refnode@h");
    ei_x_encode_ref(&c, &r);
    erlang_port port = {.id = 9, .creation = 3};
    strcpy(port.node, "portnode@h");
    ei_x_encode_port(&c, &port);
    ei_x_encode_fun(&c, &(erlang_fun){.type = EI_FUN_EXPORT,
                                      .arity = 2,
                                      .module = "erlang",
                                      .u.exprt = {.func = "+", .func_allocated = 0}});
    ei_x_encode_bitstring(&c, "\xff", 0, 3);
    atom(&c, "after_bits");
    atom(&c, "last");
    roundtrip(t, rx, CACHE, &c, NULL, 0, NULL);
    roundtrip(t, rx, CACHE, &c, NULL, 0, NULL);
    /* cached: first k v refnode@h portnode@h erlang + ; not after_bits, last */
    ck_assert_uint_eq(cn_otx_cached_bytes(t), 5 + 1 + 1 + 9 + 10 + 6 + 1);
    ei_x_free(&c);

    /* a truncated term and a cache reference (never ours) are kept as they are */
    uint8_t odd[][4] = {{104, 2, 97, 1}, {82, 0, 106, 106}, {88, 119, 200, 1}, {109, 0, 0, 9}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        cn_oframe *f = calloc(1, sizeof *f), *last;
        f->ctl = malloc(5);
        memcpy(f->ctl, odd[i], 4);
        f->ctl_len = 4;
        cn_oframe *g = cn_otx_frame(t, CACHE, f, &last);
        ck_assert_ptr_eq(g, last);
        ck_assert_uint_eq(g->ctl_len, 3 + 4);
        ck_assert_mem_eq(g->ctl, "\x83\x44\x00", 3);
        ck_assert_mem_eq(g->ctl + 3, odd[i], 4);
        frames_free(g);
    }
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

/* The fragment headers of a list: ids count down to 1, one sequence id. */
static void check_fragments(const cn_oframe *first, int n)
{
    uint64_t seq = 0;
    int i = 0;
    for (const cn_oframe *f = first; f; f = f->next, i++) {
        const uint8_t *h = (const uint8_t *)f->ctl;
        ck_assert_int_eq(h[0], 131);
        ck_assert_int_eq(h[1], i == 0 ? 69 : 70);
        if (i == 0)
            seq = cn_get64(h + 2);
        ck_assert_uint_eq(cn_get64(h + 2), seq);
        ck_assert_uint_eq(cn_get64(h + 10), (uint64_t)(n - i));
    }
    ck_assert_int_eq(i, n);
}

START_TEST(fragments)
{
    cn_rx *rx = cn_rx_new(CACHE, 0);
    cn_otx *t = cn_otx_new(16);
    ei_x_buff c, p;
    send_ctl(&c, "a@h", "b@h");
    char body[200];
    for (size_t i = 0; i < sizeof body - 1; i++)
        body[i] = (char)('a' + i % 26);
    body[sizeof body - 1] = 0;
    int hl, n;
    reply_pl(&p, "b@h", body, &hl); /* the binary: 5 + 199 bytes after the head */
    size_t rest = (size_t)(p.index - hl);
    roundtrip(t, rx, CACHE, &c, &p, (size_t)hl, &n);
    ck_assert_int_eq(n, (int)((rest + 15) / 16));
    /* the same under FRAGMENTS alone (no references in the header) */
    cn_rx *rx2 = cn_rx_new(DFLAG_FRAGMENTS, 0);
    roundtrip(t, rx2, DFLAG_FRAGMENTS, &c, &p, (size_t)hl, &n);
    ck_assert_int_eq(n, (int)((rest + 15) / 16));
    cn_rx_free(rx2);
    /* headers: ids count down, one sequence; the next message gets another sequence */
    uint64_t seqs[2];
    for (int k = 0; k < 2; k++) {
        cn_oframe *f = mkframe(&c, NULL, 0, body, 48, 1), *last;
        cn_oframe *g = cn_otx_frame(t, CACHE, f, &last);
        check_fragments(g, 3); /* exactly 3 x 16 */
        ck_assert_uint_eq(last->pl_len, 16);
        ck_assert_ptr_nonnull(last->pl_base);
        seqs[k] = cn_get64((const uint8_t *)g->ctl + 2);
        frames_free(g);
    }
    ck_assert_uint_ne(seqs[0], seqs[1]);
    /* a payload of exactly the fragment size, or none, is not fragmented */
    cn_oframe *f = mkframe(&c, NULL, 0, body, 16, 1), *last;
    cn_oframe *g = cn_otx_frame(t, CACHE, f, &last);
    ck_assert_ptr_eq(g, last);
    ck_assert_int_eq(((uint8_t *)g->ctl)[1], 68);
    frames_free(g);
    roundtrip(t, rx, CACHE, &c, NULL, 0, &n);
    ck_assert_int_eq(n, 1);
    /* without FRAGMENTS a large payload goes whole */
    roundtrip(t, rx, DFLAG_DIST_HDR_ATOM_CACHE, &c, &p, (size_t)hl, &n);
    ck_assert_int_eq(n, 1);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

START_TEST(big_fragmented_message)
{
    /* 1 MiB + 1 at the real fragment size: 17 fragments, reassembled intact */
    cn_rx *rx = cn_rx_new(CACHE, 0);
    cn_otx *t = cn_otx_new(0);
    ei_x_buff c, p;
    send_ctl(&c, "a@h", "b@h");
    size_t n = ((size_t)1 << 20) + 1;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    ei_x_new(&p);
    ei_x_encode_binary(&p, big, (long)n);
    int frames;
    roundtrip(t, rx, CACHE, &c, &p, 0, &frames);
    ck_assert_int_eq(frames, (int)((n + 5 + CN_OTX_FRAG_SIZE - 1) / CN_OTX_FRAG_SIZE));
    free(big);
    ei_x_free(&c);
    ei_x_free(&p);
    cn_otx_free(t);
    cn_rx_free(rx);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("otx");
    TCase *tc = tcase_create("otx");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, p_frames);
    tcase_add_test(tc, plain_header_without_cache_flag);
    tcase_add_test(tc, cache_entries_persist);
    tcase_add_test(tc, many_atoms_and_collisions);
    tcase_add_test(tc, atoms_that_stay_plain);
    tcase_add_test(tc, terms_not_understood_pass_as_they_are);
    tcase_add_test(tc, fragments);
    tcase_add_test(tc, big_fragmented_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    ei_init();
    return cn_check_run(suite());
}

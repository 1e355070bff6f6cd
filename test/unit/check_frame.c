/* check_frame: unit tests for the length-prefixed framer (split reads at every point, many
 * frames per read, ticks, oversize lengths, the 2- to 4-byte switch, large frames). */
#include "dist/frame.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"

#define MAX_FRAME (4u << 20)

/* Append a frame with the given prefix size and body bytes (value = seed + index). */
static size_t put_frame(uint8_t *dst, int lenbytes, size_t len, uint8_t seed)
{
    size_t k = 0;
    if (lenbytes == 2) {
        cn_set16(dst, (uint16_t)len);
        k = 2;
    } else {
        cn_set32(dst, (uint32_t)len);
        k = 4;
    }
    for (size_t i = 0; i < len; i++)
        dst[k + i] = (uint8_t)(seed + i);
    return k + len;
}

static int body_ok(const uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (uint8_t)(seed + i))
            return 0;
    return 1;
}

/* Feed src[0..n) to f, at most `chunk` bytes per read (0: as much as offered). */
static size_t feed(cn_framer *f, const uint8_t *src, size_t n, size_t chunk)
{
    size_t cap;
    uint8_t *sp = cn_framer_space(f, &cap);
    ck_assert_ptr_nonnull(sp);
    ck_assert_uint_ge(cap, CN_FRAMER_CHUNK);
    size_t k = n < cap ? n : cap;
    if (chunk && k > chunk)
        k = chunk;
    memcpy(sp, src, k);
    cn_framer_commit(f, k);
    return k;
}

static const size_t lens[] = {0, 5, 300, 0, 1, 70000};

START_TEST(split_every_point)
{
    uint8_t *stream = malloc(80000);
    size_t n = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        n += put_frame(stream + n, 4, lens[i], (uint8_t)i);
    /* Stepping through every split point of the 70 kB frame costs O(n^2); sample it there. */
    for (size_t split = 0; split <= n; split += split < 400 ? 1 : 997) {
        cn_framer f;
        cn_framer_init(&f, 4, MAX_FRAME);
        size_t got = 0, off = 0;
        const uint8_t *fr;
        size_t len;
        size_t parts[2] = {split, n - split};
        for (int part = 0; part < 2; part++) {
            size_t end = off + parts[part];
            while (off < end) {
                off += feed(&f, stream + off, end - off, 0);
                int r;
                while ((r = cn_framer_next(&f, &fr, &len)) == 1) {
                    ck_assert_uint_eq(len, lens[got]);
                    ck_assert(body_ok(fr, len, (uint8_t)got));
                    got++;
                }
                ck_assert_int_eq(r, 0);
            }
        }
        ck_assert_uint_eq(got, sizeof lens / sizeof lens[0]);
        ck_assert_uint_eq(cn_framer_pending(&f), 0);
        cn_framer_free(&f);
    }
    free(stream);
}
END_TEST

START_TEST(byte_by_byte)
{
    uint8_t stream[1024];
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += put_frame(stream + n, 4, lens[i], (uint8_t)i);
    for (int lb = 2; lb <= 4; lb += 2) {
        n = 0;
        for (int i = 0; i < 5; i++)
            n += put_frame(stream + n, lb, lens[i], (uint8_t)i);
        cn_framer f;
        cn_framer_init(&f, lb, MAX_FRAME);
        size_t got = 0;
        for (size_t off = 0; off < n;) {
            off += feed(&f, stream + off, n - off, 1);
            const uint8_t *fr;
            size_t len;
            while (cn_framer_next(&f, &fr, &len) == 1) {
                ck_assert_uint_eq(len, lens[got]);
                ck_assert(body_ok(fr, len, (uint8_t)got));
                got++;
            }
        }
        ck_assert_uint_eq(got, 5);
        cn_framer_free(&f);
    }
}
END_TEST

START_TEST(many_small_frames)
{
    /* 200k frames of 3 bytes plus ticks: fed in the largest reads the framer offers. */
    const size_t count = 200000;
    uint8_t *stream = malloc(count * 7 + count * 4);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        n += put_frame(stream + n, 4, 3, (uint8_t)i);
        if (i % 2 == 0)
            n += put_frame(stream + n, 4, 0, 0);
    }
    clock_t t0 = clock();
    cn_framer f;
    cn_framer_init(&f, 4, MAX_FRAME);
    size_t got = 0, ticks = 0;
    for (size_t off = 0; off < n;) {
        off += feed(&f, stream + off, n - off, 0);
        const uint8_t *fr;
        size_t len;
        while (cn_framer_next(&f, &fr, &len) == 1) {
            if (len == 0) {
                ticks++;
                continue;
            }
            ck_assert_uint_eq(len, 3);
            ck_assert(body_ok(fr, 3, (uint8_t)got));
            got++;
        }
    }
    ck_assert_uint_eq(got, count);
    ck_assert_uint_eq(ticks, count / 2);
    ck_assert_msg(clock() - t0 < 2 * CLOCKS_PER_SEC, "framing too slow");
    cn_framer_free(&f);
    free(stream);
}
END_TEST

START_TEST(ticks)
{
    uint8_t stream[12] = {0};
    cn_framer f;
    cn_framer_init(&f, 4, MAX_FRAME);
    feed(&f, stream, sizeof stream, 0);
    const uint8_t *fr;
    size_t len = 99;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
        ck_assert_uint_eq(len, 0);
    }
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 0);
    cn_framer_free(&f);
}
END_TEST

START_TEST(oversize)
{
    uint8_t stream[8];
    cn_framer f;
    cn_framer_init(&f, 4, 1000);
    cn_set32(stream, 1001);
    feed(&f, stream, 4, 0);
    const uint8_t *fr;
    size_t len;
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), -1);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), -1);
    /* Space is still offered (bounded), the error stays. */
    size_t cap;
    ck_assert_ptr_nonnull(cn_framer_space(&f, &cap));
    ck_assert_uint_lt(cap, (size_t)1 << 20);
    cn_framer_free(&f);

    cn_framer_init(&f, 4, 1000);
    cn_set32(stream, 0xFFFFFFFF);
    feed(&f, stream, 4, 0);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), -1);
    cn_framer_free(&f);

    cn_framer_init(&f, 2, 10);
    cn_set16(stream, 11);
    feed(&f, stream, 2, 0);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), -1);
    cn_framer_free(&f);

    /* Exactly max_frame is fine. */
    uint8_t *big = malloc(4 + 1000);
    size_t n = put_frame(big, 4, 1000, 3);
    cn_framer_init(&f, 4, 1000);
    feed(&f, big, n, 0);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 1000);
    ck_assert(body_ok(fr, len, 3));
    cn_framer_free(&f);
    free(big);
}
END_TEST

START_TEST(lenbytes_switch)
{
    /* Last handshake message (2-byte) and the first connected frames (4-byte) in one read. */
    uint8_t stream[256];
    size_t n = put_frame(stream, 2, 17, 1);
    n += put_frame(stream + n, 4, 0, 0);
    n += put_frame(stream + n, 4, 9, 2);
    n += put_frame(stream + n, 4, 30, 3);
    cn_framer f;
    cn_framer_init(&f, 2, 65535);
    const uint8_t *fr;
    size_t len;
    feed(&f, stream, n, 0);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 17);
    ck_assert(body_ok(fr, 17, 1));
    cn_framer_set_lenbytes(&f, 4);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 9);
    ck_assert(body_ok(fr, 9, 2));
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 30);
    ck_assert(body_ok(fr, 30, 3));
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 0);
    cn_framer_free(&f);
}
END_TEST

START_TEST(lenbytes_switch_every_split)
{
    uint8_t stream[256];
    size_t hs = put_frame(stream, 2, 17, 1);
    size_t n = hs + put_frame(stream + hs, 4, 9, 2);
    for (size_t split = 0; split <= n; split++) {
        cn_framer f;
        cn_framer_init(&f, 2, 65535);
        const uint8_t *fr;
        size_t len;
        feed(&f, stream, split, 0);
        int got = 0;
        if (cn_framer_next(&f, &fr, &len) == 1) {
            ck_assert_uint_eq(len, 17);
            cn_framer_set_lenbytes(&f, 4);
            got = 1;
        }
        feed(&f, stream + split, n - split, 0);
        if (!got) {
            ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
            ck_assert_uint_eq(len, 17);
            cn_framer_set_lenbytes(&f, 4);
        }
        ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
        ck_assert_uint_eq(len, 9);
        ck_assert(body_ok(fr, 9, 2));
        ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 0);
        cn_framer_free(&f);
    }
}
END_TEST

START_TEST(large_frame_space)
{
    /* A 3 MiB frame: once its length is known, the framer offers room for all of it. */
    size_t body = 3u << 20;
    uint8_t *stream = malloc(4 + body + 8);
    size_t n = put_frame(stream, 4, body, 7);
    n += put_frame(stream + n, 4, 4, 9);
    cn_framer f;
    cn_framer_init(&f, 4, MAX_FRAME);
    size_t off = feed(&f, stream, n, 1000);
    size_t cap;
    uint8_t *sp = cn_framer_space(&f, &cap);
    ck_assert_ptr_nonnull(sp);
    ck_assert_uint_ge(cap, 4 + body - off);
    memcpy(sp, stream + off, n - off);
    cn_framer_commit(&f, n - off);
    const uint8_t *fr;
    size_t len;
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, body);
    ck_assert(body_ok(fr, len, 7));
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 4);
    ck_assert(body_ok(fr, len, 9));
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 0);
    /* Idle again: the big buffer is given back, reads still work. */
    sp = cn_framer_space(&f, &cap);
    ck_assert_ptr_nonnull(sp);
    ck_assert_uint_lt(f.in.cap, (size_t)1 << 20);
    cn_framer_free(&f);
    free(stream);
}
END_TEST

START_TEST(commit_clamped)
{
    cn_framer f;
    cn_framer_init(&f, 4, 100);
    size_t cap;
    uint8_t *sp = cn_framer_space(&f, &cap);
    memset(sp, 0, cap);
    cn_framer_commit(&f, cap + 1000); /* caller bug: must not run past the buffer */
    ck_assert_uint_eq(cn_framer_pending(&f), cap);
    cn_framer_free(&f);
}
END_TEST

START_TEST(partial_frame)
{
    uint8_t stream[512];
    size_t n = put_frame(stream, 4, 10, 1);
    size_t second = n;
    n += put_frame(stream + n, 4, 100, 2);
    size_t third = n;
    n += put_frame(stream + n, 4, 5, 3);
    cn_framer f;
    cn_framer_init(&f, 4, MAX_FRAME);
    const uint8_t *fr, *body;
    size_t len, have, flen;
    /* nothing, or only part of a length prefix: no partial frame */
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 0);
    feed(&f, stream, 3, 0);
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 0);
    /* a complete frame in front hides the partial one behind it */
    feed(&f, stream + 3, second + 4 + 30 - 3, 0);
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 0);
    cn_framer_skip_partial(&f); /* no partial frame: nothing dropped */
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 10);
    ck_assert(body_ok(fr, len, 1));
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 0);
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 1);
    ck_assert_uint_eq(have, 30);
    ck_assert_uint_eq(flen, 100);
    ck_assert(body_ok(body, have, 2));
    /* the caller takes it and reads the other 70 bytes itself: the framer goes on with the
     * frame after */
    cn_framer_skip_partial(&f);
    ck_assert_uint_eq(cn_framer_pending(&f), 0);
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 0);
    feed(&f, stream + third, n - third, 0);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert(body_ok(fr, len, 3));
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 0);
    /* a bare length prefix is a partial frame with nothing of its body yet */
    feed(&f, stream + second, 4, 0);
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 1);
    ck_assert_uint_eq(have, 0);
    ck_assert_uint_eq(flen, 100);
    cn_framer_free(&f);
    /* an oversized length is not offered as a partial frame (cn_framer_next refuses it) */
    cn_framer_init(&f, 2, 50);
    n = put_frame(stream, 2, 60, 0);
    feed(&f, stream, 10, 0);
    ck_assert_int_eq(cn_framer_partial(&f, &body, &have, &flen), 0);
    cn_framer_skip_partial(&f);
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), -1);
    cn_framer_free(&f);
}
END_TEST

/* The way conn_read uses the framer with direct reads: frames whose body starts with 'D' are
 * taken as soon as their start is there, and the rest of their body is read around the framer
 * (then the framer gets at most `peek` bytes per read). Every frame must come out whole, in
 * order, whatever the read sizes. */
START_TEST(partial_taken_every_read_size)
{
    static const size_t blens[] = {70000, 0, 5, 300, 65536, 1, 40000, 2, 65536, 0};
    uint8_t *stream = malloc(400000), *out = malloc(400000);
    size_t n = 0;
    for (size_t i = 0; i < sizeof blens / sizeof blens[0]; i++) {
        size_t at = n;
        n += put_frame(stream + n, 4, blens[i], (uint8_t)(i * 13));
        if (blens[i] > 100)
            stream[at + 4] = 'D';
    }
    srand(7);
    for (int run = 0; run < 300; run++) {
        size_t maxread = run < 100 ? (size_t)run + 1 : 1 + (size_t)rand() % 100000;
        size_t peek = run % 3 == 0 ? 22 : 1 + (size_t)rand() % 64;
        cn_framer f;
        cn_framer_init(&f, 4, MAX_FRAME);
        size_t off = 0, nout = 0, got = 0;
        size_t dleft = 0; /* body bytes of a taken frame still to read around the framer */
        while (off < n) {
            size_t k = 1 + (size_t)rand() % maxread;
            if (k > n - off)
                k = n - off;
            if (dleft) { /* one read: the rest of the taken body, then up to peek bytes */
                size_t d = k < dleft ? k : dleft;
                memcpy(out + nout, stream + off, d);
                nout += d;
                off += d;
                dleft -= d;
                k -= d;
                if (k > peek)
                    k = peek;
                if (dleft == 0)
                    got++;
            } else if (run & 1) { /* as conn_read: stop early after a large frame */
                size_t lim = cn_framer_read_limit(&f, peek, run % 4 == 1);
                if (lim && k > lim)
                    k = lim;
            }
            if (k)
                off += feed(&f, stream + off, k, 0);
            const uint8_t *fr, *body;
            size_t len, have, flen;
            int r;
            while ((r = cn_framer_next(&f, &fr, &len)) == 1) {
                ck_assert_uint_eq(len, blens[got]);
                memcpy(out + nout, fr, len);
                nout += len;
                got++;
            }
            ck_assert_int_eq(r, 0);
            if (cn_framer_partial(&f, &body, &have, &flen) == 1 && have > 0 && body[0] == 'D') {
                ck_assert_uint_eq(flen, blens[got]);
                memcpy(out + nout, body, have);
                nout += have;
                dleft = flen - have;
                cn_framer_skip_partial(&f);
                ck_assert_uint_eq(cn_framer_pending(&f), 0);
            }
        }
        ck_assert_uint_eq(dleft, 0);
        ck_assert_uint_eq(got, sizeof blens / sizeof blens[0]);
        /* the bodies, concatenated in order */
        size_t at = 0, o = 0;
        for (size_t i = 0; i < sizeof blens / sizeof blens[0]; i++) {
            ck_assert(memcmp(out + o, stream + at + 4, blens[i]) == 0);
            o += blens[i];
            at += 4 + blens[i];
        }
        ck_assert_uint_eq(o, nout);
        cn_framer_free(&f);
    }
    free(stream);
    free(out);
}
END_TEST

START_TEST(read_limit)
{
    uint8_t *stream = malloc(200000);
    size_t n = put_frame(stream, 4, 100, 1);
    size_t big = n;
    n += put_frame(stream + n, 4, 70000, 2);
    n += put_frame(stream + n, 4, 5, 3);
    cn_framer f;
    cn_framer_init(&f, 4, MAX_FRAME);
    /* nothing buffered: one chunk, enough for a large frame's length to be known */
    ck_assert_uint_eq(cn_framer_read_limit(&f, 22, 0), CN_FRAMER_CHUNK);
    /* ... or, between fragments, just what a continuation's length and header take */
    ck_assert_uint_eq(cn_framer_read_limit(&f, 22, 1), 22);
    /* a small partial frame: no limit (many small frames per read) */
    feed(&f, stream, 50, 0);
    ck_assert_uint_eq(cn_framer_read_limit(&f, 22, 1), 0);
    feed(&f, stream + 50, big + 1000 - 50, 0);
    const uint8_t *fr;
    size_t len;
    ck_assert_int_eq(cn_framer_next(&f, &fr, &len), 1);
    /* a large partial frame: its rest and peek bytes more */
    ck_assert_uint_eq(cn_framer_read_limit(&f, 22, 1), 70000 - 996 + 22);
    ck_assert_uint_eq(cn_framer_read_limit(&f, 0, 0), 70000 - 996);
    /* ... but first what completes its first peek bytes */
    ck_assert_uint_eq(cn_framer_read_limit(&f, 2000, 0), 2000 - 4 - 996);
    cn_framer_free(&f);
    cn_framer_init(&f, 4, MAX_FRAME);
    feed(&f, stream + big, 10, 0);
    ck_assert_uint_eq(cn_framer_read_limit(&f, 22, 1), 12);
    feed(&f, stream + big + 10, 12, 0);
    ck_assert_uint_eq(cn_framer_read_limit(&f, 22, 1), 70000 - 18 + 22);
    cn_framer_free(&f);
    free(stream);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, split_every_point);
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, many_small_frames);
    tcase_add_test(tc, ticks);
    tcase_add_test(tc, oversize);
    tcase_add_test(tc, lenbytes_switch);
    tcase_add_test(tc, lenbytes_switch_every_split);
    tcase_add_test(tc, large_frame_space);
    tcase_add_test(tc, commit_clamped);
    tcase_add_test(tc, partial_frame);
    tcase_add_test(tc, partial_taken_every_read_size);
    tcase_add_test(tc, read_limit);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

/* fuzz_rx: hostile distribution frames through rx, fed whole or (continuations) read straight
 * into the reassembly buffer in pieces, as conn_read does; every message rx hands out must
 * decode with ei exactly to its length, and cdec must not read outside its control term. */
#include "dist/cdec.h"
#include "dist/flags.h"
#include "dist/rx.h"

#include <ei.h>
#include <stdlib.h>
#include <string.h>

/* A term rx passed on: one term after the 131, ending exactly at len (ei reads unbounded). */
static void check_term(const uint8_t *p, size_t len)
{
    if (len < 2 || p[0] != 131)
        abort();
    int idx = 1;
    if (ei_skip_term((const char *)p, &idx) < 0 || (size_t)idx != len)
        abort();
}

static void check_msg(const cn_dist_msg *m)
{
    check_term(m->ctl, m->ctl_len);
    if (m->payload)
        check_term(m->payload, m->payload_len);
    /* cdec reads only ctl[0..ctl_len): a copy of that exact size catches an over-read */
    uint8_t *ctl = malloc(m->ctl_len);
    memcpy(ctl, m->ctl, m->ctl_len);
    cn_cdec d;
    (void)cn_cdec_parse(ctl, m->ctl_len, &d);
    free(ctl);
}

/* The rest of a directly read frame, in pieces of 1..piece bytes. */
static int feed_direct(cn_rx *rx, const uint8_t *f, size_t have, size_t flen, size_t piece,
                       cn_dist_msg *m, char *err, size_t errlen)
{
    int r = 0;
    for (size_t off = have; off < flen;) {
        size_t left;
        uint8_t *at = cn_rx_direct_space(rx, &left);
        if (!at || left != flen - off)
            abort(); /* rx lost track of the frame it took */
        size_t k = left < piece ? left : piece;
        memcpy(at, f + off, k);
        off += k;
        r = cn_rx_direct_commit(rx, k, m, err, errlen);
        if (r != 0 && off < flen)
            abort(); /* a result before the frame's last byte */
    }
    return r;
}

/* Input: a mode byte, then frames as [how][len:16][body]: how bit 0 takes the direct path
 * when the frame is a continuation, the other bits choose how much of it came first. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    static const uint64_t modes[] = {DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS, DFLAG_FRAGMENTS,
                                     DFLAG_DIST_HDR_ATOM_CACHE, 0};
    if (n < 1)
        return 0;
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | modes[data[0] & 3], (size_t)1 << 16);
    if (!rx)
        return 0;
    char err[256];
    for (size_t i = 1; i + 3 <= n;) {
        unsigned how = data[i];
        size_t flen = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        if (flen > n - i)
            flen = n - i;
        uint8_t *f = malloc(flen ? flen : 1); /* exact size: ASan sees any over-read */
        memcpy(f, data + i, flen);
        i += flen;
        cn_dist_msg m;
        int r = 0, taken = 0;
        if ((how & 1) && flen > CN_RX_CONT_HDR) {
            size_t have = CN_RX_CONT_HDR + (how >> 1) % (flen - CN_RX_CONT_HDR);
            r = cn_rx_direct_begin(rx, f, have, flen, err, sizeof err);
            if (r == 1) {
                taken = 1;
                r = feed_direct(rx, f, have, flen, 1 + (how >> 4) * 97, &m, err, sizeof err);
            }
        }
        if (!taken && r == 0)
            r = cn_rx_frame(rx, f, flen, &m, err, sizeof err);
        free(f);
        if (r == 1) {
            check_msg(&m);
            cn_dist_msg_free(&m);
        }
        if (r < 0)
            break; /* the connection would be closed */
    }
    cn_rx_free(rx);
    return 0;
}

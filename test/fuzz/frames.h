/* frames: the fuzz input format of fuzz_rx and fuzz_ctrl, walked as conn_read feeds rx: frames
 * whole, or continuations read straight into reassembly in pieces. Header-only. */
#ifndef CN_FUZZ_FRAMES_H
#define CN_FUZZ_FRAMES_H

#include "dist/flags.h"
#include "dist/rx.h"

#include <stdlib.h>
#include <string.h>

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

/* Input: a mode byte (which of the atom cache and fragments were negotiated), then frames as
 * [how][len:16][body]: how's bit 0 takes the direct path when the frame is a continuation,
 * its other bits choose how much of it came first and the size of the pieces. Each message
 * rx completes goes to on_msg, which owns it. Stops at rx's first refusal, as the
 * connection would close. */
static void fuzz_frames(const uint8_t *data, size_t n, void (*on_msg)(cn_dist_msg *m))
{
    static const uint64_t modes[] = {DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS, DFLAG_FRAGMENTS,
                                     DFLAG_DIST_HDR_ATOM_CACHE, 0};
    if (n < 1)
        return;
    cn_rx *rx = cn_rx_new(DFLAG_MANDATORY_25 | modes[data[0] & 3], (size_t)1 << 16);
    if (!rx)
        return;
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
        if (r == 1)
            on_msg(&m);
        if (r < 0)
            break;
    }
    cn_rx_free(rx);
}

#endif

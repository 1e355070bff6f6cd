/* fuzz_rx: hostile distribution frames through rx (frames.h); every message rx hands out must
 * decode with ei exactly to its length, and cdec must not read outside its control term. */
#include "dist/cdec.h"

#include "frames.h"

#include <ei.h>

/* A term rx passed on: one term after the 131, ending exactly at len (ei reads unbounded). */
static void check_term(const uint8_t *p, size_t len)
{
    if (len < 2 || p[0] != 131)
        abort();
    int idx = 1;
    if (ei_skip_term((const char *)p, &idx) < 0 || (size_t)idx != len)
        abort();
}

static void check_msg(cn_dist_msg *m)
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
    cn_dist_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    fuzz_frames(data, n, check_msg);
    return 0;
}

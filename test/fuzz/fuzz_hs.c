/* fuzz_hs: hostile handshake messages to both roles. The digest stops a fuzzer before the
 * end, so this covers what a peer can send before proving the cookie: send_name (old and new),
 * the challenge, status and their lengths. The state machine must fail cleanly or go on. */
#include "dist/flags.h"
#include "dist/handshake.h"
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    cn_hs hs;
    int role = data[0] & 1 ? CN_HS_ACCEPTOR : CN_HS_INITIATOR;
    cn_hs_init(&hs, role, data[0] & 2 ? 4 : 2, "c1@host", 7, cn_flags_ours(0), "cookie");
    if (role == CN_HS_INITIATOR)
        cn_hs_set_expect(&hs, "a@host");
    cn_buf out;
    cn_buf_init(&out, 1 << 16);
    int r = cn_hs_start(&hs, &out);
    for (size_t i = 1; r == CN_HS_CONTINUE && i + 2 <= n;) {
        size_t len = (size_t)data[i] << 8 | data[i + 1];
        i += 2;
        if (len > n - i)
            len = n - i;
        uint8_t *m = malloc(len ? len : 1); /* exact size */
        memcpy(m, data + i, len);
        i += len;
        r = cn_hs_input(&hs, m, len, &out);
        free(m);
        if (r == CN_HS_FAIL && hs.err[0] == '\0')
            abort(); /* a failure must say why */
        if (r == CN_HS_DONE)
            abort(); /* cannot finish without the cookie */
    }
    cn_buf_free(&out);
    return 0;
}

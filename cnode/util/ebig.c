#include "util/ebig.h"

int cn_encode_big(ei_x_buff *x, int negative, const unsigned char *mag, size_t len)
{
    while (len > 0 && mag[len - 1] == 0)
        len--;
    unsigned char h[6];
    int hl;
    if (len <= 255) {
        h[0] = ERL_SMALL_BIG_EXT;
        h[1] = (unsigned char)len;
        hl = 2;
    } else {
        h[0] = ERL_LARGE_BIG_EXT;
        h[1] = (unsigned char)(len >> 24);
        h[2] = (unsigned char)(len >> 16);
        h[3] = (unsigned char)(len >> 8);
        h[4] = (unsigned char)len;
        hl = 5;
    }
    h[hl++] = (unsigned char)(len && negative);
    return ei_x_append_buf(x, (const char *)h, hl) < 0 ||
                   ei_x_append_buf(x, (const char *)mag, (int)len) < 0
               ? -1
               : 0;
}

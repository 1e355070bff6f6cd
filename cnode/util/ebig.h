/* ebig: an Erlang bignum (SMALL_BIG_EXT / LARGE_BIG_EXT) written from its sign and its
 * magnitude's bytes, least significant first, in the smallest form (high zero bytes dropped). */
#ifndef CN_EBIG_H
#define CN_EBIG_H

#include <ei.h>
#include <stddef.h>

/* Append the bignum to x (zero has no sign). 0, or -1 if x cannot grow. */
int cn_encode_big(ei_x_buff *x, int negative, const unsigned char *mag, size_t len);

#endif

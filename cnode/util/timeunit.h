/* timeunit: Erlang time units (erlang:system_time/1, convert_time_unit/3 ...) read from terms,
 * and conversions between them with the BEAM's rounding (floor), for the time BIFs. Units and
 * times may be bignums, as on the BEAM, up to CN_TINT_BYTES bytes each. */
#ifndef CN_TIMEUNIT_H
#define CN_TIMEUNIT_H

#include <ei.h>
#include <stdint.h>

/* This node's native and perf_counter unit: parts per second (nanoseconds, as clock_gettime). */
#define CN_NATIVE_PPS 1000000000

/* The largest integer taken as a time or a unit: 2048 bits (a larger one is badarg). */
#define CN_TINT_BYTES 256
/* Room for the product of two of them. */
#define CN_TINT_LIMBS (2 * CN_TINT_BYTES / 4 + 2)

/* An integer: sign and magnitude, 32-bit limbs, least significant first, n limbs in use
 * (no leading zero limbs; zero is n = 0). */
typedef struct cn_tint {
    int neg;
    int n;
    uint32_t d[CN_TINT_LIMBS];
} cn_tint;

void cn_tint_set(cn_tint *v, int64_t x);

/* The integer at buf+*idx (any encoding, at most CN_TINT_BYTES bytes of magnitude) in *v;
 * *idx moves past it. 0, or -1 (not an integer, or too large). */
int cn_time_int_decode(const char *buf, int *idx, cn_tint *v);

/* The unit term at buf+*idx (native, perf_counter, second, millisecond, microsecond,
 * nanosecond, the deprecated plural forms, or a positive integer) as parts per second in
 * *pps; *idx moves past it. 0, or -1 for anything else (the BIFs' badarg). */
int cn_time_unit_decode(const char *buf, int *idx, cn_tint *pps);

/* *out = floor(t * to / from), as erlang:convert_time_unit/3 rounds (from, to > 0). */
void cn_time_convert(const cn_tint *t, const cn_tint *from, const cn_tint *to, cn_tint *out);

/* Append v as an Erlang integer (a bignum when it does not fit 64 bits). 0 or -1. */
int cn_time_encode_int(ei_x_buff *x, const cn_tint *v);

#endif

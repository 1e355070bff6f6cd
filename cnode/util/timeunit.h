/* timeunit: Erlang time units (erlang:system_time/1, convert_time_unit/3 ...) read from terms,
 * and conversions between them with the BEAM's rounding (floor), for the time BIFs. */
#ifndef CN_TIMEUNIT_H
#define CN_TIMEUNIT_H

#include <ei.h>
#include <stdint.h>

/* This node's native and perf_counter unit: parts per second (nanoseconds, as clock_gettime). */
#define CN_NATIVE_PPS 1000000000ULL

/* The unit term at buf+*idx (native, perf_counter, second, millisecond, microsecond,
 * nanosecond, the deprecated plural forms, or a positive integer of at most 64 bits) as parts
 * per second in *pps; *idx moves past it. 0, or -1 for anything else (the BIFs' badarg). */
int cn_time_unit_decode(const char *buf, int *idx, uint64_t *pps);

/* floor(t * to / from), as erlang:convert_time_unit/3 rounds (from > 0). */
__int128 cn_time_convert(int64_t t, uint64_t from, uint64_t to);

/* Append v as an Erlang integer (a bignum when it does not fit 64 bits). 0 or -1. */
int cn_time_encode_int(ei_x_buff *x, __int128 v);

#endif

/* timeunit: time unit terms and conversions (see timeunit.h). */
#include "util/timeunit.h"

#include <string.h>

static const struct {
    const char *name;
    uint64_t pps;
} units[] = {
    {"native", CN_NATIVE_PPS},
    {"perf_counter", CN_NATIVE_PPS},
    {"second", 1},
    {"millisecond", 1000},
    {"microsecond", 1000000},
    {"nanosecond", 1000000000},
    {"seconds", 1},
    {"milli_seconds", 1000}, /* deprecated, still accepted */
    {"micro_seconds", 1000000},
    {"nano_seconds", 1000000000},
};

int cn_time_unit_decode(const char *buf, int *idx, uint64_t *pps)
{
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return -1;
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        char a[MAXATOMLEN_UTF8];
        if (ei_decode_atom(buf, &i, a) < 0)
            return -1;
        for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
            if (!strcmp(a, units[k].name)) {
                *pps = units[k].pps;
                *idx = i;
                return 0;
            }
        return -1;
    }
    if (type != ERL_SMALL_INTEGER_EXT && type != ERL_INTEGER_EXT && type != ERL_SMALL_BIG_EXT)
        return -1;
    unsigned long long u;
    /* a negative integer or one over 64 bits fails to decode as unsigned */
    if (ei_decode_ulonglong(buf, &i, &u) < 0 || u == 0)
        return -1;
    *pps = u;
    *idx = i;
    return 0;
}

__int128 cn_time_convert(int64_t t, uint64_t from, uint64_t to)
{
    /* |t| < 2^63 and to < 2^64: the product fits a signed 128-bit integer */
    __int128 n = (__int128)t * (__int128)to, d = (__int128)from;
    __int128 q = n / d;
    if (n % d != 0 && n < 0)
        q--; /* C truncates toward zero; Erlang's conversion floors */
    return q;
}

int cn_time_encode_int(ei_x_buff *x, __int128 v)
{
    if (v >= INT64_MIN && v <= INT64_MAX)
        return ei_x_encode_longlong(x, (long long)v);
    unsigned __int128 m =
        v < 0 ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
    char b[3 + 16];
    int n = 0;
    while (m) {
        b[3 + n++] = (char)(m & 0xff);
        m >>= 8;
    }
    b[0] = (char)ERL_SMALL_BIG_EXT;
    b[1] = (char)n;
    b[2] = v < 0;
    return ei_x_append_buf(x, b, 3 + n);
}

/* timeunit: time unit terms and conversions (see timeunit.h). The arithmetic is a small
 * bignum of its own (multiply, and a bit-by-bit long division): the operands are bounded by
 * CN_TINT_BYTES, and an rpc does one conversion. */
#include "util/timeunit.h"

#include "util/ebig.h"

#include <string.h>

static const struct {
    const char *name;
    int64_t pps;
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

static void trim(cn_tint *v)
{
    while (v->n > 0 && v->d[v->n - 1] == 0)
        v->n--;
    if (v->n == 0)
        v->neg = 0;
}

void cn_tint_set(cn_tint *v, int64_t x)
{
    uint64_t m = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    v->neg = x < 0;
    v->d[0] = (uint32_t)m;
    v->d[1] = (uint32_t)(m >> 32);
    v->n = 2;
    trim(v);
}

int cn_time_int_decode(const char *buf, int *idx, cn_tint *v)
{
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return -1;
    if (type == ERL_SMALL_INTEGER_EXT || type == ERL_INTEGER_EXT) {
        long long x;
        if (ei_decode_longlong(buf, &i, &x) < 0)
            return -1;
        cn_tint_set(v, x);
    } else if (type == ERL_SMALL_BIG_EXT || type == ERL_LARGE_BIG_EXT) {
        /* tag, length (1 or 4 bytes), sign, then the magnitude's bytes, least significant
         * first; ei_get_type gave the length */
        if (size < 0 || size > CN_TINT_BYTES)
            return -1;
        const unsigned char *p =
            (const unsigned char *)buf + i + (type == ERL_SMALL_BIG_EXT ? 2 : 5);
        memset(v->d, 0, sizeof v->d);
        v->neg = p[0] != 0;
        for (int k = 0; k < size; k++)
            v->d[k / 4] |= (uint32_t)p[1 + k] << (8 * (k % 4));
        v->n = (size + 3) / 4;
        trim(v);
        i += (type == ERL_SMALL_BIG_EXT ? 3 : 6) + size;
    } else {
        return -1;
    }
    *idx = i;
    return 0;
}

int cn_time_unit_decode(const char *buf, int *idx, cn_tint *pps)
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
                cn_tint_set(pps, units[k].pps);
                *idx = i;
                return 0;
            }
        return -1;
    }
    /* a positive integer; zero and negative ones are badarg */
    if (cn_time_int_decode(buf, &i, pps) < 0 || pps->neg || pps->n == 0)
        return -1;
    *idx = i;
    return 0;
}

static void mul(const cn_tint *a, const cn_tint *b, cn_tint *c)
{
    memset(c->d, 0, sizeof c->d);
    for (int i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < b->n; j++) {
            uint64_t t = (uint64_t)a->d[i] * b->d[j] + c->d[i + j] + carry;
            c->d[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
        c->d[i + b->n] = (uint32_t)carry;
    }
    c->n = a->n + b->n;
    c->neg = a->neg != b->neg;
    trim(c);
}

static int cmp_mag(const cn_tint *a, const cn_tint *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void sub_mag(cn_tint *a, const cn_tint *b) /* a -= b, |a| >= |b| */
{
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
        borrow = t < 0;
        a->d[i] = (uint32_t)(t + (borrow ? ((int64_t)1 << 32) : 0));
    }
    trim(a);
}

static void shl1_or(cn_tint *a, uint32_t bit) /* a = a * 2 + bit */
{
    uint32_t carry = bit;
    for (int i = 0; i < a->n; i++) {
        uint32_t top = a->d[i] >> 31;
        a->d[i] = (a->d[i] << 1) | carry;
        carry = top;
    }
    if (carry)
        a->d[a->n++] = carry;
}

static void add_one_mag(cn_tint *a)
{
    for (int i = 0; i < a->n; i++)
        if (++a->d[i] != 0)
            return;
    a->d[a->n++] = 1;
}

void cn_time_convert(const cn_tint *t, const cn_tint *from, const cn_tint *to, cn_tint *out)
{
    cn_tint num, rem;
    mul(t, to, &num);
    /* |num| / from, one bit at a time from the top: the quotient never has more limbs than
     * num, and the remainder stays below from */
    memset(out, 0, sizeof *out);
    memset(&rem, 0, sizeof rem);
    out->n = num.n;
    for (int bit = num.n * 32 - 1; bit >= 0; bit--) {
        shl1_or(&rem, (num.d[bit / 32] >> (bit % 32)) & 1);
        if (cmp_mag(&rem, from) >= 0) {
            sub_mag(&rem, from);
            out->d[bit / 32] |= (uint32_t)1 << (bit % 32);
        }
    }
    trim(out);
    if (num.neg) { /* floor: toward negative infinity when something is left over */
        if (rem.n != 0)
            add_one_mag(out);
        out->neg = out->n != 0;
    }
}

int cn_time_encode_int(ei_x_buff *x, const cn_tint *v)
{
    if (v->n <= 2) {
        uint64_t m = v->n == 0 ? 0 : v->d[0] | (v->n == 2 ? (uint64_t)v->d[1] << 32 : 0);
        if (!v->neg && m <= (uint64_t)INT64_MAX)
            return ei_x_encode_longlong(x, (long long)m);
        if (v->neg && m <= (uint64_t)INT64_MAX + 1)
            return ei_x_encode_longlong(x,
                                        m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(long long)m);
    }
    unsigned char mag[CN_TINT_LIMBS * 4];
    int n = v->n * 4;
    for (int k = 0; k < n; k++)
        mag[k] = (unsigned char)(v->d[k / 4] >> (8 * (k % 4)));
    return cn_encode_big(x, v->neg, mag, (size_t)n);
}

#include "buf.h"

#include <stdlib.h>
#include <string.h>

void cn_buf_init(cn_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : CN_BUF_DEFAULT_MAX;
}

void cn_buf_free(cn_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cn_buf_reset(cn_buf *b)
{
    b->len = 0;
}

int cn_buf_reserve(cn_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return -1;
    size_t need = b->len + n;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max)
        cap = b->max;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cn_buf_append(cn_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (cn_buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int cn_buf_put8(cn_buf *b, uint8_t v)
{
    return cn_buf_append(b, &v, 1);
}

int cn_buf_put16(cn_buf *b, uint16_t v)
{
    uint8_t t[2];
    cn_set16(t, v);
    return cn_buf_append(b, t, 2);
}

int cn_buf_put32(cn_buf *b, uint32_t v)
{
    uint8_t t[4];
    cn_set32(t, v);
    return cn_buf_append(b, t, 4);
}

int cn_buf_put64(cn_buf *b, uint64_t v)
{
    uint8_t t[8];
    cn_set64(t, v);
    return cn_buf_append(b, t, 8);
}

void cn_buf_consume(cn_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

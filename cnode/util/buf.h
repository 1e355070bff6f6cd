/* buf: a growable byte buffer with an explicit size bound.
 * Every writer checks the bound; a failed append leaves the buffer unchanged. */
#ifndef CN_BUF_H
#define CN_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cn_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* hard bound on len; 0 means CN_BUF_DEFAULT_MAX */
} cn_buf;

#define CN_BUF_DEFAULT_MAX ((size_t)1 << 30)

void cn_buf_init(cn_buf *b, size_t max);
void cn_buf_free(cn_buf *b);
void cn_buf_reset(cn_buf *b);
/* Make room for n more bytes; returns 0 or -1 (bound exceeded or out of memory). */
int cn_buf_reserve(cn_buf *b, size_t n);
int cn_buf_append(cn_buf *b, const void *p, size_t n);
int cn_buf_put8(cn_buf *b, uint8_t v);
int cn_buf_put16(cn_buf *b, uint16_t v); /* big-endian */
int cn_buf_put32(cn_buf *b, uint32_t v); /* big-endian */
int cn_buf_put64(cn_buf *b, uint64_t v); /* big-endian */
/* Drop the first n bytes (n <= len). */
void cn_buf_consume(cn_buf *b, size_t n);

static inline uint16_t cn_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t cn_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t cn_get64(const uint8_t *p)
{
    return ((uint64_t)cn_get32(p) << 32) | cn_get32(p + 4);
}
static inline void cn_set16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void cn_set32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void cn_set64(uint8_t *p, uint64_t v)
{
    cn_set32(p, (uint32_t)(v >> 32));
    cn_set32(p + 4, (uint32_t)v);
}

#endif

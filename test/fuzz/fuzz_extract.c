/* fuzz_extract: the extractor's scanner (workers/extract_scan) on arbitrary bytes, which is
 * what a peer can send a worker. Matches must come in order, never overlap, lie inside the
 * input, start and end at word boundaries and look like their kind; ASan checks every read
 * stays inside the input (libFuzzer's buffer is exactly its size). */
#include "workers/extract_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct st {
    const uint8_t *d;
    size_t n, last;
} st;

static int word(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static int check(void *ctx, int kind, size_t start, size_t len)
{
    st *s = ctx;
    const uint8_t *m = s->d + start;
    size_t digits = 0;
    if (kind < 0 || kind >= EX_NKINDS || len == 0 || start < s->last || start + len > s->n)
        abort();
    if ((start > 0 && word(s->d[start - 1])) || (start + len < s->n && word(m[len])))
        abort(); /* not at word boundaries */
    s->last = start + len;
    for (size_t i = 0; i < len; i++)
        digits += m[i] >= '0' && m[i] <= '9';
    switch (kind) {
    case EX_URL:
        if (len < 8 || memcmp(m, "http", 4) != 0)
            abort();
        break;
    case EX_EMAIL:
        if (!memchr(m, '@', len))
            abort();
        break;
    case EX_MONEY:
    case EX_DATE:
        if (digits == 0)
            abort();
        break;
    case EX_PHONE:
        if (digits < 8 || digits > 15)
            abort();
        break;
    case EX_NAME:
        if (!(m[0] >= 'A' && m[0] <= 'Z') || !memchr(m, ' ', len))
            abort();
        break;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    st s = {data, n, 0};
    if (ex_scan(data, n, check, &s) != 0)
        abort();
    return 0;
}

/* restart: the restart-intensity window of a supervisor (see restart.h). */
#include "services/restart.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int cn_restarts_init(cn_restarts *r, int max, uint64_t period_ms)
{
    memset(r, 0, sizeof *r);
    if (max < 0 || period_ms == 0)
        return -1;
    r->max = max;
    r->period_ms = period_ms;
    return 0;
}

void cn_restarts_free(cn_restarts *r)
{
    free(r->t);
    r->t = NULL;
    r->cap = r->head = r->n = 0;
}

static void expire(cn_restarts *r, uint64_t now_ms)
{
    while (r->n > 0) {
        uint64_t t = r->t[r->head];
        if (now_ms >= t && now_ms - t <= r->period_ms)
            break;
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
}

/* Make room for one more entry; the ring never holds more than max + 1. */
static int room(cn_restarts *r)
{
    if (r->n < r->cap)
        return 0;
    long limit = r->max < INT_MAX ? (long)r->max + 1 : INT_MAX;
    if (r->cap >= limit) { /* full at max + 1: the oldest goes */
        r->head = (r->head + 1) % r->cap;
        r->n--;
        return 0;
    }
    long cap = r->cap ? (long)r->cap * 2 : 4;
    if (cap > limit)
        cap = limit;
    uint64_t *t = malloc((size_t)cap * sizeof *t);
    if (!t)
        return -1;
    for (int i = 0; i < r->n; i++)
        t[i] = r->t[(r->head + i) % r->cap];
    free(r->t);
    r->t = t;
    r->cap = (int)cap;
    r->head = 0;
    return 0;
}

int cn_restarts_add(cn_restarts *r, uint64_t now_ms)
{
    expire(r, now_ms);
    if (room(r) < 0)
        return -1;
    r->t[(r->head + r->n) % r->cap] = now_ms;
    r->n++;
    return r->n <= r->max;
}

int cn_restarts_count(cn_restarts *r, uint64_t now_ms)
{
    expire(r, now_ms);
    return r->n;
}

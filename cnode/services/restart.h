/* restart: supervisor restart intensity, as OTP counts it: at most `max` restarts within any
 * `period_ms` window. Pure arithmetic on the timestamps the caller gives (no clock here). */
#ifndef CN_RESTART_H
#define CN_RESTART_H

#include <stdint.h>

/* The timestamps of recent restarts, oldest first, in a ring that grows up to max + 1. */
typedef struct cn_restarts {
    int max;            /* restarts allowed within the period (intensity, >= 0) */
    uint64_t period_ms; /* the window (> 0) */
    uint64_t *t;        /* ring storage */
    int cap, head, n;
} cn_restarts;

/* Returns 0, or -1 for a negative max or a zero period. */
int cn_restarts_init(cn_restarts *r, int max, uint64_t period_ms);
void cn_restarts_free(cn_restarts *r);

/* Count a restart at now_ms (never smaller than an earlier call's). Returns 1 if it is
 * allowed, 0 if it exceeds the intensity (the supervisor must give up), -1 out of memory.
 * A restart at T still counts at now_ms while now_ms - T <= period_ms, as Elixir's
 * DynamicSupervisor keeps it while now <= T + max_seconds. */
int cn_restarts_add(cn_restarts *r, uint64_t now_ms);

/* Restarts still inside the window at now_ms (drops the older ones). */
int cn_restarts_count(cn_restarts *r, uint64_t now_ms);

#endif

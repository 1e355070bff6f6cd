/* recorder: the log the unit tests' recording workers write from scheduler threads and the
 * test thread waits on (check_proc, check_ctrl). Header-only: each test binary has its own. */
#ifndef CN_TEST_RECORDER_H
#define CN_TEST_RECORDER_H

#include "cnode.h"
#include "proc/proc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct entry {
    cn_pid who;
    int kind;
    char *data; /* term without version byte */
    int len;
} entry;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cond = PTHREAD_COND_INITIALIZER;
static entry *log_e;
static size_t log_n, log_cap;
/* Checks inside worker callbacks run on scheduler threads, where ck_assert must not be
 * used: they count failures, which the teardown reports. */
static atomic_int worker_errors;
#define WCHECK(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: worker check failed: %s\n", __FILE__, __LINE__, #c);           \
            atomic_fetch_add(&worker_errors, 1);                                                   \
        }                                                                                          \
    } while (0)

static inline void log_add(const cn_pid *who, int kind, const char *data, int len)
{
    char *copy = malloc(len > 0 ? (size_t)len : 1);
    if (len > 0)
        memcpy(copy, data, (size_t)len);
    pthread_mutex_lock(&log_lock);
    if (log_n == log_cap) {
        log_cap = log_cap ? 2 * log_cap : 256;
        log_e = realloc(log_e, log_cap * sizeof *log_e);
    }
    log_e[log_n++] = (entry){.who = *who, .kind = kind, .data = copy, .len = len};
    pthread_cond_broadcast(&log_cond);
    pthread_mutex_unlock(&log_lock);
}

static inline void log_clear(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_n; i++)
        free(log_e[i].data);
    free(log_e);
    log_e = NULL;
    log_n = log_cap = 0;
    pthread_mutex_unlock(&log_lock);
}

static inline void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Index of the first entry from `who` (any, if NULL) of `kind` (with exactly these bytes, if
 * want is not NULL) at or after `from`, or -1. Caller holds log_lock. */
static inline long find_locked(size_t from, const cn_pid *who, int kind, const char *want, int wlen)
{
    for (size_t i = from; i < log_n; i++) {
        entry *e = &log_e[i];
        if (e->kind != kind || (who && !cn_pid_eq(&e->who, who)))
            continue;
        if (want && (e->len != wlen || memcmp(e->data, want, (size_t)wlen) != 0))
            continue;
        return (long)i;
    }
    return -1;
}

/* Wait up to ms for such an entry (want NULL: any of that kind). */
static inline int wait_entry(const cn_pid *who, int kind, const ei_x_buff *want, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    const char *w = want ? want->buff : NULL;
    int wl = want ? want->index : 0;
    pthread_mutex_lock(&log_lock);
    long i;
    while ((i = find_locked(0, who, kind, w, wl)) < 0)
        if (pthread_cond_timedwait(&log_cond, &log_lock, &ts) != 0) {
            i = find_locked(0, who, kind, w, wl);
            break;
        }
    pthread_mutex_unlock(&log_lock);
    return i >= 0;
}

static inline size_t count_entries(const cn_pid *who, int kind)
{
    size_t n = 0;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_n; i++)
        if (log_e[i].kind == kind && (!who || cn_pid_eq(&log_e[i].who, who)))
            n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait up to ms for the process table to hold n processes. */
static inline int wait_count(size_t n, int ms)
{
    for (int t = 0; t < ms; t += 2) {
        if (cn_proc_count() == n)
            return 1;
        sleep_ms(2);
    }
    return cn_proc_count() == n;
}

static inline int alive(const cn_pid *pid)
{
    cn_proc *p = cn_proc_get(pid);
    if (p)
        cn_proc_release(p);
    return p != NULL;
}

#endif

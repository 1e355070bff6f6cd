/* timer: one thread that sleeps until the earliest pending message is due and delivers it
 * (see timer.h). Pending timers are a list sorted by deadline; services keep few. */
#include "services/timer.h"

#include "proc/sched.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tmr {
    struct tmr *next;
    uint64_t due_ns;
    cn_pid to;
    int len;
    char msg[];
} tmr;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static tmr *pending;
static int started; /* 1 running, -1 could not start */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        if (!pending) {
            pthread_cond_wait(&cond, &lock);
            continue;
        }
        uint64_t now = now_ns();
        if (pending->due_ns > now) {
            struct timespec until = {(time_t)(pending->due_ns / 1000000000u),
                                     (long)(pending->due_ns % 1000000000u)};
            pthread_cond_timedwait(&cond, &lock, &until);
            continue;
        }
        tmr *t = pending;
        pending = t->next;
        pthread_mutex_unlock(&lock); /* deliver outside the lock */
        cn_send(NULL, &t->to, t->msg, t->len);
        free(t);
        pthread_mutex_lock(&lock);
    }
    return NULL;
}

static void start(void)
{
    cn_cond_init_monotonic(&cond);
    pthread_t th;
    started = pthread_create(&th, NULL, run, NULL) == 0 ? 1 : -1;
    if (started == 1)
        pthread_detach(th);
}

int cn_send_after(const cn_pid *to, unsigned ms, const char *msg, int len)
{
    pthread_once(&once, start);
    if (started != 1 || len < 0)
        return -1;
    tmr *t = malloc(sizeof *t + (size_t)len);
    if (!t)
        return -1;
    t->to = *to;
    t->len = len;
    memcpy(t->msg, msg, (size_t)len);
    t->due_ns = now_ns() + (uint64_t)ms * 1000000u;
    pthread_mutex_lock(&lock);
    tmr **pp = &pending;
    while (*pp && (*pp)->due_ns <= t->due_ns)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    if (pending == t) /* a new earliest deadline: wake the thread to wait less */
        pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    return 0;
}

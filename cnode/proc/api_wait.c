/* api_wait: selective receive, a process waiting on its own mailbox for the one message it
 * wants while the others stay queued in order (calls, rpc), and cn_sleep. */
#include "proc/api_int.h"
#include "proc/proc.h"
#include "proc/sched.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

/* The absolute CLOCK_MONOTONIC time timeout_ms from now in *until; NULL for -1 (forever). */
const struct timespec *api_deadline(int timeout_ms, struct timespec *until)
{
    if (timeout_ms < 0)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, until);
    until->tv_sec += timeout_ms / 1000;
    until->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until->tv_nsec >= 1000000000L) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000L;
    }
    return until;
}

static void unqueue(cn_proc *self, cn_msg *prev, cn_msg *m)
{
    if (prev)
        prev->next = m->next;
    else
        self->mq_head = m->next;
    if (self->mq_tail == m)
        self->mq_tail = prev;
    self->mq_len--;
    cn_proc_count_handled(self);
}

/* Wait on our own mailbox (other entries stay queued, in order) until an entry matches
 * (W_MATCH: it is taken out and returned in *found, the matcher's code in *code), a fatal
 * exit signal is queued (W_KILLED) or NODEDOWN of node (node != 0) is (W_NODEDOWN; both
 * stay queued for the runtime), or until passes (W_TIMEOUT; NULL: never). Blocks this
 * scheduler thread; another joins if that would leave too few. */
int api_wait_for(cn_proc *self, wait_match match, void *ctx, uint32_t node,
                 const struct timespec *until, cn_msg **found, int *code)
{
    pthread_cond_t cond;
    cn_cond_init_monotonic(&cond);
    int r = W_TIMEOUT;
    *found = NULL;
    cn_sched_block_begin();
    pthread_mutex_lock(&self->lock);
    self->waiter = &cond;
    for (;;) {
        cn_msg *prev = NULL;
        for (cn_msg *m = self->mq_head; m; prev = m, m = m->next) {
            if (cn_proc_fatal_signal(self, m)) {
                r = W_KILLED; /* we are being killed: stop waiting */
                break;
            }
            if (node != 0 && m->kind == CN_SIG_NODEDOWN && m->node == node) {
                r = W_NODEDOWN;
                break;
            }
            int c = match ? match(m, ctx) : 0;
            if (c != 0) {
                unqueue(self, prev, m);
                *found = m;
                *code = c;
                r = W_MATCH;
                break;
            }
        }
        if (r != W_TIMEOUT)
            break;
        int w = until ? pthread_cond_timedwait(&cond, &self->lock, until)
                      : pthread_cond_wait(&cond, &self->lock);
        if (w == ETIMEDOUT)
            break;
    }
    self->waiter = NULL;
    pthread_mutex_unlock(&self->lock);
    cn_sched_block_end();
    pthread_cond_destroy(&cond);
    return r;
}

/* Take every entry that matches out of our mailbox; fn sees each (it frees nothing). */
void api_sweep(cn_proc *self, wait_match match, void *ctx, void (*fn)(cn_msg *m, void *arg),
               void *arg)
{
    cn_msg *got = NULL, **tail = &got;
    pthread_mutex_lock(&self->lock);
    for (cn_msg *m = self->mq_head, *prev = NULL, *next; m; m = next) {
        next = m->next;
        if (match(m, ctx)) {
            unqueue(self, prev, m);
            m->next = NULL;
            *tail = m;
            tail = &m->next;
        } else {
            prev = m;
        }
    }
    pthread_mutex_unlock(&self->lock);
    while (got) {
        cn_msg *n = got->next;
        if (fn)
            fn(got, arg);
        cn_msg_free(got);
        got = n;
    }
}

int cn_sleep(cn_proc *self, int ms)
{
    struct timespec ts;
    cn_msg *found;
    int code;
    if (ms < 0)
        ms = 0;
    if (api_wait_for(self, NULL, NULL, 0, api_deadline(ms, &ts), &found, &code) == W_KILLED) {
        self->doomed = 1;
        return -1;
    }
    return 0;
}

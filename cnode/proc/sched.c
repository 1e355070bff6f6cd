#include "proc/sched.h"

#include "loop.h"
#include "util/log.h"

#include <malloc.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* One FIFO run queue shared by all schedulers: simple and fair; per-thread queues with
 * stealing are the next step if the lock shows up in profiles. */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static cn_proc *qhead, *qtail;
static int stopping, busy, nthreads_started, nbase, blocked;
static int nidle; /* schedulers waiting on qcond */
static pthread_t *threads;
#define MAX_EXTRA 256 /* threads added for blocked schedulers, at most */

enum { BUDGET = 64 };

void cn_sched_enqueue(cn_proc *p)
{
    p->runq_next = NULL;
    pthread_mutex_lock(&qlock);
    if (qtail)
        qtail->runq_next = p;
    else
        qhead = p;
    qtail = p;
    int wake = nidle > 0;
    pthread_mutex_unlock(&qlock);
    /* Signalled after the unlock: a scheduler woken while we still hold qlock would only
     * block on it at once (a futex wait and wake more per message). */
    if (wake)
        pthread_cond_signal(&qcond);
}

static cn_proc *dequeue(void)
{
    pthread_mutex_lock(&qlock);
    while (!qhead && !stopping) {
        nidle++;
        pthread_cond_wait(&qcond, &qlock);
        nidle--;
    }
    cn_proc *p = qhead;
    if (p) {
        qhead = p->runq_next;
        if (!qhead)
            qtail = NULL;
        busy++;
    }
    pthread_mutex_unlock(&qlock);
    return p;
}

static void *sched_main(void *arg)
{
    (void)arg;
    cn_proc *p;
    while ((p = dequeue())) {
        pthread_mutex_lock(&p->lock);
        p->sched = CN_S_RUNNING;
        pthread_mutex_unlock(&p->lock);
        int more = cn_proc_run(p, BUDGET);
        pthread_mutex_lock(&p->lock);
        int requeue = !p->dead && (more || p->mq_head != NULL);
        p->sched = requeue ? CN_S_QUEUED : CN_S_IDLE;
        pthread_mutex_unlock(&p->lock);
        if (requeue)
            cn_sched_enqueue(p); /* keeps the queue's reference */
        else
            cn_proc_release(p);
        pthread_mutex_lock(&qlock);
        busy--;
        pthread_mutex_unlock(&qlock);
    }
    return NULL;
}

int cn_sched_start(int n)
{
    /* Messages of some MiB are allocated and freed once or twice per message by these
     * threads and the I/O thread. glibc would mmap and munmap each, so every one costs a page
     * fault and a zeroed page per 4 KiB (a third of a 16 MiB round trip's time). Keep such
     * buffers in the heap, and up to 128 MiB of freed memory mapped. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    nbase = n;
    threads = calloc((size_t)n + MAX_EXTRA, sizeof *threads);
    if (!threads)
        return -1;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&threads[i], NULL, sched_main, NULL) != 0)
            return -1;
        nthreads_started++;
    }
    return 0;
}

int cn_sched_count(void) { return nbase; }

void cn_sched_block_begin(void)
{
    pthread_mutex_lock(&qlock);
    blocked++;
    if (!stopping && nthreads_started - blocked < nbase && nthreads_started < nbase + MAX_EXTRA &&
        pthread_create(&threads[nthreads_started], NULL, sched_main, NULL) == 0)
        nthreads_started++;
    pthread_mutex_unlock(&qlock);
}

void cn_sched_block_end(void)
{
    pthread_mutex_lock(&qlock);
    blocked--;
    pthread_mutex_unlock(&qlock);
}

void cn_sched_stop(int drain_ms)
{
    uint64_t until = cn_now_ms() + (uint64_t)drain_ms;
    for (;;) {
        pthread_mutex_lock(&qlock);
        int idle = !qhead && busy == 0;
        pthread_mutex_unlock(&qlock);
        if (idle || cn_now_ms() >= until)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&qlock);
    stopping = 1;
    pthread_cond_broadcast(&qcond);
    pthread_mutex_unlock(&qlock);
    for (int i = 0; i < nthreads_started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    threads = NULL;
    nthreads_started = 0;
    /* Whatever is still queued is dropped with the process table at exit. */
    pthread_mutex_lock(&qlock);
    while (qhead) {
        cn_proc *p = qhead;
        qhead = p->runq_next;
        cn_proc_release(p);
    }
    qtail = NULL;
    pthread_mutex_unlock(&qlock);
}

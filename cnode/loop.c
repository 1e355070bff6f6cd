#include "loop.h"

#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct cn_post {
    struct cn_post *next;
    void (*fn)(void *);
    void *arg;
} cn_post;

/* One thread at a time waits (the scheduler hands the role around), so fds are level-
 * triggered and a callback may free what later events of the same batch point to only by
 * posting the free (as conn.c does). */
static int epfd = -1;
static int wakefd = -1; /* posts, stop and kicks: handled under the lock */
static cn_ev wake_ev;
static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int in_io;
static pthread_mutex_t post_lock = PTHREAD_MUTEX_INITIALIZER;
static cn_post *post_head, *post_tail;
static atomic_int stopping;
static void (*timer_fn)(uint64_t);
static uint64_t timer_period;
static _Atomic uint64_t next_timer;
static int duefd = -1; /* the timerfd of deferred calls */
static cn_ev due_ev;
static cn_ev *due_list;           /* deferred calls, unordered: a few connections at most */
static uint64_t due_armed;        /* when duefd fires, 0 if disarmed */
static _Atomic uint64_t soft_due; /* cn_loop_soft_due: the wait ends by then (0: none) */
static void (*soft_fn)(uint64_t now_ns);

uint64_t cn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t cn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* duefd fires at the earliest deferred time (I/O lock held). */
static void due_rearm(void)
{
    uint64_t first = 0;
    for (cn_ev *e = due_list; e; e = e->due_next)
        if (first == 0 || e->due < first)
            first = e->due;
    if (first == due_armed)
        return;
    struct itimerspec its = {{0, 0}, {(time_t)(first / 1000000000u), (long)(first % 1000000000u)}};
    if (timerfd_settime(duefd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        due_armed = first;
}

int cn_loop_defer(cn_ev *ev, uint64_t due)
{
    if (duefd < 0)
        return -1;
    if (due == 0)
        due = 1;
    if (ev->due == 0) {
        ev->due_next = due_list;
        due_list = ev;
    }
    ev->due = due;
    due_rearm();
    return 0;
}

void cn_loop_undefer(cn_ev *ev)
{
    if (ev->due == 0)
        return;
    for (cn_ev **pp = &due_list; *pp; pp = &(*pp)->due_next) {
        if (*pp == ev) {
            *pp = ev->due_next;
            break;
        }
    }
    ev->due = 0;
    ev->due_next = NULL;
}

/* One due call at a time, the list searched again after each: a callback may defer, cancel
 * or delete any of them. */
static void run_due(void *ctx, uint32_t events)
{
    (void)ctx;
    (void)events;
    uint64_t n;
    while (read(duefd, &n, sizeof n) > 0) {
    }
    due_armed = 0;
    for (;;) {
        uint64_t now = cn_now_ns();
        cn_ev *e = due_list;
        while (e && e->due > now)
            e = e->due_next;
        if (!e)
            break;
        cn_loop_undefer(e);
        e->fn(e->ctx, CN_EV_DUE);
    }
    due_rearm();
}

static void run_posts(void *ctx, uint32_t events)
{
    (void)ctx;
    (void)events;
    uint64_t v;
    while (read(wakefd, &v, sizeof v) > 0) {
    }
    pthread_mutex_lock(&post_lock);
    cn_post *p = post_head;
    post_head = post_tail = NULL;
    pthread_mutex_unlock(&post_lock);
    while (p) {
        cn_post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

int cn_loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd < 0 || wakefd < 0)
        return -1;
    wake_ev.fd = wakefd;
    wake_ev.fn = run_posts;
    wake_ev.ctx = NULL;
    if (cn_loop_add(&wake_ev, EPOLLIN) < 0)
        return -1;
    duefd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (duefd < 0)
        return -1;
    due_ev.fd = duefd;
    due_ev.fn = run_due;
    return cn_loop_add(&due_ev, EPOLLIN);
}

int cn_loop_add(cn_ev *ev, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = ev};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, ev->fd, &e);
}

int cn_loop_mod(cn_ev *ev, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = ev};
    return epoll_ctl(epfd, EPOLL_CTL_MOD, ev->fd, &e);
}

void cn_loop_del(cn_ev *ev)
{
    cn_loop_undefer(ev);
    epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}

void cn_loop_set_timer(void (*on_timer)(uint64_t now_ms), int period_ms)
{
    timer_period = period_ms > 0 ? (uint64_t)period_ms : 1000;
    atomic_store(&next_timer, cn_now_ms() + timer_period);
    timer_fn = on_timer;
}

static void wake(void)
{
    uint64_t one = 1;
    ssize_t r = write(wakefd, &one, sizeof one);
    (void)r; /* EAGAIN means the counter is already non-zero: a waiter will wake */
}

int cn_loop_post(void (*fn)(void *), void *arg)
{
    cn_post *p = malloc(sizeof *p);
    if (!p)
        return -1;
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&post_lock);
    int was_empty = post_head == NULL;
    if (post_tail)
        post_tail->next = p;
    else
        post_head = p;
    post_tail = p;
    pthread_mutex_unlock(&post_lock);
    if (was_empty)
        wake();
    return 0;
}

/* The post handler finds nothing to run: the wait just ends. */
void cn_loop_kick(void)
{
    wake();
}

int cn_loop_in_io(void)
{
    return in_io;
}

void cn_loop_set_soft(void (*fn)(uint64_t now_ns))
{
    soft_fn = fn;
}

void cn_loop_soft_due(uint64_t due)
{
    uint64_t cur = atomic_load(&soft_due);
    while ((cur == 0 || due < cur) && !atomic_compare_exchange_weak(&soft_due, &cur, due))
        ;
}

void cn_loop_soft_clear(void)
{
    atomic_store(&soft_due, 0);
}

void cn_loop_wait(cn_loop_batch *b, int block)
{
    int64_t wait_ns = block ? -1 : 0; /* -1: until something happens */
    if (block && timer_fn) {
        uint64_t now = cn_now_ms(), due = atomic_load(&next_timer);
        wait_ns = now >= due ? 0 : (int64_t)(due - now) * 1000000;
    }
    uint64_t soft = block ? atomic_load(&soft_due) : 0;
    if (soft) {
        uint64_t now = cn_now_ns();
        int64_t left = now >= soft ? 0 : (int64_t)(soft - now);
        if (wait_ns < 0 || left < wait_ns)
            wait_ns = left;
    }
    int cap = (int)(sizeof b->evs / sizeof b->evs[0]), n;
    if (soft) { /* sub-millisecond, and no timerfd to arm or disarm */
        struct timespec ts = {(time_t)(wait_ns / 1000000000), (long)(wait_ns % 1000000000)};
        n = epoll_pwait2(epfd, b->evs, cap, &ts, NULL);
        if (n < 0 && errno == ENOSYS) /* kernels before 5.11: whole milliseconds */
            n = epoll_wait(epfd, b->evs, cap, (int)((wait_ns + 999999) / 1000000));
    } else {
        n = epoll_wait(epfd, b->evs, cap, wait_ns < 0 ? -1 : (int)(wait_ns / 1000000));
    }
    if (n < 0 && errno != EINTR)
        cn_error("epoll_wait: %s", strerror(errno));
    b->n = n > 0 ? n : 0;
}

void cn_loop_handle(cn_loop_batch *b)
{
    pthread_mutex_lock(&io_lock);
    in_io = 1;
    for (int i = 0; i < b->n; i++) {
        cn_ev *ev = b->evs[i].data.ptr;
        ev->fn(ev->ctx, b->evs[i].events);
    }
    if (timer_fn) {
        uint64_t now = cn_now_ms();
        if (now >= atomic_load(&next_timer)) {
            timer_fn(now);
            atomic_store(&next_timer, now + timer_period);
        }
    }
    uint64_t soft = atomic_load(&soft_due);
    if (soft && soft_fn) {
        uint64_t now = cn_now_ns();
        if (now >= soft && atomic_compare_exchange_strong(&soft_due, &soft, 0))
            soft_fn(now);
    }
    in_io = 0;
    pthread_mutex_unlock(&io_lock);
}

void cn_loop_stop(void)
{
    atomic_store(&stopping, 1);
    if (wakefd >= 0)
        wake();
}

void cn_loop_drain(void)
{
    pthread_mutex_lock(&io_lock);
    in_io = 1;
    run_posts(NULL, 0);
    in_io = 0;
    pthread_mutex_unlock(&io_lock);
}

int cn_loop_stopping(void)
{
    return atomic_load(&stopping);
}

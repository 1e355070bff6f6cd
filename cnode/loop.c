#include "loop.h"

#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct cn_post {
    struct cn_post *next;
    void (*fn)(void *);
    void *arg;
} cn_post;

static int epfd = -1;
static int wakefd = -1;
static cn_ev wake_ev;
static pthread_mutex_t post_lock = PTHREAD_MUTEX_INITIALIZER;
static cn_post *post_head, *post_tail;
static atomic_int stopping;

uint64_t cn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
    return cn_loop_add(&wake_ev, EPOLLIN);
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

void cn_loop_del(cn_ev *ev) { epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL); }

static void wake(void)
{
    uint64_t one = 1;
    ssize_t r = write(wakefd, &one, sizeof one);
    (void)r; /* EAGAIN means the counter is already non-zero: the loop will wake */
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

void cn_loop_stop(void)
{
    atomic_store(&stopping, 1);
    if (wakefd >= 0)
        wake();
}

void cn_loop_drain(void) { run_posts(NULL, 0); }

int cn_loop_stopping(void) { return atomic_load(&stopping); }

void cn_loop_run(void (*on_timer)(uint64_t now_ms), int period_ms)
{
    struct epoll_event evs[64];
    uint64_t next_timer = cn_now_ms() + (uint64_t)period_ms;
    while (!atomic_load(&stopping)) {
        uint64_t now = cn_now_ms();
        int wait = now >= next_timer ? 0 : (int)(next_timer - now);
        int n = epoll_wait(epfd, evs, 64, wait);
        if (n < 0 && errno != EINTR) {
            cn_error("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            cn_ev *ev = evs[i].data.ptr;
            ev->fn(ev->ctx, evs[i].events);
        }
        now = cn_now_ms();
        if (now >= next_timer) {
            on_timer(now);
            next_timer = now + (uint64_t)period_ms;
        }
    }
    run_posts(NULL, 0);
}

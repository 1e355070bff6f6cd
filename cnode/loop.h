/* loop: the node's event loop (epoll, in the manner of Redis's ae): fd callbacks, work posted
 * from any thread, a periodic timer. Whichever thread holds the poller role (sched.c) waits
 * and runs the callbacks, under the I/O lock: callbacks never run concurrently. */
#ifndef CN_LOOP_H
#define CN_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef void (*cn_ev_fn)(void *ctx, uint32_t events);
typedef struct cn_ev {
    int fd;
    cn_ev_fn fn;
    void *ctx;
    uint64_t due;           /* cn_loop_defer's time, 0 if none */
    struct cn_ev *due_next; /* (loop only) */
} cn_ev;

int cn_loop_init(void);
/* Register, change, forget an fd: with the I/O lock held (in a callback or a post), or
 * before any thread waits. */
int cn_loop_add(cn_ev *ev, uint32_t events);
int cn_loop_mod(cn_ev *ev, uint32_t events);
void cn_loop_del(cn_ev *ev); /* also cancels its deferred call */
/* Call ev->fn(ev->ctx, CN_EV_DUE) once at `due` (cn_now_ns's clock), sub-millisecond (a
 * timerfd); deferring it again moves the time. I/O lock held, as for cn_loop_mod. */
#define CN_EV_DUE (1u << 27) /* not an epoll event bit */
int cn_loop_defer(cn_ev *ev, uint64_t due);
void cn_loop_undefer(cn_ev *ev);
/* Run fn(arg) under the I/O lock soon. Safe from any thread. */
int cn_loop_post(void (*fn)(void *), void *arg);
/* on_timer runs under the I/O lock about every period_ms. */
void cn_loop_set_timer(void (*on_timer)(uint64_t now_ms), int period_ms);
/* A soft deadline: the poller's wait ends by `due` (cn_now_ns's clock) at the latest, as
 * the wait's own timeout: no timerfd to arm and disarm (though a wait with a timeout costs
 * the kernel a timer of its own); fn then runs under the I/O lock. cn_loop_soft_due keeps the
 * earliest of what it is given; cn_loop_soft_clear drops it. Any thread. */
void cn_loop_set_soft(void (*fn)(uint64_t now_ns));
void cn_loop_soft_due(uint64_t due);
void cn_loop_soft_clear(void);

/* The poller: cn_loop_wait waits (block) or only looks (!block) for events, a due timer or a
 * cn_loop_kick; cn_loop_handle then takes the lock and runs what is due. A kick only ends
 * the wait. */
typedef struct cn_loop_batch {
    struct epoll_event evs[32];
    int n;
} cn_loop_batch;
void cn_loop_wait(cn_loop_batch *b, int block);
void cn_loop_handle(cn_loop_batch *b);
void cn_loop_kick(void);
int cn_loop_in_io(void); /* this thread holds the I/O lock */

void cn_loop_stop(void); /* safe from any thread and from signal context */
/* Run what is still posted (after the loop stopped, during shutdown). */
void cn_loop_drain(void);
int cn_loop_stopping(void);
uint64_t cn_now_ms(void);
uint64_t cn_now_ns(void); /* CLOCK_MONOTONIC */

#endif

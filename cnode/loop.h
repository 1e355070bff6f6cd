/* loop: the I/O thread's event loop (epoll), in the manner of Redis's ae: fd callbacks,
 * work posted from other threads through an eventfd, and a periodic timer callback. */
#ifndef CN_LOOP_H
#define CN_LOOP_H

#include <stdint.h>

typedef void (*cn_ev_fn)(void *ctx, uint32_t events);
typedef struct cn_ev {
    int fd;
    cn_ev_fn fn;
    void *ctx;
} cn_ev;

int cn_loop_init(void);
int cn_loop_add(cn_ev *ev, uint32_t events);
int cn_loop_mod(cn_ev *ev, uint32_t events);
void cn_loop_del(cn_ev *ev);
/* Run fn(arg) on the I/O thread soon. Safe from any thread. */
int cn_loop_post(void (*fn)(void *), void *arg);
/* Run until cn_loop_stop; on_timer is called about every period_ms. */
void cn_loop_run(void (*on_timer)(uint64_t now_ms), int period_ms);
void cn_loop_stop(void); /* safe from any thread and from signal context */
/* Run what is still posted (after the loop stopped, during shutdown). */
void cn_loop_drain(void);
int cn_loop_stopping(void);
uint64_t cn_now_ms(void);

#endif

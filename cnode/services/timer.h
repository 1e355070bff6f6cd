/* timer: erlang:send_after for services: deliver a message to a local process after a delay,
 * from one timer thread, so that no process ever sleeps on a scheduler. */
#ifndef CN_SVC_TIMER_H
#define CN_SVC_TIMER_H

#include "cnode.h"

/* After ms milliseconds, send msg (encoded without version byte; copied) to the local pid
 * `to`, with no sender. Safe from any thread. Returns 0, or -1 (out of memory, no thread).
 * A message to a process that is gone by then is dropped. */
int cn_send_after(const cn_pid *to, unsigned ms, const char *msg, int len);

#endif

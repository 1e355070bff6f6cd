/* sched: scheduler threads (one per core by default) that run processes, one mailbox
 * entry at a time, from a shared run queue. */
#ifndef CN_SCHED_H
#define CN_SCHED_H

#include "proc/proc.h"

int cn_sched_start(int nthreads);
/* Queue a process that has work; the queue owns one reference to it. */
void cn_sched_enqueue(cn_proc *p);
/* Wait (bounded) until no process is queued or running, then stop the threads. */
void cn_sched_stop(int drain_ms);
int cn_sched_count(void);

#endif

/* sched: scheduler threads (one per core by default) that run processes, one mailbox
 * entry at a time, from a shared run queue, and serve the event loop when idle. */
#ifndef CN_SCHED_H
#define CN_SCHED_H

#include "proc/proc.h"

/* nthreads <= 0: one per CPU this process may run on (its affinity mask, as the BEAM's
 * schedulers; taskset or a container's cpuset count, not the machine's cores). */
int cn_sched_start(int nthreads);
/* The CPUs this process may run on, or the online CPUs if the mask can't be read. */
long cn_cpus_available(void);
/* The calling thread joins the schedulers and from now on idle threads serve the event loop
 * (there is no dedicated I/O thread). Returns once the loop is stopped. */
void cn_sched_run_io(void);
/* Queue a process that has work; the queue owns one reference to it. */
void cn_sched_enqueue(cn_proc *p);
/* Wait (bounded) until no process is queued or running, then stop the threads. */
void cn_sched_stop(int drain_ms);
int cn_sched_count(void);
/* Scheduler threads now (the main thread included once it serves the loop): more than
 * cn_sched_count() + 1 while processes block, back to that once the extra ones retire. */
int cn_sched_threads(void);
/* How long more threads than needed must have been unblocked before the extra ones exit (ms;
 * <= 0: the default, 3000). For tests. */
void cn_sched_set_retire_ms(int ms);
/* A process is about to block its scheduler thread (cn_call). If that would leave fewer
 * runnable schedulers than configured, another thread joins (bounded), so a call between
 * two processes of this node cannot deadlock. */
void cn_sched_block_begin(void);
void cn_sched_block_end(void);
/* Between two messages of a turn: a thread that left the sockets unserved to run this turn
 * gives that role up once the turn has run long. */
void cn_sched_checkpoint(void);
/* A condition variable whose timed waits count on CLOCK_MONOTONIC (cn_now_ns's clock), for
 * threads that block with a deadline: a process waiting in cn_call & co., the timer thread. */
void cn_cond_init_monotonic(pthread_cond_t *cond);

#endif

/* introspect: what the node answers about itself over rpc, as a BEAM node does, so that
 * observer-style tools work: processes, process_info, memory, system_info, statistics, nodes/1. */
#ifndef CN_INTROSPECT_H
#define CN_INTROSPECT_H

#include "cnode.h"

#include <stdint.h>

/* This library's version (cnoded --version prints the same). */
#define CN_VERSION "0.1.0"

/* Export every introspection function (called by cn_builtins_start). Returns 0 or -1. */
int cn_introspect_start(void);

/* The parts, by topic: erlang:process_info/1,2 (introspect_proc.c); erlang:memory/0,1,
 * system_info/1, statistics/1 (introspect_sys.c); erlang:nodes/1, init:stop/0, cnode:info/0
 * (introspect_node.c). Each exports its functions; 0 or -1. */
int cn_introspect_proc_start(void);
int cn_introspect_sys_start(void);
int cn_introspect_node_start(void);
/* erlang:is_process_alive/1, exit/2, send/2, register/2, unregister/1, garbage_collect/0,1,
 * is_alive/0, function_exported/3, halt/0,1 and os:getpid/0 (bifs.c). */
int cn_bifs_start(void);
/* sys:get_state/get_status/suspend/resume over rpc (sys_rpc.c). */
int cn_sys_rpc_start(void);
/* system_info/1's keys about the clocks (time_warp_mode, os_monotonic_time_source, ...),
 * which bifs_node.c's time functions follow: 0, or -1 for another key. */
int cn_ix_time_info(const char *key, ei_x_buff *out);

/* Shared helpers. */
/* Append the reason badarg and return CN_RPC_ERROR (erpc reports error:badarg). */
int cn_ix_badarg(ei_x_buff *out);
/* The term at buf+*idx is an atom (*is_list = 0) or a proper list of atoms (*is_list = 1):
 * call fn for each (in order) and advance *idx. Returns 0, or -1 if the term is neither or
 * fn returned -1 for an atom (both mean badarg). */
int cn_ix_atoms(const char *buf, int *idx, int *is_list, int (*fn)(const char *atom, void *arg),
                void *arg);
/* Milliseconds since the node started its services (wall clock, monotonic). */
uint64_t cn_ix_uptime_ms(void);
/* Per-process memory, estimated without waiting for the process (sizes of its record and
 * behaviour allowance, its mailbox entries): bytes on "the heap" (entries up to 64 bytes,
 * as the BEAM keeps small terms on process heaps) and in large payloads ("binary"). */
void cn_ix_proc_mem(cn_proc *p, uint64_t *heap, uint64_t *binary);

/* erlang:memory/0's list, or only the keys asked for (keys NULL: all, in its order); keys
 * it does not know are left out. */
void cn_ix_memory_list(ei_x_buff *out, const char *const *keys, int n);
/* erlang:memory(total). */
uint64_t cn_ix_memory_total(void);
/* erlang:system_info(key)'s answer appended to out: 0, or -1 for a key it does not know. */
int cn_ix_system_info(const char *key, ei_x_buff *out);
/* statistics(run_queue) and statistics(scheduler_wall_time) (introspect_sys.c). */
unsigned long cn_ix_run_queue(void);
void cn_ix_sched_wall_time(ei_x_buff *out);

/* What etop and observer's process list show of one process, read without waiting for it
 * (introspect_proc.c). */
typedef struct cn_ix_summary {
    char name[MAXATOMLEN_UTF8]; /* registered name, if has_name */
    int has_name;
    char init_m[MAXATOMLEN_UTF8], init_f[16]; /* initial_call */
    long init_a;
    char cur_m[MAXATOMLEN_UTF8], cur_f[16]; /* current_function */
    long cur_a;
    uint64_t memory, reductions;
    unsigned long mq; /* message_queue_len */
} cn_ix_summary;
/* Fill s for p (self: the asking process). A process that is running a callback right now is
 * not waited for: its memory then counts only its record and mailbox. 0, or -1 if p died. */
int cn_ix_proc_summary(cn_proc *self, cn_proc *p, cn_ix_summary *s);

/* process_info(Pid, links) of a local process, read as process_info reads it (waiting for it
 * to hold still): at most cap pids into out, *n of them. 0, or -1 if it is gone, there are
 * more than cap, or self must give up. */
int cn_ix_links(cn_proc *self, const cn_pid *pid, cn_pid *out, size_t cap, size_t *n);

/* observer_backend:* for observer and etop (observer.c), with appmon_info:start_link2/3 for
 * its Applications tab (observer_appmon.c). Returns 0 or -1. */
int cn_observer_start(void);
int cn_observer_appmon_start(void);

#endif

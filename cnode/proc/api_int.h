/* api_int: private to the proc/api*.c files: selective receive on a process's own mailbox
 * (api_wait.c), which calls (api_call.c), rpc (api_rpc.c) and cn_sleep are built on. */
#ifndef CN_API_INT_H
#define CN_API_INT_H

#include "proc/proc.h"

#include <stdint.h>
#include <time.h>

/* A matcher: 0 if m is not what the waiter wants, else a code > 0 of its own. */
typedef int (*wait_match)(const cn_msg *m, void *ctx);

enum { W_TIMEOUT = 0, W_MATCH = 1, W_NODEDOWN = 3, W_KILLED = 4 };

/* The absolute CLOCK_MONOTONIC time timeout_ms from now in *until; NULL for -1 (forever). */
const struct timespec *api_deadline(int timeout_ms, struct timespec *until);
/* Wait until an entry of our mailbox matches (W_MATCH, taken out into *found), we are being
 * killed (W_KILLED), node goes down (W_NODEDOWN) or until passes (W_TIMEOUT). */
int api_wait_for(cn_proc *self, wait_match match, void *ctx, uint32_t node,
                 const struct timespec *until, cn_msg **found, int *code);
/* Take every entry that matches out of our mailbox; fn sees each (it frees nothing). */
void api_sweep(cn_proc *self, wait_match match, void *ctx, void (*fn)(cn_msg *m, void *arg),
               void *arg);

#endif

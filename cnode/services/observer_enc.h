/* observer_enc: the terms observer_backend's callers expect (etop's records, the stats
 * messages) and the readers of their arguments, apart from the process table so they are
 * unit-tested alone. */
#ifndef CN_OBSERVER_ENC_H
#define CN_OBSERVER_ENC_H

#include "services/introspect.h"

#include <stdint.h>

/* The keys of observer_backend:sys_info/0, in the order OTP 25-27 give them (process_count
 * twice, as they do); the memory figures follow them. */
extern const char *const cn_obs_sys_keys[];
extern const int cn_obs_n_sys_keys;
/* The memory keys etop shows (#etop_info.memi). */
extern const char *const cn_obs_etop_mem_keys[];
extern const int cn_obs_n_etop_mem_keys;

/* #etop_proc_info{pid, mem, reds, name, runtime = 0, cf, mq} for s (etop_defs: the record
 * of observer's etop.hrl): name is the registered name, else the initial call. */
void cn_obs_encode_proc(ei_x_buff *x, const cn_pid *pid, const cn_ix_summary *s);
/* erlang:timestamp() for us microseconds since the epoch: {MegaSecs, Secs, MicroSecs}. */
void cn_obs_encode_now(ei_x_buff *x, uint64_t us);
/* A receive timeout as `after` takes it: an integer 0..4294967295. 0, or -1 (with *idx
 * unchanged) for anything else. */
int cn_obs_decode_timeout(const char *buf, int *idx, unsigned long *ms);
/* A pid argument (the collector or parent processes are sent to). 0 or -1. */
int cn_obs_decode_pid(const char *buf, int *idx, cn_pid *pid);

#endif

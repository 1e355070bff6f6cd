/* keeper: one unregistered process that brings the node's named system processes (echo, rex,
 * net_kernel, the boot :pg scopes, global_name_server, cnode_sup) back when they exit. */
#ifndef CN_KEEPER_H
#define CN_KEEPER_H

#include "cnode.h"
#include "services/restart.h"

#include <stdint.h>

/* Start the process anew, registered under name. Returns 0, or -1. */
typedef int (*cn_keep_start_fn)(const char *name, void *arg);

/* How often a name may come back: at most max starts within period_ms (a supervisor's
 * intensity). Past it: give up for good (retry_ms 0, logged as an error) or start it again
 * after retry_ms anyway. note, if not NULL, is added to the log line of each restart. */
typedef struct cn_keep_policy {
    int max;
    uint64_t period_ms;
    unsigned retry_ms;
    const char *note;
} cn_keep_policy;

/* The default: kernel_safe_sup's intensity (4 restarts in 3600 s), then give up. */
extern const cn_keep_policy cn_keep_default;

/* Start the keeper (before anything is kept). Returns 0, or -1. */
int cn_keeper_start(void);

/* Keep the process registered under name (started already by the caller, as start would):
 * whenever it exits while the node runs (not during shutdown), start(name, arg) runs again, within
 * the policy (NULL: cn_keep_default; it must live as long as the node; name is copied). Keeping
 * a name twice replaces the first. Returns 0, or -1 (no keeper, table full). */
int cn_keep(const char *name, cn_keep_start_fn start, void *arg, const cn_keep_policy *policy);

/* Spawn worker w registered as name, and keep it (started again the same way). */
int cn_keep_worker(const cn_worker *w, const char *name);

/* What to do when a kept process has exited at now_ms (pure; r counts the starts). */
enum { CN_KEEP_START, CN_KEEP_RETRY, CN_KEEP_GIVE_UP };
int cn_keep_decide(cn_restarts *r, const cn_keep_policy *p, uint64_t now_ms);

#endif

/* gen: what the gen_server adapter (gen.c) tells the rest of the runtime about its processes
 * and the worker modules it knows, for introspection (erlang:process_info, cnode:info). */
#ifndef CN_GEN_H
#define CN_GEN_H

#include "proc/proc.h"

#include <stddef.h>

/* What a gen_server process is, for process_info. Call only from p's own turn or while p
 * cannot run (p->lock held and p not running, or blocked in cn_call). Returns 0, or -1 if
 * p is not a gen_server process (or is past its end). module: the worker's module name;
 * suspended: held by :sys.suspend; held: messages kept back meanwhile; bytes: the adapter's
 * own memory (the worker's state is the worker's and not counted). */
int cn_gen_describe(const cn_proc *p, const char **module, int *suspended, size_t *held,
                    size_t *bytes);

/* Call fn for each message a suspended gen_server process holds back (cn_msg data with its
 * version byte), oldest first; same calling rule as cn_gen_describe. */
void cn_gen_held_foreach(const cn_proc *p, void (*fn)(const cn_msg *m, void *arg), void *arg);

/* How long a handed-off process goes on forwarding what still comes to it, ms. */
#define CN_HANDOFF_GRACE_MS 5000

/* Can p be handed off (a gen_server process whose worker exports and imports its state, and
 * not handed off already)? Any thread; a snapshot. */
int cn_gen_movable(const cn_proc *p);

/* The registered worker module names (cn_worker_register) and those of loaded code, at most
 * cap; returns how many. */
size_t cn_worker_list(const char **out, size_t cap);

/* A worker module registered with cn_worker_register (built-in code only), or NULL. */
const cn_worker *cn_worker_builtin_lookup(const char *module);

/* Is fun a function a worker module starts through (spawn, a child spec's start MFA)?
 * start and start_link, as a GenServer module's; any other is undef, as on a BEAM node. */
int cn_worker_entry_fun(const char *fun);

#endif

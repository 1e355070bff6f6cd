/* global_tables: the two tables of a :global participant, pure data (no messages, no locks):
 * locks (resource -> requester id and holders) and names (name -> pid, method, monitor). */
#ifndef CN_GLOBAL_TABLES_H
#define CN_GLOBAL_TABLES_H

#include "cnode.h"

/* Bounds: any term larger than GT_MAX_TERM is refused, and so is growth past these counts. */
#define GT_MAX_TERM 65536
#define GT_MAX_LOCKS 4096
#define GT_MAX_HOLDERS 1024
#define GT_MAX_NAMES 100000

/* ---- locks: {ResourceId, LockRequesterId} held by pids, each with our monitor ref ------- */

typedef struct gt_holder {
    cn_pid pid;
    cn_ref ref;
} gt_holder;

typedef struct gt_lock {
    char *res, *req; /* encoded terms, without version byte */
    int res_len, req_len;
    gt_holder *h;
    int nh, cap;
} gt_lock;

typedef struct gt_locks {
    gt_lock *v;
    int n, cap;
} gt_locks;

void gt_locks_free(gt_locks *t);
gt_lock *gt_locks_find(gt_locks *t, const char *res, int res_len);
/* 1 if {res, req} can be set (free, or held with the same requester id), else 0. */
int gt_locks_can_set(gt_locks *t, const char *res, int res_len, const char *req, int req_len);
/* Is pid among the holders of res? */
int gt_locks_holds(gt_locks *t, const char *res, int res_len, const cn_pid *pid);
/* Add pid (monitored by ref) as a holder; the caller checked can_set and holds. 0, or -1
 * when a bound is reached (nothing changed). */
int gt_locks_add(gt_locks *t, const char *res, int res_len, const char *req, int req_len,
                 const cn_pid *pid, const cn_ref *ref);
/* del_lock: drop pid from res if res is held with requester req. Returns 1 and the holder's
 * monitor ref (to demonitor) when it was a holder, else 0. *gone: the lock ended. */
int gt_locks_del(gt_locks *t, const char *res, int res_len, const char *req, int req_len,
                 const cn_pid *pid, cn_ref *ref_out, int *gone);
/* The holder monitored by ref died: drop it from every lock. Returns how many holders went;
 * *global_ended is set when the resource `global` ended that way. */
int gt_locks_drop_ref(gt_locks *t, const cn_ref *ref, int *global_ended);
/* Is res the atom `global`? */
int gt_is_global_atom(const char *res, int res_len);

/* ---- names ------------------------------------------------------------------------------ */

typedef struct gt_name {
    char *name, *method; /* encoded terms without version byte; method kept opaque */
    int name_len, method_len;
    cn_pid pid;
    cn_ref ref; /* our monitor of pid */
} gt_name;

typedef struct gt_names {
    gt_name *v;
    int n, cap;
} gt_names;

void gt_names_free(gt_names *t);
gt_name *gt_names_find(gt_names *t, const char *name, int len);
gt_name *gt_names_find_ref(gt_names *t, const cn_ref *ref);
gt_name *gt_names_find_pid(gt_names *t, const cn_pid *pid);
/* Insert a name that is not in the table. 0, or -1 (bound, memory, oversized). */
int gt_names_insert(gt_names *t, const char *name, int len, const cn_pid *pid, const char *method,
                    int method_len, const cn_ref *ref);
/* Remove a name; *out (if given) gets its pid and ref. 1 if it was there, else 0. */
int gt_names_remove(gt_names *t, const char *name, int len, cn_pid *pid_out, cn_ref *ref_out);

/* Erlang term order of two pids (serial, number, node name, creation): <0, 0, >0. */
int gt_pid_cmp(const cn_pid *a, const cn_pid *b);

#endif

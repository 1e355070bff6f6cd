/* sup_int: private to supervisor.c (cnode_sup), sup_children.c (its child table) and
 * sup_keeper.c (its start, kept by keeper.c): a supervisor's state and what the three share. */
#ifndef CN_SUP_INT_H
#define CN_SUP_INT_H

#include "cnode.h"
#include "services/restart.h"
#include "services/sup_spec.h"

#include <stddef.h>
#include <stdint.h>

#define SUP_NAME "cnode_sup"
#define TAG "$cnode_sup" /* our own timer and retry messages: {TAG, Op, Key} */

typedef struct child {
    struct child *prev, *next; /* all children, in start order */
    struct child *hnext;       /* pid hash chain, while the child has a pid */
    uint64_t key;              /* names the child in our own timer/retry messages */
    cn_pid pid;
    int has_pid;      /* 0: a restart failed and is to be tried again */
    int terminating;  /* an exit was sent; the child no longer counts as ours */
    cn_from *waiter;  /* the terminate_child caller, answered when the child is gone */
    const char *name; /* static children: the registered name (not owned) */
    sup_spec sp;
} child;

typedef struct sup {
    int max_restarts, max_seconds;
    long max_children; /* -1: infinity */
    cn_restarts restarts;
    child *head, *tail;
    long nchildren, nterminating;
    child **tab; /* pid hash, a power of two in size */
    size_t tabsize, nhashed;
    uint64_t next_key;
    int stopping; /* shutting every child down, then exit with stop_reason */
    char *stop_reason;
    int stop_reason_len;
} sup;

/* supervisor.c: a pid as <0.Id.Serial> in buf; cnode_sup as the keeper starts it (registered)
 * and as a worker module (start_child of one nests a supervisor). */
char *sup_pid_str(const cn_pid *p, char *buf, size_t n);
extern const cn_worker sup_top_worker;
extern const cn_worker sup_nested_worker;

/* sup_children.c: the children, in start order, and a pid hash of those with a pid. */
child *sup_find_child(const sup *s, const cn_pid *pid);
child *sup_find_key(const sup *s, uint64_t key);
int sup_hash_add(sup *s, child *c);
void sup_hash_del(sup *s, child *c);
void sup_list_add(sup *s, child *c);
/* Forget a child; answer its terminate_child caller (if any) with :ok. */
void sup_child_remove(cn_proc *self, sup *s, child *c);
child *sup_child_new(sup *s, sup_spec *sp, const char *name);

#endif

/* proc: the process runtime inside the node: process records, mailboxes and signals.
 * Every message and signal to a process goes through its mailbox, which keeps the order
 * of signals between any pair of processes; only the process's own scheduler turn reads it. */
#ifndef CN_PROC_H
#define CN_PROC_H

#include "cnode.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* What arrives in a mailbox. Messages carry a term; signals are acted on by the runtime. */
enum cn_msg_kind {
    CN_MSG = 1,        /* a message: data = term with version byte */
    CN_SIG_LINK,       /* from linked us */
    CN_SIG_UNLINK,     /* from unlinked us: id (0 = old protocol, no ack) */
    CN_SIG_UNLINK_ACK, /* from acked our unlink `id` */
    CN_SIG_EXIT,       /* link broke: from died with reason (data) */
    CN_SIG_EXIT2,      /* exit/2 from `from` with reason (data) */
    CN_SIG_MONITOR,    /* from monitors us with ref; name_mon: by registered name */
    CN_SIG_DEMONITOR,  /* from drops monitor ref */
    CN_SIG_DOWN,       /* a process we monitor (from) died: ref, reason (data) */
    CN_SIG_NODEDOWN,   /* connection to node `node` lost */
    CN_SIG_GROUP_LEADER,
    CN_SIG_SHUTDOWN, /* the node is stopping: terminate with reason shutdown */
    CN_SIG_START,    /* first entry of a process started with async init */
};

typedef struct cn_msg {
    struct cn_msg *next;
    int kind;
    int name_mon; /* CN_SIG_MONITOR by name / CN_SIG_DOWN of a name monitor */
    cn_pid from;  /* sender, if known (node index 0 = local) */
    int has_from;
    cn_ref ref;    /* monitors */
    uint64_t id;   /* unlink id */
    uint32_t node; /* CN_SIG_NODEDOWN */
    char *data;    /* term: messages with version byte, reasons without */
    size_t len;
    void *storage; /* what to free(); data points into it (lets big payloads arrive uncopied);
                    * == the record itself when it lives at the start of its storage */
} cn_msg;

cn_msg *cn_msg_new(int kind, const void *data, size_t len);
/* Take ownership of storage; data points inside it. When its first `room` bytes are unused
 * and hold a cn_msg, the record is put there (one allocation for both; the storage then
 * cannot be handed on while the record is in use). */
cn_msg *cn_msg_adopt(int kind, void *storage, size_t room, char *data, size_t len);
void cn_msg_free(cn_msg *m);

/* How a kind of process handles what it receives; the gen_server adapter is one. */
typedef struct cn_proc_ops {
    const char *module;
    /* A message (data with version byte). Return 0 to go on, CN_STOP to stop. */
    int (*message)(cn_proc *p, const cn_msg *m);
    /* Final call; reason encoded without version byte. Frees behaviour data. */
    void (*terminate)(cn_proc *p, const char *reason, int reason_len);
    /* Optional: the first turn (CN_SIG_START); return 0 or CN_STOP. */
    int (*start)(cn_proc *p);
} cn_proc_ops;

/* Links and monitors are kept by proc/plist (lists with an index built on demand). */
typedef struct cn_linkent {
    struct cn_linkent *next, *prev;
    cn_pid pid;
    uint64_t unlink_id; /* 0 = active; else our unlink is pending with this id */
} cn_linkent;

typedef struct cn_mon {
    struct cn_mon *next, *prev;
    cn_pid pid; /* watcher (monitored_by) or target (monitors) */
    cn_ref ref;
    char *name; /* name monitors: the registered name (monitored_by) */
} cn_mon;

struct cn_proc {
    cn_pid pid;
    atomic_int refs;
    /* Mailbox entries the process has taken (its turns, its selective receives): what
     * erlang:process_info(P, reductions) reports. Written only by the process itself; it
     * fills the padding after refs, so idle processes do not grow. */
    atomic_uint handled;
    pthread_mutex_t lock; /* mailbox and scheduling state */
    cn_msg *mq_head, *mq_tail;
    uint32_t mq_len;
    int sched;              /* CN_S_IDLE, CN_S_QUEUED, CN_S_RUNNING */
    pthread_cond_t *waiter; /* set while the process waits in cn_call */
    int doomed;             /* a fatal exit signal is queued: send no more replies */
    atomic_int dead;        /* read without the lock by lookups (cn_proc_get) */
    struct cn_proc *runq_next;
    /* Below: touched only by the process's own scheduler turn. */
    const cn_proc_ops *ops;
    void *beh; /* behaviour data */
    int trap_exit;
    int slow; /* its last turn ran long: a poller hands its role on before running it */
    char *regname;
    cn_pid group_leader;
    cn_linkent *links;
    cn_mon *monitors;     /* we monitor them */
    cn_mon *monitored_by; /* they monitor us */
    struct cn_pidx *pidx; /* the lists' indexes, once one of them is long (plist.c) */
    uint32_t *node_mons;  /* monitor_node: node indexes (a node may appear more than once) */
    int n_node_mons;
    int stop_reason_len; /* next to n_node_mons: no padding (idle processes stay small) */
    char *stop_reason;   /* encoded without version byte */
};

enum { CN_S_IDLE, CN_S_QUEUED, CN_S_RUNNING };

/* Process table. */
int cn_ptab_init(size_t max_procs);
/* A new process holding two references: the table's and the caller's (release it). */
cn_proc *cn_proc_create(const cn_proc_ops *ops, void *beh);
/* Remove a process that never ran (failed start) and drop the caller's reference. */
void cn_proc_discard(cn_proc *p);
/* While its creator still sets it up (init, links, name), a process must not run: what is
 * delivered meanwhile waits in its mailbox until cn_proc_ready. */
void cn_proc_hold(cn_proc *p);
void cn_proc_ready(cn_proc *p);
/* Look up a local pid; returns a held reference (cn_proc_release) or NULL. */
cn_proc *cn_proc_get(const cn_pid *pid);
void cn_proc_release(cn_proc *p);
size_t cn_proc_count(void);
/* The most processes the table holds (erlang:system_info(process_limit)). */
size_t cn_proc_limit(void);
/* Call fn on every live process (with a held reference). */
void cn_proc_foreach(void (*fn)(cn_proc *p, void *arg), void *arg);
/* Mailbox entries taken by every process since the node started, ended ones included. */
uint64_t cn_proc_handled_total(void);

/* Put a message/signal in p's mailbox and schedule p. Takes ownership of m, except when
 * it returns -1 (p is dead): then the caller still owns m. */
int cn_proc_deliver(cn_proc *p, cn_msg *m);
/* Deliver to a local pid; for signals to dead/unknown pids the runtime answers
 * (noproc DOWN for monitors, noproc EXIT for links, acks for unlinks). */
void cn_deliver_local(const cn_pid *to, cn_msg *m);

/* A run of mailbox entries for one local process, collected by the receive path: one
 * process lookup, one mailbox lock and at most one wakeup for the whole run. Entries are
 * delivered in order; adding one for another pid, or more than CN_BATCH_MAX, flushes first.
 * Zero-initialise; flush before anything else may deliver to (or observe) the process. */
#define CN_BATCH_MAX 128
typedef struct cn_batch {
    cn_proc *p; /* held reference, or NULL when `to` is not a live process */
    cn_pid to;
    cn_msg *head, *tail;
    uint32_t n;
    uint64_t flushes; /* runs delivered so far: tells a caller's caches that a run ended */
} cn_batch;
void cn_batch_add(cn_batch *b, const cn_pid *to, cn_msg *m);
void cn_batch_flush(cn_batch *b);
/* cn_reply, taking reply's buffer as the frame's payload when the caller is remote (api.c);
 * reply is left empty, ei_x_free on it stays safe. */
int cn_reply_take(cn_proc *self, const cn_from *from, ei_x_buff *reply);
/* cn_reply with reply[len] taken from the message being handled: to a remote caller, the
 * message's buffer becomes the frame's payload (no copy; the message must not be read after
 * this); otherwise, or when reply is not inside it, it is copied. */
int cn_reply_input(cn_proc *self, const cn_from *from, const char *reply, int len);
/* The mailbox entry the calling scheduler thread is handling for p, or NULL (a reply may
 * take its storage over; kept per thread, not per process, so idle processes stay small). */
cn_msg *cn_proc_current(const cn_proc *p);

/* cn_call with the sys protocol's {system, From, Req} (sys:get_state and the like); same
 * returns. */
int cn_call_system(cn_proc *self, const cn_pid *to, const char *req, int len, int timeout_ms,
                   ei_x_buff *reply);

/* One more mailbox entry taken by p, on its own turn (a single writer: no atomic add). */
static inline void cn_proc_count_handled(cn_proc *p)
{
    atomic_store_explicit(&p->handled, atomic_load_explicit(&p->handled, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Run one scheduler turn of p (up to `budget` mailbox entries). Returns 1 if p still has
 * work (requeue), 0 otherwise. Called only by the scheduler. */
int cn_proc_run(cn_proc *p, int budget);

/* Start a link/monitor record directly (only before the process first runs, or from its
 * own turn). */
int cn_proc_add_link(cn_proc *p, const cn_pid *pid);
int cn_proc_add_monitored_by(cn_proc *p, const cn_pid *watcher, const cn_ref *ref);

/* Registered names. */
int cn_register(const char *name, const cn_pid *pid); /* 0, or -1 if taken / pid dead */
int cn_unregister(const char *name);
/* Remove name only if it still names pid (a process's own exit). */
int cn_unregister_pid(const char *name, const cn_pid *pid);
int cn_whereis(const char *name, cn_pid *out);
/* Copy p's registered name into out (cap bytes, NUL-terminated): 0, or -1 if it has none. */
int cn_proc_regname(cn_proc *p, char *out, size_t cap);
/* Call fn for every registered name, under the registry's lock (fn must not call back). */
void cn_registered_foreach(void (*fn)(const char *name, const cn_pid *pid, void *arg), void *arg);

/* Signals out of a process (local or remote target). */
void cn_sig_send_exit(const cn_pid *from, const cn_pid *to, const char *reason, int len, int link);
void cn_sig_send_down(const cn_pid *from, const char *name, const cn_pid *to, const cn_ref *ref,
                      const char *reason, int len);
void cn_sig_send_unlink_ack(const cn_pid *from, const cn_pid *to, uint64_t id);

/* Is reason (encoded without version byte) the atom `atom`? */
int cn_reason_is(const char *reason, size_t len, const char *atom);
/* Would this mailbox entry end p (an exit signal it does not trap)? */
int cn_proc_fatal_signal(const cn_proc *p, const cn_msg *m);
/* p (the caller's own process) is doomed, or a fatal exit signal waits in its mailbox. */
int cn_proc_being_killed(cn_proc *p);

/* Tell every process with links/monitors across node's connection that it is gone. */
void cn_proc_nodedown(uint32_t node);
/* Ask every process to stop with reason `shutdown` (node shutdown). */
void cn_proc_shutdown_all(void);

#endif

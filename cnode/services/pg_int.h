/* pg_int: private to the pg*.c files: a scope's table entry and process state, and what the
 * registry and scope process (pg.c), peer exchange (pg_sync.c) and C API (pg_api.c) share. */
#ifndef CN_PG_INT_H
#define CN_PG_INT_H

#include "services/pg.h"
#include "services/pg_table.h"

#include <pthread.h>

/* One per scope name ever started; never freed (readers may hold it), reused on restart. */
typedef struct scope_ent {
    char name[MAXATOMLEN_UTF8];
    int running;
    pthread_rwlock_t lock; /* the table's */
    cn_pg_table t;
} scope_ent;

typedef struct local_ent { /* a local member: monitored while it has memberships */
    cn_pid pid;
    cn_ref mref;
    uint32_t count;
} local_ent;

typedef struct peer_ent { /* a peer scope; its table origin is slot index + 1 */
    cn_pid pid;
    cn_ref mref;
    int used;
    int synced_to; /* we sent it our sync: joins/leaves may follow */
} peer_ent;

typedef struct watcher { /* pg:monitor (key) or pg:monitor_scope (key NULL) */
    cn_ref ref;
    cn_pid pid;
    char *key;
    int key_len;
} watcher;

typedef struct scope {
    scope_ent *e;
    cn_proc *self;
    cn_pid me;
    local_ent *loc;
    size_t nloc, loccap;
    peer_ent *peers;
    size_t npeers, peercap;
    watcher *w;
    size_t nw, wcap;
    uint32_t *told; /* nodes sent our discover since their nodeup */
    size_t ntold, toldcap;
} scope;

/* pg.c: the registry, the scope process, helpers. */
scope_ent *pg_reader_enter(const char *name);
void pg_reader_leave(scope_ent *e);
extern const cn_worker pg_scope_worker;
/* Grow *a (elements of elsz) to hold need, up to max: 0, or -1. */
int pg_grow(void **a, size_t *cap, size_t need, size_t elsz, size_t max);
int pg_atom_is(const char *buf, int *idx, const char *want);
void pg_error_reply(ei_x_buff *reply, const char *what);
watcher *pg_watcher_find(scope *s, const cn_ref *ref);
void pg_watcher_remove(scope *s, watcher *w);

/* pg_sync.c: local joins and leaves (calls), and the messages of peer scopes and nodes. */
int pg_call_join(scope *s, const char *buf, int *idx, ei_x_buff *reply);
int pg_call_leave(scope *s, const char *buf, int *idx, ei_x_buff *reply);
int pg_scope_cast(cn_proc *self, void *state, const char *buf, int *idx);
void pg_info_discover(scope *s, const char *buf, int *idx);
void pg_info_join(scope *s, const char *buf, int *idx);
void pg_info_leave(scope *s, const char *buf, int *idx);
void pg_info_down(scope *s, const char *buf, int *idx);
void pg_discover_connected(scope *s);
void pg_on_nodeup(scope *s, const char *node);
void pg_on_nodedown(scope *s, const char *node);

#endif

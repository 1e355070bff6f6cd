/* pg_table: the membership table of one :pg scope (the ETS table of OTP's pg), and the parsers
 * for what peers send (sync/join/leave payloads). Pure data: no processes, no locking. */
#ifndef CN_PG_TABLE_H
#define CN_PG_TABLE_H

#include "cnode.h"

#include <stddef.h>
#include <stdint.h>

#define CN_PG_MAX_GROUP_BYTES 65536  /* largest encoded group name */
#define CN_PG_MAX_DEPTH 64           /* deepest nesting of a group name */
#define CN_PG_MAX_MEMBERS (1u << 20) /* memberships per scope, all origins */
#define CN_PG_MAX_PIDS 65536         /* pids in one join/leave/sync entry */

/* Who a membership came from: CN_PG_LOCAL (this node's scope) or a peer scope's slot. */
#define CN_PG_LOCAL 0u

typedef struct cn_pg_member {
    cn_pid pid;
    uint32_t origin;
} cn_pg_member;

typedef struct cn_pg_group {
    struct cn_pg_group *next; /* hash chain */
    char *key;                /* canonical encoding, without version byte */
    int key_len;
    uint64_t hash;
    cn_pg_member *m; /* in join order; duplicates count twice */
    uint32_t n, cap;
    int mark; /* scratch for cn_pg_table_sync */
} cn_pg_group;

/* Told of every change (for pg:monitor): join=1/0, the pids that joined or left group. */
typedef void (*cn_pg_notify_fn)(void *ctx, const cn_pg_group *g, int join, const cn_pid *pids,
                                size_t n);

typedef struct cn_pg_table {
    cn_pg_group **buckets;
    size_t nbuckets, ngroups;
    size_t total; /* memberships */
    cn_pg_notify_fn notify;
    void *notify_ctx;
} cn_pg_table;

/* Canonical encoding of the term at buf+*idx (appended to out): the same Erlang term gives
 * the same bytes whatever encoding it arrived in (atom/integer/float/string/map forms).
 * Returns 0, or -1 for malformed, too deep or too big input (out is then undefined). */
int cn_pg_canon(const char *buf, int *idx, ei_x_buff *out);

void cn_pg_table_init(cn_pg_table *t);
void cn_pg_table_clear(cn_pg_table *t); /* frees everything; the table stays usable */

cn_pg_group *cn_pg_table_find(const cn_pg_table *t, const char *key, int key_len);
/* Add n memberships of origin to group key (canonical). 0, or -1 (limits, memory). */
int cn_pg_table_join(cn_pg_table *t, const char *key, int key_len, uint32_t origin,
                     const cn_pid *pids, size_t n);
/* Remove one membership of origin for each pid (those present). Returns how many went. */
size_t cn_pg_table_leave(cn_pg_table *t, const char *key, int key_len, uint32_t origin,
                         const cn_pid *pids, size_t n);
/* Remove every membership of origin (a peer scope went). */
void cn_pg_table_drop_origin(cn_pg_table *t, uint32_t origin);
/* Remove every membership of a local pid (it died); the groups it left, one per membership,
 * are appended to out as a list of terms (for the leave broadcast). Returns how many. */
size_t cn_pg_table_drop_pid(cn_pg_table *t, const cn_pid *pid, ei_x_buff *out);
/* Memberships of origin in group g. */
size_t cn_pg_group_count(const cn_pg_group *g, uint32_t origin);

/* Members of g, newest first (only CN_PG_LOCAL ones when local_only). Writes at
 * most cap pids; returns how many there are. */
size_t cn_pg_group_members(const cn_pg_group *g, int local_only, cn_pid *out, size_t cap);
/* Append the Erlang list of g's members (newest first) to x. */
int cn_pg_encode_members(ei_x_buff *x, const cn_pg_group *g, int local_only);
/* Append the list of groups (with local members only when local_only) to x. */
int cn_pg_encode_groups(ei_x_buff *x, const cn_pg_table *t, int local_only);
/* Append [{Group, [Pid]}] of origin's memberships (a sync payload) to x. */
int cn_pg_encode_sync(ei_x_buff *x, const cn_pg_table *t, uint32_t origin);
/* Append #{Group => Members} of every group to x (pg:monitor_scope's answer). */
int cn_pg_encode_all(ei_x_buff *x, const cn_pg_table *t);

/* Walk a proper list however it is chunked (LIST_EXT tails): call before each element with
 * *left = 0 at first; 1: an element follows, 0: the end ([] consumed), -1: not a list. */
int cn_pg_list_next(const char *buf, int *idx, int *left);
/* A pid or a proper list of pids (at most CN_PG_MAX_PIDS), into a fresh array (*out, the
 * caller frees it). Returns the count, or -1. With node >= 0 every pid must be of that node
 * index. */
long cn_pg_parse_pids(const char *buf, int *idx, cn_pid **out, long node);

/* Replace origin's memberships with a sync payload [{Group, [Pid]}] from a peer whose pids
 * are of node index `node`. The whole payload is checked first: a malformed one changes
 * nothing and returns -1. */
int cn_pg_table_sync(cn_pg_table *t, uint32_t origin, uint32_t node, const char *buf, int *idx);

#endif

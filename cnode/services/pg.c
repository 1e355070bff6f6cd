/* pg: :pg scope processes, the C API and pg's functions over rpc (see pg.h, PROTOCOL.md §8).
 *
 * A scope is a process registered under the scope's name. It alone writes its membership
 * table (pg_table.c); readers (get_members & co, from any thread) take the table's read lock,
 * as BEAM readers read the scope's ETS table. Peer scopes (same name, other nodes) exchange
 * discover / sync / join / leave exactly as OTP's pg does, and nothing else: a BEAM scope
 * crashes on anything it does not know. */
#include "services/pg.h"

#include "dist/conn.h"
#include "node.h"
#include "proc/ident.h"
#include "services/pg_table.h"
#include "services/services.h"
#include "util/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCOPES 256
#define MAX_PEERS 4096
#define MAX_WATCHERS 65536

/* ---- scope registry: the tables, found by scope name ----------------------------------- */

/* One per scope name ever started; never freed (readers may hold it), reused on restart. */
typedef struct scope_ent {
    char name[MAXATOMLEN_UTF8];
    int running;
    pthread_rwlock_t lock; /* the table's */
    cn_pg_table t;
} scope_ent;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
static scope_ent *scopes[MAX_SCOPES];
static int nscopes;

/* The entry of a running scope, read-locked (release with reader_leave), or NULL. */
static scope_ent *reader_enter(const char *name)
{
    scope_ent *e = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < nscopes; i++)
        if (scopes[i]->running && !strcmp(scopes[i]->name, name)) {
            e = scopes[i];
            break;
        }
    pthread_mutex_unlock(&reg_lock);
    if (e)
        pthread_rwlock_rdlock(&e->lock);
    return e;
}

static void reader_leave(scope_ent *e)
{
    pthread_rwlock_unlock(&e->lock);
}

/* Claim the entry for a starting scope: NULL if that scope runs already or no room. */
static scope_ent *claim_entry(const char *name)
{
    scope_ent *e = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < nscopes; i++)
        if (!strcmp(scopes[i]->name, name)) {
            e = scopes[i]->running ? NULL : scopes[i];
            goto out;
        }
    if (nscopes < MAX_SCOPES && (e = calloc(1, sizeof *e))) {
        snprintf(e->name, sizeof e->name, "%s", name);
        pthread_rwlock_init(&e->lock, NULL);
        cn_pg_table_init(&e->t);
        scopes[nscopes++] = e;
    }
out:
    if (e)
        e->running = 1;
    pthread_mutex_unlock(&reg_lock);
    return e;
}

/* ---- the scope process ---------------------------------------------------------------- */

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

static int grow(void **a, size_t *cap, size_t need, size_t elsz, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max)
        return -1;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *n = realloc(*a, nc * elsz);
    if (!n)
        return -1;
    *a = n;
    *cap = nc;
    return 0;
}

static int atom_is(const char *buf, int *idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    return ei_decode_atom(buf, idx, a) == 0 && !strcmp(a, want);
}

/* {Ref, join|leave, Group, Pids} to every watcher of the group (the table calls this). */
static void on_change(void *ctx, const cn_pg_group *g, int join, const cn_pid *pids, size_t n)
{
    scope *s = ctx;
    for (size_t i = 0; i < s->nw; i++) {
        watcher *w = &s->w[i];
        if (w->key && (w->key_len != g->key_len || memcmp(w->key, g->key, (size_t)g->key_len)))
            continue;
        ei_x_buff x;
        if (ei_x_new(&x) < 0)
            return;
        ei_x_encode_tuple_header(&x, 4);
        cn_encode_ref(&x, &w->ref);
        ei_x_encode_atom(&x, join ? "join" : "leave");
        ei_x_append_buf(&x, g->key, g->key_len);
        for (size_t j = 0; j < n; j++) {
            ei_x_encode_list_header(&x, 1);
            cn_encode_pid(&x, &pids[j]);
        }
        ei_x_encode_empty_list(&x);
        cn_send(s->self, &w->pid, x.buff, x.index);
        ei_x_free(&x);
    }
}

static void broadcast(scope *s, const ei_x_buff *msg)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && s->peers[i].synced_to)
            cn_send(s->self, &s->peers[i].pid, msg->buff, msg->index);
}

static void send_discover(scope *s, const cn_pid *to, const char *node)
{
    ei_x_buff x;
    if (ei_x_new(&x) < 0)
        return;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "discover");
    cn_encode_pid(&x, &s->me);
    if (to)
        cn_send(s->self, to, x.buff, x.index);
    else
        cn_send_name(s->self, s->e->name, node, x.buff, x.index);
    ei_x_free(&x);
}

static void send_sync(scope *s, peer_ent *p)
{
    ei_x_buff x;
    if (ei_x_new(&x) < 0)
        return;
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "$gen_cast");
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "sync");
    cn_encode_pid(&x, &s->me);
    cn_pg_encode_sync(&x, &s->e->t, CN_PG_LOCAL); /* the only writer reads without a lock */
    cn_send(s->self, &p->pid, x.buff, x.index);
    ei_x_free(&x);
    p->synced_to = 1;
}

static peer_ent *peer_find(scope *s, const cn_pid *pid)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && cn_pid_eq(&s->peers[i].pid, pid))
            return &s->peers[i];
    return NULL;
}

static uint32_t origin_of(scope *s, peer_ent *p)
{
    return (uint32_t)(p - s->peers) + 1;
}

/* A new peer scope: monitored, so that its members go when it or its node goes. */
static peer_ent *peer_add(scope *s, const cn_pid *pid)
{
    if (pid->node == 0)
        return NULL; /* a scope is the only one of its name on its node */
    size_t slot = s->npeers;
    for (size_t i = 0; i < s->npeers; i++)
        if (!s->peers[i].used) {
            slot = i;
            break;
        }
    if (slot == s->npeers) {
        if (grow((void **)&s->peers, &s->peercap, s->npeers + 1, sizeof *s->peers, MAX_PEERS) < 0)
            return NULL;
        s->npeers++;
    }
    peer_ent *p = &s->peers[slot];
    memset(p, 0, sizeof *p);
    p->pid = *pid;
    p->used = 1;
    cn_monitor(s->self, pid, &p->mref);
    return p;
}

static void peer_drop(scope *s, peer_ent *p)
{
    pthread_rwlock_wrlock(&s->e->lock);
    cn_pg_table_drop_origin(&s->e->t, origin_of(s, p));
    pthread_rwlock_unlock(&s->e->lock);
    p->used = 0;
}

static local_ent *local_find(scope *s, const cn_pid *pid)
{
    for (size_t i = 0; i < s->nloc; i++)
        if (cn_pid_eq(&s->loc[i].pid, pid))
            return &s->loc[i];
    return NULL;
}

static int local_add(scope *s, const cn_pid *pid)
{
    local_ent *l = local_find(s, pid);
    if (!l) {
        if (grow((void **)&s->loc, &s->loccap, s->nloc + 1, sizeof *s->loc, CN_PG_MAX_MEMBERS) < 0)
            return -1;
        l = &s->loc[s->nloc++];
        l->pid = *pid;
        l->count = 0;
        cn_monitor(s->self, pid, &l->mref);
    }
    l->count++;
    return 0;
}

static void local_remove(scope *s, local_ent *l)
{
    *l = s->loc[--s->nloc];
}

/* Decode a pid or a list of pids into a fresh array (node: the index every pid must have).
 * Returns the count (*single set when it was a bare pid), or -1. */
static long parse_pids(const char *buf, int *idx, long node, cn_pid **out, int *single)
{
    int type, size;
    *out = NULL;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    *single = type == ERL_PID_EXT || type == ERL_NEW_PID_EXT;
    return cn_pg_parse_pids(buf, idx, out, node);
}

static void encode_pids(ei_x_buff *x, const cn_pid *p, long n, int single)
{
    if (single && n == 1) {
        cn_encode_pid(x, p);
        return;
    }
    if (n > 0)
        ei_x_encode_list_header(x, n);
    for (long i = 0; i < n; i++)
        cn_encode_pid(x, &p[i]);
    ei_x_encode_empty_list(x);
}

static void error_reply(ei_x_buff *reply, const char *what)
{
    reply->index = 0;
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_encode_atom(reply, what);
}

/* Group and PidOrPids of join_local / leave_local: the canonical group appended to key, the
 * pids in a fresh *p (the caller frees it). Returns their count, or -1 with the error reply
 * set (badarg: a group we cannot take; nolocal: not local pids). */
static long member_args(const char *buf, int *idx, ei_x_buff *key, cn_pid **p, int *single,
                        ei_x_buff *reply)
{
    *p = NULL;
    if (cn_pg_canon(buf, idx, key) < 0) {
        error_reply(reply, "badarg");
        return -1;
    }
    long n = parse_pids(buf, idx, 0, p, single);
    if (n < 0)
        error_reply(reply, "nolocal"); /* pg:join/leave check this before calling */
    return n;
}

/* {join_local, Group, PidOrPids}: local pids only (pg:join checks that before calling). */
static int call_join(scope *s, const char *buf, int *idx, ei_x_buff *reply)
{
    ei_x_buff key;
    cn_pid *p = NULL;
    int single, rc = CN_REPLY;
    if (ei_x_new(&key) < 0)
        return CN_REPLY;
    long n = member_args(buf, idx, &key, &p, &single, reply);
    if (n < 0)
        goto out;
    pthread_rwlock_wrlock(&s->e->lock);
    int ok = cn_pg_table_join(&s->e->t, key.buff, key.index, CN_PG_LOCAL, p, (size_t)n);
    pthread_rwlock_unlock(&s->e->lock);
    if (ok < 0) {
        error_reply(reply, "system_limit");
        goto out;
    }
    for (long i = 0; i < n; i++)
        local_add(s, &p[i]);
    ei_x_buff m;
    if (n > 0 && ei_x_new(&m) == 0) {
        ei_x_encode_tuple_header(&m, 4);
        ei_x_encode_atom(&m, "join");
        cn_encode_pid(&m, &s->me);
        ei_x_append_buf(&m, key.buff, key.index);
        encode_pids(&m, p, n, single);
        broadcast(s, &m);
        ei_x_free(&m);
    }
    ei_x_encode_atom(reply, "ok");
out:
    free(p);
    ei_x_free(&key);
    return rc;
}

/* {leave_local, Group, PidOrPids} -> ok | not_joined. */
static int call_leave(scope *s, const char *buf, int *idx, ei_x_buff *reply)
{
    ei_x_buff key;
    cn_pid *p = NULL;
    int single;
    if (ei_x_new(&key) < 0)
        return CN_REPLY;
    long n = member_args(buf, idx, &key, &p, &single, reply), k = 0;
    if (n < 0)
        goto out;
    pthread_rwlock_wrlock(&s->e->lock);
    for (long i = 0; i < n; i++) /* keep those that were members, in place */
        if (cn_pg_table_leave(&s->e->t, key.buff, key.index, CN_PG_LOCAL, &p[i], 1))
            p[k++] = p[i];
    pthread_rwlock_unlock(&s->e->lock);
    if (k == 0) {
        ei_x_encode_atom(reply, "not_joined");
        goto out;
    }
    for (long i = 0; i < k; i++) {
        local_ent *l = local_find(s, &p[i]);
        if (l && --l->count == 0) {
            cn_demonitor(s->self, &l->mref);
            local_remove(s, l);
        }
    }
    ei_x_buff m;
    if (ei_x_new(&m) == 0) {
        ei_x_encode_tuple_header(&m, 4);
        ei_x_encode_atom(&m, "leave");
        cn_encode_pid(&m, &s->me);
        encode_pids(&m, p, k, single);
        ei_x_encode_list_header(&m, 1);
        ei_x_append_buf(&m, key.buff, key.index);
        ei_x_encode_empty_list(&m);
        broadcast(s, &m);
        ei_x_free(&m);
    }
    ei_x_encode_atom(reply, "ok");
out:
    free(p);
    ei_x_free(&key);
    return CN_REPLY;
}

/* monitor (group NULL) or {monitor, Group}: {Ref, Current}; the caller is monitored. */
static int call_monitor(scope *s, const char *buf, int *idx, int group, const cn_from *from,
                        ei_x_buff *reply)
{
    watcher w = {0};
    ei_x_buff key;
    if (ei_x_new(&key) < 0)
        return CN_REPLY;
    if ((group && cn_pg_canon(buf, idx, &key) < 0) ||
        grow((void **)&s->w, &s->wcap, s->nw + 1, sizeof *s->w, MAX_WATCHERS) < 0 ||
        (group && !(w.key = malloc((size_t)key.index)))) {
        error_reply(reply, "badarg");
        ei_x_free(&key);
        return CN_REPLY;
    }
    if (group) {
        memcpy(w.key, key.buff, (size_t)key.index);
        w.key_len = key.index;
    }
    w.pid = from->pid;
    cn_monitor(s->self, &from->pid, &w.ref);
    s->w[s->nw++] = w;
    ei_x_encode_tuple_header(reply, 2);
    cn_encode_ref(reply, &w.ref);
    if (group)
        cn_pg_encode_members(reply, cn_pg_table_find(&s->e->t, key.buff, key.index), 0);
    else
        cn_pg_encode_all(reply, &s->e->t);
    ei_x_free(&key);
    return CN_REPLY;
}

static watcher *watcher_find(scope *s, const cn_ref *ref)
{
    for (size_t i = 0; i < s->nw; i++)
        if (cn_ref_eq(&s->w[i].ref, ref))
            return &s->w[i];
    return NULL;
}

static void watcher_remove(scope *s, watcher *w)
{
    free(w->key);
    *w = s->w[--s->nw];
}

static int scope_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                      ei_x_buff *reply)
{
    scope *s = state;
    s->self = self;
    int type, size, arity;
    char op[MAXATOMLEN_UTF8];
    if (ei_get_type(buf, idx, &type, &size) == 0 && type == ERL_ATOM_EXT) {
        if (atom_is(buf, idx, "monitor"))
            return call_monitor(s, buf, idx, 0, from, reply);
    } else if (ei_decode_tuple_header(buf, idx, &arity) == 0 && arity >= 2 &&
               ei_decode_atom(buf, idx, op) == 0) {
        if (!strcmp(op, "join_local") && arity == 3)
            return call_join(s, buf, idx, reply);
        if (!strcmp(op, "leave_local") && arity == 3)
            return call_leave(s, buf, idx, reply);
        if (!strcmp(op, "monitor") && arity == 2)
            return call_monitor(s, buf, idx, 1, from, reply);
        cn_ref ref;
        if (!strcmp(op, "demonitor") && arity == 2 && cn_decode_ref(buf, idx, &ref) == 0) {
            watcher *w = watcher_find(s, &ref);
            if (w) {
                cn_demonitor(self, &ref);
                watcher_remove(s, w);
            }
            ei_x_encode_atom(reply, w ? "ok" : "false");
            return CN_REPLY;
        }
    }
    error_reply(reply, "badarg"); /* OTP's scope would crash; ours stays up */
    return CN_REPLY;
}

/* {sync, Peer, Groups}: the peer's full local membership replaces what we had from it. */
static int scope_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    scope *s = state;
    s->self = self;
    int arity;
    cn_pid peer;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 3 || !atom_is(buf, idx, "sync") ||
        cn_decode_pid(buf, idx, &peer) < 0)
        return CN_NOREPLY;
    peer_ent *p = peer_find(s, &peer);
    int fresh = !p;
    if (!p && !(p = peer_add(s, &peer)))
        return CN_NOREPLY;
    pthread_rwlock_wrlock(&s->e->lock);
    int rc = cn_pg_table_sync(&s->e->t, origin_of(s, p), peer.node, buf, idx);
    pthread_rwlock_unlock(&s->e->lock);
    if (rc < 0)
        cn_warn("pg %s: refused a malformed or oversized sync from %s", s->e->name,
                cn_node_name(peer.node));
    /* A peer we learnt of from its sync gets ours at once: joins and leaves we broadcast
     * later then always follow a sync, so it never sees a leave for a group it lacks. */
    if (fresh || !p->synced_to)
        send_sync(s, p);
    return CN_NOREPLY;
}

static void info_discover(scope *s, const char *buf, int *idx)
{
    cn_pid peer;
    if (cn_decode_pid(buf, idx, &peer) < 0 || peer.node == 0)
        return;
    peer_ent *p = peer_find(s, &peer);
    if (p) {
        send_sync(s, p);
        return;
    }
    if (!(p = peer_add(s, &peer)))
        return;
    send_sync(s, p);
    send_discover(s, &peer, NULL);
}

static void info_join(scope *s, const char *buf, int *idx)
{
    cn_pid peer, *pids = NULL;
    ei_x_buff key;
    int single;
    if (cn_decode_pid(buf, idx, &peer) < 0 || ei_x_new(&key) < 0)
        return;
    peer_ent *p = peer_find(s, &peer); /* from a peer that never synced: ignored, as OTP */
    long n;
    if (p && cn_pg_canon(buf, idx, &key) == 0 &&
        (n = parse_pids(buf, idx, (long)peer.node, &pids, &single)) >= 0) {
        pthread_rwlock_wrlock(&s->e->lock);
        cn_pg_table_join(&s->e->t, key.buff, key.index, origin_of(s, p), pids, (size_t)n);
        pthread_rwlock_unlock(&s->e->lock);
    }
    free(pids);
    ei_x_free(&key);
}

static void info_leave(scope *s, const char *buf, int *idx)
{
    cn_pid peer, *pids = NULL;
    int single, left = 0, type, size, r;
    if (cn_decode_pid(buf, idx, &peer) < 0)
        return;
    peer_ent *p = peer_find(s, &peer);
    long n;
    if (!p || (n = parse_pids(buf, idx, (long)peer.node, &pids, &single)) < 0 ||
        ei_get_type(buf, idx, &type, &size) < 0) {
        free(pids);
        return;
    }
    ei_x_buff key;
    if (ei_x_new(&key) == 0) {
        pthread_rwlock_wrlock(&s->e->lock);
        if (type == ERL_STRING_EXT) { /* [1, 2]: groups that are small integers */
            for (int i = 0; i < size; i++) {
                key.index = 0;
                ei_x_encode_long(&key, (unsigned char)buf[*idx + 3 + i]);
                cn_pg_table_leave(&s->e->t, key.buff, key.index, origin_of(s, p), pids, (size_t)n);
            }
        } else {
            while ((r = cn_pg_list_next(buf, idx, &left)) == 1) {
                key.index = 0;
                if (cn_pg_canon(buf, idx, &key) < 0)
                    break;
                cn_pg_table_leave(&s->e->t, key.buff, key.index, origin_of(s, p), pids, (size_t)n);
            }
        }
        pthread_rwlock_unlock(&s->e->lock);
        ei_x_free(&key);
    }
    free(pids);
}

static void info_down(scope *s, const char *buf, int *idx)
{
    cn_ref ref;
    cn_pid pid;
    if (cn_decode_ref(buf, idx, &ref) < 0 || !atom_is(buf, idx, "process") ||
        cn_decode_pid(buf, idx, &pid) < 0)
        return;
    for (size_t i = 0; i < s->nloc; i++)
        if (cn_ref_eq(&s->loc[i].mref, &ref)) { /* a member died: it leaves every group */
            ei_x_buff m;
            if (ei_x_new(&m) < 0)
                return;
            ei_x_encode_tuple_header(&m, 4);
            ei_x_encode_atom(&m, "leave");
            cn_encode_pid(&m, &s->me);
            cn_encode_pid(&m, &pid);
            pthread_rwlock_wrlock(&s->e->lock);
            size_t k = cn_pg_table_drop_pid(&s->e->t, &pid, &m);
            pthread_rwlock_unlock(&s->e->lock);
            if (k > 0)
                broadcast(s, &m);
            ei_x_free(&m);
            local_remove(s, &s->loc[i]);
            return;
        }
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && cn_ref_eq(&s->peers[i].mref, &ref)) {
            peer_drop(s, &s->peers[i]);
            return;
        }
    watcher *w = watcher_find(s, &ref);
    if (w)
        watcher_remove(s, w);
}

/* Connected nodes to discover: visible ones, and hidden ones too when we are hidden (a
 * BEAM scope never discovers a hidden node: it must hear from us, PROTOCOL.md §8.3). */
static int node_kinds(void)
{
    return cn_node.hidden ? CN_CONN_VISIBLE | CN_CONN_HIDDEN : CN_CONN_VISIBLE;
}

/* Tell a node we exist, once per connection, as OTP's pg does at start and on every nodeup:
 * a scope that starts after the nodeup (so the peer's own discover found no one here) still
 * meets the peer's members. Nodes that run no such scope drop it, as for any unknown name. */
static void discover_node(scope *s, uint32_t node)
{
    for (size_t i = 0; i < s->ntold; i++)
        if (s->told[i] == node)
            return;
    if (grow((void **)&s->told, &s->toldcap, s->ntold + 1, sizeof *s->told, MAX_PEERS) == 0)
        s->told[s->ntold++] = node;
    send_discover(s, NULL, cn_node_name(node));
}

static void discover_connected(scope *s)
{
    uint32_t nodes[1024];
    size_t k = cn_conn_list_kind(nodes, 1024, node_kinds());
    for (size_t i = 0; i < k; i++)
        discover_node(s, nodes[i]);
}

static void on_nodeup(scope *s, const char *node)
{
    long n = cn_node_intern(node, strlen(node));
    if (n > 0)
        discover_node(s, (uint32_t)n);
}

static void on_nodedown(scope *s, const char *node)
{
    long n = cn_node_intern(node, strlen(node));
    if (n <= 0)
        return;
    for (size_t i = 0; i < s->ntold; i++)
        if (s->told[i] == (uint32_t)n) {
            s->told[i] = s->told[--s->ntold];
            break;
        }
    /* the peer scope's DOWN (noconnection) says the same; whichever comes first acts. A
     * {nodedown, N} some peer sent by name while N is connected is no reason to drop N. */
    if (cn_conn_is_up((uint32_t)n))
        return;
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].used && s->peers[i].pid.node == (uint32_t)n)
            peer_drop(s, &s->peers[i]);
}

static int scope_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    scope *s = state;
    s->self = self;
    int arity;
    char op[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || ei_decode_atom(buf, idx, op) < 0)
        return CN_NOREPLY;
    if (!strcmp(op, "discover") && (arity == 2 || arity == 3))
        info_discover(s, buf, idx);
    else if (!strcmp(op, "join") && arity == 4)
        info_join(s, buf, idx);
    else if (!strcmp(op, "leave") && arity == 4)
        info_leave(s, buf, idx);
    else if (!strcmp(op, "DOWN") && arity == 5)
        info_down(s, buf, idx);
    else if (!strcmp(op, "nodeup") && arity >= 2 && ei_decode_atom(buf, idx, node) == 0)
        on_nodeup(s, node);
    else if (!strcmp(op, "nodedown") && arity >= 2 && ei_decode_atom(buf, idx, node) == 0)
        on_nodedown(s, node);
    return CN_NOREPLY;
}

static int scope_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    char name[MAXATOMLEN_UTF8];
    int n;
    if (ei_decode_list_header(buf, idx, &n) < 0 || n != 1 || ei_decode_atom(buf, idx, name) < 0)
        return -1;
    scope *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    if (!(s->e = claim_entry(name))) {
        free(s);
        return -1;
    }
    s->self = self;
    s->me = cn_self(self);
    pthread_rwlock_wrlock(&s->e->lock);
    s->e->t.notify = on_change;
    s->e->t.notify_ctx = s;
    pthread_rwlock_unlock(&s->e->lock);
    int kinds = cn_node.hidden ? CN_NODES_VISIBLE | CN_NODES_HIDDEN : CN_NODES_VISIBLE;
    cn_monitor_nodes(self, 1, kinds);
    *state = s;
    discover_connected(s); /* subscribed first, then the nodes already there */
    return 0;
}

static void scope_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    scope *s = state;
    pthread_rwlock_wrlock(&s->e->lock);
    cn_pg_table_clear(&s->e->t);
    s->e->t.notify = NULL;
    pthread_rwlock_unlock(&s->e->lock);
    pthread_mutex_lock(&reg_lock);
    s->e->running = 0;
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < s->nw; i++)
        free(s->w[i].key);
    free(s->w);
    free(s->told);
    free(s->loc);
    free(s->peers);
    free(s);
}

static int scope_export(void *state, ei_x_buff *out)
{
    scope *s = state;
    ei_x_encode_map_header(out, 3);
    ei_x_encode_atom(out, "scope");
    ei_x_encode_atom(out, s->e->name);
    ei_x_encode_atom(out, "peers");
    size_t n = 0;
    for (size_t i = 0; i < s->npeers; i++)
        n += s->peers[i].used != 0;
    ei_x_encode_long(out, (long)n);
    ei_x_encode_atom(out, "groups");
    return cn_pg_encode_all(out, &s->e->t);
}

static const cn_worker scope_worker = {
    .module = "pg",
    .init = scope_init,
    .handle_call = scope_call,
    .handle_cast = scope_cast,
    .handle_info = scope_info,
    .terminate = scope_terminate,
    .export_state = scope_export,
};

/* ---- the C API -------------------------------------------------------------------------- */

static int scope_name_ok(const char *scope)
{
    return scope && scope[0] && strlen(scope) < MAXATOMLEN_UTF8;
}

/* The scope's pid, starting it when it does not run (create) or not (0 / -1). */
int cn_pg_scope_pid(const char *scope, int create, cn_pid *out)
{
    if (!scope_name_ok(scope))
        return -1;
    pthread_mutex_lock(&create_lock);
    int rc = 0;
    if (cn_whereis_name(scope, out) < 0) {
        ei_x_buff a;
        rc = -1;
        if (create && ei_x_new(&a) == 0) {
            ei_x_encode_list_header(&a, 1);
            ei_x_encode_atom(&a, scope);
            ei_x_encode_empty_list(&a);
            rc = cn_spawn_worker(&scope_worker, a.buff, a.index, scope, out);
            ei_x_free(&a);
            if (rc == 0)
                cn_info("pg scope %s started", scope);
        }
    }
    pthread_mutex_unlock(&create_lock);
    return rc;
}

int cn_pg_start(const char *scope)
{
    cn_pid p;
    return cn_pg_scope_pid(scope, 1, &p);
}

/* Call the scope with {Op, Group, Pid}; the reply is appended to r. 0, or -1. */
static int member_call(cn_proc *self, const char *scope, const char *op, const char *group, int len,
                       const cn_pid *pid, int create, ei_x_buff *r)
{
    cn_pid sp;
    if (!self || !group || len <= 0 || !pid || pid->node != 0 ||
        cn_pg_scope_pid(scope, create, &sp) < 0)
        return -1;
    ei_x_buff q;
    if (ei_x_new(&q) < 0)
        return -1;
    ei_x_encode_tuple_header(&q, 3);
    ei_x_encode_atom(&q, op);
    ei_x_append_buf(&q, group, len);
    cn_encode_pid(&q, pid);
    int rc = cn_call(self, &sp, q.buff, q.index, -1, r);
    ei_x_free(&q);
    return rc == 0 ? 0 : -1;
}

static int reply_atom(const ei_x_buff *r, const char *want)
{
    int i = 0;
    return atom_is(r->buff, &i, want);
}

int cn_pg_join(cn_proc *self, const char *scope, const char *group, int len, const cn_pid *pid)
{
    ei_x_buff r;
    if (ei_x_new(&r) < 0)
        return -1;
    int rc =
        member_call(self, scope, "join_local", group, len, pid, 1, &r) == 0 && reply_atom(&r, "ok")
            ? 0
            : -1;
    ei_x_free(&r);
    return rc;
}

int cn_pg_leave(cn_proc *self, const char *scope, const char *group, int len, const cn_pid *pid)
{
    ei_x_buff r;
    if (ei_x_new(&r) < 0)
        return -1;
    int rc = -1;
    if (member_call(self, scope, "leave_local", group, len, pid, 0, &r) == 0)
        rc = reply_atom(&r, "ok") ? 0 : reply_atom(&r, "not_joined") ? 1 : -1;
    ei_x_free(&r);
    return rc;
}

static long members(const char *scope, const char *group, int len, int local_only, cn_pid *out,
                    size_t cap)
{
    ei_x_buff key;
    int i = 0;
    if (!scope_name_ok(scope) || !group || len <= 0 || ei_x_new(&key) < 0)
        return -1;
    long n = -1;
    if (cn_pg_canon(group, &i, &key) == 0 && i == len) {
        n = 0;
        scope_ent *e = reader_enter(scope);
        if (e) {
            cn_pg_group *g = cn_pg_table_find(&e->t, key.buff, key.index);
            n = g ? (long)cn_pg_group_members(g, local_only, out, cap) : 0;
            reader_leave(e);
        }
    }
    ei_x_free(&key);
    return n;
}

long cn_pg_get_members(const char *scope, const char *group, int len, cn_pid *out, size_t cap)
{
    return members(scope, group, len, 0, out, cap);
}

long cn_pg_get_local_members(const char *scope, const char *group, int len, cn_pid *out, size_t cap)
{
    return members(scope, group, len, 1, out, cap);
}

int cn_pg_which_groups(const char *scope, int local_only, ei_x_buff *out)
{
    if (!scope_name_ok(scope))
        return -1;
    scope_ent *e = reader_enter(scope);
    if (!e)
        return ei_x_encode_empty_list(out);
    int rc = cn_pg_encode_groups(out, &e->t, local_only);
    reader_leave(e);
    return rc;
}

int cn_pg_monitor(cn_proc *self, const char *scope, const char *group, int len, cn_ref *ref_out,
                  ei_x_buff *current)
{
    cn_pid sp;
    if (!self || (group && len <= 0) || cn_pg_scope_pid(scope, 0, &sp) < 0)
        return -1;
    ei_x_buff q, r;
    if (ei_x_new(&q) < 0)
        return -1;
    if (ei_x_new(&r) < 0) {
        ei_x_free(&q);
        return -1;
    }
    if (group) {
        ei_x_encode_tuple_header(&q, 2);
        ei_x_encode_atom(&q, "monitor");
        ei_x_append_buf(&q, group, len);
    } else {
        ei_x_encode_atom(&q, "monitor");
    }
    int rc = -1, i = 0, ar;
    if (cn_call(self, &sp, q.buff, q.index, -1, &r) == 0 &&
        ei_decode_tuple_header(r.buff, &i, &ar) == 0 && ar == 2 &&
        cn_decode_ref(r.buff, &i, ref_out) == 0) {
        rc = 0;
        if (current)
            ei_x_append_buf(current, r.buff + i, r.index - i);
    }
    ei_x_free(&q);
    ei_x_free(&r);
    return rc;
}

int cn_pg_demonitor(cn_proc *self, const char *scope, const cn_ref *ref)
{
    cn_pid sp;
    if (!self || cn_pg_scope_pid(scope, 0, &sp) < 0)
        return -1;
    ei_x_buff q, r;
    if (ei_x_new(&q) < 0)
        return -1;
    if (ei_x_new(&r) < 0) {
        ei_x_free(&q);
        return -1;
    }
    ei_x_encode_tuple_header(&q, 2);
    ei_x_encode_atom(&q, "demonitor");
    cn_encode_ref(&q, ref);
    int rc = cn_call(self, &sp, q.buff, q.index, -1, &r) == 0 && reply_atom(&r, "ok") ? 0 : -1;
    ei_x_free(&q);
    ei_x_free(&r);
    return rc;
}

int cn_pg_encode_group_members(const char *scope, const char *group, int len, int local_only,
                               ei_x_buff *out)
{
    ei_x_buff key;
    int i = 0;
    if (!scope_name_ok(scope) || ei_x_new(&key) < 0)
        return -1;
    int rc = -1;
    if (cn_pg_canon(group, &i, &key) == 0 && i == len) {
        scope_ent *e = reader_enter(scope);
        if (!e)
            rc = ei_x_encode_empty_list(out);
        else {
            rc =
                cn_pg_encode_members(out, cn_pg_table_find(&e->t, key.buff, key.index), local_only);
            reader_leave(e);
        }
    }
    ei_x_free(&key);
    return rc;
}

int cn_pg_service_start(void)
{
    if (cn_pg_rpc_start() < 0)
        return -1;
    /* not fatal: the name may belong to a --child, as any registered name may */
    if (cn_pg_start("pg") < 0)
        cn_warn("the default pg scope did not start (is the name pg taken?)");
    return 0;
}

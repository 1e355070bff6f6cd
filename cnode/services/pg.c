/* pg: the :pg scope registry (the tables, by scope name) and the scope process itself: its
 * start and end, its calls (join/leave go to pg_sync.c), monitors, and the service's start.
 *
 * A scope is a process registered under the scope's name. It alone writes its membership
 * table (pg_table.c); readers (get_members & co, from any thread) take the table's read lock,
 * as BEAM readers read the scope's ETS table. Peer scopes (same name, other nodes) exchange
 * discover / sync / join / leave exactly as OTP's pg does (pg_sync.c), and nothing else: a
 * BEAM scope crashes on anything it does not know. */
#include "services/pg_int.h"

#include "node.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SCOPES 256
#define MAX_WATCHERS 65536

/* ---- scope registry: the tables, found by scope name ----------------------------------- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static scope_ent *scopes[MAX_SCOPES];
static int nscopes;

/* The entry of a running scope, read-locked (release with pg_reader_leave), or NULL. */
scope_ent *pg_reader_enter(const char *name)
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

void pg_reader_leave(scope_ent *e)
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

int pg_grow(void **a, size_t *cap, size_t need, size_t elsz, size_t max)
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

int pg_atom_is(const char *buf, int *idx, const char *want)
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

void pg_error_reply(ei_x_buff *reply, const char *what)
{
    reply->index = 0;
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_encode_atom(reply, what);
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
        pg_grow((void **)&s->w, &s->wcap, s->nw + 1, sizeof *s->w, MAX_WATCHERS) < 0 ||
        (group && !(w.key = malloc((size_t)key.index)))) {
        pg_error_reply(reply, "badarg");
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

watcher *pg_watcher_find(scope *s, const cn_ref *ref)
{
    for (size_t i = 0; i < s->nw; i++)
        if (cn_ref_eq(&s->w[i].ref, ref))
            return &s->w[i];
    return NULL;
}

void pg_watcher_remove(scope *s, watcher *w)
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
        if (pg_atom_is(buf, idx, "monitor"))
            return call_monitor(s, buf, idx, 0, from, reply);
    } else if (ei_decode_tuple_header(buf, idx, &arity) == 0 && arity >= 2 &&
               ei_decode_atom(buf, idx, op) == 0) {
        if (!strcmp(op, "join_local") && arity == 3)
            return pg_call_join(s, buf, idx, reply);
        if (!strcmp(op, "leave_local") && arity == 3)
            return pg_call_leave(s, buf, idx, reply);
        if (!strcmp(op, "monitor") && arity == 2)
            return call_monitor(s, buf, idx, 1, from, reply);
        cn_ref ref;
        if (!strcmp(op, "demonitor") && arity == 2 && cn_decode_ref(buf, idx, &ref) == 0) {
            watcher *w = pg_watcher_find(s, &ref);
            if (w) {
                cn_demonitor(self, &ref);
                pg_watcher_remove(s, w);
            }
            ei_x_encode_atom(reply, w ? "ok" : "false");
            return CN_REPLY;
        }
    }
    pg_error_reply(reply, "badarg"); /* OTP's scope would crash; ours stays up */
    return CN_REPLY;
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
        pg_info_discover(s, buf, idx);
    else if (!strcmp(op, "join") && arity == 4)
        pg_info_join(s, buf, idx);
    else if (!strcmp(op, "leave") && arity == 4)
        pg_info_leave(s, buf, idx);
    else if (!strcmp(op, "DOWN") && arity == 5)
        pg_info_down(s, buf, idx);
    else if (!strcmp(op, "nodeup") && arity >= 2 && ei_decode_atom(buf, idx, node) == 0)
        pg_on_nodeup(s, node);
    else if (!strcmp(op, "nodedown") && arity >= 2 && ei_decode_atom(buf, idx, node) == 0)
        pg_on_nodedown(s, node);
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
    pg_discover_connected(s); /* subscribed first, then the nodes already there */
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

const cn_worker pg_scope_worker = {
    .module = "pg",
    .init = scope_init,
    .handle_call = scope_call,
    .handle_cast = pg_scope_cast,
    .handle_info = scope_info,
    .terminate = scope_terminate,
    .export_state = scope_export,
};

int cn_pg_service_start(void)
{
    if (cn_pg_rpc_start() < 0)
        return -1;
    /* not fatal: the name may belong to a --child, as any registered name may */
    if (cn_pg_keep("pg") < 0)
        cn_warn("the default pg scope did not start (is the name pg taken?)");
    return 0;
}

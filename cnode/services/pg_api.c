/* pg_api: the C API of :pg (cnode.h: cn_pg_join, cn_pg_get_members ...) and the scope lookup
 * pg_rpc.c uses; it reads the scope tables directly and calls the scope process for changes. */
#include "services/pg_int.h"

#include "services/keeper.h"
#include "util/log.h"

#include <string.h>

/* ---- the C API -------------------------------------------------------------------------- */

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

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
            rc = cn_spawn_worker(&pg_scope_worker, a.buff, a.index, scope, out);
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

/* The keeper's start: a scope started meanwhile (by a join) is taken as it is. */
static int keep_start(const char *scope, void *arg)
{
    (void)arg;
    return cn_pg_start(scope);
}

int cn_pg_keep(const char *scope)
{
    if (cn_pg_start(scope) < 0)
        return -1;
    return cn_keep(scope, keep_start, NULL, NULL);
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
    return pg_atom_is(r->buff, &i, want);
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
        scope_ent *e = pg_reader_enter(scope);
        if (e) {
            cn_pg_group *g = cn_pg_table_find(&e->t, key.buff, key.index);
            n = g ? (long)cn_pg_group_members(g, local_only, out, cap) : 0;
            pg_reader_leave(e);
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
    scope_ent *e = pg_reader_enter(scope);
    if (!e)
        return ei_x_encode_empty_list(out);
    int rc = cn_pg_encode_groups(out, &e->t, local_only);
    pg_reader_leave(e);
    return rc;
}

/* A request and its reply buffer; -1 (nothing left allocated) when out of memory. */
static int new_pair(ei_x_buff *q, ei_x_buff *r)
{
    if (ei_x_new(q) < 0)
        return -1;
    if (ei_x_new(r) < 0) {
        ei_x_free(q);
        return -1;
    }
    return 0;
}

int cn_pg_monitor(cn_proc *self, const char *scope, const char *group, int len, cn_ref *ref_out,
                  ei_x_buff *current)
{
    cn_pid sp;
    if (!self || (group && len <= 0) || cn_pg_scope_pid(scope, 0, &sp) < 0)
        return -1;
    ei_x_buff q, r;
    if (new_pair(&q, &r) < 0)
        return -1;
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
    if (new_pair(&q, &r) < 0)
        return -1;
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
        scope_ent *e = pg_reader_enter(scope);
        if (!e)
            rc = ei_x_encode_empty_list(out);
        else {
            rc =
                cn_pg_encode_members(out, cn_pg_table_find(&e->t, key.buff, key.index), local_only);
            pg_reader_leave(e);
        }
    }
    ei_x_free(&key);
    return rc;
}

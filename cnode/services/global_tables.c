/* global_tables: lock and name tables of :global (see global_tables.h). Linear arrays: the
 * tables are small in practice, every bound is checked, and every term is copied. */
#include "services/global_tables.h"

#include <stdlib.h>
#include <string.h>

static char *dup_term(const char *b, int len)
{
    if (len <= 0 || len > GT_MAX_TERM)
        return NULL;
    char *p = malloc((size_t)len);
    if (p)
        memcpy(p, b, (size_t)len);
    return p;
}

static int same(const char *a, int al, const char *b, int bl)
{
    return al == bl && memcmp(a, b, (size_t)al) == 0;
}

int gt_is_global_atom(const char *res, int res_len)
{
    char a[MAXATOMLEN_UTF8];
    int i = 0;
    return ei_decode_atom(res, &i, a) == 0 && i == res_len && strcmp(a, "global") == 0;
}

/* ---- locks ------------------------------------------------------------------------------ */

static void lock_clear(gt_lock *l)
{
    free(l->res);
    free(l->req);
    free(l->h);
}

void gt_locks_free(gt_locks *t)
{
    for (int i = 0; i < t->n; i++)
        lock_clear(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

gt_lock *gt_locks_find(gt_locks *t, const char *res, int res_len)
{
    for (int i = 0; i < t->n; i++)
        if (same(t->v[i].res, t->v[i].res_len, res, res_len))
            return &t->v[i];
    return NULL;
}

int gt_locks_can_set(gt_locks *t, const char *res, int res_len, const char *req, int req_len)
{
    gt_lock *l = gt_locks_find(t, res, res_len);
    return !l || same(l->req, l->req_len, req, req_len);
}

int gt_locks_holds(gt_locks *t, const char *res, int res_len, const cn_pid *pid)
{
    gt_lock *l = gt_locks_find(t, res, res_len);
    if (l)
        for (int i = 0; i < l->nh; i++)
            if (cn_pid_eq(&l->h[i].pid, pid))
                return 1;
    return 0;
}

int gt_locks_add(gt_locks *t, const char *res, int res_len, const char *req, int req_len,
                 const cn_pid *pid, const cn_ref *ref)
{
    gt_lock *l = gt_locks_find(t, res, res_len);
    if (!l) {
        if (t->n >= GT_MAX_LOCKS)
            return -1;
        if (t->n == t->cap) {
            int nc = t->cap ? t->cap * 2 : 8;
            gt_lock *nv = realloc(t->v, (size_t)nc * sizeof *nv);
            if (!nv)
                return -1;
            t->v = nv;
            t->cap = nc;
        }
        gt_lock nl = {.res = dup_term(res, res_len),
                      .req = dup_term(req, req_len),
                      .res_len = res_len,
                      .req_len = req_len};
        if (!nl.res || !nl.req) {
            lock_clear(&nl);
            return -1;
        }
        t->v[t->n++] = nl;
        l = &t->v[t->n - 1];
    } else if (!same(l->req, l->req_len, req, req_len)) {
        return -1;
    }
    if (l->nh >= GT_MAX_HOLDERS)
        goto fail;
    if (l->nh == l->cap) {
        int nc = l->cap ? l->cap * 2 : 2;
        gt_holder *nh = realloc(l->h, (size_t)nc * sizeof *nh);
        if (!nh)
            goto fail;
        l->h = nh;
        l->cap = nc;
    }
    l->h[l->nh++] = (gt_holder){*pid, *ref};
    return 0;
fail:
    if (l->nh == 0) { /* a lock we just created: take it out again */
        lock_clear(l);
        *l = t->v[--t->n];
    }
    return -1;
}

/* Remove holder j of lock i; the lock goes with its last holder. Returns 1 if it went. */
static int drop_holder(gt_locks *t, int i, int j)
{
    gt_lock *l = &t->v[i];
    l->h[j] = l->h[--l->nh];
    if (l->nh > 0)
        return 0;
    lock_clear(l);
    t->v[i] = t->v[--t->n];
    return 1;
}

int gt_locks_del(gt_locks *t, const char *res, int res_len, const char *req, int req_len,
                 const cn_pid *pid, cn_ref *ref_out, int *gone)
{
    *gone = 0;
    for (int i = 0; i < t->n; i++) {
        gt_lock *l = &t->v[i];
        if (!same(l->res, l->res_len, res, res_len))
            continue;
        if (!same(l->req, l->req_len, req, req_len))
            return 0;
        for (int j = 0; j < l->nh; j++)
            if (cn_pid_eq(&l->h[j].pid, pid)) {
                *ref_out = l->h[j].ref;
                *gone = drop_holder(t, i, j);
                return 1;
            }
        return 0;
    }
    return 0;
}

int gt_locks_drop_ref(gt_locks *t, const cn_ref *ref, int *global_ended)
{
    int n = 0;
    *global_ended = 0;
    for (int i = 0; i < t->n;) {
        int removed = 0;
        for (int j = 0; j < t->v[i].nh; j++)
            if (cn_ref_eq(&t->v[i].h[j].ref, ref)) {
                int g = gt_is_global_atom(t->v[i].res, t->v[i].res_len);
                n++;
                if (drop_holder(t, i, j)) {
                    removed = 1;
                    if (g)
                        *global_ended = 1;
                }
                break;
            }
        if (!removed)
            i++;
    }
    return n;
}

/* ---- names ------------------------------------------------------------------------------ */

void gt_names_free(gt_names *t)
{
    for (int i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].method);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

gt_name *gt_names_find(gt_names *t, const char *name, int len)
{
    for (int i = 0; i < t->n; i++)
        if (same(t->v[i].name, t->v[i].name_len, name, len))
            return &t->v[i];
    return NULL;
}

gt_name *gt_names_find_ref(gt_names *t, const cn_ref *ref)
{
    for (int i = 0; i < t->n; i++)
        if (cn_ref_eq(&t->v[i].ref, ref))
            return &t->v[i];
    return NULL;
}

gt_name *gt_names_find_pid(gt_names *t, const cn_pid *pid)
{
    for (int i = 0; i < t->n; i++)
        if (cn_pid_eq(&t->v[i].pid, pid))
            return &t->v[i];
    return NULL;
}

int gt_names_insert(gt_names *t, const char *name, int len, const cn_pid *pid, const char *method,
                    int method_len, const cn_ref *ref)
{
    if (t->n >= GT_MAX_NAMES || gt_names_find(t, name, len))
        return -1;
    if (t->n == t->cap) {
        int nc = t->cap ? t->cap * 2 : 16;
        gt_name *nv = realloc(t->v, (size_t)nc * sizeof *nv);
        if (!nv)
            return -1;
        t->v = nv;
        t->cap = nc;
    }
    gt_name e = {.name = dup_term(name, len),
                 .method = dup_term(method, method_len),
                 .name_len = len,
                 .method_len = method_len,
                 .pid = *pid,
                 .ref = *ref};
    if (!e.name || !e.method) {
        free(e.name);
        free(e.method);
        return -1;
    }
    t->v[t->n++] = e;
    return 0;
}

int gt_names_remove(gt_names *t, const char *name, int len, cn_pid *pid_out, cn_ref *ref_out)
{
    gt_name *e = gt_names_find(t, name, len);
    if (!e)
        return 0;
    if (pid_out)
        *pid_out = e->pid;
    if (ref_out)
        *ref_out = e->ref;
    free(e->name);
    free(e->method);
    *e = t->v[--t->n];
    return 1;
}

int gt_pid_cmp(const cn_pid *a, const cn_pid *b)
{
    if (a->serial != b->serial)
        return a->serial < b->serial ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    if (a->node != b->node) {
        const char *na = cn_node_name(a->node), *nb = cn_node_name(b->node);
        int c = strcmp(na ? na : "", nb ? nb : "");
        if (c)
            return c;
    }
    if (a->creation != b->creation)
        return a->creation < b->creation ? -1 : 1;
    return 0;
}

#include "services/exports.h"

#include "code/table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct export
{
    struct export *next;
    cn_rpc_fn fn;
    int arity;
    char *module, *function;
    cn_code_ver *ver; /* loaded code: the version the function belongs to; NULL: built in */
}
export;

/* Read far more often than written; a linear list per hash bucket is plenty. */
#define NBUCKETS 256
static export *buckets[NBUCKETS];
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned bucket(const char *m, const char *f)
{
    unsigned h = 5381;
    for (; *m; m++)
        h = h * 33 + (unsigned char)*m;
    for (; *f; f++)
        h = h * 33 + (unsigned char)*f;
    return h % NBUCKETS;
}

static export *find(const char *m, const char *f, int arity)
{
    for (export *e = buckets[bucket(m, f)]; e; e = e->next)
        if ((e->arity == arity || e->arity == -1 || arity == -2) && !strcmp(e->module, m) &&
            !strcmp(e->function, f))
            return e;
    return NULL;
}

int cn_export(const char *module, const char *function, int arity, cn_rpc_fn fn)
{
    if (!module[0] || !function[0] || arity < -1 || arity > 255 || !fn)
        return -1;
    export *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->fn = fn;
    e->arity = arity;
    e->module = strdup(module);
    e->function = strdup(function);
    int r = -1;
    pthread_rwlock_wrlock(&lock);
    if (e->module && e->function && !find(module, function, arity == -1 ? -2 : arity)) {
        unsigned b = bucket(module, function);
        e->next = buckets[b];
        buckets[b] = e;
        r = 0;
    }
    pthread_rwlock_unlock(&lock);
    if (r < 0) {
        free(e->module);
        free(e->function);
        free(e);
    }
    return r;
}

cn_rpc_fn cn_export_lookup(const char *module, const char *function, int arity)
{
    pthread_rwlock_rdlock(&lock);
    export *e = find(module, function, arity);
    cn_rpc_fn fn = e ? e->fn : NULL;
    pthread_rwlock_unlock(&lock);
    return fn;
}

cn_rpc_fn cn_export_acquire(const char *module, const char *function, int arity, cn_code_ver **ver)
{
    pthread_rwlock_rdlock(&lock);
    export *e = find(module, function, arity);
    cn_rpc_fn fn = e ? e->fn : NULL;
    /* Held before the lock is let go: a load that replaces these entries needs the write
     * lock, so the version cannot be detached (and unloaded) between lookup and hold. */
    *ver = e ? e->ver : NULL;
    if (*ver)
        cn_code_hold(*ver);
    pthread_rwlock_unlock(&lock);
    return fn;
}

int cn_exports_builtin_module(const char *module)
{
    int r = 0;
    pthread_rwlock_rdlock(&lock);
    for (int b = 0; b < NBUCKETS && !r; b++)
        for (export *e = buckets[b]; e && !r; e = e->next)
            r = !e->ver && !strcmp(e->module, module);
    pthread_rwlock_unlock(&lock);
    return r;
}

size_t cn_exports_builtin_modules(const char **out, size_t cap)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&lock);
    for (int b = 0; b < NBUCKETS; b++)
        for (export *e = buckets[b]; e; e = e->next) {
            if (e->ver)
                continue;
            size_t i = 0;
            while (i < n && strcmp(out[i], e->module) != 0)
                i++;
            if (i == n && n < cap)
                out[n++] = e->module; /* built-in entries live as long as the node */
        }
    pthread_rwlock_unlock(&lock);
    return n;
}

static export *entry_new(const char *module, const char *function, int arity, cn_rpc_fn fn)
{
    export *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fn = fn;
    e->arity = arity;
    e->module = strdup(module);
    e->function = strdup(function);
    if (!e->module || !e->function) {
        free(e->module);
        free(e->function);
        free(e);
        return NULL;
    }
    return e;
}

static void entry_free(export *e)
{
    free(e->module);
    free(e->function);
    free(e);
}

int cn_exports_set_module(const char *module, const cn_export_def *defs, int n, cn_code_ver *ver)
{
    /* Build the new entries first, so that a failure leaves the table as it was. */
    export *fresh = NULL;
    for (int i = 0; i < n; i++) {
        export *e = entry_new(module, defs[i].function, defs[i].arity, defs[i].fn);
        if (!e) {
            while (fresh) {
                export *next = fresh->next;
                entry_free(fresh);
                fresh = next;
            }
            return -1;
        }
        e->ver = ver;
        e->next = fresh;
        fresh = e;
    }
    pthread_rwlock_wrlock(&lock);
    for (int b = 0; b < NBUCKETS; b++)
        for (export **ep = &buckets[b]; *ep;) {
            export *e = *ep;
            if (e->ver && !strcmp(e->module, module)) {
                *ep = e->next;
                entry_free(e);
            } else {
                ep = &e->next;
            }
        }
    while (fresh) {
        export *e = fresh;
        fresh = e->next;
        if (find(module, e->function, e->arity == -1 ? -2 : e->arity)) {
            entry_free(e); /* the module listed the same function twice: the first wins */
            continue;
        }
        unsigned b = bucket(module, e->function);
        e->next = buckets[b];
        buckets[b] = e;
    }
    pthread_rwlock_unlock(&lock);
    return 0;
}

void cn_export_list(ei_x_buff *x)
{
    pthread_rwlock_rdlock(&lock);
    for (int b = 0; b < NBUCKETS; b++)
        for (export *e = buckets[b]; e; e = e->next) {
            ei_x_encode_list_header(x, 1);
            ei_x_encode_tuple_header(x, 3);
            ei_x_encode_atom(x, e->module);
            ei_x_encode_atom(x, e->function);
            if (e->arity >= 0)
                ei_x_encode_long(x, e->arity);
            else
                ei_x_encode_atom(x, "_");
        }
    pthread_rwlock_unlock(&lock);
    ei_x_encode_empty_list(x);
}

size_t cn_export_module_fns(const char *module, ei_x_buff *x)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&lock);
    for (int b = 0; b < NBUCKETS; b++)
        for (export *e = buckets[b]; e; e = e->next) {
            if (strcmp(e->module, module) != 0)
                continue;
            n++;
            if (e->arity < 0 || !x)
                continue;
            ei_x_encode_list_header(x, 1);
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, e->function);
            ei_x_encode_long(x, e->arity);
        }
    pthread_rwlock_unlock(&lock);
    return n;
}

int cn_export_rows(const cn_export_row *rows, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r |= cn_export(rows[i].module, rows[i].function, rows[i].arity, rows[i].fn);
    return r < 0 ? -1 : 0;
}

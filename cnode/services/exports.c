#include "services/exports.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct export {
    struct export *next;
    cn_rpc_fn fn;
    int arity;
    char *module, *function;
} export;

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

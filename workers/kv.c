/* kv: an in-memory key-value store worker. Calls {:put, k, v} -> :ok, {:get, k} ->
 * {:ok, v} | :error, {:delete, k} -> :ok, :keys -> list; cast {:put, k, v}. Its state
 * is an Erlang map for :sys.get_state, and a map starts one (state handoff). Keys compare
 * by their encoded bytes. */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    int klen, vlen;
    char *key, *val; /* encoded terms, without version byte */
} entry;

#define NBUCKETS 256
typedef struct kv {
    entry *b[NBUCKETS];
    long n;
} kv;

static unsigned hash(const char *k, int n)
{
    unsigned h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h % NBUCKETS;
}

static entry **find(kv *s, const char *k, int n)
{
    entry **pp = &s->b[hash(k, n)];
    while (*pp && ((*pp)->klen != n || memcmp((*pp)->key, k, (size_t)n) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* The span of the term at buf+*idx, advancing *idx past it. */
static int span(const char *buf, int *idx, const char **p, int *n)
{
    int s = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    *p = buf + s;
    *n = *idx - s;
    return 0;
}

static int put(kv *s, const char *k, int kl, const char *v, int vl)
{
    entry **pp = find(s, k, kl);
    char *val = malloc((size_t)vl);
    if (!val)
        return -1;
    memcpy(val, v, (size_t)vl);
    if (*pp) {
        free((*pp)->val);
    } else {
        entry *e = calloc(1, sizeof *e);
        char *key = malloc((size_t)kl);
        if (!e || !key) {
            free(e);
            free(key);
            free(val);
            return -1;
        }
        memcpy(key, k, (size_t)kl);
        e->key = key;
        e->klen = kl;
        *pp = e;
        s->n++;
    }
    (*pp)->val = val;
    (*pp)->vlen = vl;
    return 0;
}

static void del(kv *s, const char *k, int kl)
{
    entry **pp = find(s, k, kl);
    if (!*pp)
        return;
    entry *e = *pp;
    *pp = e->next;
    free(e->key);
    free(e->val);
    free(e);
    s->n--;
}

static int kv_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    (void)buf;
    (void)idx;
    *state = calloc(1, sizeof(kv));
    return *state ? 0 : -1;
}

/* {Op, Args...}: the operation name and arity; 0 if msg is not such a tuple. */
static int op(const char *buf, int *idx, char *name)
{
    int arity;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity < 1 ||
        ei_decode_atom(buf, idx, name) < 0)
        return 0;
    return arity;
}

static int kv_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                   ei_x_buff *reply)
{
    (void)self;
    (void)from;
    kv *s = state;
    char name[MAXATOMLEN_UTF8];
    const char *k, *v;
    int kl, vl, probe = *idx;
    if (ei_decode_atom(buf, &probe, name) == 0 && strcmp(name, "keys") == 0) {
        if (s->n > 0)
            ei_x_encode_list_header(reply, s->n);
        for (int i = 0; i < NBUCKETS; i++)
            for (entry *e = s->b[i]; e; e = e->next)
                ei_x_append_buf(reply, e->key, e->klen);
        ei_x_encode_empty_list(reply);
        return CN_REPLY;
    }
    int arity = op(buf, idx, name);
    if (arity == 3 && strcmp(name, "put") == 0 && span(buf, idx, &k, &kl) == 0 &&
        span(buf, idx, &v, &vl) == 0) {
        ei_x_encode_atom(reply, put(s, k, kl, v, vl) == 0 ? "ok" : "error");
    } else if (arity == 2 && strcmp(name, "get") == 0 && span(buf, idx, &k, &kl) == 0) {
        entry *e = *find(s, k, kl);
        if (e) {
            ei_x_encode_tuple_header(reply, 2);
            ei_x_encode_atom(reply, "ok");
            ei_x_append_buf(reply, e->val, e->vlen);
        } else {
            ei_x_encode_atom(reply, "error");
        }
    } else if (arity == 2 && strcmp(name, "delete") == 0 && span(buf, idx, &k, &kl) == 0) {
        del(s, k, kl);
        ei_x_encode_atom(reply, "ok");
    } else {
        ei_x_encode_tuple_header(reply, 2);
        ei_x_encode_atom(reply, "error");
        ei_x_encode_atom(reply, "badarg");
    }
    return CN_REPLY;
}

static int kv_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)self;
    char name[MAXATOMLEN_UTF8];
    const char *k, *v;
    int kl, vl;
    if (op(buf, idx, name) == 3 && strcmp(name, "put") == 0 && span(buf, idx, &k, &kl) == 0 &&
        span(buf, idx, &v, &vl) == 0)
        put(state, k, kl, v, vl);
    return CN_NOREPLY;
}

static void kv_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    kv *s = state;
    for (int i = 0; i < NBUCKETS; i++)
        while (s->b[i])
            del(s, s->b[i]->key, s->b[i]->klen);
    free(s);
}

static int kv_export(void *state, ei_x_buff *out)
{
    kv *s = state;
    ei_x_encode_map_header(out, s->n);
    for (int i = 0; i < NBUCKETS; i++)
        for (entry *e = s->b[i]; e; e = e->next) {
            ei_x_append_buf(out, e->key, e->klen);
            ei_x_append_buf(out, e->val, e->vlen);
        }
    return 0;
}

/* A state another node handed over (kv_export's map, or any map): every pair is put. */
static int kv_import(cn_proc *self, const char *buf, int *idx, void **state)
{
    int n;
    const char *k, *v;
    int kl, vl;
    if (ei_decode_map_header(buf, idx, &n) < 0 || kv_init(self, buf, idx, state) < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (span(buf, idx, &k, &kl) < 0 || span(buf, idx, &v, &vl) < 0 ||
            put(*state, k, kl, v, vl) < 0) {
            kv_terminate(self, *state, NULL, 0);
            *state = NULL;
            return -1;
        }
    return 0;
}

const cn_worker cn_kv_worker = {
    .module = "kv",
    .init = kv_init,
    .handle_call = kv_call,
    .handle_cast = kv_cast,
    .terminate = kv_terminate,
    .export_state = kv_export,
    .import_state = kv_import,
};

/* pg_table: membership table of a :pg scope and parsers for peer payloads (see pg_table.h). */
#include "services/pg_table.h"

#include "util/ebig.h"

#include <stdlib.h>
#include <string.h>

/* ---- canonical group names ---------------------------------------------------------- */

static int canon(const char *buf, int *idx, ei_x_buff *out, int depth);

static int too_big(const ei_x_buff *x)
{
    return x->index > CN_PG_MAX_GROUP_BYTES;
}

/* Integers that do not fit 64 bits: strip high zero digits, smallest big form. */
static int canon_big(const char *buf, int *idx, ei_x_buff *out)
{
    const unsigned char *p = (const unsigned char *)buf + *idx;
    size_t n, hdr;
    if (p[0] == ERL_SMALL_BIG_EXT) {
        n = p[1];
        hdr = 2;
    } else {
        n = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
        hdr = 5;
    }
    if (n > CN_PG_MAX_GROUP_BYTES)
        return -1;
    if (cn_encode_big(out, p[hdr], p + hdr + 1, n) < 0)
        return -1;
    *idx += (int)(hdr + 1 + n);
    return 0;
}

int cn_pg_list_next(const char *buf, int *idx, int *left)
{
    if (*left > 0) {
        (*left)--;
        return 1;
    }
    int type, size, n;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    if (type == ERL_NIL_EXT) {
        (*idx)++;
        return 0;
    }
    if (type != ERL_LIST_EXT || ei_decode_list_header(buf, idx, &n) < 0 || n < 1)
        return -1;
    *left = n - 1;
    return 1;
}

/* A list is one term however it was chunked ([a | [b]] or [a, b], STRING_EXT tails): read
 * every element, then write [0..255 only] as STRING_EXT (as a BEAM node sends it), else as
 * one LIST_EXT with the canonical tail. */
static int canon_list(const char *buf, int *idx, ei_x_buff *out, int depth)
{
    ei_x_buff el;
    if (ei_x_new(&el) < 0)
        return -1;
    long n = 0;
    int bytes = 1, rc = -1, type, size, n0;
    for (;;) {
        if (ei_get_type(buf, idx, &type, &size) < 0)
            goto done;
        if (type == ERL_LIST_EXT) {
            if (ei_decode_list_header(buf, idx, &n0) < 0)
                goto done;
            for (int i = 0; i < n0; i++, n++) {
                int at = el.index;
                if (canon(buf, idx, &el, depth + 1) < 0 || too_big(&el))
                    goto done;
                if (el.buff[at] != ERL_SMALL_INTEGER_EXT)
                    bytes = 0;
            }
            continue;
        }
        if (type == ERL_STRING_EXT && n > 0) { /* a string as the tail: more small ints */
            int len = ((unsigned char)buf[*idx + 1] << 8) | (unsigned char)buf[*idx + 2];
            for (int i = 0; i < len; i++, n++)
                if (ei_x_encode_long(&el, (unsigned char)buf[*idx + 3 + i]) < 0 || too_big(&el))
                    goto done;
            *idx += 3 + len;
            type = ERL_NIL_EXT;
            size = 0;
        } else if (type == ERL_NIL_EXT) {
            (*idx)++;
        }
        break;
    }
    if (type == ERL_NIL_EXT && n == 0) {
        rc = ei_x_encode_empty_list(out);
    } else if (n == 0) { /* a LIST_EXT of length 0 is its tail alone (so the BEAM reads it) */
        rc = canon(buf, idx, out, depth + 1);
    } else if (type == ERL_NIL_EXT && bytes && n <= 65535) {
        char *str = malloc((size_t)n);
        if (!str)
            goto done;
        for (long i = 0; i < n; i++)
            str[i] = el.buff[i * 2 + 1];
        rc = ei_x_encode_string_len(out, str, (int)n);
        free(str);
    } else {
        if (ei_x_encode_list_header(out, n) < 0 || ei_x_append_buf(out, el.buff, el.index) < 0)
            goto done;
        rc = type == ERL_NIL_EXT ? ei_x_encode_empty_list(out) : canon(buf, idx, out, depth + 1);
    }
done:
    ei_x_free(&el);
    return rc;
}

typedef struct kv {
    int k, klen, v, vlen; /* offsets into the scratch buffer */
} kv;

static __thread ei_x_buff *sort_base; /* qsort has no context argument */
static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    int n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(sort_base->buff + x->k, sort_base->buff + y->k, (size_t)n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static int canon_map(const char *buf, int *idx, ei_x_buff *out, int depth)
{
    int n;
    if (ei_decode_map_header(buf, idx, &n) < 0 || n < 0 || n > CN_PG_MAX_GROUP_BYTES)
        return -1;
    ei_x_buff s;
    if (ei_x_new(&s) < 0)
        return -1;
    kv *p = n ? malloc((size_t)n * sizeof *p) : NULL;
    int rc = -1;
    if (n && !p)
        goto done;
    for (int i = 0; i < n; i++) {
        p[i].k = s.index;
        if (canon(buf, idx, &s, depth + 1) < 0)
            goto done;
        p[i].klen = s.index - p[i].k;
        p[i].v = s.index;
        if (canon(buf, idx, &s, depth + 1) < 0 || too_big(&s))
            goto done;
        p[i].vlen = s.index - p[i].v;
    }
    /* a map is equal whatever order its pairs were written in: order by key bytes */
    sort_base = &s;
    if (n > 1)
        qsort(p, (size_t)n, sizeof *p, kv_cmp);
    if (ei_x_encode_map_header(out, n) < 0)
        goto done;
    for (int i = 0; i < n; i++)
        if (ei_x_append_buf(out, s.buff + p[i].k, p[i].klen) < 0 ||
            ei_x_append_buf(out, s.buff + p[i].v, p[i].vlen) < 0)
            goto done;
    rc = 0;
done:
    free(p);
    ei_x_free(&s);
    return rc;
}

static int canon(const char *buf, int *idx, ei_x_buff *out, int depth)
{
    int type, size;
    if (depth > CN_PG_MAX_DEPTH || too_big(out) || ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    unsigned char tag = (unsigned char)buf[*idx];
    switch (tag) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT: {
        int at = *idx;
        long long v;
        unsigned long long u;
        if (ei_decode_longlong(buf, idx, &v) == 0)
            return ei_x_encode_longlong(out, v);
        *idx = at;
        if (ei_decode_ulonglong(buf, idx, &u) == 0)
            return ei_x_encode_ulonglong(out, u);
        *idx = at;
        if (tag == ERL_SMALL_BIG_EXT || tag == ERL_LARGE_BIG_EXT)
            return canon_big(buf, idx, out);
        return -1;
    }
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT: {
        double d;
        return ei_decode_double(buf, idx, &d) < 0 ? -1 : ei_x_encode_double(out, d);
    }
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT: {
        char a[MAXATOMLEN_UTF8];
        if (ei_decode_atom_as(buf, idx, a, sizeof a, ERLANG_UTF8, NULL, NULL) < 0)
            return -1;
        return ei_x_encode_atom_len_as(out, a, (int)strlen(a), ERLANG_UTF8, ERLANG_UTF8);
    }
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT: {
        int n;
        if (ei_decode_tuple_header(buf, idx, &n) < 0 || ei_x_encode_tuple_header(out, n) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (canon(buf, idx, out, depth + 1) < 0)
                return -1;
        return 0;
    }
    case ERL_NIL_EXT:
        *idx += 1;
        return ei_x_encode_empty_list(out);
    case ERL_STRING_EXT: {
        int n = ((unsigned char)buf[*idx + 1] << 8) | (unsigned char)buf[*idx + 2];
        const char *s = buf + *idx + 3;
        *idx += 3 + n;
        return ei_x_encode_string_len(out, s, n);
    }
    case ERL_LIST_EXT:
        return canon_list(buf, idx, out, depth);
    case ERL_MAP_EXT:
        return canon_map(buf, idx, out, depth);
    case ERL_BINARY_EXT:
    case ERL_BIT_BINARY_EXT: {
        const char *p;
        unsigned int off;
        size_t bits;
        if (ei_decode_bitstring(buf, idx, &p, &off, &bits) < 0 || bits / 8 > CN_PG_MAX_GROUP_BYTES)
            return -1;
        if (off == 0 && bits % 8 == 0)
            return ei_x_encode_binary(out, p, (long)(bits / 8));
        return ei_x_encode_bitstring(out, p, off, bits);
    }
    case ERL_PID_EXT:
    case ERL_NEW_PID_EXT: {
        erlang_pid p;
        return ei_decode_pid(buf, idx, &p) < 0 ? -1 : ei_x_encode_pid(out, &p);
    }
    case ERL_PORT_EXT:
    case ERL_NEW_PORT_EXT:
    case ERL_V4_PORT_EXT: {
        erlang_port p;
        return ei_decode_port(buf, idx, &p) < 0 ? -1 : ei_x_encode_port(out, &p);
    }
    case ERL_REFERENCE_EXT:
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT: {
        erlang_ref r;
        return ei_decode_ref(buf, idx, &r) < 0 ? -1 : ei_x_encode_ref(out, &r);
    }
    case ERL_FUN_EXT:
    case ERL_NEW_FUN_EXT:
    case ERL_EXPORT_EXT: {
        /* one encoding per fun in practice: keep the bytes */
        int at = *idx;
        if (ei_skip_term(buf, idx) < 0 || *idx - at > CN_PG_MAX_GROUP_BYTES)
            return -1;
        return ei_x_append_buf(out, buf + at, *idx - at);
    }
    default:
        return -1;
    }
}

int cn_pg_canon(const char *buf, int *idx, ei_x_buff *out)
{
    int start = out->index;
    if (canon(buf, idx, out, 0) < 0 || out->index - start > CN_PG_MAX_GROUP_BYTES)
        return -1;
    return 0;
}

/* ---- the table ---------------------------------------------------------------------- */

static uint64_t hash_key(const char *k, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

void cn_pg_table_init(cn_pg_table *t)
{
    memset(t, 0, sizeof *t);
}

static void group_free(cn_pg_group *g)
{
    free(g->key);
    free(g->m);
    free(g);
}

void cn_pg_table_clear(cn_pg_table *t)
{
    for (size_t b = 0; b < t->nbuckets; b++)
        for (cn_pg_group *g = t->buckets[b], *next; g; g = next) {
            next = g->next;
            group_free(g);
        }
    free(t->buckets);
    cn_pg_notify_fn fn = t->notify;
    void *ctx = t->notify_ctx;
    cn_pg_table_init(t);
    t->notify = fn;
    t->notify_ctx = ctx;
}

cn_pg_group *cn_pg_table_find(const cn_pg_table *t, const char *key, int key_len)
{
    if (!t->nbuckets)
        return NULL;
    uint64_t h = hash_key(key, key_len);
    for (cn_pg_group *g = t->buckets[h & (t->nbuckets - 1)]; g; g = g->next)
        if (g->hash == h && g->key_len == key_len && !memcmp(g->key, key, (size_t)key_len))
            return g;
    return NULL;
}

static int grow(cn_pg_table *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 16;
    cn_pg_group **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (cn_pg_group *g = t->buckets[i], *next; g; g = next) {
            next = g->next;
            g->next = b[g->hash & (nb - 1)];
            b[g->hash & (nb - 1)] = g;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    return 0;
}

static cn_pg_group *group_get(cn_pg_table *t, const char *key, int key_len)
{
    cn_pg_group *g = cn_pg_table_find(t, key, key_len);
    if (g)
        return g;
    if (key_len <= 0 || key_len > CN_PG_MAX_GROUP_BYTES)
        return NULL;
    if (t->ngroups >= t->nbuckets && grow(t) < 0)
        return NULL;
    g = calloc(1, sizeof *g);
    if (!g || !(g->key = malloc((size_t)key_len))) {
        free(g);
        return NULL;
    }
    memcpy(g->key, key, (size_t)key_len);
    g->key_len = key_len;
    g->hash = hash_key(key, key_len);
    size_t b = g->hash & (t->nbuckets - 1);
    g->next = t->buckets[b];
    t->buckets[b] = g;
    t->ngroups++;
    return g;
}

static void group_unlink(cn_pg_table *t, cn_pg_group *g)
{
    for (cn_pg_group **pp = &t->buckets[g->hash & (t->nbuckets - 1)]; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            t->ngroups--;
            group_free(g);
            return;
        }
}

static void notify(cn_pg_table *t, const cn_pg_group *g, int join, const cn_pid *p, size_t n)
{
    if (t->notify && n > 0)
        t->notify(t->notify_ctx, g, join, p, n);
}

int cn_pg_table_join(cn_pg_table *t, const char *key, int key_len, uint32_t origin,
                     const cn_pid *pids, size_t n)
{
    if (n == 0)
        return 0;
    if (n > CN_PG_MAX_MEMBERS || t->total + n > CN_PG_MAX_MEMBERS)
        return -1;
    cn_pg_group *g = group_get(t, key, key_len);
    if (!g)
        return -1;
    if (g->n + n > g->cap) {
        size_t nc = g->cap ? g->cap : 4;
        while (nc < g->n + n)
            nc *= 2;
        cn_pg_member *m = realloc(g->m, nc * sizeof *m);
        if (!m) {
            if (g->n == 0)
                group_unlink(t, g);
            return -1;
        }
        g->m = m;
        g->cap = (uint32_t)nc;
    }
    for (size_t i = 0; i < n; i++)
        g->m[g->n++] = (cn_pg_member){pids[i], origin};
    t->total += n;
    notify(t, g, 1, pids, n);
    return 0;
}

/* Remove the newest membership (origin, pid) of g: 1 if there was one. */
static int remove_one(cn_pg_table *t, cn_pg_group *g, uint32_t origin, const cn_pid *pid)
{
    for (uint32_t i = g->n; i-- > 0;)
        if (g->m[i].origin == origin && cn_pid_eq(&g->m[i].pid, pid)) {
            memmove(g->m + i, g->m + i + 1, (g->n - i - 1) * sizeof *g->m);
            g->n--;
            t->total--;
            return 1;
        }
    return 0;
}

size_t cn_pg_table_leave(cn_pg_table *t, const char *key, int key_len, uint32_t origin,
                         const cn_pid *pids, size_t n)
{
    cn_pg_group *g = cn_pg_table_find(t, key, key_len);
    if (!g)
        return 0;
    cn_pid *gone = malloc((n ? n : 1) * sizeof *gone);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (remove_one(t, g, origin, &pids[i]) && gone)
            gone[k++] = pids[i];
    if (gone)
        notify(t, g, 0, gone, k);
    free(gone);
    if (g->n == 0)
        group_unlink(t, g);
    return k;
}

/* Remove every membership of g matching origin (and pid, when given); notify; returns the
 * count. The group is not unlinked here. */
static size_t remove_matching(cn_pg_table *t, cn_pg_group *g, uint32_t origin, const cn_pid *pid)
{
    cn_pid *gone = malloc((g->n ? g->n : 1) * sizeof *gone);
    size_t k = 0, w = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->m[i].origin == origin && (!pid || cn_pid_eq(&g->m[i].pid, pid))) {
            if (gone)
                gone[k] = g->m[i].pid;
            k++;
        } else {
            g->m[w++] = g->m[i];
        }
    }
    g->n = (uint32_t)w;
    t->total -= k;
    if (gone)
        notify(t, g, 0, gone, k);
    free(gone);
    return k;
}

/* Groups of the table into a fresh array (so callers may unlink while walking). */
static cn_pg_group **snapshot(const cn_pg_table *t, size_t *n)
{
    *n = 0;
    cn_pg_group **a = malloc((t->ngroups ? t->ngroups : 1) * sizeof *a);
    if (!a)
        return NULL;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (cn_pg_group *g = t->buckets[b]; g; g = g->next)
            a[(*n)++] = g;
    return a;
}

void cn_pg_table_drop_origin(cn_pg_table *t, uint32_t origin)
{
    size_t n;
    cn_pg_group **a = snapshot(t, &n);
    if (!a)
        return;
    for (size_t i = 0; i < n; i++) {
        remove_matching(t, a[i], origin, NULL);
        if (a[i]->n == 0)
            group_unlink(t, a[i]);
    }
    free(a);
}

size_t cn_pg_table_drop_pid(cn_pg_table *t, const cn_pid *pid, ei_x_buff *out)
{
    size_t n, total = 0;
    cn_pg_group **a = snapshot(t, &n);
    if (!a)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = remove_matching(t, a[i], CN_PG_LOCAL, pid);
        for (size_t j = 0; j < k && out; j++) {
            ei_x_encode_list_header(out, 1);
            ei_x_append_buf(out, a[i]->key, a[i]->key_len);
        }
        total += k;
        if (a[i]->n == 0)
            group_unlink(t, a[i]);
    }
    free(a);
    if (out)
        ei_x_encode_empty_list(out);
    return total;
}

size_t cn_pg_group_count(const cn_pg_group *g, uint32_t origin)
{
    size_t k = 0;
    for (uint32_t i = 0; i < g->n; i++)
        k += g->m[i].origin == origin;
    return k;
}

size_t cn_pg_group_members(const cn_pg_group *g, int local_only, cn_pid *out, size_t cap)
{
    size_t k = 0;
    for (uint32_t i = g->n; i-- > 0;) {
        if (local_only && g->m[i].origin != CN_PG_LOCAL)
            continue;
        if (k < cap)
            out[k] = g->m[i].pid;
        k++;
    }
    return k;
}

static int encode_origin_members(ei_x_buff *x, const cn_pg_group *g, int local_only, int one_origin,
                                 uint32_t origin)
{
    for (uint32_t i = g->n; i-- > 0;) {
        if ((local_only && g->m[i].origin != CN_PG_LOCAL) ||
            (one_origin && g->m[i].origin != origin))
            continue;
        if (ei_x_encode_list_header(x, 1) < 0 || cn_encode_pid(x, &g->m[i].pid) < 0)
            return -1;
    }
    return ei_x_encode_empty_list(x);
}

int cn_pg_encode_members(ei_x_buff *x, const cn_pg_group *g, int local_only)
{
    if (!g)
        return ei_x_encode_empty_list(x);
    return encode_origin_members(x, g, local_only, 0, 0);
}

int cn_pg_encode_groups(ei_x_buff *x, const cn_pg_table *t, int local_only)
{
    for (size_t b = 0; b < t->nbuckets; b++)
        for (cn_pg_group *g = t->buckets[b]; g; g = g->next) {
            if (local_only && cn_pg_group_count(g, CN_PG_LOCAL) == 0)
                continue;
            if (ei_x_encode_list_header(x, 1) < 0 || ei_x_append_buf(x, g->key, g->key_len) < 0)
                return -1;
        }
    return ei_x_encode_empty_list(x);
}

int cn_pg_encode_sync(ei_x_buff *x, const cn_pg_table *t, uint32_t origin)
{
    for (size_t b = 0; b < t->nbuckets; b++)
        for (cn_pg_group *g = t->buckets[b]; g; g = g->next) {
            if (cn_pg_group_count(g, origin) == 0)
                continue;
            if (ei_x_encode_list_header(x, 1) < 0 || ei_x_encode_tuple_header(x, 2) < 0 ||
                ei_x_append_buf(x, g->key, g->key_len) < 0 ||
                encode_origin_members(x, g, 0, 1, origin) < 0)
                return -1;
        }
    return ei_x_encode_empty_list(x);
}

int cn_pg_encode_all(ei_x_buff *x, const cn_pg_table *t)
{
    if (ei_x_encode_map_header(x, (long)t->ngroups) < 0)
        return -1;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (cn_pg_group *g = t->buckets[b]; g; g = g->next)
            if (ei_x_append_buf(x, g->key, g->key_len) < 0 || cn_pg_encode_members(x, g, 0) < 0)
                return -1;
    return 0;
}

/* ---- peer payloads ------------------------------------------------------------------ */

static int pid_ok(const cn_pid *p, long node)
{
    return node < 0 || p->node == (uint32_t)node;
}

long cn_pg_parse_pids(const char *buf, int *idx, cn_pid **out, long node)
{
    int type, size, left = 0, r;
    size_t n = 0, cap = 0;
    *out = NULL;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
        if (!(*out = malloc(sizeof **out)) || cn_decode_pid(buf, idx, *out) < 0 ||
            !pid_ok(*out, node))
            goto bad;
        return 1;
    }
    while ((r = cn_pg_list_next(buf, idx, &left)) == 1) {
        if (n == CN_PG_MAX_PIDS)
            goto bad;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            cn_pid *g = realloc(*out, cap * sizeof *g);
            if (!g)
                goto bad;
            *out = g;
        }
        if (cn_decode_pid(buf, idx, &(*out)[n]) < 0 || !pid_ok(&(*out)[n], node))
            goto bad;
        n++;
    }
    if (r < 0)
        goto bad;
    return (long)n;
bad:
    free(*out);
    *out = NULL;
    return -1;
}

static int pid_cmp(const void *a, const void *b)
{
    const cn_pid *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->serial != y->serial)
        return x->serial < y->serial ? -1 : 1;
    return (x->creation > y->creation) - (x->creation < y->creation);
}

typedef struct sync_ent {
    int key, key_len; /* in the keys buffer */
    size_t first, n;  /* in the pids array */
} sync_ent;

int cn_pg_table_sync(cn_pg_table *t, uint32_t origin, uint32_t node, const char *buf, int *idx)
{
    ei_x_buff keys;
    if (ei_x_new(&keys) < 0)
        return -1;
    sync_ent *e = NULL;
    size_t ecap = 0, np = 0, pcap = 0;
    int ng = 0, left = 0, r;
    cn_pid *pids = NULL;
    int rc = -1;
    /* 1: check and decode everything; nothing changes on a malformed payload */
    while ((r = cn_pg_list_next(buf, idx, &left)) == 1) {
        int ar;
        if ((size_t)ng == ecap) {
            ecap = ecap ? ecap * 2 : 16;
            sync_ent *ne = ecap <= CN_PG_MAX_MEMBERS ? realloc(e, ecap * sizeof *e) : NULL;
            if (!ne)
                goto done;
            e = ne;
        }
        if (ei_decode_tuple_header(buf, idx, &ar) < 0 || ar != 2)
            goto done;
        e[ng].key = keys.index;
        if (cn_pg_canon(buf, idx, &keys) < 0)
            goto done;
        e[ng].key_len = keys.index - e[ng].key;
        cn_pid *got;
        long k = cn_pg_parse_pids(buf, idx, &got, (long)node);
        if (k < 0)
            goto done;
        if (np + (size_t)k > CN_PG_MAX_MEMBERS) {
            free(got);
            goto done;
        }
        if (np + (size_t)k > pcap) {
            size_t nc = pcap ? pcap : 64;
            while (nc < np + (size_t)k)
                nc *= 2;
            cn_pid *g2 = realloc(pids, nc * sizeof *pids);
            if (!g2) {
                free(got);
                goto done;
            }
            pids = g2;
            pcap = nc;
        }
        if (k > 0)
            memcpy(pids + np, got, (size_t)k * sizeof *pids);
        free(got);
        e[ng].first = np;
        e[ng].n = (size_t)k;
        np += (size_t)k;
        ng++;
    }
    if (r < 0)
        goto done;
    /* 2: groups the peer no longer lists lose its members */
    size_t na;
    cn_pg_group **a = snapshot(t, &na);
    if (!a)
        goto done;
    for (size_t i = 0; i < na; i++)
        a[i]->mark = 0;
    for (int i = 0; i < ng; i++) {
        cn_pg_group *g = cn_pg_table_find(t, keys.buff + e[i].key, e[i].key_len);
        if (g)
            g->mark = 1;
    }
    for (size_t i = 0; i < na; i++)
        if (!a[i]->mark) {
            remove_matching(t, a[i], origin, NULL);
            if (a[i]->n == 0)
                group_unlink(t, a[i]);
        }
    free(a);
    /* 3: listed groups get exactly the listed members (nothing happens if unchanged) */
    rc = 0;
    for (int i = 0; i < ng; i++) {
        const char *k = keys.buff + e[i].key;
        cn_pg_group *g = cn_pg_table_find(t, k, e[i].key_len);
        cn_pid *want = pids ? pids + e[i].first : NULL;
        if (g) {
            size_t have = cn_pg_group_count(g, origin);
            if (have == e[i].n) {
                cn_pid *old = malloc((have ? have : 1) * sizeof *old), *nw;
                nw = malloc((have ? have : 1) * sizeof *nw);
                int same = 0;
                if (old && nw) {
                    size_t k2 = 0;
                    for (uint32_t j = 0; j < g->n; j++)
                        if (g->m[j].origin == origin)
                            old[k2++] = g->m[j].pid;
                    memcpy(nw, want, have * sizeof *nw);
                    qsort(old, have, sizeof *old, pid_cmp);
                    qsort(nw, have, sizeof *nw, pid_cmp);
                    same = have == 0 || !memcmp(old, nw, have * sizeof *old);
                }
                free(old);
                free(nw);
                if (same)
                    continue;
            }
            remove_matching(t, g, origin, NULL);
            if (g->n == 0)
                group_unlink(t, g);
        }
        if (cn_pg_table_join(t, k, e[i].key_len, origin, want, e[i].n) < 0)
            rc = -1; /* over the limits: the rest stays out */
    }
done:
    free(e);
    free(pids);
    ei_x_free(&keys);
    return rc;
}

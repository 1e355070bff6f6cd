#include "ident.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Names are never removed: a pid that names a node stays meaningful for as long as
 * anyone holds it. The table is bounded so that hostile peers cannot grow it forever. */
static _Atomic(char *) names[CN_MAX_NODES];
static uint32_t nnames;
#define HSIZE (CN_MAX_NODES * 2)
static uint32_t hslot[HSIZE]; /* index + 1, 0 = empty */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t self_creation;
static atomic_uint_fast64_t ref_counter;
static uint32_t ref_salt;

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static long find_locked(const char *name, size_t len, uint32_t *slot)
{
    uint32_t h = hash(name, len) % HSIZE;
    for (;;) {
        uint32_t v = hslot[h];
        if (v == 0) {
            *slot = h;
            return -1;
        }
        const char *s = atomic_load(&names[v - 1]);
        if (strlen(s) == len && memcmp(s, name, len) == 0)
            return (long)(v - 1);
        h = (h + 1) % HSIZE;
    }
}

long cn_node_intern(const char *name, size_t len)
{
    if (len == 0 || len > 1020)
        return -1;
    pthread_mutex_lock(&lock);
    uint32_t slot;
    long idx = find_locked(name, len, &slot);
    if (idx < 0 && nnames < CN_MAX_NODES) {
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, name, len);
            copy[len] = '\0';
            atomic_store(&names[nnames], copy);
            hslot[slot] = nnames + 1;
            idx = (long)nnames++;
        }
    }
    pthread_mutex_unlock(&lock);
    return idx;
}

long cn_node_lookup(const char *name)
{
    pthread_mutex_lock(&lock);
    uint32_t slot;
    long idx = find_locked(name, strlen(name), &slot);
    pthread_mutex_unlock(&lock);
    return idx;
}

const char *cn_node_name(uint32_t node)
{
    return node < CN_MAX_NODES ? atomic_load(&names[node]) : NULL;
}

void cn_ident_init(const char *self_name, uint32_t creation)
{
    if (sodium_init() < 0)
        abort();
    self_creation = creation;
    ref_salt = randombytes_random();
    if (nnames == 0)
        cn_node_intern(self_name, strlen(self_name));
}

uint32_t cn_ident_creation(void)
{
    return self_creation;
}

cn_ref cn_make_ref(void)
{
    uint64_t c = atomic_fetch_add(&ref_counter, 1) + 1;
    cn_ref r = {.node = 0, .creation = self_creation, .len = 3};
    r.n[0] = (uint32_t)(c & 0x3ffff);
    r.n[1] = (uint32_t)(c >> 18);
    r.n[2] = ref_salt;
    return r;
}

int cn_pid_eq(const cn_pid *a, const cn_pid *b)
{
    return a->node == b->node && a->id == b->id && a->serial == b->serial &&
           a->creation == b->creation;
}

int cn_ref_eq(const cn_ref *a, const cn_ref *b)
{
    /* Word by word, the first (which differs between most refs) first: a process's monitor
     * list is searched by ref once per call it serves. */
    if (a->len != b->len || a->node != b->node || a->creation != b->creation || a->len > 5)
        return 0;
    for (uint32_t i = 0; i < a->len; i++)
        if (a->n[i] != b->n[i])
            return 0;
    return 1;
}

/* ---- ei codecs ---------------------------------------------------------------------- */

static int encode_node_atom(ei_x_buff *x, uint32_t node)
{
    const char *s = cn_node_name(node);
    if (!s)
        return -1;
    return ei_x_encode_atom_len_as(x, s, (int)strlen(s), ERLANG_UTF8, ERLANG_UTF8);
}

static int put_u32(ei_x_buff *x, uint32_t v)
{
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    return ei_x_append_buf(x, b, 4);
}

int cn_encode_pid(ei_x_buff *x, const cn_pid *p)
{
    char tag = ERL_NEW_PID_EXT;
    if (ei_x_append_buf(x, &tag, 1) < 0 || encode_node_atom(x, p->node) < 0)
        return -1;
    return put_u32(x, p->id) < 0 || put_u32(x, p->serial) < 0 || put_u32(x, p->creation) < 0 ? -1
                                                                                             : 0;
}

int cn_encode_ref(ei_x_buff *x, const cn_ref *r)
{
    char hdr[3] = {ERL_NEWER_REFERENCE_EXT, 0, (char)r->len};
    if (r->len < 1 || r->len > 5 || ei_x_append_buf(x, hdr, 3) < 0 ||
        encode_node_atom(x, r->node) < 0 || put_u32(x, r->creation) < 0)
        return -1;
    for (uint32_t i = 0; i < r->len; i++)
        if (put_u32(x, r->n[i]) < 0)
            return -1;
    return 0;
}

int cn_decode_pid(const char *buf, int *index, cn_pid *out)
{
    erlang_pid p;
    if (ei_decode_pid(buf, index, &p) < 0)
        return -1;
    long n = cn_node_intern(p.node, strlen(p.node));
    if (n < 0)
        return -1;
    out->node = (uint32_t)n;
    out->id = p.num;
    out->serial = p.serial;
    out->creation = p.creation;
    return 0;
}

int cn_decode_ref(const char *buf, int *index, cn_ref *out)
{
    erlang_ref r;
    if (ei_decode_ref(buf, index, &r) < 0 || r.len < 1 || r.len > 5)
        return -1;
    long n = cn_node_intern(r.node, strlen(r.node));
    if (n < 0)
        return -1;
    out->node = (uint32_t)n;
    out->creation = r.creation;
    out->len = (uint32_t)r.len;
    memset(out->n, 0, sizeof out->n);
    memcpy(out->n, r.n, (size_t)r.len * sizeof r.n[0]);
    return 0;
}

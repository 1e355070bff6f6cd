#include "dist/cdec.h"

#include "dist/ctrl_ops.h"
#include "proc/ident.h"

#include <string.h>

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd;

static int need(const rd *r, size_t k)
{
    return r->n - r->i >= k;
}

static uint32_t get32(rd *r)
{
    const uint8_t *q = r->p + r->i;
    r->i += 4;
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

/* An atom of 1..255 ASCII characters (then Latin-1 and UTF-8 agree, and ei would decode it
 * the same): *text points into the term. Returns 0, or -1 (not handled here). */
static int atom(rd *r, const uint8_t **text, size_t *len, int allow_empty)
{
    if (!need(r, 2))
        return -1;
    uint8_t tag = r->p[r->i];
    size_t l;
    if (tag == 119 || tag == 115) { /* SMALL_ATOM_UTF8_EXT, SMALL_ATOM_EXT */
        l = r->p[r->i + 1];
        r->i += 2;
    } else if (tag == 118 || tag == 100) { /* ATOM_UTF8_EXT, ATOM_EXT */
        if (!need(r, 3))
            return -1;
        l = (size_t)r->p[r->i + 1] << 8 | r->p[r->i + 2];
        r->i += 3;
    } else {
        return -1;
    }
    if (l > 255 || (l == 0 && !allow_empty) || !need(r, l))
        return -1;
    const uint8_t *t = r->p + r->i;
    for (size_t k = 0; k < l; k++)
        if (t[k] == 0 || t[k] > 127)
            return -1;
    r->i += l;
    *text = t;
    *len = l;
    return 0;
}

/* Node names seen last on this thread: a pid's node is found without the table's lock. */
#define NODE_CACHE 4
static _Thread_local struct {
    const char *name; /* interned text (never freed) */
    size_t len;
    uint32_t idx;
} node_cache[NODE_CACHE];
static _Thread_local unsigned node_next;

static int node_index(const uint8_t *t, size_t len, uint32_t *out)
{
    for (int k = 0; k < NODE_CACHE; k++)
        if (node_cache[k].name && node_cache[k].len == len &&
            memcmp(node_cache[k].name, t, len) == 0) {
            *out = node_cache[k].idx;
            return 0;
        }
    long idx = cn_node_intern((const char *)t, len);
    const char *name = idx < 0 ? NULL : cn_node_name((uint32_t)idx);
    if (!name)
        return -1;
    unsigned k = node_next++ % NODE_CACHE;
    node_cache[k].name = name;
    node_cache[k].len = len;
    node_cache[k].idx = (uint32_t)idx;
    *out = (uint32_t)idx;
    return 0;
}

/* NEW_PID_EXT: node atom, ID, Serial, Creation (4 bytes each). */
static int pid(rd *r, cn_pid *out)
{
    const uint8_t *t;
    size_t l;
    if (!need(r, 1) || r->p[r->i] != 88)
        return -1;
    r->i++;
    if (atom(r, &t, &l, 0) < 0 || !need(r, 12) || node_index(t, l, &out->node) < 0)
        return -1;
    out->id = get32(r);
    out->serial = get32(r);
    out->creation = get32(r);
    return 0;
}

/* NEWER_REFERENCE_EXT: Len (2 bytes, 1..5 words), node atom, Creation, Len words. */
static int ref(rd *r, cn_ref *out)
{
    const uint8_t *t;
    size_t l;
    if (!need(r, 3) || r->p[r->i] != 90)
        return -1;
    size_t words = (size_t)r->p[r->i + 1] << 8 | r->p[r->i + 2];
    r->i += 3;
    if (words < 1 || words > 5 || atom(r, &t, &l, 0) < 0 || !need(r, 4 + 4 * words) ||
        node_index(t, l, &out->node) < 0)
        return -1;
    out->creation = get32(r);
    out->len = (uint32_t)words;
    memset(out->n, 0, sizeof out->n);
    for (size_t k = 0; k < words; k++)
        out->n[k] = get32(r);
    return 0;
}

static int name(rd *r, cn_cdec *d)
{
    const uint8_t *t;
    size_t l;
    if (atom(r, &t, &l, 0) < 0)
        return -1;
    memcpy(d->name, t, l);
    d->name[l] = '\0';
    d->by_name = 1;
    return 0;
}

int cn_cdec_parse(const uint8_t *ctl, size_t len, cn_cdec *d)
{
    /* 131, SMALL_TUPLE_EXT Arity, SMALL_INTEGER_EXT Op */
    if (len < 5 || ctl[0] != 131 || ctl[1] != 104 || ctl[3] != 97)
        return 0;
    rd r = {ctl, len, 5};
    int arity = ctl[2];
    const uint8_t *t;
    size_t l;
    memset(d, 0, sizeof *d);
    d->op = ctl[4];
    switch (d->op) {
    case OP_SEND: /* {2, Unused, To} */
        if (arity != 3 || atom(&r, &t, &l, 1) < 0 || pid(&r, &d->to) < 0)
            return 0;
        break;
    case OP_SEND_SENDER: /* {22, From, To} */
        if (arity != 3 || pid(&r, &d->from) < 0 || pid(&r, &d->to) < 0)
            return 0;
        break;
    case OP_REG_SEND: /* {6, From, Unused, ToName} */
        if (arity != 4 || pid(&r, &d->from) < 0 || atom(&r, &t, &l, 1) < 0 || name(&r, d) < 0)
            return 0;
        break;
    case OP_ALIAS_SEND: /* {33, From, Alias} */
        if (arity != 3 || pid(&r, &d->from) < 0 || ref(&r, &d->ref) < 0)
            return 0;
        break;
    case OP_MONITOR_P:   /* {19, From, ToProc, Ref} */
    case OP_DEMONITOR_P: /* {20, From, ToProc, Ref} */
        if (arity != 4 || pid(&r, &d->from) < 0)
            return 0;
        if (need(&r, 1) && r.p[r.i] == 88 ? pid(&r, &d->to) < 0 : name(&r, d) < 0)
            return 0;
        if (ref(&r, &d->ref) < 0)
            return 0;
        break;
    default:
        return 0;
    }
    return r.i == len; /* the control term ends here */
}

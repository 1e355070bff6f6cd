#include "dist/otx.h"

#include "dist/flags.h"
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

/* The atom cache as the receiver keeps it for this connection (PROTOCOL.md §3.3): 2048
 * slots, each atom always in the slot its hash names, so "is it there" is one compare.
 * Entries persist across frames, which is why frames must pass here in wire order. */
#define SLOTS 2048
#define MAX_REFS 255       /* references per frame */
#define MAX_CACHED_LEN 255 /* longer atoms stay in the term (no LongAtoms header needed) */

typedef struct slot {
    char *text;
    uint16_t len;
} slot;

struct cn_otx {
    slot cache[SLOTS];
    size_t cached_bytes;
    uint64_t seq; /* the last fragment sequence id used */
    size_t frag;
};

cn_otx *cn_otx_new(size_t frag_size)
{
    cn_otx *t = calloc(1, sizeof *t);
    if (t)
        t->frag = frag_size ? frag_size : CN_OTX_FRAG_SIZE;
    return t;
}

void cn_otx_free(cn_otx *t)
{
    if (!t)
        return;
    for (int i = 0; i < SLOTS; i++)
        free(t->cache[i].text);
    free(t);
}

size_t cn_otx_cached_bytes(const cn_otx *t)
{
    return t ? t->cached_bytes : 0;
}

/* ---- rewriting the control term: atoms become ATOM_CACHE_REFs ----------------------- */

/* The references of one frame, in header order. */
typedef struct refs {
    int n;
    uint16_t slot[MAX_REFS];
    uint8_t isnew[MAX_REFS];
} refs;

static uint32_t hash(const uint8_t *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* The reference index for this atom in the frame, entering it in the cache if needed;
 * -1 when it must stay a plain atom (too long, frame full, slot taken in this frame). */
static int ref_for(cn_otx *t, refs *r, const uint8_t *text, size_t len)
{
    if (len > MAX_CACHED_LEN)
        return -1;
    uint16_t s = (uint16_t)(hash(text, len) % SLOTS);
    slot *e = &t->cache[s];
    int same = e->text && e->len == len && memcmp(e->text, text, len) == 0;
    for (int i = 0; i < r->n; i++)
        if (r->slot[i] == s)
            return same ? i : -1; /* the slot already serves another atom in this frame */
    if (r->n >= MAX_REFS)
        return -1;
    if (!same) {
        char *c = malloc(len ? len : 1);
        if (!c)
            return -1;
        memcpy(c, text, len);
        t->cached_bytes -= e->len;
        free(e->text);
        e->text = c;
        e->len = (uint16_t)len;
        t->cached_bytes += len;
    }
    r->slot[r->n] = s;
    r->isnew[r->n] = (uint8_t)!same;
    return r->n++;
}

/* The in-place rewriter: reads at r, writes at w <= r (a reference is never longer than the
 * atom it replaces). */
typedef struct rw {
    uint8_t *b;
    size_t len, r, w;
    cn_otx *t;
    refs *refs;
} rw;

static void copy(rw *x, size_t n)
{
    memmove(x->b + x->w, x->b + x->r, n);
    x->w += n;
    x->r += n;
}

static int have(const rw *x, size_t n)
{
    return x->len - x->r >= n;
}

/* One atom at r: a reference if it can be, else copied. 0, or -1 if r is not a whole atom. */
static int atom(rw *x)
{
    if (!have(x, 2))
        return -1;
    uint8_t tag = x->b[x->r];
    size_t hl, n;
    if (tag == 115 || tag == 119) { /* SMALL_ATOM(_UTF8) */
        hl = 2;
        n = x->b[x->r + 1];
    } else if (tag == 100 || tag == 118) { /* ATOM(_UTF8) */
        if (!have(x, 3))
            return -1;
        hl = 3;
        n = cn_get16(x->b + x->r + 1);
    } else {
        return -1;
    }
    if (!have(x, hl + n))
        return -1;
    /* Latin-1 atoms (100, 115) are cached as they are only when ASCII: the header's text
     * is UTF-8. */
    int ascii = 1;
    if (tag == 100 || tag == 115)
        for (size_t i = 0; i < n; i++)
            ascii &= x->b[x->r + hl + i] < 128;
    int i = ascii ? ref_for(x->t, x->refs, x->b + x->r + hl, n) : -1;
    if (i < 0) {
        copy(x, hl + n);
        return 0;
    }
    x->b[x->w++] = 82; /* ATOM_CACHE_REF */
    x->b[x->w++] = (uint8_t)i;
    x->r += hl + n;
    return 0;
}

/* A node-carrying term (pid, port, reference): tag bytes, the node atom, then fixed bytes. */
static int with_node(rw *x, size_t before, size_t after)
{
    if (!have(x, before))
        return -1;
    copy(x, before);
    if (atom(x) < 0 || !have(x, after))
        return -1;
    copy(x, after);
    return 0;
}

/* One token at r (compound terms are their header; their elements are the next tokens).
 * 0, or -1 when it is not understood or truncated: the caller keeps the rest as it is. */
static int token(rw *x)
{
    const uint8_t *p = x->b + x->r;
    size_t left = x->len - x->r;
    switch (p[0]) {
    case 115:
    case 119:
    case 100:
    case 118:
        return atom(x);
    case 97: /* SMALL_INTEGER */
        return have(x, 2) ? (copy(x, 2), 0) : -1;
    case 98: /* INTEGER */
        return have(x, 5) ? (copy(x, 5), 0) : -1;
    case 70: /* NEW_FLOAT */
        return have(x, 9) ? (copy(x, 9), 0) : -1;
    case 110: /* SMALL_BIG */
        return left >= 2 && left - 2 >= (size_t)p[1] + 1 ? (copy(x, 3 + (size_t)p[1]), 0) : -1;
    case 111: /* LARGE_BIG */
        if (left < 6 || left - 6 < cn_get32(p + 1))
            return -1;
        copy(x, 6 + (size_t)cn_get32(p + 1));
        return 0;
    case 104: /* SMALL_TUPLE */
        return have(x, 2) ? (copy(x, 2), 0) : -1;
    case 105:
    case 108:
    case 116: /* LARGE_TUPLE, LIST, MAP: elements follow */
        return have(x, 5) ? (copy(x, 5), 0) : -1;
    case 106: /* NIL */
    case 113: /* EXPORT: three terms follow */
        copy(x, 1);
        return 0;
    case 107: /* STRING */
        if (left < 3 || left - 3 < cn_get16(p + 1))
            return -1;
        copy(x, 3 + (size_t)cn_get16(p + 1));
        return 0;
    case 109: /* BINARY */
        if (left < 5 || left - 5 < cn_get32(p + 1))
            return -1;
        copy(x, 5 + (size_t)cn_get32(p + 1));
        return 0;
    case 88: /* NEW_PID */
        return with_node(x, 1, 12);
    case 103: /* PID */
        return with_node(x, 1, 9);
    case 89: /* NEW_PORT */
        return with_node(x, 1, 8);
    case 120: /* V4_PORT */
        return with_node(x, 1, 12);
    case 90:    /* NEWER_REFERENCE */
    case 114: { /* NEW_REFERENCE */
        if (left < 3)
            return -1;
        size_t words = cn_get16(p + 1);
        if (words > 5)
            return -1;
        return with_node(x, 3, (p[0] == 90 ? 4 : 1) + 4 * words);
    }
    default: /* funs, bit binaries, cache refs...: not rewritten */
        return -1;
    }
}

/* Rewrite b[0..len) (a sequence of terms, the last possibly partial) in place; returns the
 * new length. Whatever is not understood is kept as it is, from the token it starts at. */
static size_t rewrite(cn_otx *t, refs *r, uint8_t *b, size_t len)
{
    rw x = {b, len, 0, 0, t, r};
    while (x.r < x.len) {
        size_t r0 = x.r, w0 = x.w;
        if (token(&x) < 0) {
            x.r = r0;
            x.w = w0;
            copy(&x, x.len - x.r);
        }
    }
    return x.w;
}

/* ---- headers ------------------------------------------------------------------------ */

/* Size of the cache-reference part of a header: NumberOfAtomCacheRefs, Flags, AtomCacheRefs. */
static size_t refs_size(const cn_otx *t, const refs *r)
{
    if (r->n == 0)
        return 1;
    size_t n = 1 + (size_t)r->n / 2 + 1;
    for (int i = 0; i < r->n; i++)
        n += 1 + (r->isnew[i] ? 1 + t->cache[r->slot[i]].len : 0);
    return n;
}

static uint8_t *put_refs(const cn_otx *t, const refs *r, uint8_t *o)
{
    *o++ = (uint8_t)r->n;
    if (r->n == 0)
        return o;
    size_t nfl = (size_t)r->n / 2 + 1;
    memset(o, 0, nfl);
    for (int i = 0; i < r->n; i++) /* even index: low nibble; odd: high */
        o[i / 2] |= (uint8_t)(((r->isnew[i] ? 8 : 0) | (r->slot[i] >> 8)) << ((i & 1) * 4));
    o += nfl; /* the trailing nibble stays 0: no LongAtoms */
    for (int i = 0; i < r->n; i++) {
        const slot *e = &t->cache[r->slot[i]];
        *o++ = (uint8_t)(r->slot[i] & 0xff);
        if (r->isnew[i]) {
            *o++ = (uint8_t)e->len;
            memcpy(o, e->text, e->len);
            o += e->len;
        }
    }
    return o;
}

/* 'p' frame: 112, 131, Control, [131, Payload]. A payload head inside ctl gets its 131 there
 * (the spare byte cn_oframe promises makes room). */
static cn_oframe *p_frame(cn_oframe *f)
{
    if (f->pl_head > 0) {
        char *at = f->ctl + f->ctl_len - f->pl_head;
        memmove(at + 1, at, f->pl_head);
        *at = (char)131;
        f->ctl_len++;
        f->pl_head = 0;
        f->mid = 0;
    } else {
        f->mid = f->pl ? 131 : 0;
    }
    cn_set32(f->pre, (uint32_t)(2 + f->ctl_len + (f->mid ? 1 : 0) + f->pl_len));
    f->pre[4] = 112;
    f->pre[5] = 131;
    f->npre = 6;
    return f;
}

/* 131,68,0 with no references, in the prefix. */
static cn_oframe *plain_header(cn_oframe *f)
{
    cn_set32(f->pre, (uint32_t)(3 + f->ctl_len + f->pl_len));
    f->pre[4] = 131;
    f->pre[5] = 68;
    f->pre[6] = 0;
    f->npre = 7;
    f->mid = 0;
    f->pl_head = 0;
    return f;
}

/* Split f's payload into fragments after a first frame whose ctl is already the full
 * 131,69 header + control term (first_hdr bytes of which are the header before the fragment
 * ids are filled in at offsets 2 and 10). Returns NULL when out of memory (f untouched). */
static cn_oframe *fragments(cn_otx *t, cn_oframe *f, uint64_t seq, cn_oframe **last)
{
    size_t n = (f->pl_len + t->frag - 1) / t->frag;
    cn_oframe **fs = calloc(n, sizeof *fs);
    if (!fs)
        return NULL;
    for (size_t i = 1; i < n; i++) {
        fs[i] = calloc(1, sizeof *fs[i]);
        char *h = malloc(18);
        if (!fs[i] || !h) {
            free(h);
            for (size_t k = 1; k <= i; k++) {
                if (fs[k])
                    free(fs[k]->ctl);
                free(fs[k]);
            }
            free(fs);
            return NULL;
        }
        h[0] = (char)131;
        h[1] = 70;
        cn_set64((uint8_t *)h + 2, seq);
        cn_set64((uint8_t *)h + 10, (uint64_t)(n - i));
        fs[i]->ctl = h;
        fs[i]->ctl_len = 18;
    }
    fs[0] = f;
    char *base = f->pl, *owner = f->pl_borrowed ? f->pl_base : f->pl; /* freed by the last */
    size_t total = f->pl_len;
    cn_set64((uint8_t *)f->ctl + 10, (uint64_t)n);
    for (size_t i = 0; i < n; i++) {
        cn_oframe *g = fs[i];
        size_t off = i * t->frag;
        g->pl = base + off;
        g->pl_len = total - off < t->frag ? total - off : t->frag;
        g->pl_borrowed = 1;
        g->pl_base = i == n - 1 ? owner : NULL; /* the last one written frees the buffer */
        cn_set32(g->pre, (uint32_t)(g->ctl_len + g->pl_len));
        g->npre = 4;
        g->mid = 0;
        g->pl_head = 0;
        g->next = i + 1 < n ? fs[i + 1] : NULL;
    }
    size_t acct = f->acct; /* out of the queue when the last fragment is written */
    f->acct = 0;
    fs[n - 1]->acct = acct;
    *last = fs[n - 1];
    free(fs);
    return f;
}

cn_oframe *cn_otx_frame(cn_otx *t, uint64_t flags, cn_oframe *f, cn_oframe **last)
{
    *last = f;
    f->next = NULL;
    int cache = t && (flags & DFLAG_DIST_HDR_ATOM_CACHE);
    int frag = t && (flags & DFLAG_FRAGMENTS) && f->pl_len > t->frag;
    if (!(flags & (DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS)))
        return p_frame(f);
    if (!cache && !frag)
        return plain_header(f);

    /* Rewrite a copy, so that running short of memory later leaves f as it was; control
     * terms are small. The references are committed to the cache as they are found, which
     * is fine: a header that is then not sent only makes later frames resend the text. */
    size_t hdr_fixed = frag ? 18 : 2; /* 131,69,Seq,FragId or 131,68 */
    uint8_t *tmp = malloc(f->ctl_len ? f->ctl_len : 1);
    if (!tmp)
        return plain_header(f);
    memcpy(tmp, f->ctl, f->ctl_len);
    refs r = {0};
    size_t clen = cache ? rewrite(t, &r, tmp, f->ctl_len) : f->ctl_len;
    size_t hlen = hdr_fixed + refs_size(t, &r);
    char *ctl = malloc(hlen + clen);
    if (!ctl) {
        free(tmp);
        /* the cache may already name atoms this frame will not send: forget them */
        for (int i = 0; i < r.n; i++)
            if (r.isnew[i]) {
                slot *e = &t->cache[r.slot[i]];
                t->cached_bytes -= e->len;
                free(e->text);
                e->text = NULL;
                e->len = 0;
            }
        return plain_header(f);
    }
    uint8_t *o = (uint8_t *)ctl;
    *o++ = 131;
    *o++ = frag ? 69 : 68;
    if (frag) {
        cn_set64(o, t->seq + 1);
        cn_set64(o + 8, 1); /* the fragment count, set below */
        o += 16;
    }
    o = put_refs(t, &r, o);
    memcpy(o, tmp, clen);
    free(tmp);
    char *old = f->ctl;
    f->ctl = ctl;
    f->ctl_len = hlen + clen;
    if (frag) {
        cn_oframe *first = fragments(t, f, t->seq + 1, last);
        if (first) {
            t->seq++;
            free(old);
            return first;
        }
        /* out of memory for the fragments: send it whole, under a 131,68 header */
        memmove(ctl + 2, ctl + 18, f->ctl_len - 18);
        ctl[1] = 68;
        f->ctl_len -= 16;
    }
    free(old);
    cn_set32(f->pre, (uint32_t)(f->ctl_len + f->pl_len));
    f->npre = 4;
    f->mid = 0;
    f->pl_head = 0;
    return f;
}

#include "dist/rx.h"

#include "dist/flags.h"
#include "dist/term.h"
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_MAGIC 131
#define PASS_THROUGH 112
#define HDR_NORMAL 68
#define HDR_FRAG_START 69
#define HDR_FRAG_CONT 70
#define DEFAULT_MAX_MESSAGE ((size_t)1 << 30)
#define MIN_MAX_MESSAGE ((size_t)64)
/* Give back reassembly slack above this when handing a message out. */
#define SHRINK_SLACK ((size_t)64 * 1024)
/* Room kept before a reassembled message so that expanding the cache refs in its payload
 * (a few pids and atoms at the start, before any large binary) moves only those bytes. */
#define HEADROOM ((size_t)1024)
/* A first fragment says how many fragments follow: reserve that much at once, up to this,
 * instead of growing (and copying) the buffer step by step. */
#define PRESIZE_MAX ((size_t)32 << 20)

typedef struct cache_slot {
    uint8_t *text;
    uint16_t len;
    uint8_t filled;
} cache_slot;

/* The parsed header of one frame: refs point into the frame or into the cache; the new
 * entries are written to the cache only after the frame has been fully used. */
typedef struct header {
    cn_atom_refs refs;
    int nnew;
    uint16_t new_slot[255];
    uint8_t new_ref[255];
} header;

typedef struct seq {
    int used;
    uint64_t id;
    uint64_t next_fid; /* FragmentId the next continuation must carry */
    uint8_t *buf;      /* HEADROOM, 131, control (rewritten), 131, payload bytes so far */
    size_t len, cap;
    size_t pl_off;      /* offset of the payload bytes in buf */
    cn_atom_refs *refs; /* copy of the first fragment's refs, NULL if none */
} seq;

struct cn_rx {
    int hdr_mode;
    size_t max_message;
    cache_slot cache[CN_RX_CACHE_SLOTS];
    /* Slots given a new entry by the header being parsed (pend_gen == gen) and by which ref,
     * so that a later old entry in the same header sees it. */
    uint32_t gen;
    uint32_t pend_gen[CN_RX_CACHE_SLOTS];
    uint8_t pend_ref[CN_RX_CACHE_SLOTS];
    int nseq;
    seq seqs[CN_RX_MAX_SEQS];
    /* The continuation whose data bytes are being read straight into direct->buf after
     * direct->len (cn_rx_direct_*): direct_got of direct_dn so far. */
    seq *direct;
    size_t direct_dn, direct_got;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

cn_rx *cn_rx_new(uint64_t negotiated_flags, size_t max_message)
{
    cn_rx *rx = calloc(1, sizeof *rx);
    if (!rx)
        return NULL;
    rx->hdr_mode = (negotiated_flags & (DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS)) != 0;
    rx->max_message = max_message ? max_message : DEFAULT_MAX_MESSAGE;
    if (rx->max_message < MIN_MAX_MESSAGE)
        rx->max_message = MIN_MAX_MESSAGE;
    rx->gen = 1;
    return rx;
}

static void seq_release(cn_rx *rx, seq *s)
{
    free(s->buf);
    free(s->refs);
    memset(s, 0, sizeof *s);
    rx->nseq--;
}

void cn_rx_free(cn_rx *rx)
{
    if (!rx)
        return;
    for (int i = 0; i < CN_RX_CACHE_SLOTS; i++)
        free(rx->cache[i].text);
    for (int i = 0; i < CN_RX_MAX_SEQS; i++)
        if (rx->seqs[i].used)
            seq_release(rx, &rx->seqs[i]);
    free(rx);
}

int cn_rx_pending_seqs(const cn_rx *rx)
{
    return rx->nseq;
}

void cn_dist_msg_free(cn_dist_msg *m)
{
    if (!m)
        return;
    free(m->storage);
    memset(m, 0, sizeof *m);
}

/* a + b <= max, without overflow */
static int fits(size_t max, size_t a, size_t b)
{
    return a <= max && b <= max - a;
}

/* NumberOfAtomCacheRefs, Flags, AtomCacheRefs at p[0..n) (PROTOCOL.md §3.3). */
static int parse_header(cn_rx *rx, const uint8_t *p, size_t n, size_t *used, header *h, char *err,
                        size_t errlen)
{
    h->refs.n = 0;
    h->nnew = 0;
    if (n < 1)
        return fail(err, errlen, "truncated distribution header");
    int nref = p[0];
    size_t i = 1;
    if (nref == 0) {
        *used = i;
        return 0;
    }
    size_t flen = (size_t)nref / 2 + 1;
    if (n - i < flen)
        return fail(err, errlen, "truncated distribution header flags");
    const uint8_t *fl = p + i;
    i += flen;
    int long_atoms = (fl[nref / 2] >> ((nref & 1) * 4)) & 1;
    if (++rx->gen == 0) {
        memset(rx->pend_gen, 0, sizeof rx->pend_gen);
        rx->gen = 1;
    }
    for (int r = 0; r < nref; r++) {
        int nib = (fl[r / 2] >> ((r & 1) * 4)) & 0xF;
        if (n - i < 1)
            return fail(err, errlen, "truncated atom cache ref %d", r);
        int slot = (nib & 7) * 256 + p[i++];
        const uint8_t *text;
        size_t alen;
        if (nib & 8) {
            if (n - i < (size_t)(long_atoms ? 2 : 1))
                return fail(err, errlen, "truncated atom cache ref %d", r);
            alen = long_atoms ? cn_get16(p + i) : p[i];
            i += long_atoms ? 2 : 1;
            if (alen > CN_ATOM_MAX_BYTES)
                return fail(err, errlen, "atom cache ref %d: atom of %zu bytes", r, alen);
            if (n - i < alen)
                return fail(err, errlen, "truncated atom cache ref %d", r);
            text = p + i;
            i += alen;
            if (!cn_term_atom_text_ok(text, alen))
                return fail(err, errlen, "atom cache ref %d: invalid atom text", r);
            rx->pend_gen[slot] = rx->gen;
            rx->pend_ref[slot] = (uint8_t)r;
            h->new_slot[h->nnew] = (uint16_t)slot;
            h->new_ref[h->nnew++] = (uint8_t)r;
        } else if (rx->pend_gen[slot] == rx->gen) {
            int o = rx->pend_ref[slot];
            text = (const uint8_t *)h->refs.name[o];
            alen = h->refs.len[o];
        } else if (rx->cache[slot].filled) {
            text = rx->cache[slot].text;
            alen = rx->cache[slot].len;
        } else {
            return fail(err, errlen, "atom cache ref %d: empty slot %d/%d", r, slot / 256,
                        slot % 256);
        }
        h->refs.name[r] = (const char *)text;
        h->refs.len[r] = (uint16_t)alen;
    }
    h->refs.n = nref;
    *used = i;
    return 0;
}

/* Store the header's new entries in the cache (after the frame no longer needs the old ones). */
static int commit_header(cn_rx *rx, const header *h, char *err, size_t errlen)
{
    for (int k = 0; k < h->nnew; k++) {
        cache_slot *c = &rx->cache[h->new_slot[k]];
        size_t len = h->refs.len[h->new_ref[k]];
        uint8_t *t = realloc(c->text, len ? len : 1);
        if (!t)
            return fail(err, errlen, "out of memory for the atom cache");
        if (len)
            memcpy(t, h->refs.name[h->new_ref[k]], len);
        c->text = t;
        c->len = (uint16_t)len;
        c->filled = 1;
    }
    return 0;
}

/* Copy a scanned term behind a 131 byte, rewriting cache refs if it has any. */
static void put_term(uint8_t *dst, const uint8_t *src, size_t n, size_t out_len, int has_refs,
                     const cn_atom_refs *refs)
{
    dst[0] = VERSION_MAGIC;
    if (has_refs)
        cn_term_rewrite(src, n, refs, dst + 1);
    else
        memcpy(dst + 1, src, out_len);
}

/* Where small frames with cache refs are rewritten in one pass (then copied to their own
 * allocation): instead of a scan and a rewrite of each term. */
#define SCRATCH ((size_t)16 * 1024)
static _Thread_local uint8_t scratch[SCRATCH];

/* complete() for a frame whose rewritten terms fit the scratch buffer whatever they hold. */
static int complete_small(cn_rx *rx, const cn_atom_refs *refs, const uint8_t *b, size_t n,
                          cn_dist_msg *out, char *err, size_t errlen)
{
    size_t c_out, p_out = 0;
    scratch[0] = VERSION_MAGIC;
    long lc = cn_term_scan_rewrite(b, n, refs, scratch + 1, &c_out);
    if (lc < 0)
        return fail(err, errlen, "malformed control term: %s", cn_term_error());
    size_t pn = n - (size_t)lc;
    if (pn > 0) {
        scratch[1 + c_out] = VERSION_MAGIC;
        long lp = cn_term_scan_rewrite(b + lc, pn, refs, scratch + 2 + c_out, &p_out);
        if (lp < 0)
            return fail(err, errlen, "malformed payload term: %s", cn_term_error());
        if ((size_t)lp != pn)
            return fail(err, errlen, "%zu bytes after the payload term", pn - (size_t)lp);
    }
    size_t total = 1 + c_out + (pn > 0 ? 1 + p_out : 0);
    if (total > rx->max_message)
        return fail(err, errlen, "message larger than %zu bytes", rx->max_message);
    size_t room = total <= CN_RX_ROOM_UPTO ? CN_RX_ROOM : 0;
    uint8_t *storage = malloc(room + total);
    if (!storage)
        return fail(err, errlen, "out of memory for a %zu-byte message", total);
    memcpy(storage + room, scratch, total);
    out->storage = storage;
    out->room = room;
    out->ctl = storage + room;
    out->ctl_len = 1 + c_out;
    if (pn > 0) {
        out->payload = out->ctl + 1 + c_out;
        out->payload_len = 1 + p_out;
    }
    return 1;
}

/* Control term then optional payload term filling b[0..n) exactly. */
static int complete(cn_rx *rx, const cn_atom_refs *refs, const uint8_t *b, size_t n,
                    cn_dist_msg *out, char *err, size_t errlen)
{
    /* both terms' bound: they share the n bytes; + 2 for the version bytes */
    if (refs->n > 0 && n <= SCRATCH && cn_term_scan_rewrite_bound(n, refs) + 2 <= SCRATCH)
        return complete_small(rx, refs, b, n, out, err, errlen);
    size_t c_out, p_out = 0;
    int c_refs, p_refs = 0;
    long lc = cn_term_scan(b, n, refs, &c_out, &c_refs);
    if (lc < 0)
        return fail(err, errlen, "malformed control term: %s", cn_term_error());
    size_t pn = n - (size_t)lc;
    if (pn > 0) {
        long lp = cn_term_scan(b + lc, pn, refs, &p_out, &p_refs);
        if (lp < 0)
            return fail(err, errlen, "malformed payload term: %s", cn_term_error());
        if ((size_t)lp != pn)
            return fail(err, errlen, "%zu bytes after the payload term", pn - (size_t)lp);
    }
    /* c_out and p_out are far below SIZE_MAX (see DELTA_MAX in term.c): no overflow here. */
    if (!fits(rx->max_message, 1 + c_out, pn > 0 ? 1 + p_out : 0))
        return fail(err, errlen, "message larger than %zu bytes", rx->max_message);
    size_t total = 1 + c_out + (pn > 0 ? 1 + p_out : 0);
    size_t room = total <= CN_RX_ROOM_UPTO ? CN_RX_ROOM : 0;
    uint8_t *storage = malloc(room + total);
    if (!storage)
        return fail(err, errlen, "out of memory for a %zu-byte message", total);
    uint8_t *s = storage + room;
    put_term(s, b, (size_t)lc, c_out, c_refs, refs);
    out->storage = storage;
    out->room = room;
    out->ctl = s;
    out->ctl_len = 1 + c_out;
    if (pn > 0) {
        put_term(s + 1 + c_out, b + lc, pn, p_out, p_refs, refs);
        out->payload = s + 1 + c_out;
        out->payload_len = 1 + p_out;
    }
    return 1;
}

static int pass_through(cn_rx *rx, const uint8_t *f, size_t len, cn_dist_msg *out, char *err,
                        size_t errlen)
{
    if (f[0] != PASS_THROUGH)
        return fail(err, errlen, "frame starts with %d, expected 112 (pass-through)", f[0]);
    if (len < 2 || f[1] != VERSION_MAGIC)
        return fail(err, errlen, "pass-through frame without 131 before the control term");
    long lc = cn_term_scan(f + 2, len - 2, NULL, NULL, NULL);
    if (lc < 0)
        return fail(err, errlen, "malformed control term: %s", cn_term_error());
    size_t at = 2 + (size_t)lc;
    if (at < len) {
        if (f[at] != VERSION_MAGIC)
            return fail(err, errlen, "pass-through payload without 131");
        long lp = cn_term_scan(f + at + 1, len - at - 1, NULL, NULL, NULL);
        if (lp < 0)
            return fail(err, errlen, "malformed payload term: %s", cn_term_error());
        if ((size_t)lp != len - at - 1)
            return fail(err, errlen, "%zu bytes after the payload term", len - at - 1 - (size_t)lp);
    }
    if (len - 1 > rx->max_message)
        return fail(err, errlen, "message larger than %zu bytes", rx->max_message);
    size_t room = len - 1 <= CN_RX_ROOM_UPTO ? CN_RX_ROOM : 0;
    uint8_t *storage = malloc(room + len - 1);
    if (!storage)
        return fail(err, errlen, "out of memory for a %zu-byte message", len - 1);
    uint8_t *s = storage + room;
    memcpy(s, f + 1, len - 1);
    out->storage = storage;
    out->room = room;
    out->ctl = s;
    out->ctl_len = 1 + (size_t)lc;
    if (at < len) {
        out->payload = s + 1 + lc;
        out->payload_len = len - at;
    }
    return 1;
}

static seq *seq_find(cn_rx *rx, uint64_t id)
{
    if (rx->nseq == 0)
        return NULL;
    for (int i = 0; i < CN_RX_MAX_SEQS; i++)
        if (rx->seqs[i].used && rx->seqs[i].id == id)
            return &rx->seqs[i];
    return NULL;
}

/* Snapshot of the refs for later fragments: one allocation holding the texts too. */
static cn_atom_refs *refs_copy(const cn_atom_refs *r)
{
    size_t total = 0;
    for (int i = 0; i < r->n; i++)
        total += r->len[i];
    cn_atom_refs *c = malloc(sizeof *c + total);
    if (!c)
        return NULL;
    char *t = (char *)(c + 1);
    c->n = r->n;
    for (int i = 0; i < r->n; i++) {
        if (r->len[i])
            memcpy(t, r->name[i], r->len[i]);
        c->name[i] = t;
        c->len[i] = r->len[i];
        t += r->len[i];
    }
    return c;
}

static int frag_start(cn_rx *rx, const uint8_t *p, size_t n, cn_dist_msg *out, char *err,
                      size_t errlen)
{
    if (n < 16)
        return fail(err, errlen, "truncated fragment header");
    uint64_t id = cn_get64(p), fid = cn_get64(p + 8);
    if (fid == 0)
        return fail(err, errlen, "fragment id 0 in sequence %llu", (unsigned long long)id);
    if (seq_find(rx, id))
        return fail(err, errlen, "second start of active sequence %llu", (unsigned long long)id);
    header h;
    size_t used;
    if (parse_header(rx, p + 16, n - 16, &used, &h, err, errlen) < 0)
        return -1;
    const uint8_t *b = p + 16 + used;
    size_t bn = n - 16 - used;
    if (fid == 1) {
        if (complete(rx, &h.refs, b, bn, out, err, errlen) < 0)
            return -1;
        if (commit_header(rx, &h, err, errlen) < 0) {
            cn_dist_msg_free(out);
            return -1;
        }
        return 1;
    }
    if (rx->nseq >= CN_RX_MAX_SEQS)
        return fail(err, errlen, "more than %d fragmented messages in progress", CN_RX_MAX_SEQS);
    size_t c_out;
    int c_refs;
    long lc = cn_term_scan(b, bn, &h.refs, &c_out, &c_refs);
    if (lc < 0)
        return fail(err, errlen, "malformed control term in first fragment: %s", cn_term_error());
    size_t first = bn - (size_t)lc;
    if (!fits(rx->max_message, 2 + c_out, first))
        return fail(err, errlen, "message larger than %zu bytes", rx->max_message);
    seq *s = NULL;
    for (int i = 0; i < CN_RX_MAX_SEQS && !s; i++)
        if (!rx->seqs[i].used)
            s = &rx->seqs[i];
    s->len = HEADROOM + 2 + c_out + first;
    s->cap = s->len;
    /* The rest most likely comes in fragments the size of this one's body. */
    size_t bound = rx->max_message < PRESIZE_MAX ? rx->max_message : PRESIZE_MAX;
    if (bn > 0 && fid - 1 <= (bound - (bound < s->len ? bound : s->len)) / bn)
        s->cap += (size_t)(fid - 1) * bn;
    s->buf = malloc(s->cap);
    if (h.refs.n > 0)
        s->refs = refs_copy(&h.refs);
    if (!s->buf || (h.refs.n > 0 && !s->refs)) {
        free(s->buf);
        free(s->refs);
        memset(s, 0, sizeof *s);
        return fail(err, errlen, "out of memory for a fragmented message");
    }
    s->used = 1;
    rx->nseq++;
    s->id = id;
    s->next_fid = fid - 1;
    put_term(s->buf + HEADROOM, b, (size_t)lc, c_out, c_refs, &h.refs);
    s->buf[HEADROOM + 1 + c_out] = VERSION_MAGIC;
    s->pl_off = HEADROOM + 2 + c_out;
    if (first)
        memcpy(s->buf + s->pl_off, b + lc, first);
    if (commit_header(rx, &h, err, errlen) < 0)
        return -1;
    return 0;
}

static int frag_finish(cn_rx *rx, seq *s, cn_dist_msg *out, char *err, size_t errlen)
{
    size_t pn = s->len - s->pl_off, p_out = 0;
    int p_refs = 0;
    uint8_t *storage = s->buf;
    size_t start = HEADROOM; /* where the message (131, control) begins in storage */
    if (pn > 0) {
        long lp = cn_term_scan(s->buf + s->pl_off, pn, s->refs, &p_out, &p_refs);
        if (lp < 0)
            return fail(err, errlen, "malformed payload term in sequence %llu: %s",
                        (unsigned long long)s->id, cn_term_error());
        if ((size_t)lp != pn)
            return fail(err, errlen, "%zu bytes after the payload term", pn - (size_t)lp);
    }
    if (p_refs) {
        size_t head = s->pl_off - HEADROOM; /* 131, control, 131 */
        if (!fits(rx->max_message, head, p_out))
            return fail(err, errlen, "message larger than %zu bytes", rx->max_message);
        size_t grow = p_out - pn;
        if (grow <= HEADROOM) {
            /* Expand the refs where they are; move only the control term in front. */
            memmove(s->buf + HEADROOM - grow, s->buf + HEADROOM, head);
            cn_term_rewrite_in_place(s->buf + s->pl_off, pn, s->refs, p_out);
            start = HEADROOM - grow;
        } else {
            storage = malloc(head + p_out);
            if (!storage)
                return fail(err, errlen, "out of memory for a %zu-byte message", head + p_out);
            memcpy(storage, s->buf + HEADROOM, head);
            cn_term_rewrite(s->buf + s->pl_off, pn, s->refs, storage + head);
            free(s->buf);
            start = 0;
        }
    } else if (s->cap - s->len > SHRINK_SLACK) {
        uint8_t *t = realloc(s->buf, s->len);
        if (t)
            storage = t;
    }
    s->buf = NULL;
    size_t head = s->pl_off - HEADROOM;
    out->storage = storage;
    out->ctl = storage + start;
    out->ctl_len = head - 1;
    if (pn > 0) {
        out->payload = storage + start + head - 1;
        out->payload_len = 1 + (p_refs ? p_out : pn);
    }
    seq_release(rx, s);
    return 1;
}

/* Check a continuation's header (p[0..16): sequence id, fragment id) and make room for its
 * dn data bytes at s->buf + s->len. Returns the sequence, or NULL after fail(). */
static seq *cont_prepare(cn_rx *rx, const uint8_t *p, size_t dn, char *err, size_t errlen)
{
    uint64_t id = cn_get64(p), fid = cn_get64(p + 8);
    seq *s = seq_find(rx, id);
    if (!s) {
        fail(err, errlen, "continuation of unknown sequence %llu", (unsigned long long)id);
        return NULL;
    }
    if (fid == 0) {
        fail(err, errlen, "fragment id 0 in sequence %llu", (unsigned long long)id);
        return NULL;
    }
    if (fid != s->next_fid) {
        fail(err, errlen, "sequence %llu: fragment %llu, expected %llu", (unsigned long long)id,
             (unsigned long long)fid, (unsigned long long)s->next_fid);
        return NULL;
    }
    size_t msg = s->len - HEADROOM; /* message bytes so far */
    if (dn > rx->max_message - msg) {
        fail(err, errlen, "fragmented message larger than %zu bytes", rx->max_message);
        return NULL;
    }
    if (dn > s->cap - s->len) {
        size_t cap =
            s->cap - HEADROOM > rx->max_message / 2 ? rx->max_message : (s->cap - HEADROOM) * 2;
        if (cap < msg + dn)
            cap = msg + dn;
        cap += HEADROOM;
        uint8_t *t = realloc(s->buf, cap);
        if (!t) {
            fail(err, errlen, "out of memory reassembling %zu bytes", cap);
            return NULL;
        }
        s->buf = t;
        s->cap = cap;
    }
    return s;
}

/* The dn data bytes of the continuation s->next_fid are in place after s->len. */
static int cont_done(cn_rx *rx, seq *s, size_t dn, cn_dist_msg *out, char *err, size_t errlen)
{
    s->len += dn;
    if (--s->next_fid == 0)
        return frag_finish(rx, s, out, err, errlen);
    return 0;
}

static int frag_cont(cn_rx *rx, const uint8_t *p, size_t n, cn_dist_msg *out, char *err,
                     size_t errlen)
{
    if (n < 16)
        return fail(err, errlen, "truncated fragment header");
    seq *s = cont_prepare(rx, p, n - 16, err, errlen);
    if (!s)
        return -1;
    if (n > 16)
        memcpy(s->buf + s->len, p + 16, n - 16);
    return cont_done(rx, s, n - 16, out, err, errlen);
}

int cn_rx_direct_begin(cn_rx *rx, const uint8_t *body, size_t have, size_t flen, char *errbuf,
                       size_t errlen)
{
    if (errbuf && errlen)
        errbuf[0] = 0;
    if (rx->direct)
        return fail(errbuf, errlen, "a fragment body is already being read");
    /* Anything else, a short header included, goes the usual way (and fails there if bad). */
    if (!rx->hdr_mode || have < CN_RX_CONT_HDR || have >= flen || body[0] != VERSION_MAGIC ||
        body[1] != HDR_FRAG_CONT)
        return 0;
    size_t dn = flen - CN_RX_CONT_HDR;
    seq *s = cont_prepare(rx, body + 2, dn, errbuf, errlen);
    if (!s)
        return -1;
    size_t got = have - CN_RX_CONT_HDR;
    if (got)
        memcpy(s->buf + s->len, body + CN_RX_CONT_HDR, got);
    rx->direct = s;
    rx->direct_dn = dn;
    rx->direct_got = got;
    return 1;
}

uint8_t *cn_rx_direct_space(cn_rx *rx, size_t *left)
{
    if (!rx->direct) {
        *left = 0;
        return NULL;
    }
    *left = rx->direct_dn - rx->direct_got;
    return rx->direct->buf + rx->direct->len + rx->direct_got;
}

int cn_rx_direct_commit(cn_rx *rx, size_t n, cn_dist_msg *out, char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errbuf && errlen)
        errbuf[0] = 0;
    if (!rx->direct)
        return n ? fail(errbuf, errlen, "no fragment body is being read") : 0;
    size_t left = rx->direct_dn - rx->direct_got;
    rx->direct_got += n < left ? n : left;
    if (rx->direct_got < rx->direct_dn)
        return 0;
    seq *s = rx->direct;
    rx->direct = NULL;
    return cont_done(rx, s, rx->direct_dn, out, errbuf, errlen);
}

int cn_rx_direct_pending(const cn_rx *rx)
{
    return rx->direct != NULL;
}

int cn_rx_frame(cn_rx *rx, const uint8_t *frame, size_t len, cn_dist_msg *out, char *errbuf,
                size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errbuf && errlen)
        errbuf[0] = 0;
    if (rx->direct)
        return fail(errbuf, errlen, "a frame in the middle of a fragment's body");
    if (len == 0)
        return 0;
    if (!rx->hdr_mode)
        return pass_through(rx, frame, len, out, errbuf, errlen);
    if (frame[0] != VERSION_MAGIC)
        return fail(errbuf, errlen, "frame starts with %d, expected a 131 header", frame[0]);
    if (len < 2)
        return fail(errbuf, errlen, "truncated distribution header");
    const uint8_t *p = frame + 2;
    size_t n = len - 2;
    header h;
    size_t used;
    switch (frame[1]) {
    case HDR_NORMAL:
        if (parse_header(rx, p, n, &used, &h, errbuf, errlen) < 0)
            return -1;
        if (complete(rx, &h.refs, p + used, n - used, out, errbuf, errlen) < 0)
            return -1;
        if (commit_header(rx, &h, errbuf, errlen) < 0) {
            cn_dist_msg_free(out);
            return -1;
        }
        return 1;
    case HDR_FRAG_START:
        return frag_start(rx, p, n, out, errbuf, errlen);
    case HDR_FRAG_CONT:
        return frag_cont(rx, p, n, out, errbuf, errlen);
    default:
        return fail(errbuf, errlen, "unknown distribution header type %d", frame[1]);
    }
}

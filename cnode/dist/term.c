#include "dist/term.h"

#include "util/buf.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* One pass over a term: validates it and, when out is set, copies it with cache refs
 * replaced. Unchanged runs of input are copied lazily (from `copied` up to the current
 * position) so that a term without cache refs costs one memcpy. */
typedef struct walker {
    const uint8_t *p;
    size_t n;
    size_t pos;
    const cn_atom_refs *refs;
    uint8_t *out;  /* NULL: scan only */
    size_t opos;   /* bytes written to out */
    size_t copied; /* input bytes accounted for in out */
    size_t delta;  /* output length minus input length so far (never negative) */
    int has_refs;
    uint32_t fun_size; /* the Size field of the NEW_FUN_EXT item() just consumed */
} walker;

/* A container whose elements are still being scanned. */
typedef struct pending {
    uint64_t left; /* elements (or list tail) still to scan */
    size_t fun_at; /* NEW_FUN_EXT: input offset of its Size field; SIZE_MAX otherwise */
    size_t delta0; /* w->delta when the Size field was reached */
    uint32_t size; /* its Size field as received (an in-place rewrite may overwrite it) */
} pending;

#define NOT_FUN SIZE_MAX
/* Bound on how much cache-ref expansion may add (keeps every sum below SIZE_MAX). */
#define DELTA_MAX (SIZE_MAX / 4)

static int have(const walker *w, size_t k)
{
    return w->n - w->pos >= k;
}

/* Skip k bytes if present. */
static int skip(walker *w, size_t k)
{
    if (!have(w, k))
        return -1;
    w->pos += k;
    return 0;
}

static void flush(walker *w)
{
    if (!w->out || w->pos <= w->copied)
        return;
    /* In place, output trails input: once past the last cache ref the bytes are already
     * where they belong. */
    if (w->out + w->opos != w->p + w->copied)
        memmove(w->out + w->opos, w->p + w->copied, w->pos - w->copied);
    w->opos += w->pos - w->copied;
    w->copied = w->pos;
}

int cn_term_atom_text_ok(const uint8_t *s, size_t len)
{
    size_t chars = 0, i = 0;
    if (len > CN_ATOM_MAX_BYTES)
        return 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            chars++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            return 0;
        if (k == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            return 0;
        i += k + 1;
        chars++;
    }
    return chars <= CN_ATOM_MAX_CHARS;
}

static int cache_ref(walker *w)
{
    if (!have(w, 2) || !w->refs)
        return -1;
    int idx = w->p[w->pos + 1];
    if (idx >= w->refs->n || idx >= 255)
        return -1;
    size_t len = w->refs->len[idx];
    if (len > CN_ATOM_MAX_BYTES)
        return -1;
    size_t hdr = len > 255 ? 3 : 2;
    size_t grow = hdr + len - 2;
    if (w->delta > DELTA_MAX - grow)
        return -1;
    if (w->out) {
        flush(w);
        uint8_t *o = w->out + w->opos;
        if (hdr == 3) {
            o[0] = 118;
            cn_set16(o + 1, (uint16_t)len);
        } else {
            o[0] = 119;
            o[1] = (uint8_t)len;
        }
        if (len)
            memcpy(o + hdr, w->refs->name[idx], len);
        w->opos += hdr + len;
        w->copied = w->pos + 2;
    }
    w->delta += grow;
    w->has_refs = 1;
    w->pos += 2;
    return 0;
}

/* Any atom encoding: 100, 115 (Latin-1), 118, 119 (UTF-8), 82 (cache ref). */
static int atom(walker *w)
{
    if (!have(w, 1))
        return -1;
    const uint8_t *q = w->p + w->pos;
    size_t len, hdr;
    int utf8 = 0;
    switch (q[0]) {
    case 82:
        return cache_ref(w);
    case 100:
    case 118:
        if (!have(w, 3))
            return -1;
        len = cn_get16(q + 1);
        hdr = 3;
        utf8 = q[0] == 118;
        if (len > (utf8 ? CN_ATOM_MAX_BYTES : CN_ATOM_MAX_CHARS))
            return -1;
        break;
    case 115:
    case 119:
        if (!have(w, 2))
            return -1;
        len = q[1];
        hdr = 2;
        utf8 = q[0] == 119;
        break;
    default:
        return -1;
    }
    if (w->n - w->pos - hdr < len)
        return -1;
    if (utf8 && !cn_term_atom_text_ok(q + hdr, len))
        return -1;
    w->pos += hdr + len;
    return 0;
}

/* FLOAT_EXT: 31 bytes of "%.20e"-style text, NUL-padded. Accept an optional sign, digits
 * with an optional fraction, an optional exponent, then only NULs. */
static int float_text_ok(const uint8_t *t)
{
    size_t i = 0, digits = 0;
    while (i < 31 && t[i] == ' ')
        i++;
    if (i < 31 && (t[i] == '+' || t[i] == '-'))
        i++;
    for (; i < 31 && t[i] >= '0' && t[i] <= '9'; i++)
        digits++;
    if (i < 31 && t[i] == '.')
        for (i++; i < 31 && t[i] >= '0' && t[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return 0;
    if (i < 31 && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < 31 && (t[i] == '+' || t[i] == '-'))
            i++;
        size_t ed = 0;
        for (; i < 31 && t[i] >= '0' && t[i] <= '9'; i++)
            ed++;
        if (ed == 0)
            return 0;
    }
    if (i == 31)
        return 0; /* no terminating NUL */
    for (; i < 31; i++)
        if (t[i] != 0)
            return 0;
    return 1;
}

/* An integer (97, 98, 110, 111) where the format requires one (NEW_FUN_EXT). */
static int integer(walker *w)
{
    if (!have(w, 1))
        return -1;
    const uint8_t *q = w->p + w->pos;
    size_t rem = w->n - w->pos;
    switch (q[0]) {
    case 97:
        return skip(w, 2);
    case 98:
        return skip(w, 5);
    case 110:
        if (rem < 3 || q[2] > 1)
            return -1;
        return skip(w, 3 + (size_t)q[1]);
    case 111:
        if (rem < 6 || q[5] > 1 || cn_get32(q + 1) > rem - 6)
            return -1;
        w->pos += 6 + (size_t)cn_get32(q + 1);
        return 0;
    default:
        return -1;
    }
}

/* Tag byte already checked; node atom followed by `fixed` bytes. */
static int node_and(walker *w, size_t fixed)
{
    w->pos++;
    if (atom(w) < 0)
        return -1;
    return skip(w, fixed);
}

static int close_fun(walker *w, const pending *f)
{
    size_t size = f->size;
    if (w->pos - f->fun_at != size)
        return -1; /* Size disagrees with the parts it covers */
    size_t nsize = size + (w->delta - f->delta0);
    if (nsize > UINT32_MAX)
        return -1;
    if (w->out) {
        flush(w);
        cn_set32(w->out + f->fun_at + f->delta0, (uint32_t)nsize);
    }
    return 0;
}

/* Scan one item at w->pos. Leaves are consumed; a container's header is consumed and its
 * element count returned in *push (NEW_FUN_EXT also sets *fun_at / *delta0). */
static int item(walker *w, uint64_t *push, size_t *fun_at, size_t *delta0)
{
    if (!have(w, 1))
        return -1;
    const uint8_t *q = w->p + w->pos;
    size_t rem = w->n - w->pos; /* including the tag */
    uint32_t k;
    switch (q[0]) {
    case 97: /* SMALL_INTEGER_EXT */
        return skip(w, 2);
    case 98: /* INTEGER_EXT */
        return skip(w, 5);
    case 70: /* NEW_FLOAT_EXT: finite only */
        if (rem < 9 || (((q[1] & 0x7F) << 4) | (q[2] >> 4)) == 0x7FF)
            return -1;
        w->pos += 9;
        return 0;
    case 99: /* FLOAT_EXT */
        if (rem < 32 || !float_text_ok(q + 1))
            return -1;
        w->pos += 32;
        return 0;
    case 110: /* SMALL_BIG_EXT */
        if (rem < 3 || q[2] > 1)
            return -1;
        return skip(w, 3 + (size_t)q[1]);
    case 111: /* LARGE_BIG_EXT */
        if (rem < 6 || q[5] > 1)
            return -1;
        k = cn_get32(q + 1);
        if (k > rem - 6)
            return -1;
        w->pos += 6 + (size_t)k;
        return 0;
    case 82:
    case 100:
    case 115:
    case 118:
    case 119:
        return atom(w);
    case 104: /* SMALL_TUPLE_EXT */
        if (rem < 2)
            return -1;
        *push = q[1];
        w->pos += 2;
        return 0;
    case 105: /* LARGE_TUPLE_EXT */
        if (rem < 5)
            return -1;
        *push = cn_get32(q + 1);
        w->pos += 5;
        return 0;
    case 106: /* NIL_EXT */
        w->pos++;
        return 0;
    case 107: /* STRING_EXT */
        if (rem < 3)
            return -1;
        return skip(w, 3 + (size_t)cn_get16(q + 1));
    case 108: /* LIST_EXT: elements then a tail of any type */
        if (rem < 5)
            return -1;
        *push = (uint64_t)cn_get32(q + 1) + 1;
        w->pos += 5;
        return 0;
    case 109: /* BINARY_EXT */
        if (rem < 5)
            return -1;
        k = cn_get32(q + 1);
        if (k > rem - 5)
            return -1;
        w->pos += 5 + (size_t)k;
        return 0;
    case 77: /* BIT_BINARY_EXT: as erts, bits 1..8 with data, 0 only when empty */
        if (rem < 6 || q[5] > 8 || (q[5] == 0) != (cn_get32(q + 1) == 0))
            return -1;
        k = cn_get32(q + 1);
        if (k > rem - 6)
            return -1;
        w->pos += 6 + (size_t)k;
        return 0;
    case 116: /* MAP_EXT */
        if (rem < 5)
            return -1;
        *push = 2 * (uint64_t)cn_get32(q + 1);
        w->pos += 5;
        return 0;
    case 88: /* NEW_PID_EXT */
        return node_and(w, 12);
    case 103: /* PID_EXT */
        return node_and(w, 9);
    case 89: /* NEW_PORT_EXT */
        return node_and(w, 8);
    case 120: /* V4_PORT_EXT */
        return node_and(w, 12);
    case 102: /* PORT_EXT */
        return node_and(w, 5);
    case 101: /* REFERENCE_EXT */
        return node_and(w, 5);
    case 90:  /* NEWER_REFERENCE_EXT */
    case 114: /* NEW_REFERENCE_EXT */
        if (rem < 3)
            return -1;
        k = cn_get16(q + 1);
        if (k < 1 || k > 5)
            return -1;
        w->pos += 2;
        return node_and(w, (q[0] == 90 ? 4 : 1) + 4 * (size_t)k);
    case 112: /* NEW_FUN_EXT: Size:32 Arity:8 Uniq:16 Index:32 NumFree:32 Module OldIndex
               * OldUniq Pid FreeVars; Size counts itself and everything after it. Module is an
               * atom, OldIndex/OldUniq integers, Pid a pid (as ei_decode_fun expects). */
        if (rem < 30)
            return -1;
        k = cn_get32(q + 1);
        if (k < 29 || k > rem - 1)
            return -1;
        *fun_at = w->pos + 1;
        *delta0 = w->delta;
        w->fun_size = k;
        *push = cn_get32(q + 26); /* the free variables */
        w->pos += 30;
        if (atom(w) < 0 || integer(w) < 0 || integer(w) < 0 || !have(w, 1))
            return -1;
        if (w->p[w->pos] == 88)
            return node_and(w, 12);
        if (w->p[w->pos] == 103)
            return node_and(w, 9);
        return -1;
    case 113: /* EXPORT_EXT: Module, Function, Arity */
        w->pos++;
        if (atom(w) < 0 || atom(w) < 0 || !have(w, 2) || w->p[w->pos] != 97)
            return -1;
        w->pos += 2;
        return 0;
    default: /* 80 compressed, 117 FUN_EXT, 121 LOCAL_EXT, unknown */
        return -1;
    }
}

/* Why the last walk on this thread failed (cn_term_error). */
static _Thread_local char why[80];

static int refuse(const char *what, size_t at, int tag)
{
    if (tag >= 0)
        snprintf(why, sizeof why, "%s at byte %zu (tag %d)", what, at, tag);
    else
        snprintf(why, sizeof why, "%s at byte %zu", what, at);
    return -1;
}

static int walk(walker *w)
{
    pending st[CN_TERM_MAX_DEPTH + 1];
    int sp = 0;
    st[sp++] = (pending){1, NOT_FUN, 0, 0};
    while (sp > 0) {
        pending *f = &st[sp - 1];
        if (f->left == 0) {
            if (f->fun_at != NOT_FUN && close_fun(w, f) < 0)
                return refuse("a fun whose size does not match", f->fun_at, -1);
            sp--;
            continue;
        }
        f->left--;
        uint64_t push = 0;
        size_t fun_at = NOT_FUN, delta0 = 0, at = w->pos;
        if (!have(w, 1))
            return refuse("truncated", at, -1);
        if (item(w, &push, &fun_at, &delta0) < 0)
            return refuse("bad or truncated item", at, w->p[at]);
        if (push == 0 && fun_at == NOT_FUN)
            continue;
        /* Every element takes at least one byte: refuse counts the input cannot hold. */
        if (push > w->n - w->pos)
            return refuse("more elements than bytes left", at, -1);
        if (sp > CN_TERM_MAX_DEPTH) {
            snprintf(why, sizeof why, "nested deeper than %d levels", CN_TERM_MAX_DEPTH);
            return -1;
        }
        st[sp++] = (pending){push, fun_at, delta0, fun_at == NOT_FUN ? 0 : w->fun_size};
    }
    return 0;
}

const char *cn_term_error(void)
{
    return why;
}

static void walker_init(walker *w, const uint8_t *p, size_t n, const cn_atom_refs *refs,
                        uint8_t *out)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    w->n = n > LONG_MAX ? LONG_MAX : n;
    w->refs = refs;
    w->out = out;
}

long cn_term_scan(const uint8_t *p, size_t n, const cn_atom_refs *refs, size_t *out_len,
                  int *has_refs)
{
    walker w;
    walker_init(&w, p, n, refs, NULL);
    if (walk(&w) < 0)
        return -1;
    if (out_len)
        *out_len = w.pos + w.delta;
    if (has_refs)
        *has_refs = w.has_refs;
    return (long)w.pos;
}

size_t cn_term_rewrite(const uint8_t *p, size_t n, const cn_atom_refs *refs, uint8_t *out)
{
    size_t len;
    return cn_term_scan_rewrite(p, n, refs, out, &len) < 0 ? 0 : len;
}

long cn_term_scan_rewrite(const uint8_t *p, size_t n, const cn_atom_refs *refs, uint8_t *out,
                          size_t *out_len)
{
    walker w;
    walker_init(&w, p, n, refs, out);
    if (walk(&w) < 0)
        return -1;
    flush(&w);
    *out_len = w.opos;
    return (long)w.pos;
}

size_t cn_term_scan_rewrite_bound(size_t n, const cn_atom_refs *refs)
{
    size_t longest = 0;
    for (int i = 0; refs && i < refs->n; i++)
        if (refs->len[i] > longest)
            longest = refs->len[i];
    /* a ref is 2 bytes and grows by at most its text's length + 1 (118 form); n is a
     * frame's length, far below SIZE_MAX / 1024 */
    return n + (n / 2) * (longest + 1);
}

size_t cn_term_rewrite_in_place(uint8_t *p, size_t n, const cn_atom_refs *refs, size_t out_len)
{
    if (out_len < n)
        return 0;
    /* Output position = input position + growth so far - total growth <= input position:
     * every write lands on input already read, and the tail after the last ref stays put. */
    walker w;
    walker_init(&w, p, n, refs, p - (out_len - n));
    if (walk(&w) < 0)
        return 0;
    flush(&w);
    return w.opos;
}

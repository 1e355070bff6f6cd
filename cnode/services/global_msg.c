/* global_msg: bounded readers for :global's messages (see global_msg.h). */
#include "services/global_msg.h"

#include "services/global_tables.h"

#include <stdlib.h>
#include <string.h>

void gm_list_clear(gm_list *l)
{
    free(l->b);
    memset(l, 0, sizeof *l);
}

int gm_list_append(gm_list *l, const char *b, int len, int n)
{
    if (len <= 0)
        return 0;
    if (l->n + n > GM_MAX_LIST)
        return -1;
    char *nb = realloc(l->b, (size_t)(l->len + len));
    if (!nb)
        return -1;
    memcpy(nb + l->len, b, (size_t)len);
    l->b = nb;
    l->len += len;
    l->n += n;
    return 0;
}

void gm_list_encode(ei_x_buff *x, const gm_list *l)
{
    if (l->n) {
        ei_x_encode_list_header(x, l->n);
        ei_x_append_buf(x, l->b, l->len);
    }
    ei_x_encode_empty_list(x);
}

int gm_list_take(const char *buf, int *idx, gm_list *l)
{
    int n, start, type, size;
    memset(l, 0, sizeof *l);
    /* a "string" (list of small integers) is never one of ours: refuse it */
    if (ei_get_type(buf, idx, &type, &size) < 0 || (type != ERL_LIST_EXT && type != ERL_NIL_EXT))
        return -1;
    if (ei_decode_list_header(buf, idx, &n) < 0 || n < 0 || n > GM_MAX_LIST)
        return -1;
    if (n == 0)
        return 0;
    start = *idx;
    for (int i = 0; i < n; i++)
        if (ei_skip_term(buf, idx) < 0)
            return -1;
    int end = *idx, nil;
    if (ei_decode_list_header(buf, idx, &nil) < 0 || nil != 0)
        return -1; /* improper list */
    if (gm_list_append(l, buf + start, end - start, n) < 0) {
        gm_list_clear(l);
        return -1;
    }
    return 0;
}

int gm_list_at(const gm_list *l, int k)
{
    int idx = 0;
    if (k < 0 || k >= l->n)
        return -1;
    for (int i = 0; i < k; i++)
        if (ei_skip_term(l->b, &idx) < 0)
            return -1;
    return idx;
}

int gm_span(const char *buf, int *idx, const char **s, int *n)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0 || *idx - start > GT_MAX_TERM)
        return -1;
    *s = buf + start;
    *n = *idx - start;
    return 0;
}

int gm_atom_is(const char *buf, int *idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    int i = *idx;
    if (ei_decode_atom(buf, &i, a) < 0 || strcmp(a, want) != 0)
        return 0;
    *idx = i;
    return 1;
}

int gm_node(const char *b, int start, char *name, long *vsn)
{
    int i = start, ar;
    *vsn = 0;
    if (ei_decode_atom(b, &i, name) == 0)
        return 0;
    i = start;
    if (ei_decode_tuple_header(b, &i, &ar) < 0 || ar != 2 || ei_decode_atom(b, &i, name) < 0 ||
        ei_decode_long(b, &i, vsn) < 0)
        return -1;
    return 0;
}

int gm_lock_id(const char *id, int len, const char **res, int *rl, const char **req, int *ql)
{
    int i = 0, ar;
    if (ei_decode_tuple_header(id, &i, &ar) < 0 || ar != 2 || gm_span(id, &i, res, rl) < 0 ||
        gm_span(id, &i, req, ql) < 0 || i != len)
        return -1;
    return 0;
}

int gm_name_entry(const char *b, int start, const char **name, int *nl, cn_pid *pid,
                  const char **meth, int *ml)
{
    int i = start, ar;
    if (ei_decode_tuple_header(b, &i, &ar) < 0 || ar != 3 || gm_span(b, &i, name, nl) < 0 ||
        cn_decode_pid(b, &i, pid) < 0 || gm_span(b, &i, meth, ml) < 0)
        return -1;
    return 0;
}

int gm_op(const char *b, int start, int *kind, const char **name, int *nl, cn_pid *pid,
          const char **meth, int *ml)
{
    int i = start, ar;
    if (ei_decode_tuple_header(b, &i, &ar) < 0 || ar != 2)
        return -1;
    if (gm_atom_is(b, &i, "insert")) {
        *kind = GM_INSERT;
        return gm_name_entry(b, i, name, nl, pid, meth, ml);
    }
    if (gm_atom_is(b, &i, "delete")) {
        *kind = GM_DELETE;
        return gm_span(b, &i, name, nl);
    }
    return -1;
}

int gm_read_init_connect(const char *buf, int *idx, int ar, gm_init_connect *m)
{
    int n, n2;
    if (ar != 4 || ei_decode_tuple_header(buf, idx, &n) < 0 || n < 2 ||
        ei_decode_long(buf, idx, &m->his_vsn) < 0 || ei_decode_longlong(buf, idx, &m->his_tag) < 0)
        return -1;
    for (int i = 2; i < n; i++) /* future versions may add elements */
        if (ei_skip_term(buf, idx) < 0)
            return -1;
    if (ei_decode_atom(buf, idx, m->node) < 0 || ei_decode_tuple_header(buf, idx, &n2) < 0 ||
        n2 != 4 || !gm_atom_is(buf, idx, "locker") || ei_skip_term(buf, idx) < 0 ||
        ei_skip_term(buf, idx) < 0 || cn_decode_pid(buf, idx, &m->locker) < 0)
        return -1;
    return 0;
}

int gm_read_exchange(const char *buf, int *idx, int ar, char *node, gm_list *l, long long *tag)
{
    memset(l, 0, sizeof *l);
    if (ar != 5 || ei_decode_atom(buf, idx, node) < 0 || gm_list_take(buf, idx, l) < 0)
        return -1;
    if (ei_skip_term(buf, idx) < 0 || ei_decode_longlong(buf, idx, tag) < 0) {
        gm_list_clear(l);
        return -1;
    }
    return 0;
}

int gm_read_resolved(const char *buf, int *idx, int ar, char *node, gm_list *ops, gm_list *known,
                     long long *tag)
{
    memset(ops, 0, sizeof *ops);
    memset(known, 0, sizeof *known);
    if (ar != 7 || ei_decode_atom(buf, idx, node) < 0 || gm_list_take(buf, idx, ops) < 0)
        return -1;
    if (gm_list_take(buf, idx, known) < 0 || ei_skip_term(buf, idx) < 0 ||
        ei_skip_term(buf, idx) < 0 || ei_decode_longlong(buf, idx, tag) < 0) {
        gm_list_clear(ops);
        gm_list_clear(known);
        return -1;
    }
    return 0;
}

int gm_read_new_nodes(const char *buf, int *idx, int ar, char *node, gm_list *ops, gm_list *nodes,
                      const char **lock_id, int *lock_id_len)
{
    const char *extra;
    int el, n, e = 0;
    memset(ops, 0, sizeof *ops);
    memset(nodes, 0, sizeof *nodes);
    *lock_id = NULL;
    *lock_id_len = 0;
    if (ar != 6 || ei_decode_atom(buf, idx, node) < 0 || gm_list_take(buf, idx, ops) < 0)
        return -1;
    if (ei_skip_term(buf, idx) < 0 || gm_list_take(buf, idx, nodes) < 0 ||
        gm_span(buf, idx, &extra, &el) < 0) {
        gm_list_clear(ops);
        gm_list_clear(nodes);
        return -1;
    }
    /* ExtraInfo: [{vsn, V}, {lock, LockId}]; anything else carries no lock id */
    if (ei_decode_list_header(extra, &e, &n) == 0)
        for (int k = 0; k < n; k++) {
            int s = e, ar2;
            if (ei_skip_term(extra, &e) < 0)
                break;
            if (ei_decode_tuple_header(extra, &s, &ar2) == 0 && ar2 == 2 &&
                gm_atom_is(extra, &s, "lock")) {
                *lock_id = extra + s;
                *lock_id_len = e - s;
            }
        }
    return 0;
}

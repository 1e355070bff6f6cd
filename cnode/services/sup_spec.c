/* sup_spec: parsing cnode_sup's child specs (see sup_spec.h), and the small term helpers
 * supervisor.c shares with it. */
#include "services/sup_spec.h"

#include "proc/gen.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------ */

int sup_get_atom(const char *buf, int *idx, char *a)
{
    int i = *idx;
    if (ei_decode_atom(buf, &i, a) < 0)
        return -1;
    *idx = i;
    return 0;
}

/* The span of the term at *idx; advances past it. */
int sup_span(const char *buf, int *idx, int *start, int *len)
{
    *start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    *len = *idx - *start;
    return 0;
}

char *sup_dup_bytes(const char *p, int n)
{
    char *d = malloc(n > 0 ? (size_t)n : 1);
    if (d && n > 0)
        memcpy(d, p, (size_t)n);
    return d;
}

/* {Tag, Reason} where Reason is the term at buf[start, start+len). */
void sup_encode_tagged(ei_x_buff *x, const char *tag, const char *buf, int start, int len)
{
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, tag);
    ei_x_append_buf(x, buf + start, len);
}

/* ---- spec parsing ------------------------------------------------------------------- */

void sup_spec_free(sup_spec *sp)
{
    free(sp->args);
    free(sp->modules);
    sp->args = sp->modules = NULL;
}

/* Copy the list at *idx as a proper list (a string of bytes becomes a list of integers). */
static int copy_list(const char *buf, int *idx, char **out, int *out_len)
{
    int type, size, start = *idx;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    if (type == ERL_NIL_EXT || type == ERL_LIST_EXT) {
        int n, i = *idx;
        if (ei_decode_list_header(buf, &i, &n) < 0)
            return -1;
        for (int k = 0; k < n; k++)
            if (ei_skip_term(buf, &i) < 0)
                return -1;
        if (n > 0) { /* the tail must be [] */
            int t, ts;
            if (ei_get_type(buf, &i, &t, &ts) < 0 || t != ERL_NIL_EXT)
                return -1;
            ei_skip_term(buf, &i);
        }
        *idx = i;
        *out = sup_dup_bytes(buf + start, i - start);
        *out_len = i - start;
        return *out ? 0 : -1;
    }
    if (type != ERL_STRING_EXT)
        return -1;
    char *s = malloc((size_t)size + 1);
    ei_x_buff x;
    if (!s || ei_decode_string(buf, idx, s) < 0) {
        free(s);
        return -1;
    }
    ei_x_new(&x);
    ei_x_encode_list_header(&x, size);
    for (int k = 0; k < size; k++)
        ei_x_encode_long(&x, (unsigned char)s[k]);
    ei_x_encode_empty_list(&x);
    free(s);
    *out = sup_dup_bytes(x.buff, x.index);
    *out_len = x.index;
    ei_x_free(&x);
    return *out ? 0 : -1;
}

/* Where the parts of a child spec are in buf (-1: not given, use the default). */
typedef struct parts {
    int mfa, restart, shutdown, type, modules;
} parts;

/* Build sp from the parts; on error append the reason to err and return -1. */
static int spec_from_parts(const char *buf, const parts *pt, sup_spec *sp, ei_x_buff *err)
{
    char mod[MAXATOMLEN_UTF8], fun[MAXATOMLEN_UTF8], a[MAXATOMLEN_UTF8];
    int idx = pt->mfa, arity, s0, n;
    const char *bad_tag = "invalid_mfa";
    int bad_at = pt->mfa;
    memset(sp, 0, sizeof *sp);
    if (idx < 0 || ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
        sup_get_atom(buf, &idx, mod) < 0 || sup_get_atom(buf, &idx, fun) < 0 ||
        copy_list(buf, &idx, &sp->args, &sp->args_len) < 0)
        goto bad;

    sp->restart = R_PERMANENT;
    if ((idx = pt->restart) >= 0) {
        if (sup_get_atom(buf, &idx, a) < 0)
            a[0] = 0;
        if (!strcmp(a, "permanent"))
            sp->restart = R_PERMANENT;
        else if (!strcmp(a, "transient"))
            sp->restart = R_TRANSIENT;
        else if (!strcmp(a, "temporary"))
            sp->restart = R_TEMPORARY;
        else {
            bad_tag = "invalid_restart_type";
            bad_at = pt->restart;
            goto bad;
        }
    }
    sp->supervisor = 0;
    if ((idx = pt->type) >= 0) {
        if (sup_get_atom(buf, &idx, a) < 0)
            a[0] = 0;
        if (!strcmp(a, "supervisor"))
            sp->supervisor = 1;
        else if (strcmp(a, "worker") != 0) {
            bad_tag = "invalid_child_type";
            bad_at = pt->type;
            goto bad;
        }
    }
    sp->shutdown = sp->supervisor ? SHUTDOWN_INFINITY : DEFAULT_SHUTDOWN;
    if ((idx = pt->shutdown) >= 0) {
        long ms;
        int is_atom = sup_get_atom(buf, &idx, a) == 0;
        if (is_atom && !strcmp(a, "brutal_kill"))
            sp->shutdown = SHUTDOWN_BRUTAL;
        else if (is_atom && !strcmp(a, "infinity"))
            sp->shutdown = SHUTDOWN_INFINITY;
        else if (!is_atom && ei_decode_long(buf, &idx, &ms) == 0 && ms >= 0 && ms <= 0xffffffffL)
            sp->shutdown = ms;
        else {
            bad_tag = "invalid_shutdown";
            bad_at = pt->shutdown;
            goto bad;
        }
    }
    if ((idx = pt->modules) >= 0) {
        int ok = sup_get_atom(buf, &idx, a) == 0 && !strcmp(a, "dynamic");
        if (!ok) {
            int type, size, i = idx;
            ok = ei_get_type(buf, &i, &type, &size) == 0 &&
                 (type == ERL_NIL_EXT || type == ERL_LIST_EXT) &&
                 ei_decode_list_header(buf, &i, &n) == 0;
            for (int k = 0; ok && k < n; k++)
                ok = sup_get_atom(buf, &i, a) == 0;
            if (ok && n > 0)
                ok = ei_decode_list_header(buf, &i, &n) == 0 && n == 0; /* the [] tail */
        }
        bad_tag = "invalid_modules";
        bad_at = pt->modules;
        idx = pt->modules;
        if (!ok || sup_span(buf, &idx, &s0, &n) < 0)
            goto bad;
        sp->modules = sup_dup_bytes(buf + s0, n);
        sp->modules_len = n;
    } else { /* [Module] */
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_atom(&x, mod);
        ei_x_encode_empty_list(&x);
        sp->modules = sup_dup_bytes(x.buff, x.index);
        sp->modules_len = x.index;
        ei_x_free(&x);
    }
    if (!sp->args || !sp->modules) {
        sup_spec_free(sp);
        ei_x_encode_atom(err, "enomem");
        return -1;
    }

    sp->w = cn_worker_lookup(mod);
    if (sp->w && !cn_worker_entry_fun(fun))
        sp->w = NULL; /* a worker module has no other function */
    if (!sp->w) {     /* as apply/3 of a function that does not exist: {undef, [{M, F, A, []}]} */
        ei_x_encode_tuple_header(err, 2);
        ei_x_encode_atom(err, "undef");
        ei_x_encode_list_header(err, 1);
        ei_x_encode_tuple_header(err, 4);
        ei_x_encode_atom(err, mod);
        ei_x_encode_atom(err, fun);
        ei_x_append_buf(err, sp->args, sp->args_len);
        ei_x_encode_empty_list(err);
        ei_x_encode_empty_list(err);
        sup_spec_free(sp);
        return -1;
    }
    return 0;

bad: /* {bad_tag, TheTermGiven}, as supervisor:check_childspecs names them */
    sup_spec_free(sp);
    idx = bad_at;
    if (idx >= 0 && sup_span(buf, &idx, &s0, &n) == 0)
        sup_encode_tagged(err, bad_tag, buf, s0, n);
    else
        ei_x_encode_atom(err, bad_tag);
    return -1;
}

/* The spec of a start_child call: {MFA, Restart, Shutdown, Type, Modules} (what
 * DynamicSupervisor.start_child sends, Elixir 1.14 and 1.18 alike), the classic
 * {Id, MFA, Restart, Shutdown, Type, Modules}, or a child spec map (as Supervisor.start_child
 * sends it: %{id:, start:, restart:, shutdown:, type:, modules:}, missing keys default). */
int sup_spec_parse(const char *buf, int *idx, sup_spec *sp, ei_x_buff *err)
{
    parts pt = {-1, -1, -1, -1, -1};
    int i = *idx, arity, s0, n;
    if (ei_decode_tuple_header(buf, &i, &arity) == 0 && (arity == 5 || arity == 6)) {
        if (arity == 6 && ei_skip_term(buf, &i) < 0) /* the id: not used */
            goto bad;
        int *at[] = {&pt.mfa, &pt.restart, &pt.shutdown, &pt.type, &pt.modules};
        for (int k = 0; k < 5; k++) {
            *at[k] = i;
            if (ei_skip_term(buf, &i) < 0)
                goto bad;
        }
    } else if (i = *idx, ei_decode_map_header(buf, &i, &arity) == 0) {
        for (int k = 0; k < arity; k++) {
            char key[MAXATOMLEN_UTF8];
            int is_atom = sup_get_atom(buf, &i, key) == 0;
            if (!is_atom && ei_skip_term(buf, &i) < 0)
                goto bad;
            int *at = !is_atom                   ? NULL
                      : !strcmp(key, "start")    ? &pt.mfa
                      : !strcmp(key, "restart")  ? &pt.restart
                      : !strcmp(key, "shutdown") ? &pt.shutdown
                      : !strcmp(key, "type")     ? &pt.type
                      : !strcmp(key, "modules")  ? &pt.modules
                                                 : NULL; /* id, significant, ... */
            if (at)
                *at = i;
            if (ei_skip_term(buf, &i) < 0)
                goto bad;
        }
    } else {
        goto bad;
    }
    if (spec_from_parts(buf, &pt, sp, err) < 0)
        return -1;
    *idx = i;
    return 0;
bad:
    i = *idx;
    if (sup_span(buf, &i, &s0, &n) == 0)
        sup_encode_tagged(err, "invalid_child_spec", buf, s0, n);
    else
        ei_x_encode_atom(err, "invalid_child_spec");
    return -1;
}

/* pg_rpc: OTP pg's functions over rpc (pg:join/2,3 ... pg:start/1), as exports that call the
 * local scope processes (pg.c) the way pg.erl calls its gen_server. */
#include "services/bif_args.h"
#include "services/pg.h"

#include <string.h>

static int atom_is(const char *buf, int *idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    return ei_decode_atom(buf, idx, a) == 0 && !strcmp(a, want);
}

static int reply_atom(const ei_x_buff *r, const char *want)
{
    int i = 0;
    return atom_is(r->buff, &i, want);
}

static int span(const char *buf, int *idx, const char **s, int *n)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    *s = buf + start;
    *n = *idx - start;
    return 0;
}

/* The scope argument: an atom (or, with arity below `full`, the default scope pg). */
static int scope_arg(const char *buf, int *idx, int arity, int full, char *scope)
{
    if (arity < full) {
        strcpy(scope, "pg");
        return 0;
    }
    return ei_decode_atom(buf, idx, scope);
}

/* pg's ensure_local: a local pid or a list of them, else error({nolocal, Bad}). */
static int check_local(const char *p, int plen, ei_x_buff *out)
{
    int i = 0, type, size, n;
    cn_pid pid;
    ei_get_type(p, &i, &type, &size);
    if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
        if (cn_decode_pid(p, &i, &pid) == 0 && pid.node == 0)
            return 0;
        goto nolocal;
    }
    if (type == ERL_NIL_EXT)
        return 0;
    if (type != ERL_LIST_EXT || ei_decode_list_header(p, &i, &n) < 0)
        goto nolocal;
    for (int k = 0; k < n; k++) {
        int at = i;
        if (ei_get_type(p, &i, &type, &size) < 0 ||
            !((type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) && cn_decode_pid(p, &i, &pid) == 0 &&
              pid.node == 0)) {
            i = at;
            const char *bad;
            int blen;
            if (span(p, &i, &bad, &blen) < 0)
                return -1;
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, "nolocal");
            ei_x_append_buf(out, bad, blen);
            return -1;
        }
    }
    return 0;
nolocal:
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "nolocal");
    ei_x_append_buf(out, p, plen);
    return -1;
}

/* gen_server:call(Scope, Req, infinity) as pg does; noproc exits as the BEAM's would. */
static int call_scope(cn_proc *self, const char *scope, const ei_x_buff *req, int create,
                      ei_x_buff *out)
{
    cn_pid sp;
    if (cn_pg_scope_pid(scope, create, &sp) == 0) {
        int at = out->index;
        if (cn_call(self, &sp, req->buff, req->index, -1, out) == 0)
            return CN_RPC_RETURN;
        out->index = at;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "noproc");
    ei_x_encode_tuple_header(out, 3);
    ei_x_encode_atom(out, "gen_server");
    ei_x_encode_atom(out, "call");
    ei_x_encode_list_header(out, 3);
    ei_x_encode_atom(out, scope);
    ei_x_append_buf(out, req->buff, req->index);
    ei_x_encode_atom(out, "infinity");
    ei_x_encode_empty_list(out);
    return CN_RPC_EXIT;
}

/* pg:join/2,3 and pg:leave/2,3. */
static int rpc_member(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out,
                      const char *op, int create)
{
    char scope[MAXATOMLEN_UTF8];
    const char *g, *p;
    int glen, plen, type, size;
    if ((arity != 2 && arity != 3) || scope_arg(buf, idx, arity, 3, scope) < 0 ||
        span(buf, idx, &g, &glen) < 0 || ei_get_type(buf, idx, &type, &size) < 0 ||
        span(buf, idx, &p, &plen) < 0)
        return cn_rpc_error(out, "function_clause");
    if (type != ERL_PID_EXT && type != ERL_NEW_PID_EXT && type != ERL_LIST_EXT &&
        type != ERL_NIL_EXT && type != ERL_STRING_EXT)
        return cn_rpc_error(out, "function_clause");
    if (check_local(p, plen, out) < 0)
        return CN_RPC_ERROR;
    ei_x_buff q;
    if (ei_x_new(&q) < 0)
        return cn_rpc_error(out, "system_limit");
    ei_x_encode_tuple_header(&q, 3);
    ei_x_encode_atom(&q, op);
    ei_x_append_buf(&q, g, glen);
    ei_x_append_buf(&q, p, plen);
    int rc = call_scope(self, scope, &q, create, out);
    ei_x_free(&q);
    return rc;
}

static int rpc_pg(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out,
                  const char *fn)
{
    char scope[MAXATOMLEN_UTF8];
    const char *g;
    int glen;
    if (!strcmp(fn, "join"))
        return rpc_member(self, buf, idx, arity, out, "join_local", 1);
    if (!strcmp(fn, "leave"))
        return rpc_member(self, buf, idx, arity, out, "leave_local", 0);
    if (!strcmp(fn, "get_members") || !strcmp(fn, "get_local_members")) {
        int local = fn[4] == 'l';
        if (arity != 1 && arity != 2)
            return cn_rpc_error(out, "function_clause");
        strcpy(scope, "pg");
        if (arity == 2 && ei_decode_atom(buf, idx, scope) < 0) {
            ei_x_encode_empty_list(out); /* not a scope: OTP's ets lookup fails, gives [] */
            return CN_RPC_RETURN;
        }
        if (span(buf, idx, &g, &glen) < 0)
            return cn_rpc_error(out, "function_clause");
        if (cn_pg_encode_group_members(scope, g, glen, local, out) < 0)
            return cn_rpc_error(out, "badarg");
        return CN_RPC_RETURN;
    }
    if (!strcmp(fn, "which_groups") || !strcmp(fn, "which_local_groups")) {
        if (arity > 1 || scope_arg(buf, idx, arity, 1, scope) < 0)
            return cn_rpc_error(out, "function_clause");
        if (cn_pg_which_groups(scope, fn[6] == 'l', out) < 0)
            return cn_rpc_error(out, "badarg");
        return CN_RPC_RETURN;
    }
    if (!strcmp(fn, "monitor_scope") || !strcmp(fn, "monitor")) {
        int group = fn[7] != '_';
        int full = group ? 2 : 1;
        if (arity > full || arity < full - 1 || scope_arg(buf, idx, arity, full, scope) < 0)
            return cn_rpc_error(out, "function_clause");
        ei_x_buff q;
        if (ei_x_new(&q) < 0)
            return cn_rpc_error(out, "system_limit");
        if (group) {
            if (span(buf, idx, &g, &glen) < 0) {
                ei_x_free(&q);
                return cn_rpc_error(out, "function_clause");
            }
            ei_x_encode_tuple_header(&q, 2);
            ei_x_encode_atom(&q, "monitor");
            ei_x_append_buf(&q, g, glen);
        } else {
            ei_x_encode_atom(&q, "monitor");
        }
        int rc = call_scope(self, scope, &q, 0, out);
        ei_x_free(&q);
        return rc;
    }
    if (!strcmp(fn, "demonitor")) {
        if ((arity != 1 && arity != 2) || scope_arg(buf, idx, arity, 2, scope) < 0 ||
            span(buf, idx, &g, &glen) < 0)
            return cn_rpc_error(out, "function_clause");
        ei_x_buff q, r;
        ei_x_new(&q);
        ei_x_new(&r);
        ei_x_encode_tuple_header(&q, 2);
        ei_x_encode_atom(&q, "demonitor");
        ei_x_append_buf(&q, g, glen);
        int rc = call_scope(self, scope, &q, 0, &r);
        if (rc == CN_RPC_RETURN)
            ei_x_encode_atom(out, reply_atom(&r, "ok") ? "ok" : "false");
        else
            ei_x_append_buf(out, r.buff, r.index);
        ei_x_free(&q);
        ei_x_free(&r);
        return rc;
    }
    if (!strcmp(fn, "start") && arity == 1 && ei_decode_atom(buf, idx, scope) == 0) {
        cn_pid sp;
        int running = cn_whereis_name(scope, &sp) == 0;
        if (!running && cn_pg_scope_pid(scope, 1, &sp) < 0) {
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, "error");
            ei_x_encode_atom(out, "system_limit");
            return CN_RPC_RETURN;
        }
        ei_x_encode_tuple_header(out, 2);
        if (running) {
            ei_x_encode_atom(out, "error");
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, "already_started");
        } else {
            ei_x_encode_atom(out, "ok");
        }
        cn_encode_pid(out, &sp);
        return CN_RPC_RETURN;
    }
    return cn_rpc_error(out, "function_clause");
}

#define PG_FN(name)                                                                                \
    static int rpc_##name(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)     \
    {                                                                                              \
        return rpc_pg(self, buf, idx, arity, out, #name);                                          \
    }
PG_FN(join)
PG_FN(leave)
PG_FN(get_members)
PG_FN(get_local_members)
PG_FN(which_groups)
PG_FN(which_local_groups)
PG_FN(monitor)
PG_FN(monitor_scope)
PG_FN(demonitor)
PG_FN(start)

int cn_pg_rpc_start(void)
{
    int r = 0;
    r |= cn_export("pg", "join", -1, rpc_join);
    r |= cn_export("pg", "leave", -1, rpc_leave);
    r |= cn_export("pg", "get_members", -1, rpc_get_members);
    r |= cn_export("pg", "get_local_members", -1, rpc_get_local_members);
    r |= cn_export("pg", "which_groups", -1, rpc_which_groups);
    r |= cn_export("pg", "which_local_groups", -1, rpc_which_local_groups);
    r |= cn_export("pg", "monitor", -1, rpc_monitor);
    r |= cn_export("pg", "monitor_scope", -1, rpc_monitor_scope);
    r |= cn_export("pg", "demonitor", -1, rpc_demonitor);
    r |= cn_export("pg", "start", 1, rpc_start);
    return r < 0 ? -1 : 0;
}

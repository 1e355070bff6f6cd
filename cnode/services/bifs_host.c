/* bifs_host: what a node tells over rpc about the program and the host it runs on:
 * os:getenv/0,1,2 (the real environment), init:get_arguments/0, get_argument/1,
 * get_plain_arguments/0 (cnoded's options under their erl names, init_args.c) and
 * net_adm:names/0,1 (from epmd), with a BEAM node's answers and errors. Nothing here runs
 * commands (no os:cmd, no open_port). */
#include "epmd_client/epmd.h"
#include "node.h"
#include "services/bif_args.h"
#include "services/exports.h"
#include "services/init_args.h"
#include "services/introspect.h"
#include "services/services.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

/* A function whose answer here is always [] (cnoded takes no plain arguments). */
static int empty_list_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    cn_skip_args(buf, idx, arity);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* ---- os:getenv ----------------------------------------------------------------------- */

/* The environment's text, as the BEAM reads it: "NAME=VALUE" with each side decoded. */
static int getenv_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t nlen = (size_t)(eq - *e), vlen = strlen(eq + 1), cap = nlen + vlen + 1;
        unsigned *cp = malloc(cap * sizeof *cp);
        if (!cp)
            continue;
        size_t n = cn_os_text_chars(*e, nlen, cp, cap);
        cp[n++] = '=';
        n += cn_os_text_chars(eq + 1, vlen, cp + n, cap - n);
        ei_x_encode_list_header(out, 1);
        cn_encode_chars(out, cp, n);
        free(cp);
    }
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* The value of the variable named by the charlist at buf+*idx: 1 and *val (NULL: not
 * set), or -1 for a name that is not one (not a charlist, or holding = or NUL). */
static int lookup_env(const char *buf, int *idx, const char **val)
{
    ei_x_buff name;
    ei_x_new(&name);
    int r = -1;
    if (cn_utf8_arg(buf, idx, &name) == 0 && !memchr(name.buff, '=', (size_t)name.index) &&
        !memchr(name.buff, '\0', (size_t)name.index)) {
        ei_x_append_buf(&name, "", 1);
        *val = name.index > 1 ? getenv(name.buff) : NULL;
        r = 1;
    }
    ei_x_free(&name);
    return r;
}

/* getenv(Name) answers false for a variable that is not set, getenv(Name, Default) the
 * default as it came. */
static int getenv_12(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    const char *v;
    if (lookup_env(buf, idx, &v) < 0)
        return cn_ix_badarg(out);
    int start = *idx;
    if (arity == 2 && ei_skip_term(buf, idx) < 0)
        return cn_ix_badarg(out);
    if (v)
        cn_encode_os_text(out, v, strlen(v));
    else if (arity == 2)
        ei_x_append_buf(out, buf + start, *idx - start);
    else
        ei_x_encode_atom(out, "false");
    return CN_RPC_RETURN;
}

/* ---- init ---------------------------------------------------------------------------- */

static void encode_values(ei_x_buff *out, const cn_erl_arg *a)
{
    if (a->n > 0)
        ei_x_encode_list_header(out, a->n);
    for (int i = 0; i < a->n; i++)
        cn_encode_os_text(out, a->v[i], strlen(a->v[i]));
    ei_x_encode_empty_list(out);
}

static void one_arg(const cn_erl_arg *a, void *arg)
{
    ei_x_buff *out = arg;
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, a->flag);
    encode_values(out, a);
}

static int get_arguments_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    cn_init_args_each(one_arg, out);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

typedef struct flag_match {
    const char *flag;
    ei_x_buff *out;
    int n;
} flag_match;

static void match_arg(const cn_erl_arg *a, void *arg)
{
    flag_match *m = arg;
    if (strcmp(a->flag, m->flag) != 0)
        return;
    if (m->n++ == 0) {
        ei_x_encode_tuple_header(m->out, 2);
        ei_x_encode_atom(m->out, "ok");
    }
    ei_x_encode_list_header(m->out, 1);
    encode_values(m->out, a);
}

/* get_argument(Flag): {ok, [Values per occurrence]} or error (also for a Flag that is not
 * an atom: the BEAM just finds no such flag). */
static int get_argument_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char flag[MAXATOMLEN_UTF8];
    int i = *idx;
    flag_match m = {flag, out, 0};
    if (cn_atom_arg(buf, &i, flag) == 0)
        cn_init_args_each(match_arg, &m);
    ei_skip_term(buf, idx);
    if (m.n)
        ei_x_encode_empty_list(out);
    else
        ei_x_encode_atom(out, "error");
    return CN_RPC_RETURN;
}

/* ---- net_adm:names ------------------------------------------------------------------- */

/* {ok, [{Name, Port}]} from the epmd at the (numeric) address, in erl_epmd's order (the
 * reverse of epmd's lines), or {error, address} when it does not answer. The wait holds this
 * scheduler thread, as cn_call does: at once for this host's epmd, at most 5 s for a host
 * that drops the connection (where the BEAM's caller would wait for TCP to give up). */
static void epmd_names(const char *addr, ei_x_buff *out)
{
    enum { CAP = 64 * 1024 }; /* epmd itself sends at most about this much */
    char *text = malloc(CAP), err[256];
    int len = text ? cn_epmd_names(addr, cn_node.epmd_port, text, CAP, 5000, err, sizeof err) : -1;
    if (len < 0) {
        free(text);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "error");
        ei_x_encode_atom(out, "address");
        return;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    /* lines from the last complete one back to the first */
    int end = len;
    while (end > 0 && text[end - 1] != '\n')
        end--; /* a last line without its newline is not taken */
    while (end > 0) {
        int stop = end - 1, start = stop; /* text[stop] is the line's newline */
        while (start > 0 && text[start - 1] != '\n')
            start--;
        const char *name;
        size_t nlen;
        long long port;
        if (cn_epmd_parse_names_line(text + start, (size_t)(stop - start), &name, &nlen, &port) ==
            0) {
            ei_x_encode_list_header(out, 1);
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_string_len(out, name, (int)nlen);
            ei_x_encode_longlong(out, port);
        }
        end = start;
    }
    ei_x_encode_empty_list(out);
    free(text);
}

/* Is host this machine's name (full or short)? */
static int is_this_host(const char *host)
{
    char me[256];
    if (gethostname(me, sizeof me) != 0)
        return 0;
    me[sizeof me - 1] = '\0';
    size_t short_len = strcspn(me, ".");
    return !strcmp(host, me) || (strlen(host) == short_len && !strncmp(host, me, short_len));
}

/* The first IPv4 address of host, as erl_epmd looks it up (inet:gethostbyname/3, inet):
 * 0, or -1 (the BEAM answers {error, nxdomain}). getaddrinfo waits as the resolver does. */
static int resolve4(const char *host, char *addr, size_t cap)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (host[0] && (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) && is_this_host(host)) {
        snprintf(addr, cap, "127.0.0.1"); /* as the BEAM's inet_db knows its own host */
        return 0;
    }
    if (!host[0] || !res)
        return -1;
    int r =
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, (socklen_t)cap)
            ? 0
            : -1;
    freeaddrinfo(res);
    return r;
}

/* An IP address tuple ({A,B,C,D} or eight 16-bit parts) as text: 0, or -1. */
static int ip_tuple(const char *buf, int *idx, char *addr, size_t cap)
{
    int n, i = *idx;
    if (ei_decode_tuple_header(buf, &i, &n) < 0 || (n != 4 && n != 8))
        return -1;
    unsigned char a[16];
    for (int k = 0; k < n; k++) {
        long v;
        if (ei_decode_long(buf, &i, &v) < 0 || v < 0 || v > (n == 4 ? 255 : 65535))
            return -1;
        if (n == 4) {
            a[k] = (unsigned char)v;
        } else {
            a[2 * k] = (unsigned char)(v >> 8);
            a[2 * k + 1] = (unsigned char)v;
        }
    }
    if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, a, addr, (socklen_t)cap))
        return -1;
    *idx = i;
    return 0;
}

static int names_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
    epmd_names("127.0.0.1", out); /* the epmd this node registered with */
    return CN_RPC_RETURN;
}

/* names(Host): an atom or a string to look up, or an address tuple; anything else fails
 * as erl_epmd:open/1 does (function_clause). */
static int names_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char addr[INET6_ADDRSTRLEN], host[MAXATOMLEN_UTF8];
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return cn_rpc_error(out, "function_clause");
    if (type == ERL_SMALL_TUPLE_EXT) {
        if (ip_tuple(buf, &i, addr, sizeof addr) < 0)
            return cn_rpc_error(out, "function_clause");
        *idx = i;
        epmd_names(addr, out);
        return CN_RPC_RETURN;
    }
    ei_x_buff h;
    ei_x_new(&h);
    int ok = 1;
    if (cn_is_atom_type(type) && ei_decode_atom(buf, &i, host) == 0)
        ei_x_append_buf(&h, host, (int)strlen(host));
    else
        ok = cn_utf8_arg(buf, &i, &h) == 0;
    if (!ok) {
        ei_x_free(&h);
        return cn_rpc_error(out, "function_clause");
    }
    *idx = i;
    ei_x_append_buf(&h, "", 1);
    if (memchr(h.buff, '\0', (size_t)h.index - 1) || resolve4(h.buff, addr, sizeof addr) < 0) {
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "error");
        ei_x_encode_atom(out, "nxdomain");
    } else {
        epmd_names(addr, out);
    }
    ei_x_free(&h);
    return CN_RPC_RETURN;
}

int cn_bifs_host_start(void)
{
    static const cn_export_row t[] = {
        {"os", "getenv", 0, getenv_0},
        {"os", "getenv", 1, getenv_12},
        {"os", "getenv", 2, getenv_12},
        {"init", "get_arguments", 0, get_arguments_0},
        {"init", "get_argument", 1, get_argument_1},
        {"init", "get_plain_arguments", 0, empty_list_n}, /* cnoded takes none */
        {"net_adm", "names", 0, names_0},
        {"net_adm", "names", 1, names_1},
    };
    return cn_export_rows(t, sizeof t / sizeof t[0]);
}

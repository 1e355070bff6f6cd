/* bifs_app: what people and tools ask every node over rpc about its applications, its OS
 * environment, its command line and its epmd: application:which_applications/0,1,
 * loaded_applications/0, get_application/0,1, get_env/1,2,3, get_all_env/0,1,
 * get_key/1,2, get_all_key/0,1; os:getenv/0,1,2; init:get_arguments/0, get_argument/1,
 * get_plain_arguments/0; net_adm:names/0,1; erlang:self/0, make_ref/0, unique_integer/0,1.
 * Each answers as a BEAM node does, with its errors for bad arguments.
 *
 * Applications: the node runs no OTP applications, but it is one program of its own, so it
 * reports one application, `cnode` (its version is the node's, as system_info(version)
 * gives it), started and loaded, with no environment. Its processes are those whose group
 * leader is on this node; an rpc runs with its caller's group leader, as on the BEAM, so it
 * belongs to no application here. Nothing here runs commands (no os:cmd, no open_port). */
#include "epmd_client/epmd.h"
#include "node.h"
#include "proc/gen.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "services/init_args.h"
#include "services/introspect.h"
#include "services/services.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

#define UNUSED4                                                                                    \
    (void)self;                                                                                    \
    (void)buf;                                                                                     \
    (void)idx;                                                                                     \
    (void)arity

#define APP "cnode"
#define APP_DESCR "cnode  C node in the Erlang distribution"

static int is_atom_type(int type)
{
    return type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
           type == ERL_SMALL_ATOM_UTF8_EXT;
}

static int rpc_error(ei_x_buff *out, const char *reason)
{
    ei_x_encode_atom(out, reason);
    return CN_RPC_ERROR;
}

static void skip_args(const char *buf, int *idx, int n)
{
    for (int i = 0; i < n; i++)
        ei_skip_term(buf, idx);
}

/* Append the UTF-8 form of one character to u8. */
static void put_utf8(ei_x_buff *u8, unsigned long c)
{
    char b[4];
    int n;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xc0 | c >> 6);
        b[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xe0 | c >> 12);
        b[1] = (char)(0x80 | (c >> 6 & 0x3f));
        b[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | c >> 18);
        b[1] = (char)(0x80 | (c >> 12 & 0x3f));
        b[2] = (char)(0x80 | (c >> 6 & 0x3f));
        b[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    ei_x_append_buf(u8, b, n);
}

/* The charlist at buf+*idx as UTF-8 in u8 (not terminated): 0, or -1 (idx unchanged) when
 * it is not a proper list of Unicode characters. */
static int utf8_arg(const char *buf, int *idx, ei_x_buff *u8)
{
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return -1;
    if (type == ERL_NIL_EXT) {
        ei_skip_term(buf, &i);
    } else if (type == ERL_STRING_EXT) {
        char *s = malloc((size_t)size + 1);
        if (!s || ei_decode_string(buf, &i, s) < 0) {
            free(s);
            return -1;
        }
        for (int k = 0; k < size; k++)
            put_utf8(u8, (unsigned char)s[k]);
        free(s);
    } else if (type == ERL_LIST_EXT) {
        int n;
        if (ei_decode_list_header(buf, &i, &n) < 0)
            return -1;
        for (int k = 0; k < n; k++) {
            long c;
            if (ei_decode_long(buf, &i, &c) < 0 || c < 0 || c > 0x10ffff ||
                (c >= 0xd800 && c <= 0xdfff))
                return -1;
            put_utf8(u8, (unsigned long)c);
        }
        if (ei_get_type(buf, &i, &type, &size) < 0 || type != ERL_NIL_EXT)
            return -1;
        ei_skip_term(buf, &i);
    } else {
        return -1;
    }
    *idx = i;
    return 0;
}

/* ---- application --------------------------------------------------------------------- */

static void encode_app_list(ei_x_buff *out)
{
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 3);
    ei_x_encode_atom(out, APP);
    ei_x_encode_string(out, APP_DESCR);
    ei_x_encode_string(out, CN_VERSION);
    ei_x_encode_empty_list(out);
}

static int which_applications_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    UNUSED4;
    encode_app_list(out);
    return CN_RPC_RETURN;
}

/* which_applications(Timeout): infinity or an integer >= 0, as its clauses. Past what a
 * receive can wait (2^32 - 1 ms) the BEAM's gen_server:call exits: so does this. */
static int which_applications_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char a[MAXATOMLEN_UTF8];
    int type, size, i = *idx, ok = 0, too_long = 0;
    long long v;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return rpc_error(out, "function_clause");
    if (is_atom_type(type)) {
        ok = ei_decode_atom(buf, &i, a) == 0 && !strcmp(a, "infinity");
    } else if (type == ERL_SMALL_INTEGER_EXT || type == ERL_INTEGER_EXT) {
        ok = ei_decode_longlong(buf, &i, &v) == 0 && v >= 0;
    } else if (type == ERL_SMALL_BIG_EXT || type == ERL_LARGE_BIG_EXT) {
        /* the sign byte follows the tag and the digit count */
        ok = buf[i + (type == ERL_SMALL_BIG_EXT ? 2 : 5)] == 0 && ei_skip_term(buf, &i) == 0;
        int j = *idx;
        too_long = ok && (ei_decode_longlong(buf, &j, &v) < 0 || v > 0xffffffffLL);
    }
    if (!ok)
        return rpc_error(out, "function_clause");
    if (too_long) {
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "timeout_value");
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 4);
        ei_x_encode_atom(out, "gen");
        ei_x_encode_atom(out, "do_call");
        ei_x_encode_long(out, 4);
        ei_x_encode_empty_list(out);
        ei_x_encode_empty_list(out);
        ei_x_encode_tuple_header(out, 3);
        ei_x_encode_atom(out, "gen_server");
        ei_x_encode_atom(out, "call");
        ei_x_encode_list_header(out, 3);
        ei_x_encode_atom(out, "application_controller");
        ei_x_encode_atom(out, "which_applications");
        ei_x_append_buf(out, buf + *idx, i - *idx);
        ei_x_encode_empty_list(out);
        *idx = i;
        return CN_RPC_EXIT;
    }
    *idx = i;
    encode_app_list(out);
    return CN_RPC_RETURN;
}

/* The application of a process of this node whose group leader is gl. */
static void encode_app_of(ei_x_buff *out, const cn_pid *gl)
{
    if (gl->node != 0) { /* a remote caller's group leader: an rpc, or spawned from there */
        ei_x_encode_atom(out, "undefined");
        return;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    ei_x_encode_atom(out, APP);
}

static int get_application_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    UNUSED4;
    cn_pid gl = cn_group_leader(self);
    encode_app_of(out, &gl);
    return CN_RPC_RETURN;
}

/* The application's modules: cnode and the worker modules (names live as long as the node). */
static int is_app_module(const char *m)
{
    const char *names[512];
    size_t n = cn_worker_list(names, sizeof names / sizeof names[0]);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], m))
            return 1;
    return !strcmp(m, APP);
}

/* get_application(Pid | Module). A pid of another node is badarg (the BEAM asks
 * process_info of it); a pid of no live process is undefined. */
static int get_application_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    int type, size, i = *idx;
    char m[MAXATOMLEN_UTF8];
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return rpc_error(out, "function_clause");
    if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
        cn_pid pid;
        if (cn_decode_pid(buf, &i, &pid) < 0 || pid.node != 0)
            return cn_ix_badarg(out);
        cn_proc *p = pid.creation == cn_ident_creation() ? cn_proc_get(&pid) : NULL;
        if (!p) {
            ei_x_encode_atom(out, "undefined");
        } else {
            cn_pid gl = p->group_leader;
            cn_proc_release(p);
            encode_app_of(out, &gl);
        }
    } else if (is_atom_type(type) && ei_decode_atom(buf, &i, m) == 0) {
        if (is_app_module(m)) {
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, "ok");
            ei_x_encode_atom(out, APP);
        } else {
            ei_x_encode_atom(out, "undefined");
        }
    } else {
        return rpc_error(out, "function_clause");
    }
    *idx = i;
    return CN_RPC_RETURN;
}

/* get_env/1,2 and get_key... of an application that is not there, or a key it has not:
 * undefined, whatever the arguments (the BEAM looks them up in a table, no guard). */
static int undefined_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    skip_args(buf, idx, arity);
    ei_x_encode_atom(out, "undefined");
    return CN_RPC_RETURN;
}

/* get_env(App, Key, Default): the application has no environment, so Default. */
static int get_env_3(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    skip_args(buf, idx, 2);
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return cn_ix_badarg(out);
    ei_x_append_buf(out, buf + start, *idx - start);
    return CN_RPC_RETURN;
}

static int empty_list_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    skip_args(buf, idx, arity);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

static const char *const app_keys[] = {
    "description",
    "id",
    "vsn",
    "modules",
    "maxP",
    "maxT",
    "registered",
    "included_applications",
    "optional_applications",
    "applications",
    "env",
    "mod",
    "start_phases",
};

static void encode_key(ei_x_buff *out, const char *key)
{
    if (!strcmp(key, "description")) {
        ei_x_encode_string(out, APP_DESCR);
    } else if (!strcmp(key, "vsn")) {
        ei_x_encode_string(out, CN_VERSION);
    } else if (!strcmp(key, "modules")) {
        const char *names[512];
        size_t n = cn_worker_list(names, sizeof names / sizeof names[0]);
        ei_x_encode_list_header(out, (long)n + 1);
        ei_x_encode_atom(out, APP);
        for (size_t i = 0; i < n; i++)
            ei_x_encode_atom(out, names[i]);
        ei_x_encode_empty_list(out);
    } else if (!strcmp(key, "maxP") || !strcmp(key, "maxT")) {
        ei_x_encode_atom(out, "infinity");
    } else if (!strcmp(key, "start_phases")) {
        ei_x_encode_atom(out, "undefined");
    } else { /* id, registered, the application lists, env, mod: none */
        ei_x_encode_empty_list(out);
    }
}

/* {ok, Val} for a key of ours, else undefined; idx past the key. */
static void key_answer(const char *buf, int *idx, ei_x_buff *out)
{
    char k[MAXATOMLEN_UTF8];
    int type, size, i = *idx;
    int known = -1;
    if (ei_get_type(buf, &i, &type, &size) == 0 && is_atom_type(type) &&
        ei_decode_atom(buf, &i, k) == 0)
        for (size_t n = 0; n < sizeof app_keys / sizeof app_keys[0]; n++)
            if (!strcmp(k, app_keys[n]))
                known = (int)n;
    ei_skip_term(buf, idx);
    if (known < 0) {
        ei_x_encode_atom(out, "undefined");
        return;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    encode_key(out, app_keys[known]);
}

static int is_app_arg(const char *buf, int *idx)
{
    char a[MAXATOMLEN_UTF8];
    int type, size, i = *idx;
    int yes = ei_get_type(buf, &i, &type, &size) == 0 && is_atom_type(type) &&
              ei_decode_atom(buf, &i, a) == 0 && !strcmp(a, APP);
    ei_skip_term(buf, idx);
    return yes;
}

/* get_key(App, Key). */
static int get_key_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    if (is_app_arg(buf, idx))
        key_answer(buf, idx, out);
    else
        undefined_n(self, buf, idx, 1, out);
    return CN_RPC_RETURN;
}

/* get_key(Key): of the caller's application, none for an rpc from another node. */
static int get_key_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    if (cn_group_leader(self).node == 0)
        key_answer(buf, idx, out);
    else
        undefined_n(self, buf, idx, 1, out);
    return CN_RPC_RETURN;
}

static void all_keys(ei_x_buff *out)
{
    size_t n = sizeof app_keys / sizeof app_keys[0];
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    ei_x_encode_list_header(out, (long)n);
    for (size_t i = 0; i < n; i++) {
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, app_keys[i]);
        encode_key(out, app_keys[i]);
    }
    ei_x_encode_empty_list(out);
}

static int get_all_key_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    if (is_app_arg(buf, idx))
        all_keys(out);
    else
        ei_x_encode_atom(out, "undefined");
    return CN_RPC_RETURN;
}

static int get_all_key_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    UNUSED4;
    if (cn_group_leader(self).node == 0)
        all_keys(out);
    else
        ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* ---- os:getenv ----------------------------------------------------------------------- */

/* The environment's text, as the BEAM reads it: "NAME=VALUE" with each side decoded. */
static int getenv_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    UNUSED4;
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
    if (utf8_arg(buf, idx, &name) == 0 && !memchr(name.buff, '=', (size_t)name.index) &&
        !memchr(name.buff, '\0', (size_t)name.index)) {
        ei_x_append_buf(&name, "", 1);
        *val = name.index > 1 ? getenv(name.buff) : NULL;
        r = 1;
    }
    ei_x_free(&name);
    return r;
}

static int getenv_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    const char *v;
    if (lookup_env(buf, idx, &v) < 0)
        return cn_ix_badarg(out);
    if (v)
        cn_encode_os_text(out, v, strlen(v));
    else
        ei_x_encode_atom(out, "false");
    return CN_RPC_RETURN;
}

static int getenv_2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    const char *v;
    if (lookup_env(buf, idx, &v) < 0)
        return cn_ix_badarg(out);
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return cn_ix_badarg(out);
    if (v)
        cn_encode_os_text(out, v, strlen(v));
    else
        ei_x_append_buf(out, buf + start, *idx - start);
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
    UNUSED4;
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
    int type, size, i = *idx;
    flag_match m = {flag, out, 0};
    if (ei_get_type(buf, &i, &type, &size) == 0 && is_atom_type(type) &&
        ei_decode_atom(buf, &i, flag) == 0)
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
    UNUSED4;
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
        return rpc_error(out, "function_clause");
    if (type == ERL_SMALL_TUPLE_EXT) {
        if (ip_tuple(buf, &i, addr, sizeof addr) < 0)
            return rpc_error(out, "function_clause");
        *idx = i;
        epmd_names(addr, out);
        return CN_RPC_RETURN;
    }
    ei_x_buff h;
    ei_x_new(&h);
    int ok = 1;
    if (is_atom_type(type) && ei_decode_atom(buf, &i, host) == 0)
        ei_x_append_buf(&h, host, (int)strlen(host));
    else
        ok = utf8_arg(buf, &i, &h) == 0;
    if (!ok) {
        ei_x_free(&h);
        return rpc_error(out, "function_clause");
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

/* ---- erlang:self/0, make_ref/0, unique_integer/0,1 ----------------------------------- */

static int self_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    UNUSED4;
    cn_pid me = cn_self(self);
    cn_encode_pid(out, &me);
    return CN_RPC_RETURN;
}

static int make_ref_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    UNUSED4;
    cn_ref r = cn_make_ref();
    cn_encode_ref(out, &r);
    return CN_RPC_RETURN;
}

/* One counter for the node: every value is unique, positive and larger than those handed
 * out before, so it meets what any combination of options asks. */
static atomic_llong unique_counter;

static int unique_integer_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    if (arity == 1) { /* a proper list of positive and monotonic */
        int type, size, n, i = *idx;
        char a[MAXATOMLEN_UTF8];
        if (ei_get_type(buf, &i, &type, &size) < 0 ||
            (type != ERL_NIL_EXT && type != ERL_LIST_EXT) || ei_decode_list_header(buf, &i, &n) < 0)
            return cn_ix_badarg(out);
        for (int k = 0; k < n; k++)
            if (ei_get_type(buf, &i, &type, &size) < 0 || !is_atom_type(type) ||
                ei_decode_atom(buf, &i, a) < 0 || (strcmp(a, "positive") && strcmp(a, "monotonic")))
                return cn_ix_badarg(out);
        if (n > 0 && (ei_get_type(buf, &i, &type, &size) < 0 || type != ERL_NIL_EXT))
            return cn_ix_badarg(out);
        *idx = i;
    }
    ei_x_encode_longlong(out, atomic_fetch_add(&unique_counter, 1) + 1);
    return CN_RPC_RETURN;
}

int cn_bifs_app_start(void)
{
    static const struct {
        const char *m, *f;
        int a;
        cn_rpc_fn fn;
    } t[] = {
        {"application", "which_applications", 0, which_applications_0},
        {"application", "which_applications", 1, which_applications_1},
        {"application", "loaded_applications", 0, which_applications_0},
        {"application", "get_application", 0, get_application_0},
        {"application", "get_application", 1, get_application_1},
        {"application", "get_env", 1, undefined_n},
        {"application", "get_env", 2, undefined_n},
        {"application", "get_env", 3, get_env_3},
        {"application", "get_all_env", 0, empty_list_n},
        {"application", "get_all_env", 1, empty_list_n},
        {"application", "get_key", 1, get_key_1},
        {"application", "get_key", 2, get_key_2},
        {"application", "get_all_key", 0, get_all_key_0},
        {"application", "get_all_key", 1, get_all_key_1},
        {"os", "getenv", 0, getenv_0},
        {"os", "getenv", 1, getenv_1},
        {"os", "getenv", 2, getenv_2},
        {"init", "get_arguments", 0, get_arguments_0},
        {"init", "get_argument", 1, get_argument_1},
        {"init", "get_plain_arguments", 0, empty_list_n}, /* cnoded takes none */
        {"net_adm", "names", 0, names_0},
        {"net_adm", "names", 1, names_1},
        {"erlang", "self", 0, self_0},
        {"erlang", "make_ref", 0, make_ref_0},
        {"erlang", "unique_integer", 0, unique_integer_n},
        {"erlang", "unique_integer", 1, unique_integer_n},
    };
    int r = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        r |= cn_export(t[i].m, t[i].f, t[i].a, t[i].fn);
    return r < 0 ? -1 : 0;
}

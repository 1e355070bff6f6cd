/* bifs_app: the node's applications over rpc, as tools ask every node for them:
 * application:which_applications/0,1, loaded_applications/0, get_application/0,1,
 * get_env/1,2,3, get_all_env/0,1, get_key/1,2, get_all_key/0,1, with a BEAM node's answers
 * and errors for bad arguments.
 *
 * The node runs no OTP applications, but it is one program of its own, so it reports one
 * application, `cnode` (its version is the node's, as system_info(version) gives it),
 * started and loaded, with no environment. Its processes are those whose group leader is on
 * this node; an rpc runs with its caller's group leader, as on the BEAM, so it belongs to no
 * application here. */
#include "node.h"
#include "proc/gen.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "services/app_info.h"
#include "services/bif_args.h"
#include "services/exports.h"
#include "services/introspect.h"
#include "services/services.h"

#include <stdlib.h>
#include <string.h>

#define APP CN_APP_NAME
#define APP_DESCR CN_APP_DESCR

/* ---- application --------------------------------------------------------------------- */

static void encode_app_list(ei_x_buff *out)
{
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 3);
    ei_x_encode_atom(out, APP);
    ei_x_encode_string(out, APP_DESCR);
    ei_x_encode_string(out, CN_APP_VSN);
    ei_x_encode_empty_list(out);
}

static int which_applications_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    CN_RPC_UNUSED;
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
        return cn_rpc_error(out, "function_clause");
    if (cn_is_atom_type(type)) {
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
        return cn_rpc_error(out, "function_clause");
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
    CN_RPC_UNUSED;
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
        return cn_rpc_error(out, "function_clause");
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
    } else if (cn_is_atom_type(type) && ei_decode_atom(buf, &i, m) == 0) {
        if (is_app_module(m)) {
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, "ok");
            ei_x_encode_atom(out, APP);
        } else {
            ei_x_encode_atom(out, "undefined");
        }
    } else {
        return cn_rpc_error(out, "function_clause");
    }
    *idx = i;
    return CN_RPC_RETURN;
}

/* get_env/1,2 and get_key... of an application that is not there, or a key it has not:
 * undefined, whatever the arguments (the BEAM looks them up in a table, no guard). */
static int undefined_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    cn_skip_args(buf, idx, arity);
    ei_x_encode_atom(out, "undefined");
    return CN_RPC_RETURN;
}

/* get_env(App, Key, Default): the application has no environment, so Default. */
static int get_env_3(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    cn_skip_args(buf, idx, 2);
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return cn_ix_badarg(out);
    ei_x_append_buf(out, buf + start, *idx - start);
    return CN_RPC_RETURN;
}

static int empty_list_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    cn_skip_args(buf, idx, arity);
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
        ei_x_encode_string(out, CN_APP_VSN);
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
    int i = *idx;
    int known = -1;
    if (cn_atom_arg(buf, &i, k) == 0)
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
    int i = *idx;
    int yes = cn_atom_arg(buf, &i, a) == 0 && !strcmp(a, APP);
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
    CN_RPC_UNUSED;
    if (cn_group_leader(self).node == 0)
        all_keys(out);
    else
        ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

int cn_bifs_app_start(void)
{
    static const cn_export_row t[] = {
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
    };
    return cn_export_rows(t, sizeof t / sizeof t[0]);
}

/* module_info: Module:module_info/0,1 over rpc for the modules this node has (worker modules
 * and the modules of rpc functions, built in or loaded), as every BEAM module answers it.
 * Tools ask it: observer's process window reads a worker's behaviour from its attributes.
 * There is no BEAM code behind them: compile is [], and md5 is not answered (badarg). */
#include "services/exports.h"

#include "code/table.h"

#include <stdio.h>
#include <string.h>

int cn_module_known(const char *module)
{
    return cn_worker_lookup(module) != NULL || cn_export_module_fns(module, NULL) > 0;
}

typedef struct vsn_of {
    const char *module;
    char vsn[64];
    int found;
} vsn_of;

static void match_vsn(const char *module, const char *file, const char *vsn, int has_old, int users,
                      void *arg)
{
    (void)file, (void)has_old, (void)users;
    vsn_of *v = arg;
    if (!strcmp(module, v->module)) {
        snprintf(v->vsn, sizeof v->vsn, "%s", vsn ? vsn : "");
        v->found = 1;
    }
}

static void exports(const char *module, ei_x_buff *out)
{
    cn_export_module_fns(module, out);
    for (int a = 0; a <= 1; a++) { /* every module has these two */
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "module_info");
        ei_x_encode_long(out, a);
    }
    ei_x_encode_empty_list(out);
}

/* [{vsn, [Vsn]}] for loaded code (its descriptor's vsn), [{behaviour, [gen_server]}] for a
 * worker module: a C worker answers the gen_server and sys protocols. */
static void attributes(const char *module, ei_x_buff *out)
{
    vsn_of v = {.module = module};
    cn_code_foreach(match_vsn, &v);
    if (v.found) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "vsn");
        ei_x_encode_list_header(out, 1);
        ei_x_encode_string(out, v.vsn);
        ei_x_encode_empty_list(out);
    }
    if (cn_worker_lookup(module)) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, "behaviour");
        ei_x_encode_list_header(out, 1);
        ei_x_encode_atom(out, "gen_server");
        ei_x_encode_empty_list(out);
    }
    ei_x_encode_empty_list(out);
}

/* One item; -1 for a key we do not answer. */
static int item(const char *module, const char *key, ei_x_buff *out)
{
    if (!strcmp(key, "module"))
        ei_x_encode_atom(out, module);
    else if (!strcmp(key, "exports") || !strcmp(key, "functions"))
        exports(module, out);
    else if (!strcmp(key, "attributes"))
        attributes(module, out);
    else if (!strcmp(key, "compile") || !strcmp(key, "nifs"))
        ei_x_encode_empty_list(out);
    else if (!strcmp(key, "native"))
        ei_x_encode_atom(out, "false");
    else
        return -1;
    return 0;
}

int cn_module_info(const char *module, const char *args, int arity, ei_x_buff *out)
{
    static const char *const all[] = {"module", "exports", "attributes", "compile"};
    char key[MAXATOMLEN_UTF8];
    int idx = 0;
    if (arity == 0) {
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
            ei_x_encode_list_header(out, 1);
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, all[k]);
            item(module, all[k], out);
        }
        ei_x_encode_empty_list(out);
        return CN_RPC_RETURN;
    }
    int at = out->index;
    if (ei_decode_atom(args, &idx, key) < 0 || item(module, key, out) < 0) {
        out->index = at;
        ei_x_encode_atom(out, "badarg");
        return CN_RPC_ERROR;
    }
    return CN_RPC_RETURN;
}

/* unresolved: a module for code_test that cnoded cannot map: it calls a function nothing
 * defines, so dlopen (RTLD_NOW) refuses it with the loader's message. */
#include "cnode.h"

int cn_no_such_function(void);

static int call_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    ei_x_encode_long(out, cn_no_such_function());
    return CN_RPC_RETURN;
}

static const cn_export_def exports[] = {{"call", 0, call_0}};
static const cn_module_def module = {CN_ABI_VERSION, "unresolved", "1", NULL, exports, 1};

CN_MODULE_DEFINE(module)

/* code_rpc: what a C node answers over rpc for `code` (load_binary, purge, soft_purge, delete,
 * which, is_loaded, ensure_loaded, all_loaded), plus cnode:load/1, modules/0, upgrade/1,2. */
#ifndef CN_CODE_RPC_H
#define CN_CODE_RPC_H

#include "cnode.h"

/* Export them (called with the other built-in functions). Returns 0 or -1. */
int cn_code_rpc_start(void);

#endif

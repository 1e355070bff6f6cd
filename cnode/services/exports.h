/* exports: the table of C functions exported as Module:Function/Arity, which erpc/rpc
 * calls run, and the listing :cnode.exports/0 gives. */
#ifndef CN_EXPORTS_H
#define CN_EXPORTS_H

#include "cnode.h"

/* The function for module:function/arity (or exported for any arity), or NULL. */
cn_rpc_fn cn_export_lookup(const char *module, const char *function, int arity);
/* Append [{Module, Function, Arity}] of everything exported (arity -1 shows as '_'). */
void cn_export_list(ei_x_buff *x);

#endif

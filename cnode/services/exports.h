/* exports: the table of C functions exported as Module:Function/Arity, which erpc/rpc
 * calls run, and the listing :cnode.exports/0 gives. */
#ifndef CN_EXPORTS_H
#define CN_EXPORTS_H

#include "cnode.h"

/* The function for module:function/arity (or exported for any arity), or NULL. */
cn_rpc_fn cn_export_lookup(const char *module, const char *function, int arity);
/* The same, holding the version of loaded code it belongs to (*ver; NULL for built-in
 * functions) until cn_code_release(*ver), so the code stays mapped while the call runs. */
typedef struct cn_code_ver cn_code_ver;
cn_rpc_fn cn_export_acquire(const char *module, const char *function, int arity, cn_code_ver **ver);
/* Replace the functions of loaded module `module` with defs (n 0: remove them), all at once
 * for callers. Built-in functions are not touched. Returns 0, or -1 (no memory; unchanged). */
int cn_exports_set_module(const char *module, const cn_export_def *defs, int n, cn_code_ver *ver);
/* Does a built-in (not loaded) function live in module? */
int cn_exports_builtin_module(const char *module);
/* The distinct modules of built-in functions, at most cap; returns how many. */
size_t cn_exports_builtin_modules(const char **out, size_t cap);
/* How many functions module exports; with x, append each of fixed arity as a list element
 * {Function, Arity} (the caller closes the list). */
size_t cn_export_module_fns(const char *module, ei_x_buff *x);
/* module_info.c: is module one of ours (a worker module, or one with rpc functions)? And
 * its Module:module_info/0,1 (args: the arguments, arity 0 or 1) into out: the class. */
int cn_module_known(const char *module);
int cn_module_info(const char *module, const char *args, int arity, ei_x_buff *out);
/* A table of built-in functions to export at start: cn_export for each row; 0, or -1 if any
 * failed. */
typedef struct cn_export_row {
    const char *module, *function;
    int arity;
    cn_rpc_fn fn;
} cn_export_row;
int cn_export_rows(const cn_export_row *rows, size_t n);
/* Append [{Module, Function, Arity}] of everything exported (arity -1 shows as '_'). */
void cn_export_list(ei_x_buff *x);

#endif

/* bif_args: reading the arguments of the functions the node runs over rpc (bifs*.c, pg_rpc.c),
 * and their error answers, in one place. */
#ifndef CN_BIF_ARGS_H
#define CN_BIF_ARGS_H

#include <ei.h>

/* For rpc functions that read none of their arguments. */
#define CN_RPC_UNUSED                                                                              \
    (void)self;                                                                                    \
    (void)buf;                                                                                     \
    (void)idx;                                                                                     \
    (void)arity

/* An atom's external tag, in any of its four forms. */
int cn_is_atom_type(int type);

/* The argument at buf+*idx is an atom: decode it into a (0), else -1 (idx unchanged). */
int cn_atom_arg(const char *buf, int *idx, char *a);

/* Answer the rpc with error:Reason (an atom such as function_clause); returns CN_RPC_ERROR. */
int cn_rpc_error(ei_x_buff *out, const char *reason);

/* Step over n arguments. */
void cn_skip_args(const char *buf, int *idx, int n);

/* The charlist at buf+*idx, appended to u8 as UTF-8 (not terminated): 0, or -1 (idx
 * unchanged) when it is not a proper list of Unicode characters. */
int cn_utf8_arg(const char *buf, int *idx, ei_x_buff *u8);

#endif

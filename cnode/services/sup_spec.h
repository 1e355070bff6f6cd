/* sup_spec: cnode_sup's child specs, parsed from what start_child is given (tuple or map form,
 * OTP's defaults) into what starting, restarting and reporting a child needs. No process state. */
#ifndef CN_SUP_SPEC_H
#define CN_SUP_SPEC_H

#include "cnode.h"

enum { R_PERMANENT, R_TRANSIENT, R_TEMPORARY };
#define SHUTDOWN_BRUTAL (-1L)   /* brutal_kill */
#define SHUTDOWN_INFINITY (-2L) /* infinity */
#define DEFAULT_SHUTDOWN 5000L

/* How to start a child: its module, argument list and what which_children reports. */
typedef struct sup_spec {
    const cn_worker *w;
    char *args; /* the argument list, a proper list, encoded without version byte */
    int args_len;
    char *modules; /* [Module, ...] or dynamic, encoded */
    int modules_len;
    int restart;
    long shutdown;  /* ms, or SHUTDOWN_BRUTAL / SHUTDOWN_INFINITY */
    int supervisor; /* type: 1 supervisor, 0 worker */
} sup_spec;

/* Parse the child spec at *idx (see sup_spec.c for the forms) and find its worker module.
 * Returns 0 (sp filled, owned by the caller, *idx past the spec) or -1 with the reason
 * appended to err: {invalid_child_spec | invalid_mfa | invalid_restart_type | invalid_shutdown
 * | invalid_child_type | invalid_modules, Term}, enomem, or {undef, [{M, F, Args, []}]}. */
int sup_spec_parse(const char *buf, int *idx, sup_spec *sp, ei_x_buff *err);
void sup_spec_free(sup_spec *sp);

/* Small term helpers, shared with supervisor.c. */
/* The atom at *idx into a (MAXATOMLEN_UTF8 bytes); advances past it only on success. */
int sup_get_atom(const char *buf, int *idx, char *a);
/* The span of the term at *idx; advances past it. */
int sup_span(const char *buf, int *idx, int *start, int *len);
/* A malloc'd copy of n bytes (a valid pointer also for n == 0); NULL when out of memory. */
char *sup_dup_bytes(const char *p, int n);
/* {Tag, Reason} where Reason is the term at buf[start, start+len). */
void sup_encode_tagged(ei_x_buff *x, const char *tag, const char *buf, int start, int len);

#endif

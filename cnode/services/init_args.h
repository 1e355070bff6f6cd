/* init_args: the command line as init:get_arguments/0 reports it over rpc, and the way the
 * node writes OS text (argv, the environment) as Erlang charlists. */
#ifndef CN_INIT_ARGS_H
#define CN_INIT_ARGS_H

#include <ei.h>
#include <stddef.h>

#define CN_ERL_ARG_VALUES 4

/* One argument as erl's init holds it: -Flag Values... */
typedef struct cn_erl_arg {
    const char *flag; /* without the dash */
    int n;            /* how many values */
    const char *v[CN_ERL_ARG_VALUES];
    char flag_buf[64], num[32]; /* a flag or a value made here */
} cn_erl_arg;

/* erl's form of the program's option name (without its dashes) with value (NULL: a flag):
 * 1 and *out (pointing into name, value and *out), or 0 when it is not reported (the
 * cookie; a name longer than a flag may be). */
int cn_erl_arg_of(const char *name, const char *value, cn_erl_arg *out);

/* Call fn for every argument, in order: progname, home (when HOME is set), then each noted
 * option (cn_note_argument) that is reported. */
void cn_init_args_each(void (*fn)(const cn_erl_arg *a, void *arg), void *arg);

/* Append s (len bytes) as a charlist, as the BEAM reads OS text: the characters of s when it
 * is well-formed UTF-8, else its bytes one by one. */
void cn_encode_os_text(ei_x_buff *x, const char *s, size_t len);
/* The same without the list around it: append the characters to cp (cap entries, which
 * must be at least len); returns how many. */
size_t cn_os_text_chars(const char *s, size_t len, unsigned *cp, size_t cap);
/* Append cp[0..n) as a charlist (STRING_EXT when every char fits a byte). */
void cn_encode_chars(ei_x_buff *x, const unsigned *cp, size_t n);

#endif

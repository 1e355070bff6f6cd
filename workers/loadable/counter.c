/* counter: the example of a hot-loadable native module (README "Hot code loading"). Built
 * twice from this file: -DVERSION=1 and -DVERSION=2, with different state shapes, so that
 * loading version 2 over version 1 shows code_change carrying a running worker's state over.
 * Not linked into cnoded: build it with `make module SRC=workers/loadable/counter.c ...`.
 *
 *   worker `counter` (Node.spawn(c, :counter, :start, [initial]) or under cnode_sup):
 *     call :get        -> the count
 *     call {:add, n}   -> v1: the new count;  v2: {:ok, new count} (and it counts the adds)
 *     call :vsn        -> 1 or 2
 *   rpc counter:vsn/0 -> 1 or 2;  counter:slow/1 (ms) -> sleeps, then returns its vsn */
#include "cnode.h"

#include <stdlib.h>
#include <string.h>

#ifndef VERSION
#define VERSION 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

/* Version 1's state. Version 2 must know it to convert it in code_change. */
typedef struct counter_v1 {
    long count;
} counter_v1;

#if VERSION >= 2
typedef struct counter_v2 {
    long count;
    long adds;      /* new in version 2 */
    char *upgraded; /* the old vsn term code_change got (encoded), or NULL */
    int upgraded_len;
} counter;
#else
typedef counter_v1 counter;
#endif

static int counter_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    int type, n;
    long initial = 0;
    char s[2];
    /* [] or [Initial]; a list of small integers arrives as a string ([5] is "\x05") */
    if (ei_get_type(buf, idx, &type, &n) < 0)
        return -1;
    if (type == ERL_STRING_EXT) {
        if (n != 1 || ei_decode_string(buf, idx, s) < 0)
            return -1;
        initial = (unsigned char)s[0];
    } else if (ei_decode_list_header(buf, idx, &n) < 0 || n > 1 ||
               (n == 1 && ei_decode_long(buf, idx, &initial) < 0)) {
        return -1;
    }
    counter *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->count = initial;
    *state = c;
    return 0;
}

static int is_atom(const char *buf, int *idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    int i = *idx;
    return ei_decode_atom(buf, &i, a) == 0 && strcmp(a, want) == 0 ? (*idx = i, 1) : 0;
}

static int counter_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                        ei_x_buff *reply)
{
    (void)self;
    (void)from;
    counter *c = state;
    int arity, i = *idx;
    long n;
    if (is_atom(buf, idx, "get")) {
        ei_x_encode_long(reply, c->count);
    } else if (is_atom(buf, idx, "vsn")) {
        ei_x_encode_long(reply, VERSION);
    } else if (ei_decode_tuple_header(buf, &i, &arity) == 0 && arity == 2 &&
               is_atom(buf, &i, "add") && ei_decode_long(buf, &i, &n) == 0) {
        *idx = i;
        c->count += n;
#if VERSION >= 2
        c->adds++;
        ei_x_encode_tuple_header(reply, 2);
        ei_x_encode_atom(reply, "ok");
#endif
        ei_x_encode_long(reply, c->count);
    } else {
        ei_x_encode_tuple_header(reply, 2);
        ei_x_encode_atom(reply, "error");
        ei_x_encode_atom(reply, "unknown_call");
    }
    return CN_REPLY;
}

static void counter_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
#if VERSION >= 2
    free(((counter *)state)->upgraded);
#endif
    free(state);
}

/* v1: %{count: n}; v2: %{count: n, adds: k, upgraded_from: old vsn | nil} */
static int counter_export(void *state, ei_x_buff *out)
{
    counter *c = state;
#if VERSION >= 2
    ei_x_encode_map_header(out, 3);
    ei_x_encode_atom(out, "adds");
    ei_x_encode_long(out, c->adds);
    ei_x_encode_atom(out, "upgraded_from");
    if (c->upgraded)
        ei_x_append_buf(out, c->upgraded, c->upgraded_len);
    else
        ei_x_encode_atom(out, "nil");
#else
    ei_x_encode_map_header(out, 1);
#endif
    ei_x_encode_atom(out, "count");
    ei_x_encode_long(out, c->count);
    return 0;
}

#if VERSION >= 2
/* From version 1: the old state is a counter_v1; build the v2 state and free the old one
 * (on failure the old state must be left as it was). */
static int counter_code_change(cn_proc *self, void **state, const char *old_vsn, int old_len,
                               const char *extra, int extra_len)
{
    (void)self;
    (void)extra;
    (void)extra_len;
    counter_v1 *old = *state;
    counter *c = calloc(1, sizeof *c);
    char *vsn = malloc(old_len > 0 ? (size_t)old_len : 1);
    if (!c || !vsn) {
        free(c);
        free(vsn);
        return -1;
    }
    memcpy(vsn, old_vsn, (size_t)old_len);
    c->count = old->count;
    c->upgraded = vsn;
    c->upgraded_len = old_len;
    free(old);
    *state = c;
    return 0;
}
#endif

static const cn_worker worker = {
    .module = "counter",
    .init = counter_init,
    .handle_call = counter_call,
    .terminate = counter_terminate,
    .export_state = counter_export,
#if VERSION >= 2
    .code_change = counter_code_change,
#endif
};

static int vsn_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    ei_x_encode_long(out, VERSION);
    return CN_RPC_RETURN;
}

/* Sleeps in the module's own code, so a load or purge meanwhile finds the call inside it. */
static int slow_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    long ms;
    if (ei_decode_long(buf, idx, &ms) < 0 || ms < 0 || ms > 60000) {
        ei_x_encode_atom(out, "badarg");
        return CN_RPC_ERROR;
    }
    cn_sleep(self, (int)ms);
    ei_x_encode_long(out, VERSION);
    return CN_RPC_RETURN;
}

static const cn_export_def exports[] = {
    {"vsn", 0, vsn_0},
    {"slow", 1, slow_1},
};

static const cn_module_def module = {
    .abi_version = CN_ABI_VERSION,
    .name = "counter",
    .vsn = STR(VERSION),
    .worker = &worker,
    .exports = exports,
    .nexports = sizeof exports / sizeof exports[0],
};

CN_MODULE_DEFINE(module)

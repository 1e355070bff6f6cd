/* counter: the example of a hot-loadable native module (README "Hot code loading"). Built
 * twice from this file: -DVERSION=1 and -DVERSION=2, with different state shapes, so that
 * loading one over the other shows code_change carrying a running worker's state over.
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

/* Both versions know both state shapes, so a worker moves either way: up from 1 and back
 * down from 2 (a rollback loads version 1 again). */
typedef struct counter_v1 {
    long count;
} counter_v1;

typedef struct counter_v2 {
    long count;
    long adds;      /* new in version 2 */
    char *upgraded; /* the old vsn term code_change got (encoded), or NULL */
    int upgraded_len;
} counter_v2;

#if VERSION >= 2
typedef counter_v2 counter;
#else
typedef counter_v1 counter;
#endif

static void free_state(void *state, int shape)
{
    if (state && shape == 2)
        free(((counter_v2 *)state)->upgraded);
    free(state);
}

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
    free_state(state, VERSION);
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

/* Which shape a worker of the old version has: its vsn, as a load or :cnode.upgrade gives it
 * (a charlist, "1" or "2": 4 bytes) or as sys:change_code was given it. 0: a version we do not
 * know. */
static int old_shape(const char *vsn, int len)
{
    char s[2];
    int idx = 0, type, n;
    if (len != 4 || ei_get_type(vsn, &idx, &type, &n) < 0 || type != ERL_STRING_EXT || n != 1 ||
        ei_decode_string(vsn, &idx, s) < 0)
        return 0;
    return s[0] == '1' ? 1 : s[0] == '2' ? 2 : 0;
}

/* Build this version's state from the old one and free that (on failure the old state must
 * be left as it was). The same shape (a reload of the same version) is kept as it is. */
static int counter_code_change(cn_proc *self, void **state, const char *old_vsn, int old_len,
                               const char *extra, int extra_len)
{
    (void)self;
    (void)extra;
    (void)extra_len;
    int from = old_shape(old_vsn, old_len);
    if (from == VERSION)
        return 0;
    counter *c = from ? calloc(1, sizeof *c) : NULL;
    if (!c)
        return -1; /* unknown: the worker stays on its code */
#if VERSION >= 2
    if (!(c->upgraded = malloc(old_len > 0 ? (size_t)old_len : 1))) {
        free(c);
        return -1;
    }
    memcpy(c->upgraded, old_vsn, (size_t)old_len);
    c->upgraded_len = old_len;
    c->count = ((counter_v1 *)*state)->count;
#else
    c->count = ((counter_v2 *)*state)->count;
#endif
    free_state(*state, from);
    *state = c;
    return 0;
}

static const cn_worker worker = {
    .module = "counter",
    .init = counter_init,
    .handle_call = counter_call,
    .terminate = counter_terminate,
    .export_state = counter_export,
    .code_change = counter_code_change,
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

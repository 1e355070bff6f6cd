/* echo: replies to every call with the request itself, counts casts, and answers the call
 * `:count` with the number of casts seen; `{:sleep, ms}` keeps it busy, then replies :ok.
 * Registered as `echo` for health checks. */
#include "workers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct echo {
    long long casts;
} echo;

static int echo_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    (void)buf;
    (void)idx;
    *state = calloc(1, sizeof(echo));
    return *state ? 0 : -1;
}

static int echo_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                     ei_x_buff *reply)
{
    (void)self;
    (void)from;
    echo *e = state;
    char atom[MAXATOMLEN_UTF8];
    int probe = *idx;
    if (ei_decode_atom(buf, &probe, atom) == 0 && strcmp(atom, "count") == 0) {
        ei_x_encode_longlong(reply, e->casts);
        return CN_REPLY;
    }
    long ms;
    int arity;
    probe = *idx;
    if (ei_decode_tuple_header(buf, &probe, &arity) == 0 && arity == 2 &&
        ei_decode_atom(buf, &probe, atom) == 0 && strcmp(atom, "sleep") == 0 &&
        ei_decode_long(buf, &probe, &ms) == 0 && ms >= 0 && ms <= 600000) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* a busy worker: it holds one scheduler, nothing else */
        *idx = probe;
        ei_x_encode_atom(reply, "ok");
        return CN_REPLY;
    }
    if (ei_skip_term(buf, idx) < 0)
        return CN_NOREPLY;
    return CN_REPLY_INPUT; /* the request's own bytes, not copied */
}

static int echo_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)self;
    (void)buf;
    (void)idx;
    ((echo *)state)->casts++;
    return CN_NOREPLY;
}

static void echo_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    free(state);
}

static int echo_export(void *state, ei_x_buff *out)
{
    ei_x_encode_map_header(out, 1);
    ei_x_encode_atom(out, "casts");
    ei_x_encode_longlong(out, ((echo *)state)->casts);
    return 0;
}

const cn_worker cn_echo_worker = {
    .module = "echo",
    .init = echo_init,
    .handle_call = echo_call,
    .handle_cast = echo_cast,
    .terminate = echo_terminate,
    .export_state = echo_export,
};

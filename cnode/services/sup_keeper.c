/* sup_keeper: the keeper, an unregistered process that starts cnode_sup and a fresh one
 * whenever it exits, and cn_supervisor_start, which starts the keeper. */
#include "services/services.h"

#include "cnode.h"
#include "loop.h"
#include "services/restart.h"
#include "services/sup_int.h"
#include "services/sup_spec.h"
#include "services/timer.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* ---- the keeper --------------------------------------------------------------------- */

/* An unregistered process that monitors cnode_sup and starts a fresh one when it exits, so
 * that the name always comes back. If cnode_sup itself keeps dying (more than 3 times in
 * 5 s), the keeper waits a second between starts instead of spinning. */
typedef struct keeper {
    cn_pid sup;
    cn_ref ref;
    int running;
    cn_restarts starts;
} keeper;

static int keeper_start_sup(cn_proc *self, keeper *k)
{
    cn_spawn_opts o = {.name = SUP_NAME};
    cn_pid pid;
    if (cn_spawn_ex(&sup_top_worker, NULL, 0, &o, &pid) < 0)
        return -1;
    if (cn_monitor(self, &pid, &k->ref) < 0)
        return -1;
    k->sup = pid;
    k->running = 1;
    return 0;
}

static void keeper_retry(cn_proc *self, long ms)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, TAG);
    ei_x_encode_atom(&x, "start");
    cn_pid me = cn_self(self);
    if (cn_send_after(&me, (unsigned)ms, x.buff, x.index) < 0)
        cn_error("cnode_sup keeper: cannot set a timer; cnode_sup stays down");
    ei_x_free(&x);
}

static void keeper_restart(cn_proc *self, keeper *k)
{
    char p[48];
    if (cn_loop_stopping())
        return;
    if (cn_restarts_add(&k->starts, cn_now_ms()) != 1) {
        cn_error("cnode_sup keeper: cnode_sup exits too often; next start in 1 s");
        keeper_retry(self, 1000);
        return;
    }
    if (keeper_start_sup(self, k) < 0) {
        cn_error("cnode_sup keeper: cannot start cnode_sup; trying again in 1 s");
        keeper_retry(self, 1000);
        return;
    }
    cn_error("cnode_sup keeper: *** started a fresh cnode_sup %s (the children of the old "
             "one are gone; --child children started again)",
             sup_pid_str(&k->sup, p, sizeof p));
}

static int keeper_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)buf;
    (void)idx;
    keeper *k = calloc(1, sizeof *k);
    if (!k)
        return -1;
    if (cn_restarts_init(&k->starts, 3, 5000) < 0 || keeper_start_sup(self, k) < 0) {
        cn_error("cannot start cnode_sup");
        cn_restarts_free(&k->starts);
        free(k);
        return -1;
    }
    *state = k;
    return 0;
}

static int keeper_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    keeper *k = state;
    char a[MAXATOMLEN_UTF8], p[48];
    int arity, i = *idx;
    if (ei_decode_tuple_header(buf, &i, &arity) < 0 || sup_get_atom(buf, &i, a) < 0)
        return CN_NOREPLY;
    if (arity == 5 && !strcmp(a, "DOWN")) {
        cn_ref ref;
        int r0, rlen;
        if (cn_decode_ref(buf, &i, &ref) < 0 || !k->running || !cn_ref_eq(&ref, &k->ref) ||
            ei_skip_term(buf, &i) < 0 || ei_skip_term(buf, &i) < 0 ||
            sup_span(buf, &i, &r0, &rlen) < 0)
            return CN_NOREPLY;
        k->running = 0;
        if (cn_loop_stopping())
            return CN_NOREPLY;
        char *why = sup_fmt_term(buf + r0, rlen);
        cn_error("cnode_sup keeper: *** cnode_sup %s exited (%s)",
                 sup_pid_str(&k->sup, p, sizeof p), why ? why : "?");
        free(why);
        keeper_restart(self, k);
    } else if (arity == 2 && !strcmp(a, TAG) && sup_get_atom(buf, &i, a) == 0 &&
               !strcmp(a, "start") && !k->running) {
        keeper_restart(self, k);
    }
    return CN_NOREPLY;
}

static void keeper_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    keeper *k = state;
    cn_restarts_free(&k->starts);
    free(k);
}

static const cn_worker keeper_worker = {
    .module = "cnode_sup_keeper",
    .init = keeper_init,
    .handle_info = keeper_info,
    .terminate = keeper_terminate,
};

int cn_supervisor_start(void)
{
    if (cn_worker_register(&sup_nested_worker) < 0)
        cn_warn("a worker module named cnode_sup exists already; nested cnode_sup unavailable");
    return cn_spawn_worker(&keeper_worker, NULL, 0, NULL, NULL);
}

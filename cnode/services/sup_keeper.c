/* sup_keeper: cn_supervisor_start, which starts cnode_sup and has the keeper (keeper.c) start
 * a fresh one whenever it exits, so that the name always comes back. */
#include "services/services.h"

#include "cnode.h"
#include "services/keeper.h"
#include "services/sup_int.h"
#include "util/log.h"

/* cnode_sup is never given up on: if it keeps dying (more than 3 times in 5 s), the keeper
 * waits a second between starts instead of spinning. */
static const cn_keep_policy sup_policy = {
    .max = 3,
    .period_ms = 5000,
    .retry_ms = 1000,
    .note = "(the children of the old one are gone; --child children started again)",
};

static int start_sup(const char *name, void *arg)
{
    (void)arg;
    cn_spawn_opts o = {.name = name};
    return cn_spawn_ex(&sup_top_worker, NULL, 0, &o, NULL);
}

int cn_supervisor_start(void)
{
    if (cn_worker_register(&sup_nested_worker) < 0)
        cn_warn("a worker module named cnode_sup exists already; nested cnode_sup unavailable");
    if (start_sup(SUP_NAME, NULL) < 0) {
        cn_error("cannot start cnode_sup");
        return -1;
    }
    return cn_keep(SUP_NAME, start_sup, NULL, &sup_policy);
}

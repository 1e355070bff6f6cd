/* keeper: restarts the node's named system processes when they exit (see keeper.h).
 *
 * On a BEAM node these live under kernel_sup and net_sup (one_for_all, intensity 0: the death
 * of rex, global_name_server or net_kernel stops the whole node) and kernel_safe_sup (pg:
 * one_for_one, 4 restarts in 3600 s). A daemon that others health-check should not stop
 * because one of its servers was killed, so every kept name comes back on its own, under
 * kernel_safe_sup's intensity, counted per name. */
#include "services/keeper.h"

#include "loop.h"
#include "services/timer.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KTAG "$cnode_keeper" /* our own messages: {KTAG, watch | retry, Index} */
#define MAX_KEPT 320         /* 256 --pg-scope flags, pg and the other services */

const cn_keep_policy cn_keep_default = {.max = 4, .period_ms = 3600 * 1000, .retry_ms = 0};

typedef struct kept {
    char name[MAXATOMLEN_UTF8];
    cn_keep_start_fn start;
    void *arg;
    const cn_keep_policy *pol;
    /* keeper process only, from here on */
    cn_restarts starts;
    int inited;
    int watching; /* a monitor is armed (ref, pid) */
    int gave_up;
    int retry_armed;
    cn_pid pid;
    cn_ref ref;
} kept;

static pthread_mutex_t kmx = PTHREAD_MUTEX_INITIALIZER;
static kept table[MAX_KEPT];
static int nkept;
static cn_pid keeper_pid;
static int keeper_up;

int cn_keep_decide(cn_restarts *r, const cn_keep_policy *p, uint64_t now_ms)
{
    /* only starts count: a refusal does not push the window on */
    if (cn_restarts_count(r, now_ms) < r->max && cn_restarts_add(r, now_ms) == 1)
        return CN_KEEP_START;
    return p->retry_ms ? CN_KEEP_RETRY : CN_KEEP_GIVE_UP;
}

static const char *pid_str(const cn_pid *p, char *buf, size_t n)
{
    snprintf(buf, n, "<0.%u.%u>", p->id, p->serial);
    return buf;
}

static int send_op(cn_proc *self, const char *op, int i, unsigned ms)
{
    ei_x_buff x;
    if (ei_x_new(&x) < 0)
        return -1;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, KTAG);
    ei_x_encode_atom(&x, op);
    ei_x_encode_long(&x, i);
    int r = ms ? cn_send_after(&keeper_pid, ms, x.buff, x.index)
               : cn_send(self, &keeper_pid, x.buff, x.index);
    ei_x_free(&x);
    return r;
}

/* Monitor whatever is registered under the name now; 0, or -1 when nothing is. */
static int watch(cn_proc *self, kept *k)
{
    cn_pid p;
    if (cn_whereis_name(k->name, &p) < 0 || cn_monitor(self, &p, &k->ref) < 0)
        return -1;
    k->pid = p;
    k->watching = 1;
    return 0;
}

static void schedule_retry(cn_proc *self, kept *k, int i, unsigned ms)
{
    if (k->retry_armed)
        return;
    if (send_op(self, "retry", i, ms) < 0) {
        cn_error("keeper: cannot set a timer; %s stays down", k->name);
        return;
    }
    k->retry_armed = 1;
}

/* k's process is gone (or never came up): start it again, within its policy; a retry (timer)
 * past the intensity of a policy with retry_ms starts it anyway, at most once per retry_ms. */
static void restart(cn_proc *self, kept *k, int i, int retry)
{
    char p[48];
    if (cn_loop_stopping() || k->gave_up || k->watching)
        return;
    pthread_mutex_lock(&kmx);
    const cn_keep_policy *pol = k->pol;
    cn_keep_start_fn start = k->start;
    void *arg = k->arg;
    pthread_mutex_unlock(&kmx);
    int what = CN_KEEP_START;
    if (retry && pol->retry_ms)
        cn_restarts_add(&k->starts, cn_now_ms()); /* counted, whatever the window says */
    else
        what = cn_keep_decide(&k->starts, pol, cn_now_ms());
    switch (what) {
    case CN_KEEP_GIVE_UP:
        k->gave_up = 1;
        cn_error("keeper: %s exited more than %d times within %llu s: not restarted again "
                 "(a supervisor past its restart intensity)",
                 k->name, pol->max, (unsigned long long)(pol->period_ms / 1000));
        return;
    case CN_KEEP_RETRY:
        cn_error("keeper: %s exits too often; next start in %u ms", k->name, pol->retry_ms);
        schedule_retry(self, k, i, pol->retry_ms);
        return;
    }
    if (start(k->name, arg) < 0 || watch(self, k) < 0) {
        cn_error("keeper: cannot start %s again; trying again in 1 s", k->name);
        schedule_retry(self, k, i, 1000);
        return;
    }
    cn_error("keeper: *** started a fresh %s %s%s%s", k->name, pid_str(&k->pid, p, sizeof p),
             pol->note ? " " : "", pol->note ? pol->note : "");
}

static int get_atom(const char *buf, int *idx, char *a)
{
    return ei_decode_atom(buf, idx, a);
}

/* The entry at index i, set up for the keeper's use (its restart window) on first sight. */
static kept *entry(long i)
{
    pthread_mutex_lock(&kmx);
    kept *k = i >= 0 && i < nkept ? &table[i] : NULL;
    if (k && !k->inited) {
        if (cn_restarts_init(&k->starts, k->pol->max, k->pol->period_ms) == 0)
            k->inited = 1;
        else
            k = NULL;
    }
    pthread_mutex_unlock(&kmx);
    return k;
}

static void on_down(cn_proc *self, const char *buf, int *idx)
{
    cn_ref ref;
    char p[48];
    if (cn_decode_ref(buf, idx, &ref) < 0 || ei_skip_term(buf, idx) < 0 ||
        ei_skip_term(buf, idx) < 0)
        return;
    int r0 = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return;
    pthread_mutex_lock(&kmx);
    int n = nkept;
    pthread_mutex_unlock(&kmx);
    for (int i = 0; i < n; i++) {
        kept *k = entry(i);
        if (!k || !k->watching || !cn_ref_eq(&k->ref, &ref))
            continue;
        k->watching = 0;
        if (cn_loop_stopping())
            return;
        char *why = cn_log_term(buf + r0, *idx - r0);
        cn_error("keeper: *** %s %s exited (%s)", k->name, pid_str(&k->pid, p, sizeof p),
                 why ? why : "?");
        free(why);
        restart(self, k, i, 0);
        return;
    }
}

static int keeper_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)state;
    char a[MAXATOMLEN_UTF8];
    int arity, i = *idx;
    long n;
    if (ei_decode_tuple_header(buf, &i, &arity) < 0 || get_atom(buf, &i, a) < 0)
        return CN_NOREPLY;
    if (arity == 5 && !strcmp(a, "DOWN")) {
        on_down(self, buf, &i);
    } else if (arity == 3 && !strcmp(a, KTAG) && get_atom(buf, &i, a) == 0 &&
               ei_decode_long(buf, &i, &n) == 0) {
        kept *k = entry(n);
        if (!k || cn_loop_stopping())
            return CN_NOREPLY;
        if (!strcmp(a, "watch")) {
            if (k->watching) /* kept again: watch what is registered now */
                cn_demonitor(self, &k->ref);
            k->watching = 0;
            k->gave_up = 0;
            if (watch(self, k) < 0) {
                cn_error("keeper: %s is not running", k->name);
                restart(self, k, (int)n, 0);
            }
        } else if (!strcmp(a, "retry")) {
            k->retry_armed = 0;
            restart(self, k, (int)n, 1);
        }
    }
    return CN_NOREPLY;
}

static const cn_worker keeper_worker = {
    .module = "cnode_keeper",
    .handle_info = keeper_info,
};

int cn_keeper_start(void)
{
    if (keeper_up)
        return 0;
    if (cn_spawn_worker(&keeper_worker, NULL, 0, NULL, &keeper_pid) < 0)
        return -1;
    keeper_up = 1;
    return 0;
}

int cn_keep(const char *name, cn_keep_start_fn start, void *arg, const cn_keep_policy *policy)
{
    if (!keeper_up || !name || !start)
        return -1;
    pthread_mutex_lock(&kmx);
    int i = 0;
    while (i < nkept && strcmp(table[i].name, name) != 0)
        i++;
    if (i == MAX_KEPT) {
        pthread_mutex_unlock(&kmx);
        cn_warn("keeper: table full; %s will not be restarted", name);
        return -1;
    }
    if (i == nkept) {
        if (strlen(name) >= sizeof table[i].name) {
            pthread_mutex_unlock(&kmx);
            return -1;
        }
        strcpy(table[i].name, name);
        nkept++;
    }
    /* a second keep of the same name changes only what the keeper reads on its next event */
    table[i].start = start;
    table[i].arg = arg;
    table[i].pol = policy ? policy : &cn_keep_default;
    pthread_mutex_unlock(&kmx);
    return send_op(NULL, "watch", i, 0);
}

static int start_worker(const char *name, void *arg)
{
    return cn_spawn_worker(arg, NULL, 0, name, NULL);
}

int cn_keep_worker(const cn_worker *w, const char *name)
{
    if (cn_spawn_worker(w, NULL, 0, name, NULL) < 0)
        return -1;
    return cn_keep(name, start_worker, (void *)w, NULL);
}

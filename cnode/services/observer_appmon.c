/* observer_appmon: the appmon_info server observer's Applications tab starts on the node it
 * looks into (appmon_info:start_link2/3 over rpc), answering its requests as OTP's does.
 *
 * app_ctrl lists the one application which_applications reports (bifs_app.c, app_info.h),
 * with cnode_sup's pid where a BEAM node gives the application master's; `app` for it gives
 * the tree under cnode_sup as appmon_info's calc_app_tree formats it: {Root, [{Pid, Name}],
 * PrimaryLinks, SecondaryLinks}, names being registered names or pid_to_list text. In `sup`
 * mode the tree follows which_children down nested supervisors; in `link` mode (the default,
 * what observer asks for) it follows the links of this node's processes, a link to an already
 * queued process being secondary and a remote process a leaf on a secondary link. Any other
 * application, or no cnode_sup (between the keeper's restarts), is the empty tree. As OTP's,
 * each task is redone every 2 s (unless its timeout is at_most_once), delivered again only
 * when its answer changed, and dropped when it is turned off or its client process ends. */
#include "proc/proc.h"
#include "services/app_info.h"
#include "services/observer_enc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUP_NAME "cnode_sup"
#define TICK_MS 2000
#define MAX_TASKS 32                               /* per server: the oldest is dropped past it */
#define MAX_TREE 1024                              /* processes in one tree */
#define MAX_LINKS 4096                             /* links of one process we look at */
#define CALL_MS 5000                               /* which_children of one supervisor */
static const char TICK[] = "\x77\x0c$appmon_tick"; /* our timer message (an atom) */

typedef struct task {
    cn_pid from;
    cn_ref mon; /* on from: its tasks go when it does (OTP's server links to its clients) */
    int is_ctrl, once, sup_mode;
    char *aux; /* the Aux term as it came (encoded) */
    int aux_len;
    char *last; /* the last answer delivered (encoded), NULL before the first */
    int last_len;
} task;

typedef struct am {
    task t[MAX_TASKS];
    int n;
    int ticking;
} am;

/* ---- the tree ------------------------------------------------------------------------ */

typedef struct edge {
    cn_pid a, b;
} edge;

/* calc_app_tree's database: visited processes (P), the queue of those still to visit (with
 * whether each is a supervisor, in sup mode), primary and secondary links. */
typedef struct tree {
    cn_pid p[MAX_TREE];
    size_t np;
    cn_pid q[MAX_TREE];
    char q_sup[MAX_TREE];
    size_t qh, qt;
    edge l1[MAX_TREE], l2[MAX_TREE];
    size_t n1, n2;
} tree;

static int in_list(const cn_pid *v, size_t from, size_t to, const cn_pid *x)
{
    for (size_t i = from; i < to; i++)
        if (cn_pid_eq(&v[i], x))
            return 1;
    return 0;
}

static void enqueue(tree *t, const cn_pid *x, int is_sup)
{
    if (t->qt < MAX_TREE) {
        t->q_sup[t->qt] = (char)is_sup;
        t->q[t->qt++] = *x;
    }
}

static void add_link(edge *l, size_t *n, const cn_pid *paren, const cn_pid *c)
{
    if (*n < MAX_TREE)
        l[(*n)++] = (edge){*paren, *c};
}

/* format/1: the registered name, else pid_to_list (with the node for a remote pid). */
static void encode_name(ei_x_buff *x, const cn_pid *pid)
{
    char s[MAXATOMLEN_UTF8 + 64];
    if (pid->node != 0) {
        snprintf(s, sizeof s, "<%u.%u.%u> %s", pid->node, pid->id, pid->serial,
                 cn_node_name(pid->node));
    } else {
        cn_proc *p = cn_proc_get(pid);
        int named = p && cn_proc_regname(p, s, sizeof s) == 0;
        if (p)
            cn_proc_release(p);
        if (!named)
            snprintf(s, sizeof s, "<0.%u.%u>", pid->id, pid->serial);
    }
    ei_x_encode_string(x, s);
}

/* sup mode: the pid children of supervisor x, each as a primary link. */
static void sup_children(cn_proc *self, tree *t, const cn_pid *x)
{
    ei_x_buff r;
    ei_x_new(&r);
    const char req[] = "\x77\x0ewhich_children";
    int i = 0, n, arity;
    if (cn_call(self, x, req, (int)sizeof req - 1, CALL_MS, &r) == 0 &&
        ei_decode_list_header(r.buff, &i, &n) == 0) {
        for (int k = 0; k < n; k++) {
            char type[MAXATOMLEN_UTF8];
            cn_pid c;
            int j;
            if (ei_decode_tuple_header(r.buff, &i, &arity) < 0 || arity != 4 ||
                ei_skip_term(r.buff, &i) < 0)
                break;
            j = i;
            int is_pid = cn_decode_pid(r.buff, &j, &c) == 0;
            if (ei_skip_term(r.buff, &i) < 0 || ei_decode_atom(r.buff, &i, type) < 0 ||
                ei_skip_term(r.buff, &i) < 0)
                break;
            if (is_pid && !in_list(t->p, 0, t->np, &c) && !in_list(t->q, t->qh, t->qt, &c)) {
                add_link(t->l1, &t->n1, x, &c);
                enqueue(t, &c, !strcmp(type, "supervisor"));
            }
        }
    }
    ei_x_free(&r);
}

/* link mode: the processes linked to x (of this node), as appmon_info adds them. */
static void link_children(cn_proc *self, tree *t, const cn_pid *x, const cn_pid *avoid, int navoid)
{
    if (x->node != 0)
        return; /* a remote process is a leaf */
    cn_pid *links = malloc(MAX_LINKS * sizeof *links);
    size_t n = 0;
    if (!links)
        return;
    cn_ix_links(self, x, links, MAX_LINKS, &n); /* on -1, the ones read so far */
    for (size_t k = 0; k < n; k++) {
        const cn_pid *c = &links[k];
        if (in_list(t->p, 0, t->np, c) || in_list(avoid, 0, (size_t)navoid, c))
            continue;
        if (c->node != 0) {
            add_link(t->l2, &t->n2, x, c);
            if (!in_list(t->q, t->qh, t->qt, c))
                enqueue(t, c, 0);
        } else if (in_list(t->q, t->qh, t->qt, c)) {
            add_link(t->l2, &t->n2, x, c);
        } else {
            add_link(t->l1, &t->n1, x, c);
            enqueue(t, c, 0);
        }
    }
    free(links);
}

/* {[], [], [], []}: no tree. */
static void empty_tree(ei_x_buff *out)
{
    ei_x_encode_tuple_header(out, 4);
    for (int k = 0; k < 4; k++)
        ei_x_encode_empty_list(out);
}

/* The tree of our application rooted at root, appended to out. */
static void encode_tree(cn_proc *self, const cn_pid *root, int sup_mode, ei_x_buff *out)
{
    tree *t = calloc(1, sizeof *t);
    if (!t) {
        empty_tree(out);
        return;
    }
    /* as find_avoid: processes the tree never goes through */
    cn_pid avoid[3];
    int navoid = 0;
    avoid[navoid++] = cn_self(self);
    const char *avoid_names[] = {"application_controller", "init"};
    for (int k = 0; k < 2; k++)
        if (cn_whereis(avoid_names[k], &avoid[navoid]) == 0)
            navoid++;
    enqueue(t, root, 1);
    while (t->qh < t->qt && t->np < MAX_TREE) {
        cn_pid x = t->q[t->qh];
        int is_sup = t->q_sup[t->qh++];
        if (in_list(t->p, 0, t->np, &x))
            continue;
        t->p[t->np++] = x;
        if (sup_mode && is_sup)
            sup_children(self, t, &x);
        else if (!sup_mode)
            link_children(self, t, &x, avoid, navoid);
    }
    ei_x_encode_tuple_header(out, 4);
    encode_name(out, root);
    if (t->np)
        ei_x_encode_list_header(out, (long)t->np);
    for (size_t k = 0; k < t->np; k++) {
        ei_x_encode_tuple_header(out, 2);
        cn_encode_pid(out, &t->p[k]);
        encode_name(out, &t->p[k]);
    }
    ei_x_encode_empty_list(out);
    const edge *ls[2] = {t->l1, t->l2};
    size_t ns[2] = {t->n1, t->n2};
    for (int w = 0; w < 2; w++) {
        if (ns[w])
            ei_x_encode_list_header(out, (long)ns[w]);
        for (size_t k = 0; k < ns[w]; k++) { /* {Parent, Child}, as ?add_link stores them */
            ei_x_encode_tuple_header(out, 2);
            encode_name(out, &ls[w][k].a);
            encode_name(out, &ls[w][k].b);
        }
        ei_x_encode_empty_list(out);
    }
    free(t);
}

/* A C node has no application master: cnode_sup, the top of what the node supervises, stands
 * for it (as the master is the root of a BEAM application's tree). */
static void answer(cn_proc *self, const task *k, ei_x_buff *out)
{
    cn_pid root;
    int up = cn_whereis(SUP_NAME, &root) == 0;
    if (k->is_ctrl) {
        if (!up) {
            ei_x_encode_empty_list(out);
            return;
        }
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 3);
        cn_encode_pid(out, &root);
        ei_x_encode_atom(out, CN_APP_NAME);
        ei_x_encode_tuple_header(out, 3);
        ei_x_encode_atom(out, CN_APP_NAME);
        ei_x_encode_string(out, CN_APP_DESCR);
        ei_x_encode_string(out, CN_APP_VSN);
        ei_x_encode_empty_list(out);
        return;
    }
    char a[MAXATOMLEN_UTF8];
    int i = 0;
    if (up && ei_decode_atom(k->aux, &i, a) == 0 && i == k->aux_len && !strcmp(a, CN_APP_NAME)) {
        encode_tree(self, &root, k->sup_mode, out);
        return;
    }
    empty_tree(out);
}

/* do_work: compute the task's answer and deliver it if it changed. */
static void run_task(cn_proc *self, task *k)
{
    ei_x_buff r;
    ei_x_new(&r);
    answer(self, k, &r);
    if (!k->last || k->last_len != r.index || memcmp(k->last, r.buff, (size_t)r.index)) {
        ei_x_buff m;
        ei_x_new(&m);
        cn_pid me = cn_self(self);
        ei_x_encode_tuple_header(&m, 5);
        ei_x_encode_atom(&m, "delivery");
        cn_encode_pid(&m, &me);
        ei_x_encode_atom(&m, k->is_ctrl ? "app_ctrl" : "app");
        ei_x_append_buf(&m, k->aux, k->aux_len);
        ei_x_append_buf(&m, r.buff, r.index);
        cn_send(self, &k->from, m.buff, m.index);
        ei_x_free(&m);
        char *copy = malloc((size_t)r.index);
        if (copy)
            memcpy(copy, r.buff, (size_t)r.index);
        free(k->last);
        k->last = copy;
        k->last_len = copy ? r.index : 0;
    }
    ei_x_free(&r);
}

static void task_free(task *k)
{
    free(k->aux);
    free(k->last);
}

static void task_del(cn_proc *self, am *s, int at)
{
    cn_demonitor(self, &s->t[at].mon);
    task_free(&s->t[at]);
    memmove(&s->t[at], &s->t[at + 1], (size_t)(s->n - at - 1) * sizeof s->t[0]);
    s->n--;
}

/* The task's key: {Cmd, Aux, From}. */
static int task_find(const am *s, const cn_pid *from, int is_ctrl, const char *aux, int len)
{
    for (int k = 0; k < s->n; k++)
        if (s->t[k].is_ctrl == is_ctrl && cn_pid_eq(&s->t[k].from, from) &&
            s->t[k].aux_len == len && !memcmp(s->t[k].aux, aux, (size_t)len))
            return k;
    return -1;
}

/* Opts: info_type (sup | link, default link) and timeout (at_most_once: do it once). */
static void read_opts(const char *buf, int i, task *k)
{
    int n, arity;
    if (ei_decode_list_header(buf, &i, &n) < 0)
        return;
    for (int e = 0; e < n; e++) {
        char key[MAXATOMLEN_UTF8], val[MAXATOMLEN_UTF8];
        int j = i;
        if (ei_skip_term(buf, &i) < 0)
            return;
        if (ei_decode_tuple_header(buf, &j, &arity) < 0 || arity != 2 ||
            ei_decode_atom(buf, &j, key) < 0 || ei_decode_atom(buf, &j, val) < 0)
            continue;
        if (!strcmp(key, "info_type"))
            k->sup_mode = !strcmp(val, "sup");
        else if (!strcmp(key, "timeout"))
            k->once = !strcmp(val, "at_most_once");
    }
}

static void tick_later(cn_proc *self, am *s)
{
    if (!s->ticking && s->n > 0)
        s->ticking = cn_send_after_self(self, TICK_MS, TICK, (int)sizeof TICK - 1) == 0;
}

static int am_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self, (void)buf, (void)idx;
    *state = calloc(1, sizeof(am));
    return *state ? 0 : -1;
}

/* {From, Cmd, Aux, OnOff, Opts}: app_ctrl (the application list) and app (one application's
 * tree) are done when turned on and forgotten when turned off; load and pinfo are left
 * unanswered (observer does not ask for them); anything else is ignored, as a gen_server cast
 * it does not know. */
static int am_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    am *s = state;
    char cmd[MAXATOMLEN_UTF8], onoff[MAXATOMLEN_UTF8];
    int n, i = *idx;
    cn_pid from;
    if (ei_decode_tuple_header(buf, &i, &n) < 0 || n != 5 ||
        cn_obs_decode_pid(buf, &i, &from) < 0 || ei_decode_atom(buf, &i, cmd) < 0)
        return ei_skip_term(buf, idx), CN_NOREPLY;
    const char *aux = buf + i;
    if (ei_skip_term(buf, &i) < 0)
        return ei_skip_term(buf, idx), CN_NOREPLY;
    int aux_len = (int)(buf + i - aux);
    int is_ctrl = !strcmp(cmd, "app_ctrl");
    if (ei_decode_atom(buf, &i, onoff) < 0 || (!is_ctrl && strcmp(cmd, "app")))
        return ei_skip_term(buf, idx), CN_NOREPLY;
    int at = task_find(s, &from, is_ctrl, aux, aux_len);
    if (at >= 0)
        task_del(self, s, at);
    if (!strcmp(onoff, "true")) {
        if (s->n == MAX_TASKS)
            task_del(self, s, 0);
        task *k = &s->t[s->n];
        memset(k, 0, sizeof *k);
        k->from = from;
        k->is_ctrl = is_ctrl;
        k->aux = malloc((size_t)aux_len);
        if (k->aux) {
            memcpy(k->aux, aux, (size_t)aux_len);
            k->aux_len = aux_len;
            read_opts(buf, i, k);
            run_task(self, k);
            if (k->once || cn_monitor(self, &from, &k->mon) < 0)
                task_free(k);
            else
                s->n++;
        }
        tick_later(self, s);
    }
    ei_skip_term(buf, idx);
    return CN_NOREPLY;
}

static int am_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    am *s = state;
    char a[MAXATOMLEN_UTF8];
    int i = *idx, j = *idx, n;
    cn_pid gone;
    if (ei_decode_atom(buf, &i, a) == 0 && !strcmp(a, TICK + 2)) {
        s->ticking = 0;
        for (int k = 0; k < s->n; k++)
            run_task(self, &s->t[k]);
        tick_later(self, s);
    } else if (ei_decode_tuple_header(buf, &j, &n) == 0 && n == 5 &&
               ei_decode_atom(buf, &j, a) == 0 && !strcmp(a, "DOWN") &&
               ei_skip_term(buf, &j) == 0 && ei_skip_term(buf, &j) == 0 &&
               cn_decode_pid(buf, &j, &gone) == 0) {
        for (int k = s->n - 1; k >= 0; k--) /* a client gone: its tasks go */
            if (cn_pid_eq(&s->t[k].from, &gone))
                task_del(self, s, k);
    }
    ei_skip_term(buf, idx);
    return CN_NOREPLY;
}

static void am_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self, (void)reason, (void)len;
    am *s = state;
    for (int k = 0; k < s->n; k++)
        task_free(&s->t[k]);
    free(s);
}

static const cn_worker appmon_worker = {
    .module = "appmon_info",
    .init = am_init,
    .handle_cast = am_cast,
    .handle_info = am_info,
    .terminate = am_terminate,
};

/* appmon_info:start_link2(Starter, Client, Opts): {ok, Pid} of the one server, started on
 * the first call (as OTP's, registered as appmon_info). */
static int start_link2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)arity;
    for (int k = 0; k < 3; k++)
        if (ei_skip_term(buf, idx) < 0)
            return cn_ix_badarg(out);
    cn_pid pid;
    if (cn_whereis("appmon_info", &pid) < 0 &&
        cn_spawn_worker(&appmon_worker, NULL, 0, "appmon_info", &pid) < 0 &&
        cn_whereis("appmon_info", &pid) < 0) { /* lost a race for the name: take the winner */
        ei_x_encode_atom(out, "system_limit");
        return CN_RPC_ERROR;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    cn_encode_pid(out, &pid);
    return CN_RPC_RETURN;
}

int cn_observer_appmon_start(void)
{
    return cn_export("appmon_info", "start_link2", 3, start_link2);
}

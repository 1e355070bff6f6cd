/* nodemon: the subscriber list of net_kernel:monitor_nodes (see nodemon.h). */
#include "proc/nodemon.h"

#include "proc/proc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBS 4096

typedef struct sub {
    cn_pid pid;
    int kinds;
} sub;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sub *subs;
static size_t nsubs, cap;

static int valid_kinds(int kinds)
{
    return (kinds & (CN_NODES_VISIBLE | CN_NODES_HIDDEN)) != 0 &&
           (kinds & ~(CN_NODES_VISIBLE | CN_NODES_HIDDEN | CN_NODES_INFO)) == 0;
}

/* Drop the subscriptions of processes that have ended (called with lock held). */
static void prune_dead(void)
{
    for (size_t i = 0; i < nsubs;) {
        cn_proc *p = cn_proc_get(&subs[i].pid);
        if (p) {
            cn_proc_release(p);
            i++;
        } else {
            subs[i] = subs[--nsubs];
        }
    }
}

int cn_nodemon_subscribe(const cn_pid *pid, int on, int kinds)
{
    if (pid->node != 0 || !valid_kinds(kinds))
        return -1;
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (on) {
        if (nsubs == cap) /* ended subscribers are otherwise only dropped at node events */
            prune_dead();
        if (nsubs == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            sub *n = ncap <= MAX_SUBS ? realloc(subs, ncap * sizeof *n) : NULL;
            if (!n)
                rc = -1;
            else {
                subs = n;
                cap = ncap;
            }
        }
        if (rc == 0)
            subs[nsubs++] = (sub){*pid, kinds};
    } else {
        /* One instance goes, as net_kernel:monitor_nodes(false, Opts) removes one. */
        for (size_t i = 0; i < nsubs; i++)
            if (subs[i].kinds == kinds && cn_pid_eq(&subs[i].pid, pid)) {
                subs[i] = subs[--nsubs];
                break;
            }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* {nodeup, Node} or, with CN_NODES_INFO, {nodeup, Node, [{node_type, visible|hidden}]}. */
static cn_msg *event_msg(uint32_t node, int up, int visible, int info)
{
    ei_x_buff x;
    if (ei_x_new_with_version(&x) < 0)
        return NULL;
    ei_x_encode_tuple_header(&x, info ? 3 : 2);
    ei_x_encode_atom(&x, up ? "nodeup" : "nodedown");
    ei_x_encode_atom(&x, cn_node_name(node));
    if (info) {
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "node_type");
        ei_x_encode_atom(&x, visible ? "visible" : "hidden");
        ei_x_encode_empty_list(&x);
    }
    cn_msg *m = cn_msg_new(CN_MSG, x.buff, (size_t)x.index);
    ei_x_free(&x);
    return m;
}

void cn_nodemon_event(uint32_t node, int up, int visible)
{
    if (!cn_node_name(node))
        return;
    int want = visible ? CN_NODES_VISIBLE : CN_NODES_HIDDEN;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsubs;) {
        cn_proc *p = cn_proc_get(&subs[i].pid);
        if (!p) { /* the subscriber is gone: its subscriptions end with it */
            subs[i] = subs[--nsubs];
            continue;
        }
        if (subs[i].kinds & want) {
            cn_msg *m = event_msg(node, up, visible, (subs[i].kinds & CN_NODES_INFO) != 0);
            if (m && cn_proc_deliver(p, m) < 0)
                cn_msg_free(m);
        }
        cn_proc_release(p);
        i++;
    }
    pthread_mutex_unlock(&lock);
}

/* global_down: a node lost by global_name_server: its nodedown, and prevent-overlapping-
 * partitions (lost_connection, remove_connection), which makes others drop it too. */
#include "services/global_int.h"

#include "dist/conn.h"
#include "dist/reconnect.h"
#include "proc/ident.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define LOST_INFO 256

typedef struct lost_info {
    char *a, *b;
    long long xcre, opid;
} lost_info;

/* Server only. */
static long long op_counter;
static lost_info lost[LOST_INFO];
static int lost_next;

static const char *me(void)
{
    return cn_node_self_name();
}

/* ---- node down and prevent-overlapping-partitions ------------------------------------------ */

/* Tell every node we know (and those connecting) that we lost node `lost`. */
static void inform_connection_loss(cn_proc *self, const char *lost)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "lost_connection");
    ei_x_encode_atom(&x, me());
    ei_x_encode_longlong(&x, gl_xcreation);
    ei_x_encode_longlong(&x, ++op_counter);
    ei_x_encode_atom(&x, lost);
    for (int i = 0; i < gl_nnodes; i++)
        if ((gl_nodes[i].known && gl_nodes[i].vsn >= 7) ||
            (gl_nodes[i].pending && gl_nodes[i].pending_vsn >= 7))
            if (strcmp(gl_nodes[i].name, lost) != 0)
                gl_gns_send(self, gl_nodes[i].name, &x, 0, 1);
    ei_x_free(&x);
}

void gl_handle_nodedown(cn_proc *self, gnode *g, int what)
{
    gl_cancel_locker(self, g, g->has_my_tag, g->my_tag);
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "remove_from_known");
    ei_x_encode_atom(&x, g->name);
    gl_to_locker(self, &x);
    ei_x_free(&x);
    gl_reset_node_state(g);
    if (what == ND_REMOVE) {
        g->removing = 1;
        cn_reconnect_unwatch_meshed(g->name); /* POP took it out: it stays out, as in OTP */
    } else if (what == ND_IGNORE)
        g->removing = 0;
    else if (g->removing)
        g->removing = 0;
    else
        inform_connection_loss(self, g->name);
    pthread_mutex_lock(&gl_mx);
    g->pending = 0;
    g->known = 0;
    g->synced = 0;
    pthread_mutex_unlock(&gl_mx);
}

static lost_info *lost_find(const char *a, const char *b)
{
    for (int i = 0; i < LOST_INFO; i++)
        if (lost[i].a && strcmp(lost[i].a, a) == 0 && strcmp(lost[i].b, b) == 0)
            return &lost[i];
    return NULL;
}

void gl_lost_connection(cn_proc *self, const char *a, long long xcre, long long opid, const char *b,
                        const ei_x_buff *msg)
{
    lost_info *li = lost_find(a, b);
    if (li && li->xcre == xcre && opid <= li->opid)
        return; /* seen */
    /* pass it on, so that every node hears of it even if a drops meanwhile */
    for (int i = 0; i < gl_nnodes; i++)
        if ((gl_nodes[i].known && gl_nodes[i].vsn >= 7) ||
            (gl_nodes[i].pending && gl_nodes[i].pending_vsn >= 7))
            if (strcmp(gl_nodes[i].name, a) != 0)
                gl_gns_send(self, gl_nodes[i].name, msg, 0, 1);
    if (!li) {
        li = &lost[lost_next];
        lost_next = (lost_next + 1) % LOST_INFO;
        free(li->a);
        free(li->b);
        li->a = strdup(a);
        li->b = strdup(b);
        if (!li->a || !li->b) {
            free(li->a);
            free(li->b);
            li->a = li->b = NULL;
        }
    }
    if (li->a) {
        li->xcre = xcre;
        li->opid = opid;
    }
    const char *rm = strcmp(b, me()) == 0 ? a : b;
    gnode *g = gl_node_get(rm, 0);
    if (!g || !(g->known || g->pending))
        return;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "remove_connection");
    ei_x_encode_atom(&x, me());
    gl_gns_send(self, rm, &x, 0, 1);
    ei_x_free(&x);
    cn_warn("global: asked %s to disconnect from us, to prevent overlapping partitions", rm);
    gl_handle_nodedown(self, g, ND_REMOVE);
}

void gl_remove_connection(cn_proc *self, const char *node)
{
    gnode *g = gl_node_get(node, 0);
    if (!g || !(g->known || g->pending))
        return;
    long n = cn_node_lookup(node);
    if (n > 0)
        cn_conn_disconnect((uint32_t)n);
    gl_handle_nodedown(self, g, ND_REMOVE);
    cn_warn("global: disconnected %s to prevent overlapping partitions", node);
}

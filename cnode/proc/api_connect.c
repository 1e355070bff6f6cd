/* api_connect: net_kernel:connect_node/1 and erlang:disconnect_node/1 for a process: the
 * connection layer's own dialer does the work; only the calling process waits for it. */
#include "dist/conn.h"
#include "node.h"
#include "proc/api_int.h"
#include "proc/ident.h"
#include "proc/proc.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#define POLL_MS 20

static int valid_node_name(const char *node)
{
    const char *at = strchr(node, '@');
    return at && at != node && at[1] != '\0' && strchr(at + 1, '@') == NULL;
}

static int past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static const struct timespec *earlier(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec) ? a : b;
}

int cn_connect_node(cn_proc *self, const char *node)
{
    if (!strcmp(node, cn_node_name(0)))
        return 1;
    if (!valid_node_name(node))
        return 0; /* as net_kernel: not a node name, nothing to dial */
    long n = cn_node_intern(node, strlen(node));
    if (n <= 0)
        return 0;
    if (cn_conn_is_up((uint32_t)n))
        return 1;
    /* monitor_node dials unless an attempt is under way, and a failed attempt of ours
     * queues NODEDOWN, which ends the wait at once */
    if (cn_monitor_node(self, node, 1) < 0)
        return 0;
    /* epmd, connect and handshake are each bounded by the handshake timer: the whole wait
     * by three of them and a margin for a loaded machine */
    struct timespec deadline, step;
    api_deadline(3 * cn_node.handshake_timeout_ms + 1000, &deadline);
    int r = 0, gone = 0;
    for (;;) {
        if (cn_conn_is_up((uint32_t)n)) {
            r = 1;
            break;
        }
        /* an attempt that was not ours (the peer dialling us) ends without NODEDOWN: no
         * connection left twice in a row means it failed */
        gone = cn_conn_pending((uint32_t)n) ? 0 : gone + 1;
        if (gone >= 2 || past(&deadline))
            break;
        cn_msg *found;
        int code;
        int w = api_wait_for(self, NULL, NULL, (uint32_t)n,
                             earlier(api_deadline(POLL_MS, &step), &deadline), &found, &code);
        if (w == W_KILLED) {
            self->doomed = 1;
            break;
        }
        if (w == W_NODEDOWN) {
            r = cn_conn_is_up((uint32_t)n);
            break;
        }
    }
    cn_monitor_node(self, node, 0); /* a queued NODEDOWN then finds no monitor: no message */
    return r;
}

int cn_disconnect_node(cn_proc *self, const char *node)
{
    long n = cn_node_lookup(node);
    if (n <= 0 || cn_conn_disconnect((uint32_t)n) < 0)
        return 0;
    /* the close runs on the I/O thread: answer once it is done, so that nodes() no longer
     * lists it, as after the BEAM's disconnect_node (bounded: the I/O thread may be busy) */
    for (int i = 0; i < 100 && cn_conn_pending((uint32_t)n); i++)
        if (cn_sleep(self, 10) < 0)
            break;
    return 1;
}

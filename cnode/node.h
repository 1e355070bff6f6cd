/* node: this node's settings and lifecycle (epmd registration, threads, shutdown),
 * shared read-only by every layer once the node has started. */
#ifndef CN_NODE_H
#define CN_NODE_H

#include "cnode.h"

typedef struct cn_node_state {
    char name[1024]; /* full node name */
    char cookie[256];
    uint32_t creation;
    uint64_t flags; /* the flags we offer */
    int hidden;
    int longnames;
    uint16_t epmd_port;
    uint16_t listen_port;
    int ticktime_ms;
    int handshake_timeout_ms;
    size_t max_message;
    int epmd_fd;
    struct cn_tls *tls; /* TLS distribution contexts, NULL for plain TCP */
} cn_node_state;

extern cn_node_state cn_node;

#endif

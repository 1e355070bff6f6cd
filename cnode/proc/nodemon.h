/* nodemon: net_kernel:monitor_nodes for processes of this node — who hears of nodeups and
 * nodedowns. The connection layer reports; subscribers get plain messages in their mailbox. */
#ifndef CN_NODEMON_H
#define CN_NODEMON_H

#include "cnode.h"

/* Add (on) or remove one subscription of pid with the CN_NODES_* mask kinds. 0, or -1. */
int cn_nodemon_subscribe(const cn_pid *pid, int on, int kinds);
/* A connection to node came up (up=1) or went down (up=0); visible: DFLAG_PUBLISHED on both
 * sides. Called by the event loop before any message of a new connection is delivered and
 * after the last message of a closed one. */
void cn_nodemon_event(uint32_t node, int up, int visible);

#endif

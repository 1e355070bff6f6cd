/* ident: node-name interning and this node's identity (name, creation), plus fresh refs.
 * Pids and refs carry a node index so that they stay small and compare cheaply. */
#ifndef CN_IDENT_H
#define CN_IDENT_H

#include "cnode.h"

#define CN_MAX_NODES 65536

/* Set this node's name and creation (index 0). Call once before anything else. */
void cn_ident_init(const char *self_name, uint32_t creation);
uint32_t cn_ident_creation(void);
/* Index of a node name, adding it if new. Returns -1 when the table is full or the name
 * is invalid (empty or > 1020 bytes). */
long cn_node_intern(const char *name, size_t len);
/* Index of a name if known, else -1 (never adds). */
long cn_node_lookup(const char *name);

#endif

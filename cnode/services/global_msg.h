/* global_msg: reading the messages of :global's protocol (PROTOCOL.md §7.2) from peers, pure
 * and bounded: a malformed or oversized message is refused (-1), never half-read. */
#ifndef CN_GLOBAL_MSG_H
#define CN_GLOBAL_MSG_H

#include "cnode.h"

#define GM_MAX_LIST 100000 /* elements of any list taken from a peer */

/* An encoded list, kept as its elements' bytes (so two lists concatenate). */
typedef struct gm_list {
    char *b;
    int len, n;
} gm_list;

void gm_list_clear(gm_list *l);
int gm_list_append(gm_list *l, const char *b, int len, int n);
/* Encode l as a proper list. */
void gm_list_encode(ei_x_buff *x, const gm_list *l);
/* A proper list at buf+*idx into l. -1 (l empty) if it is not one, or is too long. */
int gm_list_take(const char *buf, int *idx, gm_list *l);
/* The byte offset of element k of l, walking from the start; -1 past the end. */
int gm_list_at(const gm_list *l, int k);

/* The span of the term at buf+*idx (at most GT_MAX_TERM bytes). */
int gm_span(const char *buf, int *idx, const char **s, int *n);
/* Is the term at buf+*idx the atom want? Moves past it only if so. */
int gm_atom_is(const char *buf, int *idx, const char *want);

/* Node or {Node, Vsn} at b+start: name (MAXATOMLEN_UTF8 bytes) and version (0 if absent). */
int gm_node(const char *b, int start, char *name, long *vsn);
/* {ResourceId, LockRequesterId}, exactly len bytes. */
int gm_lock_id(const char *id, int len, const char **res, int *rl, const char **req, int *ql);
/* {Name, Pid, Method} at b+start (an exchange entry). */
int gm_name_entry(const char *b, int start, const char **name, int *nl, cn_pid *pid,
                  const char **meth, int *ml);

/* {insert, {Name, Pid, Method}} or {delete, Name} at b+start. */
enum { GM_INSERT = 1, GM_DELETE = 2 };
int gm_op(const char *b, int start, int *kind, const char **name, int *nl, cn_pid *pid,
          const char **meth, int *ml);

/* The casts, read past their tag atom (idx just after it; ar: the tuple's arity). */
typedef struct gm_init_connect {
    char node[MAXATOMLEN_UTF8];
    long his_vsn;
    long long his_tag;
    cn_pid locker;
} gm_init_connect;
/* {init_connect, {Vsn, Tag, ...}, Node, {locker, _, _, Locker}} */
int gm_read_init_connect(const char *buf, int *idx, int ar, gm_init_connect *m);
/* {exchange, Node, Names, _NamesExt, Tag}: names into l (the caller clears it). */
int gm_read_exchange(const char *buf, int *idx, int ar, char *node, gm_list *l, long long *tag);
/* {resolved, Node, Ops, Known, _, _NamesExt, Tag} */
int gm_read_resolved(const char *buf, int *idx, int ar, char *node, gm_list *ops, gm_list *known,
                     long long *tag);
/* {new_nodes, Node, Ops, _NamesExt, Nodes, ExtraInfo}: the lock id in ExtraInfo ({lock, Id})
 * points into buf (NULL when absent). */
int gm_read_new_nodes(const char *buf, int *idx, int ar, char *node, gm_list *ops, gm_list *nodes,
                      const char **lock_id, int *lock_id_len);

#endif

/* out: outgoing control messages, encoded on the sending thread and queued on the peer's
 * connection (dialling it if needed); a sender writes it itself when the socket is free,
 * else the event loop frames and writes it. */
#ifndef CN_OUT_H
#define CN_OUT_H

#include "cnode.h"

/* msg/reason terms are encoded without version byte; they are copied. */
int cn_out_send(const cn_pid *from, const cn_pid *to, const char *msg, int len);
int cn_out_reg_send(const cn_pid *from, uint32_t node, const char *name, const char *msg, int len);
int cn_out_alias_send(const cn_pid *from, const cn_ref *alias, const char *msg, int len);
/* As cn_out_send / cn_out_alias_send, but msg's buffer becomes the frame's payload (no copy);
 * msg is left empty, and ei_x_free on it is still safe. */
int cn_out_send_take(const cn_pid *from, const cn_pid *to, ei_x_buff *msg);
int cn_out_alias_send_take(const cn_pid *from, const cn_ref *alias, ei_x_buff *msg);
/* As the _take forms, the payload being head[head_len] followed by msg's bytes: a reply
 * sends `{Tag, Body}` without copying Body behind its tag. */
int cn_out_send_head_take(const cn_pid *from, const cn_pid *to, const char *head, int head_len,
                          ei_x_buff *msg);
int cn_out_alias_send_head_take(const cn_pid *from, const cn_ref *alias, const char *head,
                                int head_len, ei_x_buff *msg);
/* As the _head_take forms, the body being data[len], which lies inside owner: the frame
 * takes owner over and frees it once written (a reply that is part of a received message). */
int cn_out_send_head_slice(const cn_pid *from, const cn_pid *to, const char *head, int head_len,
                           char *data, size_t len, void *owner);
int cn_out_alias_send_head_slice(const cn_pid *from, const cn_ref *alias, const char *head,
                                 int head_len, char *data, size_t len, void *owner);
int cn_out_link(const cn_pid *from, const cn_pid *to);
int cn_out_unlink_id(const cn_pid *from, const cn_pid *to, uint64_t id);
int cn_out_unlink_id_ack(const cn_pid *from, const cn_pid *to, uint64_t id);
/* exit2 = 0: a link broke (EXIT); 1: exit/2 (EXIT2). */
int cn_out_exit(const cn_pid *from, const cn_pid *to, const char *reason, int len, int exit2);
/* Monitor `to` (a pid, or a name on node when name != NULL). */
int cn_out_monitor(const cn_pid *from, const cn_pid *to, uint32_t node, const char *name,
                   const cn_ref *ref);
int cn_out_demonitor(const cn_pid *from, const cn_pid *to, uint32_t node, const char *name,
                     const cn_ref *ref);
/* MONITOR_P_EXIT: `from` (or `name`, for a name monitor) died; tell watcher `to`. */
int cn_out_down(const cn_pid *from, const char *name, const cn_pid *to, const cn_ref *ref,
                const char *reason, int len);

/* SPAWN_REPLY: result is the new pid, or (pid NULL) the error atom. */
int cn_out_spawn_reply(const cn_ref *req, const cn_pid *to, int flags, const cn_pid *pid,
                       const char *error);

/* SPAWN_REQUEST {29, ReqId, From, GroupLeader, {Mod, Fun, Arity}, [monitor] or []} with the
 * argument list args (PROTOCOL.md §4.5), to node. */
int cn_out_spawn_request(const cn_ref *req, const cn_pid *from, const cn_pid *gl, uint32_t node,
                         const char *mod, const char *fun, int arity, int monitor, const char *args,
                         int args_len);

#endif

/* ctrl_ops: the numbers of the distribution control operations (PROTOCOL.md §4.1), shared by
 * the generic decoder (ctrl.c) and the fast path for the common ones (cdec.c). */
#ifndef CN_CTRL_OPS_H
#define CN_CTRL_OPS_H

enum {
    OP_LINK = 1,
    OP_SEND = 2,
    OP_EXIT = 3,
    OP_UNLINK = 4,
    OP_REG_SEND = 6,
    OP_GROUP_LEADER = 7,
    OP_EXIT2 = 8,
    OP_SEND_TT = 12,
    OP_EXIT_TT = 13,
    OP_REG_SEND_TT = 16,
    OP_EXIT2_TT = 18,
    OP_MONITOR_P = 19,
    OP_DEMONITOR_P = 20,
    OP_MONITOR_P_EXIT = 21,
    OP_SEND_SENDER = 22,
    OP_SEND_SENDER_TT = 23,
    OP_PAYLOAD_EXIT = 24,
    OP_PAYLOAD_EXIT_TT = 25,
    OP_PAYLOAD_EXIT2 = 26,
    OP_PAYLOAD_EXIT2_TT = 27,
    OP_PAYLOAD_MONITOR_P_EXIT = 28,
    OP_SPAWN_REQUEST = 29,
    OP_SPAWN_REQUEST_TT = 30,
    OP_SPAWN_REPLY = 31,
    OP_SPAWN_REPLY_TT = 32,
    OP_ALIAS_SEND = 33,
    OP_ALIAS_SEND_TT = 34,
    OP_UNLINK_ID = 35,
    OP_UNLINK_ID_ACK = 36,
};

#endif

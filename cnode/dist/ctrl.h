/* ctrl: decode a received control message and route it to local processes, answering
 * on the wire where the protocol needs an answer (noproc monitors, unlink acks). */
#ifndef CN_CTRL_H
#define CN_CTRL_H

#include "dist/rx.h"

#include <stddef.h>
#include <stdint.h>

/* Consumes m (ownership of its storage may move to a mailbox). Returns 0, or -1 when the
 * message is malformed (reason in err); unknown operations are logged and dropped. */
int cn_ctrl_dispatch(uint32_t peer, cn_dist_msg *m, char *err, size_t errlen);

#endif

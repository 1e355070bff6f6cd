/* cdec: the control messages every call and cast brings (SEND, SEND_SENDER, REG_SEND,
 * ALIAS_SEND, MONITOR_P, DEMONITOR_P) decoded straight from their bytes, without ei. */
#ifndef CN_CDEC_H
#define CN_CDEC_H

#include "cnode.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cn_cdec {
    int op;
    cn_pid from; /* all but SEND */
    cn_pid to;   /* SEND, SEND_SENDER, MONITOR_P/DEMONITOR_P of a pid */
    int by_name; /* REG_SEND, MONITOR_P/DEMONITOR_P of a registered name */
    char name[256];
    cn_ref ref; /* MONITOR_P/DEMONITOR_P reference, ALIAS_SEND alias */
} cn_cdec;

/* ctl[0..len) is a control term with its 131. Returns 1 and fills *d when it is one of the
 * operations above with exactly its arity and in the encodings current nodes use (NEW_PID_EXT,
 * NEWER_REFERENCE_EXT, ASCII atoms); 0 for anything else, malformed or not, which the caller
 * then decodes the general way. Reads nothing outside ctl[0..len). */
int cn_cdec_parse(const uint8_t *ctl, size_t len, cn_cdec *d);

#endif

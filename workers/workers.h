/* workers: the worker modules built into cnoded; each file is a short example of the
 * public worker API (cnode.h). */
#ifndef CN_WORKERS_H
#define CN_WORKERS_H

#include "cnode.h"

extern const cn_worker cn_echo_worker;

#endif

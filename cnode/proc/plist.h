/* plist: a process's links and monitors, kept as lists that stay cheap to search and unlink
 * when a process is linked to or watched by thousands (a keyed hash index, built on demand). */
#ifndef CN_PLIST_H
#define CN_PLIST_H

#include "proc/proc.h"

/* Only the process's own turn (or its creator, before it first runs) touches these. */
enum { CN_PL_MONITORS, CN_PL_MONITORED_BY }; /* which of the two monitor lists */

void cn_link_push(cn_proc *p, cn_linkent *l);
cn_linkent *cn_link_find(cn_proc *p, const cn_pid *pid);
/* Take l out of the list; the caller frees it. */
void cn_link_unlink(cn_proc *p, cn_linkent *l);

void cn_mon_push(cn_proc *p, int which, cn_mon *m);
cn_mon *cn_mon_find(cn_proc *p, int which, const cn_ref *ref);
void cn_mon_unlink(cn_proc *p, int which, cn_mon *m);
/* Find and unlink the monitor with ref, or NULL; the caller frees it. */
cn_mon *cn_mon_take(cn_proc *p, int which, const cn_ref *ref);

/* Free the indexes (the process is exiting and has emptied its lists). */
void cn_plist_free(cn_proc *p);

/* For tests: the index capacity of a list (0 = searched by walking it). */
enum { CN_PL_LINKS = 2 };
unsigned cn_plist_index_cap(const cn_proc *p, int which);

#endif

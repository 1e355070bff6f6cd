/* table: loaded native modules with a current and an old version each (as the BEAM), held by
 * the processes and rpc calls running them; unloaded (dlclose) once purged and unheld. */
#ifndef CN_CODE_TABLE_H
#define CN_CODE_TABLE_H

#include "cnode.h"

#include <stddef.h>

typedef struct cn_code_ver cn_code_ver;

/* A process running a version: embedded in the process's own data and linked into the
 * version's list (so a hard purge knows whom to kill). */
typedef struct cn_code_user {
    struct cn_code_user *prev, *next;
    cn_code_ver *ver; /* NULL: built-in code, nothing held */
    cn_pid pid;
} cn_code_user;

/* Install def as the current version of its module (the current one becomes old). Refused
 * (-1, *why an atom naming the reason) when the module still has old code ("not_purged"),
 * its names clash with built-in code ("sticky_directory"), or the table is full
 * ("system_limit"). unload(handle) runs once the version is gone and unreferenced. */
int cn_code_install(const cn_module_def *def, const char *file, void *handle,
                    void (*unload)(void *handle), const char **why);

/* The refusals of cn_code_install that depend on def alone (NULL: none), to check before
 * anything is changed for it. */
const char *cn_code_precheck(const cn_module_def *def);

/* Purge the old version of module: 0 = there was none; 1 = purged; -1 = soft purge refused
 * (something still runs it). A hard purge (soft 0) returns the pids running the old code in
 * a malloc'd *kill[0..*nkill) for the caller to kill (and free); the version unloads when they
 * are gone. */
int cn_code_purge(const char *module, int soft, cn_pid **kill, size_t *nkill);
/* The processes running module's old version (a malloc'd array in *pids, *n of them) and its
 * vsn copied into vsn (cap bytes). Returns 0 if there is no old version. */
int cn_code_old_users(const char *module, cn_pid **pids, size_t *n, char *vsn, size_t cap);
/* delete/1: make the current version old (no new spawns or calls). 1 = done, 0 = refused
 * (not loaded, or old code still there). */
int cn_code_delete(const char *module);
/* Versions of module purged but not yet unloaded. */
int cn_code_pending_unload(const char *module);

/* Is module loaded (has a current version)? file_out gets the File given at load. */
int cn_code_loaded(const char *module, char *file_out, size_t cap);
/* Call fn for each module with a current version (under the table lock: fn must not call
 * back into the table). */
void cn_code_foreach(void (*fn)(const char *module, const char *file, const char *vsn, int has_old,
                                int users, void *arg),
                     void *arg);

/* Worker modules of loaded code: a stand-in cn_worker per module name (never freed), which
 * cn_worker_lookup returns and cn_code_bind resolves to the version current at spawn time. */
const cn_worker *cn_code_worker_stub(const char *module);
size_t cn_code_worker_names(const char **out, size_t cap);
/* For a process about to run w: if w is a stand-in, bind u to the current version and return
 * its worker (NULL if the module is no longer loaded); otherwise return w, u->ver = NULL. */
const cn_worker *cn_code_bind(const cn_worker *w, cn_code_user *u, const cn_pid *pid);
/* The process ends (or never started): drop its hold; may unload the version. */
void cn_code_unbind(cn_code_user *u);
/* change_code: the current version of u's module, held, and its worker (for code_change).
 * Returns 1 when there is a newer current version (*to held), 0 when u already runs the
 * current one or built-in code, -1 when the module is not loaded any more. */
int cn_code_newer(const cn_code_user *u, cn_code_ver **to, const cn_worker **w);
/* After a successful code_change: move u to `to` (taking over the hold from cn_code_newer),
 * dropping its hold on the old version (which may unload it). */
void cn_code_move(cn_code_user *u, cn_code_ver *to);
/* The vsn string of a version. */
const char *cn_code_vsn(const cn_code_ver *v);

/* Holds on a version by an rpc call running its code (exports.c takes them). */
void cn_code_hold(cn_code_ver *v);
void cn_code_release(cn_code_ver *v);

#endif

/* load: the bytes of code:load_binary/3 to a loaded module: check container and signature,
 * dlopen a private temporary copy, read the descriptor, install it as the current version. */
#ifndef CN_CODE_LOAD_H
#define CN_CODE_LOAD_H

#include "cnode.h"

#include <stddef.h>
#include <stdint.h>

/* Load bin as module `name` (NULL: whatever module the object says it is; its name is copied
 * to loaded) from process self; file is what code:which/1 reports afterwards.
 * Returns 0, or -1 with the reason term of {error, Reason} appended to reason (the log says
 * why in words). Nothing changes on a refusal. Once the object is accepted, a loaded module's
 * old code is purged first (as code_server does), then the new version becomes current.
 * Callers serialize loads and purges. */
int cn_code_load(const char *name, const char *file, const uint8_t *bin, size_t len,
                 ei_x_buff *reason, cn_proc *self, char loaded[256]);

/* Hard purge of module's old code from process self: kill the processes running it and
 * wait (at most 5 s) until it is unloaded. Returns -1 if there was no old code, else how many
 * processes were killed. */
long cn_code_purge_wait(cn_proc *self, const char *module);

#endif

/* code_rpc: the `code` module as a C node answers it over rpc (PROTOCOL.md §9): load_binary/3
 * of signed native modules, purge/1, soft_purge/1, delete/1, which/1, is_loaded/1,
 * all_loaded/0 and ensure_loaded/1, with the BEAM's answers; built-in code is `preloaded`.
 * Also cnode:load/1 (the object names itself), modules/0 and upgrade/1,2. */
#include "code/code_rpc.h"

#include "code/load.h"
#include "code/sign.h"
#include "code/table.h"
#include "proc/gen.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "services/exports.h"
#include "util/log.h"
#include "util/utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX 4096
/* One load or purge at a time, so that "purge the old, then install" is one step. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* The holder may wait (a purge waits for killed workers), so waiting for it counts as a
 * blocked scheduler thread, as in cn_call. */
static void lock_loads(void)
{
    if (pthread_mutex_trylock(&load_lock) == 0)
        return;
    cn_sched_block_begin();
    pthread_mutex_lock(&load_lock);
    cn_sched_block_end();
}

static int get_module(const char *buf, int *idx, char *mod)
{
    char a[MAXATOMLEN_UTF8];
    if (ei_decode_atom(buf, idx, a) < 0 || !a[0] || strlen(a) >= 256)
        return -1;
    strcpy(mod, a);
    return 0;
}

static void bool_atom(ei_x_buff *out, int b)
{
    ei_x_encode_atom(out, b ? "true" : "false");
}

static int badarg(ei_x_buff *out)
{
    ei_x_encode_atom(out, "badarg");
    return CN_RPC_ERROR;
}

/* File: a charlist (as code:load_binary wants, and IEx sends), an atom or a binary. */
static int get_file(const char *buf, int *idx, char *file)
{
    int type, size;
    if (ei_get_type(buf, idx, &type, &size) < 0 || size >= FILE_MAX)
        return -1;
    switch (type) {
    case ERL_NIL_EXT:
        file[0] = 0;
        return ei_skip_term(buf, idx);
    case ERL_STRING_EXT:
        return ei_decode_string(buf, idx, file);
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        return size < MAXATOMLEN_UTF8 ? ei_decode_atom(buf, idx, file) : -1;
    case ERL_BINARY_EXT: {
        long n;
        if (ei_decode_binary(buf, idx, file, &n) < 0)
            return -1;
        file[n] = 0;
        return memchr(file, 0, (size_t)n) ? -1 : 0;
    }
    case ERL_LIST_EXT: { /* code points above 255: keep them as UTF-8 */
        int n, at = 0;
        if (ei_decode_list_header(buf, idx, &n) < 0)
            return -1;
        for (int i = 0; i < n; i++) {
            long c;
            if (ei_decode_long(buf, idx, &c) < 0 || c <= 0 || c > 0x10FFFF || at + 4 >= FILE_MAX)
                return -1;
            at += cn_utf8_put((unsigned long)c, file + at);
        }
        file[at] = 0;
        return ei_get_type(buf, idx, &type, &size) == 0 && type == ERL_NIL_EXT
                   ? ei_skip_term(buf, idx)
                   : -1;
    }
    default:
        return -1;
    }
}

/* After a load: ask every worker left on the old version to move to the new one (through its
 * code_change, with the old vsn and Extra []) before its next message, as PRODUCT §4 has
 * it. The request goes first into each mailbox, so whatever a caller sends once the load has
 * answered meets the new code; a suspended worker keeps it until resumed (release_handler
 * moves it itself meanwhile). Workers whose code_change fails stay on the old code. */
static void move_workers(cn_proc *self, const char *mod)
{
    char vsn[256];
    cn_pid *pids;
    size_t n;
    if (!cn_code_old_users(mod, &pids, &n, vsn, sizeof vsn))
        return;
    ei_x_buff req;
    ei_x_new(&req);
    ei_x_encode_tuple_header(&req, 2);
    ei_x_encode_atom(&req, "$cnode_code_change"); /* served by the gen_server adapter (gen.c) */
    ei_x_encode_empty_list(&req);
    for (size_t i = 0; i < n; i++)
        cn_send(self, &pids[i], req.buff, req.index);
    if (n > 0)
        cn_info("code: %s: moving %zu worker(s) from vsn %s to the new code", mod, n, vsn);
    ei_x_free(&req);
    free(pids);
}

/* {module, Mod} or {error, Reason}, as code:load_binary/3 answers. */
static void load_answer(cn_proc *self, const char *mod, const char *file, const uint8_t *bin,
                        size_t len, ei_x_buff *out)
{
    ei_x_buff reason;
    char loaded[256];
    ei_x_new(&reason);
    lock_loads();
    int r = cn_code_load(mod, file, bin, len, &reason, self, loaded);
    pthread_mutex_unlock(&load_lock);
    ei_x_encode_tuple_header(out, 2);
    if (r == 0) {
        move_workers(self, loaded);
        ei_x_encode_atom(out, "module");
        ei_x_encode_atom(out, loaded);
    } else {
        ei_x_encode_atom(out, "error");
        ei_x_append_buf(out, reason.buff, reason.index);
    }
    ei_x_free(&reason);
}

static int load_binary_3(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    char mod[256];
    char *file = malloc(FILE_MAX);
    int type, size;
    long len;
    if (!file || get_module(buf, idx, mod) < 0 || get_file(buf, idx, file) < 0 ||
        ei_get_type(buf, idx, &type, &size) < 0 || type != ERL_BINARY_EXT) {
        free(file);
        ei_x_encode_tuple_header(out, 2); /* code_server answers bad arguments like this */
        ei_x_encode_atom(out, "error");
        ei_x_encode_atom(out, "badarg");
        return CN_RPC_RETURN;
    }
    uint8_t *bin = malloc(size > 0 ? (size_t)size : 1);
    if (!bin || ei_decode_binary(buf, idx, bin, &len) < 0) {
        free(bin);
        free(file);
        return badarg(out);
    }
    load_answer(self, mod, file, bin, (size_t)len, out);
    free(bin);
    free(file);
    return CN_RPC_RETURN;
}

/* cnode:load(Bin): load a native module under the name its descriptor gives. */
static int load_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    int type, size;
    long len;
    if (ei_get_type(buf, idx, &type, &size) < 0 || type != ERL_BINARY_EXT)
        return badarg(out);
    uint8_t *bin = malloc(size > 0 ? (size_t)size : 1);
    if (!bin || ei_decode_binary(buf, idx, bin, &len) < 0) {
        free(bin);
        return badarg(out);
    }
    load_answer(self, NULL, "cnode:load", bin, (size_t)len, out);
    free(bin);
    return CN_RPC_RETURN;
}

/* code:purge/soft_purge/delete(Module): decode the module, run op under the load lock and
 * answer the boolean it returns. */
static int module_op(cn_proc *self, const char *buf, int *idx, ei_x_buff *out,
                     int (*op)(cn_proc *self, const char *mod))
{
    char mod[256];
    if (get_module(buf, idx, mod) < 0)
        return badarg(out);
    lock_loads();
    int r = op(self, mod);
    pthread_mutex_unlock(&load_lock);
    bool_atom(out, r);
    return CN_RPC_RETURN;
}

/* true only if a process had to be killed, as on the BEAM */
static int purge_op(cn_proc *self, const char *mod)
{
    return cn_code_purge_wait(self, mod) > 0;
}

/* false: a process still runs the old code */
static int soft_purge_op(cn_proc *self, const char *mod)
{
    (void)self;
    cn_pid *none;
    size_t n;
    return cn_code_purge(mod, 1, &none, &n) >= 0;
}

static int delete_op(cn_proc *self, const char *mod)
{
    (void)self;
    int ok = cn_code_delete(mod);
    if (ok)
        cn_info("code: %s deleted (its code is old now)", mod);
    return ok;
}

static int purge_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    return module_op(self, buf, idx, out, purge_op);
}

static int soft_purge_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    return module_op(self, buf, idx, out, soft_purge_op);
}

static int delete_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    return module_op(self, buf, idx, out, delete_op);
}

static int is_builtin(const char *mod)
{
    return cn_worker_builtin_lookup(mod) || cn_exports_builtin_module(mod);
}

/* Where a module comes from: 1 = loaded (file), 2 = built in, 0 = not here. */
static int whence(const char *mod, char *file)
{
    if (cn_code_loaded(mod, file, FILE_MAX))
        return 1;
    return is_builtin(mod) ? 2 : 0;
}

/* The Module argument of which/1, is_loaded/1 and ensure_loaded/1 (into mod) and where that
 * module comes from (as whence), or -1 for a bad argument. */
static int arg_whence(const char *buf, int *idx, char *mod, char *file)
{
    return get_module(buf, idx, mod) < 0 ? -1 : whence(mod, file);
}

/* Where a module is, as which/1 and is_loaded/1 name it: its file, or preloaded (built in). */
static void encode_where(ei_x_buff *out, int w, const char *file)
{
    if (w == 1)
        ei_x_encode_string(out, file);
    else
        ei_x_encode_atom(out, "preloaded");
}

static int which_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char mod[256], file[FILE_MAX];
    int w = arg_whence(buf, idx, mod, file);
    if (w < 0)
        return badarg(out);
    if (w)
        encode_where(out, w, file);
    else
        ei_x_encode_atom(out, "non_existing");
    return CN_RPC_RETURN;
}

static int is_loaded_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char mod[256], file[FILE_MAX];
    int w = arg_whence(buf, idx, mod, file);
    if (w < 0)
        return badarg(out);
    if (!w) {
        ei_x_encode_atom(out, "false");
        return CN_RPC_RETURN;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "file");
    encode_where(out, w, file);
    return CN_RPC_RETURN;
}

static int ensure_loaded_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char mod[256], file[FILE_MAX];
    int w = arg_whence(buf, idx, mod, file);
    if (w < 0)
        return badarg(out);
    ei_x_encode_tuple_header(out, 2);
    if (w) {
        ei_x_encode_atom(out, "module");
        ei_x_encode_atom(out, mod);
    } else { /* nothing to load it from: code is only ever pushed to a C node */
        ei_x_encode_atom(out, "error");
        ei_x_encode_atom(out, "nofile");
    }
    return CN_RPC_RETURN;
}

static void one_loaded(const char *mod, const char *file, const char *vsn, int has_old, int users,
                       void *arg)
{
    (void)vsn;
    (void)has_old;
    (void)users;
    ei_x_buff *out = arg;
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, mod);
    ei_x_encode_string(out, file);
}

static int all_loaded_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    const char *names[512];
    size_t n = cn_exports_builtin_modules(names, 256);
    const char *workers[256];
    size_t nw = cn_worker_list(workers, 256);
    for (size_t i = 0; i < nw && n < 512; i++) /* built-in workers not already listed */
        if (cn_worker_builtin_lookup(workers[i])) {
            size_t k = 0;
            while (k < n && strcmp(names[k], workers[i]) != 0)
                k++;
            if (k == n)
                names[n++] = workers[i];
        }
    for (size_t i = 0; i < n; i++) {
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        ei_x_encode_atom(out, names[i]);
        ei_x_encode_atom(out, "preloaded");
    }
    cn_code_foreach(one_loaded, out);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* cnode:modules/0: [{Mod, Vsn, File, HasOldCode, ProcessesOnCurrent}] of loaded code. */
static void one_module(const char *mod, const char *file, const char *vsn, int has_old, int users,
                       void *arg)
{
    ei_x_buff *out = arg;
    ei_x_encode_list_header(out, 1);
    ei_x_encode_tuple_header(out, 5);
    ei_x_encode_atom(out, mod);
    ei_x_encode_string(out, vsn);
    ei_x_encode_string(out, file);
    bool_atom(out, has_old);
    ei_x_encode_long(out, users);
}

static int modules_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    cn_code_foreach(one_module, out);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

/* cnode:upgrade(Mod[, Extra]): move every worker still on Mod's old code to the current
 * version, each through code_change with the old version's vsn and Extra (default []), as
 * release_handler does with suspend/change_code/resume. Returns [{Pid, ok | {error, R}}]. */
static int upgrade_n(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    char mod[256], vsn[256];
    static const char nil[] = {ERL_NIL_EXT};
    if (get_module(buf, idx, mod) < 0)
        return badarg(out);
    const char *extra = nil;
    int extra_len = 1, at = *idx;
    if (arity == 2) {
        if (ei_skip_term(buf, idx) < 0)
            return badarg(out);
        extra = buf + at;
        extra_len = *idx - at;
    }
    ei_x_buff req;
    ei_x_new(&req);
    ei_x_encode_tuple_header(&req, 2);
    ei_x_encode_atom(&req, "$cnode_code_change"); /* served by the gen_server adapter (gen.c) */
    ei_x_append_buf(&req, extra, extra_len);
    cn_pid *pids;
    size_t n;
    cn_code_old_users(mod, &pids, &n, vsn, sizeof vsn);
    for (size_t i = 0; i < n; i++) {
        ei_x_buff reply;
        ei_x_new(&reply);
        int r = cn_call(self, &pids[i], req.buff, req.index, 5000, &reply);
        ei_x_encode_list_header(out, 1);
        ei_x_encode_tuple_header(out, 2);
        cn_encode_pid(out, &pids[i]);
        if (r == 0) {
            ei_x_append_buf(out, reply.buff, reply.index);
        } else {
            ei_x_encode_tuple_header(out, 2);
            ei_x_encode_atom(out, "error");
            ei_x_encode_atom(out, r == -1 ? "timeout" : "noproc");
        }
        ei_x_free(&reply);
    }
    ei_x_encode_empty_list(out);
    if (n > 0)
        cn_info("code: %s: moved %zu worker(s) from vsn %s to the current code", mod, n, vsn);
    free(pids);
    ei_x_free(&req);
    return CN_RPC_RETURN;
}

int cn_code_rpc_start(void)
{
    int r = 0;
    r |= cn_export("code", "load_binary", 3, load_binary_3);
    r |= cn_export("code", "purge", 1, purge_1);
    r |= cn_export("code", "soft_purge", 1, soft_purge_1);
    r |= cn_export("code", "delete", 1, delete_1);
    r |= cn_export("code", "which", 1, which_1);
    r |= cn_export("code", "is_loaded", 1, is_loaded_1);
    r |= cn_export("code", "ensure_loaded", 1, ensure_loaded_1);
    r |= cn_export("code", "all_loaded", 0, all_loaded_0);
    r |= cn_export("cnode", "modules", 0, modules_0);
    r |= cn_export("cnode", "load", 1, load_1);
    r |= cn_export("cnode", "upgrade", 1, upgrade_n);
    r |= cn_export("cnode", "upgrade", 2, upgrade_n);
    if (cn_code_unsigned_allowed())
        cn_warn("code: --allow-unsigned: unsigned native modules will load");
    else if (cn_trust_count() == 0)
        cn_info("code: no trusted keys (--trust-key/--trust-dir): signed native modules "
                "cannot load");
    return r < 0 ? -1 : 0;
}

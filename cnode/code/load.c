/* load: check, map and install a native module (see load.h). */
#include "code/load.h"

#include "code/sign.h"
#include "code/table.h"
#include "proc/proc.h"
#include "util/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PURGE_WAIT_MS 5000

static const char KILL[] = {119, 4, 'k', 'i', 'l', 'l'};

static void unload(void *handle)
{
    dlclose(handle);
}

/* Accepted: purge the old code of a loaded module first (as code_server does), then
 * install. */
static int install(const cn_module_def *def, const char *file, void *h, const char **bad,
                   cn_proc *self)
{
    if ((*bad = cn_code_precheck(def))) /* a refusal must not have purged anything */
        return -1;
    if (cn_code_loaded(def->name, NULL, 0)) {
        long n = cn_code_purge_wait(self, def->name);
        if (n > 0)
            cn_info("code: loading %s killed %ld process(es) still in its oldest code", def->name,
                    n);
    }
    return cn_code_install(def, file, h, unload, bad);
}

long cn_code_purge_wait(cn_proc *self, const char *module)
{
    cn_pid *pids, me = cn_self(self);
    size_t n;
    if (cn_code_purge(module, 0, &pids, &n) == 0)
        return -1;
    for (size_t i = 0; i < n; i++) /* as the BEAM's code purger does */
        cn_sig_send_exit(&me, &pids[i], KILL, sizeof KILL, 0);
    free(pids);
    for (int waited = 0; cn_code_pending_unload(module) > 0 && waited < PURGE_WAIT_MS; waited += 10)
        if (cn_sleep(self, 10) < 0)
            break;
    if (cn_code_pending_unload(module) > 0)
        cn_warn("code: old code of %s is still in use; it unloads when its last user ends", module);
    return (long)n;
}

/* {error, Reason}'s Reason for a refused container. */
static void check_reason(int st, const cn_mod_info *info, ei_x_buff *r)
{
    char kid[2 * CN_KEY_ID_LEN + 1];
    switch (st) {
    case CN_MOD_NOT_NATIVE:
        ei_x_encode_atom(r, "badfile");
        break;
    case CN_MOD_TRUNCATED:
    case CN_MOD_NOT_SHARED:
        ei_x_encode_tuple_header(r, 2);
        ei_x_encode_atom(r, "badfile");
        ei_x_encode_atom(r, st == CN_MOD_TRUNCATED ? "truncated" : "not_a_shared_object");
        break;
    case CN_MOD_FORMAT_VSN:
        ei_x_encode_tuple_header(r, 2);
        ei_x_encode_atom(r, "badfile");
        ei_x_encode_tuple_header(r, 2);
        ei_x_encode_atom(r, "format");
        ei_x_encode_long(r, info->abi);
        break;
    case CN_MOD_UNSIGNED:
        ei_x_encode_atom(r, "unsigned");
        break;
    case CN_MOD_UNKNOWN_KEY:
        for (int i = 0; i < CN_KEY_ID_LEN; i++)
            snprintf(kid + 2 * i, 3, "%02x", info->key_id[i]);
        ei_x_encode_tuple_header(r, 2);
        ei_x_encode_atom(r, "unknown_key");
        ei_x_encode_binary(r, kid, 2 * CN_KEY_ID_LEN);
        break;
    case CN_MOD_BAD_SIG:
        ei_x_encode_atom(r, "bad_signature");
        break;
    case CN_MOD_WRONG_ARCH:
        ei_x_encode_tuple_header(r, 3);
        ei_x_encode_atom(r, "wrong_arch");
        ei_x_encode_atom(r, cn_mod_machine_name(info->machine));
        ei_x_encode_atom(r, cn_mod_machine_name(cn_mod_machine()));
        break;
    case CN_MOD_WRONG_ABI:
    default:
        ei_x_encode_tuple_header(r, 3);
        ei_x_encode_atom(r, "abi_version");
        ei_x_encode_long(r, info->abi);
        ei_x_encode_long(r, CN_ABI_VERSION);
        break;
    }
}

static void reason2(ei_x_buff *r, const char *tag, const char *text)
{
    ei_x_encode_tuple_header(r, 2);
    ei_x_encode_atom(r, tag);
    ei_x_encode_binary(r, text, (long)strlen(text));
}

/* dlopen needs a path: write the object to a fresh 0700 directory of our own, map it, and
 * remove both at once (the mapping keeps the inode). /proc/self/fd is not there to use in
 * every environment (the OTP 27 test root has no /proc). */
static void *map_object(const uint8_t *elf, size_t len, char *err, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4400];
    if (!tmp || !*tmp || strlen(tmp) > 3000)
        tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/cnoded-code-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        snprintf(err, cap, "mkdtemp %.300s: %s", dir, strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/module.so", dir); /* not the module's name: it may hold '/' */
    void *h = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, elf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (fd < 0 || done < len || close(fd) < 0) {
        snprintf(err, cap, "writing %.300s: %s", path, strerror(errno));
        if (fd >= 0 && done < len)
            close(fd);
    } else if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        const char *e = dlerror();
        size_t pl = strlen(path);
        if (e && strncmp(e, path, pl) == 0 && !strncmp(e + pl, ": ", 2))
            e += pl + 2; /* the temporary path means nothing to the caller */
        snprintf(err, cap, "%s", e ? e : "dlopen failed");
    }
    unlink(path);
    rmdir(dir);
    return h;
}

int cn_code_load(const char *name, const char *file, const uint8_t *bin, size_t len,
                 ei_x_buff *reason, cn_proc *self, char loaded[256])
{
    const char *asked = name;
    if (!name)
        name = "a module"; /* cnode:load/1: the object names itself */
    cn_mod_info info;
    char why[600];
    int st = cn_mod_check(bin, len, cn_code_unsigned_allowed(), &info);
    if (st != CN_MOD_OK) {
        cn_mod_explain(st, &info, why, sizeof why);
        cn_warn("code: refused to load %s: %s", name, why);
        check_reason(st, &info, reason);
        return -1;
    }
    if (!info.is_signed)
        cn_warn("code: loading UNSIGNED module %s (--allow-unsigned)", name);
    void *h = map_object(info.elf, info.elf_len, why, sizeof why);
    if (!h) {
        cn_warn("code: refused to load %s: dlopen: %s", name, why);
        reason2(reason, "dlopen", why);
        return -1;
    }
    const cn_module_def *(*entry)(void);
    *(void **)&entry = dlsym(h, CN_MODULE_ENTRY);
    const cn_module_def *def = entry ? entry() : NULL;
    const char *bad = NULL;
    if (!entry) {
        cn_warn("code: refused to load %s: no entry point %s() in the object", name,
                CN_MODULE_ENTRY);
        ei_x_encode_tuple_header(reason, 2);
        ei_x_encode_atom(reason, "no_entry_point");
        ei_x_encode_atom(reason, CN_MODULE_ENTRY);
    } else if (!def || def->abi_version != CN_ABI_VERSION) {
        cn_warn("code: refused to load %s: its descriptor is for ABI %d, this node speaks %d", name,
                def ? def->abi_version : -1, CN_ABI_VERSION);
        ei_x_encode_tuple_header(reason, 3);
        ei_x_encode_atom(reason, "abi_version");
        ei_x_encode_long(reason, def ? def->abi_version : -1);
        ei_x_encode_long(reason, CN_ABI_VERSION);
    } else if (!def->name || (asked && strcmp(def->name, asked) != 0)) {
        /* as the BEAM refuses a binary whose module attribute names another module */
        cn_warn("code: refused to load %s: the object is module '%s'", name,
                def->name ? def->name : "(none)");
        ei_x_encode_tuple_header(reason, 2);
        ei_x_encode_atom(reason, "module_name");
        ei_x_encode_atom(reason, def->name && strlen(def->name) < 256 ? def->name : "");
    } else if (install(def, file, h, &bad, self) < 0) {
        cn_warn("code: refused to load %s: %s", name, bad);
        ei_x_encode_atom(reason, bad);
    } else {
        char kid[2 * CN_KEY_ID_LEN + 1] = "none";
        for (int i = 0; info.is_signed && i < CN_KEY_ID_LEN; i++)
            snprintf(kid + 2 * i, 3, "%02x", info.key_id[i]);
        snprintf(loaded, 256, "%s", def->name); /* install checked it is a short name */
        cn_info("code: loaded %s vsn %s (%zu bytes, key %s)", loaded, def->vsn ? def->vsn : "?",
                info.elf_len, kid);
        return 0;
    }
    dlclose(h);
    return -1;
}

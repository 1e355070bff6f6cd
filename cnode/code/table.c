/* table: loaded native modules with current and old versions, and who holds each version.
 *
 * A version's `refs` counts the table itself (while it is current or old), every process
 * bound to it and every rpc call inside it. Whoever drops the last reference unloads it, so
 * a purge with users left only detaches the version and the last user's exit unloads it.
 * Module entries are never freed (their stand-in workers must stay valid for supervisors
 * that keep them); a purged name's entry is reused when the module is loaded again. */
#include "code/table.h"

#include "proc/gen.h"
#include "services/exports.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODS 256
#define NAME_MAX_LEN 256

struct cn_code_ver {
    struct mod *mod;
    atomic_int refs;
    const cn_module_def *def;
    void *handle;
    void (*unload)(void *handle);
    char *file;
    cn_code_user users; /* list sentinel: the processes bound to this version */
    size_t nusers;
};

typedef struct mod {
    char name[NAME_MAX_LEN];
    cn_worker stub; /* what cn_worker_lookup hands out for this module's worker */
    cn_code_ver *cur, *old;
    int pending; /* purged versions not yet unloaded */
} mod;

static mod mods[MAX_MODS];
static atomic_int nmods; /* written under lock; read without it to skip work when 0 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static mod *find(const char *name)
{
    for (int i = 0; i < nmods; i++)
        if (strcmp(mods[i].name, name) == 0)
            return &mods[i];
    return NULL;
}

static void ver_free(cn_code_ver *v)
{
    mod *m = v->mod;
    cn_info("code: %s vsn %s unloaded", m->name, v->def->vsn ? v->def->vsn : "?");
    if (v->unload)
        v->unload(v->handle);
    pthread_mutex_lock(&lock);
    m->pending--;
    pthread_mutex_unlock(&lock);
    free(v->file);
    free(v);
}

void cn_code_hold(cn_code_ver *v)
{
    atomic_fetch_add(&v->refs, 1);
}

void cn_code_release(cn_code_ver *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1)
        ver_free(v);
}

static int valid_name(const char *s)
{
    return s && s[0] && strlen(s) < NAME_MAX_LEN;
}

/* What a descriptor must satisfy before anything of it is used. */
static const char *check_def(const cn_module_def *def)
{
    if (def->abi_version != CN_ABI_VERSION)
        return "abi_version";
    if (!valid_name(def->name))
        return "bad_module_name";
    if (def->worker && (!def->worker->module || strcmp(def->worker->module, def->name) != 0))
        return "bad_worker_name";
    if (def->nexports < 0 || def->nexports > 4096 || (def->nexports > 0 && !def->exports))
        return "bad_exports";
    for (int i = 0; i < def->nexports; i++) {
        const cn_export_def *e = &def->exports[i];
        if (!valid_name(e->function) || !e->fn || e->arity < -1 || e->arity > 255)
            return "bad_exports";
    }
    return NULL;
}

const char *cn_code_precheck(const cn_module_def *def)
{
    const char *why = check_def(def);
    if (why)
        return why;
    /* Built-in code cannot be replaced, like a BEAM module in a sticky directory. */
    if (cn_worker_builtin_lookup(def->name) || cn_exports_builtin_module(def->name))
        return "sticky_directory";
    return NULL;
}

int cn_code_install(const cn_module_def *def, const char *file, void *handle,
                    void (*unload)(void *handle), const char **why)
{
    if ((*why = cn_code_precheck(def)))
        return -1;
    cn_code_ver *v = calloc(1, sizeof *v);
    if (!v || !(v->file = strdup(file ? file : ""))) {
        free(v);
        *why = "system_limit";
        return -1;
    }
    v->def = def;
    v->handle = handle;
    v->unload = unload;
    v->users.next = v->users.prev = &v->users;
    atomic_init(&v->refs, 1);
    pthread_mutex_lock(&lock);
    mod *m = find(def->name);
    if (!m && nmods < MAX_MODS) {
        m = &mods[atomic_fetch_add(&nmods, 1)];
        strcpy(m->name, def->name);
        m->stub.module = m->name;
    }
    if (!m || m->old) {
        pthread_mutex_unlock(&lock);
        *why = m ? "not_purged" : "system_limit";
        free(v->file);
        free(v);
        return -1;
    }
    if (cn_exports_set_module(def->name, def->exports, def->nexports, v) < 0) {
        pthread_mutex_unlock(&lock);
        *why = "system_limit";
        free(v->file);
        free(v);
        return -1;
    }
    v->mod = m;
    m->old = m->cur;
    m->cur = v;
    pthread_mutex_unlock(&lock);
    return 0;
}

int cn_code_purge(const char *module, int soft, cn_pid **kill, size_t *nkill)
{
    *kill = NULL;
    *nkill = 0;
    pthread_mutex_lock(&lock);
    mod *m = find(module);
    cn_code_ver *v = m ? m->old : NULL;
    if (!v) {
        pthread_mutex_unlock(&lock);
        return 0;
    }
    if (soft && atomic_load(&v->refs) > 1) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (!soft && v->nusers > 0 && (*kill = malloc(v->nusers * sizeof **kill))) {
        for (cn_code_user *u = v->users.next; u != &v->users; u = u->next)
            (*kill)[(*nkill)++] = u->pid;
    }
    m->old = NULL;
    m->pending++;
    pthread_mutex_unlock(&lock);
    cn_code_release(v); /* the table's reference */
    return 1;
}

int cn_code_old_users(const char *module, cn_pid **pids, size_t *n, char *vsn, size_t cap)
{
    *pids = NULL;
    *n = 0;
    pthread_mutex_lock(&lock);
    mod *m = find(module);
    cn_code_ver *v = m ? m->old : NULL;
    if (v) {
        snprintf(vsn, cap, "%s", cn_code_vsn(v));
        if (v->nusers > 0 && (*pids = malloc(v->nusers * sizeof **pids)))
            for (cn_code_user *u = v->users.next; u != &v->users; u = u->next)
                (*pids)[(*n)++] = u->pid;
    }
    pthread_mutex_unlock(&lock);
    return v != NULL;
}

int cn_code_delete(const char *module)
{
    pthread_mutex_lock(&lock);
    mod *m = find(module);
    int ok = m && m->cur && !m->old;
    if (ok) {
        cn_exports_set_module(module, NULL, 0, NULL);
        m->old = m->cur;
        m->cur = NULL;
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

int cn_code_pending_unload(const char *module)
{
    pthread_mutex_lock(&lock);
    mod *m = find(module);
    int n = m ? m->pending : 0;
    pthread_mutex_unlock(&lock);
    return n;
}

int cn_code_loaded(const char *module, char *file_out, size_t cap)
{
    pthread_mutex_lock(&lock);
    mod *m = find(module);
    int r = m && m->cur;
    if (r && file_out && cap > 0) {
        strncpy(file_out, m->cur->file, cap - 1);
        file_out[cap - 1] = 0;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

void cn_code_foreach(void (*fn)(const char *module, const char *file, const char *vsn, int has_old,
                                int users, void *arg),
                     void *arg)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nmods; i++) {
        mod *m = &mods[i];
        if (m->cur)
            fn(m->name, m->cur->file, m->cur->def->vsn ? m->cur->def->vsn : "", m->old != NULL,
               (int)m->cur->nusers, arg);
    }
    pthread_mutex_unlock(&lock);
}

const cn_worker *cn_code_worker_stub(const char *module)
{
    pthread_mutex_lock(&lock);
    mod *m = find(module);
    const cn_worker *w = m && m->cur && m->cur->def->worker ? &m->stub : NULL;
    pthread_mutex_unlock(&lock);
    return w;
}

size_t cn_code_worker_names(const char **out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nmods && n < cap; i++)
        if (mods[i].cur && mods[i].cur->def->worker)
            out[n++] = mods[i].name; /* entries live as long as the node */
    pthread_mutex_unlock(&lock);
    return n;
}

static mod *stub_owner(const cn_worker *w)
{
    const char *p = (const char *)w, *lo = (const char *)mods, *hi = lo + sizeof mods;
    if (p < lo || p >= hi)
        return NULL;
    return &mods[(p - lo) / (ptrdiff_t)sizeof(mod)];
}

static void link_user(cn_code_ver *v, cn_code_user *u)
{
    u->ver = v;
    u->next = &v->users;
    u->prev = v->users.prev;
    v->users.prev->next = u;
    v->users.prev = u;
    v->nusers++;
}

static void unlink_user(cn_code_user *u)
{
    u->prev->next = u->next;
    u->next->prev = u->prev;
    u->ver->nusers--;
}

/* The version whose worker table is w (loaded code spawning its own worker directly, e.g. a
 * worker starting a child with cn_spawn_worker(&its_worker, ...)). Called with lock held. */
static cn_code_ver *owner_of(const cn_worker *w)
{
    for (int i = 0; i < nmods; i++) {
        if (mods[i].cur && mods[i].cur->def->worker == w)
            return mods[i].cur;
        if (mods[i].old && mods[i].old->def->worker == w)
            return mods[i].old;
    }
    return NULL;
}

const cn_worker *cn_code_bind(const cn_worker *w, cn_code_user *u, const cn_pid *pid)
{
    u->ver = NULL;
    if (pid)
        u->pid = *pid;
    if (atomic_load(&nmods) == 0)
        return w; /* nothing was ever loaded: built-in code (the common, fast case) */
    mod *m = stub_owner(w);
    pthread_mutex_lock(&lock);
    cn_code_ver *v = m ? m->cur : owner_of(w);
    const cn_worker *real = v ? v->def->worker : m ? NULL : w;
    if (v && real) {
        cn_code_hold(v);
        link_user(v, u);
    }
    pthread_mutex_unlock(&lock);
    return real;
}

void cn_code_unbind(cn_code_user *u)
{
    cn_code_ver *v = u->ver;
    if (!v)
        return;
    pthread_mutex_lock(&lock);
    unlink_user(u);
    pthread_mutex_unlock(&lock);
    u->ver = NULL;
    cn_code_release(v);
}

int cn_code_newer(const cn_code_user *u, cn_code_ver **to, const cn_worker **w)
{
    if (!u->ver)
        return 0;
    pthread_mutex_lock(&lock);
    cn_code_ver *cur = u->ver->mod->cur;
    int r = !cur || !cur->def->worker ? -1 : cur == u->ver ? 0 : 1;
    if (r == 1) {
        cn_code_hold(cur);
        *to = cur;
        *w = cur->def->worker;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

void cn_code_move(cn_code_user *u, cn_code_ver *to)
{
    cn_code_ver *from = u->ver;
    pthread_mutex_lock(&lock);
    unlink_user(u);
    link_user(to, u);
    pthread_mutex_unlock(&lock);
    cn_code_release(from);
}

const char *cn_code_vsn(const cn_code_ver *v)
{
    return v && v->def->vsn ? v->def->vsn : "";
}

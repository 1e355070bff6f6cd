/* registry: registered names of local processes (register/2, whereis/1). */
#include "proc/proc.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    cn_pid pid;
    char name[];
} entry;

#define NBUCKETS 1024
static entry *buckets[NBUCKETS];
static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;

static unsigned bucket(const char *s)
{
    unsigned h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h % NBUCKETS;
}

static entry **find(const char *name)
{
    entry **pp = &buckets[bucket(name)];
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    return pp;
}

int cn_register(const char *name, const cn_pid *pid)
{
    size_t n = strlen(name);
    if (n == 0 || n > 1020 || pid->node != 0)
        return -1;
    cn_proc *p = cn_proc_get(pid);
    if (!p)
        return -1;
    int r = -1;
    pthread_mutex_lock(&rlock);
    entry **pp = find(name);
    if (!*pp && !p->regname) {
        entry *e = malloc(sizeof *e + n + 1);
        char *copy = strdup(name);
        if (e && copy) {
            e->next = NULL;
            e->pid = *pid;
            memcpy(e->name, name, n + 1);
            *pp = e;
            p->regname = copy;
            r = 0;
        } else {
            free(e);
            free(copy);
        }
    }
    pthread_mutex_unlock(&rlock);
    cn_proc_release(p);
    return r;
}

static int unregister(const char *name, const cn_pid *only)
{
    pthread_mutex_lock(&rlock);
    entry **pp = find(name);
    entry *e = *pp;
    if (e && only && !cn_pid_eq(&e->pid, only))
        e = NULL;
    if (e)
        *pp = e->next;
    cn_proc *p = e && !only ? cn_proc_get(&e->pid) : NULL;
    if (p) { /* the process may register another name now */
        free(p->regname);
        p->regname = NULL;
    }
    pthread_mutex_unlock(&rlock);
    if (p)
        cn_proc_release(p);
    free(e);
    return e ? 0 : -1;
}

int cn_unregister(const char *name)
{
    return unregister(name, NULL);
}

int cn_unregister_pid(const char *name, const cn_pid *pid)
{
    return unregister(name, pid);
}

int cn_whereis(const char *name, cn_pid *out)
{
    pthread_mutex_lock(&rlock);
    entry *e = *find(name);
    if (e)
        *out = e->pid;
    pthread_mutex_unlock(&rlock);
    return e ? 0 : -1;
}

int cn_proc_regname(cn_proc *p, char *out, size_t cap)
{
    int r = -1;
    pthread_mutex_lock(&rlock); /* the registry sets and frees p->regname under it */
    if (p->regname && cap > 0) {
        size_t n = strlen(p->regname);
        if (n < cap) {
            memcpy(out, p->regname, n + 1);
            r = 0;
        }
    }
    pthread_mutex_unlock(&rlock);
    return r;
}

void cn_registered_foreach(void (*fn)(const char *name, const cn_pid *pid, void *arg), void *arg)
{
    pthread_mutex_lock(&rlock);
    for (int b = 0; b < NBUCKETS; b++)
        for (entry *e = buckets[b]; e; e = e->next)
            fn(e->name, &e->pid, arg);
    pthread_mutex_unlock(&rlock);
}

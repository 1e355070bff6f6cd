#include "proc/plist.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Most processes have a handful of links and monitors, and a walk is the cheapest search
 * for them. A search that walks further than this builds the list's index; from then on the
 * list is searched and unlinked in O(1) (a server monitored by each of its callers, a
 * supervisor linked to thousands of children). */
#define WALK_MAX 16
#define MIN_CAP 64

/* Open addressing with linear probing over entry pointers, at most half full. The hash is
 * keyed (SipHash, random key) because peers choose the refs and pids that go in. */
typedef struct ptab {
    void **slot;
    uint32_t cap; /* 0: no index, walk the list */
    uint32_t n;
} ptab;

struct cn_pidx {
    ptab t[3]; /* CN_PL_MONITORS, CN_PL_MONITORED_BY, CN_PL_LINKS */
};

static unsigned char hkey[crypto_shorthash_KEYBYTES];
static pthread_once_t hkey_once = PTHREAD_ONCE_INIT;

static void hkey_init(void)
{
    randombytes_buf(hkey, sizeof hkey);
}

static uint64_t hash_words(const uint32_t *w, size_t n)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)w, n * sizeof *w, hkey);
    return h;
}

static uint64_t ref_hash(const cn_ref *r)
{
    uint32_t w[8] = {r->node, r->creation, r->len};
    uint32_t len = r->len < 5 ? r->len : 5;
    memcpy(w + 3, r->n, len * sizeof *w);
    return hash_words(w, 3 + len);
}

static uint64_t pid_hash(const cn_pid *pid)
{
    uint32_t w[4] = {pid->node, pid->id, pid->serial, pid->creation};
    return hash_words(w, 4);
}

static uint64_t entry_hash(int which, const void *e)
{
    return which == CN_PL_LINKS ? pid_hash(&((const cn_linkent *)e)->pid)
                                : ref_hash(&((const cn_mon *)e)->ref);
}

static ptab *tab_of(cn_proc *p, int which)
{
    return p->pidx && p->pidx->t[which].cap ? &p->pidx->t[which] : NULL;
}

static void tab_put(ptab *t, int which, void *e)
{
    uint32_t mask = t->cap - 1, i = (uint32_t)entry_hash(which, e) & mask;
    while (t->slot[i])
        i = (i + 1) & mask;
    t->slot[i] = e;
    t->n++;
}

/* Rehash into cap slots. On allocation failure the index is dropped: searches walk again. */
static void tab_resize(ptab *t, int which, uint32_t cap)
{
    void **old = t->slot;
    uint32_t ocap = t->cap;
    t->slot = calloc(cap, sizeof *t->slot);
    t->n = 0;
    t->cap = t->slot ? cap : 0;
    for (uint32_t i = 0; t->slot && i < ocap; i++)
        if (old[i])
            tab_put(t, which, old[i]);
    free(old);
}

static void tab_insert(ptab *t, int which, void *e)
{
    if ((t->n + 1) * 2 > t->cap) {
        tab_resize(t, which, t->cap * 2);
        if (!t->cap)
            return;
    }
    tab_put(t, which, e);
}

static void tab_remove(ptab *t, int which, const void *e)
{
    uint32_t mask = t->cap - 1, i = (uint32_t)entry_hash(which, e) & mask;
    while (t->slot[i] && t->slot[i] != e)
        i = (i + 1) & mask;
    if (!t->slot[i])
        return;
    /* Backward shift: move up each later entry of the run that the hole would hide. */
    for (uint32_t j = i;;) {
        j = (j + 1) & mask;
        if (!t->slot[j])
            break;
        uint32_t k = (uint32_t)entry_hash(which, t->slot[j]) & mask;
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        t->slot[i] = t->slot[j];
        i = j;
    }
    t->slot[i] = NULL;
    t->n--;
    if (t->cap > MIN_CAP && t->n * 8 < t->cap)
        tab_resize(t, which, t->cap / 4 > MIN_CAP ? t->cap / 4 : MIN_CAP);
}

static void *entry_next(int which, void *e)
{
    return which == CN_PL_LINKS ? (void *)((cn_linkent *)e)->next : (void *)((cn_mon *)e)->next;
}

/* Index a list whose walk went too far; on failure the list is simply walked next time. */
static void build(cn_proc *p, int which, void *head)
{
    size_t len = 0;
    for (void *e = head; e; e = entry_next(which, e))
        len++;
    if (!p->pidx && !(p->pidx = calloc(1, sizeof *p->pidx)))
        return;
    pthread_once(&hkey_once, hkey_init);
    uint32_t cap = MIN_CAP;
    while (cap < 4 * len && cap < (1u << 30))
        cap *= 2;
    ptab *t = &p->pidx->t[which];
    if (!(t->slot = calloc(cap, sizeof *t->slot)))
        return;
    t->cap = cap;
    t->n = 0;
    for (void *e = head; e; e = entry_next(which, e))
        tab_put(t, which, e);
}

/* ---- links ------------------------------------------------------------------------------ */

void cn_link_push(cn_proc *p, cn_linkent *l)
{
    l->prev = NULL;
    l->next = p->links;
    if (l->next)
        l->next->prev = l;
    p->links = l;
    ptab *t = tab_of(p, CN_PL_LINKS);
    if (t)
        tab_insert(t, CN_PL_LINKS, l);
}

cn_linkent *cn_link_find(cn_proc *p, const cn_pid *pid)
{
    ptab *t = tab_of(p, CN_PL_LINKS);
    if (t) {
        uint32_t mask = t->cap - 1;
        for (uint32_t i = (uint32_t)pid_hash(pid) & mask; t->slot[i]; i = (i + 1) & mask)
            if (cn_pid_eq(&((cn_linkent *)t->slot[i])->pid, pid))
                return t->slot[i];
        return NULL;
    }
    size_t walked = 0;
    cn_linkent *l = p->links;
    while (l && !cn_pid_eq(&l->pid, pid)) {
        l = l->next;
        walked++;
    }
    if (walked > WALK_MAX)
        build(p, CN_PL_LINKS, p->links);
    return l;
}

void cn_link_unlink(cn_proc *p, cn_linkent *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        p->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->next = l->prev = NULL;
    ptab *t = tab_of(p, CN_PL_LINKS);
    if (t)
        tab_remove(t, CN_PL_LINKS, l);
}

/* ---- monitors --------------------------------------------------------------------------- */

static cn_mon **mon_head(cn_proc *p, int which)
{
    return which == CN_PL_MONITORS ? &p->monitors : &p->monitored_by;
}

void cn_mon_push(cn_proc *p, int which, cn_mon *m)
{
    cn_mon **head = mon_head(p, which);
    m->prev = NULL;
    m->next = *head;
    if (m->next)
        m->next->prev = m;
    *head = m;
    ptab *t = tab_of(p, which);
    if (t)
        tab_insert(t, which, m);
}

cn_mon *cn_mon_find(cn_proc *p, int which, const cn_ref *ref)
{
    ptab *t = tab_of(p, which);
    if (t) {
        uint32_t mask = t->cap - 1;
        for (uint32_t i = (uint32_t)ref_hash(ref) & mask; t->slot[i]; i = (i + 1) & mask)
            if (cn_ref_eq(&((cn_mon *)t->slot[i])->ref, ref))
                return t->slot[i];
        return NULL;
    }
    cn_mon *head = *mon_head(p, which), *m = head;
    size_t walked = 0;
    while (m && !cn_ref_eq(&m->ref, ref)) {
        m = m->next;
        walked++;
    }
    if (walked > WALK_MAX)
        build(p, which, head);
    return m;
}

void cn_mon_unlink(cn_proc *p, int which, cn_mon *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        *mon_head(p, which) = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->next = m->prev = NULL;
    ptab *t = tab_of(p, which);
    if (t)
        tab_remove(t, which, m);
}

cn_mon *cn_mon_take(cn_proc *p, int which, const cn_ref *ref)
{
    cn_mon *m = cn_mon_find(p, which, ref);
    if (m)
        cn_mon_unlink(p, which, m);
    return m;
}

void cn_plist_free(cn_proc *p)
{
    if (!p->pidx)
        return;
    for (int i = 0; i < 3; i++)
        free(p->pidx->t[i].slot);
    free(p->pidx);
    p->pidx = NULL;
}

unsigned cn_plist_index_cap(const cn_proc *p, int which)
{
    return p->pidx ? p->pidx->t[which].cap : 0;
}

/* sup_children: cnode_sup's child table: every child in start order (a list) and those with
 * a pid by pid (a hash); making, finding, adding and removing children. */
#include "services/sup_int.h"

#include <stdlib.h>
#include <string.h>

static size_t hslot(const sup *s, const cn_pid *pid)
{
    return ((size_t)pid->id * 2654435761u ^ pid->serial) & (s->tabsize - 1);
}

child *sup_find_child(const sup *s, const cn_pid *pid)
{
    if (!s->tab)
        return NULL;
    for (child *c = s->tab[hslot(s, pid)]; c; c = c->hnext)
        if (cn_pid_eq(&c->pid, pid))
            return c;
    return NULL;
}

child *sup_find_key(const sup *s, uint64_t key)
{
    for (child *c = s->head; c; c = c->next)
        if (c->key == key)
            return c;
    return NULL;
}

int sup_hash_add(sup *s, child *c)
{
    if (s->nhashed + 1 > s->tabsize) { /* grow: load factor at most 1 */
        size_t size = s->tabsize ? s->tabsize * 2 : 64;
        child **tab = calloc(size, sizeof *tab);
        if (!tab)
            return -1;
        child **old = s->tab;
        size_t oldsize = s->tabsize;
        s->tab = tab;
        s->tabsize = size;
        for (size_t k = 0; k < oldsize; k++)
            for (child *e = old[k], *nx; e; e = nx) {
                nx = e->hnext;
                size_t h = hslot(s, &e->pid);
                e->hnext = tab[h];
                tab[h] = e;
            }
        free(old);
    }
    size_t h = hslot(s, &c->pid);
    c->hnext = s->tab[h];
    s->tab[h] = c;
    s->nhashed++;
    return 0;
}

void sup_hash_del(sup *s, child *c)
{
    if (!c->has_pid)
        return;
    for (child **pp = &s->tab[hslot(s, &c->pid)]; *pp; pp = &(*pp)->hnext)
        if (*pp == c) {
            *pp = c->hnext;
            s->nhashed--;
            break;
        }
    c->has_pid = 0;
}

void sup_list_add(sup *s, child *c)
{
    c->prev = s->tail;
    c->next = NULL;
    if (s->tail)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
    s->nchildren++;
}

/* Forget a child; answer its terminate_child caller (if any) with :ok. */
void sup_child_remove(cn_proc *self, sup *s, child *c)
{
    sup_hash_del(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->tail = c->prev;
    s->nchildren--;
    if (c->terminating)
        s->nterminating--;
    if (c->waiter) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_atom(&x, "ok");
        cn_reply(self, c->waiter, x.buff, x.index);
        ei_x_free(&x);
        cn_from_free(c->waiter);
    }
    sup_spec_free(&c->sp);
    free(c);
}

child *sup_child_new(sup *s, sup_spec *sp, const char *name)
{
    child *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sp = *sp;
    c->name = name;
    c->key = ++s->next_key;
    memset(sp, 0, sizeof *sp);
    return c;
}

/* introspect: erlang:processes/0, registered/0, whereis/1, the helpers the other
 * introspect_*.c files share, and the start function that exports them all. */
#include "services/introspect.h"

#include "loop.h"
#include "proc/proc.h"

#include <string.h>

static uint64_t started_ms;

int cn_ix_badarg(ei_x_buff *out)
{
    ei_x_encode_atom(out, "badarg");
    return CN_RPC_ERROR;
}

uint64_t cn_ix_uptime_ms(void)
{
    return cn_now_ms() - started_ms;
}

int cn_ix_atoms(const char *buf, int *idx, int *is_list, int (*fn)(const char *atom, void *arg),
                void *arg)
{
    char a[MAXATOMLEN_UTF8];
    int type, size, n, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return -1;
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        *is_list = 0;
        if (ei_decode_atom(buf, &i, a) < 0 || fn(a, arg) < 0)
            return -1;
        *idx = i;
        return 0;
    }
    *is_list = 1;
    if (type == ERL_NIL_EXT) {
        ei_skip_term(buf, &i);
        *idx = i;
        return 0;
    }
    if (type != ERL_LIST_EXT || ei_decode_list_header(buf, &i, &n) < 0)
        return -1; /* a STRING_EXT is a list of small integers: never atoms */
    for (int k = 0; k < n; k++)
        if (ei_decode_atom(buf, &i, a) < 0 || fn(a, arg) < 0)
            return -1;
    if (ei_get_type(buf, &i, &type, &size) < 0 || type != ERL_NIL_EXT)
        return -1; /* an improper list */
    ei_skip_term(buf, &i);
    *idx = i;
    return 0;
}

/* A process's memory, estimated without waiting for it: its record, an allowance for its
 * behaviour data, and its mailbox (read under the mailbox lock). */
void cn_ix_proc_mem(cn_proc *p, uint64_t *heap, uint64_t *binary)
{
    uint64_t h = sizeof *p + 256, b = 0;
    pthread_mutex_lock(&p->lock);
    for (const cn_msg *m = p->mq_head; m; m = m->next) {
        h += sizeof *m;
        if (m->len > 64)
            b += m->len;
        else
            h += m->len;
    }
    pthread_mutex_unlock(&p->lock);
    *heap += h;
    *binary += b;
}

/* ---- processes/0, registered/0, whereis/1 -------------------------------------------- */

static void encode_one_pid(cn_proc *p, void *arg)
{
    ei_x_buff *out = arg;
    ei_x_encode_list_header(out, 1);
    cn_encode_pid(out, &p->pid);
}

static int processes_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    cn_proc_foreach(encode_one_pid, out); /* in pid order, as the BEAM lists them */
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

static void encode_one_name(const char *name, const cn_pid *pid, void *arg)
{
    (void)pid;
    ei_x_buff *out = arg;
    ei_x_encode_list_header(out, 1);
    ei_x_encode_atom(out, name);
}

static int registered_0(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)buf;
    (void)idx;
    (void)arity;
    cn_registered_foreach(encode_one_name, out);
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

static int whereis_1(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    char name[MAXATOMLEN_UTF8];
    cn_pid pid;
    if (ei_decode_atom(buf, idx, name) < 0)
        return cn_ix_badarg(out);
    if (cn_whereis(name, &pid) == 0)
        cn_encode_pid(out, &pid);
    else
        ei_x_encode_atom(out, "undefined");
    return CN_RPC_RETURN;
}

int cn_introspect_start(void)
{
    started_ms = cn_now_ms();
    int r = 0;
    r |= cn_export("erlang", "processes", 0, processes_0);
    r |= cn_export("erlang", "registered", 0, registered_0);
    r |= cn_export("erlang", "whereis", 1, whereis_1);
    r |= cn_introspect_proc_start();
    r |= cn_introspect_sys_start();
    r |= cn_introspect_node_start();
    return r < 0 ? -1 : 0;
}

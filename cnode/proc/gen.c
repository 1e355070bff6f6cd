/* gen: the gen_server adapter. It turns '$gen_call', '$gen_cast', system messages and
 * everything else into a worker's callbacks, and starts worker processes. */
#include "dist/out.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

typedef struct gen {
    const cn_worker *w;
    void *state;
} gen;

static int atom_eq(const char *buf, int *idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];
    int i = *idx;
    if (ei_decode_atom(buf, &i, a) < 0 || strcmp(a, want) != 0)
        return 0;
    *idx = i;
    return 1;
}

/* From = {Pid, Tag}: keep the tag's bytes to echo them unchanged (PROTOCOL.md §6.2). */
static int decode_from(const char *buf, int *idx, cn_from *from)
{
    int arity, start;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 2 ||
        cn_decode_pid(buf, idx, &from->pid) < 0)
        return -1;
    start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    from->tag = (char *)buf + start;
    from->tag_len = *idx - start;
    return 0;
}

static int do_call(cn_proc *p, gen *g, const char *buf, int *idx)
{
    cn_from from;
    if (decode_from(buf, idx, &from) < 0 || !g->w->handle_call)
        return CN_NOREPLY;
    ei_x_buff reply;
    ei_x_new(&reply);
    int r = g->w->handle_call(p, g->state, buf, idx, &from, &reply);
    if (r == CN_REPLY)
        cn_reply(p, &from, reply.buff, reply.index);
    ei_x_free(&reply);
    return r == CN_STOP ? CN_STOP : CN_NOREPLY;
}

static int do_system(cn_proc *p, gen *g, const char *buf, int *idx)
{
    cn_from from;
    if (decode_from(buf, idx, &from) < 0)
        return CN_NOREPLY;
    int req = *idx;
    ei_x_buff reply;
    ei_x_new(&reply);
    if (atom_eq(buf, idx, "get_state") && g->w->export_state &&
        g->w->export_state(g->state, &reply) == 0) {
        cn_reply(p, &from, reply.buff, reply.index);
    } else {
        /* The full system-message protocol comes with the worker API (sys issue). */
        int end = req;
        ei_skip_term(buf, &end);
        ei_x_free(&reply);
        ei_x_new(&reply);
        ei_x_encode_tuple_header(&reply, 2);
        ei_x_encode_atom(&reply, "error");
        ei_x_encode_tuple_header(&reply, 2);
        ei_x_encode_atom(&reply, "unknown_system_msg");
        ei_x_append_buf(&reply, buf + req, end - req);
        cn_reply(p, &from, reply.buff, reply.index);
    }
    ei_x_free(&reply);
    return CN_NOREPLY;
}

static int gen_message(cn_proc *p, const cn_msg *m)
{
    gen *g = p->beh;
    const char *buf = m->data;
    int idx = 0, version, arity, r = CN_NOREPLY;
    if (ei_decode_version(buf, &idx, &version) < 0)
        return CN_NOREPLY;
    int body = idx;
    if (ei_decode_tuple_header(buf, &idx, &arity) == 0) {
        if (arity == 3 && atom_eq(buf, &idx, "$gen_call"))
            return do_call(p, g, buf, &idx);
        if (arity == 2 && atom_eq(buf, &idx, "$gen_cast"))
            return g->w->handle_cast ? g->w->handle_cast(p, g->state, buf, &idx) : CN_NOREPLY;
        if (arity == 3 && atom_eq(buf, &idx, "system"))
            return do_system(p, g, buf, &idx);
    }
    idx = body;
    if (g->w->handle_info)
        r = g->w->handle_info(p, g->state, buf, &idx);
    return r == CN_STOP ? CN_STOP : CN_NOREPLY;
}

static void gen_terminate(cn_proc *p, const char *reason, int len)
{
    gen *g = p->beh;
    if (g->w->terminate)
        g->w->terminate(p, g->state, reason, len);
    free(g);
    p->beh = NULL;
}

int cn_spawn_worker(const cn_worker *w, const char *args, int args_len, const char *name,
                    cn_pid *pid_out)
{
    static const cn_proc_ops gen_ops = {"gen_server", gen_message, gen_terminate};
    gen *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->w = w;
    cn_proc *p = cn_proc_create(&gen_ops, g);
    if (!p) {
        free(g);
        return -1;
    }
    /* init runs before anyone can know the pid, so running it on the caller's thread is
     * indistinguishable from running it in the process. */
    const char nil[] = {ERL_NIL_EXT};
    int idx = 0;
    if (w->init && w->init(p, args ? args : nil, &idx, &g->state) < 0) {
        cn_warn("worker %s: init failed", w->module);
        free(g);
        p->beh = NULL;
        cn_proc_discard(p);
        return -1;
    }
    (void)args_len;
    if (name && cn_register(name, &p->pid) < 0) {
        cn_warn("worker %s: name '%s' is taken", w->module, name);
        if (w->terminate)
            w->terminate(p, g->state, "\x77\x06normal", 8);
        free(g);
        p->beh = NULL;
        cn_proc_discard(p);
        return -1;
    }
    if (pid_out)
        *pid_out = p->pid;
    cn_proc_release(p);
    return 0;
}

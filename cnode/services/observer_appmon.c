/* observer_appmon: the appmon_info server observer's Applications tab starts on the node it
 * looks into (appmon_info:start_link2/3 over rpc), answering its requests with what is true
 * here: the node runs no OTP applications, so the list is empty and so is every tree. Without
 * it the tab's own process would crash on the {badrpc, ...}. */
#include "proc/proc.h"
#include "services/observer_enc.h"

#include <string.h>

static int am_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self, (void)buf, (void)idx;
    *state = NULL;
    return 0;
}

/* {From, Cmd, Aux, OnOff, Opts}: app_ctrl (the application list) and app (one application's
 * tree) are answered when turned on; load and pinfo are left unanswered (observer does not
 * ask for them); anything else is ignored, as a gen_server cast it does not know. */
static int am_cast(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)state;
    char cmd[MAXATOMLEN_UTF8], onoff[MAXATOMLEN_UTF8];
    int n, i = *idx;
    cn_pid from;
    if (ei_decode_tuple_header(buf, &i, &n) < 0 || n != 5 ||
        cn_obs_decode_pid(buf, &i, &from) < 0 || ei_decode_atom(buf, &i, cmd) < 0)
        return ei_skip_term(buf, idx), CN_NOREPLY;
    const char *aux = buf + i;
    if (ei_skip_term(buf, &i) < 0)
        return ei_skip_term(buf, idx), CN_NOREPLY;
    int aux_len = (int)(buf + i - aux);
    if (ei_decode_atom(buf, &i, onoff) < 0 || strcmp(onoff, "true"))
        return ei_skip_term(buf, idx), CN_NOREPLY;
    int is_ctrl = !strcmp(cmd, "app_ctrl");
    if (is_ctrl || !strcmp(cmd, "app")) {
        ei_x_buff m;
        ei_x_new(&m);
        cn_pid me = cn_self(self);
        ei_x_encode_tuple_header(&m, 5);
        ei_x_encode_atom(&m, "delivery");
        cn_encode_pid(&m, &me);
        ei_x_encode_atom(&m, cmd);
        ei_x_append_buf(&m, aux, aux_len);
        if (is_ctrl) {
            ei_x_encode_empty_list(&m); /* no applications */
        } else {
            ei_x_encode_tuple_header(&m, 4); /* an empty tree */
            for (int k = 0; k < 4; k++)
                ei_x_encode_empty_list(&m);
        }
        cn_send(self, &from, m.buff, m.index);
        ei_x_free(&m);
    }
    ei_skip_term(buf, idx);
    return CN_NOREPLY;
}

static int am_info(cn_proc *self, void *state, const char *buf, int *idx)
{
    (void)self, (void)state;
    ei_skip_term(buf, idx);
    return CN_NOREPLY;
}

static void am_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self, (void)state, (void)reason, (void)len;
}

static const cn_worker appmon_worker = {
    .module = "appmon_info",
    .init = am_init,
    .handle_cast = am_cast,
    .handle_info = am_info,
    .terminate = am_terminate,
};

/* appmon_info:start_link2(Starter, Client, Opts): {ok, Pid} of the one server, started on
 * the first call (as OTP's, registered as appmon_info). */
static int start_link2(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self, (void)arity;
    for (int k = 0; k < 3; k++)
        if (ei_skip_term(buf, idx) < 0)
            return cn_ix_badarg(out);
    cn_pid pid;
    if (cn_whereis("appmon_info", &pid) < 0 &&
        cn_spawn_worker(&appmon_worker, NULL, 0, "appmon_info", &pid) < 0 &&
        cn_whereis("appmon_info", &pid) < 0) { /* lost a race for the name: take the winner */
        ei_x_encode_atom(out, "system_limit");
        return CN_RPC_ERROR;
    }
    ei_x_encode_tuple_header(out, 2);
    ei_x_encode_atom(out, "ok");
    cn_encode_pid(out, &pid);
    return CN_RPC_RETURN;
}

int cn_observer_appmon_start(void)
{
    return cn_export("appmon_info", "start_link2", 3, start_link2);
}

/* net_kernel: answers {is_auth, Node}, which is how Node.ping / net_adm:ping ask a node
 * whether it accepts them (PROTOCOL.md §6.1). Connections themselves live in dist/. */
#include "services/services.h"

#include "cnode.h"
#include "services/keeper.h"
#include "util/log.h"

#include <string.h>

static int nk_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                   ei_x_buff *reply)
{
    (void)self;
    (void)state;
    (void)from;
    int arity;
    char tag[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buf, idx, &arity) == 0 && arity == 2 &&
        ei_decode_atom(buf, idx, tag) == 0 && strcmp(tag, "is_auth") == 0) {
        ei_x_encode_atom(reply, "yes"); /* the handshake already checked the cookie */
        return CN_REPLY;
    }
    cn_debug("net_kernel: unsupported call ignored");
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_encode_atom(reply, "not_supported");
    return CN_REPLY;
}

static const cn_worker net_kernel = {
    .module = "net_kernel",
    .handle_call = nk_call,
};

int cn_net_kernel_start(void)
{
    if (cn_keep_worker(&net_kernel, "net_kernel") < 0)
        return -1;
    return 0;
}

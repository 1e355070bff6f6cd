/* The plain erl_interface C node of `make bench`: the simplest C node that answers the
 * driver's echo calls, the reference issue #7 names next to the BEAM target.
 *
 * One thread, one connection at a time, blocking reads (ei_accept, then ei_xreceive_msg until
 * the peer goes, then ei_accept again): what the erl_interface tutorial's C node does. It
 * registers `echo` for the driver; the name is not checked. A call {'$gen_call', {Pid, Tag},
 * Req} is answered {Tag, Req} by a plain send to Pid (ei cannot send to an alias; the caller's
 * receive matches the message all the same); `count` answers the casts counted so far.
 * Monitors, links and anything else are read and ignored: it does less than cnoded.
 *
 * Usage: ei_echo ALIVE HOST COOKIE (ERL_EPMD_PORT chooses the epmd). Prints "ready" and its
 * pid once published. */
#include <ei.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long casts;

/* {Tag, Body} to pid: Tag and Body are encoded terms (no version byte). */
static void reply(int fd, erlang_pid *to, const char *tag, int tag_len, const char *body,
                  int body_len)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_append_buf(&x, tag, tag_len);
    ei_x_append_buf(&x, body, body_len);
    ei_send(fd, to, x.buff, x.index);
    ei_x_free(&x);
}

/* A message to echo: a gen_server call or cast; anything else is dropped. */
static void handle(int fd, const char *b)
{
    int idx = 0, ver, n;
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_version(b, &idx, &ver) < 0 || ei_decode_tuple_header(b, &idx, &n) < 0 ||
        ei_decode_atom(b, &idx, atom) < 0)
        return;
    if (n == 2 && strcmp(atom, "$gen_cast") == 0) {
        casts++;
        return;
    }
    if (n != 3 || strcmp(atom, "$gen_call") != 0)
        return;
    erlang_pid from;
    int arity;
    if (ei_decode_tuple_header(b, &idx, &arity) < 0 || arity != 2 ||
        ei_decode_pid(b, &idx, &from) < 0)
        return;
    int tag = idx;
    if (ei_skip_term(b, &idx) < 0)
        return;
    int tag_len = idx - tag, req = idx;
    if (ei_skip_term(b, &idx) < 0)
        return;
    int probe = req;
    if (ei_decode_atom(b, &probe, atom) == 0 && strcmp(atom, "count") == 0) {
        ei_x_buff x;
        ei_x_new(&x);
        ei_x_encode_long(&x, casts);
        reply(fd, &from, b + tag, tag_len, x.buff, x.index);
        ei_x_free(&x);
        return;
    }
    reply(fd, &from, b + tag, tag_len, b + req, idx - req);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ei_echo ALIVE HOST COOKIE\n");
        return 2;
    }
    char node[512];
    snprintf(node, sizeof node, "%s@%s", argv[1], argv[2]);
    struct in_addr addr;
    addr.s_addr = htonl(INADDR_LOOPBACK);
    ei_cnode ec;
    int port = 0, lfd;
    if (ei_init() != 0 ||
        ei_connect_xinit(&ec, argv[2], argv[1], node, (Erl_IpAddr)&addr, argv[3], 0) < 0 ||
        (lfd = ei_listen(&ec, &port, 5)) < 0 || ei_publish(&ec, port) < 0) {
        fprintf(stderr, "ei_echo: cannot start %s\n", node);
        return 1;
    }
    printf("ei_echo %s ready, os pid %d\n", node, (int)getpid());
    fflush(stdout);
    for (;;) {
        ErlConnect peer;
        int fd = ei_accept(&ec, lfd, &peer);
        if (fd < 0)
            continue;
        ei_x_buff x;
        ei_x_new(&x);
        for (;;) {
            erlang_msg msg;
            int r = ei_xreceive_msg(fd, &msg, &x);
            if (r == ERL_TICK)
                continue;
            if (r == ERL_ERROR) {
                if (erl_errno == EIO || erl_errno == ETIMEDOUT)
                    break; /* the peer went: wait for the next one */
                continue;  /* a message ei does not know: skipped */
            }
            if (msg.msgtype == ERL_REG_SEND || msg.msgtype == ERL_SEND)
                handle(fd, x.buff);
        }
        ei_x_free(&x);
        close(fd);
    }
}

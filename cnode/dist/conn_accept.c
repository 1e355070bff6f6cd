/* conn_accept: the distribution listen socket and the connections it accepts; what they
 * are told in the handshake (the node table's say) is decided in conn_hs.c. */
#include "dist/conn_int.h"

#include "node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* The listen socket (I/O thread). */
static int listen_fd = -1;
static cn_ev listen_ev;

static void format_addr(const struct sockaddr_storage *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, cap, "%s:%u", ip, port);
}

static void on_accept(void *ctx, uint32_t events)
{
    (void)ctx;
    (void)events;
    for (;;) {
        struct sockaddr_storage sa = {0};
        socklen_t sl = sizeof sa;
        int fd = accept4(listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        conn_set_nonblock(fd);
        cn_conn *c = conn_new(CN_HS_ACCEPTOR);
        if (!c) {
            close(fd);
            continue;
        }
        cn_tp *tp = conn_transport_open(fd, CN_TP_SERVER, NULL);
        if (!tp) {
            conn_release(c);
            continue;
        }
        format_addr(&sa, c->addr, sizeof c->addr);
        conn_start_io(c, tp);
        cn_hs_init(&c->hs, CN_HS_ACCEPTOR, tp->ops->hs_lenbytes, cn_node.name, cn_node.creation,
                   cn_node.flags, cn_node.cookie);
        c->hs.decide = conn_decide;
        c->hs.ctx = c;
        conn_events(c, 0); /* a transport handshake may start at once */
        conn_release(c);   /* only the I/O reference remains until the table takes one */
    }
}

int cn_conn_listen(uint16_t port, uint16_t *bound_port, char *err, size_t errlen)
{
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 128) < 0) {
        snprintf(err, errlen, "cannot listen on port %u: %s", port, strerror(errno));
        close(listen_fd);
        listen_fd = -1;
        return -1;
    }
    socklen_t al = sizeof a;
    getsockname(listen_fd, (struct sockaddr *)&a, &al);
    *bound_port = ntohs(a.sin_port);
    listen_ev.fd = listen_fd;
    listen_ev.fn = on_accept;
    listen_ev.ctx = NULL;
    return cn_loop_add(&listen_ev, EPOLLIN);
}

void conn_listen_close(void)
{
    if (listen_fd >= 0) {
        cn_loop_del(&listen_ev);
        close(listen_fd);
        listen_fd = -1;
    }
}

/* conn_dial: outgoing connections: the peer's port from epmd and the connect, on a dialler
 * thread (the I/O loop never waits for them); then the handshake starts on the I/O thread. */
#include "dist/conn_int.h"

#include "epmd_client/epmd.h"
#include "node.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct dial_job {
    cn_conn *c;
    int fd;
    char err[256];
} dial_job;

static int connect_host(const char *host, uint16_t port, int timeout_ms, char *err, size_t el)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int gr = getaddrinfo(host, ps, &hints, &res);
    if (gr != 0) {
        snprintf(err, el, "cannot resolve %.200s: %s", host, gai_strerror(gr));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (poll(&pf, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            snprintf(err, el, "cannot connect to %.200s:%u: %s", host, port,
                     soerr ? strerror(soerr) : "timeout");
        } else {
            snprintf(err, el, "cannot connect to %.200s:%u: %s", host, port, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void dial_done(void *arg)
{
    dial_job *j = arg;
    cn_conn *c = j->c;
    if (c->state == C_CLOSED || cn_loop_stopping()) {
        if (j->fd >= 0)
            close(j->fd);
    } else if (j->fd < 0) {
        conn_close(c, j->err);
    } else {
        conn_set_nonblock(j->fd);
        conn_set_state(c, C_HANDSHAKE);
        c->created_ms = cn_now_ms();
        cn_tp *tp = conn_transport_open(j->fd, CN_TP_CLIENT, c->peer);
        if (!tp) {
            conn_close(c, "out of memory");
        } else {
            conn_start_io(c, tp);
            cn_hs_init(&c->hs, CN_HS_INITIATOR, tp->ops->hs_lenbytes, cn_node.name,
                       cn_node.creation, cn_node.flags, cn_node.cookie);
            cn_hs_set_expect(&c->hs, c->peer);
            if (cn_hs_start(&c->hs, &c->hsout) == CN_HS_FAIL)
                conn_close(c, c->hs.err);
            else
                conn_events(c, 0); /* the transport handshake, then send_name */
        }
    }
    conn_release(c);
    free(j);
}

/* Our own host name may not resolve (a container or chroot without an /etc/hosts entry);
 * the BEAM then still reaches nodes on its own host, so do the same through loopback. */
static void local_host_fallback(char *host, size_t cap)
{
    const char *mine = strchr(cn_node.name, '@');
    if (!mine || strcmp(mine + 1, host) != 0)
        return;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        freeaddrinfo(res);
        return;
    }
    snprintf(host, cap, "127.0.0.1");
}

static void *dial_thread(void *arg)
{
    dial_job *j = arg;
    cn_conn *c = j->c;
    j->fd = -1;
    char alive[256], host[768];
    const char *at = strchr(c->peer, '@');
    if (!at || at == c->peer || !at[1] || (size_t)(at - c->peer) >= sizeof alive ||
        strlen(at + 1) >= sizeof host) {
        snprintf(j->err, sizeof j->err, "not a node name");
    } else {
        memcpy(alive, c->peer, (size_t)(at - c->peer));
        alive[at - c->peer] = '\0';
        strcpy(host, at + 1);
        local_host_fallback(host, sizeof host);
        cn_epmd_port_info info;
        int r = cn_epmd_port_please(host, cn_node.epmd_port, alive, &info,
                                    cn_node.handshake_timeout_ms, j->err, sizeof j->err);
        if (r >= 0)
            j->fd =
                connect_host(host, info.port, cn_node.handshake_timeout_ms, j->err, sizeof j->err);
    }
    cn_loop_post(dial_done, j);
    return NULL;
}

void conn_dial_post(void *arg)
{
    cn_conn *c = arg;
    dial_job *j = calloc(1, sizeof *j);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (!j || c->state == C_CLOSED) {
        free(j);
        conn_release(c);
    } else {
        j->c = c; /* the job carries our reference */
        if (pthread_create(&t, &at, dial_thread, j) != 0) {
            conn_close(c, "cannot start a dialler thread");
            conn_release(c);
            free(j);
        }
    }
    pthread_attr_destroy(&at);
}

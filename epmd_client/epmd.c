/* epmd: socket layer of the epmd client. Each call opens its own connection and runs against
 * one overall deadline; sockets are non-blocking internally so poll() can enforce it. */
#include "epmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
    return now_ms() + (timeout_ms > 0 ? timeout_ms : CN_EPMD_TIMEOUT_MS);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Wait until fd is ready for events or the deadline passes. 0 ready, else -1 with errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* One address: 0 and *out = connected fd, else the errno that stopped us. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return errno;
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            e = errno;
        } else if (wait_fd(fd, POLLOUT, deadline) < 0) {
            e = errno;
        } else {
            socklen_t len = sizeof e;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                e = errno;
        }
    }
    if (e) {
        close(fd);
        return e;
    }
    *out = fd;
    return 0;
}

/* Connect to epmd, IPv4 addresses first. Returns the fd or a CN_EPMD_ERR_* code. */
static int epmd_connect(const char *host, uint16_t port, int64_t deadline, char *err, size_t errlen)
{
    if (!host)
        host = "127.0.0.1";
    char svc[8];
    snprintf(svc, sizeof svc, "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, svc, &hints, &res);
    if (rc != 0) {
        set_err(err, errlen, "cannot resolve epmd host %s: %s", host, gai_strerror(rc));
        return CN_EPMD_ERR;
    }
    int fd = -1, refused = 0, last = 0;
    static const int families[] = {AF_INET, AF_INET6};
    for (int i = 0; i < 2 && fd < 0 && last != ETIMEDOUT; i++) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_family != families[i])
                continue;
            last = connect_one(ai, deadline, &fd);
            if (last == 0 || last == ETIMEDOUT)
                break;
            refused |= last == ECONNREFUSED;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0)
        return fd;
    if (refused) {
        set_err(err, errlen, "no epmd at %s:%u (connection refused)", host, (unsigned)port);
        return CN_EPMD_ERR_NOEPMD;
    }
    if (last == ETIMEDOUT) {
        set_err(err, errlen, "timed out connecting to epmd at %s:%u", host, (unsigned)port);
        return CN_EPMD_ERR_TIMEOUT;
    }
    set_err(err, errlen, "cannot connect to epmd at %s:%u: %s", host, (unsigned)port,
            last ? strerror(last) : "no IPv4/IPv6 address");
    return CN_EPMD_ERR;
}

/* 0 when all sent, else -1 with errno. MSG_NOSIGNAL: a vanished epmd must not raise SIGPIPE. */
static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        } else if (wait_fd(fd, POLLOUT, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Bytes read (>0), 0 at EOF, -1 with errno (ETIMEDOUT when the deadline passed). */
static ssize_t recv_some(int fd, uint8_t *p, size_t cap, int64_t deadline)
{
    for (;;) {
        ssize_t k = recv(fd, p, cap, 0);
        if (k >= 0)
            return k;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (wait_fd(fd, POLLIN, deadline) < 0)
            return -1;
    }
}

/* Close fd after a failed send/recv (k = its return) and describe it; returns the code. */
static int io_fail(int fd, ssize_t k, const char *what, char *err, size_t errlen)
{
    int e = errno, code = CN_EPMD_ERR;
    close(fd);
    if (k == 0) {
        set_err(err, errlen, "epmd closed the connection while %s", what);
    } else if (e == ETIMEDOUT) {
        set_err(err, errlen, "timed out while %s", what);
        code = CN_EPMD_ERR_TIMEOUT;
    } else {
        set_err(err, errlen, "epmd I/O error while %s: %s", what, strerror(e));
    }
    return code;
}

/* Connect and send one request. Returns the fd or a CN_EPMD_ERR_* code. */
static int request(const char *host, uint16_t port, const uint8_t *req, size_t len,
                   int64_t deadline, const char *what, char *err, size_t errlen)
{
    int fd = epmd_connect(host, port, deadline, err, errlen);
    if (fd < 0)
        return fd;
    if (send_all(fd, req, len, deadline) < 0)
        return io_fail(fd, -1, what, err, errlen);
    return fd;
}

int cn_epmd_register(const char *host, uint16_t epmd_port, const char *alive, uint16_t listen_port,
                     uint32_t *creation, int timeout_ms, char *err, size_t errlen)
{
    uint8_t req[CN_EPMD_MAX_NAME + 16];
    int len = cn_epmd_build_alive2(req, sizeof req, listen_port, alive);
    if (len < 0 || !creation) {
        set_err(err, errlen, "invalid node name for epmd (must be 1..%d bytes)", CN_EPMD_MAX_NAME);
        return CN_EPMD_ERR;
    }
    int64_t deadline = deadline_after(timeout_ms);
    int fd =
        request(host, epmd_port, req, (size_t)len, deadline, "sending ALIVE2_REQ", err, errlen);
    if (fd < 0)
        return fd;
    /* Read no more than the longest reply: whatever follows is not ours to consume. */
    uint8_t resp[6];
    size_t got = 0;
    int result = 0;
    uint32_t cr = 0;
    int r;
    while ((r = cn_epmd_parse_alive2_resp(resp, got, &result, &cr)) == 0) {
        ssize_t k = recv_some(fd, resp + got, sizeof resp - got, deadline);
        if (k <= 0)
            return io_fail(fd, k, "waiting for the ALIVE2 reply", err, errlen);
        got += (size_t)k;
    }
    if (r < 0) {
        close(fd);
        set_err(err, errlen, "epmd sent an unknown reply to ALIVE2_REQ (tag %u)", resp[0]);
        return CN_EPMD_ERR;
    }
    if (result != 0) {
        close(fd);
        set_err(err, errlen, "the name %s is already registered with epmd (result %d)", alive,
                result);
        return CN_EPMD_ERR_TAKEN;
    }
    /* Hand the caller an ordinary blocking socket. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        set_err(err, errlen, "fcntl on the epmd socket: %s", strerror(errno));
        close(fd);
        return CN_EPMD_ERR;
    }
    *creation = cr;
    return fd;
}

int cn_epmd_port_please(const char *host, uint16_t epmd_port, const char *alive,
                        cn_epmd_port_info *out, int timeout_ms, char *err, size_t errlen)
{
    uint8_t req[CN_EPMD_MAX_NAME + 3];
    int len = cn_epmd_build_port_please(req, sizeof req, alive);
    if (len < 0 || !out) {
        set_err(err, errlen, "invalid node name for epmd (must be 1..%d bytes)", CN_EPMD_MAX_NAME);
        return CN_EPMD_ERR;
    }
    int64_t deadline = deadline_after(timeout_ms);
    int fd = request(host, epmd_port, req, (size_t)len, deadline, "sending PORT_PLEASE2_REQ", err,
                     errlen);
    if (fd < 0)
        return fd;
    /* Big enough for the largest reply the parser accepts, so it never reports "need more"
     * on a full buffer. */
    uint8_t resp[14 + CN_EPMD_MAX_NAME + CN_EPMD_MAX_EXTRA];
    size_t got = 0;
    int r;
    while ((r = cn_epmd_parse_port2_resp(resp, got, out)) == 0) {
        ssize_t k = recv_some(fd, resp + got, sizeof resp - got, deadline);
        if (k <= 0)
            return io_fail(fd, k, "waiting for the PORT2 reply", err, errlen);
        got += (size_t)k;
    }
    close(fd);
    if (r == -2) {
        set_err(err, errlen, "%s is not registered with epmd at %s", alive,
                host ? host : "127.0.0.1");
        return CN_EPMD_ERR_NONAME;
    }
    if (r < 0) {
        set_err(err, errlen, "malformed PORT2 reply from epmd at %s", host ? host : "127.0.0.1");
        return CN_EPMD_ERR;
    }
    return 0;
}

int cn_epmd_names(const char *host, uint16_t epmd_port, char *out, size_t cap, int timeout_ms,
                  char *err, size_t errlen)
{
    if (!out || cap == 0) {
        set_err(err, errlen, "no room for the epmd names reply");
        return CN_EPMD_ERR;
    }
    out[0] = '\0';
    uint8_t req[3];
    int len = cn_epmd_build_names(req, sizeof req);
    int64_t deadline = deadline_after(timeout_ms);
    int fd = request(host, epmd_port, req, (size_t)len, deadline, "sending NAMES_REQ", err, errlen);
    if (fd < 0)
        return fd;
    /* First the 4-byte epmd port (ignored), then text until epmd closes. */
    uint8_t hdr[4];
    size_t hgot = 0;
    while (hgot < sizeof hdr) {
        ssize_t k = recv_some(fd, hdr + hgot, sizeof hdr - hgot, deadline);
        if (k <= 0)
            return io_fail(fd, k, "reading the NAMES reply", err, errlen);
        hgot += (size_t)k;
    }
    if (cap > INT_MAX)
        cap = INT_MAX;
    uint8_t drop[512];
    size_t used = 0;
    for (;;) {
        /* Once out is full, keep reading into a scratch buffer so epmd's close is seen. */
        int full = used == cap - 1;
        ssize_t k = recv_some(fd, full ? drop : (uint8_t *)out + used,
                              full ? sizeof drop : cap - 1 - used, deadline);
        if (k == 0)
            break;
        if (k < 0) {
            out[0] = '\0';
            return io_fail(fd, k, "reading the NAMES reply", err, errlen);
        }
        if (!full)
            used += (size_t)k;
    }
    close(fd);
    out[used] = '\0';
    return (int)used;
}

uint16_t cn_epmd_default_port(uint16_t explicit_port)
{
    if (explicit_port)
        return explicit_port;
    const char *s = getenv("ERL_EPMD_PORT");
    if (!s || !*s)
        return CN_EPMD_DEFAULT_PORT;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    /* strtol alone would accept " 12", "+12" and "-0"; insist on plain digits. */
    if (s[0] >= '0' && s[0] <= '9' && errno == 0 && *end == '\0' && v >= 1 && v <= 65535)
        return (uint16_t)v;
    cn_warn("ignoring invalid ERL_EPMD_PORT '%s'; using %d", s, CN_EPMD_DEFAULT_PORT);
    return CN_EPMD_DEFAULT_PORT;
}

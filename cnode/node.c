#include "node.h"

#include "dist/conn.h"
#include "dist/flags.h"
#include "dist/reconnect.h"
#include "dist/rxmod.h"
#include "dist/tls.h"
#include "epmd_client/epmd.h"
#include "loop.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "services/handoff.h"
#include "services/pg.h"
#include "services/services.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

cn_node_state cn_node;

static cn_ev epmd_ev, signal_ev;
static char drain_to_buf[256], *drain_to; /* --drain-to */
static atomic_int draining;

void cn_config_defaults(cn_config *c)
{
    memset(c, 0, sizeof *c);
    c->net_ticktime = 60;
    c->handshake_timeout_ms = 7000; /* net_setuptime's default */
    c->max_message = (size_t)512 << 20;
    c->reconnect_max_ms = 10000;
    c->rx_coalesce_us = 150;
}

const char *cn_node_self_name(void)
{
    return cn_node.name;
}

/* Short names use the host name up to the first dot; long names the full name (as erl). */
static int host_part(int longnames, char *out, size_t cap)
{
    char h[256];
    if (gethostname(h, sizeof h) < 0)
        return -1;
    h[sizeof h - 1] = '\0';
    if (!longnames) {
        char *dot = strchr(h, '.');
        if (dot)
            *dot = '\0';
    } else if (!strchr(h, '.')) {
        struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *res;
        if (getaddrinfo(h, NULL, &hints, &res) == 0) {
            if (res->ai_canonname && strchr(res->ai_canonname, '.'))
                snprintf(h, sizeof h, "%s", res->ai_canonname);
            freeaddrinfo(res);
        }
    }
    snprintf(out, cap, "%s", h);
    return 0;
}

/* Read the cookie file at path as erl (auth.erl) reads it. Returns 0, 1 when there is no
 * such file, or -1 with a one-line reason. */
static int read_cookie_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    /* a regular file that only its owner may read or write */
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "Cookie file %s is not a regular file", path);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "Cookie file %s must be accessible by owner only", path);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char raw[1024];
    size_t n = fread(raw, 1, sizeof raw, f);
    fclose(f);
    /* the cookie is the printable characters up to the first other one; only line ends and
     * spaces may follow */
    size_t len = 0;
    while (len < n && raw[len] >= ' ' && raw[len] <= '~')
        len++;
    for (size_t i = len; i < n; i++)
        if (raw[i] != '\n' && raw[i] != '\r' && raw[i] != ' ') {
            snprintf(err, errlen, "bad characters in the cookie in %s", path);
            return -1;
        }
    if (len >= cap || n == sizeof raw) {
        snprintf(err, errlen, "the cookie in %s is longer than %zu characters", path, cap - 1);
        return -1;
    }
    memcpy(out, raw, len);
    out[len] = '\0';
    if (len == 0) {
        snprintf(err, errlen, "%s is empty", path);
        return -1;
    }
    return 0;
}

/* The cookie: given, else ~/.erlang.cookie, else $XDG_CONFIG_HOME/erlang/.erlang.cookie
 * (~/.config when unset), else a new ~/.erlang.cookie, as erl does. */
static int load_cookie(const char *given, char *out, size_t cap, char *err, size_t errlen)
{
    if (given) {
        if (strlen(given) >= cap || !given[0]) {
            snprintf(err, errlen, "the cookie must be 1 to %zu characters", cap - 1);
            return -1;
        }
        snprintf(out, cap, "%s", given);
        return 0;
    }
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
    char path[1024], xpath[1100];
    snprintf(path, sizeof path, "%s/.erlang.cookie", home ? home : ".");
    int r = read_cookie_file(path, out, cap, err, errlen);
    if (r <= 0)
        return r;
    if (xdg && xdg[0])
        snprintf(xpath, sizeof xpath, "%s/erlang/.erlang.cookie", xdg);
    else
        snprintf(xpath, sizeof xpath, "%s/.config/erlang/.erlang.cookie", home ? home : ".");
    if ((r = read_cookie_file(xpath, out, cap, err, errlen)) <= 0)
        return r;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
    if (fd < 0) {
        snprintf(err, errlen, "no cookie given and cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    char c[21];
    for (int i = 0; i < 20; i++)
        c[i] = (char)('A' + randombytes_uniform(26));
    c[20] = '\0';
    ssize_t w = write(fd, c, 20);
    close(fd);
    if (w != 20) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    snprintf(out, cap, "%s", c);
    return 0;
}

static void on_epmd(void *ctx, uint32_t events);

/* The registration is back (event loop): watch the new socket. */
static void epmd_back(void *arg)
{
    int fd = (int)(intptr_t)arg;
    if (cn_loop_stopping()) {
        close(fd);
        return;
    }
    cn_node.epmd_fd = fd;
    epmd_ev.fd = fd;
    epmd_ev.fn = on_epmd;
    cn_loop_add(&epmd_ev, EPOLLIN);
    cn_info("registered with epmd again as %s", cn_node.name);
}

/* Retry the registration every 2 s, as erl_epmd does, with the same name and port; the
 * creation epmd hands out now is ignored: the node's identity cannot change mid-life. */
static void *reregister(void *arg)
{
    (void)arg;
    char alive[256];
    const char *at = strchr(cn_node.name, '@');
    size_t n = at ? (size_t)(at - cn_node.name) : strlen(cn_node.name);
    if (n >= sizeof alive)
        return NULL;
    memcpy(alive, cn_node.name, n);
    alive[n] = '\0';
    int warned_taken = 0;
    while (!cn_loop_stopping()) {
        sleep(2);
        char err[256];
        uint32_t creation;
        int fd = cn_epmd_register(NULL, cn_node.epmd_port, alive, cn_node.listen_port, &creation,
                                  2000, err, sizeof err);
        if (fd >= 0) {
            if (cn_loop_post(epmd_back, (void *)(intptr_t)fd) < 0)
                close(fd);
            return NULL;
        }
        if (fd == CN_EPMD_ERR_TAKEN && !warned_taken) {
            cn_warn("epmd: the name %s is now taken by another node; still retrying", alive);
            warned_taken = 1;
        }
    }
    return NULL;
}

static void on_epmd(void *ctx, uint32_t events)
{
    (void)ctx;
    (void)events;
    char b[64];
    ssize_t n = read(cn_node.epmd_fd, b, sizeof b);
    if (n > 0)
        return;
    /* epmd went away; the node keeps serving its open connections and registers again
     * once an epmd answers. */
    cn_warn("epmd closed the registration connection; re-registering every 2 s");
    cn_loop_del(&epmd_ev);
    close(cn_node.epmd_fd);
    cn_node.epmd_fd = -1;
    pthread_t t;
    if (pthread_create(&t, NULL, reregister, NULL) == 0)
        pthread_detach(t);
}

static void on_signal(void *ctx, uint32_t events)
{
    (void)ctx;
    (void)events;
    struct signalfd_siginfo si;
    if (read(signal_ev.fd, &si, sizeof si) == (ssize_t)sizeof si)
        cn_info("signal %u received, shutting down", si.ssi_signo);
    cn_node_stop();
}

static int do_register(const char *alive, char *err, size_t errlen)
{
    int fd = cn_epmd_register(NULL, cn_node.epmd_port, alive, cn_node.listen_port,
                              &cn_node.creation, 5000, err, errlen);
    return fd;
}

static int start_dist(const cn_config *c, const char *alive, char *err, size_t errlen, int *code)
{
    char lerr[256];
    if (cn_conn_listen(c->port, &cn_node.listen_port, lerr, sizeof lerr) < 0) {
        snprintf(err, errlen, "%s", lerr);
        return -1;
    }
    int fd = do_register(alive, err, errlen);
    if (fd == CN_EPMD_ERR_NOEPMD && !c->no_epmd_start) {
        cn_info("no epmd on port %u; starting one", cn_node.epmd_port);
        if (cn_epmd_start_daemon(cn_node.epmd_port, 5000, err, errlen) < 0)
            return -1;
        fd = do_register(alive, err, errlen);
    }
    if (fd == CN_EPMD_ERR_TAKEN) {
        snprintf(err, errlen, "the name %s is already in use on this host (epmd port %u)", alive,
                 cn_node.epmd_port);
        *code = 1;
        return -1;
    }
    if (fd < 0)
        return -1;
    cn_node.epmd_fd = fd;
    epmd_ev.fd = fd;
    epmd_ev.fn = on_epmd;
    cn_loop_add(&epmd_ev, EPOLLIN);
    return 0;
}

int cn_node_start(const cn_config *c, char *err, size_t errlen, int *code)
{
    *code = 2;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    ei_init();
    if (!c->name || !c->name[0]) {
        snprintf(err, errlen, "a node name is required (--sname or --name)");
        return -1;
    }
    char alive[256], host[768];
    const char *at = strchr(c->name, '@');
    size_t alen = at ? (size_t)(at - c->name) : strlen(c->name);
    if (alen == 0 || alen >= sizeof alive) {
        snprintf(err, errlen, "bad node name '%s'", c->name);
        return -1;
    }
    memcpy(alive, c->name, alen);
    alive[alen] = '\0';
    if (at && at[1])
        snprintf(host, sizeof host, "%s", at + 1);
    else if (host_part(c->longnames, host, sizeof host) < 0) {
        snprintf(err, errlen, "cannot determine the host name");
        return -1;
    }
    if (!c->longnames && strchr(host, '.')) {
        snprintf(err, errlen, "short names cannot have a dot in the host part: %s", host);
        return -1;
    }
    snprintf(cn_node.name, sizeof cn_node.name, "%s@%s", alive, host);
    *code = 1;
    if (load_cookie(c->cookie, cn_node.cookie, sizeof cn_node.cookie, err, errlen) < 0)
        return -1;
    if (c->proto_dist && strcmp(c->proto_dist, "inet_tcp") != 0) {
        if (strcmp(c->proto_dist, "inet_tls") != 0) {
            snprintf(err, errlen, "unknown distribution protocol '%s' (inet_tcp or inet_tls)",
                     c->proto_dist);
            return -1;
        }
        if (!(cn_node.tls = cn_tls_setup(c, err, errlen)))
            return -1;
    }
    cn_node.hidden = c->hidden;
    cn_node.longnames = c->longnames;
    cn_node.flags = cn_flags_ours(c->hidden);
    if (c->no_fragments)
        cn_node.flags &= ~DFLAG_FRAGMENTS;
    cn_node.epmd_port = cn_epmd_default_port(c->epmd_port);
    cn_node.ticktime_ms = (c->net_ticktime > 0 ? c->net_ticktime : 60) * 1000;
    cn_node.handshake_timeout_ms = c->handshake_timeout_ms > 0 ? c->handshake_timeout_ms : 7000;
    cn_node.max_message = c->max_message ? c->max_message : (size_t)512 << 20;
    cn_node.epmd_fd = -1;
    cn_reconnect_set_max(c->reconnect_max_ms > 0 ? (uint32_t)c->reconnect_max_ms : 0);
    cn_reconnect_set_meshed(c->reconnect_meshed);
    cn_rxmod_set_nap(c->rx_coalesce_us > 0 ? (uint32_t)c->rx_coalesce_us : 0);
    if (c->drain_to && strlen(c->drain_to) < sizeof drain_to_buf)
        drain_to = strcpy(drain_to_buf, c->drain_to);

    /* Signals are taken by the I/O loop through a signalfd; block them before any thread
     * exists so that every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cn_loop_init() < 0 || cn_ptab_init(1 << 20) < 0) {
        snprintf(err, errlen, "out of resources at start");
        return -1;
    }
    signal_ev.fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    signal_ev.fn = on_signal;
    if (signal_ev.fd >= 0)
        cn_loop_add(&signal_ev, EPOLLIN);
    if (start_dist(c, alive, err, errlen, code) < 0)
        return -1;
    cn_ident_init(cn_node.name, cn_node.creation);
    if (cn_sched_start(c->schedulers) < 0 || cn_services_start() < 0) {
        snprintf(err, errlen, "cannot start schedulers or services");
        return -1;
    }
    cn_info("node %s started, listening on port %u, creation %u, %s, %d schedulers", cn_node.name,
            cn_node.listen_port, cn_node.creation, c->hidden ? "hidden" : "visible",
            cn_sched_count());
    for (int i = 0; i < c->nconnect; i++) {
        long n = cn_node_intern(c->connect[i], strlen(c->connect[i]));
        if (n > 0)
            cn_conn_dial((uint32_t)n);
        cn_reconnect_watch(c->connect[i]); /* redialled with back-off whenever it drops */
    }
    for (int i = 0; i < c->npg_scopes; i++)
        if (cn_pg_keep(c->pg_scopes[i]) < 0) /* restarted if it exits */
            cn_warn("cannot start the pg scope %s", c->pg_scopes[i]);
    *code = 0;
    return 0;
}

/* The event loop's periodic work: connection ticks and timeouts, then redials. */
static void io_timers(uint64_t now)
{
    cn_conn_timers(now);
    cn_reconnect_timers(now);
}

int cn_node_run(void)
{
    cn_loop_set_timer(io_timers, 250);
    cn_loop_set_soft(cn_conn_ack_sweep);
    cn_sched_run_io();
    /* Shutdown: processes terminate (their exit signals are queued to the peers), then
     * connections are flushed and closed, then epmd forgets us. */
    cn_proc_shutdown_all();
    uint64_t until = cn_now_ms() + 2000;
    while (cn_proc_count() > 0 && cn_now_ms() < until)
        usleep(5000);
    cn_sched_stop(500);
    cn_loop_drain();
    cn_conn_close_all();
    cn_loop_drain();
    if (cn_node.epmd_fd >= 0)
        close(cn_node.epmd_fd);
    cn_info("node %s stopped", cn_node.name);
    return 0;
}

void cn_node_stop(void)
{
    /* with --drain-to, the first stop drains (and then stops); a second one stops at once */
    if (drain_to && !atomic_exchange(&draining, 1) && cn_handoff_drain(drain_to) == 0)
        return;
    cn_loop_stop();
}

/* rxpath: CPU per received message on the receive path, without the network: frames as a
 * BEAM sender writes them (atom cache references) go through rx, the control dispatch and the
 * mailbox to a registered echo worker on one scheduler thread, in reads of READ frames. Two
 * loads: casts, and gen_server calls as 64 callers make them (MONITOR_P + REG_SEND, then the
 * DEMONITOR_P of the call 64 before; the replies go nowhere: no connection). Prints the
 * process's CPU time (all threads) per message. Built against an older library with
 * -DRXPATH_NO_FLUSH (no cn_ctrl_flush there) to compare builds. Usage: rxpath [N] */
#include "cnode.h"
#include "dist/ctrl.h"
#include "dist/flags.h"
#include "dist/rx.h"
#include "loop.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "proc/sched.h"
#include "util/log.h"
#include "workers/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define READ 20 /* frames per read, about what cnoded sees per read under the cast load */

enum { A_NODE, A_EMPTY, A_ECHO, A_CAST, A_C, A_CALL, A_ALIAS, A_REQ, NATOMS };
static const char *atoms[NATOMS] = {"drv@host", "",          "echo",  "$gen_cast",
                                    "c",        "$gen_call", "alias", "req"};

typedef struct fb {
    uint8_t b[512];
    size_t n;
} fb;

static void put(fb *f, const void *p, size_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += n;
}
static void put8(fb *f, uint8_t v)
{
    f->b[f->n++] = v;
}
static void put32(fb *f, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(f, t, 4);
}
static void aref(fb *f, int i)
{
    put8(f, 82);
    put8(f, (uint8_t)i);
}

/* 131, 68, the header: every atom as a cache ref (new entries in the first frame). */
static void header(fb *f, int first)
{
    f->n = 0;
    put8(f, 131);
    put8(f, 68);
    put8(f, NATOMS);
    uint8_t fl[NATOMS / 2 + 1] = {0};
    for (int i = 0; first && i < NATOMS; i++)
        fl[i / 2] |= (uint8_t)(8 << ((i & 1) * 4));
    put(f, fl, sizeof fl);
    for (int i = 0; i < NATOMS; i++) {
        put8(f, (uint8_t)i);
        if (first) {
            put8(f, (uint8_t)strlen(atoms[i]));
            put(f, atoms[i], strlen(atoms[i]));
        }
    }
}

static void pid(fb *f, uint32_t id)
{
    put8(f, 88);
    aref(f, A_NODE);
    put32(f, id);
    put32(f, 0);
    put32(f, 1700000000u);
}
static void ref(fb *f, uint32_t w0)
{
    put(f, "\x5a\x00\x03", 3);
    aref(f, A_NODE);
    put32(f, 1700000000u);
    put32(f, w0);
    put32(f, 77);
    put32(f, 99);
}

static void cast_frame(fb *f, int first)
{
    header(f, first);
    put(f, "\x68\x04\x61\x06", 4); /* {6, From, '', echo} */
    pid(f, 100);
    aref(f, A_EMPTY);
    aref(f, A_ECHO);
    put(f, "\x68\x02", 2); /* {'$gen_cast', {c, 1}} */
    aref(f, A_CAST);
    put(f, "\x68\x02", 2);
    aref(f, A_C);
    put(f, "\x61\x01", 2);
}

static void monitor_frame(fb *f, int op, uint32_t caller, uint32_t w0)
{
    header(f, 0);
    put(f, "\x68\x04\x61", 3); /* {19 | 20, From, echo, Ref} */
    put8(f, (uint8_t)op);
    pid(f, caller);
    aref(f, A_ECHO);
    ref(f, w0);
}

static void call_frame(fb *f, uint32_t caller, uint32_t w0)
{
    header(f, 0);
    put(f, "\x68\x04\x61\x06", 4);
    pid(f, caller);
    aref(f, A_EMPTY);
    aref(f, A_ECHO);
    put(f, "\x68\x03", 2); /* {'$gen_call', {From, [alias | Ref]}, {req, 1}} */
    aref(f, A_CALL);
    put(f, "\x68\x02", 2);
    pid(f, caller);
    put(f, "\x6c\x00\x00\x00\x01", 5);
    aref(f, A_ALIAS);
    ref(f, w0);
    put(f, "\x68\x02", 2);
    aref(f, A_REQ);
    put(f, "\x61\x01", 2);
}

/* Waiting costs no CPU (a spinning wait would count in the figures). */
static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static cn_rx *rx;
static uint32_t peer;
static cn_proc *echo;
static long frames;

static void feed(const fb *f)
{
    cn_dist_msg m;
    char err[256];
    if (cn_rx_frame(rx, f->b, f->n, &m, err, sizeof err) != 1 ||
        cn_ctrl_dispatch(peer, &m, err, sizeof err) < 0) {
        fprintf(stderr, "rxpath: frame refused: %s\n", err);
        exit(1);
    }
    if (++frames % READ == 0) {
#ifndef RXPATH_NO_FLUSH
        cn_ctrl_flush();
#endif
        for (;;) { /* a bounded mailbox: let the worker catch up */
            pthread_mutex_lock(&echo->lock);
            uint32_t queued = echo->mq_len;
            pthread_mutex_unlock(&echo->lock);
            if (queued <= 20000)
                break;
            pause_us(200);
        }
    }
}

static void drain(void)
{
#ifndef RXPATH_NO_FLUSH
    cn_ctrl_flush();
#endif
    for (;;) {
        pthread_mutex_lock(&echo->lock);
        int idle = echo->mq_head == NULL && echo->sched == CN_S_IDLE;
        pthread_mutex_unlock(&echo->lock);
        if (idle)
            return;
        pause_us(200);
    }
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n < 1000 || n > 100000000) {
        fprintf(stderr, "usage: rxpath [N, 1000..1e8]\n");
        return 2;
    }
    cn_log_level = CN_LOG_ERROR;
    ei_init();
    cn_ident_init("t@localhost", 1234);
    cn_pid epid;
    if (cn_loop_init() < 0 || cn_ptab_init(1024) < 0 || cn_sched_start(1) < 0 ||
        cn_spawn_worker(&cn_echo_worker, NULL, 0, "echo", &epid) < 0)
        return 1;
    echo = cn_proc_get(&epid);
    peer = (uint32_t)cn_node_intern("drv@host", 8);
    rx = cn_rx_new(DFLAG_MANDATORY_25 | DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS, 0);
    fb f;
    cast_frame(&f, 1); /* fills the cache */
    feed(&f);
    drain();

    cast_frame(&f, 0);
    double c0 = cpu_s();
    for (long i = 0; i < n; i++)
        feed(&f);
    drain();
    double cast_ns = (cpu_s() - c0) * 1e9 / (double)n;

    long calls = n / 3;
    c0 = cpu_s();
    for (long i = 0; i < calls; i++) {
        uint32_t caller = 1000 + (uint32_t)(i % 64);
        monitor_frame(&f, 19, caller, (uint32_t)i);
        feed(&f);
        call_frame(&f, caller, (uint32_t)i);
        feed(&f);
        if (i >= 64) {
            monitor_frame(&f, 20, 1000 + (uint32_t)((i - 64) % 64), (uint32_t)(i - 64));
            feed(&f);
        }
    }
    drain();
    double call_ns = (cpu_s() - c0) * 1e9 / (double)calls;
    printf("rxpath: %.0f ns CPU per cast, %.0f ns CPU per call (3 messages) (%ld casts, %ld "
           "calls, %d frames per read)\n",
           cast_ns, call_ns, n, calls, READ);
    return 0;
}

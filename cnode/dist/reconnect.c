/* reconnect: redial watched peers with back-off (see reconnect.h). The state is a small table
 * under a mutex; only the event loop's timer dials. Whether a node is up is read from the
 * connection table on each tick, so conn.c needs no hook. */
#include "dist/reconnect.h"

#include "dist/conn.h"
#include "proc/ident.h"
#include "util/log.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define MAX_WATCHED 1024

typedef struct watched {
    uint32_t node;     /* node-table index */
    uint32_t delay_ms; /* the next back-off */
    uint64_t next_ms;  /* dial at or after this time (0: at once) */
    int was_up;
    int attempts; /* failed attempts since it was last up (for the log) */
    int meshed;   /* watched only as a meshed peer (cn_reconnect_watch_meshed) */
} watched;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static watched tab[MAX_WATCHED];
static size_t ntab;
static uint32_t max_ms = 10000;
static int meshed; /* set before the node starts */

uint32_t cn_backoff_next(uint32_t cur_ms, uint32_t max)
{
    if (cur_ms == 0)
        return CN_RECONNECT_FIRST_MS < max ? CN_RECONNECT_FIRST_MS : max;
    uint64_t n = (uint64_t)cur_ms * 2;
    return n > max ? max : (uint32_t)n;
}

uint32_t cn_backoff_jitter(uint32_t ms, double jitter01)
{
    if (jitter01 < 0 || jitter01 >= 1)
        jitter01 = 0.5;
    double f = 0.8 + 0.4 * jitter01; /* 0.8 .. 1.2 */
    uint64_t v = (uint64_t)((double)ms * f);
    return v == 0 && ms > 0 ? 1 : (uint32_t)v;
}

void cn_reconnect_set_max(uint32_t ms)
{
    max_ms = ms;
}

static long find(uint32_t node)
{
    for (size_t i = 0; i < ntab; i++)
        if (tab[i].node == node)
            return (long)i;
    return -1;
}

static long intern(const char *node)
{
    if (!node || !strchr(node, '@'))
        return -1;
    long n = cn_node_intern(node, strlen(node));
    return n > 0 ? n : -1; /* 0 is ourselves */
}

static int watch(const char *node, int meshed_only)
{
    long n = intern(node);
    if (n < 0 || max_ms == 0)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&lock);
    long i = find((uint32_t)n);
    if (i >= 0) {
        if (!meshed_only)
            tab[i].meshed = 0; /* an explicit watch outlives the meshed one */
    } else if (ntab == MAX_WATCHED) {
        rc = -1;
    } else {
        tab[ntab++] = (watched){.node = (uint32_t)n, .meshed = meshed_only};
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int cn_reconnect_watch(const char *node)
{
    return watch(node, 0);
}

static void unwatch(const char *node, int meshed_only)
{
    long n = intern(node);
    if (n < 0)
        return;
    pthread_mutex_lock(&lock);
    long i = find((uint32_t)n);
    if (i >= 0 && (!meshed_only || tab[i].meshed))
        tab[i] = tab[--ntab];
    pthread_mutex_unlock(&lock);
}

void cn_reconnect_unwatch(const char *node)
{
    unwatch(node, 0);
}

void cn_reconnect_set_meshed(int on)
{
    meshed = on != 0;
}

int cn_reconnect_watch_meshed(const char *node)
{
    return meshed ? watch(node, 1) : 0;
}

void cn_reconnect_unwatch_meshed(const char *node)
{
    unwatch(node, 1);
}

int cn_reconnect_watched(const char *node)
{
    long n = intern(node);
    if (n < 0)
        return 0;
    pthread_mutex_lock(&lock);
    int w = find((uint32_t)n) >= 0;
    pthread_mutex_unlock(&lock);
    return w;
}

void cn_reconnect_timers(uint64_t now)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntab; i++) {
        watched *w = &tab[i];
        if (cn_conn_is_up(w->node)) {
            if (!w->was_up && w->attempts > 0)
                cn_info("reconnect: %s is back after %d attempt(s)", cn_node_name(w->node),
                        w->attempts);
            w->was_up = 1;
            w->delay_ms = 0; /* reset: the next drop starts from the first delay */
            w->attempts = 0;
            w->next_ms = 0;
            continue;
        }
        if (w->was_up) { /* it just went: first redial after the first delay */
            w->was_up = 0;
            w->delay_ms = cn_backoff_next(0, max_ms);
            w->next_ms = now + cn_backoff_jitter(w->delay_ms, randombytes_uniform(1000) / 1000.0);
            continue;
        }
        if (now < w->next_ms)
            continue;
        /* a dial already under way makes this a no-op (cn_conn_dial checks the table) */
        cn_conn_dial(w->node);
        w->attempts++;
        if (w->attempts > 1)
            cn_debug("reconnect: dialling %s (attempt %d)", cn_node_name(w->node), w->attempts);
        w->delay_ms = cn_backoff_next(w->delay_ms, max_ms);
        w->next_ms = now + cn_backoff_jitter(w->delay_ms, randombytes_uniform(1000) / 1000.0);
    }
    pthread_mutex_unlock(&lock);
}

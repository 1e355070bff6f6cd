/* reconnect: keep chosen peers connected — after a connection to a watched node drops (or a
 * dial fails), dial again after a back-off that doubles up to a maximum, with jitter. */
#ifndef CN_RECONNECT_H
#define CN_RECONNECT_H

#include <stdint.h>

/* The back-off schedule (pure, unit-tested): the first delay, and the next one after a
 * failed attempt, doubling up to max_ms. jitter01 in [0, 1) spreads the delay by -20%..+20%
 * so that many nodes do not redial in step. */
#define CN_RECONNECT_FIRST_MS 200
uint32_t cn_backoff_next(uint32_t cur_ms, uint32_t max_ms);
uint32_t cn_backoff_jitter(uint32_t ms, double jitter01);

/* Largest back-off in ms (--reconnect-max-ms; default 10000); 0 disables redialling. Set
 * before the node starts. */
void cn_reconnect_set_max(uint32_t max_ms);

/* Keep node (a full node name) connected from now on: dial it when it is down, and redial
 * with back-off whenever it goes. Safe from any thread; watching twice is one watch.
 * 0, or -1 (bad name, table full, redialling disabled). */
int cn_reconnect_watch(const char *node);
/* Stop redialling node (an open connection stays). */
void cn_reconnect_unwatch(const char *node);
/* Is node watched? */
int cn_reconnect_watched(const char *node);

/* Meshed peers (the nodes :global makes known) are watched too when on (--reconnect-meshed;
 * off by default, as on a BEAM node, where only an explicit connect dials). */
void cn_reconnect_set_meshed(int on);
/* cn_reconnect_watch(node) if meshed peers are watched, else nothing (returns 0); such a
 * watch ends with cn_reconnect_unwatch_meshed, a watch made by cn_reconnect_watch does not. */
int cn_reconnect_watch_meshed(const char *node);
void cn_reconnect_unwatch_meshed(const char *node);

/* Called by the event loop's timer: dial the watched nodes whose back-off has run out. */
void cn_reconnect_timers(uint64_t now_ms);

#endif

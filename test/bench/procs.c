/* procs: the cost of an idle hosted process. Spawns N idle echo workers in the library (no
 * network) and prints the resident memory per process and the spawn rate. */
#include "cnode.h"
#include "proc/ident.h"
#include "proc/proc.h"
#include "workers/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n <= 0 || n > 4000000) {
        fprintf(stderr, "usage: procs [N <= 4000000]\n");
        return 2;
    }
    ei_init();
    cn_ident_init("bench@localhost", 1234);
    if (cn_ptab_init((size_t)n + 16) < 0)
        return 1;
    long before = rss_bytes();
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        if (cn_spawn_worker(&cn_echo_worker, NULL, 0, NULL, NULL) < 0) {
            fprintf(stderr, "spawn %ld failed\n", i);
            return 1;
        }
    double dt = now_s() - t0;
    long after = rss_bytes();
    printf("cnode: %ld idle processes in %.2f s (%.0f/s), %.0f bytes each (RSS delta)\n", n, dt,
           (double)n / dt, (double)(after - before) / (double)n);
    return 0;
}

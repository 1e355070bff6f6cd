/* epmd_daemon: start a local epmd the way erl does (`epmd -daemon -port N`) and wait until it
 * answers. posix_spawn keeps this safe in a multi-threaded process (no work between fork/exec). */
#include "epmd.h"

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int is_exe(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Find epmd: PATH first, then the newest erts under the usual Erlang roots. 0 or -1. */
static int find_epmd(char *path, size_t cap)
{
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    for (const char *d = dirs;; d++) {
        const char *end = strchr(d, ':');
        size_t n = end ? (size_t)(end - d) : strlen(d);
        int w = n ? snprintf(path, cap, "%.*s/epmd", (int)n, d) : snprintf(path, cap, "./epmd");
        if (w > 0 && (size_t)w < cap && is_exe(path))
            return 0;
        if (!end)
            break;
        d = end;
    }
    static const char *const roots[] = {"/usr/lib/erlang/erts-*/bin/epmd",
                                        "/usr/local/lib/erlang/erts-*/bin/epmd"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        glob_t g;
        if (glob(roots[i], 0, NULL, &g) != 0)
            continue;
        int found = -1;
        /* glob sorts its matches; take the last (highest version) usable one. */
        for (size_t j = g.gl_pathc; j-- > 0 && found < 0;) {
            if (is_exe(g.gl_pathv[j]) && strlen(g.gl_pathv[j]) < cap) {
                snprintf(path, cap, "%s", g.gl_pathv[j]);
                found = 0;
            }
        }
        globfree(&g);
        if (found == 0)
            return 0;
    }
    return -1;
}

/* Reap the `epmd -daemon` launcher, which exits once the daemon has detached. 0 or -1. */
static int wait_launcher(pid_t pid, int64_t deadline, const char *exe, char *err, size_t errlen)
{
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return 0;
            snprintf(err, errlen, "%s -daemon failed (%s %d)", exe,
                     WIFEXITED(st) ? "exit status" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return -1;
        }
        if (r < 0 && errno == ECHILD)
            return 0; /* SIGCHLD ignored elsewhere: the child was auto-reaped */
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "waitpid for epmd: %s", strerror(errno));
            return -1;
        }
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            snprintf(err, errlen, "%s -daemon did not detach in time", exe);
            return -1;
        }
        sleep_ms(10);
    }
}

int cn_epmd_start_daemon(uint16_t epmd_port, int timeout_ms, char *err, size_t errlen)
{
    char scratch[256];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (epmd_port == 0) {
        snprintf(err, errlen, "epmd port 0 is not valid");
        return -1;
    }
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : CN_EPMD_TIMEOUT_MS);
    char exe[4096];
    if (find_epmd(exe, sizeof exe) < 0) {
        snprintf(err, errlen, "epmd not found in PATH or /usr/lib/erlang/erts-*/bin");
        return -1;
    }
    char a0[] = "epmd", a1[] = "-daemon", a2[] = "-port", a3[8];
    snprintf(a3, sizeof a3, "%u", (unsigned)epmd_port);
    char *argv[] = {a0, a1, a2, a3, NULL};
    /* The node blocks signals for its signalfd and may ignore SIGPIPE; exec would pass both on
     * to the daemon, leaving an epmd that `kill` cannot stop. Give it a clean slate. */
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    static const int sigs[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGPIPE,
                               SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&dfl, sigs[i]);
    pid_t pid;
    int rc = posix_spawnattr_init(&attr);
    if (rc == 0) {
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &dfl);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawn(&pid, exe, NULL, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot run %s: %s", exe, strerror(rc));
        return -1;
    }
    if (wait_launcher(pid, deadline, exe, err, errlen) < 0)
        return -1;
    /* The daemon binds its port shortly after detaching; poll until NAMES succeeds. */
    char names[64], nerr[256] = "";
    for (;;) {
        int64_t left = deadline - now_ms();
        int r = cn_epmd_names(NULL, epmd_port, names, sizeof names, left > 0 ? (int)left : 1, nerr,
                              sizeof nerr);
        if (r >= 0)
            return 0;
        if (now_ms() >= deadline) {
            snprintf(err, errlen, "started %s but it does not answer on port %u: %s", exe,
                     (unsigned)epmd_port, nerr);
            return -1;
        }
        sleep_ms(20);
    }
}

#include "log.h"

#include <ei.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cn_log_level = CN_LOG_INFO;

static const char *const names[] = {"error", "warn", "info", "debug"};

void cn_log(int level, const char *fmt, ...)
{
    if (level > cn_log_level)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld [%s] ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    /* One fwrite per line keeps lines from different threads whole. */
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

int cn_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

char *cn_log_term(const char *buf, int len)
{
    char *s = NULL;
    int idx = 0;
    if (len <= 0 || ei_s_print_term(&s, buf, &idx) < 0 || !s) {
        free(s);
        return strdup("?");
    }
    if (strlen(s) > 200)
        strcpy(s + 197, "...");
    return s;
}

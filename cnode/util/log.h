/* log: leveled, thread-safe logging to stderr, one line per call.
 * The level is set once at start (cnoded --log-level). */
#ifndef CN_LOG_H
#define CN_LOG_H

enum { CN_LOG_ERROR = 0, CN_LOG_WARN = 1, CN_LOG_INFO = 2, CN_LOG_DEBUG = 3 };

extern int cn_log_level;

void cn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse "error|warn|info|debug"; returns the level or -1. */
int cn_log_parse_level(const char *s);

#define cn_error(...) cn_log(CN_LOG_ERROR, __VA_ARGS__)
#define cn_warn(...) cn_log(CN_LOG_WARN, __VA_ARGS__)
#define cn_info(...) cn_log(CN_LOG_INFO, __VA_ARGS__)
#define cn_debug(...)                                                                              \
    do {                                                                                           \
        if (cn_log_level >= CN_LOG_DEBUG)                                                          \
            cn_log(CN_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

/* A term (encoded, no version byte) as text for a log line, at most 200 characters; malloc'd,
 * "?" when it does not print. The caller frees it. */
char *cn_log_term(const char *buf, int len);

#endif

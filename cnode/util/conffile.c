#include "util/conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

static int is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* One line (NUL-terminated, in place): an entry, nothing (blank or comment), or an error. */
static int parse_line(char *s, cn_conf_entry *e, const char **why)
{
    size_t len = strlen(s);
    while (len > 0 && is_blank(s[len - 1]))
        s[--len] = '\0';
    while (is_blank(*s))
        s++;
    if (!*s || *s == '#')
        return 0;
    if (s[0] == '-') {
        *why = "write the option without its leading dashes (sname c1, not --sname c1)";
        return -1;
    }
    char *name = s;
    while (is_name_char(*s))
        s++;
    if (s == name || (*s && !is_blank(*s) && *s != '=')) {
        *why = "expected an option name (letters, digits and dashes), then its value";
        return -1;
    }
    char *end = s;
    while (is_blank(*s))
        s++;
    if (*s == '=') { /* "name = value" is read as "name value" */
        s++;
        while (is_blank(*s))
            s++;
    }
    *end = '\0';
    e->name = name;
    e->value = *s ? s : NULL;
    return 1;
}

int cn_conf_parse(const char *text, size_t len, const char *where, cn_conf *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > CN_CONF_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %d bytes", where, CN_CONF_MAX_FILE);
        return -1;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    out->text = malloc(len + 1);
    out->e = calloc(lines, sizeof *out->e);
    if (!out->text || !out->e) {
        snprintf(err, errlen, "%s: out of memory", where);
        cn_conf_free(out);
        return -1;
    }
    memcpy(out->text, text, len);
    out->text[len] = '\0';
    char *p = out->text, *stop = out->text + len;
    for (int line = 1; p < stop; line++) {
        char *nl = memchr(p, '\n', (size_t)(stop - p));
        char *eol = nl ? nl : stop;
        const char *why = NULL;
        if ((size_t)(eol - p) > CN_CONF_MAX_LINE)
            why = "line longer than 4096 bytes";
        else if (memchr(p, '\0', (size_t)(eol - p)))
            why = "a NUL byte (not a text file?)";
        *eol = '\0';
        int r = why ? -1 : parse_line(p, &out->e[out->n], &why);
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: %s", where, line, why);
            cn_conf_free(out);
            return -1;
        }
        if (r > 0)
            out->e[out->n++].line = line;
        p = eol + 1;
    }
    return 0;
}

int cn_conf_read(const char *path, cn_conf *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    /* one byte more than allowed tells an oversized file from one of exactly the limit */
    char *buf = malloc(CN_CONF_MAX_FILE + 1);
    size_t len = 0;
    int bad_errno = buf ? 0 : ENOMEM;
    while (buf && len <= CN_CONF_MAX_FILE) {
        ssize_t r = read(fd, buf + len, CN_CONF_MAX_FILE + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            bad_errno = errno;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (bad_errno) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(bad_errno));
        free(buf);
        return -1;
    }
    int r = cn_conf_parse(buf, len, path, out, err, errlen);
    free(buf);
    return r;
}

void cn_conf_free(cn_conf *c)
{
    free(c->e);
    free(c->text);
    memset(c, 0, sizeof *c);
}

/* conffile: reads cnoded's --config file (one long option per line, `sname c1`) into
 * name/value pairs for the command-line parser. Bounded: 64 KiB a file, 4 KiB a line. */
#ifndef CN_CONFFILE_H
#define CN_CONFFILE_H

#include <stddef.h>

#define CN_CONF_MAX_FILE (64 * 1024)
#define CN_CONF_MAX_LINE 4096

typedef struct cn_conf_entry {
    const char *name;  /* without the leading dashes */
    const char *value; /* NULL when the line has none */
    int line;
} cn_conf_entry;

/* Owns its strings: names and values point into text. */
typedef struct cn_conf {
    cn_conf_entry *e;
    int n;
    char *text;
} cn_conf;

/* Parse len bytes of text; `where` names the file in errors ("WHERE:LINE: reason").
 * Returns 0 (free with cn_conf_free), or -1 with a one-line reason in err. */
int cn_conf_parse(const char *text, size_t len, const char *where, cn_conf *out, char *err,
                  size_t errlen);
/* Read and parse the file at path (refused when larger than CN_CONF_MAX_FILE). */
int cn_conf_read(const char *path, cn_conf *out, char *err, size_t errlen);
void cn_conf_free(cn_conf *c);

#endif

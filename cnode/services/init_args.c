/* init_args: the options the program noted, as erl's init would hold the same settings. */
#include "services/init_args.h"

#include "cnode.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NOTED 256

static struct {
    char *name, *value;
} noted[MAX_NOTED];
static int nnoted;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int cn_note_argument(const char *name, const char *value)
{
    if (!name || !name[0])
        return -1;
    char *n = strdup(name), *v = value ? strdup(value) : NULL;
    int r = -1;
    pthread_mutex_lock(&lock);
    if (n && (v || !value) && nnoted < MAX_NOTED) {
        noted[nnoted].name = n;
        noted[nnoted].value = v;
        nnoted++;
        r = 0;
    }
    pthread_mutex_unlock(&lock);
    if (r < 0) {
        free(n);
        free(v);
    }
    return r;
}

/* Options with an erl equivalent: the flag, and the values (NULL: the option's value). */
static const struct {
    const char *name, *flag;
    int n;
    const char *v[CN_ERL_ARG_VALUES];
} same_as[] = {
    {"sname", "sname", 1, {NULL}},
    {"name", "name", 1, {NULL}},
    {"hidden", "hidden", 0, {NULL}},
    {"port", "kernel", 4, {"inet_dist_listen_min", NULL, "inet_dist_listen_max", NULL}},
    {"epmd-port", "epmd_port", 1, {NULL}}, /* what erl_epmd reads */
    {"no-epmd-start", "start_epmd", 1, {"false"}},
    {"net-ticktime", "kernel", 2, {"net_ticktime", NULL}},
    {"handshake-timeout", "kernel", 2, {"net_setuptime", NULL}}, /* seconds: below */
    {"proto-dist", "proto_dist", 1, {NULL}},
    {"ssl-dist-optfile", "ssl_dist_optfile", 1, {NULL}},
    {"tls-certfile", "ssl_dist_opt", 4, {"server_certfile", NULL, "client_certfile", NULL}},
    {"tls-keyfile", "ssl_dist_opt", 4, {"server_keyfile", NULL, "client_keyfile", NULL}},
    {"tls-cacertfile", "ssl_dist_opt", 4, {"server_cacertfile", NULL, "client_cacertfile", NULL}},
};

int cn_erl_arg_of(const char *name, const char *value, cn_erl_arg *out)
{
    memset(out, 0, sizeof *out);
    /* The BEAM lists -setcookie among its arguments; we never do. The cookie is the one
     * secret of the cluster, and get_arguments answers end up in places a secret must not:
     * tools display them (observer's System tab), scripts log them, people paste them into
     * bug reports. A caller who needs the cookie already holds it. */
    if (!strcmp(name, "cookie") || !strcmp(name, "setcookie"))
        return 0;
    for (size_t k = 0; k < sizeof same_as / sizeof same_as[0]; k++) {
        if (strcmp(name, same_as[k].name) != 0)
            continue;
        int needs = 0;
        for (int i = 0; i < same_as[k].n; i++)
            needs |= !same_as[k].v[i];
        if (needs && !value)
            return 0; /* an option that takes a value, noted without one */
        out->flag = same_as[k].flag;
        out->n = same_as[k].n;
        const char *val = value ? value : "";
        if (!strcmp(name, "handshake-timeout")) { /* net_setuptime is in seconds */
            char *end;
            long ms = strtol(val, &end, 10);
            if (end != val && !*end && ms >= 0) {
                if (ms % 1000)
                    snprintf(out->num, sizeof out->num, "%ld.%03ld", ms / 1000, ms % 1000);
                else
                    snprintf(out->num, sizeof out->num, "%ld", ms / 1000);
                size_t l = strlen(out->num);
                while (strchr(out->num, '.') && out->num[l - 1] == '0')
                    out->num[--l] = '\0';
                val = out->num;
            }
        }
        for (int i = 0; i < out->n; i++)
            out->v[i] = same_as[k].v[i] ? same_as[k].v[i] : val;
        return 1;
    }
    /* No erl equivalent: its own name, with erl's underscores for the dashes. */
    size_t l = strlen(name);
    if (l >= sizeof out->flag_buf)
        return 0;
    for (size_t i = 0; i <= l; i++)
        out->flag_buf[i] = name[i] == '-' ? '_' : name[i];
    out->flag = out->flag_buf;
    out->n = value ? 1 : 0;
    out->v[0] = value;
    return 1;
}

void cn_init_args_each(void (*fn)(const cn_erl_arg *a, void *arg), void *arg)
{
    cn_erl_arg a;
    memset(&a, 0, sizeof a);
    /* No root or bindir: there is no OTP installation behind the node. */
    a.flag = "progname";
    a.n = 1;
    a.v[0] = program_invocation_short_name;
    fn(&a, arg);
    const char *home = getenv("HOME");
    if (home) {
        a.flag = "home";
        a.v[0] = home;
        fn(&a, arg);
    }
    pthread_mutex_lock(&lock); /* noted entries are never removed: the strings stay */
    int n = nnoted;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        if (cn_erl_arg_of(noted[i].name, noted[i].value, &a))
            fn(&a, arg);
}

/* The code point of the well-formed UTF-8 sequence at s (at most left bytes) and its length
 * in *len, or -1 (overlong forms, surrogates and values past U+10FFFF are not well-formed). */
static long utf8_at(const unsigned char *s, size_t left, int *len)
{
    unsigned c = s[0];
    int n = c < 0x80             ? 1
            : (c & 0xe0) == 0xc0 ? 2
            : (c & 0xf0) == 0xe0 ? 3
            : (c & 0xf8) == 0xf0 ? 4
                                 : 0;
    if (!n || (size_t)n > left)
        return -1;
    unsigned long v = n == 1 ? c : c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const unsigned long least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *len = n;
    return (long)v;
}

size_t cn_os_text_chars(const char *s, size_t len, unsigned *cp, size_t cap)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap;) {
        int l;
        long c = utf8_at(u + i, len - i, &l);
        if (c < 0) { /* not UTF-8: the bytes as they are */
            for (n = 0; n < len && n < cap; n++)
                cp[n] = u[n];
            return n;
        }
        cp[n++] = (unsigned)c;
        i += (size_t)l;
    }
    return n;
}

void cn_encode_chars(ei_x_buff *x, const unsigned *cp, size_t n)
{
    int bytes = n <= 65535;
    for (size_t i = 0; i < n && bytes; i++)
        bytes = cp[i] < 256;
    if (bytes && n > 0) {
        char *b = malloc(n);
        if (b) {
            for (size_t i = 0; i < n; i++)
                b[i] = (char)cp[i];
            ei_x_encode_string_len(x, b, (int)n);
            free(b);
            return;
        }
    }
    if (n > 0)
        ei_x_encode_list_header(x, (long)n);
    for (size_t i = 0; i < n; i++)
        ei_x_encode_ulong(x, cp[i]);
    ei_x_encode_empty_list(x);
}

void cn_encode_os_text(ei_x_buff *x, const char *s, size_t len)
{
    unsigned stack[256], *cp = len <= 256 ? stack : malloc(len * sizeof *cp);
    if (!cp) {
        ei_x_encode_empty_list(x); /* no memory: the caller's term stays well-formed */
        return;
    }
    cn_encode_chars(x, cp, cn_os_text_chars(s, len, cp, len));
    if (cp != stack)
        free(cp);
}

/* TLS distribution settings: defaults, and a bounded reader for the subset of Erlang term
 * syntax an ssl_dist_optfile uses (atoms, strings, integers, tuples, lists, maps, binaries,
 * `fun M:F/A`), of which the options a C node can honour are taken. */
#include "dist/tls.h"

#include "cnode.h"
#include "util/log.h"

#include <openssl/ssl.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT ((size_t)64 * 1024)
#define MAX_TERMS 4096
#define MAX_DEPTH 32

void cn_tls_conf_defaults(cn_tls_conf *c)
{
    memset(c, 0, sizeof *c);
    cn_tls_side *sides[2] = {&c->server, &c->client};
    for (int i = 0; i < 2; i++) {
        sides[i]->verify = 1;
        sides[i]->fail_if_no_peer_cert = 1;
        sides[i]->check_host = i == 1; /* the client checks; the server only if asked */
        sides[i]->depth = -1;
        sides[i]->min_version = TLS1_2_VERSION;
        sides[i]->max_version = TLS1_3_VERSION;
    }
}

/* ---- terms ---------------------------------------------------------------------------- */

enum { T_ATOM, T_STR, T_INT, T_FLOAT, T_TUPLE, T_LIST, T_MAP, T_FUN };

typedef struct term {
    int type;
    int first, next; /* children (tuple, list, map: key, value, key, ...), siblings; -1 ends */
    int nkids;
    size_t s, slen; /* atom / string text in the parser's string arena */
    long long ival;
} term;

typedef struct parser {
    const char *p, *end;
    term t[MAX_TERMS];
    int n;
    char *str; /* decoded atom and string text; never longer than the input */
    size_t slen;
    int line;
    char *err;
    size_t errlen;
} parser;

static int perr(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser *ps, const char *fmt, ...)
{
    char m[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "line %d: %s", ps->line, m);
    return -1;
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end) {
        char ch = *ps->p;
        if (ch == '%') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else if (ch == '\n') {
            ps->line++;
            ps->p++;
        } else if (isspace((unsigned char)ch)) {
            ps->p++;
        } else {
            break;
        }
    }
}

static int peek(parser *ps)
{
    skip_space(ps);
    return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

static int expect(parser *ps, char ch)
{
    if (peek(ps) != ch)
        return perr(ps, "expected '%c'", ch);
    ps->p++;
    return 0;
}

static int new_term(parser *ps, int type)
{
    if (ps->n >= MAX_TERMS)
        return perr(ps, "too many terms (more than %d)", MAX_TERMS);
    term *t = &ps->t[ps->n];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->first = t->next = -1;
    return ps->n++;
}

/* A quoted string or atom body up to `q`, escapes decoded into the arena. */
static int quoted(parser *ps, int idx, char q)
{
    ps->p++; /* the opening quote */
    ps->t[idx].s = ps->slen;
    while (ps->p < ps->end && *ps->p != q) {
        char ch = *ps->p++;
        if (ch == '\n')
            ps->line++;
        if (ch == '\\') {
            if (ps->p >= ps->end)
                break;
            ch = *ps->p++;
            switch (ch) {
            case 'n':
                ch = '\n';
                break;
            case 't':
                ch = '\t';
                break;
            case 'r':
                ch = '\r';
                break;
            case 's':
                ch = ' ';
                break;
            case 'e':
                ch = 27;
                break;
            case '0':
                ch = 0;
                break;
            default:
                break; /* \\, \", \' and anything else stand for themselves */
            }
        }
        if (ch == 0)
            return perr(ps, "NUL in a string");
        ps->str[ps->slen++] = ch;
    }
    if (ps->p >= ps->end)
        return perr(ps, "unterminated %s", q == '"' ? "string" : "quoted atom");
    ps->p++;
    ps->t[idx].slen = ps->slen - ps->t[idx].s;
    return 0;
}

static int is_name_char(int ch)
{
    return isalnum(ch) || ch == '_' || ch == '@';
}

static int parse_term(parser *ps, int depth);

/* Elements up to `close`, separated by commas; maps take `K => V` pairs. */
static int parse_seq(parser *ps, int idx, char close, int depth, int pairs)
{
    int last = -1;
    ps->p++; /* the opening bracket */
    if (peek(ps) == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        for (int k = 0; k < (pairs ? 2 : 1); k++) {
            if (k == 1) {
                skip_space(ps);
                if (ps->end - ps->p < 2 || ps->p[0] != '=' || ps->p[1] != '>')
                    return perr(ps, "expected '=>' in a map");
                ps->p += 2;
            }
            int kid = parse_term(ps, depth + 1);
            if (kid < 0)
                return -1;
            if (last < 0)
                ps->t[idx].first = kid;
            else
                ps->t[last].next = kid;
            last = kid;
            ps->t[idx].nkids++;
        }
        int ch = peek(ps);
        if (ch == ',') {
            ps->p++;
            continue;
        }
        if (ch == close) {
            ps->p++;
            return 0;
        }
        if (ch == '|')
            return perr(ps, "improper lists are not supported");
        return perr(ps, "expected ',' or '%c'", close);
    }
}

static int parse_term(parser *ps, int depth)
{
    if (depth > MAX_DEPTH)
        return perr(ps, "terms nested deeper than %d", MAX_DEPTH);
    int ch = peek(ps);
    if (ch < 0)
        return perr(ps, "unexpected end of file");
    int idx;
    if (ch == '[' || ch == '{') {
        if ((idx = new_term(ps, ch == '[' ? T_LIST : T_TUPLE)) < 0)
            return -1;
        return parse_seq(ps, idx, ch == '[' ? ']' : '}', depth, 0) < 0 ? -1 : idx;
    }
    if (ch == '#') {
        ps->p++;
        if (peek(ps) != '{')
            return perr(ps, "records are not supported");
        if ((idx = new_term(ps, T_MAP)) < 0)
            return -1;
        return parse_seq(ps, idx, '}', depth, 1) < 0 ? -1 : idx;
    }
    if (ch == '"' || ch == '\'') {
        if ((idx = new_term(ps, ch == '"' ? T_STR : T_ATOM)) < 0)
            return -1;
        return quoted(ps, idx, (char)ch) < 0 ? -1 : idx;
    }
    if (ch == '<') { /* <<"text">> or <<>> */
        if (ps->end - ps->p < 2 || ps->p[1] != '<')
            return perr(ps, "unexpected '<'");
        ps->p += 2;
        if ((idx = new_term(ps, T_STR)) < 0)
            return -1;
        ps->t[idx].s = ps->slen;
        if (peek(ps) == '"' && quoted(ps, idx, '"') < 0)
            return -1;
        skip_space(ps);
        if (ps->end - ps->p < 2 || ps->p[0] != '>' || ps->p[1] != '>')
            return perr(ps, "only <<\"text\">> binaries are supported");
        ps->p += 2;
        return idx;
    }
    if (ch == '-' || isdigit(ch)) {
        if ((idx = new_term(ps, T_INT)) < 0)
            return -1;
        char num[32];
        size_t k = 0;
        if (ch == '-')
            num[k++] = *ps->p++;
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p) && k < sizeof num - 1)
            num[k++] = *ps->p++;
        num[k] = 0;
        if (ps->p < ps->end && isdigit((unsigned char)*ps->p))
            return perr(ps, "number too long");
        /* a float: digits '.' digits (a '.' after digits alone ends the file's term) */
        if (ps->end - ps->p >= 2 && ps->p[0] == '.' && isdigit((unsigned char)ps->p[1])) {
            ps->t[idx].type = T_FLOAT;
            ps->p++;
            while (ps->p < ps->end &&
                   (isalnum((unsigned char)*ps->p) || *ps->p == '-' || *ps->p == '+'))
                ps->p++;
            return idx;
        }
        errno = 0;
        char *e;
        ps->t[idx].ival = strtoll(num, &e, 10);
        if (errno || *e || e == num || (num[0] == '-' && k == 1))
            return perr(ps, "bad number");
        return idx;
    }
    if (islower(ch)) {
        if ((idx = new_term(ps, T_ATOM)) < 0)
            return -1;
        ps->t[idx].s = ps->slen;
        while (ps->p < ps->end && is_name_char((unsigned char)*ps->p))
            ps->str[ps->slen++] = *ps->p++;
        ps->t[idx].slen = ps->slen - ps->t[idx].s;
        if (ps->t[idx].slen == 3 && memcmp(ps->str + ps->t[idx].s, "fun", 3) == 0) {
            /* fun Mod:Fun/Arity, kept as an opaque term */
            ps->t[idx].type = T_FUN;
            int m = parse_term(ps, depth + 1);
            if (m < 0 || ps->t[m].type != T_ATOM || expect(ps, ':') < 0)
                return m < 0 ? -1 : perr(ps, "only fun Module:Function/Arity is supported");
            int f = parse_term(ps, depth + 1);
            if (f < 0 || ps->t[f].type != T_ATOM || expect(ps, '/') < 0)
                return f < 0 ? -1 : perr(ps, "only fun Module:Function/Arity is supported");
            int a = parse_term(ps, depth + 1);
            if (a < 0 || ps->t[a].type != T_INT)
                return a < 0 ? -1 : perr(ps, "only fun Module:Function/Arity is supported");
        }
        return idx;
    }
    if (isupper(ch) || ch == '_')
        return perr(ps, "variables are not allowed");
    return perr(ps, "unexpected character '%c'", isprint(ch) ? ch : '?');
}

/* ---- options ---------------------------------------------------------------------------- */

static int is(const parser *ps, int idx, const char *text)
{
    const term *t = &ps->t[idx];
    return t->type == T_ATOM && t->slen == strlen(text) &&
           memcmp(ps->str + t->s, text, t->slen) == 0;
}

static int copy_text(parser *ps, int idx, char *dst, size_t cap, const char *what)
{
    const term *t = &ps->t[idx];
    if (t->type != T_STR)
        return perr(ps, "%s must be a string", what);
    if (t->slen == 0 || t->slen >= cap)
        return perr(ps, "%s must be 1 to %zu characters", what, cap - 1);
    memcpy(dst, ps->str + t->s, t->slen);
    dst[t->slen] = 0;
    return 0;
}

static int boolean(parser *ps, int idx, int *out, const char *what)
{
    if (is(ps, idx, "true") || is(ps, idx, "false")) {
        *out = is(ps, idx, "true");
        return 0;
    }
    return perr(ps, "%s must be true or false", what);
}

static void note_ignored(char *ig, size_t il, const char *name, size_t nlen)
{
    if (!ig || il == 0)
        return;
    size_t cur = strlen(ig);
    snprintf(ig + cur, il - cur, "%s%.*s", cur ? ", " : "", (int)nlen, name);
}

static int versions(parser *ps, int idx, cn_tls_side *s)
{
    if (ps->t[idx].type != T_LIST || ps->t[idx].nkids == 0)
        return perr(ps, "versions must be a non-empty list of 'tlsv1.2' and 'tlsv1.3'");
    int lo = 0, hi = 0;
    for (int k = ps->t[idx].first; k >= 0; k = ps->t[k].next) {
        int v;
        if (is(ps, k, "tlsv1.2"))
            v = TLS1_2_VERSION;
        else if (is(ps, k, "tlsv1.3"))
            v = TLS1_3_VERSION;
        else
            return perr(ps, "versions: only 'tlsv1.2' and 'tlsv1.3' are supported");
        lo = lo == 0 || v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    s->min_version = lo;
    s->max_version = hi;
    return 0;
}

static int side_option(parser *ps, int opt, cn_tls_side *s, int server, char *ig, size_t il)
{
    const term *t = &ps->t[opt];
    if (t->type != T_TUPLE || t->nkids != 2 || ps->t[t->first].type != T_ATOM)
        return perr(ps, "an option must be a {Name, Value} pair");
    int k = t->first, v = ps->t[k].next;
    if (is(ps, k, "certfile"))
        return copy_text(ps, v, s->certfile, sizeof s->certfile, "certfile");
    if (is(ps, k, "keyfile"))
        return copy_text(ps, v, s->keyfile, sizeof s->keyfile, "keyfile");
    if (is(ps, k, "cacertfile"))
        return copy_text(ps, v, s->cacertfile, sizeof s->cacertfile, "cacertfile");
    if (is(ps, k, "password"))
        return copy_text(ps, v, s->password, sizeof s->password, "password");
    if (is(ps, k, "verify")) {
        if (!is(ps, v, "verify_peer") && !is(ps, v, "verify_none"))
            return perr(ps, "verify must be verify_peer or verify_none");
        s->verify = is(ps, v, "verify_peer");
        return 0;
    }
    if (server && is(ps, k, "fail_if_no_peer_cert"))
        return boolean(ps, v, &s->fail_if_no_peer_cert, "fail_if_no_peer_cert");
    if (!server && is(ps, k, "server_name_indication")) {
        if (is(ps, v, "disable")) {
            s->check_host = 0;
            return 0;
        }
        s->check_host = 1;
        return copy_text(ps, v, s->server_name, sizeof s->server_name, "server_name_indication");
    }
    if (is(ps, k, "depth")) {
        if (ps->t[v].type != T_INT || ps->t[v].ival < 0 || ps->t[v].ival > 100)
            return perr(ps, "depth must be an integer from 0 to 100");
        s->depth = (int)ps->t[v].ival;
        return 0;
    }
    if (is(ps, k, "versions"))
        return versions(ps, v, s);
    /* Settings with nothing to do here: we never renegotiate or resume, and do not sleep. */
    if (is(ps, k, "secure_renegotiate") || is(ps, k, "reuse_sessions") ||
        is(ps, k, "hibernate_after") || is(ps, k, "log_level") || is(ps, k, "log_alert"))
        return 0;
    note_ignored(ig, il, ps->str + ps->t[k].s, ps->t[k].slen);
    return 0;
}

int cn_tls_conf_parse(const char *text, size_t len, cn_tls_conf *c, char *ignored,
                      size_t ignored_len, char *err, size_t errlen)
{
    if (ignored && ignored_len)
        ignored[0] = 0;
    if (len > MAX_TEXT) {
        snprintf(err, errlen, "the file is larger than %zu bytes", MAX_TEXT);
        return -1;
    }
    parser *ps = calloc(1, sizeof *ps);
    char *arena = malloc(len + 1);
    int rc = -1;
    if (!ps || !arena) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ps->p = text;
    ps->end = text + len;
    ps->str = arena;
    ps->line = 1;
    ps->err = err;
    ps->errlen = errlen;
    int top = parse_term(ps, 0);
    if (top < 0)
        goto out;
    if (peek(ps) == '.')
        ps->p++;
    if (peek(ps) >= 0) {
        perr(ps, "text after the term");
        goto out;
    }
    if (ps->t[top].type != T_LIST) {
        perr(ps, "the file must hold a list: [{server, [...]}, {client, [...]}].");
        goto out;
    }
    for (int e = ps->t[top].first; e >= 0; e = ps->t[e].next) {
        const term *t = &ps->t[e];
        int server;
        if (t->type != T_TUPLE || t->nkids != 2 ||
            (!(server = is(ps, t->first, "server")) && !is(ps, t->first, "client"))) {
            perr(ps, "each element must be {server, Options} or {client, Options}");
            goto out;
        }
        int opts = ps->t[t->first].next;
        if (ps->t[opts].type != T_LIST) {
            perr(ps, "the options of %s must be a list", server ? "server" : "client");
            goto out;
        }
        cn_tls_side *s = server ? &c->server : &c->client;
        for (int o = ps->t[opts].first; o >= 0; o = ps->t[o].next)
            if (side_option(ps, o, s, server, ignored, ignored_len) < 0)
                goto out;
    }
    rc = 0;
out:
    free(arena);
    free(ps);
    return rc;
}

int cn_tls_conf_load(const char *path, cn_tls_conf *c, char *ignored, size_t ignored_len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(MAX_TEXT + 1);
    size_t n = buf ? fread(buf, 1, MAX_TEXT + 1, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char e[256];
    int r = cn_tls_conf_parse(buf, n, c, ignored, ignored_len, e, sizeof e);
    if (r < 0)
        snprintf(err, errlen, "%s: %s", path, e);
    free(buf);
    return r;
}

static int set_path(char *dst, const char *src, char *err, size_t errlen)
{
    if (strlen(src) >= CN_TLS_PATH_MAX || !src[0]) {
        snprintf(err, errlen, "a TLS file name must be 1 to %d characters", CN_TLS_PATH_MAX - 1);
        return -1;
    }
    snprintf(dst, CN_TLS_PATH_MAX, "%s", src);
    return 0;
}

cn_tls *cn_tls_setup(const cn_config *cfg, char *err, size_t errlen)
{
    cn_tls_conf c;
    cn_tls_conf_defaults(&c);
    if (cfg->tls_optfile) {
        char ignored[512];
        if (cn_tls_conf_load(cfg->tls_optfile, &c, ignored, sizeof ignored, err, errlen) < 0)
            return NULL;
        if (ignored[0])
            cn_warn("TLS: %s: options a C node cannot honour were ignored: %s", cfg->tls_optfile,
                    ignored);
    }
    cn_tls_side *sides[2] = {&c.server, &c.client};
    for (int i = 0; i < 2; i++) {
        if ((cfg->tls_certfile && set_path(sides[i]->certfile, cfg->tls_certfile, err, errlen)) ||
            (cfg->tls_keyfile && set_path(sides[i]->keyfile, cfg->tls_keyfile, err, errlen)) ||
            (cfg->tls_cacertfile &&
             set_path(sides[i]->cacertfile, cfg->tls_cacertfile, err, errlen)))
            return NULL;
    }
    if (cfg->tls_no_host_check)
        c.client.check_host = 0;
    if (cfg->tls_check_client_host)
        c.server.check_host = 1;
    char e[400];
    cn_tls *t = cn_tls_new(&c, e, sizeof e);
    if (!t) {
        snprintf(err, errlen, "TLS distribution: %s", e);
        return NULL;
    }
    if (!c.server.verify || !c.server.fail_if_no_peer_cert)
        cn_warn("TLS: nodes connecting to us are accepted %s",
                !c.server.verify ? "without checking their certificate (verify_none)"
                                 : "without a certificate (fail_if_no_peer_cert false)");
    if (!c.client.verify)
        cn_warn("TLS: the certificates of nodes we dial are not checked (verify_none)");
    cn_info("distribution over TLS: peers verified against %s (server) / %s (client), "
            "host names of dialled nodes %s, of connecting nodes %s",
            c.server.verify ? c.server.cacertfile : "nothing",
            c.client.verify ? c.client.cacertfile : "nothing",
            c.client.verify && c.client.check_host ? "checked" : "not checked",
            c.server.verify && c.server.check_host ? "checked" : "not checked");
    return t;
}

/* cnoded: the daemon = libcnode + this command line + the built-in workers. */
#include "cnode.h"
#include "code/sign.h"
#include "services/keeper.h"
#include "services/services.h"
#include "util/conffile.h"
#include "util/log.h"
#include "workers/workers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CNODED_VERSION "0.1.0"

static const char usage[] =
    "usage: cnoded (--sname NAME | --name NAME[@HOST]) [options]\n"
    "       cnoded keygen BASE                   write BASE.key and BASE.pub (Ed25519)\n"
    "       cnoded sign --key BASE.key IN.so -o OUT   sign a module for loading\n"
    "\n"
    "  --sname NAME            short node name: NAME@<short host name>\n"
    "  --name NAME[@HOST]      long node name (host: the fully qualified host name)\n"
    "  --cookie COOKIE         the magic cookie (default: ~/.erlang.cookie)\n"
    "  --config FILE           more options from FILE, one per line without the dashes\n"
    "                          (sname c1, cookie secret, hidden); # starts a comment line;\n"
    "                          options on the command line override the file's\n"
    "  --hidden                connect as a hidden node (not in Node.list/0)\n"
    "  --port N                distribution listen port (default: any free port)\n"
    "  --epmd-port N           epmd port (default: $ERL_EPMD_PORT or 4369)\n"
    "  --no-epmd-start         do not start epmd when none answers\n"
    "  --connect NODE          connect to NODE at start (repeatable)\n"
    "  --child MOD[:NAME]      start a worker of module MOD under cnode_sup at start,\n"
    "                          registered as NAME if given (repeatable)\n"
    "  --pg-scope NAME         start the :pg scope NAME at start, besides pg (repeatable)\n"
    "  --reconnect-max-ms MS   largest back-off between redials of --connect peers\n"
    "                          (default 10000; 0: do not redial)\n"
    "  --reconnect-meshed      also redial the peers :global meshed us with, after a drop\n"
    "  --drain-to NODE         on SIGTERM or init:stop, hand stateful workers off to NODE\n"
    "                          (cnode:handoff/2) before stopping\n"
    "  --net-ticktime SECS     net_ticktime, as the kernel parameter (default 60)\n"
    "  --handshake-timeout MS  handshake time limit (default 7000, net_setuptime)\n"
    "  --schedulers N          scheduler threads (default: one per CPU it may run on)\n"
    "  --rx-coalesce-us US     while a peer streams, read its connection every US\n"
    "                          microseconds, not on every arrival (default 150; 0: off)\n"
    "  --no-fragments          do not offer fragmented messages: a large message goes whole,\n"
    "                          both ways (faster round trips; holds up the link meanwhile)\n"
    "  --max-message-size N    largest message accepted, in bytes (default 512 MiB)\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "  --trust-key FILE        load native modules signed with this public key (repeatable)\n"
    "  --trust-dir DIR         trust every *.pub key file in DIR\n"
    "  --allow-unsigned        also load unsigned modules (logs a warning)\n"
    "  --proto-dist PROTO      inet_tcp (default) or inet_tls (distribution over TLS)\n"
    "  --ssl-dist-optfile FILE TLS options in the file format of erl -ssl_dist_optfile\n"
    "  --tls-certfile FILE     this node's certificate chain, PEM (both roles)\n"
    "  --tls-keyfile FILE      its private key, PEM (default: in the certfile)\n"
    "  --tls-cacertfile FILE   CA certificates peers must be signed by\n"
    "  --tls-no-host-check     do not require a dialled node's certificate to name its host\n"
    "  --tls-check-client-host require a connecting node's certificate to name the host\n"
    "                          of the node name it announces\n"
    "  --version               print the version\n"
    "  --help                  this text\n";

static char usage_where[1100]; /* "FILE:LINE: " while the config file is applied */

static int die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "cnoded: %s", usage_where);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see cnoded --help)\n");
    return 2;
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* cnoded keygen BASE / cnoded sign --key KEY IN -o OUT (code signing, README). */
static int code_tool(int argc, char **argv)
{
    char err[600];
    if (!strcmp(argv[1], "keygen")) {
        if (argc != 3)
            return die_usage("%s", "usage: cnoded keygen BASE (writes BASE.key and BASE.pub)");
        if (cn_keygen(argv[2], err, sizeof err) < 0) {
            fprintf(stderr, "cnoded keygen: %s\n", err);
            return 1;
        }
        printf("wrote %s.key (secret: keep it) and %s.pub (give it to --trust-key)\n", argv[2],
               argv[2]);
        return 0;
    }
    const char *key = NULL, *in = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "--key") || !strcmp(argv[i], "-o")) && i + 1 < argc) {
            *(argv[i][1] == 'o' ? &out : &key) = argv[i + 1];
            i++;
        } else if (argv[i][0] != '-' && !in) {
            in = argv[i];
        } else {
            return die_usage("sign: unexpected argument '%s'", argv[i]);
        }
    }
    if (!key || !in || !out)
        return die_usage("%s", "usage: cnoded sign --key BASE.key IN.so -o OUT");
    if (cn_sign_file(key, in, out, err, sizeof err) < 0) {
        fprintf(stderr, "cnoded sign: %s\n", err);
        return 1;
    }
    return 0;
}

/* The long options, by name without the dashes (val: takes a value). A new flag gets an
 * entry here and a case in apply_opt; the command line and --config both read it then. */
enum {
    O_HELP,
    O_VERSION,
    O_CONFIG,
    O_HIDDEN,
    O_NO_EPMD_START,
    O_ALLOW_UNSIGNED,
    O_RECONNECT_MESHED,
    O_TLS_NO_HOST_CHECK,
    O_TLS_CHECK_CLIENT_HOST,
    O_SNAME,
    O_NAME,
    O_COOKIE,
    O_PORT,
    O_EPMD_PORT,
    O_CONNECT,
    O_CHILD,
    O_PG_SCOPE,
    O_RECONNECT_MAX_MS,
    O_RX_COALESCE_US,
    O_NO_FRAGMENTS,
    O_DRAIN_TO,
    O_NET_TICKTIME,
    O_HANDSHAKE_TIMEOUT,
    O_SCHEDULERS,
    O_MAX_MESSAGE_SIZE,
    O_TRUST_KEY,
    O_TRUST_DIR,
    O_PROTO_DIST,
    O_SSL_DIST_OPTFILE,
    O_TLS_CERTFILE,
    O_TLS_KEYFILE,
    O_TLS_CACERTFILE,
    O_LOG_LEVEL,
    O_COUNT
};
static const struct {
    const char *name;
    int val;
} opts[O_COUNT] = {
    [O_HELP] = {"help", 0},
    [O_VERSION] = {"version", 0},
    [O_CONFIG] = {"config", 1},
    [O_HIDDEN] = {"hidden", 0},
    [O_NO_EPMD_START] = {"no-epmd-start", 0},
    [O_ALLOW_UNSIGNED] = {"allow-unsigned", 0},
    [O_RECONNECT_MESHED] = {"reconnect-meshed", 0},
    [O_TLS_NO_HOST_CHECK] = {"tls-no-host-check", 0},
    [O_TLS_CHECK_CLIENT_HOST] = {"tls-check-client-host", 0},
    [O_SNAME] = {"sname", 1},
    [O_NAME] = {"name", 1},
    [O_COOKIE] = {"cookie", 1},
    [O_PORT] = {"port", 1},
    [O_EPMD_PORT] = {"epmd-port", 1},
    [O_CONNECT] = {"connect", 1},
    [O_CHILD] = {"child", 1},
    [O_PG_SCOPE] = {"pg-scope", 1},
    [O_RECONNECT_MAX_MS] = {"reconnect-max-ms", 1},
    [O_RX_COALESCE_US] = {"rx-coalesce-us", 1},
    [O_NO_FRAGMENTS] = {"no-fragments", 0},
    [O_DRAIN_TO] = {"drain-to", 1},
    [O_NET_TICKTIME] = {"net-ticktime", 1},
    [O_HANDSHAKE_TIMEOUT] = {"handshake-timeout", 1},
    [O_SCHEDULERS] = {"schedulers", 1},
    [O_MAX_MESSAGE_SIZE] = {"max-message-size", 1},
    [O_TRUST_KEY] = {"trust-key", 1},
    [O_TRUST_DIR] = {"trust-dir", 1},
    [O_PROTO_DIST] = {"proto-dist", 1},
    [O_SSL_DIST_OPTFILE] = {"ssl-dist-optfile", 1},
    [O_TLS_CERTFILE] = {"tls-certfile", 1},
    [O_TLS_KEYFILE] = {"tls-keyfile", 1},
    [O_TLS_CACERTFILE] = {"tls-cacertfile", 1},
    [O_LOG_LEVEL] = {"log-level", 1},
};

static int find_opt(const char *name)
{
    for (int k = 0; k < O_COUNT; k++)
        if (!strcmp(opts[k].name, name))
            return k;
    return -1;
}

/* What is wrong with node name v (NULL: nothing), by the rules of net_kernel's create_name:
 * letters, digits, _ and - before the @; no blanks or control characters after it. */
static const char *bad_node_name(const char *v, int longnames)
{
    size_t head = strcspn(v, "@");
    if (head == 0 || head > 255)
        return "the part before @ must be 1 to 255 characters";
    for (size_t i = 0; i < head; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return "the part before @ may have only letters, digits, _ and -";
    }
    if (!v[head] || !v[head + 1])
        return NULL; /* "name" or "name@": this host's name is added, as erl does */
    const char *host = v + head + 1;
    for (const char *h = host; *h; h++)
        if ((unsigned char)*h <= ' ' || *h == 0x7f)
            return "the host part may not have blanks or control characters";
    if (!longnames && strchr(host, '.'))
        return "a short name's host part cannot have a dot (use --name)";
    return NULL;
}

static const char *connect_to[256]; /* static: usage errors return without freeing */
static const char *pg_scopes[256];

/* Apply option k with value v (NULL for flags) to c; a (the option as the user wrote it)
 * names it in errors. Returns 0, or the exit status after a usage error. */
static int apply_opt(cn_config *c, int k, const char *a, char *v)
{
    long n;
    switch (k) {
    case O_HIDDEN:
        c->hidden = 1;
        break;
    case O_NO_EPMD_START:
        c->no_epmd_start = 1;
        break;
    case O_NO_FRAGMENTS:
        c->no_fragments = 1;
        break;
    case O_ALLOW_UNSIGNED:
        cn_code_allow_unsigned(1);
        break;
    case O_RECONNECT_MESHED:
        c->reconnect_meshed = 1;
        break;
    case O_TLS_NO_HOST_CHECK:
        c->tls_no_host_check = 1;
        break;
    case O_TLS_CHECK_CLIENT_HOST:
        c->tls_check_client_host = 1;
        break;
    case O_SNAME:
    case O_NAME:
        if (c->name)
            return die_usage("%s: only one of --sname/--name may be given", a);
        const char *why = bad_node_name(v, k == O_NAME);
        if (why) {
            char msg[600];
            snprintf(msg, sizeof msg, "bad node name '%.300s': %s", v, why);
            return die_usage("%s", msg);
        }
        c->name = v;
        c->longnames = k == O_NAME;
        break;
    case O_COOKIE:
        if (!v[0] || strlen(v) > 255)
            return die_usage("%s", "bad --cookie (1 to 255 characters)");
        c->cookie = v;
        break;
    case O_PORT:
        if (parse_num(v, 0, 65535, &n) < 0)
            return die_usage("bad port '%s'", v);
        c->port = (uint16_t)n;
        break;
    case O_EPMD_PORT:
        if (parse_num(v, 1, 65535, &n) < 0)
            return die_usage("bad epmd port '%s'", v);
        c->epmd_port = (uint16_t)n;
        break;
    case O_CONNECT:
        if (!strchr(v, '@'))
            return die_usage("--connect needs a full node name (name@host), got '%s'", v);
        if (c->nconnect >= (int)(sizeof connect_to / sizeof connect_to[0]))
            return die_usage("too many --connect flags (at most %s)", "256");
        connect_to[c->nconnect++] = v;
        break;
    case O_CHILD: {
        char *mod = v, *name = strchr(mod, ':');
        size_t mlen = name ? (size_t)(name - mod) : strlen(mod);
        int bad = mlen == 0 || mlen > 255 || (name && (!name[1] || strlen(name + 1) > 255));
        if (name && !bad)
            *name++ = 0; /* the value is ours to edit; the strings live as long as the node */
        /* names the node itself registers would be lost to it (or to the child) */
        int reserved = name && (!strcmp(name, "echo") || !strcmp(name, "net_kernel") ||
                                !strcmp(name, "cnode_sup"));
        if (bad || reserved || !cn_worker_lookup(mod) ||
            cn_supervisor_static_child(mod, name) < 0) {
            if (bad)
                return die_usage("bad --child '%s' (MOD or MOD:NAME)", v);
            if (reserved)
                return die_usage("--child: the name '%s' is the node's own", name);
            return cn_worker_lookup(mod) ? die_usage("too many --child flags (at %s)", mod)
                                         : die_usage("--child: no worker module '%s'", mod);
        }
        break;
    }
    case O_PG_SCOPE:
        if (!v[0] || strlen(v) > 255)
            return die_usage("bad --pg-scope '%s' (an atom of 1 to 255 characters)", v);
        if (c->npg_scopes >= (int)(sizeof pg_scopes / sizeof pg_scopes[0]))
            return die_usage("too many --pg-scope flags (at most %s)", "256");
        pg_scopes[c->npg_scopes++] = v;
        break;
    case O_RECONNECT_MAX_MS:
        if (parse_num(v, 0, 3600000, &n) < 0)
            return die_usage("bad --reconnect-max-ms '%s'", v);
        c->reconnect_max_ms = (int)n;
        break;
    case O_RX_COALESCE_US:
        if (parse_num(v, 0, 100000, &n) < 0)
            return die_usage("bad --rx-coalesce-us '%s'", v);
        c->rx_coalesce_us = (int)n;
        break;
    case O_DRAIN_TO:
        if (!strchr(v, '@') || strlen(v) > 255)
            return die_usage("bad --drain-to '%s' (a node name, name@host)", v);
        c->drain_to = v;
        break;
    case O_NET_TICKTIME:
        if (parse_num(v, 1, 86400, &n) < 0)
            return die_usage("bad net_ticktime '%s'", v);
        c->net_ticktime = (int)n;
        break;
    case O_HANDSHAKE_TIMEOUT:
        if (parse_num(v, 100, 600000, &n) < 0)
            return die_usage("bad handshake timeout '%s'", v);
        c->handshake_timeout_ms = (int)n;
        break;
    case O_SCHEDULERS:
        if (parse_num(v, 1, 1024, &n) < 0)
            return die_usage("bad scheduler count '%s'", v);
        c->schedulers = (int)n;
        break;
    case O_MAX_MESSAGE_SIZE:
        if (parse_num(v, 1024, 1L << 31, &n) < 0)
            return die_usage("bad message size '%s'", v);
        c->max_message = (size_t)n;
        break;
    case O_TRUST_KEY:
    case O_TRUST_DIR: {
        char err[600];
        if ((k == O_TRUST_KEY ? cn_code_trust_key_file(v, err, sizeof err)
                              : cn_code_trust_dir(v, err, sizeof err)) < 0)
            return die_usage("%s", err);
        break;
    }
    case O_PROTO_DIST:
        if (strcmp(v, "inet_tcp") != 0 && strcmp(v, "inet_tls") != 0)
            return die_usage("bad --proto-dist '%s' (inet_tcp or inet_tls)", v);
        c->proto_dist = v;
        break;
    case O_SSL_DIST_OPTFILE:
        c->tls_optfile = v;
        break;
    case O_TLS_CERTFILE:
        c->tls_certfile = v;
        break;
    case O_TLS_KEYFILE:
        c->tls_keyfile = v;
        break;
    case O_TLS_CACERTFILE:
        c->tls_cacertfile = v;
        break;
    case O_LOG_LEVEL: {
        int l = cn_log_parse_level(v);
        if (l < 0)
            return die_usage("bad log level '%s'", v);
        cn_log_level = l;
        break;
    }
    default:
        return die_usage("unknown option '%s'", a);
    }
    return 0;
}

/* The lines of --config FILE, applied after the command line: an option the command line
 * gave (either name option for --sname/--name) is skipped, so the command line wins
 * whatever the order. The file's strings live as long as the node. */
static int apply_config(cn_config *c, const char *path, const unsigned char *given)
{
    static cn_conf conf;
    char err[1200];
    if (cn_conf_read(path, &conf, err, sizeof err) < 0) {
        fprintf(stderr, "cnoded: %s\n", err);
        return 2;
    }
    for (int i = 0; i < conf.n; i++) {
        const cn_conf_entry *e = &conf.e[i];
        snprintf(usage_where, sizeof usage_where, "%s:%d: ", path, e->line);
        int k = find_opt(e->name);
        if (k < 0)
            return die_usage("unknown option '%s'", e->name);
        if (k == O_HELP || k == O_VERSION || k == O_CONFIG)
            return die_usage("'%s' cannot be used in a config file", e->name);
        if (opts[k].val && !e->value)
            return die_usage("%s needs a value", e->name);
        if (!opts[k].val && e->value)
            return die_usage("%s takes no value", e->name);
        if (given[k] || ((k == O_SNAME || k == O_NAME) && (given[O_SNAME] || given[O_NAME])))
            continue;
        int r = apply_opt(c, k, e->name, (char *)e->value);
        if (r)
            return r;
        cn_note_argument(e->name, e->value); /* in place, as erl expands -args_file */
    }
    usage_where[0] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "keygen") || !strcmp(argv[1], "sign")))
        return code_tool(argc, argv);
    cn_config c;
    cn_config_defaults(&c);
    c.connect = connect_to;
    c.pg_scopes = pg_scopes;
    cn_workers_register_builtin(); /* before parsing: --child names a worker module */
    unsigned char given[O_COUNT] = {0};
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            return die_usage("unexpected argument '%s'", a);
        int k = !strcmp(a, "-h") ? O_HELP : strncmp(a, "--", 2) ? -1 : find_opt(a + 2);
        if (k < 0)
            return die_usage("unknown option '%s'", a);
        if (opts[k].val && i + 1 >= argc)
            return die_usage("%s needs a value", a);
        char *v = opts[k].val ? argv[++i] : NULL;
        given[k] = 1;
        if (k == O_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (k == O_VERSION) {
            printf("cnoded %s\n", CNODED_VERSION);
            return 0;
        }
        if (k == O_CONFIG) {
            if (config)
                return die_usage("%s", "--config may be given once");
            config = v;
            continue;
        }
        int r = apply_opt(&c, k, a, v);
        if (r)
            return r;
        cn_note_argument(a + 2, v); /* for init:get_arguments/0 */
    }
    if (config) {
        int r = apply_config(&c, config, given);
        if (r)
            return r;
    }
    if (!c.name)
        return die_usage("%s", "a node name is required: --sname NAME or --name NAME@HOST");
    if ((c.tls_optfile || c.tls_certfile || c.tls_keyfile || c.tls_cacertfile ||
         c.tls_no_host_check || c.tls_check_client_host) &&
        (!c.proto_dist || strcmp(c.proto_dist, "inet_tls") != 0))
        return die_usage("%s", "TLS options need --proto-dist inet_tls");

    char err[512];
    int code;
    if (cn_node_start(&c, err, sizeof err, &code) < 0) {
        cn_error("%s", err);
        return code ? code : 1;
    }
    if (cn_keep_worker(&cn_echo_worker, "echo") < 0) /* restarted if it exits */
        cn_error("cannot start the echo worker");
    int r = cn_node_run();
    return r;
}

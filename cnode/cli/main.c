/* cnoded: the daemon = libcnode + this command line + the built-in workers. */
#include "cnode.h"
#include "code/sign.h"
#include "services/keeper.h"
#include "services/services.h"
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
    "  --net-ticktime SECS     net_ticktime, as the kernel parameter (default 60)\n"
    "  --handshake-timeout MS  handshake time limit (default 7000, net_setuptime)\n"
    "  --schedulers N          scheduler threads (default: one per CPU it may run on)\n"
    "  --rx-coalesce-us US     while a peer streams, read its connection every US\n"
    "                          microseconds, not on every arrival (default 150; 0: off)\n"
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

static int die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "cnoded: ");
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

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "keygen") || !strcmp(argv[1], "sign")))
        return code_tool(argc, argv);
    cn_config c;
    cn_config_defaults(&c);
    static const char *connect[256]; /* static: usage errors return without freeing */
    static const char *pg_scopes[256];
    c.connect = connect;
    c.pg_scopes = pg_scopes;
    cn_workers_register_builtin(); /* before parsing: --child names a worker module */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("cnoded %s\n", CNODED_VERSION);
            return 0;
        }
        if (!strcmp(a, "--hidden")) {
            c.hidden = 1;
            continue;
        }
        if (!strcmp(a, "--no-epmd-start")) {
            c.no_epmd_start = 1;
            continue;
        }
        if (!strcmp(a, "--allow-unsigned")) {
            cn_code_allow_unsigned(1);
            continue;
        }
        if (!strcmp(a, "--reconnect-meshed")) {
            c.reconnect_meshed = 1;
            continue;
        }
        if (!strcmp(a, "--tls-no-host-check")) {
            c.tls_no_host_check = 1;
            continue;
        }
        if (!strcmp(a, "--tls-check-client-host")) {
            c.tls_check_client_host = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return die_usage("unexpected argument '%s'", a);
        if (!v)
            return die_usage("%s needs a value", a);
        i++;
        if (!strcmp(a, "--sname") || !strcmp(a, "--name")) {
            if (c.name)
                return die_usage("%s: only one of --sname/--name may be given", a);
            c.name = v;
            c.longnames = a[2] == 'n';
        } else if (!strcmp(a, "--cookie")) {
            c.cookie = v;
        } else if (!strcmp(a, "--port")) {
            if (parse_num(v, 0, 65535, &n) < 0)
                return die_usage("bad port '%s'", v);
            c.port = (uint16_t)n;
        } else if (!strcmp(a, "--epmd-port")) {
            if (parse_num(v, 1, 65535, &n) < 0)
                return die_usage("bad epmd port '%s'", v);
            c.epmd_port = (uint16_t)n;
        } else if (!strcmp(a, "--connect")) {
            if (!strchr(v, '@'))
                return die_usage("--connect needs a full node name (name@host), got '%s'", v);
            if (c.nconnect >= (int)(sizeof connect / sizeof connect[0]))
                return die_usage("too many --connect flags (at most %s)", "256");
            connect[c.nconnect++] = v;
        } else if (!strcmp(a, "--child")) {
            char *mod = argv[i], *name = strchr(mod, ':');
            size_t mlen = name ? (size_t)(name - mod) : strlen(mod);
            int bad = mlen == 0 || mlen > 255 || (name && (!name[1] || strlen(name + 1) > 255));
            if (name && !bad)
                *name++ = 0; /* argv is ours to edit; the strings live as long as the node */
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
        } else if (!strcmp(a, "--pg-scope")) {
            if (!v[0] || strlen(v) > 255)
                return die_usage("bad --pg-scope '%s' (an atom of 1 to 255 characters)", v);
            if (c.npg_scopes >= (int)(sizeof pg_scopes / sizeof pg_scopes[0]))
                return die_usage("too many --pg-scope flags (at most %s)", "256");
            pg_scopes[c.npg_scopes++] = v;
        } else if (!strcmp(a, "--reconnect-max-ms")) {
            if (parse_num(v, 0, 3600000, &n) < 0)
                return die_usage("bad --reconnect-max-ms '%s'", v);
            c.reconnect_max_ms = (int)n;
        } else if (!strcmp(a, "--rx-coalesce-us")) {
            if (parse_num(v, 0, 100000, &n) < 0)
                return die_usage("bad --rx-coalesce-us '%s'", v);
            c.rx_coalesce_us = (int)n;
        } else if (!strcmp(a, "--net-ticktime")) {
            if (parse_num(v, 1, 86400, &n) < 0)
                return die_usage("bad net_ticktime '%s'", v);
            c.net_ticktime = (int)n;
        } else if (!strcmp(a, "--handshake-timeout")) {
            if (parse_num(v, 100, 600000, &n) < 0)
                return die_usage("bad handshake timeout '%s'", v);
            c.handshake_timeout_ms = (int)n;
        } else if (!strcmp(a, "--schedulers")) {
            if (parse_num(v, 1, 1024, &n) < 0)
                return die_usage("bad scheduler count '%s'", v);
            c.schedulers = (int)n;
        } else if (!strcmp(a, "--max-message-size")) {
            if (parse_num(v, 1024, 1L << 31, &n) < 0)
                return die_usage("bad message size '%s'", v);
            c.max_message = (size_t)n;
        } else if (!strcmp(a, "--trust-key") || !strcmp(a, "--trust-dir")) {
            char err[600];
            if ((a[8] == 'k' ? cn_code_trust_key_file(v, err, sizeof err)
                             : cn_code_trust_dir(v, err, sizeof err)) < 0)
                return die_usage("%s", err);
        } else if (!strcmp(a, "--proto-dist")) {
            if (strcmp(v, "inet_tcp") != 0 && strcmp(v, "inet_tls") != 0)
                return die_usage("bad --proto-dist '%s' (inet_tcp or inet_tls)", v);
            c.proto_dist = v;
        } else if (!strcmp(a, "--ssl-dist-optfile")) {
            c.tls_optfile = v;
        } else if (!strcmp(a, "--tls-certfile")) {
            c.tls_certfile = v;
        } else if (!strcmp(a, "--tls-keyfile")) {
            c.tls_keyfile = v;
        } else if (!strcmp(a, "--tls-cacertfile")) {
            c.tls_cacertfile = v;
        } else if (!strcmp(a, "--log-level")) {
            int l = cn_log_parse_level(v);
            if (l < 0)
                return die_usage("bad log level '%s'", v);
            cn_log_level = l;
        } else {
            return die_usage("unknown option '%s'", a);
        }
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

/* tls: TLS distribution (as inet_tls_dist): its settings, also read from an ssl_dist_optfile,
 * the OpenSSL contexts built from them, and the TLS transport (tp_tls.c). */
#ifndef CN_TLS_H
#define CN_TLS_H

#include "dist/transport.h"

#include <stddef.h>

#define CN_TLS_PATH_MAX 1024

/* The options of one role, as in the optfile's {server, [...]} or {client, [...]}. */
typedef struct cn_tls_side {
    char certfile[CN_TLS_PATH_MAX]; /* PEM chain; "" for none (a client may go without) */
    char keyfile[CN_TLS_PATH_MAX];  /* PEM key; "" means the key is in certfile */
    char cacertfile[CN_TLS_PATH_MAX];
    char password[256];       /* of an encrypted key */
    int verify;               /* 1: verify_peer (default); 0: verify_none */
    int fail_if_no_peer_cert; /* server: refuse a client without a certificate (default 1) */
    int check_host;        /* client (default on): the server's certificate names the host dialled;
                            * server (default off): the client's names the host of its node name */
    char server_name[256]; /* client: the name to check (and send as SNI) instead */
    int depth;             /* verification depth, -1 for OpenSSL's default */
    int min_version, max_version; /* TLS1_2_VERSION / TLS1_3_VERSION */
} cn_tls_side;

typedef struct cn_tls_conf {
    cn_tls_side server, client;
} cn_tls_conf;

/* Verification on, TLS 1.2 to 1.3, nothing else set. */
void cn_tls_conf_defaults(cn_tls_conf *c);
/* Read the text of an ssl_dist_optfile: `[{server, Opts}, {client, Opts}].` (either may be
 * missing). Options we cannot honour (verify_fun, crl_check, ...) are named in `ignored`
 * (comma-separated, may be truncated). Returns 0, or -1 with err (one sentence). Bounded: at
 * most 64 KiB of text, 4096 terms, nesting 32. */
int cn_tls_conf_parse(const char *text, size_t len, cn_tls_conf *c, char *ignored,
                      size_t ignored_len, char *err, size_t errlen);
/* The same from a file. */
int cn_tls_conf_load(const char *path, cn_tls_conf *c, char *ignored, size_t ignored_len, char *err,
                     size_t errlen);

/* The node's TLS from its configuration (defaults, optfile, flags), with what it will do
 * logged; NULL with err when a file is missing or bad. */
struct cn_config;
struct cn_tls *cn_tls_setup(const struct cn_config *c, char *err, size_t errlen);

/* The contexts of a node (server and client roles). */
typedef struct cn_tls cn_tls;
/* Load certificates and keys now, so that a bad file is an error at start. */
cn_tls *cn_tls_new(const cn_tls_conf *c, char *err, size_t errlen);
void cn_tls_free(cn_tls *t);

/* A TLS transport on a connected non-blocking socket (owned from now on). peer_host (client
 * role): the host part of the node dialled, sent as SNI and checked against the certificate. */
cn_tp *cn_tp_tls_new(cn_tls *t, int fd, int role, const char *peer_host);

/* The same over BIOs instead of a socket (tests: memory BIOs or a BIO pair). Takes ownership of
 * both (rbio and wbio may be the same BIO). */
struct bio_st;
cn_tp *cn_tp_tls_new_bio(cn_tls *t, int role, const char *peer_host, struct bio_st *rbio,
                         struct bio_st *wbio);

#endif

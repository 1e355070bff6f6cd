/* epmd: client for the Erlang Port Mapper Daemon (register, look up, list names, start one).
 * A pure message layer (epmd_msg.c, no I/O) and a blocking socket layer with deadlines. */
#ifndef CN_EPMD_H
#define CN_EPMD_H

#include <stddef.h>
#include <stdint.h>

#define CN_EPMD_DEFAULT_PORT 4369
#define CN_EPMD_MAX_NAME 255     /* longest alive name we send or accept, in bytes */
#define CN_EPMD_MAX_EXTRA 1024   /* longest PORT2_RESP Extra we accept (epmd's own buffer size) */
#define CN_EPMD_TIMEOUT_MS 10000 /* used when a socket call gets timeout_ms <= 0 */

/* ---- Pure message layer ---- */

/* ALIVE2_REQ including the 2-byte length prefix: NodeType 77, Protocol 0, versions 6/5, no Extra.
 * Returns bytes written, or -1 if cap is too small or alive is NULL, empty or > 255 bytes. */
int cn_epmd_build_alive2(uint8_t *out, size_t cap, uint16_t port, const char *alive);
/* Parse ALIVE2_X_RESP (118, Result:8, Creation:32) or ALIVE2_RESP (121, Result:8, Creation:16).
 * Returns bytes consumed (>0) when complete, 0 if more bytes are needed, -1 on an unknown tag. */
int cn_epmd_parse_alive2_resp(const uint8_t *p, size_t n, int *result, uint32_t *creation);
/* PORT_PLEASE2_REQ with length prefix; same return convention as cn_epmd_build_alive2. */
int cn_epmd_build_port_please(uint8_t *out, size_t cap, const char *alive);

typedef struct {
    uint16_t port;
    uint8_t node_type, protocol;
    uint16_t highest, lowest;
    char name[256]; /* NUL-terminated */
} cn_epmd_port_info;

/* Parse PORT2_RESP. Returns bytes consumed (>0) when complete, 0 if more bytes are needed,
 * -1 if malformed (wrong tag, name empty/> 255 bytes/containing NUL, Extra > CN_EPMD_MAX_EXTRA),
 * -2 if epmd says the name is not registered (Result != 0). *out is written only on success. */
int cn_epmd_parse_port2_resp(const uint8_t *p, size_t n, cn_epmd_port_info *out);
/* NAMES_REQ with length prefix (3 bytes). Returns 3, or -1 if cap < 3. */
int cn_epmd_build_names(uint8_t *out, size_t cap);
/* One line of a NAMES reply (without its newline), read as erl_epmd reads it: "name ",
 * the name up to the next blank, then "at port " and an integer. Returns 0 with the name
 * (*name, *name_len: inside line) and *port, or -1 for a line erl_epmd skips. */
int cn_epmd_parse_names_line(const char *line, size_t len, const char **name, size_t *name_len,
                             long long *port);

/* ---- Socket layer ----
 * Blocking calls bounded by one overall deadline of timeout_ms (<= 0: CN_EPMD_TIMEOUT_MS), for
 * a non-I/O thread or startup. Name resolution (getaddrinfo) is not covered by the deadline.
 * host NULL means 127.0.0.1; IPv4 addresses are tried before IPv6 ones. On error they return a
 * negative code below and write a human-readable reason into err (if err && errlen). */
#define CN_EPMD_ERR (-1)         /* bad argument, I/O or protocol error */
#define CN_EPMD_ERR_TAKEN (-2)   /* name already registered */
#define CN_EPMD_ERR_NOEPMD (-3)  /* connection refused / no epmd */
#define CN_EPMD_ERR_NONAME (-4)  /* port_please: the name is not registered */
#define CN_EPMD_ERR_TIMEOUT (-5) /* the deadline passed */

/* Register alive -> listen_port. On success returns the open socket (blocking mode, CLOEXEC) and
 * sets *creation; the registration lives as long as that socket stays open. */
int cn_epmd_register(const char *host, uint16_t epmd_port, const char *alive, uint16_t listen_port,
                     uint32_t *creation, int timeout_ms, char *err, size_t errlen);
/* Look up alive on host's epmd. Returns 0 and fills *out. */
int cn_epmd_port_please(const char *host, uint16_t epmd_port, const char *alive,
                        cn_epmd_port_info *out, int timeout_ms, char *err, size_t errlen);
/* NAMES_REQ: the text after the 4-byte epmd port, NUL-terminated, truncated to cap - 1 bytes
 * (the rest is read and dropped). Returns the stored length. */
int cn_epmd_names(const char *host, uint16_t epmd_port, char *out, size_t cap, int timeout_ms,
                  char *err, size_t errlen);
/* The epmd port: explicit (nonzero) > ERL_EPMD_PORT (1..65535; anything else is warned about
 * and ignored) > 4369. */
uint16_t cn_epmd_default_port(uint16_t explicit_port);
/* Run `epmd -daemon -port N` as erl does when no epmd answers (epmd from PATH, else
 * the newest /usr/lib/erlang/erts-VSN/bin/epmd), wait for it to detach, then poll NAMES on
 * 127.0.0.1 until it answers. Succeeds also if an epmd already serves that port. Returns 0 or -1
 * with err. */
int cn_epmd_start_daemon(uint16_t epmd_port, int timeout_ms, char *err, size_t errlen);

#endif

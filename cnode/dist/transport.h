/* transport: the byte stream under a distribution connection (plain TCP or TLS) behind one
 * non-blocking interface, so framing, handshake and dispatch never know which one they run on. */
#ifndef CN_TRANSPORT_H
#define CN_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Results besides byte counts. */
enum { CN_TP_ERROR = -1, CN_TP_AGAIN = -2 };
/* What a blocked operation waits for. */
enum { CN_TP_WANT_READ = 1, CN_TP_WANT_WRITE = 2 };
/* Roles. */
enum { CN_TP_CLIENT, CN_TP_SERVER };

typedef struct cn_tp cn_tp;

typedef struct cn_tp_ops {
    const char *name; /* "TCP", "TLS" */
    int hs_lenbytes;  /* distribution handshake length prefix on this transport (2 or 4) */
    int (*handshake)(cn_tp *tp);
    ssize_t (*read)(cn_tp *tp, void *buf, size_t cap);
    ssize_t (*readv)(cn_tp *tp, const struct iovec *iov, int n); /* NULL: read per buffer */
    ssize_t (*writev)(cn_tp *tp, const struct iovec *iov, int n);
    int (*flush)(cn_tp *tp);
    int (*buffered_in)(const cn_tp *tp);
    void (*describe)(const cn_tp *tp, char *out, size_t cap);
    int (*check_peer_host)(cn_tp *tp, const char *host);
    void (*free)(cn_tp *tp);
} cn_tp_ops;

struct cn_tp {
    const cn_tp_ops *ops;
    int fd;             /* the socket (closed by cn_tp_free), or -1 (memory BIOs in tests) */
    int role;           /* CN_TP_CLIENT or CN_TP_SERVER */
    int ready;          /* the transport's own handshake is done: bytes can flow */
    int hs_want;        /* CN_TP_WANT_*: what the transport handshake waits for */
    int r_want, w_want; /* what the last read / write that stopped short waits for */
    int staged;         /* bytes taken by writev but not yet on the socket (TLS) */
    char err[256];      /* why the last operation failed */
};

/* Plain TCP on a connected non-blocking socket: ready at once. */
cn_tp *cn_tp_tcp_new(int fd, int role);

/* Drive the transport's own handshake: 1 done (ready), 0 call again when hs_want allows, -1
 * failed (err). Plain TCP is ready at once. */
int cn_tp_handshake(cn_tp *tp);
/* Read decrypted bytes: > 0 bytes, 0 the peer closed cleanly, CN_TP_AGAIN (see r_want),
 * CN_TP_ERROR (err). Reads as much as is available, up to cap. */
ssize_t cn_tp_read(cn_tp *tp, void *buf, size_t cap);
/* cn_tp_read into the buffers in turn, filling each before the next (one system call on
 * TCP); the same results, counting the bytes of all of them. */
ssize_t cn_tp_readv(cn_tp *tp, const struct iovec *iov, int n);
/* Take bytes from iov: how many were taken (possibly fewer than offered), CN_TP_AGAIN (nothing
 * taken; see w_want) or CN_TP_ERROR. Taken bytes are the transport's to deliver. */
ssize_t cn_tp_writev(cn_tp *tp, const struct iovec *iov, int n);
/* Push bytes taken but not yet sent: 0 all out, CN_TP_AGAIN, CN_TP_ERROR. */
int cn_tp_flush(cn_tp *tp);
/* Bytes already read from the socket but not yet returned (no readiness event will come). */
int cn_tp_buffered_in(const cn_tp *tp);
/* Does progress need the socket to become writable? `have` says the caller has bytes to write. */
int cn_tp_wants_out(const cn_tp *tp, int have);
/* Does the peer's identity allow it to be a node on `host` (the host part of the name it
 * announced)? 0 yes or not checked (TCP, or no such check configured), -1 no (err says why). */
int cn_tp_check_peer_host(cn_tp *tp, const char *host);
/* One line for logs: "TCP", "TLSv1.3 TLS_AES_256_GCM_SHA384". */
void cn_tp_describe(const cn_tp *tp, char *out, size_t cap);
/* Close the socket and free everything (NULL is fine). */
void cn_tp_free(cn_tp *tp);

#endif

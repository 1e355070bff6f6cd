/* handshake: the distribution handshake (PROTOCOL.md §2) as a socket-free state machine;
 * the caller moves length-prefixed messages between it and the socket. */
#ifndef CN_HANDSHAKE_H
#define CN_HANDSHAKE_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

enum { CN_HS_INITIATOR, CN_HS_ACCEPTOR };
enum { CN_HS_CONTINUE = 0, CN_HS_DONE = 1, CN_HS_FAIL = -1 };

typedef struct cn_hs cn_hs;

/* Called (acceptor only) once the peer's name and flags are known and acceptable, to choose
 * the status: return one of "ok", "ok_simultaneous", "nok", "not_allowed", "alive".
 * For a NAME_ME peer, peer_name is the name generated for it; "ok" and "ok_simultaneous" are
 * then answered with "named:", and "alive" is refused with "not_allowed".
 * Anything else is treated as "not_allowed". */
typedef const char *(*cn_hs_decide_fn)(void *ctx, const char *peer_name, uint64_t peer_flags);

struct cn_hs {
    int role, state;
    int lenbytes;      /* handshake framing: 2 for TCP, 4 for TLS dist */
    char my_name[256]; /* with NAME_ME (initiator): only our host until the peer names us */
    uint32_t my_creation;
    uint64_t my_flags;
    char cookie[256];
    char expect_name[256]; /* initiator: the node we dialled (the challenge must name it) */
    char peer_name[256];
    uint32_t peer_creation;
    uint64_t peer_flags; /* the peer's flags, MANDATORY_25_DIGEST expanded */
    uint64_t flags; /* negotiated: my_flags & peer_flags, both expanded (PUBLISHED only if both) */
    uint32_t my_challenge, peer_challenge;
    int old_name; /* acceptor: the peer sent the old 'n' name (OTP 23/24); 'c' must follow */
    cn_hs_decide_fn decide; /* set after cn_hs_init; NULL means always "ok" */
    void *ctx;
    char status[32]; /* initiator: status received; acceptor: status sent ("named" for named:) */
    char err[200];   /* why it failed: a complete sentence for the log */
};

/* Reset hs for one handshake. Names and the cookie must fit in 255 bytes and lenbytes must be
 * 2 or 4; otherwise hs is left failed (err set) and the first call to it returns CN_HS_FAIL. */
void cn_hs_init(cn_hs *hs, int role, int lenbytes, const char *my_name, uint32_t my_creation,
                uint64_t my_flags, const char *cookie);
/* Initiator: the node we dial; its challenge must carry exactly this name. */
void cn_hs_set_expect(cn_hs *hs, const char *peer_name);
/* Append the first message to out, with its length prefix (initiator: send_name 'N';
 * acceptor: nothing). Returns CN_HS_CONTINUE, or CN_HS_FAIL with err set (bad setup, no
 * expected name, called twice, out full). */
int cn_hs_start(cn_hs *hs, cn_buf *out);
/* Feed ONE complete handshake message payload (length prefix already stripped). Replies are
 * appended to out with their length prefix. Returns CN_HS_CONTINUE; CN_HS_DONE when the
 * handshake is complete (peer_name, peer_creation, flags valid; for an initiator that asked
 * NAME_ME, my_name and my_creation hold the name given to us); or CN_HS_FAIL with err set, in
 * which case out may hold a final status message ("nok", "not_allowed") to flush before closing.
 * Acceptor: DONE with status "alive" means the peer confirmed this attempt, and the caller must
 * replace its existing connection to peer_name with this one. */
int cn_hs_input(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out);

#endif

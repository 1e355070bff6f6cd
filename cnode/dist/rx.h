/* rx: per-connection decoding of received distribution frames ('p' pass-through or 131,68
 * headers with the atom cache, 131,69/70 fragments) into self-contained messages. */
#ifndef CN_RX_H
#define CN_RX_H

#include <stddef.h>
#include <stdint.h>

#define CN_RX_MAX_SEQS 64      /* fragment sequences in progress at once */
#define CN_RX_CACHE_SLOTS 2048 /* 8 segments x 256 */

typedef struct cn_rx cn_rx;

/* One received message. ctl and payload each start with a 131 version byte and hold no
 * ATOM_CACHE_REF (ei can decode them directly). storage is the one allocation owning both;
 * the caller owns it and frees it with cn_dist_msg_free (possibly on another thread). */
typedef struct cn_dist_msg {
    uint8_t *ctl;
    size_t ctl_len;
    uint8_t *payload; /* NULL when the frame carried no payload */
    size_t payload_len;
    uint8_t *storage;
    size_t room; /* unused bytes at the start of storage (0 or CN_RX_ROOM) */
} cn_dist_msg;

/* A message of at most CN_RX_ROOM_UPTO bytes gets CN_RX_ROOM unused bytes in front of it, in
 * the same allocation: the receiver keeps its record of the message there (one allocation
 * per message instead of two). Larger ones get none (their buffer may be handed on whole). */
#define CN_RX_ROOM 128
#define CN_RX_ROOM_UPTO 4096

/* Header mode iff DIST_HDR_ATOM_CACHE or FRAGMENTS was negotiated, else 'p' pass-through.
 * max_message bounds every message (1 + control + 1 + payload bytes, before and after cache
 * ref rewriting) and every reassembly; 0 means 1 GiB. Returns NULL when out of memory. */
cn_rx *cn_rx_new(uint64_t negotiated_flags, size_t max_message);
void cn_rx_free(cn_rx *rx);
/* Decode one frame (its body, without the length prefix). Returns 1 when *out holds a
 * complete message; 0 when a fragment was consumed and nothing is complete yet (also for an
 * empty frame, i.e. a tick); -1 on a protocol error: the connection must be closed, the
 * reason is in errbuf. *out is zeroed unless 1 is returned. */
int cn_rx_frame(cn_rx *rx, const uint8_t *frame, size_t len, cn_dist_msg *out, char *errbuf,
                size_t errlen);
/* A continuation fragment's data bytes can be read straight into the message being
 * reassembled instead of through the framer. body holds the first `have` bytes of a frame
 * announced as flen bytes (have < flen). If it is a continuation (131,70 and its 16-byte
 * header complete: have >= CN_RX_CONT_HDR) of a sequence in progress, with the expected
 * fragment id and within max_message, its have - CN_RX_CONT_HDR data bytes are copied into
 * place and 1 is returned: the other flen - have bytes of the frame must then go to
 * cn_rx_direct_space / cn_rx_direct_commit, before any other frame. 0: not such a frame,
 * give it to cn_rx_frame once complete. -1: protocol error (errbuf), as cn_rx_frame would
 * report for the whole frame. */
#define CN_RX_CONT_HDR 18
int cn_rx_direct_begin(cn_rx *rx, const uint8_t *body, size_t have, size_t flen, char *errbuf,
                       size_t errlen);
/* Where the next bytes of that frame go and how many are still expected (*left); NULL with
 * *left = 0 when no frame is being read directly. */
uint8_t *cn_rx_direct_space(cn_rx *rx, size_t *left);
/* n bytes were written at cn_rx_direct_space (n <= *left). When the frame is complete it is
 * decoded like cn_rx_frame would: 1 with *out, 0 or -1; before that 0. */
int cn_rx_direct_commit(cn_rx *rx, size_t n, cn_dist_msg *out, char *errbuf, size_t errlen);
/* A frame is being read directly (cn_rx_frame refuses other frames until it is complete). */
int cn_rx_direct_pending(const cn_rx *rx);
/* Number of fragment sequences in progress. */
int cn_rx_pending_seqs(const cn_rx *rx);
void cn_dist_msg_free(cn_dist_msg *m);

#endif

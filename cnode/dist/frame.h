/* frame: incremental splitter of a TCP byte stream into length-prefixed frames
 * (2-byte lengths during the handshake, 4-byte once connected; a 0-length frame is a tick). */
#ifndef CN_FRAME_H
#define CN_FRAME_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Minimum room cn_framer_space offers for one read. */
#define CN_FRAMER_CHUNK ((size_t)64 * 1024)

typedef struct cn_framer {
    cn_buf in;        /* in.data[pos..in.len) holds received, not yet returned bytes */
    int lenbytes;     /* 2 or 4 */
    size_t max_frame; /* largest acceptable frame body */
    size_t pos;       /* start of the first unreturned byte */
} cn_framer;

void cn_framer_init(cn_framer *f, int lenbytes, size_t max_frame);
void cn_framer_free(cn_framer *f);
/* Room to read into: returns a pointer and (in *cap, >= CN_FRAMER_CHUNK, or up to the rest of
 * a large announced frame) its size; the caller reads into it and calls cn_framer_commit.
 * Returns NULL with *cap = 0 when out of memory, or when complete frames are left unreturned
 * (call cn_framer_next until it returns 0 before asking for space). */
uint8_t *cn_framer_space(cn_framer *f, size_t *cap);
/* n bytes were written into the space (n <= *cap of the last cn_framer_space). */
void cn_framer_commit(cn_framer *f, size_t n);
/* Next complete frame: 1 with (*frame, *len) valid until the next cn_framer_next/space call;
 * 0 when more bytes are needed; -1 when the announced length exceeds max_frame (the stream is
 * then unusable). A tick is returned as 1 with *len = 0. */
int cn_framer_next(cn_framer *f, const uint8_t **frame, size_t *len);
/* The frame at the front when only its start has arrived: 1 with *body its first *have bytes
 * (*have < *flen) and *flen its announced length; 0 when there is no such frame (nothing or
 * only part of a length prefix buffered, or complete frames left: drain cn_framer_next first)
 * or its length exceeds max_frame (cn_framer_next reports that). Valid until the next call. */
int cn_framer_partial(const cn_framer *f, const uint8_t **body, size_t *have, size_t *flen);
/* Drop the partial frame cn_framer_partial returned: the caller has taken its bytes and reads
 * the rest of its body itself, so the next byte given to the framer starts a new frame. */
void cn_framer_skip_partial(cn_framer *f);
/* How much to read next so that a large frame (from CN_FRAMER_CHUNK / 2 bytes on: a fragment)
 * leaves at most `peek` bytes of the stream after it in the buffer, for its successor to be
 * taken as a partial frame once its first `peek` bytes (length and header) are there: with a
 * large partial frame, what completes its first peek bytes, else its rest plus peek; when
 * nothing is buffered, peek if `between` (between fragments: what comes is likely a
 * continuation), else one chunk (enough for a large frame's length to be known); 0 (no
 * limit) otherwise. */
size_t cn_framer_read_limit(const cn_framer *f, size_t peek, int between);
/* Switch between 2- and 4-byte length prefixes, keeping buffered bytes. */
void cn_framer_set_lenbytes(cn_framer *f, int lenbytes);
/* Change the largest acceptable frame body (the handshake's limit, then the connection's). */
void cn_framer_set_max(cn_framer *f, size_t max_frame);
/* Bytes received but not yet returned as frames. */
size_t cn_framer_pending(const cn_framer *f);

#endif

/* otx: the event loop's last step before writing a queued frame, per connection and in wire
 * order: the prefix for the negotiated format, the send-side atom cache, fragmentation. */
#ifndef CN_OTX_H
#define CN_OTX_H

#include "dist/conn.h"

#include <stddef.h>
#include <stdint.h>

#define CN_OTX_FRAG_SIZE ((size_t)64 * 1024) /* payload bytes per fragment, as the BEAM */

typedef struct cn_otx cn_otx;

/* The send side of one connection (its atom cache, the next fragment sequence id).
 * frag_size 0 means CN_OTX_FRAG_SIZE. Returns NULL when out of memory. */
cn_otx *cn_otx_new(size_t frag_size);
void cn_otx_free(cn_otx *t);

/* Make f ready for the wire under the negotiated flags: 'p' frames when neither
 * DIST_HDR_ATOM_CACHE nor FRAGMENTS, else a 131,68 header (with cache references to the atoms
 * of the control term when DIST_HDR_ATOM_CACHE and t != NULL), or 131,69/70 fragments when
 * FRAGMENTS and the payload is larger than the fragment size. Returns the first frame to
 * write and sets *last to the last one (one frame, or the fragments in order). Never fails:
 * short of memory, f goes out uncached and whole. */
cn_oframe *cn_otx_frame(cn_otx *t, uint64_t flags, cn_oframe *f, cn_oframe **last);

/* Bytes of atom text the cache holds (for tests and introspection). */
size_t cn_otx_cached_bytes(const cn_otx *t);

#endif

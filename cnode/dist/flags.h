/* flags: the distribution capability flags (PROTOCOL.md §2.7), the set we offer,
 * and the mandatory-set check applied to a peer's flags during the handshake. */
#ifndef CN_FLAGS_H
#define CN_FLAGS_H

#include <stddef.h>
#include <stdint.h>

#define DFLAG_PUBLISHED 0x1ULL
#define DFLAG_ATOM_CACHE 0x2ULL
#define DFLAG_EXTENDED_REFERENCES 0x4ULL
#define DFLAG_DIST_MONITOR 0x8ULL
#define DFLAG_FUN_TAGS 0x10ULL
#define DFLAG_DIST_MONITOR_NAME 0x20ULL
#define DFLAG_HIDDEN_ATOM_CACHE 0x40ULL
#define DFLAG_NEW_FUN_TAGS 0x80ULL
#define DFLAG_EXTENDED_PIDS_PORTS 0x100ULL
#define DFLAG_EXPORT_PTR_TAG 0x200ULL
#define DFLAG_BIT_BINARIES 0x400ULL
#define DFLAG_NEW_FLOATS 0x800ULL
#define DFLAG_UNICODE_IO 0x1000ULL
#define DFLAG_DIST_HDR_ATOM_CACHE 0x2000ULL
#define DFLAG_SMALL_ATOM_TAGS 0x4000ULL
#define DFLAG_UTF8_ATOMS 0x10000ULL
#define DFLAG_MAP_TAG 0x20000ULL
#define DFLAG_BIG_CREATION 0x40000ULL
#define DFLAG_SEND_SENDER 0x80000ULL
#define DFLAG_BIG_SEQTRACE_LABELS 0x100000ULL
#define DFLAG_EXIT_PAYLOAD 0x400000ULL
#define DFLAG_FRAGMENTS 0x800000ULL
#define DFLAG_HANDSHAKE_23 0x1000000ULL
#define DFLAG_UNLINK_ID 0x2000000ULL
#define DFLAG_MANDATORY_25_DIGEST 0x4000000ULL
#define DFLAG_SPAWN (1ULL << 32)
#define DFLAG_NAME_ME (1ULL << 33)
#define DFLAG_V4_NC (1ULL << 34)
#define DFLAG_ALIAS (1ULL << 35)

/* What an OTP 25 node requires of its peer (0x01070F94). */
#define DFLAG_MANDATORY_25                                                                         \
    (DFLAG_EXTENDED_REFERENCES | DFLAG_FUN_TAGS | DFLAG_NEW_FUN_TAGS | DFLAG_EXTENDED_PIDS_PORTS | \
     DFLAG_EXPORT_PTR_TAG | DFLAG_BIT_BINARIES | DFLAG_NEW_FLOATS | DFLAG_UTF8_ATOMS |             \
     DFLAG_MAP_TAG | DFLAG_BIG_CREATION | DFLAG_HANDSHAKE_23)
/* What OTP 26/27 require of their peers; we offer all of it. Of our peers we require only the
 * OTP 25 set, so that OTP 23/24 nodes (no V4_NC) can still connect. */
#define DFLAG_MANDATORY (DFLAG_MANDATORY_25 | DFLAG_UNLINK_ID | DFLAG_V4_NC)

/* The flags we offer; hidden drops PUBLISHED. */
uint64_t cn_flags_ours(int hidden);
/* Expand the MANDATORY_25_DIGEST shorthand in a peer's flags. */
uint64_t cn_flags_expand(uint64_t peer);
/* Mandatory flags missing from a (expanded) peer flag set; 0 when acceptable. */
uint64_t cn_flags_missing(uint64_t peer_expanded);
/* Names of the flags set in f, comma-separated, into out (for log lines). */
void cn_flags_describe(uint64_t f, char *out, size_t cap);

#endif

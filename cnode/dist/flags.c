#include "flags.h"

#include <stdio.h>
#include <string.h>

uint64_t cn_flags_ours(int hidden)
{
    uint64_t f = DFLAG_MANDATORY | DFLAG_MANDATORY_25_DIGEST | DFLAG_DIST_MONITOR |
                 DFLAG_DIST_MONITOR_NAME | DFLAG_SEND_SENDER | DFLAG_EXIT_PAYLOAD |
                 DFLAG_DIST_HDR_ATOM_CACHE | DFLAG_FRAGMENTS | DFLAG_SMALL_ATOM_TAGS | DFLAG_ALIAS |
                 DFLAG_BIG_SEQTRACE_LABELS | DFLAG_UNICODE_IO | DFLAG_SPAWN;
    if (!hidden)
        f |= DFLAG_PUBLISHED;
    return f;
}

uint64_t cn_flags_expand(uint64_t peer)
{
    if (peer & DFLAG_MANDATORY_25_DIGEST)
        peer |= DFLAG_MANDATORY_25;
    return peer;
}

uint64_t cn_flags_missing(uint64_t peer_expanded)
{
    return DFLAG_MANDATORY_25 & ~peer_expanded;
}

static const struct {
    uint64_t bit;
    const char *name;
} names[] = {
    {DFLAG_PUBLISHED, "PUBLISHED"},
    {DFLAG_EXTENDED_REFERENCES, "EXTENDED_REFERENCES"},
    {DFLAG_DIST_MONITOR, "DIST_MONITOR"},
    {DFLAG_FUN_TAGS, "FUN_TAGS"},
    {DFLAG_DIST_MONITOR_NAME, "DIST_MONITOR_NAME"},
    {DFLAG_NEW_FUN_TAGS, "NEW_FUN_TAGS"},
    {DFLAG_EXTENDED_PIDS_PORTS, "EXTENDED_PIDS_PORTS"},
    {DFLAG_EXPORT_PTR_TAG, "EXPORT_PTR_TAG"},
    {DFLAG_BIT_BINARIES, "BIT_BINARIES"},
    {DFLAG_NEW_FLOATS, "NEW_FLOATS"},
    {DFLAG_UNICODE_IO, "UNICODE_IO"},
    {DFLAG_DIST_HDR_ATOM_CACHE, "DIST_HDR_ATOM_CACHE"},
    {DFLAG_SMALL_ATOM_TAGS, "SMALL_ATOM_TAGS"},
    {DFLAG_UTF8_ATOMS, "UTF8_ATOMS"},
    {DFLAG_MAP_TAG, "MAP_TAG"},
    {DFLAG_BIG_CREATION, "BIG_CREATION"},
    {DFLAG_SEND_SENDER, "SEND_SENDER"},
    {DFLAG_BIG_SEQTRACE_LABELS, "BIG_SEQTRACE_LABELS"},
    {DFLAG_EXIT_PAYLOAD, "EXIT_PAYLOAD"},
    {DFLAG_FRAGMENTS, "FRAGMENTS"},
    {DFLAG_HANDSHAKE_23, "HANDSHAKE_23"},
    {DFLAG_UNLINK_ID, "UNLINK_ID"},
    {DFLAG_MANDATORY_25_DIGEST, "MANDATORY_25_DIGEST"},
    {DFLAG_SPAWN, "SPAWN"},
    {DFLAG_NAME_ME, "NAME_ME"},
    {DFLAG_V4_NC, "V4_NC"},
    {DFLAG_ALIAS, "ALIAS"},
};

void cn_flags_describe(uint64_t f, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(f & names[i].bit))
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", names[i].name);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

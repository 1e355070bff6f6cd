/* epmd_msg: encode epmd requests and parse its replies; pure functions, no I/O.
 * Wire layout per PROTOCOL.md section 1; all integers big-endian. */
#include "epmd.h"

#include <string.h>

#include "util/buf.h"

enum {
    TAG_ALIVE2_REQ = 120,
    TAG_ALIVE2_X_RESP = 118,
    TAG_ALIVE2_RESP = 121,
    TAG_PORT_PLEASE2_REQ = 122,
    TAG_PORT2_RESP = 119,
    TAG_NAMES_REQ = 110,
};

/* PORT2_RESP bytes before NodeName: tag, result, port:16, type, proto, hi:16, lo:16, nlen:16. */
#define PORT2_HEAD 12

/* Length of a usable alive name, or 0 if it is NULL, empty or too long. */
static size_t alive_len(const char *alive)
{
    if (!alive)
        return 0;
    size_t n = strnlen(alive, CN_EPMD_MAX_NAME + 1);
    return n > CN_EPMD_MAX_NAME ? 0 : n;
}

int cn_epmd_build_alive2(uint8_t *out, size_t cap, uint16_t port, const char *alive)
{
    size_t nlen = alive_len(alive);
    size_t body = 13 + nlen; /* tag, port, type, proto, hi, lo, nlen, name, elen */
    if (!out || nlen == 0 || cap < 2 + body)
        return -1;
    uint8_t *p = out;
    cn_set16(p, (uint16_t)body);
    p[2] = TAG_ALIVE2_REQ;
    cn_set16(p + 3, port);
    p[5] = 77; /* normal node; hidden-ness is decided in the handshake, not here */
    p[6] = 0;  /* TCP */
    cn_set16(p + 7, 6);
    cn_set16(p + 9, 5);
    cn_set16(p + 11, (uint16_t)nlen);
    memcpy(p + 13, alive, nlen);
    cn_set16(p + 13 + nlen, 0); /* no Extra */
    return (int)(2 + body);
}

int cn_epmd_parse_alive2_resp(const uint8_t *p, size_t n, int *result, uint32_t *creation)
{
    if (!p || !result || !creation)
        return -1;
    if (n < 1)
        return 0;
    switch (p[0]) {
    case TAG_ALIVE2_X_RESP:
        if (n < 6)
            return 0;
        *result = p[1];
        *creation = cn_get32(p + 2);
        return 6;
    case TAG_ALIVE2_RESP:
        if (n < 4)
            return 0;
        *result = p[1];
        *creation = cn_get16(p + 2);
        return 4;
    default:
        return -1;
    }
}

int cn_epmd_build_port_please(uint8_t *out, size_t cap, const char *alive)
{
    size_t nlen = alive_len(alive);
    if (!out || nlen == 0 || cap < 3 + nlen)
        return -1;
    cn_set16(out, (uint16_t)(1 + nlen));
    out[2] = TAG_PORT_PLEASE2_REQ;
    memcpy(out + 3, alive, nlen);
    return (int)(3 + nlen);
}

int cn_epmd_parse_port2_resp(const uint8_t *p, size_t n, cn_epmd_port_info *out)
{
    if (!p || !out)
        return -1;
    if (n < 1)
        return 0;
    if (p[0] != TAG_PORT2_RESP)
        return -1;
    if (n < 2)
        return 0;
    if (p[1] != 0)
        return -2;
    if (n < PORT2_HEAD)
        return 0;
    /* Judge the declared lengths as soon as they are visible, so an oversized reply is
     * rejected instead of being waited for. */
    size_t nlen = cn_get16(p + 10);
    if (nlen == 0 || nlen > CN_EPMD_MAX_NAME)
        return -1;
    if (n < PORT2_HEAD + nlen + 2)
        return 0;
    const uint8_t *name = p + PORT2_HEAD;
    if (memchr(name, 0, nlen))
        return -1;
    size_t elen = cn_get16(name + nlen);
    if (elen > CN_EPMD_MAX_EXTRA)
        return -1;
    size_t total = PORT2_HEAD + nlen + 2 + elen;
    if (n < total)
        return 0;
    out->port = cn_get16(p + 2);
    out->node_type = p[4];
    out->protocol = p[5];
    out->highest = cn_get16(p + 6);
    out->lowest = cn_get16(p + 8);
    memcpy(out->name, name, nlen);
    out->name[nlen] = '\0';
    return (int)total;
}

int cn_epmd_build_names(uint8_t *out, size_t cap)
{
    if (!out || cap < 3)
        return -1;
    cn_set16(out, 1);
    out[2] = TAG_NAMES_REQ;
    return 3;
}

int cn_epmd_parse_names_line(const char *line, size_t len, const char **name, size_t *name_len,
                             long long *port)
{
    static const char head[] = "name ", mid[] = "at port ";
    if (!line || len < sizeof head - 1 || memcmp(line, head, sizeof head - 1) != 0)
        return -1;
    size_t i = sizeof head - 1, start = i;
    while (i < len && line[i] != ' ')
        i++;
    if (i == len)
        return -1; /* no blank after the name */
    size_t nlen = i - start;
    i++;
    if (len - i < sizeof mid - 1 || memcmp(line + i, mid, sizeof mid - 1) != 0)
        return -1;
    i += sizeof mid - 1;
    int neg = 0;
    if (i < len && (line[i] == '+' || line[i] == '-'))
        neg = line[i++] == '-';
    if (i == len || len - i > 18) /* no digits, or more than a long long holds for sure */
        return -1;
    long long v = 0;
    for (; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        v = v * 10 + (line[i] - '0');
    }
    *name = line + start;
    *name_len = nlen;
    *port = neg ? -v : v;
    return 0;
}

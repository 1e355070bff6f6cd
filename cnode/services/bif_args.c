#include "services/bif_args.h"

#include "cnode.h"
#include "util/utf8.h"

#include <stdlib.h>

int cn_is_atom_type(int type)
{
    return type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
           type == ERL_SMALL_ATOM_UTF8_EXT;
}

int cn_atom_arg(const char *buf, int *idx, char *a)
{
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0 || !cn_is_atom_type(type) ||
        ei_decode_atom(buf, &i, a) < 0)
        return -1;
    *idx = i;
    return 0;
}

int cn_rpc_error(ei_x_buff *out, const char *reason)
{
    ei_x_encode_atom(out, reason);
    return CN_RPC_ERROR;
}

void cn_skip_args(const char *buf, int *idx, int n)
{
    for (int i = 0; i < n; i++)
        ei_skip_term(buf, idx);
}

/* Append the UTF-8 form of one character to u8. */
static void put_utf8(ei_x_buff *u8, unsigned long c)
{
    char b[4];
    ei_x_append_buf(u8, b, cn_utf8_put(c, b));
}

int cn_utf8_arg(const char *buf, int *idx, ei_x_buff *u8)
{
    int type, size, i = *idx;
    if (ei_get_type(buf, &i, &type, &size) < 0)
        return -1;
    if (type == ERL_NIL_EXT) {
        ei_skip_term(buf, &i);
    } else if (type == ERL_STRING_EXT) {
        char *s = malloc((size_t)size + 1);
        if (!s || ei_decode_string(buf, &i, s) < 0) {
            free(s);
            return -1;
        }
        for (int k = 0; k < size; k++)
            put_utf8(u8, (unsigned char)s[k]);
        free(s);
    } else if (type == ERL_LIST_EXT) {
        int n;
        if (ei_decode_list_header(buf, &i, &n) < 0)
            return -1;
        for (int k = 0; k < n; k++) {
            long c;
            if (ei_decode_long(buf, &i, &c) < 0 || c < 0 || c > 0x10ffff ||
                (c >= 0xd800 && c <= 0xdfff))
                return -1;
            put_utf8(u8, (unsigned long)c);
        }
        if (ei_get_type(buf, &i, &type, &size) < 0 || type != ERL_NIL_EXT)
            return -1;
        ei_skip_term(buf, &i);
    } else {
        return -1;
    }
    *idx = i;
    return 0;
}

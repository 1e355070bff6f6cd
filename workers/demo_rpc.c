/* demo_rpc: the export API by example: C functions callable from any node as `:demo.f(...)`
 * through :erpc and :rpc. Each runs in a process of its own on a scheduler; it reads its
 * `arity` arguments from buf+*idx, appends its result to out, and says how it ended. */
#include "workers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* An error, as erlang:error(Reason) raises it: Reason is an atom here. */
static int raise_error(ei_x_buff *out, const char *reason)
{
    ei_x_encode_atom(out, reason);
    return CN_RPC_ERROR;
}

/* The one argument, copied as it came (fail/throw/exit). */
static int arg_term(const char *buf, int *idx, ei_x_buff *out)
{
    int start = *idx;
    if (ei_skip_term(buf, idx) < 0)
        return -1;
    ei_x_append_buf(out, buf + start, *idx - start);
    return 0;
}

/* a + b exactly: the sum of two 64-bit integers needs up to 65 bits, which Erlang holds as a
 * bignum (SMALL_BIG_EXT: tag, byte count, sign, magnitude in little-endian bytes). */
static void encode_sum(ei_x_buff *out, long long a, long long b)
{
    __int128 s = (__int128)a + b;
    if (s >= LLONG_MIN && s <= LLONG_MAX) {
        ei_x_encode_longlong(out, (long long)s);
        return;
    }
    unsigned __int128 mag = s < 0 ? -(unsigned __int128)s : (unsigned __int128)s;
    char big[3 + 9] = {ERL_SMALL_BIG_EXT, 0, s < 0};
    int n = 0;
    for (; mag; mag >>= 8)
        big[3 + n++] = (char)(mag & 0xFF);
    big[1] = (char)n;
    ei_x_append_buf(out, big, 3 + n);
}

/* :demo.add(a, b): the sum of two integers; anything else is badarg (and so, in this
 * example, are integers beyond 64 bits). */
static int add(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    long long a, b;
    if (ei_decode_longlong(buf, idx, &a) < 0 || ei_decode_longlong(buf, idx, &b) < 0)
        return raise_error(out, "badarg");
    encode_sum(out, a, b);
    return CN_RPC_RETURN;
}

/* :demo.fail(reason) raises error:reason; throw/1 and exit/1 the other two classes. */
static int fail(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    return arg_term(buf, idx, out) < 0 ? raise_error(out, "badarg") : CN_RPC_ERROR;
}

static int throw_(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    return arg_term(buf, idx, out) < 0 ? raise_error(out, "badarg") : CN_RPC_THROW;
}

static int exit_(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    return arg_term(buf, idx, out) < 0 ? raise_error(out, "badarg") : CN_RPC_EXIT;
}

/* :demo.sleep(ms) -> :ok. cn_sleep waits without holding up the rest of the node. */
static int sleep_(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    long ms;
    if (ei_decode_long(buf, idx, &ms) < 0 || ms < 0 || ms > INT_MAX)
        return raise_error(out, "badarg");
    cn_sleep(self, (int)ms);
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

/* Code point c as UTF-8 in s (up to 4 bytes): the length, or -1 if c is not a character. */
static int utf8(char *s, long c)
{
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    if (c < 0x80) {
        s[0] = (char)c;
        return 1;
    }
    int n = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (int i = n - 1; i > 0; i--, c >>= 6)
        s[i] = (char)(0x80 | (c & 0x3F));
    s[0] = (char)(lead[n] | c);
    return n;
}

/* The text of a binary or a charlist, appended to text as UTF-8. */
static int text_of(const char *buf, int *idx, ei_x_buff *text)
{
    int type, size, n;
    long len;
    if (ei_get_type(buf, idx, &type, &size) < 0)
        return -1;
    if (type == ERL_BINARY_EXT) {
        char *b = malloc((size_t)size + 1);
        int r = b && ei_decode_binary(buf, idx, b, &len) == 0 ? 0 : -1;
        if (r == 0)
            ei_x_append_buf(text, b, (int)len);
        free(b);
        return r;
    }
    if (type == ERL_STRING_EXT || type == ERL_NIL_EXT) { /* code points below 256 */
        char *s = malloc((size_t)size + 1);
        int r = s && ei_decode_string(buf, idx, s) == 0 ? 0 : -1;
        for (int i = 0; r == 0 && i < size; i++) {
            char u[4];
            ei_x_append_buf(text, u, utf8(u, (unsigned char)s[i]));
        }
        free(s);
        return r;
    }
    if (ei_decode_list_header(buf, idx, &n) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        long c;
        char u[4];
        int k;
        if (ei_decode_long(buf, idx, &c) < 0 || (k = utf8(u, c)) < 0)
            return -1;
        ei_x_append_buf(text, u, k);
    }
    return ei_decode_list_header(buf, idx, &n) == 0 && n == 0 ? 0 : -1; /* the tail: [] */
}

/* :demo.print(text) -> :ok: text (a binary or a charlist) goes to the caller's group leader,
 * so it appears in the caller's shell. */
static int print(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)arity;
    ei_x_buff text;
    ei_x_new(&text);
    int r = text_of(buf, idx, &text);
    if (r == 0 && cn_io_put_chars(self, text.buff, text.index) < 0)
        r = 1;
    ei_x_free(&text);
    if (r != 0) /* as io:put_chars: badarg, or terminated when the output went nowhere */
        return raise_error(out, r < 0 ? "badarg" : "terminated");
    ei_x_encode_atom(out, "ok");
    return CN_RPC_RETURN;
}

/* :demo.echo(...) of any arity: the list of its arguments. */
static int echo(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    int start = *idx;
    for (int i = 0; i < arity; i++)
        if (ei_skip_term(buf, idx) < 0)
            return raise_error(out, "badarg");
    if (arity > 0)
        ei_x_encode_list_header(out, arity);
    ei_x_append_buf(out, buf + start, *idx - start); /* the arguments lie one after another */
    ei_x_encode_empty_list(out);
    return CN_RPC_RETURN;
}

int cn_demo_rpc_register(void)
{
    int r = 0;
    r |= cn_export("demo", "add", 2, add);
    r |= cn_export("demo", "fail", 1, fail);
    r |= cn_export("demo", "throw", 1, throw_);
    r |= cn_export("demo", "exit", 1, exit_);
    r |= cn_export("demo", "sleep", 1, sleep_);
    r |= cn_export("demo", "print", 1, print);
    r |= cn_export("demo", "echo", -1, echo); /* any arity */
    return r < 0 ? -1 : 0;
}

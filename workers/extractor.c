/* extractor: entity extraction from documents, the compute worker of the "desk datacenter"
 * demo. Worker: GenServer.call(pid, {:extract, doc}) -> %{emails: [...], urls: [...],
 * phones: [...], dates: [...], money: [...], names: [...]} (each a list of binaries, every
 * occurrence, in document order); {:error, :badarg} for anything else, {:error,
 * :system_limit} for a document over 16 MiB. :sys.get_state: %{documents, bytes, entities,
 * refused}. RPC: :extractor.extract(doc), the same map without a worker (error:badarg,
 * error:system_limit). scripts/desk/extractor.ex is the same rules in Elixir.
 *
 * The rules (bytes; ASCII classes; UTF-8 text passes through as opaque bytes):
 * - word bytes: A-Z a-z 0-9 _ and every byte >= 0x80. A match starts only where the byte
 *   before it is not a word byte (or at the start), and ends only where the byte after it is
 *   not a word byte (or at the end); a candidate that fails the end test is no match.
 * - One left-to-right scan. At each position where a match may start, try url, email,
 *   money, date, phone, name in that order; the first that matches is taken and the scan
 *   goes on after it; if none does, the scan moves one byte on.
 * - url: "http://" or "https://", then the longest run of bytes above 0x20 other than DEL,
 *   '<' and '>'; then trailing . , ; : ! ? ) ' " are dropped; at least one byte must remain
 *   after the "//".
 * - email: a local part of 1-64 bytes from A-Z a-z 0-9 . _ % + - that starts with a letter or
 *   digit, '@', then the longest run of A-Z a-z 0-9 . - (at most 253 bytes, else no match)
 *   with trailing '.' and '-' dropped; split at '.', it must have two or more labels, none
 *   empty, the last of letters only and at least 2 long.
 * - money: '$', '€' or '£' immediately followed by an amount, or an amount, one space and
 *   USD, EUR or GBP. An amount: digits, then any ",ddd" groups (exactly three digits, no
 *   digit after them), then optionally '.' and digits; taken greedily and at most 32 bytes
 *   (longer: no match).
 * - date: YYYY-MM-DD (month 01-12, day 01-31); A/B/YYYY, A.B.YYYY or A-B-YYYY (A and B one
 *   or two digits, each 1-31, the same separator twice); D Month YYYY; Month D, YYYY (D one
 *   or two digits, 1-31; Month an English month name, capitalised, spelt in full; single
 *   spaces).
 * - phone: an optional '+', then a digit or '(', then the longest run of digits and the
 *   separators space - . ( ) with never more than two separators in a row; trailing
 *   separators dropped; 8 to 15 digits (a 16th digit in the run: no match).
 * - name: two or more capitalised words separated by single spaces, as many as follow; a
 *   capitalised word is an upper-case letter and one or more lower-case letters, not a month
 *   name.
 * So "On March 12, 2024" is a date (a month is no name word), "Call 555-123-4567" a phone,
 * "2024-13-45" a phone (no such month), "Ann Lee's" the name "Ann Lee".
 *
 * Bounds: the scan is linear and reads the document where it lies in the request (no copy).
 * A match has at least 2 bytes and a byte that starts nothing after it, so a document of n
 * bytes has under n/3 + 1 entities, and the reply (5 bytes of encoding each) is under 3n. */
#include "extract_scan.h"
#include "workers.h"

#include <stdlib.h>
#include <string.h>

#define EXTRACT_MAX_DOC (16u << 20)

/* Kinds in the order of the reply map (the scan's order is extract_scan.h's). */
static const struct {
    int kind;
    const char *key;
} out_order[EX_NKINDS] = {{EX_EMAIL, "emails"}, {EX_URL, "urls"},    {EX_PHONE, "phones"},
                          {EX_DATE, "dates"},   {EX_MONEY, "money"}, {EX_NAME, "names"}};

typedef struct lists {
    const unsigned char *doc;
    ei_x_buff x[EX_NKINDS]; /* each kind's binaries, encoded one after another */
    long count[EX_NKINDS];
} lists;

static int on_found(void *ctx, int kind, size_t start, size_t len)
{
    lists *l = ctx;
    if (ei_x_encode_binary(&l->x[kind], l->doc + start, (int)len) < 0)
        return -1;
    l->count[kind]++;
    return 0;
}

/* The binary at buf+*idx, without copying it: 0 and *doc, *len, or -1 if the term is not a
 * binary (bit strings are not). */
static int binary_at(const char *buf, int *idx, const unsigned char **doc, size_t *len)
{
    int type, size;
    if (ei_get_type(buf, idx, &type, &size) < 0 || type != ERL_BINARY_EXT || size < 0)
        return -1;
    *doc = (const unsigned char *)buf + *idx + 5; /* tag, 4-byte length, bytes */
    *len = (size_t)size;
    return ei_skip_term(buf, idx);
}

/* The reply map for doc into out; *found counts the entities. Returns 0, or -1 with an error
 * atom's name in *why. */
static int extract(const unsigned char *doc, size_t len, ei_x_buff *out, long *found,
                   const char **why)
{
    if (len > EXTRACT_MAX_DOC) {
        *why = "system_limit";
        return -1;
    }
    lists l = {.doc = doc};
    int r = 0;
    for (int k = 0; k < EX_NKINDS; k++)
        r |= ei_x_new(&l.x[k]);
    if (r == 0)
        r = ex_scan(doc, len, on_found, &l);
    *found = 0;
    if (r == 0) {
        r |= ei_x_encode_map_header(out, EX_NKINDS);
        for (int o = 0; o < EX_NKINDS; o++) {
            int k = out_order[o].kind;
            r |= ei_x_encode_atom(out, out_order[o].key);
            if (l.count[k] > 0) {
                r |= ei_x_encode_list_header(out, l.count[k]);
                r |= ei_x_append_buf(out, l.x[k].buff, l.x[k].index);
            }
            r |= ei_x_encode_empty_list(out);
            *found += l.count[k];
        }
    }
    for (int k = 0; k < EX_NKINDS; k++)
        ei_x_free(&l.x[k]);
    if (r != 0)
        *why = "enomem";
    return r != 0 ? -1 : 0;
}

typedef struct stats {
    long long documents, bytes, entities, refused;
} stats;

static int ex_init(cn_proc *self, const char *buf, int *idx, void **state)
{
    (void)self;
    (void)buf;
    (void)idx;
    *state = calloc(1, sizeof(stats));
    return *state ? 0 : -1;
}

static int reply_error(ei_x_buff *reply, const char *why)
{
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_atom(reply, "error");
    ei_x_encode_atom(reply, why);
    return CN_REPLY;
}

static int ex_call(cn_proc *self, void *state, const char *buf, int *idx, const cn_from *from,
                   ei_x_buff *reply)
{
    (void)self;
    (void)from;
    stats *st = state;
    char atom[MAXATOMLEN_UTF8];
    int arity;
    const unsigned char *doc;
    size_t len;
    long found;
    const char *why = "badarg";
    if (ei_decode_tuple_header(buf, idx, &arity) == 0 && arity == 2 &&
        ei_decode_atom(buf, idx, atom) == 0 && strcmp(atom, "extract") == 0 &&
        binary_at(buf, idx, &doc, &len) == 0 && extract(doc, len, reply, &found, &why) == 0) {
        st->documents++;
        st->bytes += (long long)len;
        st->entities += found;
        return CN_REPLY;
    }
    st->refused++;
    reply->index = 0; /* whatever a failed extract left */
    return reply_error(reply, why);
}

static void ex_terminate(cn_proc *self, void *state, const char *reason, int len)
{
    (void)self;
    (void)reason;
    (void)len;
    free(state);
}

static int ex_export(void *state, ei_x_buff *out)
{
    stats *st = state;
    ei_x_encode_map_header(out, 4);
    ei_x_encode_atom(out, "documents");
    ei_x_encode_longlong(out, st->documents);
    ei_x_encode_atom(out, "bytes");
    ei_x_encode_longlong(out, st->bytes);
    ei_x_encode_atom(out, "entities");
    ei_x_encode_longlong(out, st->entities);
    ei_x_encode_atom(out, "refused");
    ei_x_encode_longlong(out, st->refused);
    return 0;
}

const cn_worker cn_extractor_worker = {
    .module = "extractor",
    .init = ex_init,
    .handle_call = ex_call,
    .terminate = ex_terminate,
    .export_state = ex_export,
};

/* :extractor.extract(doc): the same map, in the rpc's own process. */
static int rpc_extract(cn_proc *self, const char *buf, int *idx, int arity, ei_x_buff *out)
{
    (void)self;
    (void)arity;
    const unsigned char *doc;
    size_t len;
    long found;
    const char *why = "badarg";
    if (binary_at(buf, idx, &doc, &len) == 0 && extract(doc, len, out, &found, &why) == 0)
        return CN_RPC_RETURN;
    out->index = 0;
    ei_x_encode_atom(out, why);
    return CN_RPC_ERROR;
}

int cn_extractor_rpc_register(void)
{
    return cn_export("extractor", "extract", 1, rpc_extract);
}

#include "dist/handshake.h"

#include "dist/digest.h"
#include "dist/flags.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    ST_NEW,          /* initiator: before cn_hs_start */
    ST_I_STATUS,     /* initiator: sent 'N', waiting for 's' */
    ST_I_CHALLENGE,  /* initiator: waiting for the 'N' challenge */
    ST_I_ACK,        /* initiator: sent 'r', waiting for 'a' */
    ST_A_NAME,       /* acceptor: waiting for 'N' / 'n' */
    ST_A_ALIVE,      /* acceptor: sent "alive", waiting for 's' true/false */
    ST_A_COMPLEMENT, /* acceptor: sent the challenge after an old 'n', waiting for 'c' */
    ST_A_REPLY,      /* acceptor: waiting for 'r' */
    ST_DONE,
    ST_FAILED,
};

#define NAME_MAX_LEN 255
#define MAX_MSG 512 /* every message we build is below this (names are at most 255 bytes) */

__attribute__((format(printf, 2, 3))) static int fail(cn_hs *hs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hs->err, sizeof hs->err, fmt, ap);
    va_end(ap);
    hs->state = ST_FAILED;
    return CN_HS_FAIL;
}

/* Bytes from the wire made safe for a log line: printable ASCII kept, the rest shown as '?',
 * cut to fit dst. */
static void show(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t i = 0, o = 0;
    if (cap == 0)
        return;
    for (; i < n && o + 1 < cap; i++)
        dst[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    if (i < n && cap >= 4) {
        o = o > cap - 4 ? cap - 4 : o;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* The peer as named in error messages. */
static const char *who(const cn_hs *hs)
{
    if (hs->role == CN_HS_INITIATOR)
        return hs->expect_name;
    return hs->peer_name[0] ? hs->peer_name : "an unnamed peer";
}

static const char *tag_text(uint8_t tag, char buf[8])
{
    if (tag >= 0x21 && tag < 0x7f)
        snprintf(buf, 8, "'%c'", (char)tag);
    else
        snprintf(buf, 8, "%u", (unsigned)tag);
    return buf;
}

static int unexpected(cn_hs *hs, const char *wanted, const uint8_t *msg, size_t len)
{
    char t[8];
    return fail(hs, "Handshake with %s failed: expected %s, got a %zu-byte message tagged %s.",
                who(hs), wanted, len, tag_text(msg[0], t));
}

/* Queue one message with its length prefix, in a single append (all or nothing). */
static int emit(cn_hs *hs, cn_buf *out, const uint8_t *payload, size_t len)
{
    uint8_t m[4 + MAX_MSG];
    size_t pre = (size_t)hs->lenbytes;
    if (len > MAX_MSG)
        return -1;
    if (pre == 2)
        cn_set16(m, (uint16_t)len);
    else
        cn_set32(m, (uint32_t)len);
    memcpy(m + pre, payload, len);
    return cn_buf_append(out, m, pre + len);
}

static int emit_status(cn_hs *hs, cn_buf *out, const char *status)
{
    uint8_t m[32];
    size_t n = strlen(status);
    m[0] = 's';
    memcpy(m + 1, status, n);
    snprintf(hs->status, sizeof hs->status, "%s", status);
    return emit(hs, out, m, 1 + n);
}

static int out_full(cn_hs *hs)
{
    return fail(hs, "Handshake with %s failed: the output buffer is full.", who(hs));
}

/* NULL when p[0..n) is an acceptable node name: "alive@host" with both parts non-empty, or
 * (host_only) a bare host; at most 255 printable ASCII bytes without spaces. */
static const char *name_problem(const uint8_t *p, size_t n, int host_only)
{
    size_t at = n, ats = 0;
    if (n == 0)
        return "it is empty";
    if (n > NAME_MAX_LEN)
        return "it is longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f)
            return "it contains a non-printable byte";
        if (p[i] == '@') {
            ats++;
            at = i;
        }
    }
    if (host_only)
        return ats ? "a NAME_ME request must carry only a host" : NULL;
    if (ats != 1)
        return "it is not of the form name@host";
    if (at == 0 || at == n - 1)
        return "its name or host part is empty";
    return NULL;
}

static int valid_own_name(const char *s, int host_only)
{
    return name_problem((const uint8_t *)s, strlen(s), host_only) == NULL;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

void cn_hs_init(cn_hs *hs, int role, int lenbytes, const char *my_name, uint32_t my_creation,
                uint64_t my_flags, const char *cookie)
{
    memset(hs, 0, sizeof *hs);
    hs->role = role;
    hs->lenbytes = lenbytes;
    hs->my_creation = my_creation;
    hs->my_flags = my_flags;
    hs->state = role == CN_HS_ACCEPTOR ? ST_A_NAME : ST_NEW;
    int host_only = role == CN_HS_INITIATOR && (my_flags & DFLAG_NAME_ME);
    if (role != CN_HS_INITIATOR && role != CN_HS_ACCEPTOR)
        fail(hs, "Handshake setup error: unknown role %d.", role);
    else if (lenbytes != 2 && lenbytes != 4)
        fail(hs, "Handshake setup error: length prefix must be 2 or 4 bytes, not %d.", lenbytes);
    else if (!my_name || copy_str(hs->my_name, sizeof hs->my_name, my_name) < 0 ||
             !valid_own_name(hs->my_name, host_only))
        fail(hs, "Handshake setup error: our node name is missing, too long or malformed.");
    else if (!cookie || copy_str(hs->cookie, sizeof hs->cookie, cookie) < 0)
        fail(hs, "Handshake setup error: the cookie is missing or longer than 255 bytes.");
}

void cn_hs_set_expect(cn_hs *hs, const char *peer_name)
{
    if (hs->state == ST_FAILED)
        return;
    if (hs->role != CN_HS_INITIATOR || hs->state != ST_NEW) {
        fail(hs, "Handshake setup error: the expected peer name is for a new initiator only.");
        return;
    }
    if (!peer_name || copy_str(hs->expect_name, sizeof hs->expect_name, peer_name) < 0 ||
        !valid_own_name(hs->expect_name, 0)) {
        hs->expect_name[0] = '\0';
        fail(hs, "Handshake setup error: the node to dial is not a valid name@host.");
    }
}

int cn_hs_start(cn_hs *hs, cn_buf *out)
{
    if (hs->state == ST_FAILED)
        return CN_HS_FAIL;
    if (hs->role == CN_HS_ACCEPTOR)
        return hs->state == ST_A_NAME ? CN_HS_CONTINUE
                                      : fail(hs, "Handshake setup error: started twice.");
    if (hs->state != ST_NEW)
        return fail(hs, "Handshake setup error: started twice.");
    if (!hs->expect_name[0])
        return fail(hs, "Handshake setup error: no node to dial was set.");

    uint8_t m[MAX_MSG];
    size_t n = strlen(hs->my_name);
    m[0] = 'N';
    cn_set64(m + 1, hs->my_flags);
    /* A node asking for a name has no creation yet. */
    cn_set32(m + 9, (hs->my_flags & DFLAG_NAME_ME) ? 0 : hs->my_creation);
    cn_set16(m + 13, (uint16_t)n);
    memcpy(m + 15, hs->my_name, n);
    if (emit(hs, out, m, 15 + n) < 0)
        return out_full(hs);
    hs->state = ST_I_STATUS;
    return CN_HS_CONTINUE;
}

/* Both sides expanded, so that the result is the same on both ends even when one of them
 * offers MANDATORY_25_DIGEST without spelling out the set. */
static uint64_t negotiate(uint64_t mine, uint64_t peer_expanded)
{
    return cn_flags_expand(mine) & peer_expanded;
}

static int missing_flags(cn_hs *hs, uint64_t missing, int incoming)
{
    char names[160];
    cn_flags_describe(missing, names, sizeof names);
    if (incoming)
        return fail(hs, "Connection attempt from node %s rejected since it cannot handle [%s].",
                    who(hs), names);
    return fail(hs, "Connection attempt to node %s aborted since it cannot handle [%s].", who(hs),
                names);
}

/* ---- initiator ---- */

static int is_status(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int i_named(cn_hs *hs, const uint8_t *p, size_t n)
{
    /* p/n: what follows "named:" — Nlen:16, Name, Creation:32, anything after ignored */
    if (!(hs->my_flags & DFLAG_NAME_ME))
        return fail(hs, "Connection to %s failed: it sent us a name (named:) we did not ask for.",
                    who(hs));
    if (n < 2)
        return fail(hs, "Connection to %s failed: truncated named: status.", who(hs));
    size_t nlen = cn_get16(p);
    if (nlen > n - 2 || n - 2 - nlen < 4)
        return fail(hs, "Connection to %s failed: truncated named: status.", who(hs));
    const uint8_t *name = p + 2;
    const char *why = name_problem(name, nlen, 0);
    char shown[64];
    if (why) {
        show(shown, sizeof shown, name, nlen);
        return fail(hs, "Connection to %s failed: the name it gave us, '%s', is invalid: %s.",
                    who(hs), shown, why);
    }
    const uint8_t *at = memchr(name, '@', nlen);
    size_t hostlen = nlen - (size_t)(at + 1 - name);
    if (hostlen != strlen(hs->my_name) || memcmp(at + 1, hs->my_name, hostlen) != 0) {
        show(shown, sizeof shown, name, nlen);
        return fail(hs, "Connection to %s failed: it named us '%s', which is not on our host %s.",
                    who(hs), shown, hs->my_name);
    }
    memcpy(hs->my_name, name, nlen);
    hs->my_name[nlen] = '\0';
    hs->my_creation = cn_get32(p + 2 + nlen);
    snprintf(hs->status, sizeof hs->status, "named");
    hs->state = ST_I_CHALLENGE;
    return CN_HS_CONTINUE;
}

static int i_status(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out)
{
    if (msg[0] != 's')
        return unexpected(hs, "a status message 's'", msg, len);
    const uint8_t *s = msg + 1;
    size_t n = len - 1;
    int name_me = (hs->my_flags & DFLAG_NAME_ME) != 0;
    if (n >= 6 && memcmp(s, "named:", 6) == 0)
        return i_named(hs, s + 6, n - 6);
    if (is_status(s, n, "nok")) {
        snprintf(hs->status, sizeof hs->status, "nok"); /* the caller keeps its entry */
        return fail(hs, "Connection to %s refused (nok): its own simultaneous attempt to us wins.",
                    who(hs));
    }
    if (is_status(s, n, "not_allowed"))
        return fail(hs,
                    "Connection to %s refused (not_allowed): we lack a flag it requires, "
                    "or we are not on its allow list.",
                    who(hs));
    int ok = is_status(s, n, "ok") || is_status(s, n, "ok_simultaneous");
    int alive = is_status(s, n, "alive");
    if (!ok && !alive) {
        char shown[40];
        show(shown, sizeof shown, s, n);
        return fail(hs, "Connection to %s failed: unknown handshake status '%s'.", who(hs), shown);
    }
    if (name_me) {
        char shown[40];
        show(shown, sizeof shown, s, n);
        return fail(hs, "Connection to %s failed: it answered '%s' to our request for a name.",
                    who(hs), shown);
    }
    if (alive) {
        /* The peer still has a connection from us. This attempt is the only one we make to
         * that node, so it is the legitimate one: confirm it. */
        if (emit_status(hs, out, "true") < 0)
            return out_full(hs);
    }
    memcpy(hs->status, s, n); /* n < sizeof status: one of the known words */
    hs->status[n] = '\0';
    hs->state = ST_I_CHALLENGE;
    return CN_HS_CONTINUE;
}

static int i_challenge(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out)
{
    if (msg[0] == 'n')
        return fail(hs,
                    "Connection to %s failed: it sent an old version 5 challenge 'n'; only "
                    "version 6 is supported.",
                    who(hs));
    if (msg[0] != 'N')
        return unexpected(hs, "a challenge 'N'", msg, len);
    if (len < 19)
        return fail(hs, "Connection to %s failed: truncated challenge (%zu bytes).", who(hs), len);
    size_t nlen = cn_get16(msg + 17);
    if (nlen > len - 19)
        return fail(hs,
                    "Connection to %s failed: truncated challenge (name of %zu bytes, %zu "
                    "present).",
                    who(hs), nlen, len - 19);
    const uint8_t *name = msg + 19;
    if (nlen != strlen(hs->expect_name) || memcmp(name, hs->expect_name, nlen) != 0) {
        char shown[80];
        show(shown, sizeof shown, name, nlen);
        return fail(hs, "Connection to %s failed: peer answered as %s, expected %s.", who(hs),
                    shown, hs->expect_name);
    }
    uint64_t pf = cn_flags_expand(cn_get64(msg + 1));
    uint64_t missing = cn_flags_missing(pf);
    if (missing)
        return missing_flags(hs, missing, 0);
    memcpy(hs->peer_name, hs->expect_name, nlen + 1);
    hs->peer_flags = pf;
    hs->flags = negotiate(hs->my_flags, pf);
    hs->peer_challenge = cn_get32(msg + 9);
    hs->peer_creation = cn_get32(msg + 13);
    hs->my_challenge = cn_challenge_new();

    uint8_t r[21];
    r[0] = 'r';
    cn_set32(r + 1, hs->my_challenge);
    cn_digest(r + 5, hs->peer_challenge, hs->cookie);
    if (emit(hs, out, r, sizeof r) < 0)
        return out_full(hs);
    hs->state = ST_I_ACK;
    return CN_HS_CONTINUE;
}

static int i_ack(cn_hs *hs, const uint8_t *msg, size_t len)
{
    if (msg[0] != 'a')
        return unexpected(hs, "a challenge ack 'a'", msg, len);
    if (len != 17)
        return fail(hs, "Connection to %s failed: challenge ack of %zu bytes, expected 17.",
                    who(hs), len);
    uint8_t want[16];
    cn_digest(want, hs->my_challenge, hs->cookie);
    if (!cn_digest_equal(want, msg + 1))
        return fail(hs, "Connection to %s cancelled: invalid challenge ack (wrong cookie?).",
                    who(hs));
    hs->state = ST_DONE;
    return CN_HS_DONE;
}

/* ---- acceptor ---- */

static int a_send_challenge(cn_hs *hs, cn_buf *out)
{
    uint8_t m[MAX_MSG];
    size_t n = strlen(hs->my_name);
    hs->my_challenge = cn_challenge_new();
    m[0] = 'N';
    cn_set64(m + 1, hs->my_flags);
    cn_set32(m + 9, hs->my_challenge);
    cn_set32(m + 13, hs->my_creation);
    cn_set16(m + 17, (uint16_t)n);
    memcpy(m + 19, hs->my_name, n);
    if (emit(hs, out, m, 19 + n) < 0)
        return out_full(hs);
    hs->state = hs->old_name ? ST_A_COMPLEMENT : ST_A_REPLY;
    return CN_HS_CONTINUE;
}

/* A fresh name for a NAME_ME peer, as BEAM makes them: a random 64-bit number in base 36. */
static int make_dynamic_name(cn_hs *hs)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char host[256], tmp[16];
    size_t n = 0;
    memcpy(host, hs->peer_name, sizeof host); /* peer_name holds the host until now */
    uint64_t v;
    cn_random_bytes(&v, sizeof v);
    do {
        tmp[n++] = digits[v % 36];
        v /= 36;
    } while (v);
    size_t hostlen = strlen(host);
    if (n + 1 + hostlen > NAME_MAX_LEN)
        return -1;
    char *p = hs->peer_name;
    while (n)
        *p++ = tmp[--n];
    *p++ = '@';
    memcpy(p, host, hostlen + 1);
    uint32_t c;
    do
        c = cn_challenge_new();
    while (c <= 3);
    hs->peer_creation = c;
    return 0;
}

/* Queue a status; 0, or -1 with err set when out is full. */
static int a_status(cn_hs *hs, cn_buf *out, const char *status)
{
    if (emit_status(hs, out, status) < 0)
        return out_full(hs);
    return 0;
}

static int a_name(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out)
{
    const uint8_t *name;
    size_t nlen;
    uint64_t raw;
    uint32_t creation = 0;
    if (msg[0] == 'N') {
        if (len < 15)
            return fail(hs, "Connection attempt rejected: truncated name message (%zu bytes).",
                        len);
        raw = cn_get64(msg + 1);
        creation = cn_get32(msg + 9);
        nlen = cn_get16(msg + 13);
        if (nlen > len - 15)
            return fail(hs,
                        "Connection attempt rejected: truncated name message (name of %zu "
                        "bytes, %zu present).",
                        nlen, len - 15);
        name = msg + 15; /* anything after the name is ignored */
    } else if (msg[0] == 'n') {
        if (len < 7)
            return fail(hs,
                        "Connection attempt rejected: truncated old name message (%zu "
                        "bytes).",
                        len);
        /* Version:16 at msg+1 is not checked; BEAM ignores it too. */
        raw = cn_get32(msg + 3);
        name = msg + 7;
        nlen = len - 7;
        hs->old_name = 1;
    } else {
        return unexpected(hs, "a name message 'N'", msg, len);
    }
    int dynamic = msg[0] == 'N' && (raw & DFLAG_NAME_ME);
    const char *why = name_problem(name, nlen, dynamic);
    if (why) {
        char shown[64];
        show(shown, sizeof shown, name, nlen);
        return fail(hs, "Connection attempt rejected: invalid %s '%s': %s.",
                    dynamic ? "host" : "node name", shown, why);
    }
    memcpy(hs->peer_name, name, nlen);
    hs->peer_name[nlen] = '\0';
    hs->peer_creation = creation;
    hs->peer_flags = cn_flags_expand(raw);

    if (hs->old_name && !(raw & DFLAG_HANDSHAKE_23)) {
        if (a_status(hs, out, "not_allowed") < 0)
            return CN_HS_FAIL;
        return fail(hs,
                    "Connection attempt from node %s rejected: it sent an old 'n' name "
                    "without HANDSHAKE_23 (version 5 handshakes are not supported).",
                    who(hs));
    }
    uint64_t missing = cn_flags_missing(hs->peer_flags);
    if (hs->old_name)
        missing &= 0xFFFFFFFFULL; /* the high word arrives with 'c' */
    if (missing) {
        if (a_status(hs, out, "not_allowed") < 0)
            return CN_HS_FAIL;
        return missing_flags(hs, missing, 1);
    }
    if (dynamic && make_dynamic_name(hs) < 0) {
        if (a_status(hs, out, "not_allowed") < 0)
            return CN_HS_FAIL;
        return fail(hs,
                    "Connection attempt from host %s rejected: the host name is too long to "
                    "name the node.",
                    hs->peer_name);
    }
    hs->flags = negotiate(hs->my_flags, hs->peer_flags);

    const char *d = hs->decide ? hs->decide(hs->ctx, hs->peer_name, hs->peer_flags) : "ok";
    if (!d)
        d = "not_allowed";
    int ok = strcmp(d, "ok") == 0 || strcmp(d, "ok_simultaneous") == 0;
    if (dynamic && ok) {
        uint8_t m[MAX_MSG];
        size_t n = strlen(hs->peer_name);
        memcpy(m, "snamed:", 7);
        cn_set16(m + 7, (uint16_t)n);
        memcpy(m + 9, hs->peer_name, n);
        cn_set32(m + 9 + n, hs->peer_creation);
        if (emit(hs, out, m, 13 + n) < 0)
            return out_full(hs);
        snprintf(hs->status, sizeof hs->status, "named");
        return a_send_challenge(hs, out);
    }
    if (ok) {
        if (a_status(hs, out, d) < 0)
            return CN_HS_FAIL;
        return a_send_challenge(hs, out);
    }
    if (strcmp(d, "alive") == 0 && !dynamic) {
        if (a_status(hs, out, "alive") < 0)
            return CN_HS_FAIL;
        hs->state = ST_A_ALIVE;
        return CN_HS_CONTINUE;
    }
    if (strcmp(d, "nok") == 0) {
        if (a_status(hs, out, "nok") < 0)
            return CN_HS_FAIL;
        return fail(hs,
                    "Connection attempt from node %s refused (nok): our own attempt to it "
                    "takes precedence.",
                    who(hs));
    }
    if (a_status(hs, out, "not_allowed") < 0)
        return CN_HS_FAIL;
    if (strcmp(d, "not_allowed") == 0)
        return fail(hs, "Connection attempt from node %s refused: not allowed.", who(hs));
    if (strcmp(d, "alive") == 0)
        return fail(hs,
                    "Connection attempt from node %s refused: a node of the name generated "
                    "for it is already connected.",
                    who(hs));
    return fail(hs,
                "Connection attempt from node %s refused: the connection table gave an "
                "unknown status.",
                who(hs));
}

static int a_alive(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out)
{
    if (msg[0] != 's')
        return unexpected(hs, "a status reply 's'", msg, len);
    if (is_status(msg + 1, len - 1, "true"))
        return a_send_challenge(hs, out);
    if (is_status(msg + 1, len - 1, "false"))
        return fail(hs,
                    "Connection attempt from node %s dropped: it answered 'false' to "
                    "'alive', so the existing connection stays.",
                    who(hs));
    char shown[40];
    show(shown, sizeof shown, msg + 1, len - 1);
    return fail(hs, "Connection attempt from node %s failed: invalid reply '%s' to 'alive'.",
                who(hs), shown);
}

static int a_complement(cn_hs *hs, const uint8_t *msg, size_t len)
{
    if (msg[0] != 'c')
        return unexpected(hs, "a complement 'c'", msg, len);
    if (len != 9)
        return fail(hs,
                    "Connection attempt from node %s failed: complement of %zu bytes, "
                    "expected 9.",
                    who(hs), len);
    hs->peer_flags = cn_flags_expand(hs->peer_flags | ((uint64_t)cn_get32(msg + 1) << 32));
    hs->peer_creation = cn_get32(msg + 5);
    uint64_t missing = cn_flags_missing(hs->peer_flags);
    if (missing)
        return missing_flags(hs, missing, 1);
    hs->flags = negotiate(hs->my_flags, hs->peer_flags);
    hs->state = ST_A_REPLY;
    return CN_HS_CONTINUE;
}

static int a_reply(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out)
{
    if (msg[0] != 'r')
        return unexpected(hs, "a challenge reply 'r'", msg, len);
    if (len != 21)
        return fail(hs,
                    "Connection attempt from node %s failed: challenge reply of %zu bytes, "
                    "expected 21.",
                    who(hs), len);
    uint8_t want[16];
    cn_digest(want, hs->my_challenge, hs->cookie);
    if (!cn_digest_equal(want, msg + 5))
        return fail(hs,
                    "Connection attempt rejected: invalid challenge reply from %s (wrong "
                    "cookie?).",
                    who(hs));
    hs->peer_challenge = cn_get32(msg + 1);
    uint8_t a[17];
    a[0] = 'a';
    cn_digest(a + 1, hs->peer_challenge, hs->cookie);
    if (emit(hs, out, a, sizeof a) < 0)
        return out_full(hs);
    hs->state = ST_DONE;
    return CN_HS_DONE;
}

int cn_hs_input(cn_hs *hs, const uint8_t *msg, size_t len, cn_buf *out)
{
    if (hs->state == ST_FAILED)
        return CN_HS_FAIL; /* keep the first reason */
    if (hs->state == ST_DONE)
        return fail(hs, "Handshake with %s: unexpected message after it completed.", who(hs));
    if (!msg || len == 0)
        return fail(hs, "Handshake with %s failed: empty message.", who(hs));
    switch (hs->state) {
    case ST_NEW:
        return fail(hs, "Handshake with %s failed: message received before it started.", who(hs));
    case ST_I_STATUS:
        return i_status(hs, msg, len, out);
    case ST_I_CHALLENGE:
        return i_challenge(hs, msg, len, out);
    case ST_I_ACK:
        return i_ack(hs, msg, len);
    case ST_A_NAME:
        return a_name(hs, msg, len, out);
    case ST_A_ALIVE:
        return a_alive(hs, msg, len, out);
    case ST_A_COMPLEMENT:
        return a_complement(hs, msg, len);
    case ST_A_REPLY:
        return a_reply(hs, msg, len, out);
    default:
        return fail(hs, "Handshake with %s failed: internal state %d.", who(hs), hs->state);
    }
}

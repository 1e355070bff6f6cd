#include "dist/frame.h"

#include <string.h>

/* Release the buffer once idle if a big frame made it larger than this. */
#define SHRINK_ABOVE ((size_t)1024 * 1024)

static size_t buf_bound(size_t max_frame)
{
    /* Unreturned bytes stay below one prefix + max_frame when the caller drains frames before
     * reading; add one chunk of read room on top. */
    size_t extra = 4 + 2 * CN_FRAMER_CHUNK;
    return max_frame > SIZE_MAX - extra ? SIZE_MAX : max_frame + extra;
}

void cn_framer_init(cn_framer *f, int lenbytes, size_t max_frame)
{
    f->lenbytes = lenbytes == 2 ? 2 : 4;
    f->max_frame = max_frame;
    f->pos = 0;
    cn_buf_init(&f->in, buf_bound(max_frame));
}

void cn_framer_free(cn_framer *f)
{
    cn_buf_free(&f->in);
    f->pos = 0;
}

void cn_framer_set_lenbytes(cn_framer *f, int lenbytes)
{
    f->lenbytes = lenbytes == 2 ? 2 : 4;
}

void cn_framer_set_max(cn_framer *f, size_t max_frame)
{
    f->max_frame = max_frame;
}

size_t cn_framer_pending(const cn_framer *f)
{
    return f->in.len - f->pos;
}

/* Announced length of the frame at pos, or -1 when the prefix is incomplete. */
static int announced(const cn_framer *f, size_t *flen)
{
    if (f->in.len - f->pos < (size_t)f->lenbytes)
        return -1;
    const uint8_t *p = f->in.data + f->pos;
    *flen = f->lenbytes == 2 ? cn_get16(p) : cn_get32(p);
    return 0;
}

uint8_t *cn_framer_space(cn_framer *f, size_t *cap)
{
    size_t avail = f->in.len - f->pos;
    if (avail == 0) {
        f->in.len = f->pos = 0;
        if (f->in.cap > SHRINK_ABOVE)
            cn_buf_free(&f->in);
    } else if (f->pos > 0) {
        /* At most the tail of one frame (if the caller drained), moved once per read. */
        memmove(f->in.data, f->in.data + f->pos, avail);
        f->in.len = avail;
        f->pos = 0;
    }
    size_t want = CN_FRAMER_CHUNK, flen;
    if (announced(f, &flen) == 0 && flen <= f->max_frame) {
        size_t total = (size_t)f->lenbytes + flen;
        if (total > avail && total - avail > want)
            want = total - avail;
    }
    if (cn_buf_reserve(&f->in, want) < 0) {
        *cap = 0;
        return NULL;
    }
    *cap = f->in.cap - f->in.len;
    return f->in.data + f->in.len;
}

void cn_framer_commit(cn_framer *f, size_t n)
{
    size_t room = f->in.cap - f->in.len;
    f->in.len += n < room ? n : room;
}

int cn_framer_next(cn_framer *f, const uint8_t **frame, size_t *len)
{
    size_t flen;
    if (announced(f, &flen) < 0)
        return 0;
    if (flen > f->max_frame)
        return -1;
    size_t lb = (size_t)f->lenbytes;
    if (f->in.len - f->pos - lb < flen)
        return 0;
    *frame = f->in.data + f->pos + lb;
    *len = flen;
    f->pos += lb + flen;
    return 1;
}

int cn_framer_partial(const cn_framer *f, const uint8_t **body, size_t *have, size_t *flen)
{
    size_t len;
    if (announced(f, &len) < 0 || len > f->max_frame)
        return 0;
    size_t got = f->in.len - f->pos - (size_t)f->lenbytes;
    if (got >= len)
        return 0;
    *body = f->in.data + f->pos + f->lenbytes;
    *have = got;
    *flen = len;
    return 1;
}

void cn_framer_skip_partial(cn_framer *f)
{
    const uint8_t *body;
    size_t have, flen;
    /* Only a partial frame goes: then every byte after pos belongs to it. */
    if (cn_framer_partial(f, &body, &have, &flen) == 1)
        f->in.len = f->pos = 0;
}

size_t cn_framer_read_limit(const cn_framer *f, size_t peek, int between)
{
    if (f->in.len == f->pos)
        return between && peek ? peek : CN_FRAMER_CHUNK;
    const uint8_t *body;
    size_t have, flen;
    if (cn_framer_partial(f, &body, &have, &flen) == 1 && flen >= CN_FRAMER_CHUNK / 2) {
        size_t seen = (size_t)f->lenbytes + have;
        /* its first peek bytes (the header that tells where the body goes), else the rest */
        return seen < peek ? peek - seen : flen - have + peek;
    }
    return 0;
}

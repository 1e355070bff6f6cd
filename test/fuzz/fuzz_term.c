/* fuzz_term: the bounded term scanner against ei on arbitrary bytes. What cn_term_scan
 * accepts, ei must decode to the same length (ei itself has no bounds); the three ways of
 * rewriting atom cache references must agree. */
#include "dist/term.h"

#include <ei.h>
#include <stdlib.h>
#include <string.h>

static const char *const atoms[] = {"", "a", "node@host", "\xc3\xa5ngstr\xc3\xb6m", "alias"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    cn_atom_refs refs = {0};
    refs.n = data[0] % 6; /* 0..5 references */
    for (int i = 0; i < refs.n; i++) {
        refs.name[i] = atoms[i % 5];
        refs.len[i] = (uint16_t)strlen(atoms[i % 5]);
    }
    data++, n--;
    uint8_t *p = malloc(n + 1); /* exact size after the 131 */
    p[0] = 131;
    memcpy(p + 1, data, n);

    size_t out_len = 0;
    int has_refs = 0;
    long len = cn_term_scan(p + 1, n, &refs, &out_len, &has_refs);
    size_t bound = cn_term_scan_rewrite_bound(n, &refs);
    uint8_t *one = malloc(bound + 1);
    size_t one_len = 0;
    long len2 = cn_term_scan_rewrite(p + 1, n, &refs, one + 1, &one_len);
    if (len2 != len || (len > 0 && one_len != out_len))
        abort(); /* one pass and two passes disagree */
    if (len > 0) {
        if (!has_refs) {
            int idx = 1;
            if (ei_skip_term((const char *)p, &idx) < 0 || idx != len + 1)
                abort();
        }
        uint8_t *two = malloc(out_len + 1);
        two[0] = 131;
        if (cn_term_rewrite(p + 1, (size_t)len, &refs, two + 1) != out_len ||
            memcmp(two + 1, one + 1, out_len) != 0)
            abort();
        /* the rewritten term is plain: ei decodes it to its end */
        int idx = 1;
        if (ei_skip_term((const char *)two, &idx) < 0 || (size_t)idx != out_len + 1)
            abort();
        /* in place: the term sits at the end of a buffer with room in front */
        size_t room = out_len > (size_t)len ? out_len - (size_t)len : 0;
        uint8_t *buf = malloc(room + (size_t)len + 1);
        memcpy(buf + room, p + 1, (size_t)len);
        size_t w = cn_term_rewrite_in_place(buf + room, (size_t)len, &refs, out_len);
        uint8_t *start = buf + room - (out_len - (size_t)len);
        if (out_len < (size_t)len) /* never shrinks: no refs means no change */
            abort();
        if (w != out_len || memcmp(start, two + 1, out_len) != 0)
            abort();
        free(buf);
        free(two);
    }
    free(one);
    free(p);
    return 0;
}

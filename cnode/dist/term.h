/* term: bounded validation of external-format terms received from the network, and the
 * rewrite of ATOM_CACHE_REF (tag 82) into plain UTF-8 atoms so that ei can decode them. */
#ifndef CN_TERM_H
#define CN_TERM_H

#include <stddef.h>
#include <stdint.h>

#define CN_TERM_MAX_DEPTH 1000 /* deepest container nesting accepted */
#define CN_ATOM_MAX_CHARS 255
#define CN_ATOM_MAX_BYTES 1020 /* 4 * 255: longest UTF-8 atom text */

/* The atom cache references of one frame's header, resolved to atom text (UTF-8, not
 * NUL-terminated; len <= CN_ATOM_MAX_BYTES). Index i is what `82, i` in a term refers to. */
typedef struct cn_atom_refs {
    int n;
    const char *name[255];
    uint16_t len[255];
} cn_atom_refs;

/* Scan one term (no leading 131) at p[0..n). Returns its encoded length (> 0), or -1 when it
 * is malformed, truncated, nested deeper than CN_TERM_MAX_DEPTH, uses a rejected tag (80, 117,
 * 121, unknown), or has an ATOM_CACHE_REF whose index is >= refs->n (any 82 when refs is NULL).
 * *out_len (may be NULL) gets the length after cn_term_rewrite; *has_refs (may be NULL) is set
 * to whether any tag 82 occurs. */
long cn_term_scan(const uint8_t *p, size_t n, const cn_atom_refs *refs, size_t *out_len,
                  int *has_refs);
/* Copy the term to out (capacity >= out_len from cn_term_scan), replacing each `82, Idx` with
 * `119, Len, Text` (or `118, Len:16, Text` if Len > 255) and fixing NEW_FUN_EXT sizes.
 * Returns the bytes written (0 if the term does not scan). */
size_t cn_term_rewrite(const uint8_t *p, size_t n, const cn_atom_refs *refs, uint8_t *out);
/* cn_term_scan and cn_term_rewrite in one pass, for a term that is not known to end at
 * p + n: returns its input length (or -1 as cn_term_scan) and puts the rewritten length in
 * *out_len. out must hold cn_term_scan_rewrite_bound(n, refs) bytes (what the worst input
 * of n bytes could become); on -1 some of it may have been written. */
long cn_term_scan_rewrite(const uint8_t *p, size_t n, const cn_atom_refs *refs, uint8_t *out,
                          size_t *out_len);
size_t cn_term_scan_rewrite_bound(size_t n, const cn_atom_refs *refs);
/* cn_term_rewrite within one buffer: the term at p[0..n) becomes out_len bytes (from
 * cn_term_scan) at p - (out_len - n), which must be writable. Bytes after the last cache ref
 * are not moved, so a large binary behind a few refs costs nothing. Returns the bytes written
 * (0 if the term does not scan). */
size_t cn_term_rewrite_in_place(uint8_t *p, size_t n, const cn_atom_refs *refs, size_t out_len);
/* Why the last scan or rewrite on this thread refused its term, for a log line (e.g. "nested
 * deeper than 1000 levels", "truncated at byte 12"). */
const char *cn_term_error(void);
/* Is s[0..len) acceptable atom text: valid UTF-8, at most 255 characters, <= 1020 bytes? */
int cn_term_atom_text_ok(const uint8_t *s, size_t len);

#endif

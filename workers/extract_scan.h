/* extract_scan: the extractor's entity rules as one left-to-right scan over a document's bytes
 * (the rules in words: workers/extractor.c); pure, no allocation, linear in the input. */
#ifndef CN_EXTRACT_SCAN_H
#define CN_EXTRACT_SCAN_H

#include <stddef.h>

/* The kinds, in the order they are tried at each position. */
enum { EX_URL, EX_EMAIL, EX_MONEY, EX_DATE, EX_PHONE, EX_NAME, EX_NKINDS };

/* Called for each entity, in document order: doc[start .. start+len). A nonzero return
 * stops the scan, and ex_scan returns it. */
typedef int (*ex_found_fn)(void *ctx, int kind, size_t start, size_t len);

/* Scan doc[0 .. len). Returns 0, or the first nonzero value `found` returned. */
int ex_scan(const unsigned char *doc, size_t len, ex_found_fn found, void *ctx);

#endif

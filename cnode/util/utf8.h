/* utf8: one Unicode code point as UTF-8, for the functions that take charlists and hand
 * them on as C text (code:load_file's names, os:getenv's, net_adm:names' hosts). */
#ifndef CN_UTF8_H
#define CN_UTF8_H

/* Write c (at most 0x10FFFF, checked by the caller) into out; returns its length, 1 to 4. */
int cn_utf8_put(unsigned long c, char out[4]);

#endif

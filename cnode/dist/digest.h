/* digest: the handshake's cookie digest, MD5(cookie ++ decimal(challenge)) (PROTOCOL.md §2.2),
 * its constant-time comparison, and fresh random challenges. */
#ifndef CN_DIGEST_H
#define CN_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* MD5 over the cookie text followed by the challenge as an unsigned decimal number.
 * Never fails open: if OpenSSL cannot compute MD5 (e.g. a FIPS-only provider), the error is
 * logged and out is filled with random bytes, so it cannot match anything a peer sends. */
void cn_digest(uint8_t out[16], uint32_t challenge, const char *cookie);
/* 1 when equal, 0 otherwise; constant time (CRYPTO_memcmp). */
int cn_digest_equal(const uint8_t a[16], const uint8_t b[16]);
/* A random 32-bit challenge from libsodium (initialised on first use; thread-safe). */
uint32_t cn_challenge_new(void);
/* Fill p with n random bytes from the same source. */
void cn_random_bytes(void *p, size_t n);

#endif

#include "dist/digest.h"

#include "util/log.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int sodium_ready;

/* sodium_init() is itself safe to call from several threads at once (libsodium >= 1.0.11);
 * the flag only saves the call once it has succeeded. */
static void ensure_sodium(void)
{
    if (atomic_load_explicit(&sodium_ready, memory_order_acquire))
        return;
    if (sodium_init() < 0) {
        cn_error("libsodium initialisation failed: no source of random numbers");
        abort();
    }
    atomic_store_explicit(&sodium_ready, 1, memory_order_release);
}

void cn_random_bytes(void *p, size_t n)
{
    ensure_sodium();
    randombytes_buf(p, n);
}

uint32_t cn_challenge_new(void)
{
    ensure_sodium();
    return randombytes_random();
}

void cn_digest(uint8_t out[16], uint32_t challenge, const char *cookie)
{
    char dec[16];
    int n = snprintf(dec, sizeof dec, "%" PRIu32, challenge);
    unsigned int outlen = 0;
    int ok = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && n > 0 && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, cookie, strlen(cookie)) == 1 &&
        EVP_DigestUpdate(ctx, dec, (size_t)n) == 1) {
        uint8_t md[EVP_MAX_MD_SIZE];
        if (EVP_DigestFinal_ex(ctx, md, &outlen) == 1 && outlen == 16) {
            memcpy(out, md, 16);
            ok = 1;
        }
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        cn_error("MD5 is unavailable in OpenSSL; the handshake digest cannot be computed");
        cn_random_bytes(out, 16);
    }
}

int cn_digest_equal(const uint8_t a[16], const uint8_t b[16])
{
    return CRYPTO_memcmp(a, b, 16) == 0;
}

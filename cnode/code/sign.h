/* sign: the signed native-module container (header, Ed25519 signature, ELF bytes), key files
 * (`cnoded keygen`), signing (`cnoded sign`) and the set of public keys this node trusts. */
#ifndef CN_SIGN_H
#define CN_SIGN_H

#include <stddef.h>
#include <stdint.h>

/* Container layout, little-endian (README "Hot code loading"):
 *   0  "CNODEMOD"          8   u16 format (1)     10  u16 ABI version   12  u16 ELF machine
 *   14 u8 ELF class        15  u8 0               16  key id (8 bytes)  24  u64 ELF length
 *   32 Ed25519 signature (64) over bytes 0..31 followed by the ELF bytes
 *   96 the ELF shared object */
#define CN_MOD_MAGIC "CNODEMOD"
#define CN_MOD_FORMAT 1
#define CN_MOD_HDR 96
#define CN_MOD_SIGNED_HDR 32
#define CN_KEY_ID_LEN 8
#define CN_MOD_MAX (256u << 20) /* largest module accepted */

/* Why a module was refused. */
enum cn_mod_status {
    CN_MOD_OK = 0,
    CN_MOD_NOT_NATIVE,  /* neither a container nor ELF (BEAM bytecode...): badfile */
    CN_MOD_TRUNCATED,   /* a container whose lengths do not add up */
    CN_MOD_FORMAT_VSN,  /* a container format this node does not know */
    CN_MOD_UNSIGNED,    /* a bare ELF object, and unsigned loading is off */
    CN_MOD_UNKNOWN_KEY, /* signed with a key this node does not trust */
    CN_MOD_BAD_SIG,     /* the signature does not match (tampered) */
    CN_MOD_WRONG_ARCH,  /* built for another machine or word size */
    CN_MOD_WRONG_ABI,   /* built against another CN_ABI_VERSION */
    CN_MOD_NOT_SHARED,  /* ELF, but not a shared object */
};

typedef struct cn_mod_info {
    const uint8_t *elf; /* points into the checked buffer */
    size_t elf_len;
    int is_signed;
    uint8_t key_id[CN_KEY_ID_LEN];
    unsigned machine, elf_class, abi; /* what the object says (for messages) */
} cn_mod_info;

/* Check bin: a container signed by a trusted key (or, with allow_unsigned, a bare ELF shared
 * object) for this machine and ABI. Fills *info (also on most refusals, for messages). */
int cn_mod_check(const uint8_t *bin, size_t len, int allow_unsigned, cn_mod_info *info);
/* A one-line explanation of a refusal, using what *info holds. */
void cn_mod_explain(int status, const cn_mod_info *info, char *out, size_t cap);

/* This build's ELF machine (EM_*) and class (ELFCLASS64/32), and a name for a machine. */
unsigned cn_mod_machine(void);
unsigned cn_mod_class(void);
const char *cn_mod_machine_name(unsigned machine);

/* Wrap an ELF shared object into a signed container (sk: libsodium's 64-byte secret key).
 * Returns a malloc'd buffer and its length in *out_len, or NULL (not a shared object for
 * this machine, or no memory). */
uint8_t *cn_mod_sign(const uint8_t *elf, size_t len, const uint8_t sk[64], size_t *out_len);

/* The key id: the first 8 bytes of BLAKE2b-256 of the public key. */
void cn_key_id(const uint8_t pk[32], uint8_t id[CN_KEY_ID_LEN]);

/* Key files: "<base>.pub" and "<base>.key" (mode 0600), one line of text each. */
int cn_keygen(const char *base, char *err, size_t errlen);
int cn_key_read_public(const char *path, uint8_t pk[32], char *err, size_t errlen);
int cn_key_read_secret(const char *path, uint8_t sk[64], char *err, size_t errlen);
/* Sign the shared object in `in` with the key file `key`, writing the container to `out`. */
int cn_sign_file(const char *key, const char *in, const char *out, char *err, size_t errlen);

/* The trusted keys. */
int cn_trust_add(const uint8_t pk[32]);
size_t cn_trust_count(void);
void cn_trust_clear(void); /* for tests */
int cn_code_unsigned_allowed(void);

#endif

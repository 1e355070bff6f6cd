/* sign: the signed module container, key files and trusted keys (see sign.h for the layout). */
#include "code/sign.h"

#include "cnode.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TRUSTED 64

static uint8_t trusted[MAX_TRUSTED][32];
static size_t ntrusted;
static int allow_unsigned;
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;

static const char PUB_TAG[] = "cnode-ed25519-public ";
static const char SEC_TAG[] = "cnode-ed25519-secret ";

unsigned cn_mod_machine(void)
{
#if defined(__x86_64__)
    return EM_X86_64;
#elif defined(__aarch64__)
    return EM_AARCH64;
#elif defined(__i386__)
    return EM_386;
#elif defined(__arm__)
    return EM_ARM;
#elif defined(__riscv)
    return EM_RISCV;
#else
    return EM_NONE;
#endif
}

unsigned cn_mod_class(void)
{
    return sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
}

const char *cn_mod_machine_name(unsigned m)
{
    switch (m) {
    case EM_X86_64:
        return "x86_64";
    case EM_AARCH64:
        return "aarch64";
    case EM_386:
        return "i386";
    case EM_ARM:
        return "arm";
    case EM_RISCV:
        return "riscv";
    default:
        return "unknown";
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The ELF header fields we check; e_type and e_machine sit at the same offsets in both
 * classes (16 and 18), with the byte order named in e_ident. */
static int elf_peek(const uint8_t *e, size_t len, unsigned *cls, unsigned *machine, unsigned *type)
{
    if (len < sizeof(Elf32_Ehdr) || memcmp(e, ELFMAG, SELFMAG) != 0)
        return -1;
    if (e[EI_DATA] != ELFDATA2LSB) /* every machine we run on is little-endian */
        return -1;
    *cls = e[EI_CLASS];
    *type = get16(e + 16);
    *machine = get16(e + 18);
    return 0;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)(p[0] | p[1] << 8 | p[2] << 16) | (uint32_t)p[3] << 24;
}

/* Do the program headers and the segments they map, and the section headers, lie inside the
 * object? The dynamic loader maps what they say and faults on what is not there (a truncated
 * object would crash the node instead of being refused). */
static int elf_bounds(const uint8_t *e, size_t len, unsigned cls)
{
    int is64 = cls == ELFCLASS64;
    if (len < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
        return -1;
    uint64_t phoff = is64 ? get64(e + 32) : get32(e + 28);
    uint64_t shoff = is64 ? get64(e + 40) : get32(e + 32);
    const uint8_t *h = e + (is64 ? 52 : 40);
    unsigned ehsize = get16(h), phentsize = get16(h + 2), phnum = get16(h + 4);
    unsigned shentsize = get16(h + 6), shnum = get16(h + 8);
    unsigned want_ph = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (ehsize > len)
        return -1;
    if (phnum > 0) {
        if (phentsize != want_ph || phoff > len || (uint64_t)phnum * phentsize > len - phoff)
            return -1;
        for (unsigned i = 0; i < phnum; i++) {
            const uint8_t *ph = e + phoff + (uint64_t)i * phentsize;
            uint64_t off = is64 ? get64(ph + 8) : get32(ph + 4);
            uint64_t filesz = is64 ? get64(ph + 32) : get32(ph + 16);
            if (off > len || filesz > len - off)
                return -1;
        }
    }
    if (shnum > 0 && (shoff > len || (uint64_t)shnum * shentsize > len - shoff))
        return -1;
    return 0;
}

static int key_trusted(const uint8_t id[CN_KEY_ID_LEN], uint8_t pk[32])
{
    int found = 0;
    pthread_mutex_lock(&tlock);
    for (size_t i = 0; i < ntrusted && !found; i++) {
        uint8_t kid[CN_KEY_ID_LEN];
        cn_key_id(trusted[i], kid);
        if (memcmp(kid, id, CN_KEY_ID_LEN) == 0) {
            memcpy(pk, trusted[i], 32);
            found = 1;
        }
    }
    pthread_mutex_unlock(&tlock);
    return found;
}

/* The object itself must be a shared object for this machine, whatever the header says. */
static int check_elf(cn_mod_info *info)
{
    unsigned cls, machine, type;
    if (elf_peek(info->elf, info->elf_len, &cls, &machine, &type) < 0)
        return CN_MOD_NOT_NATIVE;
    info->machine = machine;
    info->elf_class = cls;
    if (machine != cn_mod_machine() || cls != cn_mod_class())
        return CN_MOD_WRONG_ARCH;
    if (type != ET_DYN)
        return CN_MOD_NOT_SHARED;
    if (elf_bounds(info->elf, info->elf_len, cls) < 0)
        return CN_MOD_TRUNCATED;
    return CN_MOD_OK;
}

int cn_mod_check(const uint8_t *bin, size_t len, int allow_unsig, cn_mod_info *info)
{
    memset(info, 0, sizeof *info);
    info->abi = CN_ABI_VERSION;
    if (len >= SELFMAG && memcmp(bin, ELFMAG, SELFMAG) == 0) {
        info->elf = bin;
        info->elf_len = len;
        int r = check_elf(info);
        if (r != CN_MOD_OK)
            return r;
        return allow_unsig ? CN_MOD_OK : CN_MOD_UNSIGNED;
    }
    if (len < 8 || memcmp(bin, CN_MOD_MAGIC, 8) != 0)
        return CN_MOD_NOT_NATIVE;
    if (len < CN_MOD_HDR)
        return CN_MOD_TRUNCATED;
    unsigned format = get16(bin + 8);
    if (format != CN_MOD_FORMAT) {
        info->abi = format;
        return CN_MOD_FORMAT_VSN;
    }
    info->abi = get16(bin + 10);
    info->machine = get16(bin + 12);
    info->elf_class = bin[14];
    memcpy(info->key_id, bin + 16, CN_KEY_ID_LEN);
    info->is_signed = 1;
    uint64_t elf_len = get64(bin + 24);
    if (elf_len != len - CN_MOD_HDR || elf_len > CN_MOD_MAX)
        return CN_MOD_TRUNCATED;
    info->elf = bin + CN_MOD_HDR;
    info->elf_len = (size_t)elf_len;
    uint8_t pk[32];
    if (!key_trusted(info->key_id, pk))
        return CN_MOD_UNKNOWN_KEY;
    /* The signature covers the header's first 32 bytes and the object: verify it as one
     * message without copying the object. */
    crypto_sign_state st;
    crypto_sign_init(&st);
    crypto_sign_update(&st, bin, CN_MOD_SIGNED_HDR);
    crypto_sign_update(&st, info->elf, info->elf_len);
    if (crypto_sign_final_verify(&st, bin + CN_MOD_SIGNED_HDR, pk) != 0)
        return CN_MOD_BAD_SIG;
    /* Only now is the header's claim trustworthy; both it and the object must fit us. */
    if (info->machine != cn_mod_machine() || info->elf_class != cn_mod_class())
        return CN_MOD_WRONG_ARCH;
    if (info->abi != CN_ABI_VERSION)
        return CN_MOD_WRONG_ABI;
    return check_elf(info);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

void cn_mod_explain(int status, const cn_mod_info *info, char *out, size_t cap)
{
    char kid[2 * CN_KEY_ID_LEN + 1];
    hex(info->key_id, CN_KEY_ID_LEN, kid);
    switch (status) {
    case CN_MOD_OK:
        snprintf(out, cap, "ok");
        break;
    case CN_MOD_NOT_NATIVE:
        snprintf(out, cap,
                 "not a native module (no CNODEMOD header and not ELF; BEAM code "
                 "cannot run on a C node)");
        break;
    case CN_MOD_TRUNCATED:
        snprintf(out, cap, "truncated or inconsistent module container");
        break;
    case CN_MOD_FORMAT_VSN:
        snprintf(out, cap, "unknown container format %u (this node reads %d)", info->abi,
                 CN_MOD_FORMAT);
        break;
    case CN_MOD_UNSIGNED:
        snprintf(out, cap,
                 "unsigned shared object (sign it with `cnoded sign`, or start the "
                 "node with --allow-unsigned)");
        break;
    case CN_MOD_UNKNOWN_KEY:
        snprintf(out, cap, "signed with unknown key %s (trust it with --trust-key/--trust-dir)",
                 kid);
        break;
    case CN_MOD_BAD_SIG:
        snprintf(out, cap, "bad signature (key %s): the module was altered after signing", kid);
        break;
    case CN_MOD_WRONG_ARCH:
        snprintf(out, cap, "wrong architecture: built for %s/%u-bit, this node is %s/%u-bit",
                 cn_mod_machine_name(info->machine), info->elf_class == ELFCLASS64 ? 64 : 32,
                 cn_mod_machine_name(cn_mod_machine()), cn_mod_class() == ELFCLASS64 ? 64 : 32);
        break;
    case CN_MOD_WRONG_ABI:
        snprintf(out, cap, "built against ABI version %u, this node speaks %d", info->abi,
                 CN_ABI_VERSION);
        break;
    case CN_MOD_NOT_SHARED:
        snprintf(out, cap, "ELF object is not a shared object (build with -shared -fPIC)");
        break;
    default:
        snprintf(out, cap, "refused");
    }
}

void cn_key_id(const uint8_t pk[32], uint8_t id[CN_KEY_ID_LEN])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, 32, NULL, 0);
    memcpy(id, h, CN_KEY_ID_LEN);
}

uint8_t *cn_mod_sign(const uint8_t *elf, size_t len, const uint8_t sk[64], size_t *out_len)
{
    unsigned cls, machine, type;
    if (sodium_init() < 0 || len > CN_MOD_MAX || elf_peek(elf, len, &cls, &machine, &type) < 0 ||
        type != ET_DYN || machine != cn_mod_machine() || cls != cn_mod_class())
        return NULL;
    uint8_t *out = malloc(CN_MOD_HDR + len);
    if (!out)
        return NULL;
    memset(out, 0, CN_MOD_HDR);
    memcpy(out, CN_MOD_MAGIC, 8);
    put16(out + 8, CN_MOD_FORMAT);
    put16(out + 10, CN_ABI_VERSION);
    put16(out + 12, machine);
    out[14] = (uint8_t)cls;
    cn_key_id(sk + 32, out + 16); /* libsodium's secret key ends with the public key */
    put64(out + 24, len);
    memcpy(out + CN_MOD_HDR, elf, len);
    crypto_sign_state st;
    crypto_sign_init(&st);
    crypto_sign_update(&st, out, CN_MOD_SIGNED_HDR);
    crypto_sign_update(&st, elf, len);
    crypto_sign_final_create(&st, out + CN_MOD_SIGNED_HDR, NULL, sk);
    *out_len = CN_MOD_HDR + len;
    return out;
}

/* ---- key files ------------------------------------------------------------------------ */

static int write_file(const char *path, const void *data, size_t len, mode_t mode, int excl,
                      char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Read a whole file of at most max bytes (malloc'd, NUL-terminated for text use). */
static uint8_t *read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        snprintf(err, errlen, "%s: not a regular file of at most %zu bytes", path, max);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *b = malloc(n + 1);
    while (b && got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!b || got != n) {
        snprintf(err, errlen, "%s: %s", path, b ? "short read" : "out of memory");
        free(b);
        return NULL;
    }
    b[n] = 0;
    *len = n;
    return b;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d > 15)
                return -1;
            v = v << 4 | d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* "<tag><2n hex digits>" and an optional newline, nothing else. */
static int read_key(const char *path, const char *tag, uint8_t *out, size_t n, char *err,
                    size_t errlen)
{
    size_t len;
    uint8_t *b = read_file(path, 4096, &len, err, errlen);
    if (!b)
        return -1;
    const char *s = (const char *)b;
    size_t tl = strlen(tag);
    int ok = len >= tl + 2 * n && memcmp(s, tag, tl) == 0 && unhex(s + tl, out, n) == 0;
    if (ok) {
        const char *rest = s + tl + 2 * n;
        ok = !*rest || !strcmp(rest, "\n");
    }
    sodium_memzero(b, len);
    free(b);
    if (!ok)
        snprintf(err, errlen, "%s: not a %skey file", path, tag == PUB_TAG ? "public " : "secret ");
    return ok ? 0 : -1;
}

int cn_key_read_public(const char *path, uint8_t pk[32], char *err, size_t errlen)
{
    return read_key(path, PUB_TAG, pk, 32, err, errlen);
}

int cn_key_read_secret(const char *path, uint8_t sk[64], char *err, size_t errlen)
{
    return read_key(path, SEC_TAG, sk, 64, err, errlen);
}

int cn_keygen(const char *base, char *err, size_t errlen)
{
    uint8_t pk[32], sk[64];
    char line[sizeof SEC_TAG + 130], path[4096];
    if (sodium_init() < 0 || strlen(base) + 5 > sizeof path) {
        snprintf(err, errlen, "%s: cannot generate a key", base);
        return -1;
    }
    crypto_sign_keypair(pk, sk);
    snprintf(path, sizeof path, "%s.key", base);
    memcpy(line, SEC_TAG, sizeof SEC_TAG - 1);
    hex(sk, 64, line + sizeof SEC_TAG - 1);
    strcat(line, "\n");
    int r = write_file(path, line, strlen(line), 0600, 1, err, errlen);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(line, sizeof line);
    if (r < 0)
        return -1;
    snprintf(path, sizeof path, "%s.pub", base);
    memcpy(line, PUB_TAG, sizeof PUB_TAG - 1);
    hex(pk, 32, line + sizeof PUB_TAG - 1);
    strcat(line, "\n");
    return write_file(path, line, strlen(line), 0644, 1, err, errlen);
}

int cn_sign_file(const char *key, const char *in, const char *out, char *err, size_t errlen)
{
    uint8_t sk[64];
    if (sodium_init() < 0 || cn_key_read_secret(key, sk, err, errlen) < 0)
        return -1;
    size_t len, olen;
    uint8_t *elf = read_file(in, CN_MOD_MAX, &len, err, errlen);
    uint8_t *signed_mod = elf ? cn_mod_sign(elf, len, sk, &olen) : NULL;
    sodium_memzero(sk, sizeof sk);
    if (elf && !signed_mod)
        snprintf(err, errlen, "%s: not a shared object for %s/%u-bit", in,
                 cn_mod_machine_name(cn_mod_machine()), cn_mod_class() == ELFCLASS64 ? 64 : 32);
    int r = signed_mod ? write_file(out, signed_mod, olen, 0644, 0, err, errlen) : -1;
    free(elf);
    free(signed_mod);
    return r;
}

/* ---- trusted keys --------------------------------------------------------------------- */

int cn_trust_add(const uint8_t pk[32])
{
    int r = -1;
    pthread_mutex_lock(&tlock);
    for (size_t i = 0; i < ntrusted; i++)
        if (!memcmp(trusted[i], pk, 32))
            r = 0;
    if (r < 0 && ntrusted < MAX_TRUSTED) {
        memcpy(trusted[ntrusted++], pk, 32);
        r = 0;
    }
    pthread_mutex_unlock(&tlock);
    return r;
}

size_t cn_trust_count(void)
{
    pthread_mutex_lock(&tlock);
    size_t n = ntrusted;
    pthread_mutex_unlock(&tlock);
    return n;
}

void cn_trust_clear(void)
{
    pthread_mutex_lock(&tlock);
    ntrusted = 0;
    pthread_mutex_unlock(&tlock);
}

int cn_code_trust_key_file(const char *path, char *err, size_t errlen)
{
    uint8_t pk[32];
    if (sodium_init() < 0 || cn_key_read_public(path, pk, err, errlen) < 0)
        return -1;
    if (cn_trust_add(pk) < 0) {
        snprintf(err, errlen, "%s: too many trusted keys (at most %d)", path, MAX_TRUSTED);
        return -1;
    }
    return 0;
}

int cn_code_trust_dir(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || e->d_name[0] == '.' || strcmp(e->d_name + n - 4, ".pub") != 0)
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        r = cn_code_trust_key_file(path, err, errlen);
    }
    closedir(d);
    return r;
}

void cn_code_allow_unsigned(int on)
{
    pthread_mutex_lock(&tlock);
    allow_unsigned = on != 0;
    pthread_mutex_unlock(&tlock);
}

int cn_code_unsigned_allowed(void)
{
    pthread_mutex_lock(&tlock);
    int on = allow_unsigned;
    pthread_mutex_unlock(&tlock);
    return on;
}

/* check_code_sign: unit tests for the signed module container and key files (code/sign): a
 * signed object verifies; every altered, truncated, extended, foreign-key, foreign-arch, other-ABI
 * or unknown-format container is refused with its own reason; ELF headers must fit the object;
 * bare ELF only with unsigned loading on; key files round-trip and refuse garbage. */
#include "code/sign.h"

#include "cnode.h"

#include <check.h>
#include <elf.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"

static uint8_t pk[32], sk[64];

/* A stand-in ELF shared object for this machine: a header and some bytes. */
static uint8_t *fake_elf(size_t len, unsigned type, unsigned machine)
{
    uint8_t *e = calloc(1, len);
    memcpy(e, ELFMAG, SELFMAG);
    e[EI_CLASS] = (uint8_t)cn_mod_class();
    e[EI_DATA] = ELFDATA2LSB;
    e[EI_VERSION] = EV_CURRENT;
    e[16] = (uint8_t)type;
    e[18] = (uint8_t)machine;
    e[19] = (uint8_t)(machine >> 8);
    for (size_t i = 64; i < len; i++)
        e[i] = (uint8_t)(i * 7);
    return e;
}

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    crypto_sign_keypair(pk, sk);
    cn_trust_clear();
}

/* Re-sign a container whose header was edited, as a signer with the key would. */
static void resign(uint8_t *c, size_t len)
{
    crypto_sign_state st;
    crypto_sign_init(&st);
    crypto_sign_update(&st, c, CN_MOD_SIGNED_HDR);
    crypto_sign_update(&st, c + CN_MOD_HDR, len - CN_MOD_HDR);
    crypto_sign_final_create(&st, c + CN_MOD_SIGNED_HDR, NULL, sk);
}

START_TEST(signed_object_verifies)
{
    uint8_t *elf = fake_elf(4096, ET_DYN, cn_mod_machine());
    size_t n;
    uint8_t *c = cn_mod_sign(elf, 4096, sk, &n);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(n, CN_MOD_HDR + 4096);
    ck_assert_int_eq(memcmp(c, "CNODEMOD", 8), 0);
    ck_assert_uint_eq(c[8] | c[9] << 8, CN_MOD_FORMAT);
    ck_assert_uint_eq(c[10] | c[11] << 8, CN_ABI_VERSION);
    uint8_t id[CN_KEY_ID_LEN];
    cn_key_id(pk, id);
    ck_assert_int_eq(memcmp(c + 16, id, CN_KEY_ID_LEN), 0);

    cn_mod_info info;
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_UNKNOWN_KEY); /* nobody trusted */
    ck_assert_int_eq(cn_trust_add(pk), 0);
    ck_assert_int_eq(cn_trust_add(pk), 0); /* twice is once */
    ck_assert_uint_eq(cn_trust_count(), 1);
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_OK);
    ck_assert_int_eq(info.is_signed, 1);
    ck_assert_ptr_eq(info.elf, c + CN_MOD_HDR);
    ck_assert_uint_eq(info.elf_len, 4096);
    ck_assert_int_eq(memcmp(info.elf, elf, 4096), 0);
    free(c);
    free(elf);
}
END_TEST

START_TEST(any_changed_byte_is_refused)
{
    cn_trust_add(pk);
    uint8_t *elf = fake_elf(300, ET_DYN, cn_mod_machine());
    size_t n;
    uint8_t *c = cn_mod_sign(elf, 300, sk, &n);
    cn_mod_info info;
    for (size_t i = 0; i < n; i++) {
        c[i] ^= 0x20;
        int st = cn_mod_check(c, n, 0, &info);
        ck_assert_msg(st != CN_MOD_OK, "byte %zu changed and still accepted", i);
        if (i >= CN_MOD_SIGNED_HDR) /* signature and object: caught by the signature */
            ck_assert_int_eq(st, CN_MOD_BAD_SIG);
        c[i] ^= 0x20;
    }
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_OK);
    free(c);
    free(elf);
}
END_TEST

START_TEST(truncated_and_extended)
{
    cn_trust_add(pk);
    uint8_t *elf = fake_elf(200, ET_DYN, cn_mod_machine());
    size_t n;
    uint8_t *c = cn_mod_sign(elf, 200, sk, &n);
    cn_mod_info info;
    for (size_t len = 0; len < n; len++) {
        int st = cn_mod_check(c, len, 1, &info);
        ck_assert_msg(st == (len < 8 ? CN_MOD_NOT_NATIVE : CN_MOD_TRUNCATED),
                      "prefix of %zu bytes: status %d", len, st);
    }
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, c, n);
    longer[n] = 0;
    ck_assert_int_eq(cn_mod_check(longer, n + 1, 0, &info), CN_MOD_TRUNCATED);
    /* a hostile length field */
    memset(c + 24, 0xff, 8);
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_TRUNCATED);
    free(longer);
    free(c);
    free(elf);
}
END_TEST

START_TEST(foreign_key_arch_abi_format)
{
    uint8_t pk2[32], sk2[64];
    crypto_sign_keypair(pk2, sk2);
    cn_trust_add(pk2);
    uint8_t *elf = fake_elf(256, ET_DYN, cn_mod_machine());
    size_t n;
    uint8_t *c = cn_mod_sign(elf, 256, sk, &n);
    cn_mod_info info;
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_UNKNOWN_KEY);
    cn_trust_add(pk);

    unsigned other = cn_mod_machine() == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
    c[12] = (uint8_t)other; /* the signer claims another machine */
    c[13] = (uint8_t)(other >> 8);
    resign(c, n);
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_WRONG_ARCH);
    ck_assert_uint_eq(info.machine, other);
    char msg[300];
    cn_mod_explain(CN_MOD_WRONG_ARCH, &info, msg, sizeof msg);
    ck_assert_ptr_nonnull(strstr(msg, "wrong architecture"));

    c[12] = (uint8_t)cn_mod_machine();
    c[13] = (uint8_t)(cn_mod_machine() >> 8);
    c[10] = CN_ABI_VERSION + 1; /* built against another ABI */
    resign(c, n);
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_WRONG_ABI);
    cn_mod_explain(CN_MOD_WRONG_ABI, &info, msg, sizeof msg);
    ck_assert_ptr_nonnull(strstr(msg, "ABI version"));

    c[10] = CN_ABI_VERSION;
    c[8] = 2; /* a future container format */
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_FORMAT_VSN);
    free(c);
    free(elf);

    /* the header says this machine, the object inside is another's */
    uint8_t *foreign = fake_elf(256, ET_DYN, other);
    ck_assert_ptr_null(cn_mod_sign(foreign, 256, sk, &n)); /* sign refuses it */
    free(foreign);
}
END_TEST

START_TEST(bare_elf_and_other_bytes)
{
    cn_mod_info info;
    uint8_t *so = fake_elf(128, ET_DYN, cn_mod_machine());
    ck_assert_int_eq(cn_mod_check(so, 128, 0, &info), CN_MOD_UNSIGNED);
    ck_assert_int_eq(cn_mod_check(so, 128, 1, &info), CN_MOD_OK);
    ck_assert_int_eq(info.is_signed, 0);
    ck_assert_int_eq(cn_mod_check(so, 20, 1, &info), CN_MOD_NOT_NATIVE); /* a torn header */
    if (cn_mod_class() == ELFCLASS64) { /* long enough for ELF32's header, not for ELF64's */
        uint8_t *torn = malloc(60);
        memcpy(torn, so, 60);
        ck_assert_int_eq(cn_mod_check(torn, 60, 1, &info), CN_MOD_TRUNCATED);
        free(torn);
    }
    uint8_t *exe = fake_elf(128, ET_EXEC, cn_mod_machine());
    ck_assert_int_eq(cn_mod_check(exe, 128, 1, &info), CN_MOD_NOT_SHARED);
    size_t n;
    ck_assert_ptr_null(cn_mod_sign(exe, 128, sk, &n));
    const uint8_t beam[] = "FOR1\0\0\1\0BEAMAtU8";
    ck_assert_int_eq(cn_mod_check(beam, sizeof beam, 1, &info), CN_MOD_NOT_NATIVE);
    ck_assert_int_eq(cn_mod_check(beam, 0, 1, &info), CN_MOD_NOT_NATIVE);
    char msg[300];
    for (int st = CN_MOD_OK; st <= CN_MOD_NOT_SHARED; st++) {
        msg[0] = 0;
        cn_mod_explain(st, &info, msg, sizeof msg);
        ck_assert_uint_gt(strlen(msg), 1);
    }
    free(so);
    free(exe);
}
END_TEST

/* Program headers and segments must lie inside the object: the dynamic loader would map
 * what they say and fault on a truncated file. */
START_TEST(elf_headers_must_fit)
{
    cn_mod_info info;
    size_t len = 1024;
    uint8_t *e = fake_elf(len, ET_DYN, cn_mod_machine());
    if (cn_mod_class() != ELFCLASS64)
        return; /* the offsets below are ELF64's */
    Elf64_Ehdr *h = (Elf64_Ehdr *)e;
    h->e_ehsize = sizeof(Elf64_Ehdr);
    h->e_phoff = 64;
    h->e_phentsize = sizeof(Elf64_Phdr);
    h->e_phnum = 2;
    Elf64_Phdr *ph = (Elf64_Phdr *)(e + 64);
    memset(ph, 0, 2 * sizeof *ph);
    ph[0].p_type = PT_LOAD;
    ph[0].p_offset = 0;
    ph[0].p_filesz = 512;
    ph[1].p_type = PT_LOAD;
    ph[1].p_offset = 512;
    ph[1].p_filesz = 512; /* ends exactly at the end */
    ck_assert_int_eq(cn_mod_check(e, len, 1, &info), CN_MOD_OK);
    ck_assert_int_eq(cn_mod_check(e, len - 1, 1, &info), CN_MOD_TRUNCATED); /* cut by one */
    ph[1].p_offset = UINT64_MAX - 10;                                       /* wraps around */
    ck_assert_int_eq(cn_mod_check(e, len, 1, &info), CN_MOD_TRUNCATED);
    ph[1].p_offset = 512;
    h->e_phnum = 60000; /* more headers than bytes */
    ck_assert_int_eq(cn_mod_check(e, len, 1, &info), CN_MOD_TRUNCATED);
    h->e_phnum = 2;
    h->e_phentsize = 12; /* not an Elf64_Phdr */
    ck_assert_int_eq(cn_mod_check(e, len, 1, &info), CN_MOD_TRUNCATED);
    h->e_phentsize = sizeof(Elf64_Phdr);
    h->e_shoff = 1000;
    h->e_shentsize = sizeof(Elf64_Shdr);
    h->e_shnum = 1; /* a section header table past the end */
    ck_assert_int_eq(cn_mod_check(e, len, 1, &info), CN_MOD_TRUNCATED);
    h->e_shnum = 0;
    /* the same checks behind a valid signature */
    cn_trust_add(pk);
    size_t n;
    uint8_t *c = cn_mod_sign(e, len - 1, sk, &n);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(cn_mod_check(c, n, 0, &info), CN_MOD_TRUNCATED);
    free(c);
    free(e);
}
END_TEST

START_TEST(key_files)
{
    char dir[] = "/tmp/check_code_sign.XXXXXX", base[200], path[220], err[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(base, sizeof base, "%s/k", dir);
    ck_assert_int_eq(cn_keygen(base, err, sizeof err), 0);
    ck_assert_int_eq(cn_keygen(base, err, sizeof err), -1); /* never overwrites a key */
    uint8_t p[32], s[64];
    snprintf(path, sizeof path, "%s.pub", base);
    ck_assert_int_eq(cn_key_read_public(path, p, err, sizeof err), 0);
    ck_assert_int_eq(cn_key_read_secret(path, s, err, sizeof err), -1); /* wrong kind */
    snprintf(path, sizeof path, "%s.key", base);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 077, 0);
    ck_assert_int_eq(cn_key_read_secret(path, s, err, sizeof err), 0);
    ck_assert_int_eq(memcmp(s + 32, p, 32), 0);

    /* sign a file with it and trust the directory */
    char so[220], out[220];
    snprintf(so, sizeof so, "%s/m.so", dir);
    snprintf(out, sizeof out, "%s/m.cnm", dir);
    uint8_t *elf = fake_elf(512, ET_DYN, cn_mod_machine());
    FILE *f = fopen(so, "wb");
    fwrite(elf, 1, 512, f);
    fclose(f);
    ck_assert_int_eq(cn_sign_file(path, so, out, err, sizeof err), 0);
    ck_assert_int_eq(cn_sign_file(path, path, out, err, sizeof err), -1); /* not an object */
    ck_assert_int_eq(cn_code_trust_dir(dir, err, sizeof err), 0);
    ck_assert_uint_eq(cn_trust_count(), 1);
    f = fopen(out, "rb");
    uint8_t buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cn_mod_info info;
    ck_assert_int_eq(cn_mod_check(buf, n, 0, &info), CN_MOD_OK);

    /* garbage key files are refused with a message */
    const char *bad[] = {"", "cnode-ed25519-public 12\n", "cnode-ed25519-public zz",
                         "hello world\n"};
    snprintf(path, sizeof path, "%s/bad.pub", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        err[0] = 0;
        ck_assert_int_eq(cn_code_trust_key_file(path, err, sizeof err), -1);
        ck_assert_uint_gt(strlen(err), 0);
    }
    ck_assert_int_eq(cn_code_trust_key_file("/nonexistent/x.pub", err, sizeof err), -1);
    ck_assert_int_eq(cn_code_trust_dir("/nonexistent", err, sizeof err), -1);
    free(elf);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("code_sign");
    TCase *tc = tcase_create("sign");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, signed_object_verifies);
    tcase_add_test(tc, any_changed_byte_is_refused);
    tcase_add_test(tc, truncated_and_extended);
    tcase_add_test(tc, foreign_key_arch_abi_format);
    tcase_add_test(tc, bare_elf_and_other_bytes);
    tcase_add_test(tc, elf_headers_must_fit);
    tcase_add_test(tc, key_files);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}

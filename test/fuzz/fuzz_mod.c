/* fuzz_mod: what code:load_binary hands the node, before anything is mapped: the signed
 * container's header and the ELF headers and tables it checks (sign.c). Input: a flag byte
 * (bit 0: unsigned loading allowed), then the module's bytes. Every refusal is explained. */
#include "code/sign.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    uint8_t *bin = malloc(n); /* exact size */
    memcpy(bin, data + 1, n - 1);
    cn_mod_info info;
    int r = cn_mod_check(bin, n - 1, data[0] & 1, &info);
    if (r == CN_MOD_OK && (info.elf < bin || info.elf + info.elf_len > bin + n - 1))
        abort(); /* the object must lie inside what was given */
    char why[512];
    cn_mod_explain(r, &info, why, sizeof why);
    if (r != CN_MOD_OK && why[0] == '\0')
        abort();
    free(bin);
    return 0;
}

/* fuzz_epmd: epmd's answers as the client parses them (ALIVE2 and PORT2 responses), from
 * whatever answers on epmd's port. A parse that succeeds must have stayed inside the bytes. */
#include "epmd_client/epmd.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    uint8_t *p = malloc(n); /* exact size */
    memcpy(p, data + 1, n - 1);
    size_t len = n - 1;
    int r;
    if (data[0] & 1) {
        int result;
        uint32_t creation;
        r = cn_epmd_parse_alive2_resp(p, len, &result, &creation);
    } else {
        cn_epmd_port_info info;
        r = cn_epmd_parse_port2_resp(p, len, &info);
        if (r > 0 && (info.name[0] == '\0' || strlen(info.name) > 255))
            abort();
    }
    if (r > (int)len)
        abort(); /* consumed more than it was given */
    free(p);
    return 0;
}

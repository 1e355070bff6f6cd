/* fuzz_svc: the readers of what peers' OTP services send, on terms that passed rx's bounded
 * scan as every received term has: :global's casts and their parts (global_msg.c) and
 * cnode_sup's child specs (sup_spec.c). Input: a selector byte, then one term without 131. */
#include "dist/term.h"
#include "services/global_msg.h"
#include "services/sup_spec.h"

#include <ei.h>
#include <stdlib.h>
#include <string.h>

/* {Tag, ...} read as global.c does: arity, then past the tag; -1 if not a tuple. */
static int past_tag(const char *b, int *idx, int *ar)
{
    if (ei_decode_tuple_header(b, idx, ar) < 0 || *ar < 1)
        return -1;
    return ei_skip_term(b, idx);
}

static void run(unsigned sel, const char *b)
{
    int idx = 1, ar;
    char node[MAXATOMLEN_UTF8];
    long long tag;
    gm_list a = {0}, c = {0};
    const char *s1, *s2;
    int l1, l2;
    cn_pid pid;
    switch (sel % 9) {
    case 0: {
        gm_init_connect m;
        if (past_tag(b, &idx, &ar) == 0)
            (void)gm_read_init_connect(b, &idx, ar, &m);
        break;
    }
    case 1:
        if (past_tag(b, &idx, &ar) == 0)
            (void)gm_read_exchange(b, &idx, ar, node, &a, &tag);
        break;
    case 2:
        if (past_tag(b, &idx, &ar) == 0 && gm_read_resolved(b, &idx, ar, node, &a, &c, &tag) == 0)
            for (int k = 0; gm_list_at(&a, k) >= 0; k++) /* ops as global applies them */
                (void)gm_op(a.b, gm_list_at(&a, k), &l1, &s1, &l2, &pid, &s2, &l2);
        break;
    case 3:
        if (past_tag(b, &idx, &ar) == 0 &&
            gm_read_new_nodes(b, &idx, ar, node, &a, &c, &s1, &l1) == 0 && s1) {
            (void)gm_lock_id(s1, l1, &s1, &l1, &s2, &l2);
            for (int k = 0; gm_list_at(&c, k) >= 0; k++) {
                long vsn;
                (void)gm_node(c.b, gm_list_at(&c, k), node, &vsn);
            }
        }
        break;
    case 4: {
        long vsn;
        (void)gm_node(b, 1, node, &vsn);
        break;
    }
    case 5:
        (void)gm_name_entry(b, 1, &s1, &l1, &pid, &s2, &l2);
        break;
    case 6:
        (void)gm_op(b, 1, &l1, &s1, &l2, &pid, &s2, &l2);
        break;
    case 7:
        if (gm_list_take(b, &idx, &a) == 0) {
            ei_x_buff x;
            ei_x_new(&x);
            gm_list_encode(&x, &a);
            ei_x_free(&x);
        }
        break;
    default: {
        sup_spec sp;
        ei_x_buff err;
        ei_x_new(&err);
        if (sup_spec_parse(b, &idx, &sp, &err) == 0)
            sup_spec_free(&sp);
        ei_x_free(&err);
    }
    }
    gm_list_clear(&a);
    gm_list_clear(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 2)
        return 0;
    long len = cn_term_scan(data + 1, n - 1, NULL, NULL, NULL);
    if (len <= 0)
        return 0;                      /* rx would have refused it */
    char *b = malloc((size_t)len + 1); /* exact size */
    b[0] = (char)131;
    memcpy(b + 1, data + 1, (size_t)len);
    run(data[0], b);
    free(b);
    return 0;
}

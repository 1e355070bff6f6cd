/* extract_scan: the entity rules of workers/extractor.c's header, one matcher per kind. Each
 * matcher gets a position where a match may start and returns where the match ends, or 0.
 * Every look-ahead is bounded (by a fixed count, or by the match it then returns), so a long
 * run of digits, '@' or capitalised words costs a constant per byte. */
#include "extract_scan.h"

#include <string.h>

typedef struct doc {
    const unsigned char *d;
    size_t n;
} doc;

#define LOCAL_MAX 64   /* e-mail local part */
#define DOMAIN_MAX 253 /* e-mail domain */
#define AMOUNT_MAX 32  /* money amount */
#define PHONE_MAX 15   /* digits in a phone number */
#define PHONE_MIN 8

static const char *const months[12] = {"January",   "February", "March",    "April",
                                       "May",       "June",     "July",     "August",
                                       "September", "October",  "November", "December"};

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static int is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}
static int is_alpha(int c)
{
    return is_upper(c) || is_lower(c);
}
static int is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}
/* Bytes of a word: no match starts or ends inside one. UTF-8 bytes count, so that a match
 * never starts in the middle of a non-ASCII word either. */
static int is_word(int c)
{
    return is_alnum(c) || c == '_' || c >= 0x80;
}

/* The byte at i, or -1 past the end. */
static int at(const doc *s, size_t i)
{
    return i < s->n ? s->d[i] : -1;
}

/* May a match end just before i? */
static int ends(const doc *s, size_t i)
{
    return i >= s->n || !is_word(s->d[i]);
}

/* Up to max digits at i: how many, and their value in *v. */
static size_t num(const doc *s, size_t i, size_t max, int *v)
{
    size_t k = 0;
    *v = 0;
    while (k < max && is_digit(at(s, i + k))) {
        *v = *v * 10 + (s->d[i + k] - '0');
        k++;
    }
    return k;
}

static int is_month(const unsigned char *p, size_t len)
{
    for (int m = 0; m < 12; m++)
        if (strlen(months[m]) == len && memcmp(p, months[m], len) == 0)
            return 1;
    return 0;
}

/* A month name then one space at i (i <= n): the position after the space, or 0. */
static size_t month_sp(const doc *s, size_t i)
{
    for (int m = 0; m < 12; m++) {
        size_t len = strlen(months[m]);
        if (s->n - i > len && memcmp(s->d + i, months[m], len) == 0 && s->d[i + len] == ' ')
            return i + len + 1;
    }
    return 0;
}

static int url_byte(int c)
{
    return c > 0x20 && c != 0x7F && c != '<' && c != '>';
}
static int url_trail(int c)
{
    return c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == ')' ||
           c == '\'' || c == '"';
}

static size_t url(const doc *s, size_t i)
{
    size_t j;
    if (s->n - i >= 7 && memcmp(s->d + i, "http://", 7) == 0)
        j = i + 7;
    else if (s->n - i >= 8 && memcmp(s->d + i, "https://", 8) == 0)
        j = i + 8;
    else
        return 0;
    size_t k = j;
    while (k < s->n && url_byte(s->d[k]))
        k++;
    while (k > j && url_trail(s->d[k - 1]))
        k--;
    return k > j ? k : 0;
}

static int local_byte(int c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
static int domain_byte(int c)
{
    return is_alnum(c) || c == '.' || c == '-';
}

static size_t email(const doc *s, size_t i)
{
    if (!is_alnum(s->d[i]))
        return 0;
    size_t j = i;
    while (j < s->n && j - i <= LOCAL_MAX && local_byte(s->d[j]))
        j++;
    if (j - i > LOCAL_MAX || at(s, j) != '@')
        return 0;
    size_t b = j + 1, k = b;
    while (k < s->n && k - b <= DOMAIN_MAX && domain_byte(s->d[k]))
        k++;
    if (k - b > DOMAIN_MAX)
        return 0;
    while (k > b && (s->d[k - 1] == '.' || s->d[k - 1] == '-'))
        k--;
    /* labels: at least two, none empty, the last one letters only and at least two */
    size_t labels = 0, start = b, last = b;
    for (size_t p = b; p <= k; p++) {
        if (p < k && s->d[p] != '.')
            continue;
        if (p == start)
            return 0;
        labels++;
        last = start;
        start = p + 1;
    }
    if (labels < 2 || k - last < 2)
        return 0;
    for (size_t p = last; p < k; p++)
        if (!is_alpha(s->d[p]))
            return 0;
    return ends(s, k) ? k : 0;
}

/* An amount at j: digits, then ",ddd" groups (each followed by a non-digit), then '.' and
 * digits; taken greedily, refused when longer than AMOUNT_MAX. Its end, or 0. */
static size_t amount(const doc *s, size_t j)
{
    if (!is_digit(at(s, j)))
        return 0;
    size_t k = j;
    while (k - j <= AMOUNT_MAX && is_digit(at(s, k)))
        k++;
    while (k - j <= AMOUNT_MAX && at(s, k) == ',' && is_digit(at(s, k + 1)) &&
           is_digit(at(s, k + 2)) && is_digit(at(s, k + 3)) && !is_digit(at(s, k + 4)))
        k += 4;
    if (k - j <= AMOUNT_MAX && at(s, k) == '.' && is_digit(at(s, k + 1))) {
        k++;
        while (k - j <= AMOUNT_MAX && is_digit(at(s, k)))
            k++;
    }
    return k - j > AMOUNT_MAX ? 0 : k;
}

static size_t money(const doc *s, size_t i)
{
    int c = s->d[i];
    size_t j = 0, k;
    if (c == '$')
        j = i + 1;
    else if (c == 0xE2 && at(s, i + 1) == 0x82 && at(s, i + 2) == 0xAC) /* € */
        j = i + 3;
    else if (c == 0xC2 && at(s, i + 1) == 0xA3) /* £ */
        j = i + 2;
    if (j) {
        k = amount(s, j);
        return k && ends(s, k) ? k : 0;
    }
    k = amount(s, i);
    if (!k || at(s, k) != ' ' || s->n - (k + 1) < 3)
        return 0;
    const unsigned char *code = s->d + k + 1;
    if (memcmp(code, "USD", 3) != 0 && memcmp(code, "EUR", 3) != 0 && memcmp(code, "GBP", 3) != 0)
        return 0;
    return ends(s, k + 4) ? k + 4 : 0;
}

static size_t date(const doc *s, size_t i)
{
    int y, a, b;
    if (!is_digit(s->d[i])) { /* March 12, 2024 */
        size_t j = month_sp(s, i);
        if (!j)
            return 0;
        size_t k = j + num(s, j, 2, &a);
        if (k > j && a >= 1 && a <= 31 && at(s, k) == ',' && at(s, k + 1) == ' ' &&
            num(s, k + 2, 4, &y) == 4 && ends(s, k + 6))
            return k + 6;
        return 0;
    }
    /* 2024-03-12 */
    if (num(s, i, 4, &y) == 4 && at(s, i + 4) == '-' && num(s, i + 5, 2, &a) == 2 &&
        at(s, i + 7) == '-' && num(s, i + 8, 2, &b) == 2 && a >= 1 && a <= 12 && b >= 1 &&
        b <= 31 && ends(s, i + 10))
        return i + 10;
    size_t j = i + num(s, i, 2, &a);
    int sep = at(s, j);
    if (a < 1 || a > 31)
        return 0;
    if (sep == '/' || sep == '.' || sep == '-') { /* 12/3/2024, 12.03.2024, 12-3-2024 */
        size_t k = j + 1 + num(s, j + 1, 2, &b);
        if (k > j + 1 && b >= 1 && b <= 31 && at(s, k) == sep && num(s, k + 1, 4, &y) == 4 &&
            ends(s, k + 5))
            return k + 5;
    } else if (sep == ' ') { /* 12 March 2024 */
        size_t k = month_sp(s, j + 1);
        if (k && num(s, k, 4, &y) == 4 && ends(s, k + 4))
            return k + 4;
    }
    return 0;
}

static int phone_sep(int c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

static size_t phone(const doc *s, size_t i)
{
    size_t j = i, end = 0;
    int digits = 0, seps = 0;
    if (s->d[j] == '+')
        j++;
    if (!is_digit(at(s, j)) && at(s, j) != '(')
        return 0;
    for (; j < s->n; j++) {
        int c = s->d[j];
        if (is_digit(c)) {
            if (++digits > PHONE_MAX)
                return 0;
            seps = 0;
            end = j + 1;
        } else if (!phone_sep(c) || ++seps > 2) {
            break;
        }
    }
    return digits >= PHONE_MIN && ends(s, end) ? end : 0;
}

/* A capitalised word at i (an upper-case letter, then lower-case letters, not a month): its
 * end, or 0. */
static size_t cap_word(const doc *s, size_t i)
{
    if (!is_upper(at(s, i)))
        return 0;
    size_t k = i + 1;
    while (k < s->n && is_lower(s->d[k]))
        k++;
    if (k - i < 2 || !ends(s, k) || is_month(s->d + i, k - i))
        return 0;
    return k;
}

static size_t name(const doc *s, size_t i)
{
    size_t k = cap_word(s, i), next;
    int words = 1;
    if (!k)
        return 0;
    while (at(s, k) == ' ' && (next = cap_word(s, k + 1)) != 0) {
        k = next;
        words++;
    }
    return words >= 2 ? k : 0;
}

static size_t (*const matchers[EX_NKINDS])(const doc *, size_t) = {
    [EX_URL] = url,   [EX_EMAIL] = email, [EX_MONEY] = money,
    [EX_DATE] = date, [EX_PHONE] = phone, [EX_NAME] = name,
};

/* Can any kind start with byte c? (Each matcher would refuse the others at once.) */
static int may_start(int c)
{
    return is_alnum(c) || c == '$' || c == '+' || c == '(' || c == 0xE2 || c == 0xC2;
}

int ex_scan(const unsigned char *d, size_t n, ex_found_fn found, void *ctx)
{
    doc s = {d, n};
    size_t i = 0;
    while (i < n) {
        if (may_start(d[i]) && (i == 0 || !is_word(d[i - 1]))) {
            for (int kind = 0; kind < EX_NKINDS; kind++) {
                size_t end = matchers[kind](&s, i);
                if (end) {
                    int r = found(ctx, kind, i, end - i);
                    if (r)
                        return r;
                    i = end;
                    goto next;
                }
            }
        }
        i++;
    next:;
    }
    return 0;
}

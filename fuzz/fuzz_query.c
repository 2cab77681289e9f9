/*
 * fuzz_query.c - libFuzzer target for the read APIs' query-string parser: limits hold, and
 * parse → percent-encode → parse gives back exactly the same parameters.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/query.h"

static bool known_reason(const char *why)
{
    static const char *const reasons[] = {"incomplete percent escape", "bad percent escape",
                                          "control character",         "too long",
                                          "too many parameters",       "parameter given twice"};
    for (size_t i = 0; i < HV_ARRAY_LEN(reasons); i++)
        if (why && strcmp(why, reasons[i]) == 0)
            return true;
    return false;
}

/* Percent-encodes everything but unreserved characters; spaces become '+' to exercise it. */
static void encode(hv_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            hv_buf_putc(b, (char)*p);
        } else if (*p == ' ') {
            hv_buf_putc(b, '+');
        } else {
            hv_buf_putc(b, '%');
            hv_buf_putc(b, hex[*p >> 4]);
            hv_buf_putc(b, hex[*p & 15]);
        }
    }
}

static void check_params(const hv_query_t *q)
{
    FUZZ_ASSERT(q->n >= 0 && q->n <= HV_QUERY_MAX_PARAMS);
    for (int i = 0; i < q->n; i++) {
        size_t kn = strnlen(q->key[i], sizeof(q->key[i]));
        size_t vn = strnlen(q->value[i], sizeof(q->value[i]));
        FUZZ_ASSERT(kn <= HV_QUERY_MAX_KEY && vn <= HV_QUERY_MAX_VALUE);
        for (size_t k = 0; k < kn; k++)
            FUZZ_ASSERT((unsigned char)q->key[i][k] >= 0x20 && q->key[i][k] != 0x7F);
        for (size_t k = 0; k < vn; k++)
            FUZZ_ASSERT((unsigned char)q->value[i][k] >= 0x20 && q->value[i][k] != 0x7F);
        for (int j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(q->key[i], q->key[j]) != 0);
        /* lookup finds each parameter's own value */
        FUZZ_ASSERT(hv_query_get(q, q->key[i]) == q->value[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *qs = fuzz_dup_exact(data, size);
    static hv_query_t q, q2;
    const char *why = NULL;

    if (!hv_query_parse(qs, size, &q, &why)) {
        FUZZ_ASSERT(known_reason(why));
        free(qs);
        return 0;
    }
    check_params(&q);

    hv_buf_t b;
    hv_buf_init(&b);
    for (int i = 0; i < q.n; i++) {
        if (i)
            hv_buf_putc(&b, '&');
        encode(&b, q.key[i]);
        hv_buf_putc(&b, '=');
        encode(&b, q.value[i]);
    }
    char *again = fuzz_dup_exact(b.data ? b.data : "", b.len);
    why = NULL;
    FUZZ_ASSERT(hv_query_parse(again, b.len, &q2, &why));
    FUZZ_ASSERT(q2.n == q.n);
    for (int i = 0; i < q.n; i++)
        FUZZ_ASSERT(strcmp(q.key[i], q2.key[i]) == 0 && strcmp(q.value[i], q2.value[i]) == 0);
    free(again);
    hv_buf_free(&b);
    free(qs);
    return 0;
}

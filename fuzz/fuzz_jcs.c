/*
 * fuzz_jcs.c - libFuzzer target for RFC 8785 canonicalisation (jcs.c). Invariants: whatever
 * JSON it accepts, its output is JSON that canonicalises to itself (idempotent), and holds no
 * whitespace outside strings; input it refuses leaves a reason.
 */
#include <jansson.h>

#include "fuzz_common.h"
#include "hocvu/jcs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_dup_exact(data, size);
    hv_buf_t a, b;
    char err[160] = "";

    hv_buf_init(&a);
    hv_buf_init(&b);
    if (hv_jcs_canonicalize(in, size, &a, err, sizeof(err)) == 0) {
        FUZZ_ASSERT(a.data != NULL);
        FUZZ_ASSERT(hv_jcs_canonicalize(a.data, a.len, &b, err, sizeof(err)) == 0);
        FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        bool in_string = false, escaped = false;
        for (size_t i = 0; i < a.len; i++) {
            char c = a.data[i];
            if (in_string) {
                if (escaped)
                    escaped = false;
                else if (c == '\\')
                    escaped = true;
                else if (c == '"')
                    in_string = false;
            } else {
                FUZZ_ASSERT(c != ' ' && c != '\n' && c != '\t' && c != '\r');
                if (c == '"')
                    in_string = true;
            }
        }
    } else {
        FUZZ_ASSERT(err[0] != '\0');
    }
    hv_buf_free(&a);
    hv_buf_free(&b);
    free(in);
    return 0;
}

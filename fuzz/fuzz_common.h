/*
 * fuzz_common.h - shared helpers for the libFuzzer targets: the entry-point prototypes (the
 * build uses -Wmissing-prototypes) and an invariant check that aborts so libFuzzer saves the input.
 */
#ifndef HOCVU_FUZZ_COMMON_H
#define HOCVU_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a finding like a crash: abort() makes libFuzzer write crash-<sha1>. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A heap copy of exactly n bytes (plus nothing), so ASan flags any read past the input. The
 * caller frees. malloc(0) may return NULL, hence the 1-byte minimum with the size kept n. */
static inline char *fuzz_dup_exact(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* A NUL-terminated heap copy for APIs that take C strings (the string ends at the first NUL). */
static inline char *fuzz_dup_cstr(const void *p, size_t n)
{
    char *c = malloc(n + 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

/* Splits data at the first `sep` byte: *head gets data[0..i), the rest follows the separator.
 * Returns false (head = everything) when there is no separator. */
static inline int fuzz_split(const uint8_t **data, size_t *size, uint8_t sep, const uint8_t **head,
                             size_t *head_len)
{
    const uint8_t *p = memchr(*data, sep, *size);
    *head = *data;
    if (!p) {
        *head_len = *size;
        *data += *size;
        *size = 0;
        return 0;
    }
    *head_len = (size_t)(p - *data);
    *size -= *head_len + 1;
    *data = p + 1;
    return 1;
}

#endif

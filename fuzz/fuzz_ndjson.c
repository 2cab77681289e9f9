/*
 * fuzz_ndjson.c - libFuzzer target for the NDJSON batch splitter: the yielded lines, the skipped
 * blank lines and the separators rebuild the body exactly, numbered as the old inline loop did.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/ndjson.h"

/* The splitting loop formerly inline in the batch handler (now batch.c), kept as the reference for
 * "same semantics". It needs a NUL after the body (its strspn ran past the end otherwise). */
typedef struct ref_line {
    size_t off, n;
    long line_no;
} ref_line_t;

static size_t reference_split(const char *body, size_t len, ref_line_t *out)
{
    size_t off, k = 0;
    long line_no = 0;
    for (off = 0; off < len;) {
        const char *nl = memchr(body + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - body) : len, n = end - off;
        const char *line = body + off;
        line_no++;
        size_t start = off;
        off = end + 1;
        if (n && line[n - 1] == '\r')
            n--;
        if (strspn(line, " \t") >= n)
            continue;
        out[k].off = start;
        out[k].n = n;
        out[k].line_no = line_no;
        k++;
    }
    return k;
}

static bool only_blanks(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

/* Consumes one skipped physical line at *pos and appends it to the rebuild; it must be blank. */
static void consume_blank(const char *body, size_t len, size_t *pos, hv_buf_t *rebuilt)
{
    const char *nl = memchr(body + *pos, '\n', len - *pos);
    size_t end = nl ? (size_t)(nl - body) : len, n = end - *pos;
    size_t content = n && body[end - 1] == '\r' ? n - 1 : n;
    FUZZ_ASSERT(only_blanks(body + *pos, content));
    hv_buf_append(rebuilt, body + *pos, n + (nl != NULL));
    *pos = end + (nl != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzz_dup_exact(data, size);
    hv_ndjson_t it;
    const char *line;
    size_t n, pos = 0, k = 0;
    long line_no, prev = 0;
    hv_buf_t rebuilt;
    ref_line_t *ref = malloc((size + 1) * sizeof(*ref));
    char *terminated = fuzz_dup_cstr(data, size);
    size_t n_ref = reference_split(terminated, size, ref);

    FUZZ_ASSERT(ref != NULL);
    hv_buf_init(&rebuilt);
    hv_ndjson_init(&it, body, size);
    while (hv_ndjson_next(&it, &line, &n, &line_no)) {
        /* strictly increasing physical numbers, lines inside the body, never blank */
        FUZZ_ASSERT(line_no > prev);
        FUZZ_ASSERT(line >= body && (size_t)(line - body) + n <= size);
        FUZZ_ASSERT(memchr(line, '\n', n) == NULL);
        FUZZ_ASSERT(!only_blanks(line, n));
        for (long skipped = prev + 1; skipped < line_no; skipped++)
            consume_blank(body, size, &pos, &rebuilt);
        FUZZ_ASSERT(line == body + pos);
        hv_buf_append(&rebuilt, line, n);
        pos += n;
        /* the separator: end of body, "\n", or "\r\n" (the '\r' was dropped from the line) */
        if (pos < size && body[pos] == '\r') {
            FUZZ_ASSERT(pos + 1 == size || body[pos + 1] == '\n');
            hv_buf_putc(&rebuilt, '\r');
            pos++;
        }
        if (pos < size) {
            FUZZ_ASSERT(body[pos] == '\n');
            hv_buf_putc(&rebuilt, '\n');
            pos++;
        }
        /* same semantics as the old inline loop */
        FUZZ_ASSERT(k < n_ref && ref[k].off == (size_t)(line - body) && ref[k].n == n &&
                    ref[k].line_no == line_no);
        k++;
        prev = line_no;
    }
    FUZZ_ASSERT(k == n_ref);
    /* trailing blank lines, then the rebuild is the body byte for byte */
    long lines = prev;
    while (pos < size) {
        consume_blank(body, size, &pos, &rebuilt);
        lines++;
    }
    FUZZ_ASSERT(rebuilt.len == size && (size == 0 || memcmp(rebuilt.data, body, size) == 0));
    FUZZ_ASSERT(hv_ndjson_count_lines(body, size) == (size_t)lines);
    FUZZ_ASSERT(!hv_ndjson_next(&it, &line, &n, &line_no));

    hv_buf_free(&rebuilt);
    free(ref);
    free(terminated);
    free(body);
    return 0;
}

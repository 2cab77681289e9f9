/*
 * fuzz_csv.c - libFuzzer target for the operator-import CSV reader: header and record shape,
 * line numbers, and a quote-everything re-serialisation that reads back to the same records.
 */
#include <stdbool.h>
#include <strings.h>

#include "fuzz_common.h"
#include "hocvu/csv.h"

#define MAX_RECORDS 4096

/* Appends one field as an RFC 4180 quoted field. */
static void put_quoted(hv_buf_t *b, const char *s)
{
    hv_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            hv_buf_putc(b, '"');
        hv_buf_putc(b, *s);
    }
    hv_buf_putc(b, '"');
}

static void put_record(hv_buf_t *b, const hv_csv_t *c, size_t n, bool header)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            hv_buf_putc(b, ',');
        put_quoted(b, header ? c->header[i] : hv_csv_field(c, (int)i));
    }
    hv_buf_putc(b, '\n');
}

/* Reads data[0..size) completely; returns the canonical re-serialisation of what was read (the
 * caller frees) when the whole input was accepted, else NULL. */
static hv_buf_t *read_all(const char *data, size_t size, long physical_lines)
{
    hv_csv_t c;
    hv_buf_t *out = malloc(sizeof(*out));
    long prev_line = 0;
    int rc;

    FUZZ_ASSERT(out != NULL);
    hv_buf_init(out);
    hv_csv_init(&c, data, size);
    if (hv_csv_read_header(&c) != 0) {
        FUZZ_ASSERT(c.err_line >= 1 && c.err_line <= physical_lines + 1 && c.errstr[0]);
        goto failed;
    }
    FUZZ_ASSERT(c.nheader >= 1 && c.record_line >= 1);
    for (size_t i = 0; i < c.nheader; i++) {
        const char *h = c.header[i];
        size_t n = strlen(h);
        /* names are trimmed, non-empty and unique ignoring ASCII case */
        FUZZ_ASSERT(n > 0 && h[0] != ' ' && h[0] != '\t' && h[n - 1] != ' ' && h[n - 1] != '\t');
        FUZZ_ASSERT(hv_csv_column(&c, h) == (int)i);
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcasecmp(c.header[j], h) != 0);
    }
    /* A name no header has is -1 (the input may well hold this one: then it is found). */
    {
        static const char absent[] = "no such column, surely\x01";
        bool present = false;

        for (size_t i = 0; i < c.nheader; i++)
            present |= strcasecmp(c.header[i], absent) == 0;
        FUZZ_ASSERT(present || hv_csv_column(&c, absent) == -1);
        FUZZ_ASSERT(!present || hv_csv_column(&c, absent) >= 0);
    }
    put_record(out, &c, c.nheader, true);
    prev_line = c.record_line;
    for (int records = 0; (rc = hv_csv_next(&c)) == 1; records++) {
        FUZZ_ASSERT(records < MAX_RECORDS + (int)size);
        FUZZ_ASSERT(c.nfields == c.nheader);
        /* records start on strictly later physical lines, within the input */
        FUZZ_ASSERT(c.record_line > prev_line && c.record_line <= physical_lines);
        prev_line = c.record_line;
        FUZZ_ASSERT(hv_csv_field(&c, -1)[0] == '\0' && hv_csv_field(&c, (int)c.nfields)[0] == '\0');
        put_record(out, &c, c.nfields, false);
    }
    if (rc < 0) {
        FUZZ_ASSERT(c.err_line >= prev_line && c.err_line <= physical_lines + 1 && c.errstr[0]);
        goto failed;
    }
    FUZZ_ASSERT(rc == 0);
    /* end of input is sticky */
    FUZZ_ASSERT(hv_csv_next(&c) == 0);
    hv_csv_free(&c);
    hv_csv_free(&c);
    return out;

failed:
    hv_csv_free(&c);
    hv_csv_free(&c);
    hv_buf_free(out);
    free(out);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_dup_exact(data, size);
    long lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += in[i] == '\n';

    hv_buf_t *canon = read_all(in, size, lines);
    if (canon) {
        /* the canonical form reads back to itself: same header, same fields, same count */
        char *again = fuzz_dup_exact(canon->data, canon->len);
        long lines2 = 1;
        for (size_t i = 0; i < canon->len; i++)
            lines2 += again[i] == '\n';
        hv_buf_t *canon2 = read_all(again, canon->len, lines2);
        FUZZ_ASSERT(canon2 != NULL);
        FUZZ_ASSERT(canon2->len == canon->len &&
                    memcmp(canon2->data, canon->data, canon->len) == 0);
        hv_buf_free(canon2);
        free(canon2);
        free(again);
        hv_buf_free(canon);
        free(canon);
    }
    free(in);
    return 0;
}

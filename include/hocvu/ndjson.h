/*
 * ndjson.h - splits an NDJSON batch body into its event lines: physical line numbers, "\r\n" or
 * "\n" ends, blank lines skipped. Pure (no allocation, no I/O) so it can be fuzzed on its own.
 */
#ifndef HOCVU_NDJSON_H
#define HOCVU_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "hocvu/util.h"

/* Cursor over a borrowed body; the body need not be NUL-terminated and must outlive it. */
typedef struct hv_ndjson {
    const char *data; /* borrowed */
    size_t len;
    size_t off;   /* start of the next unread physical line */
    long line_no; /* physical line number of the last line consumed (0 before the first) */
} hv_ndjson_t;

/* Starts splitting data[0..len). Never fails; len 0 yields no lines. */
void hv_ndjson_init(hv_ndjson_t *it, const char *data, size_t len);

/* Advances to the next line that carries content. Returns true with *line (borrowed from the
 * body), *n (without the '\n' and without one '\r' just before it) and *line_no (1-based
 * physical line number, counting the skipped blank ones); false when the body is exhausted.
 * A line holding only spaces and tabs (after that '\r' is dropped) is blank and skipped. A last
 * line without a final '\n' is still a line. Bytes are never read outside data[0..len). */
HV_MUST_CHECK bool hv_ndjson_next(hv_ndjson_t *it, const char **line, size_t *n, long *line_no);

/* Physical lines in data[0..len), blank ones included: the number of '\n' plus one if the last
 * byte is not '\n' (0 for an empty body). This is what the 10,000-line batch limit counts. */
size_t hv_ndjson_count_lines(const char *data, size_t len);

#endif

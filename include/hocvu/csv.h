/*
 * csv.h - a small strict RFC 4180 CSV reader over an in-memory buffer, with header-driven column
 * lookup and the 1-based physical line number of every record, for operator imports.
 */
#ifndef HOCVU_CSV_H
#define HOCVU_CSV_H

#include <stddef.h>

#include "hocvu/util.h"

/*
 * Reader state. Accepts quoted fields with "" escapes and embedded commas and line breaks, CRLF
 * or LF line ends, and an optional UTF-8 byte order mark. Strict: an unterminated quote, a quote
 * inside an unquoted field, text after a closing quote, a bare CR, a NUL byte, or a record whose
 * field count differs from the header's is an error with its line (err_line, errstr). Blank lines
 * are skipped. All strings handed out are owned by the reader and stay valid until the next
 * hv_csv_next() or hv_csv_free(); the input buffer is borrowed and must outlive the reader.
 */
typedef struct hv_csv {
    const char *pos; /* borrowed: next unread byte */
    const char *end;
    long line;        /* physical line of *pos */
    long record_line; /* physical line the current record (or header) starts on */
    size_t nheader;
    char **header; /* owned, trimmed column names */
    size_t nfields;
    size_t *offsets; /* field i is fields.data + offsets[i], NUL-terminated */
    size_t offsets_cap;
    hv_buf_t fields;
    long err_line;    /* set when a call returns -1: the physical line at fault */
    char errstr[200]; /* and the reason, e.g. "unterminated quoted field (opened on line 4)" */
} hv_csv_t;

/* Starts reading data[0..len); data is borrowed. Never fails. */
void hv_csv_init(hv_csv_t *c, const char *data, size_t len);
/* Releases everything the reader owns. Safe to call twice. */
void hv_csv_free(hv_csv_t *c);

/* Reads the header record. Returns 0, or -1 with errstr set (empty input, empty or duplicate
 * column name, syntax error). Must be called once before hv_csv_next(). */
HV_MUST_CHECK int hv_csv_read_header(hv_csv_t *c);
/* Index of the column whose header equals name (ASCII case-insensitive, surrounding spaces
 * ignored), or -1 if there is none. */
int hv_csv_column(const hv_csv_t *c, const char *name);
/* Reads the next record. Returns 1 when a record was read, 0 at end of input, -1 on error with
 * errstr set. After 1, hv_csv_field() and record_line describe the record. */
HV_MUST_CHECK int hv_csv_next(hv_csv_t *c);
/* Field col of the current record (borrowed, NUL-terminated), or "" if col is out of range. */
const char *hv_csv_field(const hv_csv_t *c, int col);

#endif

/*
 * csv.c - strict RFC 4180 CSV reader: quoted fields, "" escapes, embedded line breaks, CRLF or
 * LF, optional BOM; every record carries the physical line it starts on for error messages.
 */
#include "hocvu/csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void hv_csv_init(hv_csv_t *c, const char *data, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->pos = data;
    c->end = data + len;
    c->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        c->pos += 3;
    hv_buf_init(&c->fields);
}

void hv_csv_free(hv_csv_t *c)
{
    for (size_t i = 0; i < c->nheader; i++)
        free(c->header[i]);
    free(c->header);
    c->header = NULL;
    c->nheader = 0;
    free(c->offsets);
    c->offsets = NULL;
    c->offsets_cap = 0;
    c->nfields = 0;
    hv_buf_free(&c->fields);
}

/* Records a syntax or shape error at `line`; always returns -1 so callers can `return fail()`. */
static int csv_fail(hv_csv_t *c, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int csv_fail(hv_csv_t *c, long line, const char *fmt, ...)
{
    va_list ap;

    c->err_line = line;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    return -1;
}

/* Opens a new (empty) field at the end of the field buffer. */
static void start_field(hv_csv_t *c)
{
    if (c->nfields == c->offsets_cap) {
        c->offsets_cap = c->offsets_cap ? 2 * c->offsets_cap : 16;
        c->offsets = hv_xrealloc(c->offsets, c->offsets_cap * sizeof(*c->offsets));
    }
    c->offsets[c->nfields++] = c->fields.len;
}

/*
 * Parses one record into fields/offsets. Returns 1 when a record was read, 0 at end of input
 * (only blank lines were left) and -1 on a syntax error with err_line/errstr set.
 */
static int parse_record(hv_csv_t *c)
{
    /* Blank lines (LF or CRLF alone) carry no record. */
    while (c->pos < c->end &&
           (*c->pos == '\n' || (*c->pos == '\r' && c->pos + 1 < c->end && c->pos[1] == '\n'))) {
        c->pos += *c->pos == '\r' ? 2 : 1;
        c->line++;
    }
    if (c->pos == c->end)
        return 0;

    c->record_line = c->line;
    c->nfields = 0;
    hv_buf_reset(&c->fields);
    for (;;) {
        start_field(c);
        if (c->pos < c->end && *c->pos == '"') {
            long open_line = c->line;

            c->pos++;
            for (;;) {
                if (c->pos == c->end)
                    return csv_fail(c, open_line, "unterminated quoted field");
                char ch = *c->pos;
                if (ch == '"') {
                    if (c->pos + 1 < c->end && c->pos[1] == '"') {
                        hv_buf_putc(&c->fields, '"');
                        c->pos += 2;
                        continue;
                    }
                    c->pos++;
                    break;
                }
                if (ch == '\0')
                    return csv_fail(c, c->line, "unexpected nul byte");
                if (ch == '\n')
                    c->line++;
                hv_buf_putc(&c->fields, ch);
                c->pos++;
            }
            if (c->pos < c->end && *c->pos != ',' && *c->pos != '\r' && *c->pos != '\n')
                return csv_fail(c, c->line, "unexpected character after closing quote");
        } else {
            while (c->pos < c->end && *c->pos != ',' && *c->pos != '\n' && *c->pos != '\r') {
                if (*c->pos == '"')
                    return csv_fail(c, c->line, "quote inside unquoted field");
                if (*c->pos == '\0')
                    return csv_fail(c, c->line, "unexpected nul byte");
                hv_buf_putc(&c->fields, *c->pos);
                c->pos++;
            }
        }
        hv_buf_putc(&c->fields, '\0');

        if (c->pos == c->end)
            return 1;
        if (*c->pos == ',') {
            c->pos++;
            continue;
        }
        if (*c->pos == '\r') {
            if (c->pos + 1 == c->end || c->pos[1] != '\n')
                return csv_fail(c, c->line, "carriage return not followed by line feed");
            c->pos++;
        }
        c->pos++; /* the line feed */
        c->line++;
        return 1;
    }
}

/* Returns a new copy of s without surrounding ASCII spaces and tabs. */
static char *dup_trimmed(const char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return hv_xstrndup(s, n);
}

int hv_csv_read_header(hv_csv_t *c)
{
    int rc = parse_record(c);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return csv_fail(c, c->line, "empty file, expected a header line");
    c->header = hv_xcalloc(c->nfields, sizeof(*c->header));
    for (size_t i = 0; i < c->nfields; i++) {
        char *name = dup_trimmed(c->fields.data + c->offsets[i]);

        c->header[c->nheader++] = name;
        if (name[0] == '\0')
            return csv_fail(c, c->record_line, "empty column name in header (column %zu)", i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(c->header[j], name) == 0)
                return csv_fail(c, c->record_line, "duplicate column name in header (column %s)",
                                name);
    }
    c->nfields = 0;
    return 0;
}

int hv_csv_column(const hv_csv_t *c, const char *name)
{
    for (size_t i = 0; i < c->nheader; i++)
        if (strcasecmp(c->header[i], name) == 0)
            return (int)i;
    return -1;
}

int hv_csv_next(hv_csv_t *c)
{
    int rc = parse_record(c);

    if (rc <= 0)
        return rc;
    if (c->nfields != c->nheader)
        return csv_fail(c, c->record_line, "expected %zu fields as in the header, found %zu",
                        c->nheader, c->nfields);
    return 1;
}

const char *hv_csv_field(const hv_csv_t *c, int col)
{
    if (col < 0 || (size_t)col >= c->nfields)
        return "";
    return c->fields.data + c->offsets[col];
}

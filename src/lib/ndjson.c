/*
 * ndjson.c - the NDJSON batch splitter: walks a body line by line with memchr, never past its
 * length (a request body from libevent is not NUL-terminated), and skips blank lines.
 */
#include "hocvu/ndjson.h"

#include <string.h>

void hv_ndjson_init(hv_ndjson_t *it, const char *data, size_t len)
{
    it->data = data;
    it->len = data ? len : 0;
    it->off = 0;
    it->line_no = 0;
}

/* Spaces and tabs only; bounded by n, unlike strspn, which would run past the end of a body whose
 * last line is blank and has no '\n'. */
static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

bool hv_ndjson_next(hv_ndjson_t *it, const char **line, size_t *n, long *line_no)
{
    while (it->off < it->len) {
        const char *start = it->data + it->off;
        size_t rest = it->len - it->off;
        const char *nl = memchr(start, '\n', rest);
        size_t len = nl ? (size_t)(nl - start) : rest;

        it->off += nl ? len + 1 : len;
        it->line_no++;
        if (len > 0 && start[len - 1] == '\r')
            len--;
        if (blank(start, len))
            continue;
        *line = start;
        *n = len;
        *line_no = it->line_no;
        return true;
    }
    return false;
}

size_t hv_ndjson_count_lines(const char *data, size_t len)
{
    size_t lines = 0;
    const char *p = data, *end = data + len;

    if (len == 0)
        return 0;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        lines++;
        p++;
    }
    return lines + (data[len - 1] != '\n');
}

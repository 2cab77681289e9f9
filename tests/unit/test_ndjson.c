/*
 * test_ndjson.c - table-driven tests of the NDJSON batch splitter: input body → the lines it
 * yields with their physical numbers, and the physical line count the batch limit uses.
 */
#include <stdlib.h>

#include "check.h"
#include "hocvu/ndjson.h"

#define MAX_LINES 6

/* Lengths come from sizeof so bodies and lines may hold NUL bytes. */
#define BODY(s) (s), sizeof(s) - 1
#define LINE(no, s) (no), (s), sizeof(s) - 1

typedef struct ndjson_case {
    const char *body;
    size_t len;
    size_t count; /* hv_ndjson_count_lines */
    int n;        /* lines yielded */
    struct {
        long line_no;
        const char *text;
        size_t tlen;
    } want[MAX_LINES];
} ndjson_case_t;

static const ndjson_case_t cases[] = {
    {BODY(""), 0, 0, {{0, NULL, 0}}},
    {BODY("{}"), 1, 1, {{LINE(1, "{}")}}},
    {BODY("{}\n"), 1, 1, {{LINE(1, "{}")}}},
    {BODY("a\nb\nc"), 3, 3, {{LINE(1, "a")}, {LINE(2, "b")}, {LINE(3, "c")}}},
    {BODY("a\r\nb\r\n"), 2, 2, {{LINE(1, "a")}, {LINE(2, "b")}}},
    /* blank lines (empty, spaces/tabs, a lone CR) are skipped but still numbered */
    {BODY("\n\na\n \t \n\r\nb"), 6, 2, {{LINE(3, "a")}, {LINE(6, "b")}}},
    {BODY("\n"), 1, 0, {{0, NULL, 0}}},
    {BODY("\n\n\n"), 3, 0, {{0, NULL, 0}}},
    {BODY("a\n   "), 2, 1, {{LINE(1, "a")}}},
    {BODY("a\n \t\r"), 2, 1, {{LINE(1, "a")}}},
    /* only one CR before the LF is part of the line end; others stay in the line */
    {BODY("a\r\r\n"), 1, 1, {{LINE(1, "a\r")}}},
    {BODY(" \r \n"), 1, 1, {{LINE(1, " \r ")}}},
    {BODY("\r"), 1, 0, {{0, NULL, 0}}},
    /* blanks around content are kept: the JSON parser judges them */
    {BODY("  {} \n"), 1, 1, {{LINE(1, "  {} ")}}},
    /* a NUL byte is content, not a terminator */
    {BODY(" \0 \n"), 1, 1, {{LINE(1, " \0 ")}}},
    {BODY("x\0"), 1, 1, {{LINE(1, "x\0")}}},
};

/* Runs one case over a heap copy of exactly len bytes, so ASan would flag any read past the end
 * (the regression: a trailing blank line without '\n' made strspn read beyond the body). */
static void run_case(size_t idx, const ndjson_case_t *c)
{
    size_t len = c->len;
    char *copy = malloc(len ? len : 1);
    hv_ndjson_t it;
    const char *line;
    size_t n;
    long ln;
    int got = 0;

    memcpy(copy, c->body, len);
    CHECK_MSG(hv_ndjson_count_lines(copy, len) == c->count, "case %zu: count %zu", idx,
              hv_ndjson_count_lines(copy, len));
    hv_ndjson_init(&it, copy, len);
    while (hv_ndjson_next(&it, &line, &n, &ln)) {
        if (got >= c->n) {
            CHECK_MSG(got < c->n, "case %zu: extra line %ld", idx, ln);
            break;
        }
        size_t wn = c->want[got].tlen;
        CHECK_MSG(ln == c->want[got].line_no, "case %zu: line %d numbered %ld", idx, got, ln);
        CHECK_MSG(n == wn && memcmp(line, c->want[got].text, n) == 0, "case %zu: line %d text", idx,
                  got);
        CHECK(line >= copy && line + n <= copy + len);
        got++;
    }
    CHECK_MSG(got == c->n, "case %zu: %d lines", idx, got);
    /* the cursor stays exhausted */
    CHECK(!hv_ndjson_next(&it, &line, &n, &ln));
    free(copy);
}

int main(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++)
        run_case(i, &cases[i]);

    hv_ndjson_t it;
    const char *line;
    size_t n;
    long ln;

    /* NULL body with length is treated as empty */
    hv_ndjson_init(&it, NULL, 5);
    CHECK(!hv_ndjson_next(&it, &line, &n, &ln));
    CHECK(hv_ndjson_count_lines(NULL, 0) == 0);

    /* 10,001 physical lines, all blank but the last: the count sees them all */
    size_t big = 10001;
    char *body = malloc(big + 1);
    memset(body, '\n', big);
    body[big - 1] = 'x';
    CHECK(hv_ndjson_count_lines(body, big) == big);
    hv_ndjson_init(&it, body, big);
    CHECK(hv_ndjson_next(&it, &line, &n, &ln) && ln == (long)big && n == 1);
    free(body);
    CHECK_DONE();
}

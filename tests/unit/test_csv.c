/*
 * test_csv.c - table-driven tests of the CSV reader: each case is an input and either the
 * expected records (with their line numbers) or the expected error line and reason.
 */
#include <stdlib.h>

#include "check.h"
#include "hocvu/csv.h"

typedef struct csv_case {
    const char *name;
    const char *input;
    size_t len;         /* 0 = strlen(input) */
    const char *expect; /* records as "LINE:[f1][f2];..." (header included), or NULL on error */
    long err_line;      /* when expect is NULL */
    const char *err_substr;
} csv_case_t;

static const csv_case_t cases[] = {
    {"simple LF", "a,b\n1,2\n3,4\n", 0, "1:[a][b];2:[1][2];3:[3][4];", 0, NULL},
    {"CRLF", "a,b\r\n1,2\r\n3,4\r\n", 0, "1:[a][b];2:[1][2];3:[3][4];", 0, NULL},
    {"no final newline", "a,b\n1,2", 0, "1:[a][b];2:[1][2];", 0, NULL},
    {"BOM",
     "\xEF\xBB\xBF"
     "code,name\n31135,x\n",
     0, "1:[code][name];2:[31135][x];", 0, NULL},
    {"empty fields", "a,b,c\n,,\n1,,3\n", 0, "1:[a][b][c];2:[][][];3:[1][][3];", 0, NULL},
    {"trailing comma is an empty field", "a,b\n1,\n", 0, "1:[a][b];2:[1][];", 0, NULL},
    {"quoted comma", "a,b\n\"x,y\",2\n", 0, "1:[a][b];2:[x,y][2];", 0, NULL},
    {"doubled quote", "a,b\n\"say \"\"hi\"\"\",2\n", 0, "1:[a][b];2:[say \"hi\"][2];", 0, NULL},
    {"empty quoted", "a,b\n\"\",\"\"\n", 0, "1:[a][b];2:[][];", 0, NULL},
    {"embedded LF moves the line", "a,b\n\"x\ny\",2\n3,4\n", 0, "1:[a][b];2:[x\ny][2];4:[3][4];", 0,
     NULL},
    {"embedded CRLF kept", "a,b\r\n\"x\r\ny\",2\r\n3,4\r\n", 0, "1:[a][b];2:[x\r\ny][2];4:[3][4];",
     0, NULL},
    {"blank lines skipped", "a,b\n\n1,2\n\r\n3,4\n\n", 0, "1:[a][b];3:[1][2];5:[3][4];", 0, NULL},
    {"utf-8 kept", "name\nPhường Ninh Kiều\n", 0, "1:[name];2:[Phường Ninh Kiều];", 0, NULL},
    {"spaces kept in fields", "a\n  x  \n", 0, "1:[a];2:[  x  ];", 0, NULL},
    {"quoted last field at EOF", "a\n\"x\"", 0, "1:[a];2:[x];", 0, NULL},

    {"empty input", "", 0, NULL, 1, "empty file"},
    {"only BOM", "\xEF\xBB\xBF", 0, NULL, 1, "empty file"},
    {"too few fields", "a,b,c\n1,2,3\n4,5\n", 0, NULL, 3, "expected 3 fields"},
    {"too many fields", "a,b\n1,2\n3,4,5\n", 0, NULL, 3, "found 3"},
    {"unterminated quote", "a,b\n1,2\n\"open,2\n3,4\n", 0, NULL, 3, "unterminated quoted"},
    {"stray quote in unquoted field", "a,b\n1,2\nab\"c,2\n", 0, NULL, 3, "quote inside unquoted"},
    {"text after closing quote", "a,b\n\"x\"y,2\n", 0, NULL, 2, "after closing quote"},
    {"bare CR", "a,b\r1,2\n", 0, NULL, 1, "carriage return"},
    {"nul byte", "a,b\n1,\0\n", 7, NULL, 2, "nul byte"},
    {"duplicate header", "a,B,b\n", 0, NULL, 1, "duplicate column name"},
    {"empty header name", "a,,c\n", 0, NULL, 1, "empty column name"},
    {"error line after multi-line field", "a,b\n\"x\ny\",2\n1,2,3\n", 0, NULL, 4, "expected 2"},
};

/* Reads the whole input and renders it as "LINE:[f]...;" per record into out, or returns -1
 * with the reader's error. */
static int render(const csv_case_t *tc, hv_buf_t *out, long *err_line, char *errstr, size_t n)
{
    int rc = -1, r;
    hv_csv_t csv;

    hv_csv_init(&csv, tc->input, tc->len ? tc->len : strlen(tc->input));
    if (hv_csv_read_header(&csv) < 0)
        goto failed;
    hv_buf_printf(out, "%ld:", csv.record_line);
    for (size_t i = 0; i < csv.nheader; i++)
        hv_buf_printf(out, "[%s]", csv.header[i]);
    hv_buf_putc(out, ';');
    while ((r = hv_csv_next(&csv)) == 1) {
        hv_buf_printf(out, "%ld:", csv.record_line);
        for (size_t i = 0; i < csv.nfields; i++)
            hv_buf_printf(out, "[%s]", hv_csv_field(&csv, (int)i));
        hv_buf_putc(out, ';');
    }
    if (r < 0)
        goto failed;
    rc = 0;
failed:
    if (rc < 0) {
        *err_line = csv.err_line;
        snprintf(errstr, n, "%s", csv.errstr);
    }
    hv_csv_free(&csv);
    return rc;
}

static void test_table(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        const csv_case_t *tc = &cases[i];
        hv_buf_t out;
        long err_line = 0;
        char errstr[256] = "";
        int rc;

        hv_buf_init(&out);
        rc = render(tc, &out, &err_line, errstr, sizeof(errstr));
        if (tc->expect) {
            CHECK_MSG(rc == 0, "%s: unexpected error at line %ld: %s", tc->name, err_line, errstr);
            if (rc == 0)
                CHECK_MSG(strcmp(out.data, tc->expect) == 0, "%s: got %s, want %s", tc->name,
                          out.data, tc->expect);
        } else {
            CHECK_MSG(rc < 0, "%s: expected an error, got %s", tc->name, out.data);
            CHECK_MSG(err_line == tc->err_line, "%s: error line %ld, want %ld (%s)", tc->name,
                      err_line, tc->err_line, errstr);
            CHECK_MSG(strstr(errstr, tc->err_substr) != NULL, "%s: error \"%s\" lacks \"%s\"",
                      tc->name, errstr, tc->err_substr);
        }
        hv_buf_free(&out);
    }
}

static void test_columns(void)
{
    const char *in = "code, Name ,type\n31135,x,phuong\n";
    hv_csv_t csv;

    hv_csv_init(&csv, in, strlen(in));
    CHECK(hv_csv_read_header(&csv) == 0);
    CHECK(hv_csv_column(&csv, "code") == 0);
    CHECK(hv_csv_column(&csv, "name") == 1); /* trimmed, case-insensitive */
    CHECK(hv_csv_column(&csv, "TYPE") == 2);
    CHECK(hv_csv_column(&csv, "population") == -1);
    CHECK(hv_csv_next(&csv) == 1);
    CHECK_STR(hv_csv_field(&csv, 2), "phuong");
    CHECK_STR(hv_csv_field(&csv, -1), "");
    CHECK_STR(hv_csv_field(&csv, 3), "");
    CHECK(hv_csv_next(&csv) == 0);
    CHECK(hv_csv_next(&csv) == 0);
    hv_csv_free(&csv);
    hv_csv_free(&csv);
}

/* The shipped data files parse with the expected record counts. */
static void test_data_files(void)
{
    static const struct {
        const char *path;
        size_t records;
    } files[] = {
        {"data/cantho_wards_2025.csv", 103},
        {"data/cantho_old_units_pre2025.csv", 263},
        {"data/cccd_province_codes.csv", 63},
    };

    for (size_t i = 0; i < HV_ARRAY_LEN(files); i++) {
        FILE *f = fopen(files[i].path, "rb");
        hv_buf_t b;
        char chunk[4096];
        size_t n, records = 0;
        int r;
        hv_csv_t csv;

        CHECK_MSG(f != NULL, "cannot open %s (run from the source tree)", files[i].path);
        if (f == NULL)
            continue;
        hv_buf_init(&b);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            hv_buf_append(&b, chunk, n);
        fclose(f);
        hv_csv_init(&csv, b.data, b.len);
        CHECK(hv_csv_read_header(&csv) == 0);
        while ((r = hv_csv_next(&csv)) == 1)
            records++;
        CHECK_MSG(r == 0, "%s:%ld: %s", files[i].path, csv.err_line, csv.errstr);
        CHECK_MSG(records == files[i].records, "%s: %zu records, want %zu", files[i].path, records,
                  files[i].records);
        hv_csv_free(&csv);
        hv_buf_free(&b);
    }
}

int main(void)
{
    test_table();
    test_columns();
    test_data_files();
    CHECK_DONE();
}

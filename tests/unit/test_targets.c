/*
 * test_targets.c - the targets file of `hocvuctl targets import` (CONTRACT §9): good rows, every
 * bad row reported with its line, the effective target in exact decimal.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hocvu/targets.h"
#include "hocvu/util.h"

static int parse(const char *csv, hv_target_row_t **rows, size_t *n, hv_errlist_t *e)
{
    memset(e, 0, sizeof(*e));
    return hv_targets_parse("t.csv", csv, strlen(csv), rows, n, e);
}

static bool has_error(const hv_errlist_t *e, const char *want)
{
    for (size_t i = 0; i < e->n; i++)
        if (strstr(e->items[i].msg, want))
            return true;
    return false;
}

static void test_good(void)
{
    hv_target_row_t *rows;
    size_t n;
    hv_errlist_t e;
    const char *csv = "year,scope,group,target,percent,base,measure\n"
                      "2025,city,all,996000,,,\n"
                      "2026,city,all,,80,1200000,\n"
                      "2026,31135,all,5000,,,adults\n"
                      "2026,city,student,20000,,,all\n"
                      "2026,cohort:SO-GD_01,all,,100,,\n"
                      "2026,cohort:X.Y,official,,12.5,333,all\n";

    CHECK(parse(csv, &rows, &n, &e) == 0 && e.total == 0 && n == 6);
    CHECK(rows[0].year == 2025 && strcmp(rows[0].scope, "city") == 0 && rows[0].target == 996000);
    CHECK(strcmp(rows[0].measure, "adults") == 0 && strcmp(rows[0].grp, "all") == 0);
    CHECK(rows[1].target == -1 && strcmp(rows[1].percent, "80") == 0 && rows[1].base == 1200000);
    CHECK(hv_target_effective(&rows[1]) == 960000);
    CHECK(strcmp(rows[2].scope, "31135") == 0 && rows[2].line == 4);
    CHECK(strcmp(rows[3].measure, "all") == 0);
    CHECK(strcmp(rows[4].measure, "all") == 0 && hv_target_effective(&rows[4]) == -1);
    /* ceil(12.5 % of 333) = ceil(41.625) = 42 */
    CHECK(hv_target_effective(&rows[5]) == 42);
    free(rows);

    /* Exact decimal: 80 % of 1,234,567 = 987,653.6 -> 987,654; 33.333333 % of 3 = 0.99999999
     * -> 1; 100 % of 7 = 7; 0 % = 0. */
    hv_target_row_t r = {.target = -1, .base = 1234567};
    strcpy(r.percent, "80");
    CHECK(hv_target_effective(&r) == 987654);
    strcpy(r.percent, "33.333333");
    r.base = 3;
    CHECK(hv_target_effective(&r) == 1);
    strcpy(r.percent, "100.0");
    r.base = 7;
    CHECK(hv_target_effective(&r) == 7);
    strcpy(r.percent, "0");
    CHECK(hv_target_effective(&r) == 0);

    /* Only a target column; quoted fields and CRLF. */
    CHECK(parse("year,scope,group,target\r\n\"2026\",city,all,\"10\"\r\n", &rows, &n, &e) == 0 &&
          n == 1 && rows[0].target == 10);
    free(rows);
}

static void test_bad(void)
{
    hv_target_row_t *rows;
    size_t n;
    hv_errlist_t e;
    const char *csv = "year,scope,group,target,percent,base,measure\n"
                      "2026,city,all,10,,,\n"           /* 2: fine */
                      "26,city,all,10,,,\n"             /* 3: year */
                      "2026,town,all,10,,,\n"           /* 4: scope */
                      "2026,city,farmers,10,,,\n"       /* 5: group */
                      "2026,city,all,10,50,100,\n"      /* 6: both */
                      "2026,city,all,,,,\n"             /* 7: neither */
                      "2026,city,all,-5,,,\n"           /* 8: negative */
                      "2026,city,all,,101,10,\n"        /* 9: over 100 */
                      "2026,city,official,,50,,\n"      /* 10: percent without base */
                      "2026,cohort:A,all,,50,,adults\n" /* 11: cohort measure adults */
                      "2026,city,all,12,,,\n"           /* 12: duplicate of 2 */
                      "2026,cohort:bad code,all,1,,,\n" /* 13: cohort code */
                      "2026,city,all,1,,,everyone\n"    /* 14: measure */
                      "2026,city,all,,1.1234567,10,\n"  /* 15: too many decimals */
                      "2026,city,all,,100.5,10,\n";     /* 16: over 100 */

    CHECK(parse(csv, &rows, &n, &e) == -1);
    CHECK(n == 1 && rows[0].line == 2); /* the row that passed is still given */
    free(rows);
    CHECK_MSG(e.total == 14, "%zu errors", e.total);
    CHECK(has_error(&e, "t.csv:3: year must be"));
    CHECK(has_error(&e, "t.csv:4: scope must be"));
    CHECK(has_error(&e, "t.csv:5: group must be"));
    CHECK(has_error(&e, "t.csv:6: exactly one of target and percent"));
    CHECK(has_error(&e, "t.csv:7: exactly one of target and percent"));
    CHECK(has_error(&e, "t.csv:8: target must be"));
    CHECK(has_error(&e, "t.csv:9: percent must be"));
    CHECK(has_error(&e, "t.csv:10: a percent for a ward or the city needs a base"));
    CHECK(has_error(&e, "t.csv:11: a cohort target counts members of any age"));
    CHECK(has_error(&e, "t.csv:12: duplicate target for 2026 city all adults, first on line 2"));
    CHECK(has_error(&e, "t.csv:13: scope must be"));
    CHECK(has_error(&e, "t.csv:14: measure must be"));
    CHECK(has_error(&e, "t.csv:15: percent must be"));
    CHECK(has_error(&e, "t.csv:16: percent must be"));
    hv_errlist_free(&e);

    /* Missing columns are reported at once, on the header line. */
    CHECK(parse("year,scope,target\n2026,city,1\n", &rows, &n, &e) == -1);
    CHECK(e.total == 1 && has_error(&e, "t.csv:1: required column group is missing"));
    CHECK(rows == NULL && n == 0);
    hv_errlist_free(&e);
    CHECK(parse("year,scope,group,base\n2026,city,all,1\n", &rows, &n, &e) == -1);
    CHECK(has_error(&e, "a target or a percent column is required"));
    hv_errlist_free(&e);
    CHECK(parse("year,scope,group,target\n", &rows, &n, &e) == -1);
    CHECK(has_error(&e, "no records after the header"));
    hv_errlist_free(&e);

    /* More than 50 bad rows: 50 kept, all counted. */
    hv_buf_t b;
    hv_buf_init(&b);
    hv_buf_puts(&b, "year,scope,group,target\n");
    for (int i = 0; i < 70; i++)
        hv_buf_puts(&b, "1999,city,all,1\n");
    CHECK(hv_targets_parse("t.csv", b.data, b.len, &rows, &n, &e) == -1);
    CHECK(e.n == HV_ERRLIST_MAX && e.total == 70);
    free(rows);
    hv_errlist_free(&e);
    hv_buf_free(&b);
}

int main(void)
{
    test_good();
    test_bad();
    CHECK_DONE();
}

/*
 * targets.c - the targets file (see targets.h): strict per-row checks, every bad row reported.
 */
#include "hocvu/targets.h"

#include <stdlib.h>
#include <string.h>

#include "hocvu/csv.h"
#include "hocvu/event.h"
#include "hocvu/util.h"

#define PERCENT_DECIMALS 6 /* digits after the point a share may have */

/* A share: digits, optionally '.' and 1..PERCENT_DECIMALS digits, at most 100. */
static bool percent_ok(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    size_t ip = dot ? (size_t)(dot - s) : n, fp = dot ? n - ip - 1 : 0;

    if (!hv_all_digits(s, ip) || ip > 3 || (dot && (fp == 0 || fp > PERCENT_DECIMALS)) ||
        (dot && !hv_all_digits(dot + 1, fp)))
        return false;
    long whole = strtol(s, NULL, 10);
    if (whole > 100)
        return false;
    if (whole == 100 && dot)
        for (size_t i = 0; i < fp; i++)
            if (dot[1 + i] != '0')
                return false;
    return true;
}

static const char *const GROUPS[] = {"all", "citizen", "official", "student", "worker"};

int64_t hv_target_effective(const hv_target_row_t *row)
{
    if (row->target >= 0)
        return row->target;
    if (row->base < 0)
        return -1;
    /* percent = P / 10^k exactly; ceil(P x base / (100 x 10^k)) in 128-bit integers. */
    unsigned __int128 p = 0, scale = 100;
    const char *s = row->percent;
    bool frac = false;
    for (; *s; s++) {
        if (*s == '.') {
            frac = true;
            continue;
        }
        p = p * 10 + (unsigned)(*s - '0');
        if (frac)
            scale *= 10;
    }
    unsigned __int128 num = p * (unsigned __int128)row->base;
    return (int64_t)((num + scale - 1) / scale);
}

/* One field of the current record, trimmed; "" when the file lacks the column. */
static const char *field(const hv_csv_t *csv, int col, size_t *n)
{
    if (col < 0) {
        *n = 0;
        return "";
    }
    return hv_trim(hv_csv_field(csv, col), n);
}

int hv_targets_parse(const char *path, const char *data, size_t len, hv_target_row_t **rows_out,
                     size_t *n_out, hv_errlist_t *errs)
{
    hv_csv_t csv;
    hv_target_row_t *rows = NULL;
    size_t n = 0, cap = 0, bad_before = errs->total;
    int r;
    int c_year, c_scope, c_group, c_target, c_percent, c_base, c_measure;

    *rows_out = NULL;
    *n_out = 0;
    hv_csv_init(&csv, data, len);
    if (hv_csv_read_header(&csv) < 0) {
        hv_errlist_add(errs, path, csv.err_line, "%s", csv.errstr);
        goto done;
    }
    c_year = hv_csv_column(&csv, "year");
    c_scope = hv_csv_column(&csv, "scope");
    c_group = hv_csv_column(&csv, "group");
    c_target = hv_csv_column(&csv, "target");
    c_percent = hv_csv_column(&csv, "percent");
    c_base = hv_csv_column(&csv, "base");
    c_measure = hv_csv_column(&csv, "measure");
    {
        const char *need[] = {"year", "scope", "group"};
        int have[] = {c_year, c_scope, c_group};
        for (int k = 0; k < 3; k++)
            if (have[k] < 0)
                hv_errlist_add(errs, path, 1, "required column %s is missing", need[k]);
        if (c_target < 0 && c_percent < 0)
            hv_errlist_add(errs, path, 1, "a target or a percent column is required");
        if (errs->total > bad_before)
            goto done;
    }
    while ((r = hv_csv_next(&csv)) == 1) {
        long line = csv.record_line;
        hv_target_row_t row = {.line = line, .target = -1, .base = -1};
        size_t bad = errs->total, fl;
        const char *f;

        f = field(&csv, c_year, &fl);
        if (!hv_all_digits(f, fl) || fl != 4 || atoi(f) < HV_TARGET_YEAR_MIN ||
            atoi(f) > HV_TARGET_YEAR_MAX)
            hv_errlist_add(errs, path, line, "year must be a year from %d to %d, got \"%.*s\"",
                           HV_TARGET_YEAR_MIN, HV_TARGET_YEAR_MAX, (int)(fl > 40 ? 40 : fl), f);
        else
            row.year = atoi(f);

        f = field(&csv, c_scope, &fl);
        if ((fl == 4 && memcmp(f, "city", 4) == 0) || (fl == 5 && hv_all_digits(f, 5)) ||
            (fl > 7 && memcmp(f, "cohort:", 7) == 0 && hv_cohort_code_valid(f + 7, fl - 7)))
            memcpy(row.scope, f, fl);
        else
            hv_errlist_add(errs, path, line,
                           "scope must be city, a 5-digit ward code or cohort:CODE, got \"%.*s\"",
                           (int)(fl > 80 ? 80 : fl), f);
        bool cohort = strncmp(row.scope, "cohort:", 7) == 0;

        f = field(&csv, c_group, &fl);
        for (size_t g = 0; g < sizeof(GROUPS) / sizeof(GROUPS[0]); g++)
            if (fl == strlen(GROUPS[g]) && memcmp(f, GROUPS[g], fl) == 0)
                memcpy(row.grp, f, fl);
        if (!row.grp[0])
            hv_errlist_add(errs, path, line,
                           "group must be all, citizen, official, student or worker, got \"%.*s\"",
                           (int)(fl > 40 ? 40 : fl), f);

        f = field(&csv, c_measure, &fl);
        if (fl == 0)
            strcpy(row.measure, cohort ? "all" : "adults");
        else if ((fl == 6 && memcmp(f, "adults", 6) == 0) || (fl == 3 && memcmp(f, "all", 3) == 0))
            memcpy(row.measure, f, fl);
        else
            hv_errlist_add(errs, path, line, "measure must be adults or all, got \"%.*s\"",
                           (int)(fl > 40 ? 40 : fl), f);
        if (cohort && strcmp(row.measure, "adults") == 0)
            hv_errlist_add(errs, path, line,
                           "a cohort target counts members of any age: measure must be all");

        size_t tl, pl, bl;
        const char *t = field(&csv, c_target, &tl), *p = field(&csv, c_percent, &pl),
                   *b = field(&csv, c_base, &bl);
        if ((tl > 0) == (pl > 0)) {
            hv_errlist_add(errs, path, line, "exactly one of target and percent must be given");
        } else if (tl > 0) {
            if (!hv_all_digits(t, tl) || tl > 15)
                hv_errlist_add(errs, path, line,
                               "target must be a non-negative integer, got \"%.*s\"",
                               (int)(tl > 40 ? 40 : tl), t);
            else
                row.target = strtoll(t, NULL, 10);
        } else if (!percent_ok(p, pl)) {
            hv_errlist_add(errs, path, line,
                           "percent must be a number from 0 to 100 (at most %d decimals), got "
                           "\"%.*s\"",
                           PERCENT_DECIMALS, (int)(pl > 40 ? 40 : pl), p);
        } else {
            memcpy(row.percent, p, pl);
        }
        if (bl > 0) {
            if (!hv_all_digits(b, bl) || bl > 15)
                hv_errlist_add(errs, path, line,
                               "base must be a non-negative integer, got \"%.*s\"",
                               (int)(bl > 40 ? 40 : bl), b);
            else
                row.base = strtoll(b, NULL, 10);
        } else if (pl > 0 && !cohort && row.scope[0]) {
            hv_errlist_add(errs, path, line,
                           "a percent for a ward or the city needs a base (the count it applies "
                           "to)");
        }

        if (errs->total == bad) {
            for (size_t i = 0; i < n; i++)
                if (rows[i].year == row.year && strcmp(rows[i].scope, row.scope) == 0 &&
                    strcmp(rows[i].grp, row.grp) == 0 &&
                    strcmp(rows[i].measure, row.measure) == 0) {
                    hv_errlist_add(errs, path, line,
                                   "duplicate target for %d %s %s %s, first on line %ld", row.year,
                                   row.scope, row.grp, row.measure, rows[i].line);
                    break;
                }
        }
        if (errs->total == bad) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                rows = hv_xrealloc(rows, cap * sizeof(*rows));
            }
            rows[n++] = row;
        }
    }
    if (r < 0)
        hv_errlist_add(errs, path, csv.err_line, "%s", csv.errstr);
    else if (n == 0 && errs->total == bad_before)
        hv_errlist_add(errs, path, csv.line, "no records after the header");
done:
    hv_csv_free(&csv);
    *rows_out = rows;
    *n_out = n;
    return errs->total > bad_before ? -1 : 0;
}

/*
 * wards.c - loads the benchmark's ward mix (codes weighted by population) from the wards CSV,
 * with the same CSV reader hocvuctl uses.
 */
#include "wards.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/csv.h"
#include "hocvu/util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_wards_load(bench_wards_t *t, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "rb");
    hv_buf_t data;
    hv_csv_t csv;
    char chunk[65536];
    size_t got;
    int rc = -1, r;
    double *pop = NULL, *good = NULL;
    int cap = 0, ngood = 0;

    hv_buf_init(&data);
    if (!f) {
        snprintf(err, errlen, "could not open %s: %s", file, strerror(errno));
        return -1;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        hv_buf_append(&data, chunk, got);
    fclose(f);
    hv_csv_init(&csv, data.data ? data.data : "", data.len);
    if (hv_csv_read_header(&csv) < 0) {
        snprintf(err, errlen, "%s:%ld: %s", file, csv.err_line, csv.errstr);
        goto failed;
    }
    int c_code = hv_csv_column(&csv, "code");
    int c_pop = hv_csv_column(&csv, "population");
    int c_flag = hv_csv_column(&csv, "population_flag");
    if (c_code < 0) {
        snprintf(err, errlen, "%s: no column named code", file);
        goto failed;
    }
    t->n = 0;
    while ((r = hv_csv_next(&csv)) == 1) {
        const char *code = hv_csv_field(&csv, c_code);
        if (strlen(code) != 5 || strspn(code, "0123456789") != 5) {
            snprintf(err, errlen, "%s:%ld: code must be 5 digits", file, csv.record_line);
            goto failed;
        }
        if (t->n == cap) {
            cap = cap ? cap * 2 : 128;
            t->code = hv_xrealloc(t->code, (size_t)cap * sizeof(*t->code));
            pop = hv_xrealloc(pop, (size_t)cap * sizeof(*pop));
        }
        snprintf(t->code[t->n], sizeof(t->code[0]), "%s", code);
        double p = -1;
        if (c_pop >= 0 && (c_flag < 0 || hv_csv_field(&csv, c_flag)[0] == '\0')) {
            char *end;
            const char *s = hv_csv_field(&csv, c_pop);
            p = strtod(s, &end);
            if (end == s || *end != '\0' || !(p > 0))
                p = -1;
        }
        pop[t->n++] = p;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s:%ld: %s", file, csv.err_line, csv.errstr);
        goto failed;
    }
    if (t->n == 0) {
        snprintf(err, errlen, "%s: no wards", file);
        goto failed;
    }
    good = hv_xcalloc((size_t)t->n, sizeof(*good));
    for (int i = 0; i < t->n; i++)
        if (pop[i] > 0)
            good[ngood++] = pop[i];
    qsort(good, (size_t)ngood, sizeof(*good), cmp_double);
    double median = ngood ? good[ngood / 2] : 1.0;
    double sum = 0;
    t->cum = hv_xcalloc((size_t)t->n, sizeof(*t->cum));
    t->n_flagged = 0;
    for (int i = 0; i < t->n; i++) {
        if (pop[i] <= 0) {
            pop[i] = median;
            t->n_flagged++;
        }
        sum += pop[i];
        t->cum[i] = sum;
    }
    snprintf(t->source, sizeof(t->source), "%s", file);
    rc = 0;

failed:
    if (rc < 0) {
        free(t->code);
        t->code = NULL;
        t->n = 0;
    }
    free(pop);
    free(good);
    hv_csv_free(&csv);
    hv_buf_free(&data);
    return rc;
}

void bench_wards_free(bench_wards_t *t)
{
    free(t->code);
    free(t->cum);
    t->code = NULL;
    t->cum = NULL;
    t->n = 0;
}

int bench_pick_cum(const double *cum, int n, double u)
{
    double x = u * cum[n - 1];
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

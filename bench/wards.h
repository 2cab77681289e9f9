/*
 * wards.h - the ward mix of the benchmark tools: ward codes weighted by population, loaded from
 * the same CSV as hocvuctl wards import. Shared by hocvu-bench and dbceiling.
 */
#ifndef HOCVU_BENCH_WARDS_H
#define HOCVU_BENCH_WARDS_H

#include <stddef.h>

/* Weighted ward codes; immutable once loaded and shared by all threads. */
typedef struct bench_wards {
    int n;
    char (*code)[8]; /* owned */
    double *cum;     /* owned; cumulative weights, cum[n-1] = total */
    char source[300];
    int n_flagged; /* rows whose population was flagged or missing: weighted by the median */
} bench_wards_t;

/* Loads ward codes weighted by population from a CSV with columns code and (optionally)
 * population, population_flag. A flagged, missing or non-positive population is replaced by the
 * median of the good ones. Returns 0, or -1 with a message in err. Free with
 * bench_wards_free(). */
int bench_wards_load(bench_wards_t *t, const char *file, char *err, size_t errlen);
void bench_wards_free(bench_wards_t *t);

/* Index of the weight interval that u (in [0, 1)) falls in, given n cumulative weights: a
 * weighted pick (of a ward, a province, ...). */
int bench_pick_cum(const double *cum, int n, double u);

#endif

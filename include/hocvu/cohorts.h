/*
 * cohorts.h - the cohort read model (CONTRACT §11): an immutable, reference-counted set of the
 * imported cohorts with their members, their certified members per group and attribution day,
 * and for every campaign year (as of its 31 December; the current year as of now) each
 * cohort's certified count, by_group, target, percent, reached_on and rank within its kind.
 * Built from rows by a pure function; snapstore.c loads and publishes it.
 */
#ifndef HOCVU_COHORTS_H
#define HOCVU_COHORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/cohortfile.h"
#include "hocvu/event.h"

/* One imported cohort as read (cohorts and cohort_sizes). */
typedef struct hv_cohort_row {
    char code[HV_COHORT_CODE_MAX + 1];
    char *name; /* owned; the set takes it */
    char kind[12];
    char ward[8]; /* "" = none */
    int64_t members;
} hv_cohort_row_t;

/* Certified members of a cohort by group and attribution day (cohort_counts, summed). */
typedef struct hv_cohort_count {
    char code[HV_COHORT_CODE_MAX + 1];
    int grp; /* 1..4 */
    int32_t day;
    int64_t certified;
} hv_cohort_count_t;

/* The effective target of a cohort in a year (scope cohort:CODE, group all, measure all). */
typedef struct hv_cohort_target {
    int year;
    char code[HV_COHORT_CODE_MAX + 1];
    int64_t value;
} hv_cohort_target_t;

typedef struct hv_cohort_point {
    int32_t day;
    int grp;
    int64_t certified;
} hv_cohort_point_t;

/* A cohort in one year's view. */
typedef struct hv_cohort_stat {
    int64_t certified;
    int64_t by_group[5]; /* index = hv_group_t */
    int64_t target;      /* -1 = none */
    int64_t pct100;      /* hundredths; against the target, else the members; -1 = none */
    int32_t reached_on;  /* HV_NO_DAY = none */
    int rank;            /* within the kind */
} hv_cohort_stat_t;

typedef struct hv_cohort {
    char code[HV_COHORT_CODE_MAX + 1];
    char *name; /* owned */
    char kind[12];
    char ward[8];
    int64_t members;
    hv_cohort_point_t *points; /* owned, by day */
    size_t n_points;
    hv_cohort_stat_t *years; /* owned: years[y - first_year] */
} hv_cohort_t;

typedef struct hv_cohortset {
    int refs;           /* atomic */
    hv_cohort_t *items; /* owned, by code (byte order) */
    size_t n;
    size_t **order; /* owned: per year, indices in list order (kind, rank, code) */
    int first_year, current_year;
    int64_t as_of; /* Unix seconds when the figures were last seen to change */
} hv_cohortset_t;

/* Builds a set with one reference. Takes ownership of every rows[i].name; counts and targets
 * are borrowed and need no order. */
hv_cohortset_t *hv_cohortset_build(hv_cohort_row_t *rows, size_t n_rows,
                                   const hv_cohort_count_t *counts, size_t n_counts,
                                   const hv_cohort_target_t *targets, size_t n_targets,
                                   int current_year, int64_t as_of);
void hv_cohortset_retain(hv_cohortset_t *s);
void hv_cohortset_release(hv_cohortset_t *s);

/* The cohort with this code, or NULL. */
const hv_cohort_t *hv_cohortset_find(const hv_cohortset_t *s, const char *code);
/* Index of a year's stats; -1 when out of range. */
int hv_cohortset_year_index(const hv_cohortset_t *s, int year);

#endif

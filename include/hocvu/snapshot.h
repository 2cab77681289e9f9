/*
 * snapshot.h - the read model: an immutable, reference-counted snapshot of the ward table, the
 * counter rows (certified persons per ward, group and attribution day), the targets of §9, and
 * one view per campaign year (the counts as of that year's end, its targets, ranks and
 * reached_on), with each year's two hot documents pre-rendered (render.h). Views as of any
 * other day are built on request (hv_view_build). Built from rows by pure functions; the store
 * that refreshes and publishes snapshots is snapstore.h.
 *
 * As of a day D (CONTRACT §9): a person counts if the attribution day of their earliest active
 * certificate is <= D. Counter rows are kept per attribution day, and revocations have already
 * moved or removed the people they concern, so "as of D" is the sum of the rows up to D.
 */
#ifndef HOCVU_SNAPSHOT_H
#define HOCVU_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"
#include "hocvu/ward.h"

#define HV_FIRST_YEAR 2025 /* the campaign's first year: reads before it are refused */
#define HV_NO_DAY INT32_MIN

/* A rendered document with its strong ETag. */
typedef struct hv_doc {
    char *body; /* owned, NUL-terminated */
    size_t len;
    char etag[24]; /* "\"…\"" */
} hv_doc_t;

/* Newly certified adults on one Vietnam-time day. */
typedef struct hv_day_point {
    int32_t day; /* days since 1970-01-01 */
    int64_t adults;
} hv_day_point_t;

/* One counter row as fetched: certified persons of a ward, group (1-4) and attribution day. */
typedef struct hv_count_row {
    char ward[8];
    int grp;
    int32_t day;
    int64_t adults, total;
} hv_count_row_t;

/* One target of §9 (the hv_targets view). */
typedef struct hv_target {
    int year;
    char scope[72]; /* "city", a ward code or "cohort:CODE" */
    int grp;        /* 0 = all groups, else hv_group_t */
    bool all_ages;  /* measure "all" (certified persons of any age), else "adults" */
    int64_t value;  /* the effective target; -1 = a share of a cohort's members (read time) */
} hv_target_t;

/* One ward in one view. */
typedef struct hv_ward_stats {
    const hv_ward_t *ward; /* borrowed from the snapshot's ward table */
    int64_t adults, total;
    int64_t group_adults[5]; /* index = hv_group_t */
    int64_t target;          /* -1 = none */
    bool target_estimated;
    int64_t pct100;     /* percent in hundredths, rounded half up; -1 = none (no target, or 0) */
    int32_t reached_on; /* first day the count as of it reached the target; HV_NO_DAY = none */
    int rank;
} hv_ward_stats_t;

/* A city-scope target of the view's year with its progress. */
typedef struct hv_target_stat {
    int grp;
    bool all_ages;
    int64_t target, certified, pct100;
} hv_target_stat_t;

/* The read model of one year at one cut-off day. */
typedef struct hv_view {
    int year;
    int32_t cutoff; /* the day counted up to */
    int64_t target; /* the city target: the year's (city, all, adults) target, else the default */
    int64_t adults, total;
    int64_t group_adults[5];
    int wards_at_target;
    hv_ward_stats_t *stats;    /* owned; stats[i] describes the snapshot's wards->wards[i] */
    size_t *ranked;            /* owned; indices into stats in rank order */
    hv_target_stat_t *targets; /* owned; the year's city-scope targets, by group then measure */
    size_t n_targets;
} hv_view_t;

typedef struct hv_snapshot {
    int refs;               /* atomic */
    hv_wardtab_t *wards;    /* owned; the ward table used to validate events */
    int64_t as_of;          /* Unix seconds when the counters were last seen to change */
    uint64_t data_hash;     /* changes whenever any counter, target or ward attribute changes */
    int64_t default_target; /* HOCVU_TARGET: the city target of a year without an imported one */
    hv_count_row_t *rows;   /* owned, by day */
    int *row_ward;          /* owned: rows[i]'s index in wards, -1 = no longer a ward */
    size_t n_rows;
    hv_target_t *targets; /* owned, sorted by (year, scope, grp, all_ages) */
    size_t n_targets;
    hv_day_point_t **series; /* owned: series[i] of ward i, by day (all days) */
    size_t *n_series;
    hv_day_point_t *city_series; /* owned, by day */
    size_t n_city_series;
    int first_year, current_year;
    hv_view_t *years;        /* owned: years[y - first_year], as of each year's 31 December */
    hv_doc_t *progress_docs; /* owned: GET /v1/progress?year=, per year */
    hv_doc_t *wards_docs;    /* owned: GET /v1/wards?year=, per year */
} hv_snapshot_t;

/* Builds a snapshot with one reference and every year's documents rendered. Takes ownership of
 * `wards`; rows and targets are borrowed. current_year is the Vietnam-time year now. Pure: the
 * same inputs give the same bytes. */
hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *rows, size_t n_rows,
                                 const hv_target_t *targets, size_t n_targets,
                                 int64_t default_target, int current_year, int64_t as_of,
                                 uint64_t data_hash);
void hv_snapshot_release(hv_snapshot_t *s);
/* Takes another reference (thread-safe); hv_snapshot_release drops one. */
void hv_snapshot_retain(hv_snapshot_t *s);

/* The view of a year (first_year..current_year), or NULL. */
const hv_view_t *hv_snapshot_year(const hv_snapshot_t *s, int year);
/* Index of a year's view and documents; -1 when out of range. */
int hv_snapshot_year_index(const hv_snapshot_t *s, int year);

/* A view of `year` as of `cutoff` (any day), for reports. Caller frees with hv_view_free. */
hv_view_t *hv_view_build(const hv_snapshot_t *s, int year, int32_t cutoff);
void hv_view_free(hv_view_t *v);

/* The stats of a current ward by code in a view, or NULL. */
const hv_ward_stats_t *hv_view_find(const hv_snapshot_t *s, const hv_view_t *v, const char *code);
/* The daily series of a ward (code) or the city (NULL); NULL when the ward is unknown. */
const hv_day_point_t *hv_snapshot_series(const hv_snapshot_t *s, const char *code, size_t *n);
/* First day with data for a ward (or the city when code is NULL); `dflt` if none. */
int32_t hv_snapshot_first_day(const hv_snapshot_t *s, const char *code, int32_t dflt);

/* 31 December of year, in days since 1970-01-01: the cut-off of a year's view. */
int32_t hv_year_end(int year);

/* The rank order of §9 between two entries given as (published percent in hundredths or -1,
 * reached_on or HV_NO_DAY, count): negative when a ranks first, 0 when they share a rank. */
int hv_rank_cmp(int64_t pct_a, int32_t reached_a, int64_t count_a, int64_t pct_b, int32_t reached_b,
                int64_t count_b);

/* Percent in hundredths of count / target, rounded half up; -1 when target <= 0. */
int64_t hv_pct100(int64_t count, int64_t target);

#endif

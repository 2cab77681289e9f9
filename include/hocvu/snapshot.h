/*
 * snapshot.h - the read model: an immutable, reference-counted snapshot of the ward table and
 * the aggregated counters (per-ward totals, groups, targets, ranks, daily series), built from
 * rows by a pure function, with its two hot documents pre-rendered (render.h). The store that
 * refreshes and publishes snapshots is snapstore.h.
 */
#ifndef HOCVU_SNAPSHOT_H
#define HOCVU_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"
#include "hocvu/ward.h"

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

typedef struct hv_ward_stats {
    const hv_ward_t *ward; /* borrowed from the snapshot's ward table */
    int64_t adults, total;
    int64_t group_adults[5]; /* index = hv_group_t */
    int64_t target;          /* -1 = none */
    bool target_estimated;
    double percent; /* < 0 = none */
    int rank;
    hv_day_point_t *series; /* owned, sorted by day */
    size_t n_series;
} hv_ward_stats_t;

typedef struct hv_snapshot {
    int refs;            /* atomic */
    hv_wardtab_t *wards; /* owned; the ward table used to validate events */
    int64_t as_of;       /* Unix seconds when the counters were last seen to change */
    uint64_t data_hash;  /* changes whenever any counter or ward attribute changes */
    int64_t target;
    int64_t certified_adults, certified_total;
    int64_t group_adults[5];
    int wards_at_target;         /* wards whose adults reach their target */
    hv_ward_stats_t *stats;      /* owned; stats[i] describes wards->wards[i] */
    size_t *ranked;              /* owned; indices into stats in rank order */
    hv_day_point_t *city_series; /* owned, sorted */
    size_t n_city_series;
    hv_doc_t progress;  /* GET /v1/progress */
    hv_doc_t wards_doc; /* GET /v1/wards */
} hv_snapshot_t;

/* One aggregated counter row as fetched: either per (ward, group) with day = HV_NO_DAY, or per
 * (ward, day) with grp = 0. */
#define HV_NO_DAY INT32_MIN
typedef struct hv_count_row {
    char ward[8];
    int grp;
    int32_t day;
    int64_t adults, total;
} hv_count_row_t;

/* Builds a snapshot with one reference, progress and wards_doc rendered. Takes ownership of
 * `wards`; `rows` is borrowed. Pure: the same inputs give the same bytes. */
hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *rows, size_t n_rows,
                                 int64_t city_target, int64_t as_of, uint64_t data_hash);
void hv_snapshot_release(hv_snapshot_t *s);

/* The stats of a current ward by code, or NULL. */
const hv_ward_stats_t *hv_snapshot_find(const hv_snapshot_t *s, const char *code);
/* First day with data for a ward (or the city when code is NULL); `dflt` if none. */
int32_t hv_snapshot_first_day(const hv_snapshot_t *s, const char *code, int32_t dflt);

/* Takes another reference (thread-safe); hv_snapshot_release drops one. */
void hv_snapshot_retain(hv_snapshot_t *s);

#endif

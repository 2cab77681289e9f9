/*
 * snapshot.h - the read side: an immutable, reference-counted snapshot of wards and counters,
 * rebuilt from PostgreSQL by a background thread every interval and swapped in atomically, so
 * reads never wait behind writes and every instance serves what the shared counters say.
 */
#ifndef HOCVU_SNAPSHOT_H
#define HOCVU_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/config.h"
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

/* Builds a snapshot. Takes ownership of `wards`; `rows` is borrowed. */
hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *rows, size_t n_rows,
                                 int64_t city_target, int64_t as_of, uint64_t data_hash);
void hv_snapshot_release(hv_snapshot_t *s);

/* Derived documents, rendered on demand into `out` (appended). */
/* One ward with by_group and its last 30 days up to `today`; false if no such current ward. */
bool hv_snapshot_ward_json(const hv_snapshot_t *s, const char *code, int32_t today, hv_buf_t *out);
/* Daily new and cumulative certified adults of a ward (code) or the city (NULL) from..to. */
void hv_snapshot_timeseries_json(const hv_snapshot_t *s, const char *code, int32_t from, int32_t to,
                                 hv_buf_t *out);
/* First day with data for a ward (or the city); `dflt` if none. */
int32_t hv_snapshot_first_day(const hv_snapshot_t *s, const char *code, int32_t dflt);
/* The ranked ward table as CSV (UTF-8 with BOM, CRLF), for spreadsheets. */
void hv_snapshot_wards_csv(const hv_snapshot_t *s, hv_buf_t *out);
/* A strong ETag for any body. */
void hv_etag_of(const char *body, size_t len, char out[24]);

typedef struct hv_snapstore hv_snapstore_t;

/* Creates the store; `cfg` is borrowed and must outlive it. hv_snapstore_start() launches the
 * refresh thread; hv_snapstore_free() stops and joins it. */
hv_snapstore_t *hv_snapstore_new(const hv_config_t *cfg);
HV_MUST_CHECK int hv_snapstore_start(hv_snapstore_t *st);
void hv_snapstore_free(hv_snapstore_t *st);

/* Returns a new reference to the current snapshot, or NULL before the first successful refresh.
 * Thread-safe. Release with hv_snapshot_release(). */
hv_snapshot_t *hv_snapshot_acquire(hv_snapstore_t *st);

/* True when the last refresh reached PostgreSQL. */
bool hv_snapstore_db_ok(hv_snapstore_t *st);
/* Seconds since the snapshot was last confirmed current (for metrics); -1 if none. */
double hv_snapstore_age(hv_snapstore_t *st);

#endif

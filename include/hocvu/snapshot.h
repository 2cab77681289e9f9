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
#include "hocvu/ward.h"

/* A rendered JSON document with its strong ETag. */
typedef struct hv_doc {
    char *body; /* owned, NUL-terminated */
    size_t len;
    char etag[24]; /* "\"…\"" */
} hv_doc_t;

typedef struct hv_snapshot {
    int refs;               /* atomic */
    hv_wardtab_t *wards;    /* owned; the ward table used to validate events */
    int64_t as_of;          /* Unix seconds when the counters were last seen to change */
    int64_t built_at;       /* Unix seconds of the refresh that produced (or confirmed) it */
    int64_t certified_adults, certified_total;
    hv_doc_t progress;      /* GET /v1/progress */
    hv_doc_t wards_doc;     /* GET /v1/wards */
} hv_snapshot_t;

typedef struct hv_snapstore hv_snapstore_t;

/* Creates the store; `cfg` is borrowed and must outlive it. hv_snapstore_start() launches the
 * refresh thread; hv_snapstore_free() stops and joins it. */
hv_snapstore_t *hv_snapstore_new(const hv_config_t *cfg);
HV_MUST_CHECK int hv_snapstore_start(hv_snapstore_t *st);
void hv_snapstore_free(hv_snapstore_t *st);

/* Returns a new reference to the current snapshot, or NULL before the first successful refresh.
 * Thread-safe. Release with hv_snapshot_release(). */
hv_snapshot_t *hv_snapshot_acquire(hv_snapstore_t *st);
void hv_snapshot_release(hv_snapshot_t *s);

/* True when the last refresh reached PostgreSQL. */
bool hv_snapstore_db_ok(hv_snapstore_t *st);
/* Seconds since the snapshot was last confirmed current (for metrics); -1 if none. */
double hv_snapstore_age(hv_snapstore_t *st);

/* Builds a snapshot from already-fetched data (used by the refresher and by tests). Takes
 * ownership of `wards`. `counts` holds n_counts rows of (ward code, group 1..4, adults, total). */
typedef struct hv_count_row {
    char ward[8];
    int grp;
    int64_t adults, total;
} hv_count_row_t;
hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *counts,
                                 size_t n_counts, int64_t city_target, int64_t as_of);

#endif

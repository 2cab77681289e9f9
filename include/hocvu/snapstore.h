/*
 * snapstore.h - the store of the current read snapshot and its refresher: a background thread
 * re-reads the ward table and the counters from PostgreSQL every interval, builds a new
 * snapshot when anything changed, and swaps it in; event loops only ever take a reference, so
 * reads never wait behind writes and every instance serves what the shared counters say.
 */
#ifndef HOCVU_SNAPSTORE_H
#define HOCVU_SNAPSTORE_H

#include <stdbool.h>

#include "hocvu/config.h"
#include "hocvu/snapshot.h"

typedef struct hv_snapstore hv_snapstore_t;

/* Creates the store; `cfg` is borrowed and must outlive it. hv_snapstore_start() launches the
 * refresh thread; hv_snapstore_free() stops and joins it. */
hv_snapstore_t *hv_snapstore_new(const hv_config_t *cfg);
HV_MUST_CHECK int hv_snapstore_start(hv_snapstore_t *st);
void hv_snapstore_free(hv_snapstore_t *st);

/* Returns a new reference to the current snapshot, or NULL before the first successful refresh.
 * Thread-safe. Release with hv_snapshot_release(). */
hv_snapshot_t *hv_snapshot_acquire(hv_snapstore_t *st);
/* The frozen reports loaded so far, with a reference (release with hv_frozenset_release), or
 * NULL before the first load. A new report is loaded within one refresh. */
struct hv_frozenset *hv_frozen_acquire(hv_snapstore_t *st);
/* The cohort read model (cohorts.h) with a reference (release with hv_cohortset_release), or
 * NULL before the first load. */
struct hv_cohortset *hv_cohorts_acquire(hv_snapstore_t *st);

/* True when the last refresh reached PostgreSQL. */
bool hv_snapstore_db_ok(hv_snapstore_t *st);
/* Seconds since the snapshot was last confirmed current (for metrics); -1 if none. */
double hv_snapstore_age(hv_snapstore_t *st);
/* Seconds the last rebuild of the snapshot (counters read and built) and of the cohort set
 * took; 0 before the first. */
void hv_snapstore_build_times(hv_snapstore_t *st, double *counters_s, double *cohorts_s);

#endif

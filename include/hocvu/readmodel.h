/*
 * readmodel.h - the rows the read model is built from, fetched from PostgreSQL: the targets of
 * §9 and the counters per (ward, group, attribution day). One fetch for the snapshot refresher
 * (snapstore.c) and for `hocvuctl report freeze`, so a frozen report counts exactly as the
 * service does.
 */
#ifndef HOCVU_READMODEL_H
#define HOCVU_READMODEL_H

#include <stddef.h>

#include "hocvu/snapshot.h"

struct pg_conn;

/* Fetches every target (the hv_targets view). Returns 0 with *out (caller frees) and *n, or -1
 * with err set. */
int hv_readmodel_targets(struct pg_conn *conn, hv_target_t **out, size_t *n, char *err,
                         size_t errlen);
/* Fetches the counters summed over shards, one row per (ward, group, day) that is not zero. */
int hv_readmodel_rows(struct pg_conn *conn, hv_count_row_t **out, size_t *n, char *err,
                      size_t errlen);

/* Fetches the imported cohorts, their sizes, certified counts and this year's and earlier
 * years' targets, and builds the cohort read model (cohorts.h) as of `now`. Returns the set
 * (one reference) or NULL with err set. */
struct hv_cohortset *hv_readmodel_cohorts(struct pg_conn *conn, int current_year, int64_t now,
                                          char *err, size_t errlen);

#endif

/*
 * report.h - the frozen report of CONTRACT §10: the report object of a view (exactly its
 * members: id, label, as_of, year, created_at, jurisdiction, city, by_group, targets, wards,
 * digest), serialised per RFC 8785, and its digest: the lowercase hex SHA-256 of every other
 * member so serialised.
 */
#ifndef HOCVU_REPORT_H
#define HOCVU_REPORT_H

#include <stdint.h>

#include "hocvu/snapshot.h"
#include "hocvu/util.h"

typedef struct hv_report_meta {
    const char *id, *label, *jurisdiction; /* borrowed */
    int64_t created_at;                    /* Unix seconds */
} hv_report_meta_t;

/* Writes the report object of view v (as of v->cutoff) into out, canonical, digest included;
 * the digest also goes to digest[65]. Returns 0, or -1 with err set. */
int hv_report_build(const hv_snapshot_t *s, const hv_view_t *v, const hv_report_meta_t *m,
                    hv_buf_t *out, char digest[65], char *err, size_t errlen);

/* Recomputes the digest of a stored report object (its members other than digest, per RFC
 * 8785) into digest[65], and gives the digest it states in stated[65]. Returns 0, or -1 with
 * err set (not a report object). */
int hv_report_digest(const char *json, size_t len, char digest[65], char stated[65], char *err,
                     size_t errlen);

#endif

/*
 * report.h - the frozen report of CONTRACT §10: the report object of a view (exactly its
 * members: id, label, as_of, year, created_at, jurisdiction, city, by_group, targets, wards,
 * digest), serialised per RFC 8785, and its digest: the lowercase hex SHA-256 of every other
 * member so serialised.
 */
#ifndef HOCVU_REPORT_H
#define HOCVU_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "hocvu/event.h"

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

/* The evidence of a frozen report (CONTRACT §10), as GET /v1/reports/{id}/evidence.csv serves
 * it: HV_EVIDENCE_HEAD, then one line per counted person in (ward, certificate) order. The
 * lines are stored at freeze in parts of up to HV_EVIDENCE_PART_LINES (sql/006). */
#define HV_EVIDENCE_HEAD "\xEF\xBB\xBFward,group,day,adult,certificate_id\n"
#define HV_EVIDENCE_PART_LINES 10000

/* Appends the evidence line of one person: ward and certificate written exactly (quoted per
 * RFC 4180 when they hold a comma, quote or line break), day as YYYY-MM-DD, ending in \n. */
void hv_report_evidence_line(hv_buf_t *b, const char *ward, hv_group_t group, const char *day,
                             bool adult, const char *cert_id);

#endif

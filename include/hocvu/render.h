/*
 * render.h - the documents the read API serves, rendered from a snapshot: progress, the ranked
 * wards, one ward, a timeseries (JSON, through the one JSON writer) and the wards report
 * (CSV). Pure functions: a snapshot in, bytes appended to `out`.
 */
#ifndef HOCVU_RENDER_H
#define HOCVU_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/cohorts.h"
#include "hocvu/json.h"
#include "hocvu/snapshot.h"
#include "hocvu/util.h"

/* A strong ETag ("\"<16 hex digits>\"") for any body: a change detector, not a security
 * measure. */
void hv_etag_of(const char *body, size_t len, char out[24]);

/* GET /v1/progress?year=: the city as of the view (totals, by_group, the year's city-scope
 * targets with their progress, wards at target), with year and as_of. */
void hv_render_progress(const hv_snapshot_t *s, const hv_view_t *v, hv_buf_t *out);
/* GET /v1/wards?year=: every current ward of the view in rank order. */
void hv_render_wards(const hv_snapshot_t *s, const hv_view_t *v, hv_buf_t *out);
/* GET /v1/wards/{code}?year=: one ward with by_group and its last 30 days up to `today` (days
 * since 1970-01-01) or the view's cut-off if earlier; false (nothing appended) if no such
 * current ward. */
bool hv_render_ward(const hv_snapshot_t *s, const hv_view_t *v, const char *code, int32_t today,
                    hv_buf_t *out);
/* GET /v1/timeseries: daily new and cumulative certified adults of a ward (code) or the city
 * (NULL) for every day from..to. */
void hv_render_timeseries(const hv_snapshot_t *s, const char *code, int32_t from, int32_t to,
                          hv_buf_t *out);
/* GET /v1/reports/wards.csv: the ranked ward table of a view as CSV (UTF-8 with BOM, CRLF,
 * RFC 4180 quoting, formulas defused), its as_of column the day counted up to. */
void hv_render_wards_csv(const hv_snapshot_t *s, const hv_view_t *v, int32_t as_of_day,
                         hv_buf_t *out);

/* GET /v1/reports/{id}.csv: the ward table of a frozen report, from its stored object, in
 * the columns of the wards CSV. False if body is not a report object. */
bool hv_render_frozen_csv(const char *body, size_t len, hv_buf_t *out);

/* GET /v1/cohorts?kind=&ward=&year=: the cohorts of the set's year index y in list order
 * (kind, then rank within the kind), those of `kind` and of `ward` only when given (NULL =
 * any), with year and as_of. */
void hv_render_cohorts(const hv_cohortset_t *s, int y, const char *kind, const char *ward,
                       hv_buf_t *out);
/* GET /v1/cohorts/{code}?year=: one cohort with by_group, year and as_of. */
void hv_render_cohort(const hv_cohortset_t *s, const hv_cohort_t *c, int y, hv_buf_t *out);

/* One CSV field: quoted when it holds a separator, quote or line break (RFC 4180); with defuse
 * (text that came from an import) also led by ' when it starts like a formula (=, +, -, @,
 * tab, CR), so a spreadsheet shows it as text instead of evaluating it (CONTRACT §10).
 * Identifiers are written exactly (defuse false). */
void hv_render_csv_field(hv_buf_t *b, const char *v, bool defuse);

/* Pieces of the documents above, for the frozen report object (report.c), which carries the
 * same members: a percent in hundredths (null below 0), a day (null for HV_NO_DAY), adults by
 * group, the year's city-scope targets, and one ward's members (the object stays open). */
void hv_render_pct(hv_json_t *j, const char *key, int64_t pct100);
void hv_render_day(hv_json_t *j, const char *key, int32_t day);
void hv_render_by_group(hv_json_t *j, const int64_t g[5]);
void hv_render_targets(hv_json_t *j, const hv_view_t *v);
void hv_render_ward_fields(hv_json_t *j, const hv_ward_stats_t *r);

#endif

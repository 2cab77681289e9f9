/*
 * handlers.h - the route handlers of the HTTP side, one module per step of the data flow, and
 * what those modules share. worker.c dispatches every request to exactly one handler; a handler
 * ends its request (http.h) before it returns, or moves it into its own pending state.
 *
 *   ingest.c  POST /v1/events        one signed event: gate, validate, Redis, writer, reply
 *   batch.c   POST /v1/events/batch  NDJSON: the same per line, one summary
 *   reads.c   GET  /v1/progress, /v1/wards[/{code}], /v1/timeseries, /v1/reports/wards.csv, /
 *   stream.c  GET  /v1/stream        server-sent progress events
 *   health.c  GET  /healthz, /readyz, /metrics
 */
#ifndef HOCVU_HANDLERS_H
#define HOCVU_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/http.h"
#include "hocvu/query.h"

struct hv_snapshot;
struct hv_write_item;

/* Body limits of the two routes that take one; the front (front.h) refuses a larger body
 * before it is read, and every other route takes none. */
#define HV_EVENT_BODY_MAX (64 * 1024)
#define HV_BATCH_BODY_MAX (16 * 1024 * 1024)

/* ingest.c */
void hv_handle_event(hv_req_t *r);
/* The gate both ingest endpoints share: method, size, media type, signature. Returns the body
 * (borrowed from the request) or NULL after ending the request. */
const char *hv_ingest_gate(hv_req_t *r, const char *media_type, size_t max_body,
                           const char *too_large, size_t *len_out, int64_t now);
/* Takes a token from the client's bucket: true within the rate, else false with *retry_after
 * (the caller still lets redeliveries through). */
bool hv_ingest_within_rate(hv_req_t *r, int *retry_after);
/* The snapshot whose ward table validates ingest, or NULL after ending the request with 503.
 * Release it with hv_snapshot_release(). */
struct hv_snapshot *hv_ingest_snapshot(hv_req_t *r);

/* The validation step (validate.c) on this worker's pseudonymiser and the snapshot's ward
 * table, with the debug log line of a validated event. id_out (HV_EVENT_ID_MAX + 1 bytes) is
 * given for batch lines, which carry their own id; NULL for single events (msg_id). */
bool hv_ingest_validate(hv_worker_t *w, const struct hv_snapshot *snap, const char *body,
                        size_t len, int64_t now, const char *msg_id, char *id_out,
                        struct hv_write_item *item, hv_problem_t *why);

/* batch.c */
void hv_handle_batch(hv_req_t *r);

/* reads.c */
void hv_handle_progress(hv_req_t *r);
void hv_handle_wards(hv_req_t *r);
void hv_handle_ward(hv_req_t *r, const char *code);
void hv_handle_timeseries(hv_req_t *r);
void hv_handle_report(hv_req_t *r);
void hv_handle_report_xlsx(hv_req_t *r);
void hv_handle_reports(hv_req_t *r);
void hv_handle_frozen(hv_req_t *r, const char *rest);
/* evidence.c: GET /v1/reports/{id}/evidence.csv, the admin check already passed. */
void hv_handle_evidence(hv_req_t *r, const char *id);
/* GET /v1/cohorts, /v1/cohorts/{code}[/pending] (cohortreads.c). rest is what follows
 * "/v1/cohorts/". */
void hv_handle_cohorts(hv_req_t *r);
void hv_handle_cohort(hv_req_t *r, const char *rest);
/* The query string of r into q; false after ending r with 400 invalid_parameter. */
bool hv_read_query(hv_req_t *r, hv_query_t *q);
void hv_handle_dashboard(hv_req_t *r);
/* The checks every read shares: method, token, a snapshot. Returns a snapshot reference
 * (release it) or NULL after ending the request. */
struct hv_snapshot *hv_read_gate(hv_req_t *r);

/* stream.c */
void hv_handle_stream(hv_req_t *r);
/* Once a second on every worker: push changed progress, keep idle streams alive. */
void hv_stream_tick(hv_worker_t *w);
/* Ends every open stream of the worker (drain). */
void hv_stream_end_all(hv_worker_t *w);

/* health.c */
void hv_handle_healthz(hv_req_t *r);
void hv_handle_readyz(hv_req_t *r);
void hv_handle_metrics(hv_req_t *r);

#endif

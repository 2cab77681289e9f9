/*
 * metrics.c - counters and histograms behind GET /metrics. Updates are relaxed atomic adds on
 * the owning worker's struct; rendering reads every worker with atomic loads and sums.
 */
#include "hocvu/metrics.h"

#include <stdio.h>
#include <string.h>

static const char *const route_names[HV_ROUTE_COUNT] = {
    "events", "events_batch", "progress", "wards",  "ward",    "timeseries", "report",
    "stream", "dashboard",    "healthz",  "readyz", "metrics", "cohorts",    "other",
};

static const int statuses[HV_METRICS_NSTATUS] = {200, 304, 400, 401, 404, 405, 409,
                                                 413, 415, 422, 429, 500, 503, 0};

static const char *const codes[HV_METRICS_NCODES] = {
    "invalid_json",
    "invalid_event",
    "invalid_signature",
    "stale_timestamp",
    "payload_too_large",
    "certificate_conflict",
    "unsupported_media_type",
    "invalid_citizen_id",
    "unknown_ward",
    "ambiguous_ward",
    "invalid_group",
    "invalid_timestamp",
    "invalid_birth_date",
    "unavailable",
    "overloaded",
    "rate_limited",
    "method_not_allowed",
    "invalid_supporter",
    "other",
};

/* Upper bounds of the histogram buckets (the last is +Inf). */
static const double batch_bounds[HV_METRICS_NBUCKETS - 1] = {1,   2,   5,    10,   20,   50,   100,
                                                             200, 500, 1000, 2000, 5000, 10000};
static const double commit_bounds[HV_METRICS_NBUCKETS - 1] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};

#define INC(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
#define ADD(x, v) __atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void hv_metrics_request(hv_metrics_t *m, hv_route_t route, int status)
{
    int i = 0;
    while (statuses[i] && statuses[i] != status)
        i++;
    INC(m->requests[route][i]);
}

void hv_metrics_event(hv_metrics_t *m, const char *result)
{
    int i = 0;

    if (strcmp(result, "accepted") == 0) {
        INC(m->accepted);
        return;
    }
    if (strcmp(result, "duplicate") == 0) {
        INC(m->duplicate);
        return;
    }
    while (i < HV_METRICS_NCODES - 1 && strcmp(codes[i], result) != 0)
        i++;
    INC(m->rejected[i]);
}

static int bucket_of(const double *bounds, double v)
{
    int i = 0;
    while (i < HV_METRICS_NBUCKETS - 1 && v > bounds[i])
        i++;
    return i;
}

void hv_metrics_commit(hv_metrics_t *m, int events, int64_t us)
{
    INC(m->batch_size_buckets[bucket_of(batch_bounds, events)]);
    ADD(m->batch_size_sum, (uint64_t)events);
    INC(m->batch_count);
    INC(m->commit_buckets[bucket_of(commit_bounds, (double)us / 1e6)]);
    ADD(m->commit_us_sum, (uint64_t)us);
}

static void histogram(hv_buf_t *out, const char *name, const char *help, const double *bounds,
                      const uint64_t *counts, double sum, uint64_t count)
{
    uint64_t cum = 0;
    hv_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < HV_METRICS_NBUCKETS; i++) {
        cum += counts[i];
        if (i < HV_METRICS_NBUCKETS - 1)
            hv_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                          (unsigned long long)cum);
        else
            hv_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    hv_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

void hv_metrics_render(hv_buf_t *out, hv_metrics_t *const *workers, int n,
                       const hv_metrics_gauges_t *g)
{
    hv_metrics_t sum;

    memset(&sum, 0, sizeof(sum));
    for (int w = 0; w < n; w++) {
        hv_metrics_t *m = workers[w];
        for (int r = 0; r < HV_ROUTE_COUNT; r++)
            for (int s = 0; s < HV_METRICS_NSTATUS; s++)
                sum.requests[r][s] += LOAD(m->requests[r][s]);
        sum.accepted += LOAD(m->accepted);
        sum.duplicate += LOAD(m->duplicate);
        for (int c = 0; c < HV_METRICS_NCODES; c++)
            sum.rejected[c] += LOAD(m->rejected[c]);
        for (int b = 0; b < HV_METRICS_NBUCKETS; b++) {
            sum.batch_size_buckets[b] += LOAD(m->batch_size_buckets[b]);
            sum.commit_buckets[b] += LOAD(m->commit_buckets[b]);
        }
        sum.batch_size_sum += LOAD(m->batch_size_sum);
        sum.batch_count += LOAD(m->batch_count);
        sum.commit_us_sum += LOAD(m->commit_us_sum);
    }

    hv_buf_puts(out, "# HELP hocvu_http_requests_total HTTP requests by route and status.\n"
                     "# TYPE hocvu_http_requests_total counter\n");
    for (int r = 0; r < HV_ROUTE_COUNT; r++)
        for (int s = 0; s < HV_METRICS_NSTATUS; s++)
            if (sum.requests[r][s]) {
                char status[8] = "other";
                if (statuses[s])
                    snprintf(status, sizeof(status), "%d", statuses[s]);
                hv_buf_printf(out, "hocvu_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                              route_names[r], status, (unsigned long long)sum.requests[r][s]);
            }

    hv_buf_puts(out, "# HELP hocvu_events_total Events by result; rejections by contract code.\n"
                     "# TYPE hocvu_events_total counter\n");
    hv_buf_printf(out, "hocvu_events_total{result=\"accepted\",code=\"\"} %llu\n",
                  (unsigned long long)sum.accepted);
    hv_buf_printf(out, "hocvu_events_total{result=\"duplicate\",code=\"\"} %llu\n",
                  (unsigned long long)sum.duplicate);
    for (int c = 0; c < HV_METRICS_NCODES; c++)
        hv_buf_printf(out, "hocvu_events_total{result=\"rejected\",code=\"%s\"} %llu\n", codes[c],
                      (unsigned long long)sum.rejected[c]);

    histogram(out, "hocvu_batch_size_events", "Events per database transaction (group commit).",
              batch_bounds, sum.batch_size_buckets, (double)sum.batch_size_sum, sum.batch_count);
    histogram(out, "hocvu_commit_duration_seconds",
              "Round trip of one batch transaction, send to commit acknowledged.", commit_bounds,
              sum.commit_buckets, (double)sum.commit_us_sum / 1e6, sum.batch_count);

    hv_buf_printf(out,
                  "# HELP hocvu_postgres_up Whether PostgreSQL is reachable (1) or not (0).\n"
                  "# TYPE hocvu_postgres_up gauge\nhocvu_postgres_up %d\n"
                  "# HELP hocvu_redis_up Whether the Redis fast path is connected and answering in "
                  "time (1) or not (0).\n"
                  "# TYPE hocvu_redis_up gauge\nhocvu_redis_up %d\n"
                  "# HELP hocvu_snapshot_age_seconds Seconds since the read snapshot was last "
                  "confirmed current (-1 before the first).\n"
                  "# TYPE hocvu_snapshot_age_seconds gauge\nhocvu_snapshot_age_seconds %.3f\n"
                  "# HELP hocvu_snapshot_build_seconds How long the last rebuild of the read "
                  "snapshot took (counters read and built).\n"
                  "# TYPE hocvu_snapshot_build_seconds gauge\nhocvu_snapshot_build_seconds %.6f\n"
                  "# HELP hocvu_cohorts_build_seconds How long the last rebuild of the cohort "
                  "read model took.\n"
                  "# TYPE hocvu_cohorts_build_seconds gauge\nhocvu_cohorts_build_seconds %.6f\n"
                  "# HELP hocvu_cohorts Imported cohorts in the read model.\n"
                  "# TYPE hocvu_cohorts gauge\nhocvu_cohorts %lld\n"
                  "# HELP hocvu_certified_adults Certified adults in the current snapshot.\n"
                  "# TYPE hocvu_certified_adults gauge\nhocvu_certified_adults %lld\n"
                  "# HELP hocvu_certified_persons Certified persons (adults and minors) in the "
                  "current snapshot.\n"
                  "# TYPE hocvu_certified_persons gauge\nhocvu_certified_persons %lld\n"
                  "# HELP hocvu_stream_clients Open /v1/stream connections.\n"
                  "# TYPE hocvu_stream_clients gauge\nhocvu_stream_clients %d\n"
                  "# HELP hocvu_redis_dedup_total Redis fast-path lookups by result.\n"
                  "# TYPE hocvu_redis_dedup_total counter\n"
                  "hocvu_redis_dedup_total{result=\"hit\"} %llu\n"
                  "hocvu_redis_dedup_total{result=\"miss\"} %llu\n"
                  "# HELP hocvu_writer_retries_total Batches retried after a deadlock or "
                  "serialization failure.\n"
                  "# TYPE hocvu_writer_retries_total counter\nhocvu_writer_retries_total %llu\n"
                  "# HELP hocvu_writer_failures_total Batches answered unavailable.\n"
                  "# TYPE hocvu_writer_failures_total counter\nhocvu_writer_failures_total %llu\n",
                  g->postgres_up, g->redis_up, g->snapshot_age, g->snapshot_build_s,
                  g->cohorts_build_s, (long long)g->cohorts, (long long)g->certified_adults,
                  (long long)g->certified_total, g->stream_clients,
                  (unsigned long long)g->redis_hits, (unsigned long long)g->redis_misses,
                  (unsigned long long)g->writer_retries, (unsigned long long)g->writer_failures);
    hv_buf_printf(out,
                  "# HELP hocvu_http_connections Open client connections.\n"
                  "# TYPE hocvu_http_connections gauge\nhocvu_http_connections %llu\n"
                  "# HELP hocvu_http_slow_clients_cut_total Connections closed because a request "
                  "took longer than HOCVU_HTTP_TIMEOUT.\n"
                  "# TYPE hocvu_http_slow_clients_cut_total counter\n"
                  "hocvu_http_slow_clients_cut_total %llu\n"
                  "# HELP hocvu_http_request_bytes Request bytes held now (bodies being read "
                  "or handled).\n"
                  "# TYPE hocvu_http_request_bytes gauge\nhocvu_http_request_bytes %llu\n"
                  "# HELP hocvu_http_request_bytes_budget HOCVU_BODY_BUDGET_MB, in bytes.\n"
                  "# TYPE hocvu_http_request_bytes_budget gauge\n"
                  "hocvu_http_request_bytes_budget %llu\n"
                  "# HELP hocvu_http_refused_total Requests refused with 503 for a limit of the "
                  "process: the request-byte budget or the connection cap.\n"
                  "# TYPE hocvu_http_refused_total counter\n"
                  "hocvu_http_refused_total{limit=\"budget\"} %llu\n"
                  "hocvu_http_refused_total{limit=\"connections\"} %llu\n"
                  "# HELP hocvu_redis_stalled Whether Redis is connected but not answering in "
                  "time, and left out of the fast path (1) or not (0).\n"
                  "# TYPE hocvu_redis_stalled gauge\nhocvu_redis_stalled %d\n"
                  "# HELP hocvu_writer_queue_events Events waiting for Redis or PostgreSQL, over "
                  "all event loops.\n"
                  "# TYPE hocvu_writer_queue_events gauge\nhocvu_writer_queue_events %llu\n"
                  "# HELP hocvu_writer_queue_limit_events The bound of that queue "
                  "(HOCVU_QUEUE_MAX per event loop); beyond it ingest answers 503 overloaded.\n"
                  "# TYPE hocvu_writer_queue_limit_events gauge\n"
                  "hocvu_writer_queue_limit_events %llu\n",
                  (unsigned long long)g->connections, (unsigned long long)g->slow_cut,
                  (unsigned long long)g->request_bytes, (unsigned long long)g->request_bytes_budget,
                  (unsigned long long)g->refused_budget, (unsigned long long)g->refused_connections,
                  g->redis_stalled, (unsigned long long)g->queue_events,
                  (unsigned long long)g->queue_limit);
}

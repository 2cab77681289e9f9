/*
 * metrics.h - per-worker counters for GET /metrics (Prometheus text format). Each worker owns
 * its counters and bumps them with relaxed atomics; the renderer sums all workers.
 */
#ifndef HOCVU_METRICS_H
#define HOCVU_METRICS_H

#include <stdint.h>

#include "hocvu/util.h"

typedef enum hv_route {
    HV_ROUTE_EVENTS,
    HV_ROUTE_BATCH,
    HV_ROUTE_PROGRESS,
    HV_ROUTE_WARDS,
    HV_ROUTE_WARD,
    HV_ROUTE_TIMESERIES,
    HV_ROUTE_REPORT,
    HV_ROUTE_STREAM,
    HV_ROUTE_DASHBOARD,
    HV_ROUTE_HEALTHZ,
    HV_ROUTE_READYZ,
    HV_ROUTE_METRICS,
    HV_ROUTE_COHORTS,
    HV_ROUTE_OTHER,
    HV_ROUTE_COUNT
} hv_route_t;

#define HV_METRICS_NSTATUS 14
#define HV_METRICS_NCODES 19
#define HV_METRICS_NBUCKETS 14

typedef struct hv_metrics {
    uint64_t requests[HV_ROUTE_COUNT][HV_METRICS_NSTATUS];
    uint64_t accepted, duplicate;
    uint64_t rejected[HV_METRICS_NCODES];
    uint64_t batch_size_buckets[HV_METRICS_NBUCKETS]; /* per-bucket (not cumulative) */
    uint64_t batch_size_sum, batch_count;
    uint64_t commit_buckets[HV_METRICS_NBUCKETS];
    uint64_t commit_us_sum;
} hv_metrics_t;

void hv_metrics_request(hv_metrics_t *m, hv_route_t route, int status);
/* result: "accepted", "duplicate" or a rejection code of the contract. */
void hv_metrics_event(hv_metrics_t *m, const char *result);
/* One committed database transaction of `events` events that took `us` microseconds. */
void hv_metrics_commit(hv_metrics_t *m, int events, int64_t us);

typedef struct hv_metrics_gauges {
    int postgres_up, redis_up; /* 0/1; redis_up is 0 when any loop finds Redis down or stalled */
    int redis_stalled;         /* 0/1: connected but not answering in time (left out) */
    double snapshot_age;       /* seconds, -1 when none */
    double snapshot_build_s, cohorts_build_s; /* the last rebuilds */
    int64_t cohorts;                          /* imported cohorts in the read model */
    int64_t certified_adults, certified_total;
    int stream_clients;
    uint64_t redis_hits, redis_misses;
    uint64_t writer_retries, writer_failures;
    uint64_t connections, slow_cut;
    uint64_t request_bytes, request_bytes_budget; /* held by the front, and its bound */
    uint64_t refused_budget, refused_connections; /* front refusals for either bound */
    uint64_t queue_events, queue_limit; /* events waiting for Redis or PostgreSQL, and the bound
                                           (HOCVU_QUEUE_MAX per loop), summed over the loops */
} hv_metrics_gauges_t;

/* Renders the sum of n workers' metrics and the gauges in the Prometheus text format 0.0.4. */
void hv_metrics_render(hv_buf_t *out, hv_metrics_t *const *workers, int n,
                       const hv_metrics_gauges_t *g);

#endif

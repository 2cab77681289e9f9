/*
 * health.c - what operators and orchestrators poll: GET /healthz (the process answers),
 * GET /readyz (PostgreSQL reachable, data loaded, not draining) and GET /metrics (every
 * worker's counters summed, with the gauges of the shared parts; behind the read tokens).
 */
#include "hocvu/cohorts.h"
#include "hocvu/front.h"
#include "hocvu/dedup.h"
#include "hocvu/handlers.h"
#include "hocvu/json.h"
#include "hocvu/snapshot.h"
#include "hocvu/snapstore.h"
#include "hocvu/version.h"
#include "hocvu/wlink.h"
#include "hocvu/writer.h"

#define HV_METRICS_MAX_WORKERS 64

void hv_handle_healthz(hv_req_t *r)
{
    hv_buf_t b;
    hv_json_t j;

    if (!hv_http_is_get(r))
        return;
    hv_buf_init(&b);
    hv_json_init(&j, &b);
    hv_json_obj(&j);
    hv_json_kstr(&j, "status", "ok");
    hv_json_kstr(&j, "version", HOCVU_VERSION);
    hv_json_end(&j);
    hv_http_json(r, 200, b.data, b.len);
    hv_buf_free(&b);
}

void hv_handle_readyz(hv_req_t *r)
{
    hv_worker_t *w = r->w;
    hv_snapshot_t *snap;
    bool db = hv_snapstore_db_ok(w->srv->snap) && hv_writer_available(w->writer) &&
              hv_wlink_available(w->event_link);
    hv_dedup_state_t rs = hv_dedup_state(w->dedup);
    bool redis = rs == HV_DEDUP_UP;
    hv_buf_t b;
    hv_json_t j;

    if (!hv_http_is_get(r))
        return;
    snap = hv_snapshot_acquire(w->srv->snap);
    bool ready = db && snap && !w->draining;
    hv_snapshot_release(snap);
    hv_buf_init(&b);
    hv_json_init(&j, &b);
    hv_json_obj(&j);
    hv_json_kstr(&j, "status", ready ? "ready" : "unavailable");
    hv_json_kbool(&j, "postgres", db);
    hv_json_kbool(&j, "redis", redis);
    hv_json_kstr(&j, "redis_state",
                 rs == HV_DEDUP_UP        ? "up"
                 : rs == HV_DEDUP_STALLED ? "stalled"
                                          : "down");
    hv_json_end(&j);
    if (!ready)
        hv_http_retry_after(r, HV_RETRY_AFTER_SEC);
    hv_http_json(r, ready ? 200 : 503, b.data, b.len);
    hv_buf_free(&b);
}

void hv_handle_metrics(hv_req_t *r)
{
    hv_server_t *srv = r->w->srv;
    hv_metrics_t *per[HV_METRICS_MAX_WORKERS];
    hv_metrics_gauges_t g = {0};
    hv_snapshot_t *snap;
    hv_buf_t b;
    int n = srv->n_workers < HV_METRICS_MAX_WORKERS ? srv->n_workers : HV_METRICS_MAX_WORKERS;

    if (!hv_http_is_get(r))
        return;
    /* The campaign totals are in here: the read-token rule applies (CONTRACT §7). */
    if (!hv_http_authorized(r)) {
        hv_http_problem(r, 401, "unauthorized", NULL, "a valid bearer token is required");
        return;
    }
    g.postgres_up = hv_snapstore_db_ok(srv->snap) ? 1 : 0;
    g.redis_up = 1;
    for (int i = 0; i < n; i++) {
        hv_worker_t *w = &srv->workers[i];
        hv_dedup_stats_t ds;
        hv_writer_stats_t ws;
        per[i] = &w->metrics;
        if (!w->writer || !w->dedup) { /* that loop is past its drain deadline */
            g.postgres_up = 0;
            g.redis_up = 0;
            continue;
        }
        if (!hv_writer_available_relaxed(w->writer))
            g.postgres_up = 0;
        hv_dedup_state_t rs = hv_dedup_state(w->dedup);
        if (rs != HV_DEDUP_UP)
            g.redis_up = 0;
        if (rs == HV_DEDUP_STALLED)
            g.redis_stalled = 1;
        hv_dedup_get_stats(w->dedup, &ds);
        hv_writer_get_stats(w->writer, &ws);
        g.redis_hits += ds.hits;
        g.redis_misses += ds.misses;
        g.writer_retries += ws.retries;
        g.writer_failures += ws.failures;
        g.stream_clients += __atomic_load_n(&w->n_streams, __ATOMIC_RELAXED);
        g.queue_events += (uint64_t)__atomic_load_n(&w->admitted, __ATOMIC_RELAXED);
        g.queue_limit += (uint64_t)w->queue_max;
        g.connections += hv_front_open(w->front);
        g.slow_cut += hv_front_cut(w->front);
    }
    g.request_bytes = __atomic_load_n(&srv->front_limits.held, __ATOMIC_RELAXED);
    g.request_bytes_budget = srv->front_limits.budget;
    g.refused_budget = __atomic_load_n(&srv->front_limits.refused_budget, __ATOMIC_RELAXED);
    g.refused_connections = __atomic_load_n(&srv->front_limits.refused_conns, __ATOMIC_RELAXED);
    g.snapshot_age = hv_snapstore_age(srv->snap);
    hv_snapstore_build_times(srv->snap, &g.snapshot_build_s, &g.cohorts_build_s);
    hv_cohortset_t *cs = hv_cohorts_acquire(srv->snap);
    if (cs) {
        g.cohorts = (int64_t)cs->n;
        hv_cohortset_release(cs);
    }
    snap = hv_snapshot_acquire(srv->snap);
    if (snap) {
        const hv_view_t *now = hv_snapshot_year(snap, snap->current_year);
        g.certified_adults = now->adults;
        g.certified_total = now->total;
        hv_snapshot_release(snap);
    }
    hv_buf_init(&b);
    hv_metrics_render(&b, per, n, &g);
    hv_http_end(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
    hv_buf_free(&b);
}

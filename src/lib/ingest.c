/*
 * ingest.c - POST /v1/events, one signed event: the gate (method, size, media type, signature,
 * rate), the validation step (validate.c), then the Redis fast path and the batch writer, and
 * the reply once PostgreSQL has answered. The gate and the rate check are shared with batch.c.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/dedup.h"
#include "hocvu/event.h"
#include "hocvu/handlers.h"
#include "hocvu/log.h"
#include "hocvu/ratelimit.h"
#include "hocvu/signature.h"
#include "hocvu/snapshot.h"
#include "hocvu/snapstore.h"
#include "hocvu/validate.h"
#include "hocvu/wlink.h"
#include "hocvu/writer.h"

/* The two success bodies; fixed documents. */
static const char accepted_doc[] = "{\"status\":\"accepted\"}";
static const char duplicate_doc[] = "{\"status\":\"duplicate\"}";

/* One event while it waits for Redis and PostgreSQL. Owned by the worker from hv_req_move until
 * its reply (pending_end frees it). */
typedef struct pending {
    hv_req_t req;
    bool limited; /* over the client's rate: only a redelivery may pass */
    int retry_after;
    hv_write_item_t item;
} pending_t;

/* Ends a pending event with its outcome and frees it. */
static void pending_end(pending_t *p, hv_outcome_t outcome)
{
    hv_req_t *r = &p->req;
    hv_problem_t prob;

    switch (outcome) {
    case HV_OUT_ACCEPTED:
    case HV_OUT_DUPLICATE:
        hv_metrics_event(&r->w->metrics, outcome == HV_OUT_ACCEPTED ? "accepted" : "duplicate");
        if (outcome == HV_OUT_ACCEPTED)
            hv_http_json(r, 200, accepted_doc, sizeof(accepted_doc) - 1);
        else
            hv_http_json(r, 200, duplicate_doc, sizeof(duplicate_doc) - 1);
        break;
    case HV_OUT_CONFLICT:
        hv_http_problem(r, 409, "certificate_conflict", "data.certificate_id",
                        "this certificate_id was already issued to another person");
        break;
    case HV_OUT_UNAVAILABLE:
        hv_http_problem(r, 503, "unavailable", NULL,
                        "the database did not confirm this event; retry with the same webhook-id "
                        "(it is idempotent)");
        break;
    case HV_OUT_OVERLOADED:
        hv_http_problem(r, 503, "overloaded", NULL,
                        "the service is saturated; this event was not stored, retry later");
        break;
    case HV_OUT_INVALID:
        hv_http_problem(r, 400, "invalid_event", NULL,
                        "the database refused this event's data; it was not stored");
        break;
    case HV_OUT_NOT_FOUND:
        hv_problem_set(&prob, 429, "rate_limited", NULL,
                       "too many requests from this client; retry later");
        hv_http_problem_doc(r, &prob, p->retry_after);
        break;
    }
    hv_worker_unadmit(r->w, 1);
    free(p);
}

static void on_written(hv_write_item_t *item, hv_outcome_t outcome)
{
    pending_t *p = item->arg;

    /* Only ids committed in PostgreSQL are remembered in Redis. */
    if ((outcome == HV_OUT_ACCEPTED || outcome == HV_OUT_DUPLICATE) && !p->req.w->closing) {
        char epoch[HV_WRITER_EPOCH_LEN + 1];
        hv_dedup_mark(p->req.w->dedup, hv_wlink_epoch(p->req.w->event_link, epoch), item->id,
                      strlen(item->id));
    }
    pending_end(p, outcome);
}

static void on_dedup(void *arg, bool seen)
{
    pending_t *p = arg;

    if (seen) {
        pending_end(p, HV_OUT_DUPLICATE);
        return;
    }
    if (p->req.w->closing) {
        pending_end(p, HV_OUT_UNAVAILABLE);
        return;
    }
    /* Over the rate, the event is only looked up: an already-accepted redelivery is still
     * answered "duplicate", anything new gets 429. */
    p->item.lookup_only = p->limited;
    hv_wlink_submit(p->req.w->event_link, &p->item, false);
}

/* A Standard Webhooks header ("id", "timestamp" or "signature"): webhook-<name>, or its Svix
 * alias svix-<name> when the webhook- form is absent (CONTRACT §4: webhook- wins). */
static const char *webhook_header(hv_req_t *r, const char *name)
{
    char key[32];
    const char *v;

    snprintf(key, sizeof(key), "webhook-%s", name);
    v = hv_http_header(r, key);
    if (v)
        return v;
    snprintf(key, sizeof(key), "svix-%s", name);
    return hv_http_header(r, key);
}

/* The webhook headers of a request, verified over its raw body. Ends the request and returns
 * false when the signature does not hold. */
static bool verify_signature(hv_req_t *r, const char *body, size_t len, int64_t now)
{
    switch (hv_sig_verify(r->w->sig, webhook_header(r, "id"), webhook_header(r, "timestamp"),
                          webhook_header(r, "signature"), body, len, now, r->w->tolerance)) {
    case HV_SIG_OK:
        return true;
    case HV_SIG_MISSING:
        hv_http_problem(r, 401, "invalid_signature", NULL,
                        "webhook-id, webhook-timestamp and webhook-signature headers are required");
        return false;
    case HV_SIG_MALFORMED:
        hv_http_problem(r, 401, "invalid_signature", NULL, "webhook-timestamp is not a Unix time");
        return false;
    case HV_SIG_STALE:
        hv_http_problem(r, 401, "stale_timestamp", NULL,
                        "webhook-timestamp is outside the allowed tolerance");
        return false;
    case HV_SIG_MISMATCH:
        hv_http_problem(r, 401, "invalid_signature", NULL, "no signature matches");
        return false;
    }
    return false;
}

bool hv_ingest_within_rate(hv_req_t *r, int *retry_after)
{
    hv_worker_t *w = r->w;
    char *addr = NULL;
    ev_uint16_t port;
    struct timespec now;

    if (w->rate_limit <= 0)
        return true;
    evhttp_connection_get_peer(evhttp_request_get_connection(r->evreq), &addr, &port);
    clock_gettime(CLOCK_MONOTONIC, &now);
    return hv_ratelimit_take(w->srv->rl, addr ? addr : "?", w->rate_limit, w->rate_burst,
                             (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, retry_after);
}

const char *hv_ingest_gate(hv_req_t *r, const char *media_type, size_t max_body,
                           const char *too_large, size_t *len_out, int64_t now)
{
    struct evbuffer *body_buf = evhttp_request_get_input_buffer(r->evreq);
    size_t len = evbuffer_get_length(body_buf);
    const char *body;

    if (evhttp_request_get_command(r->evreq) != EVHTTP_REQ_POST) {
        hv_http_add_header(r, "Allow", "POST");
        hv_http_problem(r, 405, "method_not_allowed", NULL, "use POST");
        return NULL;
    }
    if (len > max_body) {
        hv_http_problem(r, 413, "payload_too_large", NULL, too_large);
        return NULL;
    }
    if (!hv_http_content_type_is(r, media_type)) {
        char detail[96];
        snprintf(detail, sizeof(detail), "Content-Type must be %s", media_type);
        hv_http_problem(r, 415, "unsupported_media_type", NULL, detail);
        return NULL;
    }
    body = len ? (const char *)evbuffer_pullup(body_buf, -1) : "";
    if (!body)
        body = "";
    if (!verify_signature(r, body, len, now))
        return NULL;
    *len_out = len;
    return body;
}

hv_snapshot_t *hv_ingest_snapshot(hv_req_t *r)
{
    hv_snapshot_t *snap = hv_snapshot_acquire(r->w->srv->snap);
    if (!snap)
        hv_http_problem(r, 503, "unavailable", NULL,
                        "the ward table is not loaded yet; retry later");
    return snap;
}

bool hv_ingest_validate(hv_worker_t *w, const hv_snapshot_t *snap, const char *body, size_t len,
                        int64_t now, const char *msg_id, char *id_out, hv_write_item_t *item,
                        hv_problem_t *why)
{
    char masked[16];
    bool debug = hv_log_enabled(HV_LOG_DEBUG);

    if (!hv_validate_event(snap->wards, w->pseud, body, len, now, msg_id, id_out != NULL, id_out,
                           item, debug ? masked : NULL, why))
        return false;
    if (debug)
        hv_log(HV_LOG_DEBUG, "event validated", "citizen=%s kind=%s ward=%s", masked,
               item->kind == HV_EV_ISSUED ? "issued" : "revoked", item->ward[0] ? item->ward : "-");
    return true;
}

void hv_handle_event(hv_req_t *r)
{
    hv_worker_t *w = r->w;
    const char *msg_id, *body;
    size_t len;
    hv_snapshot_t *snap;
    hv_problem_t why;
    pending_t *p;
    int64_t now = (int64_t)time(NULL);

    body = hv_ingest_gate(r, "application/json", HV_EVENT_BODY_MAX,
                          "the body is larger than 64 KiB", &len, now);
    if (!body)
        return;
    msg_id = webhook_header(r, "id"); /* present: the signature check needs it */
    if (!hv_event_id_valid(msg_id, strlen(msg_id))) {
        hv_http_problem(r, 400, "invalid_event", "webhook-id",
                        "webhook-id must be 1-256 printable ASCII characters (0x21-0x7E)");
        return;
    }
    snap = hv_ingest_snapshot(r);
    if (!snap)
        return;
    p = hv_xcalloc(1, sizeof(*p));
    p->limited = !hv_ingest_within_rate(r, &p->retry_after);
    if (!hv_ingest_validate(w, snap, body, len, now, msg_id, NULL, &p->item, &why)) {
        hv_snapshot_release(snap);
        free(p);
        hv_http_problem_doc(r, &why, 0);
        return;
    }
    hv_snapshot_release(snap);
    if (!hv_worker_admit(w, 1)) {
        free(p);
        hv_http_problem(r, 503, "overloaded", NULL,
                        "the service is saturated; nothing of this request was stored, retry "
                        "later");
        return;
    }
    hv_req_move(r, &p->req);
    p->item.cb = on_written;
    p->item.arg = p;
    /* Redis may take about one commit's time: a slow Redis then costs an event at most what the
     * database would have, and one that keeps missing it is left out (dedup.c's breaker). */
    char epoch[HV_WRITER_EPOCH_LEN + 1];
    hv_dedup_set_budget(w->dedup, hv_wlink_latency_us(w->event_link));
    hv_dedup_check(w->dedup, hv_wlink_epoch(w->event_link, epoch), msg_id, strlen(msg_id), on_dedup,
                   p);
}

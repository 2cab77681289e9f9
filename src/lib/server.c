/*
 * server.c - worker threads and the HTTP front: routing, the ingest pipeline of one event
 * (signature -> validation -> ward -> pseudonym -> Redis fast path -> batch writer -> reply),
 * the read endpoints served from the snapshot, and graceful shutdown.
 */
#include "hocvu/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hocvu/citizen.h"
#include "hocvu/conntrack.h"
#include "hocvu/dedup.h"
#include "hocvu/event.h"
#include "hocvu/log.h"
#include "hocvu/metrics.h"
#include "hocvu/ndjson.h"
#include "hocvu/query.h"
#include "hocvu/ratelimit.h"
#include "hocvu/signature.h"
#include "hocvu/snapshot.h"
#include "hocvu/version.h"
#include "hocvu/ward.h"
#include "hocvu/web.h"
#include "hocvu/writer.h"

#define HV_MAX_EVENT_BODY (64 * 1024)
#define HV_MAX_HTTP_BODY (16 * 1024 * 1024 + 64 * 1024)
#define HV_MAX_HEADERS (32 * 1024)
#define HV_DRAIN_DEADLINE_SEC 20
#define HV_DRAIN_QUIET_MS 300 /* after the last request, how long a draining worker waits */
#define HV_RETRY_AFTER "2"
#define HV_STREAM_TICK_MS 1000
#define HV_STREAM_KEEPALIVE_MS 15000
#define HV_MAX_TIMESERIES_DAYS 3660

typedef struct hv_server hv_server_t;

typedef struct hv_worker {
    hv_server_t *srv; /* borrowed back-pointer */
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    hv_conntrack_t *conns;  /* request deadlines of this loop's connections */
    struct event *quiet_ev; /* drain: exit once no request came for HV_DRAIN_QUIET_MS */
    int64_t last_request_ms;
    hv_writer_t *writer;
    hv_dedup_t *dedup;
    hv_sig_verifier_t *sig; /* rebuilt when a reload changes the secrets */
    hv_pseudonymizer_t *pseud;
    /* This worker's copy of the reloadable settings (see worker_sync_live). */
    uint64_t live_gen;
    int64_t tolerance;
    int rate_limit, rate_burst;
    int n_tokens;
    char *tokens[HV_MAX_READ_TOKENS]; /* owned copies */
    struct event *stop_ev;            /* activated from the main thread */
    struct event *deadline_ev;        /* drain deadline */
    uint64_t req_seq;
    hv_metrics_t metrics;          /* written by this worker only */
    struct stream_client *streams; /* open /v1/stream clients (owned list) */
    int n_streams;                 /* atomic: read by other workers' /metrics */
    struct event *stream_ev;       /* periodic SSE push */
    int inflight;                  /* requests waiting on Redis or PostgreSQL */
    bool draining;
    bool closing; /* tearing down: callbacks must not start new work */
} hv_worker_t;

struct hv_server {
    const hv_config_t *cfg; /* borrowed: the configuration at start */
    int argc;               /* for re-reading the configuration on SIGHUP */
    char **argv;
    pthread_mutex_t live_lock;
    hv_config_t *live; /* owned; the last reloaded configuration, NULL = cfg */
    uint64_t live_gen; /* atomic; bumped by each successful reload */
    hv_ratelimit_t *rl;
    SSL_CTX *ssl; /* NULL = plain HTTP */
    hv_snapstore_t *snap;
    hv_worker_t *workers;
    int n_workers;
    struct event_base *main_base;
};

/* State of one ingest request while it waits for Redis and PostgreSQL. Owned by the worker
 * from submission until the reply is sent. */
typedef struct pending {
    hv_worker_t *w;
    hv_route_t route;
    bool limited; /* over the client's rate: only a redelivery may pass */
    int retry_after;
    struct evhttp_request *req; /* libevent frees it after the reply */
    char reqid[40];
    struct timespec start;
    hv_write_item_t item;
} pending_t;

/* Per-request context for responses and the access log. */
typedef struct reqctx {
    hv_worker_t *w;
    hv_route_t route;
    struct evhttp_request *req;
    const char *reqid;
    const char *path;
    struct timespec start;
} reqctx_t;

/* ---- responses ---- */

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

static int64_t since_us(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
}

/* Records one reply in the metrics and, by level, in the log. */
static void access_log(hv_worker_t *w, hv_route_t route, const char *reqid, const char *method,
                       const char *path, int status, const char *code, int64_t dur_us)
{
    hv_log_level_t lvl = status >= 500 ? HV_LOG_WARN : status >= 400 ? HV_LOG_INFO : HV_LOG_DEBUG;

    hv_metrics_request(&w->metrics, route, status);
    if (code && (route == HV_ROUTE_EVENTS))
        hv_metrics_event(&w->metrics, code);
    if (!hv_log_enabled(lvl))
        return;
    hv_log(lvl, "request", "req=%s method=%s path=%s status=%d%s%s dur_us=%lld", reqid, method,
           path, status, code ? " code=" : "", code ? code : "", (long long)dur_us);
}

static const char *method_name(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

/* Sends one complete reply. `body` is copied. Exactly one reply per request. */
static void send_reply(struct evhttp_request *req, const char *reqid, bool draining, int status,
                       const char *content_type, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evbuffer_new();

    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "X-Request-Id", reqid);
    if (draining)
        evhttp_add_header(h, "Connection", "close");
    if (out && len)
        evbuffer_add(out, body, len);
    evhttp_send_reply(req, status, status_text(status), out);
    if (out)
        evbuffer_free(out);
}

/* Replies with an RFC 9457 problem document. `field` and `extra` (a JSON fragment starting with
 * ',' appended inside the object) may be NULL. */
static void reply_problem_raw(struct evhttp_request *req, const char *reqid, bool draining,
                              int status, const char *code, const char *field, const char *detail,
                              const char *extra)
{
    hv_buf_t b;

    hv_buf_init(&b);
    hv_buf_printf(&b, "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"code\":\"%s\"",
                  status_text(status), status, code);
    if (detail) {
        hv_buf_puts(&b, ",\"detail\":");
        hv_buf_json_str(&b, detail, strlen(detail));
    }
    if (field) {
        hv_buf_puts(&b, ",\"field\":");
        hv_buf_json_str(&b, field, strlen(field));
    }
    if (extra)
        hv_buf_puts(&b, extra);
    hv_buf_putc(&b, '}');
    send_reply(req, reqid, draining, status, "application/problem+json", b.data, b.len);
    hv_buf_free(&b);
}

/* The two refusals an ingest request can get after it was queued: 503 (nothing stored, or not
 * everything) and 429 (over the client's rate, and not a redelivery). Both say when to retry. */
static void reply_unavailable(struct evhttp_request *req, const char *reqid, bool draining,
                              const char *detail)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", HV_RETRY_AFTER);
    reply_problem_raw(req, reqid, draining, 503, "unavailable", NULL, detail, NULL);
}

static void reply_rate_limited(struct evhttp_request *req, const char *reqid, bool draining,
                               int retry_after)
{
    char retry[16];
    snprintf(retry, sizeof(retry), "%d", retry_after);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry);
    reply_problem_raw(req, reqid, draining, 429, "rate_limited", NULL,
                      "too many requests from this client; retry later", NULL);
}

static void check_drained(hv_worker_t *w);

/* Ends the life of one queued ingest request on its worker. */
static void ingest_done(hv_worker_t *w)
{
    w->inflight--;
    check_drained(w);
}

static void problem(reqctx_t *rc, int status, const char *code, const char *field,
                    const char *detail, const char *extra)
{
    if (status == 503)
        evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Retry-After",
                          HV_RETRY_AFTER);
    if (status == 401 && strcmp(code, "unauthorized") == 0)
        evhttp_add_header(evhttp_request_get_output_headers(rc->req), "WWW-Authenticate",
                          "Bearer realm=\"hocvu\"");
    reply_problem_raw(rc->req, rc->reqid, rc->w->draining, status, code, field, detail, extra);
    access_log(rc->w, rc->route, rc->reqid, method_name(rc->req), rc->path, status, code,
               since_us(&rc->start));
}

static void reply_json(reqctx_t *rc, int status, const char *body, size_t len)
{
    send_reply(rc->req, rc->reqid, rc->w->draining, status, "application/json", body, len);
    access_log(rc->w, rc->route, rc->reqid, method_name(rc->req), rc->path, status, NULL,
               since_us(&rc->start));
}

/* ---- ingest ---- */

static int64_t loop_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A draining worker exits once nothing is in flight and no request has come for a short quiet
 * period: requests a client had already sent on a kept-alive connection when the signal came
 * are still read and answered (with Connection: close) instead of being cut by the exit. */
static void check_drained(hv_worker_t *w)
{
    if (!w->draining || w->inflight != 0 || !hv_writer_idle(w->writer))
        return;
    int64_t quiet = loop_ms(w->base) - w->last_request_ms;
    if (quiet >= HV_DRAIN_QUIET_MS) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    struct timeval tv = {0, (suseconds_t)(HV_DRAIN_QUIET_MS - quiet) * 1000};
    evtimer_add(w->quiet_ev, &tv);
}

static void quiet_cb(evutil_socket_t fd, short what, void *arg)
{
    check_drained(arg);
}

/* Finishes a pending ingest request: reply, log, free. */
static void pending_reply(pending_t *p, hv_outcome_t outcome)
{
    hv_worker_t *w = p->w;
    int status = 200;
    const char *code = NULL;

    switch (outcome) {
    case HV_OUT_ACCEPTED:
        send_reply(p->req, p->reqid, w->draining, 200, "application/json",
                   "{\"status\":\"accepted\"}", 21);
        break;
    case HV_OUT_DUPLICATE:
        send_reply(p->req, p->reqid, w->draining, 200, "application/json",
                   "{\"status\":\"duplicate\"}", 22);
        break;
    case HV_OUT_CONFLICT:
        status = 409;
        code = "certificate_conflict";
        reply_problem_raw(p->req, p->reqid, w->draining, 409, code, "data.certificate_id",
                          "this certificate_id was already issued to another person", NULL);
        break;
    case HV_OUT_UNAVAILABLE:
        status = 503;
        code = "unavailable";
        reply_unavailable(p->req, p->reqid, w->draining,
                          "the database is unavailable; nothing was stored, retry later");
        break;
    case HV_OUT_NOT_FOUND:
        status = 429;
        code = "rate_limited";
        reply_rate_limited(p->req, p->reqid, w->draining, p->retry_after);
        break;
    }
    if (outcome == HV_OUT_ACCEPTED || outcome == HV_OUT_DUPLICATE)
        hv_metrics_event(&w->metrics, outcome == HV_OUT_ACCEPTED ? "accepted" : "duplicate");
    access_log(w, HV_ROUTE_EVENTS, p->reqid, "POST", "/v1/events", status, code,
               since_us(&p->start));
    free(p);
    ingest_done(w);
}

static void on_written(hv_write_item_t *item, hv_outcome_t outcome)
{
    pending_t *p = item->arg;

    /* Only ids committed in PostgreSQL are remembered in Redis. */
    if ((outcome == HV_OUT_ACCEPTED || outcome == HV_OUT_DUPLICATE) && !p->w->closing)
        hv_dedup_mark(p->w->dedup, item->id, strlen(item->id));
    pending_reply(p, outcome);
}

static void on_dedup(void *arg, bool seen)
{
    pending_t *p = arg;

    if (seen) {
        pending_reply(p, HV_OUT_DUPLICATE);
        return;
    }
    if (p->w->closing) {
        pending_reply(p, HV_OUT_UNAVAILABLE);
        return;
    }
    /* Over the rate, the event is only looked up: an already-accepted redelivery is still
     * answered "duplicate", anything new gets 429. */
    p->item.lookup_only = p->limited;
    hv_writer_submit(p->w->writer, &p->item);
}

static bool content_type_is(struct evhttp_request *req, const char *want)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = strlen(want);

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Formats the ambiguous_ward extra member: ,"candidates":["…","…"] */
static void candidates_json(const hv_ward_resolution_t *res, char *out, size_t n)
{
    size_t off = (size_t)snprintf(out, n, ",\"candidates\":[");
    for (int i = 0; i < res->n_candidates && off < n; i++)
        off += (size_t)snprintf(out + off, n - off, "%s\"%s\"", i ? "," : "", res->candidates[i]);
    if (off < n)
        snprintf(out + off, n - off, "]");
}

/* Why one event was refused, as the contract reports it. */
typedef struct refusal {
    int status;
    const char *code;
    const char *field;
    char detail[160];
    char extra[128]; /* JSON members appended to a problem document, or "" */
} refusal_t;

/* Validates one event body (a single event, or one batch line when want_id) against the
 * snapshot's ward table and fills the write item: pseudonym, resolved ward, day, adult. The raw
 * citizen id is wiped before returning. Returns true, or false with *why filled. */
static bool prepare_event(hv_worker_t *w, const hv_snapshot_t *snap, const char *body, size_t len,
                          int64_t now, const char *msg_id, bool want_id, char *id_out,
                          hv_write_item_t *item, refusal_t *why)
{
    hv_event_t ev;
    hv_event_error_t err;
    const char *ward = NULL;
    uint8_t pseudonym[HV_PSEUDONYM_LEN];

    why->extra[0] = '\0';
    if (!hv_event_parse(body, len, now, want_id, id_out, &ev, &err)) {
        why->status = err.status;
        why->code = err.code;
        why->field = err.field;
        snprintf(why->detail, sizeof(why->detail), "%s", err.detail);
        return false;
    }
    if (ev.kind == HV_EV_ISSUED) {
        hv_ward_resolution_t res;
        switch (hv_wardtab_resolve(snap->wards, ev.ward_code, strlen(ev.ward_code), &res)) {
        case HV_WARD_OK:
            ward = res.ward->code;
            break;
        case HV_WARD_MALFORMED:
        case HV_WARD_UNKNOWN:
            hv_event_wipe(&ev);
            why->status = 422;
            why->code = "unknown_ward";
            why->field = "data.ward_code";
            snprintf(why->detail, sizeof(why->detail), "no such commune-level unit");
            return false;
        case HV_WARD_AMBIGUOUS:
            hv_event_wipe(&ev);
            why->status = 422;
            why->code = "ambiguous_ward";
            why->field = "data.ward_code";
            snprintf(why->detail, sizeof(why->detail),
                     "this pre-2025 unit was split between several current units; send the "
                     "current unit's code");
            candidates_json(&res, why->extra, sizeof(why->extra));
            return false;
        }
    }
    hv_pseudonymize(w->pseud, ev.citizen_id, strlen(ev.citizen_id), pseudonym);
    if (hv_log_enabled(HV_LOG_DEBUG)) {
        char masked[16];
        hv_citizen_mask(ev.citizen_id, strlen(ev.citizen_id), masked);
        hv_log(HV_LOG_DEBUG, "event validated", "citizen=%s kind=%s ward=%s", masked,
               ev.kind == HV_EV_ISSUED ? "issued" : "revoked", ward ? ward : "-");
    }
    hv_event_wipe(&ev);
    hv_write_item_from_event(item, want_id ? id_out : msg_id, &ev, ward, pseudonym);
    return true;
}

/* The webhook headers of a request, verified over its raw body. Replies and returns false when
 * the signature does not hold. */
static bool verify_signature(reqctx_t *rc, const char *body, size_t len, int64_t now)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(rc->req);
    const char *msg_id = evhttp_find_header(in, "webhook-id");

    switch (hv_sig_verify(rc->w->sig, msg_id, evhttp_find_header(in, "webhook-timestamp"),
                          evhttp_find_header(in, "webhook-signature"), body, len, now,
                          rc->w->tolerance)) {
    case HV_SIG_OK:
        return true;
    case HV_SIG_MISSING:
        problem(rc, 401, "invalid_signature", NULL,
                "webhook-id, webhook-timestamp and webhook-signature headers are required", NULL);
        return false;
    case HV_SIG_MALFORMED:
        problem(rc, 401, "invalid_signature", NULL, "webhook-timestamp is not a Unix time", NULL);
        return false;
    case HV_SIG_STALE:
        problem(rc, 401, "stale_timestamp", NULL,
                "webhook-timestamp is outside the allowed tolerance", NULL);
        return false;
    case HV_SIG_MISMATCH:
        problem(rc, 401, "invalid_signature", NULL, "no signature matches", NULL);
        return false;
    }
    return false;
}

/* Takes a token from the client's bucket. Returns true when the request is within the rate;
 * otherwise false with *retry_after set (the caller still lets redeliveries through). */
static bool within_rate(reqctx_t *rc, int *retry_after)
{
    hv_worker_t *w = rc->w;
    char *addr = NULL;
    ev_uint16_t port;
    struct timespec now;

    if (w->rate_limit <= 0)
        return true;
    evhttp_connection_get_peer(evhttp_request_get_connection(rc->req), &addr, &port);
    clock_gettime(CLOCK_MONOTONIC, &now);
    return hv_ratelimit_take(w->srv->rl, addr ? addr : "?", w->rate_limit, w->rate_burst,
                             (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, retry_after);
}

/* Common gate of both ingest endpoints: method, size, media type, signature. Returns the body
 * (borrowed from the request) or NULL after replying. */
static const char *ingest_gate(reqctx_t *rc, const char *media_type, size_t max_body,
                               const char *too_large, size_t *len_out, int64_t now)
{
    struct evbuffer *body_buf = evhttp_request_get_input_buffer(rc->req);
    size_t len = evbuffer_get_length(body_buf);
    const char *body;

    if (evhttp_request_get_command(rc->req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Allow", "POST");
        problem(rc, 405, "method_not_allowed", NULL, "use POST", NULL);
        return NULL;
    }
    if (len > max_body) {
        problem(rc, 413, "payload_too_large", NULL, too_large, NULL);
        return NULL;
    }
    if (!content_type_is(rc->req, media_type)) {
        char detail[96];
        snprintf(detail, sizeof(detail), "Content-Type must be %s", media_type);
        problem(rc, 415, "unsupported_media_type", NULL, detail, NULL);
        return NULL;
    }
    body = len ? (const char *)evbuffer_pullup(body_buf, -1) : "";
    if (!body)
        body = "";
    if (!verify_signature(rc, body, len, now))
        return NULL;
    *len_out = len;
    return body;
}

/* The snapshot whose ward table validates an ingest request, or NULL after replying 503 (none
 * loaded yet). Release it with hv_snapshot_release(). */
static hv_snapshot_t *ingest_snapshot(reqctx_t *rc)
{
    hv_snapshot_t *snap = hv_snapshot_acquire(rc->w->srv->snap);
    if (!snap)
        problem(rc, 503, "unavailable", NULL, "the ward table is not loaded yet; retry later",
                NULL);
    return snap;
}

static void handle_event(reqctx_t *rc)
{
    hv_worker_t *w = rc->w;
    const char *msg_id, *body;
    size_t len;
    hv_snapshot_t *snap;
    refusal_t why;
    pending_t *p;
    int64_t now = (int64_t)time(NULL);

    body = ingest_gate(rc, "application/json", HV_MAX_EVENT_BODY, "the body is larger than 64 KiB",
                       &len, now);
    if (!body)
        return;
    msg_id = evhttp_find_header(evhttp_request_get_input_headers(rc->req), "webhook-id");
    if (strlen(msg_id) > HV_EVENT_ID_MAX) {
        problem(rc, 400, "invalid_event", "webhook-id", "webhook-id is longer than 256 bytes",
                NULL);
        return;
    }
    snap = ingest_snapshot(rc);
    if (!snap)
        return;
    p = hv_xcalloc(1, sizeof(*p));
    p->limited = !within_rate(rc, &p->retry_after);
    if (!prepare_event(w, snap, body, len, now, msg_id, false, NULL, &p->item, &why)) {
        hv_snapshot_release(snap);
        free(p);
        problem(rc, why.status, why.code, why.field, why.detail[0] ? why.detail : NULL,
                why.extra[0] ? why.extra : NULL);
        return;
    }
    hv_snapshot_release(snap);
    p->w = w;
    p->req = rc->req;
    snprintf(p->reqid, sizeof(p->reqid), "%s", rc->reqid);
    p->start = rc->start;
    p->item.cb = on_written;
    p->item.arg = p;
    w->inflight++;
    hv_dedup_check(w->dedup, msg_id, strlen(msg_id), on_dedup, p);
}

/* ---- batch ingest ---- */

#define HV_MAX_BATCH_BODY (16 * 1024 * 1024)
#define HV_MAX_BATCH_LINES 10000

typedef struct batch_error {
    int line;
    char *id;          /* owned; NULL if the line had no usable id */
    const char *code;  /* static */
    const char *field; /* static or NULL */
} batch_error_t;

/* One batch request while its valid lines are being committed. Owned by the worker until the
 * reply; freed when the last item is called back. */
typedef struct batch_req {
    hv_worker_t *w;
    struct evhttp_request *req;
    char reqid[40];
    struct timespec start;
    hv_write_item_t *items; /* owned array */
    int *item_line;         /* owned: line number of each item */
    int n_items, n_pending;
    int accepted, duplicates, rejected;
    bool unavailable;
    bool limited, not_found; /* over the rate: only a full redelivery passes */
    int retry_after;
    batch_error_t *errors; /* owned */
    int n_errors, cap_errors;
} batch_req_t;

static void batch_add_error(batch_req_t *b, int line, const char *id, const char *code,
                            const char *field)
{
    if (b->n_errors == b->cap_errors) {
        b->cap_errors = b->cap_errors ? b->cap_errors * 2 : 16;
        b->errors = hv_xrealloc(b->errors, sizeof(*b->errors) * (size_t)b->cap_errors);
    }
    b->errors[b->n_errors++] = (batch_error_t){
        .line = line, .id = id && id[0] ? hv_xstrdup(id) : NULL, .code = code, .field = field};
    b->rejected++;
    hv_metrics_event(&b->w->metrics, code);
}

static int batch_error_cmp(const void *a, const void *b)
{
    return ((const batch_error_t *)a)->line - ((const batch_error_t *)b)->line;
}

static void batch_free(batch_req_t *b)
{
    for (int i = 0; i < b->n_errors; i++)
        free(b->errors[i].id);
    free(b->errors);
    free(b->items);
    free(b->item_line);
    free(b);
}

/* Sends the batch summary (or 503 when any valid line could not be committed: the sender
 * retries the whole batch and the committed lines come back as duplicates). */
static void batch_reply(batch_req_t *b)
{
    hv_worker_t *w = b->w;
    hv_buf_t out;
    int status = 200;

    if (b->limited && b->not_found) {
        status = 429;
        reply_rate_limited(b->req, b->reqid, w->draining, b->retry_after);
    } else if (b->unavailable) {
        status = 503;
        reply_unavailable(b->req, b->reqid, w->draining,
                          "the database is unavailable; some lines were not stored, retry the "
                          "batch");
    } else {
        if (b->n_errors > 1)
            qsort(b->errors, (size_t)b->n_errors, sizeof(*b->errors), batch_error_cmp);
        hv_buf_init(&out);
        hv_buf_printf(&out, "{\"accepted\":%d,\"duplicates\":%d,\"rejected\":%d,\"errors\":[",
                      b->accepted, b->duplicates, b->rejected);
        for (int i = 0; i < b->n_errors; i++) {
            const batch_error_t *e = &b->errors[i];
            hv_buf_printf(&out, "%s{\"line\":%d,\"id\":", i ? "," : "", e->line);
            if (e->id)
                hv_buf_json_str(&out, e->id, strlen(e->id));
            else
                hv_buf_puts(&out, "null");
            hv_buf_printf(&out, ",\"code\":\"%s\"", e->code);
            if (e->field)
                hv_buf_printf(&out, ",\"field\":\"%s\"", e->field);
            hv_buf_putc(&out, '}');
        }
        hv_buf_puts(&out, "]}");
        send_reply(b->req, b->reqid, w->draining, 200, "application/json", out.data, out.len);
        hv_buf_free(&out);
    }
    access_log(w, HV_ROUTE_BATCH, b->reqid, "POST", "/v1/events/batch", status,
               status == 429   ? "rate_limited"
               : status == 503 ? "unavailable"
                               : NULL,
               since_us(&b->start));
    batch_free(b);
    ingest_done(w);
}

static void on_batch_written(hv_write_item_t *item, hv_outcome_t outcome)
{
    batch_req_t *b = item->arg;
    int k = (int)(item - b->items);

    switch (outcome) {
    case HV_OUT_ACCEPTED:
        b->accepted++;
        hv_metrics_event(&b->w->metrics, "accepted");
        break;
    case HV_OUT_DUPLICATE:
        b->duplicates++;
        hv_metrics_event(&b->w->metrics, "duplicate");
        break;
    case HV_OUT_CONFLICT:
        batch_add_error(b, b->item_line[k], item->id, "certificate_conflict",
                        "data.certificate_id");
        break;
    case HV_OUT_UNAVAILABLE:
        b->unavailable = true;
        break;
    case HV_OUT_NOT_FOUND:
        b->not_found = true;
        break;
    }
    if (--b->n_pending == 0)
        batch_reply(b);
}

static void handle_batch(reqctx_t *rc)
{
    hv_worker_t *w = rc->w;
    const char *body;
    size_t len, lines;
    hv_snapshot_t *snap;
    batch_req_t *b;
    int64_t now = (int64_t)time(NULL);
    char id[HV_EVENT_ID_MAX + 1];

    body = ingest_gate(rc, "application/x-ndjson", HV_MAX_BATCH_BODY,
                       "the batch is larger than 16 MiB", &len, now);
    if (!body)
        return;
    lines = hv_ndjson_count_lines(body, len);
    if (lines > HV_MAX_BATCH_LINES) {
        problem(rc, 413, "payload_too_large", NULL, "the batch has more than 10000 lines", NULL);
        return;
    }
    snap = ingest_snapshot(rc);
    if (!snap)
        return;
    b = hv_xcalloc(1, sizeof(*b));
    b->w = w;
    b->req = rc->req;
    snprintf(b->reqid, sizeof(b->reqid), "%s", rc->reqid);
    b->start = rc->start;
    b->limited = !within_rate(rc, &b->retry_after);
    b->items = hv_xcalloc(lines ? lines : 1, sizeof(*b->items));
    b->item_line = hv_xcalloc(lines ? lines : 1, sizeof(*b->item_line));

    hv_ndjson_t split;
    const char *line;
    size_t n;
    long line_no;
    hv_ndjson_init(&split, body, len);
    while (hv_ndjson_next(&split, &line, &n, &line_no)) {
        hv_write_item_t *it = &b->items[b->n_items];
        refusal_t why;

        if (!prepare_event(w, snap, line, n, now, NULL, true, id, it, &why)) {
            batch_add_error(b, (int)line_no, id, why.code, why.field);
            continue;
        }
        it->cb = on_batch_written;
        it->arg = b;
        it->lookup_only = b->limited;
        b->item_line[b->n_items++] = (int)line_no;
    }
    hv_snapshot_release(snap);

    w->inflight++;
    if (b->n_items == 0) {
        batch_reply(b);
        return;
    }
    if (!hv_writer_available(w->writer)) {
        b->unavailable = true;
        batch_reply(b);
        return;
    }
    b->n_pending = b->n_items;
    /* Items are independent; the writer groups them into transactions of batch_max. The last
     * callback frees b, so the loop bound is a local copy and b is not touched afterwards. */
    hv_write_item_t *items = b->items;
    int n_items = b->n_items;
    for (int i = 0; i < n_items; i++)
        hv_writer_submit(w->writer, &items[i]);
}

/* ---- reads ---- */

static bool authorized(reqctx_t *rc)
{
    const hv_worker_t *w = rc->w;
    const char *auth;
    bool ok = false;

    if (w->n_tokens == 0)
        return true;
    auth = evhttp_find_header(evhttp_request_get_input_headers(rc->req), "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    size_t n = strlen(auth);
    for (int i = 0; i < w->n_tokens; i++) {
        /* Every token is compared, in constant time for equal lengths. */
        if (strlen(w->tokens[i]) == n && hv_ct_memeq(auth, w->tokens[i], n))
            ok = true;
    }
    return ok;
}

static bool is_get(reqctx_t *rc)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(rc->req);
    if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Allow", "GET, HEAD");
    problem(rc, 405, "method_not_allowed", NULL, "use GET", NULL);
    return false;
}

/* Does If-None-Match list this ETag (or '*')? */
static bool etag_matches(struct evhttp_request *req, const char *etag)
{
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    size_t n = strlen(etag);

    if (!inm)
        return false;
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

typedef enum doc_kind { DOC_PROGRESS, DOC_WARDS } doc_kind_t;

static void reply_cached(reqctx_t *rc, const char *content_type, const char *body, size_t len,
                         const char *etag);
static hv_snapshot_t *read_gate(reqctx_t *rc);

/* GET /v1/progress and GET /v1/wards: pre-rendered in the snapshot. */
static void handle_doc(reqctx_t *rc, doc_kind_t kind)
{
    hv_snapshot_t *snap = read_gate(rc);
    const hv_doc_t *d;

    if (!snap)
        return;
    d = kind == DOC_PROGRESS ? &snap->progress : &snap->wards_doc;
    reply_cached(rc, "application/json", d->body, d->len, d->etag);
    hv_snapshot_release(snap);
}

/* Replies 200 with a body and its ETag, or 304 when the client already has it. */
static void reply_cached(reqctx_t *rc, const char *content_type, const char *body, size_t len,
                         const char *etag)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(rc->req);

    evhttp_add_header(h, "ETag", etag);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    if (etag_matches(rc->req, etag)) {
        send_reply(rc->req, rc->reqid, rc->w->draining, 304, NULL, NULL, 0);
        access_log(rc->w, rc->route, rc->reqid, method_name(rc->req), rc->path, 304, NULL,
                   since_us(&rc->start));
        return;
    }
    send_reply(rc->req, rc->reqid, rc->w->draining, 200, content_type, body, len);
    access_log(rc->w, rc->route, rc->reqid, method_name(rc->req), rc->path, 200, NULL,
               since_us(&rc->start));
}

/* The checks every read endpoint shares: method, token, a snapshot. Returns a snapshot
 * reference (release it) or NULL after replying. */
static hv_snapshot_t *read_gate(reqctx_t *rc)
{
    hv_snapshot_t *snap;

    if (!is_get(rc))
        return NULL;
    if (!authorized(rc)) {
        problem(rc, 401, "unauthorized", NULL, "a valid bearer token is required", NULL);
        return NULL;
    }
    snap = hv_snapshot_acquire(rc->w->srv->snap);
    if (!snap)
        problem(rc, 503, "unavailable", NULL, "no data loaded yet; retry later", NULL);
    return snap;
}

static int32_t vn_today(void)
{
    return (int32_t)hv_date_to_days(hv_time_vn_date((int64_t)time(NULL)));
}

/* GET /v1/wards/{code} */
static void handle_ward(reqctx_t *rc, const char *code)
{
    hv_snapshot_t *snap = read_gate(rc);
    hv_buf_t b;
    char etag[24];

    if (!snap)
        return;
    hv_buf_init(&b);
    if (!hv_snapshot_ward_json(snap, code, vn_today(), &b)) {
        problem(rc, 404, "not_found", NULL, "no such current ward", NULL);
    } else {
        hv_etag_of(b.data, b.len, etag);
        reply_cached(rc, "application/json", b.data, b.len, etag);
    }
    hv_buf_free(&b);
    hv_snapshot_release(snap);
}

/* Parses an optional YYYY-MM-DD query parameter into days; false after replying 400. */
static bool date_param(reqctx_t *rc, const hv_query_t *q, const char *name, int32_t *days)
{
    const char *v = hv_query_get(q, name);
    hv_date_t d;

    if (!v)
        return true;
    if (!hv_date_parse(v, strlen(v), &d)) {
        problem(rc, 400, "invalid_parameter", name, "dates are YYYY-MM-DD", NULL);
        return false;
    }
    *days = (int32_t)hv_date_to_days(d);
    return true;
}

/* GET /v1/timeseries?ward=&from=&to= */
static void handle_timeseries(reqctx_t *rc)
{
    const char *uri = evhttp_request_get_uri(rc->req), *qs = strchr(uri, '?'), *why = NULL;
    hv_query_t q;
    hv_snapshot_t *snap;
    const char *ward;
    int32_t from, to;
    hv_buf_t b;
    char etag[24];

    if (!is_get(rc))
        return;
    if (qs && !hv_query_parse(qs + 1, strcspn(qs + 1, "#"), &q, &why)) {
        problem(rc, 400, "invalid_parameter", NULL, why, NULL);
        return;
    }
    if (!qs)
        q.n = 0;
    snap = read_gate(rc);
    if (!snap)
        return;
    ward = hv_query_get(&q, "ward");
    if (ward && ward[0] == '\0')
        ward = NULL;
    if (ward && !hv_wardtab_find(snap->wards, ward)) {
        problem(rc, 404, "not_found", "ward", "no such current ward", NULL);
        goto done;
    }
    to = vn_today();
    if (!date_param(rc, &q, "to", &to))
        goto done;
    from = hv_snapshot_first_day(snap, ward, to);
    if (from > to)
        from = to;
    if (!date_param(rc, &q, "from", &from))
        goto done;
    if (from > to) {
        problem(rc, 400, "invalid_parameter", "from", "from is after to", NULL);
        goto done;
    }
    if (to - from >= HV_MAX_TIMESERIES_DAYS) {
        problem(rc, 400, "invalid_parameter", "from", "at most 3660 days per request", NULL);
        goto done;
    }
    hv_buf_init(&b);
    hv_snapshot_timeseries_json(snap, ward, from, to, &b);
    hv_etag_of(b.data, b.len, etag);
    reply_cached(rc, "application/json", b.data, b.len, etag);
    hv_buf_free(&b);
done:
    hv_snapshot_release(snap);
}

/* GET /v1/reports/wards.csv */
static void handle_report(reqctx_t *rc)
{
    hv_snapshot_t *snap = read_gate(rc);
    hv_buf_t b;
    char etag[24], disp[96], date[16];

    if (!snap)
        return;
    hv_buf_init(&b);
    hv_snapshot_wards_csv(snap, &b);
    hv_etag_of(b.data, b.len, etag);
    hv_date_format(hv_time_vn_date(snap->as_of), date);
    snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-wards-%s.csv\"", date);
    evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Content-Disposition", disp);
    reply_cached(rc, "text/csv; charset=utf-8", b.data, b.len, etag);
    hv_buf_free(&b);
    hv_snapshot_release(snap);
}

/* ---- server-sent events ---- */

/* One open /v1/stream response. Owned by the worker's list; freed when the client goes away
 * (close callback) or when the worker ends the stream. */
typedef struct stream_client {
    hv_worker_t *w;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    char etag[24]; /* of the last progress document sent */
    int64_t last_sent_ms;
    struct stream_client *prev, *next;
} stream_client_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stream_unlink(stream_client_t *c)
{
    hv_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->streams = c->next;
    if (c->next)
        c->next->prev = c->prev;
    __atomic_store_n(&w->n_streams, w->n_streams - 1, __ATOMIC_RELAXED);
}

/* libevent closed the connection (client gone, or write failed): forget the client. */
static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
    stream_client_t *c = arg;
    stream_unlink(c);
    /* A client gone mid-reply leaves the request unhooked from its connection, and libevent
     * never frees an unhooked request whose reply was not finished: that is ours to do. */
    if (!evhttp_request_get_connection(c->req))
        evhttp_request_free(c->req);
    free(c);
}

static void stream_send(stream_client_t *c, const char *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        return;
    evbuffer_add(buf, text, len);
    evhttp_send_reply_chunk(c->req, buf);
    evbuffer_free(buf);
    c->last_sent_ms = mono_ms();
}

/* Sends the progress document if it changed since the last one this client saw. */
static void stream_push(stream_client_t *c, const hv_snapshot_t *snap)
{
    hv_buf_t b;

    if (!snap || strcmp(c->etag, snap->progress.etag) == 0)
        return;
    hv_buf_init(&b);
    hv_buf_printf(&b, "event: progress\nid: %s\ndata: ", snap->progress.etag);
    hv_buf_append(&b, snap->progress.body, snap->progress.len);
    hv_buf_puts(&b, "\n\n");
    stream_send(c, b.data, b.len);
    hv_buf_free(&b);
    memcpy(c->etag, snap->progress.etag, sizeof(c->etag));
}

/* Ends one stream from our side (shutdown). */
static void stream_end(stream_client_t *c)
{
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    stream_unlink(c);
    evhttp_send_reply_end(c->req);
    free(c);
}

/* Once a second: push changes (so at most one progress event per second) and keep idle
 * connections alive through proxies. */
static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    hv_worker_t *w = arg;
    hv_snapshot_t *snap;
    int64_t now = mono_ms();

    if (!w->streams)
        return;
    snap = hv_snapshot_acquire(w->srv->snap);
    for (stream_client_t *c = w->streams, *next; c; c = next) {
        next = c->next;
        stream_push(c, snap);
        if (now - c->last_sent_ms >= HV_STREAM_KEEPALIVE_MS)
            stream_send(c, ": keep-alive\n\n", 14);
    }
    hv_snapshot_release(snap);
}

/* GET /v1/stream */
static void handle_stream(reqctx_t *rc)
{
    hv_snapshot_t *snap = read_gate(rc);
    struct evkeyvalq *h = evhttp_request_get_output_headers(rc->req);
    stream_client_t *c;

    if (!snap)
        return;
    if (rc->w->draining) {
        hv_snapshot_release(snap);
        problem(rc, 503, "unavailable", NULL, "shutting down", NULL);
        return;
    }
    c = hv_xcalloc(1, sizeof(*c));
    c->w = rc->w;
    c->req = rc->req;
    c->evcon = evhttp_request_get_connection(rc->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_add_header(h, "X-Request-Id", rc->reqid);
    evhttp_send_reply_start(rc->req, 200, "OK");
    evhttp_connection_set_closecb(c->evcon, stream_closed, c);
    c->next = rc->w->streams;
    if (c->next)
        c->next->prev = c;
    rc->w->streams = c;
    __atomic_store_n(&rc->w->n_streams, rc->w->n_streams + 1, __ATOMIC_RELAXED);
    stream_send(c, "retry: 2000\n\n", 13);
    stream_push(c, snap);
    hv_snapshot_release(snap);
    access_log(rc->w, rc->route, rc->reqid, "GET", rc->path, 200, NULL, since_us(&rc->start));
}

/* GET / */
static void handle_dashboard(reqctx_t *rc)
{
    size_t len;
    const char *html = hv_web_dashboard(&len);
    char etag[24];

    if (!is_get(rc))
        return;
    /* The page itself is public: it holds no data and asks for a token when the API needs one. */
    hv_etag_of(html, len, etag);
    evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Content-Security-Policy",
                      "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                      "script-src 'self' 'unsafe-inline'; img-src 'self' data:");
    reply_cached(rc, "text/html; charset=utf-8", html, len, etag);
}

/* GET /metrics */
static void handle_metrics(reqctx_t *rc)
{
    hv_server_t *srv = rc->w->srv;
    hv_metrics_t *per[64];
    hv_metrics_gauges_t g = {0};
    hv_snapshot_t *snap;
    hv_buf_t b;
    int n = srv->n_workers < 64 ? srv->n_workers : 64;

    if (!is_get(rc))
        return;
    g.postgres_up = hv_snapstore_db_ok(srv->snap) ? 1 : 0;
    g.redis_up = 1;
    for (int i = 0; i < n; i++) {
        hv_worker_t *w = &srv->workers[i];
        hv_dedup_stats_t ds;
        hv_writer_stats_t ws;
        per[i] = &w->metrics;
        if (!hv_writer_available_relaxed(w->writer))
            g.postgres_up = 0;
        if (!hv_dedup_connected_relaxed(w->dedup))
            g.redis_up = 0;
        hv_dedup_get_stats(w->dedup, &ds);
        hv_writer_get_stats(w->writer, &ws);
        g.redis_hits += ds.hits;
        g.redis_misses += ds.misses;
        g.writer_retries += ws.retries;
        g.writer_failures += ws.failures;
        g.stream_clients += __atomic_load_n(&w->n_streams, __ATOMIC_RELAXED);
        g.connections += hv_conntrack_open(w->conns);
        g.slow_cut += hv_conntrack_cut(w->conns);
    }
    g.snapshot_age = hv_snapstore_age(srv->snap);
    snap = hv_snapshot_acquire(srv->snap);
    if (snap) {
        g.certified_adults = snap->certified_adults;
        g.certified_total = snap->certified_total;
        hv_snapshot_release(snap);
    }
    hv_buf_init(&b);
    hv_metrics_render(&b, per, n, &g);
    send_reply(rc->req, rc->reqid, rc->w->draining, 200, "text/plain; version=0.0.4; charset=utf-8",
               b.data, b.len);
    access_log(rc->w, rc->route, rc->reqid, method_name(rc->req), rc->path, 200, NULL,
               since_us(&rc->start));
    hv_buf_free(&b);
}

static void handle_healthz(reqctx_t *rc)
{
    if (!is_get(rc))
        return;
    reply_json(rc, 200, "{\"status\":\"ok\",\"version\":\"" HOCVU_VERSION "\"}",
               strlen("{\"status\":\"ok\",\"version\":\"" HOCVU_VERSION "\"}"));
}

static void handle_readyz(reqctx_t *rc)
{
    hv_snapshot_t *snap;
    bool db = hv_snapstore_db_ok(rc->w->srv->snap) && hv_writer_available(rc->w->writer);
    bool redis = hv_dedup_connected(rc->w->dedup);
    char body[160];

    if (!is_get(rc))
        return;
    snap = hv_snapshot_acquire(rc->w->srv->snap);
    bool ready = db && snap && !rc->w->draining;
    hv_snapshot_release(snap);
    int n =
        snprintf(body, sizeof(body), "{\"status\":\"%s\",\"postgres\":%s,\"redis\":%s}",
                 ready ? "ready" : "unavailable", db ? "true" : "false", redis ? "true" : "false");
    if (!ready)
        evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Retry-After",
                          HV_RETRY_AFTER);
    reply_json(rc, ready ? 200 : 503, body, (size_t)n);
}

/* ---- routing ---- */

/* Brings this worker's copy of the reloadable settings up to date after a SIGHUP. Cheap when
 * nothing changed: one atomic load per request. */
static void worker_sync_live(hv_worker_t *w)
{
    hv_server_t *srv = w->srv;
    uint64_t gen = __atomic_load_n(&srv->live_gen, __ATOMIC_ACQUIRE);
    const hv_config_t *c;

    if (gen == w->live_gen && w->sig)
        return;
    pthread_mutex_lock(&srv->live_lock);
    c = srv->live ? srv->live : srv->cfg;
    hv_sig_verifier_t *sig = hv_sig_verifier_new(&c->webhook_keys);
    if (sig) {
        hv_sig_verifier_free(w->sig);
        w->sig = sig;
    }
    for (int i = 0; i < w->n_tokens; i++)
        free(w->tokens[i]);
    w->n_tokens = c->n_read_tokens;
    for (int i = 0; i < c->n_read_tokens; i++)
        w->tokens[i] = hv_xstrdup(c->read_tokens[i]);
    w->tolerance = c->timestamp_tolerance;
    w->rate_limit = c->rate_limit;
    w->rate_burst = c->rate_burst;
    w->live_gen = __atomic_load_n(&srv->live_gen, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&srv->live_lock);
}

static void route(struct evhttp_request *req, void *arg)
{
    hv_worker_t *w = arg;
    reqctx_t rc = {.w = w, .req = req};
    char reqid[40];
    char path[256];
    const char *uri = evhttp_request_get_uri(req);
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    size_t plen = strcspn(uri, "?#");

    clock_gettime(CLOCK_MONOTONIC, &rc.start);
    w->last_request_ms = loop_ms(w->base);
    hv_conntrack_request_done(
        w->conns, evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)));
    worker_sync_live(w);
    /* Keep a caller's request id if it is short and plain; otherwise make one. */
    if (given && strlen(given) < sizeof(reqid) &&
        strspn(given, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_.:") == strlen(given) &&
        given[0])
        snprintf(reqid, sizeof(reqid), "%s", given);
    else
        snprintf(reqid, sizeof(reqid), "%x-%d-%llx", (unsigned)getpid() & 0xffff, w->index,
                 (unsigned long long)++w->req_seq);
    rc.reqid = reqid;
    if (plen >= sizeof(path))
        plen = sizeof(path) - 1;
    memcpy(path, uri, plen);
    path[plen] = '\0';
    rc.path = path;

    if (strcmp(path, "/v1/events") == 0) {
        rc.route = HV_ROUTE_EVENTS;
        handle_event(&rc);
    } else if (strcmp(path, "/v1/events/batch") == 0) {
        rc.route = HV_ROUTE_BATCH;
        handle_batch(&rc);
    } else if (strcmp(path, "/v1/progress") == 0) {
        rc.route = HV_ROUTE_PROGRESS;
        handle_doc(&rc, DOC_PROGRESS);
    } else if (strcmp(path, "/v1/wards") == 0) {
        rc.route = HV_ROUTE_WARDS;
        handle_doc(&rc, DOC_WARDS);
    } else if (strncmp(path, "/v1/wards/", 10) == 0 && path[10] && !strchr(path + 10, '/')) {
        rc.route = HV_ROUTE_WARD;
        handle_ward(&rc, path + 10);
    } else if (strcmp(path, "/v1/timeseries") == 0) {
        rc.route = HV_ROUTE_TIMESERIES;
        handle_timeseries(&rc);
    } else if (strcmp(path, "/v1/reports/wards.csv") == 0) {
        rc.route = HV_ROUTE_REPORT;
        handle_report(&rc);
    } else if (strcmp(path, "/v1/stream") == 0) {
        rc.route = HV_ROUTE_STREAM;
        handle_stream(&rc);
    } else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        rc.route = HV_ROUTE_DASHBOARD;
        handle_dashboard(&rc);
    } else if (strcmp(path, "/healthz") == 0) {
        rc.route = HV_ROUTE_HEALTHZ;
        handle_healthz(&rc);
    } else if (strcmp(path, "/readyz") == 0) {
        rc.route = HV_ROUTE_READYZ;
        handle_readyz(&rc);
    } else if (strcmp(path, "/metrics") == 0) {
        rc.route = HV_ROUTE_METRICS;
        handle_metrics(&rc);
    } else {
        rc.route = HV_ROUTE_OTHER;
        problem(&rc, 404, "not_found", NULL, "no such endpoint", NULL);
    }
}

/* ---- workers ---- */

/* Binds a listening socket. With `shared`, SO_REUSEPORT lets every worker bind its own socket
 * to the address (the kernel spreads connections between them); without it the bind fails when
 * anyone listens there already, which is how start-up detects a port in use - SO_REUSEPORT
 * alone would silently share the port with another process of the same user. */
static int listen_socket(const hv_config_t *cfg, bool shared, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[8];
    int fd = -1, one = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    rc = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "could not resolve %.128s: %.64s", cfg->listen_host,
                 gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto failed;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
        goto failed;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
        goto failed;
    freeaddrinfo(ai);
    return fd;

failed:
    snprintf(err, errlen, "could not listen on %.128s:%d: %.64s", cfg->listen_host,
             cfg->listen_port, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_worker_t *w = arg;
    hv_log(HV_LOG_WARN, "drain deadline reached", "worker=%d inflight=%d", w->index, w->inflight);
    event_base_loopexit(w->base, NULL);
}

/* Runs in the worker's thread when the main thread asks it to stop: no new connections; the
 * loop ends once every accepted request has been answered. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_worker_t *w = arg;
    struct timeval tv = {HV_DRAIN_DEADLINE_SEC, 0};

    if (w->draining)
        return;
    w->draining = true;
    if (w->listener) {
        evhttp_del_accept_socket(w->http, w->listener);
        w->listener = NULL;
    }
    evtimer_add(w->deadline_ev, &tv);
    while (w->streams)
        stream_end(w->streams);
    check_drained(w);
}

static void *worker_main(void *arg)
{
    hv_worker_t *w = arg;
    event_base_dispatch(w->base);
    /* Tear down in dependency order; late callbacks see `closing` and start nothing new. */
    w->closing = true;
    hv_dedup_free(w->dedup);
    w->dedup = NULL;
    hv_writer_free(w->writer);
    w->writer = NULL;
    return NULL;
}

/* Makes the bufferevent of each accepted connection: TLS when a certificate is configured,
 * and tracked for its request deadline either way. */
static struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
    hv_worker_t *w = arg;
    struct bufferevent *bev;

    if (w->srv->ssl) {
        SSL *ssl = SSL_new(w->srv->ssl);
        if (!ssl)
            return NULL; /* evhttp then falls back to a plain socket: the handshake fails */
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev)
        hv_conntrack_add(w->conns, bev);
    return bev;
}

static int worker_init(hv_server_t *srv, hv_worker_t *w, int index, char *err, size_t errlen)
{
    const hv_config_t *cfg = srv->cfg;
    char name[16];
    int fd;

    w->srv = srv;
    w->index = index;
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http) {
        snprintf(err, errlen, "could not create the event loop");
        return -1;
    }
    evhttp_set_max_body_size(w->http, HV_MAX_HTTP_BODY);
    evhttp_set_max_headers_size(w->http, HV_MAX_HEADERS);
    evhttp_set_timeout(w->http, cfg->http_timeout);
    w->conns = hv_conntrack_new(w->base, cfg->http_timeout);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(w->http, route, w);
    evhttp_set_bevcb(w->http, conn_bevcb, w);
    fd = listen_socket(cfg, true, err, errlen);
    if (fd < 0)
        return -1;
    w->listener = evhttp_accept_socket_with_handle(w->http, fd);
    if (!w->listener) {
        close(fd);
        snprintf(err, errlen, "could not accept on %.128s:%d", cfg->listen_host, cfg->listen_port);
        return -1;
    }
    worker_sync_live(w);
    w->pseud = hv_pseudonymizer_new(cfg->id_pepper, cfg->id_pepper_len);
    if (!w->sig || !w->pseud) {
        snprintf(err, errlen, "could not set up HMAC-SHA256 (OpenSSL)");
        return -1;
    }
    snprintf(name, sizeof(name), "w%d", index);
    /* Shard 0 is where old days are folded (hv_compact_counters); writers use 1..threads. */
    w->writer =
        hv_writer_new(w->base, cfg->database_url, cfg->batch_max, index + 1, name, &w->metrics);
    w->dedup = hv_dedup_new(w->base, &cfg->redis, name);
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    w->stream_ev = event_new(w->base, -1, EV_PERSIST, stream_tick, w);
    w->quiet_ev = evtimer_new(w->base, quiet_cb, w);
    if (!w->stop_ev || !w->deadline_ev || !w->stream_ev || !w->quiet_ev) {
        snprintf(err, errlen, "could not create events");
        return -1;
    }
    struct timeval tick = {0, HV_STREAM_TICK_MS * 1000};
    event_add(w->stream_ev, &tick);
    return 0;
}

static void worker_free(hv_worker_t *w)
{
    if (w->stream_ev)
        event_free(w->stream_ev);
    hv_dedup_free(w->dedup);
    hv_writer_free(w->writer);
    if (w->http)
        evhttp_free(w->http);
    hv_conntrack_free(w->conns); /* after evhttp: drops the last references */
    if (w->quiet_ev)
        event_free(w->quiet_ev);
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->deadline_ev)
        event_free(w->deadline_ev);
    hv_sig_verifier_free(w->sig);
    hv_pseudonymizer_free(w->pseud);
    for (int i = 0; i < w->n_tokens; i++)
        free(w->tokens[i]);
    if (w->base)
        event_base_free(w->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    hv_server_t *srv = arg;
    hv_log(HV_LOG_INFO, "shutting down", "signal=%d", (int)sig);
    for (int i = 0; i < srv->n_workers; i++)
        event_active(srv->workers[i].stop_ev, EV_READ, 0);
    event_base_loopexit(srv->main_base, NULL);
}

/* Names a setting that differs between two configurations but needs a restart to apply, or
 * NULL. */
static const char *restart_needed(const hv_config_t *a, const hv_config_t *b)
{
    if (strcmp(a->listen_host, b->listen_host) || a->listen_port != b->listen_port)
        return "HOCVU_LISTEN";
    if (strcmp(a->database_url, b->database_url))
        return "HOCVU_DATABASE_URL";
    if (strcmp(a->read_database_url, b->read_database_url))
        return "HOCVU_READ_DATABASE_URL";
    if (strcmp(a->redis_url, b->redis_url))
        return "HOCVU_REDIS_URL";
    if (a->id_pepper_len != b->id_pepper_len ||
        memcmp(a->id_pepper, b->id_pepper, a->id_pepper_len) != 0)
        return "HOCVU_ID_PEPPER";
    if (a->target != b->target)
        return "HOCVU_TARGET";
    if (a->threads != b->threads || a->batch_max != b->batch_max ||
        a->snapshot_interval_ms != b->snapshot_interval_ms)
        return "HOCVU_THREADS, HOCVU_BATCH_MAX or HOCVU_SNAPSHOT_INTERVAL_MS";
    if ((a->tls_cert == NULL) != (b->tls_cert == NULL) ||
        (a->tls_cert && (strcmp(a->tls_cert, b->tls_cert) || strcmp(a->tls_key, b->tls_key))))
        return "HOCVU_TLS_CERT or HOCVU_TLS_KEY";
    return NULL;
}

/* SIGHUP: re-reads the environment, the config file and the flags. The reloadable settings
 * (webhook secrets, read tokens, tolerance, rate limit, log level) apply to the next request
 * of every worker; a bad configuration is refused and the running one kept. */
static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
    hv_server_t *srv = arg;
    hv_config_t *next = hv_xcalloc(1, sizeof(*next));
    char err[256];
    const char *other;

    if (hv_config_load(next, srv->argc, srv->argv, err, sizeof(err)) != HV_CONFIG_OK) {
        hv_log(HV_LOG_ERROR, "reload refused, keeping the running configuration", "error=\"%s\"",
               err);
        free(next);
        return;
    }
    other = restart_needed(srv->cfg, next);
    if (other)
        hv_log(HV_LOG_WARN, "reload: changed settings need a restart", "settings=\"%s\"", other);
    hv_log_set_level((hv_log_level_t)next->log_level);
    pthread_mutex_lock(&srv->live_lock);
    hv_config_t *old = srv->live;
    srv->live = next;
    __atomic_add_fetch(&srv->live_gen, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&srv->live_lock);
    if (old) {
        hv_config_free(old);
        free(old);
    }
    hv_log(HV_LOG_INFO, "configuration reloaded", "secrets=%d read_tokens=%d rate_limit=%d",
           next->webhook_keys.n, next->n_read_tokens, next->rate_limit);
}

/* Every client connection is a descriptor: raise the soft limit (often 1024) to the hard limit
 * so a crowd of idle or slow clients cannot starve accept() before their deadlines cut them. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            hv_log(HV_LOG_WARN, "could not raise the open-files limit", "error=\"%s\"",
                   strerror(errno));
    }
}

/* Loads the TLS certificate and key. Returns NULL with err set on failure. */
static SSL_CTX *tls_context(const hv_config_t *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    unsigned long e;

    if (!ctx)
        goto failed;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        e = ERR_get_error();
        snprintf(err, errlen, "could not load HOCVU_TLS_CERT %s: %s", cfg->tls_cert,
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
        goto failed;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        e = ERR_get_error();
        snprintf(err, errlen, "could not load HOCVU_TLS_KEY %s: %s", cfg->tls_key,
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
        goto failed;
    }
    return ctx;

failed:
    if (!err[0])
        snprintf(err, errlen, "could not create a TLS context");
    SSL_CTX_free(ctx);
    return NULL;
}

int hv_server_run(const hv_config_t *cfg, int argc, char **argv)
{
    hv_server_t srv = {.cfg = cfg, .argc = argc, .argv = argv};
    struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
    char err[256];
    int rc = 1, started = 0;

    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (evthread_use_pthreads() < 0) {
        hv_log(HV_LOG_ERROR, "could not enable libevent threading", NULL);
        return 1;
    }
    srv.main_base = event_base_new();
    pthread_mutex_init(&srv.live_lock, NULL);
    srv.rl = hv_ratelimit_new();
    srv.snap = hv_snapstore_new(cfg);
    err[0] = '\0';
    if (cfg->tls_cert && !(srv.ssl = tls_context(cfg, err, sizeof(err)))) {
        hv_log(HV_LOG_ERROR, "could not start", "error=\"%s\"", err);
        fprintf(stderr, "hocvud: %s\n", err);
        srv.n_workers = 0;
        goto done;
    }
    /* Probe: fail now if the port is taken, before the workers share it among themselves. */
    {
        int probe = listen_socket(cfg, false, err, sizeof(err));
        if (probe < 0) {
            hv_log(HV_LOG_ERROR, "could not start", "error=\"%s\"", err);
            fprintf(stderr, "hocvud: %s\n", err);
            goto done;
        }
        close(probe);
    }
    srv.n_workers = cfg->threads;
    srv.workers = hv_xcalloc((size_t)srv.n_workers, sizeof(*srv.workers));
    for (int i = 0; i < srv.n_workers; i++) {
        if (worker_init(&srv, &srv.workers[i], i, err, sizeof(err)) < 0) {
            hv_log(HV_LOG_ERROR, "could not start", "error=\"%s\"", err);
            fprintf(stderr, "hocvud: %s\n", err);
            goto done;
        }
    }
    if (hv_snapstore_start(srv.snap) < 0) {
        hv_log(HV_LOG_ERROR, "could not start the snapshot thread", NULL);
        goto done;
    }
    sigterm = evsignal_new(srv.main_base, SIGTERM, signal_cb, &srv);
    sigint = evsignal_new(srv.main_base, SIGINT, signal_cb, &srv);
    sighup = evsignal_new(srv.main_base, SIGHUP, reload_cb, &srv);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sighup, NULL);
    for (; started < srv.n_workers; started++) {
        if (pthread_create(&srv.workers[started].thread, NULL, worker_main,
                           &srv.workers[started]) != 0) {
            hv_log(HV_LOG_ERROR, "could not start a worker thread", NULL);
            signal_cb(SIGTERM, 0, &srv);
            break;
        }
    }
    hv_log(HV_LOG_INFO, "listening", "addr=%s:%d tls=%s threads=%d version=%s", cfg->listen_host,
           cfg->listen_port, srv.ssl ? "on" : "off", srv.n_workers, HOCVU_VERSION);
    event_base_dispatch(srv.main_base);
    for (int i = 0; i < started; i++)
        pthread_join(srv.workers[i].thread, NULL);
    rc = 0;
    hv_log(HV_LOG_INFO, "stopped", NULL);

done:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (sighup)
        event_free(sighup);
    for (int i = 0; i < srv.n_workers; i++)
        worker_free(&srv.workers[i]);
    free(srv.workers);
    hv_snapstore_free(srv.snap);
    hv_ratelimit_free(srv.rl);
    if (srv.live) {
        hv_config_free(srv.live);
        free(srv.live);
    }
    pthread_mutex_destroy(&srv.live_lock);
    SSL_CTX_free(srv.ssl);
    event_base_free(srv.main_base);
    return rc;
}

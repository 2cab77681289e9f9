/*
 * server.c - worker threads and the HTTP front: routing, the ingest pipeline of one event
 * (signature -> validation -> ward -> pseudonym -> Redis fast path -> batch writer -> reply),
 * the read endpoints served from the snapshot, and graceful shutdown.
 */
#include "hocvu/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hocvu/citizen.h"
#include "hocvu/dedup.h"
#include "hocvu/event.h"
#include "hocvu/log.h"
#include "hocvu/signature.h"
#include "hocvu/snapshot.h"
#include "hocvu/version.h"
#include "hocvu/ward.h"
#include "hocvu/writer.h"

#define HV_MAX_EVENT_BODY (64 * 1024)
#define HV_MAX_HTTP_BODY (16 * 1024 * 1024 + 64 * 1024)
#define HV_MAX_HEADERS (32 * 1024)
#define HV_HTTP_TIMEOUT_SEC 30
#define HV_DRAIN_DEADLINE_SEC 20
#define HV_RETRY_AFTER "2"

typedef struct hv_server hv_server_t;

typedef struct hv_worker {
    hv_server_t *srv; /* borrowed back-pointer */
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    hv_writer_t *writer;
    hv_dedup_t *dedup;
    hv_sig_verifier_t *sig;
    hv_pseudonymizer_t *pseud;
    struct event *stop_ev;    /* activated from the main thread */
    struct event *deadline_ev;/* drain deadline */
    uint64_t req_seq;
    int inflight;             /* requests waiting on Redis or PostgreSQL */
    bool draining;
    bool closing;             /* tearing down: callbacks must not start new work */
} hv_worker_t;

struct hv_server {
    const hv_config_t *cfg; /* borrowed */
    hv_snapstore_t *snap;
    hv_worker_t *workers;
    int n_workers;
    struct event_base *main_base;
};

/* State of one ingest request while it waits for Redis and PostgreSQL. Owned by the worker
 * from submission until the reply is sent. */
typedef struct pending {
    hv_worker_t *w;
    struct evhttp_request *req; /* libevent frees it after the reply */
    char reqid[40];
    struct timespec start;
    hv_write_item_t item;
} pending_t;

/* Per-request context for responses and the access log. */
typedef struct reqctx {
    hv_worker_t *w;
    struct evhttp_request *req;
    const char *reqid;
    const char *path;
    struct timespec start;
} reqctx_t;

/* ---- responses ---- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static int64_t since_us(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000 +
           (now.tv_nsec - start->tv_nsec) / 1000;
}

static void access_log(const char *reqid, const char *method, const char *path, int status,
                       const char *code, int64_t dur_us)
{
    hv_log_level_t lvl = status >= 500 ? HV_LOG_WARN : status >= 400 ? HV_LOG_INFO : HV_LOG_DEBUG;
    if (!hv_log_enabled(lvl))
        return;
    hv_log(lvl, "request", "req=%s method=%s path=%s status=%d%s%s dur_us=%lld", reqid, method,
           path, status, code ? " code=" : "", code ? code : "", (long long)dur_us);
}

static const char *method_name(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
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
    access_log(rc->reqid, method_name(rc->req), rc->path, status, code, since_us(&rc->start));
}

static void reply_json(reqctx_t *rc, int status, const char *body, size_t len)
{
    send_reply(rc->req, rc->reqid, rc->w->draining, status, "application/json", body, len);
    access_log(rc->reqid, method_name(rc->req), rc->path, status, NULL, since_us(&rc->start));
}

/* ---- ingest ---- */

static void check_drained(hv_worker_t *w)
{
    if (w->draining && w->inflight == 0 && hv_writer_idle(w->writer))
        event_base_loopexit(w->base, NULL);
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
        evhttp_add_header(evhttp_request_get_output_headers(p->req), "Retry-After",
                          HV_RETRY_AFTER);
        reply_problem_raw(p->req, p->reqid, w->draining, 503, code, NULL,
                          "the database is unavailable; nothing was stored, retry later", NULL);
        break;
    }
    access_log(p->reqid, "POST", "/v1/events", status, code, since_us(&p->start));
    free(p);
    w->inflight--;
    check_drained(w);
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

static void handle_event(reqctx_t *rc)
{
    hv_worker_t *w = rc->w;
    struct evhttp_request *req = rc->req;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *body_buf = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body_buf);
    const char *msg_id, *body;
    hv_event_t ev;
    hv_event_error_t err;
    hv_snapshot_t *snap;
    const char *ward = NULL;
    uint8_t pseudonym[HV_PSEUDONYM_LEN];
    pending_t *p;
    int64_t now = (int64_t)time(NULL);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        problem(rc, 405, "method_not_allowed", NULL, "use POST", NULL);
        return;
    }
    if (len > HV_MAX_EVENT_BODY) {
        problem(rc, 413, "payload_too_large", NULL, "the body is larger than 64 KiB", NULL);
        return;
    }
    if (!content_type_is(req, "application/json")) {
        problem(rc, 415, "unsupported_media_type", NULL, "Content-Type must be application/json",
                NULL);
        return;
    }
    body = (const char *)evbuffer_pullup(body_buf, -1);
    if (!body)
        body = "";
    msg_id = evhttp_find_header(in, "webhook-id");
    switch (hv_sig_verify(w->sig, msg_id, evhttp_find_header(in, "webhook-timestamp"),
                          evhttp_find_header(in, "webhook-signature"), body, len, now,
                          w->srv->cfg->timestamp_tolerance)) {
    case HV_SIG_OK:
        break;
    case HV_SIG_MISSING:
        problem(rc, 401, "invalid_signature", NULL,
                "webhook-id, webhook-timestamp and webhook-signature headers are required", NULL);
        return;
    case HV_SIG_MALFORMED:
        problem(rc, 401, "invalid_signature", NULL, "webhook-timestamp is not a Unix time", NULL);
        return;
    case HV_SIG_STALE:
        problem(rc, 401, "stale_timestamp", NULL,
                "webhook-timestamp is outside the allowed tolerance", NULL);
        return;
    case HV_SIG_MISMATCH:
        problem(rc, 401, "invalid_signature", NULL, "no signature matches", NULL);
        return;
    }
    if (strlen(msg_id) > HV_EVENT_ID_MAX) {
        problem(rc, 400, "invalid_event", "webhook-id", "webhook-id is longer than 256 bytes",
                NULL);
        return;
    }
    if (!hv_event_parse(body, len, now, false, NULL, &ev, &err)) {
        problem(rc, err.status, err.code, err.field, err.detail[0] ? err.detail : NULL, NULL);
        return;
    }
    snap = hv_snapshot_acquire(w->srv->snap);
    if (!snap) {
        hv_event_wipe(&ev);
        problem(rc, 503, "unavailable", NULL, "the ward table is not loaded yet; retry later",
                NULL);
        return;
    }
    if (ev.kind == HV_EV_ISSUED) {
        hv_ward_resolution_t res;
        char extra[128];
        switch (hv_wardtab_resolve(snap->wards, ev.ward_code, strlen(ev.ward_code), &res)) {
        case HV_WARD_OK:
            ward = res.ward->code;
            break;
        case HV_WARD_MALFORMED:
        case HV_WARD_UNKNOWN:
            hv_snapshot_release(snap);
            hv_event_wipe(&ev);
            problem(rc, 422, "unknown_ward", "data.ward_code", "no such commune-level unit",
                    NULL);
            return;
        case HV_WARD_AMBIGUOUS:
            hv_snapshot_release(snap);
            hv_event_wipe(&ev);
            candidates_json(&res, extra, sizeof(extra));
            problem(rc, 422, "ambiguous_ward", "data.ward_code",
                    "this pre-2025 unit was split between several current units; send the "
                    "current unit's code",
                    extra);
            return;
        }
    }
    hv_pseudonymize(w->pseud, ev.citizen_id, strlen(ev.citizen_id), pseudonym);
    if (hv_log_enabled(HV_LOG_DEBUG)) {
        char masked[16];
        hv_citizen_mask(ev.citizen_id, strlen(ev.citizen_id), masked);
        hv_log(HV_LOG_DEBUG, "event validated", "req=%s citizen=%s kind=%d", rc->reqid, masked,
               (int)ev.kind);
    }
    hv_event_wipe(&ev);

    p = hv_xcalloc(1, sizeof(*p));
    p->w = w;
    p->req = req;
    snprintf(p->reqid, sizeof(p->reqid), "%s", rc->reqid);
    p->start = rc->start;
    hv_write_item_from_event(&p->item, msg_id, &ev, ward, pseudonym);
    hv_snapshot_release(snap);
    p->item.cb = on_written;
    p->item.arg = p;
    w->inflight++;
    hv_dedup_check(w->dedup, msg_id, strlen(msg_id), on_dedup, p);
}

/* ---- reads ---- */

static bool authorized(reqctx_t *rc)
{
    const hv_config_t *cfg = rc->w->srv->cfg;
    const char *auth;
    bool ok = false;

    if (cfg->n_read_tokens == 0)
        return true;
    auth = evhttp_find_header(evhttp_request_get_input_headers(rc->req), "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    size_t n = strlen(auth);
    for (int i = 0; i < cfg->n_read_tokens; i++) {
        /* Every token is compared, in constant time for equal lengths. */
        if (strlen(cfg->read_tokens[i]) == n && hv_ct_memeq(auth, cfg->read_tokens[i], n))
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

static void handle_doc(reqctx_t *rc, doc_kind_t kind)
{
    hv_snapshot_t *snap;
    const hv_doc_t *d;
    struct evkeyvalq *h = evhttp_request_get_output_headers(rc->req);

    if (!is_get(rc))
        return;
    if (!authorized(rc)) {
        problem(rc, 401, "unauthorized", NULL, "a valid bearer token is required", NULL);
        return;
    }
    snap = hv_snapshot_acquire(rc->w->srv->snap);
    if (!snap) {
        problem(rc, 503, "unavailable", NULL, "no data loaded yet; retry later", NULL);
        return;
    }
    d = kind == DOC_PROGRESS ? &snap->progress : &snap->wards_doc;
    evhttp_add_header(h, "ETag", d->etag);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    if (etag_matches(rc->req, d->etag)) {
        send_reply(rc->req, rc->reqid, rc->w->draining, 304, NULL, NULL, 0);
        access_log(rc->reqid, method_name(rc->req), rc->path, 304, NULL, since_us(&rc->start));
    } else {
        reply_json(rc, 200, d->body, d->len);
    }
    hv_snapshot_release(snap);
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
    int n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"postgres\":%s,\"redis\":%s}",
                     ready ? "ready" : "unavailable", db ? "true" : "false",
                     redis ? "true" : "false");
    if (!ready)
        evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Retry-After",
                          HV_RETRY_AFTER);
    reply_json(rc, ready ? 200 : 503, body, (size_t)n);
}

/* ---- routing ---- */

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
    /* Keep a caller's request id if it is short and plain; otherwise make one. */
    if (given && strlen(given) < sizeof(reqid) && strspn(given,
                                                         "abcdefghijklmnopqrstuvwxyz"
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

    if (strcmp(path, "/v1/events") == 0)
        handle_event(&rc);
    else if (strcmp(path, "/v1/progress") == 0)
        handle_doc(&rc, DOC_PROGRESS);
    else if (strcmp(path, "/v1/wards") == 0)
        handle_doc(&rc, DOC_WARDS);
    else if (strcmp(path, "/healthz") == 0)
        handle_healthz(&rc);
    else if (strcmp(path, "/readyz") == 0)
        handle_readyz(&rc);
    else
        problem(&rc, 404, "not_found", NULL, "no such endpoint", NULL);
}

/* ---- workers ---- */

static int listen_socket(const hv_config_t *cfg, char *err, size_t errlen)
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
        snprintf(err, errlen, "could not resolve %s: %s", cfg->listen_host, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto failed;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto failed;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
        goto failed;
    freeaddrinfo(ai);
    return fd;

failed:
    snprintf(err, errlen, "could not listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
             strerror(errno));
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
    evhttp_set_timeout(w->http, HV_HTTP_TIMEOUT_SEC);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(w->http, route, w);
    fd = listen_socket(cfg, err, errlen);
    if (fd < 0)
        return -1;
    w->listener = evhttp_accept_socket_with_handle(w->http, fd);
    if (!w->listener) {
        close(fd);
        snprintf(err, errlen, "could not accept on %s:%d", cfg->listen_host, cfg->listen_port);
        return -1;
    }
    w->sig = hv_sig_verifier_new(&cfg->webhook_keys);
    w->pseud = hv_pseudonymizer_new(cfg->id_pepper, cfg->id_pepper_len);
    if (!w->sig || !w->pseud) {
        snprintf(err, errlen, "could not set up HMAC-SHA256 (OpenSSL)");
        return -1;
    }
    snprintf(name, sizeof(name), "w%d", index);
    w->writer = hv_writer_new(w->base, cfg->database_url, cfg->batch_max, name);
    w->dedup = hv_dedup_new(w->base, &cfg->redis, name);
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    if (!w->stop_ev || !w->deadline_ev) {
        snprintf(err, errlen, "could not create events");
        return -1;
    }
    return 0;
}

static void worker_free(hv_worker_t *w)
{
    hv_dedup_free(w->dedup);
    hv_writer_free(w->writer);
    if (w->http)
        evhttp_free(w->http);
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->deadline_ev)
        event_free(w->deadline_ev);
    hv_sig_verifier_free(w->sig);
    hv_pseudonymizer_free(w->pseud);
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

int hv_server_run(const hv_config_t *cfg)
{
    hv_server_t srv = {.cfg = cfg};
    struct event *sigterm = NULL, *sigint = NULL;
    char err[256];
    int rc = 1, started = 0;

    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() < 0) {
        hv_log(HV_LOG_ERROR, "could not enable libevent threading", NULL);
        return 1;
    }
    srv.main_base = event_base_new();
    srv.snap = hv_snapstore_new(cfg);
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
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    for (; started < srv.n_workers; started++) {
        if (pthread_create(&srv.workers[started].thread, NULL, worker_main,
                           &srv.workers[started]) != 0) {
            hv_log(HV_LOG_ERROR, "could not start a worker thread", NULL);
            signal_cb(SIGTERM, 0, &srv);
            break;
        }
    }
    hv_log(HV_LOG_INFO, "listening", "addr=%s:%d threads=%d version=%s", cfg->listen_host,
           cfg->listen_port, srv.n_workers, HOCVU_VERSION);
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
    for (int i = 0; i < srv.n_workers; i++)
        worker_free(&srv.workers[i]);
    free(srv.workers);
    hv_snapstore_free(srv.snap);
    event_base_free(srv.main_base);
    return rc;
}

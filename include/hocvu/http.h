/*
 * http.h - one HTTP request from routing to its reply: the request context, the single
 * finishing function through which every request ends exactly once (reply, metrics, access
 * log, drain bookkeeping), problem documents, ETags, method and token checks.
 */
#ifndef HOCVU_HTTP_H
#define HOCVU_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hocvu/metrics.h"
#include "hocvu/problem.h"
#include "hocvu/worker.h"

struct evhttp_request;

#define HV_RETRY_AFTER_SEC 2 /* what 503 answers tell the sender */

typedef enum hv_req_state {
    HV_REQ_OPEN,  /* being handled, no reply yet */
    HV_REQ_MOVED, /* handed to a pending state (hv_req_move); that copy will end it */
    HV_REQ_ENDED, /* replied */
} hv_req_state_t;

/* One request being answered. Lives on route()'s stack while handled synchronously; a handler
 * that must wait (Redis, PostgreSQL) moves it into its own state with hv_req_move(). */
typedef struct hv_req {
    hv_worker_t *w;               /* borrowed: the loop that owns the request */
    struct evhttp_request *evreq; /* borrowed: libevent frees it after the reply */
    hv_route_t route;
    hv_req_state_t state;
    bool held;      /* counted in the worker's in-flight requests (moved) */
    char reqid[40]; /* the caller's X-Request-Id if plain, else ours */
    char path[256]; /* path without query, for the access log */
    struct timespec start;
} hv_req_t;

/* Fills a request context for an incoming request (request id, path, start time). */
void hv_req_begin(hv_req_t *r, hv_worker_t *w, struct evhttp_request *evreq);

/* Moves an open request into `to` (a pending state owned by the handler), which must then end
 * it; counts it in flight on the worker until then. */
void hv_req_move(hv_req_t *from, hv_req_t *to);

/* The one way a request ends: sends status and body (copied; content_type may be NULL for no
 * body), counts it in the metrics (`code` names an ingest refusal, or NULL), writes the access
 * log and, for a moved request, releases it from the worker's in-flight count. A second end of
 * the same request is a bug: logged and ignored, never a second reply. */
void hv_http_end(hv_req_t *r, int status, const char *content_type, const char *body, size_t len,
                 const char *code);

/* Starts a streamed 200 reply (SSE): the request ends here for the log and the metrics; the
 * stream's chunks follow on the connection. Headers must be set before. */
void hv_http_end_streaming(hv_req_t *r);

/* Ends the request with a problem document. Adds Retry-After to 503 (and to 429, with
 * retry_after seconds), WWW-Authenticate to 401 unauthorized. */
void hv_http_problem_doc(hv_req_t *r, const hv_problem_t *p, int retry_after);
void hv_http_problem(hv_req_t *r, int status, const char *code, const char *field,
                     const char *detail);

/* Adds Retry-After (seconds) to the reply. */
void hv_http_retry_after(hv_req_t *r, int seconds);

/* Ends the request with a JSON body. */
void hv_http_json(hv_req_t *r, int status, const char *body, size_t len);

/* Ends the request with 200 and the body under its strong ETag, or 304 when If-None-Match
 * already names it. */
void hv_http_cached(hv_req_t *r, const char *content_type, const char *body, size_t len,
                    const char *etag);

/* One If-None-Match field value against a strong quoted ETag (RFC 9110 13.1.2: "*" alone, or
 * a list of weak or strong entity tags compared weakly): 1 match, 0 no match, -1 malformed. */
int hv_etag_list_match(const char *field, const char *etag);

/* Checks that end the request when they fail. */
bool hv_http_is_get(hv_req_t *r); /* GET or HEAD, else 405 */
bool hv_http_authorized(hv_req_t *r);
/* The admin rule of CONTRACT §12, checked before anything else of the request: true for an
 * admin token; otherwise ends the request - 403 admin_disabled while HOCVU_ADMIN_TOKENS is
 * empty, 403 forbidden for a read token, else 401 unauthorized - and returns false. */
bool hv_http_admin(hv_req_t *r); /* a read token, when any is configured (no reply) */

/* True when the request's Content-Type is `want` (parameters allowed). */
bool hv_http_content_type_is(hv_req_t *r, const char *want);

/* A request header, or NULL. */
const char *hv_http_header(hv_req_t *r, const char *name);
/* Adds a response header. */
void hv_http_add_header(hv_req_t *r, const char *name, const char *value);

/* Milliseconds of the loop's cached clock, and microseconds since a monotonic start. */
int64_t hv_loop_ms(struct event_base *base);
int64_t hv_since_us(const struct timespec *start);

#endif

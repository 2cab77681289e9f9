/*
 * http.c - the request context and the one finishing function (hv_http_end) through which
 * every request ends: reply, metrics, access log, drain bookkeeping. Problem documents, ETag
 * revalidation and the method and token checks that answer for themselves are built on it.
 */
#include "hocvu/http.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hocvu/log.h"

int64_t hv_loop_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t hv_since_us(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
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

void hv_req_begin(hv_req_t *r, hv_worker_t *w, struct evhttp_request *evreq)
{
    const char *uri = evhttp_request_get_uri(evreq);
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(evreq), "X-Request-Id");
    size_t plen = strcspn(uri, "?#");

    r->w = w;
    r->evreq = evreq;
    r->route = HV_ROUTE_OTHER;
    r->state = HV_REQ_OPEN;
    r->held = false;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    /* Keep a caller's request id if it is short and plain; otherwise make one. */
    if (given && given[0] && strlen(given) < sizeof(r->reqid) &&
        strspn(given, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_.:") == strlen(given))
        snprintf(r->reqid, sizeof(r->reqid), "%s", given);
    else
        snprintf(r->reqid, sizeof(r->reqid), "%x-%d-%llx", (unsigned)getpid() & 0xffff, w->index,
                 (unsigned long long)++w->req_seq);
    if (plen >= sizeof(r->path))
        plen = sizeof(r->path) - 1;
    memcpy(r->path, uri, plen);
    r->path[plen] = '\0';
}

void hv_req_move(hv_req_t *from, hv_req_t *to)
{
    if (to != from)
        *to = *from;
    from->state = HV_REQ_MOVED;
    to->state = HV_REQ_OPEN;
    to->held = true;
    hv_worker_hold(to->w);
}

/* Records one reply in the metrics and, by level, in the log. */
static void access_log(hv_req_t *r, int status, const char *code)
{
    hv_log_level_t lvl = status >= 500 ? HV_LOG_WARN : status >= 400 ? HV_LOG_INFO : HV_LOG_DEBUG;

    hv_metrics_request(&r->w->metrics, r->route, status);
    if (code && r->route == HV_ROUTE_EVENTS)
        hv_metrics_event(&r->w->metrics, code);
    if (!hv_log_enabled(lvl))
        return;
    if (code)
        hv_log(lvl, "request", "req=%s method=%s path=%s status=%d code=%s dur_us=%lld", r->reqid,
               method_name(r->evreq), r->path, status, code, (long long)hv_since_us(&r->start));
    else
        hv_log(lvl, "request", "req=%s method=%s path=%s status=%d dur_us=%lld", r->reqid,
               method_name(r->evreq), r->path, status, (long long)hv_since_us(&r->start));
}

/* Marks the request ended; false (and a log line) when it already was. */
static bool take_end(hv_req_t *r)
{
    if (r->state != HV_REQ_OPEN) {
        hv_log(HV_LOG_ERROR, "request ended twice (bug)", "req=%s path=%s state=%d", r->reqid,
               r->path, (int)r->state);
        return false;
    }
    r->state = HV_REQ_ENDED;
    return true;
}

static void release(hv_req_t *r)
{
    if (r->held) {
        r->held = false;
        hv_worker_release(r->w);
    }
}

void hv_http_end(hv_req_t *r, int status, const char *content_type, const char *body, size_t len,
                 const char *code)
{
    struct evkeyvalq *h;
    struct evbuffer *out;

    if (!take_end(r))
        return;
    h = evhttp_request_get_output_headers(r->evreq);
    out = evbuffer_new();
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "X-Request-Id", r->reqid);
    if (r->w->draining)
        evhttp_add_header(h, "Connection", "close");
    if (out && len)
        evbuffer_add(out, body, len);
    evhttp_send_reply(r->evreq, status, hv_status_text(status), out);
    if (out)
        evbuffer_free(out);
    access_log(r, status, code);
    release(r);
}

void hv_http_end_streaming(hv_req_t *r)
{
    if (!take_end(r))
        return;
    evhttp_add_header(evhttp_request_get_output_headers(r->evreq), "X-Request-Id", r->reqid);
    evhttp_send_reply_start(r->evreq, 200, "OK");
    access_log(r, 200, NULL);
    release(r);
}

void hv_http_problem_doc(hv_req_t *r, const hv_problem_t *p, int retry_after)
{
    hv_buf_t b;

    if (p->status == 503 || p->status == 429)
        hv_http_retry_after(r,
                            p->status == 429 && retry_after > 0 ? retry_after : HV_RETRY_AFTER_SEC);
    if (p->status == 401 && strcmp(p->code, "unauthorized") == 0)
        hv_http_add_header(r, "WWW-Authenticate", "Bearer realm=\"hocvu\"");
    hv_buf_init(&b);
    hv_problem_render(p, &b);
    hv_http_end(r, p->status, "application/problem+json", b.data, b.len, p->code);
    hv_buf_free(&b);
}

void hv_http_retry_after(hv_req_t *r, int seconds)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", seconds);
    hv_http_add_header(r, "Retry-After", v);
}

void hv_http_problem(hv_req_t *r, int status, const char *code, const char *field,
                     const char *detail)
{
    hv_problem_t p;
    hv_problem_set(&p, status, code, field, detail);
    hv_http_problem_doc(r, &p, 0);
}

void hv_http_json(hv_req_t *r, int status, const char *body, size_t len)
{
    hv_http_end(r, status, "application/json", body, len, NULL);
}

/* One If-None-Match field value against our (strong, quoted) ETag, per RFC 9110 13.1.2: "*"
 * alone matches; otherwise a comma-separated list of entity tags, weak or strong, compared
 * weakly. A value that is not well formed matches nothing (the full body is sent). */
int hv_etag_list_match(const char *field, const char *etag)
{
    const char *p = field;
    size_t n = strlen(etag);
    bool found = false, any = false;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '*') {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        return *q == '\0' ? 1 : -1;
    }
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return -1;
        const char *start = p++;
        while (*p && *p != '"') {
            unsigned char c = (unsigned char)*p;
            if (c < 0x21 || c == 0x7F)
                return -1;
            p++;
        }
        if (*p != '"')
            return -1;
        p++;
        any = true;
        if ((size_t)(p - start) == n && memcmp(start, etag, n) == 0)
            found = true;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != ',')
            return -1;
    }
    return any ? (found ? 1 : 0) : -1;
}

/* Does any If-None-Match field of the request list this ETag? Every instance of the header is
 * read (a recipient combines them into one list); a malformed one makes the request
 * conditional on nothing. */
static bool etag_matches(hv_req_t *r, const char *etag)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->evreq);
    bool found = false;

    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "If-None-Match") != 0)
            continue;
        int m = hv_etag_list_match(kv->value, etag);
        if (m < 0)
            return false;
        if (m > 0)
            found = true;
    }
    return found;
}

void hv_http_cached(hv_req_t *r, const char *content_type, const char *body, size_t len,
                    const char *etag)
{
    hv_http_add_header(r, "ETag", etag);
    hv_http_add_header(r, "Cache-Control", "no-cache");
    if (etag_matches(r, etag))
        hv_http_end(r, 304, NULL, NULL, 0, NULL);
    else
        hv_http_end(r, 200, content_type, body, len, NULL);
}

bool hv_http_is_get(hv_req_t *r)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(r->evreq);
    if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
        return true;
    hv_http_add_header(r, "Allow", "GET, HEAD");
    hv_http_problem(r, 405, "method_not_allowed", NULL, "use GET");
    return false;
}

/* The bearer token of the request, or NULL (no Authorization, or not Bearer). */
static const char *bearer(hv_req_t *r)
{
    const char *auth = hv_http_header(r, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    return auth + 7;
}

/* Whether token is one of list[0..n): every entry is compared, in constant time for equal
 * lengths, so the time does not say which one matched. */
static bool token_in(const char *token, char *const *list, int n)
{
    size_t len = strlen(token);
    bool ok = false;
    for (int i = 0; i < n; i++)
        if (strlen(list[i]) == len && hv_ct_memeq(token, list[i], len))
            ok = true;
    return ok;
}

bool hv_http_authorized(hv_req_t *r)
{
    const hv_worker_t *w = r->w;
    const char *token;

    if (w->n_tokens == 0)
        return true;
    token = bearer(r);
    if (!token)
        return false;
    /* Admin tokens pass every read check too (CONTRACT §12). */
    bool read = token_in(token, w->tokens, w->n_tokens);
    bool admin = token_in(token, w->admin_tokens, w->n_admin_tokens);
    return read || admin;
}

bool hv_http_admin(hv_req_t *r)
{
    const hv_worker_t *w = r->w;
    const char *token;

    if (w->n_admin_tokens == 0) {
        hv_http_problem(
            r, 403, "admin_disabled", NULL,
            "this endpoint names people or certificates and is off: set HOCVU_ADMIN_TOKENS");
        return false;
    }
    token = bearer(r);
    if (token && token_in(token, w->admin_tokens, w->n_admin_tokens))
        return true;
    if (token && token_in(token, w->tokens, w->n_tokens)) {
        hv_http_problem(r, 403, "forbidden", NULL, "this endpoint needs an admin token");
        return false;
    }
    hv_http_problem(r, 401, "unauthorized", NULL, "an admin bearer token is required");
    return false;
}

bool hv_http_content_type_is(hv_req_t *r, const char *want)
{
    const char *ct = hv_http_header(r, "Content-Type");
    size_t n = strlen(want);

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

const char *hv_http_header(hv_req_t *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->evreq), name);
}

void hv_http_add_header(hv_req_t *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->evreq), name, value);
}

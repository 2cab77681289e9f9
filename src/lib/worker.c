/*
 * worker.c - one event-loop thread: its listener (SO_REUSEPORT), the bufferevent of each
 * connection (TLS when configured, tracked for its deadline), the routing of each request to
 * its handler, the worker's copy of the reloadable settings, and draining on shutdown.
 */
#include "hocvu/worker.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hocvu/citizen.h"
#include "hocvu/front.h"
#include "hocvu/dedup.h"
#include "hocvu/handlers.h"
#include "hocvu/log.h"
#include "hocvu/signature.h"
#include "hocvu/wlink.h"
#include "hocvu/writer.h"

#define HV_MAX_HEADERS (32 * 1024)
#define HV_DRAIN_DEADLINE_SEC 20
#define HV_DRAIN_QUIET_MS 300 /* after the last request, how long a draining worker waits */
#define HV_DRAIN_FLUSH_MS 500 /* after the deadline: time to write the last 503s */
#define HV_STREAM_TICK_MS 1000

int hv_listen_socket(const hv_config_t *cfg, bool shared, char *err, size_t errlen)
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

/* A draining worker exits once nothing is in flight and no request has come for a short quiet
 * period: requests a client had already sent on a kept-alive connection when the signal came
 * are still read and answered (with Connection: close) instead of being cut by the exit. */
static void check_drained(hv_worker_t *w)
{
    /* Past the deadline the exit is deadline_cb's, after its flush period. A loop that runs a
     * writer also waits for the other loops that submit to it: they may still be draining. */
    if (!w->draining || w->closing || w->inflight != 0 ||
        (w->event_link && !hv_wlink_idle(w->event_link)) ||
        (w->writer && !hv_writer_idle(w->writer)) ||
        (w->writer && hv_wlink_hub_remote_links(w->hub) > 0))
        return;
    int64_t quiet = hv_loop_ms(w->base) - w->last_request_ms;
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

/* Another loop's link to this loop's writer was freed (that loop has drained). */
static void link_closed(void *arg)
{
    check_drained(arg);
}

/* Ends this loop's part of the write path: its event link first (what it submitted elsewhere
 * is answered), then its hub (later submissions from other loops are answered "unavailable" at
 * once) and its writer (what it still holds is answered so). */
static void close_write_path(hv_worker_t *w)
{
    hv_wlink_free(w->event_link);
    w->event_link = NULL;
    if (w->writer) {
        hv_wlink_hub_close(w->hub);
        hv_writer_free(w->writer);
        w->writer = NULL;
    }
}

void hv_worker_hold(hv_worker_t *w)
{
    w->inflight++;
}

void hv_worker_release(hv_worker_t *w)
{
    w->inflight--;
    check_drained(w);
}

bool hv_worker_admit(hv_worker_t *w, int n)
{
    if (w->admitted + n > w->queue_max)
        return false;
    /* Only this loop writes it; other loops' /metrics read it (atomically). */
    __atomic_store_n(&w->admitted, w->admitted + n, __ATOMIC_RELAXED);
    return true;
}

void hv_worker_unadmit(hv_worker_t *w, int n)
{
    __atomic_store_n(&w->admitted, w->admitted - n, __ATOMIC_RELAXED);
}

void hv_worker_sync_live(hv_worker_t *w)
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
    for (int i = 0; i < w->n_admin_tokens; i++)
        free(w->admin_tokens[i]);
    w->n_admin_tokens = c->n_admin_tokens;
    for (int i = 0; i < c->n_admin_tokens; i++)
        w->admin_tokens[i] = hv_xstrdup(c->admin_tokens[i]);
    w->tolerance = c->timestamp_tolerance;
    w->rate_limit = c->rate_limit;
    w->rate_burst = c->rate_burst;
    w->live_gen = __atomic_load_n(&srv->live_gen, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&srv->live_lock);
}

/* Sends one request to its handler. Every handler ends the request or moves it into its own
 * pending state; one that did neither is a bug, answered 500 here rather than left hanging. */
static void route(struct evhttp_request *evreq, void *arg)
{
    hv_worker_t *w = arg;
    hv_req_t r;
    const char *path;

    hv_front_refusal_t refused;

    w->last_request_ms = hv_loop_ms(w->base);
    bool is_refusal = hv_front_request(w->front, evreq, &refused);
    hv_worker_sync_live(w);
    hv_req_begin(&r, w, evreq);
    path = r.path;

    if (is_refusal) {
        /* The front's stand-in for a request it refused; the connection closes after this. */
        snprintf(r.path, sizeof(r.path), "-");
        if (refused.status == 503)
            hv_http_retry_after(&r, 1);
        hv_http_problem(&r, refused.status, refused.code, NULL, refused.reason);
        return;
    }

    if (w->closing) {
        /* Past the drain deadline: the writer and the fast path are gone. */
        hv_http_problem(&r, 503, "unavailable", NULL, "shutting down; retry later");
        return;
    }
    if (strcmp(path, "/v1/events") == 0) {
        r.route = HV_ROUTE_EVENTS;
        hv_handle_event(&r);
    } else if (strcmp(path, "/v1/events/batch") == 0) {
        r.route = HV_ROUTE_BATCH;
        hv_handle_batch(&r);
    } else if (strcmp(path, "/v1/progress") == 0) {
        r.route = HV_ROUTE_PROGRESS;
        hv_handle_progress(&r);
    } else if (strcmp(path, "/v1/wards") == 0) {
        r.route = HV_ROUTE_WARDS;
        hv_handle_wards(&r);
    } else if (strncmp(path, "/v1/wards/", 10) == 0 && path[10] && !strchr(path + 10, '/')) {
        r.route = HV_ROUTE_WARD;
        hv_handle_ward(&r, path + 10);
    } else if (strcmp(path, "/v1/timeseries") == 0) {
        r.route = HV_ROUTE_TIMESERIES;
        hv_handle_timeseries(&r);
    } else if (strcmp(path, "/v1/reports/wards.csv") == 0) {
        r.route = HV_ROUTE_REPORT;
        hv_handle_report(&r);
    } else if (strcmp(path, "/v1/reports/wards.xlsx") == 0) {
        r.route = HV_ROUTE_REPORT;
        hv_handle_report_xlsx(&r);
    } else if (strcmp(path, "/v1/reports") == 0) {
        r.route = HV_ROUTE_REPORT;
        hv_handle_reports(&r);
    } else if (strncmp(path, "/v1/reports/", 12) == 0 && path[12]) {
        r.route = HV_ROUTE_REPORT;
        hv_handle_frozen(&r, path + 12);
    } else if (strcmp(path, "/v1/cohorts") == 0) {
        r.route = HV_ROUTE_COHORTS;
        hv_handle_cohorts(&r);
    } else if (strncmp(path, "/v1/cohorts/", 12) == 0 && path[12]) {
        r.route = HV_ROUTE_COHORTS;
        hv_handle_cohort(&r, path + 12);
    } else if (strcmp(path, "/v1/stream") == 0) {
        r.route = HV_ROUTE_STREAM;
        hv_handle_stream(&r);
    } else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        r.route = HV_ROUTE_DASHBOARD;
        hv_handle_dashboard(&r);
    } else if (strcmp(path, "/healthz") == 0) {
        r.route = HV_ROUTE_HEALTHZ;
        hv_handle_healthz(&r);
    } else if (strcmp(path, "/readyz") == 0) {
        r.route = HV_ROUTE_READYZ;
        hv_handle_readyz(&r);
    } else if (strcmp(path, "/metrics") == 0) {
        r.route = HV_ROUTE_METRICS;
        hv_handle_metrics(&r);
    } else {
        hv_http_problem(&r, 404, "not_found", NULL, "no such endpoint");
    }
    if (r.state == HV_REQ_OPEN) {
        hv_log(HV_LOG_ERROR, "handler returned without a reply (bug)", "req=%s path=%s", r.reqid,
               r.path);
        hv_http_problem(&r, 500, "internal", NULL, "the request was not answered");
    }
}

static void stream_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_stream_tick(arg);
}

/* The drain deadline passed with requests still waiting: answer them all now (freeing the
 * fast path and the writer calls every pending item back: 503), then let the loop run a
 * moment longer so those replies are written to their sockets before the thread ends. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_worker_t *w = arg;
    struct timeval flush = {0, HV_DRAIN_FLUSH_MS * 1000};

    hv_log(HV_LOG_WARN, "drain deadline reached", "worker=%d inflight=%d", w->index, w->inflight);
    w->closing = true;
    hv_dedup_free(w->dedup);
    w->dedup = NULL;
    close_write_path(w);
    event_base_loopexit(w->base, &flush);
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
    hv_stream_end_all(w);
    check_drained(w);
}

void hv_worker_request_stop(hv_worker_t *w)
{
    event_active(w->stop_ev, EV_READ, 0);
}

void *hv_worker_main(void *arg)
{
    hv_worker_t *w = arg;
    event_base_dispatch(w->base);
    /* Tear down in dependency order; late callbacks see `closing` and start nothing new. */
    w->closing = true;
    hv_dedup_free(w->dedup);
    w->dedup = NULL;
    close_write_path(w);
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
        hv_front_add(w->front, bev);
    return bev;
}

/* The body limit of each route (frame.h): the two ingest routes take one, nothing else does. */
static size_t route_body_limit(const char *method, const char *path, void *arg)
{
    (void)method;
    (void)arg;
    if (strcmp(path, "/v1/events") == 0)
        return HV_EVENT_BODY_MAX;
    if (strcmp(path, "/v1/events/batch") == 0)
        return HV_BATCH_BODY_MAX;
    return 0;
}

int hv_worker_init(hv_server_t *srv, hv_worker_t *w, int index, char *err, size_t errlen)
{
    const hv_config_t *cfg = srv->cfg;
    char name[16];
    int fd;

    w->srv = srv;
    w->index = index;
    /* The epoll changelist folds the add/delete pairs of one loop iteration (a reply's write
     * event, a request's read) into at most one epoll_ctl per descriptor: without it
     * epoll_ctl was about a tenth of the loop's CPU under load. (Its caveat, descriptors
     * shared through dup(), does not arise here.) */
    struct event_config *ecfg = event_config_new();
    if (ecfg) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        w->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http) {
        snprintf(err, errlen, "could not create the event loop");
        return -1;
    }
    /* The front enforces the real limits; evhttp's are a backstop. */
    evhttp_set_max_body_size(w->http, HV_BATCH_BODY_MAX);
    evhttp_set_max_headers_size(w->http, HV_MAX_HEADERS + 1024);
    evhttp_set_timeout(w->http, cfg->http_timeout);
    w->front = hv_front_new(w->base, &srv->front_limits, cfg->http_timeout, HV_MAX_HEADERS,
                            route_body_limit, NULL);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(w->http, route, w);
    evhttp_set_bevcb(w->http, conn_bevcb, w);
    fd = hv_listen_socket(cfg, true, err, errlen);
    if (fd < 0)
        return -1;
    w->listener = evhttp_accept_socket_with_handle(w->http, fd);
    if (!w->listener) {
        close(fd);
        snprintf(err, errlen, "could not accept on %.128s:%d", cfg->listen_host, cfg->listen_port);
        return -1;
    }
    hv_worker_sync_live(w);
    w->pseud = hv_pseudonymizer_new(cfg->id_pepper, cfg->id_pepper_len);
    if (!w->sig || !w->pseud) {
        snprintf(err, errlen, "could not set up HMAC-SHA256 (OpenSSL)");
        return -1;
    }
    snprintf(name, sizeof(name), "w%d", index);
    /* Every loop runs a writer and writes the lines of its batches there (large batches need
     * every backend). Single events wait on a commit, and their transactions are only as large
     * as the events waiting at once: those of all loops go to the first event_writers
     * writers. Each writer session claims its own counter shard from the database. */
    w->writer = hv_writer_new(w->base, cfg->database_url, cfg->batch_max, cfg->deadline_ms, name,
                              &w->metrics);
    w->hub = srv->hubs[index];
    hv_wlink_hub_bind(w->hub, w->writer, w->base, link_closed, w);
    w->event_link = hv_wlink_new(srv->hubs[index % cfg->event_writers], w->base);
    w->queue_max = cfg->queue_max;
    w->dedup = hv_dedup_new(w->base, &cfg->redis, name);
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    w->stream_ev = event_new(w->base, -1, EV_PERSIST, stream_tick_cb, w);
    w->quiet_ev = evtimer_new(w->base, quiet_cb, w);
    if (!w->stop_ev || !w->deadline_ev || !w->stream_ev || !w->quiet_ev) {
        snprintf(err, errlen, "could not create events");
        return -1;
    }
    struct timeval tick = {0, HV_STREAM_TICK_MS * 1000};
    event_add(w->stream_ev, &tick);
    return 0;
}

void hv_worker_free(hv_worker_t *w)
{
    if (w->stream_ev)
        event_free(w->stream_ev);
    hv_dedup_free(w->dedup);
    close_write_path(w);
    if (w->http)
        evhttp_free(w->http);
    hv_front_free(w->front); /* after evhttp: drops the last references */
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
    for (int i = 0; i < w->n_admin_tokens; i++)
        free(w->admin_tokens[i]);
    if (w->base)
        event_base_free(w->base);
}

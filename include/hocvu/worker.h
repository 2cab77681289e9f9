/*
 * worker.h - the process-wide server state and one event-loop worker, shared by the modules of
 * the HTTP side (worker, http, ingest, batch, reads, stream, health). Internal to hocvud: each
 * worker thread owns its loop, listener, batch writer, Redis connection and HMAC contexts; the
 * server owns what the workers share (snapshot store, rate limiter, TLS context, live settings).
 */
#ifndef HOCVU_WORKER_H
#define HOCVU_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/front.h"
#include "hocvu/config.h"
#include "hocvu/metrics.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct hv_dedup hv_dedup_t;
typedef struct hv_writer hv_writer_t;
typedef struct hv_wlink hv_wlink_t;
typedef struct hv_wlink_hub hv_wlink_hub_t;
typedef struct hv_ratelimit hv_ratelimit_t;
typedef struct hv_snapstore hv_snapstore_t;
typedef struct hv_sig_verifier hv_sig_verifier_t;
typedef struct hv_pseudonymizer hv_pseudonymizer_t;
typedef struct hv_stream_client hv_stream_client_t;

typedef struct hv_server hv_server_t;
typedef struct hv_worker hv_worker_t;

struct hv_worker {
    hv_server_t *srv; /* borrowed back-pointer */
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    hv_front_t *front;      /* the front door of this loop's connections */
    struct event *quiet_ev; /* drain: exit once no request came for HV_DRAIN_QUIET_MS */
    int64_t last_request_ms;
    hv_writer_t *writer;    /* owned: this loop's writer; the lines of its batches go here */
    hv_wlink_hub_t *hub;    /* borrowed from srv: the hub of `writer` */
    hv_wlink_t *event_link; /* owned: to the writer that takes this loop's single events (its
                               own or another loop's: HOCVU_EVENT_WRITERS) */
    hv_dedup_t *dedup;
    hv_sig_verifier_t *sig; /* rebuilt when a reload changes the secrets */
    hv_pseudonymizer_t *pseud;
    /* This worker's copy of the reloadable settings (see hv_worker_sync_live). */
    uint64_t live_gen;
    int64_t tolerance;
    int rate_limit, rate_burst;
    int n_tokens;
    char *tokens[HV_MAX_READ_TOKENS]; /* owned copies */
    int n_admin_tokens;
    char *admin_tokens[HV_MAX_READ_TOKENS]; /* owned copies */
    struct event *stop_ev;                  /* activated from the main thread */
    struct event *deadline_ev;              /* drain deadline */
    uint64_t req_seq;
    hv_metrics_t metrics;        /* written by this worker only */
    hv_stream_client_t *streams; /* open /v1/stream clients (owned list, stream.c) */
    int n_streams;               /* atomic: read by other workers' /metrics */
    struct event *stream_ev;     /* periodic SSE push */
    int inflight;                /* requests waiting on Redis or PostgreSQL */
    int admitted;                /* events of those requests (a batch counts its lines); stored
                                    atomically, read by other workers' /metrics */
    int queue_max;               /* most admitted events; beyond, 503 overloaded */
    bool draining;
    bool closing; /* tearing down: callbacks must not start new work */
};

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
    hv_front_limits_t front_limits; /* connections and request bytes of all loops */
    char *page; /* owned: the dashboard page with HOCVU_JURISDICTION in its title */
    size_t page_len;
    char page_etag[24];
    hv_worker_t *workers;
    int n_workers;
    hv_wlink_hub_t **hubs; /* owned: one per worker (its writer's); single events of worker i go
                              to hubs[i % cfg->event_writers] */
    struct event_base *main_base;
};

/* Binds a listening socket on cfg's address. With `shared`, SO_REUSEPORT lets every worker bind
 * its own socket (the kernel spreads connections); without it the bind fails when anyone listens
 * there already - the start-up probe for a port in use. Returns the descriptor or -1 with err. */
int hv_listen_socket(const hv_config_t *cfg, bool shared, char *err, size_t errlen);

/* Sets up worker `index` of srv (loop, listener, writer, Redis, HMAC). Returns 0 or -1 with err;
 * hv_worker_free() cleans up either way. */
int hv_worker_init(hv_server_t *srv, hv_worker_t *w, int index, char *err, size_t errlen);
void hv_worker_free(hv_worker_t *w);
/* The worker thread's body: runs the loop until drained. */
void *hv_worker_main(void *arg);
/* Asks the worker to drain and stop; callable from any thread. */
void hv_worker_request_stop(hv_worker_t *w);

/* Brings the worker's copy of the reloadable settings up to date after a SIGHUP (one atomic
 * load when nothing changed). Loop thread only. */
void hv_worker_sync_live(hv_worker_t *w);

/* Bookkeeping of requests that wait on Redis or PostgreSQL: a draining worker exits once none
 * is left and no request came for a quiet period. Loop thread only. */
void hv_worker_hold(hv_worker_t *w);
void hv_worker_release(hv_worker_t *w);

/* The bounded queue (HOCVU_QUEUE_MAX): admits n events of a request waiting on Redis or
 * PostgreSQL, or refuses all of them (false: the caller answers 503 overloaded, at once). Every
 * admitted event is unadmitted once, when its request ends. Loop thread only. */
bool hv_worker_admit(hv_worker_t *w, int n);
void hv_worker_unadmit(hv_worker_t *w, int n);

#endif

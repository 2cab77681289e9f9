/*
 * server.c - the process: starts the shared parts (snapshot store, rate limiter, TLS context)
 * and the worker threads, handles signals (SIGTERM/SIGINT drain and stop, SIGHUP reloads the
 * configuration) and tears everything down in order. The HTTP side lives in worker.c, http.c
 * and the handler modules listed in handlers.h.
 */
#include "hocvu/server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hocvu/log.h"
#include "hocvu/ratelimit.h"
#include "hocvu/render.h"
#include "hocvu/snapstore.h"
#include "hocvu/version.h"
#include "hocvu/web.h"
#include "hocvu/wlink.h"
#include "hocvu/worker.h"

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    hv_server_t *srv = arg;
    hv_log(HV_LOG_INFO, "shutting down", "signal=%d", (int)sig);
    for (int i = 0; i < srv->n_workers; i++)
        hv_worker_request_stop(&srv->workers[i]);
    event_base_loopexit(srv->main_base, NULL);
}

/* SIGHUP: re-reads the config file (and the same environment and flags). The settings the
 * option table marks reloadable (hv_config_reloadable_list) apply to the next request of every
 * worker; a bad configuration is refused and the running one kept. */
static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
    hv_server_t *srv = arg;
    hv_config_t *next = hv_xcalloc(1, sizeof(*next));
    char err[256], names[512];

    if (hv_config_load(next, srv->argc, srv->argv, err, sizeof(err)) != HV_CONFIG_OK) {
        hv_log(HV_LOG_ERROR, "reload refused, keeping the running configuration", "error=%s", err);
        free(next);
        return;
    }
    if (hv_config_restart_needed(srv->cfg, next, names, sizeof(names)) > 0)
        hv_log(HV_LOG_WARN, "reload: changed settings need a restart", "settings=%s", names);
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
            hv_log(HV_LOG_WARN, "could not raise the open-files limit", "error=%s",
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
    srv.front_limits.budget = (size_t)cfg->body_budget_mb * 1024 * 1024;
    srv.front_limits.max_conns = cfg->max_connections;
    srv.page = hv_web_dashboard_page(cfg->jurisdiction, &srv.page_len);
    hv_etag_of(srv.page, srv.page_len, srv.page_etag);
    srv.snap = hv_snapstore_new(cfg);
    err[0] = '\0';
    if (cfg->tls_cert && !(srv.ssl = tls_context(cfg, err, sizeof(err)))) {
        hv_log(HV_LOG_ERROR, "could not start", "error=%s", err);
        fprintf(stderr, "hocvud: %s\n", err);
        srv.n_workers = 0;
        goto done;
    }
    /* Probe: fail now if the port is taken, before the workers share it among themselves. */
    {
        int probe = hv_listen_socket(cfg, false, err, sizeof(err));
        if (probe < 0) {
            hv_log(HV_LOG_ERROR, "could not start", "error=%s", err);
            fprintf(stderr, "hocvud: %s\n", err);
            goto done;
        }
        close(probe);
    }
    srv.n_workers = cfg->threads;
    srv.workers = hv_xcalloc((size_t)srv.n_workers, sizeof(*srv.workers));
    srv.hubs = hv_xcalloc((size_t)srv.n_workers, sizeof(*srv.hubs));
    for (int i = 0; i < srv.n_workers; i++)
        srv.hubs[i] = hv_wlink_hub_new();
    for (int i = 0; i < srv.n_workers; i++) {
        if (hv_worker_init(&srv, &srv.workers[i], i, err, sizeof(err)) < 0) {
            hv_log(HV_LOG_ERROR, "could not start", "error=%s", err);
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
        if (pthread_create(&srv.workers[started].thread, NULL, hv_worker_main,
                           &srv.workers[started]) != 0) {
            hv_log(HV_LOG_ERROR, "could not start a worker thread", NULL);
            signal_cb(SIGTERM, 0, &srv);
            break;
        }
    }
    hv_log(HV_LOG_INFO, "listening", "addr=%s:%d tls=%s threads=%d event_writers=%d version=%s",
           cfg->listen_host, cfg->listen_port, srv.ssl ? "on" : "off", srv.n_workers,
           cfg->event_writers, HOCVU_VERSION);
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
        hv_worker_free(&srv.workers[i]);
    free(srv.workers);
    for (int i = 0; srv.hubs && i < srv.n_workers; i++)
        hv_wlink_hub_free(srv.hubs[i]);
    free(srv.hubs);
    hv_snapstore_free(srv.snap);
    free(srv.page);
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

/*
 * dbjob.c - requests answered from PostgreSQL on a thread (see dbjob.h).
 */
#include "hocvu/dbjob.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/worker.h"

#define POLL_US 20000

static int running; /* atomic: jobs of the process */

typedef struct job {
    int refs;  /* atomic: the thread and the loop side */
    bool done; /* atomic: io is final */
    char *conninfo;
    char app[48];
    hv_dbjob_io_t io;
    hv_dbjob_run_fn run;
    hv_dbjob_end_fn end;
    /* Loop side only. */
    hv_req_t req;
    struct event *poll_ev;
} job_t;

static void job_unref(job_t *j)
{
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(j->conninfo);
    hv_buf_free(&j->io.out);
    free(j);
}

static void *job_main(void *arg)
{
    job_t *j = arg;
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {j->conninfo, j->app, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    if (PQstatus(c) != CONNECTION_OK) {
        j->io.status = -1;
        snprintf(j->io.err, sizeof(j->io.err), "%.*s", (int)strcspn(PQerrorMessage(c), "\n"),
                 PQerrorMessage(c));
    } else {
        j->run(c, &j->io);
    }
    PQfinish(c);
    __atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
    job_unref(j);
    return NULL;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    job_t *j = arg;
    struct timeval tv = {0, POLL_US};

    (void)fd;
    (void)what;
    if (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
        evtimer_add(j->poll_ev, &tv);
        return;
    }
    j->end(&j->req, &j->io);
    __atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
    event_free(j->poll_ev);
    job_unref(j);
}

void hv_dbjob_start(hv_req_t *r, const char *app, const char *key, hv_dbjob_run_fn run,
                    hv_dbjob_end_fn end)
{
    const hv_config_t *cfg = r->w->srv->cfg;
    struct timeval tv = {0, POLL_US};
    pthread_t t;
    pthread_attr_t attr;

    if (__atomic_add_fetch(&running, 1, __ATOMIC_RELAXED) > HV_DBJOB_MAX) {
        __atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
        hv_http_retry_after(r, 1);
        hv_http_problem(r, 503, "overloaded", NULL, "too many exports are running; retry later");
        return;
    }
    job_t *j = hv_xcalloc(1, sizeof(*j));
    j->refs = 2;
    j->run = run;
    j->end = end;
    snprintf(j->app, sizeof(j->app), "%s", app);
    snprintf(j->io.key, sizeof(j->io.key), "%s", key);
    hv_buf_init(&j->io.out);
    j->conninfo =
        hv_xstrdup(cfg->read_database_url && cfg->read_database_url[0] ? cfg->read_database_url
                                                                       : cfg->database_url);
    j->poll_ev = evtimer_new(r->w->base, poll_cb, j);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!j->poll_ev || pthread_create(&t, &attr, job_main, j) != 0) {
        pthread_attr_destroy(&attr);
        if (j->poll_ev)
            event_free(j->poll_ev);
        __atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
        j->refs = 1;
        job_unref(j);
        hv_http_problem(r, 503, "unavailable", NULL, "could not start the export; retry later");
        return;
    }
    pthread_attr_destroy(&attr);
    hv_req_move(r, &j->req);
    evtimer_add(j->poll_ev, &tv);
}

/*
 * evidence.c - GET /v1/reports/{id}/evidence.csv (CONTRACT §10, §12): the certificate behind
 * each person a frozen report counted, as CSV, for admin tokens only. The rows stay in
 * PostgreSQL (a city report holds one per certified person), so each request runs one COPY on
 * a thread of its own with its own connection; the loop polls the job from a timer it owns and
 * ends the request when the thread is done, so the thread never touches the event base.
 */
#include <event2/event.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/handlers.h"
#include "hocvu/log.h"
#include "hocvu/worker.h"

#define POLL_US 20000
#define MAX_JOBS 2 /* per process: an evidence export is rare and can be large */

static int running; /* atomic: jobs of the process */

typedef struct job {
    int refs;  /* atomic: the thread and the loop side */
    bool done; /* atomic: status, csv and err are final */
    char *conninfo;
    char id[40];
    int status; /* 200, 404 or 503 */
    hv_buf_t csv;
    char err[200];
    /* Loop side only. */
    hv_req_t req;
    struct event *poll_ev;
} job_t;

static void job_unref(job_t *j)
{
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(j->conninfo);
    hv_buf_free(&j->csv);
    free(j);
}

static void *job_main(void *arg)
{
    job_t *j = arg;
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {j->conninfo, "hocvud-evidence", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    PGresult *res = NULL;
    char *lit = NULL, *buf;
    hv_buf_t sql;
    int n;

    hv_buf_init(&sql);
    j->status = 503;
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(j->err, sizeof(j->err), "%.*s", (int)strcspn(PQerrorMessage(c), "\n"),
                 PQerrorMessage(c));
        goto done;
    }
    const char *p[1] = {j->id};
    res = PQexecParams(c, "SELECT 1 FROM reports WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto db_failed;
    if (PQntuples(res) == 0) {
        j->status = 404;
        goto done;
    }
    PQclear(res);
    lit = PQescapeLiteral(c, j->id, strlen(j->id));
    hv_buf_printf(&sql,
                  "COPY (SELECT ward, CASE grp WHEN 1 THEN 'citizen' WHEN 2 THEN 'official' "
                  "WHEN 3 THEN 'student' WHEN 4 THEN 'worker' END AS group, day, "
                  "CASE WHEN adult THEN 'true' ELSE 'false' END AS adult, "
                  "cert_id AS certificate_id FROM report_evidence WHERE report_id = %s "
                  "ORDER BY ward, cert_id) TO STDOUT WITH (FORMAT csv, HEADER true)",
                  lit ? lit : "''");
    res = PQexec(c, sql.data);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        goto db_failed;
    PQclear(res);
    res = NULL;
    hv_buf_puts(&j->csv, "\xEF\xBB\xBF");
    while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
        hv_buf_append(&j->csv, buf, (size_t)n);
        PQfreemem(buf);
    }
    res = PQgetResult(c);
    if (n != -1 || PQresultStatus(res) != PGRES_COMMAND_OK)
        goto db_failed;
    j->status = 200;
    goto done;
db_failed:
    snprintf(j->err, sizeof(j->err), "%.*s", (int)strcspn(PQerrorMessage(c), "\n"),
             PQerrorMessage(c));
done:
    PQclear(res);
    PQfreemem(lit);
    PQfinish(c);
    hv_buf_free(&sql);
    __atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
    job_unref(j);
    return NULL;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    job_t *j = arg;
    struct timeval tv = {0, POLL_US};
    char disp[96];

    (void)fd;
    (void)what;
    if (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
        evtimer_add(j->poll_ev, &tv);
        return;
    }
    if (j->status == 200) {
        snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-evidence-%s.csv\"", j->id);
        hv_http_add_header(&j->req, "Content-Disposition", disp);
        hv_http_end(&j->req, 200, "text/csv; charset=utf-8", j->csv.data, j->csv.len, NULL);
    } else if (j->status == 404) {
        hv_http_problem(&j->req, 404, "not_found", NULL, "no such report");
    } else {
        hv_log(HV_LOG_ERROR, "evidence export failed", "report=%s error=%s", j->id, j->err);
        hv_http_problem(&j->req, 503, "unavailable", NULL, "the database is unavailable");
    }
    __atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
    event_free(j->poll_ev);
    job_unref(j);
}

void hv_handle_evidence(hv_req_t *r, const char *id)
{
    const hv_config_t *cfg = r->w->srv->cfg;
    struct timeval tv = {0, POLL_US};
    pthread_t t;
    pthread_attr_t attr;

    if (__atomic_add_fetch(&running, 1, __ATOMIC_RELAXED) > MAX_JOBS) {
        __atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
        hv_http_problem(r, 503, "overloaded", NULL, "evidence exports are running; retry later");
        return;
    }
    job_t *j = hv_xcalloc(1, sizeof(*j));
    j->refs = 2;
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->conninfo =
        hv_xstrdup(cfg->read_database_url && cfg->read_database_url[0] ? cfg->read_database_url
                                                                       : cfg->database_url);
    hv_buf_init(&j->csv);
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

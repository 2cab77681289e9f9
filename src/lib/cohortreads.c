/*
 * cohortreads.c - the cohort endpoints (CONTRACT §11): the list and one cohort from the cohort
 * read model (no database), and a cohort's pending members from PostgreSQL off the loop
 * (dbjob.h), for admin tokens only (§12).
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/cohorts.h"
#include "hocvu/dbjob.h"
#include "hocvu/handlers.h"
#include "hocvu/json.h"
#include "hocvu/log.h"
#include "hocvu/query.h"
#include "hocvu/render.h"
#include "hocvu/snapshot.h"
#include "hocvu/snapstore.h"

/* The read checks, then the cohort set; NULL after ending the request. */
static hv_cohortset_t *cohort_gate(hv_req_t *r, hv_query_t *q)
{
    hv_cohortset_t *s;

    if (!hv_http_is_get(r) || !hv_read_query(r, q))
        return NULL;
    if (!hv_http_authorized(r)) {
        hv_http_problem(r, 401, "unauthorized", NULL, "a valid bearer token is required");
        return NULL;
    }
    s = hv_cohorts_acquire(r->w->srv->snap);
    if (!s)
        hv_http_problem(r, 503, "unavailable", NULL, "no data loaded yet; retry later");
    return s;
}

/* ?year= as in §9; the year's index, or -1 after ending the request with 400. */
static int cohort_year(hv_req_t *r, const hv_query_t *q, const hv_cohortset_t *s)
{
    int idx = hv_cohortset_year_index(s, hv_query_year(q, s->current_year));
    char why[96];

    if (idx < 0) {
        snprintf(why, sizeof(why), "year must be a year from %d to %d", s->first_year,
                 s->current_year);
        hv_http_problem(r, 400, "invalid_parameter", "year", why);
    }
    return idx;
}

static void reply_json(hv_req_t *r, const hv_buf_t *b)
{
    char etag[24];
    hv_etag_of(b->data, b->len, etag);
    hv_http_cached(r, "application/json", b->data, b->len, etag);
}

/* GET /v1/cohorts?kind=&ward=&year= */
void hv_handle_cohorts(hv_req_t *r)
{
    hv_query_t q;
    hv_cohortset_t *s = cohort_gate(r, &q);
    const char *kind, *ward;
    hv_buf_t b;
    int y;

    if (!s)
        return;
    kind = hv_query_get(&q, "kind");
    ward = hv_query_get(&q, "ward");
    if (kind && kind[0] == '\0')
        kind = NULL;
    if (ward && ward[0] == '\0')
        ward = NULL;
    if (kind && !hv_cohort_kind_valid(kind, strlen(kind))) {
        hv_http_problem(r, 400, "invalid_parameter", "kind",
                        "kind must be agency, enterprise, school, village, team or mentor");
        goto done;
    }
    if (ward && (strlen(ward) != 5 || !hv_all_digits(ward, 5))) {
        hv_http_problem(r, 400, "invalid_parameter", "ward", "ward must be a 5-digit ward code");
        goto done;
    }
    if ((y = cohort_year(r, &q, s)) < 0)
        goto done;
    hv_buf_init(&b);
    hv_render_cohorts(s, y, kind, ward, &b);
    reply_json(r, &b);
    hv_buf_free(&b);
done:
    hv_cohortset_release(s);
}

/* On the job's thread: the members of cohort io->key not certified now, by UTF-8 bytes. */
static void run_pending(PGconn *c, hv_dbjob_io_t *io)
{
    const char *p[1] = {io->key};
    PGresult *res =
        PQexecParams(c, "SELECT 1 FROM cohorts WHERE code = $1", 1, NULL, p, NULL, NULL, 0);
    hv_json_t j;

    io->status = 503;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto failed;
    if (PQntuples(res) == 0) {
        io->status = 404;
        PQclear(res);
        return;
    }
    PQclear(res);
    res = PQexecParams(c,
                       "SELECT m.member_ref FROM hv_cohort_membership m "
                       "LEFT JOIN persons p ON p.person = m.person "
                       "WHERE m.cohort = $1 AND p.cert_id IS NULL "
                       "ORDER BY m.member_ref COLLATE \"C\"",
                       1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto failed;
    hv_json_init(&j, &io->out);
    hv_json_obj(&j);
    hv_json_key(&j, "pending");
    hv_json_arr(&j);
    for (int i = 0; i < PQntuples(res); i++)
        hv_json_str(&j, PQgetvalue(res, i, 0));
    hv_json_end(&j);
    hv_json_end(&j);
    io->status = 200;
    PQclear(res);
    return;
failed:
    snprintf(io->err, sizeof(io->err), "%.*s", (int)strcspn(PQerrorMessage(c), "\n"),
             PQerrorMessage(c));
    PQclear(res);
}

static void end_pending(hv_req_t *r, const hv_dbjob_io_t *io)
{
    if (io->status == 200) {
        hv_http_json(r, 200, io->out.data, io->out.len);
    } else if (io->status == 404) {
        hv_http_problem(r, 404, "not_found", NULL, "no such cohort");
    } else {
        hv_log(HV_LOG_ERROR, "pending list failed", "cohort=%s error=%s", io->key, io->err);
        hv_http_problem(r, 503, "unavailable", NULL, "the database is unavailable");
    }
}

/* GET /v1/cohorts/{code} and /v1/cohorts/{code}/pending */
void hv_handle_cohort(hv_req_t *r, const char *rest)
{
    const char *slash = strchr(rest, '/');
    hv_query_t q;
    hv_cohortset_t *s;
    const hv_cohort_t *c;
    hv_buf_t b;
    int y;

    if (slash) {
        /* The pending list names people: admin tokens only, checked before any 404. */
        if (!hv_http_is_get(r))
            return;
        if (strcmp(slash, "/pending") != 0) {
            hv_http_problem(r, 404, "not_found", NULL, "no such endpoint");
            return;
        }
        if (!hv_http_admin(r))
            return;
        if (!hv_cohort_code_valid(rest, (size_t)(slash - rest))) {
            hv_http_problem(r, 404, "not_found", NULL, "no such cohort");
            return;
        }
        char code[HV_COHORT_CODE_MAX + 1];
        memcpy(code, rest, (size_t)(slash - rest));
        code[slash - rest] = '\0';
        hv_dbjob_start(r, "hocvud-pending", code, run_pending, end_pending);
        return;
    }
    if (!(s = cohort_gate(r, &q)))
        return;
    if ((y = cohort_year(r, &q, s)) < 0)
        goto done;
    if (!(c = hv_cohortset_find(s, rest))) {
        hv_http_problem(r, 404, "not_found", NULL, "no such cohort");
        goto done;
    }
    hv_buf_init(&b);
    hv_render_cohort(s, c, y, &b);
    reply_json(r, &b);
    hv_buf_free(&b);
done:
    hv_cohortset_release(s);
}

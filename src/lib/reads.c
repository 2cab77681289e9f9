/*
 * reads.c - the read endpoints, all served from the current snapshot without touching the
 * database: progress and the ranked wards (pre-rendered), one ward, the timeseries, the wards
 * CSV report, and the dashboard page. Rendering itself is render.c's.
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/frozen.h"
#include "hocvu/handlers.h"
#include "hocvu/query.h"
#include "hocvu/render.h"
#include "hocvu/snapshot.h"
#include "hocvu/snapstore.h"
#include "hocvu/timeutil.h"
#include "hocvu/web.h"
#include "hocvu/xlsx.h"
#include "hocvu/log.h"

#define HV_MAX_TIMESERIES_DAYS 3660

hv_snapshot_t *hv_read_gate(hv_req_t *r)
{
    hv_snapshot_t *snap;

    if (!hv_http_is_get(r))
        return NULL;
    if (!hv_http_authorized(r)) {
        hv_http_problem(r, 401, "unauthorized", NULL, "a valid bearer token is required");
        return NULL;
    }
    snap = hv_snapshot_acquire(r->w->srv->snap);
    if (!snap)
        hv_http_problem(r, 503, "unavailable", NULL, "no data loaded yet; retry later");
    return snap;
}

static int32_t vn_today(void)
{
    return (int32_t)hv_date_to_days(hv_time_vn_date((int64_t)time(NULL)));
}

/* Ends the request with a body rendered on demand, under the ETag of its bytes. */
static void reply_rendered(hv_req_t *r, const char *content_type, const hv_buf_t *b)
{
    char etag[24];
    hv_etag_of(b->data, b->len, etag);
    hv_http_cached(r, content_type, b->data, b->len, etag);
}

bool hv_read_query(hv_req_t *r, hv_query_t *q)
{
    const char *uri = evhttp_request_get_uri(r->evreq), *qs = strchr(uri, '?'), *why = NULL;

    q->n = 0;
    if (qs && !hv_query_parse(qs + 1, strcspn(qs + 1, "#"), q, &why)) {
        hv_http_problem(r, 400, "invalid_parameter", NULL, why);
        return false;
    }
    return true;
}

/* ?year= (CONTRACT §9): default the current Vietnam-time year; a year before the campaign or
 * after the current one is 400. Returns the year's index in the snapshot, or -1 after ending
 * the request. */
static int year_param(hv_req_t *r, const hv_query_t *q, const hv_snapshot_t *snap, int *year)
{
    char why[96];
    int idx;

    *year = hv_query_year(q, snap->current_year);
    idx = hv_snapshot_year_index(snap, *year);
    if (idx < 0 || *year < HV_FIRST_YEAR) {
        snprintf(why, sizeof(why), "year must be a year from %d to %d", HV_FIRST_YEAR,
                 snap->current_year);
        hv_http_problem(r, 400, "invalid_parameter", "year", why);
        return -1;
    }
    return idx;
}

/* The two documents pre-rendered for every year. */
typedef enum doc_kind { DOC_PROGRESS, DOC_WARDS } doc_kind_t;

static void serve_doc(hv_req_t *r, doc_kind_t kind)
{
    hv_query_t q;
    hv_snapshot_t *snap;
    const hv_doc_t *d;
    int year, idx;

    if (!hv_http_is_get(r) || !hv_read_query(r, &q))
        return;
    snap = hv_read_gate(r);
    if (!snap)
        return;
    idx = year_param(r, &q, snap, &year);
    if (idx >= 0) {
        d = kind == DOC_PROGRESS ? &snap->progress_docs[idx] : &snap->wards_docs[idx];
        hv_http_cached(r, "application/json", d->body, d->len, d->etag);
    }
    hv_snapshot_release(snap);
}

/* GET /v1/progress */
void hv_handle_progress(hv_req_t *r)
{
    serve_doc(r, DOC_PROGRESS);
}

/* GET /v1/wards */
void hv_handle_wards(hv_req_t *r)
{
    serve_doc(r, DOC_WARDS);
}

/* GET /v1/wards/{code} */
void hv_handle_ward(hv_req_t *r, const char *code)
{
    hv_query_t q;
    hv_snapshot_t *snap;
    hv_buf_t b;
    int year, idx;

    if (!hv_http_is_get(r) || !hv_read_query(r, &q))
        return;
    snap = hv_read_gate(r);
    if (!snap)
        return;
    idx = year_param(r, &q, snap, &year);
    if (idx >= 0) {
        hv_buf_init(&b);
        if (!hv_render_ward(snap, &snap->years[idx], code, vn_today(), &b))
            hv_http_problem(r, 404, "not_found", NULL, "no such current ward");
        else
            reply_rendered(r, "application/json", &b);
        hv_buf_free(&b);
    }
    hv_snapshot_release(snap);
}

/* Parses an optional YYYY-MM-DD query parameter into days; false after ending with 400. */
static bool date_param(hv_req_t *r, const hv_query_t *q, const char *name, int32_t *days)
{
    const char *v = hv_query_get(q, name);
    hv_date_t d;

    if (!v)
        return true;
    if (!hv_date_parse(v, strlen(v), &d)) {
        hv_http_problem(r, 400, "invalid_parameter", name, "dates are YYYY-MM-DD");
        return false;
    }
    *days = (int32_t)hv_date_to_days(d);
    return true;
}

/* GET /v1/timeseries?ward=&from=&to= */
void hv_handle_timeseries(hv_req_t *r)
{
    hv_query_t q;
    hv_snapshot_t *snap;
    const char *ward;
    int32_t from, to;
    hv_buf_t b;

    if (!hv_http_is_get(r) || !hv_read_query(r, &q))
        return;
    snap = hv_read_gate(r);
    if (!snap)
        return;
    ward = hv_query_get(&q, "ward");
    if (ward && ward[0] == '\0')
        ward = NULL;
    if (ward && !hv_wardtab_find(snap->wards, ward)) {
        hv_http_problem(r, 404, "not_found", "ward", "no such current ward");
        goto done;
    }
    to = vn_today();
    if (!date_param(r, &q, "to", &to))
        goto done;
    from = hv_snapshot_first_day(snap, ward, to);
    if (from > to)
        from = to;
    if (!date_param(r, &q, "from", &from))
        goto done;
    if (from > to) {
        hv_http_problem(r, 400, "invalid_parameter", "from", "from is after to");
        goto done;
    }
    if (to - from >= HV_MAX_TIMESERIES_DAYS) {
        hv_http_problem(r, 400, "invalid_parameter", "from", "at most 3660 days per request");
        goto done;
    }
    hv_buf_init(&b);
    hv_render_timeseries(snap, ward, from, to, &b);
    reply_rendered(r, "application/json", &b);
    hv_buf_free(&b);
done:
    hv_snapshot_release(snap);
}

typedef enum report_format { REPORT_CSV, REPORT_XLSX } report_format_t;

/* GET /v1/reports/wards.csv and .xlsx ?as_of=YYYY-MM-DD&year=YYYY (CONTRACT §10): the ward
 * table as of a day (default: today for the current year, else the year's 31 December; never
 * in the future) against a year's targets (default: the year of as_of). */
static void serve_report(hv_req_t *r, report_format_t format)
{
    hv_query_t q;
    hv_snapshot_t *snap;
    hv_view_t *built = NULL;
    const hv_view_t *v;
    int32_t today = vn_today(), as_of = HV_NO_DAY;
    int year, idx;
    hv_buf_t b;
    char disp[96], date[16], err[160];

    if (!hv_http_is_get(r) || !hv_read_query(r, &q))
        return;
    snap = hv_read_gate(r);
    if (!snap)
        return;
    if (!date_param(r, &q, "as_of", &as_of))
        goto done;
    if (as_of != HV_NO_DAY && as_of > today) {
        hv_http_problem(r, 400, "invalid_parameter", "as_of", "as_of is in the future");
        goto done;
    }
    if (as_of != HV_NO_DAY && !hv_query_get(&q, "year")) {
        year = hv_days_to_date(as_of).year;
        idx = hv_snapshot_year_index(snap, year);
        if (idx < 0 || year < HV_FIRST_YEAR) {
            hv_http_problem(r, 400, "invalid_parameter", "as_of",
                            "as_of must fall in a campaign year, or give year");
            goto done;
        }
    } else if ((idx = year_param(r, &q, snap, &year)) < 0) {
        goto done;
    }
    if (as_of == HV_NO_DAY)
        as_of = year == snap->current_year ? today : hv_year_end(year);
    if (as_of == hv_year_end(year)) {
        v = &snap->years[idx];
    } else {
        built = hv_view_build(snap, year, as_of);
        v = built;
    }
    hv_buf_init(&b);
    hv_date_format(hv_days_to_date(as_of), date);
    if (format == REPORT_CSV) {
        hv_render_wards_csv(snap, v, as_of, &b);
        snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-wards-%s.csv\"", date);
        hv_http_add_header(r, "Content-Disposition", disp);
        reply_rendered(r, "text/csv; charset=utf-8", &b);
    } else {
        hv_xlsx_meta_t meta = {.jurisdiction = r->w->srv->cfg->jurisdiction,
                               .as_of_day = as_of,
                               .generated_at = snap->as_of};
        if (hv_render_wards_xlsx(snap, v, &meta, &b, err, sizeof(err)) < 0) {
            hv_log(HV_LOG_ERROR, "report workbook failed", "error=%s", err);
            hv_http_problem(r, 500, "internal", NULL, "the workbook could not be written");
        } else {
            snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-wards-%s.xlsx\"", date);
            hv_http_add_header(r, "Content-Disposition", disp);
            reply_rendered(r, HV_XLSX_MEDIA_TYPE, &b);
        }
    }
    hv_buf_free(&b);
done:
    hv_view_free(built);
    hv_snapshot_release(snap);
}

/* GET /v1/reports/wards.csv */
void hv_handle_report(hv_req_t *r)
{
    serve_report(r, REPORT_CSV);
}

/* GET /v1/reports/wards.xlsx */
void hv_handle_report_xlsx(hv_req_t *r)
{
    serve_report(r, REPORT_XLSX);
}

/* GET /v1/reports: the frozen reports, oldest first. */
void hv_handle_reports(hv_req_t *r)
{
    hv_frozenset_t *f;

    if (!hv_http_is_get(r))
        return;
    if (!hv_http_authorized(r)) {
        hv_http_problem(r, 401, "unauthorized", NULL, "a valid bearer token is required");
        return;
    }
    f = hv_frozen_acquire(r->w->srv->snap);
    if (!f) {
        hv_http_problem(r, 503, "unavailable", NULL, "no data loaded yet; retry later");
        return;
    }
    hv_http_cached(r, "application/json", f->list, f->list_len, f->list_etag);
    hv_frozenset_release(f);
}

/* GET /v1/reports/{id}, {id}.csv, {id}.xlsx: a frozen report exactly as stored, or its table. */
void hv_handle_frozen(hv_req_t *r, const char *rest)
{
    char id[40], err[160], disp[96];
    size_t n = strcspn(rest, ".");
    const char *suffix = rest + n;
    hv_frozenset_t *f;
    const hv_frozen_t *x;
    hv_buf_t b;

    if (!hv_http_is_get(r))
        return;
    /* {id}/evidence.csv names certificates: admin tokens only, checked before any 404. */
    const char *slash = strchr(rest, '/');
    if (slash && strcmp(slash, "/evidence.csv") == 0) {
        if (!hv_http_admin(r))
            return;
        if (slash == rest || (size_t)(slash - rest) >= sizeof(id) ||
            memchr(rest, '.', (size_t)(slash - rest))) {
            hv_http_problem(r, 404, "not_found", NULL, "no such report");
            return;
        }
        memcpy(id, rest, (size_t)(slash - rest));
        id[slash - rest] = '\0';
        hv_handle_evidence(r, id);
        return;
    }
    if (!hv_http_authorized(r)) {
        hv_http_problem(r, 401, "unauthorized", NULL, "a valid bearer token is required");
        return;
    }
    if (n == 0 || n >= sizeof(id) || strchr(rest, '/') ||
        (*suffix && strcmp(suffix, ".csv") != 0 && strcmp(suffix, ".xlsx") != 0)) {
        hv_http_problem(r, 404, "not_found", NULL, "no such report");
        return;
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    f = hv_frozen_acquire(r->w->srv->snap);
    x = hv_frozenset_find(f, id);
    if (!x) {
        hv_http_problem(r, f ? 404 : 503, f ? "not_found" : "unavailable", NULL,
                        f ? "no such report" : "no data loaded yet; retry later");
        hv_frozenset_release(f);
        return;
    }
    hv_buf_init(&b);
    if (!*suffix) {
        hv_http_cached(r, "application/json", x->body, x->body_len, x->etag);
    } else if (strcmp(suffix, ".csv") == 0) {
        if (!hv_render_frozen_csv(x->body, x->body_len, &b)) {
            hv_http_problem(r, 500, "internal", NULL, "the stored report could not be read");
        } else {
            snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-report-%s.csv\"", x->id);
            hv_http_add_header(r, "Content-Disposition", disp);
            reply_rendered(r, "text/csv; charset=utf-8", &b);
        }
    } else if (hv_render_frozen_xlsx(x->body, x->body_len, &b, err, sizeof(err)) < 0) {
        hv_log(HV_LOG_ERROR, "report workbook failed", "report=%s error=%s", x->id, err);
        hv_http_problem(r, 500, "internal", NULL, "the workbook could not be written");
    } else {
        snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-report-%s.xlsx\"", x->id);
        hv_http_add_header(r, "Content-Disposition", disp);
        reply_rendered(r, HV_XLSX_MEDIA_TYPE, &b);
    }
    hv_buf_free(&b);
    hv_frozenset_release(f);
}

/* GET / */
void hv_handle_dashboard(hv_req_t *r)
{
    const hv_server_t *srv = r->w->srv;

    if (!hv_http_is_get(r))
        return;
    /* The page itself is public: it holds no data and asks for a token when the API needs one. */
    hv_http_add_header(r, "Content-Security-Policy",
                       "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                       "script-src 'self' 'unsafe-inline'; img-src 'self' data:");
    hv_http_cached(r, "text/html; charset=utf-8", srv->page, srv->page_len, srv->page_etag);
}

/*
 * batch.c - POST /v1/events/batch: an NDJSON body of events, each line validated on its own
 * (a bad line is that line's error, never its neighbours'), the valid ones submitted to the
 * batch writer, and one summary once every line has its outcome.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/handlers.h"
#include "hocvu/json.h"
#include "hocvu/log.h"
#include "hocvu/ndjson.h"
#include "hocvu/snapshot.h"
#include "hocvu/writer.h"

#define HV_MAX_BATCH_LINES 10000
#define HV_BATCH_LINES_PER_STEP 256 /* lines validated before the loop serves others again */

typedef struct batch_error {
    int line;
    char *id;          /* owned; NULL if the line had no usable id */
    const char *code;  /* static */
    const char *field; /* static or NULL */
} batch_error_t;

/* One batch request while its valid lines are being committed. Owned by the worker from
 * hv_req_move until the reply; freed when the last item is called back. */
typedef struct batch_req {
    hv_req_t req;
    hv_write_item_t *items; /* owned array */
    int *item_line;         /* owned: line number of each item */
    int n_items, n_pending;
    int accepted, duplicates, rejected;
    bool unavailable, overloaded;
    int admitted;            /* events counted in the worker's queue, released at the end */
    bool limited, not_found; /* over the rate: only a full redelivery passes */
    int retry_after;
    batch_error_t *errors; /* owned */
    int n_errors, cap_errors;
    /* Validation runs in steps of HV_BATCH_LINES_PER_STEP lines, so a 10,000-line batch never
     * holds its event loop (and the single events on it) for long. */
    hv_snapshot_t *snap; /* reference held while lines are validated */
    hv_ndjson_t split;   /* over the request's body, which lives until the reply */
    int64_t now;
    struct event *step_ev; /* owned */
} batch_req_t;

static void batch_add_error(batch_req_t *b, int line, const char *id, const char *code,
                            const char *field)
{
    if (b->n_errors == b->cap_errors) {
        b->cap_errors = b->cap_errors ? b->cap_errors * 2 : 16;
        b->errors = hv_xrealloc(b->errors, sizeof(*b->errors) * (size_t)b->cap_errors);
    }
    b->errors[b->n_errors++] = (batch_error_t){
        .line = line, .id = id && id[0] ? hv_xstrdup(id) : NULL, .code = code, .field = field};
    b->rejected++;
    hv_metrics_event(&b->req.w->metrics, code);
}

static int batch_error_cmp(const void *a, const void *b)
{
    return ((const batch_error_t *)a)->line - ((const batch_error_t *)b)->line;
}

static void batch_free(batch_req_t *b)
{
    if (b->step_ev)
        event_free(b->step_ev);
    hv_snapshot_release(b->snap);
    for (int i = 0; i < b->n_errors; i++)
        free(b->errors[i].id);
    free(b->errors);
    free(b->items);
    free(b->item_line);
    free(b);
}

/* {"accepted":…,"duplicates":…,"rejected":…,"errors":[{"line","id","code"[,"field"]}…]} */
static void render_summary(batch_req_t *b, hv_buf_t *out)
{
    hv_json_t j;

    if (b->n_errors > 1)
        qsort(b->errors, (size_t)b->n_errors, sizeof(*b->errors), batch_error_cmp);
    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_kint(&j, "accepted", b->accepted);
    hv_json_kint(&j, "duplicates", b->duplicates);
    hv_json_kint(&j, "rejected", b->rejected);
    hv_json_key(&j, "errors");
    hv_json_arr(&j);
    for (int i = 0; i < b->n_errors; i++) {
        const batch_error_t *e = &b->errors[i];
        hv_json_obj(&j);
        hv_json_kint(&j, "line", e->line);
        hv_json_kstr(&j, "id", e->id);
        hv_json_kstr(&j, "code", e->code);
        if (e->field)
            hv_json_kstr(&j, "field", e->field);
        hv_json_end(&j);
    }
    hv_json_end(&j);
    hv_json_end(&j);
}

/* Ends the batch: the summary, or 503 when any valid line could not be committed (the sender
 * retries the whole batch and the committed lines come back as duplicates), or 429 when over
 * the rate and not a full redelivery. Frees b. */
static void batch_end(batch_req_t *b)
{
    hv_problem_t prob;
    hv_buf_t out;

    if (b->limited && b->not_found) {
        hv_problem_set(&prob, 429, "rate_limited", NULL,
                       "too many requests from this client; retry later");
        hv_http_problem_doc(&b->req, &prob, b->retry_after);
    } else if (b->unavailable || b->overloaded) {
        hv_http_problem(&b->req, 503, b->unavailable ? "unavailable" : "overloaded", NULL,
                        b->unavailable ? "the database did not confirm every line; retry the "
                                         "batch (lines already stored come back as duplicates)"
                                       : "the service is saturated; retry the batch (lines "
                                         "already stored come back as duplicates)");
    } else {
        hv_buf_init(&out);
        render_summary(b, &out);
        hv_http_json(&b->req, 200, out.data, out.len);
        hv_buf_free(&out);
    }
    hv_worker_unadmit(b->req.w, b->admitted);
    batch_free(b);
}

static void on_batch_written(hv_write_item_t *item, hv_outcome_t outcome)
{
    batch_req_t *b = item->arg;
    int k = (int)(item - b->items);

    switch (outcome) {
    case HV_OUT_ACCEPTED:
        b->accepted++;
        hv_metrics_event(&b->req.w->metrics, "accepted");
        break;
    case HV_OUT_DUPLICATE:
        b->duplicates++;
        hv_metrics_event(&b->req.w->metrics, "duplicate");
        break;
    case HV_OUT_CONFLICT:
        batch_add_error(b, b->item_line[k], item->id, "certificate_conflict",
                        "data.certificate_id");
        break;
    case HV_OUT_INVALID:
        batch_add_error(b, b->item_line[k], item->id, "invalid_event", NULL);
        break;
    case HV_OUT_UNAVAILABLE:
        b->unavailable = true;
        break;
    case HV_OUT_OVERLOADED:
        b->overloaded = true;
        break;
    case HV_OUT_NOT_FOUND:
        b->not_found = true;
        break;
    }
    if (--b->n_pending == 0)
        batch_end(b);
}

/* Submits the batch's valid lines once all are validated (or ends it). */
static void batch_submit(batch_req_t *b)
{
    hv_worker_t *w = b->req.w;

    hv_snapshot_release(b->snap);
    b->snap = NULL;
    if (b->n_items == 0) {
        batch_end(b);
        return;
    }
    if (w->closing || !w->writer || !hv_writer_available(w->writer)) {
        b->unavailable = true;
        batch_end(b);
        return;
    }
    if (!hv_worker_admit(w, b->n_items)) {
        b->overloaded = true; /* nothing of it submitted */
        batch_end(b);
        return;
    }
    b->admitted = b->n_items;
    b->n_pending = b->n_items;
    /* Items are independent; the writer groups them into transactions of batch_max. The last
     * callback frees b, so the loop bound is a local copy and b is not touched afterwards. */
    hv_write_item_t *items = b->items;
    int n_items = b->n_items;
    for (int i = 0; i < n_items; i++)
        hv_writer_submit(w->writer, &items[i], true);
}

/* Validates the next HV_BATCH_LINES_PER_STEP lines; schedules itself again after the loop has
 * served its other sockets, or submits when the body is done. */
static void batch_step(evutil_socket_t fd, short what, void *arg)
{
    batch_req_t *b = arg;
    hv_worker_t *w = b->req.w;
    char id[HV_EVENT_ID_MAX + 1];
    const char *line;
    size_t n;
    long line_no;

    if (w->closing) {
        b->unavailable = true;
        batch_end(b);
        return;
    }
    for (int k = 0; k < HV_BATCH_LINES_PER_STEP; k++) {
        if (!hv_ndjson_next(&b->split, &line, &n, &line_no)) {
            batch_submit(b);
            return;
        }
        hv_write_item_t *it = &b->items[b->n_items];
        hv_problem_t why;

        if (!hv_ingest_validate(w, b->snap, line, n, b->now, NULL, id, it, &why)) {
            batch_add_error(b, (int)line_no, id, why.code, why.field);
            continue;
        }
        it->cb = on_batch_written;
        it->arg = b;
        it->lookup_only = b->limited;
        b->item_line[b->n_items++] = (int)line_no;
    }
    struct timeval later = {0, 0}; /* a timer: runs after the loop's pending I/O */
    evtimer_add(b->step_ev, &later);
}

void hv_handle_batch(hv_req_t *r)
{
    hv_worker_t *w = r->w;
    const char *body;
    size_t len, lines;
    hv_snapshot_t *snap;
    batch_req_t *b;
    int64_t now = (int64_t)time(NULL);

    body = hv_ingest_gate(r, "application/x-ndjson", HV_BATCH_BODY_MAX,
                          "the batch is larger than 16 MiB", &len, now);
    if (!body)
        return;
    lines = hv_ndjson_count_lines(body, len);
    if (lines > HV_MAX_BATCH_LINES) {
        hv_http_problem(r, 413, "payload_too_large", NULL, "the batch has more than 10000 lines");
        return;
    }
    snap = hv_ingest_snapshot(r);
    if (!snap)
        return;
    b = hv_xcalloc(1, sizeof(*b));
    b->limited = !hv_ingest_within_rate(r, &b->retry_after);
    b->items = hv_xcalloc(lines ? lines : 1, sizeof(*b->items));
    b->item_line = hv_xcalloc(lines ? lines : 1, sizeof(*b->item_line));
    b->snap = snap;
    b->now = now;
    hv_ndjson_init(&b->split, body, len);
    b->step_ev = evtimer_new(w->base, batch_step, b);
    if (!b->step_ev) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    hv_req_move(r, &b->req);
    batch_step(-1, 0, b);
}

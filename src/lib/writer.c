/*
 * writer.c - group commit into PostgreSQL. Items queue while a batch is in flight; when it
 * completes, everything queued (up to batch_max) goes out as the next single hv_ingest call,
 * its columns as binary arrays (pgarray.c).
 * libpq runs non-blocking on the event loop; a lost connection fails what is in flight with
 * "unavailable" (nothing acknowledged) and is re-established by a timer.
 */
#include "hocvu/writer.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/log.h"
#include "hocvu/metrics.h"
#include "hocvu/pgarray.h"

#define HV_WRITER_RETRY_MS 500     /* reconnect interval */
#define HV_WRITER_BATCH_TIMEOUT 15 /* seconds before an unanswered batch counts as lost */
#define HV_WRITER_MAX_RETRIES 5    /* deadlock / serialization retries of one batch */
#define HV_WRITER_NPARAMS 11

/* Both statements are prepared once per connection with one simple-protocol round trip. */
static const char prepare_sql[] =
    "PREPARE hv_ingest(text[], smallint[], text[], text[], text[], smallint[], bigint[], int[], "
    "boolean[], text[], real[], smallint) AS "
    "SELECT n, outcome FROM hv_ingest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12); "
    "PREPARE hv_lookup(text[]) AS SELECT id FROM event_ledger WHERE id = ANY ($1)";

typedef enum writer_state {
    W_DOWN,       /* no connection; the retry timer is pending */
    W_CONNECTING, /* PQconnectPoll in progress */
    W_PREPARING,  /* statement being prepared */
    W_IDLE,       /* ready, nothing in flight */
    W_BUSY,       /* one batch in flight */
} writer_state_t;

struct hv_writer {
    struct event_base *base; /* borrowed */
    char *conninfo;          /* owned */
    char *name;              /* owned */
    int batch_max;
    writer_state_t state;
    PGconn *conn;             /* owned; NULL when down */
    struct event *sock_ev;    /* on PQsocket(conn); re-assigned as the socket may change */
    struct event *retry_ev;   /* reconnect timer */
    struct event *timeout_ev; /* batch timeout */
    int shard;                /* counter shard this writer adds to */
    bool want_write;

    hv_write_item_t *queue_head, *queue_tail; /* waiting */
    int queue_len;
    hv_write_item_t *flight; /* the batch in flight, in ordinal order */
    int flight_len;
    bool flight_lookup; /* the batch is a ledger lookup */
    int flight_retries;
    struct timespec flight_start;

    hv_pgarray_t params[HV_WRITER_NPARAMS]; /* the batch's columns, binary */
    char shard_param[8];
    PGresult *result; /* result of the batch in flight, until its end */
    bool prepare_failed;
    bool logged_down;
    hv_writer_stats_t stats;
    hv_metrics_t *metrics; /* borrowed, may be NULL */
};

static void writer_connect(hv_writer_t *w);
static void writer_sock_cb(evutil_socket_t fd, short what, void *arg);
static void writer_kick(hv_writer_t *w);

static int64_t elapsed_us(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
}

/* Calls back every item of a detached list with one outcome. The list must no longer be
 * reachable from the writer, since callbacks may submit again. */
static void fail_list(hv_write_item_t *it, hv_outcome_t outcome)
{
    while (it) {
        hv_write_item_t *next = it->next;
        it->next = NULL;
        it->cb(it, outcome);
        it = next;
    }
}

/* Drops the connection: fails the batch in flight and everything queued (their senders retry),
 * then schedules a reconnect. */
static void writer_down(hv_writer_t *w, const char *why)
{
    hv_write_item_t *flight = w->flight, *queued = w->queue_head;

    if (!w->logged_down)
        hv_log(HV_LOG_ERROR, "database unavailable", "writer=%s reason=\"%s\"", w->name, why);
    w->logged_down = true;
    event_del(w->sock_ev);
    event_del(w->timeout_ev);
    if (w->result) {
        PQclear(w->result);
        w->result = NULL;
    }
    if (w->conn) {
        PQfinish(w->conn);
        w->conn = NULL;
    }
    __atomic_store_n(&w->state, W_DOWN, __ATOMIC_RELAXED);
    w->flight = NULL;
    w->flight_len = 0;
    w->queue_head = w->queue_tail = NULL;
    w->queue_len = 0;
    if (flight || queued)
        __atomic_fetch_add(&w->stats.failures, 1, __ATOMIC_RELAXED);
    fail_list(flight, HV_OUT_UNAVAILABLE);
    fail_list(queued, HV_OUT_UNAVAILABLE);
    struct timeval tv = {0, HV_WRITER_RETRY_MS * 1000};
    event_add(w->retry_ev, &tv);
}

/* First line of libpq's error message, for one-line logs. */
static const char *pq_error_line(PGconn *conn, char *buf, size_t n)
{
    const char *m = conn ? PQerrorMessage(conn) : "no connection";
    size_t len = strcspn(m, "\n");
    if (len >= n)
        len = n - 1;
    memcpy(buf, m, len);
    buf[len] = '\0';
    return buf;
}

static void watch_socket(hv_writer_t *w, short what)
{
    event_del(w->sock_ev);
    event_assign(w->sock_ev, w->base, PQsocket(w->conn), what | EV_PERSIST, writer_sock_cb, w);
    event_add(w->sock_ev, NULL);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    writer_connect(arg);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    writer_down(arg, "batch timed out");
}

static void writer_connect(hv_writer_t *w)
{
    char err[256];

    w->prepare_failed = false;
    w->conn = PQconnectStart(w->conninfo);
    if (!w->conn || PQstatus(w->conn) == CONNECTION_BAD) {
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    PQsetnonblocking(w->conn, 1);
    __atomic_store_n(&w->state, W_CONNECTING, __ATOMIC_RELAXED);
    watch_socket(w, EV_WRITE);
}

/* Element types of hv_ingest's array parameters, in order (see prepare_sql). */
static const uint32_t param_oids[HV_WRITER_NPARAMS] = {
    HV_PG_TEXT, HV_PG_INT2, HV_PG_TEXT, HV_PG_TEXT, HV_PG_TEXT,   HV_PG_INT2,
    HV_PG_INT8, HV_PG_INT4, HV_PG_BOOL, HV_PG_TEXT, HV_PG_FLOAT4,
};

/* Builds the array parameters of the batch in flight (binary: nothing is quoted or escaped)
 * and sends it. */
static void send_batch(hv_writer_t *w)
{
    const char *values[HV_WRITER_NPARAMS + 1];
    int lengths[HV_WRITER_NPARAMS + 1], formats[HV_WRITER_NPARAMS + 1];
    hv_pgarray_t *p = w->params;
    const char *stmt = "hv_ingest";
    int nparams = HV_WRITER_NPARAMS + 1;

    for (int i = 0; i < HV_WRITER_NPARAMS; i++)
        hv_pgarray_reset(&p[i]);
    if (w->flight_lookup) {
        for (hv_write_item_t *it = w->flight; it; it = it->next)
            hv_pgarray_text(&p[0], it->id, strlen(it->id));
        stmt = "hv_lookup";
        nparams = 1;
    } else {
        for (hv_write_item_t *it = w->flight; it; it = it->next) {
            bool issued = it->kind == HV_EV_ISSUED;

            hv_pgarray_text(&p[0], it->id, strlen(it->id));
            hv_pgarray_int2(&p[1], issued ? 1 : 2);
            hv_pgarray_text(&p[2], it->cert_id, strlen(it->cert_id));
            hv_pgarray_text(&p[3], it->person_hex, strlen(it->person_hex));
            if (issued) {
                hv_pgarray_text(&p[4], it->ward, strlen(it->ward));
                hv_pgarray_int2(&p[5], (int16_t)it->grp);
            } else {
                hv_pgarray_null(&p[4]);
                hv_pgarray_null(&p[5]);
            }
            if (it->has_ts)
                hv_pgarray_int8(&p[6], it->ts);
            else
                hv_pgarray_null(&p[6]);
            if (issued) {
                hv_pgarray_int4(&p[7], it->day);
                hv_pgarray_bool(&p[8], it->adult);
            } else {
                hv_pgarray_null(&p[7]);
                hv_pgarray_null(&p[8]);
            }
            if (it->course_id[0])
                hv_pgarray_text(&p[9], it->course_id, strlen(it->course_id));
            else
                hv_pgarray_null(&p[9]);
            if (it->score >= 0)
                hv_pgarray_float4(&p[10], (float)(round(it->score * 1000.0) / 1000.0));
            else
                hv_pgarray_null(&p[10]);
        }
    }
    for (int i = 0; i < nparams && i < HV_WRITER_NPARAMS; i++) {
        values[i] = hv_pgarray_finish(&p[i], &lengths[i]);
        formats[i] = 1;
    }
    values[HV_WRITER_NPARAMS] = w->shard_param; /* text */
    lengths[HV_WRITER_NPARAMS] = 0;
    formats[HV_WRITER_NPARAMS] = 0;

    clock_gettime(CLOCK_MONOTONIC, &w->flight_start);
    if (!PQsendQueryPrepared(w->conn, stmt, nparams, values, lengths, formats, 0)) {
        char err[256];
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    __atomic_store_n(&w->state, W_BUSY, __ATOMIC_RELAXED);
    struct timeval tv = {HV_WRITER_BATCH_TIMEOUT, 0};
    event_add(w->timeout_ev, &tv);
    int f = PQflush(w->conn);
    if (f < 0) {
        char err[256];
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    w->want_write = f == 1;
    watch_socket(w, EV_READ | (w->want_write ? EV_WRITE : 0));
}

/* Starts the next batch if the connection is idle and items are waiting. */
static void writer_kick(hv_writer_t *w)
{
    hv_write_item_t *last = NULL;

    if (w->state != W_IDLE || !w->queue_head)
        return;
    /* A batch holds items of one kind: consecutive lookups, or consecutive events. */
    w->flight = w->queue_head;
    w->flight_len = 0;
    w->flight_lookup = w->queue_head->lookup_only;
    for (hv_write_item_t *it = w->queue_head;
         it && w->flight_len < w->batch_max && it->lookup_only == w->flight_lookup; it = it->next) {
        last = it;
        w->flight_len++;
    }
    w->queue_head = last->next;
    if (!w->queue_head)
        w->queue_tail = NULL;
    w->queue_len -= w->flight_len;
    last->next = NULL;
    w->flight_retries = 0;
    send_batch(w);
}

/* Completes the batch in flight with the rows hv_ingest returned. */
static void finish_batch(hv_writer_t *w, PGresult *res)
{
    int nrows = PQntuples(res);
    hv_write_item_t **by_ordinal = hv_xmalloc(sizeof(*by_ordinal) * (size_t)w->flight_len);
    hv_outcome_t *outcome = hv_xmalloc(sizeof(*outcome) * (size_t)w->flight_len);
    hv_write_item_t *it;
    int k = 0, len = w->flight_len;

    for (it = w->flight; it; it = it->next) {
        by_ordinal[k] = it;
        outcome[k++] = HV_OUT_UNAVAILABLE; /* a row missing from the result is not acknowledged */
    }
    if (w->flight_lookup) {
        /* Rows are the ids found in the ledger; everything else is unknown. */
        for (k = 0; k < len; k++) {
            outcome[k] = HV_OUT_NOT_FOUND;
            for (int r = 0; r < nrows; r++)
                if (strcmp(PQgetvalue(res, r, 0), by_ordinal[k]->id) == 0)
                    outcome[k] = HV_OUT_DUPLICATE;
        }
        nrows = 0;
    }
    for (int r = 0; r < nrows; r++) {
        int n = atoi(PQgetvalue(res, r, 0)), o = atoi(PQgetvalue(res, r, 1));
        if (n >= 1 && n <= len && o >= 0 && o <= 2)
            outcome[n - 1] = (hv_outcome_t)o;
    }
    __atomic_fetch_add(&w->stats.batches, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&w->stats.events, (uint64_t)len, __ATOMIC_RELAXED);
    int64_t us = elapsed_us(&w->flight_start);
    __atomic_fetch_add(&w->stats.commit_us_total, (uint64_t)us, __ATOMIC_RELAXED);
    if (w->metrics && !w->flight_lookup)
        hv_metrics_commit(w->metrics, len, us);
    w->flight = NULL;
    w->flight_len = 0;
    for (k = 0; k < len; k++) {
        by_ordinal[k]->next = NULL;
        by_ordinal[k]->cb(by_ordinal[k], outcome[k]);
    }
    free(by_ordinal);
    free(outcome);
}

/* Handles the end of a batch statement once libpq has returned its last result: completes the
 * batch, retries it after a deadlock or serialization failure, or fails it. */
static void batch_done(hv_writer_t *w)
{
    PGresult *res = w->result;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    w->result = NULL;
    __atomic_store_n(&w->state, W_IDLE, __ATOMIC_RELAXED);
    event_del(w->timeout_ev);
    if (st == PGRES_TUPLES_OK) {
        finish_batch(w, res);
        PQclear(res);
        writer_kick(w);
        return;
    }
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *m = res ? PQresultErrorMessage(res) : "no result";
    bool retry = code && (strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0);
    if (retry && w->flight_retries < HV_WRITER_MAX_RETRIES) {
        w->flight_retries++;
        __atomic_fetch_add(&w->stats.retries, 1, __ATOMIC_RELAXED);
        hv_log(HV_LOG_WARN, "batch retried", "writer=%s sqlstate=%s events=%d", w->name, code,
               w->flight_len);
        PQclear(res);
        send_batch(w);
        return;
    }
    hv_log(HV_LOG_ERROR, "batch failed", "writer=%s sqlstate=%s events=%d error=\"%.*s\"", w->name,
           code ? code : "?", w->flight_len, (int)strcspn(m, "\n"), m);
    PQclear(res);
    hv_write_item_t *flight = w->flight;
    w->flight = NULL;
    w->flight_len = 0;
    __atomic_fetch_add(&w->stats.failures, 1, __ATOMIC_RELAXED);
    fail_list(flight, HV_OUT_UNAVAILABLE);
    if (w->state == W_IDLE && PQstatus(w->conn) == CONNECTION_BAD) {
        writer_down(w, "connection lost");
        return;
    }
    writer_kick(w);
}

/* Reads the results of the statement in flight; returns when libpq would block. The next
 * statement may only be sent after PQgetResult has returned NULL. */
static void handle_results(hv_writer_t *w)
{
    char err[256];

    if (!PQconsumeInput(w->conn)) {
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    while (!PQisBusy(w->conn)) {
        PGresult *res = PQgetResult(w->conn);
        if (!res) {
            if (w->state == W_PREPARING) {
                if (w->prepare_failed) {
                    writer_down(w, "could not prepare statements (has hocvuctl migrate run?)");
                    return;
                }
                __atomic_store_n(&w->state, W_IDLE, __ATOMIC_RELAXED);
                if (w->logged_down)
                    hv_log(HV_LOG_INFO, "database available", "writer=%s", w->name);
                w->logged_down = false;
                watch_socket(w, EV_READ);
                writer_kick(w);
            } else if (w->state == W_BUSY) {
                batch_done(w);
            }
            return;
        }
        if (w->state == W_PREPARING) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                const char *m = PQresultErrorMessage(res);
                hv_log(HV_LOG_ERROR, "could not prepare statement", "writer=%s error=\"%.*s\"",
                       w->name, (int)strcspn(m, "\n"), m);
                w->prepare_failed = true;
            }
            PQclear(res);
        } else if (w->state == W_BUSY) {
            /* Keep the first result (rows or error); hv_ingest returns exactly one. */
            if (!w->result)
                w->result = res;
            else
                PQclear(res);
        } else {
            PQclear(res);
        }
    }
}

static void writer_sock_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_writer_t *w = arg;
    char err[256];

    switch (w->state) {
    case W_CONNECTING:
        switch (PQconnectPoll(w->conn)) {
        case PGRES_POLLING_READING:
            watch_socket(w, EV_READ);
            return;
        case PGRES_POLLING_WRITING:
            watch_socket(w, EV_WRITE);
            return;
        case PGRES_POLLING_FAILED:
            writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
            return;
        case PGRES_POLLING_OK:
            if (!PQsendQuery(w->conn, prepare_sql)) {
                writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
                return;
            }
            __atomic_store_n(&w->state, W_PREPARING, __ATOMIC_RELAXED);
            watch_socket(w, EV_READ | EV_WRITE);
            return;
        default:
            return;
        }
    case W_PREPARING:
    case W_BUSY:
        if (what & EV_WRITE) {
            int f = PQflush(w->conn);
            if (f < 0) {
                writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
                return;
            }
            if (f == 0)
                watch_socket(w, EV_READ);
        }
        if (what & EV_READ)
            handle_results(w);
        return;
    case W_IDLE:
        /* Unsolicited input while idle: a notice, or the server closing the connection. */
        if (!PQconsumeInput(w->conn) || PQstatus(w->conn) == CONNECTION_BAD) {
            writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
            return;
        }
        return;
    case W_DOWN:
        return;
    }
}

hv_writer_t *hv_writer_new(struct event_base *base, const char *conninfo, int batch_max, int shard,
                           const char *name, hv_metrics_t *metrics)
{
    hv_writer_t *w = hv_xcalloc(1, sizeof(*w));

    w->shard = shard;
    snprintf(w->shard_param, sizeof(w->shard_param), "%d", shard);
    w->metrics = metrics;
    w->base = base;
    w->conninfo = hv_xstrdup(conninfo);
    w->name = hv_xstrdup(name);
    w->batch_max = batch_max;
    w->sock_ev = event_new(base, -1, 0, writer_sock_cb, w);
    w->retry_ev = evtimer_new(base, retry_cb, w);
    w->timeout_ev = evtimer_new(base, timeout_cb, w);
    if (!w->sock_ev || !w->retry_ev || !w->timeout_ev) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    for (int i = 0; i < HV_WRITER_NPARAMS; i++)
        hv_pgarray_init(&w->params[i], param_oids[i]);
    writer_connect(w);
    return w;
}

void hv_writer_free(hv_writer_t *w)
{
    if (!w)
        return;
    hv_write_item_t *flight = w->flight, *queued = w->queue_head;
    w->flight = w->queue_head = w->queue_tail = NULL;
    fail_list(flight, HV_OUT_UNAVAILABLE);
    fail_list(queued, HV_OUT_UNAVAILABLE);
    event_free(w->sock_ev);
    event_free(w->retry_ev);
    event_free(w->timeout_ev);
    if (w->conn)
        PQfinish(w->conn);
    for (int i = 0; i < HV_WRITER_NPARAMS; i++)
        hv_pgarray_free(&w->params[i]);
    free(w->conninfo);
    free(w->name);
    free(w);
}

void hv_writer_submit(hv_writer_t *w, hv_write_item_t *it)
{
    if (w->state == W_DOWN || w->state == W_CONNECTING || w->state == W_PREPARING) {
        it->next = NULL;
        it->cb(it, HV_OUT_UNAVAILABLE);
        return;
    }
    it->next = NULL;
    if (w->queue_tail)
        w->queue_tail->next = it;
    else
        w->queue_head = it;
    w->queue_tail = it;
    w->queue_len++;
    writer_kick(w);
}

bool hv_writer_available(const hv_writer_t *w)
{
    return w->state == W_IDLE || w->state == W_BUSY;
}

bool hv_writer_available_relaxed(const hv_writer_t *w)
{
    writer_state_t st = __atomic_load_n(&w->state, __ATOMIC_RELAXED);
    return st == W_IDLE || st == W_BUSY;
}

bool hv_writer_idle(const hv_writer_t *w)
{
    return !w->flight && !w->queue_head;
}

void hv_writer_get_stats(const hv_writer_t *w, hv_writer_stats_t *out)
{
    /* May be called from another thread (metrics): relaxed atomic reads of each counter. */
    out->batches = __atomic_load_n(&w->stats.batches, __ATOMIC_RELAXED);
    out->events = __atomic_load_n(&w->stats.events, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&w->stats.retries, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&w->stats.failures, __ATOMIC_RELAXED);
    out->commit_us_total = __atomic_load_n(&w->stats.commit_us_total, __ATOMIC_RELAXED);
}

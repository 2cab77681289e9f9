/*
 * snapshot.c - builds the read snapshot (ward table, progress and ranked wards documents) and
 * refreshes it from PostgreSQL on a background thread. That thread may block on libpq: it is
 * not an event loop, and the loops only ever take a reference to the published snapshot.
 */
#include "hocvu/snapshot.h"

#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/event.h"
#include "hocvu/log.h"
#include "hocvu/timeutil.h"

struct hv_snapstore {
    const hv_config_t *cfg; /* borrowed */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    hv_snapshot_t *current; /* one reference held by the store */
    bool db_ok;
    int64_t confirmed_at_ms;
    PGconn *conn; /* refresher thread only */
    bool logged_down;
};

typedef struct ward_row {
    const hv_ward_t *w;
    int64_t adults, total;
    int64_t target; /* -1 = none */
    bool estimated;
    double percent; /* < 0 = none */
    int rank;
} ward_row_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints a percentage rounded to two decimals without trailing zeros ("12.5", "0"). */
static void put_percent(hv_buf_t *b, double p)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), "%.2f", round(p * 100.0) / 100.0);
    while (n > 0 && tmp[n - 1] == '0')
        tmp[--n] = '\0';
    if (n > 0 && tmp[n - 1] == '.')
        tmp[--n] = '\0';
    hv_buf_puts(b, tmp);
}

static void doc_set(hv_doc_t *d, hv_buf_t *b)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: a change detector, not a security measure */
    for (size_t i = 0; i < b->len; i++)
        h = (h ^ (uint8_t)b->data[i]) * 1099511628211ULL;
    d->body = b->data;
    d->len = b->len;
    snprintf(d->etag, sizeof(d->etag), "\"%016llx\"", (unsigned long long)h);
    hv_buf_init(b);
}

/* Ranking order: percent of target (wards without a target last), then certified adults, then
 * code for a stable listing. */
static int ward_row_cmp(const void *a, const void *b)
{
    const ward_row_t *x = a, *y = b;
    if ((x->percent < 0) != (y->percent < 0))
        return x->percent < 0 ? 1 : -1;
    if (x->percent != y->percent)
        return x->percent > y->percent ? -1 : 1;
    if (x->adults != y->adults)
        return x->adults > y->adults ? -1 : 1;
    return strcmp(x->w->code, y->w->code);
}

static void put_as_of(hv_buf_t *b, int64_t as_of)
{
    char ts[32];
    hv_time_format_utc(as_of, ts);
    hv_buf_printf(b, "\"as_of\":\"%s\"", ts);
}

hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *counts,
                                 size_t n_counts, int64_t city_target, int64_t as_of)
{
    hv_snapshot_t *s = hv_xcalloc(1, sizeof(*s));
    ward_row_t *rows = hv_xcalloc(wards->n_wards ? wards->n_wards : 1, sizeof(*rows));
    int64_t by_group[5] = {0}, pop_sum = 0;
    int wards_at_target = 0;
    hv_buf_t b;

    s->refs = 1;
    s->wards = wards;
    s->as_of = as_of;
    for (size_t i = 0; i < wards->n_wards; i++) {
        rows[i].w = &wards->wards[i];
        if (wards->wards[i].population > 0)
            pop_sum += wards->wards[i].population;
    }
    for (size_t i = 0; i < n_counts; i++) {
        const hv_count_row_t *c = &counts[i];
        const hv_ward_t *w = hv_wardtab_find(wards, c->ward);
        s->certified_adults += c->adults;
        s->certified_total += c->total;
        if (c->grp >= 1 && c->grp <= 4)
            by_group[c->grp] += c->adults;
        if (w) {
            ward_row_t *r = &rows[w - wards->wards];
            r->adults += c->adults;
            r->total += c->total;
        }
    }
    for (size_t i = 0; i < wards->n_wards; i++) {
        ward_row_t *r = &rows[i];
        r->target = -1;
        r->percent = -1;
        if (r->w->target >= 0) {
            r->target = r->w->target;
        } else if (r->w->population > 0 && pop_sum > 0) {
            r->target = llround((double)city_target * (double)r->w->population / (double)pop_sum);
            r->estimated = true;
        }
        if (r->target > 0) {
            r->percent = 100.0 * (double)r->adults / (double)r->target;
            if (r->adults >= r->target)
                wards_at_target++;
        }
    }
    qsort(rows, wards->n_wards, sizeof(*rows), ward_row_cmp);
    for (size_t i = 0; i < wards->n_wards; i++) {
        bool tie = i > 0 && rows[i].percent == rows[i - 1].percent &&
                   rows[i].adults == rows[i - 1].adults;
        rows[i].rank = tie ? rows[i - 1].rank : (int)i + 1;
    }

    hv_buf_init(&b);
    hv_buf_printf(&b, "{\"target\":%lld,\"certified_adults\":%lld,\"certified_total\":%lld,"
                      "\"percent\":",
                  (long long)city_target, (long long)s->certified_adults,
                  (long long)s->certified_total);
    put_percent(&b, 100.0 * (double)s->certified_adults / (double)city_target);
    hv_buf_printf(&b,
                  ",\"remaining\":%lld,\"by_group\":{\"citizen\":%lld,\"official\":%lld,"
                  "\"student\":%lld,\"worker\":%lld},\"wards\":%zu,\"wards_at_target\":%d,",
                  (long long)(s->certified_adults >= city_target
                                  ? 0
                                  : city_target - s->certified_adults),
                  (long long)by_group[1], (long long)by_group[2], (long long)by_group[3],
                  (long long)by_group[4], wards->n_wards, wards_at_target);
    put_as_of(&b, as_of);
    hv_buf_putc(&b, '}');
    doc_set(&s->progress, &b);

    hv_buf_puts(&b, "{\"wards\":[");
    for (size_t i = 0; i < wards->n_wards; i++) {
        const ward_row_t *r = &rows[i];
        if (i)
            hv_buf_putc(&b, ',');
        hv_buf_printf(&b, "{\"code\":\"%s\",\"name\":", r->w->code);
        hv_buf_json_str(&b, r->w->name, strlen(r->w->name));
        hv_buf_puts(&b, ",\"type\":");
        hv_buf_json_str(&b, r->w->type, strlen(r->w->type));
        hv_buf_printf(&b, ",\"certified_adults\":%lld,\"certified_total\":%lld,\"target\":",
                      (long long)r->adults, (long long)r->total);
        if (r->target >= 0)
            hv_buf_printf(&b, "%lld", (long long)r->target);
        else
            hv_buf_puts(&b, "null");
        hv_buf_printf(&b, ",\"target_estimated\":%s,\"percent\":",
                      r->estimated ? "true" : "false");
        if (r->percent >= 0)
            put_percent(&b, r->percent);
        else
            hv_buf_puts(&b, "null");
        hv_buf_printf(&b, ",\"rank\":%d}", r->rank);
    }
    hv_buf_puts(&b, "],");
    put_as_of(&b, as_of);
    hv_buf_putc(&b, '}');
    doc_set(&s->wards_doc, &b);
    free(rows);
    return s;
}

static void snapshot_free(hv_snapshot_t *s)
{
    hv_wardtab_free(s->wards);
    free(s->progress.body);
    free(s->wards_doc.body);
    free(s);
}

void hv_snapshot_release(hv_snapshot_t *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(s);
}

hv_snapshot_t *hv_snapshot_acquire(hv_snapstore_t *st)
{
    hv_snapshot_t *s;
    pthread_mutex_lock(&st->lock);
    s = st->current;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&st->lock);
    return s;
}

bool hv_snapstore_db_ok(hv_snapstore_t *st)
{
    bool ok;
    pthread_mutex_lock(&st->lock);
    ok = st->db_ok;
    pthread_mutex_unlock(&st->lock);
    return ok;
}

double hv_snapstore_age(hv_snapstore_t *st)
{
    double age = -1;
    pthread_mutex_lock(&st->lock);
    if (st->current)
        age = (double)(now_ms() - st->confirmed_at_ms) / 1000.0;
    pthread_mutex_unlock(&st->lock);
    return age;
}

/* Runs a query on the refresher's connection; returns the result or NULL (logged). */
static PGresult *query(hv_snapstore_t *st, const char *sql)
{
    PGresult *res = PQexec(st->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorMessage(res);
        if (!st->logged_down)
            hv_log(HV_LOG_ERROR, "snapshot query failed", "error=\"%.*s\"",
                   (int)strcspn(m, "\n"), m);
        st->logged_down = true;
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t int_or(const PGresult *res, int r, int c, int64_t dflt)
{
    return PQgetisnull(res, r, c) ? dflt : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* Loads the ward table. Returns NULL on failure. */
static hv_wardtab_t *load_wards(hv_snapstore_t *st)
{
    PGresult *res = query(st, "SELECT code, name, type, population, coalesce(population_flag, ''),"
                              " target FROM wards ORDER BY code");
    hv_wardtab_t *t;

    if (!res)
        return NULL;
    t = hv_wardtab_new();
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t pop = int_or(res, r, 3, -1);
        if (PQgetvalue(res, r, 4)[0])
            pop = -1; /* flagged as implausible: no estimate from it */
        if (hv_wardtab_add(t, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                           pop, int_or(res, r, 5, -1)) < 0)
            hv_log(HV_LOG_WARN, "ward skipped", "code=%s", PQgetvalue(res, r, 0));
    }
    PQclear(res);

    res = query(st, "SELECT old_code, array_to_string(new_codes, ','), split FROM legacy_wards");
    if (!res) {
        hv_wardtab_free(t);
        return NULL;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        char codes[HV_WARD_MAX_CANDIDATES][HV_WARD_CODE_LEN + 1];
        const char *ptrs[HV_WARD_MAX_CANDIDATES];
        int n = 0;
        const char *p = PQgetvalue(res, r, 1);
        while (*p && n < HV_WARD_MAX_CANDIDATES) {
            size_t len = strcspn(p, ",");
            snprintf(codes[n], sizeof(codes[n]), "%.*s", (int)len, p);
            ptrs[n] = codes[n];
            n++;
            p += len;
            if (*p == ',')
                p++;
        }
        if (hv_wardtab_add_legacy(t, PQgetvalue(res, r, 0), ptrs, n,
                                  PQgetvalue(res, r, 2)[0] == 't') < 0)
            hv_log(HV_LOG_WARN, "legacy ward skipped", "code=%s", PQgetvalue(res, r, 0));
    }
    PQclear(res);
    hv_wardtab_finish(t);
    return t;
}

/* One refresh: returns 0 when PostgreSQL answered (whether or not anything changed). */
static int refresh(hv_snapstore_t *st)
{
    hv_wardtab_t *wards;
    PGresult *res;
    hv_count_row_t *counts;
    hv_snapshot_t *prev, *next;
    int n;

    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
        const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
        const char *vals[] = {st->cfg->read_database_url, "3", "hocvud-snapshot", NULL};
        if (st->conn)
            PQfinish(st->conn);
        st->conn = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(st->conn) != CONNECTION_OK) {
            const char *m = PQerrorMessage(st->conn);
            if (!st->logged_down)
                hv_log(HV_LOG_ERROR, "snapshot database unavailable", "error=\"%.*s\"",
                       (int)strcspn(m, "\n"), m);
            st->logged_down = true;
            PQfinish(st->conn);
            st->conn = NULL;
            return -1;
        }
        res = query(st, "SET statement_timeout = '5s'");
        if (res)
            PQclear(res);
    }
    wards = load_wards(st);
    if (!wards)
        return -1;
    res = query(st, "SELECT ward, grp, sum(adults)::bigint, sum(total)::bigint FROM counters "
                    "GROUP BY ward, grp");
    if (!res) {
        hv_wardtab_free(wards);
        return -1;
    }
    n = PQntuples(res);
    counts = hv_xcalloc(n ? (size_t)n : 1, sizeof(*counts));
    for (int r = 0; r < n; r++) {
        snprintf(counts[r].ward, sizeof(counts[r].ward), "%s", PQgetvalue(res, r, 0));
        counts[r].grp = atoi(PQgetvalue(res, r, 1));
        counts[r].adults = int_or(res, r, 2, 0);
        counts[r].total = int_or(res, r, 3, 0);
    }
    PQclear(res);

    if (st->logged_down)
        hv_log(HV_LOG_INFO, "snapshot database available", NULL);
    st->logged_down = false;

    prev = hv_snapshot_acquire(st);
    next = hv_snapshot_build(wards, counts, (size_t)n, st->cfg->target,
                             prev ? prev->as_of : (int64_t)time(NULL));
    if (prev && strcmp(prev->wards_doc.body, next->wards_doc.body) == 0 &&
        strcmp(prev->progress.body, next->progress.body) == 0) {
        /* Nothing changed: keep the old snapshot (and its ETags). Rebuilding the ward table
         * each time keeps imports visible without a restart. */
        snapshot_free(next);
        next = NULL;
    } else if (prev) {
        wards = hv_wardtab_new(); /* placeholder, replaced below */
        hv_wardtab_free(wards);
        /* Rebuild with the new as_of; the ward table moves to the new snapshot. */
        hv_wardtab_t *t = next->wards;
        next->wards = NULL;
        free(next->progress.body);
        free(next->wards_doc.body);
        free(next);
        next = hv_snapshot_build(t, counts, (size_t)n, st->cfg->target, (int64_t)time(NULL));
    }
    free(counts);
    hv_snapshot_release(prev);

    pthread_mutex_lock(&st->lock);
    if (next) {
        hv_snapshot_t *old = st->current;
        st->current = next;
        pthread_mutex_unlock(&st->lock);
        hv_snapshot_release(old);
        pthread_mutex_lock(&st->lock);
    }
    st->confirmed_at_ms = now_ms();
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static void *refresher_main(void *arg)
{
    hv_snapstore_t *st = arg;

    for (;;) {
        int rc = refresh(st);
        pthread_mutex_lock(&st->lock);
        st->db_ok = rc == 0;
        if (!st->stop) {
            struct timespec until;
            int64_t wake;
            clock_gettime(CLOCK_REALTIME, &until);
            wake = (int64_t)until.tv_nsec + (int64_t)st->cfg->snapshot_interval_ms * 1000000;
            until.tv_sec += wake / 1000000000;
            until.tv_nsec = wake % 1000000000;
            pthread_cond_timedwait(&st->cond, &st->lock, &until);
        }
        bool stop = st->stop;
        pthread_mutex_unlock(&st->lock);
        if (stop)
            break;
    }
    if (st->conn)
        PQfinish(st->conn);
    st->conn = NULL;
    return NULL;
}

hv_snapstore_t *hv_snapstore_new(const hv_config_t *cfg)
{
    hv_snapstore_t *st = hv_xcalloc(1, sizeof(*st));
    st->cfg = cfg;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    return st;
}

int hv_snapstore_start(hv_snapstore_t *st)
{
    if (pthread_create(&st->thread, NULL, refresher_main, st) != 0)
        return -1;
    st->started = true;
    return 0;
}

void hv_snapstore_free(hv_snapstore_t *st)
{
    if (!st)
        return;
    if (st->started) {
        pthread_mutex_lock(&st->lock);
        st->stop = true;
        pthread_cond_signal(&st->cond);
        pthread_mutex_unlock(&st->lock);
        pthread_join(st->thread, NULL);
    }
    hv_snapshot_release(st->current);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->cond);
    free(st);
}

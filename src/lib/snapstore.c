/*
 * snapstore.c - the current snapshot and the thread that refreshes it from PostgreSQL. That
 * thread may block on libpq: it is not an event loop, and the loops only ever take a
 * reference to the published snapshot. Between refreshes it gives the janitor its turn.
 */
#include "hocvu/snapstore.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/cohorts.h"
#include "hocvu/event.h"
#include "hocvu/frozen.h"
#include "hocvu/janitor.h"
#include "hocvu/log.h"
#include "hocvu/readmodel.h"
#include "hocvu/timeutil.h"

#define HV_SNAPSHOT_FULL_EVERY_MS 30000 /* re-read counters at least this often regardless */

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
    /* What the current snapshot was built from, to skip re-reading unchanged counters. */
    int64_t built_version;
    uint64_t built_wards_hash;
    int64_t built_at_ms;
    hv_janitor_t janitor;    /* refresher thread only */
    hv_frozenset_t *frozen;  /* one reference held by the store; under lock */
    char frozen_mark[64];    /* refresher only: what the loaded set was loaded at */
    hv_cohortset_t *cohorts; /* one reference held by the store; under lock */
    uint64_t cohort_mark;    /* refresher only: what the loaded set was built from */
    int64_t cohorts_at_ms;   /* refresher only: when it was built */
    double build_s[2];       /* under lock: how long the last counter / cohort rebuild took */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

hv_snapshot_t *hv_snapshot_acquire(hv_snapstore_t *st)
{
    hv_snapshot_t *s;
    pthread_mutex_lock(&st->lock);
    s = st->current;
    if (s)
        hv_snapshot_retain(s);
    pthread_mutex_unlock(&st->lock);
    return s;
}

hv_frozenset_t *hv_frozen_acquire(hv_snapstore_t *st)
{
    hv_frozenset_t *f;
    pthread_mutex_lock(&st->lock);
    f = st->frozen;
    if (f)
        hv_frozenset_retain(f);
    pthread_mutex_unlock(&st->lock);
    return f;
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

void hv_snapstore_build_times(hv_snapstore_t *st, double *counters_s, double *cohorts_s)
{
    pthread_mutex_lock(&st->lock);
    *counters_s = st->build_s[0];
    *cohorts_s = st->build_s[1];
    pthread_mutex_unlock(&st->lock);
}

/* Logs a refresh failure once per outage. */
static void log_down(hv_snapstore_t *st, const char *msg, const char *error)
{
    if (!st->logged_down)
        hv_log(HV_LOG_ERROR, msg, "error=%.*s", (int)strcspn(error, "\n"), error);
    st->logged_down = true;
}

/* Runs a query on the refresher's connection; returns the result or NULL (logged). */
static PGresult *query(hv_snapstore_t *st, const char *sql)
{
    PGresult *res = PQexec(st->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_down(st, "snapshot query failed", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t int_or(const PGresult *res, int r, int c, int64_t dflt)
{
    return PQgetisnull(res, r, c) ? dflt : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* Connects the refresher when it has no working connection. Returns 0 or -1 (logged). */
static int ensure_connected(hv_snapstore_t *st)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {st->cfg->read_database_url, "3", "hocvud-snapshot", NULL};
    PGresult *res;

    if (st->conn && PQstatus(st->conn) == CONNECTION_OK)
        return 0;
    if (st->conn)
        PQfinish(st->conn);
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(st->conn) != CONNECTION_OK) {
        log_down(st, "snapshot database unavailable", PQerrorMessage(st->conn));
        PQfinish(st->conn);
        st->conn = NULL;
        return -1;
    }
    res = query(st, "SET statement_timeout = '5s'; SET work_mem = '64MB'");
    if (res)
        PQclear(res);
    st->built_version = -1;
    return 0;
}

/* Publishes `next` (may be NULL: the current snapshot stays) and marks it confirmed now. */
static void publish(hv_snapstore_t *st, hv_snapshot_t *next)
{
    hv_snapshot_t *old = NULL;

    pthread_mutex_lock(&st->lock);
    if (next) {
        old = st->current;
        st->current = next;
    }
    st->confirmed_at_ms = now_ms();
    pthread_mutex_unlock(&st->lock);
    hv_snapshot_release(old);
}

/* Reloads the frozen reports when one was added (they never change once stored). */
static void refresh_frozen(hv_snapstore_t *st)
{
    char err[256];
    PGresult *res = PQexec(st->conn, "SELECT count(*)::text || '/' || "
                                     "coalesce(max(created_at)::text, '') FROM reports");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_down(st, "frozen reports query failed", PQresultErrorMessage(res));
        PQclear(res);
        return;
    }
    const char *mark = PQgetvalue(res, 0, 0);
    if (st->frozen_mark[0] && strcmp(mark, st->frozen_mark) == 0) {
        PQclear(res);
        return;
    }
    hv_frozenset_t *next = hv_frozenset_load(st->conn, err, sizeof(err));
    if (!next) {
        log_down(st, "frozen reports query failed", err);
        PQclear(res);
        return;
    }
    snprintf(st->frozen_mark, sizeof(st->frozen_mark), "%s", mark);
    PQclear(res);
    pthread_mutex_lock(&st->lock);
    hv_frozenset_t *old = st->frozen;
    st->frozen = next;
    pthread_mutex_unlock(&st->lock);
    hv_frozenset_release(old);
}

hv_cohortset_t *hv_cohorts_acquire(hv_snapstore_t *st)
{
    hv_cohortset_t *c;

    pthread_mutex_lock(&st->lock);
    c = st->cohorts;
    if (c)
        hv_cohortset_retain(c);
    pthread_mutex_unlock(&st->lock);
    return c;
}

/* When the figures with this hash first appeared, from the read_state row `which` (1 the
 * snapshot, 2 the cohort figures) shared by every instance (sql/008): the stored time when the
 * stored hash is this one, else now, written there for the others and the next start. On a
 * read-only connection (a replica) the row is only read. Falls back to now when the table cannot be
 * read (logged). */
static int64_t shared_as_of(hv_snapstore_t *st, int which, uint64_t hash, int64_t now)
{
    char h[24], t[24], w[4];
    const char *params[3] = {h, t, w};
    int64_t as_of = now;
    PGresult *res;

    snprintf(h, sizeof(h), "%lld", (long long)hash); /* bigint: the same 64 bits, signed */
    snprintf(t, sizeof(t), "%lld", (long long)now);
    snprintf(w, sizeof(w), "%d", which);
    res = PQexecParams(st->conn,
                       "WITH up AS (INSERT INTO read_state AS s (id, data_hash, as_of) "
                       "VALUES ($3, $1, $2) ON CONFLICT (id) DO UPDATE SET data_hash = "
                       "EXCLUDED.data_hash, as_of = EXCLUDED.as_of WHERE s.data_hash <> "
                       "EXCLUDED.data_hash RETURNING as_of) "
                       "SELECT as_of FROM up UNION ALL SELECT as_of FROM read_state "
                       "WHERE id = $3 AND NOT EXISTS (SELECT 1 FROM up)",
                       3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool read_only = state && strcmp(state, "25006") == 0;

        PQclear(res);
        if (!read_only) {
            log_down(st, "read_state query failed", PQerrorMessage(st->conn));
            return now;
        }
        const char *ro_params[2] = {h, w};

        res =
            PQexecParams(st->conn, "SELECT as_of FROM read_state WHERE data_hash = $1 AND id = $2",
                         2, NULL, ro_params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            log_down(st, "read_state query failed", PQerrorMessage(st->conn));
            PQclear(res);
            return now;
        }
    }
    if (PQntuples(res) == 1)
        as_of = int_or(res, 0, 0, now);
    PQclear(res);
    return as_of;
}

/* Rebuilds the cohort set when what it is built from moved: the cohort versions (imports,
 * member lists, writers' cohort figures), the targets (thash) or the year. Like the counters, a
 * full rebuild at least every HV_SNAPSHOT_FULL_EVERY_MS. */
static void refresh_cohorts(hv_snapstore_t *st, uint64_t thash, int year, int64_t now)
{
    char err[256];
    PGresult *res = query(st, "SELECT coalesce(sum(version), 0)::bigint FROM cohort_versions");

    if (!res)
        return;
    uint64_t mark = (uint64_t)int_or(res, 0, 0, 0) * 0x9E3779B97F4A7C15ull + thash + (uint64_t)year;
    PQclear(res);
    if (st->cohorts && mark == st->cohort_mark &&
        now_ms() - st->cohorts_at_ms < HV_SNAPSHOT_FULL_EVERY_MS)
        return;
    int64_t t0 = hv_mono_us();
    hv_cohortset_t *next = hv_readmodel_cohorts(st->conn, year, now, err, sizeof(err));
    if (!next) {
        log_down(st, "cohorts query failed", err);
        return;
    }
    pthread_mutex_lock(&st->lock);
    hv_cohortset_t *old = st->cohorts;
    /* Unchanged figures keep their as_of, across restarts and instances too. */
    if (old && mark == st->cohort_mark)
        next->as_of = old->as_of;
    else
        next->as_of = shared_as_of(st, 2, mark, now);
    st->cohorts = next;
    st->build_s[1] = (double)(hv_mono_us() - t0) / 1e6;
    pthread_mutex_unlock(&st->lock);
    hv_cohortset_release(old);
    st->cohort_mark = mark;
    st->cohorts_at_ms = now_ms();
}

/* One refresh: returns 0 when PostgreSQL answered (whether or not anything changed). One scan of
 * the counters, per (ward, group, day), yields every year's view and the daily series. */
static int refresh(hv_snapstore_t *st)
{
    hv_wardtab_t *wards;
    PGresult *res;
    hv_count_row_t *rows;
    hv_target_t *targets;
    size_t n_targets, n;
    hv_snapshot_t *prev, *next = NULL;
    char err[256];
    uint64_t hash;

    if (ensure_connected(st) < 0)
        return -1;
    /* Read the version before the counters: a commit in between is seen on the next cycle. */
    res = query(st, "SELECT coalesce(sum(version), 0)::bigint FROM counter_versions");
    if (!res)
        return -1;
    int64_t version = int_or(res, 0, 0, 0);
    PQclear(res);
    refresh_frozen(st);
    wards = hv_wardtab_load(st->conn, err, sizeof(err));
    if (!wards) {
        log_down(st, "snapshot query failed", err);
        return -1;
    }
    /* The targets (a few hundred rows at most) are read whole every cycle; they go into the
     * hash, so an import shows within one cycle. */
    uint64_t whash = hv_wardtab_hash(wards), thash = 0;
    if (hv_readmodel_targets(st->conn, &targets, &n_targets, err, sizeof(err)) < 0) {
        log_down(st, "snapshot query failed", err);
        hv_wardtab_free(wards);
        return -1;
    }
    for (size_t i = 0; i < n_targets; i++)
        thash += hv_mix64(
            hv_fnv1a(HV_FNV_OFFSET ^ 0x7461726765747321ull, &targets[i], sizeof(targets[i])));
    refresh_cohorts(st, thash, hv_time_vn_date((int64_t)time(NULL)).year, (int64_t)time(NULL));
    whash += thash;
    if (version == st->built_version && whash == st->built_wards_hash &&
        now_ms() - st->built_at_ms < HV_SNAPSHOT_FULL_EVERY_MS) {
        /* Nothing moved: confirm the current snapshot without scanning the counters. */
        free(targets);
        hv_wardtab_free(wards);
        publish(st, NULL);
        return 0;
    }
    int64_t t0 = hv_mono_us();
    if (hv_readmodel_rows(st->conn, &rows, &n, err, sizeof(err)) < 0) {
        log_down(st, "snapshot query failed", err);
        free(targets);
        hv_wardtab_free(wards);
        return -1;
    }
    /* Order-independent hash of the rows: a sum of per-row hashes, each mixed so that changes
     * on two rows cannot cancel out. */
    hash = whash;
    for (size_t r = 0; r < n; r++)
        hash += hv_mix64(hv_fnv1a(HV_FNV_OFFSET, &rows[r], sizeof(rows[r])));

    if (st->logged_down)
        hv_log(HV_LOG_INFO, "snapshot database available", NULL);
    st->logged_down = false;

    int64_t now = (int64_t)time(NULL);
    int year = hv_time_vn_date(now).year;
    hash += (uint64_t)year * 0x9E3779B97F4A7C15ull; /* a new year is a new set of documents */
    prev = hv_snapshot_acquire(st);
    if (prev && prev->data_hash == hash) {
        /* Nothing changed: keep the old snapshot, its as_of and its ETags. */
        hv_wardtab_free(wards);
    } else {
        next = hv_snapshot_build(wards, rows, n, targets, n_targets, st->cfg->target, year,
                                 shared_as_of(st, 1, hash, now), hash);
    }
    free(rows);
    free(targets);
    hv_snapshot_release(prev);
    pthread_mutex_lock(&st->lock);
    st->build_s[0] = (double)(hv_mono_us() - t0) / 1e6;
    pthread_mutex_unlock(&st->lock);
    publish(st, next);
    st->built_version = version;
    st->built_wards_hash = whash;
    st->built_at_ms = now_ms();
    return 0;
}

static void *refresher_main(void *arg)
{
    hv_snapstore_t *st = arg;

    for (;;) {
        int rc = refresh(st);
        if (rc == 0)
            hv_janitor_run(&st->janitor, now_ms());
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
    hv_janitor_init(&st->janitor, cfg->database_url);
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
    hv_frozenset_release(st->frozen);
    hv_cohortset_release(st->cohorts);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->cond);
    free(st);
}

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
    /* What the current snapshot was built from, to skip re-reading unchanged counters. */
    int64_t built_version;
    uint64_t built_wards_hash;
    int64_t built_at_ms;
    int64_t compacted_at_ms;
};

#define HV_SNAPSHOT_FULL_EVERY_MS 30000 /* re-read counters at least this often regardless */
#define HV_COMPACT_EVERY_MS 600000      /* fold old counter shards every 10 minutes */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

#define FNV_OFFSET 1469598103934665603ULL

/* A bijective finalizer (from MurmurHash3). The rows' hashes are summed so that their order does
 * not matter; without this, FNV's near-linearity makes a +1 in two rows cancel out in the sum
 * (seen: a new certificate counted on both the (ward, group) and the (ward, day) row). */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void hv_etag_of(const char *body, size_t len, char out[24])
{
    /* FNV-1a: a change detector for caches, not a security measure. */
    snprintf(out, 24, "\"%016llx\"", (unsigned long long)fnv1a(FNV_OFFSET, body, len));
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
    d->body = b->data ? b->data : hv_xstrdup("");
    d->len = b->len;
    hv_etag_of(d->body, d->len, d->etag);
    hv_buf_init(b);
}

/* Ranking order: percent of target (wards without a target last), then certified adults, then
 * code for a stable listing. Sorts indices into the stats array passed as context. */
static int rank_cmp(const void *a, const void *b, void *ctx)
{
    const hv_ward_stats_t *stats = ctx;
    const hv_ward_stats_t *x = &stats[*(const size_t *)a], *y = &stats[*(const size_t *)b];
    if ((x->percent < 0) != (y->percent < 0))
        return x->percent < 0 ? 1 : -1;
    if (x->percent != y->percent)
        return x->percent > y->percent ? -1 : 1;
    if (x->adults != y->adults)
        return x->adults > y->adults ? -1 : 1;
    return strcmp(x->ward->code, y->ward->code);
}

static void put_as_of(hv_buf_t *b, int64_t as_of)
{
    char ts[32];
    hv_time_format_utc(as_of, ts);
    hv_buf_printf(b, "\"as_of\":\"%s\"", ts);
}

static int day_point_cmp(const void *a, const void *b)
{
    int32_t x = ((const hv_day_point_t *)a)->day, y = ((const hv_day_point_t *)b)->day;
    return x < y ? -1 : x > y;
}

/* Appends (day, adults) to a growable series. */
static void series_add(hv_day_point_t **s, size_t *n, size_t *cap, int32_t day, int64_t adults)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *s = hv_xrealloc(*s, sizeof(**s) * *cap);
    }
    (*s)[(*n)++] = (hv_day_point_t){day, adults};
}

/* Sorts a series and merges points of the same day. */
static void series_finish(hv_day_point_t *s, size_t *n)
{
    size_t k = 0;
    if (*n > 1)
        qsort(s, *n, sizeof(*s), day_point_cmp);
    for (size_t i = 0; i < *n; i++) {
        if (k && s[k - 1].day == s[i].day)
            s[k - 1].adults += s[i].adults;
        else
            s[k++] = s[i];
    }
    *n = k;
}

/* The fields shared by /v1/wards entries and /v1/wards/{code}, without the closing brace. */
static void put_ward_fields(hv_buf_t *b, const hv_ward_stats_t *r)
{
    hv_buf_printf(b, "{\"code\":\"%s\",\"name\":", r->ward->code);
    hv_buf_json_str(b, r->ward->name, strlen(r->ward->name));
    hv_buf_puts(b, ",\"type\":");
    hv_buf_json_str(b, r->ward->type, strlen(r->ward->type));
    hv_buf_printf(b, ",\"certified_adults\":%lld,\"certified_total\":%lld,\"target\":",
                  (long long)r->adults, (long long)r->total);
    if (r->target >= 0)
        hv_buf_printf(b, "%lld", (long long)r->target);
    else
        hv_buf_puts(b, "null");
    hv_buf_printf(b,
                  ",\"target_estimated\":%s,\"percent\":", r->target_estimated ? "true" : "false");
    if (r->percent >= 0)
        put_percent(b, r->percent);
    else
        hv_buf_puts(b, "null");
    hv_buf_printf(b, ",\"rank\":%d", r->rank);
}

static void put_by_group(hv_buf_t *b, const int64_t g[5])
{
    hv_buf_printf(b,
                  "\"by_group\":{\"citizen\":%lld,\"official\":%lld,\"student\":%lld,"
                  "\"worker\":%lld}",
                  (long long)g[1], (long long)g[2], (long long)g[3], (long long)g[4]);
}

hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *rows, size_t n_rows,
                                 int64_t city_target, int64_t as_of, uint64_t data_hash)
{
    hv_snapshot_t *s = hv_xcalloc(1, sizeof(*s));
    size_t n = wards->n_wards, *caps = hv_xcalloc(n ? n : 1, sizeof(size_t)), city_cap = 0;
    int64_t pop_sum = 0;
    int wards_at_target = 0;
    hv_buf_t b;

    s->refs = 1;
    s->wards = wards;
    s->as_of = as_of;
    s->data_hash = data_hash;
    s->target = city_target;
    s->stats = hv_xcalloc(n ? n : 1, sizeof(*s->stats));
    s->ranked = hv_xcalloc(n ? n : 1, sizeof(*s->ranked));
    for (size_t i = 0; i < n; i++) {
        s->stats[i].ward = &wards->wards[i];
        s->ranked[i] = i;
        if (wards->wards[i].population > 0)
            pop_sum += wards->wards[i].population;
    }
    for (size_t i = 0; i < n_rows; i++) {
        const hv_count_row_t *c = &rows[i];
        const hv_ward_t *w = hv_wardtab_find(wards, c->ward);
        hv_ward_stats_t *r = w ? &s->stats[w - wards->wards] : NULL;

        if (c->day == HV_NO_DAY) {
            /* Per (ward, group): the totals. Counters of a ward no longer in the table still
             * count for the city. */
            s->certified_adults += c->adults;
            s->certified_total += c->total;
            if (c->grp >= 1 && c->grp <= 4)
                s->group_adults[c->grp] += c->adults;
            if (r) {
                r->adults += c->adults;
                r->total += c->total;
                if (c->grp >= 1 && c->grp <= 4)
                    r->group_adults[c->grp] += c->adults;
            }
        } else if (c->adults != 0) {
            series_add(&s->city_series, &s->n_city_series, &city_cap, c->day, c->adults);
            if (r)
                series_add(&r->series, &r->n_series, &caps[w - wards->wards], c->day, c->adults);
        }
    }
    free(caps);
    series_finish(s->city_series, &s->n_city_series);
    for (size_t i = 0; i < n; i++) {
        hv_ward_stats_t *r = &s->stats[i];
        series_finish(r->series, &r->n_series);
        r->target = -1;
        r->percent = -1;
        if (r->ward->target >= 0) {
            r->target = r->ward->target;
        } else if (r->ward->population > 0 && pop_sum > 0) {
            r->target =
                llround((double)city_target * (double)r->ward->population / (double)pop_sum);
            r->target_estimated = true;
        }
        if (r->target > 0) {
            r->percent = 100.0 * (double)r->adults / (double)r->target;
            if (r->adults >= r->target)
                wards_at_target++;
        }
    }
    qsort_r(s->ranked, n, sizeof(*s->ranked), rank_cmp, s->stats);
    for (size_t i = 0; i < n; i++) {
        hv_ward_stats_t *r = &s->stats[s->ranked[i]];
        const hv_ward_stats_t *prev = i ? &s->stats[s->ranked[i - 1]] : NULL;
        /* Equal percent and equal adults share a rank (1, 2, 2, 4). */
        r->rank = prev && prev->percent == r->percent && prev->adults == r->adults ? prev->rank
                                                                                   : (int)i + 1;
    }

    hv_buf_init(&b);
    hv_buf_printf(&b,
                  "{\"target\":%lld,\"certified_adults\":%lld,\"certified_total\":%lld,"
                  "\"percent\":",
                  (long long)city_target, (long long)s->certified_adults,
                  (long long)s->certified_total);
    put_percent(&b, 100.0 * (double)s->certified_adults / (double)city_target);
    hv_buf_printf(
        &b, ",\"remaining\":%lld,",
        (long long)(s->certified_adults >= city_target ? 0 : city_target - s->certified_adults));
    put_by_group(&b, s->group_adults);
    hv_buf_printf(&b, ",\"wards\":%zu,\"wards_at_target\":%d,", n, wards_at_target);
    put_as_of(&b, as_of);
    hv_buf_putc(&b, '}');
    doc_set(&s->progress, &b);

    hv_buf_puts(&b, "{\"wards\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hv_buf_putc(&b, ',');
        put_ward_fields(&b, &s->stats[s->ranked[i]]);
        hv_buf_putc(&b, '}');
    }
    hv_buf_puts(&b, "],");
    put_as_of(&b, as_of);
    hv_buf_putc(&b, '}');
    doc_set(&s->wards_doc, &b);
    return s;
}

static const hv_ward_stats_t *find_stats(const hv_snapshot_t *s, const char *code)
{
    const hv_ward_t *w = hv_wardtab_find(s->wards, code);
    return w ? &s->stats[w - s->wards->wards] : NULL;
}

/* Writes {"date","new","cumulative"} points for every day from..to of a series. */
static void put_points(hv_buf_t *b, const hv_day_point_t *series, size_t n, int32_t from,
                       int32_t to)
{
    int64_t cum = 0;
    size_t i = 0;
    char date[16];

    for (; i < n && series[i].day < from; i++)
        cum += series[i].adults;
    hv_buf_putc(b, '[');
    for (int32_t d = from; d <= to; d++) {
        int64_t add = 0;
        if (i < n && series[i].day == d)
            add = series[i++].adults;
        cum += add;
        hv_date_format(hv_days_to_date(d), date);
        hv_buf_printf(b, "%s{\"date\":\"%s\",\"new\":%lld,\"cumulative\":%lld}",
                      d == from ? "" : ",", date, (long long)add, (long long)cum);
    }
    hv_buf_putc(b, ']');
}

bool hv_snapshot_ward_json(const hv_snapshot_t *s, const char *code, int32_t today, hv_buf_t *out)
{
    const hv_ward_stats_t *r = find_stats(s, code);
    if (!r)
        return false;
    put_ward_fields(out, r);
    hv_buf_putc(out, ',');
    put_by_group(out, r->group_adults);
    hv_buf_puts(out, ",\"last_30_days\":");
    put_points(out, r->series, r->n_series, today - 29, today);
    hv_buf_putc(out, ',');
    put_as_of(out, s->as_of);
    hv_buf_putc(out, '}');
    return true;
}

int32_t hv_snapshot_first_day(const hv_snapshot_t *s, const char *code, int32_t dflt)
{
    const hv_ward_stats_t *r = code ? find_stats(s, code) : NULL;
    if (code && !r)
        return dflt;
    if (r)
        return r->n_series ? r->series[0].day : dflt;
    return s->n_city_series ? s->city_series[0].day : dflt;
}

void hv_snapshot_timeseries_json(const hv_snapshot_t *s, const char *code, int32_t from, int32_t to,
                                 hv_buf_t *out)
{
    const hv_ward_stats_t *r = code ? find_stats(s, code) : NULL;
    char f[16], t[16];

    hv_date_format(hv_days_to_date(from), f);
    hv_date_format(hv_days_to_date(to), t);
    hv_buf_puts(out, "{\"ward\":");
    if (r)
        hv_buf_printf(out, "\"%s\"", r->ward->code);
    else
        hv_buf_puts(out, "null");
    hv_buf_printf(out, ",\"from\":\"%s\",\"to\":\"%s\",\"points\":", f, t);
    if (r)
        put_points(out, r->series, r->n_series, from, to);
    else
        put_points(out, s->city_series, s->n_city_series, from, to);
    hv_buf_putc(out, ',');
    put_as_of(out, s->as_of);
    hv_buf_putc(out, '}');
}

/* A CSV field: quoted when it holds a separator, quote or line break (RFC 4180). */
static void csv_field(hv_buf_t *b, const char *v)
{
    if (strpbrk(v, ",\"\r\n") == NULL) {
        hv_buf_puts(b, v);
        return;
    }
    hv_buf_putc(b, '"');
    for (; *v; v++) {
        if (*v == '"')
            hv_buf_putc(b, '"');
        hv_buf_putc(b, *v);
    }
    hv_buf_putc(b, '"');
}

void hv_snapshot_wards_csv(const hv_snapshot_t *s, hv_buf_t *out)
{
    char ts[32];

    /* The BOM makes spreadsheet programs read the Vietnamese names as UTF-8. */
    hv_buf_puts(out, "\xEF\xBB\xBF");
    hv_buf_puts(out, "rank,code,name,type,certified_adults,certified_total,target,"
                     "target_estimated,percent,as_of\r\n");
    hv_time_format_utc(s->as_of, ts);
    for (size_t i = 0; i < s->wards->n_wards; i++) {
        const hv_ward_stats_t *r = &s->stats[s->ranked[i]];
        hv_buf_printf(out, "%d,%s,", r->rank, r->ward->code);
        csv_field(out, r->ward->name);
        hv_buf_putc(out, ',');
        csv_field(out, r->ward->type);
        hv_buf_printf(out, ",%lld,%lld,", (long long)r->adults, (long long)r->total);
        if (r->target >= 0)
            hv_buf_printf(out, "%lld", (long long)r->target);
        hv_buf_printf(out, ",%s,", r->target_estimated ? "true" : "false");
        if (r->percent >= 0)
            put_percent(out, r->percent);
        hv_buf_printf(out, ",%s\r\n", ts);
    }
}

static void snapshot_free(hv_snapshot_t *s)
{
    for (size_t i = 0; s->wards && i < s->wards->n_wards; i++)
        free(s->stats[i].series);
    free(s->stats);
    free(s->ranked);
    free(s->city_series);
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
            hv_log(HV_LOG_ERROR, "snapshot query failed", "error=\"%.*s\"", (int)strcspn(m, "\n"),
                   m);
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

/* Hash of the ward attributes that documents show, so an import is noticed. */
static uint64_t wards_hash(const hv_wardtab_t *t)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < t->n_wards; i++) {
        const hv_ward_t *w = &t->wards[i];
        h = fnv1a(h, w->code, strlen(w->code) + 1);
        h = fnv1a(h, w->name, strlen(w->name) + 1);
        h = fnv1a(h, w->type, strlen(w->type) + 1);
        h = fnv1a(h, &w->population, sizeof(w->population));
        h = fnv1a(h, &w->target, sizeof(w->target));
    }
    return h;
}

/* One refresh: returns 0 when PostgreSQL answered (whether or not anything changed). One scan of
 * the counters yields both the (ward, group) totals and the (ward, day) series. */
static int refresh(hv_snapstore_t *st)
{
    hv_wardtab_t *wards;
    PGresult *res;
    hv_count_row_t *rows;
    hv_snapshot_t *prev, *next = NULL;
    uint64_t hash;
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
        res = query(st, "SET statement_timeout = '5s'; SET work_mem = '64MB'");
        if (res)
            PQclear(res);
        st->built_version = -1;
    }
    /* Read the version before the counters: a commit in between is seen on the next cycle. */
    res = query(st, "SELECT coalesce(sum(version), 0)::bigint FROM counter_versions");
    if (!res)
        return -1;
    int64_t version = int_or(res, 0, 0, 0);
    PQclear(res);
    wards = load_wards(st);
    if (!wards)
        return -1;
    uint64_t whash = wards_hash(wards);
    if (version == st->built_version && whash == st->built_wards_hash &&
        now_ms() - st->built_at_ms < HV_SNAPSHOT_FULL_EVERY_MS) {
        /* Nothing moved: confirm the current snapshot without scanning the counters. */
        hv_wardtab_free(wards);
        pthread_mutex_lock(&st->lock);
        st->confirmed_at_ms = now_ms();
        pthread_mutex_unlock(&st->lock);
        return 0;
    }
    res = query(st, "SELECT ward, grp, (day - date '1970-01-01'), sum(adults)::bigint, "
                    "sum(total)::bigint FROM counters "
                    "GROUP BY GROUPING SETS ((ward, grp), (ward, day)) "
                    "HAVING sum(adults) <> 0 OR sum(total) <> 0");
    if (!res) {
        hv_wardtab_free(wards);
        return -1;
    }
    n = PQntuples(res);
    rows = hv_xcalloc(n ? (size_t)n : 1, sizeof(*rows));
    /* Order-independent hash of the rows: a sum of per-row hashes. */
    hash = whash;
    for (int r = 0; r < n; r++) {
        hv_count_row_t *c = &rows[r];
        snprintf(c->ward, sizeof(c->ward), "%s", PQgetvalue(res, r, 0));
        c->grp = PQgetisnull(res, r, 1) ? 0 : atoi(PQgetvalue(res, r, 1));
        c->day = PQgetisnull(res, r, 2) ? HV_NO_DAY : (int32_t)atol(PQgetvalue(res, r, 2));
        c->adults = int_or(res, r, 3, 0);
        c->total = int_or(res, r, 4, 0);
        hash += mix64(fnv1a(FNV_OFFSET, c, sizeof(*c)));
    }
    PQclear(res);

    if (st->logged_down)
        hv_log(HV_LOG_INFO, "snapshot database available", NULL);
    st->logged_down = false;

    prev = hv_snapshot_acquire(st);
    if (prev && prev->data_hash == hash) {
        /* Nothing changed: keep the old snapshot, its as_of and its ETags. */
        hv_wardtab_free(wards);
    } else {
        next =
            hv_snapshot_build(wards, rows, (size_t)n, st->cfg->target, (int64_t)time(NULL), hash);
    }
    free(rows);
    hv_snapshot_release(prev);

    pthread_mutex_lock(&st->lock);
    hv_snapshot_t *old = NULL;
    if (next) {
        old = st->current;
        st->current = next;
    }
    st->confirmed_at_ms = now_ms();
    pthread_mutex_unlock(&st->lock);
    hv_snapshot_release(old);
    st->built_version = version;
    st->built_wards_hash = whash;
    st->built_at_ms = now_ms();
    return 0;
}

/* Folds the counter shards of days before yesterday (Vietnam time) into shard 0, on the
 * primary, by one instance at a time (advisory lock). Keeps the counters table, and so every
 * refresh, proportional to days rather than to writer sessions. Failures are only logged. */
static void compact(hv_snapstore_t *st)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {st->cfg->database_url, "3", "hocvud-compact", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    char before[16], sql[160];
    PGresult *res;

    if (PQstatus(conn) != CONNECTION_OK)
        goto done;
    hv_date_format(hv_days_to_date(hv_date_to_days(hv_time_vn_date(time(NULL))) - 1), before);
    snprintf(sql, sizeof(sql),
             "SELECT hv_compact_counters('%s') FROM (SELECT pg_try_advisory_lock(1752590338) AS "
             "got) l WHERE got",
             before);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        hv_log(strcmp(PQgetvalue(res, 0, 0), "0") ? HV_LOG_INFO : HV_LOG_DEBUG,
               "counters compacted", "before=%s rows=%s", before, PQgetvalue(res, 0, 0));
    else if (PQresultStatus(res) != PGRES_TUPLES_OK)
        hv_log(HV_LOG_WARN, "counter compaction failed", "error=\"%.*s\"",
               (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
    PQclear(res);
done:
    PQfinish(conn); /* also releases the advisory lock */
}

static void *refresher_main(void *arg)
{
    hv_snapstore_t *st = arg;

    for (;;) {
        int rc = refresh(st);
        if (rc == 0 && now_ms() - st->compacted_at_ms >= HV_COMPACT_EVERY_MS) {
            st->compacted_at_ms = now_ms();
            compact(st);
        }
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

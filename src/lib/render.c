/*
 * render.c - snapshot in, document bytes out: the JSON documents of the read API (built with
 * the one JSON writer) and the wards CSV. Nothing here allocates beyond the output buffer or
 * touches shared state.
 */
#include "hocvu/render.h"

#include <jansson.h>
#include <math.h>

#include <stdio.h>
#include <string.h>

#include "hocvu/json.h"
#include "hocvu/timeutil.h"

void hv_etag_of(const char *body, size_t len, char out[24])
{
    snprintf(out, 24, "\"%016llx\"", (unsigned long long)hv_fnv1a(HV_FNV_OFFSET, body, len));
}

static void put_as_of(hv_json_t *j, int64_t as_of)
{
    char ts[32];
    hv_time_format_utc(as_of, ts);
    hv_json_kstr(j, "as_of", ts);
}

/* "by_group": adults per target group (index = hv_group_t). */
void hv_render_by_group(hv_json_t *j, const int64_t g[5])
{
    hv_json_key(j, "by_group");
    hv_json_obj(j);
    hv_json_kint(j, "citizen", g[1]);
    hv_json_kint(j, "official", g[2]);
    hv_json_kint(j, "student", g[3]);
    hv_json_kint(j, "worker", g[4]);
    hv_json_end(j);
}

void hv_render_pct(hv_json_t *j, const char *key, int64_t pct100)
{
    hv_json_key(j, key);
    if (pct100 >= 0)
        hv_json_cents(j, pct100);
    else
        hv_json_null(j);
}

void hv_render_day(hv_json_t *j, const char *key, int32_t day)
{
    char date[16];
    hv_json_key(j, key);
    if (day == HV_NO_DAY) {
        hv_json_null(j);
        return;
    }
    hv_date_format(hv_days_to_date(day), date);
    hv_json_str(j, date);
}

static const char *const GROUP_NAMES[5] = {"all", "citizen", "official", "student", "worker"};

/* The members shared by /v1/wards entries, /v1/wards/{code} and frozen reports; the object
 * stays open. */
void hv_render_ward_fields(hv_json_t *j, const hv_ward_stats_t *r)
{
    hv_json_obj(j);
    hv_json_kstr(j, "code", r->ward->code);
    hv_json_kstr(j, "name", r->ward->name);
    hv_json_kstr(j, "type", r->ward->type);
    hv_json_kint(j, "certified_adults", r->adults);
    hv_json_kint(j, "certified_total", r->total);
    hv_json_key(j, "target");
    if (r->target >= 0)
        hv_json_int(j, r->target);
    else
        hv_json_null(j);
    hv_json_kbool(j, "target_estimated", r->target_estimated);
    hv_render_pct(j, "percent", r->pct100);
    hv_render_day(j, "reached_on", r->reached_on);
    hv_json_kint(j, "rank", r->rank);
}

void hv_render_targets(hv_json_t *j, const hv_view_t *v)
{
    hv_json_key(j, "targets");
    hv_json_arr(j);
    for (size_t i = 0; i < v->n_targets; i++) {
        const hv_target_stat_t *t = &v->targets[i];
        hv_json_obj(j);
        hv_json_kstr(j, "scope", "city");
        hv_json_kstr(j, "group", GROUP_NAMES[t->grp]);
        hv_json_kstr(j, "measure", t->all_ages ? "all" : "adults");
        hv_json_kint(j, "target", t->target);
        hv_json_kint(j, "certified", t->certified);
        hv_render_pct(j, "percent", t->pct100);
        hv_json_end(j);
    }
    hv_json_end(j);
}

void hv_render_progress(const hv_snapshot_t *s, const hv_view_t *v, hv_buf_t *out)
{
    hv_json_t j;
    int64_t target = v->target;

    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_kint(&j, "year", v->year);
    hv_json_kint(&j, "target", target);
    hv_json_kint(&j, "certified_adults", v->adults);
    hv_json_kint(&j, "certified_total", v->total);
    hv_render_pct(&j, "percent", hv_pct100(v->adults, target));
    hv_json_kint(&j, "remaining", v->adults >= target ? 0 : target - v->adults);
    hv_render_by_group(&j, v->group_adults);
    hv_render_targets(&j, v);
    hv_json_kint(&j, "wards", (int64_t)s->wards->n_wards);
    hv_json_kint(&j, "wards_at_target", v->wards_at_target);
    put_as_of(&j, s->as_of);
    hv_json_end(&j);
}

void hv_render_wards(const hv_snapshot_t *s, const hv_view_t *v, hv_buf_t *out)
{
    hv_json_t j;

    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_kint(&j, "year", v->year);
    hv_json_key(&j, "wards");
    hv_json_arr(&j);
    for (size_t i = 0; i < s->wards->n_wards; i++) {
        hv_render_ward_fields(&j, &v->stats[v->ranked[i]]);
        hv_json_end(&j);
    }
    hv_json_end(&j);
    put_as_of(&j, s->as_of);
    hv_json_end(&j);
}

/* An array of {"date","new","cumulative"} for every day from..to of a series. */
static void put_points(hv_json_t *j, const hv_day_point_t *series, size_t n, int32_t from,
                       int32_t to)
{
    int64_t cum = 0;
    size_t i = 0;
    char date[16];

    for (; i < n && series[i].day < from; i++)
        cum += series[i].adults;
    hv_json_arr(j);
    for (int32_t d = from; d <= to; d++) {
        int64_t add = 0;
        if (i < n && series[i].day == d)
            add = series[i++].adults;
        cum += add;
        hv_date_format(hv_days_to_date(d), date);
        hv_json_obj(j);
        hv_json_kstr(j, "date", date);
        hv_json_kint(j, "new", add);
        hv_json_kint(j, "cumulative", cum);
        hv_json_end(j);
    }
    hv_json_end(j);
}

bool hv_render_ward(const hv_snapshot_t *s, const hv_view_t *v, const char *code, int32_t today,
                    hv_buf_t *out)
{
    const hv_ward_stats_t *r = hv_view_find(s, v, code);
    const hv_day_point_t *series;
    size_t n;
    hv_json_t j;

    if (!r)
        return false;
    series = hv_snapshot_series(s, code, &n);
    if (v->cutoff < today)
        today = v->cutoff;
    hv_json_init(&j, out);
    hv_render_ward_fields(&j, r);
    hv_render_by_group(&j, r->group_adults);
    hv_json_key(&j, "last_30_days");
    put_points(&j, series, n, today - 29, today);
    hv_json_kint(&j, "year", v->year);
    put_as_of(&j, s->as_of);
    hv_json_end(&j);
    return true;
}

void hv_render_timeseries(const hv_snapshot_t *s, const char *code, int32_t from, int32_t to,
                          hv_buf_t *out)
{
    size_t n;
    const hv_day_point_t *series = hv_snapshot_series(s, code, &n);
    char f[16], t[16];
    hv_json_t j;

    hv_date_format(hv_days_to_date(from), f);
    hv_date_format(hv_days_to_date(to), t);
    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_kstr(&j, "ward", code && series ? code : NULL);
    hv_json_kstr(&j, "from", f);
    hv_json_kstr(&j, "to", t);
    hv_json_key(&j, "points");
    put_points(&j, series, n, from, to);
    put_as_of(&j, s->as_of);
    hv_json_end(&j);
}

void hv_render_csv_field(hv_buf_t *b, const char *v, bool defuse)
{
    bool formula = defuse && v[0] && strchr("=+-@\t\r", v[0]) != NULL;
    size_t n = 0;

    while (v[n] && v[n] != ',' && v[n] != '"' && v[n] != '\r' && v[n] != '\n')
        n++;
    if (!formula && v[n] == '\0') {
        hv_buf_append(b, v, n);
        return;
    }
    hv_buf_putc(b, '"');
    if (formula)
        hv_buf_putc(b, '\'');
    for (; *v; v++) {
        if (*v == '"')
            hv_buf_putc(b, '"');
        hv_buf_putc(b, *v);
    }
    hv_buf_putc(b, '"');
}

/* A CSV text field from an import (a name, a type), defused. */
static void csv_text(hv_buf_t *b, const char *v)
{
    hv_render_csv_field(b, v, true);
}

void hv_render_wards_csv(const hv_snapshot_t *s, const hv_view_t *v, int32_t as_of_day,
                         hv_buf_t *out)
{
    char day[16], pct[32], reached[16];

    /* The BOM makes spreadsheet programs read the Vietnamese names as UTF-8. */
    hv_buf_puts(out, "\xEF\xBB\xBF");
    hv_buf_puts(out, "rank,code,name,type,certified_adults,certified_total,target,"
                     "target_estimated,percent,reached_on,as_of\r\n");
    hv_date_format(hv_days_to_date(as_of_day), day);
    for (size_t i = 0; i < s->wards->n_wards; i++) {
        const hv_ward_stats_t *r = &v->stats[v->ranked[i]];
        hv_buf_printf(out, "%d,%s,", r->rank, r->ward->code);
        csv_text(out, r->ward->name);
        hv_buf_putc(out, ',');
        csv_text(out, r->ward->type);
        hv_buf_printf(out, ",%lld,%lld,", (long long)r->adults, (long long)r->total);
        if (r->target >= 0)
            hv_buf_printf(out, "%lld", (long long)r->target);
        hv_buf_printf(out, ",%s,", r->target_estimated ? "true" : "false");
        if (r->pct100 >= 0) {
            hv_fmt_cents(r->pct100, pct);
            hv_buf_puts(out, pct);
        }
        hv_buf_putc(out, ',');
        if (r->reached_on != HV_NO_DAY) {
            hv_date_format(hv_days_to_date(r->reached_on), reached);
            hv_buf_puts(out, reached);
        }
        hv_buf_printf(out, ",%s\r\n", day);
    }
}

/* One member of a stored ward object as a CSV cell: numbers as written, strings exactly (codes)
 * or defused (names, types), booleans as true/false, null empty. */
static void frozen_cell(hv_buf_t *out, json_t *v, bool text)
{
    char num[32];
    if (json_is_integer(v)) {
        hv_buf_printf(out, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        hv_fmt_cents(llround(json_real_value(v) * 100.0), num);
        hv_buf_puts(out, num);
    } else if (json_is_string(v)) {
        if (text)
            csv_text(out, json_string_value(v));
        else
            hv_buf_puts(out, json_string_value(v));
    } else if (json_is_boolean(v)) {
        hv_buf_puts(out, json_is_true(v) ? "true" : "false");
    }
}

bool hv_render_frozen_csv(const char *body, size_t len, hv_buf_t *out)
{
    static const struct {
        const char *member;
        bool text;
    } cols[] = {{"rank", false},
                {"code", false},
                {"name", true},
                {"type", true},
                {"certified_adults", false},
                {"certified_total", false},
                {"target", false},
                {"target_estimated", false},
                {"percent", false},
                {"reached_on", false}};
    json_t *o = json_loadb(body, len, 0, NULL);
    json_t *wards = o ? json_object_get(o, "wards") : NULL;
    const char *as_of = o ? json_string_value(json_object_get(o, "as_of")) : NULL;

    if (!json_is_array(wards) || !as_of) {
        json_decref(o);
        return false;
    }
    hv_buf_puts(out, "\xEF\xBB\xBF");
    hv_buf_puts(out, "rank,code,name,type,certified_adults,certified_total,target,"
                     "target_estimated,percent,reached_on,as_of\r\n");
    for (size_t i = 0; i < json_array_size(wards); i++) {
        json_t *w = json_array_get(wards, i);
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
            frozen_cell(out, json_object_get(w, cols[c].member), cols[c].text);
            hv_buf_putc(out, ',');
        }
        hv_buf_printf(out, "%s\r\n", as_of);
    }
    json_decref(o);
    return true;
}

/* One cohort's members of §11 (the object stays open). */
static void cohort_fields(hv_json_t *j, const hv_cohort_t *c, const hv_cohort_stat_t *st)
{
    hv_json_obj(j);
    hv_json_kstr(j, "code", c->code);
    hv_json_kstr(j, "name", c->name);
    hv_json_kstr(j, "kind", c->kind);
    hv_json_kstr(j, "ward", c->ward[0] ? c->ward : NULL);
    hv_json_kint(j, "members", c->members);
    hv_json_kint(j, "certified", st->certified);
    hv_render_pct(j, "percent", st->pct100);
    hv_json_key(j, "target");
    if (st->target >= 0)
        hv_json_int(j, st->target);
    else
        hv_json_null(j);
    hv_render_day(j, "reached_on", st->reached_on);
    hv_json_kint(j, "rank", st->rank);
}

void hv_render_cohorts(const hv_cohortset_t *s, int y, const char *kind, const char *ward,
                       hv_buf_t *out)
{
    hv_json_t j;

    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_key(&j, "cohorts");
    hv_json_arr(&j);
    for (size_t i = 0; i < s->n; i++) {
        const hv_cohort_t *c = &s->items[s->order[y][i]];
        if ((kind && strcmp(c->kind, kind) != 0) || (ward && strcmp(c->ward, ward) != 0))
            continue;
        cohort_fields(&j, c, &c->years[y]);
        hv_json_end(&j);
    }
    hv_json_end(&j);
    hv_json_kint(&j, "year", s->first_year + y);
    put_as_of(&j, s->as_of);
    hv_json_end(&j);
}

void hv_render_cohort(const hv_cohortset_t *s, const hv_cohort_t *c, int y, hv_buf_t *out)
{
    hv_json_t j;

    hv_json_init(&j, out);
    cohort_fields(&j, c, &c->years[y]);
    hv_render_by_group(&j, c->years[y].by_group);
    hv_json_kint(&j, "year", s->first_year + y);
    put_as_of(&j, s->as_of);
    hv_json_end(&j);
}

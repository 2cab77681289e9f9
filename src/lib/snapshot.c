/*
 * snapshot.c - builds the read model (see snapshot.h) from counter rows and targets: the daily
 * series, then one view per year - totals and groups as of the cut-off, the city target, each
 * ward's target (imported for the year, else the ward table's, else the city target shared by
 * population), percent, reached_on and rank (§9) - and pre-renders each year's documents.
 * Reference counting lets event loops hold a snapshot while the store swaps in the next one.
 */
#include "hocvu/snapshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/render.h"
#include "hocvu/timeutil.h"

int64_t hv_pct100(int64_t count, int64_t target)
{
    if (target <= 0 || count < 0)
        return -1;
    /* round half up of count x 10000 / target, in integers */
    __int128 num = (__int128)count * 20000 + target;
    return (int64_t)(num / ((__int128)target * 2));
}

/* Ranking (§9): published percent (desc, none last), then reached_on (earlier first, none
 * last), then certified adults (desc); entries equal on all three share a rank, listed by code.
 * Sorts indices into the stats array passed as context. */
int hv_rank_cmp(int64_t pct_a, int32_t reached_a, int64_t count_a, int64_t pct_b, int32_t reached_b,
                int64_t count_b)
{
    if ((pct_a < 0) != (pct_b < 0))
        return pct_a < 0 ? 1 : -1;
    if (pct_a != pct_b)
        return pct_a > pct_b ? -1 : 1;
    if ((reached_a == HV_NO_DAY) != (reached_b == HV_NO_DAY))
        return reached_a == HV_NO_DAY ? 1 : -1;
    if (reached_a != reached_b)
        return reached_a < reached_b ? -1 : 1;
    if (count_a != count_b)
        return count_a > count_b ? -1 : 1;
    return 0;
}

static int rank_key_cmp(const hv_ward_stats_t *x, const hv_ward_stats_t *y)
{
    return hv_rank_cmp(x->pct100, x->reached_on, x->adults, y->pct100, y->reached_on, y->adults);
}

static int rank_cmp(const void *a, const void *b, void *ctx)
{
    const hv_ward_stats_t *stats = ctx;
    const hv_ward_stats_t *x = &stats[*(const size_t *)a], *y = &stats[*(const size_t *)b];
    int c = rank_key_cmp(x, y);
    return c ? c : strcmp(x->ward->code, y->ward->code);
}

static int row_day_cmp(const void *a, const void *b)
{
    const hv_count_row_t *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    int c = strcmp(x->ward, y->ward);
    return c ? c : x->grp - y->grp;
}

static int target_cmp(const void *a, const void *b)
{
    const hv_target_t *x = a, *y = b;
    int c;
    if (x->year != y->year)
        return x->year < y->year ? -1 : 1;
    if ((c = strcmp(x->scope, y->scope)) != 0)
        return c;
    if (x->grp != y->grp)
        return x->grp - y->grp;
    return (int)x->all_ages - (int)y->all_ages;
}

/* The target of (year, scope, grp, measure), or NULL. */
static const hv_target_t *find_target(const hv_snapshot_t *s, int year, const char *scope, int grp,
                                      bool all_ages)
{
    hv_target_t key = {.year = year, .grp = grp, .all_ages = all_ages};
    snprintf(key.scope, sizeof(key.scope), "%s", scope);
    return bsearch(&key, s->targets, s->n_targets, sizeof(*s->targets), target_cmp);
}

/* Appends (day, adults) to a growable series, merging a point of the same day (rows come by
 * day). */
static void series_add(hv_day_point_t **s, size_t *n, size_t *cap, int32_t day, int64_t adults)
{
    if (*n && (*s)[*n - 1].day == day) {
        (*s)[*n - 1].adults += adults;
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *s = hv_xrealloc(*s, sizeof(**s) * *cap);
    }
    (*s)[(*n)++] = (hv_day_point_t){day, adults};
}

/* The first day whose cumulative count reaches target, up to cutoff; HV_NO_DAY if none. */
static int32_t reached_on(const hv_day_point_t *series, size_t n, int64_t target, int32_t cutoff)
{
    int64_t cum = 0;
    if (target <= 0)
        return HV_NO_DAY;
    for (size_t i = 0; i < n && series[i].day <= cutoff; i++) {
        cum += series[i].adults;
        if (cum >= target)
            return series[i].day;
    }
    return HV_NO_DAY;
}

hv_view_t *hv_view_build(const hv_snapshot_t *s, int year, int32_t cutoff)
{
    hv_view_t *v = hv_xcalloc(1, sizeof(*v));
    size_t n = s->wards->n_wards;
    int64_t pop_sum = 0, group_total[5] = {0}, all_total = 0;
    const hv_target_t *t;

    v->year = year;
    v->cutoff = cutoff;
    v->stats = hv_xcalloc(n ? n : 1, sizeof(*v->stats));
    v->ranked = hv_xcalloc(n ? n : 1, sizeof(*v->ranked));
    for (size_t i = 0; i < n; i++) {
        v->stats[i].ward = &s->wards->wards[i];
        v->ranked[i] = i;
        if (s->wards->wards[i].population > 0)
            pop_sum += s->wards->wards[i].population;
    }
    /* Rows come by day: everything up to the cut-off. Counters of a ward no longer in the
     * table still count for the city. */
    for (size_t i = 0; i < s->n_rows && s->rows[i].day <= cutoff; i++) {
        const hv_count_row_t *c = &s->rows[i];
        int g = c->grp >= 1 && c->grp <= 4 ? c->grp : 0;
        v->adults += c->adults;
        v->total += c->total;
        v->group_adults[g] += c->adults;
        group_total[g] += c->total;
        all_total += c->total;
        if (s->row_ward[i] >= 0) {
            hv_ward_stats_t *r = &v->stats[s->row_ward[i]];
            r->adults += c->adults;
            r->total += c->total;
            r->group_adults[g] += c->adults;
        }
    }
    t = find_target(s, year, "city", 0, false);
    v->target = t && t->value >= 0 ? t->value : s->default_target;
    for (size_t i = 0; i < n; i++) {
        hv_ward_stats_t *r = &v->stats[i];
        const hv_ward_t *w = r->ward;
        r->target = -1;
        if ((t = find_target(s, year, w->code, 0, false)) != NULL && t->value >= 0) {
            r->target = t->value;
        } else if (w->target >= 0) {
            r->target = w->target;
        } else if (w->population > 0 && pop_sum > 0) {
            r->target = llround((double)v->target * (double)w->population / (double)pop_sum);
            r->target_estimated = true;
        }
        r->pct100 = hv_pct100(r->adults, r->target);
        r->reached_on = reached_on(s->series[i], s->n_series[i], r->target, cutoff);
        if (r->target > 0 && r->adults >= r->target)
            v->wards_at_target++;
    }
    if (n > 1)
        qsort_r(v->ranked, n, sizeof(*v->ranked), rank_cmp, v->stats);
    for (size_t i = 0; i < n; i++) {
        hv_ward_stats_t *r = &v->stats[v->ranked[i]];
        const hv_ward_stats_t *prev = i ? &v->stats[v->ranked[i - 1]] : NULL;
        r->rank = prev && rank_key_cmp(prev, r) == 0 ? prev->rank : (int)i + 1;
    }
    /* The year's city-scope targets (sorted: by group, adults before all ages). */
    for (size_t i = 0; i < s->n_targets; i++) {
        const hv_target_t *x = &s->targets[i];
        if (x->year != year || strcmp(x->scope, "city") != 0 || x->value < 0)
            continue;
        v->targets = hv_xrealloc(v->targets, (v->n_targets + 1) * sizeof(*v->targets));
        hv_target_stat_t *ts = &v->targets[v->n_targets++];
        ts->grp = x->grp;
        ts->all_ages = x->all_ages;
        ts->target = x->value;
        if (x->grp == 0)
            ts->certified = x->all_ages ? all_total : v->adults;
        else
            ts->certified = x->all_ages ? group_total[x->grp] : v->group_adults[x->grp];
        ts->pct100 = hv_pct100(ts->certified, ts->target);
    }
    return v;
}

void hv_view_free(hv_view_t *v)
{
    if (!v)
        return;
    free(v->stats);
    free(v->ranked);
    free(v->targets);
    free(v);
}

/* Renders a document into d (owned by the snapshot) with its ETag. */
static void doc_render(hv_doc_t *d, const hv_snapshot_t *s, const hv_view_t *v,
                       void (*render)(const hv_snapshot_t *, const hv_view_t *, hv_buf_t *))
{
    hv_buf_t b;
    hv_buf_init(&b);
    render(s, v, &b);
    d->body = b.data ? b.data : hv_xstrdup("");
    d->len = b.len;
    hv_etag_of(d->body, d->len, d->etag);
}

int32_t hv_year_end(int year)
{
    return (int32_t)hv_date_to_days((hv_date_t){year, 12, 31});
}

hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *rows, size_t n_rows,
                                 const hv_target_t *targets, size_t n_targets,
                                 int64_t default_target, int current_year, int64_t as_of,
                                 uint64_t data_hash)
{
    hv_snapshot_t *s = hv_xcalloc(1, sizeof(*s));
    size_t n = wards->n_wards, *caps = hv_xcalloc(n ? n : 1, sizeof(size_t)), city_cap = 0;
    int n_years;

    s->refs = 1;
    s->wards = wards;
    s->as_of = as_of;
    s->data_hash = data_hash;
    s->default_target = default_target;
    s->rows = hv_xcalloc(n_rows ? n_rows : 1, sizeof(*s->rows));
    s->row_ward = hv_xcalloc(n_rows ? n_rows : 1, sizeof(*s->row_ward));
    s->n_rows = n_rows;
    if (n_rows)
        memcpy(s->rows, rows, n_rows * sizeof(*rows));
    qsort(s->rows, n_rows, sizeof(*s->rows), row_day_cmp);
    s->targets = hv_xcalloc(n_targets ? n_targets : 1, sizeof(*s->targets));
    s->n_targets = n_targets;
    if (n_targets)
        memcpy(s->targets, targets, n_targets * sizeof(*targets));
    qsort(s->targets, n_targets, sizeof(*s->targets), target_cmp);

    s->series = hv_xcalloc(n ? n : 1, sizeof(*s->series));
    s->n_series = hv_xcalloc(n ? n : 1, sizeof(*s->n_series));
    for (size_t i = 0; i < n_rows; i++) {
        const hv_count_row_t *c = &s->rows[i];
        const hv_ward_t *w = hv_wardtab_find(wards, c->ward);
        int wi = w ? (int)(w - wards->wards) : -1;
        s->row_ward[i] = wi;
        if (c->adults == 0)
            continue;
        series_add(&s->city_series, &s->n_city_series, &city_cap, c->day, c->adults);
        if (wi >= 0)
            series_add(&s->series[wi], &s->n_series[wi], &caps[wi], c->day, c->adults);
    }
    free(caps);

    s->current_year = current_year;
    s->first_year = current_year < HV_FIRST_YEAR ? current_year : HV_FIRST_YEAR;
    n_years = s->current_year - s->first_year + 1;
    s->years = hv_xcalloc((size_t)n_years, sizeof(*s->years));
    s->progress_docs = hv_xcalloc((size_t)n_years, sizeof(*s->progress_docs));
    s->wards_docs = hv_xcalloc((size_t)n_years, sizeof(*s->wards_docs));
    for (int y = 0; y < n_years; y++) {
        hv_view_t *v = hv_view_build(s, s->first_year + y, hv_year_end(s->first_year + y));
        s->years[y] = *v;
        free(v);
        doc_render(&s->progress_docs[y], s, &s->years[y], hv_render_progress);
        doc_render(&s->wards_docs[y], s, &s->years[y], hv_render_wards);
    }
    return s;
}

int hv_snapshot_year_index(const hv_snapshot_t *s, int year)
{
    if (year < s->first_year || year > s->current_year)
        return -1;
    return year - s->first_year;
}

const hv_view_t *hv_snapshot_year(const hv_snapshot_t *s, int year)
{
    int i = hv_snapshot_year_index(s, year);
    return i < 0 ? NULL : &s->years[i];
}

const hv_ward_stats_t *hv_view_find(const hv_snapshot_t *s, const hv_view_t *v, const char *code)
{
    const hv_ward_t *w = hv_wardtab_find(s->wards, code);
    return w ? &v->stats[w - s->wards->wards] : NULL;
}

const hv_day_point_t *hv_snapshot_series(const hv_snapshot_t *s, const char *code, size_t *n)
{
    const hv_ward_t *w;

    if (!code) {
        *n = s->n_city_series;
        return s->city_series;
    }
    w = hv_wardtab_find(s->wards, code);
    if (!w) {
        *n = 0;
        return NULL;
    }
    *n = s->n_series[w - s->wards->wards];
    return s->series[w - s->wards->wards];
}

int32_t hv_snapshot_first_day(const hv_snapshot_t *s, const char *code, int32_t dflt)
{
    size_t n;
    const hv_day_point_t *series = hv_snapshot_series(s, code, &n);
    return series && n ? series[0].day : dflt;
}

static void snapshot_free(hv_snapshot_t *s)
{
    int n_years = s->current_year - s->first_year + 1;
    for (size_t i = 0; s->wards && i < s->wards->n_wards; i++)
        free(s->series[i]);
    free(s->series);
    free(s->n_series);
    free(s->city_series);
    free(s->rows);
    free(s->row_ward);
    free(s->targets);
    for (int y = 0; y < n_years; y++) {
        free(s->years[y].stats);
        free(s->years[y].ranked);
        free(s->years[y].targets);
        free(s->progress_docs[y].body);
        free(s->wards_docs[y].body);
    }
    free(s->years);
    free(s->progress_docs);
    free(s->wards_docs);
    hv_wardtab_free(s->wards);
    free(s);
}

void hv_snapshot_retain(hv_snapshot_t *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
}

void hv_snapshot_release(hv_snapshot_t *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(s);
}

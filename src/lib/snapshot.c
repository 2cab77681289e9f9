/*
 * snapshot.c - builds the read model from counter rows: per-ward totals and groups, targets
 * (imported, or estimated from the city target by population), ranks and daily series; then
 * pre-renders the two documents every dashboard polls. Reference counting lets event loops
 * hold a snapshot while the store swaps in the next one.
 */
#include "hocvu/snapshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/render.h"

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

/* Renders a document into d (owned by the snapshot) with its ETag. */
static void doc_render(hv_doc_t *d, const hv_snapshot_t *s,
                       void (*render)(const hv_snapshot_t *, hv_buf_t *))
{
    hv_buf_t b;
    hv_buf_init(&b);
    render(s, &b);
    d->body = b.data ? b.data : hv_xstrdup("");
    d->len = b.len;
    hv_etag_of(d->body, d->len, d->etag);
}

hv_snapshot_t *hv_snapshot_build(hv_wardtab_t *wards, const hv_count_row_t *rows, size_t n_rows,
                                 int64_t city_target, int64_t as_of, uint64_t data_hash)
{
    hv_snapshot_t *s = hv_xcalloc(1, sizeof(*s));
    size_t n = wards->n_wards, *caps = hv_xcalloc(n ? n : 1, sizeof(size_t)), city_cap = 0;
    int64_t pop_sum = 0;

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
                s->wards_at_target++;
        }
    }
    if (n > 1)
        qsort_r(s->ranked, n, sizeof(*s->ranked), rank_cmp, s->stats);
    for (size_t i = 0; i < n; i++) {
        hv_ward_stats_t *r = &s->stats[s->ranked[i]];
        const hv_ward_stats_t *prev = i ? &s->stats[s->ranked[i - 1]] : NULL;
        /* Equal percent and equal adults share a rank (1, 2, 2, 4). */
        r->rank = prev && prev->percent == r->percent && prev->adults == r->adults ? prev->rank
                                                                                   : (int)i + 1;
    }
    doc_render(&s->progress, s, hv_render_progress);
    doc_render(&s->wards_doc, s, hv_render_wards);
    return s;
}

const hv_ward_stats_t *hv_snapshot_find(const hv_snapshot_t *s, const char *code)
{
    const hv_ward_t *w = hv_wardtab_find(s->wards, code);
    return w ? &s->stats[w - s->wards->wards] : NULL;
}

int32_t hv_snapshot_first_day(const hv_snapshot_t *s, const char *code, int32_t dflt)
{
    const hv_ward_stats_t *r = code ? hv_snapshot_find(s, code) : NULL;
    if (code && !r)
        return dflt;
    if (r)
        return r->n_series ? r->series[0].day : dflt;
    return s->n_city_series ? s->city_series[0].day : dflt;
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

void hv_snapshot_retain(hv_snapshot_t *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
}

void hv_snapshot_release(hv_snapshot_t *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(s);
}

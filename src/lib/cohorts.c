/*
 * cohorts.c - the cohort read model (see cohorts.h): per cohort the certified members by day,
 * and per year the §9 figures (as of the year's 31 December) and the rank within the kind.
 */
#include "hocvu/cohorts.h"

#include <stdlib.h>
#include <string.h>

#include "hocvu/snapshot.h"
#include "hocvu/util.h"

static int by_code(const void *a, const void *b)
{
    return strcmp(((const hv_cohort_t *)a)->code, ((const hv_cohort_t *)b)->code);
}

static int point_by_day(const void *a, const void *b)
{
    const hv_cohort_point_t *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return x->grp - y->grp;
}

const hv_cohort_t *hv_cohortset_find(const hv_cohortset_t *s, const char *code)
{
    hv_cohort_t key;

    if (!s || strlen(code) > HV_COHORT_CODE_MAX)
        return NULL;
    strcpy(key.code, code);
    return bsearch(&key, s->items, s->n, sizeof(*s->items), by_code);
}

int hv_cohortset_year_index(const hv_cohortset_t *s, int year)
{
    return year >= s->first_year && year <= s->current_year ? year - s->first_year : -1;
}

/* The figures of cohort c as of cutoff against target (-1 = none). */
static void stat_of(const hv_cohort_t *c, int32_t cutoff, int64_t target, hv_cohort_stat_t *st)
{
    memset(st, 0, sizeof(*st));
    st->target = target;
    st->reached_on = HV_NO_DAY;
    for (size_t i = 0; i < c->n_points && c->points[i].day <= cutoff; i++) {
        st->certified += c->points[i].certified;
        st->by_group[c->points[i].grp] += c->points[i].certified;
        if (st->reached_on == HV_NO_DAY && target > 0 && st->certified >= target)
            st->reached_on = c->points[i].day;
    }
    st->pct100 =
        target >= 0 ? hv_pct100(st->certified, target) : hv_pct100(st->certified, c->members);
}

typedef struct order_ctx {
    const hv_cohortset_t *s;
    int y;
} order_ctx_t;

static int kind_then_rank(const void *a, const void *b, void *arg)
{
    const order_ctx_t *ctx = arg;
    const hv_cohort_t *x = &ctx->s->items[*(const size_t *)a],
                      *y = &ctx->s->items[*(const size_t *)b];
    const hv_cohort_stat_t *sx = &x->years[ctx->y], *sy = &y->years[ctx->y];
    int c = strcmp(x->kind, y->kind);
    if (c)
        return c;
    c = hv_rank_cmp(sx->pct100, sx->reached_on, sx->certified, sy->pct100, sy->reached_on,
                    sy->certified);
    return c ? c : strcmp(x->code, y->code);
}

/* Ranks year y within each kind: sorts the list order, then gives ranks with ties shared. */
static void rank_year(hv_cohortset_t *s, int y)
{
    order_ctx_t ctx = {s, y};
    size_t *order = s->order[y];

    for (size_t i = 0; i < s->n; i++)
        order[i] = i;
    if (s->n > 1)
        qsort_r(order, s->n, sizeof(*order), kind_then_rank, &ctx);
    size_t first = 0; /* where the current kind starts in the order */
    for (size_t i = 0; i < s->n; i++) {
        hv_cohort_t *c = &s->items[order[i]];
        hv_cohort_stat_t *st = &c->years[y];
        const hv_cohort_t *p = i ? &s->items[order[i - 1]] : NULL;
        if (!p || strcmp(p->kind, c->kind) != 0) {
            first = i;
            st->rank = 1;
            continue;
        }
        const hv_cohort_stat_t *ps = &p->years[y];
        bool tie = hv_rank_cmp(ps->pct100, ps->reached_on, ps->certified, st->pct100,
                               st->reached_on, st->certified) == 0;
        /* Shared ranks skip (1, 2, 2, 4): the rank is the position within the kind. */
        st->rank = tie ? ps->rank : (int)(i - first) + 1;
    }
}

hv_cohortset_t *hv_cohortset_build(hv_cohort_row_t *rows, size_t n_rows,
                                   const hv_cohort_count_t *counts, size_t n_counts,
                                   const hv_cohort_target_t *targets, size_t n_targets,
                                   int current_year, int64_t as_of)
{
    hv_cohortset_t *s = hv_xcalloc(1, sizeof(*s));
    int n_years;

    s->refs = 1;
    s->as_of = as_of;
    s->first_year = HV_FIRST_YEAR;
    s->current_year = current_year < HV_FIRST_YEAR ? HV_FIRST_YEAR : current_year;
    n_years = s->current_year - s->first_year + 1;
    s->n = n_rows;
    s->items = hv_xcalloc(n_rows ? n_rows : 1, sizeof(*s->items));
    for (size_t i = 0; i < n_rows; i++) {
        hv_cohort_t *c = &s->items[i];
        memcpy(c->code, rows[i].code, sizeof(c->code));
        c->name = rows[i].name;
        rows[i].name = NULL;
        memcpy(c->kind, rows[i].kind, sizeof(c->kind));
        memcpy(c->ward, rows[i].ward, sizeof(c->ward));
        c->members = rows[i].members;
        c->years = hv_xcalloc((size_t)n_years, sizeof(*c->years));
    }
    if (s->n > 1)
        qsort(s->items, s->n, sizeof(*s->items), by_code);

    /* Points: count per cohort first, then fill. */
    for (size_t k = 0; k < n_counts; k++) {
        hv_cohort_t *c = (hv_cohort_t *)hv_cohortset_find(s, counts[k].code);
        if (c && counts[k].grp >= 1 && counts[k].grp <= 4)
            c->n_points++;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->items[i].points = hv_xcalloc(s->items[i].n_points ? s->items[i].n_points : 1,
                                        sizeof(*s->items[i].points));
        s->items[i].n_points = 0;
    }
    for (size_t k = 0; k < n_counts; k++) {
        hv_cohort_t *c = (hv_cohort_t *)hv_cohortset_find(s, counts[k].code);
        if (c && counts[k].grp >= 1 && counts[k].grp <= 4)
            c->points[c->n_points++] =
                (hv_cohort_point_t){counts[k].day, counts[k].grp, counts[k].certified};
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].n_points > 1)
            qsort(s->items[i].points, s->items[i].n_points, sizeof(*s->items[i].points),
                  point_by_day);

    /* Each year's target of each cohort (-1 = none), by the cohort's index. */
    int64_t *target = hv_xmalloc((s->n ? s->n : 1) * (size_t)n_years * sizeof(*target));
    for (size_t i = 0; i < s->n * (size_t)n_years; i++)
        target[i] = -1;
    for (size_t t = 0; t < n_targets; t++) {
        const hv_cohort_t *c = hv_cohortset_find(s, targets[t].code);
        int y = hv_cohortset_year_index(s, targets[t].year);
        if (c && y >= 0)
            target[(size_t)(c - s->items) * (size_t)n_years + (size_t)y] = targets[t].value;
    }
    s->order = hv_xcalloc((size_t)n_years, sizeof(*s->order));
    for (int y = 0; y < n_years; y++) {
        for (size_t i = 0; i < s->n; i++)
            stat_of(&s->items[i], hv_year_end(s->first_year + y),
                    target[i * (size_t)n_years + (size_t)y], &s->items[i].years[y]);
        s->order[y] = hv_xcalloc(s->n ? s->n : 1, sizeof(**s->order));
        rank_year(s, y);
    }
    free(target);
    return s;
}

void hv_cohortset_retain(hv_cohortset_t *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void hv_cohortset_release(hv_cohortset_t *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].points);
        free(s->items[i].years);
    }
    for (int y = 0; y <= s->current_year - s->first_year; y++)
        free(s->order[y]);
    free(s->order);
    free(s->items);
    free(s);
}
